/**
 * Subnets: IPv4 and IPv6 ranges on a network. Validates what Neutron validates (CIDR, gateway,
 * allocation pools, DNS servers, host routes, IPv6 modes), keeps a network's subnets from
 * overlapping, and decides what blocks a delete: addresses held by ports other than DHCP's.
 */
import { randomUUID } from 'node:crypto';
import type { Kysely } from 'kysely';
import { ROUTER_INTERFACE_OWNERS } from '../model/device-owners.js';
import type { HostRoute, SubnetCreate, SubnetUpdate } from '../model/subnet.js';
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
import { type Context, owns, requireAdmin, requireWriter, targetProject } from './context.js';
import {
  DNSNameServersExhausted,
  GatewayConflictWithAllocationPools,
  GatewayIpInUse,
  HostRoutesExhausted,
  InvalidAllocationPool,
  InvalidAttribute,
  InvalidInput,
  NetworkMTUSubnetConflict,
  NeutronError,
  OutOfBoundsAllocationPool,
  OverlappingAllocationPools,
  PolicyNotAuthorized,
  RevisionNumberConstraintFailed,
  SubnetInUse,
  SubnetInUseBecause,
  SubnetNotFound,
} from './errors.js';
import { addAutoAddresses, isAutoAddressSubnet, releaseSubnet } from './fixed-ips.js';
import {
  type Cidr,
  cidrsOverlap,
  defaultGateway,
  defaultPools,
  ipToBigInt,
  ipVersion,
  normalizeCidr,
  normalizeIp,
  type Pool,
  parseCidr,
  validatePools,
} from './ipam.js';
import { AUTO_DELETED_OWNERS, type Networks } from './networks.js';
import { enforce } from './quotas.js';
import type { ListHint, ResourceService, View } from './resource.js';
import type { Settings } from './settings.js';
import type { SubnetPools } from './subnet-pools.js';

/** Neutron's max_dns_nameservers and max_subnet_host_routes defaults. */
const IPV6_MIN_MTU = 1280;

const poolText = (p: Pool) => `${p.start}-${p.end}`;

function checkCidr(raw: string, version: number): { cidr: string; parsed: Cidr } {
  const parsed = parseCidr(raw);
  if (!parsed) throw InvalidAttribute({ attr: 'cidr', reason: `'${raw}' is not a valid IP subnet` });
  if (parsed.version !== version) {
    throw InvalidInput({ error_message: `cidr '${raw}' does not match the ip_version '${version}'` });
  }
  if (parsed.prefix === 0) throw InvalidInput({ error_message: '0 is not allowed as CIDR prefix length' });
  if (version === 6 && parsed.network === 0n)
    throw InvalidInput({ error_message: "IPv6 subnet '::' is not supported" });
  return { cidr: normalizeCidr(raw)!, parsed };
}

/** What dnsmasq cannot serve: tiny, multicast, loopback or 0.0.0.0-based ranges. */
function checkDhcpCidr(c: Cidr): void {
  const bits = c.version === 4 ? 32 : 128;
  const top = (n: number) => c.network >> BigInt(bits - n);
  if ((c.version === 4 && c.prefix > 30) || (c.version === 6 && c.prefix > 126)) {
    throw InvalidInput({
      error_message: 'Subnet has a prefix length that is incompatible with DHCP service enabled',
    });
  }
  if (c.version === 4 ? top(4) === 0xen : top(8) === 0xffn) {
    throw InvalidInput({ error_message: 'Multicast IP subnet is not supported if enable_dhcp is True' });
  }
  if (c.version === 4 && top(8) === 127n) {
    throw InvalidInput({ error_message: 'Loopback IP subnet is not supported if enable_dhcp is True' });
  }
  if (c.version === 4 && c.network === 0n) {
    throw InvalidInput({
      error_message: "First IP '0.0.0.0' of network is not supported if enable_dhcp is True.",
    });
  }
}

function checkVersion(name: string, value: string, version: number): void {
  if (ipVersion(value.split('/')[0]) !== version) {
    throw InvalidInput({ error_message: `${name} '${value}' does not match the ip_version '${version}'` });
  }
}

