/**
 * Security group rules: Neutron's normalisation (protocol names and numbers, legacy IPv6 ICMP
 * spellings, the full port range meaning "any port", a CIDR's missing mask), its validation
 * errors, and duplicate detection. Rules are created and deleted, never updated; every change
 * also revises the rule's group, so followers of the change feed see the group change.
 */
import { randomUUID } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { SecurityGroupRuleCreate, SecurityGroupRuleUpdate } from '../model/security-group.js';
import { byFilterChunks } from '../store/chunks.js';
import {
  deleteResource,
  fromRow,
  getResource,
  insertResource,
  listResources,
  type Stored,
} from '../store/resources.js';
import type { Database, ResourceRow } from '../store/schema.js';
import type { Store } from '../store/store.js';
import type { AddressGroups } from './address-groups.js';
import { type Context, callerProject, owns, requireWriter, targetProject } from './context.js';
import type { RuleDoc } from './default-security-group.js';
import {
  DuplicateSecurityGroupRuleInPost,
  HTTPBadRequest,
  InvalidCIDR,
  RevisionNumberConstraintFailed,
  SecurityGroupEthertypeConflictWithProtocol,
  SecurityGroupInvalidIcmpValue,
  SecurityGroupInvalidPortRange,
  SecurityGroupInvalidPortValue,
  SecurityGroupInvalidProtocolForPort,
  SecurityGroupMissingIcmpType,
  SecurityGroupMultipleRemoteEntites,
  SecurityGroupNotFound,
  SecurityGroupNotSingleGroupRules,
  SecurityGroupProtocolRequiredWithPorts,
  SecurityGroupRuleExists,
  SecurityGroupRuleInvalidEtherType,
  SecurityGroupRuleInvalidProtocol,
  SecurityGroupRuleNotFound,
  SecurityGroupRuleParameterConflict,
  SecurityGroupRulesNotSingleProject,
} from './errors.js';
import { ipVersion, normalizeCidr, normalizeIp } from './ipam.js';
import { enforce } from './quotas.js';
import type { ListHint, ResourceService, View } from './resource.js';
import { reviseGroup, ruleView, type SecurityGroups } from './security-groups.js';
import type { Settings } from './settings.js';

/** neutron_lib.constants.IP_PROTOCOL_MAP: the names a rule's protocol may take. */
const PROTOCOLS = new Map<string, number>([
  ['ah', 51],
  ['dccp', 33],
  ['egp', 8],
  ['esp', 50],
  ['gre', 47],
  ['hopopt', 0],
  ['icmp', 1],
  ['igmp', 2],
  ['ip', 0],
  ['ipip', 4],
  ['ipv6-encap', 41],
  ['ipv6-frag', 44],
  ['ipv6-icmp', 58],
  ['icmpv6', 58],
  ['ipv6-nonxt', 59],
  ['ipv6-opts', 60],
  ['ipv6-route', 43],
  ['ospf', 89],
  ['pgm', 113],
  ['rsvp', 46],
  ['sctp', 132],
  ['tcp', 6],
  ['udp', 17],
  ['udplite', 136],
  ['vrrp', 112],
]);
const SUPPORTED = `(None, 'any', ${[...PROTOCOLS.keys()].map((p) => `'${p}'`).join(', ')})`;
/** Protocols whose rules take a port range: dccp, sctp, tcp, udp, udplite. */
const PORT_PROTOCOLS = new Set([33, 132, 6, 17, 136]);
const ICMP = new Set([1, 58]);
/** Protocols that exist only over IPv6 (names and numbers). */
const IPV6_ONLY = new Set([
  'ipv6-encap',
  'ipv6-frag',
  'ipv6-icmp',
  'icmpv6',
  'ipv6-nonxt',
  'ipv6-opts',
  'ipv6-route',
  '41',
  '44',
  '58',
  '59',
  '60',
  '43',
]);
const ETHERTYPES = ['IPv4', 'IPv6'] as const;
type Ethertype = (typeof ETHERTYPES)[number];

