/**
 * Firewall as a service (neutron-fwaas's `fwaas_v2`): firewall rules, policies (ordered rules)
 * and groups (an ingress and an egress policy on ports), with neutron-fwaas's validation, errors
 * and defaults. Each is visible to its project, to admins and, when `shared`, to everyone; only
 * admins share. A project's `default` group (policies `default ingress`: deny, `default egress`:
 * allow, for IPv4 and IPv6) is created on its first use of firewall groups, as neutron-fwaas does.
 *
 * A group holds router interface ports and instance (`compute:*`) ports of its project, a port in
 * one group at most; an instance port must be bound to a host (neutron-fwaas's L2 check: an
 * unbound port is FirewallGroupPortNotSupported), any other owner is FirewallGroupPortInvalid.
 * Directions are the port's network's, as neutron-fwaas's L3 driver has them: ingress is what the
 * router sends into the port's network, egress what it receives from it; on an instance port, as
 * its L2 extension has them, ingress is what the instance receives, egress what it sends.
 * Unlike neutron-fwaas, a newly bound instance port does not join its project's default group:
 * that group's ingress policy drops everything, and joining is left to an explicit request.
 * A group's status follows neutron-fwaas's agent: INACTIVE without ports or without any policy,
 * DOWN when administratively down, else ACTIVE (the agent applies changes within a sync; no
 * PENDING_* state is shown).
 */
import { randomUUID } from 'node:crypto';
import ipaddr from 'ipaddr.js';
import type { Kysely } from 'kysely';
import { isComputeOwner, ROUTER_INTERFACE_OWNERS } from '../model/device-owners.js';
import type {
  FirewallGroupCreate,
  FirewallGroupUpdate,
  FirewallPolicyCreate,
  FirewallPolicyUpdate,
  FirewallRuleCreate,
  FirewallRuleUpdate,
  RuleInfo,
} from '../model/fwaas.js';
import type { SnapshotFirewallRule, SnapshotPortFirewall } from '../model/host-snapshot.js';
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
import { isUniqueViolation, type Store, type Tx } from '../store/store.js';
import { type Context, owns, requireWriter, targetProject } from './context.js';
import {
  FirewallDefaultObjectUpdateRestricted,
  FirewallDefaultParameterExists,
  FirewallGroupCannotRemoveDefault,
  FirewallGroupInUse,
  FirewallGroupNotFound,
  FirewallGroupPortInUse,
  FirewallGroupPortInvalid,
  FirewallGroupPortInvalidProject,
  FirewallGroupPortNotSupported,
  FirewallIpAddressConflict,
  FirewallPolicyConflict,
  FirewallPolicyInUse,
  FirewallPolicyNotFound,
  FirewallPolicySharingConflict,
  FirewallRuleAlreadyAssociated,
  FirewallRuleConflict,
  FirewallRuleInfoMissing,
  FirewallRuleInUse,
  FirewallRuleInvalidICMPParameter,
  FirewallRuleInvalidPortValue,
  FirewallRuleNotAssociatedWithPolicy,
  FirewallRuleNotFound,
  FirewallRuleSharingConflict,
  FirewallRuleWithPortWithoutProtocolInvalid,
  InvalidAttribute,
  InvalidInput,
  PolicyNotAuthorized,
  RevisionNumberConstraintFailed,
} from './errors.js';
import type { ListHint, ResourceService, View } from './resource.js';
import type { TraceFirewall, TraceFirewallRule } from './trace/model.js';

/** neutron-fwaas's reserved names (fwaas_constants). */
export const DEFAULT_FWG = 'default';
export const DEFAULT_FWP_INGRESS = 'default ingress';
export const DEFAULT_FWP_EGRESS = 'default egress';
/** neutron-lib's FW_PROTOCOL_VALUES: IPTABLES_PROTOCOL_MAP's names (or null: any protocol). */
const PROTOCOLS = ['dccp', 'icmp', 'ipv6-icmp', 'sctp', 'tcp', 'udp'];
const ACTIONS = ['allow', 'deny', 'reject'];
/** neutron-fwaas's `_is_supported_l2_port`: these VIF types have no host to filter on. */
const UNBOUND = ['unbound', 'binding_failed'];
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** The driver name neutron-fwaas puts in FirewallGroupPortNotSupported. */
const DRIVER = 'neutrino (bound instance ports only)';

/** Python's repr of a list of strings, as neutron-lib's messages print them. */
const pyList = (values: string[]) => `[${values.map((v) => `'${v}'`).join(', ')}]`;

/** neutron-lib's convert_to_boolean. */
function toBoolean(raw: unknown): boolean {
  if (typeof raw === 'boolean') return raw;
  const lower = String(raw).toLowerCase();
  if (lower === 'true' || lower === '1') return true;
  if (lower === 'false' || lower === '0') return false;
  throw InvalidInput({ error_message: `'${String(raw)}' cannot be converted to boolean` });
}

