/**
 * Floating IPs (with fip-port-details and floatingip-pools): an address taken from an external
 * network by a port of its own (`network:floatingip`, no project, device_id the floating IP's
 * id), mapped to one fixed IPv4 address of a port of the same project by the router that joins
 * that address's subnet to the external network. `floatingip_associations` keeps the mapping
 * (one floating IP per fixed address and external network). A floating IP that is not
 * associated may instead forward ports (port-forwardings.ts; it cannot be associated while it
 * does, and its delete takes them along). Status: ACTIVE while associated or forwarding, DOWN
 * otherwise (the agent does not report floating IP status yet). Deleting an associated port
 * disassociates its floating IPs, as in Neutron.
 */
import { randomUUID } from 'node:crypto';
import type { Kysely } from 'kysely';
import { DeviceOwner, ROUTER_INTERFACE_OWNERS } from '../model/device-owners.js';
import type { FloatingIpCreate, FloatingIpPool, FloatingIpUpdate } from '../model/floating-ip.js';
import type { FixedIp } from '../model/port.js';
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
import {
  type Context,
  callerProject,
  owns,
  requireAdmin,
  requireWriter,
  SYSTEM,
  targetProject,
} from './context.js';
import {
  BadRequest,
  ExternalGatewayForFloatingIPNotFound,
  ExternalIpAddressExhausted,
  FipInUseByPortForwarding,
  FloatingIPNotFound,
  FloatingIPPortAlreadyAssociated,
  InvalidAttribute,
  RevisionNumberConstraintFailed,
  ServicePortInUse,
} from './errors.js';
import { ipVersion, normalizeIp } from './ipam.js';
import type { Networks } from './networks.js';
import { forwardingsOf } from './port-forwardings.js';
import { type Ports, removePort } from './ports.js';
import { checkQosChange, requireQosPolicy } from './qos.js';
import { enforce } from './quotas.js';
import type { ListHint, ResourceService, View } from './resource.js';
import { guardServicePort, lockRows, usableAsExternal } from './routers.js';
import type { Settings } from './settings.js';

/** Where an associated floating IP points. */
interface Association {
  port_id: string;
  fixed_ip_address: string;
  router_id: string;
}

/** What association needs to know about the floating IP. */
interface Floating {
  id: string;
  project_id: string;
  floating_ip_address: string;
  floating_network_id: string;
}

const badFloatingIp = (msg: string) => BadRequest({ resource: 'floatingip', msg });

function checkAddress(attr: string, raw: string): string {
  const ip = normalizeIp(raw);
  if (!ip) throw InvalidAttribute({ attr, reason: `'${raw}' is not a valid IP address` });
  return ip;
}

/** The floating IP's association attributes (and status) for `association`. */
function associated(association: Association | null): Record<string, unknown> {
  return {
    port_id: association?.port_id ?? null,
    fixed_ip_address: association?.fixed_ip_address ?? null,
    router_id: association?.router_id ?? null,
    status: association ? 'ACTIVE' : 'DOWN',
  };
}

function associationOf(fip: Stored): Association | null {
  const { port_id, fixed_ip_address, router_id } = fip;
  return typeof port_id === 'string'
    ? { port_id, fixed_ip_address: String(fixed_ip_address), router_id: String(router_id) }
    : null;
}

/** The port's address to map: the one asked for (IPv4, the port's), else its only IPv4 address. */
function internalAddress(port: Stored, wanted?: string): FixedIp {
  const fixed = port.fixed_ips as FixedIp[];
  if (wanted !== undefined) {
    if (ipVersion(wanted) !== 4) {
      throw badFloatingIp(
        `Cannot process floating IP association with ${wanted}, since that is not an IPv4 address`,
      );
    }
    const match = fixed.find((ip) => ip.ip_address === wanted);
    if (!match) throw badFloatingIp(`Port ${port.id} does not have fixed ip ${wanted}`);
    return match;
  }
  const v4 = fixed.filter((ip) => ipVersion(ip.ip_address) === 4);
  if (v4.length === 0) {
    throw badFloatingIp(`Cannot add floating IP to port ${port.id} that has no fixed IPv4 addresses`);
  }
  if (v4.length > 1) {
    throw badFloatingIp(
      `Port ${port.id} has multiple fixed IPv4 addresses.  Must provide a specific IPv4 address when assigning a floating IP`,
    );
  }
  return v4[0];
}

