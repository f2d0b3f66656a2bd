/**
 * VPN as a service (neutron-vpnaas's `vpnaas` and `vpn-endpoint-groups`): IKE and IPsec policies,
 * VPN services on routers with an external gateway, endpoint groups (local subnets, peer CIDRs)
 * and IPsec site connections, with neutron-vpnaas's reference validation (`vpn_validator.py`), its
 * strongSwan driver's (no `ah-esp`) and its errors. Everything is its project's (admins see all;
 * nothing is shared, as in neutron-vpnaas).
 *
 * Beyond Neutron, a connection's peer CIDRs may overlap neither its local subnets (the tunnel would
 * capture the router's own networks) nor the peer CIDRs of another connection on the same router
 * (two tunnels for one destination): Neutron takes both and strongSwan then routes one of them at
 * random; here they are refused with InvalidInput.
 *
 * Status follows neutron-vpnaas: a new service or connection is `PENDING_CREATE` until the agent
 * running the router reports it (`report`); a connection is `ACTIVE` once its IKE and CHILD SAs are
 * up, else `DOWN`, with the agent's reason in `status_description` (Neutrino's own attribute), which
 * also says which IPsec data plane carries it. Updates of resources in a PENDING_* state are refused
 * (VPNStateInvalidToUpdate), as in neutron-vpnaas.
 */
import { randomUUID } from 'node:crypto';
import ipaddr from 'ipaddr.js';
import type { Kysely } from 'kysely';
import type { SnapshotVpn, SnapshotVpnConnection } from '../model/host-snapshot.js';
import type {
  EndpointGroupCreate,
  EndpointGroupUpdate,
  IkePolicyCreate,
  IkePolicyUpdate,
  IpsecPolicyCreate,
  IpsecPolicyUpdate,
  IpsecSiteConnectionCreate,
  IpsecSiteConnectionUpdate,
  VpnConnectionReport,
  VpnServiceCreate,
  VpnServiceUpdate,
} from '../model/vpnaas.js';
import {
  deleteResource,
  getResource,
  insertResource,
  listResources,
  type Stored,
  updateResource,
} from '../store/resources.js';
import type { Database, ResourceTable } from '../store/schema.js';
import type { Store, Tx } from '../store/store.js';
import { type Context, owns, requireWriter, targetProject } from './context.js';
import {
  EndpointGroupInUse,
  ExternalNetworkHasNoSubnet,
  HTTPBadRequest,
  IKEPolicyInUse,
  IKEPolicyNotFound,
  InvalidAttribute,
  InvalidEndpointGroup,
  InvalidEndpointInEndpointGroup,
  InvalidInput,
  IPsecPolicyInUse,
  IPsecPolicyNotFound,
  IPsecSiteConnectionDpdIntervalValueError,
  IPsecSiteConnectionMtuError,
  IPsecSiteConnectionNotFound,
  IpsecValidationFailure,
  MissingEndpointForEndpointGroup,
  MissingPeerCidrs,
  MissingRequiredEndpointGroup,
  MixedIPVersionsForIPSecConnection,
  MixedIPVersionsForIPSecEndpoints,
  MixedIPVersionsForPeerCidrs,
  type NeutronError,
  NonExistingSubnetInEndpointGroup,
  PeerCidrsInvalid,
  PolicyNotAuthorized,
  RevisionNumberConstraintFailed,
  RouterInUse,
  RouterIsNotExternal,
  RouterNotFound,
  SubnetInUseByEndpointGroup,
  SubnetInUseByIPsecSiteConnection,
  SubnetInUseByVPNService,
  SubnetIsNotConnectedToRouter,
  VPNEndpointGroupNotFound,
  VPNPeerAddressNotResolved,
  VPNServiceInUse,
  VPNServiceNotFound,
  VPNStateInvalidToUpdate,
  WrongEndpointGroupType,
} from './errors.js';
import type { ListHint, ResourceService, View } from './resource.js';

/** neutron-lib's `vpn` API definition's values. */
export const ENCRYPTION_ALGORITHMS = [
  '3des',
  'aes-128',
  'aes-192',
  'aes-256',
  ...['ccm', 'gcm'].flatMap((mode) =>
    [8, 12, 16].flatMap((icv) => [128, 192, 256].map((bits) => `aes-${bits}-${mode}-${icv}`)),
  ),
];
export const AUTH_ALGORITHMS = ['sha1', 'sha256', 'sha384', 'sha512', 'aes-xcbc', 'aes-cmac'];
export const PFS_GROUPS = [2, 5, ...Array.from({ length: 18 }, (_, i) => i + 14)].map((g) => `group${g}`);
const PHASE1_MODES = ['main', 'aggressive'];
const IKE_VERSIONS = ['v1', 'v2'];
const TRANSFORM_PROTOCOLS = ['esp', 'ah', 'ah-esp'];
const ENCAPSULATION_MODES = ['tunnel', 'transport'];
const LIFETIME_UNITS = ['seconds'];
const INITIATORS = ['bi-directional', 'response-only'];
const DPD_ACTIONS = ['clear', 'disabled', 'hold', 'restart', 'restart-by-peer'];
const ENDPOINT_TYPES = ['cidr', 'network', 'router', 'subnet', 'vlan'];
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const IP_MIN_MTU: Record<4 | 6, number> = { 4: 68, 6: 1280 };
const GATEWAY_OWNER = 'network:router_gateway';
const INTERFACE_OWNERS = new Set([
  'network:router_interface',
  'network:router_interface_distributed',
  'network:ha_router_replicated_interface',
]);

function toBoolean(raw: unknown): boolean {
  if (typeof raw === 'boolean') return raw;
  const lower = String(raw).toLowerCase();
  if (lower === 'true' || lower === '1') return true;
  if (lower === 'false' || lower === '0') return false;
  throw InvalidInput({ error_message: `'${String(raw)}' cannot be converted to boolean` });
}

