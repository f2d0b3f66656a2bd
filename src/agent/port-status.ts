/**
 * Port status as the agent reports it (pure): a port is ACTIVE when its device exists, is up with
 * carrier (its peer is up too) and sits where the desired state puts it, and when the service
 * behind it works: an instance interface holds a DHCP lease for one of the port's fixed IPs (if
 * its network has DHCP here), a DHCP port's dnsmasq is running. Otherwise it is DOWN.
 */
import type { L2Driver } from './drivers/driver.js';
import { type HostState, namespaceLinkKey } from './host-state.js';
import { DHCP_DEVICE_OWNER } from './services/dhcp.js';
import type { Snapshot } from './snapshot.js';

export type PortStatus = 'ACTIVE' | 'DOWN';

export function portStatus(
  snapshot: Snapshot,
  desired: HostState,
  actual: HostState,
  driver: L2Driver,
): Record<string, PortStatus> {
  const clientAt = new Map(
    Object.entries(desired.dhcpClients).map(([key, c]) => [namespaceLinkKey(c.netns, c.device), key]),
  );
  const status: Record<string, PortStatus> = {};
  for (const port of snapshot.ports) {
    const device = driver.portDeviceName(port.id);
    const want = desired.veths[device];
    const have = actual.veths[device];
    const wired =
      want !== undefined &&
      have !== undefined &&
      have.alias === want.alias &&
      have.master === want.master &&
      have.up &&
      have.lowerUp === true;
    let serving = true;
    if (port.device_owner === DHCP_DEVICE_OWNER) {
      serving = actual.dhcpServers[port.network_id] !== undefined;
    } else {
      const client = want && clientAt.get(namespaceLinkKey(want.peer.netns ?? '', want.peer.name ?? ''));
      if (client !== undefined) {
        const lease = actual.dhcpClients[client]?.lease;
        serving = port.fixed_ips.some((ip) => ip.ip_address === lease);
      }
    }
    status[port.id] = wired && serving ? 'ACTIVE' : 'DOWN';
  }
  return status;
}
