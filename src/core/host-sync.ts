/**
 * What the server does for each host's agent: schedules DHCP (every network with a
 * DHCP-enabled subnet is served by `dhcp_agents_per_network` hosts, each through a `network:dhcp`
 * port of its own bound there with an address on each such subnet) and L3 (every router with a
 * port is served by one host, the one with a live L3 agent and the fewest routers while any is
 * alive, its ports bound there), assembles the host's
 * `Snapshot` (security groups: `security-group-snapshot.ts`), and applies the agent's status
 * reports to ports and instances. A sync or report that finds nothing to change writes nothing,
 * so an agent woken by the revisions its own sync wrote settles after one more round.
 */
import { randomUUID } from 'node:crypto';
import { type Kysely, sql } from 'kysely';
import type {
  Ipv6Mode,
  Snapshot,
  SnapshotNetwork,
  SnapshotPort,
  SnapshotRemotePort,
  SnapshotRouter,
  SnapshotRouterPort,
  SnapshotSubnet,
  SnapshotTunnelPeer,
} from '../agent/snapshot.js';
import type { StatusReport } from '../model/agent.js';
import type { Fault, InstanceStatus } from '../model/instance.js';
import type { AddressPair, FixedIp } from '../model/port.js';
import type { Route } from '../model/router.js';
import { inChunks } from '../store/chunks.js';
import { fromRow, insertResource, listResources, type Stored, updateResource } from '../store/resources.js';
import type { Database, ResourceRow, ResourceTable } from '../store/schema.js';
import type { Store, Tx } from '../store/store.js';
import type { Agents } from './agents.js';
import { type Context, requireAdmin } from './context.js';
import { NeutronError, RevisionNumberConstraintFailed } from './errors.js';
import { type Addressee, allocate, release, requestsFor, type UsedAddresses } from './fixed-ips.js';
import { FLOATINGIP_OWNER } from './floating-ips.js';
import { firewallsOf, portFirewalls } from './fwaas.js';
import { interfacesOf, portBinding, removePort } from './instances.js';
import { generateMac } from './ipam.js';
import { HA_OWNER, haPortName, haPorts, vrrpIds } from './l3-ha.js';
import { snapshotLoadBalancers } from './load-balancers.js';
import { snapshotMetering } from './metering.js';
import type { Networks } from './networks.js';
import { snapshotQos } from './qos.js';
import { GATEWAY_OWNER, ROUTER_OWNERS, routerPorts } from './routers.js';
import { portsBoundTo, securityGroupsOf } from './security-group-snapshot.js';
import type { Settings } from './settings.js';
import { poolScopes } from './subnet-pools.js';
import { snapshotTapFlows } from './taas.js';
import { routerVpns } from './vpnaas.js';

const DHCP_OWNER = 'network:dhcp';
const L3_AGENT_TYPE = 'L3 agent';
const DHCP_AGENT_TYPE = 'DHCP agent';
/** Ports the router code plumbs itself, kept out of the snapshot's `ports`. */
const L3_OWNERS = [...ROUTER_OWNERS, HA_OWNER, FLOATINGIP_OWNER];
/**
 * PostgreSQL advisory locks serialising scheduling writes (DHCP, L3) across hosts and servers:
 * how many hosts serve a network and which host has the fewest routers are questions about every
 * host at once. Writes are rare (a sync that finds nothing to change takes no lock).
 */
export const SCHEDULER_LOCK = 0x73636864;
export const DHCP_LOCK = 1;
export const L3_LOCK = 2;
const COLUMNS = ['id', 'project_id', 'revision_number', 'created_at', 'updated_at', 'doc'] as const;

function dhcpDeviceId(networkId: string): string {
  return `dhcp-${networkId}`;
}

/** A network whose DHCP this host serves: the subnets its DHCP port belongs on, and its DHCP ports. */
interface Served {
  network: Stored;
  subnets: Stored[];
  /** This host's DHCP ports, oldest first: the first stays, any others go. */
  ports: Stored[];
  /**
   * DHCP ports bound to no host that serves the network (left by a host the network was taken
   * from), oldest first: a host without a port of its own takes the first, keeping its address.
   */
  orphans: Stored[];
  /** Whether the network has all its DHCP hosts: then orphans nobody took go. */
  full: boolean;
}

interface DhcpPlan {
  /** Networks that need DHCP and have no host: they get this one. */
  schedule: string[];
  /** Networks served here that lost their last DHCP-enabled subnet, with this host's and orphaned DHCP ports. */
  unschedule: { networkId: string; ports: Stored[] }[];
  serve: Served[];
}

/** How a served network's DHCP port differs from what it should be. */
function drift(served: Served, host: string) {
  const [own, ...extra] = served.ports;
  const orphans = [...served.orphans];
  const port = own ?? orphans.shift();
  const fixed = (port?.fixed_ips ?? []) as FixedIp[];
  const wanted = new Set(served.subnets.map((s) => s.id));
  return {
    port,
    extra: [...extra, ...(served.full ? orphans : [])],
    drop: fixed.filter((ip) => !wanted.has(ip.subnet_id)),
    missing: served.subnets.filter((s) => !fixed.some((ip) => ip.subnet_id === s.id)),
    rebind: port !== undefined && port['binding:host_id'] !== host,
  };
}

interface ServicePort {
  network: Stored;
  subnets: Stored[];
  host: string;
  deviceId: string;
  deviceOwner: string;
  name: string;
  used: UsedAddresses;
}

interface L3Plan {
  /** Routers with ports and no host, with the host each goes to. */
  schedule: { router_id: string; host: string }[];
  /** Routers served here that lost their last port. */
  unschedule: string[];
  /** Ports of the routers served here that are not bound here yet. */
  rebind: Stored[];
  /** HA routers served here without an HA port here. */
  createHa: { routerId: string; networkId: string }[];
  /** HA ports bound here, or left on a host that no longer serves the router, or duplicates. */
  removeHa: Stored[];
}