function protocolOf(raw: unknown): string | null {
  if (raw === null || raw === undefined) return null;
  const text = String(raw);
  if (PROTOCOLS.includes(text)) return text;
  const n = Number(text);
  if (text.trim() === '' || !Number.isInteger(n) || n < 0 || n > 255) {
    throw InvalidInput({
      error_message: `IP protocol '${text}' is not supported. Only protocol names and their integer representation (0 to 255) are supported`,
    });
  }
  // convert_to_protocol takes a number; the rule's `type:values` then refuses it.
  throw InvalidAttribute({ attr: 'protocol', reason: `${text} is not in valid_values` });
}

function ipVersionOf(raw: unknown): 4 | 6 {
  const n = typeof raw === 'number' ? raw : Number(String(raw));
  if (!Number.isInteger(n) || String(raw).trim() === '')
    throw InvalidInput({ error_message: `'${String(raw)}' is not an integer` });
  if (n !== 4 && n !== 6)
    throw InvalidAttribute({ attr: 'ip_version', reason: `${n} is not in valid_values` });
  return n;
}

function addressOf(attr: string, raw: unknown): string | null {
  if (raw === null || raw === undefined) return null;
  const text = String(raw);
  if (!ipaddr.isValid(text) && !ipaddr.isValidCIDR(text))
    throw InvalidAttribute({
      attr,
      reason: `'${text}' is neither a valid IP address, nor is it a valid IP subnet`,
    });
  return text;
}

const versionOf = (address: string) =>
  ipaddr.parse(address.split('/')[0] as string).kind() === 'ipv4' ? 4 : 6;

/** neutron-lib's port_range validator and neutron-fwaas's min/max normalisation ("80:80" is "80"). */
function portRangeOf(attr: string, raw: unknown): string | null {
  if (raw === null || raw === undefined) return null;
  const parts = String(raw).split(':');
  if (parts.length > 2 || parts.some((p) => p.length === 0))
    throw InvalidAttribute({ attr, reason: 'Port range must be two integers separated by a colon' });
  for (const p of parts) {
    const n = Number(p);
    if (!/^\d+$/.test(p) || n < 0 || n > 65535)
      throw InvalidAttribute({ attr, reason: `Invalid port: ${p}` });
  }
  const [min, max = min] = parts.map(Number) as [number, number?];
  if (min > (max as number)) throw FirewallRuleInvalidPortValue({ port: `${min}:${max}` });
  return min === max ? String(min) : `${min}:${max}`;
}

/** A rule's attributes after neutron-fwaas's checks (`_validate_fwr_*`). */
function checkRule(rule: Record<string, unknown>): void {
  const { protocol, source_port, destination_port } = rule;
  if (protocol && protocol !== 'tcp' && protocol !== 'udp' && (source_port || destination_port))
    throw FirewallRuleInvalidICMPParameter({ param: 'Source, destination port' });
  if (!protocol && (source_port || destination_port)) throw FirewallRuleWithPortWithoutProtocolInvalid();
  for (const key of ['source_ip_address', 'destination_ip_address']) {
    const address = rule[key];
    if (typeof address === 'string' && versionOf(address) !== rule.ip_version)
      throw FirewallIpAddressConflict();
  }
}

function ruleAttributes(body: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const key of ['name', 'description'] as const) if (body[key] !== undefined) out[key] = body[key];
  if (body.shared !== undefined) out.shared = toBoolean(body.shared);
  if (body.enabled !== undefined) out.enabled = toBoolean(body.enabled);
  if ('protocol' in body) out.protocol = protocolOf(body.protocol);
  if (body.ip_version !== undefined) out.ip_version = ipVersionOf(body.ip_version);
  for (const key of ['source_ip_address', 'destination_ip_address'])
    if (key in body) out[key] = addressOf(key, body[key]);
  for (const key of ['source_port', 'destination_port'])
    if (key in body) out[key] = portRangeOf(key, body[key]);
  if (body.action !== undefined) {
    const action = body.action === null ? 'None' : String(body.action).toLowerCase();
    if (!ACTIONS.includes(action))
      throw InvalidAttribute({ attr: 'action', reason: `${action} is not in valid_values` });
    out.action = action;
  }
  return out;
}

/** neutron-fwaas's status of a group (see the module comment). */
function statusOf(group: Record<string, unknown>): string {
  const ports = group.ports as string[];
  if (ports.length === 0 || (!group.ingress_firewall_policy_id && !group.egress_firewall_policy_id))
    return 'INACTIVE';
  return group.admin_state_up === true ? 'ACTIVE' : 'DOWN';
}

const visible = (ctx: Context, row: Stored) =>
  ctx.isAdmin || row.project_id === ctx.projectId || row.shared === true;

function refuseSharing(ctx: Context, body: { shared?: unknown }, action: string): void {
  if (body.shared !== undefined && toBoolean(body.shared) && !ctx.isAdmin)
    throw PolicyNotAuthorized({ action: `${action}:shared` });
}

/** Firewall rules; `firewall_policy_id` lists the policies holding one on show (else null). */
export class FirewallRules implements ResourceService<FirewallRuleCreate, FirewallRuleUpdate> {
  readonly table = 'firewall_rules' as const;
  readonly #store: Store;

  constructor(store: Store) {
    this.#store = store;
  }

  async list(ctx: Context, hint: ListHint): Promise<View[]> {
    const ids = hint.filters.id;
    const rows = await listResources(
      this.#store.db,
      this.table,
      ids ? { column: 'id', values: ids } : undefined,
    );
    return rows.filter((r) => visible(ctx, r));
  }

