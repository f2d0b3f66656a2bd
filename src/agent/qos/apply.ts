/**
 * Applies and removes bandwidth limits (`qos.apply`, `qos.remove`): the IFB device, one `tc -batch`
 * per change, and the record observe reads back. The record is written first marked `pending`, so
 * an apply cut short leaves a record that makes the next run build the device's limits from
 * nothing, and never an IFB device nobody knows of.
 */
import { existsSync } from 'node:fs';
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { IpBatchError, ipBatch } from '../../linux/ip.js';
import { clearLines, liftLines, redirectLines, type ShaperSpec, tcBatch, treeLines } from '../../linux/tc.js';
import type { Shaper } from '../state/host-state.js';

/** What `qos.apply` records: the shaper as applied (see `observe/qos.ts`). */
export interface ShaperRecord {
  netns: string | null;
  dev: string;
  ifb: string;
  alias: string;
  spec: ShaperSpec;
  /** Written before the change: until it is replaced, what the kernel holds is unknown. */
  pending?: true;
}

async function writeRecord(shaper: Shaper, pending: boolean): Promise<void> {
  const { netns, dev, ifb, alias, spec } = shaper;
  const record: ShaperRecord = {
    netns,
    dev,
    ifb,
    alias,
    spec,
    ...(pending ? { pending: true as const } : {}),
  };
  await mkdir(dirname(shaper.record), { recursive: true, mode: 0o755 });
  const tmp = `${shaper.record}.tmp`;
  await writeFile(tmp, `${JSON.stringify(record)}\n`, { mode: 0o644 });
  await rename(tmp, shaper.record);
}

function ipOptions(netns: string | null) {
  return netns === null ? {} : { netns };
}

async function addIfb(shaper: Shaper): Promise<void> {
  try {
    await ipBatch([['link', 'add', shaper.ifb, 'type', 'ifb']], { ...ipOptions(shaper.netns), force: false });
  } catch (err) {
    if (!(err instanceof IpBatchError && /File exists/.test(err.stderr))) throw err;
  }
  await ipBatch([['link', 'set', shaper.ifb, 'alias', shaper.alias, 'up']], ipOptions(shaper.netns));
}

async function deleteIfb(netns: string | null, ifb: string): Promise<void> {
  await ipBatch([['link', 'del', ifb]], ipOptions(netns)).catch(() => undefined);
}

/** Lifts the limits of the trees about to be deleted and gives their queues a moment to empty. */
async function lift(shaper: Shaper, going: ShaperSpec): Promise<void> {
  const lines = [...liftLines(shaper.dev, going.transmit), ...liftLines(shaper.ifb, going.receive)];
  if (lines.length === 0) return;
  await tcBatch(shaper.netns, lines, true);
  await sleep(LIFT_MS);
}

/** How long a lifted tree gets to send what it queued before it is deleted. */
const LIFT_MS = 50;

/** Takes `shaper.dev`'s limits from `have` (null: unknown) to `shaper.spec`. */
export async function applyShaper(shaper: Shaper, have: ShaperSpec | null): Promise<void> {
  const { netns, dev, ifb, spec } = shaper;
  await writeRecord(shaper, true);
  if (have === null) await tcBatch(netns, [...clearLines(dev), ...clearLines(ifb)], true);
  const had = have ?? { transmit: [], receive: [] };
  await lift(shaper, {
    transmit: spec.transmit.length === 0 ? had.transmit : [],
    receive: spec.receive.length === 0 ? had.receive : [],
  });
  const lines = treeLines(dev, spec.transmit, had.transmit);
  if (spec.receive.length > 0) {
    await addIfb(shaper);
    if (had.receive.length === 0) lines.push(...redirectLines(dev, ifb));
    lines.push(...treeLines(ifb, spec.receive, had.receive));
  } else if (had.receive.length > 0) {
    lines.push(['qdisc', 'del', 'dev', dev, 'ingress']);
  }
  await tcBatch(netns, lines);
  if (spec.receive.length === 0) await deleteIfb(netns, ifb);
  await writeRecord(shaper, false);
}

/** Removes whatever limits `shaper.dev` still has, its IFB device, then the record. */
export async function removeShaper(shaper: Shaper): Promise<void> {
  const { netns, dev, ifb } = shaper;
  const gone = netns !== null && !existsSync(join('/var/run/netns', netns));
  if (!gone) {
    await lift(shaper, shaper.spec).catch(() => undefined);
    await tcBatch(netns, clearLines(dev), true);
    await deleteIfb(netns, ifb);
  }
  await rm(shaper.record, { force: true });
}
