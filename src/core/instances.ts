/**
 * Instances, the compute side: a workload on one host with an interface per port, in order.
 * Creating one makes its new ports through the Ports service (so quotas, security groups and
 * addressing rules apply as to any port), takes ports passed by id, binds them all to the
 * chosen host and records the instance; deleting it deletes the ports made for it and unbinds
 * the others, as Nova does. Its status starts at BUILD and follows the host agent's reports
 * (`host-sync/`).
 */
import { randomUUID } from 'node:crypto';
import type { Kysely } from 'kysely';
import { L2_AGENT_TYPES } from '../model/agent.js';
import { DeviceOwner } from '../model/device-owners.js';
import type { InstanceCreate, Interface, InterfaceRequest } from '../model/instance.js';
import type { PortCreate } from '../model/port.js';
import {
  deleteResource,
  getResource,
  insertResource,
  listResources,
  type Stored,
  updateResource,
} from '../store/resources.js';
import type { Database } from '../store/schema.js';
import type { Store, Tx } from '../store/store.js';
import type { Agents } from './agents.js';
import { portBinding } from './binding.js';
import { type Context, callerProject, owns, requireAdmin, requireWriter, targetProject } from './context.js';
import {
  Conflict,
  HostNotAvailable,
  InstanceNotFound,
  InvalidInput,
  NetworkWithoutDhcp,
  PolicyNotAuthorized,
  PortInUse,
  PortNotFound,
  SecurityGroupNotFound,
} from './errors.js';
import type { Networks } from './networks.js';
import { type Ports, removePort } from './ports.js';
import type { View } from './resource.js';
import type { SecurityGroups } from './security-groups.js';
import type { Settings } from './settings.js';

/** The instance's interfaces, in order (`eth0` first). */
export function interfacesOf(instance: Stored): Interface[] {
  return instance.interfaces as Interface[];
}

/** Each request names a network (optionally with an address) or a port, and a port only once. */
function checkRequests(requests: InterfaceRequest[]): void {
  const ports = new Set<string>();
  for (const { network_id, port_id, fixed_ip } of requests) {
    if ((network_id === undefined) === (port_id === undefined)) {
      throw InvalidInput({
        error_message: 'each item of networks needs exactly one of network_id and port_id',
      });
    }
    if (port_id === undefined) continue;
    if (fixed_ip !== undefined) {
      throw InvalidInput({
        error_message: `fixed_ip goes with network_id: port ${port_id} has its addresses`,
      });
    }
    if (ports.has(port_id)) throw InvalidInput({ error_message: `port ${port_id} is requested twice` });
    ports.add(port_id);
  }
}

/** A port to make for each request naming a network: the instance's, at the address asked for. */
function portBodies(instanceId: string, requests: InterfaceRequest[], groups?: string[]): PortCreate[] {
  return requests.flatMap(({ network_id, fixed_ip }) =>
    network_id === undefined
      ? []
      : [
          {
            network_id,
            device_id: instanceId,
            device_owner: DeviceOwner.compute,
            ...(fixed_ip === undefined ? {} : { fixed_ips: [{ ip_address: fixed_ip }] }),
            ...(groups === undefined ? {} : { security_groups: groups }),
          },
        ],
  );
}

/** The interfaces in request order: the ports `made` (in the order of their requests) and those passed in. */
function interfacesFor(requests: InterfaceRequest[], made: string[]): Interface[] {
  let next = 0;
  return requests.map(({ port_id }) =>
    port_id === undefined
      ? { port_id: made[next++], delete_on_termination: true }
      : { port_id, delete_on_termination: false },
  );
}

/** Nova's limit on user data, decoded. */
const MAX_USER_DATA = 65_535;

/**
 * What the metadata service will serve, checked: user data valid base64 of at most 64 KiB (Nova's
 * rule and wording), a key name only with its public key (there is no key pair store).
 */
function servedData(body: InstanceCreate): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (body.user_data !== undefined) {
    const clean = body.user_data.replace(/\s+/g, '');
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(clean) || clean.length % 4 !== 0)
      throw InvalidInput({ error_message: 'User data needs to be valid base 64' });
    if (Buffer.from(clean, 'base64').length > MAX_USER_DATA)
      throw InvalidInput({
        error_message: `User data too large: at most ${MAX_USER_DATA} bytes once decoded`,
      });
    out.user_data = clean;
  }
  if (body.key_name !== undefined && body.public_key === undefined)
    throw InvalidInput({
      error_message: `key_name ${body.key_name} needs public_key: Neutrino keeps no key pairs`,
    });
  if (body.public_key !== undefined) {
    out.public_key = body.public_key.trim();
    out.key_name = body.key_name ?? 'default';
  }
  if (body.metadata !== undefined) out.metadata = body.metadata;
  return out;
}

export class Instances {
  readonly #store: Store;
  readonly #settings: Settings;
  readonly #networks: Networks;
  readonly #ports: Ports;
  readonly #securityGroups: SecurityGroups;
  readonly #agents: Agents;

