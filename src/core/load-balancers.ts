/**
 * Load balancing by Octavia's rules (its v2 API): a load balancer owns a VIP port (device owner
 * `Octavia`, device id `lb-<id>`, as Octavia makes it) on a subnet; listeners take a protocol
 * port of the VIP (one per port); pools hold members (address and port) and at most one health
 * monitor; L7 policies on an HTTP listener redirect or reject requests their rules match. Every
 * object is a row of `lb_objects` (see migration 014); views compute the references between them
 * and the operating status from what the agent running the load balancer last reported
 * (`lb_reports`: haproxy's health of each member, counters per listener).
 *
 * Octavia answers a create or an update with the object PENDING_* while its provider realises
 * it. Here the change is complete in the store when the request returns — the agent realises it
 * from there, as it does networks — so responses say PENDING_CREATE/PENDING_UPDATE as Octavia's
 * do and the stored status is ACTIVE; whether haproxy serves it shows in `operating_status`.
 */
import { randomUUID } from 'node:crypto';
import type { Kysely } from 'kysely';
import { DeviceOwner, ROUTER_INTERFACE_OWNERS } from '../model/device-owners.js';
import type { SnapshotLoadBalancer } from '../model/host-snapshot.js';
import {
  HTTP_METHODS,
  L7_ACTIONS,
  L7_COMPARE_TYPES,
  L7_RULE_TYPES,
  LB_ALGORITHMS,
  LB_PROTOCOLS,
  type LbReport,
  type LbStats,
  MONITOR_TYPES,
  type OperatingStatus,
  PERSISTENCE_TYPES,
  type SessionPersistence,
} from '../model/load-balancer.js';
import type { FixedIp } from '../model/port.js';
import { getResource, type Stored } from '../store/resources.js';
import type { Database } from '../store/schema.js';
import { isUniqueViolation, now, type Store, type Tx } from '../store/store.js';
import { type Context, callerProject, owns, requireWriter, SYSTEM, targetProject } from './context.js';
import {
  DuplicateHealthMonitor,
  DuplicateListenerEntry,
  DuplicateMemberEntry,
  DuplicatePoolEntry,
  InvalidOption,
  InvalidSubresource,
  OctaviaNotFound,
  OctaviaPolicyForbidden,
  OctaviaValidation,
  PortInUse,
  QuotaException,
} from './errors.js';
import { cidrContains, ipVersion, normalizeIp, parseCidr } from './ipam.js';
import type { Networks } from './networks.js';
import type { Ports } from './ports.js';
import type { Subnets } from './subnets.js';

export const LB_KINDS = [
  'loadbalancer',
  'listener',
  'pool',
  'member',
  'healthmonitor',
  'l7policy',
  'l7rule',
] as const;
export type LbKind = (typeof LB_KINDS)[number];

/** Octavia's default quota: unlimited (its `default_*_quota` settings are -1). */
const LB_QUOTA_DEFAULT = -1;
/** The spellings Octavia deprecated in Rocky and still answers and takes. */
const QUOTA_ALIASES: Record<string, LbKind> = {
  load_balancer: 'loadbalancer',
  health_monitor: 'healthmonitor',
};

export type LbQuota = Record<LbKind | 'load_balancer' | 'health_monitor', number> & { project_id?: string };

function quotaView(project: string, limits: Record<LbKind, number>): LbQuota {
  return {
    project_id: project,
    ...limits,
    load_balancer: limits.loadbalancer,
    health_monitor: limits.healthmonitor,
  };
}

/** Octavia's names of its objects, in its messages. */
const RESOURCE: Record<LbKind, string> = {
  loadbalancer: 'Load Balancer',
  listener: 'Listener',
  pool: 'Pool',
  member: 'Member',
  healthmonitor: 'Health Monitor',
  l7policy: 'L7 Policy',
  l7rule: 'L7 Rule',
};

/** Octavia's defaults (milliseconds) and bounds. */
const TIMEOUT_DEFAULTS = {
  timeout_client_data: 50000,
  timeout_member_connect: 5000,
  timeout_member_data: 50000,
  timeout_tcp_inspect: 0,
};
const MAX_TIMEOUT = 31536000;
/** The pool protocols a listener of each protocol can send to (Octavia's table, our protocols). */
const POOL_PROTOCOLS: Record<string, string[]> = {
  HTTP: ['HTTP'],
  HTTPS: ['HTTPS', 'TCP'],
  TCP: ['HTTP', 'HTTPS', 'TCP'],
};

/**
 * What haproxy's configuration can hold as one word (`linux/haproxy-lb.ts` renders values
 * unquoted): printable ASCII without spaces, quotes, backslashes or `#`. Refused here, so a value
 * never keeps a whole load balancer from being realised.
 */
const HAPROXY_WORD = /^[\x21\x24-\x26\x28-\x5b\x5d-\x7e]+$/;

/** One stored object: its columns, and its attributes as stored (`doc`). */
export interface LbObject {
  id: string;
  kind: LbKind;
  project_id: string;
  loadbalancer_id: string;
  parent_id: string;
  created_at: string;
  updated_at: string | null;
  doc: Record<string, unknown>;
}

type Row = Database['lb_objects'];
type View = Record<string, unknown> & { id: string };

function objectOf(row: Row): LbObject {
  return {
    id: row.id,
    kind: row.kind as LbKind,
    project_id: row.project_id,
    loadbalancer_id: row.loadbalancer_id,
    parent_id: row.parent_id,
    created_at: row.created_at,
    updated_at: row.updated_at,
    doc: JSON.parse(row.doc) as Record<string, unknown>,
  };
}

/** One load balancer's objects and its last report: what every view and the snapshot read. */
export class LbTree {
  readonly objects: LbObject[];
  readonly report: LbReport | null;

  constructor(objects: LbObject[], report: LbReport | null) {
    this.objects = objects;
    this.report = report;
  }

  get loadbalancer(): LbObject {
    const lb = this.objects.find((o) => o.kind === 'loadbalancer');
    if (!lb) throw new Error('a load balancer tree without its load balancer');
    return lb;
  }

  of(kind: LbKind): LbObject[] {
    return this.objects.filter((o) => o.kind === kind).sort(byCreation);
  }

  children(parent: string, kind: LbKind): LbObject[] {
    return this.of(kind).filter((o) => o.parent_id === parent);
  }

  find(id: string): LbObject | undefined {
    return this.objects.find((o) => o.id === id);
  }

  /** A member's status from haproxy's checks (its pool's monitor decides whether there are any). */
  memberStatus(member: LbObject): OperatingStatus {
    if (member.doc.admin_state_up === false) return 'OFFLINE';
    const monitor = this.children(member.parent_id, 'healthmonitor')[0];
    if (!monitor || monitor.doc.admin_state_up === false) return 'NO_MONITOR';
    const health = this.report?.members[member.id];
    return health === 'UP' ? 'ONLINE' : health === 'DOWN' ? 'ERROR' : 'OFFLINE';
  }

  poolStatus(pool: LbObject): OperatingStatus {
    if (pool.doc.admin_state_up === false || !this.report) return 'OFFLINE';
    const members = this.children(pool.id, 'member').map((m) => this.memberStatus(m));
    const failed = members.filter((s) => s === 'ERROR').length;
    if (failed > 0 && failed === members.filter((s) => s !== 'OFFLINE').length) return 'ERROR';
    return failed > 0 ? 'DEGRADED' : 'ONLINE';
  }

  listenerStatus(listener: LbObject): OperatingStatus {
    return listener.doc.admin_state_up === false || !this.report ? 'OFFLINE' : 'ONLINE';
  }

  loadBalancerStatus(): OperatingStatus {
    const lb = this.loadbalancer;
    if (lb.doc.admin_state_up === false || !this.report) return 'OFFLINE';
    const pools = this.of('pool').map((p) => this.poolStatus(p));
    return pools.some((s) => s === 'ERROR' || s === 'DEGRADED') ? 'DEGRADED' : 'ONLINE';
  }

