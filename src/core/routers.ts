/**
 * Routers (the router, ext-gw-mode, extraroute and extraroute-atomic extensions): who sees them
 * (their project, admins), their gateway (a port on an external network with addresses from its
 * subnets; SNAT on unless an admin says otherwise), their interfaces (a port per attached subnet
 * holding its gateway address, or a free port handed over), their extra routes (next hops on
 * their own subnets), and what they refuse: overlapping subnets, removing what floating IPs or
 * routes still need, deleting while interfaces remain, and the port API touching their ports.
 * A router's ports are the ports whose device_id is the router's id.
 */
import { randomUUID } from 'node:crypto';
import type { Kysely } from 'kysely';
import { DeviceOwner, ROUTER_INTERFACE_OWNERS, ROUTER_OWNERS } from '../model/device-owners.js';
import type { FixedIp, FixedIpRequest } from '../model/port.js';
import type { GatewayRequest, InterfaceRequest, Route, RouterCreate, RouterUpdate } from '../model/router.js';
import { chunks } from '../store/chunks.js';
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
  DeviceIDNotOwnedByTenant,
  InvalidAttribute,
  InvalidRoutes,
  NoLiveNetworkHost,
  PortInUse,
  RevisionNumberConstraintFailed,
  RouterExternalGatewayInUseByFloatingIp,
  RouterInterfaceInUseByFloatingIP,
  RouterInterfaceInUseByRoute,
  RouterInterfaceNotFound,
  RouterInterfaceNotFoundForSubnet,
  RouterInUse,
  RouterNotFound,
  RoutesExhausted,
  ServicePortInUse,
  SubnetMismatchForPort,
  UnsupportedPortDeviceOwner,
} from './errors.js';
import { allocate, changedAddresses, checkFixedIps, release, requestsFor } from './fixed-ips.js';
import {
  cidrContains,
  cidrsOverlap,
  ipToBigInt,
  ipVersion,
  normalizeCidr,
  normalizeIp,
  parseCidr,
} from './ipam.js';
import type { L3Ha } from './l3-ha.js';
import type { Networks } from './networks.js';
import { type Ports, removePort } from './ports.js';
import { checkQosChange, requireQosPolicy } from './qos.js';
import { enforce } from './quotas.js';
import type { ListHint, ResourceService, View } from './resource.js';
import type { Settings } from './settings.js';
import type { Subnets } from './subnets.js';

const UUID_LIKE = /^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$/i;

/** What `add_router_interface` and `remove_router_interface` answer. */
export interface InterfaceInfo {
  id: string;
  network_id: string;
  port_id: string;
  subnet_id: string;
  subnet_ids: string[];
  project_id: string;
  tenant_id: string;
  tags: string[];
}

/** A port attached to (or detached from) a router, with the subnets concerned. */
interface Attachment {
  port: Stored;
  subnets: Stored[];
}

const isInterface = (port: Stored) => ROUTER_INTERFACE_OWNERS.includes(String(port.device_owner));
const isGateway = (port: Stored) => port.device_owner === DeviceOwner.routerGateway;
const fixedIpsOf = (port: Stored) => port.fixed_ips as FixedIp[];

const badRouter = (msg: string) => BadRequest({ resource: 'router', msg });

/** PostgreSQL only (SQLite serialises writers): locks rows until commit, in id order. */
export async function lockRows(
  store: Store,
  tx: Tx,
  table: 'routers' | 'ports' | 'floatingips',
  ids: string[],
  mode: 'share' | 'update',
): Promise<void> {
  if (store.dialect !== 'postgres') return;
  // In id order across chunks too, so two lockers never wait on each other.
  for (const chunk of chunks([...new Set(ids)].sort())) {
    const q = tx.selectFrom(table).select('id').where('id', 'in', chunk).orderBy('id');
    await (mode === 'share' ? q.forShare() : q.forUpdate()).execute();
  }
}

/** The routers' ports (interfaces and gateways), oldest first. */
export async function routerPorts(db: Kysely<Database>, routerIds: string[]): Promise<Stored[]> {
  const ports = await listResources(db, 'ports', { column: 'device_id', values: routerIds });
  return ports
    .filter((p) => ROUTER_OWNERS.includes(String(p.device_owner)))
    .sort((a, b) => a.created_at.localeCompare(b.created_at) || a.id.localeCompare(b.id));
}

/**
 * May `ctx` put a router gateway or floating IPs on the network? It must be external: marked
 * `router:external` (open to every project, as Neutron's automatic `*` policy makes it) or
 * opened to the caller by an `access_as_external` RBAC policy.
 */
export async function usableAsExternal(
  db: Kysely<Database>,
  ctx: Context,
  network: Record<string, unknown> & { id: string; project_id: string },
): Promise<boolean> {
  if (network['router:external'] === true) return true;
  const policies = await listResources(db, 'rbac_policies', { column: 'object_id', values: [network.id] });
  return policies.some(
    (p) =>
      p.object_type === 'network' &&
      p.action === 'access_as_external' &&
      (owns(ctx, network.project_id) || p.target_tenant === '*' || p.target_tenant === ctx.projectId),
  );
}