/** Routers per host, for `candidates` (each counted, from 0). */
export function routerLoad(bindings: { host: string }[], candidates: string[]): Map<string, number> {
  const load = new Map(candidates.map((h) => [h, 0]));
  for (const b of bindings) if (load.has(b.host)) load.set(b.host, load.get(b.host)! + 1);
  return load;
}

/** The host of `load` with the fewest routers (ties by name), counted as taking one more. */
export function leastLoaded(load: Map<string, number>): string {
  const [host] = [...load].sort(([a, x], [b, y]) => x - y || a.localeCompare(b))[0];
  load.set(host, load.get(host)! + 1);
  return host;
}

/**
 * Writes a revision saying a router changed hosts (its binding is no resource of its own), so the
 * agents look again: the new host builds it, the old one removes it.
 */
export async function routerMoved(tx: Tx, routerId: string): Promise<void> {
  const row = await tx
    .selectFrom('routers')
    .select('project_id')
    .where('id', '=', routerId)
    .executeTakeFirst();
  tx.changed({ resource: 'router', resource_id: routerId, op: 'update', project_id: row?.project_id ?? '' });
}

/** Writes a revision saying a network's DHCP hosts changed (see `routerMoved`). */
export async function dhcpMoved(tx: Tx, networkId: string): Promise<void> {
  const row = await tx
    .selectFrom('networks')
    .select('project_id')
    .where('id', '=', networkId)
    .executeTakeFirst();
  tx.changed({
    resource: 'network',
    resource_id: networkId,
    op: 'update',
    project_id: row?.project_id ?? '',
  });
}

function isL3Settled(plan: L3Plan): boolean {
  return (
    plan.schedule.length === 0 &&
    plan.unschedule.length === 0 &&
    plan.rebind.length === 0 &&
    plan.createHa.length === 0 &&
    plan.removeHa.length === 0
  );
}

function isSettled(plan: DhcpPlan, host: string): boolean {
  return (
    plan.schedule.length === 0 &&
    plan.unschedule.length === 0 &&
    plan.serve.every((served) => {
      const d = drift(served, host);
      return d.port && d.extra.length === 0 && d.drop.length === 0 && d.missing.length === 0 && !d.rebind;
    })
  );
}

/** A DHCP-enabled subnet the DHCP port may take an address on (its service types allow it). */
function servesDhcp(subnet: Stored): boolean {
  const types = (subnet.service_types as string[] | undefined) ?? [];
  return subnet.enable_dhcp === true && (types.length === 0 || types.includes(DHCP_OWNER));
}

function groupBy<T>(items: T[], key: (item: T) => string): Map<string, T[]> {
  const groups = new Map<string, T[]>();
  for (const item of items) groups.set(key(item), [...(groups.get(key(item)) ?? []), item]);
  return groups;
}

function oldestFirst(a: Stored, b: Stored): number {
  return a.created_at.localeCompare(b.created_at) || a.id.localeCompare(b.id);
}

/** Applies an update unless the row changed since it was read: then what was reported about it is stale. */
async function updateIfCurrent(
  tx: Tx,
  table: ResourceTable,
  current: Stored,
  next: Record<string, unknown>,
): Promise<boolean> {
  try {
    await updateResource(tx, table, current, next);
    return true;
  } catch (err) {
    if (err instanceof NeutronError && err.type === RevisionNumberConstraintFailed.type) return false;
    throw err;
  }
}

/** Which of `ids` changed after store revision `revision`. */
async function changedSince(tx: Tx, resource: string, revision: number, ids: string[]): Promise<Set<string>> {
  if (ids.length === 0) return new Set();
  const rows = await inChunks(ids, (chunk) =>
    tx
      .selectFrom('revisions')
      .select('resource_id')
      .where('resource', '=', resource)
      .where('revision', '>', revision)
      .where('resource_id', 'in', chunk)
      .execute(),
  );
  return new Set(rows.map((r) => r.resource_id));
}

/**
 * An instance's status from its ports' and the agent's word: ERROR while a problem names it or
 * one of its ports, ACTIVE once every port is; otherwise it stays (an ACTIVE instance whose port
 * went DOWN stays ACTIVE, as in Nova) but leaves ERROR for BUILD when its problem is gone.
 */
function health(
  current: Stored,
  statuses: string[],
  problems: string[],
): { status: InstanceStatus; fault: Fault | null } {
  if (problems.length > 0) return { status: 'ERROR', fault: { message: problems.join('; ') } };
  if (statuses.length > 0 && statuses.every((s) => s === 'ACTIVE')) return { status: 'ACTIVE', fault: null };
  return { status: current.status === 'ERROR' ? 'BUILD' : (current.status as InstanceStatus), fault: null };
}

function snapshotNetwork(network: Stored, segment?: Database['network_segments']): SnapshotNetwork {
  const type = (segment?.network_type ?? network['provider:network_type']) as SnapshotNetwork['network_type'];
  return {
    id: network.id,
    project_id: network.project_id,
    admin_state_up: network.admin_state_up === true,
    mtu: Number(network.mtu),
    network_type: type,
    physical_network: segment?.physical_network || null,
    segmentation_id:
      segment && (type === 'vxlan' || type === 'vlan') ? Number(segment.segmentation_id) : null,
  };
}

function snapshotSubnet(subnet: Stored): SnapshotSubnet {
  return {
    id: subnet.id,
    network_id: String(subnet.network_id),
    ip_version: subnet.ip_version as 4 | 6,
    cidr: String(subnet.cidr),
    gateway_ip: subnet.gateway_ip as string | null,
    enable_dhcp: subnet.enable_dhcp === true,
    dns_nameservers: subnet.dns_nameservers as string[],
    host_routes: subnet.host_routes as SnapshotSubnet['host_routes'],
    ipv6_ra_mode: (subnet.ipv6_ra_mode ?? null) as Ipv6Mode | null,
    ipv6_address_mode: (subnet.ipv6_address_mode ?? null) as Ipv6Mode | null,
  };
}

