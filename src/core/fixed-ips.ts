/**
 * A port's addresses: which subnet each item of a `fixed_ips` request names, which address it
 * gets (the one asked for, the next free one from the subnet's pools, or the EUI-64 address on
 * SLAAC and DHCPv6-stateless subnets), and keeping `ip_allocations` — whose (subnet, address)
 * key makes allocation race-free — in step with every port's `fixed_ips`.
 */

import { DeviceOwner, ROUTER_INTERFACE_OWNERS, ROUTER_OWNERS } from '../model/device-owners.js';
import type { FixedIp, FixedIpRequest } from '../model/port.js';
import { chunks } from '../store/chunks.js';
import { listResources, type Stored, updateResource } from '../store/resources.js';
import type { Tx } from '../store/store.js';
import {
  AllocationOnAutoAddressSubnet,
  InvalidAttribute,
  InvalidInput,
  InvalidIpForNetwork,
  InvalidIpForSubnet,
  IpAddressGenerationFailure,
  IpAddressInUse,
  SubnetNotFound,
} from './errors.js';
import {
  bigIntToIp,
  eui64,
  ipToBigInt,
  ipVersion,
  normalizeIp,
  type Pool,
  parseCidr,
  pickAddress,
  poolSize,
  usedPrefix,
} from './ipam.js';

/** Router ports: they take the addresses they name, even on auto-address subnets. */
const ROUTER_SNAT_OWNERS = [...ROUTER_INTERFACE_OWNERS, DeviceOwner.routerCentralizedSnat];

/** What allocation needs to know about the port being addressed. */
export interface Addressee {
  networkId: string;
  deviceOwner: string;
  mac: string;
}

/** One address to allocate: the given one, or the next free one of the first of `subnets` that has one. */
export interface AddressRequest {
  subnets: Stored[];
  ip_address?: string;
}

/** Subnets with more allocations than this are probed rather than read whole. */
const READ_WHOLE = 256;
/** Candidates a probe checks at once. */
const PROBES = 32;

/** What a transaction knows of a subnet's taken addresses, kept up to date by its allocations. */
interface Taken {
  /** Every taken address, once read whole. */
  all?: Set<string>;
  /** Leading addresses of the pools all in `all` (see `usedPrefix`). */
  prefix: bigint;
  /** How many are taken, once counted (by a probe). */
  count?: number;
}

/** Per subnet, what a transaction (a bulk create: all its ports) knows of the taken addresses. */
export type UsedAddresses = Map<string, Taken>;

function takenIn(used: UsedAddresses, subnetId: string): Taken {
  let taken = used.get(subnetId);
  if (!taken) {
    taken = { prefix: 0n };
    used.set(subnetId, taken);
  }
  return taken;
}

/** SLAAC or DHCPv6-stateless: hosts form their addresses from the prefix and their MAC. */
export function isAutoAddressSubnet(subnet: Record<string, unknown>): boolean {
  const modes = ['slaac', 'dhcpv6-stateless'];
  return modes.includes(String(subnet.ipv6_address_mode)) || modes.includes(String(subnet.ipv6_ra_mode));
}

function takesEui64(subnet: Stored, port: Addressee): boolean {
  return isAutoAddressSubnet(subnet) && !ROUTER_SNAT_OWNERS.includes(port.deviceOwner);
}

/** Neutron's check_subnet_ip: inside the CIDR, not IPv4's network or broadcast address. */
function validOnSubnet(subnet: Stored, ip: string, owner: string): boolean {
  const cidr = parseCidr(String(subnet.cidr));
  const value = ipToBigInt(ip);
  if (!cidr || value === null || ipVersion(ip) !== cidr.version) return false;
  const last = cidr.network + cidr.size - 1n;
  if (value < cidr.network || value > last) return false;
  if (cidr.version === 4) return cidr.size <= 2n || (value !== cidr.network && value !== last);
  return value !== cidr.network || owner === '' || ROUTER_OWNERS.includes(owner);
}

/** Subnets serving the port's device_owner (service_types), else those serving everyone. */
function candidates(subnets: Stored[], deviceOwner: string): Stored[] {
  const types = (s: Stored) => (s.service_types as string[] | undefined) ?? [];
  const served = subnets.filter((s) => types(s).includes(deviceOwner));
  return served.length ? served : subnets.filter((s) => types(s).length === 0);
}

function autoAddressRequests(subnets: Stored[], port: Addressee, handled: Set<string>): AddressRequest[] {
  return subnets
    .filter((s) => takesEui64(s, port) && !handled.has(s.id))
    .map((s) => ({ subnets: [s], ip_address: eui64(String(s.cidr), port.mac) }));
}

/**
 * Neutron's `max_fixed_ips_per_port`: a port holds at most `max` addresses, unless a `network:`
 * owner's (Neutron's trusted ports: a DHCP port takes one address on every DHCP subnet).
 */
