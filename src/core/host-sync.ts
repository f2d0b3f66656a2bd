/**
 * What the server does for each host's agent: schedules DHCP (every network with a
 * DHCP-enabled subnet is served by one host, through one `network:dhcp` port bound there with
 * an address on each such subnet), assembles the host's `Snapshot`, and applies the agent's
 * status reports to ports and instances. A sync or report that finds nothing to change writes
 * nothing, so an agent woken by the revisions its own sync wrote settles after one more round.
 */
import { randomUUID } from 'node:crypto';
import { type Kysely, sql } from 'kysely';
import type { Snapshot, SnapshotNetwork, SnapshotPort, SnapshotSubnet } from '../agent/snapshot.js';
import type { StatusReport } from '../model/agent.js';
import type { Fault, InstanceStatus } from '../model/instance.js';
import type { FixedIp } from '../model/port.js';
import { fromRow, insertResource, listResources, type Stored, updateResource } from '../store/resources.js';
import type { Database, ResourceRow, ResourceTable } from '../store/schema.js';
import type { Store, Tx } from '../store/store.js';
import type { Agents } from './agents.js';
import { type Context, requireAdmin } from './context.js';
import { NeutronError, RevisionNumberConstraintFailed } from './errors.js';
import { type Addressee, allocate, release, requestsFor, type UsedAddresses } from './fixed-ips.js';
import { interfacesOf, portBinding, removePort } from './instances.js';
import { generateMac } from './ipam.js';
import type { Networks } from './networks.js';
import type { Settings } from './settings.js';

const DHCP_OWNER = 'network:dhcp';
/** PostgreSQL advisory lock class ("host") serialising one host's DHCP scheduling. */
const HOST_LOCK = 0x686f7374;
const COLUMNS = ['id', 'project_id', 'revision_number', 'created_at', 'updated_at', 'doc'] as const;

function dhcpDeviceId(networkId: string): string {
  return `dhcp-${networkId}`;
}

/** A network whose DHCP this host serves: the subnets its DHCP port belongs on, and its DHCP ports. */
interface Served {
  network: Stored;
  subnets: Stored[];
  /** Oldest first: the first stays, any others go. */
  ports: Stored[];
}

interface DhcpPlan {
  /** Networks that need DHCP and have no host: they get this one. */
  schedule: string[];
  /** Networks served here that lost their last DHCP-enabled subnet, with their DHCP ports. */
  unschedule: { networkId: string; ports: Stored[] }[];
  serve: Served[];
}

