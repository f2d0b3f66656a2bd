/**
 * Kernel and Open vSwitch names of a port's and a network's devices, as Neutron names them: a
 * 3-character prefix and the first 11 characters of the resource id (14 characters; IFNAMSIZ is 16
 * with the NUL). The L2 drivers (`agent/drivers/*`) lay them out; a trace names them.
 */

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