function oneOf(attr: string, raw: unknown, values: string[]): string {
  const text = raw === null ? 'None' : String(raw);
  if (!values.includes(text)) throw InvalidAttribute({ attr, reason: `${text} is not in valid_values` });
  return text;
}

function required(body: Record<string, unknown>, attr: string): unknown {
  if (body[attr] === undefined)
    throw HTTPBadRequest({ msg: `Failed to parse request. Required attribute '${attr}' not specified` });
  return body[attr];
}

function uuidOf(attr: string, raw: unknown): string {
  const text = String(raw);
  if (!UUID.test(text)) throw InvalidAttribute({ attr, reason: `'${text}' is not a valid UUID` });
  return text;
}

function nonNegative(attr: string, raw: unknown): number {
  const n = typeof raw === 'number' ? raw : Number(String(raw));
  if (!Number.isInteger(n) || String(raw).trim() === '')
    throw InvalidAttribute({ attr, reason: `'${String(raw)}' is not an integer` });
  if (n < 0) throw InvalidAttribute({ attr, reason: `'${n}' should be non-negative` });
  return n;
}

/** A valid CIDR in its canonical (network) form, as neutron-lib's validate_subnet wants it. */
function isSubnet(text: string): boolean {
  if (!ipaddr.isValidCIDR(text)) return false;
  const [address, length] = ipaddr.parseCIDR(text);
  const network =
    address.kind() === 'ipv4'
      ? ipaddr.IPv4.networkAddressFromCIDR(text)
      : ipaddr.IPv6.networkAddressFromCIDR(text);
  return network.toString() === address.toString() && length >= 0;
}

const versionOfCidr = (cidr: string) => (ipaddr.parseCIDR(cidr)[0].kind() === 'ipv4' ? 4 : 6);

function overlaps(a: string, b: string): boolean {
  const [na, la] = ipaddr.parseCIDR(a);
  const [nb, lb] = ipaddr.parseCIDR(b);
  if (na.kind() !== nb.kind()) return false;
  return la <= lb ? nb.match(na, la) : na.match(nb, lb);
}

/** neutron-lib's `lifetime` dict: units seconds, a value of at least 60 (default 3600 s). */
function lifetimeOf(
  raw: unknown,
  current?: { units: string; value: number },
): { units: string; value: number } {
  const base = current ?? { units: 'seconds', value: 3600 };
  if (raw === null || raw === undefined) return base;
  if (typeof raw !== 'object' || Array.isArray(raw))
    throw InvalidAttribute({ attr: 'lifetime', reason: `'${String(raw)}' is not a dictionary` });
  const dict = raw as Record<string, unknown>;
  for (const key of Object.keys(dict))
    if (key !== 'units' && key !== 'value')
      throw InvalidAttribute({ attr: 'lifetime', reason: `Unrecognized attribute(s) '${key}'` });
  const units = dict.units === undefined ? base.units : oneOf('lifetime', dict.units, LIFETIME_UNITS);
  let value = base.value;
  if (dict.value !== undefined) {
    value = Number(dict.value);
    if (!Number.isInteger(value))
      throw InvalidAttribute({ attr: 'lifetime', reason: `'${String(dict.value)}' is not an integer` });
    if (value < 60)
      throw InvalidAttribute({ attr: 'lifetime', reason: `'${value}' is too small - must be at least '60'` });
  }
  return { units, value };
}

const visible = (ctx: Context, row: Stored) => ctx.isAdmin || row.project_id === ctx.projectId;
const PENDING = ['PENDING_CREATE', 'PENDING_UPDATE', 'PENDING_DELETE'];

function checkRevision(current: Stored, ifRevision: number | undefined): void {
  if (ifRevision !== undefined && ifRevision !== current.revision_number)
    throw RevisionNumberConstraintFailed({ expected: ifRevision, current: current.revision_number });
}

/** What each VPN resource service shares: its table, visibility, lookup and ownership checks. */
abstract class VpnResources<C, U> implements ResourceService<C, U> {
  abstract readonly table: ResourceTable;
  protected abstract readonly kind: string;
  protected abstract notFound(id: string): NeutronError;
  protected readonly store: Store;

  constructor(store: Store) {
    this.store = store;
  }

  async list(ctx: Context, hint: ListHint): Promise<View[]> {
    const ids = hint.filters.id;
    const rows = await listResources(
      this.store.db,
      this.table,
      ids ? { column: 'id', values: ids } : undefined,
    );
    return rows.filter((r) => visible(ctx, r));
  }

  async get(ctx: Context, id: string, db: Kysely<Database> = this.store.db): Promise<Stored> {
    const row = await getResource(db, this.table, id);
    if (!row || !visible(ctx, row)) throw this.notFound(id);
    return row;
  }

  async show(ctx: Context, id: string): Promise<View> {
    return this.get(ctx, id);
  }

  abstract create(ctx: Context, bodies: C[]): Promise<View[]>;
  abstract update(ctx: Context, id: string, body: U, ifRevision?: number): Promise<View>;

  async remove(ctx: Context, id: string, ifRevision?: number): Promise<void> {
    await this.store.transaction(async (tx) => {
      const current = await this.owned(ctx, id, `delete_${this.kind}`, tx);
      checkRevision(current, ifRevision);
      await this.checkRemovable(tx, current);
      await deleteResource(tx, this.table, current);
    });
  }

  protected async checkRemovable(_tx: Tx, _current: Stored): Promise<void> {}

  protected async owned(ctx: Context, id: string, action: string, tx: Tx): Promise<Stored> {
    requireWriter(ctx, action);
    const row = await this.get(ctx, id, tx);
    if (!owns(ctx, row.project_id)) throw PolicyNotAuthorized({ action });
    return row;
  }