/** Lets go of every floating IP mapped to the port (it is going away). */
async function disassociate(tx: Tx, portId: string): Promise<void> {
  const rows = await tx
    .selectFrom('floatingip_associations')
    .select('floatingip_id')
    .where('port_id', '=', portId)
    .execute();
  for (const { floatingip_id } of rows) {
    const fip = await getResource(tx, 'floatingips', floatingip_id);
    if (fip) await updateResource(tx, 'floatingips', fip, { ...fip, ...associated(null) });
  }
  await tx.deleteFrom('floatingip_associations').where('port_id', '=', portId).execute();
}

export class FloatingIps implements ResourceService<FloatingIpCreate, FloatingIpUpdate> {
  readonly table = 'floatingips' as const;
  readonly #store: Store;
  readonly #settings: Settings;
  readonly #networks: Networks;
  readonly #ports: Ports;

  constructor(store: Store, settings: Settings, services: { networks: Networks; ports: Ports }) {
    this.#store = store;
    this.#settings = settings;
    this.#networks = services.networks;
    this.#ports = services.ports;
    const exists = (tx: Tx) => async (id: string) => (await getResource(tx, 'floatingips', id)) !== undefined;
    services.ports.onWrite.push(async (tx, port, current) => {
      await guardServicePort([DeviceOwner.floatingIp], exists(tx), port, current);
      if (current) await this.#requireMappedAddressKept(tx, current, port.fixed_ips as FixedIp[]);
    });
    services.ports.onDelete.push(async (tx, port) => {
      if (port.device_owner === DeviceOwner.floatingIp && (await exists(tx)(String(port.device_id)))) {
        throw ServicePortInUse({ port_id: port.id, reason: `has device owner ${DeviceOwner.floatingIp}` });
      }
      // Held against an association in flight, which locks the port to share.
      await lockRows(this.#store, tx, 'ports', [port.id], 'update');
      await disassociate(tx, port.id);
    });
  }

  /** A port's fixed IPs may change, but not away from an address a floating IP maps. */
  async #requireMappedAddressKept(tx: Tx, port: Stored, fixedIps: FixedIp[]): Promise<void> {
    const mapped = await tx
      .selectFrom('floatingip_associations')
      .select('fixed_ip_address')
      .where('port_id', '=', port.id)
      .execute();
    const kept = new Set(fixedIps.map((ip) => ip.ip_address));
    if (mapped.some((m) => !kept.has(m.fixed_ip_address))) {
      throw BadRequest({
        resource: 'port',
        msg: `Cannot update the fixed_ips of the port ${port.id}, because its original fixed_ip has been associated to a floating ip`,
      });
    }
  }

  /** Floating IPs as the API shows them: with the associated port's details, or their port forwardings. */
  async #views(rows: Stored[]): Promise<View[]> {
    const portIds = rows.flatMap((r) => (typeof r.port_id === 'string' ? [r.port_id] : []));
    const ports = await listResources(this.#store.db, 'ports', { column: 'id', values: portIds });
    const forwardings = await forwardingsOf(
      this.#store.db,
      rows.flatMap((r) => (typeof r.port_id === 'string' ? [] : [r.id])),
    );
    const byId = new Map(ports.map((p) => [p.id, p]));
    return rows.map((row) => {
      const port = typeof row.port_id === 'string' ? byId.get(row.port_id) : undefined;
      const port_details = port
        ? {
            name: port.name,
            network_id: port.network_id,
            mac_address: port.mac_address,
            admin_state_up: port.admin_state_up,
            status: port.status,
            device_id: port.device_id,
            device_owner: port.device_owner,
          }
        : null;
      return {
        ...row,
        port_details,
        port_forwardings: forwardings.get(row.id) ?? [],
        qos_policy_id: row.qos_policy_id ?? null,
      };
    });
  }

