/**
 * Ports: a network's virtual NICs. Who may create them where (owners, shared networks, and what
 * only a network's owner may choose), their defaults (a unique fa:16:3e MAC, addresses from the
 * network's subnets, the project's default security group, port security from the network),
 * the admin-only binding attributes, and what updates and deletes do to their addresses.
 * Routers and floating IPs make their ports through `insertPorts` and guard them through the
 * `onWrite` and `onDelete` hooks.
 */
import { randomUUID } from 'node:crypto';
import { type Kysely, sql } from 'kysely';
import type {
  AddressPair,
  ExtraDhcpOpt,
  ExtraDhcpOptRequest,
  FixedIp,
  PortCreate,
  PortUpdate,
} from '../model/port.js';
import { byFilterChunks, CHUNK } from '../store/chunks.js';
import {
  deleteResource,
  fromRow,
  getResource,
  insertResource,
  listResources,
  rowJsonSql,
  SPLITS,
  type Stored,
  updateResource,
} from '../store/resources.js';
import type { Database } from '../store/schema.js';
import type { Store, Tx } from '../store/store.js';
import { portBinding } from './binding.js';
import { type Context, callerProject, owns, requireWriter, targetProject } from './context.js';
import { ensureDefaultSecurityGroup } from './default-security-group.js';
import {
  AddressPairAndPortSecurityRequired,
  AllowedAddressPairExhausted,
  DuplicateAddressPairInRequest,
  HTTPBadRequest,
  InvalidAttribute,
  MacAddressInUse,
  PolicyNotAuthorized,
  PortBound,
  PortNotFound,
  PortSecurityAndIPRequiredForSecurityGroups,
  PortSecurityPortHasSecurityGroup,
  RevisionNumberConstraintFailed,
  SecurityGroupNotFound,
  UnsupportedPortDeviceOwner,
} from './errors.js';
import {
  type Addressee,
  allocate,
  changedAddresses,
  checkFixedIpCount,
  checkFixedIps,
  defaultRequests,
  release,
  requestsFor,
  type UsedAddresses,
} from './fixed-ips.js';
import { checkFreeForm, PROFILE_LIMITS } from './free-form.js';
import { forgetFirewallPort } from './fwaas.js';
import { generateMac, isValidIp, isValidMac, normalizeMac, parseCidr } from './ipam.js';
import { AUTO_DELETED_OWNERS, type Networks } from './networks.js';
import { checkPolicyForPort, checkQosChange, requireQosPolicy } from './qos.js';
import { enforce } from './quotas.js';
import type { ListHint, ResourceService, View } from './resource.js';
import type { Settings } from './settings.js';
import { sharedWith } from './sharing.js';

/** Deletes a port the server owns the life of, freeing its addresses. */
export async function removePort(tx: Tx, port: Stored): Promise<void> {
  await tx.deleteFrom('ip_allocations').where('port_id', '=', port.id).execute();
  await forgetFirewallPort(tx, port.id);
  await deleteResource(tx, 'ports', port);
}

/** Attributes only admins see (stored apart from the others). */
const ADMIN_ONLY = SPLITS.ports!.adminOnly;
/**
 * Attempts at a create before giving up on lost address races. Each lost race means another
 * transaction took an address, so retries always make progress; 64 concurrent creates for the
 * last addresses of a /26 on PostgreSQL need about 5.
 */
const CREATE_ATTEMPTS = 100;
/** Extra DHCP options that may have an empty value. */
const BLANK_DHCP_OPTS = ['router', 'classless-static-route'];
const DNS_LABEL = /^(?!-)[a-z0-9-]{1,63}(?<!-)$/;

/** Query filters a ports column answers exactly, pushed into SQL by `list` and `listRaw`. */
const FILTER_COLUMNS = new Map<
  string,
  'id' | 'network_id' | 'device_id' | 'device_owner' | 'mac_address' | 'project_id'
>([
  ['id', 'id'],
  ['network_id', 'network_id'],
  ['device_id', 'device_id'],
  ['device_owner', 'device_owner'],
  ['mac_address', 'mac_address'],
  ['project_id', 'project_id'],
  ['tenant_id', 'project_id'],
]);

