/**
 * l2population for the linuxbridge driver (pure), as Neutron's linuxbridge agent does it: a VXLAN
 * device learns nothing and floods nowhere by itself; it gets one flood entry
 * (`00:00:00:00:00:00 dst VTEP`) per other host that has ports on its network, one forwarding entry
 * per remote MAC, and one permanent neighbour entry per remote address, which it answers ARP and
 * ND from (`proxy`), so neither broadcasts nor address resolution cross the underlay needlessly.
 */
import ipaddr from 'ipaddr.js';
import { MacAddress, type SnapshotTunnelPeer } from '../../../model/host-snapshot.js';
import { FLOOD_MAC, fdbKey, type HostState, neighbourKey } from '../../state/host-state.js';
import { unusable } from '../../state/usable.js';

/** An address in `ip -batch`/`bridge -batch` form (canonical), or undefined when it is not one. */
function canonicalIp(text: string): string | undefined {
  if (!ipaddr.isValid(text)) return undefined;
  return ipaddr.parse(text).toString();
}

function familyOf(ip: string): string {
  return ipaddr.parse(ip).kind();
}

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
  const problems: string[] = [];
  const local = canonicalIp(localIp);
  /** A MAC goes to one endpoint: one that two hosts report (a port moving) stays with the first. */
  const placed = new Set<string>();
  for (const peer of peers) {
    const dst = canonicalIp(peer.tunnel_ip);
    if (dst === undefined || local === undefined || familyOf(dst) !== familyOf(local)) {
      problems.push(`host ${peer.host}: unusable tunnel endpoint ${JSON.stringify(peer.tunnel_ip)}`);
      continue;
    }
    // Another host claiming our endpoint would loop frames back to us.
    if (dst === local || peer.ports.length === 0) continue;
    const flood = { dev, mac: FLOOD_MAC, dst };
    state.fdb[fdbKey(flood)] = flood;
    for (const port of peer.ports) {
      const mac = port.mac_address.toLowerCase();
      if (unusable(MacAddress, mac) || mac === FLOOD_MAC) {
        problems.push(`host ${peer.host}: invalid MAC ${JSON.stringify(port.mac_address)}`);
        continue;
      }
      if (placed.has(mac)) continue;
      placed.add(mac);
      const entry = { dev, mac, dst };
      state.fdb[fdbKey(entry)] = entry;
      for (const address of port.ip_addresses) {
        const ip = canonicalIp(address);
        if (ip === undefined) {
          problems.push(`host ${peer.host}: invalid address ${JSON.stringify(address)}`);
          continue;
        }
        state.neighbours[neighbourKey({ dev, ip })] = { dev, ip, mac };
      }
    }
  }
  return problems;
}
