/**
 * Security groups and their rules: per-port stateful packet filters. A group is a named set of
 * rules; a rule allows one direction, family, protocol and port range from a remote (a CIDR or
 * the members of a group). Traffic no rule allows is dropped.
 */
import { type Static, Type } from 'typebox';
import {
  Closed,
  Description,
  Nullable,
  ProjectId,
  Standard,
  StandardCreate,
  StandardUpdate,
  Tags,
  Uuid,
} from './common.js';

const { id, project_id, tenant_id, description, tags, created_at, updated_at, revision_number } = Standard;

export const SecurityGroupRule = Closed({
  id,
  project_id,
  tenant_id,
  security_group_id: Uuid,
  direction: Type.Enum(['ingress', 'egress']),
  ethertype: Type.Enum(['IPv4', 'IPv6']),
  /** A protocol name (`tcp`, `ipv6-icmp`, …), a number as a string (`'6'`), or null for any. */
  protocol: Nullable(Type.String()),
  /** Lowest port, or the ICMP type. */
  port_range_min: Nullable(Type.Integer()),
  /** Highest port, or the ICMP code. */
  port_range_max: Nullable(Type.Integer()),
  /** The CIDR as given (host bits kept); `normalized_cidr` is its network. */
  remote_ip_prefix: Nullable(Type.String()),
  remote_group_id: Nullable(Uuid),
  remote_address_group_id: Nullable(Uuid),
  normalized_cidr: Nullable(Type.String()),
  belongs_to_default_sg: Nullable(Type.Boolean()),
  description,
  tags,
  created_at,
  updated_at,
  revision_number,
});
export type SecurityGroupRule = Static<typeof SecurityGroupRule>;

/** A port number or ICMP type/code; strings of digits are accepted as Neutron does. */
const PortValue = Type.Optional(Nullable(Type.Union([Type.Integer(), Type.String({ maxLength: 16 })])));

/** Protocol and ethertype are loosely typed here: the service normalises them with Neutron's errors. */
export const SecurityGroupRuleCreate = Closed({
  security_group_id: Uuid,
  direction: Type.Enum(['ingress', 'egress']),
  ethertype: Type.Optional(Type.String({ maxLength: 40 })),
  protocol: Type.Optional(Nullable(Type.Union([Type.String({ maxLength: 40 }), Type.Integer()]))),
  port_range_min: PortValue,
  port_range_max: PortValue,
  remote_ip_prefix: Type.Optional(Nullable(Type.String({ maxLength: 64 }))),
  remote_group_id: Type.Optional(Nullable(Uuid)),
  remote_address_group_id: Type.Optional(Nullable(Uuid)),
  description: Type.Optional(Description),
  project_id: Type.Optional(ProjectId),
  tenant_id: Type.Optional(ProjectId),
  tags: Type.Optional(Tags),
});
export type SecurityGroupRuleCreate = Static<typeof SecurityGroupRuleCreate>;

/**
 * Rules never change after create. The update body still names the rule's attributes so the
 * answer can say which one is read-only, as Neutron does.
 */
export const SecurityGroupRuleUpdate = Closed(
  Object.fromEntries(
    Object.keys(SecurityGroupRuleCreate.properties).map((k) => [k, Type.Optional(Type.Unknown())]),
  ),
);
export type SecurityGroupRuleUpdate = Static<typeof SecurityGroupRuleUpdate>;

export const SecurityGroup = Closed({
  ...Standard,
  stateful: Type.Boolean(),
  /** True when an RBAC policy shares the group with the viewer (read-only). */
  shared: Type.Boolean(),
  security_group_rules: Type.Array(SecurityGroupRule),
});
export type SecurityGroup = Static<typeof SecurityGroup>;

export const SecurityGroupCreate = Closed({
  ...StandardCreate,
  stateful: Type.Optional(Type.Boolean()),
});
export type SecurityGroupCreate = Static<typeof SecurityGroupCreate>;

export const SecurityGroupUpdate = Closed({
  ...StandardUpdate,
  stateful: Type.Optional(Type.Boolean()),
});
export type SecurityGroupUpdate = Static<typeof SecurityGroupUpdate>;
