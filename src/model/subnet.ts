/** A subnet: an IPv4 or IPv6 range on a network, with the pools ports take addresses from. */
import { type Static, Type } from 'typebox';
import { Closed, Nullable, Standard, StandardCreate, StandardUpdate, Uuid } from './common.js';

export const Ipv6Modes = ['slaac', 'dhcpv6-stateful', 'dhcpv6-stateless'] as const;
const Ipv6Mode = Type.Enum([...Ipv6Modes]);
const Address = Type.String({ maxLength: 64 });

export const AllocationPool = Closed({ start: Address, end: Address });
export type AllocationPool = Static<typeof AllocationPool>;

export const HostRoute = Closed({ destination: Address, nexthop: Address });
export type HostRoute = Static<typeof HostRoute>;

const ServiceTypes = Type.Array(Type.String({ maxLength: 255 }), { maxItems: 32 });

export const Subnet = Closed({
  ...Standard,
  network_id: Uuid,
  ip_version: Type.Integer(),
  cidr: Type.String(),
  gateway_ip: Nullable(Type.String()),
  allocation_pools: Type.Array(AllocationPool),
  dns_nameservers: Type.Array(Type.String()),
  host_routes: Type.Array(HostRoute),
  enable_dhcp: Type.Boolean(),
  ipv6_ra_mode: Nullable(Type.String()),
  ipv6_address_mode: Nullable(Type.String()),
  subnetpool_id: Nullable(Type.String()),
  service_types: ServiceTypes,
  segment_id: Nullable(Type.String()),
});
export type Subnet = Static<typeof Subnet>;

/** Attributes both create and update accept. */
const Writable = {
  gateway_ip: Type.Optional(Nullable(Address)),
  /** Every allocation walks the pools: a ceiling Neutron does not have. */
  allocation_pools: Type.Optional(Type.Array(AllocationPool, { maxItems: 100 })),
  dns_nameservers: Type.Optional(Nullable(Type.Array(Address))),
  host_routes: Type.Optional(Nullable(Type.Array(HostRoute))),
  enable_dhcp: Type.Optional(Type.Boolean()),
  service_types: Type.Optional(ServiceTypes),
};

export const SubnetCreate = Closed({
  ...StandardCreate,
  ...Writable,
  network_id: Uuid,
  ip_version: Type.Enum([4, 6]),
  cidr: Type.Optional(Address),
  ipv6_ra_mode: Type.Optional(Nullable(Ipv6Mode)),
  ipv6_address_mode: Type.Optional(Nullable(Ipv6Mode)),
  subnetpool_id: Type.Optional(Nullable(Uuid)),
  use_default_subnetpool: Type.Optional(Type.Boolean()),
  /** With a subnet pool: the prefix length to allocate (Neutron's `convert_to_int`). */
  prefixlen: Type.Optional(Type.Union([Type.Integer(), Type.String({ maxLength: 32 })])),
  /** Routed networks (segments) are not implemented: only null is accepted. */
  segment_id: Type.Optional(Type.Null()),
});
export type SubnetCreate = Static<typeof SubnetCreate>;

export const SubnetUpdate = Closed({ ...StandardUpdate, ...Writable });
export type SubnetUpdate = Static<typeof SubnetUpdate>;
