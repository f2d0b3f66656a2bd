/**
 * A port: a virtual NIC on a network, with its MAC, fixed IPs, security groups and binding
 * (which host realises it, and how).
 */
import { type Static, type TSchema, Type } from 'typebox';
import { Closed, Nullable, Standard, StandardCreate, StandardUpdate, Uuid } from './common.js';

export const VnicTypes = [
  'normal',
  'direct',
  'macvtap',
  'baremetal',
  'direct-physical',
  'virtio-forwarder',
  'smart-nic',
  'vdpa',
  'accelerator-direct',
  'accelerator-direct-physical',
  'remote-managed',
] as const;

const Address = Type.String({ maxLength: 64 });
const Mac = Type.String({ maxLength: 32 });
/** One line: these values end up in dnsmasq's files. */
const OneLine = (maxLength: number) => Type.String({ maxLength, pattern: '^[^\\r\\n]*$' });
const Dict = Type.Record(Type.String(), Type.Unknown());
/**
 * Lists Neutron leaves unbounded get a ceiling here; those it bounds by a setting
 * (`allowed_address_pairs`, and `fixed_ips` below the ceiling) are counted by the service.
 */
const List = <T extends TSchema>(item: T, maxItems: number) => Type.Array(item, { maxItems });

export const FixedIp = Closed({ subnet_id: Uuid, ip_address: Address });
export type FixedIp = Static<typeof FixedIp>;

/** A fixed_ips item of a request: a subnet, an address, or both. */
export const FixedIpRequest = Closed({ subnet_id: Type.Optional(Uuid), ip_address: Type.Optional(Address) });
export type FixedIpRequest = Static<typeof FixedIpRequest>;
/**
 * A request's fixed_ips: `maxFixedIpsPerPort` (default 5) holds for most ports; `network:`
 * owners are exempt from it, as in Neutron, but not from this.
 */
export const FixedIpRequests = List(FixedIpRequest, 1000);

export const AddressPair = Closed({ ip_address: Address, mac_address: Mac });
export type AddressPair = Static<typeof AddressPair>;
const AddressPairRequest = Closed({ ip_address: Address, mac_address: Type.Optional(Mac) });

export const ExtraDhcpOpt = Closed({
  opt_name: Type.String(),
  opt_value: Type.String(),
  ip_version: Type.Integer(),
});
export type ExtraDhcpOpt = Static<typeof ExtraDhcpOpt>;
const ExtraDhcpOptRequest = Closed({
  opt_name: Type.String({ minLength: 1, maxLength: 64, pattern: '^[^\\r\\n]+$' }),
  opt_value: Nullable(OneLine(255)),
  ip_version: Type.Optional(Type.Enum([4, 6])),
});
export type ExtraDhcpOptRequest = Static<typeof ExtraDhcpOptRequest>;

export const DnsAssignment = Closed({
  hostname: Type.String(),
  ip_address: Type.String(),
  fqdn: Type.String(),
});

export const Port = Closed({
  ...Standard,
  network_id: Uuid,
  admin_state_up: Type.Boolean(),
  mac_address: Type.String(),
  fixed_ips: Type.Array(FixedIp),
  device_id: Type.String(),
  device_owner: Type.String(),
  status: Type.String(),
  'binding:host_id': Type.String(),
  'binding:vif_type': Type.String(),
  'binding:vif_details': Dict,
  'binding:vnic_type': Type.String(),
  'binding:profile': Dict,
  allowed_address_pairs: Type.Array(AddressPair),
  port_security_enabled: Type.Boolean(),
  security_groups: Type.Array(Uuid),
  extra_dhcp_opts: Type.Array(ExtraDhcpOpt),
  dns_name: Type.String(),
  dns_assignment: Type.Array(DnsAssignment),
  ip_allocation: Type.String(),
  propagate_uplink_status: Type.Boolean(),
  resource_request: Nullable(Dict),
  /** The port's own QoS policy (`qos`); a compute port without one takes its network's. */
  qos_policy_id: Nullable(Uuid),
  /** Its network's QoS policy (`qos-port-network-policy`; read-only). */
  qos_network_policy_id: Nullable(Uuid),
});
export type Port = Static<typeof Port>;

/** Attributes both create and update accept. */
const Writable = {
  admin_state_up: Type.Optional(Type.Boolean()),
  mac_address: Type.Optional(Mac),
  fixed_ips: Type.Optional(FixedIpRequests),
  device_id: Type.Optional(Type.String({ maxLength: 255 })),
  device_owner: Type.Optional(Type.String({ maxLength: 255 })),
  'binding:host_id': Type.Optional(OneLine(255)),
  'binding:vnic_type': Type.Optional(Type.Enum([...VnicTypes])),
  'binding:profile': Type.Optional(Nullable(Dict)),
  allowed_address_pairs: Type.Optional(Nullable(Type.Array(AddressPairRequest))),
  port_security_enabled: Type.Optional(Type.Boolean()),
  security_groups: Type.Optional(Nullable(List(Uuid, 64))),
  extra_dhcp_opts: Type.Optional(Nullable(List(ExtraDhcpOptRequest, 64))),
  dns_name: Type.Optional(Type.String({ maxLength: 255 })),
  propagate_uplink_status: Type.Optional(Type.Boolean()),
  qos_policy_id: Type.Optional(Nullable(Uuid)),
};

export const PortCreate = Closed({ ...StandardCreate, ...Writable, network_id: Uuid });
export type PortCreate = Static<typeof PortCreate>;

export const PortUpdate = Closed({ ...StandardUpdate, ...Writable });
export type PortUpdate = Static<typeof PortUpdate>;
