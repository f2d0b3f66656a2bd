/**
 * Subnet pools (Neutron's `subnet_allocation`, `default-subnetpools`, `subnetpool-prefix-ops`):
 * prefixes that subnets take their CIDRs from. Validated and defaulted as Neutron's
 * `SubnetPoolReader` does (prefixes compacted, one IP version, min/max/default prefix lengths);
 * one default pool per IP version (a unique key); a pool joins an address scope of its family only
 * when its prefixes are unique in the scope. A pool's allocations are its subnets: allocating
 * locks the pool's row (PostgreSQL; SQLite writers are serial), so two concurrent subnet creates
 * cannot take overlapping prefixes, and deleting the subnet releases its prefix. The per-project
 * quota (`default_quota`) counts addresses: /32s in IPv4 pools, /64s in IPv6 ones.
 */
import { randomUUID } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { SubnetCreate } from '../model/subnet.js';
import type { SubnetPoolCreate, SubnetPoolUpdate } from '../model/subnet-pool.js';
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
import type { AddressScopes } from './address-scopes.js';
import { type Context, owns, requireAdmin, requireWriter, targetProject } from './context.js';
import {
  AddressScopePrefixConflict,
  BadRequest,
  EmptySubnetPoolPrefixList,
  HTTPBadRequest,
  IllegalSubnetPoolAssociationToAddressScope,
  IllegalSubnetPoolIpVersionAssociationToAddressScope,
  IllegalSubnetPoolPrefixBounds,
  IllegalSubnetPoolPrefixUpdate,
  IllegalSubnetPoolUpdate,
  InvalidAttribute,
  InvalidInput,
  MaxPrefixSubnetAllocationError,
  MinPrefixSubnetAllocationError,
  NetworkAddressScopeAffinityError,
  NetworkSubnetPoolAffinityError,
  PolicyNotAuthorized,
  PrefixVersionMismatch,
  RevisionNumberConstraintFailed,
  SubnetAllocationError,
  SubnetPoolDeleteError,
  SubnetPoolNotFound,
  SubnetPoolQuotaExceeded,
} from './errors.js';
import { type IpVersion, normalizeCidr, normalizeIp, parseCidr } from './ipam.js';
import {
  allocateAny,
  compactPrefixes,
  coversAll,
  isFree,
  overlaps,
  quotaUnits,
  removePrefixes,
} from './prefix-allocator.js';
import type { ListHint, ResourceService, View } from './resource.js';
import { sharedWith } from './sharing.js';

const BITS = { 4: 32, 6: 128 } as const;
const DEFAULT_MIN = { 4: 8, 6: 64 } as const;
const PREFIX_LENGTHS = ['default_prefixlen', 'min_prefixlen', 'max_prefixlen'] as const;

/** The stored attributes of a pool (besides the standard ones). */
interface PoolAttributes {
  prefixes: string[];
  ip_version: IpVersion;
  default_prefixlen: number;
  min_prefixlen: number;
  max_prefixlen: number;
  default_quota: number | null;
  is_default: boolean;
  shared: boolean;
  address_scope_id: string | null;
}

/** Neutron's `convert_to_int` then `type:non_negative`. */
function nonNegative(attr: string, value: number | string): number {
  const n = typeof value === 'number' ? value : /^\s*[-+]?\d+\s*$/.test(value) ? Number(value) : Number.NaN;
  if (!Number.isInteger(n)) throw InvalidInput({ error_message: `'${value}' is not an integer` });
  if (n < 0) throw InvalidAttribute({ attr, reason: `'${value}' should be non-negative` });
  return n;
}

/** Neutron's `type:subnet_list`: CIDRs with a prefix length, no repeats. */
function checkPrefixList(prefixes: string[]): void {
  const seen = new Set<string>();
  for (const p of prefixes) {
    if (!p.includes('/') || !parseCidr(p))
      throw InvalidAttribute({ attr: 'prefixes', reason: `'${p}' is not a valid IP subnet` });
    if (seen.has(p))
      throw InvalidAttribute({ attr: 'prefixes', reason: `Duplicate items in the list: '${p}'` });
    seen.add(p);
  }
}