/** The filters of `filters` that a ports column answers. */
function columnFilters(filters: ListHint['filters']): ListHint['filters'] {
  return Object.fromEntries(Object.entries(filters).filter(([key]) => FILTER_COLUMNS.has(key)));
}

/** Copied from a request as they are. */
const PLAIN = [
  'name',
  'description',
  'admin_state_up',
  'device_id',
  'binding:vnic_type',
  'propagate_uplink_status',
] as const;

/** Reads a create transaction would repeat per port, done once per transaction (bulk creates). */
interface Memo {
  networks: Map<string, Stored>;
  subnets: Map<string, Stored[]>;
  defaultGroups: Map<string, string>;
  used: UsedAddresses;
}

async function remember<T>(map: Map<string, T>, key: string, load: () => Promise<T>): Promise<T> {
  if (!map.has(key)) map.set(key, await load());
  return map.get(key) as T;
}

/** Neutron's dns_assignment: a hostname and FQDN per address (`host-<ip>` when unnamed). */
function dnsAssignment(port: Record<string, unknown>, domain: string): Record<string, string>[] {
  const name = String(port.dns_name);
  return (port.fixed_ips as FixedIp[]).map(({ ip_address }) => {
    const hostname = name.replace(/\.$/, '') || `host-${ip_address.replace(/[.:]/g, '-')}`;
    const fqdn = name.endsWith('.') ? name : `${hostname}.${domain}.`;
    return { hostname, ip_address, fqdn };
  });
}

function checkDnsName(raw: string): string {
  const name = raw.toLowerCase();
  if (name === '') return name;
  const labels = name.replace(/\.$/, '').split('.');
  if (
    labels.some((l) => !DNS_LABEL.test(l)) ||
    (labels.length > 1 && /^\d+$/.test(labels[labels.length - 1]))
  ) {
    throw InvalidAttribute({ attr: 'dns_name', reason: `'${raw}' not a valid PQDN or FQDN` });
  }
  return name;
}

function checkAddressPairs(
  pairs: { ip_address: string; mac_address?: string }[],
  portMac: string,
  max: number,
): AddressPair[] {
  if (pairs.length > max) throw AllowedAddressPairExhausted({ quota: max });
  const seen = new Set<string>();
  return pairs.map(({ ip_address, mac_address }) => {
    const key = `${mac_address}/${ip_address}`;
    if (seen.has(key))
      throw DuplicateAddressPairInRequest({ mac_address: mac_address ?? 'None', ip_address });
    seen.add(key);
    if (mac_address !== undefined && !isValidMac(mac_address))
      throw HTTPBadRequest({ msg: `'${mac_address}' is not a valid MAC address` });
    if (ip_address.includes('/') ? !parseCidr(ip_address) : !isValidIp(ip_address)) {
      throw HTTPBadRequest({
        msg: `'${ip_address}' is not a valid IP ${ip_address.includes('/') ? 'subnet' : 'address'}`,
      });
    }
    return { ip_address, mac_address: normalizeMac(mac_address ?? portMac) };
  });
}

/** Neutron's merge: an option replaces the one of the same name and IP version; a null value removes it. */
function mergeDhcpOpts(current: ExtraDhcpOpt[], changes: ExtraDhcpOptRequest[]): ExtraDhcpOpt[] {
  let out = current;
  for (const { opt_name, opt_value, ip_version = 4 } of changes) {
    out = out.filter((o) => o.opt_name !== opt_name || o.ip_version !== ip_version);
    if (opt_value === null) continue;
    if (opt_value === '' && !BLANK_DHCP_OPTS.includes(opt_name)) {
      throw InvalidAttribute({ attr: 'extra_dhcp_opts', reason: `'${opt_name}' needs a value` });
    }
    out = [...out, { opt_name, opt_value, ip_version }];
  }
  return out;
}