/** What a create body becomes: the rule's attributes, normalised and validated. */
type Normalized = Pick<
  RuleDoc,
  | 'direction'
  | 'ethertype'
  | 'protocol'
  | 'port_range_min'
  | 'port_range_max'
  | 'remote_ip_prefix'
  | 'normalized_cidr'
> & { remote_group_id: string | null; remote_address_group_id: string | null };

/** Neutron's convert_protocol: null or `any` is any protocol; 0–255 a number; else a known name. */
function convertProtocol(value: string | number | null | undefined): string | null {
  if (value === null || value === undefined) return null;
  const text = String(value).trim().toLowerCase();
  if (text === 'any') return null;
  if (/^\d+$/.test(text) && Number(text) <= 255) return String(Number(text));
  if (PROTOCOLS.has(text)) return text;
  throw SecurityGroupRuleInvalidProtocol({ protocol: String(value), values: SUPPORTED });
}

function convertEthertype(value: string | undefined): Ethertype {
  const found = ETHERTYPES.find((e) => e.toLowerCase() === (value ?? 'IPv4').toLowerCase());
  if (!found) throw SecurityGroupRuleInvalidEtherType({ ethertype: value, values: "['IPv4', 'IPv6']" });
  return found;
}

function convertPort(value: string | number | null | undefined): number | null {
  if (value === null || value === undefined) return null;
  const text = String(value).trim();
  if (!/^\d+$/.test(text) || Number(text) > 65535) throw SecurityGroupInvalidPortValue({ port: value });
  return Number(text);
}

/** A remote prefix as Neutron keeps it: the address as given (canonical text) plus its mask. */
function convertPrefix(
  value: string | null | undefined,
): { prefix: string; cidr: string; family: Ethertype } | null {
  if (!value) return null;
  const [address, length, ...rest] = value.split('/');
  const version = ipVersion(address);
  const prefix = version && `${normalizeIp(address)}/${length ?? (version === 4 ? 32 : 128)}`;
  const cidr = prefix && rest.length === 0 ? normalizeCidr(prefix) : null;
  if (!prefix || !cidr) throw InvalidCIDR({ input: value });
  return { prefix, cidr, family: version === 4 ? 'IPv4' : 'IPv6' };
}

function protocolNumber(protocol: string): number {
  return PROTOCOLS.get(protocol) ?? Number(protocol);
}

/** Neutron's _validate_port_range: ports for port protocols, type/code for ICMP, nothing else. */
function validatePorts(protocol: string | null, min: number | null, max: number | null): void {
  if (min === null && max === null) return;
  if (protocol === null) throw SecurityGroupProtocolRequiredWithPorts();
  const number = protocolNumber(protocol);
  if (PORT_PROTOCOLS.has(number)) {
    if (min === 0 || max === 0) throw SecurityGroupInvalidPortValue({ port: 0 });
    if (min === null || max === null || min > max) throw SecurityGroupInvalidPortRange();
  } else if (ICMP.has(number)) {
    if (min !== null && min > 255)
      throw SecurityGroupInvalidIcmpValue({ field: 'type', attr: 'port_range_min', value: min });
    if (max !== null && max > 255)
      throw SecurityGroupInvalidIcmpValue({ field: 'code', attr: 'port_range_max', value: max });
    if (min === null) throw SecurityGroupMissingIcmpType({ value: max as number });
  } else {
    throw SecurityGroupInvalidProtocolForPort({
      protocol: String(number),
      valid_port_protocols: 'DCCP, SCTP, TCP, UDP, UDPLITE',
    });
  }
}