/**
 * The port API's limits on a service's ports (device `owners`, the service resource found by
 * `exists`): they keep their device_owner and device_id, and no port may claim a resource.
 */
export async function guardServicePort(
  owners: string[],
  exists: (id: string) => Promise<boolean>,
  port: Record<string, unknown>,
  current?: Stored,
): Promise<void> {
  const owner = String(port.device_owner);
  const moved =
    current !== undefined && (owner !== current.device_owner || port.device_id !== current.device_id);
  if (moved && owners.includes(String(current.device_owner)) && (await exists(String(current.device_id)))) {
    throw UnsupportedPortDeviceOwner({
      op: 'device_owner and device_id update',
      port_id: current.id,
      device_owner: String(current.device_owner),
    });
  }
  if ((current === undefined || moved) && owners.includes(owner) && (await exists(String(port.device_id)))) {
    throw DeviceIDNotOwnedByTenant({ device_id: String(port.device_id) });
  }
}

/** Python's repr of a route list, as Neutron's InvalidRoutes message shows it. */
function routesText(routes: Route[]): string {
  return `[${routes.map((r) => `{'destination': '${r.destination}', 'nexthop': '${r.nexthop}'}`).join(', ')}]`;
}

/** One route in canonical form; a destination with host bits set is not a CIDR (Neutron's validator). */
function normalizeRoute(route: Route): Route {
  const dest = parseCidr(route.destination);
  if (!dest || dest.network !== ipToBigInt(route.destination.split('/')[0])) {
    throw InvalidAttribute({ attr: 'routes', reason: `'${route.destination}' is not a valid CIDR` });
  }
  const nexthop = normalizeIp(route.nexthop);
  if (!nexthop)
    throw InvalidAttribute({ attr: 'routes', reason: `'${route.nexthop}' is not a valid IP address` });
  return { destination: normalizeCidr(route.destination)!, nexthop };
}

const sameRoute = (a: Route) => (b: Route) => a.destination === b.destination && a.nexthop === b.nexthop;

/** Refuses more routes than a router may hold before any of them is looked at. */
function checkRouteCount(routerId: string, routes: Route[], max: number): void {
  if (routes.length > max) throw RoutesExhausted({ router_id: routerId, quota: max });
}

/** A router's whole route list: valid, without duplicates, at most `max` (Neutron's `max_routes`). */
function checkRoutes(routerId: string, routes: Route[], max: number): Route[] {
  checkRouteCount(routerId, routes, max);
  const out: Route[] = [];
  for (const route of routes.map(normalizeRoute)) {
    if (out.some(sameRoute(route))) {
      throw InvalidAttribute({
        attr: 'routes',
        reason: `Duplicate hostroute '{'destination': '${route.destination}', 'nexthop': '${route.nexthop}'}'`,
      });
    }
    out.push(route);
  }
  return out;
}

/** Exactly one of subnet_id and port_id (both may name the same interface on removal). */
function checkInterfaceRequest(request: InterfaceRequest, removal: boolean): InterfaceRequest {
  const { subnet_id, port_id } = request;
  if (subnet_id === undefined && port_id === undefined) {
    throw badRouter('Either subnet_id or port_id must be specified');
  }
  for (const id of [port_id, subnet_id]) {
    if (id !== undefined && !UUID_LIKE.test(id)) throw badRouter(`'${id}' is not a valid UUID`);
  }
  if (!removal && subnet_id !== undefined && port_id !== undefined) {
    throw badRouter('Cannot specify both subnet-id and port-id');
  }
  return request;
}

/** IPv6 subnets whose hosts take router advertisements from a router outside Neutron can't be attached. */
function requireRouterAddressMode(subnet: Stored): void {
  if (subnet.ip_version === 6 && subnet.ipv6_ra_mode === null && subnet.ipv6_address_mode !== null) {
    throw badRouter(
      `IPv6 subnet ${subnet.id} configured to receive RAs from an external router cannot be added to Neutron Router.`,
    );
  }
}

const hasIpv6 = (port: Stored) => fixedIpsOf(port).some((ip) => ipVersion(ip.ip_address) === 6);

/** A router has at most one interface with IPv6 addresses per network (it takes every prefix). */
function requireOneIpv6Port(ports: Stored[], port: Stored): void {
  if (!hasIpv6(port)) return;
  const other = ports.find(
    (p) => isInterface(p) && p.id !== port.id && p.network_id === port.network_id && hasIpv6(p),
  );
  if (other) {
    throw badRouter(
      `Router already contains IPv6 port ${other.id} belonging to network id ${other.network_id}. Only one IPv6 port from the same network subnet can be connected to a router.`,
    );
  }
}