  protected async insertAll(ctx: Context, docs: Record<string, unknown>[], bodies: C[]): Promise<View[]> {
    return this.store.transaction(async (tx) => {
      const out: View[] = [];
      for (const [i, doc] of docs.entries()) {
        const body = bodies[i] as { tags?: string[] };
        const project = targetProject(ctx, body as Record<string, unknown>, `create_${this.kind}`);
        out.push(
          await insertResource(tx, this.table, {
            id: randomUUID(),
            project_id: project,
            ...doc,
            tags: body.tags ?? [],
          }),
        );
      }
      return out;
    });
  }
}

/** The rows of `table` whose document names `id` anywhere: a cheap filter the caller narrows to the attribute it means. */
async function rowsNaming(
  db: Kysely<Database>,
  table: 'vpnservices' | 'vpn_endpoint_groups' | 'ipsec_site_connections',
  id: string,
): Promise<Stored[]> {
  const rows = await db.selectFrom(table).select('id').where('doc', 'like', `%"${id}"%`).execute();
  const out: Stored[] = [];
  for (const row of rows) {
    const found = await getResource(db, table, row.id);
    if (found) out.push(found);
  }
  return out;
}

/** The connections using `attr`'s `id` (a policy, a service or an endpoint group). */
async function connectionsWith(db: Kysely<Database>, attr: string, id: string): Promise<Stored[]> {
  return (await rowsNaming(db, 'ipsec_site_connections', id)).filter((conn) => conn[attr] === id);
}

/** The VPN services on `routerId`. */
async function servicesOn(db: Kysely<Database>, routerId: string): Promise<Stored[]> {
  return (await rowsNaming(db, 'vpnservices', routerId)).filter((s) => s.router_id === routerId);
}

function ikeAttributes(body: Record<string, unknown>, current?: Stored): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const key of ['name', 'description'] as const) if (body[key] !== undefined) out[key] = body[key];
  if (body.auth_algorithm !== undefined)
    out.auth_algorithm = oneOf('auth_algorithm', body.auth_algorithm, AUTH_ALGORITHMS);
  if (body.encryption_algorithm !== undefined)
    out.encryption_algorithm = oneOf(
      'encryption_algorithm',
      body.encryption_algorithm,
      ENCRYPTION_ALGORITHMS,
    );
  if (body.phase1_negotiation_mode !== undefined)
    out.phase1_negotiation_mode = oneOf(
      'phase1_negotiation_mode',
      body.phase1_negotiation_mode,
      PHASE1_MODES,
    );
  if (body.ike_version !== undefined) out.ike_version = oneOf('ike_version', body.ike_version, IKE_VERSIONS);
  if (body.pfs !== undefined) out.pfs = oneOf('pfs', body.pfs, PFS_GROUPS);
  if (body.lifetime !== undefined)
    out.lifetime = lifetimeOf(
      body.lifetime,
      current?.lifetime as { units: string; value: number } | undefined,
    );
  return out;
}

export class IkePolicies extends VpnResources<IkePolicyCreate, IkePolicyUpdate> {
  readonly table = 'vpn_ikepolicies' as const;
  protected readonly kind = 'ikepolicy';
  protected notFound(id: string) {
    return IKEPolicyNotFound({ ikepolicy_id: id });
  }

  async create(ctx: Context, bodies: IkePolicyCreate[]): Promise<View[]> {
    requireWriter(ctx, 'create_ikepolicy');
    const docs = bodies.map((body) => ({
      name: '',
      description: '',
      auth_algorithm: 'sha1',
      encryption_algorithm: 'aes-128',
      phase1_negotiation_mode: 'main',
      lifetime: { units: 'seconds', value: 3600 },
      ike_version: 'v1',
      pfs: 'group5',
      ...ikeAttributes(body),
    }));
    return this.insertAll(ctx, docs, bodies);
  }

  async update(ctx: Context, id: string, body: IkePolicyUpdate, ifRevision?: number): Promise<View> {
    return this.store.transaction(async (tx) => {
      const current = await this.owned(ctx, id, 'update_ikepolicy', tx);
      const changes = ikeAttributes(body, current);
      if ((await connectionsWith(tx, 'ikepolicy_id', id)).length > 0)
        throw IKEPolicyInUse({ ikepolicy_id: id });
      return updateResource(tx, this.table, current, { ...current, ...changes }, {}, ifRevision);
    });
  }

  protected override async checkRemovable(tx: Tx, current: Stored): Promise<void> {
    if ((await connectionsWith(tx, 'ikepolicy_id', current.id)).length > 0)
      throw IKEPolicyInUse({ ikepolicy_id: current.id });
  }
}

function ipsecAttributes(body: Record<string, unknown>, current?: Stored): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const key of ['name', 'description'] as const) if (body[key] !== undefined) out[key] = body[key];
  if (body.transform_protocol !== undefined) {
    out.transform_protocol = oneOf('transform_protocol', body.transform_protocol, TRANSFORM_PROTOCOLS);
    // neutron-vpnaas's strongSwan/Libreswan validator: no AH and ESP together.
    if (out.transform_protocol === 'ah-esp')
      throw IpsecValidationFailure({ resource: 'IPsec Policy', key: 'transform_protocol', value: 'ah-esp' });
  }
  if (body.auth_algorithm !== undefined)
    out.auth_algorithm = oneOf('auth_algorithm', body.auth_algorithm, AUTH_ALGORITHMS);
  if (body.encryption_algorithm !== undefined)
    out.encryption_algorithm = oneOf(
      'encryption_algorithm',
      body.encryption_algorithm,
      ENCRYPTION_ALGORITHMS,
    );
  if (body.encapsulation_mode !== undefined)
    out.encapsulation_mode = oneOf('encapsulation_mode', body.encapsulation_mode, ENCAPSULATION_MODES);
  if (body.pfs !== undefined) out.pfs = oneOf('pfs', body.pfs, PFS_GROUPS);
  if (body.lifetime !== undefined)
    out.lifetime = lifetimeOf(
      body.lifetime,
      current?.lifetime as { units: string; value: number } | undefined,
    );
  return out;
}