/** Converts and validates one create body in Neutron's order; pure, no store access. */
export function normalizeRule(body: SecurityGroupRuleCreate): Normalized {
  let protocol = convertProtocol(body.protocol);
  let min = convertPort(body.port_range_min);
  let max = convertPort(body.port_range_max);
  const ethertype = convertEthertype(body.ethertype);
  const remote = convertPrefix(body.remote_ip_prefix);
  if (ethertype === 'IPv6' && (protocol === 'icmp' || protocol === 'icmpv6')) protocol = 'ipv6-icmp';
  if (ethertype === 'IPv6' && protocol === '1') protocol = '58';
  if (min === 1 && max === 65535) min = max = null;
  validatePorts(protocol, min, max);
  if (remote && remote.family !== ethertype) {
    throw SecurityGroupRuleParameterConflict({ ethertype, cidr: String(body.remote_ip_prefix) });
  }
  if (protocol !== null && ethertype === 'IPv4' && IPV6_ONLY.has(protocol)) {
    throw SecurityGroupEthertypeConflictWithProtocol({ ethertype, protocol });
  }
  const remotes = [remote, body.remote_group_id, body.remote_address_group_id].filter(
    (r) => r !== null && r !== undefined,
  );
  if (remotes.length > 1) throw SecurityGroupMultipleRemoteEntites();
  return {
    direction: body.direction as RuleDoc['direction'],
    ethertype,
    protocol,
    port_range_min: min,
    port_range_max: max,
    remote_ip_prefix: remote?.prefix ?? null,
    normalized_cidr: remote?.cidr ?? null,
    remote_group_id: body.remote_group_id ?? null,
    remote_address_group_id: body.remote_address_group_id ?? null,
  };
}

/**
 * What makes two rules of a group the same (Neutron's _rule_to_key): protocol names and
 * numbers compare equal, and a remote of 0.0.0.0/0 or ::/0 equals no remote at all.
 */
function ruleKey(rule: Record<string, unknown>): string {
  const cidr = rule.normalized_cidr ?? null;
  const protocol = rule.protocol === null ? null : protocolNumber(String(rule.protocol));
  return JSON.stringify([
    rule.direction,
    rule.ethertype,
    protocol,
    rule.port_range_min,
    rule.port_range_max,
    rule.remote_group_id ?? null,
    rule.remote_address_group_id ?? null,
    cidr === '0.0.0.0/0' || cidr === '::/0' ? null : cidr,
  ]);
}

const ROW = ['id', 'project_id', 'revision_number', 'created_at', 'updated_at', 'doc'] as const;

export class SecurityGroupRules implements ResourceService<SecurityGroupRuleCreate, SecurityGroupRuleUpdate> {
  readonly table = 'security_group_rules' as const;
  readonly #store: Store;
  readonly #settings: Settings;
  readonly #groups: SecurityGroups;
  readonly #addressGroups: AddressGroups;

  constructor(store: Store, settings: Settings, groups: SecurityGroups, addressGroups: AddressGroups) {
    this.#store = store;
    this.#settings = settings;
    this.#groups = groups;
    this.#addressGroups = addressGroups;
  }

  /** Admins see every rule; others the rules they own and the rules of groups they own. */
  async list(ctx: Context, hint: ListHint): Promise<View[]> {
    await this.#groups.ensureDefault(ctx, hint);
    const { id, security_group_id } = hint.filters;
    let q = this.#store.db.selectFrom('security_group_rules').select(ROW);
    if (!ctx.isAdmin) {
      const project = callerProject(ctx, 'get_security_group_rule');
      q = q.where((eb) =>
        eb.or([
          eb('project_id', '=', project),
          eb(
            'security_group_id',
            'in',
            eb.selectFrom('security_groups').select('id').where('project_id', '=', project),
          ),
        ]),
      );
    }
    // A list left out of the query (`complete` false) is applied by the API's filtering.
    const { rows } = await byFilterChunks({ id, security_group_id }, (f) => {
      let narrowed = q;
      if (f.id) narrowed = narrowed.where('id', 'in', f.id);
      if (f.security_group_id) narrowed = narrowed.where('security_group_id', 'in', f.security_group_id);
      return narrowed.execute();
    });
    return rows.map((r) => ruleView(fromRow(r as ResourceRow)));
  }