  operatingStatus(o: LbObject): OperatingStatus {
    switch (o.kind) {
      case 'loadbalancer':
        return this.loadBalancerStatus();
      case 'listener':
        return this.listenerStatus(o);
      case 'pool':
        return this.poolStatus(o);
      case 'member':
        return this.memberStatus(o);
      default:
        return o.doc.admin_state_up === false || !this.report ? 'OFFLINE' : 'ONLINE';
    }
  }

  stats(listenerIds: string[]): LbStats {
    const total: LbStats = {
      bytes_in: 0,
      bytes_out: 0,
      active_connections: 0,
      total_connections: 0,
      request_errors: 0,
    };
    for (const id of listenerIds) {
      const s = this.report?.listeners[id];
      if (!s) continue;
      for (const key of Object.keys(total) as (keyof LbStats)[]) total[key] += s[key];
    }
    return total;
  }
}

const byCreation = (a: LbObject, b: LbObject) =>
  a.created_at < b.created_at ? -1 : a.created_at > b.created_at ? 1 : a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
const refs = (objects: LbObject[]) => objects.map((o) => ({ id: o.id }));

/** An object as Octavia shows it. */
export function viewOf(tree: LbTree, o: LbObject): View {
  const common = {
    id: o.id,
    project_id: o.project_id,
    provisioning_status: String(o.doc.provisioning_status ?? 'ACTIVE'),
    operating_status: tree.operatingStatus(o),
    created_at: o.created_at,
    updated_at: o.updated_at,
  };
  const { provisioning_status: _, ...doc } = o.doc;
  switch (o.kind) {
    case 'loadbalancer':
      return { ...doc, ...common, listeners: refs(tree.of('listener')), pools: refs(tree.of('pool')) };
    case 'listener':
      return {
        ...doc,
        ...common,
        loadbalancers: [{ id: o.loadbalancer_id }],
        l7policies: refs(tree.children(o.id, 'l7policy')),
      };
    case 'pool':
      return {
        ...doc,
        ...common,
        loadbalancers: [{ id: o.loadbalancer_id }],
        listeners: refs(tree.of('listener').filter((l) => l.doc.default_pool_id === o.id)),
        members: refs(tree.children(o.id, 'member')),
        healthmonitor_id: tree.children(o.id, 'healthmonitor')[0]?.id ?? null,
      };
    case 'healthmonitor':
      return { ...doc, ...common, pools: [{ id: o.parent_id }] };
    case 'l7policy':
      return { ...doc, ...common, listener_id: o.parent_id, rules: refs(tree.children(o.id, 'l7rule')) };
    default:
      return { ...doc, ...common };
  }
}

const text = (v: string | null | undefined) => v ?? '';
const invalid = (detail: string) => OctaviaValidation({ detail });

function oneOf<T extends string>(option: string, value: string, allowed: readonly T[]): T {
  if (!(allowed as readonly string[]).includes(value)) throw InvalidOption({ value, option });
  return value as T;
}

/** An integer attribute within bounds; numeric strings (as python-octaviaclient sends some) count. */
function inRange(field: string, raw: number | string, min: number, max: number): number {
  const value = typeof raw === 'string' ? Number(raw) : raw;
  if (!Number.isInteger(value) || value < min || value > max) {
    throw invalid(
      `Invalid input for field/attribute ${field}. Value: '${raw}'. Value should be between ${min} and ${max}`,
    );
  }
  return value;
}

function checkTimeouts(body: Partial<Record<keyof typeof TIMEOUT_DEFAULTS, number | string | null>>) {
  const out: Partial<Record<keyof typeof TIMEOUT_DEFAULTS, number>> = {};
  for (const key of Object.keys(TIMEOUT_DEFAULTS) as (keyof typeof TIMEOUT_DEFAULTS)[]) {
    const v = body[key];
    if (v === undefined) continue;
    out[key] = v === null ? TIMEOUT_DEFAULTS[key] : inRange(key, v, 0, MAX_TIMEOUT);
  }
  return out;
}

function checkPersistence(
  sp: SessionPersistence | null | undefined,
  protocol: string,
): SessionPersistence | null {
  if (!sp) return null;
  const type = oneOf('session_persistence type', sp.type, PERSISTENCE_TYPES);
  if (type === 'APP_COOKIE' && !sp.cookie_name)
    throw invalid(
      'Field "cookie_name" must be specified when using the "APP_COOKIE" session persistence type.',
    );
  if (type !== 'APP_COOKIE' && sp.cookie_name)
    throw invalid(`Field "cookie_name" can only be specified with session persistence of type "APP_COOKIE".`);
  if (type !== 'SOURCE_IP' && protocol !== 'HTTP')
    throw invalid(`Session persistence of type ${type} is only supported on HTTP pools.`);
  if (sp.cookie_name && !HAPROXY_WORD.test(sp.cookie_name))
    throw invalid('Cookie names must be printable ASCII without spaces, quotes, backslashes or #.');
  return {
    type,
    cookie_name: sp.cookie_name ?? null,
    persistence_timeout: sp.persistence_timeout ?? null,
    persistence_granularity: sp.persistence_granularity ?? null,
  };
}

/** The trees of the given load balancers (all of them when `ids` is undefined). */
export async function lbTrees(db: Kysely<Database>, ids?: string[]): Promise<LbTree[]> {
  if (ids && ids.length === 0) return [];
  let q = db.selectFrom('lb_objects').selectAll();
  if (ids) q = q.where('loadbalancer_id', 'in', ids);
  const rows = await q.execute();
  let rq = db.selectFrom('lb_reports').selectAll();
  if (ids) rq = rq.where('loadbalancer_id', 'in', ids);
  const reports = new Map(
    (await rq.execute()).map((r) => [r.loadbalancer_id, JSON.parse(r.report) as LbReport]),
  );
  const groups = new Map<string, LbObject[]>();
  for (const row of rows) {
    const list = groups.get(row.loadbalancer_id) ?? [];
    list.push(objectOf(row));
    groups.set(row.loadbalancer_id, list);
  }
  return [...groups.entries()]
    .filter(([, objects]) => objects.some((o) => o.kind === 'loadbalancer'))
    .map(([id, objects]) => new LbTree(objects, reports.get(id) ?? null));
}

/**
 * The load balancers whose VIP is on one of `networkIds` that `host` runs: each runs on the first
 * (by name) of the hosts serving its VIP network's DHCP, where the network's bridge already is.
 */
export async function snapshotLoadBalancers(
  db: Kysely<Database>,
  host: string,
  networkIds: string[],
): Promise<SnapshotLoadBalancer[]> {
  if (networkIds.length === 0) return [];
  const bindings = await db
    .selectFrom('dhcp_bindings')
    .select(['network_id', 'host'])
    .where('network_id', 'in', networkIds)
    .execute();
  const first = new Map<string, string>();
  for (const b of bindings) {
    const current = first.get(b.network_id);
    if (current === undefined || b.host < current) first.set(b.network_id, b.host);
  }
  const here = new Set([...first.entries()].filter(([, h]) => h === host).map(([n]) => n));
  const ids = (
    await db.selectFrom('lb_objects').select(['id', 'doc']).where('kind', '=', 'loadbalancer').execute()
  )
    .filter((r) => here.has(String((JSON.parse(r.doc) as Record<string, unknown>).vip_network_id)))
    .map((r) => r.id);
  const out: SnapshotLoadBalancer[] = [];
  for (const tree of await lbTrees(db, ids)) {
    const lb = tree.loadbalancer;
    const port = await getResource(db, 'ports', String(lb.doc.vip_port_id));
    const subnet = await getResource(db, 'subnets', String(lb.doc.vip_subnet_id));
    const cidr = subnet ? parseCidr(String(subnet.cidr)) : null;
    if (!port || !subnet || !cidr) continue;
    out.push(snapshotOf(tree, port, subnet, cidr.prefix));
  }
  return out.sort((a, b) => (a.id < b.id ? -1 : 1));
}

const up = (o: LbObject) => o.doc.admin_state_up !== false;