export class IpsecPolicies extends VpnResources<IpsecPolicyCreate, IpsecPolicyUpdate> {
  readonly table = 'vpn_ipsecpolicies' as const;
  protected readonly kind = 'ipsecpolicy';
  protected notFound(id: string) {
    return IPsecPolicyNotFound({ ipsecpolicy_id: id });
  }

  async create(ctx: Context, bodies: IpsecPolicyCreate[]): Promise<View[]> {
    requireWriter(ctx, 'create_ipsecpolicy');
    const docs = bodies.map((body) => ({
      name: '',
      description: '',
      transform_protocol: 'esp',
      auth_algorithm: 'sha1',
      encryption_algorithm: 'aes-128',
      encapsulation_mode: 'tunnel',
      lifetime: { units: 'seconds', value: 3600 },
      pfs: 'group5',
      ...ipsecAttributes(body),
    }));
    return this.insertAll(ctx, docs, bodies);
  }

  async update(ctx: Context, id: string, body: IpsecPolicyUpdate, ifRevision?: number): Promise<View> {
    return this.store.transaction(async (tx) => {
      const current = await this.owned(ctx, id, 'update_ipsecpolicy', tx);
      const changes = ipsecAttributes(body, current);
      if ((await connectionsWith(tx, 'ipsecpolicy_id', id)).length > 0)
        throw IPsecPolicyInUse({ ipsecpolicy_id: id });
      return updateResource(tx, this.table, current, { ...current, ...changes }, {}, ifRevision);
    });
  }

  protected override async checkRemovable(tx: Tx, current: Stored): Promise<void> {
    if ((await connectionsWith(tx, 'ipsecpolicy_id', current.id)).length > 0)
      throw IPsecPolicyInUse({ ipsecpolicy_id: current.id });
  }
}

/** A router's ports as VPN validation needs them: its gateway's addresses, its interfaces' subnets. */
async function routerAddresses(
  db: Kysely<Database>,
  routerId: string,
): Promise<{ gateway: { subnet_id: string; ip_address: string }[] | null; subnets: Set<string> }> {
  const ports = await db
    .selectFrom('ports')
    .select(['id', 'device_owner'])
    .where('device_id', '=', routerId)
    .execute();
  const gatewayPort = ports.find((p) => p.device_owner === GATEWAY_OWNER);
  const interfaces = ports.filter((p) => INTERFACE_OWNERS.has(p.device_owner)).map((p) => p.id);
  const ids = ports.map((p) => p.id);
  const allocations =
    ids.length === 0
      ? []
      : await db.selectFrom('ip_allocations').selectAll().where('port_id', 'in', ids).execute();
  return {
    gateway: gatewayPort
      ? allocations
          .filter((a) => a.port_id === gatewayPort.id)
          .map(({ subnet_id, ip_address }) => ({ subnet_id, ip_address }))
      : null,
    subnets: new Set(allocations.filter((a) => interfaces.includes(a.port_id)).map((a) => a.subnet_id)),
  };
}

export class VpnServices extends VpnResources<VpnServiceCreate, VpnServiceUpdate> {
  readonly table = 'vpnservices' as const;
  protected readonly kind = 'vpnservice';
  protected notFound(id: string) {
    return VPNServiceNotFound({ vpnservice_id: id });
  }

  async create(ctx: Context, bodies: VpnServiceCreate[]): Promise<View[]> {
    requireWriter(ctx, 'create_vpnservice');
    return this.store.transaction(async (tx) => {
      const out: View[] = [];
      for (const body of bodies) {
        const project = targetProject(ctx, body, 'create_vpnservice');
        const routerId = uuidOf('router_id', required(body, 'router_id'));
        const subnetId =
          body.subnet_id === undefined || body.subnet_id === null
            ? null
            : uuidOf('subnet_id', body.subnet_id);
        const router = await getResource(tx, 'routers', routerId);
        if (!router || !(ctx.isAdmin || router.project_id === ctx.projectId))
          throw RouterNotFound({ router_id: routerId });
        const { gateway, subnets } = await routerAddresses(tx, routerId);
        if (!gateway) throw RouterIsNotExternal({ router_id: routerId });
        if (subnetId !== null && !subnets.has(subnetId))
          throw SubnetIsNotConnectedToRouter({ subnet_id: subnetId, router_id: routerId });
        const v4 = gateway.find((g) => !g.ip_address.includes(':'))?.ip_address ?? null;
        const v6 = gateway.find((g) => g.ip_address.includes(':'))?.ip_address ?? null;
        out.push(
          await insertResource(tx, this.table, {
            id: randomUUID(),
            project_id: project,
            name: body.name ?? '',
            description: body.description ?? '',
            router_id: routerId,
            subnet_id: subnetId,
            admin_state_up: body.admin_state_up === undefined ? true : toBoolean(body.admin_state_up),
            external_v4_ip: v4,
            external_v6_ip: v6,
            flavor_id: body.flavor_id ?? null,
            status: 'PENDING_CREATE',
            tags: body.tags ?? [],
          }),
        );
      }
      return out;
    });
  }

  async update(ctx: Context, id: string, body: VpnServiceUpdate, ifRevision?: number): Promise<View> {
    return this.store.transaction(async (tx) => {
      const current = await this.owned(ctx, id, 'update_vpnservice', tx);
      if (PENDING.includes(String(current.status)))
        throw VPNStateInvalidToUpdate({ id, state: String(current.status) });
      const next: Record<string, unknown> = { ...current };
      for (const key of ['name', 'description'] as const) if (body[key] !== undefined) next[key] = body[key];
      if (body.admin_state_up !== undefined) next.admin_state_up = toBoolean(body.admin_state_up);
      return updateResource(tx, this.table, current, next, {}, ifRevision);
    });
  }