/** Neutron's `SubnetPoolReader`: the IP version, compacted prefixes and prefix-length bounds. */
function readPool(
  prefixes: string[],
  lengths: { default_prefixlen?: number; min_prefixlen?: number; max_prefixlen?: number },
): Pick<PoolAttributes, 'prefixes' | 'ip_version' | 'default_prefixlen' | 'min_prefixlen' | 'max_prefixlen'> {
  if (prefixes.length === 0) throw EmptySubnetPoolPrefixList();
  const versions = new Set(prefixes.map((p) => parseCidr(p)!.version));
  if (versions.size > 1) throw PrefixVersionMismatch();
  const ip_version = [...versions][0];
  const min = lengths.min_prefixlen ?? DEFAULT_MIN[ip_version];
  const max = lengths.max_prefixlen ?? BITS[ip_version];
  const def = lengths.default_prefixlen ?? min;
  const bounds = (prefix_type: string, prefixlen: number, base_prefix_type: string, base_prefixlen: number) =>
    IllegalSubnetPoolPrefixBounds({ prefix_type, prefixlen, base_prefix_type, base_prefixlen });
  if (min > max) throw bounds('min_prefixlen', min, 'max_prefixlen', max);
  if (max > BITS[ip_version]) throw bounds('max_prefixlen', max, 'ip_version_max', BITS[ip_version]);
  if (def < min) throw bounds('default_prefixlen', def, 'min_prefixlen', min);
  if (def > max) throw bounds('default_prefixlen', def, 'max_prefixlen', max);
  return {
    prefixes: compactPrefixes(prefixes),
    ip_version,
    default_prefixlen: def,
    min_prefixlen: min,
    max_prefixlen: max,
  };
}

/** The body of a prefix action: a non-empty list, else Neutron's HTTPBadRequest. */
function actionPrefixes(body: unknown): string[] {
  const prefixes = (body as { prefixes?: unknown } | null)?.prefixes;
  if (!Array.isArray(prefixes) || prefixes.length === 0 || !prefixes.every((p) => typeof p === 'string')) {
    throw HTTPBadRequest({ msg: 'Request body contains invalid data' });
  }
  checkPrefixList(prefixes);
  return prefixes;
}

/** What a subnet create asks of a pool, once resolved (see `SubnetPools.allocate`). */
export interface PoolAllocation {
  subnetpool_id: string;
  cidr: string;
  /** The pool's address scope, for the subnet's network. */
  address_scope_id: string | null;
}

export class SubnetPools implements ResourceService<SubnetPoolCreate, SubnetPoolUpdate> {
  readonly table = 'subnetpools' as const;
  readonly #store: Store;
  readonly #scopes: AddressScopes;

  constructor(store: Store, scopes: AddressScopes) {
    this.#store = store;
    this.#scopes = scopes;
  }