function snapshotOf(tree: LbTree, port: Stored, subnet: Stored, prefixlen: number): SnapshotLoadBalancer {
  const lb = tree.loadbalancer;
  return {
    id: lb.id,
    admin_state_up: up(lb),
    vip: {
      port_id: port.id,
      network_id: String(port.network_id),
      mac_address: String(port.mac_address),
      ip_address: String(lb.doc.vip_address),
      prefixlen,
      gateway_ip: (subnet.gateway_ip as string | null) ?? null,
    },
    listeners: tree.of('listener').map((l) => ({
      id: l.id,
      protocol: String(l.doc.protocol),
      protocol_port: Number(l.doc.protocol_port),
      admin_state_up: up(l),
      connection_limit: Number(l.doc.connection_limit),
      default_pool_id: (l.doc.default_pool_id as string | null) ?? null,
      timeout_client_data: Number(l.doc.timeout_client_data),
      timeout_member_connect: Number(l.doc.timeout_member_connect),
      timeout_member_data: Number(l.doc.timeout_member_data),
      timeout_tcp_inspect: Number(l.doc.timeout_tcp_inspect),
      insert_headers: (l.doc.insert_headers as Record<string, string>) ?? {},
      l7policies: tree
        .children(l.id, 'l7policy')
        .sort((a, b) => Number(a.doc.position) - Number(b.doc.position))
        .map((p) => ({
          id: p.id,
          action: String(p.doc.action),
          admin_state_up: up(p),
          redirect_pool_id: (p.doc.redirect_pool_id as string | null) ?? null,
          redirect_url: (p.doc.redirect_url as string | null) ?? null,
          redirect_http_code: (p.doc.redirect_http_code as number | null) ?? null,
          rules: tree.children(p.id, 'l7rule').map((r) => ({
            id: r.id,
            type: String(r.doc.type),
            compare_type: String(r.doc.compare_type),
            key: (r.doc.key as string | null) ?? null,
            value: String(r.doc.value),
            invert: r.doc.invert === true,
            admin_state_up: up(r),
          })),
        })),
    })),
    pools: tree.of('pool').map((p) => {
      const monitor = tree.children(p.id, 'healthmonitor')[0];
      const sp = p.doc.session_persistence as SessionPersistence | null;
      return {
        id: p.id,
        protocol: String(p.doc.protocol),
        lb_algorithm: String(p.doc.lb_algorithm),
        admin_state_up: up(p),
        session_persistence: sp ? { type: sp.type, cookie_name: sp.cookie_name ?? null } : null,
        monitor: monitor
          ? {
              type: String(monitor.doc.type),
              delay: Number(monitor.doc.delay),
              timeout: Number(monitor.doc.timeout),
              max_retries: Number(monitor.doc.max_retries),
              max_retries_down: Number(monitor.doc.max_retries_down),
              http_method: (monitor.doc.http_method as string | null) ?? null,
              url_path: (monitor.doc.url_path as string | null) ?? null,
              expected_codes: (monitor.doc.expected_codes as string | null) ?? null,
              admin_state_up: up(monitor),
            }
          : null,
        members: tree.children(p.id, 'member').map((m) => ({
          id: m.id,
          address: String(m.doc.address),
          protocol_port: Number(m.doc.protocol_port),
          weight: Number(m.doc.weight),
          backup: m.doc.backup === true,
          admin_state_up: up(m),
          monitor_address: (m.doc.monitor_address as string | null) ?? null,
          monitor_port: (m.doc.monitor_port as number | null) ?? null,
        })),
      };
    }),
  };
}

const EXPECTED_CODES = /^(\d{3}(,\d{3})*|\d{3}-\d{3})$/;

export class LoadBalancers {
  readonly #store: Store;
  readonly #networks: Networks;
  readonly #subnets: Subnets;
  readonly #ports: Ports;

  constructor(store: Store, services: { networks: Networks; subnets: Subnets; ports: Ports }) {
    this.#store = store;
    this.#networks = services.networks;
    this.#subnets = services.subnets;
    this.#ports = services.ports;
    // The VIP port goes with its load balancer, never before it.
    services.ports.onDelete.push(async (tx, port) => {
      if (port.device_owner !== DeviceOwner.loadBalancer) return;
      const lbId = String(port.device_id).replace(/^lb-/, '');
      const lb = await tx.selectFrom('lb_objects').select('id').where('id', '=', lbId).executeTakeFirst();
      if (lb)
        throw PortInUse({
          port_id: port.id,
          net_id: String(port.network_id),
          device_id: String(port.device_id),
        });
    });
  }

  async trees(db: Kysely<Database>, ids?: string[]): Promise<LbTree[]> {
    return lbTrees(db, ids);
  }

