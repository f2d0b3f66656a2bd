/**
 * The bandwidth limits as the last applies recorded them (`apply/qos.ts`), checked against the
 * qdiscs the kernel lists (one `tc` per namespace): a device whose trees or redirection are not all
 * there, or whose apply was cut short, is `lost` and gets them built again.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { listQdiscs, type Qdisc } from '../../linux/tc.js';
import { type Shaper, shaperKey } from '../state/host-state.js';
import type { ShaperRecord } from './apply.js';
import { qosRecordDir } from './render.js';

function readRecords(dir: string): { path: string; record: ShaperRecord }[] {
  let names: string[];
  try {
    names = readdirSync(dir).filter((n) => n.endsWith('.json'));
  } catch {
    return [];
  }
  return names.flatMap((name) => {
    const path = join(dir, name);
    try {
      return [{ path, record: JSON.parse(readFileSync(path, 'utf8')) as ShaperRecord }];
    } catch {
      return [];
    }
  });
}

function intact(record: ShaperRecord, qdiscs: Qdisc[]): boolean {
  const has = (dev: string, kind: string) =>
    qdiscs.some((q) => q.dev === dev && q.kind === kind && (kind === 'ingress' || q.root === true));
  const { dev, ifb, spec } = record;
  if (spec.transmit.length > 0 && !has(dev, 'htb')) return false;
  if (spec.receive.length > 0 && !(has(dev, 'ingress') && has(ifb, 'htb'))) return false;
  return true;
}

export async function observeShapers(stateDir: string): Promise<Record<string, Shaper>> {
  const records = readRecords(qosRecordDir(stateDir));
  const namespaces = [...new Set(records.map(({ record }) => record.netns))];
  const listed = new Map(
    await Promise.all(
      namespaces.map(async (netns) => {
        const present = netns === null || existsSync(join('/var/run/netns', netns));
        const qdiscs = present ? await listQdiscs(netns).catch(() => [] as Qdisc[]) : [];
        return [netns, qdiscs] as const;
      }),
    ),
  );
  const shapers: Record<string, Shaper> = {};
  for (const { path, record } of records) {
    const { netns, dev, ifb, alias, spec } = record;
    const lost = record.pending === true || !intact(record, listed.get(netns) ?? []);
    shapers[shaperKey(record)] = { netns, dev, ifb, alias, spec, record: path, ...(lost ? { lost } : {}) };
  }
  return shapers;
}
