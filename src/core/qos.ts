/**
 * QoS policies and their rules (Neutron's `qos` with `qos-bw-limit-direction`, `qos-default`,
 * `qos-rules-alias` and `qos-rule-type-details`). A policy is visible to its project, to admins,
 * and to every project when `shared` (or opened by an RBAC `qos_policy` grant); only admins and
 * the project's managers change it (Neutron's defaults). A policy holds at most one rule per type
 * and direction (QoSRulesConflict), a minimum bandwidth never above the same direction's limit
 * (QoSRuleParameterConflict), and cannot go while a port, network, floating IP or router gateway
 * names it (QosPolicyInUse). A project has at most one default policy, which networks created
 * without one get. Every rule change is an update of its policy (Neutron's `revises_on_change`),
 * so the change feed wakes the agents of the hosts that apply it. What a policy asks of the data
 * plane (`SnapshotQos`) is built here too: bandwidth limits (a limit of 0 is no limit, as in
 * Neutron's agents) and the DSCP mark; minimum bandwidth is accepted but never enforced.
 */
import { randomUUID } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { SnapshotQos } from '../model/host-snapshot.js';
import {
  KBPS_MAX,
  type QosPolicyCreate,
  type QosPolicyUpdate,
  type QosRuleBody,
  RULE_ATTRIBUTES,
  RULE_TYPES,
  type RuleType,
  VALID_DSCP_MARKS,
} from '../model/qos.js';
import { inChunks } from '../store/chunks.js';
import {
  deleteResource,
  getResource,
  insertResource,
  listResources,
  type Stored,
  updateResource,
} from '../store/resources.js';
import type { Database } from '../store/schema.js';
import { now, type Store, type Tx } from '../store/store.js';
import { type Context, requireWriter, targetProject } from './context.js';
import {
  HTTPBadRequest,
  InvalidAttribute,
  InvalidInput,
  NotAuthorized,
  NotFound,
  PolicyNotAuthorized,
  PolicyRemoveAuthorizationError,
  QoSPolicyDefaultAlreadyExists,
  QoSRuleParameterConflict,
  QoSRulesConflict,
  QosPolicyInUse,
  QosPolicyNotFound,
  QosRuleNotFound,
  QosRuleNotSupported,
  QosRuleNotSupportedByNetwork,
  RbacPolicyInUse,
  RevisionNumberConstraintFailed,
} from './errors.js';
import type { ListHint, ResourceService, View } from './resource.js';
import { sharedWith } from './sharing.js';

type RuleRow = Database['qos_rules'];

/** The QoS driver Neutrino reports in rule-type details: Neutron's Linux bridge one, which it realises. */
export const QOS_DRIVER = 'linuxbridge';
/** The rule types the data plane enforces (listed by `/v2.0/qos/rule-types`). */
const ENFORCED: RuleType[] = ['bandwidth_limit', 'dscp_marking'];
const DIRECTIONS = ['egress', 'ingress'];
/** Without `qos-bw-minimum-ingress`, a minimum bandwidth rule is egress only. */
const MINIMUM_DIRECTIONS = ['egress'];

/** Neutron's `supported_parameters` of each rule type the driver enforces. */
const SUPPORTED_PARAMETERS: Record<string, { parameter_name: string; values: unknown }[]> = {
  bandwidth_limit: [
    { parameter_name: 'max_kbps', values: { start: 1, end: KBPS_MAX } },
    { parameter_name: 'max_burst_kbps', values: { start: 0, end: KBPS_MAX } },
    { parameter_name: 'direction', values: DIRECTIONS },
  ],
  dscp_marking: [{ parameter_name: 'dscp_mark', values: [...VALID_DSCP_MARKS] }],
};

/** Where the attribute `qos_policy_id` may name a policy, in QosPolicyInUse's order and words. */
const BOUND_TO = [
  { table: 'ports', object_type: 'port' },
  { table: 'networks', object_type: 'network' },
  { table: 'floatingips', object_type: 'fip' },
  { table: 'routers', object_type: 'router' },
] as const;

/** neutron-lib's convert_to_int: an integer, or a string of one (`None` for null in its message). */
function toInt(raw: unknown): number {
  const text = String(raw === null ? 'None' : raw);
  const n = typeof raw === 'number' ? raw : /^\s*[-+]?\d+\s*$/.test(text) ? Number(text) : Number.NaN;
  if (!Number.isInteger(n)) throw InvalidInput({ error_message: `'${text}' is not an integer` });
  return n;
}