  async list(ctx: Context, hint: ListHint): Promise<View[]> {
    const { id } = hint.filters;
    const where = !ctx.isAdmin
      ? { column: 'project_id', values: [callerProject(ctx, 'get_floatingip')] }
      : id
        ? { column: 'id', values: id }
        : undefined;
    return this.#views(await listResources(this.#store.db, 'floatingips', where));
  }

  /** The stored floating IP if `ctx` may see it (its project's, or any for admins), else FloatingIPNotFound. */
  async get(ctx: Context, id: string, db: Kysely<Database> = this.#store.db): Promise<Stored> {
    const row = await getResource(db, 'floatingips', id);
    if (!row || !owns(ctx, row.project_id)) throw FloatingIPNotFound({ floatingip_id: id });
    return row;
  }

  async show(ctx: Context, id: string): Promise<View> {
    return (await this.#views([await this.get(ctx, id)]))[0];
  }

  async create(ctx: Context, bodies: FloatingIpCreate[]): Promise<View[]> {
    requireWriter(ctx, 'create_floatingip');
    const rows = await this.#store.retrying(() =>
      this.#store.transaction(async (tx) => {
        const out: Stored[] = [];
        for (const body of bodies) out.push(await this.#insert(tx, ctx, body));
        return out;
      }),
    );
    return this.#views(rows);
  }

  async #insert(tx: Tx, ctx: Context, body: FloatingIpCreate): Promise<Stored> {
    const project = targetProject(ctx, body, 'create_floatingip');
    if (body.floating_ip_address != null) requireAdmin(ctx, 'create_floatingip:floating_ip_address');
    const wanted =
      body.floating_ip_address == null
        ? undefined
        : checkAddress('floating_ip_address', body.floating_ip_address);
    const fixedIp =
      body.fixed_ip_address == null ? undefined : checkAddress('fixed_ip_address', body.fixed_ip_address);
    if (fixedIp !== undefined && !body.port_id) {
      throw badFloatingIp('fixed_ip_address cannot be specified without a port_id');
    }
    await enforce(tx, this.#settings.quotas, project, 'floatingip', 1);
    if (body.qos_policy_id) await requireQosPolicy(ctx, tx, body.qos_policy_id);
    const network = await this.#networks.get(ctx, body.floating_network_id, tx);
    if (!(await usableAsExternal(tx, ctx, network))) {
      throw badFloatingIp(`Network ${network.id} is not a valid external network`);
    }
    const subnets = await listResources(tx, 'subnets', { column: 'network_id', values: [network.id] });
    if (!subnets.some((s) => s.ip_version === 4)) {
      throw badFloatingIp(`Network ${network.id} does not contain any IPv4 subnet`);
    }
    const id = randomUUID();
    const request = {
      ...(body.subnet_id ? { subnet_id: body.subnet_id } : {}),
      ...(wanted === undefined ? {} : { ip_address: wanted }),
    };
    const portBody = {
      network_id: network.id,
      name: '',
      admin_state_up: true,
      device_id: id,
      device_owner: DeviceOwner.floatingIp,
      ...(Object.keys(request).length > 0 ? { fixed_ips: [request] } : {}),
    };
    // The floating IP's own port belongs to no project, as in Neutron.
    const [port] = await this.#ports.insertPorts(tx, SYSTEM, [portBody], ['']);
    const address = (port.fixed_ips as FixedIp[]).find((ip) => ipVersion(ip.ip_address) === 4);
    if (!address) throw ExternalIpAddressExhausted({ net_id: network.id });
    const fip = {
      id,
      project_id: project,
      floating_ip_address: address.ip_address,
      floating_network_id: network.id,
    };
    const association = body.port_id ? await this.#associate(tx, ctx, fip, body.port_id, fixedIp) : null;
    await this.#record(tx, fip, association);
    return insertResource(tx, 'floatingips', {
      ...fip,
      description: body.description ?? '',
      tags: body.tags ?? [],
      qos_policy_id: body.qos_policy_id ?? null,
      ...associated(association),
    });
  }

  /** Keeps `floatingip_associations` in step; a fixed address already mapped fails on its key. */
  async #record(tx: Tx, fip: Floating, association: Association | null): Promise<void> {
    await tx.deleteFrom('floatingip_associations').where('floatingip_id', '=', fip.id).execute();
    if (!association) return;
    await tx
      .insertInto('floatingip_associations')
      .values({ floatingip_id: fip.id, floating_network_id: fip.floating_network_id, ...association })
      .execute();
  }

  /**
   * Neutron's association rules: a port of the floating IP's project (admins may cross), not a
   * DHCP port; one of its IPv4 addresses; a router between that address's subnet and the
   * external network; no other floating IP on that network for that address.
   */
  async #associate(
    tx: Tx,
    ctx: Context,
    fip: Floating,
    portId: string,
    wanted?: string,
  ): Promise<Association> {
    // Held against the port's delete, which disassociates what it finds.
    await lockRows(this.#store, tx, 'ports', [portId], 'share');
    const port = await this.#ports.get(ctx, portId, tx);
    if (port.project_id !== fip.project_id && !ctx.isAdmin) {
      throw badFloatingIp(
        `Cannot process floating IP association with Port ${portId}, since that port is owned by a different project`,
      );
    }
    if (port.device_owner === DeviceOwner.dhcp) {
      throw badFloatingIp(`Port ${portId} is unable to be assigned a floating IP`);
    }
    const internal = internalAddress(port, wanted);
    const router_id = await this.routerFor(tx, port, internal.subnet_id, fip.floating_network_id);
    const taken = await tx
      .selectFrom('floatingip_associations')
      .select('floatingip_id')
      .where('floating_network_id', '=', fip.floating_network_id)
      .where('port_id', '=', port.id)
      .where('fixed_ip_address', '=', internal.ip_address)
      .where('floatingip_id', '!=', fip.id)
      .executeTakeFirst();
    if (taken) {
      throw FloatingIPPortAlreadyAssociated({
        floating_ip_address: fip.floating_ip_address,
        fip_id: fip.id,
        port_id: port.id,
        fixed_ip: internal.ip_address,
        net_id: fip.floating_network_id,
      });
    }
    return { port_id: port.id, fixed_ip_address: internal.ip_address, router_id };
  }

  /**
   * The router with an interface on the subnet and its gateway on the external network (the one
   * holding the subnet's gateway address first), locked to share against an interface or
   * gateway removal in flight (PostgreSQL), and looked up again once locked.
   */
  async routerFor(tx: Tx, port: Stored, subnetId: string, networkId: string): Promise<string> {
    const subnet = await getResource(tx, 'subnets', subnetId);
    const find = async () => {
      const rows = await tx
        .selectFrom('ports as i')
        .innerJoin('ip_allocations as a', 'a.port_id', 'i.id')
        .innerJoin('ports as g', 'g.device_id', 'i.device_id')
        .select(['i.device_id as router_id', 'a.ip_address as ip_address'])
        .where('i.network_id', '=', String(port.network_id))
        .where('i.device_owner', 'in', ROUTER_INTERFACE_OWNERS)
        .where('a.subnet_id', '=', subnetId)
        .where('g.network_id', '=', networkId)
        .where('g.device_owner', '=', DeviceOwner.routerGateway)
        .orderBy('i.device_id')
        .execute();
      return (rows.find((r) => r.ip_address === subnet?.gateway_ip) ?? rows[0])?.router_id;
    };
    for (;;) {
      const found = await find();
      if (found === undefined) {
        throw ExternalGatewayForFloatingIPNotFound({
          external_network_id: networkId,
          subnet_id: subnetId,
          port_id: port.id,
        });
      }
      if (this.#store.dialect !== 'postgres') return found;
      await lockRows(this.#store, tx, 'routers', [found], 'share');
      if ((await find()) === found) return found;
    }
  }

  /** Associates (`port_id`), re-associates, or disassociates (`port_id: null`); changes the description. */
  async update(ctx: Context, id: string, body: FloatingIpUpdate, ifRevision?: number): Promise<View> {
    requireWriter(ctx, 'update_floatingip');
    const row = await this.#store.retrying(() =>
      this.#store.transaction(async (tx) => {
        await lockRows(this.#store, tx, 'floatingips', [id], 'update');
        const current = await this.get(ctx, id, tx);
        if (ifRevision !== undefined && ifRevision !== current.revision_number) {
          throw RevisionNumberConstraintFailed({ expected: ifRevision, current: current.revision_number });
        }
        const fixedIp =
          body.fixed_ip_address == null ? undefined : checkAddress('fixed_ip_address', body.fixed_ip_address);
        if (fixedIp !== undefined && !body.port_id) {
          throw badFloatingIp('fixed_ip_address cannot be specified without a port_id');
        }
        const fip = current as Stored & Floating;
        let association = associationOf(current);
        const forwarded = await tx
          .selectFrom('port_forwardings')
          .select('router_id')
          .where('floatingip_id', '=', id)
          .executeTakeFirst();
        if (body.port_id && forwarded) throw FipInUseByPortForwarding({ id });
        if (body.port_id !== undefined) {
          association =
            body.port_id === null ? null : await this.#associate(tx, ctx, fip, body.port_id, fixedIp);
          await this.#record(tx, fip, association);
        }
        const description = body.description ?? current.description;
        await checkQosChange(ctx, tx, current.qos_policy_id, body.qos_policy_id);
        const qos = body.qos_policy_id === undefined ? (current.qos_policy_id ?? null) : body.qos_policy_id;
        // A floating IP with port forwardings stays on their router.
        const routed = forwarded ? { router_id: forwarded.router_id, status: 'ACTIVE' } : {};
        return updateResource(tx, 'floatingips', current, {
          ...current,
          description,
          qos_policy_id: qos,
          ...associated(association),
          ...routed,
        });
      }),
    );
    return (await this.#views([row]))[0];
  }

  /** The floating IP and its port go; its address is free again. */
  async remove(ctx: Context, id: string, ifRevision?: number): Promise<void> {
    requireWriter(ctx, 'delete_floatingip');
    await this.#store.transaction(async (tx) => {
      await lockRows(this.#store, tx, 'floatingips', [id], 'update');
      const current = await this.get(ctx, id, tx);
      if (ifRevision !== undefined && ifRevision !== current.revision_number) {
        throw RevisionNumberConstraintFailed({ expected: ifRevision, current: current.revision_number });
      }
      await tx.deleteFrom('floatingip_associations').where('floatingip_id', '=', id).execute();
      await tx.deleteFrom('port_forwardings').where('floatingip_id', '=', id).execute();
      for (const port of await listResources(tx, 'ports', { column: 'device_id', values: [id] })) {
        if (port.device_owner === DeviceOwner.floatingIp) await removePort(tx, port);
      }
      await deleteResource(tx, 'floatingips', current);
    });
  }

  /** `GET /v2.0/floatingip-pools`: the IPv4 subnets of the external networks the caller may use. */
  async pools(ctx: Context): Promise<FloatingIpPool[]> {
    const db = this.#store.db;
    const external: string[] = [];
    for (const network of await this.#networks.list(ctx, { filters: {} })) {
      if (await usableAsExternal(db, ctx, network)) external.push(network.id);
    }
    const subnets = await listResources(db, 'subnets', { column: 'network_id', values: external });
    const project = callerProject(ctx, 'get_floatingip_pool');
    return subnets
      .filter((s) => s.ip_version === 4)
      .map((s) => ({
        subnet_id: s.id,
        subnet_name: String(s.name),
        network_id: String(s.network_id),
        cidr: String(s.cidr),
        project_id: project,
        tenant_id: project,
      }));
  }
}
