/**
 * Kernel names of the linuxbridge driver, as Neutron's: a 3-character prefix and the first 11
 * characters of the resource id, 14 characters in all (IFNAMSIZ is 16 with the NUL); VLAN devices
 * are `<interface>.<vid>`, shortened with a hash as Neutron does when that is too long.
 */
import { createHash } from 'node:crypto';

export {
  namespaceDeviceName,
  networkBridgeName as bridgeName,
  tapName,
  vxlanName,
} from '../../../model/device-names.js';

/** The longest link name the kernel takes (IFNAMSIZ - 1). */
export const MAX_LINK_NAME = 15;
const HASH_CHARS = 6;

/**
 * The VLAN device of VLAN `vid` on host interface `iface`: `eth1.100`; when that would exceed 15
 * characters, the start of the interface name and the first 6 hex digits of its SHA-1 before the
 * `.<vid>`, as Neutron's `get_subinterface_name` does (`enp5s0f1np1.100` still fits).
 */
export function vlanName(iface: string, vid: number): string {
  const postfix = `.${vid}`;
  if (iface.length + postfix.length <= MAX_LINK_NAME) return `${iface}${postfix}`;
  const keep = MAX_LINK_NAME - postfix.length - HASH_CHARS;
  const hash = createHash('sha1').update(iface).digest('hex').slice(0, HASH_CHARS);
  return `${iface.slice(0, keep)}${hash}${postfix}`;
}