export class Ports implements ResourceService<PortCreate, PortUpdate> {
  readonly table = 'ports' as const;
  readonly #store: Store;
  readonly #settings: Settings;
  readonly #networks: Networks;
  /**
   * Called in the transaction of every port the API creates (after it is written) or updates
   * (before), with the port and, for updates, what it was: routers and floating IPs refuse
   * changes to their ports and ports that would claim them.
   */
  readonly onWrite: ((tx: Tx, port: Record<string, unknown>, current?: Stored) => Promise<void>)[] = [];
  /** Called in the transaction of every port delete but the server's own: refuse, or let go of the port. */
  readonly onDelete: ((tx: Tx, port: Stored) => Promise<void>)[] = [];

  constructor(store: Store, settings: Settings, networks: Networks) {
    this.#store = store;
    this.#settings = settings;
    this.#networks = networks;
    networks.onDelete.push((tx, network) => this.#removeAutoDeleted(tx, network.id));
  }

  #view(ctx: Context, row: Stored, networkQos: Map<string, string>): View {
    // The row is ours (freshly parsed): extend it in place rather than copy it.
    const view: View = row;
    view.dns_assignment = dnsAssignment(row, this.#settings.dnsDomain);
    view.qos_network_policy_id = networkQos.get(String(row.network_id)) ?? null;
    if (!ctx.isAdmin) for (const key of ADMIN_ONLY) delete view[key];
    return view;
  }

  /**
   * The QoS policy of each network that has one (`qos-port-network-policy`: a port shows its
   * network's as `qos_network_policy_id`). Docs name it as `"qos_policy_id":"<uuid>"`; networks
   * without one are not read.
   */
  async #networkQos(): Promise<Map<string, string>> {
    const rows = await this.#store.db
      .selectFrom('networks')
      .select(['id', 'doc'])
      .where('doc', 'like', '%"qos_policy_id":"%')
      .execute();
    const out = new Map<string, string>();
    for (const r of rows) {
      const id = (JSON.parse(r.doc) as { qos_policy_id?: unknown }).qos_policy_id;
      if (typeof id === 'string') out.set(r.id, id);
    }
    return out;
  }