  async get(ctx: Context, id: string, db: Kysely<Database> = this.#store.db): Promise<Stored> {
    const row = await getResource(db, this.table, id);
    if (!row || !visible(ctx, row)) throw FirewallRuleNotFound({ firewall_rule_id: id });
    return row;
  }

  async show(ctx: Context, id: string): Promise<View> {
    const rule = await this.get(ctx, id);
    const policies = await policiesWithRule(this.#store.db, id);
    return { ...rule, firewall_policy_id: policies.length > 0 ? policies.map((p) => p.id) : null };
  }

  async create(ctx: Context, bodies: FirewallRuleCreate[]): Promise<View[]> {
    requireWriter(ctx, 'create_firewall_rule');
    const prepared = bodies.map((body) => {
      refuseSharing(ctx, body, 'create_firewall_rule');
      const rule = {
        name: '',
        description: '',
        shared: false,
        protocol: null,
        ip_version: 4,
        source_ip_address: null,
        destination_ip_address: null,
        source_port: null,
        destination_port: null,
        action: 'deny',
        enabled: true,
        ...ruleAttributes(body),
      };
      checkRule(rule);
      return { project: targetProject(ctx, body, 'create_firewall_rule'), rule, tags: body.tags ?? [] };
    });
    return this.#store.transaction(async (tx) => {
      const out: View[] = [];
      for (const { project, rule, tags } of prepared)
        out.push(await insertRule(tx, project, { ...rule, tags }));
      return out;
    });
  }

  async update(ctx: Context, id: string, body: FirewallRuleUpdate, ifRevision?: number): Promise<View> {
    refuseSharing(ctx, body, 'update_firewall_rule');
    const changes = ruleAttributes(body);
    return this.#store.transaction(async (tx) => {
      const current = await this.#owned(ctx, id, 'update_firewall_rule', tx);
      const next: Record<string, unknown> = { ...current, ...changes, firewall_policy_id: null };
      checkRule(next);
      if (next.shared === false && current.shared === true) {
        for (const policy of await policiesWithRule(tx, id))
          if (policy.shared === true)
            throw FirewallPolicySharingConflict({ firewall_rule_id: id, firewall_policy_id: policy.id });
      }
      const updated = await updateResource(tx, this.table, current, next, {}, ifRevision);
      // A changed rule is a changed policy: its audit no longer holds (and its groups' hosts wake).
      for (const policy of await policiesWithRule(tx, id))
        await updateResource(tx, 'firewall_policies', policy, { ...policy, audited: false });
      return updated;
    });
  }

  async remove(ctx: Context, id: string, ifRevision?: number): Promise<void> {
    await this.#store.transaction(async (tx) => {
      const current = await this.#owned(ctx, id, 'delete_firewall_rule', tx);
      checkRevision(current, ifRevision);
      if ((await policiesWithRule(tx, id)).length > 0) throw FirewallRuleInUse({ firewall_rule_id: id });
      await deleteResource(tx, this.table, current);
    });
  }

  async #owned(ctx: Context, id: string, action: string, tx: Tx): Promise<Stored> {
    requireWriter(ctx, action);
    const row = await this.get(ctx, id, tx);
    if (!owns(ctx, row.project_id)) throw PolicyNotAuthorized({ action });
    return row;
  }
}

function checkRevision(current: Stored, ifRevision: number | undefined): void {
  if (ifRevision !== undefined && ifRevision !== current.revision_number)
    throw RevisionNumberConstraintFailed({ expected: ifRevision, current: current.revision_number });
}

async function insertRule(tx: Tx, project: string, rule: Record<string, unknown>): Promise<View> {
  return insertResource(tx, 'firewall_rules', {
    id: randomUUID(),
    project_id: project,
    ...rule,
    firewall_policy_id: null,
  });
}

/** The policies whose rules include `ruleId` (rule ids are UUIDs: safe inside LIKE). */
async function policiesWithRule(db: Kysely<Database>, ruleId: string): Promise<Stored[]> {
  const rows = await db
    .selectFrom('firewall_policies')
    .select('id')
    .where('doc', 'like', `%"${ruleId}"%`)
    .execute();
  const out: Stored[] = [];
  for (const { id } of rows) {
    const policy = await getResource(db, 'firewall_policies', id);
    if (policy && (policy.firewall_rules as string[]).includes(ruleId)) out.push(policy);
  }
  return out;
}

/** The groups using `policyId` in either direction. */
async function groupsWithPolicy(db: Kysely<Database>, policyId: string): Promise<Stored[]> {
  const rows = await db
    .selectFrom('firewall_groups')
    .select('id')
    .where('doc', 'like', `%"${policyId}"%`)
    .execute();
  const out: Stored[] = [];
  for (const { id } of rows) {
    const group = await getResource(db, 'firewall_groups', id);
    if (
      group &&
      (group.ingress_firewall_policy_id === policyId || group.egress_firewall_policy_id === policyId)
    )
      out.push(group);
  }
  return out;
}

export class FirewallPolicies implements ResourceService<FirewallPolicyCreate, FirewallPolicyUpdate> {
  readonly table = 'firewall_policies' as const;
  readonly #store: Store;
  readonly #rules: FirewallRules;