/**
 * A kbps attribute: `type:range` min…DB_INTEGER_MAX_VALUE, in neutron-lib's words. Neutron's range
 * starts at 0 for every one; a bandwidth limit of 0 would shape a port to nothing (or, as the
 * agents read it, to no limit at all), so `max_kbps` starts at 1 here.
 */
function kbps(attr: string, raw: unknown, min = 0): number {
  const n = toInt(raw);
  if (n < min) throw InvalidAttribute({ attr, reason: `'${n}' is too small - must be at least '${min}'` });
  if (n > KBPS_MAX)
    throw InvalidAttribute({ attr, reason: `'${n}' is too large - must be no larger than '${KBPS_MAX}'` });
  return n;
}

function dscpMark(raw: unknown): number {
  const n = toInt(raw);
  if (!(VALID_DSCP_MARKS as readonly number[]).includes(n))
    throw InvalidAttribute({ attr: 'dscp_mark', reason: `${n} is not in valid_values` });
  return n;
}

function direction(raw: unknown, valid: string[]): string {
  if (typeof raw !== 'string' || !valid.includes(raw))
    throw InvalidAttribute({ attr: 'direction', reason: `${String(raw)} is not in valid_values` });
  return raw;
}

/** neutron-lib's convert_to_boolean. */
export function toBoolean(raw: unknown): boolean {
  if (typeof raw === 'boolean') return raw;
  const lower = String(raw).toLowerCase();
  if (lower === 'true' || lower === '1') return true;
  if (lower === 'false' || lower === '0') return false;
  throw InvalidInput({ error_message: `'${String(raw)}' cannot be converted to boolean` });
}

/**
 * A rule body's attributes for `type`, converted and checked as Neutron does; a create must give
 * the type's required ones and gets the defaults (egress, no burst).
 */
function parseRule(type: RuleType, body: QosRuleBody, create: boolean): Partial<RuleRow> {
  const { all, required } = RULE_ATTRIBUTES[type];
  const given = Object.keys(body).filter((k) => k !== 'project_id' && k !== 'tenant_id');
  const unknown = given.filter((k) => !all.includes(k));
  if (unknown.length > 0) throw HTTPBadRequest({ msg: `Unrecognized attribute(s) '${unknown.join(', ')}'` });
  if (create) {
    const missing = required.find((k) => !(k in body));
    if (missing)
      throw HTTPBadRequest({ msg: `Failed to parse request. Required attribute '${missing}' not specified` });
  }
  const out: Partial<RuleRow> = {};
  if ('max_kbps' in body) out.max_kbps = kbps('max_kbps', body.max_kbps, 1);
  if ('max_burst_kbps' in body) out.max_burst_kbps = kbps('max_burst_kbps', body.max_burst_kbps);
  if ('min_kbps' in body) out.min_kbps = kbps('min_kbps', body.min_kbps);
  if ('dscp_mark' in body) out.dscp_mark = dscpMark(body.dscp_mark);
  if ('direction' in body)
    out.direction = direction(body.direction, type === 'minimum_bandwidth' ? MINIMUM_DIRECTIONS : DIRECTIONS);
  if (create) {
    if (type !== 'dscp_marking') out.direction ??= 'egress';
    if (type === 'bandwidth_limit') out.max_burst_kbps ??= 0;
  }
  return out;
}

/** A rule as its sub-collection shows it: its id and its type's attributes. */
export type RuleView = Record<string, unknown> & { id: string };

export function ruleView(row: RuleRow): RuleView {
  const view: RuleView = { id: row.id };
  for (const key of RULE_ATTRIBUTES[row.type as RuleType].all)
    view[key] = key === 'direction' ? row.direction : Number(row[key as keyof RuleRow]);
  return view;
}

/** A rule as its policy lists it (Neutron's rule `to_dict`: with its policy and type). */
function policyRuleView(row: RuleRow): Record<string, unknown> {
  return { ...ruleView(row), qos_policy_id: row.qos_policy_id, type: row.type };
}

const byAge = (a: RuleRow, b: RuleRow) =>
  a.created_at.localeCompare(b.created_at) || a.id.localeCompare(b.id);