  constructor(
    store: Store,
    settings: Settings,
    services: { networks: Networks; ports: Ports; securityGroups: SecurityGroups; agents: Agents },
  ) {
    this.#store = store;
    this.#settings = settings;
    this.#networks = services.networks;
    this.#ports = services.ports;
    this.#securityGroups = services.securityGroups;
    this.#agents = services.agents;
  }

  /** Instances as the API shows them, with their ports' current addresses. */
  async #views(rows: Stored[]): Promise<View[]> {
    const ids = rows.flatMap((r) => interfacesOf(r).map((i) => i.port_id));
    const ports = await listResources(this.#store.db, 'ports', { column: 'id', values: ids });
    const byId = new Map(ports.map((p) => [p.id, p]));
    return rows.map((r) => ({
      id: r.id,
      name: r.name,
      project_id: r.project_id,
      tenant_id: r.project_id,
      status: r.status,
      host: r.host,
      ports: interfacesOf(r).flatMap(({ port_id }) => {
        const port = byId.get(port_id);
        if (!port) return [];
        const { id, network_id, mac_address, fixed_ips } = port;
        return [{ id, network_id, mac_address, fixed_ips }];
      }),
      fault: r.fault ?? null,
      key_name: (r.key_name as string | undefined) ?? null,
      metadata: (r.metadata as Record<string, string> | undefined) ?? {},
      created_at: r.created_at,
      updated_at: r.updated_at,
    }));
  }

