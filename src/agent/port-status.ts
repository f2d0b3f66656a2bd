/**
 * Port status as the agent reports it (pure): a port is ACTIVE when its device exists, is up with
 * carrier (its peer is up too) and sits where the desired state puts it, and when the service
 * behind it works: an instance interface holds a DHCP lease for one of the port's fixed IPs (if
 * its network has DHCP here; the DHCPv4 lease, or the DHCPv6 one on a stateful IPv6-only network), a DHCP port's dnsmasq is running. A router's ports (internal and
 * gateway) are ACTIVE when wired. Otherwise a port is DOWN. `awaitingLease` lists the instance
 * ports that are DOWN only for want of their lease, which the runner watches for.
 */

import { DeviceOwner } from '../model/device-owners.js';
import type { Snapshot } from '../model/host-snapshot.js';
import type { L2Driver } from './drivers/driver.js';
import { type HostState, namespaceLinkKey } from './state/host-state.js';

export type PortStatus = 'ACTIVE' | 'DOWN';

/** A plugged instance port that waits only for its DHCP client to hold one of its addresses. */
export interface LeaseWait {
  port: string;
  /** Where the client script records the lease (see `instances/instances.ts`). */
  leaseFile: string;
  /** The port's fixed IPs: a lease for any of them serves it. */
  addresses: string[];
}

/** Whether the port's host-side device exists where the desired state puts it, and is up. */
function isPlugged(portId: string, desired: HostState, actual: HostState, driver: L2Driver): boolean {
  const device = driver.portDeviceName(portId);
  const want = desired.veths[device];
  const have = actual.veths[device];
  return (
    want !== undefined &&
    have !== undefined &&
    have.alias === want.alias &&
    have.master === want.master &&
    have.up
  );
}

/** Plugged, and its peer is up too (carrier). */
function isWired(portId: string, desired: HostState, actual: HostState, driver: L2Driver): boolean {
  const have = actual.veths[driver.portDeviceName(portId)];
  return isPlugged(portId, desired, actual, driver) && have?.lowerUp === true;
}

/**
 * The key of the desired DHCP client whose lease makes each instance port ACTIVE, by port id: its
 * udhcpc (IPv4) where it has one, as before DHCPv6 (a dual-stack port is ACTIVE on its IPv4 lease),
 * else its stateful `dhclient -6` (an IPv6-only port is ACTIVE on its DHCPv6 lease). A stateless
 * DHCPv6 client leases no address: it does not hold a port back.
 */
function clientsByPort(snapshot: Snapshot, desired: HostState, driver: L2Driver): Map<string, string> {
  const clientAt = new Map<string, string>();
  for (const [key, c] of Object.entries(desired.dhcpClients)) {
    if (c.dhcpv6 === 'stateless') continue;
    const at = namespaceLinkKey(c.netns, c.device);
    if (c.dhcpv6 === undefined || !clientAt.has(at)) clientAt.set(at, key);
  }
  const clients = new Map<string, string>();
  for (const port of snapshot.ports) {
    const want = desired.veths[driver.portDeviceName(port.id)];
    const client = want && clientAt.get(namespaceLinkKey(want.peer.netns ?? '', want.peer.name ?? ''));
    if (client !== undefined && port.device_owner !== DeviceOwner.dhcp) clients.set(port.id, client);
  }
  return clients;
}

function holdsLease(port: Snapshot['ports'][number], actual: HostState, client: string): boolean {
  const lease = actual.dhcpClients[client]?.lease;
  return port.fixed_ips.some((ip) => ip.ip_address === lease);
}

export function portStatus(
  snapshot: Snapshot,
  desired: HostState,
  actual: HostState,
  driver: L2Driver,
): Record<string, PortStatus> {
  const clients = clientsByPort(snapshot, desired, driver);
  const status: Record<string, PortStatus> = {};
  for (const port of snapshot.ports) {
    const wired = isWired(port.id, desired, actual, driver);
    let serving = true;
    if (port.device_owner === DeviceOwner.dhcp) {
      serving = actual.dhcpServers[port.network_id] !== undefined;
    } else {
      const client = clients.get(port.id);
      if (client !== undefined) serving = holdsLease(port, actual, client);
    }
    status[port.id] = wired && serving ? 'ACTIVE' : 'DOWN';
  }
  for (const router of snapshot.routers ?? [])
    for (const port of [...(router.gateway ? [router.gateway] : []), ...router.interfaces])
      status[port.port_id] = isWired(port.port_id, desired, actual, driver) ? 'ACTIVE' : 'DOWN';
  return status;
}

/**
 * The instance ports that are plugged and DOWN only because their lease has not arrived yet. The
 * instance's side may still be down: its DHCP client brings it up first, and a lease that arrives
 * proves the wire works.
 */
export function awaitingLease(
  snapshot: Snapshot,
  desired: HostState,
  actual: HostState,
  driver: L2Driver,
): LeaseWait[] {
  const clients = clientsByPort(snapshot, desired, driver);
  const waits: LeaseWait[] = [];
  for (const port of snapshot.ports) {
    const client = clients.get(port.id);
    if (client === undefined || holdsLease(port, actual, client)) continue;
    if (port.fixed_ips.length === 0 || !isPlugged(port.id, desired, actual, driver)) continue;
    const { leaseFile } = desired.dhcpClients[client];
    waits.push({ port: port.id, leaseFile, addresses: port.fixed_ips.map((ip) => ip.ip_address) });
  }
  return waits;
}
