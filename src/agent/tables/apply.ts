/**
 * Applies a recorded table's change (metering, port mirroring): the record goes first (a crash
 * in between leaves none, and the next run applies again), the `nft -f` transaction runs, then
 * the record is written with the transaction's hash and the hash of nft's listing of the result
 * without counter values, which verification compares later. A table that is gone leaves no record.
 * Last, the connections the change no longer decides as before are deleted (firewall groups).
 */
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { type ConnectionFilter, deleteConnections } from '../../linux/conntrack.js';
import { nftApply, nftListTable } from '../../linux/nft.js';
import { canonicalListing } from '../l3/metering.js';
import { sha256 } from '../l3/router.js';
import type { RecordedTable } from '../state/host-state.js';

export interface TableRecord {
  hash: string;
  listing: string;
  /** The table's rule keys, when it has them (`RecordedTable.rules`). */
  rules?: string[];
}

export async function applyTable(
  netns: string | undefined,
  table: RecordedTable,
  flush: readonly ConnectionFilter[] = [],
): Promise<void> {
  const options = netns === undefined ? {} : { netns };
  await rm(table.record, { force: true });
  await nftApply(table.transaction ?? '', options);
  const listing = await nftListTable(table.family, table.name, options);
  if (listing !== undefined) {
    const record: TableRecord = {
      hash: table.hash,
      listing: sha256(canonicalListing(listing)),
      ...(table.rules ? { rules: table.rules } : {}),
    };
    await mkdir(dirname(table.record), { recursive: true, mode: 0o755 });
    await writeFile(`${table.record}.tmp`, `${JSON.stringify(record)}\n`, { mode: 0o644 });
    await rename(`${table.record}.tmp`, table.record);
  }
  await deleteConnections(flush, netns);
}