async function rulesOf(db: Kysely<Database>, policyIds: string[]): Promise<RuleRow[]> {
  const rows = await inChunks([...new Set(policyIds)], (chunk) =>
    db.selectFrom('qos_rules').selectAll().where('qos_policy_id', 'in', chunk).execute(),
  );
  return rows.sort(byAge);
}

/** Whether `ctx` may see `policy`: its project's, an admin, shared, or opened by RBAC. */
async function visible(ctx: Context, db: Kysely<Database>, policy: Stored): Promise<boolean> {
  if (ctx.isAdmin || policy.project_id === ctx.projectId || policy.shared === true) return true;
  return (await sharedWith(db, 'qos_policy', 'access_as_shared', ctx.projectId, [policy.id])).has(policy.id);
}

/** The policy `id` if `ctx` may see it, else QosPolicyNotFound (never 403). */
async function visiblePolicy(ctx: Context, db: Kysely<Database>, id: string): Promise<Stored> {
  const row = await getResource(db, 'qos_policies', id);
  if (!row || !(await visible(ctx, db, row))) throw QosPolicyNotFound({ policy_id: id });
  return row;
}

const UUID_LIKE = /^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$/i;

/**
 * The policy `id` if `ctx` may use it (attach it to a network, port, floating IP or router
 * gateway): a UUID (`type:uuid_or_none`, 400 otherwise), else QosPolicyNotFound, as Neutron's
 * `get_policy_obj` answers for another project's private policy.
 */
export async function requireQosPolicy(ctx: Context, db: Kysely<Database>, id: string): Promise<Stored> {
  if (!UUID_LIKE.test(id))
    throw InvalidAttribute({ attr: 'qos_policy_id', reason: `'${id}' is not a valid UUID` });
  return visiblePolicy(ctx, db, id);
}

/**
 * Checks a change of an object's `qos_policy_id` from `before` to `after` (undefined: not asked):
 * the new policy must be one `ctx` may use, and the old one one it may see
 * (PolicyRemoveAuthorizationError otherwise, as Neutron's `_check_policy_change_permission`).
 */
export async function checkQosChange(
  ctx: Context,
  db: Kysely<Database>,
  before: unknown,
  after: string | null | undefined,
): Promise<void> {
  if (after === undefined || after === before) return;
  if (typeof before === 'string') {
    const old = await getResource(db, 'qos_policies', before);
    if (old && !(await visible(ctx, db, old))) throw PolicyRemoveAuthorizationError({ policy_id: before });
  }
  if (after !== null) await requireQosPolicy(ctx, db, after);
}

/**
 * The projects whose ports, networks, floating IPs or routers use policy `id` (Neutron's
 * `get_bound_project_ids`). Docs name their policy as `"qos_policy_id":"<uuid>"` (a router's
 * is its gateway's); ids are UUIDs, safe inside LIKE.
 */
export async function qosPolicyUsers(db: Kysely<Database>, id: string): Promise<Set<string>> {
  const projects = new Set<string>();
  for (const { table } of BOUND_TO) {
    const rows = await db
      .selectFrom(table)
      .select('project_id')
      .distinct()
      .where('doc', 'like', `%"qos_policy_id":"${id}"%`)
      .execute();
    for (const r of rows) projects.add(r.project_id);
  }
  return projects;
}

/** The type of a rule of policy `id` the data plane does not enforce (minimum bandwidth), if any. */
async function unenforcedRule(db: Kysely<Database>, id: string): Promise<string | undefined> {
  const row = await db
    .selectFrom('qos_rules')
    .select('type')
    .where('qos_policy_id', '=', id)
    .where('type', 'not in', ENFORCED)
    .executeTakeFirst();
  return row?.type;
}

/**
 * Refuses policy `id` on port `portId` when it holds a rule the driver does not support
 * (QosRuleNotSupported 409), as Neutron's Linux bridge driver refuses minimum bandwidth.
 */
export async function checkPolicyForPort(db: Kysely<Database>, id: unknown, portId: string): Promise<void> {
  const type = typeof id === 'string' ? await unenforcedRule(db, id) : undefined;
  if (type) throw QosRuleNotSupported({ rule_type: type, port_id: portId });
}

