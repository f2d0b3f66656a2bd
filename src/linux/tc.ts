/**
 * Bandwidth limits with `tc` (QoS). This kernel has HTB, IFB, the ingress qdisc and `mirred`, but
 * no `police` action, so both directions are shaped, none policed:
 *
 * - what a device transmits: an HTB tree at its root, one class per limit; a limit on everything
 *   is the default class (`default 1`), a limit on one address gets a `u32` filter and leaves the
 *   rest unshaped (`default 0` sends unclassified packets straight out);
 * - what it receives: its ingress qdisc redirects every packet (`u32 match u32 0 0`, `mirred egress
 *   redirect`) to an IFB device, whose root holds the same kind of HTB tree.
 *
 * A limit changes in place (`class replace`, no link flap, no reconnect); only classes that go away
 * are deleted. The rendering is pure; `applyShaper` and `observeShapers` run it.
 */
import { run } from './exec.js';

/** One limit: everything (`match` null) or one IPv4 address as source or destination. */
export interface ShapeClass {
  /** 1 for everything; 16 and up for addresses, stable while the address keeps its limit. */
  id: number;
  match: { field: 'src' | 'dst'; address: string } | null;
  rateKbit: number;
  burstKbit: number;
}

/** What one device's limits are, each side sorted by class id; an empty side has no qdisc. */
export interface ShaperSpec {
  transmit: ShapeClass[];
  receive: ShapeClass[];
}

/** The class id of an address limit (the first is 16; ids below are the device-wide class). */
export const FIRST_ADDRESS_CLASS = 0x10;

/** HTB's quantum (bytes per round) for `rateKbit`: rate/10 as HTB's r2q would, kept to 1500..200000. */
function quantum(rateKbit: number): number {
  return Math.min(200_000, Math.max(1500, Math.round((rateKbit * 1000) / 8 / 10)));
}

/**
 * HTB's burst in bytes: Neutron's `max_burst_kbps` (kilobits), or 80 % of the rate's second when
 * it is 0 (Neutron's default for the linuxbridge agent), and never below a few full-size frames.
 */
export function burstBytes(rateKbit: number, burstKbit: number): number {
  const kbit = burstKbit > 0 ? burstKbit : rateKbit * 0.8;
  return Math.max(15_000, Math.round((kbit * 1000) / 8));
}

function isDefaultClass(c: ShapeClass): boolean {
  return c.match === null;
}

function classId(id: number): string {
  return `1:${id.toString(16)}`;
}

function classLines(dev: string, c: ShapeClass): string[][] {
  const rate = `${c.rateKbit}kbit`;
  const burst = String(burstBytes(c.rateKbit, c.burstKbit));
  const lines = [
    [
      ...['class', 'replace', 'dev', dev, 'parent', '1:', 'classid', classId(c.id), 'htb'],
      ...[
        'rate',
        rate,
        'ceil',
        rate,
        'burst',
        burst,
        'cburst',
        burst,
        'quantum',
        String(quantum(c.rateKbit)),
      ],
    ],
  ];
  if (c.match)
    lines.push([
      ...['filter', 'replace', 'dev', dev, 'parent', '1:', 'protocol', 'ip', 'prio', '1', 'handle'],
      ...[`800::${c.id.toString(16)}`, 'u32', 'match', 'ip', c.match.field, `${c.match.address}/32`],
      ...['flowid', classId(c.id)],
    ]);
  return lines;
}

/**
 * The `tc -batch` lines that take `dev`'s HTB tree (at its root) from `have` to `want` classes:
 * vanished classes deleted with their filters, new and changed ones replaced (`u32` does not
 * replace a filter's match, so a filter whose address changes is deleted first). `have` null:
 * unknown, the tree is built from nothing (after `clearLines`).
 */