  constructor(store: Store, rules: FirewallRules) {
    this.#store = store;
    this.#rules = rules;
  }

  async list(ctx: Context, hint: ListHint): Promise<View[]> {
    const ids = hint.filters.id;
    const rows = await listResources(
      this.#store.db,
      this.table,
      ids ? { column: 'id', values: ids } : undefined,
    );
    return rows.filter((r) => visible(ctx, r));
  }

  async get(ctx: Context, id: string, db: Kysely<Database> = this.#store.db): Promise<Stored> {
    const row = await getResource(db, this.table, id);
    if (!row || !visible(ctx, row)) throw FirewallPolicyNotFound({ firewall_policy_id: id });
    return row;
  }

  async show(ctx: Context, id: string): Promise<View> {
    return this.get(ctx, id);
  }

  async create(ctx: Context, bodies: FirewallPolicyCreate[]): Promise<View[]> {
    requireWriter(ctx, 'create_firewall_policy');
    for (const body of bodies) {
      refuseSharing(ctx, body, 'create_firewall_policy');
      if (body.name === DEFAULT_FWP_INGRESS || body.name === DEFAULT_FWP_EGRESS)
        throw FirewallDefaultParameterExists({ resource_type: 'Firewall Policy', name: body.name });
    }
    return this.#store.transaction(async (tx) => {
      const out: View[] = [];
      for (const body of bodies) {
        const project = targetProject(ctx, body, 'create_firewall_policy');
        const id = randomUUID();
        const shared = body.shared === undefined ? false : toBoolean(body.shared);
        const rules = body.firewall_rules ?? [];
        await this.#checkRules(ctx, tx, { id, project_id: project, shared }, rules, shared);
        out.push(
          await insertResource(tx, this.table, {
            id,
            project_id: project,
            name: body.name ?? '',
            description: body.description ?? '',
            shared,
            audited: body.audited === undefined ? false : toBoolean(body.audited),
            firewall_rules: rules,
            tags: body.tags ?? [],
          }),
        );
      }
      return out;
    });
  }

  /** neutron-fwaas's `_check_rules_for_policy_is_valid`. */
  async #checkRules(
    ctx: Context,
    tx: Tx,
    policy: { id: string; project_id: string; shared?: unknown },
    ruleIds: string[],
    sharing: boolean | undefined,
  ): Promise<void> {
    for (const ruleId of ruleIds) {
      const rule = await getResource(tx, 'firewall_rules', ruleId);
      if (!rule || !visible(ctx, rule)) throw FirewallRuleNotFound({ firewall_rule_id: ruleId });
      const shared = sharing ?? policy.shared === true;
      if (shared && rule.shared !== true)
        throw FirewallRuleSharingConflict({ firewall_rule_id: ruleId, firewall_policy_id: policy.id });
      if (!shared && rule.shared !== true && rule.project_id !== policy.project_id)
        throw FirewallRuleConflict({ firewall_rule_id: ruleId, project_id: rule.project_id });
    }
  }

  async update(ctx: Context, id: string, body: FirewallPolicyUpdate, ifRevision?: number): Promise<View> {
    refuseSharing(ctx, body, 'update_firewall_policy');
    return this.#store.transaction(async (tx) => {
      const current = await this.#owned(ctx, id, 'update_firewall_policy', tx);
      if (current.name === DEFAULT_FWP_INGRESS || current.name === DEFAULT_FWP_EGRESS)
        throw FirewallDefaultObjectUpdateRestricted({ resource_type: 'Firewall Group', resource_id: id });
      const next: Record<string, unknown> = { ...current };
      for (const key of ['name', 'description'] as const) if (body[key] !== undefined) next[key] = body[key];
      const sharing = body.shared === undefined ? undefined : toBoolean(body.shared);
      if (sharing === false) {
        for (const group of await groupsWithPolicy(tx, id))
          if (group.project_id !== current.project_id) throw FirewallPolicyInUse({ firewall_policy_id: id });
      }
      if (body.firewall_rules !== undefined) {
        const rules = body.firewall_rules ?? [];
        await this.#checkRules(ctx, tx, current, rules, sharing);
        next.firewall_rules = rules;
      } else if (sharing === true) {
        for (const ruleId of current.firewall_rules as string[]) {
          const rule = await getResource(tx, 'firewall_rules', ruleId);
          if (rule && rule.shared !== true)
            throw FirewallPolicySharingConflict({ firewall_rule_id: ruleId, firewall_policy_id: id });
        }
      }
      if (sharing !== undefined) next.shared = sharing;
      // Any change but one to `audited` itself resets it, as neutron-fwaas does.
      next.audited = body.audited === undefined ? false : toBoolean(body.audited);
      return updateResource(tx, this.table, current, next, {}, ifRevision);
    });
  }

  /** `PUT …/insert_rule`: before `insert_before`, else after `insert_after`, else first. */
  async insertRule(ctx: Context, id: string, info: RuleInfo | undefined): Promise<View> {
    const ruleId = checkRuleInfo(info);
    const reference = (info?.insert_before || info?.insert_after || null) as string | null;
    const before = Boolean(info?.insert_before);
    return this.#store.transaction(async (tx) => {
      const current = await this.#owned(ctx, id, 'insert_rule', tx);
      const rules = current.firewall_rules as string[];
      if (rules.includes(ruleId))
        throw FirewallRuleAlreadyAssociated({ firewall_rule_id: ruleId, firewall_policy_id: id });
      const rule = await this.#rules.get(ctx, ruleId, tx);
      if (rule.shared !== true && rule.project_id !== current.project_id)
        throw FirewallRuleConflict({ firewall_rule_id: ruleId, project_id: rule.project_id });
      let position = 0;
      if (reference) {
        const at = rules.indexOf(String(reference));
        if (at < 0)
          throw FirewallRuleNotAssociatedWithPolicy({
            firewall_rule_id: String(reference),
            firewall_policy_id: id,
          });
        position = before ? at : at + 1;
      }
      const next = [...rules.slice(0, position), ruleId, ...rules.slice(position)];
      return updateResource(tx, this.table, current, { ...current, firewall_rules: next, audited: false });
    });
  }

  /** `PUT …/remove_rule`. */
  async removeRule(ctx: Context, id: string, info: RuleInfo | undefined): Promise<View> {
    const ruleId = checkRuleInfo(info);
    return this.#store.transaction(async (tx) => {
      const current = await this.#owned(ctx, id, 'remove_rule', tx);
      await this.#rules.get(ctx, ruleId, tx);
      const rules = current.firewall_rules as string[];
      if (!rules.includes(ruleId))
        throw FirewallRuleNotAssociatedWithPolicy({ firewall_rule_id: ruleId, firewall_policy_id: id });
      const next = rules.filter((r) => r !== ruleId);
      return updateResource(tx, this.table, current, { ...current, firewall_rules: next, audited: false });
    });
  }

  async remove(ctx: Context, id: string, ifRevision?: number): Promise<void> {
    await this.#store.transaction(async (tx) => {
      const current = await this.#owned(ctx, id, 'delete_firewall_policy', tx);
      checkRevision(current, ifRevision);
      if ((await groupsWithPolicy(tx, id)).length > 0) throw FirewallPolicyInUse({ firewall_policy_id: id });
      await deleteResource(tx, this.table, current);
    });
  }

  async #owned(ctx: Context, id: string, action: string, tx: Tx): Promise<Stored> {
    requireWriter(ctx, action);
    const row = await this.get(ctx, id, tx);
    if (!owns(ctx, row.project_id)) throw PolicyNotAuthorized({ action });
    return row;
  }
}