export function checkFixedIpCount(count: number, deviceOwner: string, max: number): void {
  if (count > max && !deviceOwner.startsWith('network:')) {
    throw InvalidInput({ error_message: 'Exceeded maximum amount of fixed ips per port' });
  }
}

/** Validates and canonicalises the addresses of a fixed_ips request. */
export function checkFixedIps(items: FixedIpRequest[]): FixedIpRequest[] {
  const seen = new Set<string>();
  return items.map((item) => {
    if (item.ip_address === undefined) return item;
    const ip = normalizeIp(item.ip_address);
    if (!ip)
      throw InvalidAttribute({ attr: 'fixed_ips', reason: `'${item.ip_address}' is not a valid IP address` });
    if (seen.has(ip))
      throw InvalidAttribute({ attr: 'fixed_ips', reason: `Duplicate IP address '${item.ip_address}'` });
    seen.add(ip);
    return { ...item, ip_address: ip };
  });
}

/** Neutron's default: one IPv4 and one stateful IPv6 address, plus EUI-64 on every auto-address subnet. */
export function defaultRequests(subnets: Stored[], port: Addressee): AddressRequest[] {
  const usable = candidates(subnets, port.deviceOwner);
  const v4 = usable.filter((s) => s.ip_version === 4);
  const v6 = usable.filter((s) => s.ip_version === 6 && !isAutoAddressSubnet(s));
  const picks = [v4, v6].filter((group) => group.length > 0).map((group) => ({ subnets: group }));
  return [...picks, ...autoAddressRequests(usable, port, new Set())];
}

async function subnetFor(tx: Tx, item: FixedIpRequest, usable: Stored[], port: Addressee): Promise<Stored> {
  const ip = item.ip_address;
  if (item.subnet_id !== undefined) {
    const subnet = usable.find((s) => s.id === item.subnet_id);
    if (!subnet) {
      const exists = await tx
        .selectFrom('subnets')
        .select('id')
        .where('id', '=', item.subnet_id)
        .executeTakeFirst();
      if (!exists) throw SubnetNotFound({ subnet_id: item.subnet_id });
      throw InvalidInput({
        error_message: `Failed to create port on network ${port.networkId}, because fixed_ips included invalid subnet ${item.subnet_id}`,
      });
    }
    if (ip !== undefined && !validOnSubnet(subnet, ip, port.deviceOwner))
      throw InvalidIpForSubnet({ ip_address: ip });
    return subnet;
  }
  if (ip === undefined)
    throw InvalidInput({ error_message: 'IP allocation requires subnet_id or ip_address' });
  const subnet = usable.find((s) => validOnSubnet(s, ip, port.deviceOwner));
  if (!subnet) throw InvalidIpForNetwork({ ip_address: ip });
  return subnet;
}

/**
 * The requests a checked fixed_ips list stands for, plus EUI-64 addresses on the auto-address
 * subnets it does not already cover (`handled`).
 */
export async function requestsFor(
  tx: Tx,
  items: FixedIpRequest[],
  subnets: Stored[],
  port: Addressee,
  handled = new Set<string>(),
): Promise<AddressRequest[]> {
  if (items.length > 0 && subnets.length === 0) {
    throw InvalidInput({ error_message: 'IP allocation requires subnets for network' });
  }
  const usable = candidates(subnets, port.deviceOwner);
  const requests: AddressRequest[] = [];
  for (const item of items) {
    const subnet = await subnetFor(tx, item, usable, port);
    if (takesEui64(subnet, port)) {
      // A bare subnet_id here is served by the auto-address requests below.
      if (item.ip_address === undefined) continue;
      if (item.ip_address !== eui64(String(subnet.cidr), port.mac)) {
        throw AllocationOnAutoAddressSubnet({ ip: item.ip_address, subnet_id: subnet.id });
      }
    }
    requests.push({ subnets: [subnet], ip_address: item.ip_address });
    handled.add(subnet.id);
  }
  return [...requests, ...autoAddressRequests(usable, port, handled)];
}

/**
 * How a fixed_ips update changes a port's addresses, Neutron's way: named addresses and
 * subnets keep what the port already has there; addresses not named go, except on auto-address
 * subnets, where the port keeps its EUI-64 address (recomputed when the MAC changed).
 */