/** A port handed over by a non-admin keeps only pool addresses on subnets of other projects. */
function requireInPoolsOrOwned(ctx: Context, subnets: Stored[], port: Stored): void {
  if (ctx.isAdmin) return;
  const byId = new Map(subnets.map((s) => [s.id, s]));
  for (const ip of fixedIpsOf(port)) {
    const subnet = byId.get(ip.subnet_id);
    if (!subnet || subnet.project_id === ctx.projectId) continue;
    const value = ipToBigInt(ip.ip_address)!;
    const pools = subnet.allocation_pools as { start: string; end: string }[];
    if (pools.some((p) => value >= ipToBigInt(p.start)! && value <= ipToBigInt(p.end)!)) continue;
    throw badRouter(
      `Cannot add interface to router because specified port ${port.id} has an IP address out of the allocation pool of subnet ${subnet.id}, which is not owned by the project making the request`,
    );
  }
}

/** Neutron's test for new gateway addresses: given, and naming other subnets or addresses than the port has. */
function addressesChange(port: Stored, requested: FixedIpRequest[]): boolean {
  if (requested.length === 0) return false;
  const sameSet = (a: Set<string>, b: Set<string>) => a.size === b.size && [...a].every((x) => b.has(x));
  const fixed = fixedIpsOf(port);
  const subnets = new Set(requested.flatMap((r) => (r.subnet_id ? [r.subnet_id] : [])));
  const addresses = new Set(requested.flatMap((r) => (r.ip_address ? [r.ip_address] : [])));
  return (
    !sameSet(subnets, new Set(fixed.map((f) => f.subnet_id))) ||
    !sameSet(addresses, new Set(fixed.map((f) => f.ip_address)))
  );
}

function interfaceInfo(routerId: string, { port, subnets }: Attachment, subnetId: string): InterfaceInfo {
  return {
    id: routerId,
    network_id: String(port.network_id),
    port_id: port.id,
    subnet_id: subnetId,
    subnet_ids: subnets.map((s) => s.id),
    project_id: port.project_id,
    tenant_id: port.project_id,
    tags: (port.tags as string[] | undefined) ?? [],
  };
}

/** Admin-only parts of a gateway request (Neutron's `…:external_gateway_info:*` policies). */
function authorizeGateway(ctx: Context, gateway: GatewayRequest, action: string): void {
  if (gateway.enable_snat !== undefined) requireAdmin(ctx, `${action}:external_gateway_info:enable_snat`);
  if (gateway.external_fixed_ips !== undefined) {
    requireAdmin(ctx, `${action}:external_gateway_info:external_fixed_ips`);
  }
}

export class Routers implements ResourceService<RouterCreate, RouterUpdate> {
  readonly table = 'routers' as const;
  readonly #store: Store;
  readonly #settings: Settings;
  readonly #networks: Networks;
  readonly #subnets: Subnets;
  readonly #ports: Ports;
  readonly #ha: L3Ha;
  /** Set by the services: see `Agents.deadNetworkHosts`. */
  deadNetworkHosts: (tx: Tx) => Promise<string[] | undefined> = async () => undefined;
  /**
   * Other services' checks before a router's gateway goes (removed, moved to another network, or
   * the router deleted) and before an interface's subnet leaves it; a hook throws to refuse. Neutron's
   * ROUTER_GATEWAY and ROUTER_INTERFACE BEFORE_DELETE callbacks, which neutron-vpnaas subscribes to.
   */
  readonly onGatewayRemove: ((tx: Tx, router: Stored) => Promise<void>)[] = [];
  readonly onInterfaceRemove: ((tx: Tx, router: Stored, subnet: Stored) => Promise<void>)[] = [];

  constructor(
    store: Store,
    settings: Settings,
    services: { networks: Networks; subnets: Subnets; ports: Ports; ha: L3Ha },
  ) {
    this.#store = store;
    this.#settings = settings;
    this.#networks = services.networks;
    this.#subnets = services.subnets;
    this.#ports = services.ports;
    this.#ha = services.ha;
    const exists = (tx: Tx) => async (id: string) => (await getResource(tx, 'routers', id)) !== undefined;
    const owners = [...ROUTER_OWNERS, DeviceOwner.routerHaInterface];
    services.ports.onWrite.push((tx, port, current) => guardServicePort(owners, exists(tx), port, current));
    services.ports.onDelete.push(async (tx, port) => {
      const owner = String(port.device_owner);
      if (owners.includes(owner) && (await exists(tx)(String(port.device_id)))) {
        throw ServicePortInUse({ port_id: port.id, reason: `has device owner ${owner}` });
      }
    });
  }