function snapshotPort(port: Stored): SnapshotPort {
  return {
    id: port.id,
    network_id: String(port.network_id),
    mac_address: String(port.mac_address),
    fixed_ips: port.fixed_ips as FixedIp[],
    device_owner: String(port.device_owner),
    device_id: String(port.device_id),
    admin_state_up: port.admin_state_up === true,
    dns_name: String(port.dns_name ?? ''),
    extra_dhcp_opts: port.extra_dhcp_opts as SnapshotPort['extra_dhcp_opts'],
    binding_host_id: String(port['binding:host_id'] ?? ''),
    port_security_enabled: port.port_security_enabled === true,
    security_groups: (port.security_groups ?? []) as string[],
    allowed_address_pairs: (port.allowed_address_pairs ?? []) as AddressPair[],
  };
}

/** `scopes`: the address scope of each subnet pool that has one. */
function snapshotRouterPort(
  port: Stored,
  subnets: Map<string, Stored>,
  scopes: Map<string, string>,
): SnapshotRouterPort {
  return {
    port_id: port.id,
    network_id: String(port.network_id),
    mac_address: String(port.mac_address),
    addresses: (port.fixed_ips as FixedIp[]).flatMap(({ subnet_id, ip_address }) => {
      const subnet = subnets.get(subnet_id);
      if (!subnet) return [];
      const scope = scopes.get(String(subnet.subnetpool_id));
      const prefixlen = Number(String(subnet.cidr).split('/')[1]);
      const v6 =
        subnet.ip_version === 6
          ? {
              ipv6_ra_mode: (subnet.ipv6_ra_mode ?? null) as Ipv6Mode | null,
              dns_nameservers: subnet.dns_nameservers as string[],
            }
          : {};
      return [{ subnet_id, ip_address, prefixlen, ...(scope ? { address_scope_id: scope } : {}), ...v6 }];
    }),
  };
}

/** A port as remote hosts resolve it: its MAC with its addresses, and each allowed pair's MAC with its. */
function remotePorts(port: Stored): SnapshotRemotePort[] {
  const mac = String(port.mac_address).toLowerCase();
  const byMac = new Map<string, string[]>([[mac, (port.fixed_ips as FixedIp[]).map((ip) => ip.ip_address)]]);
  for (const pair of (port.allowed_address_pairs ?? []) as AddressPair[]) {
    const [address, length] = pair.ip_address.split('/');
    const single = length === undefined || length === (address.includes(':') ? '128' : '32');
    if (!single) continue;
    const pairMac = (pair.mac_address || mac).toLowerCase();
    byMac.set(pairMac, [...(byMac.get(pairMac) ?? []), address]);
  }
  return [...byMac].map(([mac_address, ip_addresses]) => ({ mac_address, ip_addresses }));
}

export class HostSync {
  readonly #store: Store;
  readonly #settings: Settings;
  readonly #agents: Agents;

  constructor(store: Store, settings: Settings, networks: Networks, agents: Agents) {
    this.#store = store;
    this.#settings = settings;
    this.#agents = agents;
    networks.onDelete.push(async (tx, network) => {
      await tx.deleteFrom('dhcp_bindings').where('network_id', '=', network.id).execute();
    });
  }

  /** Schedules and repairs DHCP for `host`, then returns its snapshot as of the store's latest revision. */
  async sync(ctx: Context, host: string): Promise<Snapshot> {
    requireAdmin(ctx, 'sync_host');
    await this.#ensureDhcp(host);
    await this.#ensureL3(host);
    return this.#snapshot(host, await this.#store.latestRevision());
  }