  /** The stored instance if `ctx` may see it (its project's, or any for admins), else InstanceNotFound. */
  async #get(ctx: Context, id: string, db: Kysely<Database> = this.#store.db): Promise<Stored> {
    const row = await getResource(db, 'instances', id);
    if (!row || !owns(ctx, row.project_id)) throw InstanceNotFound({ instance_id: id });
    return row;
  }

  async list(ctx: Context): Promise<View[]> {
    const db = this.#store.db;
    const rows = ctx.isAdmin
      ? await listResources(db, 'instances')
      : await listResources(db, 'instances', {
          column: 'project_id',
          values: [callerProject(ctx, 'get_instance')],
        });
    return this.#views(rows);
  }

  async show(ctx: Context, id: string): Promise<View> {
    return (await this.#views([await this.#get(ctx, id)]))[0];
  }

  async create(ctx: Context, body: InstanceCreate): Promise<View> {
    requireWriter(ctx, 'create_instance');
    if (body.host !== undefined) requireAdmin(ctx, 'create_instance:host');
    const project = targetProject(ctx, {}, 'create_instance');
    checkRequests(body.networks);
    const served = servedData(body);
    const given = await this.#givenPorts(ctx, body.networks);
    await this.#requireDhcp(ctx, body.networks, given);
    const groups = body.security_groups && (await this.#securityGroupIds(ctx, project, body.security_groups));
    const host = body.host === undefined ? await this.#pickHost() : await this.#liveHost(body.host);
    const id = randomUUID();

    const bodies = portBodies(id, body.networks, groups);
    const made = (bodies.length > 0 ? await this.#ports.create(ctx, bodies) : []).map((p) => p.id);
    const interfaces = interfacesFor(body.networks, made);
    // The Ports service made the new ports in a transaction of its own: if binding fails, they go.
    try {
      const row = await this.#store.retrying(() =>
        this.#store.transaction(async (tx) => {
          await this.#bind(tx, id, host, interfaces);
          return insertResource(
            tx,
            'instances',
            {
              id,
              project_id: project,
              name: body.name,
              status: 'BUILD',
              fault: null,
              host,
              interfaces,
              ...served,
            },
            { host },
          );
        }),
      );
      return (await this.#views([row]))[0];
    } catch (err) {
      await this.#store.transaction(async (tx) => {
        for (const port of await listResources(tx, 'ports', { column: 'id', values: made })) {
          await removePort(tx, port);
        }
      });
      throw err;
    }
  }

  /** Ports passed by id: the caller's, and attached to nothing yet. */
  async #givenPorts(ctx: Context, requests: InterfaceRequest[]): Promise<Stored[]> {
    const ports: Stored[] = [];
    for (const { port_id } of requests) {
      if (port_id === undefined) continue;
      const port = await this.#ports.get(ctx, port_id);
      if (!owns(ctx, port.project_id)) throw PolicyNotAuthorized({ action: 'create_instance:port' });
      if (port.device_id !== '') {
        throw PortInUse({ port_id, net_id: String(port.network_id), device_id: String(port.device_id) });
      }
      ports.push(port);
    }
    return ports;
  }

  /** Every network asked for must be usable by the caller, and every interface's network must have DHCP. */
  async #requireDhcp(ctx: Context, requests: InterfaceRequest[], given: Stored[]): Promise<void> {
    const networkIds: string[] = [];
    for (const { network_id } of requests) {
      if (network_id === undefined) continue;
      const network = await this.#networks.get(ctx, network_id);
      if (!(await this.#networks.usable(ctx, network))) throw PolicyNotAuthorized({ action: 'create_port' });
      networkIds.push(network_id);
    }
    networkIds.push(...given.map((p) => String(p.network_id)));
    const subnets = await listResources(this.#store.db, 'subnets', {
      column: 'network_id',
      values: networkIds,
    });
    const served = new Set(subnets.filter((s) => s.enable_dhcp === true).map((s) => String(s.network_id)));
    const missing = networkIds.find((id) => !served.has(id));
    if (missing !== undefined) throw NetworkWithoutDhcp({ net_id: missing });
  }

  /** Security groups by id, or by name among the project's own (as Nova resolves them). */
  async #securityGroupIds(ctx: Context, project: string, refs: string[]): Promise<string[]> {
    const visible = await this.#securityGroups.list(ctx, { filters: {} });
    return refs.map((ref) => {
      if (visible.some((g) => g.id === ref)) return ref;
      const named = visible.filter((g) => g.name === ref && g.project_id === project);
      if (named.length === 0) throw SecurityGroupNotFound({ id: ref });
      if (named.length > 1) throw Conflict({ msg: `Several security groups are named ${ref}: use an id` });
      return named[0].id;
    });
  }

  /**
   * Where a new instance goes: the compute host with a live L2 agent that has the fewest instances,
   * or the default host while no agent is alive (an instance never fails for want of one).
   */
  async #pickHost(): Promise<string> {
    const live = (await this.#agents.computeHosts(L2_AGENT_TYPES)).sort();
    if (live.length === 0) return this.#settings.defaultHost;
    const counts = await this.#store.db
      .selectFrom('instances')
      .select((eb) => ['host', eb.fn.countAll().as('n')])
      .where('host', 'in', live)
      .groupBy('host')
      .execute();
    const load = new Map(counts.map((c) => [c.host, Number(c.n)]));
    return live.reduce((best, host) => ((load.get(host) ?? 0) < (load.get(best) ?? 0) ? host : best));
  }

  /** An admin's chosen host, which must have a live compute agent (checked before anything is made). */
  async #liveHost(host: string): Promise<string> {
    const live = (await this.#agents.computeHosts(L2_AGENT_TYPES)).sort();
    if (!live.includes(host))
      throw HostNotAvailable({ host, live: live.length > 0 ? live.join(', ') : 'none' });
    return host;
  }

  /** PostgreSQL only (SQLite serialises writers): holds the ports until commit. */
  async #lockPorts(tx: Tx, ids: string[]): Promise<void> {
    if (this.#store.dialect !== 'postgres' || ids.length === 0) return;
    await tx.selectFrom('ports').select('id').where('id', 'in', ids).orderBy('id').forUpdate().execute();
  }

  /** Binds the interfaces' ports to the instance and its host: made for it, or still free. */
  async #bind(tx: Tx, instanceId: string, host: string, interfaces: Interface[]): Promise<void> {
    const ids = interfaces.map((i) => i.port_id);
    await this.#lockPorts(tx, ids);
    const ports = new Map(
      (await listResources(tx, 'ports', { column: 'id', values: ids })).map((p) => [p.id, p]),
    );
    for (const { port_id, delete_on_termination } of interfaces) {
      const port = ports.get(port_id);
      if (!port) throw PortNotFound({ port_id });
      if (port.device_id !== (delete_on_termination ? instanceId : '')) {
        throw PortInUse({ port_id, net_id: String(port.network_id), device_id: String(port.device_id) });
      }
      const columns = { device_id: instanceId, device_owner: DeviceOwner.compute };
      await updateResource(
        tx,
        'ports',
        port,
        { ...port, ...columns, ...(await portBinding(tx, host)) },
        columns,
      );
    }
  }

  async remove(ctx: Context, id: string): Promise<void> {
    requireWriter(ctx, 'delete_instance');
    await this.#store.retrying(() =>
      this.#store.transaction(async (tx) => {
        const instance = await this.#get(ctx, id, tx);
        const interfaces = interfacesOf(instance);
        const ids = interfaces.map((i) => i.port_id);
        await this.#lockPorts(tx, ids);
        const ports = new Map(
          (await listResources(tx, 'ports', { column: 'id', values: ids })).map((p) => [p.id, p]),
        );
        for (const { port_id, delete_on_termination } of interfaces) {
          const port = ports.get(port_id);
          if (!port || port.device_id !== id) continue;
          if (delete_on_termination) {
            await this.#ports.removeInTransaction(tx, port);
            continue;
          }
          const columns = { device_id: '', device_owner: '' };
          const next = { ...port, ...columns, ...(await portBinding(tx, '')), status: 'DOWN' };
          await updateResource(tx, 'ports', port, next, columns);
        }
        await deleteResource(tx, 'instances', instance);
      }),
    );
  }
}