/** How a served network's DHCP port differs from what it should be. */
function drift(served: Served, host: string) {
  const [port, ...extra] = served.ports;
  const fixed = (port?.fixed_ips ?? []) as FixedIp[];
  const wanted = new Set(served.subnets.map((s) => s.id));
  return {
    port,
    extra,
    drop: fixed.filter((ip) => !wanted.has(ip.subnet_id)),
    missing: served.subnets.filter((s) => !fixed.some((ip) => ip.subnet_id === s.id)),
    rebind: port !== undefined && port['binding:host_id'] !== host,
  };
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
  const rows = await tx
    .selectFrom('revisions')
    .select('resource_id')
    .where('resource', '=', resource)
    .where('revision', '>', revision)
    .where('resource_id', 'in', ids)
    .execute();
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
  };
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
    return this.#snapshot(host, await this.#store.latestRevision());
  }

  /**
   * Reads what DHCP scheduling would change for `host`. With `lock` (PostgreSQL, in the writing
   * transaction) the networks involved are held against a concurrent delete until commit.
   */
  async #planDhcp(db: Kysely<Database>, host: string, lock: boolean): Promise<DhcpPlan> {
    const bound = await db
      .selectFrom('dhcp_bindings')
      .select('network_id')
      .where('host', '=', host)
      .execute();
    const here = new Set(bound.map((b) => b.network_id));
    const elsewhere = db.selectFrom('dhcp_bindings').select('network_id').where('host', '!=', host);
    const subnets = await db
      .selectFrom('subnets')
      .select(COLUMNS)
      .where('network_id', 'not in', elsewhere)
      .execute();
    const wanted = groupBy(subnets.map((r) => fromRow(r as ResourceRow)).filter(servesDhcp), (s) =>
      String(s.network_id),
    );
    const ids = [...new Set([...wanted.keys(), ...here])].sort();
    if (ids.length === 0) return { schedule: [], unschedule: [], serve: [] };
    let networkQuery = db.selectFrom('networks').select(COLUMNS).where('id', 'in', ids).orderBy('id');
    if (lock) networkQuery = networkQuery.forShare();
    const networks = new Map(
      (await networkQuery.execute()).map((r) => [r.id, fromRow(r as ResourceRow)] as const),
    );
    const dhcpPorts = await listResources(db, 'ports', {
      column: 'device_id',
      values: ids.map(dhcpDeviceId),
    });
    const portsOf = groupBy(dhcpPorts.filter((p) => p.device_owner === DHCP_OWNER).sort(oldestFirst), (p) =>
      String(p.network_id),
    );
    const served = [...wanted.keys()].filter((id) => networks.has(id));
    return {
      schedule: served.filter((id) => !here.has(id)),
      unschedule: [...here]
        .filter((id) => !wanted.has(id))
        .map((networkId) => ({ networkId, ports: portsOf.get(networkId) ?? [] })),
      serve: served.map((id) => ({
        network: networks.get(id)!,
        subnets: wanted.get(id)!,
        ports: portsOf.get(id) ?? [],
      })),
    };
  }

  /**
   * Plans without writing; only when something is to change does it plan again in a writing
   * transaction (serialised per host on PostgreSQL, retried when another host took a network).
   */
  async #ensureDhcp(host: string): Promise<void> {
    if (isSettled(await this.#planDhcp(this.#store.db, host, false), host)) return;
    const postgres = this.#store.dialect === 'postgres';
    await this.#store.retrying(() =>
      this.#store.transaction(async (tx) => {
        if (postgres) await sql`select pg_advisory_xact_lock(${HOST_LOCK}, hashtext(${host}))`.execute(tx);
        const plan = await this.#planDhcp(tx, host, postgres);
        for (const network_id of plan.schedule) {
          await tx.insertInto('dhcp_bindings').values({ network_id, host }).execute();
        }
        for (const { networkId, ports } of plan.unschedule) {
          for (const port of ports) await removePort(tx, port);
          await tx.deleteFrom('dhcp_bindings').where('network_id', '=', networkId).execute();
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
    const { network } = served;
    const id = randomUUID();
    const mac = generateMac(Math.random, this.#settings.macPrefix);
    const addressee = { networkId: network.id, deviceOwner: DHCP_OWNER, mac };
    const fixedIps = await this.#addresses(tx, id, served.subnets, addressee, used);
    const columns = {
      network_id: network.id,
      mac_address: mac,
      device_id: dhcpDeviceId(network.id),
      device_owner: DHCP_OWNER,
    };
    await insertResource(
      tx,
      'ports',
      {
        id,
        project_id: network.project_id,
        name: '',
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
        tags: [],
      },
      columns,
    );
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
   * The host's share of the model: its instances and their ports bound here, the networks those
   * are on and the networks whose DHCP it serves, with their subnets and — for the DHCP servers'
   * host files — every port of the served networks, wherever it is bound.
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
    const boundHere = interfaces.filter((p) => p['binding:host_id'] === host);
    const dhcpClients = await listResources(db, 'ports', { column: 'network_id', values: dhcpNetworks });
    const ports = new Map([...boundHere, ...dhcpClients].map((p) => [p.id, p]));
    const networkIds = [...new Set([...dhcpNetworks, ...boundHere.map((p) => String(p.network_id))])];
    const networks = await listResources(db, 'networks', { column: 'id', values: networkIds });
    const segments =
      networkIds.length === 0
        ? []
        : await db.selectFrom('network_segments').selectAll().where('network_id', 'in', networkIds).execute();
    const segmentOf = new Map(segments.map((s) => [s.network_id, s]));
    const subnets = await listResources(db, 'subnets', { column: 'network_id', values: networkIds });
    return {
      host,
      revision,
      dnsDomain: this.#settings.dnsDomain,
      networks: networks.map((n) => snapshotNetwork(n, segmentOf.get(n.id))),
      subnets: subnets.map(snapshotSubnet),
      ports: [...ports.values()].map(snapshotPort),
      routers: [],
      instances: instances.map((i) => ({
        id: i.id,
        name: String(i.name),
        ports: interfacesOf(i)
          .map((x) => x.port_id)
          .filter((id) => existing.has(id)),
      })),
      physicalInterfaceMappings:
        (await this.#agents.interfaceMappings(host)) ?? this.#settings.physicalInterfaceMappings,
    };
  }

  /**
   * Applies an agent's report: the status of each port bound to `host` that has not changed
   * since the reported revision (a later change makes the report about it stale), then the
   * status of each instance on `host`.
   */
  async report(ctx: Context, host: string, report: StatusReport): Promise<void> {
    requireAdmin(ctx, 'report_host_status');
    const problems = report.problems ?? [];
    const reported = Object.keys(report.ports);
    await this.#store.retrying(() =>
      this.#store.transaction(async (tx) => {
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
          if (await updateIfCurrent(tx, 'ports', port, { ...port, status: next })) status.set(port.id, next);
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
      }),
    );
  }
}