/** Any address of the subnet's family; inside the subnet it may not be IPv4's network or broadcast address. */
function checkGateway(raw: string | null, c: Cidr): string | null {
  if (raw === null) return null;
  const ip = normalizeIp(raw);
  if (!ip) throw InvalidAttribute({ attr: 'gateway_ip', reason: `'${raw}' is not a valid IP address` });
  checkVersion('gateway_ip', raw, c.version);
  const value = ipToBigInt(ip)!;
  if (c.version === 4 && (value === c.network || value === c.network + c.size - 1n)) {
    throw InvalidInput({ error_message: 'Gateway is not valid on subnet' });
  }
  return ip;
}

/** Counted first, so an overlong list costs nothing to refuse. */
function checkNameservers(servers: string[], version: number, subnetId: string, max: number): string[] {
  if (servers.length > max) throw DNSNameServersExhausted({ subnet_id: subnetId, quota: max });
  const seen = new Set<string>();
  for (const host of servers) {
    if (!normalizeIp(host)) {
      throw InvalidAttribute({
        attr: 'dns_nameservers',
        reason: `'${host}' is not a valid nameserver. '${host}' is not a valid IP address`,
      });
    }
    if (seen.has(host))
      throw InvalidAttribute({ attr: 'dns_nameservers', reason: `Duplicate nameserver '${host}'` });
    seen.add(host);
  }
  for (const host of servers) checkVersion('dns_nameserver', host, version);
  return servers;
}

/** Counted first, so an overlong list costs nothing to refuse. */
function checkHostRoutes(routes: HostRoute[], version: number, subnetId: string, max: number): HostRoute[] {
  if (routes.length > max) throw HostRoutesExhausted({ subnet_id: subnetId, quota: max });
  const out: HostRoute[] = [];
  for (const route of routes) {
    const dest = parseCidr(route.destination);
    if (!dest || dest.network !== ipToBigInt(route.destination.split('/')[0])) {
      throw InvalidAttribute({ attr: 'host_routes', reason: `'${route.destination}' is not a valid CIDR` });
    }
    const nexthop = normalizeIp(route.nexthop);
    if (!nexthop)
      throw InvalidAttribute({ attr: 'host_routes', reason: `'${route.nexthop}' is not a valid IP address` });
    const normal = { destination: normalizeCidr(route.destination)!, nexthop };
    if (out.some((r) => r.destination === normal.destination && r.nexthop === normal.nexthop)) {
      throw InvalidAttribute({
        attr: 'host_routes',
        reason: `Duplicate hostroute '${JSON.stringify(route)}'`,
      });
    }
    out.push(normal);
  }
  for (const route of out) {
    checkVersion('nexthop', route.nexthop, version);
    checkVersion('destination', route.destination, version);
  }
  return out;
}

function checkPools(cidr: string, pools: Pool[], gateway: string | null): Pool[] {
  const normal = pools.map((pool) => {
    for (const end of [pool.start, pool.end]) {
      if (!normalizeIp(end))
        throw InvalidAttribute({ attr: 'allocation_pools', reason: `'${end}' is not a valid IP address` });
    }
    return { start: normalizeIp(pool.start)!, end: normalizeIp(pool.end)! };
  });
  const problem = validatePools(cidr, normal, gateway);
  switch (problem?.kind) {
    case 'invalid':
      throw InvalidAllocationPool({ pool: poolText(problem.pool) });
    case 'outOfBounds':
      throw OutOfBoundsAllocationPool({ pool: poolText(problem.pool), subnet_cidr: cidr });
    case 'overlap':
      throw OverlappingAllocationPools({
        pool_1: poolText(problem.pool1),
        pool_2: poolText(problem.pool2),
        subnet_cidr: cidr,
      });
    case 'gatewayConflict':
      throw GatewayConflictWithAllocationPools({ ip_address: String(gateway), pool: poolText(problem.pool) });
    default:
      return normal;
  }
}