  /** As Neutron's `_make_subnetpool_dict`: prefix lengths as strings (`asNumbers` for update). */
  #view(row: Stored, sharedToCaller: boolean, asNumbers = false): View {
    const view: View = { ...row, shared: row.shared === true || sharedToCaller };
    if (!asNumbers) for (const key of PREFIX_LENGTHS) view[key] = String(row[key]);
    return view;
  }

  async #visible(ctx: Context, rows: Stored[], db: Kysely<Database>): Promise<View[]> {
    const ids = rows.map((r) => r.id);
    const rbac = ids.length
      ? await sharedWith(db, 'subnetpool', 'access_as_shared', ctx.projectId, ids)
      : new Set();
    return rows
      .filter((r) => owns(ctx, r.project_id) || r.shared === true || rbac.has(r.id))
      .map((r) => this.#view(r, rbac.has(r.id)));
  }

  async list(ctx: Context, hint: ListHint): Promise<View[]> {
    const ids = hint.filters.id;
    const rows = await listResources(
      this.#store.db,
      'subnetpools',
      ids ? { column: 'id', values: ids } : undefined,
    );
    return this.#visible(ctx, rows, this.#store.db);
  }

  /** The stored pool if `ctx` may see it, else SubnetPoolNotFound. */
  async get(ctx: Context, id: string, db: Kysely<Database> = this.#store.db): Promise<Stored> {
    const row = await getResource(db, 'subnetpools', id);
    if (!row || (await this.#visible(ctx, [row], db)).length === 0)
      throw SubnetPoolNotFound({ subnetpool_id: id });
    return row;
  }

  async show(ctx: Context, id: string): Promise<View> {
    const row = await getResource(this.#store.db, 'subnetpools', id);
    const [view] = row ? await this.#visible(ctx, [row], this.#store.db) : [];
    if (!view) throw SubnetPoolNotFound({ subnetpool_id: id });
    return view;
  }

  /**
   * Locks the pool's row until commit (PostgreSQL): allocations, prefix changes and the delete of
   * one pool run one after another, each reading the others' committed subnets.
   */
  async #lock(tx: Tx, id: string): Promise<void> {
    if (this.#store.dialect === 'postgres') {
      await tx.selectFrom('subnetpools').select('id').where('id', '=', id).forUpdate().execute();
    }
  }

  async #owned(ctx: Context, id: string, action: string, tx: Tx): Promise<Stored> {
    requireWriter(ctx, action);
    await this.#lock(tx, id);
    const row = await this.get(ctx, id, tx);
    if (!owns(ctx, row.project_id)) throw PolicyNotAuthorized({ action });
    return row;
  }

  /** The CIDRs allocated from a pool, with the project of each. */
  async #allocations(tx: Kysely<Database>, id: string): Promise<{ cidr: string; project_id: string }[]> {
    const subnets = await listResources(tx, 'subnets', { column: 'subnetpool_id', values: [id] });
    return subnets.map((s) => ({ cidr: String(s.cidr), project_id: s.project_id }));
  }

  async #checkDefault(tx: Tx, ipVersion: number, except?: string): Promise<void> {
    const other = await tx
      .selectFrom('subnetpools')
      .select('id')
      .where('default_ip_version', '=', ipVersion)
      .executeTakeFirst();
    if (other && other.id !== except) {
      throw InvalidInput({
        error_message:
          'A default subnetpool for this IP family has already been set. Only one default may exist per IP family',
      });
    }
  }

  /**
   * Neutron's `_validate_address_scope_id`: the scope must be the caller's or shared with it, of
   * the pool's family, and hold no other pool with an overlapping prefix; re-scoping a pool must
   * not leave a network with subnets in two scopes.
   */
  async #checkScope(
    tx: Tx,
    ctx: Context,
    scopeId: string | null,
    poolId: string,
    prefixes: string[],
    version: number,
  ) {
    if (scopeId === null) return;
    if (this.#store.dialect === 'postgres') {
      await tx.selectFrom('address_scopes').select('id').where('id', '=', scopeId).forShare().execute();
    }
    const scope = await this.#scopes.get(ctx, scopeId, tx);
    if (!owns(ctx, scope.project_id) && scope.shared !== true) {
      throw IllegalSubnetPoolAssociationToAddressScope({ subnetpool_id: poolId, address_scope_id: scopeId });
    }
    if (scope.ip_version !== version) {
      throw IllegalSubnetPoolIpVersionAssociationToAddressScope({
        subnetpool_id: poolId,
        address_scope_id: scopeId,
        ip_version: Number(scope.ip_version),
      });
    }
    await this.#checkRescope(tx, poolId, version);
    const members = await listResources(tx, 'subnetpools', { column: 'address_scope_id', values: [scopeId] });
    if (members.some((p) => p.id !== poolId && overlaps(p.prefixes as string[], prefixes))) {
      throw AddressScopePrefixConflict();
    }
  }

  /** Every same-family subnet on the networks of the pool's subnets must come from this pool. */
  async #checkRescope(tx: Tx, poolId: string, version: number): Promise<void> {
    const own = await listResources(tx, 'subnets', { column: 'subnetpool_id', values: [poolId] });
    if (own.length === 0) return;
    const networks = [...new Set(own.map((s) => String(s.network_id)))];
    const all = await listResources(tx, 'subnets', { column: 'network_id', values: networks });
    if (all.some((s) => s.ip_version === version && s.subnetpool_id !== poolId))
      throw NetworkAddressScopeAffinityError();
  }

  async create(ctx: Context, bodies: SubnetPoolCreate[]): Promise<View[]> {
    requireWriter(ctx, 'create_subnetpool');
    const prepared = bodies.map((body) => {
      checkPrefixList(body.prefixes);
      const lengths = Object.fromEntries(
        PREFIX_LENGTHS.filter((k) => body[k] !== undefined).map((k) => [k, nonNegative(k, body[k]!)]),
      );
      const quota =
        body.default_quota === undefined ? null : nonNegative('default_quota', body.default_quota);
      if (body.shared) requireAdmin(ctx, 'create_subnetpool:shared');
      if (body.is_default) requireAdmin(ctx, 'create_subnetpool:is_default');
      if (!body.name.trim())
        throw InvalidAttribute({ attr: 'name', reason: `'${body.name}' Blank strings are not permitted` });
      const project = targetProject(ctx, body, 'create_subnetpool');
      return { body, project, quota, read: readPool(body.prefixes, lengths) };
    });
    const rows = await this.#store.retrying(() =>
      this.#store.transaction(async (tx) => {
        const out: Stored[] = [];
        for (const { body, project, quota, read } of prepared) {
          const id = randomUUID();
          if (body.is_default) await this.#checkDefault(tx, read.ip_version);
          const scope = body.address_scope_id ?? null;
          await this.#checkScope(tx, ctx, scope, id, read.prefixes, read.ip_version);
          const attributes: PoolAttributes = {
            ...read,
            default_quota: quota,
            is_default: body.is_default ?? false,
            shared: body.shared ?? false,
            address_scope_id: scope,
          };
          const row = await insertResource(tx, 'subnetpools', {
            id,
            project_id: project,
            name: body.name,
            description: body.description ?? '',
            tags: body.tags ?? [],
            ...attributes,
          });
          await this.#setColumns(tx, row.id, attributes);
          out.push(row);
        }
        return out;
      }),
    );
    return rows.map((r) => this.#view(r, false));
  }

  async #setColumns(
    tx: Tx,
    id: string,
    a: Pick<PoolAttributes, 'address_scope_id' | 'is_default' | 'ip_version'>,
  ) {
    await tx
      .updateTable('subnetpools')
      .set({ address_scope_id: a.address_scope_id, default_ip_version: a.is_default ? a.ip_version : null })
      .where('id', '=', id)
      .execute();
  }

  /** Neutron's `update_subnetpool`: new prefixes must keep every old one; bounds re-read. */
  async #change(
    tx: Tx,
    ctx: Context,
    current: Stored,
    body: SubnetPoolUpdate,
    ifRevision?: number,
  ): Promise<Stored> {
    let prefixes = current.prefixes as string[];
    if (body.prefixes !== undefined) {
      checkPrefixList(body.prefixes);
      if (!coversAll(body.prefixes, prefixes)) {
        throw IllegalSubnetPoolPrefixUpdate({
          msg: 'Existing prefixes must be a subset of the new prefixes',
        });
      }
      prefixes = body.prefixes;
    }
    const lengths = Object.fromEntries(
      PREFIX_LENGTHS.map((k) => [k, body[k] === undefined ? Number(current[k]) : nonNegative(k, body[k])]),
    );
    const read = readPool(prefixes, lengths);
    const quota =
      body.default_quota === undefined
        ? (current.default_quota as number | null)
        : nonNegative('default_quota', body.default_quota);
    const isDefault = body.is_default ?? current.is_default === true;
    if (isDefault && current.is_default !== true) await this.#checkDefault(tx, read.ip_version, current.id);
    const scope =
      body.address_scope_id === undefined
        ? (current.address_scope_id as string | null)
        : body.address_scope_id;
    if (current.address_scope_id) {
      const owned = await this.#scopes.get(ctx, String(current.address_scope_id), tx);
      if (!owns(ctx, owned.project_id)) {
        throw IllegalSubnetPoolUpdate({
          reason: `subnetpool ${current.id} cannot be updated when associated with shared address scope ${current.address_scope_id}`,
        });
      }
    }
    await this.#checkScope(tx, ctx, scope, current.id, read.prefixes, read.ip_version);
    const { name, description } = body;
    const next = {
      ...current,
      ...(name === undefined ? {} : { name }),
      ...(description === undefined ? {} : { description }),
      ...read,
      default_quota: quota,
      is_default: isDefault,
      address_scope_id: scope,
    };
    const row = await updateResource(tx, 'subnetpools', current, next, {}, ifRevision);
    await this.#setColumns(tx, row.id, next);
    if (scope !== current.address_scope_id) await this.#touchSubnets(tx, current.id);
    return row;
  }

  /**
   * The pool's subnets changed address scope: a revision for each, so the hosts routing them
   * re-render their NAT (the scope is no attribute of the subnet, so nothing else says so).
   */
  async #touchSubnets(tx: Tx, poolId: string): Promise<void> {
    for (const s of await listResources(tx, 'subnets', { column: 'subnetpool_id', values: [poolId] })) {
      tx.changed({ resource: 'subnets', resource_id: s.id, op: 'update', project_id: s.project_id });
    }
  }

  async update(ctx: Context, id: string, body: SubnetPoolUpdate, ifRevision?: number): Promise<View> {
    if (body.is_default !== undefined) requireAdmin(ctx, 'update_subnetpool:is_default');
    const row = await this.#store.retrying(() =>
      this.#store.transaction(async (tx) => {
        const current = await this.#owned(ctx, id, 'update_subnetpool', tx);
        return this.#change(tx, ctx, current, body, ifRevision);
      }),
    );
    return this.#view(row, false, true);
  }

  /** `PUT …/add_prefixes`: the union of old and new, as an update of `prefixes`. */
  async addPrefixes(ctx: Context, id: string, body: unknown): Promise<{ prefixes: string[] }> {
    const added = actionPrefixes(body);
    const row = await this.#store.transaction(async (tx) => {
      const current = await this.#owned(ctx, id, 'add_prefixes', tx);
      const prefixes = [...(current.prefixes as string[]), ...added];
      return this.#change(tx, ctx, current, { prefixes });
    });
    return { prefixes: row.prefixes as string[] };
  }

  /** `PUT …/remove_prefixes`: refused when a subnet holds part of a removed prefix. */
  async removePrefixes(ctx: Context, id: string, body: unknown): Promise<{ prefixes: string[] }> {
    const removed = actionPrefixes(body);
    return this.#store.transaction(async (tx) => {
      const current = await this.#owned(ctx, id, 'remove_prefixes', tx);
      const prefixes = current.prefixes as string[];
      if (!overlaps(prefixes, removed)) return { prefixes };
      const allocated = (await this.#allocations(tx, id)).map((a) => a.cidr);
      if (overlaps(allocated, removed)) {
        throw IllegalSubnetPoolPrefixUpdate({
          msg: 'One or more the prefixes to be removed is in use by a subnet',
        });
      }
      const next = removePrefixes(prefixes, removed);
      await updateResource(tx, 'subnetpools', current, { ...current, prefixes: next });
      return { prefixes: next };
    });
  }

  async remove(ctx: Context, id: string, ifRevision?: number): Promise<void> {
    await this.#store.transaction(async (tx) => {
      const current = await this.#owned(ctx, id, 'delete_subnetpool', tx);
      if (ifRevision !== undefined && ifRevision !== current.revision_number) {
        throw RevisionNumberConstraintFailed({ expected: ifRevision, current: current.revision_number });
      }
      const used = await tx
        .selectFrom('subnets')
        .select('id')
        .where('subnetpool_id', '=', id)
        .executeTakeFirst();
      if (used) throw SubnetPoolDeleteError({ reason: 'Subnet pool has existing allocations' });
      await deleteResource(tx, 'subnetpools', current);
    });
  }

  /**
   * The pool a subnet create names (`subnetpool_id`, or the default pool of its IP version with
   * `use_default_subnetpool`), as Neutron's `_get_subnetpool_id`; null when none.
   */
  async #poolOf(tx: Tx, ctx: Context, body: SubnetCreate): Promise<Stored | null> {
    if (body.use_default_subnetpool && body.subnetpool_id) {
      throw BadRequest({
        resource: 'subnets',
        msg: 'subnetpool_id and use_default_subnetpool cannot both be specified',
      });
    }
    if (body.subnetpool_id) return this.get(ctx, body.subnetpool_id, tx);
    if (!body.use_default_subnetpool) return null;
    const version =
      body.cidr !== undefined ? (parseCidr(body.cidr)?.version ?? body.ip_version) : body.ip_version;
    const pool = await tx
      .selectFrom('subnetpools')
      .select('id')
      .where('default_ip_version', '=', version)
      .executeTakeFirst();
    const visible = pool ? await this.get(ctx, pool.id, tx).catch(() => null) : null;
    if (!visible)
      throw BadRequest({ resource: 'subnets', msg: `No default subnetpool found for IPv${version}` });
    return visible;
  }

  /**
   * The CIDR a new subnet takes from its pool, inside the subnet create's transaction (Neutron's
   * `SubnetAllocator`): null when the subnet names no pool (it must then give a CIDR). A CIDR
   * given must lie in the free part of the pool; otherwise `prefixlen` (or the pool's default)
   * takes the next free prefix, or the one a given `gateway_ip` lies in. The pool's row is locked
   * first, then the quota is checked against the project's subnets in the pool.
   */
  async allocate(tx: Tx, ctx: Context, body: SubnetCreate, project: string): Promise<PoolAllocation | null> {
    if (body.cidr !== undefined && body.prefixlen !== undefined) {
      throw BadRequest({ resource: 'subnets', msg: 'cidr and prefixlen must not be supplied together' });
    }
    const pool = await this.#poolOf(tx, ctx, body);
    if (!pool) {
      if (body.cidr === undefined) {
        throw BadRequest({
          resource: 'subnets',
          msg: 'a subnetpool must be specified in the absence of a cidr',
        });
      }
      return null;
    }
    if (body.cidr === undefined && body.allocation_pools !== undefined) {
      throw BadRequest({
        resource: 'subnets',
        msg: 'allocation_pools allowed only for specific subnet requests.',
      });
    }
    const version = Number(pool.ip_version) as IpVersion;
    if (body.ip_version !== version) {
      throw BadRequest({
        resource: 'subnets',
        msg: `Cannot allocate IPv${body.ip_version} subnet from IPv${version} subnet pool`,
      });
    }
    const prefixlen =
      body.prefixlen === undefined
        ? Number(pool.default_prefixlen)
        : nonNegative('prefixlen', body.prefixlen);
    const gateway = typeof body.gateway_ip === 'string' ? normalizeIp(body.gateway_ip) : null;
    const wantedText =
      body.cidr !== undefined ? body.cidr : gateway ? normalizeCidr(`${gateway}/${prefixlen}`) : null;
    const wanted = wantedText ? parseCidr(wantedText) : null;
    if (wantedText && wanted?.version !== version) {
      throw InvalidInput({
        error_message: `cidr '${wantedText}' does not match the ip_version '${version}'`,
      });
    }
    const length = wanted ? wanted.prefix : prefixlen;
    const max = Number(pool.max_prefixlen);
    const min = Number(pool.min_prefixlen);
    if (length > max) throw MaxPrefixSubnetAllocationError({ prefixlen: length, max_prefixlen: max });
    if (length < min) throw MinPrefixSubnetAllocationError({ prefixlen: length, min_prefixlen: min });
    await this.#lock(tx, pool.id);
    const fresh = (await getResource(tx, 'subnetpools', pool.id)) ?? null;
    if (!fresh) throw SubnetPoolNotFound({ subnetpool_id: pool.id });
    const allocations = await this.#allocations(tx, pool.id);
    const quota = fresh.default_quota as number | null;
    if (quota) {
      const used = allocations
        .filter((a) => a.project_id === project)
        .reduce((n, a) => n + quotaUnits(version, parseCidr(a.cidr)!.prefix), 0);
      if (used + quotaUnits(version, length) > quota) throw SubnetPoolQuotaExceeded();
    }
    const prefixes = fresh.prefixes as string[];
    const taken = allocations.map((a) => a.cidr);
    let cidr: string | null;
    if (wantedText) {
      const text = normalizeCidr(wantedText)!;
      if (!isFree(prefixes, taken, text)) {
        throw SubnetAllocationError({
          reason: 'Cannot allocate requested subnet from the available set of prefixes',
        });
      }
      cidr = text;
    } else {
      cidr = allocateAny(prefixes, taken, prefixlen);
      if (!cidr)
        throw SubnetAllocationError({
          reason: `Insufficient prefix space to allocate subnet size /${prefixlen}`,
        });
    }
    return {
      subnetpool_id: pool.id,
      cidr,
      address_scope_id: (fresh.address_scope_id as string | null) ?? null,
    };
  }

  /**
   * Neutron's `_validate_network_subnetpools`: a network's subnets of one family come from one
   * pool, or (with address scopes) from pools of one scope; a subnet without a pool may not join
   * a family whose subnets came from one.
   */
  async checkNetworkAffinity(
    tx: Tx,
    networkId: string,
    version: number,
    allocation: PoolAllocation | null,
  ): Promise<void> {
    const siblings = (
      await listResources(tx, 'subnets', { column: 'network_id', values: [networkId] })
    ).filter((s) => s.ip_version === version);
    const poolIds = [
      ...new Set(siblings.map((s) => s.subnetpool_id).filter((p): p is string => typeof p === 'string')),
    ];
    const pools = await listResources(tx, 'subnetpools', { column: 'id', values: poolIds });
    const networkScope = pools.map((p) => p.address_scope_id as string | null).find((s) => s) ?? null;
    if (networkScope && allocation && allocation.address_scope_id !== networkScope) {
      throw NetworkAddressScopeAffinityError();
    }
    for (const subnet of siblings) {
      if (allocation) {
        if (subnet.subnetpool_id !== allocation.subnetpool_id && !networkScope)
          throw NetworkSubnetPoolAffinityError();
      } else if (subnet.subnetpool_id) throw NetworkSubnetPoolAffinityError();
    }
  }
}

