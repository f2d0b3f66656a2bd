/**
 * What Neutrino owns in Open vSwitch, read with one `ovs-vsctl --format=json` (bridges, ports and
 * interfaces in one transaction); with `verify`, one `ovs-ofctl dump-flows` per bridge of ours
 * counts its rules (by cookie) against what the last apply recorded, so a rule removed by hand is
 * put back. Ours: `external_ids:neutrino-owner` names this deployment.
 */
import { existsSync } from 'node:fs';
import { ipJson } from '../../../linux/ip.js';
import { nftListTable } from '../../../linux/nft.js';
import { type Ovs, ofctl, vsctl } from '../../../linux/ovs.js';
import { OVS_COOKIE, type OvsState, type OvsUnderlay } from '../../state/host-state.js';
import { UNDERLAY_BRIDGE, UNDERLAY_ROLE, underlayFence } from './names.js';

/** Open vSwitch's JSON encoding of a column value: atoms, `["map", pairs]`, `["set", atoms]`, `["uuid", id]`. */
type OvsValue = string | number | boolean | [string, unknown];
interface OvsTable {
  headings: string[];
  data: OvsValue[][];
}

/** Where the last apply records a bridge's rules: their hash and how many they are. */
export const FLOWS_HASH_KEY = 'neutrino-flows';
export const FLOWS_COUNT_KEY = 'neutrino-flow-count';
export const OWNER_KEY = 'neutrino-owner';

function rows(table: OvsTable): Record<string, OvsValue>[] {
  return table.data.map((row) => Object.fromEntries(table.headings.map((h, i) => [h, row[i]])));
}

function map(value: OvsValue | undefined): Record<string, string> {
  if (!Array.isArray(value) || value[0] !== 'map') return {};
  return Object.fromEntries((value[1] as [string, string][]).map(([k, v]) => [k, String(v)]));
}

/** A set column as its members (a single member is encoded bare). */
function members(value: OvsValue | undefined): OvsValue[] {
  if (Array.isArray(value) && value[0] === 'set') return value[1] as OvsValue[];
  return value === undefined ? [] : [value];
}

function uuid(value: OvsValue | undefined): string {
  return Array.isArray(value) && value[0] === 'uuid' ? String(value[1]) : '';
}

/** Whether `handle`'s database answers here (its socket exists): without it there is nothing of ours. */
function reachable(handle: Ovs): boolean {
  return !handle.db.startsWith('unix:') || existsSync(handle.db.slice('unix:'.length));
}

/** The bridges and ports of deployment `owner` in the switch `handle`. */
export async function observeOvs(handle: Ovs | null, owner: string, verify: boolean): Promise<OvsState> {
  const state: OvsState = { handle, owner, bridges: {}, ports: {} };
  if (handle === null || !reachable(handle)) return state;
  const { stdout } = await vsctl(handle, [
    '--format=json',
    '--columns=name,datapath_type,external_ids,ports',
    'list',
    'Bridge',
    '--',
    '--columns=_uuid,name,tag,external_ids,interfaces',
    'list',
    'Port',
    '--',
    '--columns=_uuid,name,type,options,ofport,error',
    'list',
    'Interface',
  ]);
  const [bridges, ports, interfaces] = stdout
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => rows(JSON.parse(line) as OvsTable));
  const interfaceById = new Map(interfaces.map((i) => [uuid(i._uuid), i]));
  const bridgeOfPort = new Map<string, string>();
  const counts: Record<string, number> = {};
  for (const bridge of bridges) {
    const ids = map(bridge.external_ids);
    if (ids[OWNER_KEY] !== owner) continue;
    const name = String(bridge.name);
    for (const port of members(bridge.ports)) bridgeOfPort.set(uuid(port as OvsValue), name);
    state.bridges[name] = {
      datapath: bridge.datapath_type === 'netdev' ? 'netdev' : 'system',
      flowsHash: ids[FLOWS_HASH_KEY] ?? '',
    };
    counts[name] = Number(ids[FLOWS_COUNT_KEY] ?? -1);
  }
  for (const port of ports) {
    const { [OWNER_KEY]: portOwner, ...ids } = map(port.external_ids);
    const bridge = bridgeOfPort.get(uuid(port._uuid));
    if (portOwner !== owner || bridge === undefined) continue;
    const tag = members(port.tag)[0];
    const iface = interfaceById.get(uuid(members(port.interfaces)[0]));
    const error = members(iface?.error)[0];
    state.ports[String(port.name)] = {
      bridge,
      tag: typeof tag === 'number' ? tag : null,
      type: String(iface?.type ?? ''),
      ...(Object.keys(map(iface?.options)).length > 0 ? { options: map(iface?.options) } : {}),
      ids,
      ...(typeof error === 'string' ? { error } : iface?.ofport === -1 ? { error: 'no OpenFlow port' } : {}),
    };
  }
  if (state.bridges[UNDERLAY_BRIDGE]) state.underlay = await observeUnderlay(handle, state);
  if (verify)
    await Promise.all(
      Object.entries(state.bridges).map(async ([name, bridge]) => {
        const dump = await ofctl(handle, ['dump-flows', '--no-stats', name, `cookie=${OVS_COOKIE}/-1`]);
        const found = dump.stdout.split('\n').filter((line) => line.includes('cookie=')).length;
        if (found !== counts[name]) bridge.flowsHash = '';
      }),
    );
  return state;
}

/** The tunnel interface on `br-phy` (our port marked as the tunnel's) and the addresses `br-phy` holds. */
async function observeUnderlay(handle: Ovs, state: OvsState): Promise<OvsUnderlay> {
  const device =
    Object.entries(state.ports).find(
      ([, port]) => port.bridge === UNDERLAY_BRIDGE && port.ids[UNDERLAY_ROLE] === 'tunnel',
    )?.[0] ?? '';
  const where = handle.netns === undefined ? {} : { netns: handle.netns };
  const [link] = await ipJson<
    { flags?: string[]; addr_info?: { local: string; prefixlen: number; scope: string }[] }[]
  >(['addr', 'show', 'dev', UNDERLAY_BRIDGE], where).catch(() => []);
  const fence = underlayFence(state.owner);
  const listing = await nftListTable('netdev', fence, where).catch(() => undefined);
  return {
    bridge: UNDERLAY_BRIDGE,
    device,
    fence,
    fenced: device !== '' && listing !== undefined && listing.includes(`device "${device}"`),
    addresses: (link?.addr_info ?? [])
      .filter((a) => a.scope === 'global')
      .map((a) => `${a.local}/${a.prefixlen}`),
    up: link?.flags?.includes('UP') ?? false,
  };
}
