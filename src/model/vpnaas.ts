/**
 * VPN as a service (neutron-vpnaas's `vpnaas` and `vpn-endpoint-groups`, under `/v2.0/vpn/`): IKE
 * policies (phase 1), IPsec policies (phase 2), VPN services (a router with an external gateway),
 * endpoint groups (local subnets or peer CIDRs) and IPsec site connections joining them to a peer.
 * Attributes Neutron converts (booleans, integers, lists) are taken loosely here and converted and
 * checked by the service (`core/vpnaas.ts`), which answers in neutron-lib's words.
 */
import { type Static, Type } from 'typebox';
import { Closed, Description, Name, Nullable, Standard, StandardCreate, Tags, Uuid } from './common.js';

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
const created = {
  project_id: StandardCreate.project_id,
  tenant_id: StandardCreate.tenant_id,
  tags: StandardCreate.tags,
};

const Bool = Type.Union([Type.Boolean(), Type.String({ maxLength: 8 }), Type.Integer()]);
const Loose = Type.Union([Type.String({ maxLength: 255 }), Type.Integer(), Type.Null()]);
const LooseDict = Type.Union([Type.Record(Type.String(), Type.Unknown()), Type.Null()]);

export const Lifetime = Type.Object({ units: Type.String(), value: Type.Integer() });

export const IkePolicy = Closed({
  ...standard,
  auth_algorithm: Type.String(),
  encryption_algorithm: Type.String(),
  phase1_negotiation_mode: Type.String(),
  lifetime: Lifetime,
  ike_version: Type.String(),
  pfs: Type.String(),
});
export type IkePolicy = Static<typeof IkePolicy>;

const ikeWritable = {
  name: Type.Optional(Name),
  description: Type.Optional(Description),
  auth_algorithm: Type.Optional(Loose),
  encryption_algorithm: Type.Optional(Loose),
  phase1_negotiation_mode: Type.Optional(Loose),
  lifetime: Type.Optional(LooseDict),
  ike_version: Type.Optional(Loose),
  pfs: Type.Optional(Loose),
};
export const IkePolicyCreate = Closed({ ...ikeWritable, ...created });
export type IkePolicyCreate = Static<typeof IkePolicyCreate>;
export const IkePolicyUpdate = Closed(ikeWritable);
export type IkePolicyUpdate = Static<typeof IkePolicyUpdate>;

export const IpsecPolicy = Closed({
  ...standard,
  transform_protocol: Type.String(),
  auth_algorithm: Type.String(),
  encryption_algorithm: Type.String(),
  encapsulation_mode: Type.String(),
  lifetime: Lifetime,
  pfs: Type.String(),
});
export type IpsecPolicy = Static<typeof IpsecPolicy>;

const ipsecWritable = {
  name: Type.Optional(Name),
  description: Type.Optional(Description),
  transform_protocol: Type.Optional(Loose),
  auth_algorithm: Type.Optional(Loose),
  encryption_algorithm: Type.Optional(Loose),
  encapsulation_mode: Type.Optional(Loose),
  lifetime: Type.Optional(LooseDict),
  pfs: Type.Optional(Loose),
};
export const IpsecPolicyCreate = Closed({ ...ipsecWritable, ...created });
export type IpsecPolicyCreate = Static<typeof IpsecPolicyCreate>;
export const IpsecPolicyUpdate = Closed(ipsecWritable);
export type IpsecPolicyUpdate = Static<typeof IpsecPolicyUpdate>;

/** neutron-vpnaas's statuses of services and connections. */
export const VpnStatus = Type.Union([
  Type.Literal('ACTIVE'),
  Type.Literal('DOWN'),
  Type.Literal('BUILD'),
  Type.Literal('ERROR'),
  Type.Literal('PENDING_CREATE'),
  Type.Literal('PENDING_UPDATE'),
  Type.Literal('PENDING_DELETE'),
]);
export type VpnStatus = Static<typeof VpnStatus>;

export const VpnService = Closed({
  ...standard,
  router_id: Uuid,
  subnet_id: Nullable(Uuid),
  admin_state_up: Type.Boolean(),
  external_v4_ip: Nullable(Type.String()),
  external_v6_ip: Nullable(Type.String()),
  flavor_id: Nullable(Uuid),
  status: VpnStatus,
});
export type VpnService = Static<typeof VpnService>;

