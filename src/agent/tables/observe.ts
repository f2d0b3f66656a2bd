/**
 * Reads the recorded tables' state (port mirroring and instance ports' firewall groups in the root namespace, metering in each router
 * namespace found): from their records, and with `verify` from nft's listing too (one `nft`
 * process each), which must hash as recorded. No record: no table, unless a verification finds
 * one (then it is unknown, and loaded again). Also reads the metering counters for the report.
 */
import { readFile } from 'node:fs/promises';
import { nftJson, nftListTable } from '../../linux/nft.js';
import type { Snapshot } from '../../model/host-snapshot.js';
import {
  FIREWALL_GROUPS_FAMILY,
  firewallGroupsRecordFile,
  firewallGroupsTable,
} from '../firewall/firewall-groups.js';
import {
  canonicalListing,
  counterName,
  METERING_FAMILY,
  METERING_TABLE,
  meteringRecordFile,
} from '../l3/metering.js';
import { routerNamespace, sha256 } from '../l3/router.js';
import { TAAS_FAMILY, taasRecordFile, taasTable } from '../services/taas.js';
import { type HostState, ownerTag, type RecordedTable } from '../state/host-state.js';
import type { TableRecord } from './apply.js';

async function readRecord(path: string): Promise<TableRecord | undefined> {
  try {
    return JSON.parse(await readFile(path, 'utf8')) as TableRecord;
  } catch {
    return undefined;
  }
}

async function observeTable(
  family: string,
  name: string,
  record: string,
  netns: string | null,
  verify: boolean,
): Promise<RecordedTable> {
  const recorded = await readRecord(record);
  const table: RecordedTable = {
    family,
    name,
    hash: recorded?.hash ?? '',
    record,
    ...(recorded?.rules ? { rules: recorded.rules } : {}),
  };
  if (!verify) return table;
  const listing = await nftListTable(family, name, netns === null ? {} : { netns }).catch(() => undefined);
  const seen = listing === undefined ? undefined : sha256(canonicalListing(listing));
  if (seen !== recorded?.listing) table.hash = 'unknown';
  return table;
}

/** Sets `state.taas`, `state.firewallGroups` and each observed router's `metering`. */
export async function observeTables(state: HostState, stateDir: string, verify: boolean): Promise<void> {
  const owner = ownerTag(stateDir);
  const routers = Object.entries(state.routers);
  const [taas, groups, ...metering] = await Promise.all([
    observeTable(TAAS_FAMILY, taasTable(owner), taasRecordFile(stateDir), null, verify),
    observeTable(
      FIREWALL_GROUPS_FAMILY,
      firewallGroupsTable(owner),
      firewallGroupsRecordFile(stateDir),
      null,
      verify,
    ),
    ...routers.map(([netns, router]) =>
      observeTable(METERING_FAMILY, METERING_TABLE, meteringRecordFile(router.dir), netns, verify),
    ),
  ]);
  state.taas = taas;
  state.firewallGroups = groups;
  routers.forEach(([, router], i) => {
    router.metering = metering[i];
  });
}

export interface MeteringCount {
  router_id: string;
  label_id: string;
  bytes: number;
  packets: number;
}

/**
 * The counters of the labels on this host's routers (one `nft` process per router with labels),
 * cumulative since each counter was made; routers whose table is not there are left out.
 */
export async function readMetering(snapshot: Snapshot): Promise<MeteringCount[]> {
  const routers = (snapshot.routers ?? []).filter((r) => r.gateway && (r.metering ?? []).length > 0);
  const counts = await Promise.all(
    routers.map(async (router) => {
      const labels = new Map((router.metering ?? []).map((l) => [counterName(l.id), l.id]));
      const args = ['list', 'counters', 'table', METERING_FAMILY, METERING_TABLE];
      const entries = await nftJson(args, { netns: routerNamespace(router.id) }).catch(() => []);
      return entries.flatMap((entry) => {
        const counter = entry.counter as { name?: string; bytes?: number; packets?: number } | undefined;
        const label = counter?.name === undefined ? undefined : labels.get(counter.name);
        return label === undefined
          ? []
          : [
              {
                router_id: router.id,
                label_id: label,
                bytes: counter?.bytes ?? 0,
                packets: counter?.packets ?? 0,
              },
            ];
      });
    }),
  );
  return counts.flat();
}