  protected override async checkRemovable(tx: Tx, current: Stored): Promise<void> {
    if ((await connectionsWith(tx, 'vpnservice_id', current.id)).length > 0)
      throw VPNServiceInUse({ vpnservice_id: current.id });
  }

  /** neutron-vpnaas's `check_router_in_use`: a router keeps its gateway (and stays) while a VPN service uses it. */
  async requireRouterUnused(tx: Tx, routerId: string): Promise<void> {
    const services = await servicesOn(tx, routerId);
    if (services.length === 0) return;
    const plural = services.length > 1 ? 's' : '';
    throw RouterInUse({
      router_id: routerId,
      reason: `is currently used by VPN service${plural} (${services.map((s) => s.id).join(',')})`,
    });
  }

  /**
   * neutron-vpnaas's `check_subnet_in_use`: a subnet stays on a router while a VPN service there is
   * bound to it, or a connection there has it in its local endpoint group.
   */
  async requireSubnetUnused(tx: Tx, routerId: string, subnetId: string): Promise<void> {
    const services = await servicesOn(tx, routerId);
    const bound = services.find((s) => s.subnet_id === subnetId);
    if (bound) throw SubnetInUseByVPNService({ subnet_id: subnetId, vpnservice_id: bound.id });
    for (const service of services)
      for (const conn of await connectionsWith(tx, 'vpnservice_id', service.id)) {
        if (!conn.local_ep_group_id) continue;
        const group = await getResource(tx, 'vpn_endpoint_groups', String(conn.local_ep_group_id));
        if (group?.type === 'subnet' && (group.endpoints as string[]).includes(subnetId))
          throw SubnetInUseByIPsecSiteConnection({ subnet_id: subnetId, ipsec_site_connection_id: conn.id });
      }
  }
}

export class EndpointGroups extends VpnResources<EndpointGroupCreate, EndpointGroupUpdate> {
  readonly table = 'vpn_endpoint_groups' as const;
  protected readonly kind = 'endpoint_group';
  protected notFound(id: string) {
    return VPNEndpointGroupNotFound({ endpoint_group_id: id });
  }

  async create(ctx: Context, bodies: EndpointGroupCreate[]): Promise<View[]> {
    requireWriter(ctx, 'create_endpoint_group');
    return this.store.transaction(async (tx) => {
      const out: View[] = [];
      for (const body of bodies) {
        const project = targetProject(ctx, body, 'create_endpoint_group');
        const type = oneOf('type', required(body, 'type'), ENDPOINT_TYPES);
        const raw = body.endpoints ?? [];
        const endpoints = Array.isArray(raw) ? raw : [raw];
        if (endpoints.length === 0) throw MissingEndpointForEndpointGroup({ group: String(body.name ?? '') });
        const seen = new Set<string>();
        for (const endpoint of endpoints) {
          if (seen.has(endpoint))
            throw InvalidEndpointInEndpointGroup({
              group_type: type,
              endpoint,
              why: 'Endpoints have to be unique',
            });
          seen.add(endpoint);
          if (type === 'cidr' && !isSubnet(endpoint))
            throw InvalidEndpointInEndpointGroup({ group_type: type, endpoint, why: 'Invalid CIDR' });
          if (type === 'subnet') {
            if (!UUID.test(endpoint))
              throw InvalidEndpointInEndpointGroup({ group_type: type, endpoint, why: 'Invalid UUID' });
            const subnet = await getResource(tx, 'subnets', endpoint);
            if (!subnet || !(ctx.isAdmin || subnet.project_id === ctx.projectId))
              throw NonExistingSubnetInEndpointGroup({ subnet: endpoint });
          }
        }
        out.push(
          await insertResource(tx, this.table, {
            id: randomUUID(),
            project_id: project,
            name: body.name ?? '',
            description: body.description ?? '',
            type,
            endpoints,
            tags: body.tags ?? [],
          }),
        );
      }
      return out;
    });
  }

  async update(ctx: Context, id: string, body: EndpointGroupUpdate, ifRevision?: number): Promise<View> {
    return this.store.transaction(async (tx) => {
      const current = await this.owned(ctx, id, 'update_endpoint_group', tx);
      const next: Record<string, unknown> = { ...current };
      for (const key of ['name', 'description'] as const) if (body[key] !== undefined) next[key] = body[key];
      return updateResource(tx, this.table, current, next, {}, ifRevision);
    });
  }

  protected override async checkRemovable(tx: Tx, current: Stored): Promise<void> {
    const users = [
      ...(await connectionsWith(tx, 'local_ep_group_id', current.id)),
      ...(await connectionsWith(tx, 'peer_ep_group_id', current.id)),
    ];
    if (users.length > 0) throw EndpointGroupInUse({ group_id: current.id });
  }

  /** neutron-vpnaas's `check_subnet_in_use_by_endpoint_group`: a subnet stays while an endpoint group lists it. */
  async requireSubnetUnused(tx: Tx, subnetId: string): Promise<void> {
    const group = (await rowsNaming(tx, 'vpn_endpoint_groups', subnetId)).find(
      (g) => g.type === 'subnet' && (g.endpoints as string[]).includes(subnetId),
    );
    if (group) throw SubnetInUseByEndpointGroup({ subnet_id: subnetId, group_id: group.id });
  }
}

/** A connection's endpoints once resolved: local subnets' CIDRs and peer CIDRs. */
interface Endpoints {
  localCidrs: string[];
  peerCidrs: string[];
}

export class IpsecSiteConnections extends VpnResources<IpsecSiteConnectionCreate, IpsecSiteConnectionUpdate> {
  readonly table = 'ipsec_site_connections' as const;
  protected readonly kind = 'ipsec_site_connection';
  readonly #services: VpnServices;
  readonly #ike: IkePolicies;
  readonly #ipsec: IpsecPolicies;
  readonly #groups: EndpointGroups;