/** The same for a network (QosRuleNotSupportedByNetwork 409). */
export async function checkPolicyForNetwork(
  db: Kysely<Database>,
  id: unknown,
  networkId: string,
): Promise<void> {
  const type = typeof id === 'string' ? await unenforcedRule(db, id) : undefined;
  if (type) throw QosRuleNotSupportedByNetwork({ rule_type: type, network_id: networkId });
}

/**
 * A port the policy applies to (Neutron's `_get_ports_with_policy`): one of its own, or one
 * without a policy of its own on a network with it.
 */
async function portWithPolicy(db: Kysely<Database>, id: string): Promise<string | undefined> {
  const like = `%"qos_policy_id":"${id}"%`;
  const own = await db
    .selectFrom('ports')
    .select('id')
    .where('doc', 'like', like)
    .orderBy('id')
    .executeTakeFirst();
  if (own) return own.id;
  const networks = db.selectFrom('networks').select('id').where('doc', 'like', like);
  const viaNetwork = await db
    .selectFrom('ports')
    .select('id')
    .where('network_id', 'in', networks)
    .where('doc', 'not like', '%"qos_policy_id":"%')
    .orderBy('id')
    .executeTakeFirst();
  return viaNetwork?.id;
}

/** The project's default policy (`qos-default`), if it has one. */
export async function defaultQosPolicy(db: Kysely<Database>, projectId: string): Promise<string | null> {
  const row = await db
    .selectFrom('qos_default_policies')
    .select('qos_policy_id')
    .where('project_id', '=', projectId)
    .executeTakeFirst();
  return row?.qos_policy_id ?? null;
}

/** What each of `policyIds` asks of the data plane (policies without such rules are left out). */
export async function snapshotQos(
  db: Kysely<Database>,
  policyIds: string[],
): Promise<Map<string, SnapshotQos>> {
  const out = new Map<string, SnapshotQos>();
  for (const rule of await rulesOf(db, policyIds)) {
    const qos = out.get(rule.qos_policy_id) ?? {
      policy_id: rule.qos_policy_id,
      bandwidth_limits: [],
      dscp_mark: null,
    };
    if (rule.type === 'bandwidth_limit' && Number(rule.max_kbps) > 0)
      qos.bandwidth_limits.push({
        direction: rule.direction as 'egress' | 'ingress',
        max_kbps: Number(rule.max_kbps),
        max_burst_kbps: Number(rule.max_burst_kbps ?? 0),
      });
    else if (rule.type === 'dscp_marking') qos.dscp_mark = Number(rule.dscp_mark);
    else continue;
    out.set(rule.qos_policy_id, qos);
  }
  for (const qos of out.values()) qos.bandwidth_limits.sort((a, b) => a.direction.localeCompare(b.direction));
  return out;
}

/** Only admins and the managers of the policy's project change it (Neutron's ADMIN_OR_PROJECT_MANAGER). */
function requireManager(ctx: Context, projectId: string, action: string): void {
  requireWriter(ctx, action);
  if (ctx.isAdmin) return;
  if (ctx.projectId !== projectId || !ctx.roles.includes('manager')) throw PolicyNotAuthorized({ action });
}

export class QosPolicies implements ResourceService<QosPolicyCreate, QosPolicyUpdate> {
  readonly table = 'qos_policies' as const;
  readonly #store: Store;

  constructor(store: Store) {
    this.#store = store;
  }