export async function changedAddresses(
  tx: Tx,
  original: FixedIp[],
  items: FixedIpRequest[],
  subnets: Stored[],
  port: Addressee,
): Promise<{ keep: FixedIp[]; remove: FixedIp[]; add: AddressRequest[] }> {
  const unclaimed = [...original];
  const claim = (match: (ip: FixedIp) => boolean) => {
    const at = unclaimed.findIndex(match);
    return at < 0 ? undefined : unclaimed.splice(at, 1)[0];
  };
  const keep: FixedIp[] = [];
  const fresh: FixedIpRequest[] = [];
  const named = items.filter((i) => i.ip_address !== undefined);
  const bySubnetOnly = items.filter((i) => i.ip_address === undefined);
  for (const item of named) {
    const same = claim(
      (o) => o.ip_address === item.ip_address && (item.subnet_id ?? o.subnet_id) === o.subnet_id,
    );
    if (same) keep.push(same);
    else fresh.push(item);
  }
  for (const item of bySubnetOnly) {
    const same = item.subnet_id === undefined ? undefined : claim((o) => o.subnet_id === item.subnet_id);
    if (same) keep.push(same);
    else fresh.push(item);
  }
  const subnet = new Map(subnets.map((s) => [s.id, s]));
  const remove = unclaimed.filter(
    (o) => !subnet.has(o.subnet_id) || !takesEui64(subnet.get(o.subnet_id)!, port),
  );
  keep.push(...unclaimed.filter((o) => !remove.includes(o)));
  const stale = keep.filter((k) => {
    const s = subnet.get(k.subnet_id);
    return s !== undefined && takesEui64(s, port) && k.ip_address !== eui64(String(s.cidr), port.mac);
  });
  const handled = new Set([...keep, ...remove].filter((ip) => !stale.includes(ip)).map((ip) => ip.subnet_id));
  return {
    keep: keep.filter((k) => !stale.includes(k)),
    remove: [...remove, ...stale],
    add: await requestsFor(tx, fresh, subnets, port, handled),
  };
}

async function usedIn(tx: Tx, used: UsedAddresses, subnetId: string): Promise<Set<string>> {
  const taken = takenIn(used, subnetId);
  if (!taken.all) {
    const rows = await tx
      .selectFrom('ip_allocations')
      .select('ip_address')
      .where('subnet_id', '=', subnetId)
      .execute();
    taken.all = new Set(rows.map((r) => r.ip_address));
  }
  return taken.all;
}

/** The address `offset` places into the pools, counting from the first pool's start. */
function addressAt(pools: Pool[], offset: bigint): string {
  let rest = offset;
  for (const pool of pools) {
    const first = ipToBigInt(pool.start)!;
    const size = ipToBigInt(pool.end)! - first + 1n;
    if (rest < size) return bigIntToIp(first + rest, ipVersion(pool.start)!);
    rest -= size;
  }
  throw new RangeError(`offset ${offset} beyond the pools`);
}

/**
 * A free address of a subnet with many allocations, without reading them all: random
 * candidates among the first 2n+64 addresses of the pools (n allocations, so at least half of
 * those are free) checked in one query. Null when none was free (a nearly full subnet). n is
 * counted once per transaction, then kept by `allocate`.
 */
async function probe(tx: Tx, subnet: Stored, pools: Pool[], taken: Taken): Promise<string | null> {
  if (taken.count === undefined) {
    const { n } = await tx
      .selectFrom('ip_allocations')
      .select((eb) => eb.fn.countAll().as('n'))
      .where('subnet_id', '=', subnet.id)
      .executeTakeFirstOrThrow();
    taken.count = Number(n);
  }
  const region = Math.min(Number(poolSize(pools)), 2 * taken.count + 64);
  const offsets = Array.from({ length: PROBES }, () => BigInt(Math.floor(Math.random() * region)));
  const candidates = [...new Set(offsets.map((o) => addressAt(pools, o)))];
  const rows = await tx
    .selectFrom('ip_allocations')
    .select('ip_address')
    .where('subnet_id', '=', subnet.id)
    .where('ip_address', 'in', candidates)
    .execute();
  const busy = new Set(rows.map((r) => r.ip_address));
  return candidates.find((ip) => !busy.has(ip)) ?? null;
}

/**
 * A free address from the subnet's pools: Neutron's pick among the first free addresses when
 * the subnet's allocations are few (or already read in this transaction), else a probe.
 */
async function pickFree(
  tx: Tx,
  subnet: Stored,
  used: UsedAddresses,
  lowest: boolean,
): Promise<string | null> {
  const pools = subnet.allocation_pools as Pool[];
  // DHCP ports take the lowest free address (predictable, like Neutron's usual .2), so they
  // never land on an address a user is about to ask for by number.
  const opts = lowest ? { window: 1 } : {};
  const taken = takenIn(used, subnet.id);
  const pick = (all: Set<string>) => {
    taken.prefix = usedPrefix(pools, all, taken.prefix);
    return pickAddress(pools, all, { ...opts, skip: taken.prefix });
  };
  if (taken.all) return pick(taken.all);
  const some = await tx
    .selectFrom('ip_allocations')
    .select('ip_address')
    .where('subnet_id', '=', subnet.id)
    .limit(READ_WHOLE + 1)
    .execute();
  if (some.length <= READ_WHOLE) taken.all = new Set(some.map((r) => r.ip_address));
  if (some.length <= READ_WHOLE || lowest) return pick(await usedIn(tx, used, subnet.id));
  return (await probe(tx, subnet, pools, taken)) ?? pick(await usedIn(tx, used, subnet.id));
}