  constructor(
    store: Store,
    services: VpnServices,
    ike: IkePolicies,
    ipsec: IpsecPolicies,
    groups: EndpointGroups,
  ) {
    super(store);
    this.#services = services;
    this.#ike = ike;
    this.#ipsec = ipsec;
    this.#groups = groups;
  }

  protected notFound(id: string) {
    return IPsecSiteConnectionNotFound({ ipsec_site_conn_id: id });
  }

  async create(ctx: Context, bodies: IpsecSiteConnectionCreate[]): Promise<View[]> {
    requireWriter(ctx, 'create_ipsec_site_connection');
    return this.store.transaction(async (tx) => {
      const out: View[] = [];
      for (const body of bodies) {
        const project = targetProject(ctx, body, 'create_ipsec_site_connection');
        for (const attr of [
          'psk',
          'peer_address',
          'peer_id',
          'vpnservice_id',
          'ikepolicy_id',
          'ipsecpolicy_id',
        ])
          required(body, attr);
        const conn: Record<string, unknown> = {
          id: randomUUID(),
          project_id: project,
          name: body.name ?? '',
          description: body.description ?? '',
          vpnservice_id: uuidOf('vpnservice_id', body.vpnservice_id),
          ikepolicy_id: uuidOf('ikepolicy_id', body.ikepolicy_id),
          ipsecpolicy_id: uuidOf('ipsecpolicy_id', body.ipsecpolicy_id),
          local_id: '',
          peer_cidrs: [],
          local_ep_group_id: null,
          peer_ep_group_id: null,
          route_mode: 'static',
          mtu: 1500,
          initiator: 'bi-directional',
          auth_mode: 'psk',
          dpd: { action: 'hold', interval: 30, timeout: 120 },
          admin_state_up: true,
          status: 'PENDING_CREATE',
          status_description: '',
          tags: body.tags ?? [],
          ...connectionAttributes(body),
        };
        const service = await this.#services.get(ctx, String(conn.vpnservice_id), tx);
        await this.#ike.get(ctx, String(conn.ikepolicy_id), tx);
        const ipsec = await this.#ipsec.get(ctx, String(conn.ipsecpolicy_id), tx);
        await this.#validate(ctx, tx, conn, service, ipsec);
        out.push(await insertResource(tx, this.table, conn as Stored));
      }
      return out;
    });
  }

  async update(
    ctx: Context,
    id: string,
    body: IpsecSiteConnectionUpdate,
    ifRevision?: number,
  ): Promise<View> {
    return this.store.transaction(async (tx) => {
      const current = await this.owned(ctx, id, 'update_ipsec_site_connection', tx);
      const changes = connectionAttributes(body, current);
      const next: Record<string, unknown> = { ...current, ...changes };
      const service = await this.#services.get(ctx, String(current.vpnservice_id), tx);
      const ipsec = await this.#ipsec.get(ctx, String(current.ipsecpolicy_id), tx);
      await this.#validate(ctx, tx, next, service, ipsec);
      if (PENDING.includes(String(current.status)))
        throw VPNStateInvalidToUpdate({ id, state: String(current.status) });
      return updateResource(tx, this.table, current, next, {}, ifRevision);
    });
  }

