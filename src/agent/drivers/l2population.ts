/**
 * l2population's facts for one vxlan network, as both L2 drivers use them (pure): the other hosts'
 * tunnel endpoints that have ports on the network, and those ports' MACs and addresses, checked
 * and made canonical. The linuxbridge driver turns them into a VXLAN device's forwarding and
 * neighbour entries, the openvswitch driver into `br-tun`'s tunnel ports and rules.
 */
import ipaddr from 'ipaddr.js';
import { MacAddress, type SnapshotTunnelPeer } from '../../model/host-snapshot.js';
import { FLOOD_MAC } from '../state/host-state.js';
import { unusable } from '../state/usable.js';

/** A remote port: its MAC (lower case) and its addresses (canonical). */
export interface RemotePort {
  mac: string;
  ips: string[];
}

/** Another host with ports on the network: its tunnel endpoint (canonical) and those ports. */
export interface RemoteEndpoint {
  host: string;
  ip: string;
  ports: RemotePort[];
}

/** An address in canonical form, or undefined when it is not one. */
export function canonicalIp(text: string): string | undefined {
  if (!ipaddr.isValid(text)) return undefined;
  return ipaddr.parse(text).toString();
}

function familyOf(ip: string): string {
  return ipaddr.parse(ip).kind();
}

/**
 * The endpoints of `peers` seen from `localIp`, and why a peer, port or address was left out.
 * Peers without ports and a peer claiming our own endpoint (which would loop frames back to us)
 * are skipped silently; a MAC two hosts report (a port moving) stays with the first.
 */
export function remoteEndpoints(
  peers: readonly SnapshotTunnelPeer[],
  localIp: string,
): { endpoints: RemoteEndpoint[]; problems: string[] } {
  const problems: string[] = [];
  const endpoints: RemoteEndpoint[] = [];
  const local = canonicalIp(localIp);
  const placed = new Set<string>();
  for (const peer of peers) {
    const dst = canonicalIp(peer.tunnel_ip);
    if (dst === undefined || local === undefined || familyOf(dst) !== familyOf(local)) {
      problems.push(`host ${peer.host}: unusable tunnel endpoint ${JSON.stringify(peer.tunnel_ip)}`);
      continue;
    }
    if (dst === local || peer.ports.length === 0) continue;
    const ports: RemotePort[] = [];
    for (const port of peer.ports) {
      const mac = port.mac_address.toLowerCase();
      if (unusable(MacAddress, mac) || mac === FLOOD_MAC) {
        problems.push(`host ${peer.host}: invalid MAC ${JSON.stringify(port.mac_address)}`);
        continue;
      }
      if (placed.has(mac)) continue;
      placed.add(mac);
      const ips: string[] = [];
      for (const address of port.ip_addresses) {
        const ip = canonicalIp(address);
        if (ip === undefined) problems.push(`host ${peer.host}: invalid address ${JSON.stringify(address)}`);
        else ips.push(ip);
      }
      ports.push({ mac, ips });
    }
    endpoints.push({ host: peer.host, ip: dst, ports });
  }
  return { endpoints, problems };
}