/** neutron-fwaas's `_validate_insert_remove_rule_request`. */
function checkRuleInfo(info: RuleInfo | undefined): string {
  if (!info || info.firewall_rule_id === undefined) throw FirewallRuleInfoMissing();
  const id = String(info.firewall_rule_id);
  if (!UUID.test(id)) throw FirewallRuleNotFound({ firewall_rule_id: id });
  return id;
}

/** The rules, policies and group a project's first use of firewall groups creates. */
async function ensureDefaultGroup(tx: Tx, projectId: string): Promise<void> {
  const existing = await tx
    .selectFrom('default_firewall_groups')
    .select('firewall_group_id')
    .where('project_id', '=', projectId)
    .executeTakeFirst();
  if (existing) return;
  const groupId = randomUUID();
  // A concurrent first use fails here on the key; callers retry and find the other's group.
  await tx
    .insertInto('default_firewall_groups')
    .values({ project_id: projectId, firewall_group_id: groupId })
    .execute();
  const rule = async (direction: 'ingress' | 'egress', version: 4 | 6) =>
    (
      await insertRule(tx, projectId, {
        name: `default ${direction} ipv${version}`,
        description: `default ${direction} rule for IPv${version}`,
        shared: false,
        protocol: null,
        ip_version: version,
        source_ip_address: null,
        destination_ip_address: null,
        source_port: null,
        destination_port: null,
        action: direction === 'ingress' ? 'deny' : 'allow',
        enabled: true,
        tags: [],
      })
    ).id;
  const policy = async (name: string, description: string, rules: string[]) =>
    (
      await insertResource(tx, 'firewall_policies', {
        id: randomUUID(),
        project_id: projectId,
        name,
        description,
        shared: false,
        audited: false,
        firewall_rules: rules,
        tags: [],
      })
    ).id;
  const ingress = await policy(DEFAULT_FWP_INGRESS, 'Ingress firewall policy', [
    await rule('ingress', 4),
    await rule('ingress', 6),
  ]);
  const egress = await policy(DEFAULT_FWP_EGRESS, 'Egress firewall policy', [
    await rule('egress', 4),
    await rule('egress', 6),
  ]);
  await insertResource(tx, 'firewall_groups', {
    id: groupId,
    project_id: projectId,
    name: DEFAULT_FWG,
    description: 'Default firewall group',
    shared: false,
    admin_state_up: true,
    status: 'INACTIVE',
    ingress_firewall_policy_id: ingress,
    egress_firewall_policy_id: egress,
    ports: [],
    tags: [],
  });
}

/** Lookups of ports the groups service needs (the port service's, by its visibility rules). */
export interface PortLookup {
  get(ctx: Context, id: string, db: Kysely<Database>): Promise<Stored>;
}

