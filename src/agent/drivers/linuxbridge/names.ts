/**
 * Kernel names of the linuxbridge driver, as Neutron's: a 3-character prefix and the first 11
 * characters of the resource id, 14 characters in all (IFNAMSIZ is 16 with the NUL).
 */

const ID_CHARS = 11;

/** The Linux bridge carrying network `networkId`. */
export function bridgeName(networkId: string): string {
  return `brq${networkId.slice(0, ID_CHARS)}`;
}

/** The host end of a port's veth, on its network's bridge. */
export function tapName(portId: string): string {
  return `tap${portId.slice(0, ID_CHARS)}`;
}

/** The namespace end of a service port's veth (DHCP). */
export function namespaceDeviceName(portId: string): string {
  return `ns-${portId.slice(0, ID_CHARS)}`;
}

/** The VXLAN device of segment `vni` (at most `vxlan-16777215`, 14 characters). */
export function vxlanName(vni: number): string {
  return `vxlan-${vni}`;
}