  /** Policies with their rules and `is_default`, as Neutron shows them. */
  async #views(rows: Stored[], db: Kysely<Database> = this.#store.db): Promise<View[]> {
    if (rows.length === 0) return [];
    const rules = await rulesOf(
      db,
      rows.map((r) => r.id),
    );
    const defaults = await inChunks(
      rows.map((r) => r.id),
      (chunk) =>
        db
          .selectFrom('qos_default_policies')
          .select('qos_policy_id')
          .where('qos_policy_id', 'in', chunk)
          .execute(),
    );
    const isDefault = new Set(defaults.map((d) => d.qos_policy_id));
    return rows.map((row) => ({
      ...row,
      shared: row.shared === true,
      is_default: isDefault.has(row.id),
      rules: rules.filter((r) => r.qos_policy_id === row.id).map(policyRuleView),
    }));
  }

  async list(ctx: Context, hint: ListHint): Promise<View[]> {
    const ids = hint.filters.id;
    const db = this.#store.db;
    const rows = await listResources(db, 'qos_policies', ids ? { column: 'id', values: ids } : undefined);
    const opened = ctx.isAdmin
      ? new Set<string>()
      : await sharedWith(db, 'qos_policy', 'access_as_shared', ctx.projectId);
    return this.#views(
      rows.filter(
        (r) => ctx.isAdmin || r.project_id === ctx.projectId || r.shared === true || opened.has(r.id),
      ),
    );
  }

  /** The stored policy if `ctx` may see it, else QosPolicyNotFound. */
  async get(ctx: Context, id: string, db: Kysely<Database> = this.#store.db): Promise<Stored> {
    return visiblePolicy(ctx, db, id);
  }

  async show(ctx: Context, id: string): Promise<View> {
    return (await this.#views([await this.get(ctx, id)]))[0];
  }

  /** Makes `policy` its project's default, or stops it being one. */
  async #setDefault(tx: Tx, policy: Stored, wanted: boolean): Promise<void> {
    const current = await defaultQosPolicy(tx, policy.project_id);
    if (wanted) {
      if (current === policy.id) return;
      if (current !== null) throw QoSPolicyDefaultAlreadyExists({ project_id: policy.project_id });
      await tx
        .insertInto('qos_default_policies')
        .values({ project_id: policy.project_id, qos_policy_id: policy.id })
        .execute();
    } else if (current === policy.id) {
      await tx.deleteFrom('qos_default_policies').where('project_id', '=', policy.project_id).execute();
    }
  }

  async create(ctx: Context, bodies: QosPolicyCreate[]): Promise<View[]> {
    const prepared = bodies.map((body) => {
      const project = targetProject(ctx, body, 'create_policy');
      requireManager(ctx, project, 'create_policy');
      return {
        body,
        project,
        shared: body.shared === undefined ? false : toBoolean(body.shared),
        isDefault: body.is_default === undefined ? false : toBoolean(body.is_default),
      };
    });
    return this.#store.retrying(() =>
      this.#store.transaction(async (tx) => {
        const out: Stored[] = [];
        for (const { body, project, shared, isDefault } of prepared) {
          const policy = await insertResource(tx, 'qos_policies', {
            id: randomUUID(),
            project_id: project,
            name: body.name ?? '',
            description: body.description ?? '',
            shared,
            tags: body.tags ?? [],
          });
          await this.#setDefault(tx, policy, isDefault);
          out.push(policy);
        }
        return this.#views(out, tx);
      }),
    );
  }

  async update(ctx: Context, id: string, body: QosPolicyUpdate, ifRevision?: number): Promise<View> {
    const { is_default, ...rest } = body;
    const next: Record<string, unknown> = { ...rest };
    if (rest.shared !== undefined) next.shared = toBoolean(rest.shared);
    return this.#store.retrying(() =>
      this.#store.transaction(async (tx) => {
        const current = await this.get(ctx, id, tx);
        requireManager(ctx, current.project_id, 'update_policy');
        if (is_default !== undefined) await this.#setDefault(tx, current, toBoolean(is_default));
        if (current.shared === true && next.shared === false) await this.#checkUnshare(tx, current);
        const row = await updateResource(
          tx,
          'qos_policies',
          current,
          { ...current, ...next },
          {},
          ifRevision,
        );
        return (await this.#views([row], tx))[0];
      }),
    );
  }

  /**
   * Unsharing takes the policy from every project RBAC does not open it to: refused while one of
   * them uses it (RbacPolicyInUse, as Neutron answers for its `*` grant).
   */
  async #checkUnshare(tx: Tx, policy: Stored): Promise<void> {
    const grants = await listResources(tx, 'rbac_policies', { column: 'object_id', values: [policy.id] });
    const opened = new Set(
      grants
        .filter((g) => g.object_type === 'qos_policy' && g.action === 'access_as_shared')
        .map((g) => String(g.target_tenant)),
    );
    if (opened.has('*')) return;
    const stranded = [...(await qosPolicyUsers(tx, policy.id))].filter(
      (p) => p !== policy.project_id && !opened.has(p),
    );
    if (stranded.length > 0) throw RbacPolicyInUse({ object_id: policy.id, details: 'project_id=*' });
  }

  async remove(ctx: Context, id: string, ifRevision?: number): Promise<void> {
    await this.#store.transaction(async (tx) => {
      const current = await this.get(ctx, id, tx);
      requireManager(ctx, current.project_id, 'delete_policy');
      if (ifRevision !== undefined && ifRevision !== current.revision_number)
        throw RevisionNumberConstraintFailed({ expected: ifRevision, current: current.revision_number });
      for (const { table, object_type } of BOUND_TO) {
        // Docs name their policy as `"qos_policy_id":"<uuid>"` (a router's is its gateway's).
        const user = await tx
          .selectFrom(table)
          .select('id')
          .where('doc', 'like', `%"qos_policy_id":"${id}"%`)
          .orderBy('id')
          .executeTakeFirst();
        if (user) throw QosPolicyInUse({ policy_id: id, object_type, object_id: user.id });
      }
      await tx.deleteFrom('qos_rules').where('qos_policy_id', '=', id).execute();
      await tx.deleteFrom('qos_default_policies').where('qos_policy_id', '=', id).execute();
      await tx
        .deleteFrom('rbac_policies')
        .where('object_type', '=', 'qos_policy')
        .where('object_id', '=', id)
        .execute();
      await deleteResource(tx, 'qos_policies', current);
    });
  }

  // Rules (`/v2.0/qos/policies/{policy_id}/<type>_rules` and the `alias-<type>-rules`).

  /** The policy's rules of `type`, as its sub-collection lists them. */
  async listRules(ctx: Context, policyId: string, type: RuleType): Promise<RuleView[]> {
    const policy = await this.get(ctx, policyId);
    return (await rulesOf(this.#store.db, [policy.id])).filter((r) => r.type === type).map(ruleView);
  }

  async #rule(tx: Kysely<Database>, policyId: string, type: RuleType, ruleId: string): Promise<RuleRow> {
    const row = await tx
      .selectFrom('qos_rules')
      .selectAll()
      .where('id', '=', ruleId)
      .where('qos_policy_id', '=', policyId)
      .where('type', '=', type)
      .executeTakeFirst();
    if (!row) throw QosRuleNotFound({ rule_id: ruleId, policy_id: policyId });
    return row;
  }

  async showRule(ctx: Context, policyId: string, type: RuleType, ruleId: string): Promise<RuleView> {
    const policy = await this.get(ctx, policyId);
    return ruleView(await this.#rule(this.#store.db, policy.id, type, ruleId));
  }

  /**
   * Neutron's rule checks against the policy's other rules: one per type and direction
   * (QoSRulesConflict), and a minimum bandwidth not above the same direction's limit.
   */
  #checkConflicts(policyId: string, others: RuleRow[], rule: RuleRow): void {
    for (const other of others) {
      if (other.id === rule.id || other.direction !== rule.direction) continue;
      if (
        rule.type === 'bandwidth_limit' &&
        other.type === 'minimum_bandwidth' &&
        Number(other.min_kbps) > Number(rule.max_kbps)
      )
        throw QoSRuleParameterConflict({
          rule_value: Number(rule.max_kbps),
          policy_id: policyId,
          existing_rule: other.type,
          existing_value: Number(other.min_kbps),
        });
      if (
        rule.type === 'minimum_bandwidth' &&
        other.type === 'bandwidth_limit' &&
        Number(other.max_kbps) < Number(rule.min_kbps)
      )
        throw QoSRuleParameterConflict({
          rule_value: Number(rule.min_kbps),
          policy_id: policyId,
          existing_rule: other.type,
          existing_value: Number(other.max_kbps),
        });
    }
    const same = others.find(
      (o) => o.id !== rule.id && o.type === rule.type && o.direction === rule.direction,
    );
    if (same) throw QoSRulesConflict({ new_rule_type: rule.type, rule_id: same.id, policy_id: policyId });
  }

  /**
   * Neutron's `validate_policy` after a rule change: a policy that now holds a rule the driver does
   * not support cannot stay on a port (QosRuleNotSupported 409; the transaction is undone).
   */
  async #checkApplied(tx: Tx, policyId: string): Promise<void> {
    const port = await portWithPolicy(tx, policyId);
    if (port) await checkPolicyForPort(tx, policyId, port);
  }

  /** A rule change is a change of its policy: its revision grows and the change feed says so. */
  async #touch(tx: Tx, policy: Stored): Promise<void> {
    await updateResource(tx, 'qos_policies', policy, policy);
  }

  async createRule(ctx: Context, policyId: string, type: RuleType, body: QosRuleBody): Promise<RuleView> {
    const fields = parseRule(type, body, true);
    return this.#store.retrying(() =>
      this.#store.transaction(async (tx) => {
        const policy = await this.get(ctx, policyId, tx);
        requireManager(ctx, policy.project_id, `create_policy_${type}_rule`);
        const rule: RuleRow = {
          id: randomUUID(),
          qos_policy_id: policy.id,
          type,
          direction: '',
          max_kbps: null,
          max_burst_kbps: null,
          min_kbps: null,
          dscp_mark: null,
          created_at: now(),
          ...fields,
        };
        this.#checkConflicts(policy.id, await rulesOf(tx, [policy.id]), rule);
        await tx.insertInto('qos_rules').values(rule).execute();
        await this.#checkApplied(tx, policy.id);
        await this.#touch(tx, policy);
        return ruleView(rule);
      }),
    );
  }

  async updateRule(
    ctx: Context,
    policyId: string,
    type: RuleType,
    ruleId: string,
    body: QosRuleBody,
  ): Promise<RuleView> {
    const fields = parseRule(type, body, false);
    return this.#store.transaction(async (tx) => {
      const policy = await this.get(ctx, policyId, tx);
      requireManager(ctx, policy.project_id, `update_policy_${type}_rule`);
      const current = await this.#rule(tx, policy.id, type, ruleId);
      const rule = { ...current, ...fields };
      this.#checkConflicts(policy.id, await rulesOf(tx, [policy.id]), rule);
      const { id: _id, created_at: _at, ...changes } = rule;
      await tx.updateTable('qos_rules').set(changes).where('id', '=', ruleId).execute();
      await this.#checkApplied(tx, policy.id);
      await this.#touch(tx, policy);
      return ruleView(rule);
    });
  }

  async removeRule(ctx: Context, policyId: string, type: RuleType, ruleId: string): Promise<void> {
    await this.#store.transaction(async (tx) => {
      const policy = await this.get(ctx, policyId, tx);
      requireManager(ctx, policy.project_id, `delete_policy_${type}_rule`);
      await this.#rule(tx, policy.id, type, ruleId);
      await tx.deleteFrom('qos_rules').where('id', '=', ruleId).execute();
      await this.#touch(tx, policy);
    });
  }

  /** The policy of rule `ruleId` of `type` (qos-rules-alias), else QosRuleNotFound without a policy. */
  async policyOfRule(type: RuleType, ruleId: string): Promise<string> {
    const row = await this.#store.db
      .selectFrom('qos_rules')
      .select('qos_policy_id')
      .where('id', '=', ruleId)
      .where('type', '=', type)
      .executeTakeFirst();
    if (!row) throw QosRuleNotFound({ rule_id: ruleId, policy_id: '' });
    return row.qos_policy_id;
  }

  // Rule types (`/v2.0/qos/rule-types`).

  /** The rule types the data plane enforces (Neutron lists those its drivers support). */
  ruleTypes(filters: { all_rules?: boolean; all_supported?: boolean }): { type: string }[] {
    const types = filters.all_rules ? [...RULE_TYPES] : ENFORCED;
    return types.map((type) => ({ type }));
  }

  /**
   * One rule type with the drivers that enforce it and their parameters (admins only); a type
   * Neutrino accepts but does not enforce (minimum bandwidth) has no driver.
   */
  ruleType(ctx: Context, type: string): { type: string; drivers: unknown[] } {
    if (!ctx.isAdmin) throw NotAuthorized();
    if (!(RULE_TYPES as readonly string[]).includes(type))
      throw NotFound({ msg: 'The resource could not be found.' });
    const parameters = SUPPORTED_PARAMETERS[type];
    return {
      type,
      drivers: parameters
        ? [
            {
              name: QOS_DRIVER,
              supported_parameters: parameters.map(({ parameter_name, values }) => ({
                parameter_name,
                parameter_values: values,
                parameter_type: Array.isArray(values) ? 'choices' : 'range',
              })),
            },
          ]
        : [],
    };
  }
}