export const VpnServiceCreate = Closed({
  name: Type.Optional(Name),
  description: Type.Optional(Description),
  router_id: Type.Optional(Loose),
  subnet_id: Type.Optional(Loose),
  admin_state_up: Type.Optional(Bool),
  flavor_id: Type.Optional(Nullable(Uuid)),
  ...created,
});
export type VpnServiceCreate = Static<typeof VpnServiceCreate>;
export const VpnServiceUpdate = Closed({
  name: Type.Optional(Name),
  description: Type.Optional(Description),
  admin_state_up: Type.Optional(Bool),
});
export type VpnServiceUpdate = Static<typeof VpnServiceUpdate>;

export const EndpointGroup = Closed({
  ...standard,
  type: Type.String(),
  endpoints: Type.Array(Type.String()),
});
export type EndpointGroup = Static<typeof EndpointGroup>;

export const EndpointGroupCreate = Closed({
  name: Type.Optional(Name),
  description: Type.Optional(Description),
  type: Type.Optional(Loose),
  endpoints: Type.Optional(
    Type.Union([Type.Array(Type.String({ maxLength: 255 }), { maxItems: 1000 }), Type.String(), Type.Null()]),
  ),
  ...created,
});
export type EndpointGroupCreate = Static<typeof EndpointGroupCreate>;
export const EndpointGroupUpdate = Closed({
  name: Type.Optional(Name),
  description: Type.Optional(Description),
});
export type EndpointGroupUpdate = Static<typeof EndpointGroupUpdate>;

export const Dpd = Type.Object({ action: Type.String(), interval: Type.Integer(), timeout: Type.Integer() });

export const IpsecSiteConnection = Closed({
  ...standard,
  vpnservice_id: Uuid,
  ikepolicy_id: Uuid,
  ipsecpolicy_id: Uuid,
  peer_address: Type.String(),
  peer_id: Type.String(),
  local_id: Type.String(),
  peer_cidrs: Type.Array(Type.String()),
  local_ep_group_id: Nullable(Uuid),
  peer_ep_group_id: Nullable(Uuid),
  route_mode: Type.String(),
  mtu: Type.Integer(),
  initiator: Type.String(),
  auth_mode: Type.String(),
  psk: Type.String(),
  dpd: Dpd,
  admin_state_up: Type.Boolean(),
  status: VpnStatus,
  /**
   * Neutrino's own: why the connection is in its status, as the agent running it last saw it
   * (which IPsec data plane carries it, kernel or strongSwan's userspace; an IKE failure's reason).
   */
  status_description: Type.String(),
});
export type IpsecSiteConnection = Static<typeof IpsecSiteConnection>;

const connectionWritable = {
  name: Type.Optional(Name),
  description: Type.Optional(Description),
  peer_address: Type.Optional(Loose),
  peer_id: Type.Optional(Loose),
  local_id: Type.Optional(Loose),
  peer_cidrs: Type.Optional(
    Type.Union([Type.Array(Type.String({ maxLength: 64 }), { maxItems: 1000 }), Type.String(), Type.Null()]),
  ),
  local_ep_group_id: Type.Optional(Nullable(Type.String({ maxLength: 64 }))),
  peer_ep_group_id: Type.Optional(Nullable(Type.String({ maxLength: 64 }))),
  mtu: Type.Optional(Loose),
  initiator: Type.Optional(Loose),
  psk: Type.Optional(Loose),
  dpd: Type.Optional(LooseDict),
  admin_state_up: Type.Optional(Bool),
};
export const IpsecSiteConnectionCreate = Closed({
  ...connectionWritable,
  vpnservice_id: Type.Optional(Loose),
  ikepolicy_id: Type.Optional(Loose),
  ipsecpolicy_id: Type.Optional(Loose),
  ...created,
});
export type IpsecSiteConnectionCreate = Static<typeof IpsecSiteConnectionCreate>;
export const IpsecSiteConnectionUpdate = Closed(connectionWritable);
export type IpsecSiteConnectionUpdate = Static<typeof IpsecSiteConnectionUpdate>;

/** What an agent reports of one connection it runs (`POST …/hosts/{host}/status`). */
export const VpnConnectionReport = Type.Object(
  {
    id: Uuid,
    status: Type.Union([Type.Literal('ACTIVE'), Type.Literal('DOWN'), Type.Literal('ERROR')]),
    status_description: Type.String({ maxLength: 1024 }),
  },
  { additionalProperties: false },
);
export type VpnConnectionReport = Static<typeof VpnConnectionReport>;
