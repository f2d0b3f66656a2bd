/**
 * Reads the security-group tables' state: normally from the record the last change left (no
 * process at all); with `verify`, also one `nft` listing of both tables, compared object by object
 * with the listings recorded: a chain or set someone changed or flushed is marked for rewriting, a
 * missing one for re-adding, changed base chains or a missing table for a rebuild. Without a record
 * nothing is known to exist (a verification then looks whether the tables exist anyway); a record
 * left pending by an interrupted change means "unknown": the tables are replaced whole. Also reads
 * the drop counters (on demand, one `nft` process).
 */
import { readFile, stat } from 'node:fs/promises';
import { nftList, nftListTable } from '../../linux/nft.js';
import { emptyFirewall, type Firewall, ownerTag } from '../state/host-state.js';
import {
  BASE_CHAINS,
  type DropReason,
  FIREWALL_FAMILIES,
  firewallTable,
  listingHashes,
  objectKey,
  parseCounters,
  parseDropCounter,
} from './render.js';
import type { FirewallAllocations } from './security-groups.js';
import { firewallRecordFile } from './security-groups.js';

type Record_ = Firewall | { pending: true; table: string };

/** The last record read, reused while the file is unchanged (it is parsed on every reconcile). */
let cached: { path: string; stamp: string; record: Record_ } | undefined;

/** The record (read-only: callers copy what they change), or undefined when absent or unreadable. */
async function readRecord(path: string): Promise<Record_ | undefined> {
  try {
    const info = await stat(path);
    const stamp = `${info.mtimeMs} ${info.size} ${info.ino}`;
    if (cached?.path === path && cached.stamp === stamp) return cached.record;
    const record = JSON.parse(await readFile(path, 'utf8')) as Record_;
    cached = { path, stamp, record };
    return record;
  } catch {
    return undefined;
  }
}

/** The marks and zones the last change gave out, which the next compile keeps. */
export async function firewallAllocations(stateDir: string): Promise<FirewallAllocations> {
  const record = await readRecord(firewallRecordFile(stateDir));
  if (!record || 'pending' in record) return { marks: {}, zones: {} };
  return { marks: record.marks ?? {}, zones: record.zones ?? {} };
}

/** The actual `Firewall` of the deployment of `stateDir`. */
export async function observeFirewall(stateDir: string, verify: boolean): Promise<Firewall> {
  const path = firewallRecordFile(stateDir);
  const table = firewallTable(ownerTag(stateDir));
  const record = await readRecord(path);
  const unknown = (): Firewall => ({ ...emptyFirewall(), table, record: path, unknown: true });
  if (!record) {
    if (!verify) return { ...emptyFirewall(), record: path };
    const listed = await Promise.all(FIREWALL_FAMILIES.map((f) => nftListTable(f, table)));
    return listed.some((l) => l !== undefined) ? unknown() : { ...emptyFirewall(), record: path };
  }
  if ('pending' in record) return unknown();
  const firewall: Firewall = { ...record, record: path };
  if (!verify) return firewall;
  let listing: string;
  try {
    listing = await nftList(FIREWALL_FAMILIES.map((f) => `list table ${f} ${firewall.table}`));
  } catch {
    return unknown();
  }
  return verified(firewall, listingHashes(listing));
}

/** `firewall` (as recorded) corrected by what the kernel lists now. */
export function verified(firewall: Firewall, now: Record<string, string>): Firewall {
  const recorded = firewall.listings ?? {};
  const same = (key: string) => Object.hasOwn(now, key) && recorded[key] === now[key];
  const base = BASE_CHAINS.map((c) => objectKey(c.family, 'chain', c.name));
  if (!base.every(same)) return { ...firewall, skeleton: '', unknown: true };
  const chains = { ...firewall.chains };
  for (const [key, chain] of Object.entries(chains)) {
    if (!Object.hasOwn(now, key)) delete chains[key];
    else if (!same(key)) chains[key] = { ...chain, hash: '' };
  }
  const sets = { ...firewall.sets };
  for (const [key, set] of Object.entries(sets)) {
    if (!Object.hasOwn(now, key)) delete sets[key];
    else if (!same(key)) sets[key] = { ...set, drift: true };
  }
  const counters = Object.fromEntries(
    Object.entries(firewall.counters).filter(([key]) => Object.hasOwn(now, key)),
  );
  return { ...firewall, chains, sets, counters };
}

export type Drops = Record<string, Partial<Record<DropReason, { packets: number; bytes: number }>>>;

/**
 * The drop counters of the deployment of `stateDir` by port and reason (one `nft` process), or
 * undefined when its tables do not exist.
 */
export async function readDrops(stateDir: string): Promise<Drops | undefined> {
  const table = firewallTable(ownerTag(stateDir));
  let text: string;
  try {
    text = await nftList(FIREWALL_FAMILIES.map((f) => `list counters table ${f} ${table}`));
  } catch {
    return undefined;
  }
  const drops: Drops = {};
  for (const [name, value] of Object.entries(parseCounters(text))) {
    const counter = parseDropCounter(name);
    if (!counter) continue;
    drops[counter.port] ??= {};
    drops[counter.port][counter.reason] = value;
  }
  return drops;
}