export class FirewallGroups implements ResourceService<FirewallGroupCreate, FirewallGroupUpdate> {
  readonly table = 'firewall_groups' as const;
  /** Run in the deleting transaction (the group's network logs go with it). */
  readonly onDelete: ((tx: Tx, group: Stored) => Promise<void>)[] = [];
  readonly #store: Store;
  readonly #policies: FirewallPolicies;
  readonly #ports: PortLookup;

  constructor(store: Store, policies: FirewallPolicies, ports: PortLookup) {
    this.#store = store;
    this.#policies = policies;
    this.#ports = ports;
  }

  /** Lists, creating the caller's project's default group first (neutron-fwaas's get_firewall_groups). */
  async list(ctx: Context, hint: ListHint): Promise<View[]> {
    const project = hint.filters.tenant_id?.[0] ?? hint.filters.project_id?.[0] ?? ctx.projectId;
    if (project && (project === ctx.projectId || ctx.isAdmin)) await this.#ensureDefault(project);
    const ids = hint.filters.id;
    const rows = await listResources(
      this.#store.db,
      this.table,
      ids ? { column: 'id', values: ids } : undefined,
    );
    return rows.filter((r) => visible(ctx, r));
  }

  async #ensureDefault(project: string): Promise<void> {
    const known = await this.#store.db
      .selectFrom('default_firewall_groups')
      .select('project_id')
      .where('project_id', '=', project)
      .executeTakeFirst();
    if (known) return;
    await this.#store.retrying(() => this.#store.transaction((tx) => ensureDefaultGroup(tx, project)));
  }

  async get(ctx: Context, id: string, db: Kysely<Database> = this.#store.db): Promise<Stored> {
    const row = await getResource(db, this.table, id);
    if (!row || !visible(ctx, row)) throw FirewallGroupNotFound({ firewall_id: id });
    return row;
  }

  async show(ctx: Context, id: string): Promise<View> {
    return this.get(ctx, id);
  }

  async create(ctx: Context, bodies: FirewallGroupCreate[]): Promise<View[]> {
    requireWriter(ctx, 'create_firewall_group');
    const prepared = bodies.map((body) => {
      refuseSharing(ctx, body, 'create_firewall_group');
      if (body.name === DEFAULT_FWG)
        throw FirewallDefaultParameterExists({ resource_type: 'Firewall Group', name: body.name });
      return { body, project: targetProject(ctx, body, 'create_firewall_group') };
    });
    for (const project of new Set(prepared.map((p) => p.project))) await this.#ensureDefault(project);
    return this.#store.transaction(async (tx) => {
      const out: View[] = [];
      for (const { body, project } of prepared) {
        const group: Record<string, unknown> = {
          id: randomUUID(),
          project_id: project,
          name: body.name ?? '',
          description: body.description ?? '',
          shared: body.shared === undefined ? false : toBoolean(body.shared),
          admin_state_up: body.admin_state_up === undefined ? true : toBoolean(body.admin_state_up),
          ingress_firewall_policy_id: body.ingress_firewall_policy_id ?? null,
          egress_firewall_policy_id: body.egress_firewall_policy_id ?? null,
          ports: [...new Set(body.ports ?? [])],
          tags: body.tags ?? [],
        };
        await this.#checkPolicies(ctx, tx, group);
        await this.#checkPorts(ctx, tx, group, []);
        group.status = statusOf(group);
        out.push(await insertResource(tx, this.table, group as Stored));
        await this.#bindPorts(tx, group.id as string, group.ports as string[], []);
      }
      return out;
    });
  }

  async update(ctx: Context, id: string, body: FirewallGroupUpdate, ifRevision?: number): Promise<View> {
    refuseSharing(ctx, body, 'update_firewall_group');
    if (body.name === DEFAULT_FWG)
      throw FirewallDefaultParameterExists({ resource_type: 'Firewall Group', name: body.name });
    return this.#store.transaction(async (tx) => {
      const current = await this.#owned(ctx, id, 'update_firewall_group', tx);
      if (current.name === DEFAULT_FWG) {
        const restricted = ctx.isAdmin
          ? ['name']
          : [
              'name',
              'description',
              'admin_state_up',
              'ingress_firewall_policy_id',
              'egress_firewall_policy_id',
            ];
        if (restricted.some((key) => key in body))
          throw FirewallDefaultObjectUpdateRestricted({ resource_type: 'Firewall Group', resource_id: id });
      }
      const next: Record<string, unknown> = { ...current };
      for (const key of [
        'name',
        'description',
        'ingress_firewall_policy_id',
        'egress_firewall_policy_id',
      ] as const)
        if (body[key] !== undefined) next[key] = body[key];
      if (body.shared !== undefined) next.shared = toBoolean(body.shared);
      if (body.admin_state_up !== undefined) next.admin_state_up = toBoolean(body.admin_state_up);
      if (body.ports !== undefined) next.ports = [...new Set(body.ports ?? [])];
      await this.#checkPolicies(ctx, tx, next);
      const before = current.ports as string[];
      if (body.ports !== undefined) await this.#checkPorts(ctx, tx, next, before);
      next.status = statusOf(next);
      const updated = await updateResource(tx, this.table, current, next, {}, ifRevision);
      await this.#bindPorts(tx, id, next.ports as string[], before);
      return updated;
    });
  }

  async remove(ctx: Context, id: string, ifRevision?: number): Promise<void> {
    await this.#store.transaction(async (tx) => {
      const current = await this.#owned(ctx, id, 'delete_firewall_group', tx);
      checkRevision(current, ifRevision);
      if (current.name === DEFAULT_FWG && !ctx.isAdmin) throw FirewallGroupCannotRemoveDefault();
      if ((current.ports as string[]).length > 0) throw FirewallGroupInUse({ firewall_id: id });
      for (const hook of this.onDelete) await hook(tx, current);
      await deleteResource(tx, this.table, current);
      if (current.name === DEFAULT_FWG) {
        // As neutron-fwaas: an admin's delete of a default group takes its two policies along.
        await tx.deleteFrom('default_firewall_groups').where('firewall_group_id', '=', id).execute();
        for (const policyId of [current.ingress_firewall_policy_id, current.egress_firewall_policy_id]) {
          const policy = policyId ? await getResource(tx, 'firewall_policies', String(policyId)) : undefined;
          if (policy && (await groupsWithPolicy(tx, policy.id)).length === 0)
            await deleteResource(tx, 'firewall_policies', policy);
        }
      }
    });
  }

  /** neutron-fwaas's `_validate_firewall_policies_for_firewall_group`. */
  async #checkPolicies(ctx: Context, tx: Tx, group: Record<string, unknown>): Promise<void> {
    for (const key of ['ingress_firewall_policy_id', 'egress_firewall_policy_id']) {
      const policyId = group[key];
      if (!policyId) continue;
      const policy = await this.#policies.get(ctx, String(policyId), tx);
      if (policy.project_id !== group.project_id && policy.shared !== true)
        throw FirewallPolicyConflict({ firewall_policy_id: String(policyId) });
    }
  }

  /** neutron-fwaas's `_validate_ports_for_firewall_group` and `_validate_if_firewall_group_on_ports`. */
  async #checkPorts(ctx: Context, tx: Tx, group: Record<string, unknown>, before: string[]): Promise<void> {
    const ports = group.ports as string[];
    for (const portId of ports) {
      if (before.includes(portId)) continue;
      const port = await this.#ports.get(ctx, portId, tx);
      if (port.project_id !== group.project_id)
        throw FirewallGroupPortInvalidProject({ port_id: portId, project_id: port.project_id });
      const owner = String(port.device_owner ?? '');
      if (isComputeOwner(owner)) {
        if (UNBOUND.includes(String(port['binding:vif_type'] ?? 'unbound')))
          throw FirewallGroupPortNotSupported({ port_id: portId, driver_name: DRIVER });
      } else if (!ROUTER_INTERFACE_OWNERS.includes(owner))
        throw FirewallGroupPortInvalid({ port_id: portId });
    }
    const taken = await inChunks(ports, (chunk) =>
      tx.selectFrom('firewall_group_ports').selectAll().where('port_id', 'in', chunk).execute(),
    );
    const inUse = taken.filter((row) => row.firewall_group_id !== group.id).map((row) => row.port_id);
    if (inUse.length > 0) throw FirewallGroupPortInUse({ port_ids: pyList(inUse) });
  }

  async #bindPorts(tx: Tx, groupId: string, ports: string[], before: string[]): Promise<void> {
    const gone = before.filter((p) => !ports.includes(p));
    const added = ports.filter((p) => !before.includes(p));
    if (gone.length > 0) await tx.deleteFrom('firewall_group_ports').where('port_id', 'in', gone).execute();
    try {
      for (const port_id of added)
        await tx.insertInto('firewall_group_ports').values({ port_id, firewall_group_id: groupId }).execute();
    } catch (err) {
      // A concurrent request bound the port first (checked above, decided by the key here).
      if (isUniqueViolation(err)) throw FirewallGroupPortInUse({ port_ids: pyList(added) });
      throw err;
    }
  }

  async #owned(ctx: Context, id: string, action: string, tx: Tx): Promise<Stored> {
    requireWriter(ctx, action);
    const row = await this.get(ctx, id, tx);
    if (!owns(ctx, row.project_id)) throw PolicyNotAuthorized({ action });
    return row;
  }
}