export function treeLines(dev: string, want: ShapeClass[], have: ShapeClass[] | null): string[][] {
  if (want.length === 0)
    return have === null || have.length === 0 ? [] : [['qdisc', 'del', 'dev', dev, 'root']];
  const lines: string[][] = [];
  const fallback = (classes: ShapeClass[]) => (classes.some(isDefaultClass) ? '1' : '0');
  // HTB cannot change its default class in place (`qdisc change` is refused): a tree whose
  // default changes is built again.
  let had = have ?? [];
  if (had.length > 0 && fallback(had) !== fallback(want)) {
    lines.push(['qdisc', 'del', 'dev', dev, 'root']);
    had = [];
  }
  if (had.length === 0)
    lines.push(['qdisc', 'add', 'dev', dev, 'root', 'handle', '1:', 'htb', 'default', fallback(want)]);
  const wanted = new Map(want.map((c) => [c.id, c]));
  for (const c of had) {
    const next = wanted.get(c.id);
    const moved = next?.match?.address !== c.match?.address || next?.match?.field !== c.match?.field;
    if (c.match && moved) {
      const handle = `800::${c.id.toString(16)}`;
      lines.push([
        'filter',
        'del',
        'dev',
        dev,
        'parent',
        '1:',
        'protocol',
        'ip',
        'prio',
        '1',
        'handle',
        handle,
        'u32',
      ]);
    }
    if (next === undefined) lines.push(['class', 'del', 'dev', dev, 'classid', classId(c.id)]);
  }
  for (const c of want) {
    const before = had.find((h) => h.id === c.id);
    if (!before || JSON.stringify(before) !== JSON.stringify(c)) lines.push(...classLines(dev, c));
  }
  return lines;
}

/** The lines that send everything `dev` receives to `ifb` (once; `have` says it is there). */
export function redirectLines(dev: string, ifb: string): string[][] {
  return [
    ['qdisc', 'add', 'dev', dev, 'handle', 'ffff:', 'ingress'],
    [
      'filter',
      'add',
      'dev',
      dev,
      'parent',
      'ffff:',
      'protocol',
      'all',
      'prio',
      '1',
      'u32',
      'match',
      'u32',
      '0',
      '0',
      'action',
      'mirred',
      'egress',
      'redirect',
      'dev',
      ifb,
    ],
  ];
}

/**
 * The lines that lift every limit of `dev`'s tree (its classes at 10 Gbit/s), run shortly before
 * the tree is deleted: deleting it drops what it queued (seconds of traffic at a low rate), which
 * costs TCP a retransmission timeout, while a lifted tree empties in a moment.
 */
export function liftLines(dev: string, classes: readonly ShapeClass[]): string[][] {
  return classes.flatMap((c) => classLines(dev, { ...c, rateKbit: 10_000_000, burstKbit: 0 }).slice(0, 1));
}

/** The lines that remove whatever tree or redirection `dev` may have (their failures ignored). */
export function clearLines(dev: string): string[][] {
  return [
    ['qdisc', 'del', 'dev', dev, 'root'],
    ['qdisc', 'del', 'dev', dev, 'ingress'],
  ];
}

function batchText(lines: readonly (readonly string[])[]): string {
  for (const line of lines)
    for (const token of line)
      if (!/^[A-Za-z0-9_.:/-]+$/.test(token))
        throw new Error(`unsafe token for tc -batch: ${JSON.stringify(token)}`);
  return lines.map((l) => `${l.join(' ')}\n`).join('');
}

function netnsArgs(netns: string | null): string[] {
  return netns === null ? [] : ['-n', netns];
}

/** Runs `lines` with one `tc -batch` (in `netns`); `force`: go on past failures and ignore them. */
export async function tcBatch(
  netns: string | null,
  lines: readonly (readonly string[])[],
  force = false,
): Promise<void> {
  if (lines.length === 0) return;
  const args = [...netnsArgs(netns), ...(force ? ['-force'] : []), '-batch', '-'];
  await run('tc', args, { input: batchText(lines), allowFail: force });
}

/** One qdisc as `tc -json qdisc show` lists it. */
export interface Qdisc {
  kind: string;
  handle: string;
  dev: string;
  root?: boolean;
  parent?: string;
}

/** The qdiscs of every device in `netns` (one call). */
export async function listQdiscs(netns: string | null): Promise<Qdisc[]> {
  const { stdout } = await run('tc', [...netnsArgs(netns), '-json', 'qdisc', 'show']);
  return stdout.trim() === '' ? [] : (JSON.parse(stdout) as Qdisc[]);
}
