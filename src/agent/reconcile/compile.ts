/**
 * The desired-state compiler (pure): a host's snapshot of the model in, the `HostState` that should
 * exist on the host out. The L2 driver lays out networks and plugs ports; the DHCP, instance and L3
 * services add their namespaces, files, processes and routers, security groups their tables.
 * Whatever cannot be realised is left out and listed in `problems`.
 */
import ipaddr from 'ipaddr.js';
import { Type } from 'typebox';
import type { IpsecDataPlane } from '../../linux/strongswan.js';
import {
  DnsName,
  type Snapshot,
  SnapshotInstance,
  SnapshotLoadBalancer,
  SnapshotNetwork,
  SnapshotPort,
  SnapshotRouter,
  type SnapshotSubnet,
} from '../../model/host-snapshot.js';
import { addDhcpService } from '../dhcp/dhcp.js';
import type { L2Driver, NetworkContext, TunnelEndpoint } from '../drivers/driver.js';
import { l2Driver } from '../drivers/index.js';
import { tagsFile } from '../drivers/openvswitch/names.js';
import type { SwitchInfo } from '../drivers/openvswitch/switch.js';
import { addFirewallGroups } from '../firewall/firewall-groups.js';
import { addFirewall, type FirewallAllocations, firewallRecordFile } from '../firewall/security-groups.js';
import { addInstance } from '../instances/instances.js';
import { meteringRecordFile, renderMetering } from '../l3/metering.js';
import { addRouter, gatewayDeviceName, routerNamespace } from '../l3/router.js';
import { addQos } from '../qos/render.js';
import { addLoadBalancer } from '../services/load-balancer.js';
import { addTaas } from '../services/taas.js';
import { addVpn } from '../services/vpn.js';
import { emptyHostState, type HostState, namespaceLinkKey, ownerTag } from '../state/host-state.js';
import { unusable } from '../state/usable.js';

export interface CompileOptions {
  stateDir: string;
  /** Default: the registry's default (linuxbridge). */
  driver?: L2Driver;
  /** Mapped names that are existing bridges on the host (a fact observed beforehand). */
  hostBridges?: readonly string[];
  /** Mapped names that are no interface of the host (a fact observed beforehand). */
  missingInterfaces?: readonly string[];
  /** Whether the kernel can make 802.1Q devices (see `has8021q`); without it `vlan` networks are refused. */
  vlanCapable?: boolean;
  /** The port marks and conntrack zones the last run gave out (see `firewall/security-groups.ts`). */
  firewall?: FirewallAllocations;
  /** This host's tunnel endpoint; without one, vxlan networks end at this host. */
  tunnel?: TunnelEndpoint;
  /** Who processes IPsec packets (see `hasKernelEsp`); default: strongSwan in userspace. */
  ipsec?: IpsecDataPlane;
  /** The openvswitch driver's switch and the local VLAN tags the last run gave out. */
  ovs?: SwitchInfo & { previousTags: Record<string, number> };
}

const DEFAULT_DOMAIN = 'openstacklocal';
/** What a router or load balancer needs before its id names a namespace (its parts are checked where they are used). */
const RouterIdentity = Type.Pick(SnapshotRouter, ['id']);
const LoadBalancerIdentity = Type.Pick(SnapshotLoadBalancer, ['id', 'vip']);