/** A deleted port leaves its firewall group (neutron-fwaas's association cascades with the port). */
export async function forgetFirewallPort(tx: Tx, portId: string): Promise<void> {
  const row = await tx
    .selectFrom('firewall_group_ports')
    .select('firewall_group_id')
    .where('port_id', '=', portId)
    .executeTakeFirst();
  if (!row) return;
  await tx.deleteFrom('firewall_group_ports').where('port_id', '=', portId).execute();
  const group = await getResource(tx, 'firewall_groups', row.firewall_group_id);
  if (!group) return;
  const next = { ...group, ports: (group.ports as string[]).filter((p) => p !== portId) };
  await updateResource(tx, 'firewall_groups', group, { ...next, status: statusOf(next) });
}

/**
 * The firewalls of the given router ports, their policies' enabled rules resolved in order, for
 * the host snapshot. Ports whose group has no policy at all are left out (INACTIVE: not applied).
 */
export async function portFirewalls(
  db: Kysely<Database>,
  portIds: string[],
): Promise<SnapshotPortFirewall[]> {
  if (portIds.length === 0) return [];
  const bindings = await inChunks([...new Set(portIds)], (chunk) =>
    db.selectFrom('firewall_group_ports').selectAll().where('port_id', 'in', chunk).execute(),
  );
  if (bindings.length === 0) return [];
  const groups = new Map(
    (
      await listResources(db, 'firewall_groups', {
        column: 'id',
        values: bindings.map((b) => b.firewall_group_id),
      })
    ).map((g) => [g.id, g]),
  );
  const policyIds = [...groups.values()].flatMap((g) =>
    [g.ingress_firewall_policy_id, g.egress_firewall_policy_id].filter(
      (p): p is string => typeof p === 'string',
    ),
  );
  const policies = new Map(
    (await listResources(db, 'firewall_policies', { column: 'id', values: policyIds })).map((p) => [p.id, p]),
  );
  const ruleIds = [...policies.values()].flatMap((p) => p.firewall_rules as string[]);
  const rules = new Map(
    (await listResources(db, 'firewall_rules', { column: 'id', values: ruleIds })).map((r) => [r.id, r]),
  );
  const resolve = (policyId: unknown): SnapshotFirewallRule[] => {
    const policy = typeof policyId === 'string' ? policies.get(policyId) : undefined;
    if (!policy) return [];
    return (policy.firewall_rules as string[])
      .map((id) => rules.get(id))
      .filter((r): r is Stored => r !== undefined && r.enabled === true)
      .map((r) => ({
        id: r.id,
        protocol: (r.protocol as string | null) ?? null,
        ip_version: r.ip_version === 6 ? 6 : 4,
        source_ip_address: (r.source_ip_address as string | null) ?? null,
        destination_ip_address: (r.destination_ip_address as string | null) ?? null,
        source_port: (r.source_port as string | null) ?? null,
        destination_port: (r.destination_port as string | null) ?? null,
        action: r.action as SnapshotFirewallRule['action'],
      }));
  };
  const out: SnapshotPortFirewall[] = [];
  for (const { port_id, firewall_group_id } of bindings) {
    const group = groups.get(firewall_group_id);
    if (!group || (!group.ingress_firewall_policy_id && !group.egress_firewall_policy_id)) continue;
    out.push({
      port_id,
      firewall_group_id,
      admin_state_up: group.admin_state_up === true,
      ingress: resolve(group.ingress_firewall_policy_id),
      egress: resolve(group.egress_firewall_policy_id),
    });
  }
  return out.sort((a, b) => a.port_id.localeCompare(b.port_id));
}