  /**
   * Reads what DHCP scheduling would change for `host`. With `lock` (PostgreSQL, in the writing
   * transaction) the networks involved are held against a concurrent delete until commit.
   */
  async #planDhcp(db: Kysely<Database>, host: string, eligible: boolean, lock: boolean): Promise<DhcpPlan> {
    const perNetwork = this.#settings.dhcpAgentsPerNetwork;
    const bound = await db
      .selectFrom('dhcp_bindings')
      .select('network_id')
      .where('host', '=', host)
      .execute();
    const here = new Set(bound.map((b) => b.network_id));
    const full = db
      .selectFrom('dhcp_bindings')
      .select('network_id')
      .groupBy('network_id')
      .having(sql`count(*)`, '>=', perNetwork);
    // Subnets of networks short of DHCP hosts, and of those this host serves (full or not).
    const open = await db.selectFrom('subnets').select(COLUMNS).where('network_id', 'not in', full).execute();
    const ours = await inChunks([...here], (chunk) =>
      db.selectFrom('subnets').select(COLUMNS).where('network_id', 'in', chunk).execute(),
    );
    const subnets = [...new Map([...open, ...ours].map((r) => [r.id, r] as const)).values()];
    const wanted = groupBy(subnets.map((r) => fromRow(r as ResourceRow)).filter(servesDhcp), (s) =>
      String(s.network_id),
    );
    const ids = [...new Set([...wanted.keys(), ...here])].sort();
    if (ids.length === 0) return { schedule: [], unschedule: [], serve: [] };
    const networkRows = await inChunks(ids, (chunk) => {
      const query = db.selectFrom('networks').select(COLUMNS).where('id', 'in', chunk).orderBy('id');
      return (lock ? query.forShare() : query).execute();
    });
    const networks = new Map(networkRows.map((r) => [r.id, fromRow(r as ResourceRow)] as const));
    const dhcpPorts = await listResources(db, 'ports', {
      column: 'device_id',
      values: ids.map(dhcpDeviceId),
    });
    const portsOf = groupBy(dhcpPorts.filter((p) => p.device_owner === DHCP_OWNER).sort(oldestFirst), (p) =>
      String(p.network_id),
    );
    const bindings = await inChunks(ids, (chunk) =>
      db.selectFrom('dhcp_bindings').selectAll().where('network_id', 'in', chunk).execute(),
    );
    const hostsOf = groupBy(bindings, (b) => b.network_id);
    const served = [...wanted.keys()].filter((id) => networks.has(id));
    const schedule = eligible
      ? served.filter((id) => !here.has(id) && (hostsOf.get(id)?.length ?? 0) < perNetwork)
      : [];
    const servers = (id: string) =>
      new Set([...(hostsOf.get(id) ?? []).map((b) => b.host), ...(schedule.includes(id) ? [host] : [])]);
    const orphansOf = (id: string) => {
      const serving = servers(id);
      return (portsOf.get(id) ?? []).filter((p) => !serving.has(String(p['binding:host_id'] ?? '')));
    };
    return {
      schedule,
      unschedule: [...here]
        .filter((id) => !wanted.has(id))
        .map((networkId) => ({
          networkId,
          ports: [
            ...(portsOf.get(networkId) ?? []).filter((p) => p['binding:host_id'] === host),
            ...orphansOf(networkId),
          ],
        })),
      serve: [...here, ...schedule]
        .filter((id) => wanted.has(id) && networks.has(id))
        .map((id) => ({
          network: networks.get(id)!,
          subnets: wanted.get(id)!,
          ports: (portsOf.get(id) ?? []).filter((p) => p['binding:host_id'] === host),
          orphans: orphansOf(id),
          full: servers(id).size >= perNetwork,
        })),
    };
  }

  /**
   * Plans without writing; only when something is to change does it plan again in a writing
   * transaction (serialised per host on PostgreSQL, retried when another host took a network).
   */
  async #ensureDhcp(host: string): Promise<void> {
    const eligible = await this.#servesNetwork(host, DHCP_AGENT_TYPE);
    if (isSettled(await this.#planDhcp(this.#store.db, host, eligible, false), host)) return;
    const postgres = this.#store.dialect === 'postgres';
    await this.#store.retrying(() =>
      this.#store.transaction(async (tx) => {
        if (postgres) await sql`select pg_advisory_xact_lock(${SCHEDULER_LOCK}, ${DHCP_LOCK})`.execute(tx);
        const plan = await this.#planDhcp(tx, host, eligible, postgres);
        for (const network_id of plan.schedule) {
          await tx.insertInto('dhcp_bindings').values({ network_id, host }).execute();
        }
        for (const { networkId, ports } of plan.unschedule) {
          for (const port of ports) await removePort(tx, port);
          await tx
            .deleteFrom('dhcp_bindings')
            .where('network_id', '=', networkId)
            .where('host', '=', host)
            .execute();
        }
        const used: UsedAddresses = new Map();
        for (const served of plan.serve) await this.#serve(tx, served, host, used);
      }),
    );
  }

  /** Makes the network's DHCP port what it should be; writes only what differs. */
  async #serve(tx: Tx, served: Served, host: string, used: UsedAddresses): Promise<void> {
    const { port, extra, drop, missing, rebind } = drift(served, host);
    for (const duplicate of extra) await removePort(tx, duplicate);
    const networkId = served.network.id;
    if (!port) return this.#createDhcpPort(tx, served, host, used);
    const addressee = { networkId, deviceOwner: DHCP_OWNER, mac: String(port.mac_address) };
    await release(tx, port.id, drop);
    const added = await this.#addresses(tx, port.id, missing, addressee, used);
    if (drop.length === 0 && added.length === 0 && !rebind) return;
    const kept = (port.fixed_ips as FixedIp[]).filter((ip) => !drop.includes(ip));
    await updateResource(tx, 'ports', port, {
      ...port,
      fixed_ips: [...kept, ...added],
      ...portBinding(host),
    });
  }

  /** A DHCP port as Neutron's DHCP agent makes one: the network's project's, no port security. */
  async #createDhcpPort(tx: Tx, served: Served, host: string, used: UsedAddresses): Promise<void> {
    const { network, subnets } = served;
    await this.#createServicePort(tx, {
      network,
      subnets,
      host,
      deviceId: dhcpDeviceId(network.id),
      deviceOwner: DHCP_OWNER,
      name: '',
      used,
    });
  }

  /**
   * A port of the network's service (DHCP, HA) bound to `host`: the network's project's, no port
   * security, an address on each of `subnets` that has one free.
   */
  async #createServicePort(tx: Tx, port: ServicePort): Promise<void> {
    const { network, host, used } = port;
    const id = randomUUID();
    const mac = generateMac(Math.random, this.#settings.macPrefix);
    const addressee = { networkId: network.id, deviceOwner: port.deviceOwner, mac };
    const fixedIps = await this.#addresses(tx, id, port.subnets, addressee, used);
    const columns = {
      network_id: network.id,
      mac_address: mac,
      device_id: port.deviceId,
      device_owner: port.deviceOwner,
    };
    await insertResource(
      tx,
      'ports',
      {
        id,
        project_id: network.project_id,
        name: port.name,
        description: '',
        ...columns,
        admin_state_up: true,
        fixed_ips: fixedIps,
        status: 'DOWN',
        ...portBinding(host),
        'binding:vnic_type': 'normal',
        'binding:profile': {},
        allowed_address_pairs: [],
        port_security_enabled: false,
        security_groups: [],
        extra_dhcp_opts: [],
        dns_name: '',
        ip_allocation: 'immediate',
        propagate_uplink_status: false,
        resource_request: null,
        qos_policy_id: null,
        tags: [],
      },
      columns,
    );
  }

  /**
   * Whether `host` may take new DHCP or router work (`agentType`): when it runs a live agent of
   * that type, or when none is alive anywhere (one host, or agents that do not report the role) and
   * its L2 agent does not say it is a compute host only.
   */
  async #servesNetwork(host: string, agentType: string): Promise<boolean> {
    const live = await this.#agents.liveHosts([agentType]);
    if (live.length > 0) return live.includes(host);
    return !(await this.#agents.isComputeOnly(host));
  }

  /**
   * The hosts that take routers: those with a live L3 agent; while none is alive anywhere (one
   * host, or agents that do not report the role), `host` itself unless it is a compute host only.
   */
  async #l3Candidates(host: string): Promise<string[]> {
    const live = await this.#agents.liveHosts([L3_AGENT_TYPE]);
    if (live.length > 0) return live;
    return (await this.#agents.isComputeOnly(host)) ? [] : [host];
  }

  /**
   * Reads what L3 scheduling would change, as `host` syncs: every router with ports gets hosts
   * from the candidates with the fewest routers (ties by name) until it has one, or an HA router
   * `max_l3_agents_per_router` (at most one per candidate); `host` or another (whose agent a
   * revision then wakes). The router's ports are bound to its host, or an HA router's to the
   * host whose keepalived last reported master (before any report, the first by name). Each host
   * of an HA router has a port on the project's HA network. With `lock` (PostgreSQL, in the
   * writing transaction) the routers it schedules are held against a concurrent delete until
   * commit, and only those still there are scheduled.
   */
  async #planL3(db: Kysely<Database>, host: string, candidates: string[], lock: boolean): Promise<L3Plan> {
    const routers = (await db.selectFrom('routers').select('id').execute()).map((r) => r.id);
    const ports = await routerPorts(db, routers);
    const wanted = new Set(ports.map((p) => String(p.device_id)));
    const bindings = await db.selectFrom('l3_bindings').selectAll().execute();
    const ha = await vrrpIds(db, [...wanted]);
    const hostsOf = groupBy(bindings, (b) => b.router_id);
    const desired = (id: string) =>
      ha.has(id) ? Math.max(1, Math.min(this.#settings.maxL3AgentsPerRouter, candidates.length)) : 1;
    let short =
      candidates.length > 0
        ? [...wanted].filter((id) => (hostsOf.get(id)?.length ?? 0) < desired(id)).sort()
        : [];
    if (lock && short.length > 0) {
      const held = await inChunks(short, (chunk) =>
        db.selectFrom('routers').select('id').where('id', 'in', chunk).orderBy('id').forShare().execute(),
      );
      short = held.map((r) => r.id);
    }
    const load = routerLoad(bindings, candidates);
    const schedule: L3Plan['schedule'] = [];
    for (const id of short) {
      const holding = new Set((hostsOf.get(id) ?? []).map((b) => b.host));
      for (let n = holding.size; n < desired(id); n++) {
        const free = new Map([...load].filter(([h]) => !holding.has(h)));
        if (free.size === 0) break;
        const to = leastLoaded(free);
        load.set(to, free.get(to)!);
        holding.add(to);
        schedule.push({ router_id: id, host: to });
      }
    }
    const hostsAfter = (id: string) => [
      ...(hostsOf.get(id) ?? []),
      ...schedule.filter((s) => s.router_id === id).map((s) => ({ ...s, ha_state: null })),
    ];
    // An HA router's ports go to a live host that reports master (a dead one may still say so).
    const portHost = (id: string) => {
      const all = hostsAfter(id).sort((a, b) => a.host.localeCompare(b.host));
      const active = all.filter((b) => b.ha_state === 'active');
      return (active.find((b) => candidates.includes(b.host)) ?? active[0] ?? all[0])?.host;
    };
    const served = new Set([...wanted].filter((id) => hostsAfter(id).some((b) => b.host === host)));
    const haHere = await haPorts(db, [...ha.keys()]);
    const haPortOf = new Set<string>();
    const removeHa: Stored[] = [];
    for (const port of haHere) {
      const id = String(port.device_id);
      const at = String(port['binding:host_id'] ?? '');
      const holder = hostsAfter(id).some((b) => b.host === at);
      // A host's HA port goes with its binding (this host's sync removes it, or any host's for
      // ports left on hosts that no longer hold the router); one per host and router is kept.
      if (!holder && (at === host || served.has(id))) removeHa.push(port);
      else if (at === host && haPortOf.has(id)) removeHa.push(port);
      else if (at === host) haPortOf.add(id);
    }
    return {
      schedule,
      unschedule: bindings.filter((b) => b.host === host && !wanted.has(b.router_id)).map((b) => b.router_id),
      rebind: ports.filter(
        (p) =>
          served.has(String(p.device_id)) &&
          portHost(String(p.device_id)) === host &&
          p['binding:host_id'] !== host,
      ),
      createHa: [...served]
        .filter((id) => ha.has(id) && !haPortOf.has(id))
        .sort()
        .map((id) => ({ routerId: id, networkId: ha.get(id)!.network_id })),
      removeHa,
    };
  }

  /**
   * Schedules routers short of hosts to the candidates with the fewest routers, binds the ports
   * of `host`'s routers to it and keeps its HA ports. Writes only when something is to change; a
   * router scheduled to another host writes a revision, which wakes that host's agent.
   */
  async #ensureL3(host: string): Promise<void> {
    const candidates = await this.#l3Candidates(host);
    if (isL3Settled(await this.#planL3(this.#store.db, host, candidates, false))) return;
    const postgres = this.#store.dialect === 'postgres';
    await this.#store.retrying(() =>
      this.#store.transaction(async (tx) => {
        if (postgres) await sql`select pg_advisory_xact_lock(${SCHEDULER_LOCK}, ${L3_LOCK})`.execute(tx);
        const plan = await this.#planL3(tx, host, candidates, postgres);
        for (const binding of plan.schedule) {
          await tx.insertInto('l3_bindings').values(binding).execute();
          if (binding.host !== host) await routerMoved(tx, binding.router_id);
        }
        await inChunks(plan.unschedule, (chunk) =>
          tx.deleteFrom('l3_bindings').where('host', '=', host).where('router_id', 'in', chunk).execute(),
        );
        for (const port of plan.rebind)
          await updateIfCurrent(tx, 'ports', port, { ...port, ...portBinding(host) });
        for (const port of plan.removeHa) await removePort(tx, port);
        const used: UsedAddresses = new Map();
        for (const { routerId, networkId } of plan.createHa)
          await this.#createHaPort(tx, routerId, networkId, host, used);
      }),
    );
  }

  /** This host's port on an HA router's HA network (Neutron's `network:router_ha_interface`). */
  async #createHaPort(
    tx: Tx,
    routerId: string,
    networkId: string,
    host: string,
    used: UsedAddresses,
  ): Promise<void> {
    const [network] = await listResources(tx, 'networks', { column: 'id', values: [networkId] });
    const [router] = await listResources(tx, 'routers', { column: 'id', values: [routerId] });
    if (!network || !router) return;
    const subnets = await listResources(tx, 'subnets', { column: 'network_id', values: [networkId] });
    await this.#createServicePort(tx, {
      network,
      subnets,
      host,
      deviceId: routerId,
      deviceOwner: HA_OWNER,
      name: haPortName(router.project_id),
      used,
    });
  }

  /**
   * The routers served by `host`: their gateway (with the external subnets' gateway addresses
   * for the default route), interfaces, routes, and floating IPs associated or forwarding ports.
   */
  async #snapshotRouters(db: Kysely<Database>, host: string): Promise<SnapshotRouter[]> {
    const bound = await db.selectFrom('l3_bindings').select('router_id').where('host', '=', host).execute();
    const routers = await listResources(db, 'routers', {
      column: 'id',
      values: bound.map((b) => b.router_id),
    });
    const ids = routers.map((r) => r.id);
    const ha = await vrrpIds(db, ids);
    const ownHa = (await haPorts(db, [...ha.keys()])).filter((p) => p['binding:host_id'] === host);
    const ports = [...(await routerPorts(db, ids)), ...ownHa];
    const subnetIds = new Set(ports.flatMap((p) => (p.fixed_ips as FixedIp[]).map((ip) => ip.subnet_id)));
    const subnets = new Map(
      (await listResources(db, 'subnets', { column: 'id', values: [...subnetIds] })).map((s) => [s.id, s]),
    );
    const pools = [...subnets.values()].flatMap((s) =>
      typeof s.subnetpool_id === 'string' ? [s.subnetpool_id] : [],
    );
    const scopes = await poolScopes(db, pools);
    const mapped = await inChunks(ids, (chunk) =>
      db
        .selectFrom('floatingip_associations')
        .select('floatingip_id')
        .where('router_id', 'in', chunk)
        .execute(),
    );
    const forwarded = await inChunks(ids, (chunk) =>
      db.selectFrom('port_forwardings').selectAll().where('router_id', 'in', chunk).execute(),
    );
    const floatingIps = await listResources(db, 'floatingips', {
      column: 'id',
      values: [...mapped.map((m) => m.floatingip_id), ...new Set(forwarded.map((f) => f.floatingip_id))],
    });
    const qos = await snapshotQos(
      db,
      [...routers.map((r) => r.qos_policy_id), ...floatingIps.map((f) => f.qos_policy_id)].filter(
        (id): id is string => typeof id === 'string',
      ),
    );
    // Floating IPs and gateways are shaped, not marked (the DSCP mark is for ports only).
    const limitsOf = (policyId: unknown) => {
      const found = typeof policyId === 'string' ? qos.get(policyId) : undefined;
      return found && found.bandwidth_limits.length > 0 ? { qos: { ...found, dscp_mark: null } } : {};
    };
    const forwardingsOf = (fipId: string) =>
      forwarded
        .filter((f) => f.floatingip_id === fipId)
        .sort((a, b) => a.protocol.localeCompare(b.protocol) || a.external_port_start - b.external_port_start)
        .map((f) => ({
          protocol: f.protocol,
          internal_ip_address: f.internal_ip_address,
          internal_port_start: f.internal_port_start,
          internal_port_end: f.internal_port_end,
          external_port_start: f.external_port_start,
          external_port_end: f.external_port_end,
        }));
    const meteringOf = await snapshotMetering(db);
    const firewalls = await portFirewalls(
      db,
      ports.map((p) => p.id),
    );
    const vpns = await routerVpns(db, ids);
    return routers.map((router) => {
      const own = ports.filter((p) => p.device_id === router.id && p.device_owner !== HA_OWNER);
      const vpn = vpns.get(router.id);
      const gateway = own.find((p) => p.device_owner === GATEWAY_OWNER);
      const vrrp = ha.get(router.id);
      const haPort = ownHa.find((p) => p.device_id === router.id);
      return {
        id: router.id,
        project_id: router.project_id,
        admin_state_up: router.admin_state_up === true,
        gateway: gateway
          ? {
              ...snapshotRouterPort(gateway, subnets, scopes),
              enable_snat: router.enable_snat === true,
              external_gateway_ips: (gateway.fixed_ips as FixedIp[]).flatMap((ip) => {
                const gatewayIp = subnets.get(ip.subnet_id)?.gateway_ip;
                return typeof gatewayIp === 'string' ? [gatewayIp] : [];
              }),
              ...limitsOf(router.qos_policy_id),
            }
          : null,
        interfaces: own.filter((p) => p !== gateway).map((p) => snapshotRouterPort(p, subnets, scopes)),
        routes: router.routes as Route[],
        floating_ips: floatingIps
          .filter((f) => f.router_id === router.id)
          .map((f) => ({
            id: f.id,
            floating_ip_address: String(f.floating_ip_address),
            fixed_ip_address: f.fixed_ip_address as string | null,
            port_id: f.port_id as string | null,
            port_forwardings: forwardingsOf(f.id),
            ...limitsOf(f.qos_policy_id),
          })),
        ...(vrrp
          ? {
              ha: {
                vrid: vrrp.vr_id,
                advert_int: this.#settings.haVrrpAdvertInt,
                port: haPort ? snapshotRouterPort(haPort, subnets, scopes) : null,
              },
            }
          : {}),
        metering: meteringOf(router.project_id),
        ...firewallsOf(firewalls, own),
        ...(vpn ? { vpn } : {}),
      };
    });
  }

  /**
   * An address on each subnet. A subnet that refuses one (it is full) is left out: dnsmasq serves
   * the others, and a later sync tries again.
   */
  async #addresses(
    tx: Tx,
    portId: string,
    subnets: Stored[],
    port: Addressee,
    used: UsedAddresses,
  ): Promise<FixedIp[]> {
    const out: FixedIp[] = [];
    for (const subnet of subnets) {
      try {
        const requests = await requestsFor(tx, [{ subnet_id: subnet.id }], [subnet], port);
        out.push(...(await allocate(tx, portId, requests, port, used)));
      } catch (err) {
        if (!(err instanceof NeutronError)) throw err;
      }
    }
    return out;
  }

  /**
   * The host's share of the model: its instances and the ports bound here, its routers, the
   * networks those are on and the networks whose DHCP it serves, with their subnets and — for
   * the DHCP servers' host files — every port of the served networks, wherever it is bound
   * (but routers' and floating IPs' ports: the router code plumbs those); the security groups of
   * the ports bound here, with the members of the groups their rules name.
   */
  async #snapshot(host: string, revision: number): Promise<Snapshot> {
    const db = this.#store.db;
    const bound = await db
      .selectFrom('dhcp_bindings')
      .select('network_id')
      .where('host', '=', host)
      .execute();
    const dhcpNetworks = bound.map((b) => b.network_id);
    const instances = await listResources(db, 'instances', { column: 'host', values: [host] });
    const interfaces = await listResources(db, 'ports', {
      column: 'id',
      values: instances.flatMap((i) => interfacesOf(i).map((x) => x.port_id)),
    });
    const existing = new Set(interfaces.map((p) => p.id));
    // Ports bound here without an instance are filtered too (their chains wait for a device). A
    // DHCP port comes with the networks this host serves: one still bound here after its network
    // moved away (this host's agent was dead) is no longer this host's to plumb.
    const served = new Set(dhcpNetworks);
    const others = (await portsBoundTo(db, host)).filter(
      (p) =>
        !existing.has(p.id) &&
        !L3_OWNERS.includes(String(p.device_owner)) &&
        (p.device_owner !== DHCP_OWNER || served.has(String(p.network_id))),
    );
    const boundHere = [...interfaces.filter((p) => p['binding:host_id'] === host), ...others];
    const dhcpClients = (
      await listResources(db, 'ports', { column: 'network_id', values: dhcpNetworks })
    ).filter((p) => !L3_OWNERS.includes(String(p.device_owner)));
    const ports = new Map([...boundHere, ...dhcpClients].map((p) => [p.id, p]));
    const routers = await this.#snapshotRouters(db, host);
    const routerNetworks = routers.flatMap((r) => [
      ...(r.gateway ? [r.gateway.network_id] : []),
      ...(r.ha?.port ? [r.ha.port.network_id] : []),
      ...r.interfaces.map((i) => i.network_id),
    ]);
    const networkIds = [
      ...new Set([...dhcpNetworks, ...boundHere.map((p) => String(p.network_id)), ...routerNetworks]),
    ];
    const networks = await listResources(db, 'networks', { column: 'id', values: networkIds });
    const segments = await inChunks(networkIds, (chunk) =>
      db.selectFrom('network_segments').selectAll().where('network_id', 'in', chunk).execute(),
    );
    const segmentOf = new Map(segments.map((s) => [s.network_id, s]));
    const subnets = await listResources(db, 'subnets', { column: 'network_id', values: networkIds });
    const security = await securityGroupsOf(db, boundHere);
    const snapshotPorts = await this.#withQos(db, [...ports.values()], networks);
    const vxlanNetworks = networks.filter(
      (n) => snapshotNetwork(n, segmentOf.get(n.id)).network_type === 'vxlan',
    );
    return {
      host,
      revision,
      dnsDomain: this.#settings.dnsDomain,
      networks: networks.map((n) => snapshotNetwork(n, segmentOf.get(n.id))),
      subnets: subnets.map(snapshotSubnet),
      ports: snapshotPorts,
      routers,
      instances: instances.map((i) => ({
        id: i.id,
        name: String(i.name),
        ports: interfacesOf(i)
          .map((x) => x.port_id)
          .filter((id) => existing.has(id)),
      })),
      physicalInterfaceMappings:
        (await this.#agents.interfaceMappings(host)) ?? this.#settings.physicalInterfaceMappings,
      security_groups: security.groups,
      security_group_members: security.members,
      address_groups: security.addressGroups,
      l2population: await this.#l2population(
        host,
        vxlanNetworks.map((n) => n.id),
      ),
      dhcp_elsewhere: await this.#dhcpElsewhere(host, networkIds),
      load_balancers: await snapshotLoadBalancers(db, host, dhcpNetworks),
      tap_flows: await snapshotTapFlows(db, new Set(boundHere.map((p) => p.id))),
    };
  }

  /**
   * The ports as the snapshot has them, each with its effective QoS (absent when none): its own
   * policy's, else (a compute port) its network's, as Neutron's agents apply them.
   */
  async #withQos(db: Kysely<Database>, ports: Stored[], networks: Stored[]): Promise<SnapshotPort[]> {
    const networkPolicy = new Map(networks.map((n) => [n.id, n.qos_policy_id]));
    const policyOf = (port: Stored) => {
      if (typeof port.qos_policy_id === 'string') return port.qos_policy_id;
      const fromNetwork = networkPolicy.get(String(port.network_id));
      return String(port.device_owner).startsWith('compute:') && typeof fromNetwork === 'string'
        ? fromNetwork
        : null;
    };
    const qos = await snapshotQos(
      db,
      ports.map(policyOf).filter((id): id is string => id !== null),
    );
    return ports.map((port) => {
      const found = qos.get(policyOf(port) ?? '');
      return found ? { ...snapshotPort(port), qos: found } : snapshotPort(port);
    });
  }

  /** Which of `networkIds` another host serves DHCP for. */
  async #dhcpElsewhere(host: string, networkIds: string[]): Promise<string[]> {
    const rows = await inChunks(networkIds, (chunk) =>
      this.#store.db
        .selectFrom('dhcp_bindings')
        .select('network_id')
        .where('network_id', 'in', chunk)
        .where('host', '!=', host)
        .execute(),
    );
    return rows.map((r) => r.network_id).sort();
  }

  /**
   * Neutron's l2population for `host`: per vxlan network, the other hosts that have ports bound
   * there and a tunnel endpoint, with those ports' MACs and addresses (fixed IPs and single-address
   * allowed pairs, which the VXLAN device answers ARP/ND for). Floating IP ports live on no device.
   */
  async #l2population(host: string, networkIds: string[]): Promise<Snapshot['l2population']> {
    if (networkIds.length === 0) return {};
    const endpoints = await this.#agents.tunnelEndpoints();
    const ports = await listResources(this.#store.db, 'ports', { column: 'network_id', values: networkIds });
    // The ports of an HA router that also lives here are not remote: were its addresses proxied
    // here, this host's VXLAN device would answer its own master's gratuitous ARPs, and the bridge
    // would learn the router's MAC behind the tunnel. They are reached by flooding instead.
    const ownRouters = new Set(
      (
        await this.#store.db.selectFrom('l3_bindings').select('router_id').where('host', '=', host).execute()
      ).map((b) => b.router_id),
    );
    const peers = new Map<string, Map<string, SnapshotTunnelPeer>>();
    for (const port of ports.sort((a, b) => a.id.localeCompare(b.id))) {
      const at = String(port['binding:host_id'] ?? '');
      const tunnelIp = endpoints.get(at);
      if (at === '' || at === host || tunnelIp === undefined || port.device_owner === FLOATINGIP_OWNER)
        continue;
      if (ROUTER_OWNERS.includes(String(port.device_owner)) && ownRouters.has(String(port.device_id)))
        continue;
      const networkId = String(port.network_id);
      const byHost = peers.get(networkId) ?? new Map<string, SnapshotTunnelPeer>();
      peers.set(networkId, byHost);
      const peer = byHost.get(at) ?? { host: at, tunnel_ip: tunnelIp, ports: [] };
      byHost.set(at, peer);
      peer.ports.push(...remotePorts(port));
    }
    return Object.fromEntries(
      [...peers].map(([networkId, byHost]) => [
        networkId,
        [...byHost.values()].sort((a, b) => a.host.localeCompare(b.host)),
      ]),
    );
  }

  /**
   * Applies an agent's report: the status of each port bound to `host` that has not changed
   * since the reported revision (a later change makes the report about it stale), then the
   * status of each instance on `host`.
   */
  async report(ctx: Context, host: string, report: StatusReport): Promise<void> {
    requireAdmin(ctx, 'report_host_status');
    if (report.ha_states) await this.#recordHaStates(host, report.ha_states);
    const problems = report.problems ?? [];
    const reported = Object.keys(report.ports);
    await this.#store.retrying(() =>
      this.#store.transaction(
        async (tx) => {
          const instances = await listResources(tx, 'instances', { column: 'host', values: [host] });
          const interfaceIds = instances.flatMap((i) => interfacesOf(i).map((x) => x.port_id));
          const ids = [...new Set([...reported, ...interfaceIds])];
          const ports = await listResources(tx, 'ports', { column: 'id', values: ids });
          const stale = await changedSince(tx, 'ports', report.revision, reported);
          const status = new Map(ports.map((p) => [p.id, String(p.status)]));
          for (const port of ports) {
            const next = report.ports[port.id];
            if (next === undefined || next === port.status || stale.has(port.id)) continue;
            if (port['binding:host_id'] !== host) continue;
            if (await updateIfCurrent(tx, 'ports', port, { ...port, status: next }))
              status.set(port.id, next);
          }
          for (const instance of instances) {
            const own = interfacesOf(instance).map((x) => x.port_id);
            const named = problems.filter((p) => [instance.id, ...own].some((id) => p.includes(id)));
            const statuses = own.flatMap((id) => status.get(id) ?? []);
            const next = health(instance, statuses, named);
            if (
              next.status === instance.status &&
              JSON.stringify(next.fault) === JSON.stringify(instance.fault)
            )
              continue;
            await updateIfCurrent(tx, 'instances', instance, { ...instance, ...next });
          }
        },
        { statusOnly: true },
      ),
    );
  }

  /**
   * Records the VRRP state `host` reports for its HA routers. A router newly master here takes its
   * ports: they are bound here, so l2population points the other hosts at this one (as Neutron
   * does on failover). A router newly standby here hands them to another host that last reported
   * master, if any: after a partition heals, two masters meet and one yields, whichever reported
   * first. Writes nothing when nothing changed.
   */
  async #recordHaStates(host: string, states: Record<string, 'active' | 'standby'>): Promise<void> {
    const read = (db: Kysely<Database>) =>
      inChunks(Object.keys(states), (chunk) =>
        db
          .selectFrom('l3_bindings')
          .selectAll()
          .where('host', '=', host)
          .where('router_id', 'in', chunk)
          .execute(),
      );
    const changed = (rows: { router_id: string; ha_state: string | null }[]) =>
      rows.filter((b) => states[b.router_id] !== b.ha_state);
    if (changed(await read(this.#store.db)).length === 0) return;
    await this.#store.retrying(() =>
      this.#store.transaction(async (tx) => {
        for (const binding of changed(await read(tx))) {
          const state = states[binding.router_id];
          await tx
            .updateTable('l3_bindings')
            .set({ ha_state: state })
            .where('router_id', '=', binding.router_id)
            .where('host', '=', host)
            .execute();
          const ports = await routerPorts(tx, [binding.router_id]);
          let to: string | undefined = host;
          if (state === 'standby') {
            if (!ports.some((p) => p['binding:host_id'] === host)) continue;
            const other = await tx
              .selectFrom('l3_bindings')
              .select('host')
              .where('router_id', '=', binding.router_id)
              .where('host', '!=', host)
              .where('ha_state', '=', 'active')
              .orderBy('host')
              .executeTakeFirst();
            to = other?.host;
          }
          if (to === undefined) continue;
          for (const port of ports)
            if (port['binding:host_id'] !== to)
              await updateIfCurrent(tx, 'ports', port, { ...port, ...portBinding(to) });
          await routerMoved(tx, binding.router_id);
        }
      }),
    );
  }
}
