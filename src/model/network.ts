/** A network: an isolated layer-2 segment (a bridge per host; VXLAN between hosts). */
import { type Static, Type } from 'typebox';
import { Closed, Nullable, Standard, StandardCreate, StandardUpdate, Uuid } from './common.js';

export const NetworkTypes = ['local', 'flat', 'vlan', 'vxlan'] as const;

export const Network = Closed({
  ...Standard,
  admin_state_up: Type.Boolean(),
  status: Type.String(),
  shared: Type.Boolean(),
  'router:external': Type.Boolean(),
  mtu: Type.Integer(),
  port_security_enabled: Type.Boolean(),
  subnets: Type.Array(Type.String()),
  'provider:network_type': Type.String(),
  'provider:physical_network': Nullable(Type.String()),
  'provider:segmentation_id': Nullable(Type.Integer()),
  availability_zones: Type.Array(Type.String()),
  availability_zone_hints: Type.Array(Type.String()),
  ipv4_address_scope: Nullable(Type.String()),
  ipv6_address_scope: Nullable(Type.String()),
  l2_adjacency: Type.Boolean(),
  /** The network's QoS policy (`qos`), applied to its compute ports without one of their own. */
  qos_policy_id: Nullable(Type.String()),
});
export type Network = Static<typeof Network>;

const Provider = {
  'provider:network_type': Type.Optional(Type.String({ maxLength: 32 })),
  'provider:physical_network': Type.Optional(Nullable(Type.String({ maxLength: 64 }))),
  'provider:segmentation_id': Type.Optional(Nullable(Type.Integer({ minimum: 0 }))),
};

export const NetworkCreate = Closed({
  ...StandardCreate,
  admin_state_up: Type.Optional(Type.Boolean()),
  shared: Type.Optional(Type.Boolean()),
  'router:external': Type.Optional(Type.Boolean()),
  mtu: Type.Optional(Type.Integer({ minimum: 68, maximum: 65535 })),
  port_security_enabled: Type.Optional(Type.Boolean()),
  availability_zone_hints: Type.Optional(Type.Array(Type.String({ maxLength: 255 }), { maxItems: 32 })),
  qos_policy_id: Type.Optional(Nullable(Uuid)),
  ...Provider,
});
export type NetworkCreate = Static<typeof NetworkCreate>;

export const NetworkUpdate = Closed({
  ...StandardUpdate,
  admin_state_up: Type.Optional(Type.Boolean()),
  shared: Type.Optional(Type.Boolean()),
  'router:external': Type.Optional(Type.Boolean()),
  mtu: Type.Optional(Type.Integer({ minimum: 68, maximum: 65535 })),
  port_security_enabled: Type.Optional(Type.Boolean()),
  qos_policy_id: Type.Optional(Nullable(Uuid)),
  ...Provider,
});
export type NetworkUpdate = Static<typeof NetworkUpdate>;
