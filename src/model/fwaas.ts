/**
 * Firewall as a service (neutron-fwaas's `fwaas_v2`, under `/v2.0/fwaas/`): firewall rules
 * (a match and an action), firewall policies (an ordered list of rules) and firewall groups (an
 * ingress and an egress policy applied to ports). Attributes Neutron converts (booleans,
 * integers, ports as numbers) are taken loosely here and converted and checked by the service,
 * which answers in neutron-lib's words.
 */
import { type Static, Type } from 'typebox';
import {
  Closed,
  Description,
  Name,
  Nullable,
  ProjectId,
  Standard,
  StandardCreate,
  Tags,
  Uuid,
} from './common.js';

const { id, name, description, project_id, tenant_id, created_at, updated_at, revision_number } = Standard;
const standard = {
  id,
  name,
  description,
  project_id,
  tenant_id,
  tags: Tags,
  created_at,
  updated_at,
  revision_number,
};

/** neutron-lib's convert_to_boolean takes booleans and their spellings as strings or 0/1. */
const Bool = Type.Union([Type.Boolean(), Type.String({ maxLength: 8 }), Type.Integer()]);
const Loose = Type.Union([Type.String({ maxLength: 64 }), Type.Integer(), Type.Null()]);

export const FirewallRule = Closed({
  ...standard,
  shared: Type.Boolean(),
  protocol: Nullable(Type.String()),
  ip_version: Type.Integer(),
  source_ip_address: Nullable(Type.String()),
  destination_ip_address: Nullable(Type.String()),
  source_port: Nullable(Type.String()),
  destination_port: Nullable(Type.String()),
  action: Type.String(),
  enabled: Type.Boolean(),
  /** The policies holding the rule (on show; null in lists, as neutron-fwaas answers). */
  firewall_policy_id: Nullable(Type.Array(Uuid)),
});
export type FirewallRule = Static<typeof FirewallRule>;

const ruleWritable = {
  name: Type.Optional(Name),
  description: Type.Optional(Description),
  shared: Type.Optional(Bool),
  protocol: Type.Optional(Loose),
  ip_version: Type.Optional(Loose),
  source_ip_address: Type.Optional(Loose),
  destination_ip_address: Type.Optional(Loose),
  source_port: Type.Optional(Loose),
  destination_port: Type.Optional(Loose),
  action: Type.Optional(Loose),
  enabled: Type.Optional(Bool),
};

export const FirewallRuleCreate = Closed({
  ...ruleWritable,
  project_id: StandardCreate.project_id,
  tenant_id: StandardCreate.tenant_id,
  tags: StandardCreate.tags,
});
export type FirewallRuleCreate = Static<typeof FirewallRuleCreate>;
export const FirewallRuleUpdate = Closed(ruleWritable);
export type FirewallRuleUpdate = Static<typeof FirewallRuleUpdate>;

const RuleIds = Nullable(Type.Array(Uuid, { maxItems: 10_000 }));

export const FirewallPolicy = Closed({
  ...standard,
  shared: Type.Boolean(),
  audited: Type.Boolean(),
  firewall_rules: Type.Array(Uuid),
});
export type FirewallPolicy = Static<typeof FirewallPolicy>;

const policyWritable = {
  name: Type.Optional(Name),
  description: Type.Optional(Description),
  shared: Type.Optional(Bool),
  audited: Type.Optional(Bool),
  firewall_rules: Type.Optional(RuleIds),
};
export const FirewallPolicyCreate = Closed({
  ...policyWritable,
  project_id: StandardCreate.project_id,
  tenant_id: StandardCreate.tenant_id,
  tags: StandardCreate.tags,
});
export type FirewallPolicyCreate = Static<typeof FirewallPolicyCreate>;
export const FirewallPolicyUpdate = Closed(policyWritable);
export type FirewallPolicyUpdate = Static<typeof FirewallPolicyUpdate>;

/** The body of `PUT …/firewall_policies/{id}/insert_rule` and `…/remove_rule`. */
export const RuleInfo = Type.Object(
  {
    firewall_rule_id: Type.Optional(Loose),
    insert_before: Type.Optional(Loose),
    insert_after: Type.Optional(Loose),
  },
  { additionalProperties: false },
);
export type RuleInfo = Static<typeof RuleInfo>;

/** neutron-fwaas's statuses of a group (INACTIVE: no ports or no policy; DOWN: admin down). */
export const FirewallGroupStatus = Type.Union([
  Type.Literal('ACTIVE'),
  Type.Literal('INACTIVE'),
  Type.Literal('DOWN'),
  Type.Literal('PENDING_CREATE'),
  Type.Literal('PENDING_UPDATE'),
  Type.Literal('PENDING_DELETE'),
  Type.Literal('ERROR'),
]);

export const FirewallGroup = Closed({
  ...standard,
  shared: Type.Boolean(),
  admin_state_up: Type.Boolean(),
  status: FirewallGroupStatus,
  ingress_firewall_policy_id: Nullable(Uuid),
  egress_firewall_policy_id: Nullable(Uuid),
  ports: Type.Array(Uuid),
});
export type FirewallGroup = Static<typeof FirewallGroup>;

const groupWritable = {
  name: Type.Optional(Name),
  description: Type.Optional(Description),
  shared: Type.Optional(Bool),
  admin_state_up: Type.Optional(Bool),
  ingress_firewall_policy_id: Type.Optional(Nullable(Uuid)),
  egress_firewall_policy_id: Type.Optional(Nullable(Uuid)),
  ports: Type.Optional(Nullable(Type.Array(Uuid, { maxItems: 10_000 }))),
};
export const FirewallGroupCreate = Closed({
  ...groupWritable,
  project_id: Type.Optional(ProjectId),
  tenant_id: Type.Optional(ProjectId),
  tags: StandardCreate.tags,
});
export type FirewallGroupCreate = Static<typeof FirewallGroupCreate>;
export const FirewallGroupUpdate = Closed(groupWritable);
export type FirewallGroupUpdate = Static<typeof FirewallGroupUpdate>;