  async #get(ctx: Context, id: string, db: Kysely<Database> = this.#store.db): Promise<Stored> {
    const rule = await getResource(db, 'security_group_rules', id);
    if (
      rule &&
      (owns(ctx, rule.project_id) || (await this.#ownsGroup(ctx, String(rule.security_group_id), db)))
    )
      return rule;
    throw SecurityGroupRuleNotFound({ id });
  }

  async #ownsGroup(ctx: Context, groupId: string, db: Kysely<Database>): Promise<boolean> {
    const group = await db
      .selectFrom('security_groups')
      .select('project_id')
      .where('id', '=', groupId)
      .executeTakeFirst();
    return group?.project_id === ctx.projectId;
  }

  async show(ctx: Context, id: string): Promise<View> {
    return ruleView(await this.#get(ctx, id));
  }

  /** All-or-nothing; a bulk request must name one group and one project, as in Neutron. */
  async create(ctx: Context, bodies: SecurityGroupRuleCreate[]): Promise<View[]> {
    requireWriter(ctx, 'create_security_group_rule');
    const groupIds = new Set(bodies.map((b) => b.security_group_id));
    if (groupIds.size > 1) throw SecurityGroupNotSingleGroupRules();
    const projects = new Set(bodies.map((b) => targetProject(ctx, b, 'create_security_group_rule')));
    if (projects.size > 1) throw SecurityGroupRulesNotSingleProject();
    const [groupId] = groupIds;
    const [project] = projects;
    const rules = bodies.map(normalizeRule);
    const keys = new Set<string>();
    for (const rule of rules) {
      const key = ruleKey(rule);
      if (keys.has(key)) throw DuplicateSecurityGroupRuleInPost();
      keys.add(key);
    }
    const rows = await this.#store.transaction(async (tx) => {
      const group = await this.#groups.owned(ctx, groupId, 'create_security_group_rule', tx);
      if (!(await reviseGroup(tx, groupId))) throw SecurityGroupNotFound({ id: groupId });
      for (const rule of rules) {
        if (rule.remote_group_id !== null) await this.#groups.get(ctx, rule.remote_group_id, tx);
        if (rule.remote_address_group_id !== null)
          await this.#addressGroups.get(ctx, rule.remote_address_group_id, tx);
      }
      await enforce(tx, this.#settings.quotas, project, 'security_group_rule', rules.length);
      const existing = await listResources(tx, 'security_group_rules', {
        column: 'security_group_id',
        values: [groupId],
      });
      for (const old of existing)
        if (keys.has(ruleKey(old))) throw SecurityGroupRuleExists({ rule_id: old.id });
      const isDefault = await tx
        .selectFrom('default_security_groups')
        .select('project_id')
        .where('security_group_id', '=', groupId)
        .executeTakeFirst();
      const out: Stored[] = [];
      for (const [i, rule] of rules.entries()) {
        const doc = {
          id: randomUUID(),
          project_id: project,
          security_group_id: group.id,
          ...rule,
          description: bodies[i].description ?? '',
          belongs_to_default_sg: isDefault !== undefined,
          tags: bodies[i].tags ?? [],
        };
        out.push(await insertResource(tx, 'security_group_rules', doc, { security_group_id: group.id }));
      }
      return out;
    });
    return rows.map(ruleView);
  }

  /** Neutron has no rule update: every attribute of a rule is read-only. */
  async update(_ctx: Context, _id: string, body: SecurityGroupRuleUpdate): Promise<View> {
    const [attribute] = Object.keys(body);
    throw HTTPBadRequest({
      msg: attribute
        ? `Cannot update read-only attribute ${attribute}`
        : 'Security group rules cannot be updated',
    });
  }

  async remove(ctx: Context, id: string, ifRevision?: number): Promise<void> {
    requireWriter(ctx, 'delete_security_group_rule');
    await this.#store.transaction(async (tx) => {
      const rule = await this.#get(ctx, id, tx);
      if (ifRevision !== undefined && ifRevision !== rule.revision_number) {
        throw RevisionNumberConstraintFailed({ expected: ifRevision, current: rule.revision_number });
      }
      if (!(await reviseGroup(tx, String(rule.security_group_id)))) throw SecurityGroupRuleNotFound({ id });
      await deleteResource(tx, 'security_group_rules', rule);
    });
  }
}
