/**
 * A load balancer (Octavia's API, `core/load-balancers.ts`) as this host runs it: namespace
 * `qlbaas-<id>` (the name Neutron's haproxy LBaaS driver used) holding the VIP port's device with
 * the VIP address and a default route through the VIP subnet's gateway, plugged into the VIP
 * network like a DHCP port, and one haproxy in master-worker
 * mode serving the listeners (`linux/haproxy-lb.ts`), its files in `<stateDir>/lbaas/<id>/`. A
 * changed configuration reloads haproxy (SIGHUP: new workers, old ones finish their connections).
 */
import { join } from 'node:path';
import { HAPROXY } from '../../linux/haproxy.js';
import { lbArgs, lbFiles, loadBalancerConfig } from '../../linux/haproxy-lb.js';
import type { SnapshotLoadBalancer, SnapshotNetwork } from '../../model/host-snapshot.js';
import type { L2Driver, NetworkContext } from '../drivers/driver.js';
import { addDaemon, type HostState, namespaceLinkKey } from '../state/host-state.js';

export function lbNamespace(id: string): string {
  return `qlbaas-${id}`;
}

export function lbDir(stateDir: string, id: string): string {
  return join(stateDir, 'lbaas', id);
}

export interface LoadBalancerInput {
  lb: SnapshotLoadBalancer;
  networks: Map<string, SnapshotNetwork>;
  stateDir: string;
  driver: L2Driver;
  context: NetworkContext;
}

/** Adds the load balancer's namespace, VIP device and haproxy to `state`; returns why it cannot. */
export function addLoadBalancer(state: HostState, input: LoadBalancerInput): string | undefined {
  const { lb, stateDir, driver } = input;
  const network = input.networks.get(lb.vip.network_id);
  if (!network) return `VIP network ${lb.vip.network_id} is not here`;
  const dir = lbDir(stateDir, lb.id);
  let config: string;
  try {
    config = loadBalancerConfig(lb, dir);
  } catch (err) {
    return `no haproxy configuration: ${err instanceof Error ? err.message : String(err)}`;
  }
  const netns = lbNamespace(lb.id);
  const device = driver.serviceDeviceName(lb.vip.port_id);
  const up = network.admin_state_up;
  const why = driver.plugPort(
    state,
    { portId: lb.vip.port_id, network, netns, device, mac: lb.vip.mac_address.toLowerCase(), up },
    input.context,
  );
  if (why) return why;
  // Replies to clients beyond the VIP's subnet (through a router, a floating IP) leave by its gateway.
  const gateway = lb.vip.gateway_ip;
  const routes =
    gateway && !gateway.includes(':') ? [{ destination: '0.0.0.0/0', nexthop: gateway, dev: device }] : [];
  state.namespaces[netns] = { kind: 'lb', routes };
  state.dirs[dir] = { netns };
  state.namespaceLinks[namespaceLinkKey(netns, 'lo')] = { netns, name: 'lo', up: true };
  state.namespaceLinks[namespaceLinkKey(netns, device)] = {
    netns,
    name: device,
    up,
    addresses: [`${lb.vip.ip_address}/${lb.vip.prefixlen}`],
  };
  const files = lbFiles(dir);
  addDaemon(
    state,
    { kind: 'lb', netns, config: files.config, pidFile: files.pid, argv: [HAPROXY, ...lbArgs(dir)] },
    config,
  );
  return undefined;
}