function byId<T extends { id: string }>(items: readonly T[]): T[] {
  return [...items].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

function isIp(text: string): boolean {
  return ipaddr.isValid(text);
}

function isIpv4Cidr(cidr: string): boolean {
  return !cidr.includes(':');
}

function inCidr(ip: string, cidr: string): boolean {
  const address = ipaddr.parse(ip);
  const range = ipaddr.parseCIDR(cidr);
  return address.kind() === range[0].kind() && address.match(range);
}

function invalidSubnet(subnet: SnapshotSubnet): string | undefined {
  let cidr: [ipaddr.IPv4 | ipaddr.IPv6, number];
  try {
    cidr = ipaddr.parseCIDR(subnet.cidr);
  } catch {
    return `invalid cidr ${subnet.cidr}`;
  }
  if (cidr[0].kind() !== (subnet.ip_version === 4 ? 'ipv4' : 'ipv6')) return 'cidr does not match ip_version';
  if (subnet.gateway_ip !== null && !isIp(subnet.gateway_ip))
    return `invalid gateway_ip ${subnet.gateway_ip}`;
  if (!subnet.dns_nameservers.every(isIp)) return 'invalid dns_nameservers';
  const routesOk = subnet.host_routes.every((r) => ipaddr.isValidCIDR(r.destination) && isIp(r.nexthop));
  return routesOk ? undefined : 'invalid host_routes';
}

function invalidPort(port: SnapshotPort, subnets: Map<string, SnapshotSubnet>): string | undefined {
  const why = unusable(SnapshotPort, port);
  if (why) return why;
  for (const ip of port.fixed_ips) {
    const subnet = subnets.get(ip.subnet_id);
    if (!subnet || subnet.network_id !== port.network_id) return `unknown subnet ${ip.subnet_id}`;
    if (!isIp(ip.ip_address) || !inCidr(ip.ip_address, subnet.cidr))
      return `address ${ip.ip_address} is not in ${subnet.cidr}`;
  }
  return undefined;
}

function groupBy<T>(items: T[], key: (item: T) => string): Map<string, T[]> {
  const groups = new Map<string, T[]>();
  for (const item of items) {
    const group = groups.get(key(item));
    if (group) group.push(item);
    else groups.set(key(item), [item]);
  }
  return groups;
}

/** The state the host should be in for `snapshot`. */
export function compile(snapshot: Snapshot, options: CompileOptions): HostState {
  const { stateDir, driver = l2Driver(), hostBridges = [], vlanCapable = false } = options;
  const state = emptyHostState();
  const problem = (object: string, message: string) => state.problems.push({ object, message });
  const context: NetworkContext = {
    owner: ownerTag(stateDir),
    physicalInterfaceMappings: snapshot.physicalInterfaceMappings,
    hostBridges: new Set(hostBridges),
    missingInterfaces: new Set(options.missingInterfaces ?? []),
    vlanCapable,
    ...(options.tunnel ? { tunnel: options.tunnel } : {}),
    peers: snapshot.l2population ?? {},
    ...(options.ovs
      ? {
          ovs: {
            datapath: options.ovs.datapath,
            handle: options.ovs.handle,
            previousTags: options.ovs.previousTags,
            tags: {},
            segments: new Set<string>(),
            tagsFile: tagsFile(stateDir),
            ...(options.ovs.underlay ? { underlay: options.ovs.underlay } : {}),
          },
        }
      : {}),
  };
  if (options.ovs) state.ovs = { handle: options.ovs.handle, owner: context.owner, bridges: {}, ports: {} };
  const domainText = snapshot.dnsDomain.replace(/\.$/, '');
  const domain = unusable(DnsName, domainText) ? DEFAULT_DOMAIN : domainText;

  const networks = new Map<string, SnapshotNetwork>();
  for (const network of byId(snapshot.networks)) {
    const why = unusable(SnapshotNetwork, network) ?? driver.layoutNetwork(state, network, context);
    if (why) problem(`network ${network.id}`, why);
    else networks.set(network.id, network);
  }
  const subnets = new Map<string, SnapshotSubnet>();
  for (const subnet of byId(snapshot.subnets)) {
    if (!networks.has(subnet.network_id)) continue;
    const why = invalidSubnet(subnet);
    if (why) problem(`subnet ${subnet.id}`, why);
    else subnets.set(subnet.id, subnet);
  }
  const ports = new Map<string, SnapshotPort>();
  for (const port of byId(snapshot.ports)) {
    if (!networks.has(port.network_id)) continue;
    const why = invalidPort(port, subnets);
    if (why) problem(`port ${port.id}`, why);
    else ports.set(port.id, { ...port, mac_address: port.mac_address.toLowerCase() });
  }

  const subnetsOf = groupBy([...subnets.values()], (s) => s.network_id);
  const portsOf = groupBy([...ports.values()], (p) => p.network_id);
  for (const network of networks.values()) {
    const why = addDhcpService(state, {
      host: snapshot.host,
      network,
      subnets: subnetsOf.get(network.id) ?? [],
      ports: portsOf.get(network.id) ?? [],
      domain,
      stateDir,
      driver,
      context,
    });
    if (why) problem(`network ${network.id}`, `no DHCP: ${why}`);
  }
  // udhcpc speaks DHCPv4: instances get a client where the DHCP port serves an IPv4 subnet.
  // Where another host serves DHCP, an IPv4 subnet with DHCP enabled is enough.
  const elsewhere = new Set(snapshot.dhcp_elsewhere ?? []);
  const dhcpNetworks = new Set([
    ...Object.entries(state.dhcpServers)
      .filter(([, s]) =>
        state.namespaceLinks[namespaceLinkKey(s.netns, s.device)]?.addresses?.some(isIpv4Cidr),
      )
      .map(([network]) => network),
    ...[...subnets.values()]
      .filter((s) => s.ip_version === 4 && s.enable_dhcp && elsewhere.has(s.network_id))
      .map((s) => s.network_id),
  ]);
  // dhclient -6 where DHCP (here or elsewhere) serves a subnet whose address mode is DHCPv6:
  // stateful (an address) if any such subnet is, else stateless (options only).
  const dhcp6Networks = new Map<string, 'stateful' | 'stateless'>();
  for (const s of subnets.values()) {
    const mode = s.ipv6_address_mode ?? null;
    if (s.ip_version !== 6 || !s.enable_dhcp) continue;
    if (mode !== 'dhcpv6-stateful' && mode !== 'dhcpv6-stateless') continue;
    if (!state.dhcpServers[s.network_id] && !elsewhere.has(s.network_id)) continue;
    if (mode === 'dhcpv6-stateful') dhcp6Networks.set(s.network_id, 'stateful');
    else if (!dhcp6Networks.has(s.network_id)) dhcp6Networks.set(s.network_id, 'stateless');
  }
  for (const instance of byId(snapshot.instances)) {
    const unfit = unusable(SnapshotInstance, instance);
    if (unfit) {
      problem(`instance ${instance.id}`, unfit);
      continue;
    }
    const input = { instance, ports, networks, dhcpNetworks, dhcp6Networks, stateDir, driver, context };
    for (const why of addInstance(state, input)) problem(`instance ${instance.id}`, why);
  }
  // An older server's snapshot has no routers.
  for (const router of byId(snapshot.routers ?? [])) {
    const unfit = unusable(RouterIdentity, router);
    if (unfit) {
      problem(`router ${router.id}`, unfit);
      continue;
    }
    const input = { router, networks, stateDir, driver, context, logging: snapshot.network_logging };
    for (const why of addRouter(state, input)) problem(`router ${router.id}`, why);
  }
  for (const lb of byId(snapshot.load_balancers ?? [])) {
    const unfit = unusable(LoadBalancerIdentity, lb);
    if (unfit) {
      problem(`load balancer ${lb.id}`, unfit);
      continue;
    }
    const why = addLoadBalancer(state, { lb, networks, stateDir, driver, context });
    if (why) problem(`load balancer ${lb.id}`, why);
  }
  state.problems.push(...addQos(state, { snapshot, ports, driver, context, stateDir }));
  state.problems.push(
    ...addTaas(state, { flows: snapshot.tap_flows ?? [], driver, owner: context.owner, stateDir }),
  );
  for (const router of byId(snapshot.routers ?? [])) {
    const at = state.routers[routerNamespace(router.id)];
    if (!at) continue;
    const why: string[] = [];
    const gw = router.gateway ? gatewayDeviceName(router.gateway.port_id) : null;
    at.metering = renderMetering(router.metering ?? [], gw, meteringRecordFile(at.dir), why);
    for (const message of why) problem(`router ${router.id}`, message);
    const vpn = { router, stateDir, plane: options.ipsec ?? ('userspace' as const) };
    for (const message of addVpn(state, vpn)) problem(`router ${router.id}`, message);
  }
  const record = firewallRecordFile(stateDir);
  const firewall = { snapshot, ports, networks, driver, context, record, previous: options.firewall };
  state.problems.push(...addFirewall(state, firewall));
  const firewallGroups = {
    firewalls: snapshot.firewall_groups ?? [],
    ports,
    networks,
    driver,
    context,
    stateDir,
  };
  state.problems.push(...addFirewallGroups(state, firewallGroups));
  return state;
}
