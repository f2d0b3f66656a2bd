/**
 * QoS (Neutron's `qos`, `qos-bw-limit-direction`, `qos-default`, `qos-rules-alias`,
 * `qos-rule-type-details`): a policy is a named set of rules that networks, ports, floating IPs
 * and router gateways name by `qos_policy_id`. Its rules live under it
 * (`/v2.0/qos/policies/{id}/<type>_rules`) and, by id alone, under `/v2.0/qos/alias-<type>-rules`.
 * Numbers are taken as Neutron's `convert_to_int` takes them (integers or numeric strings) and
 * checked by the service, which answers in Neutron's words.
 */
import { type Static, Type } from 'typebox';
import { Closed, Description, Name, ProjectId, Standard, StandardCreate, Uuid } from './common.js';

/** The rule types, as `type` in a policy's `rules` and in `/v2.0/qos/rule-types`. */
export const RULE_TYPES = ['bandwidth_limit', 'dscp_marking', 'minimum_bandwidth'] as const;
export type RuleType = (typeof RULE_TYPES)[number];

/** neutron-lib's VALID_DSCP_MARKS: the DSCP values of the standard per-hop behaviours. */
export const VALID_DSCP_MARKS = [
  0, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30, 32, 34, 36, 38, 40, 44, 46, 48, 56,
] as const;

/** neutron-lib's DB_INTEGER_MAX_VALUE: the upper bound of every kbps attribute. */
export const KBPS_MAX = 2 ** 31 - 1;

const Bool = Type.Union([Type.Boolean(), Type.String({ maxLength: 8 })]);
/** An integer or a numeric string (Neutron's `convert_to_int`); null is refused as Neutron does. */
const Int = Type.Union([Type.Integer(), Type.String({ maxLength: 32 }), Type.Null()]);
const Direction = Type.String({ maxLength: 16 });

export const QosPolicy = Closed({
  ...Standard,
  shared: Type.Boolean(),
  is_default: Type.Boolean(),
  rules: Type.Array(Type.Record(Type.String(), Type.Unknown())),
});
export type QosPolicy = Static<typeof QosPolicy>;

export const QosPolicyCreate = Closed({
  ...StandardCreate,
  shared: Type.Optional(Bool),
  is_default: Type.Optional(Bool),
});
export type QosPolicyCreate = Static<typeof QosPolicyCreate>;

export const QosPolicyUpdate = Closed({
  name: Type.Optional(Name),
  description: Type.Optional(Description),
  shared: Type.Optional(Bool),
  is_default: Type.Optional(Bool),
});
export type QosPolicyUpdate = Static<typeof QosPolicyUpdate>;

/** Every rule's attributes as a create or update may give them (which apply depends on the type). */
export const QosRuleBody = Closed({
  max_kbps: Type.Optional(Int),
  max_burst_kbps: Type.Optional(Int),
  min_kbps: Type.Optional(Int),
  dscp_mark: Type.Optional(Int),
  direction: Type.Optional(Direction),
  project_id: Type.Optional(ProjectId),
  tenant_id: Type.Optional(ProjectId),
});
export type QosRuleBody = Static<typeof QosRuleBody>;

/** The attributes each rule type takes, those a create must give, and those an update may change. */
export const RULE_ATTRIBUTES: Record<RuleType, { all: string[]; required: string[] }> = {
  bandwidth_limit: { all: ['max_kbps', 'max_burst_kbps', 'direction'], required: ['max_kbps'] },
  dscp_marking: { all: ['dscp_mark'], required: ['dscp_mark'] },
  minimum_bandwidth: { all: ['min_kbps', 'direction'], required: ['min_kbps'] },
};

/** A rule as its sub-collection shows it (`id` and its type's attributes). */
export const QosRule = Type.Object({
  id: Uuid,
  max_kbps: Type.Optional(Type.Integer()),
  max_burst_kbps: Type.Optional(Type.Integer()),
  min_kbps: Type.Optional(Type.Integer()),
  dscp_mark: Type.Optional(Type.Integer()),
  direction: Type.Optional(Type.String()),
});
export type QosRule = Static<typeof QosRule>;
