/**
 * DHCP scheduling as a host syncs: every network with a DHCP-enabled subnet is served by
 * `dhcp_agents_per_network` hosts, each through a `network:dhcp` port of its own bound there with
 * an address on each such subnet.
 */
import { type Kysely, sql } from 'kysely';
import { DeviceOwner } from '../../model/device-owners.js';
import type { FixedIp } from '../../model/port.js';
import { inChunks } from '../../store/chunks.js';
import { fromRow, listResources, type Stored, updateResource } from '../../store/resources.js';
import type { Database, ResourceRow } from '../../store/schema.js';
import type { Tx } from '../../store/store.js';
import { portBinding } from '../binding.js';
import { release, type UsedAddresses } from '../fixed-ips.js';
import { removePort } from '../ports.js';
import { DHCP_AGENT_TYPE, DHCP_LOCK, groupBy, oldestFirst, SCHEDULER_LOCK, Scheduling } from './common.js';

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
  return subnet.enable_dhcp === true && (types.length === 0 || types.includes(DeviceOwner.dhcp));
}

/** DHCP scheduling: which hosts serve each network's DHCP, and their DHCP ports. */
export class DhcpScheduling extends Scheduling {
  /**
   * Reads what DHCP scheduling would change for `host`. With `lock` (PostgreSQL, in the writing
   * transaction) the networks involved are held against a concurrent delete until commit.
   */
  async #planDhcp(db: Kysely<Database>, host: string, eligible: boolean, lock: boolean): Promise<DhcpPlan> {
    const perNetwork = this.settings.dhcpAgentsPerNetwork;
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
    const portsOf = groupBy(
      dhcpPorts.filter((p) => p.device_owner === DeviceOwner.dhcp).sort(oldestFirst),
      (p) => String(p.network_id),
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
  async ensure(host: string): Promise<void> {
    const eligible = await this.servesNetwork(host, DHCP_AGENT_TYPE);
    if (isSettled(await this.#planDhcp(this.store.db, host, eligible, false), host)) return;
    const postgres = this.store.dialect === 'postgres';
    await this.store.retrying(() =>
      this.store.transaction(async (tx) => {
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
    const addressee = { networkId, deviceOwner: DeviceOwner.dhcp, mac: String(port.mac_address) };
    await release(tx, port.id, drop);
    const added = await this.addresses(tx, port.id, missing, addressee, used);
    if (drop.length === 0 && added.length === 0 && !rebind) return;
    const kept = (port.fixed_ips as FixedIp[]).filter((ip) => !drop.includes(ip));
    await updateResource(tx, 'ports', port, {
      ...port,
      fixed_ips: [...kept, ...added],
      ...(await portBinding(tx, host)),
    });
  }

  /** A DHCP port as Neutron's DHCP agent makes one: the network's project's, no port security. */
  async #createDhcpPort(tx: Tx, served: Served, host: string, used: UsedAddresses): Promise<void> {
    const { network, subnets } = served;
    await this.createServicePort(tx, {
      network,
      subnets,
      host,
      deviceId: dhcpDeviceId(network.id),
      deviceOwner: DeviceOwner.dhcp,
      name: '',
      used,
    });
  }
}
