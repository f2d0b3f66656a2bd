/**
 * Kernel and Open vSwitch names of a port's and a network's devices, as Neutron names them: a
 * 3-character prefix and the first 11 characters of the resource id (14 characters; IFNAMSIZ is 16
 * with the NUL). The L2 drivers (`agent/drivers/*`) lay them out; a trace names them.
 */

import { createHash } from 'node:crypto';

const ID_CHARS = 11;

/** The linuxbridge driver's Linux bridge carrying network `networkId`. */
export function networkBridgeName(networkId: string): string {
  return `brq${networkId.slice(0, ID_CHARS)}`;
}

/** The host end of a port's veth (on its network's bridge, or its own `qbr` with hybrid plug). */
export function tapName(portId: string): string {
  return `tap${portId.slice(0, ID_CHARS)}`;
}

/** The namespace end of a service port's veth (DHCP). */
export function namespaceDeviceName(portId: string): string {
  return `ns-${portId.slice(0, ID_CHARS)}`;
}

/** The openvswitch driver's integration bridge. */
export const INTEGRATION_BRIDGE = 'br-int';

/** The openvswitch driver's tunnel bridge. */
export const TUNNEL_BRIDGE = 'br-tun';

/** Hybrid plug: the port's own Linux bridge (security groups filter there). */
export function hybridBridgeName(portId: string): string {
  return `qbr${portId.slice(0, ID_CHARS)}`;
}

/** Hybrid plug: the end of the port's veth pair on its `qbr`. */
export function hybridBridgeEnd(portId: string): string {
  return `qvb${portId.slice(0, ID_CHARS)}`;
}

/** Hybrid plug: the end of the port's veth pair on `br-int`. */
export function integrationEnd(portId: string): string {
  return `qvo${portId.slice(0, ID_CHARS)}`;
}

/** The linuxbridge driver's VXLAN device of the vxlan network with VNI `vni`. */
export function vxlanName(vni: number): string {
  return `vxlan-${vni}`;
}

/**
 * The openvswitch driver's VXLAN port on `br-tun` towards the tunnel endpoint `ip`, as Neutron
 * names it: `vxlan-` and the IPv4 address in hex (`vxlan-0a000102`), or 8 hex digits of an IPv6
 * address's SHA-1.
 */
export function tunnelPortName(ip: string): string {
  const v4 = /^(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(ip);
  const hex = v4
    ? v4
        .slice(1)
        .map((octet) => Number(octet).toString(16).padStart(2, '0'))
        .join('')
    : createHash('sha1').update(ip).digest('hex').slice(0, 8);
  return `vxlan-${hex}`;
}