function checkIpv6Modes(body: SubnetCreate, c: Cidr, cidr: string, enableDhcp: boolean): void {
  const ra = body.ipv6_ra_mode ?? null;
  const address = body.ipv6_address_mode ?? null;
  if (c.version === 4) {
    if (ra) throw InvalidInput({ error_message: 'ipv6_ra_mode is not valid when ip_version is 4' });
    if (address) throw InvalidInput({ error_message: 'ipv6_address_mode is not valid when ip_version is 4' });
    return;
  }
  if ((ra || address) && !enableDhcp) {
    throw InvalidInput({
      error_message: 'ipv6_ra_mode or ipv6_address_mode cannot be set when enable_dhcp is set to False',
    });
  }
  if (ra && address && ra !== address) {
    throw InvalidInput({
      error_message: `ipv6_ra_mode set to '${ra}' with ipv6_address_mode set to '${address}' is not valid. If both attributes are set, they must be the same value`,
    });
  }
  if (isAutoAddressSubnet({ ipv6_ra_mode: ra, ipv6_address_mode: address }) && c.prefix !== 64) {
    throw InvalidInput({
      error_message: `Invalid CIDR ${cidr} for IPv6 address mode. OpenStack uses the EUI-64 address format, which requires the prefix to be /64`,
    });
  }
}

export class Subnets implements ResourceService<SubnetCreate, SubnetUpdate> {
  readonly table = 'subnets' as const;
  readonly #store: Store;
  readonly #settings: Settings;
  readonly #networks: Networks;
  readonly #pools: SubnetPools;
  /**
   * Other services' checks before a subnet goes (by itself or with its network); a hook throws a
   * NeutronError to refuse, answered as SubnetInUse with its message as the reason, as Neutron
   * answers a refusing SUBNET BEFORE_DELETE callback (neutron-vpnaas's endpoint groups use one).
   */
  readonly onDelete: ((tx: Tx, subnet: Stored) => Promise<void>)[] = [];

  constructor(store: Store, settings: Settings, networks: Networks, pools: SubnetPools) {
    this.#store = store;
    this.#settings = settings;
    this.#networks = networks;
    this.#pools = pools;
    networks.onDelete.push((tx, network) => this.#removeAll(tx, network.id));
  }

  /** segment_id is admin-only in Neutron's policy. */
  #view(ctx: Context, row: Stored): View {
    const view: View = { ...row };
    if (!ctx.isAdmin) delete view.segment_id;
    return view;
  }

