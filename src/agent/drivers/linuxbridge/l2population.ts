/**
 * l2population for the linuxbridge driver (pure), as Neutron's linuxbridge agent does it: a VXLAN
 * device learns nothing and floods nowhere by itself; it gets one flood entry
 * (`00:00:00:00:00:00 dst VTEP`) per other host that has ports on its network, one forwarding entry
 * per remote MAC, and one permanent neighbour entry per remote address, which it answers ARP and
 * ND from (`proxy`), so neither broadcasts nor address resolution cross the underlay needlessly.
 */
import type { SnapshotTunnelPeer } from '../../../model/host-snapshot.js';
import { FLOOD_MAC, fdbKey, type HostState, neighbourKey } from '../../state/host-state.js';
import { remoteEndpoints } from '../l2population.js';

/**
 * Adds the forwarding and neighbour entries of VXLAN device `dev` towards `peers`, seen from
 * `localIp`; returns why a peer or port was left out, if any was.
 */
export function addL2Population(
  state: HostState,
  dev: string,
  peers: readonly SnapshotTunnelPeer[],
  localIp: string,
): string[] {
  const { endpoints, problems } = remoteEndpoints(peers, localIp);
  for (const { ip: dst, ports } of endpoints) {
    const flood = { dev, mac: FLOOD_MAC, dst };
    state.fdb[fdbKey(flood)] = flood;
    for (const { mac, ips } of ports) {
      const entry = { dev, mac, dst };
      state.fdb[fdbKey(entry)] = entry;
      for (const ip of ips) state.neighbours[neighbourKey({ dev, ip })] = { dev, ip, mac };
    }
  }
  return problems;
}