  /**
   * The ports `ctx` may see — its project's, and (Neutron's network-owner rule) all on its
   * networks — narrowed by every filter a column answers exactly (lists of at most `CHUNK`
   * values: see `byFilterChunks`).
   */
  #select(ctx: Context, filters: ListHint['filters']) {
    const db = this.#store.db;
    let q = db.selectFrom('ports');
    for (const [key, column] of FILTER_COLUMNS) {
      if (filters[key]) q = q.where(column, 'in', filters[key]);
    }
    if (!ctx.isAdmin) {
      const project = callerProject(ctx, 'get_port');
      const networks = db.selectFrom('networks').select('id').where('project_id', '=', project);
      q = q.where((eb) => eb.or([eb('project_id', '=', project), eb('network_id', 'in', networks)]));
    }
    return q;
  }

  /** Ports `ctx` may see, narrowed in SQL as far as the filters allow. */
  async list(ctx: Context, hint: ListHint): Promise<View[]> {
    // Filters left out of the query by `byFilterChunks` are applied by the API's filtering.
    const { rows } = await byFilterChunks(columnFilters(hint.filters), (filters) =>
      this.#listRows(ctx, filters, hint.filters.fixed_ips ?? []),
    );
    const networkQos = await this.#networkQos();
    return rows.map((r) => this.#view(ctx, fromRow(r), networkQos));
  }

  /** Rows narrowed by column filters and, when it is short, a `fixed_ips=ip_address=…` filter. */
  async #listRows(ctx: Context, filters: ListHint['filters'], byFixedIp: string[]) {
    const db = this.#store.db;
    let q = this.#select(ctx, filters).select([
      'id',
      'project_id',
      'revision_number',
      'created_at',
      'updated_at',
      'doc',
      'admin_doc',
    ]);
    const byAddress = byFixedIp.map((f) => /^(ip_address|subnet_id)=(.*)$/.exec(f));
    if (byAddress.length > 0 && byAddress.length <= CHUNK && byAddress.every((m) => m !== null)) {
      const holders = db
        .selectFrom('ip_allocations')
        .select('port_id')
        .where((eb) => eb.or(byAddress.map((m) => eb(m![1] as 'ip_address' | 'subnet_id', '=', m![2]))));
      q = q.where('id', 'in', holders);
    }
    return q.execute();
  }

  /**
   * `list` as JSON strings, spliced from the stored JSON by the database; or undefined when a
   * filter is one that SQL here does not answer exactly. A port whose DNS assignment is not
   * stored (a write from elsewhere changed it) gets it computed here; each gets its network's QoS
   * policy spliced in.
   */
  async listRaw(ctx: Context, hint: ListHint): Promise<string[] | undefined> {
    if (Object.keys(hint.filters).some((key) => !FILTER_COLUMNS.has(key))) return undefined;
    const docs = ctx.isAdmin ? ['admin_doc', 'derived_doc'] : ['derived_doc'];
    const { rows, complete } = await byFilterChunks(hint.filters, (filters) =>
      this.#select(ctx, filters)
        .select([
          rowJsonSql(this.#store.dialect, docs).as('json'),
          sql<number | boolean>`derived_doc is null`.as('stale'),
          'network_id',
        ])
        .execute(),
    );
    if (!complete) return undefined;
    const networkQos = await this.#networkQos();
    return rows.map(({ json, stale, network_id }) => {
      const qos = JSON.stringify(networkQos.get(network_id) ?? null);
      if (!stale) return `${json.slice(0, -1)},"qos_network_policy_id":${qos}}`;
      const port = JSON.parse(json);
      port.dns_assignment = dnsAssignment(port, this.#settings.dnsDomain);
      port.qos_network_policy_id = networkQos.get(network_id) ?? null;
      return JSON.stringify(port);
    });
  }

  /** The stored port if `ctx` may see it, else PortNotFound. */
  async get(ctx: Context, id: string, db: Kysely<Database> = this.#store.db): Promise<Stored> {
    const row = await getResource(db, 'ports', id);
    if (row && owns(ctx, row.project_id)) return row;
    const network =
      row &&
      (await db
        .selectFrom('networks')
        .select('project_id')
        .where('id', '=', String(row.network_id))
        .executeTakeFirst());
    if (!row || !network || network.project_id !== ctx.projectId) throw PortNotFound({ port_id: id });
    return row;
  }

  async show(ctx: Context, id: string): Promise<View> {
    return this.#view(ctx, await this.get(ctx, id), await this.#networkQos());
  }

  /**
   * Attribute policies: binding host and profile are for admins; a MAC, addresses, port
   * security, address pairs and `network:` owners are for admins and the network's owner.
   */
  #authorize(
    ctx: Context,
    network: Stored,
    body: PortCreate | PortUpdate,
    verb: 'create_port' | 'update_port',
  ): void {
    const deny = (attr: string) => {
      throw PolicyNotAuthorized({ action: `${verb}:${attr}` });
    };
    if (ctx.isAdmin) return;
    if (body['binding:host_id'] !== undefined) deny('binding:host_id');
    if (body['binding:profile'] !== undefined) deny('binding:profile');
    if (owns(ctx, network.project_id)) return;
    if (body.mac_address !== undefined) deny('mac_address');
    if (body.port_security_enabled !== undefined) deny('port_security_enabled');
    if (body.allowed_address_pairs !== undefined) deny('allowed_address_pairs');
    if (body.fixed_ips?.some((ip) => ip.ip_address !== undefined)) deny('fixed_ips:ip_address');
    if (body.device_owner?.startsWith('network:')) deny('device_owner');
  }

  async #checkMac(tx: Tx, networkId: string, raw: string): Promise<string> {
    if (!isValidMac(raw))
      throw InvalidAttribute({ attr: 'mac_address', reason: `'${raw}' is not a valid MAC address` });
    const mac = normalizeMac(raw);
    const taken = await tx
      .selectFrom('ports')
      .select('id')
      .where('network_id', '=', networkId)
      .where('mac_address', '=', mac)
      .executeTakeFirst();
    if (taken) throw MacAddressInUse({ net_id: networkId, mac });
    return mac;
  }

  /** Requested groups must exist and belong to the port's project (or be shared with it). */
  async #checkGroups(tx: Tx, ctx: Context, project: string, requested: string[] | null): Promise<string[]> {
    const ids = [...new Set(requested ?? [])];
    if (ids.length === 0) return ids;
    const rows = await tx
      .selectFrom('security_groups')
      .select(['id', 'project_id'])
      .where('id', 'in', ids)
      .execute();
    const shared = ctx.isAdmin
      ? new Set<string>()
      : await sharedWith(tx, 'security_group', 'access_as_shared', project, ids);
    const valid = new Set(
      rows.filter((r) => ctx.isAdmin || r.project_id === project || shared.has(r.id)).map((r) => r.id),
    );
    const missing = ids.filter((id) => !valid.has(id));
    if (missing.length > 0) throw SecurityGroupNotFound({ id: missing.join(', ') });
    return ids;
  }

  async create(ctx: Context, bodies: PortCreate[]): Promise<View[]> {
    requireWriter(ctx, 'create_port');
    const rows = await this.#store.retrying(
      () =>
        this.#store.transaction(async (tx) => {
          const projects = bodies.map((body) => targetProject(ctx, body, 'create_port'));
          for (const project of new Set(projects)) {
            await enforce(
              tx,
              this.#settings.quotas,
              project,
              'port',
              projects.filter((p) => p === project).length,
            );
          }
          const out = await this.insertPorts(tx, ctx, bodies, projects);
          for (const port of out) for (const hook of this.onWrite) await hook(tx, port);
          return out;
        }),
      CREATE_ATTEMPTS,
    );
    const networkQos = await this.#networkQos();
    return rows.map((r) => this.#view(ctx, r, networkQos));
  }

  /**
   * Creates ports in the caller's transaction, each in its project, with `ctx`'s attribute
   * policies but no quota or `onWrite` checks: `create` adds those; routers and floating IPs
   * make their own ports this way (with `SYSTEM`). Callers run it in `store.retrying`.
   */
  async insertPorts(tx: Tx, ctx: Context, bodies: PortCreate[], projects: string[]): Promise<Stored[]> {
    const memo: Memo = { networks: new Map(), subnets: new Map(), defaultGroups: new Map(), used: new Map() };
    const out: Stored[] = [];
    for (const [i, body] of bodies.entries()) out.push(await this.#insert(tx, ctx, body, projects[i], memo));
    return out;
  }

  async #insert(tx: Tx, ctx: Context, body: PortCreate, project: string, memo: Memo): Promise<Stored> {
    const network = await remember(memo.networks, body.network_id, async () => {
      const found = await this.#networks.get(ctx, body.network_id, tx);
      await this.#store.lockRow(tx, 'networks', found.id, 'share');
      if (!(await this.#networks.usable(ctx, found, tx)))
        throw PolicyNotAuthorized({ action: 'create_port' });
      return found;
    });
    this.#authorize(ctx, network, body, 'create_port');
    const owner = body.device_owner ?? '';
    const maxIps = this.#settings.maxFixedIpsPerPort;
    checkFixedIpCount(body.fixed_ips?.length ?? 0, owner, maxIps);
    checkFreeForm('binding:profile', body['binding:profile'], PROFILE_LIMITS);
    const mac =
      body.mac_address === undefined
        ? generateMac(Math.random, this.#settings.macPrefix)
        : await this.#checkMac(tx, network.id, body.mac_address);
    const portSecurity = body.port_security_enabled ?? network.port_security_enabled !== false;
    const pairs = checkAddressPairs(
      body.allowed_address_pairs ?? [],
      mac,
      this.#settings.maxAllowedAddressPairs,
    );
    let groups: string[] = [];
    if (!portSecurity) {
      if (body.security_groups?.length) throw PortSecurityAndIPRequiredForSecurityGroups();
      if (pairs.length > 0) throw AddressPairAndPortSecurityRequired();
    } else if (body.security_groups !== undefined) {
      groups = await this.#checkGroups(tx, ctx, project, body.security_groups);
    } else if (!owner.startsWith('network:')) {
      groups = [await remember(memo.defaultGroups, project, () => ensureDefaultSecurityGroup(tx, project))];
    }
    const subnets = await remember(memo.subnets, network.id, () =>
      listResources(tx, 'subnets', { column: 'network_id', values: [network.id] }),
    );
    const port: Addressee = { networkId: network.id, deviceOwner: owner, mac };
    const requests =
      body.fixed_ips === undefined
        ? defaultRequests(subnets, port)
        : await requestsFor(tx, checkFixedIps(body.fixed_ips), subnets, port);
    checkFixedIpCount(requests.length, owner, maxIps);
    const id = randomUUID();
    const fixedIps = await allocate(tx, id, requests, port, memo.used);
    const deviceId = body.device_id ?? '';
    const dnsName = checkDnsName(body.dns_name ?? '');
    if (body.qos_policy_id) await requireQosPolicy(ctx, tx, body.qos_policy_id);
    await checkPolicyForPort(tx, body.qos_policy_id || network.qos_policy_id, id);
    return insertResource(
      tx,
      'ports',
      {
        id,
        project_id: project,
        name: body.name ?? '',
        description: body.description ?? '',
        network_id: network.id,
        admin_state_up: body.admin_state_up ?? true,
        mac_address: mac,
        fixed_ips: fixedIps,
        device_id: deviceId,
        device_owner: owner,
        status: 'DOWN',
        ...(await portBinding(tx, body['binding:host_id'] ?? '')),
        'binding:vnic_type': body['binding:vnic_type'] ?? 'normal',
        'binding:profile': body['binding:profile'] ?? {},
        allowed_address_pairs: pairs,
        port_security_enabled: portSecurity,
        security_groups: groups,
        extra_dhcp_opts: mergeDhcpOpts([], body.extra_dhcp_opts ?? []),
        dns_name: dnsName,
        dns_assignment: dnsAssignment({ dns_name: dnsName, fixed_ips: fixedIps }, this.#settings.dnsDomain),
        ip_allocation: body.fixed_ips?.length === 0 ? 'none' : 'immediate',
        propagate_uplink_status: body.propagate_uplink_status ?? false,
        resource_request: null,
        qos_policy_id: body.qos_policy_id ?? null,
        tags: body.tags ?? [],
      },
      { network_id: network.id, mac_address: mac, device_id: deviceId, device_owner: owner },
    );
  }

  async update(ctx: Context, id: string, body: PortUpdate, ifRevision?: number): Promise<View> {
    requireWriter(ctx, 'update_port');
    const row = await this.#store.retrying(() =>
      this.#store.transaction(async (tx) => {
        const current = await this.get(ctx, id, tx);
        if (!owns(ctx, current.project_id)) throw PolicyNotAuthorized({ action: 'update_port' });
        if (ifRevision !== undefined && ifRevision !== current.revision_number) {
          throw RevisionNumberConstraintFailed({ expected: ifRevision, current: current.revision_number });
        }
        const network = (await getResource(tx, 'networks', String(current.network_id)))!;
        this.#authorize(ctx, network, body, 'update_port');
        if (body.mac_address !== undefined && !ctx.isAdmin)
          throw PolicyNotAuthorized({ action: 'update_port:mac_address' });
        const next: Record<string, unknown> = { ...current };
        for (const key of PLAIN) if (body[key] !== undefined) next[key] = body[key];
        const owner = body.device_owner ?? String(current.device_owner);
        next.device_owner = owner;
        const maxIps = this.#settings.maxFixedIpsPerPort;
        checkFixedIpCount(body.fixed_ips?.length ?? 0, owner, maxIps);
        checkFreeForm('binding:profile', body['binding:profile'], PROFILE_LIMITS);

        let mac = String(current.mac_address);
        if (body.mac_address !== undefined && normalizeMac(body.mac_address) !== mac) {
          const vifType = String(current['binding:vif_type']);
          if (vifType !== 'unbound' && vifType !== 'binding_failed') {
            throw PortBound({ port_id: id, vif_type: vifType, old_mac: mac, new_mac: body.mac_address });
          }
          if (owner.startsWith('network:')) {
            throw UnsupportedPortDeviceOwner({ op: 'mac address update', port_id: id, device_owner: owner });
          }
          mac = await this.#checkMac(tx, network.id, body.mac_address);
        }
        next.mac_address = mac;

        if (body.fixed_ips !== undefined || mac !== current.mac_address) {
          const original = current.fixed_ips as FixedIp[];
          const subnets = await listResources(tx, 'subnets', { column: 'network_id', values: [network.id] });
          const port: Addressee = { networkId: network.id, deviceOwner: owner, mac };
          const items = body.fixed_ips === undefined ? original : checkFixedIps(body.fixed_ips);
          const change = await changedAddresses(tx, original, items, subnets, port);
          checkFixedIpCount(change.keep.length + change.add.length, owner, maxIps);
          await release(tx, id, change.remove);
          next.fixed_ips = [...change.keep, ...(await allocate(tx, id, change.add, port))];
        }

        const portSecurity = body.port_security_enabled ?? current.port_security_enabled === true;
        if (!portSecurity) {
          if (body.security_groups?.length) throw PortSecurityAndIPRequiredForSecurityGroups();
          if (body.security_groups === undefined && (current.security_groups as string[]).length > 0) {
            throw PortSecurityPortHasSecurityGroup();
          }
          const pairs =
            body.allowed_address_pairs === undefined
              ? (current.allowed_address_pairs as AddressPair[])
              : body.allowed_address_pairs;
          if (pairs?.length) throw AddressPairAndPortSecurityRequired();
        }
        if (body.security_groups !== undefined) {
          next.security_groups = await this.#checkGroups(tx, ctx, current.project_id, body.security_groups);
        }
        if (body.allowed_address_pairs !== undefined)
          next.allowed_address_pairs = checkAddressPairs(
            body.allowed_address_pairs ?? [],
            mac,
            this.#settings.maxAllowedAddressPairs,
          );
        if (body.extra_dhcp_opts)
          next.extra_dhcp_opts = mergeDhcpOpts(
            current.extra_dhcp_opts as ExtraDhcpOpt[],
            body.extra_dhcp_opts,
          );
        if (body.dns_name !== undefined) next.dns_name = checkDnsName(body.dns_name);
        if (body.qos_policy_id !== undefined) {
          await checkQosChange(ctx, tx, current.qos_policy_id, body.qos_policy_id);
          if (body.qos_policy_id !== current.qos_policy_id)
            await checkPolicyForPort(tx, body.qos_policy_id, id);
          next.qos_policy_id = body.qos_policy_id;
        }
        if (body.port_security_enabled !== undefined) next.port_security_enabled = body.port_security_enabled;
        if (body['binding:host_id'] !== undefined)
          Object.assign(next, await portBinding(tx, body['binding:host_id']));
        if (body['binding:profile'] !== undefined) next['binding:profile'] = body['binding:profile'] ?? {};
        next.dns_assignment = dnsAssignment(next, this.#settings.dnsDomain);
        for (const hook of this.onWrite) await hook(tx, next, current);
        const columns = { mac_address: mac, device_id: String(next.device_id), device_owner: owner };
        return updateResource(tx, 'ports', current, next, columns);
      }),
    );
    return this.#view(ctx, row, await this.#networkQos());
  }

  /** The port's owner and the network's owner may delete it; its addresses are freed. */
  async remove(ctx: Context, id: string, ifRevision?: number): Promise<void> {
    requireWriter(ctx, 'delete_port');
    await this.#store.transaction(async (tx) => {
      const current = await this.get(ctx, id, tx);
      if (ifRevision !== undefined && ifRevision !== current.revision_number) {
        throw RevisionNumberConstraintFailed({ expected: ifRevision, current: current.revision_number });
      }
      await this.removeInTransaction(tx, current);
    });
  }

  /** Deletes a port after the `onDelete` hooks (which may refuse), in the caller's transaction. */
  async removeInTransaction(tx: Tx, port: Stored): Promise<void> {
    for (const hook of this.onDelete) await hook(tx, port);
    await removePort(tx, port);
  }

  /** A network's delete takes its DHCP ports (and their addresses) along. */
  async #removeAutoDeleted(tx: Tx, networkId: string): Promise<void> {
    for (const port of await listResources(tx, 'ports', { column: 'network_id', values: [networkId] })) {
      if (AUTO_DELETED_OWNERS.includes(String(port.device_owner))) await removePort(tx, port);
    }
  }
}
