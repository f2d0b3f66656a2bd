/**
 * A floating IP: an address on an external network, held by a port of its own
 * (`network:floatingip`), that a router maps to one fixed IPv4 address of a port (DNAT in,
 * SNAT out). It has no name. `port_details` (fip-port-details) describes the associated port;
 * `port_forwardings` (expose-port-forwarding-in-fip, -detail) what an unassociated one forwards.
 */
import { type Static, Type } from 'typebox';
import { Closed, Description, Nullable, ProjectId, Tags, Uuid } from './common.js';
import { FloatingIpPortForwarding } from './port-forwarding.js';

const Address = Type.String({ maxLength: 64 });

export const PortDetails = Closed({
  name: Type.String(),
  network_id: Uuid,
  mac_address: Type.String(),
  admin_state_up: Type.Boolean(),
  status: Type.String(),
  device_id: Type.String(),
  device_owner: Type.String(),
});

export const FloatingIp = Closed({
  id: Uuid,
  project_id: ProjectId,
  tenant_id: ProjectId,
  description: Description,
  tags: Tags,
  created_at: Type.String(),
  updated_at: Type.String(),
  revision_number: Type.Integer(),
  floating_ip_address: Address,
  floating_network_id: Uuid,
  router_id: Nullable(Uuid),
  port_id: Nullable(Uuid),
  fixed_ip_address: Nullable(Address),
  status: Type.String(),
  port_details: Nullable(PortDetails),
  port_forwardings: Type.Array(FloatingIpPortForwarding),
  qos_policy_id: Nullable(Uuid),
});
export type FloatingIp = Static<typeof FloatingIp>;

export const FloatingIpCreate = Closed({
  floating_network_id: Uuid,
  floating_ip_address: Type.Optional(Nullable(Address)),
  subnet_id: Type.Optional(Nullable(Uuid)),
  port_id: Type.Optional(Nullable(Uuid)),
  fixed_ip_address: Type.Optional(Nullable(Address)),
  description: Type.Optional(Description),
  project_id: Type.Optional(ProjectId),
  tenant_id: Type.Optional(ProjectId),
  tags: Type.Optional(Tags),
  qos_policy_id: Type.Optional(Nullable(Uuid)),
});
export type FloatingIpCreate = Static<typeof FloatingIpCreate>;

/** `port_id` null disassociates; a port (and optionally which of its addresses) associates. */
export const FloatingIpUpdate = Closed({
  port_id: Type.Optional(Nullable(Uuid)),
  fixed_ip_address: Type.Optional(Nullable(Address)),
  description: Type.Optional(Description),
  qos_policy_id: Type.Optional(Nullable(Uuid)),
});
export type FloatingIpUpdate = Static<typeof FloatingIpUpdate>;

/** One entry of `/v2.0/floatingip-pools`: an IPv4 subnet of an external network. */
export const FloatingIpPool = Closed({
  subnet_id: Uuid,
  subnet_name: Type.String(),
  network_id: Uuid,
  cidr: Type.String(),
  project_id: ProjectId,
  tenant_id: ProjectId,
});
export type FloatingIpPool = Static<typeof FloatingIpPool>;
