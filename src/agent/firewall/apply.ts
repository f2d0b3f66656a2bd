/**
 * Applies a security-group change: the record is marked pending (a crash in between leaves it so,
 * and the next run replaces the tables whole), the `nft -f` transaction runs; then, while the rest
 * of the run goes on, the objects it touched are listed (one `nft` process) and the record is
 * written with their listings' hashes, which verification compares later. A change that removes
 * the tables removes the record.
 */
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { nftApply, nftList } from '../../linux/nft.js';
import type { Firewall } from '../state/host-state.js';
import { listingHashes } from './render.js';

async function writeRecord(path: string, content: unknown): Promise<void> {
  await mkdir(dirname(path), { recursive: true, mode: 0o755 });
  const tmp = `${path}.tmp`;
  await writeFile(tmp, `${JSON.stringify(content)}\n`, { mode: 0o644 });
  await rename(tmp, path);
}

/**
 * Runs the transaction and returns the rest of the change: the listing and the record. The caller
 * may go on with its work meanwhile (nothing else touches these tables) and awaits it at the end:
 * listing hundreds of chains costs as much as loading them, and the ports need only the load.
 */
export async function applyFirewall(
  transaction: string,
  list: string[],
  firewall: Firewall,
): Promise<() => Promise<void>> {
  const { record } = firewall;
  if (!record) throw new Error('security groups: no record file');
  await writeRecord(record, { pending: true, table: firewall.table });
  if (transaction !== '') await nftApply(transaction);
  if (firewall.skeleton === '') {
    await rm(record, { force: true });
    return async () => {};
  }
  return async () => {
    const listed = listingHashes(await nftList(list));
    await writeRecord(record, { ...firewall, listings: { ...firewall.listings, ...listed } });
  };
}