  /** The router as the API shows it: the gateway from its port; `distributed` and `ha` for admins only. */
  async #views(ctx: Context, rows: Stored[]): Promise<View[]> {
    const ports = await routerPorts(
      this.#store.db,
      rows.map((r) => r.id),
    );
    const gateways = new Map(ports.filter(isGateway).map((p) => [String(p.device_id), p]));
    return rows.map(({ enable_snat, qos_policy_id, ...row }) => {
      const gateway = gateways.get(row.id);
      // qos-gateway-ip: Neutron shows the gateway's policy only when there is one.
      const qos = gateway && typeof qos_policy_id === 'string' ? { qos_policy_id } : {};
      const view: View = {
        ...row,
        external_gateway_info: gateway
          ? {
              network_id: gateway.network_id,
              enable_snat: enable_snat === true,
              external_fixed_ips: fixedIpsOf(gateway).map(({ subnet_id, ip_address }) => ({
                subnet_id,
                ip_address,
              })),
              ...qos,
            }
          : null,
      };
      if (!ctx.isAdmin) {
        delete view.distributed;
        delete view.ha;
      }
      return view;
    });
  }

  async list(ctx: Context, hint: ListHint): Promise<View[]> {
    const { id } = hint.filters;
    const where = !ctx.isAdmin
      ? { column: 'project_id', values: [callerProject(ctx, 'get_router')] }
      : id
        ? { column: 'id', values: id }
        : undefined;
    return this.#views(ctx, await listResources(this.#store.db, 'routers', where));
  }

  /** The stored router if `ctx` may see it (its project's, or any for admins), else RouterNotFound. */
  async get(ctx: Context, id: string, db: Kysely<Database> = this.#store.db): Promise<Stored> {
    const row = await getResource(db, 'routers', id);
    if (!row || !owns(ctx, row.project_id)) throw RouterNotFound({ router_id: id });
    return row;
  }

  async show(ctx: Context, id: string): Promise<View> {
    return (await this.#views(ctx, [await this.get(ctx, id)]))[0];
  }

  /** The router, locked for this transaction's change (PostgreSQL), checked against If-Match. */
  async #lockedGet(tx: Tx, ctx: Context, id: string, ifRevision?: number): Promise<Stored> {
    await lockRows(this.#store, tx, 'routers', [id], 'update');
    const router = await this.get(ctx, id, tx);
    if (ifRevision !== undefined && ifRevision !== router.revision_number) {
      throw RevisionNumberConstraintFailed({ expected: ifRevision, current: router.revision_number });
    }
    return router;
  }

  async create(ctx: Context, bodies: RouterCreate[]): Promise<View[]> {
    requireWriter(ctx, 'create_router');
    if (bodies.some((b) => b.ha !== undefined)) requireAdmin(ctx, 'create_router:ha');
    const ha = bodies.map((b) => b.ha ?? this.#settings.l3Ha);
    const vlanSupported = ha.some(Boolean) && (await this.#networks.tenantTypeSupported());
    const rows = await this.#store.retrying(() =>
      this.#store.transaction(async (tx) => {
        const projects = bodies.map((body) => targetProject(ctx, body, 'create_router'));
        for (const project of new Set(projects)) {
          const count = projects.filter((p) => p === project).length;
          await enforce(tx, this.#settings.quotas, project, 'router', count);
        }
        const out: Stored[] = [];
        for (const [i, body] of bodies.entries()) {
          const info = body.external_gateway_info;
          const gateway = info && 'network_id' in info ? info : null;
          if (gateway) authorizeGateway(ctx, gateway, 'create_router');
          if (gateway?.qos_policy_id) await requireQosPolicy(ctx, tx, gateway.qos_policy_id);
          const router = await insertResource(tx, 'routers', {
            id: randomUUID(),
            project_id: projects[i],
            name: body.name ?? '',
            description: body.description ?? '',
            admin_state_up: body.admin_state_up ?? true,
            status: 'ACTIVE',
            enable_snat: gateway?.enable_snat ?? true,
            routes: [],
            distributed: false,
            ha: ha[i],
            flavor_id: null,
            availability_zones: ['nova'],
            availability_zone_hints: [],
            qos_policy_id: gateway?.qos_policy_id ?? null,
            tags: body.tags ?? [],
          });
          if (ha[i]) await this.#ha.attach(tx, router, vlanSupported);
          if (gateway) {
            await this.#requireNetworkHost(tx, router.id);
            await this.#setGateway(tx, ctx, router, gateway);
          }
          out.push(router);
        }
        return out;
      }),
    );
    return this.#views(ctx, rows);
  }

  async update(ctx: Context, id: string, body: RouterUpdate, ifRevision?: number): Promise<View> {
    requireWriter(ctx, 'update_router');
    if (body.ha !== undefined) requireAdmin(ctx, 'update_router:ha');
    const vlanSupported = body.ha === true && (await this.#networks.tenantTypeSupported());
    const row = await this.#store.retrying(() =>
      this.#store.transaction(async (tx) => {
        const current = await this.#lockedGet(tx, ctx, id, ifRevision);
        const next: Record<string, unknown> = { ...current };
        for (const key of ['name', 'description', 'admin_state_up'] as const) {
          if (body[key] !== undefined) next[key] = body[key];
        }
        if (body.ha !== undefined && body.ha !== current.ha) {
          if (next.admin_state_up !== false)
            throw badRouter(
              'Cannot change HA attribute of active routers. Please set router admin_state_up to False prior to upgrade',
            );
          next.ha = body.ha;
          if (body.ha) await this.#ha.attach(tx, current, vlanSupported);
          else await this.#leaveHa(tx, id);
        }
        if (body.routes !== undefined)
          next.routes = checkRoutes(id, body.routes ?? [], this.#settings.maxRoutes);
        const info = body.external_gateway_info;
        if (info !== undefined) {
          const gateway = info && 'network_id' in info ? info : null;
          if (gateway) {
            authorizeGateway(ctx, gateway, 'update_router');
            await this.#requireNetworkHost(tx, id);
          }
          next.enable_snat = gateway?.enable_snat ?? true;
          // Without a gateway there is no gateway policy; without the key the policy stays.
          const qos = gateway ? gateway.qos_policy_id : null;
          if (qos !== undefined) {
            await checkQosChange(ctx, tx, current.qos_policy_id, qos);
            next.qos_policy_id = qos;
          }
          await this.#setGateway(tx, ctx, current, gateway);
        }
        if (body.routes !== undefined || info !== undefined) {
          await this.#requireReachable(tx, id, next.routes as Route[]);
        }
        return updateResource(tx, 'routers', current, next);
      }),
    );
    return (await this.#views(ctx, [row]))[0];
  }

  /**
   * Refused while interfaces remain, floating IPs use the gateway or a gateway hook refuses; the
   * gateway port goes with it.
   */
  async remove(ctx: Context, id: string, ifRevision?: number): Promise<void> {
    requireWriter(ctx, 'delete_router');
    await this.#store.transaction(async (tx) => {
      const router = await this.#lockedGet(tx, ctx, id, ifRevision);
      const ports = await routerPorts(tx, [id]);
      const interfaces = ports.filter(isInterface).map((p) => p.id);
      if (interfaces.length > 0) {
        throw RouterInUse({ router_id: id, reason: `has ports still attached: ${interfaces.join(', ')}` });
      }
      const gateways = ports.filter(isGateway);
      for (const gateway of gateways) await this.#requireNoFloatingIps(tx, id, String(gateway.network_id));
      for (const hook of this.onGatewayRemove) await hook(tx, router);
      for (const gateway of gateways) await removePort(tx, gateway);
      await this.#ha.detach(tx, router);
      await tx.deleteFrom('l3_bindings').where('router_id', '=', id).execute();
      await deleteResource(tx, 'routers', router);
    });
  }

  /** An HA router becoming a plain one: its HA goes, and it keeps the first of its hosts. */
  async #leaveHa(tx: Tx, id: string): Promise<void> {
    const router = await getResource(tx, 'routers', id);
    if (router) await this.#ha.detach(tx, router);
    const hosts = await tx
      .selectFrom('l3_bindings')
      .select('host')
      .where('router_id', '=', id)
      .orderBy('host')
      .execute();
    for (const { host } of hosts.slice(1))
      await tx.deleteFrom('l3_bindings').where('router_id', '=', id).where('host', '=', host).execute();
    await tx.updateTable('l3_bindings').set({ ha_state: null }).where('router_id', '=', id).execute();
  }

  async #requireNoFloatingIps(tx: Tx, routerId: string, networkId: string): Promise<void> {
    const used = await tx
      .selectFrom('floatingip_associations')
      .select('floatingip_id')
      .where('router_id', '=', routerId)
      .executeTakeFirst();
    const forwarding = await tx
      .selectFrom('port_forwardings')
      .select('id')
      .where('router_id', '=', routerId)
      .executeTakeFirst();
    if (used || forwarding) {
      throw RouterExternalGatewayInUseByFloatingIp({ router_id: routerId, net_id: networkId });
    }
  }

  /**
   * Neutron's gateway update: the same network with other addresses re-addresses the port;
   * another network (or none) replaces it, unless floating IPs depend on the old one.
   */
  async #setGateway(tx: Tx, ctx: Context, router: Stored, info: GatewayRequest | null): Promise<void> {
    const ports = await routerPorts(tx, [router.id]);
    const current = ports.find(isGateway);
    const requested = checkFixedIps(info?.external_fixed_ips ?? []);
    let network: Stored | undefined;
    let subnets: Stored[] = [];
    if (info) {
      network = await this.#networks.get(ctx, info.network_id, tx);
      if (!(await usableAsExternal(tx, ctx, network))) {
        throw badRouter(`Network ${network.id} is not an external network`);
      }
      subnets = await listResources(tx, 'subnets', { column: 'network_id', values: [network.id] });
      const gatewayIp = requested.find((r) => subnets.some((s) => s.gateway_ip === r.ip_address));
      if (gatewayIp) throw badRouter(`External IP ${gatewayIp.ip_address} is the same as the gateway IP`);
    }
    if (current && network && current.network_id === network.id) {
      if (addressesChange(current, requested)) await this.#readdress(tx, current, requested, subnets);
      return;
    }
    if (current) {
      await this.#requireNoFloatingIps(tx, router.id, String(current.network_id));
      for (const hook of this.onGatewayRemove) await hook(tx, router);
      await removePort(tx, current);
    }
    if (!network) return;
    await this.#requireDistinctSubnets(
      tx,
      ports.filter((p) => p !== current),
      subnets,
    );
    const body = {
      network_id: network.id,
      name: '',
      admin_state_up: true,
      device_id: router.id,
      device_owner: DeviceOwner.routerGateway,
      ...(requested.length > 0 ? { fixed_ips: requested } : {}),
    };
    // Neutron's gateway ports belong to no project: users see them through the router only.
    await this.#ports.insertPorts(tx, SYSTEM, [body], ['']);
  }

  /** A router given a gateway or an interface needs a network host: refused when agents run but none is alive. */
  async #requireNetworkHost(tx: Tx, routerId: string): Promise<void> {
    const dead = await this.deadNetworkHosts(tx);
    if (dead)
      throw NoLiveNetworkHost({ router_id: routerId, hosts: dead.length > 0 ? dead.join(', ') : 'none' });
  }

  async #readdress(tx: Tx, port: Stored, requested: FixedIpRequest[], subnets: Stored[]): Promise<void> {
    const addressee = {
      networkId: String(port.network_id),
      deviceOwner: DeviceOwner.routerGateway,
      mac: String(port.mac_address),
    };
    const change = await changedAddresses(tx, fixedIpsOf(port), requested, subnets, addressee);
    await release(tx, port.id, change.remove);
    const added = await allocate(tx, port.id, change.add, addressee);
    await updateResource(tx, 'ports', port, { ...port, fixed_ips: [...change.keep, ...added] });
  }

  /**
   * Subnets joining a router must be new to it and overlap none of its subnets (all of the
   * external network's, for the gateway).
   */
  async #requireDistinctSubnets(tx: Tx, ports: Stored[], added: Stored[]): Promise<void> {
    const addedIds = new Set(added.map((s) => s.id));
    const interfaceSubnets: string[] = [];
    const gatewayNetworks: string[] = [];
    for (const port of ports) {
      for (const ip of fixedIpsOf(port)) {
        if (addedIds.has(ip.subnet_id))
          throw badRouter(`Router already has a port on subnet ${ip.subnet_id}`);
        if (isGateway(port)) gatewayNetworks.push(String(port.network_id));
        else interfaceSubnets.push(ip.subnet_id);
      }
    }
    const existing = [
      ...(await listResources(tx, 'subnets', { column: 'id', values: interfaceSubnets })),
      ...(await listResources(tx, 'subnets', { column: 'network_id', values: gatewayNetworks })),
    ];
    for (const sub of existing) {
      for (const s of added) {
        if (cidrsOverlap(String(sub.cidr), String(s.cidr))) {
          throw badRouter(
            `Cidr ${s.cidr} of subnet ${s.id} overlaps with cidr ${sub.cidr} of subnet ${sub.id}`,
          );
        }
      }
    }
  }

  /** Every next hop must be on one of the router's subnets, and not the router's own address. */
  async #requireReachable(tx: Tx, routerId: string, routes: Route[]): Promise<void> {
    if (routes.length === 0) return;
    const fixed = (await routerPorts(tx, [routerId])).flatMap(fixedIpsOf);
    const subnets = await listResources(tx, 'subnets', {
      column: 'id',
      values: [...new Set(fixed.map((ip) => ip.subnet_id))],
    });
    const cidrs = subnets.map((s) => parseCidr(String(s.cidr))!);
    const own = new Set(fixed.map((ip) => ip.ip_address));
    for (const { nexthop } of routes) {
      if (!cidrs.some((c) => cidrContains(c, nexthop))) {
        throw InvalidRoutes({
          routes: routesText(routes),
          reason: 'the nexthop is not connected with router',
        });
      }
      if (own.has(nexthop)) {
        throw InvalidRoutes({ routes: routesText(routes), reason: 'the nexthop is used by router' });
      }
    }
  }

  /** `PUT /routers/{id}/add_router_interface`: attaches a subnet (a new port at its gateway address) or a free port. */
  async addInterface(ctx: Context, id: string, request: InterfaceRequest): Promise<InterfaceInfo> {
    requireWriter(ctx, 'add_router_interface');
    const { subnet_id, port_id } = checkInterfaceRequest(request, false);
    return this.#store.retrying(() =>
      this.#store.transaction(async (tx) => {
        const router = await this.#lockedGet(tx, ctx, id);
        await this.#requireNetworkHost(tx, id);
        const attached =
          port_id !== undefined
            ? await this.#attachPort(tx, ctx, router, port_id)
            : await this.#attachSubnet(tx, ctx, router, subnet_id!);
        await updateResource(tx, 'routers', router, router);
        return interfaceInfo(router.id, attached, attached.subnets[attached.subnets.length - 1].id);
      }),
    );
  }

  async #attachSubnet(tx: Tx, ctx: Context, router: Stored, subnetId: string): Promise<Attachment> {
    const subnet = await this.#subnets.get(ctx, subnetId, tx);
    if (!subnet.gateway_ip) throw badRouter('Subnet for router interface must have a gateway IP');
    if (
      !owns(ctx, subnet.project_id) &&
      !(await this.#sharedWithCaller(tx, ctx, String(subnet.network_id)))
    ) {
      throw badRouter(
        `Cannot add interface to router because subnet ${subnetId} is not owned by project making the request`,
      );
    }
    requireRouterAddressMode(subnet);
    const ports = await routerPorts(tx, [router.id]);
    await this.#requireDistinctSubnets(tx, ports, [subnet]);
    const fixed = { subnet_id: subnet.id, ip_address: String(subnet.gateway_ip) };
    const networkId = String(subnet.network_id);
    // IPv6 prefixes of one network share one interface, as in Neutron.
    const shared =
      subnet.ip_version === 6
        ? ports.find((p) => isInterface(p) && p.network_id === networkId && hasIpv6(p))
        : undefined;
    if (shared) {
      const addressee = {
        networkId,
        deviceOwner: DeviceOwner.routerInterface,
        mac: String(shared.mac_address),
      };
      const requests = await requestsFor(tx, [fixed], [subnet], addressee);
      const added = await allocate(tx, shared.id, requests, addressee);
      const fixed_ips = [...fixedIpsOf(shared), ...added];
      return { port: await updateResource(tx, 'ports', shared, { ...shared, fixed_ips }), subnets: [subnet] };
    }
    const body = {
      network_id: networkId,
      name: '',
      admin_state_up: true,
      fixed_ips: [fixed],
      device_id: router.id,
      device_owner: DeviceOwner.routerInterface,
    };
    const [port] = await this.#ports.insertPorts(tx, SYSTEM, [body], [router.project_id]);
    return { port, subnets: [subnet] };
  }

  /** Shared with the caller's project by name (Neutron refuses subnets of networks shared with everyone). */
  async #sharedWithCaller(tx: Tx, ctx: Context, networkId: string): Promise<boolean> {
    const policies = await listResources(tx, 'rbac_policies', { column: 'object_id', values: [networkId] });
    return policies.some((p) => p.action === 'access_as_shared' && p.target_tenant === ctx.projectId);
  }

  async #attachPort(tx: Tx, ctx: Context, router: Stored, portId: string): Promise<Attachment> {
    await lockRows(this.#store, tx, 'ports', [portId], 'update');
    const port = await this.#ports.get(ctx, portId, tx);
    if (port.device_id !== '') {
      throw PortInUse({
        port_id: port.id,
        net_id: String(port.network_id),
        device_id: String(port.device_id),
      });
    }
    const fixed = fixedIpsOf(port);
    if (fixed.length === 0) throw badRouter('Router port must have at least one fixed IP');
    const found = await listResources(tx, 'subnets', {
      column: 'id',
      values: [...new Set(fixed.map((ip) => ip.subnet_id))],
    });
    const subnets = found.sort(
      (a, b) =>
        fixed.findIndex((ip) => ip.subnet_id === a.id) - fixed.findIndex((ip) => ip.subnet_id === b.id),
    );
    subnets.forEach(requireRouterAddressMode);
    const ports = await routerPorts(tx, [router.id]);
    requireOneIpv6Port(ports, port);
    await this.#requireDistinctSubnets(tx, ports, subnets);
    if (subnets.filter((s) => s.ip_version === 4).length > 1) {
      throw badRouter('Cannot have multiple IPv4 subnets on router port');
    }
    requireInPoolsOrOwned(ctx, subnets, port);
    const columns = { device_id: router.id, device_owner: DeviceOwner.routerInterface };
    return { port: await updateResource(tx, 'ports', port, { ...port, ...columns }, columns), subnets };
  }

  /** `PUT /routers/{id}/remove_router_interface`: by port or by subnet; the interface port is deleted. */
  async removeInterface(ctx: Context, id: string, request: InterfaceRequest): Promise<InterfaceInfo> {
    requireWriter(ctx, 'remove_router_interface');
    const { subnet_id, port_id } = checkInterfaceRequest(request, true);
    return this.#store.transaction(async (tx) => {
      const router = await this.#lockedGet(tx, ctx, id);
      const detached =
        port_id !== undefined
          ? await this.#detachPort(tx, router, port_id, subnet_id)
          : await this.#detachSubnet(tx, ctx, router, subnet_id!);
      await updateResource(tx, 'routers', router, router);
      return interfaceInfo(router.id, detached, detached.subnets[0].id);
    });
  }

  async #detachPort(tx: Tx, router: Stored, portId: string, subnetId?: string): Promise<Attachment> {
    const port = (await routerPorts(tx, [router.id])).find((p) => p.id === portId && isInterface(p));
    if (!port) throw RouterInterfaceNotFound({ router_id: router.id, port_id: portId });
    const ids = fixedIpsOf(port).map((ip) => ip.subnet_id);
    if (subnetId !== undefined && !ids.includes(subnetId)) {
      throw SubnetMismatchForPort({ port_id: portId, subnet_id: subnetId });
    }
    const found = await listResources(tx, 'subnets', { column: 'id', values: ids });
    const subnets = found.sort((a, b) => ids.indexOf(a.id) - ids.indexOf(b.id));
    for (const subnet of subnets) await this.#requireUnused(tx, router, subnet);
    await removePort(tx, port);
    return { port, subnets };
  }

  async #detachSubnet(tx: Tx, ctx: Context, router: Stored, subnetId: string): Promise<Attachment> {
    const subnet = await this.#subnets.get(ctx, subnetId, tx);
    const ports = (await routerPorts(tx, [router.id])).filter(
      (p) => isInterface(p) && p.network_id === subnet.network_id,
    );
    if (ports.length > 0) await this.#requireUnused(tx, router, subnet);
    for (const port of ports) {
      const fixed = fixedIpsOf(port);
      if (!fixed.some((ip) => ip.subnet_id === subnetId)) continue;
      if (fixed.length === 1) await removePort(tx, port);
      else {
        await release(
          tx,
          port.id,
          fixed.filter((ip) => ip.subnet_id === subnetId),
        );
        const fixed_ips = fixed.filter((ip) => ip.subnet_id !== subnetId);
        await updateResource(tx, 'ports', port, { ...port, fixed_ips });
      }
      return { port, subnets: [subnet] };
    }
    throw RouterInterfaceNotFoundForSubnet({ router_id: router.id, subnet_id: subnetId });
  }

  /**
   * A subnet stays while another service uses it on the router (the hooks, first as in Neutron), a
   * floating IP of the router maps (or forwards ports to) an address on it, or a route goes through it.
   */
  async #requireUnused(tx: Tx, router: Stored, subnet: Stored): Promise<void> {
    for (const hook of this.onInterfaceRemove) await hook(tx, router, subnet);
    const cidr = parseCidr(String(subnet.cidr))!;
    const associated = await tx
      .selectFrom('floatingip_associations')
      .select(['port_id', 'fixed_ip_address'])
      .where('router_id', '=', router.id)
      .execute();
    const forwarded = await tx
      .selectFrom('port_forwardings')
      .select(['internal_port_id as port_id', 'internal_ip_address as fixed_ip_address'])
      .where('router_id', '=', router.id)
      .execute();
    const mapped = [...associated, ...forwarded];
    if (mapped.length > 0) {
      const holders = await tx
        .selectFrom('ip_allocations')
        .select('port_id')
        .where('subnet_id', '=', subnet.id)
        .execute();
      const onSubnet = new Set(holders.map((h) => h.port_id));
      if (mapped.some((m) => cidrContains(cidr, m.fixed_ip_address) && onSubnet.has(m.port_id))) {
        throw RouterInterfaceInUseByFloatingIP({ router_id: router.id, subnet_id: subnet.id });
      }
    }
    if ((router.routes as Route[]).some((r) => cidrContains(cidr, r.nexthop))) {
      throw RouterInterfaceInUseByRoute({ router_id: router.id, subnet_id: subnet.id });
    }
  }

  /** `PUT /routers/{id}/add_extraroutes`: the union of the router's routes and these. */
  async addExtraRoutes(ctx: Context, id: string, routes: Route[]): Promise<View> {
    checkRouteCount(id, routes, this.#settings.maxRoutes);
    const added = routes.map(normalizeRoute);
    return this.#changeRoutes(ctx, id, 'add_extraroutes', (old) => [
      ...old,
      ...added.filter((r, i) => !old.some(sameRoute(r)) && added.findIndex(sameRoute(r)) === i),
    ]);
  }

  /** `PUT /routers/{id}/remove_extraroutes`: the router's routes but these (absent ones are no error). */
  async removeExtraRoutes(ctx: Context, id: string, routes: Route[]): Promise<View> {
    checkRouteCount(id, routes, this.#settings.maxRoutes);
    const removed = routes.map(normalizeRoute);
    return this.#changeRoutes(ctx, id, 'remove_extraroutes', (old) =>
      old.filter((r) => !removed.some(sameRoute(r))),
    );
  }

  async #changeRoutes(
    ctx: Context,
    id: string,
    action: string,
    change: (old: Route[]) => Route[],
  ): Promise<View> {
    requireWriter(ctx, action);
    const row = await this.#store.transaction(async (tx) => {
      const current = await this.#lockedGet(tx, ctx, id);
      const routes = checkRoutes(id, change(current.routes as Route[]), this.#settings.maxRoutes);
      await this.#requireReachable(tx, id, routes);
      return updateResource(tx, 'routers', current, { ...current, routes });
    });
    return (await this.#views(ctx, [row]))[0];
  }
}