/** A router's share of `portFirewalls`: `{firewall_groups}` when some of its ports have one. */
export function firewallsOf(
  firewalls: SnapshotPortFirewall[],
  ports: { id: string }[],
): { firewall_groups?: SnapshotPortFirewall[] } {
  const own = new Set(ports.map((p) => p.id));
  const mine = firewalls.filter((f) => own.has(f.port_id));
  return mine.length > 0 ? { firewall_groups: mine } : {};
}

/**
 * The firewalls of the instance ports among `boundHere` (a host's ports), for its snapshot:
 * `{firewall_groups}` when some are in a group with a policy.
 */
export async function instanceFirewalls(
  db: Kysely<Database>,
  boundHere: Stored[],
): Promise<{ firewall_groups?: SnapshotPortFirewall[] }> {
  const instancePorts = boundHere.filter((p) => isComputeOwner(String(p.device_owner)));
  const firewalls = await portFirewalls(
    db,
    instancePorts.map((p) => p.id),
  );
  return firewalls.length > 0 ? { firewall_groups: firewalls } : {};
}

/** Every firewalled port's firewall for packet traces (`core/trace/`): rules and group named. */
export async function traceFirewalls(db: Kysely<Database>): Promise<TraceFirewall[]> {
  const bindings = await db.selectFrom('firewall_group_ports').select('port_id').execute();
  const firewalls = await portFirewalls(
    db,
    bindings.map((b) => b.port_id),
  );
  const groups = new Map(
    (
      await listResources(db, 'firewall_groups', {
        column: 'id',
        values: firewalls.map((f) => f.firewall_group_id),
      })
    ).map((g) => [g.id, String(g.name ?? '')]),
  );
  const ruleIds = firewalls.flatMap((f) => [...f.ingress, ...f.egress].map((r) => r.id));
  const names = new Map(
    (await listResources(db, 'firewall_rules', { column: 'id', values: ruleIds })).map((r) => [
      r.id,
      String(r.name ?? ''),
    ]),
  );
  const named = (rules: SnapshotFirewallRule[]): TraceFirewallRule[] =>
    rules.map((r) => ({ ...r, name: names.get(r.id) ?? '' }));
  return firewalls.map((f) => ({
    port_id: f.port_id,
    group: { id: f.firewall_group_id, name: groups.get(f.firewall_group_id) ?? '' },
    admin_state_up: f.admin_state_up,
    ingress: named(f.ingress),
    egress: named(f.egress),
  }));
}
