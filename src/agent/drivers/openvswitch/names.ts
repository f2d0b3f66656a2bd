/**
 * Names of the openvswitch driver, as Neutron's: the integration bridge `br-int`; per port with
 * hybrid plug the Linux bridge `qbr<port>` (security groups), the veth pair `qvb<port>` (on it) and
 * `qvo<port>` (on `br-int`), all a 3-character prefix and the first 11 characters of the port id;
 * per physical network the provider bridge `br-<physnet>` and the veth pair `int-br-<physnet>` (on
 * `br-int`) / `phy-br-<physnet>` (on the provider bridge), shortened with a hash when too long.
 */
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { MAX_LINK_NAME } from '../linuxbridge/names.js';

export {
  hybridBridgeEnd,
  hybridBridgeName,
  INTEGRATION_BRIDGE,
  integrationEnd,
  TUNNEL_BRIDGE,
  tunnelPortName,
} from '../../../model/device-names.js';

const HASH_CHARS = 6;

/** The patch ports joining the tunnel bridge to `br-int` (on `br-int`, on `br-tun`). */
export const INTEGRATION_PATCH = 'patch-tun';
export const TUNNEL_PATCH = 'patch-int';

/**
 * The bridge holding the host's tunnel interface and, on its own internal port, the tunnel
 * endpoint address: the userspace datapath sends and receives VXLAN only through a bridge of its
 * own (Open vSwitch's DPDK guides call it `br-phy`).
 */
export const UNDERLAY_BRIDGE = 'br-phy';
/** The `external_ids` key marking the tunnel interface on `br-phy`. */
export const UNDERLAY_ROLE = 'neutrino-underlay';

/** The `netdev` nftables table fencing the tunnel interface off from the host's stack. */
export function underlayFence(owner: string): string {
  return `neutrino-ul-${owner}`;
}

/** `prefix` + `name`, at most 15 characters: cut, with 6 hex digits of the name's SHA-1, when longer. */
function fit(prefix: string, name: string): string {
  if (prefix.length + name.length <= MAX_LINK_NAME) return `${prefix}${name}`;
  const hash = createHash('sha1').update(name).digest('hex').slice(0, HASH_CHARS);
  return `${prefix}${name.slice(0, MAX_LINK_NAME - prefix.length - HASH_CHARS)}${hash}`;
}

/** The provider bridge of physical network `physnet`. */
export function providerBridgeName(physnet: string): string {
  return fit('br-', physnet);
}

/** The veth end on `br-int` that joins it to a provider bridge (Neutron's `int-<bridge>`). */
export function integrationPatchName(physnet: string): string {
  return fit('int-br-', physnet);
}

/** The veth end on the provider bridge (Neutron's `phy-<bridge>`). */
export function providerPatchName(physnet: string): string {
  return fit('phy-br-', physnet);
}

/** The file recording the local VLAN tag of each network on `br-int` (kept across runs). */
export function tagsFile(stateDir: string): string {
  return join(stateDir, 'ovs-tags.json');
}