  /** neutron-vpnaas's `validate_ipsec_conn_optional_args`, `validate_ipsec_site_connection`, peer address. */
  async #validate(ctx: Context, tx: Tx, conn: Record<string, unknown>, service: Stored, ipsec: Stored) {
    if (ipsec.transform_protocol === 'ah-esp')
      throw IpsecValidationFailure({ resource: 'IPsec Policy', key: 'transform_protocol', value: 'ah-esp' });
    const peerCidrs = conn.peer_cidrs as string[];
    const localGroup = conn.local_ep_group_id as string | null;
    const peerGroup = conn.peer_ep_group_id as string | null;
    const which = (names: string[]) => ({ which: names.join(' and '), suffix: names.length > 1 ? 's' : '' });
    const routerId = String(service.router_id);
    const { gateway, subnets } = await routerAddresses(tx, routerId);
    let endpoints: Endpoints;
    if (service.subnet_id) {
      if (peerCidrs.length === 0) throw MissingPeerCidrs();
      const given = [...(localGroup ? ['local'] : []), ...(peerGroup ? ['peer'] : [])];
      if (given.length > 0) throw InvalidEndpointGroup(which(given));
      const subnet = await getResource(tx, 'subnets', String(service.subnet_id));
      endpoints = { localCidrs: subnet ? [String(subnet.cidr)] : [], peerCidrs };
      this.#checkPeerCidrs(peerCidrs);
      const peerVersion = sameVersion(peerCidrs, () => MixedIPVersionsForPeerCidrs());
      if (subnet && Number(subnet.ip_version) !== peerVersion) throw MixedIPVersionsForIPSecConnection();
    } else {
      if (peerCidrs.length > 0) throw PeerCidrsInvalid();
      const missing = [...(localGroup ? [] : ['local']), ...(peerGroup ? [] : ['peer'])];
      if (missing.length > 0) throw MissingRequiredEndpointGroup(which(missing));
      const local = await this.#groups.get(ctx, String(localGroup), tx);
      const peer = await this.#groups.get(ctx, String(peerGroup), tx);
      if (local.type !== 'subnet')
        throw WrongEndpointGroupType({ which: local.id, group_type: String(local.type), expected: 'subnet' });
      const localSubnets: Stored[] = [];
      for (const id of local.endpoints as string[]) {
        const subnet = await getResource(tx, 'subnets', id);
        if (subnet) localSubnets.push(subnet);
      }
      for (const subnet of localSubnets)
        if (!subnets.has(subnet.id))
          throw SubnetIsNotConnectedToRouter({ subnet_id: subnet.id, router_id: routerId });
      const localCidrs = localSubnets.map((s) => String(s.cidr));
      const localVersion = sameVersion(localCidrs, () =>
        MixedIPVersionsForIPSecEndpoints({ group: local.id }),
      );
      if (peer.type !== 'cidr')
        throw WrongEndpointGroupType({ which: peer.id, group_type: String(peer.type), expected: 'cidr' });
      const cidrs = peer.endpoints as string[];
      const peerVersion = sameVersion(cidrs, () => MixedIPVersionsForIPSecEndpoints({ group: peer.id }));
      if (localVersion !== peerVersion) throw MixedIPVersionsForIPSecConnection();
      endpoints = { localCidrs, peerCidrs: cidrs };
    }
    const dpd = conn.dpd as { interval: number; timeout: number };
    if (dpd.timeout <= dpd.interval) throw IPsecSiteConnectionDpdIntervalValueError({ attr: 'dpd_timeout' });
    const version = endpoints.localCidrs[0] ? versionOfCidr(endpoints.localCidrs[0]) : 4;
    const mtu = Number(conn.mtu);
    if (mtu && mtu < IP_MIN_MTU[version]) throw IPsecSiteConnectionMtuError({ mtu, version });
    const peerAddress = String(conn.peer_address);
    if (!ipaddr.isValid(peerAddress)) throw VPNPeerAddressNotResolved({ peer_address: peerAddress });
    const peerIpVersion = ipaddr.parse(peerAddress).kind() === 'ipv4' ? 4 : 6;
    if (!gateway?.some((g) => (g.ip_address.includes(':') ? 6 : 4) === peerIpVersion))
      throw ExternalNetworkHasNoSubnet({
        router_id: routerId,
        ip_version: peerIpVersion === 6 ? 'IPv6' : 'IPv4',
      });
    await this.#checkOverlaps(tx, conn, routerId, endpoints);
  }

  #checkPeerCidrs(cidrs: string[]): void {
    for (const cidr of cidrs)
      if (!isSubnet(cidr))
        throw InvalidAttribute({ attr: 'peer_cidrs', reason: `'${cidr}' is not a valid IP subnet` });
  }

  /** Neutrino's own (see the module comment): peer CIDRs clear of local subnets and of the router's other tunnels. */
  async #checkOverlaps(tx: Tx, conn: Record<string, unknown>, routerId: string, endpoints: Endpoints) {
    for (const peer of endpoints.peerCidrs)
      for (const local of endpoints.localCidrs)
        if (overlaps(peer, local))
          throw InvalidInput({
            error_message: `peer CIDR ${peer} overlaps local subnet ${local} of ipsec_site_connection ${conn.id}`,
          });
    for (const service of await servicesOn(tx, routerId)) {
      for (const other of await connectionsWith(tx, 'vpnservice_id', service.id)) {
        if (other.id === conn.id) continue;
        const theirs = await resolveEndpoints(tx, other);
        for (const peer of endpoints.peerCidrs)
          for (const cidr of theirs.peerCidrs)
            if (overlaps(peer, cidr))
              throw InvalidInput({
                error_message: `peer CIDR ${peer} overlaps peer CIDR ${cidr} of ipsec_site_connection ${other.id} on router ${routerId}`,
              });
      }
    }
  }

  /** Records what `host`'s agent saw of the services and connections it runs (unknown ones ignored). */
  async report(
    services: { id: string; status: string }[],
    connections: VpnConnectionReport[],
  ): Promise<void> {
    if (services.length === 0 && connections.length === 0) return;
    await this.store.transaction(
      async (tx) => {
        for (const s of services) {
          const current = await getResource(tx, 'vpnservices', s.id);
          if (current && current.status !== s.status)
            await updateResource(tx, 'vpnservices', current, { ...current, status: s.status });
        }
        for (const c of connections) {
          const current = await getResource(tx, 'ipsec_site_connections', c.id);
          if (current && (current.status !== c.status || current.status_description !== c.status_description))
            await updateResource(tx, 'ipsec_site_connections', current, {
              ...current,
              status: c.status,
              status_description: c.status_description,
            });
        }
      },
      { statusOnly: true },
    );
  }
}

/** Every CIDR in `cidrs` of one IP version (which is returned), else `mixed()` is thrown. */
function sameVersion(cidrs: string[], mixed: () => NeutronError): 4 | 6 {
  const versions = new Set(cidrs.map(versionOfCidr));
  if (versions.size > 1) throw mixed();
  return versions.has(6) ? 6 : 4;
}

function connectionAttributes(body: Record<string, unknown>, current?: Stored): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const key of ['name', 'description'] as const) if (body[key] !== undefined) out[key] = body[key];
  for (const key of ['peer_address', 'peer_id', 'local_id', 'psk'] as const)
    if (body[key] !== undefined) {
      if (body[key] === null) throw InvalidAttribute({ attr: key, reason: `'None' is not a valid string` });
      out[key] = String(body[key]);
    }
  if (body.peer_cidrs !== undefined) {
    const raw = body.peer_cidrs;
    out.peer_cidrs = raw === null ? [] : [...new Set(Array.isArray(raw) ? raw : [raw])];
    for (const cidr of out.peer_cidrs as string[])
      if (!isSubnet(cidr))
        throw InvalidAttribute({ attr: 'peer_cidrs', reason: `'${cidr}' is not a valid IP subnet` });
  }
  for (const key of ['local_ep_group_id', 'peer_ep_group_id'] as const)
    if (body[key] !== undefined) out[key] = body[key] === null ? null : uuidOf(key, body[key]);
  if (body.mtu !== undefined) out.mtu = nonNegative('mtu', body.mtu);
  if (body.initiator !== undefined) out.initiator = oneOf('initiator', body.initiator, INITIATORS);
  if (body.admin_state_up !== undefined) out.admin_state_up = toBoolean(body.admin_state_up);
  if (body.dpd !== undefined) {
    const base = (current?.dpd as { action: string; interval: number; timeout: number } | undefined) ?? {
      action: 'hold',
      interval: 30,
      timeout: 120,
    };
    const dpd = (body.dpd ?? {}) as Record<string, unknown>;
    for (const key of Object.keys(dpd))
      if (!['action', 'interval', 'timeout'].includes(key))
        throw InvalidAttribute({ attr: 'dpd', reason: `Unrecognized attribute(s) '${key}'` });
    out.dpd = {
      action: dpd.action === undefined ? base.action : oneOf('dpd', dpd.action, DPD_ACTIONS),
      interval: dpd.interval === undefined ? base.interval : nonNegative('dpd', dpd.interval),
      timeout: dpd.timeout === undefined ? base.timeout : nonNegative('dpd', dpd.timeout),
    };
  }
  return out;
}

