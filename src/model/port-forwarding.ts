/**
 * A port forwarding (Neutron's `floating-ip-port-forwarding`, with its `-description` and
 * `-port-ranges` extensions): a floating IP that is not associated 1:1 forwards one protocol's
 * external port (or range) to a port (or equally long range) of an internal port's IPv4 address.
 * It lives under its floating IP (`/v2.0/floatingips/{id}/port_forwardings`) and has no project,
 * name or tags of its own. Ranges are `"N:M"` strings; `internal_port`/`external_port` are the
 * single port when the range is one port long, else null.
 */
import { type Static, Type } from 'typebox';
import { Closed, Nullable, Uuid } from './common.js';

/** The protocols nftables can DNAT by port (Neutron accepts these names too). */
export const FORWARDED_PROTOCOLS = ['tcp', 'udp', 'sctp', 'dccp'] as const;
export type ForwardedProtocol = (typeof FORWARDED_PROTOCOLS)[number];

const Address = Type.String({ maxLength: 64 });
/** A port as clients send it: a number, or a numeric string (the CLI's `--…-protocol-port`). */
const PortNumber = Type.Union([Type.Integer(), Type.String({ maxLength: 16 })]);
const Range = Type.Union([Type.String({ maxLength: 16 }), Type.Integer()]);
const Text = Type.String({ maxLength: 255 });

export const PortForwarding = Closed({
  id: Uuid,
  protocol: Type.String(),
  internal_ip_address: Address,
  internal_port: Nullable(Type.Integer()),
  internal_port_id: Uuid,
  external_port: Nullable(Type.Integer()),
  description: Text,
  internal_port_range: Type.String(),
  external_port_range: Type.String(),
});
export type PortForwarding = Static<typeof PortForwarding>;

/** What a create may say and an update may change, besides the protocol and the internal port. */
const Changeable = {
  internal_ip_address: Type.Optional(Nullable(Address)),
  internal_port: Type.Optional(Nullable(PortNumber)),
  external_port: Type.Optional(Nullable(PortNumber)),
  internal_port_range: Type.Optional(Nullable(Range)),
  external_port_range: Type.Optional(Nullable(Range)),
  description: Type.Optional(Text),
};
const Protocol = Type.String({ maxLength: 16 });

export const PortForwardingCreate = Closed({
  protocol: Protocol,
  internal_port_id: Uuid,
  ...Changeable,
  project_id: Type.Optional(Type.String({ maxLength: 255 })),
  tenant_id: Type.Optional(Type.String({ maxLength: 255 })),
});
export type PortForwardingCreate = Static<typeof PortForwardingCreate>;

export const PortForwardingUpdate = Closed({
  protocol: Type.Optional(Protocol),
  internal_port_id: Type.Optional(Uuid),
  ...Changeable,
});
export type PortForwardingUpdate = Static<typeof PortForwardingUpdate>;

/** What a floating IP shows of each of its port forwardings (expose-port-forwarding-in-fip, -detail). */
export const FloatingIpPortForwarding = Closed({
  id: Uuid,
  protocol: Type.String(),
  internal_ip_address: Address,
  internal_port: Nullable(Type.Integer()),
  internal_port_id: Uuid,
  external_port: Nullable(Type.Integer()),
});
export type FloatingIpPortForwarding = Static<typeof FloatingIpPortForwarding>;