  /**
   * Subnets `ctx` may see: its own, and those of networks it owns or that are shared with it.
   * An external network's subnets stay hidden from other projects (Neutron 21's get_subnet
   * policy), though the network itself is visible.
   */
  async #visible(ctx: Context, rows: Stored[], db: Kysely<Database> = this.#store.db): Promise<Stored[]> {
    if (ctx.isAdmin) return rows;
    const others = [
      ...new Set(rows.filter((r) => r.project_id !== ctx.projectId).map((r) => String(r.network_id))),
    ];
    const networks = await this.#networks.usableIds(ctx, others, db);
    return rows.filter((r) => r.project_id === ctx.projectId || networks.has(String(r.network_id)));
  }

  async list(ctx: Context, hint: ListHint): Promise<View[]> {
    const { id, network_id, project_id, tenant_id } = hint.filters;
    const where = id
      ? { column: 'id', values: id }
      : network_id
        ? { column: 'network_id', values: network_id }
        : (project_id ?? tenant_id)
          ? { column: 'project_id', values: project_id ?? tenant_id }
          : undefined;
    const rows = await listResources(this.#store.db, 'subnets', where);
    return (await this.#visible(ctx, rows)).map((r) => this.#view(ctx, r));
  }

  /** The stored subnet if `ctx` may see it, else SubnetNotFound. */
  async get(ctx: Context, id: string, db: Kysely<Database> = this.#store.db): Promise<Stored> {
    const row = await getResource(db, 'subnets', id);
    if (!row || (await this.#visible(ctx, [row], db)).length === 0) throw SubnetNotFound({ subnet_id: id });
    return row;
  }

  async show(ctx: Context, id: string): Promise<View> {
    return this.#view(ctx, await this.get(ctx, id));
  }

  /** Subnet owners and the network's owner may change or delete a subnet. */
  async #requireOwner(tx: Tx, ctx: Context, subnet: Stored, action: string): Promise<void> {
    if (owns(ctx, subnet.project_id)) return;
    const network = await getResource(tx, 'networks', String(subnet.network_id));
    if (!network || !owns(ctx, network.project_id)) throw PolicyNotAuthorized({ action });
  }

  async create(ctx: Context, bodies: SubnetCreate[]): Promise<View[]> {
    requireWriter(ctx, 'create_subnet');
    const rows = await this.#store.retrying(() =>
      this.#store.transaction(async (tx) => {
        const projects = bodies.map((body) => targetProject(ctx, body, 'create_subnet'));
        for (const project of new Set(projects)) {
          await enforce(
            tx,
            this.#settings.quotas,
            project,
            'subnet',
            projects.filter((p) => p === project).length,
          );
        }
        const out: Stored[] = [];
        for (const [i, body] of bodies.entries()) out.push(await this.insert(tx, ctx, body, projects[i]));
        return out;
      }),
    );
    return rows.map((r) => this.#view(ctx, r));
  }

  async insert(tx: Tx, ctx: Context, body: SubnetCreate, project: string): Promise<Stored> {
    const network = await this.#networks.get(ctx, body.network_id, tx);
    if (!owns(ctx, network.project_id)) throw PolicyNotAuthorized({ action: 'create_subnet' });
    if (body.service_types?.length) requireAdmin(ctx, 'create_subnet:service_types');
    if (body.cidr !== undefined) checkCidr(body.cidr, body.ip_version);
    // With a subnet pool the CIDR is allocated (or checked to be free) under the pool's lock.
    const allocation = await this.#pools.allocate(tx, ctx, body, project);
    const { cidr, parsed } = checkCidr(allocation?.cidr ?? String(body.cidr), body.ip_version);
    const enableDhcp = body.enable_dhcp ?? true;
    if (enableDhcp) checkDhcpCidr(parsed);
    const gateway =
      body.gateway_ip === undefined ? defaultGateway(cidr) : checkGateway(body.gateway_ip, parsed);
    const { maxDnsNameservers, maxSubnetHostRoutes } = this.#settings;
    const dns = checkNameservers(body.dns_nameservers ?? [], parsed.version, 'new subnet', maxDnsNameservers);
    const routes = checkHostRoutes(body.host_routes ?? [], parsed.version, 'new subnet', maxSubnetHostRoutes);
    checkIpv6Modes(body, parsed, cidr, enableDhcp);
    if (parsed.version === 6 && Number(network.mtu) < IPV6_MIN_MTU) {
      throw NetworkMTUSubnetConflict({ net_id: network.id, mtu: IPV6_MIN_MTU });
    }
    const siblings = await listResources(tx, 'subnets', { column: 'network_id', values: [network.id] });
    if (siblings.some((s) => cidrsOverlap(String(s.cidr), cidr))) {
      throw InvalidInput({
        error_message: `Requested subnet with cidr: ${cidr} for network: ${network.id} overlaps with another subnet`,
      });
    }
    await this.#pools.checkNetworkAffinity(tx, network.id, parsed.version, allocation);
    const pools =
      body.allocation_pools === undefined
        ? defaultPools(cidr, gateway)
        : checkPools(cidr, body.allocation_pools, gateway);
    const row = await insertResource(
      tx,
      'subnets',
      {
        id: randomUUID(),
        project_id: project,
        name: body.name ?? '',
        description: body.description ?? '',
        network_id: network.id,
        ip_version: parsed.version,
        cidr,
        gateway_ip: gateway,
        allocation_pools: pools,
        dns_nameservers: dns,
        host_routes: routes,
        enable_dhcp: enableDhcp,
        ipv6_ra_mode: body.ipv6_ra_mode ?? null,
        ipv6_address_mode: body.ipv6_address_mode ?? null,
        subnetpool_id: allocation?.subnetpool_id ?? null,
        service_types: body.service_types ?? [],
        segment_id: null,
        tags: body.tags ?? [],
      },
      { network_id: network.id, ...(allocation ? { subnetpool_id: allocation.subnetpool_id } : {}) },
    );
    if (isAutoAddressSubnet(row)) await addAutoAddresses(tx, row);
    return row;
  }

  async update(ctx: Context, id: string, body: SubnetUpdate, ifRevision?: number): Promise<View> {
    requireWriter(ctx, 'update_subnet');
    const row = await this.#store.transaction(async (tx) => {
      const current = await this.get(ctx, id, tx);
      await this.#requireOwner(tx, ctx, current, 'update_subnet');
      if (body.service_types !== undefined) requireAdmin(ctx, 'update_subnet:service_types');
      const cidr = String(current.cidr);
      const parsed = parseCidr(cidr)!;
      const next: Record<string, unknown> = { ...current, ...body };
      if (body.enable_dhcp === false && (current.ipv6_ra_mode || current.ipv6_address_mode)) {
        throw InvalidInput({ error_message: 'Cannot disable enable_dhcp with ipv6 attributes set' });
      }
      if (body.enable_dhcp === true && current.enable_dhcp === false) checkDhcpCidr(parsed);
      const gateway =
        body.gateway_ip === undefined
          ? (current.gateway_ip as string | null)
          : checkGateway(body.gateway_ip, parsed);
      next.gateway_ip = gateway;
      if (body.dns_nameservers !== undefined)
        next.dns_nameservers = checkNameservers(
          body.dns_nameservers ?? [],
          parsed.version,
          id,
          this.#settings.maxDnsNameservers,
        );
      if (body.host_routes !== undefined)
        next.host_routes = checkHostRoutes(
          body.host_routes ?? [],
          parsed.version,
          id,
          this.#settings.maxSubnetHostRoutes,
        );
      if (body.allocation_pools !== undefined || gateway !== current.gateway_ip) {
        next.allocation_pools = checkPools(
          cidr,
          body.allocation_pools ?? (current.allocation_pools as Pool[]),
          gateway,
        );
      }
      if (gateway !== current.gateway_ip) await this.#requireGatewayFree(tx, current, gateway);
      return updateResource(tx, 'subnets', current, next, {}, ifRevision);
    });
    return this.#view(ctx, row);
  }

  /** Neither the old gateway (a router may hold it) nor the new one may be a port's address. */
  async #requireGatewayFree(tx: Tx, subnet: Stored, gateway: string | null): Promise<void> {
    const addresses = [subnet.gateway_ip, gateway].filter((ip): ip is string => typeof ip === 'string');
    if (addresses.length === 0) return;
    const holder = await tx
      .selectFrom('ip_allocations')
      .select(['ip_address', 'port_id'])
      .where('subnet_id', '=', subnet.id)
      .where('ip_address', 'in', addresses)
      .executeTakeFirst();
    if (holder) throw GatewayIpInUse({ ip_address: holder.ip_address, port_id: holder.port_id });
  }

  async remove(ctx: Context, id: string, ifRevision?: number): Promise<void> {
    requireWriter(ctx, 'delete_subnet');
    await this.#store.transaction(async (tx) => {
      const current = await this.get(ctx, id, tx);
      await this.#requireOwner(tx, ctx, current, 'delete_subnet');
      if (ifRevision !== undefined && ifRevision !== current.revision_number) {
        throw RevisionNumberConstraintFailed({ expected: ifRevision, current: current.revision_number });
      }
      await this.#requireUnused(tx, current);
      const holders = await tx
        .selectFrom('ip_allocations')
        .innerJoin('ports', 'ports.id', 'ip_allocations.port_id')
        .select('ports.device_owner')
        .where('ip_allocations.subnet_id', '=', id)
        .execute();
      // Ports keep no address of their own choosing on auto-address subnets: only routers block those.
      const blocks = isAutoAddressSubnet(current)
        ? (owner: string) => ROUTER_INTERFACE_OWNERS.includes(owner)
        : (owner: string) => !AUTO_DELETED_OWNERS.includes(owner);
      if (holders.some((h) => blocks(h.device_owner))) throw SubnetInUse({ subnet_id: id });
      await releaseSubnet(tx, id);
      await deleteResource(tx, 'subnets', current);
    });
  }

  async #requireUnused(tx: Tx, subnet: Stored): Promise<void> {
    for (const hook of this.onDelete) {
      try {
        await hook(tx, subnet);
      } catch (error) {
        if (error instanceof NeutronError)
          throw SubnetInUseBecause({ subnet_id: subnet.id, reason: error.message });
        throw error;
      }
    }
  }

  /** A network's delete takes its subnets along (its ports other than DHCP's already block it). */
  async #removeAll(tx: Tx, networkId: string): Promise<void> {
    const subnets = await listResources(tx, 'subnets', { column: 'network_id', values: [networkId] });
    for (const subnet of subnets) await this.#requireUnused(tx, subnet);
    for (const subnet of subnets) {
      await tx.deleteFrom('ip_allocations').where('subnet_id', '=', subnet.id).execute();
      await deleteResource(tx, 'subnets', subnet);
    }
  }
}