/** A connection's local subnets' CIDRs and its peer CIDRs (legacy `peer_cidrs` or its peer group). */
async function resolveEndpoints(db: Kysely<Database>, conn: Stored): Promise<Endpoints> {
  const service = await getResource(db, 'vpnservices', String(conn.vpnservice_id));
  const cidrsOf = async (ids: string[]) => {
    const out: string[] = [];
    for (const id of ids) {
      const subnet = await getResource(db, 'subnets', id);
      if (subnet) out.push(String(subnet.cidr));
    }
    return out;
  };
  if (service?.subnet_id)
    return { localCidrs: await cidrsOf([String(service.subnet_id)]), peerCidrs: conn.peer_cidrs as string[] };
  const local = conn.local_ep_group_id
    ? await getResource(db, 'vpn_endpoint_groups', String(conn.local_ep_group_id))
    : undefined;
  const peer = conn.peer_ep_group_id
    ? await getResource(db, 'vpn_endpoint_groups', String(conn.peer_ep_group_id))
    : undefined;
  return {
    localCidrs: await cidrsOf((local?.endpoints as string[] | undefined) ?? []),
    peerCidrs: (peer?.endpoints as string[] | undefined) ?? [],
  };
}

/**
 * The IPsec site connections of the given routers, policies and endpoints resolved, for the host
 * snapshot (`vpn_connections` of each router; see `SnapshotVpnConnection`).
 */
async function routerVpnConnections(
  db: Kysely<Database>,
  routerIds: string[],
): Promise<Map<string, SnapshotVpnConnection[]>> {
  const out = new Map<string, SnapshotVpnConnection[]>();
  if (routerIds.length === 0) return out;
  const wanted = new Set(routerIds);
  const services = (await listResources(db, 'vpnservices')).filter((s) => wanted.has(String(s.router_id)));
  if (services.length === 0) return out;
  const byService = new Map(services.map((s) => [s.id, s]));
  const connections = (await listResources(db, 'ipsec_site_connections')).filter((c) =>
    byService.has(String(c.vpnservice_id)),
  );
  for (const conn of connections) {
    const service = byService.get(String(conn.vpnservice_id)) as Stored;
    const ike = await getResource(db, 'vpn_ikepolicies', String(conn.ikepolicy_id));
    const ipsec = await getResource(db, 'vpn_ipsecpolicies', String(conn.ipsecpolicy_id));
    if (!ike || !ipsec) continue;
    const { localCidrs, peerCidrs } = await resolveEndpoints(db, conn);
    const dpd = conn.dpd as SnapshotVpnConnection['dpd'];
    const lifetime = (policy: Stored) => (policy.lifetime as { value: number }).value;
    const routerId = String(service.router_id);
    const list = out.get(routerId) ?? [];
    list.push({
      id: conn.id,
      vpnservice_id: service.id,
      admin_state_up: conn.admin_state_up === true && service.admin_state_up === true,
      peer_address: String(conn.peer_address),
      peer_id: String(conn.peer_id),
      local_id: String(conn.local_id ?? ''),
      psk: String(conn.psk),
      mtu: Number(conn.mtu),
      initiator: conn.initiator === 'response-only' ? 'response-only' : 'bi-directional',
      dpd,
      local_cidrs: localCidrs,
      peer_cidrs: peerCidrs,
      ike: {
        version: ike.ike_version === 'v2' ? 2 : 1,
        auth_algorithm: String(ike.auth_algorithm),
        encryption_algorithm: String(ike.encryption_algorithm),
        pfs: String(ike.pfs),
        lifetime: lifetime(ike),
        aggressive: ike.phase1_negotiation_mode === 'aggressive',
      },
      ipsec: {
        transform_protocol: ipsec.transform_protocol === 'ah' ? 'ah' : 'esp',
        auth_algorithm: String(ipsec.auth_algorithm),
        encryption_algorithm: String(ipsec.encryption_algorithm),
        encapsulation_mode: ipsec.encapsulation_mode === 'transport' ? 'transport' : 'tunnel',
        pfs: String(ipsec.pfs),
        lifetime: lifetime(ipsec),
      },
    });
    out.set(routerId, list);
  }
  for (const list of out.values()) list.sort((a, b) => a.id.localeCompare(b.id));
  return out;
}

/** Each router's VPN (services and their connections), for its snapshot; routers without one are left out. */
export async function routerVpns(
  db: Kysely<Database>,
  routerIds: string[],
): Promise<Map<string, SnapshotVpn>> {
  const out = new Map<string, SnapshotVpn>();
  const wanted = new Set(routerIds);
  if (wanted.size === 0) return out;
  const connections = await routerVpnConnections(db, routerIds);
  for (const s of await listResources(db, 'vpnservices')) {
    const routerId = String(s.router_id);
    if (!wanted.has(routerId)) continue;
    const vpn = out.get(routerId) ?? { services: [], connections: connections.get(routerId) ?? [] };
    vpn.services.push({ id: s.id, admin_state_up: s.admin_state_up === true });
    out.set(routerId, vpn);
  }
  return out;
}
