/**
 * iproute2's `bridge` for VXLAN forwarding entries: the JSON listing here; batched changes go
 * through `toolBatch('bridge', …)` in `ip.ts`, which attributes failures to lines as for `ip`.
 */
import { run } from './exec.js';

/** One forwarding entry as `bridge -json fdb show` prints it. */
export interface FdbRecord {
  mac: string;
  ifname: string;
  dst?: string;
  flags?: string[];
  state?: string;
  master?: string;
}

/** Every forwarding entry of the current network namespace (`bridge -json fdb show`). */
export async function listFdb(): Promise<FdbRecord[]> {
  const { stdout } = await run('bridge', ['-json', 'fdb', 'show']);
  return (stdout.trim() === '' ? [] : JSON.parse(stdout)) as FdbRecord[];
}
