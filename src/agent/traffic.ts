/**
 * Traffic counters of the ports this host realises, read cheaply: one `ip -s -json link show` per
 * namespace that holds port devices (the host's own for instance taps, each router's and each DHCP
 * namespace for theirs). Counters are the port's owner's view: `tx` is what the instance, router or
 * DHCP server sent, `rx` what it received, so an instance's tap (whose receive side is what the
 * instance sent) is read the other way round. Load balancers' counters and member health come
 * from their haproxy's stats socket.
 */
import { lbFiles, parseStats, readStatsSocket } from '../linux/haproxy-lb.js';
import { ipJson } from '../linux/ip.js';
import { DeviceOwner } from '../model/device-owners.js';
import type { Snapshot } from '../model/host-snapshot.js';
import type { LbReport } from '../model/load-balancer.js';
import { dhcpNamespace } from './dhcp/dhcp.js';
import type { L2Driver } from './drivers/driver.js';
import { l2Driver } from './drivers/index.js';
import { gatewayDeviceName, haDeviceName, internalDeviceName, routerNamespace } from './l3/router.js';
import { lbDir } from './services/load-balancer.js';

export interface PortCounters {
  rx_bytes: number;
  rx_packets: number;
  tx_bytes: number;
  tx_packets: number;
}

/** Where a port's counters are read: a device in a namespace (null: the host's), maybe turned round. */
export interface CounterSource {
  port: string;
  netns: string | null;
  dev: string;
  /** The device's receive side is what the port's owner sent (an instance's tap). */
  reversed: boolean;
}

/** The devices of the ports `snapshot` has this host realise (pure). */
export function counterSources(snapshot: Snapshot, driver: L2Driver = l2Driver()): CounterSource[] {
  const sources: CounterSource[] = [];
  const instancePorts = new Set(snapshot.instances.flatMap((i) => i.ports));
  for (const port of snapshot.ports) {
    if (instancePorts.has(port.id) && port.binding_host_id === snapshot.host)
      sources.push({ port: port.id, netns: null, dev: driver.portDeviceName(port.id), reversed: true });
    else if (port.device_owner === DeviceOwner.dhcp && port.binding_host_id === snapshot.host)
      sources.push({
        port: port.id,
        netns: dhcpNamespace(port.network_id),
        dev: driver.serviceDeviceName(port.id),
        reversed: false,
      });
  }
  for (const router of snapshot.routers ?? []) {
    const netns = routerNamespace(router.id);
    const add = (port: string, dev: string) => sources.push({ port, netns, dev, reversed: false });
    if (router.gateway) add(router.gateway.port_id, gatewayDeviceName(router.gateway.port_id));
    for (const i of router.interfaces) add(i.port_id, internalDeviceName(i.port_id));
    if (router.ha?.port) add(router.ha.port.port_id, haDeviceName(router.ha.port.port_id));
  }
  return sources;
}

interface LinkStats {
  ifname: string;
  stats64?: { rx: { bytes: number; packets: number }; tx: { bytes: number; packets: number } };
}

/** Reads the counters of `sources` (one `ip` per namespace); devices not found are left out. */
export async function readCounters(sources: readonly CounterSource[]): Promise<Record<string, PortCounters>> {
  const byNamespace = new Map<string | null, CounterSource[]>();
  for (const s of sources) byNamespace.set(s.netns, [...(byNamespace.get(s.netns) ?? []), s]);
  const counters: Record<string, PortCounters> = {};
  await Promise.all(
    [...byNamespace].map(async ([netns, list]) => {
      const links = await ipJson<LinkStats[]>(['-s', 'link', 'show'], netns === null ? {} : { netns }).catch(
        () => [] as LinkStats[],
      );
      const byName = new Map(links.map((l) => [l.ifname.replace(/@.*$/, ''), l.stats64]));
      for (const s of list) {
        const stats = byName.get(s.dev);
        if (!stats) continue;
        const [sent, received] = s.reversed ? [stats.rx, stats.tx] : [stats.tx, stats.rx];
        counters[s.port] = {
          rx_bytes: received.bytes,
          rx_packets: received.packets,
          tx_bytes: sent.bytes,
          tx_packets: sent.packets,
        };
      }
    }),
  );
  return counters;
}

/**
 * haproxy's view of each load balancer of `snapshot` (member health, listener counters), read from
 * its stats socket; a load balancer whose haproxy does not answer is left out.
 */
export async function readLoadBalancers(snapshot: Snapshot, stateDir: string): Promise<LbReport[]> {
  const reports = await Promise.all(
    (snapshot.load_balancers ?? []).map(async (lb) => {
      try {
        return parseStats(lb.id, await readStatsSocket(lbFiles(lbDir(stateDir, lb.id)).socket));
      } catch {
        return undefined;
      }
    }),
  );
  return reports.filter((r): r is LbReport => r !== undefined);
}