/** The address scope of each pool named (pools without one are left out). */
export async function poolScopes(db: Kysely<Database>, poolIds: string[]): Promise<Map<string, string>> {
  const pools = await listResources(db, 'subnetpools', { column: 'id', values: poolIds });
  return new Map(
    pools.flatMap((p) =>
      typeof p.address_scope_id === 'string' ? [[p.id, p.address_scope_id] as const] : [],
    ),
  );
}

/**
 * Neutron's `ipv4_address_scope` / `ipv6_address_scope` of networks: the address scope of the
 * pool their subnets of each family came from, keyed `<network id>/<ip version>`.
 */
export async function networkScopes(
  db: Kysely<Database>,
  subnets: { network_id: string; subnetpool_id: string | null }[],
): Promise<Map<string, string>> {
  const poolIds = [...new Set(subnets.flatMap((s) => (s.subnetpool_id ? [s.subnetpool_id] : [])))];
  if (poolIds.length === 0) return new Map();
  const pools = new Map(
    (await listResources(db, 'subnetpools', { column: 'id', values: poolIds })).map((p) => [p.id, p]),
  );
  const scopes = new Map<string, string>();
  for (const s of subnets) {
    const pool = s.subnetpool_id ? pools.get(s.subnetpool_id) : undefined;
    if (typeof pool?.address_scope_id === 'string')
      scopes.set(`${s.network_id}/${pool.ip_version}`, pool.address_scope_id);
  }
  return scopes;
}