async function isTaken(tx: Tx, used: UsedAddresses, subnetId: string, ip: string): Promise<boolean> {
  const known = used.get(subnetId)?.all;
  if (known) return known.has(ip);
  const row = await tx
    .selectFrom('ip_allocations')
    .select('port_id')
    .where('subnet_id', '=', subnetId)
    .where('ip_address', '=', ip)
    .executeTakeFirst();
  return row !== undefined;
}

async function allocateOne(
  tx: Tx,
  request: AddressRequest,
  port: Addressee,
  used: UsedAddresses,
): Promise<FixedIp> {
  if (request.ip_address !== undefined) {
    const [subnet] = request.subnets;
    if (await isTaken(tx, used, subnet.id, request.ip_address)) {
      throw IpAddressInUse({ net_id: port.networkId, ip_address: request.ip_address });
    }
    return { subnet_id: subnet.id, ip_address: request.ip_address };
  }
  for (const subnet of request.subnets) {
    const ip = await pickFree(tx, subnet, used, port.deviceOwner === DeviceOwner.dhcp);
    if (ip !== null) return { subnet_id: subnet.id, ip_address: ip };
  }
  throw IpAddressGenerationFailure({ net_id: port.networkId });
}

/**
 * Allocates every request for the port and records the addresses in ip_allocations. A
 * concurrent transaction taking the same address makes the insert fail on the key; callers run
 * in `store.retrying`, and the retry reads the addresses afresh.
 */
export async function allocate(
  tx: Tx,
  portId: string,
  requests: AddressRequest[],
  port: Addressee,
  used: UsedAddresses = new Map(),
): Promise<FixedIp[]> {
  const out: FixedIp[] = [];
  for (const request of requests) {
    const fixed = await allocateOne(tx, request, port, used);
    await tx
      .insertInto('ip_allocations')
      .values({ ...fixed, port_id: portId, network_id: port.networkId })
      .execute();
    const taken = used.get(fixed.subnet_id);
    taken?.all?.add(fixed.ip_address);
    if (taken?.count !== undefined) taken.count++;
    out.push(fixed);
  }
  return out;
}

export async function release(tx: Tx, portId: string, ips: FixedIp[]): Promise<void> {
  for (const ip of ips) {
    await tx
      .deleteFrom('ip_allocations')
      .where('subnet_id', '=', ip.subnet_id)
      .where('ip_address', '=', ip.ip_address)
      .where('port_id', '=', portId)
      .execute();
  }
}

/** Gives every port on a new auto-address subnet's network its EUI-64 address there. */
export async function addAutoAddresses(tx: Tx, subnet: Stored): Promise<void> {
  const networkId = String(subnet.network_id);
  const ports = await listResources(tx, 'ports', { column: 'network_id', values: [networkId] });
  const rows: (FixedIp & { port_id: string; network_id: string })[] = [];
  for (const port of ports) {
    const addressee = { networkId, deviceOwner: String(port.device_owner), mac: String(port.mac_address) };
    if (!takesEui64(subnet, addressee) || candidates([subnet], addressee.deviceOwner).length === 0) continue;
    const fixed = { subnet_id: subnet.id, ip_address: eui64(String(subnet.cidr), addressee.mac) };
    rows.push({ ...fixed, port_id: port.id, network_id: networkId });
    await updateResource(tx, 'ports', port, {
      ...port,
      fixed_ips: [...(port.fixed_ips as FixedIp[]), fixed],
    });
  }
  for (const chunk of chunks(rows)) await tx.insertInto('ip_allocations').values(chunk).execute();
}

/** Takes a subnet's addresses away from the ports holding them (before the subnet goes). */
export async function releaseSubnet(tx: Tx, subnetId: string): Promise<void> {
  const holders = await tx
    .selectFrom('ip_allocations')
    .select('port_id')
    .where('subnet_id', '=', subnetId)
    .execute();
  const ids = [...new Set(holders.map((h) => h.port_id))];
  for (const port of await listResources(tx, 'ports', { column: 'id', values: ids })) {
    const fixedIps = (port.fixed_ips as FixedIp[]).filter((ip) => ip.subnet_id !== subnetId);
    await updateResource(tx, 'ports', port, { ...port, fixed_ips: fixedIps });
  }
  await tx.deleteFrom('ip_allocations').where('subnet_id', '=', subnetId).execute();
}