  async #treeOf(
    db: Kysely<Database>,
    ctx: Context,
    kind: LbKind,
    id: string,
  ): Promise<{ tree: LbTree; object: LbObject }> {
    const row = await db
      .selectFrom('lb_objects')
      .select(['loadbalancer_id', 'project_id'])
      .where('id', '=', id)
      .where('kind', '=', kind)
      .executeTakeFirst();
    if (!row || !owns(ctx, row.project_id)) throw OctaviaNotFound({ resource: RESOURCE[kind], id });
    const [tree] = await this.trees(db, [row.loadbalancer_id]);
    const object = tree?.find(id);
    if (!tree || !object) throw OctaviaNotFound({ resource: RESOURCE[kind], id });
    return { tree, object };
  }

  /** The visible objects of a kind (under `parent` when given), as Octavia shows them. */
  async list(ctx: Context, kind: LbKind, parent?: { kind: LbKind; id: string }): Promise<View[]> {
    const db = this.#store.db;
    if (parent) {
      const { tree } = await this.#treeOf(db, ctx, parent.kind, parent.id);
      return tree.children(parent.id, kind).map((o) => viewOf(tree, o));
    }
    let q = db.selectFrom('lb_objects').select('loadbalancer_id').distinct().where('kind', '=', kind);
    if (!ctx.isAdmin) q = q.where('project_id', '=', callerProject(ctx, `get_${kind}`));
    const ids = (await q.execute()).map((r) => r.loadbalancer_id);
    const views: { object: LbObject; view: View }[] = [];
    for (const tree of await this.trees(db, ids)) {
      for (const o of tree.of(kind))
        if (owns(ctx, o.project_id)) views.push({ object: o, view: viewOf(tree, o) });
    }
    return views.sort((a, b) => byCreation(a.object, b.object)).map((v) => v.view);
  }

  async show(ctx: Context, kind: LbKind, id: string, parent?: { kind: LbKind; id: string }): Promise<View> {
    const { tree, object } = await this.#treeOf(this.#store.db, ctx, kind, id);
    if (parent && object.parent_id !== parent.id) throw OctaviaNotFound({ resource: RESOURCE[kind], id });
    return viewOf(tree, object);
  }

  /** Writes in one transaction that tells the change feed the load balancer changed. */
  async #write<T>(
    lbProject: () => { id: string; project: string } | undefined,
    fn: (tx: Tx) => Promise<T>,
  ): Promise<T> {
    return this.#store.transaction(async (tx) => {
      const value = await fn(tx);
      const lb = lbProject();
      if (lb)
        tx.changed({ resource: 'loadbalancer', resource_id: lb.id, op: 'update', project_id: lb.project });
      return value;
    });
  }

  async #insert(
    tx: Tx,
    o: Omit<LbObject, 'created_at' | 'updated_at'>,
    uniqueKey: string | null,
  ): Promise<void> {
    await this.#enforceQuota(tx, o.kind, o.project_id);
    await tx
      .insertInto('lb_objects')
      .values({
        id: o.id,
        kind: o.kind,
        project_id: o.project_id,
        loadbalancer_id: o.loadbalancer_id,
        parent_id: o.parent_id,
        unique_key: uniqueKey,
        created_at: now(),
        updated_at: null,
        doc: JSON.stringify({ provisioning_status: 'ACTIVE', ...o.doc }),
      })
      .execute();
  }

  // Quotas (Octavia's: per project and resource, unlimited unless set)

  /** QuotaException (403) when `project` already has as many `kind` objects as its quota allows. */
  async #enforceQuota(tx: Tx, kind: LbKind, project: string): Promise<void> {
    const row = await tx
      .selectFrom('lb_quotas')
      .select('hard_limit')
      .where('project_id', '=', project)
      .where('resource', '=', kind)
      .executeTakeFirst();
    const limit = row ? Number(row.hard_limit) : LB_QUOTA_DEFAULT;
    if (limit < 0) return;
    const used = await tx
      .selectFrom('lb_objects')
      .select((eb) => eb.fn.countAll().as('n'))
      .where('kind', '=', kind)
      .where('project_id', '=', project)
      .executeTakeFirst();
    if (Number(used?.n ?? 0) >= limit) throw QuotaException({ resource: RESOURCE[kind] });
  }

  /** A project's quotas, Octavia's way: each resource (and the two old spellings), defaults filled in. */
  async #quotaOf(db: Kysely<Database>, project: string): Promise<LbQuota> {
    const rows = await db.selectFrom('lb_quotas').selectAll().where('project_id', '=', project).execute();
    const limits = Object.fromEntries(LB_KINDS.map((k) => [k, LB_QUOTA_DEFAULT])) as Record<LbKind, number>;
    for (const r of rows)
      if ((LB_KINDS as readonly string[]).includes(r.resource))
        limits[r.resource as LbKind] = Number(r.hard_limit);
    return quotaView(project, limits);
  }

  /** Every project with quotas of its own (an admin's list); a member sees its own project's. */
  async quotas(ctx: Context): Promise<LbQuota[]> {
    if (!ctx.isAdmin) return [await this.#quotaOf(this.#store.db, callerProject(ctx, 'get_quota'))];
    const rows = await this.#store.db
      .selectFrom('lb_quotas')
      .select('project_id')
      .distinct()
      .orderBy('project_id')
      .execute();
    return Promise.all(rows.map((r) => this.#quotaOf(this.#store.db, r.project_id)));
  }

  async quota(ctx: Context, project: string): Promise<LbQuota> {
    if (!ctx.isAdmin && project !== ctx.projectId) throw OctaviaPolicyForbidden();
    return this.#quotaOf(this.#store.db, project);
  }

  quotaDefaults(): LbQuota {
    const { project_id: _, ...limits } = quotaView(
      '',
      Object.fromEntries(LB_KINDS.map((k) => [k, LB_QUOTA_DEFAULT])) as Record<LbKind, number>,
    );
    return limits as LbQuota;
  }

  /** Sets (admins only) the limits given; the old spellings count as the new ones. */
  async setQuota(
    ctx: Context,
    project: string,
    change: Record<string, number | undefined>,
  ): Promise<LbQuota> {
    if (!ctx.isAdmin) throw OctaviaPolicyForbidden();
    const limits: Partial<Record<LbKind, number>> = {};
    for (const [key, value] of Object.entries(change)) {
      if (value === undefined || value === null) continue;
      const kind = (QUOTA_ALIASES[key] ?? key) as LbKind;
      if (!(LB_KINDS as readonly string[]).includes(kind)) continue;
      limits[kind] = value;
    }
    await this.#store.transaction(async (tx) => {
      for (const [resource, hard_limit] of Object.entries(limits)) {
        await tx
          .insertInto('lb_quotas')
          .values({ project_id: project, resource, hard_limit })
          .onConflict((oc) => oc.columns(['project_id', 'resource']).doUpdateSet({ hard_limit }))
          .execute();
      }
    });
    return this.#quotaOf(this.#store.db, project);
  }

  /** Back to the defaults (admins only). */
  async resetQuota(ctx: Context, project: string): Promise<void> {
    if (!ctx.isAdmin) throw OctaviaPolicyForbidden();
    await this.#store.db.deleteFrom('lb_quotas').where('project_id', '=', project).execute();
  }

  async #save(tx: Tx, o: LbObject): Promise<void> {
    await tx
      .updateTable('lb_objects')
      .set({ doc: JSON.stringify(o.doc), updated_at: now() })
      .where('id', '=', o.id)
      .execute();
  }

  async #deleteObjects(tx: Tx, ids: string[]): Promise<void> {
    if (ids.length > 0) await tx.deleteFrom('lb_objects').where('id', 'in', ids).execute();
  }

  /** Shows an object just written, with the provisioning status Octavia answers a write with. */
  async #written(
    ctx: Context,
    kind: LbKind,
    id: string,
    status: 'PENDING_CREATE' | 'PENDING_UPDATE',
  ): Promise<View> {
    return { ...(await this.show(ctx, kind, id)), provisioning_status: status };
  }

  // Load balancers

  async createLoadBalancer(
    ctx: Context,
    body: import('../model/load-balancer.js').LoadBalancerCreate,
  ): Promise<View> {
    requireWriter(ctx, 'create_loadbalancer');
    const project = targetProject(ctx, body, 'create_loadbalancer');
    if (body.vip_port_id)
      throw invalid(
        'A VIP port of your own (vip_port_id) is not supported; give vip_subnet_id or vip_network_id.',
      );
    if (!body.vip_subnet_id && !body.vip_network_id)
      throw invalid('VIP must contain one of: vip_port_id, vip_network_id, vip_subnet_id.');
    const provider = body.provider ?? 'amphora';
    if (!['amphora', 'octavia'].includes(provider)) throw invalid(`Provider '${provider}' is not enabled.`);
    const subnet = await this.#vipSubnet(
      ctx,
      body.vip_subnet_id ?? null,
      body.vip_network_id ?? null,
      body.vip_address ?? null,
    );
    const id = randomUUID();
    await this.#store.retrying(() =>
      this.#write(
        () => ({ id, project }),
        async (tx) => {
          const fixed: FixedIp = {
            subnet_id: subnet.id,
            ...(body.vip_address ? { ip_address: body.vip_address } : {}),
          } as FixedIp;
          const [port] = await this.#ports.insertPorts(
            tx,
            SYSTEM,
            [
              {
                network_id: String(subnet.network_id),
                name: `octavia-lb-${id}`,
                device_id: `lb-${id}`,
                device_owner: DeviceOwner.loadBalancer,
                fixed_ips: [fixed],
                port_security_enabled: false,
              },
            ],
            [project],
          );
          const address = (port.fixed_ips as FixedIp[])[0].ip_address;
          await this.#insert(
            tx,
            {
              id,
              kind: 'loadbalancer',
              project_id: project,
              loadbalancer_id: id,
              parent_id: id,
              doc: {
                name: text(body.name),
                description: text(body.description),
                admin_state_up: body.admin_state_up ?? true,
                vip_address: address,
                vip_port_id: port.id,
                vip_subnet_id: subnet.id,
                vip_network_id: subnet.network_id,
                vip_qos_policy_id: body.vip_qos_policy_id ?? null,
                provider,
                flavor_id: body.flavor_id ?? null,
                availability_zone: body.availability_zone ?? null,
                tags: body.tags ?? [],
                additional_vips: [],
                vip_vnic_type: 'normal',
              },
            },
            null,
          );
        },
      ),
    );
    return this.#written(ctx, 'loadbalancer', id, 'PENDING_CREATE');
  }

  /** The VIP's subnet: the one named, else the network's first IPv4 subnet (the one with the address asked for). */
  async #vipSubnet(
    ctx: Context,
    subnetId: string | null,
    networkId: string | null,
    address: string | null,
  ): Promise<Stored> {
    if (address !== null && normalizeIp(address) === null)
      throw invalid(`Invalid input for field/attribute vip_address. Value: '${address}'.`);
    if (subnetId) {
      const subnet = await this.#subnets.get(ctx, subnetId).catch(() => undefined);
      if (!subnet) throw InvalidSubresource({ resource: 'Subnet', id: subnetId });
      if (networkId && subnet.network_id !== networkId)
        throw invalid('vip_subnet_id is not a subnet of vip_network_id.');
      await this.#usable(ctx, String(subnet.network_id));
      return subnet;
    }
    const network = await this.#networks.get(ctx, networkId as string).catch(() => undefined);
    if (!network) throw InvalidSubresource({ resource: 'Network', id: networkId as string });
    await this.#usable(ctx, network.id);
    const rows = await this.#store.db
      .selectFrom('subnets')
      .select('id')
      .where('network_id', '=', network.id)
      .execute();
    const subnets: Stored[] = [];
    for (const { id } of rows) {
      const s = await getResource(this.#store.db, 'subnets', id);
      if (s) subnets.push(s);
    }
    const candidates = subnets.filter(
      (s) => Number(s.ip_version) === 4 || (address && ipVersion(address) === 6),
    );
    const found = address
      ? candidates.find((s) => {
          const cidr = parseCidr(String(s.cidr));
          return cidr !== null && cidrContains(cidr, address);
        })
      : candidates.find((s) => Number(s.ip_version) === 4);
    if (!found) throw invalid(`Network ${network.id} has no subnet for the VIP.`);
    return found;
  }

  async #usable(ctx: Context, networkId: string): Promise<void> {
    const network = await this.#networks.get(ctx, networkId);
    if (!(await this.#networks.usable(ctx, network, this.#store.db)))
      throw InvalidSubresource({ resource: 'Network', id: networkId });
  }

  async updateLoadBalancer(
    ctx: Context,
    id: string,
    body: import('../model/load-balancer.js').LoadBalancerUpdate,
  ): Promise<View> {
    return this.#update(ctx, 'loadbalancer', id, async () => body);
  }

  /** Changes an object's attributes to `changes` (computed, and checked, from the object and its tree). */
  async #update(
    ctx: Context,
    kind: LbKind,
    id: string,
    changes: (object: LbObject, tree: LbTree) => Promise<Record<string, unknown>>,
  ): Promise<View> {
    requireWriter(ctx, `update_${kind}`);
    const { tree, object } = await this.#treeOf(this.#store.db, ctx, kind, id);
    const next = await changes(object, tree);
    const doc = { ...object.doc };
    for (const [k, v] of Object.entries(next)) {
      if (v === undefined) continue;
      doc[k] = (k === 'name' || k === 'description') && v === null ? '' : v;
    }
    await this.#write(
      () => ({ id: object.loadbalancer_id, project: tree.loadbalancer.project_id }),
      (tx) => this.#save(tx, { ...object, doc }),
    );
    return this.#written(ctx, kind, id, 'PENDING_UPDATE');
  }

  /** Deletes a load balancer: with `cascade`, all it holds; else only when it holds nothing. */
  async deleteLoadBalancer(ctx: Context, id: string, cascade: boolean): Promise<void> {
    requireWriter(ctx, 'delete_loadbalancer');
    const { tree, object } = await this.#treeOf(this.#store.db, ctx, 'loadbalancer', id);
    if (!cascade && tree.objects.length > 1)
      throw invalid(`Cannot delete Load Balancer ${id} - it has children`);
    await this.#write(
      () => ({ id, project: object.project_id }),
      async (tx) => {
        await tx.deleteFrom('lb_objects').where('loadbalancer_id', '=', id).execute();
        await tx.deleteFrom('lb_reports').where('loadbalancer_id', '=', id).execute();
        const port = await getResource(tx, 'ports', String(object.doc.vip_port_id));
        if (port) await this.#ports.removeInTransaction(tx, port);
      },
    );
  }

  // Listeners

  async createListener(
    ctx: Context,
    body: import('../model/load-balancer.js').ListenerCreate,
  ): Promise<View> {
    requireWriter(ctx, 'create_listener');
    const { tree } = await this.#treeOf(this.#store.db, ctx, 'loadbalancer', body.loadbalancer_id);
    const lb = tree.loadbalancer;
    const protocol = oneOf('protocol', body.protocol, LB_PROTOCOLS);
    const port = inRange('protocol_port', body.protocol_port, 1, 65535);
    const taken = tree.of('listener').find((l) => l.doc.protocol_port === port);
    if (taken) throw DuplicateListenerEntry({ protocol: String(taken.doc.protocol), port });
    const id = randomUUID();
    const doc: Record<string, unknown> = {
      name: text(body.name),
      description: text(body.description),
      admin_state_up: body.admin_state_up ?? true,
      protocol,
      protocol_port: port,
      connection_limit: this.#connectionLimit(body.connection_limit),
      default_pool_id: null,
      default_tls_container_ref: null,
      sni_container_refs: [],
      insert_headers: body.insert_headers ?? {},
      ...TIMEOUT_DEFAULTS,
      ...checkTimeouts(body),
      client_ca_tls_container_ref: null,
      client_authentication: 'NONE',
      client_crl_container_ref: null,
      allowed_cidrs: null,
      tls_ciphers: null,
      tls_versions: null,
      alpn_protocols: null,
      tags: body.tags ?? [],
    };
    if (body.default_pool_id) doc.default_pool_id = this.#defaultPool(tree, protocol, body.default_pool_id);
    await this.#writeUnique(
      () => ({ id: lb.id, project: lb.project_id }),
      (tx) =>
        this.#insert(
          tx,
          { id, kind: 'listener', project_id: lb.project_id, loadbalancer_id: lb.id, parent_id: lb.id, doc },
          String(port),
        ),
      () => DuplicateListenerEntry({ protocol, port }),
    );
    return this.#written(ctx, 'listener', id, 'PENDING_CREATE');
  }

  #connectionLimit(limit: number | string | null | undefined): number {
    if (limit === undefined || limit === null) return -1;
    return inRange('connection_limit', limit, -1, 1000000);
  }

  #defaultPool(tree: LbTree, protocol: string, poolId: string): string {
    const pool = tree.find(poolId);
    if (pool?.kind !== 'pool') throw InvalidSubresource({ resource: 'Pool', id: poolId });
    this.#checkPoolProtocol(protocol, String(pool.doc.protocol));
    return pool.id;
  }

  #checkPoolProtocol(listener: string, pool: string): void {
    if (!(POOL_PROTOCOLS[listener] ?? []).includes(pool))
      throw invalid(`The pool protocol '${pool}' is invalid while the listener protocol is '${listener}'.`);
  }

  async updateListener(
    ctx: Context,
    id: string,
    body: import('../model/load-balancer.js').ListenerUpdate,
  ): Promise<View> {
    return this.#update(ctx, 'listener', id, async (listener, tree) => ({
      ...body,
      ...checkTimeouts(body),
      connection_limit:
        body.connection_limit === undefined ? undefined : this.#connectionLimit(body.connection_limit),
      default_pool_id:
        body.default_pool_id === undefined
          ? undefined
          : body.default_pool_id === null
            ? null
            : this.#defaultPool(tree, String(listener.doc.protocol), body.default_pool_id),
      insert_headers: body.insert_headers === null ? {} : body.insert_headers,
    }));
  }

  /** Runs a write whose insert may meet a unique key taken concurrently: that is `conflict`. */
  async #writeUnique(
    lb: () => { id: string; project: string },
    fn: (tx: Tx) => Promise<void>,
    conflict: () => Error,
  ): Promise<void> {
    try {
      await this.#write(lb, fn);
    } catch (err) {
      if (isUniqueViolation(err)) throw conflict();
      throw err;
    }
  }

  // Pools

  async createPool(ctx: Context, body: import('../model/load-balancer.js').PoolCreate): Promise<View> {
    requireWriter(ctx, 'create_pool');
    if (!body.listener_id && !body.loadbalancer_id)
      throw invalid('Must provide at least one of: listener_id, loadbalancer_id');
    let tree: LbTree;
    let listener: LbObject | undefined;
    if (body.listener_id) {
      ({ tree, object: listener } = await this.#treeOf(this.#store.db, ctx, 'listener', body.listener_id));
      if (body.loadbalancer_id && body.loadbalancer_id !== listener.loadbalancer_id)
        throw invalid('Listener and pool must be on the same load balancer.');
      if (listener.doc.default_pool_id) throw DuplicatePoolEntry();
    } else {
      ({ tree } = await this.#treeOf(this.#store.db, ctx, 'loadbalancer', body.loadbalancer_id as string));
    }
    const lb = tree.loadbalancer;
    const protocol = oneOf('protocol', body.protocol, LB_PROTOCOLS);
    if (listener) this.#checkPoolProtocol(String(listener.doc.protocol), protocol);
    const algorithm = oneOf('lb_algorithm', body.lb_algorithm, LB_ALGORITHMS);
    const id = randomUUID();
    const doc = {
      name: text(body.name),
      description: text(body.description),
      admin_state_up: body.admin_state_up ?? true,
      protocol,
      lb_algorithm: algorithm,
      session_persistence: checkPersistence(body.session_persistence, protocol),
      tls_enabled: false,
      tls_container_ref: null,
      ca_tls_container_ref: null,
      crl_container_ref: null,
      tls_ciphers: null,
      tls_versions: null,
      alpn_protocols: null,
      tags: body.tags ?? [],
    };
    await this.#write(
      () => ({ id: lb.id, project: lb.project_id }),
      async (tx) => {
        await this.#insert(
          tx,
          { id, kind: 'pool', project_id: lb.project_id, loadbalancer_id: lb.id, parent_id: lb.id, doc },
          null,
        );
        if (listener) await this.#save(tx, { ...listener, doc: { ...listener.doc, default_pool_id: id } });
      },
    );
    return this.#written(ctx, 'pool', id, 'PENDING_CREATE');
  }

  async updatePool(
    ctx: Context,
    id: string,
    body: import('../model/load-balancer.js').PoolUpdate,
  ): Promise<View> {
    return this.#update(ctx, 'pool', id, async (pool) => ({
      ...body,
      lb_algorithm:
        body.lb_algorithm === undefined ? undefined : oneOf('lb_algorithm', body.lb_algorithm, LB_ALGORITHMS),
      session_persistence:
        body.session_persistence === undefined
          ? undefined
          : checkPersistence(body.session_persistence, String(pool.doc.protocol)),
    }));
  }

  // Members

  async createMember(
    ctx: Context,
    poolId: string,
    body: import('../model/load-balancer.js').MemberCreate,
  ): Promise<View> {
    requireWriter(ctx, 'create_member');
    const { tree, object: pool } = await this.#treeOf(this.#store.db, ctx, 'pool', poolId);
    const lb = tree.loadbalancer;
    const address = normalizeIp(body.address);
    if (address === null)
      throw invalid(`Invalid input for field/attribute address. Value: '${body.address}'.`);
    const port = inRange('protocol_port', body.protocol_port, 1, 65535);
    const subnetId = await this.#memberSubnet(ctx, lb, address, body.subnet_id ?? null);
    if (
      tree.children(pool.id, 'member').some((m) => m.doc.address === address && m.doc.protocol_port === port)
    )
      throw DuplicateMemberEntry({ ip_address: address, port });
    if (body.monitor_address && normalizeIp(body.monitor_address) === null)
      throw invalid(`Invalid input for field/attribute monitor_address. Value: '${body.monitor_address}'.`);
    const id = randomUUID();
    const doc = {
      name: text(body.name),
      admin_state_up: body.admin_state_up ?? true,
      address,
      protocol_port: port,
      weight: body.weight === undefined || body.weight === null ? 1 : inRange('weight', body.weight, 0, 256),
      backup: body.backup ?? false,
      subnet_id: subnetId,
      monitor_address: body.monitor_address ?? null,
      monitor_port: body.monitor_port == null ? null : inRange('monitor_port', body.monitor_port, 1, 65535),
      vnic_type: 'normal',
      tags: body.tags ?? [],
    };
    await this.#writeUnique(
      () => ({ id: lb.id, project: lb.project_id }),
      (tx) =>
        this.#insert(
          tx,
          { id, kind: 'member', project_id: lb.project_id, loadbalancer_id: lb.id, parent_id: pool.id, doc },
          `${address}:${port}`,
        ),
      () => DuplicateMemberEntry({ ip_address: address, port }),
    );
    return this.#written(ctx, 'member', id, 'PENDING_CREATE');
  }

  /**
   * The member's subnet, checked reachable from the load balancer: the VIP's subnet, or a subnet
   * of the router that holds the VIP subnet's gateway (the load balancer's namespace routes through
   * it). Given as `subnet_id`, or found by the address.
   */
  async #memberSubnet(ctx: Context, lb: LbObject, address: string, subnetId: string | null): Promise<string> {
    if (subnetId) {
      const subnet = await this.#subnets.get(ctx, subnetId).catch(() => undefined);
      if (!subnet) throw InvalidSubresource({ resource: 'Subnet', id: subnetId });
      const cidr = parseCidr(String(subnet.cidr));
      if (!cidr || !cidrContains(cidr, address))
        throw invalid(`Member address ${address} is not in subnet ${subnetId}.`);
    }
    const vipSubnet = String(lb.doc.vip_subnet_id);
    const reachable = await this.#reachableSubnets(vipSubnet);
    const match = subnetId
      ? reachable.find((s) => s.id === subnetId)
      : reachable.find((s) => {
          const cidr = parseCidr(s.cidr);
          return cidr !== null && cidrContains(cidr, address);
        });
    if (!match) {
      const what = subnetId ? `subnet ${subnetId}` : `address ${address}`;
      throw invalid(
        `Member ${what} is not reachable from load balancer ${lb.id}: it is neither on the VIP's subnet nor behind the router of its gateway.`,
      );
    }
    return match.id;
  }

  /** The VIP's subnet, then the other subnets of the router whose interface is its gateway. */
  async #reachableSubnets(vipSubnetId: string): Promise<{ id: string; cidr: string }[]> {
    const db = this.#store.db;
    const vip = await getResource(db, 'subnets', vipSubnetId);
    if (!vip) return [];
    const ids = [vipSubnetId];
    const gateway = (vip.gateway_ip as string | null) ?? null;
    const router = gateway
      ? await db
          .selectFrom('ip_allocations')
          .innerJoin('ports', 'ports.id', 'ip_allocations.port_id')
          .select('ports.device_id')
          .where('ip_allocations.subnet_id', '=', vipSubnetId)
          .where('ip_allocations.ip_address', '=', gateway)
          .where('ports.device_owner', 'in', ROUTER_INTERFACE_OWNERS)
          .executeTakeFirst()
      : undefined;
    if (router) {
      const routed = await db
        .selectFrom('ip_allocations')
        .innerJoin('ports', 'ports.id', 'ip_allocations.port_id')
        .select('ip_allocations.subnet_id')
        .where('ports.device_id', '=', router.device_id)
        .where('ports.device_owner', 'in', ROUTER_INTERFACE_OWNERS)
        .execute();
      for (const r of routed) if (!ids.includes(r.subnet_id)) ids.push(r.subnet_id);
    }
    const out: { id: string; cidr: string }[] = [];
    for (const id of ids) {
      const subnet = await getResource(db, 'subnets', id);
      if (subnet) out.push({ id, cidr: String(subnet.cidr) });
    }
    return out;
  }

  async updateMember(
    ctx: Context,
    poolId: string,
    id: string,
    body: import('../model/load-balancer.js').MemberUpdate,
  ): Promise<View> {
    await this.show(ctx, 'member', id, { kind: 'pool', id: poolId });
    return this.#update(ctx, 'member', id, async () => ({
      ...body,
      weight:
        body.weight === undefined
          ? undefined
          : body.weight === null
            ? 1
            : inRange('weight', body.weight, 0, 256),
      monitor_port:
        body.monitor_port == null ? body.monitor_port : inRange('monitor_port', body.monitor_port, 1, 65535),
    }));
  }

  // Health monitors

  async createHealthMonitor(
    ctx: Context,
    body: import('../model/load-balancer.js').HealthMonitorCreate,
  ): Promise<View> {
    requireWriter(ctx, 'create_healthmonitor');
    const { tree, object: pool } = await this.#treeOf(this.#store.db, ctx, 'pool', body.pool_id);
    if (tree.children(pool.id, 'healthmonitor').length > 0) throw DuplicateHealthMonitor();
    const lb = tree.loadbalancer;
    const type = oneOf('type', body.type, MONITOR_TYPES);
    const doc = {
      name: text(body.name),
      admin_state_up: body.admin_state_up ?? true,
      type,
      tags: body.tags ?? [],
      ...this.#monitorSettings(type, body),
    };
    const id = randomUUID();
    await this.#writeUnique(
      () => ({ id: lb.id, project: lb.project_id }),
      (tx) =>
        this.#insert(
          tx,
          {
            id,
            kind: 'healthmonitor',
            project_id: lb.project_id,
            loadbalancer_id: lb.id,
            parent_id: pool.id,
            doc,
          },
          'monitor',
        ),
      () => DuplicateHealthMonitor(),
    );
    return this.#written(ctx, 'healthmonitor', id, 'PENDING_CREATE');
  }

  /** A monitor's timing and HTTP settings (over `current`'s on an update), checked together. */
  #monitorSettings(
    type: string,
    body: import('../model/load-balancer.js').HealthMonitorUpdate,
    current: Record<string, unknown> = {},
  ) {
    const pick = <T>(key: keyof typeof body, fallback: T): T =>
      body[key] === undefined ? ((current[key] as T) ?? fallback) : (body[key] as T);
    const delay = inRange('delay', pick('delay', 0), 0, 2147483647);
    const timeout = inRange('timeout', pick('timeout', 0), 0, 2147483647);
    if (timeout > delay) throw invalid('The health monitor timeout must be less than or equal to its delay.');
    const maxRetries = inRange('max_retries', pick('max_retries', 3), 1, 10);
    const down = pick<number | null>('max_retries_down', 3);
    const http = type === 'HTTP';
    const given = (['http_method', 'url_path', 'expected_codes'] as const).filter((k) => body[k] != null);
    if (!http && given.length > 0)
      throw invalid(
        `The following fields are not allowed when the health monitor type is ${type}: ${given.join(', ')}`,
      );
    const method = http ? oneOf('http_method', pick('http_method', 'GET'), HTTP_METHODS) : null;
    const path = http ? pick('url_path', '/') : null;
    if (path !== null && !path.startsWith('/'))
      throw invalid(`Invalid input for field/attribute url_path. Value: '${path}'.`);
    const codes = http ? pick('expected_codes', '200') : null;
    if (codes !== null && !EXPECTED_CODES.test(codes))
      throw invalid(`Invalid input for field/attribute expected_codes. Value: '${codes}'.`);
    return {
      delay,
      timeout,
      max_retries: maxRetries,
      max_retries_down: inRange('max_retries_down', down ?? 3, 1, 10),
      http_method: method,
      url_path: path,
      expected_codes: codes,
      http_version: http ? pick<number | null>('http_version', null) : null,
      domain_name: http ? pick<string | null>('domain_name', null) : null,
    };
  }

  async updateHealthMonitor(
    ctx: Context,
    id: string,
    body: import('../model/load-balancer.js').HealthMonitorUpdate,
  ): Promise<View> {
    return this.#update(ctx, 'healthmonitor', id, async (monitor) => ({
      ...body,
      ...this.#monitorSettings(String(monitor.doc.type), body, monitor.doc),
    }));
  }

  // L7 policies and rules

  async createL7Policy(
    ctx: Context,
    body: import('../model/load-balancer.js').L7PolicyCreate,
  ): Promise<View> {
    requireWriter(ctx, 'create_l7policy');
    const { tree, object: listener } = await this.#treeOf(this.#store.db, ctx, 'listener', body.listener_id);
    if (listener.doc.protocol !== 'HTTP') throw invalid('L7 policies are only supported on HTTP listeners.');
    const lb = tree.loadbalancer;
    const id = randomUUID();
    const doc = {
      name: text(body.name),
      description: text(body.description),
      admin_state_up: body.admin_state_up ?? true,
      tags: body.tags ?? [],
      ...this.#policyAction(tree, body),
    };
    const position =
      body.position == null ? Number.MAX_SAFE_INTEGER : inRange('position', body.position, 1, 2147483647);
    await this.#write(
      () => ({ id: lb.id, project: lb.project_id }),
      async (tx) => {
        await this.#insert(
          tx,
          {
            id,
            kind: 'l7policy',
            project_id: lb.project_id,
            loadbalancer_id: lb.id,
            parent_id: listener.id,
            doc: { ...doc, position },
          },
          null,
        );
        await this.#renumber(tx, tree.children(listener.id, 'l7policy'), { id, position });
      },
    );
    return this.#written(ctx, 'l7policy', id, 'PENDING_CREATE');
  }

  /** Numbers a listener's policies 1… in order, `moved` going to its position (Octavia's list insert). */
  async #renumber(tx: Tx, others: LbObject[], moved: { id: string; position: number }): Promise<void> {
    const ordered = others
      .filter((p) => p.id !== moved.id)
      .sort((a, b) => Number(a.doc.position) - Number(b.doc.position));
    const ids = ordered.map((p) => p.id);
    ids.splice(Math.min(moved.position - 1, ids.length), 0, moved.id);
    for (const [i, pid] of ids.entries()) {
      const row = await tx
        .selectFrom('lb_objects')
        .select('doc')
        .where('id', '=', pid)
        .executeTakeFirstOrThrow();
      const doc = JSON.parse(row.doc) as Record<string, unknown>;
      if (doc.position !== i + 1)
        await tx
          .updateTable('lb_objects')
          .set({ doc: JSON.stringify({ ...doc, position: i + 1 }) })
          .where('id', '=', pid)
          .execute();
    }
  }

  #policyAction(
    tree: LbTree,
    body: import('../model/load-balancer.js').L7PolicyUpdate,
    current: Record<string, unknown> = {},
  ) {
    const action = oneOf('action', body.action ?? String(current.action), L7_ACTIONS);
    const pick = <T>(key: keyof typeof body): T | null =>
      body[key] === undefined ? ((current[key] as T) ?? null) : ((body[key] as T) ?? null);
    let poolId: string | null = null;
    let url: string | null = null;
    let code: number | null = null;
    if (action === 'REDIRECT_TO_POOL') {
      poolId = pick<string>('redirect_pool_id');
      if (!poolId) throw invalid('A redirect_pool_id must be specified with REDIRECT_TO_POOL action.');
      const pool = tree.find(poolId);
      if (pool?.kind !== 'pool') throw InvalidSubresource({ resource: 'Pool', id: poolId });
      if (pool.doc.protocol !== 'HTTP') throw invalid('The redirect pool must be an HTTP pool.');
    } else if (action === 'REDIRECT_TO_URL') {
      url = pick<string>('redirect_url');
      if (!url || !/^https?:\/\//.test(url) || !HAPROXY_WORD.test(url))
        throw invalid('A valid redirect_url must be specified with REDIRECT_TO_URL action.');
      code = Number(pick<number | string>('redirect_http_code') ?? 302);
      if (![301, 302, 303, 307, 308].includes(code))
        throw InvalidOption({ value: code, option: 'redirect_http_code' });
    }
    return {
      action,
      redirect_pool_id: poolId,
      redirect_url: url,
      redirect_prefix: null,
      redirect_http_code: code,
    };
  }

  async updateL7Policy(
    ctx: Context,
    id: string,
    body: import('../model/load-balancer.js').L7PolicyUpdate,
  ): Promise<View> {
    const view = await this.#update(ctx, 'l7policy', id, async (policy, tree) => ({
      ...body,
      position: undefined,
      ...this.#policyAction(tree, body, policy.doc),
    }));
    if (body.position != null) {
      const position = inRange('position', body.position, 1, 2147483647);
      const { tree, object } = await this.#treeOf(this.#store.db, ctx, 'l7policy', id);
      await this.#write(
        () => ({ id: object.loadbalancer_id, project: object.project_id }),
        (tx) => this.#renumber(tx, tree.children(object.parent_id, 'l7policy'), { id, position }),
      );
      return this.#written(ctx, 'l7policy', id, 'PENDING_UPDATE');
    }
    return view;
  }

  async createL7Rule(
    ctx: Context,
    policyId: string,
    body: import('../model/load-balancer.js').L7RuleCreate,
  ): Promise<View> {
    requireWriter(ctx, 'create_l7rule');
    const { tree, object: policy } = await this.#treeOf(this.#store.db, ctx, 'l7policy', policyId);
    const lb = tree.loadbalancer;
    const id = randomUUID();
    const doc = { admin_state_up: body.admin_state_up ?? true, tags: body.tags ?? [], ...this.#rule(body) };
    await this.#write(
      () => ({ id: lb.id, project: lb.project_id }),
      (tx) =>
        this.#insert(
          tx,
          {
            id,
            kind: 'l7rule',
            project_id: lb.project_id,
            loadbalancer_id: lb.id,
            parent_id: policy.id,
            doc,
          },
          null,
        ),
    );
    return this.#written(ctx, 'l7rule', id, 'PENDING_CREATE');
  }

  #rule(body: import('../model/load-balancer.js').L7RuleUpdate, current: Record<string, unknown> = {}) {
    const type = oneOf('type', body.type ?? String(current.type), L7_RULE_TYPES);
    const compare = oneOf(
      'compare_type',
      body.compare_type ?? String(current.compare_type),
      L7_COMPARE_TYPES,
    );
    const key = body.key === undefined ? ((current.key as string | null) ?? null) : body.key;
    const value = body.value ?? String(current.value);
    if ((type === 'HEADER' || type === 'COOKIE') && !key) throw invalid(`L7rule type ${type} needs a key.`);
    if (type === 'FILE_TYPE' && compare !== 'EQUAL_TO' && compare !== 'REGEX')
      throw invalid('L7rule type FILE_TYPE supports compare types EQUAL_TO and REGEX only.');
    if (compare === 'REGEX') {
      try {
        new RegExp(value);
      } catch {
        throw invalid(`The value '${value}' is not a valid regular expression.`);
      }
    }
    if (!HAPROXY_WORD.test(value) || (key !== null && !HAPROXY_WORD.test(key)))
      throw invalid('L7rule keys and values may not contain whitespace, quotes, backslashes or #.');
    return {
      type,
      compare_type: compare,
      key: type === 'HEADER' || type === 'COOKIE' ? key : null,
      value,
      invert: body.invert ?? (current.invert as boolean | undefined) ?? false,
    };
  }

  async updateL7Rule(
    ctx: Context,
    policyId: string,
    id: string,
    body: import('../model/load-balancer.js').L7RuleUpdate,
  ): Promise<View> {
    await this.show(ctx, 'l7rule', id, { kind: 'l7policy', id: policyId });
    return this.#update(ctx, 'l7rule', id, async (rule) => ({ ...body, ...this.#rule(body, rule.doc) }));
  }

  /**
   * Deletes a listener (its L7 policies go with it), a pool (its members and monitor go; the
   * policies redirecting to it reject instead, as Octavia's), a member, a monitor, a policy (its
   * rules go) or a rule.
   */
  async remove(
    ctx: Context,
    kind: Exclude<LbKind, 'loadbalancer'>,
    id: string,
    parent?: { kind: LbKind; id: string },
  ): Promise<void> {
    requireWriter(ctx, `delete_${kind}`);
    if (parent) await this.show(ctx, kind, id, parent);
    const { tree, object } = await this.#treeOf(this.#store.db, ctx, kind, id);
    const doomed = [object.id];
    const below = (parentId: string, k: LbKind) => tree.children(parentId, k).map((o) => o.id);
    await this.#write(
      () => ({ id: object.loadbalancer_id, project: tree.loadbalancer.project_id }),
      async (tx) => {
        if (kind === 'listener') {
          for (const p of below(id, 'l7policy')) doomed.push(p, ...below(p, 'l7rule'));
        } else if (kind === 'pool') {
          doomed.push(...below(id, 'member'), ...below(id, 'healthmonitor'));
          for (const l of tree.of('listener').filter((o) => o.doc.default_pool_id === id))
            await this.#save(tx, { ...l, doc: { ...l.doc, default_pool_id: null } });
          for (const p of tree.of('l7policy').filter((o) => o.doc.redirect_pool_id === id))
            await this.#save(tx, { ...p, doc: { ...p.doc, action: 'REJECT', redirect_pool_id: null } });
        } else if (kind === 'l7policy') {
          doomed.push(...below(id, 'l7rule'));
        }
        await this.#deleteObjects(tx, doomed);
        if (kind === 'l7policy') {
          const rest = tree
            .children(object.parent_id, 'l7policy')
            .filter((p) => p.id !== id)
            .sort((a, b) => Number(a.doc.position) - Number(b.doc.position));
          if (rest.length > 0) await this.#renumber(tx, rest, { id: rest[0].id, position: 1 });
        }
      },
    );
  }

  // Status and statistics

  /** Octavia's status tree of a load balancer. */
  async statusTree(ctx: Context, id: string) {
    const { tree } = await this.#treeOf(this.#store.db, ctx, 'loadbalancer', id);
    const lb = tree.loadbalancer;
    const status = (o: LbObject) => ({
      id: o.id,
      name: String(o.doc.name ?? ''),
      operating_status: tree.operatingStatus(o),
      provisioning_status: String(o.doc.provisioning_status ?? 'ACTIVE'),
    });
    const poolStatus = (pool: LbObject) => {
      const monitor = tree.children(pool.id, 'healthmonitor')[0];
      return {
        ...status(pool),
        ...(monitor ? { health_monitor: { ...status(monitor), type: monitor.doc.type } } : {}),
        members: tree.children(pool.id, 'member').map((m) => ({
          ...status(m),
          address: m.doc.address,
          protocol_port: m.doc.protocol_port,
        })),
      };
    };
    const poolsOf = (listener: LbObject) => {
      const ids = new Set<string>();
      if (listener.doc.default_pool_id) ids.add(String(listener.doc.default_pool_id));
      for (const p of tree.children(listener.id, 'l7policy'))
        if (p.doc.redirect_pool_id) ids.add(String(p.doc.redirect_pool_id));
      return tree.of('pool').filter((p) => ids.has(p.id));
    };
    return {
      statuses: {
        loadbalancer: {
          ...status(lb),
          listeners: tree.of('listener').map((l) => ({ ...status(l), pools: poolsOf(l).map(poolStatus) })),
        },
      },
    };
  }

  async stats(ctx: Context, kind: 'loadbalancer' | 'listener', id: string): Promise<{ stats: LbStats }> {
    const { tree } = await this.#treeOf(this.#store.db, ctx, kind, id);
    return { stats: tree.stats(kind === 'listener' ? [id] : tree.of('listener').map((l) => l.id)) };
  }

  /** Records what `host`'s agent reports of the load balancers it runs (unknown ones are ignored). */
  async report(host: string, reports: LbReport[]): Promise<void> {
    if (reports.length === 0) return;
    await this.#store.transaction(
      async (tx) => {
        const known = new Set(
          (
            await tx
              .selectFrom('lb_objects')
              .select('id')
              .where('kind', '=', 'loadbalancer')
              .where(
                'id',
                'in',
                reports.map((r) => r.loadbalancer_id),
              )
              .execute()
          ).map((r) => r.id),
        );
        for (const r of reports) {
          if (!known.has(r.loadbalancer_id)) continue;
          const values = { host, report: JSON.stringify(r), updated_at: now() };
          await tx.deleteFrom('lb_reports').where('loadbalancer_id', '=', r.loadbalancer_id).execute();
          await tx
            .insertInto('lb_reports')
            .values({ loadbalancer_id: r.loadbalancer_id, ...values })
            .execute();
        }
      },
      { statusOnly: true },
    );
  }
}
