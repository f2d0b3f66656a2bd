/**
 * Packet tracing over the model (pure): where a packet from an instance, a port or an outside
 * address goes, hop by hop in Neutron's terms, and whether it arrives. It follows what the data
 * plane builds: the source port's anti-spoofing and egress security-group rules (stateful: a
 * reply needs no rule, unless the group is stateless), L2 delivery within a network, the
 * instance's routes (its subnet's gateway and host routes, as DHCP hands them out), the router
 * owning that gateway (connected subnets, extra routes, the default route by its external
 * gateway), its NAT (SNAT to the gateway address or a floating IP; floating-IP DNAT, hairpin
 * masquerading to the router's own address), and the destination port's ingress rules, with the
 * source address as the destination sees it. Anything administratively down on the way makes
 * the destination unreachable.
 *
 * A member's trace reads only what it may see (`trace-scope.ts`): where the path meets an object
 * of another project, the trace ends with a hop saying only that the path leaves its project.
 */

import { DeviceOwner, ROUTER_INTERFACE_OWNERS } from '../model/device-owners.js';
import type { FloatingIp } from '../model/floating-ip.js';
import type { Instance } from '../model/instance.js';
import type { Network } from '../model/network.js';
import type { Port } from '../model/port.js';
import type { Router } from '../model/router.js';
import type { SecurityGroup, SecurityGroupRule } from '../model/security-group.js';
import type { Subnet } from '../model/subnet.js';
import type { TraceHop, TraceObject, TraceRequest, TraceResult, TraceVerdict } from '../model/trace.js';
import { Conflict, InvalidInput, NotFound } from './errors.js';
import { cidrContains, type IpVersion, ipVersion, normalizeIp, parseCidr } from './ipam.js';

/** Routers forward between at most this many routers before a trace calls it a loop. */
const MAX_ROUTERS = 8;
/** ICMP echo request: the type a ping sends. */
const ECHO_REQUEST = { 4: 8, 6: 128 } as const;
const ECHO_REPLY = { 4: 0, 6: 129 } as const;
/** The protocol numbers of the rule protocol names a trace can meet (0, `ip`, `hopopt`: any). */
const PROTOCOL_NUMBERS: Record<string, number> = {
  ip: 0,
  hopopt: 0,
  icmp: 1,
  tcp: 6,
  udp: 17,
  'ipv6-icmp': 58,
  icmpv6: 58,
};
/** The number of each traced protocol per family. */
const TRACED = { tcp: { 4: 6, 6: 6 }, udp: { 4: 17, 6: 17 }, icmp: { 4: 1, 6: 58 } } as const;

export type TraceRule = Pick<
  SecurityGroupRule,
  | 'id'
  | 'direction'
  | 'ethertype'
  | 'protocol'
  | 'port_range_min'
  | 'port_range_max'
  | 'remote_ip_prefix'
  | 'remote_group_id'
  | 'normalized_cidr'
>;

/** The model a trace reads: every object of the deployment, or what a member sees of it. */
export interface TraceModel {
  networks: Pick<Network, 'id' | 'name' | 'project_id' | 'admin_state_up' | 'router:external'>[];
  subnets: Pick<
    Subnet,
    'id' | 'name' | 'project_id' | 'network_id' | 'ip_version' | 'cidr' | 'gateway_ip' | 'host_routes'
  >[];
  ports: Pick<
    Port,
    | 'id'
    | 'name'
    | 'project_id'
    | 'network_id'
    | 'admin_state_up'
    | 'status'
    | 'mac_address'
    | 'fixed_ips'
    | 'device_id'
    | 'device_owner'
    | 'allowed_address_pairs'
    | 'port_security_enabled'
    | 'security_groups'
  >[];
  routers: Pick<
    Router,
    'id' | 'name' | 'project_id' | 'admin_state_up' | 'external_gateway_info' | 'routes'
  >[];
  floatingIps: Pick<
    FloatingIp,
    | 'id'
    | 'project_id'
    | 'floating_ip_address'
    | 'floating_network_id'
    | 'router_id'
    | 'port_id'
    | 'fixed_ip_address'
  >[];
  securityGroups: (Pick<SecurityGroup, 'id' | 'name' | 'project_id' | 'stateful'> & {
    security_group_rules: TraceRule[];
  })[];
  instances: (Pick<Instance, 'id' | 'name' | 'project_id' | 'host'> & { ports: { id: string }[] })[];
  /**
   * Set for a member's trace (`scopeTraceModel`): where the objects it may not see sit, by
   * address alone — held on a network it sees (`network_id`), or a subnet of a network it does
   * not see (`network_id` null). Absent for admins: the model is whole.
   */
  beyond?: { network_id: string | null; cidr: string }[];
  /** FWaaS: the router interfaces in a firewall group with a policy (`core/fwaas.ts`). */
  firewalls?: TraceFirewall[];
}

/** A router interface's firewall group, its policies' enabled rules in order (`core/fwaas.ts`). */
export interface TraceFirewall {
  port_id: string;
  group: { id: string; name: string };
  admin_state_up: boolean;
  ingress: TraceFirewallRule[];
  egress: TraceFirewallRule[];
}

export interface TraceFirewallRule {
  id: string;
  name: string;
  protocol: string | null;
  ip_version: 4 | 6;
  source_ip_address: string | null;
  destination_ip_address: string | null;
  source_port: string | null;
  destination_port: string | null;
  action: 'allow' | 'deny' | 'reject';
}

type TNetwork = TraceModel['networks'][number];
type TSubnet = TraceModel['subnets'][number];
type TPort = TraceModel['ports'][number];
type TRouter = TraceModel['routers'][number];
type TFloatingIp = TraceModel['floatingIps'][number];
type TGroup = TraceModel['securityGroups'][number];
type TInstance = TraceModel['instances'][number];
type Protocol = TraceRequest['protocol'];

/** A packet as it travels: addresses change at NAT. */
interface Packet {
  family: IpVersion;
  protocol: Protocol;
  port?: number;
  src: string;
  dst: string;
  /** Set once a router DNATed it. */
  dnat?: boolean;
}

/** A route in a router or an instance: the prefix, and what it leads to. */
interface RouteEntry {
  prefix: number;
  cidr: string;
  kind: 'connected' | 'external' | 'extra' | 'default' | 'host';
  subnet?: TSubnet;
  nexthop?: string;
}

/** The last hop of a member's trace that meets another project's object: no address, id or name. */
export const LEAVES_PROJECT = 'the path leaves your project: what lies beyond is not yours to see';

/** Ends the walk: the hop that failed is already recorded. */
class Stop extends Error {
  constructor(readonly verdict: Exclude<TraceVerdict, 'allowed'>) {
    super(verdict);
  }
}

const short = (id: string) => id.slice(0, 8);

function contains(cidr: string, ip: string): boolean {
  const parsed = parseCidr(cidr);
  return parsed !== null && cidrContains(parsed, ip);
}

function prefixOf(cidr: string): number {
  return parseCidr(cidr)?.prefix ?? -1;
}

function protocolText(packet: Pick<Packet, 'protocol' | 'port'>): string {
  return packet.protocol === 'icmp' ? 'icmp echo' : `${packet.protocol} port ${packet.port}`;
}

function groupBy<T>(items: readonly T[], key: (item: T) => string): Map<string, T[]> {
  const out = new Map<string, T[]>();
  for (const item of items) {
    const k = key(item);
    const list = out.get(k);
    if (list) list.push(item);
    else out.set(k, [item]);
  }
  return out;
}

/** A rule's protocol as a number, as the data plane reads it: null for any (0 too). */
function ruleProtocol(protocol: string | null): number | null | undefined {
  if (protocol === null) return null;
  const n = /^\d{1,3}$/.test(protocol) ? Number(protocol) : PROTOCOL_NUMBERS[protocol.toLowerCase()];
  return n === 0 ? null : n;
}

/** Does `rule` (of a port's groups) let this packet through in `direction`, with `remote` the far end? */
function ruleMatches(
  rule: TraceRule,
  direction: 'ingress' | 'egress',
  packet: { family: IpVersion; protocol: Protocol; port?: number; icmpType?: number; anyPort?: boolean },
  remote: string,
  isMember: (group: string, ip: string) => boolean,
): boolean {
  if (rule.direction !== direction) return false;
  if (rule.ethertype !== (packet.family === 4 ? 'IPv4' : 'IPv6')) return false;
  const protocol = ruleProtocol(rule.protocol);
  if (protocol !== null) {
    if (protocol !== TRACED[packet.protocol][packet.family]) return false;
    const min = rule.port_range_min;
    const max = rule.port_range_max;
    if (packet.protocol === 'icmp') {
      if (min !== null && min !== packet.icmpType) return false;
      if (min !== null && max !== null && max !== 0) return false;
    } else if (min !== null) {
      if (packet.anyPort || packet.port === undefined) return false;
      if (packet.port < min || packet.port > (max ?? min)) return false;
    }
  }
  if (rule.remote_group_id !== null) return isMember(rule.remote_group_id, remote);
  const prefix = rule.normalized_cidr ?? rule.remote_ip_prefix;
  return prefix === null || contains(prefix, remote);
}

/**
 * Does a firewall rule match the packet (a new connection: its source port is unknown, so a rule
 * that names one does not match)? neutron-fwaas's `icmp` of an IPv6 rule is ICMPv6.
 */
function firewallRuleMatches(rule: TraceFirewallRule, packet: Packet): boolean {
  if (rule.ip_version !== packet.family) return false;
  if (rule.protocol !== null) {
    const wanted = rule.protocol === 'ipv6-icmp' ? 'icmp' : rule.protocol;
    if (wanted !== packet.protocol) return false;
    if (rule.source_port !== null) return false;
    if (rule.destination_port !== null) {
      if (packet.port === undefined) return false;
      const [min, max = min] = rule.destination_port.split(':').map(Number) as [number, number?];
      if (packet.port < min || packet.port > (max as number)) return false;
    }
  }
  if (rule.source_ip_address !== null && !contains(cidrOf(rule.source_ip_address), packet.src)) return false;
  if (rule.destination_ip_address !== null && !contains(cidrOf(rule.destination_ip_address), packet.dst))
    return false;
  return true;
}

const cidrOf = (address: string) =>
  address.includes('/') ? address : `${address}/${address.includes(':') ? 128 : 32}`;

/** `tcp port 5000 from 10.0.0.0/24`: a firewall rule in words. */
function firewallRuleText(rule: TraceFirewallRule): string {
  const parts = [`IPv${rule.ip_version}`, rule.protocol ?? 'any protocol'];
  if (rule.destination_port) parts.push(`port ${rule.destination_port.replace(':', '-')}`);
  if (rule.source_port) parts.push(`source port ${rule.source_port.replace(':', '-')}`);
  if (rule.source_ip_address) parts.push(`from ${rule.source_ip_address}`);
  if (rule.destination_ip_address) parts.push(`to ${rule.destination_ip_address}`);
  return parts.join(' ');
}

/** `ingress IPv4 tcp port 22 from 10.0.0.0/24`, as the dashboard writes rules. */
function ruleText(rule: TraceRule, groupName: (id: string) => string): string {
  const parts = [rule.direction, rule.ethertype, rule.protocol ?? 'any protocol'];
  const { port_range_min: min, port_range_max: max } = rule;
  if (rule.protocol !== null && /icmp|^1$|^58$/.test(rule.protocol)) {
    if (min !== null) parts.push(`type ${min}`);
    if (max !== null) parts.push(`code ${max}`);
  } else if (min !== null) {
    parts.push(min === max ? `port ${min}` : `ports ${min}-${max}`);
  }
  const way = rule.direction === 'ingress' ? 'from' : 'to';
  if (rule.remote_group_id !== null) parts.push(`${way} members of ${groupName(rule.remote_group_id)}`);
  else parts.push(`${way} ${rule.remote_ip_prefix ?? 'anywhere'}`);
  return parts.join(' ');
}

class Tracer {
  readonly hops: TraceHop[] = [];
  readonly #model: TraceModel;
  /** A member's model: what it does not hold lies in another project. */
  readonly #scoped: boolean;
  readonly #networks: Map<string, TNetwork>;
  readonly #subnets: Map<string, TSubnet>;
  readonly #subnetsOf: Map<string, TSubnet[]>;
  readonly #ports: Map<string, TPort>;
  readonly #portsOf: Map<string, TPort[]>;
  readonly #routers: Map<string, TRouter>;
  readonly #routerPorts: Map<string, TPort[]>;
  readonly #groups: Map<string, TGroup>;
  readonly #firewalls: Map<string, TraceFirewall>;
  readonly #instanceOf: Map<string, { instance: TInstance; nic: number }>;

  constructor(model: TraceModel) {
    this.#model = model;
    this.#scoped = model.beyond !== undefined;
    this.#networks = new Map(model.networks.map((n) => [n.id, n]));
    this.#subnets = new Map(model.subnets.map((s) => [s.id, s]));
    this.#subnetsOf = groupBy(model.subnets, (s) => s.network_id);
    this.#ports = new Map(model.ports.map((p) => [p.id, p]));
    this.#portsOf = groupBy(model.ports, (p) => p.network_id);
    this.#routers = new Map(model.routers.map((r) => [r.id, r]));
    this.#routerPorts = groupBy(
      model.ports.filter((p) => isRouterPort(p)),
      (p) => p.device_id,
    );
    this.#groups = new Map(model.securityGroups.map((g) => [g.id, g]));
    this.#firewalls = new Map((model.firewalls ?? []).map((f) => [f.port_id, f]));
    this.#instanceOf = new Map(
      model.instances.flatMap((instance) =>
        instance.ports.map((p, nic) => [p.id, { instance, nic }] as const),
      ),
    );
  }

  // --- naming ------------------------------------------------------------------------------

  #object(type: string, thing: { id: string; name?: string } | undefined): TraceObject {
    if (!thing) return { type, id: '', name: '' };
    return { type, id: thing.id, name: thing.name ?? '' };
  }

  #named(kind: string, thing: { id: string; name?: string }): string {
    return `${kind} ${thing.name || short(thing.id)}`;
  }

  portLabel(port: TPort): string {
    const owner = this.#instanceOf.get(port.id);
    if (owner) return `port ${short(port.id)} (instance ${owner.instance.name} eth${owner.nic})`;
    return `port ${port.name || short(port.id)}`;
  }

  #network(id: string): string {
    const network = this.#networks.get(id);
    return network ? this.#named('network', network) : `network ${short(id)}`;
  }

  #subnetLabel(subnet: TSubnet): string {
    return `${this.#named('subnet', subnet)} (${subnet.cidr})`;
  }

  #groupName = (id: string): string => {
    const group = this.#groups.get(id);
    if (!group) return this.#scoped ? "another project's group" : short(id);
    return group.name || short(group.id);
  };

  // --- recording ---------------------------------------------------------------------------

  pass(step: string, object: TraceObject, detail: string): void {
    this.hops.push({ step, object, detail, ok: true });
  }

  fail(step: string, object: TraceObject, detail: string, verdict: 'denied' | 'unreachable'): never {
    this.hops.push({ step, object, detail, ok: false });
    throw new Stop(verdict);
  }

  /** The path meets an object the caller may not see: the trace ends there, saying only that. */
  leave(): never {
    this.hops.push({
      step: 'boundary',
      object: { type: 'project', id: '', name: '' },
      detail: LEAVES_PROJECT,
      ok: false,
    });
    throw new Stop('leaves_project');
  }

  /**
   * Does an object the caller may not see hold `ip` on the network `networkId` — or, with null,
   * is `ip` in a subnet of another project's network? Always false for admins.
   */
  beyond(ip: string, networkId: string | null): boolean {
    return (this.#model.beyond ?? []).some((b) => b.network_id === networkId && contains(b.cidr, ip));
  }

  /**
   * The router `port` belongs to (undefined if it is no router's port); a member's trace leaves
   * its project at a router it may not see.
   */
  #routerOf(port: TPort): TRouter | undefined {
    if (!isRouterPort(port)) return undefined;
    const router = this.#routers.get(port.device_id);
    if (!router && this.#scoped) this.leave();
    return router;
  }

  // --- lookups -----------------------------------------------------------------------------

  instance(id: string): TInstance | undefined {
    return this.#model.instances.find((i) => i.id === id);
  }

  port(id: string): TPort | undefined {
    return this.#ports.get(id);
  }

  instancePorts(instance: TInstance): TPort[] {
    return instance.ports.flatMap((p) => this.#ports.get(p.id) ?? []);
  }

  /** Ports holding `ip` as a fixed IP (on `networkId` when given). */
  holders(ip: string, networkId?: string): TPort[] {
    const ports = networkId === undefined ? this.#model.ports : (this.#portsOf.get(networkId) ?? []);
    return ports.filter((p) => p.fixed_ips.some((f) => f.ip_address === ip));
  }

  /** Ports of `networkId` (or any) whose allowed address pairs cover `ip`. */
  pairHolders(ip: string, networkId?: string): TPort[] {
    const ports = networkId === undefined ? this.#model.ports : (this.#portsOf.get(networkId) ?? []);
    return ports.filter((p) => p.allowed_address_pairs.some((pair) => covers(pair.ip_address, ip)));
  }

  floatingIpsAt(ip: string): TFloatingIp[] {
    return this.#model.floatingIps.filter((f) => f.floating_ip_address === ip);
  }

  /** The floating IP mapped to the port's address, if any (its router maps it). */
  floatingIpOf(port: TPort, fixed: string): TFloatingIp | undefined {
    return this.#model.floatingIps.find((f) => f.port_id === port.id && f.fixed_ip_address === fixed);
  }

  /** Whether `ip` lies in a subnet of a network that is not external (a tenant address). */
  isPrivate(ip: string): boolean {
    return this.#model.subnets.some(
      (s) => this.#networks.get(s.network_id)?.['router:external'] !== true && contains(s.cidr, ip),
    );
  }

  externalNetworkOf(ip: string): TNetwork | undefined {
    const subnet = this.#model.subnets.find(
      (s) => this.#networks.get(s.network_id)?.['router:external'] === true && contains(s.cidr, ip),
    );
    const viaFip = this.floatingIpsAt(ip)[0];
    const id = subnet?.network_id ?? viaFip?.floating_network_id;
    return id === undefined ? undefined : this.#networks.get(id);
  }

  anyExternalNetwork(): TNetwork | undefined {
    return this.#model.networks.find((n) => n['router:external'] === true);
  }

  /** The subnet of the port's address `ip`, else its first subnet of the family. */
  subnetOf(port: TPort, family: IpVersion, ip?: string): TSubnet | undefined {
    const fixed =
      port.fixed_ips.find((f) => f.ip_address === ip) ??
      port.fixed_ips.find((f) => ipVersion(f.ip_address) === family);
    return fixed && this.#subnets.get(fixed.subnet_id);
  }

  /**
   * Does `ip` belong to a port in `group`: one of its fixed IPs, or an allowed address pair that
   * is a single address (the data plane's member sets hold addresses, not ranges)?
   */
  #isMember = (group: string, ip: string): boolean =>
    this.#model.ports.some(
      (p) =>
        p.security_groups.includes(group) &&
        (p.fixed_ips.some((f) => f.ip_address === ip) ||
          p.allowed_address_pairs.some((pair) => singleAddress(pair.ip_address) === ip)),
    );

  // --- the walk ----------------------------------------------------------------------------

  /** From an instance's (or any) port: the source, its checks, then wherever the packet goes. */
  fromPort(port: TPort, packet: Packet): void {
    const network = this.#networks.get(port.network_id);
    if (!network && this.#scoped) this.leave();
    const owner = this.#instanceOf.get(port.id);
    const down = port.status === 'DOWN' && owner ? ' (status DOWN: its host has not wired it yet)' : '';
    this.pass(
      'source',
      this.#object('port', port),
      `${this.portLabel(port)} sends from ${packet.src} on ${this.#network(port.network_id)}${down}`,
    );
    if (!port.admin_state_up)
      this.fail(
        'source',
        this.#object('port', port),
        `${this.portLabel(port)} is administratively down`,
        'unreachable',
      );
    if (network && !network.admin_state_up)
      this.fail(
        'network',
        this.#object('network', network),
        `${this.#network(network.id)} is administratively down`,
        'unreachable',
      );
    if (!owner && !isRouterPort(port) && port.device_owner !== DeviceOwner.dhcp)
      this.fail(
        'source',
        this.#object('port', port),
        `nothing is plugged into ${this.portLabel(port)} (no instance uses it): nothing sends from it`,
        'unreachable',
      );
    const subnet = this.subnetOf(port, packet.family, packet.src);
    if (!subnet)
      this.fail(
        'subnet',
        this.#object('port', port),
        `${this.portLabel(port)} has no IPv${packet.family} address`,
        'unreachable',
      );
    this.pass(
      'subnet',
      this.#object('subnet', subnet),
      `${this.#subnetLabel(subnet)}, gateway ${subnet.gateway_ip ?? 'none'}`,
    );
    this.#antiSpoofing(port, packet);
    this.#filter(port, packet, 'egress');
    this.#fromSubnet(port, subnet, packet);
  }

  /** From outside, an instance's port is reached by its floating IP only: the address to send to. */
  floatingIpFor(target: TPort, src: string): string {
    const fixed = firstAddress(target, 4);
    const fip = fixed ? this.floatingIpOf(target, fixed) : undefined;
    if (fip) return fip.floating_ip_address;
    const network = this.externalNetworkOf(src) ?? this.anyExternalNetwork();
    this.pass('source', this.#object('network', network), `outside host ${src}`);
    this.fail(
      'floating_ip',
      this.#object('port', target),
      `no floating IP for ${this.portLabel(target)}: it cannot be reached from outside`,
      'unreachable',
    );
  }

  /** From an outside host on (or beyond) an external network. */
  fromOutside(packet: Packet, network: TNetwork | undefined): void {
    if (!network)
      this.fail(
        'source',
        { type: 'network', id: '', name: '' },
        `${packet.src} is on no external network`,
        'unreachable',
      );
    this.pass(
      'source',
      this.#object('network', network),
      `outside host ${packet.src} on the external ${this.#network(network.id)}`,
    );
    if (this.isPrivate(packet.dst) && this.floatingIpsAt(packet.dst).length === 0)
      this.fail(
        'route',
        this.#object('network', network),
        `${packet.dst} is a tenant address: the external ${this.#network(network.id)} has no route to it (reach an instance by its floating IP)`,
        'unreachable',
      );
    this.#onExternal(network, packet, 0);
  }

  #antiSpoofing(port: TPort, packet: Packet): void {
    const object = this.#object('port', port);
    if (!port.port_security_enabled) {
      this.pass(
        'anti-spoofing',
        object,
        `port security is disabled on ${this.portLabel(port)}: no anti-spoofing, no security groups`,
      );
      return;
    }
    if (port.fixed_ips.some((f) => f.ip_address === packet.src)) {
      this.pass('anti-spoofing', object, `${packet.src} is a fixed IP of ${this.portLabel(port)}`);
      return;
    }
    // The instance sends with the port's MAC: a pair with another MAC does not cover it.
    const mac = port.mac_address.toLowerCase();
    const pairs = port.allowed_address_pairs.filter((pair) => pair.mac_address.toLowerCase() === mac);
    if (pairs.some((pair) => covers(pair.ip_address, packet.src))) {
      this.pass(
        'anti-spoofing',
        object,
        `${packet.src} is an allowed address pair of ${this.portLabel(port)}`,
      );
      return;
    }
    const own = port.fixed_ips.map((f) => f.ip_address).join(', ') || 'none';
    this.fail(
      'anti-spoofing',
      object,
      `anti-spoofing on ${this.portLabel(port)} drops packets from ${packet.src}: not its fixed IP (${own}) nor an allowed address pair`,
      'denied',
    );
  }

  /**
   * The port's security groups on the packet, `egress` as it leaves the port (the far end is the
   * address the source sent to) or `ingress` as it arrives (the far end is the source address as
   * the port sees it). Stateless groups also need a rule for the reply.
   */
  #filter(port: TPort, packet: Packet, direction: 'ingress' | 'egress'): void {
    if (!port.port_security_enabled) {
      if (direction === 'ingress')
        this.pass(
          'ingress',
          this.#object('port', port),
          `port security is disabled on ${this.portLabel(port)}: nothing filters what it receives`,
        );
      return;
    }
    // Another project's group decides what this port lets through: not the caller's to see.
    if (this.#scoped && port.security_groups.some((id) => !this.#groups.has(id))) this.leave();
    const groups = port.security_groups.flatMap((id) => this.#groups.get(id) ?? []);
    const remote = direction === 'egress' ? packet.dst : packet.src;
    const match = this.#match(groups, direction, packet, remote, false);
    const what = `${protocolText(packet)} ${direction === 'egress' ? 'to' : 'from'} ${remote}`;
    if (!match) {
      const names = groups.map((g) => this.#groupName(g.id)).join(', ');
      this.fail(
        direction,
        this.#object('port', port),
        groups.length === 0
          ? `${this.portLabel(port)} has no security group: it ${direction === 'egress' ? 'sends' : 'receives'} nothing`
          : `no ${direction} rule of ${groups.length > 1 ? 'security groups' : 'security group'} ${names} on ${this.portLabel(port)} allows ${what}`,
        'denied',
      );
    }
    this.pass(
      direction,
      this.#ruleObject(match.group, match.rule),
      `${direction} rule ${short(match.rule.id)} of security group ${this.#groupName(match.group.id)} (${ruleText(match.rule, this.#groupName)}) allows ${what}`,
    );
    // The data plane tracks connections unless every group of the port is stateless.
    if (groups.length === 0 || groups.some((g) => g.stateful)) return;
    const back = direction === 'egress' ? 'ingress' : 'egress';
    const reply = this.#match(groups, back, packet, remote, true);
    if (!reply)
      this.fail(
        back,
        this.#object('port', port),
        `the security groups of ${this.portLabel(port)} are stateless and no ${back} rule lets the reply ${back === 'ingress' ? 'from' : 'to'} ${remote} through`,
        'denied',
      );
    this.pass(
      back,
      this.#ruleObject(reply.group, reply.rule),
      `stateless: ${back} rule of security group ${this.#groupName(reply.group.id)} (${ruleText(reply.rule, this.#groupName)}) lets the reply through`,
    );
  }

  #match(
    groups: TGroup[],
    direction: 'ingress' | 'egress',
    packet: Packet,
    remote: string,
    reply: boolean,
  ): { group: TGroup; rule: TraceRule } | undefined {
    const shape = {
      family: packet.family,
      protocol: packet.protocol,
      port: packet.port,
      icmpType: (reply ? ECHO_REPLY : ECHO_REQUEST)[packet.family],
      anyPort: reply,
    };
    for (const group of groups)
      for (const rule of group.security_group_rules)
        if (ruleMatches(rule, direction, shape, remote, this.#isMember)) return { group, rule };
    return undefined;
  }

  #ruleObject(group: TGroup, rule: TraceRule): TraceObject {
    return { type: 'security_group_rule', id: rule.id, name: group.name };
  }

  /** The instance's own routing: on-link within its subnet, else its host routes and gateway. */
  #fromSubnet(port: TPort, subnet: TSubnet, packet: Packet): void {
    const network = this.#networks.get(port.network_id) ?? this.leave();
    if (contains(subnet.cidr, packet.dst)) {
      this.pass(
        'l2',
        this.#object('network', network),
        `${packet.dst} is on ${this.#subnetLabel(subnet)}: delivered on ${this.#network(network.id)} (L2)`,
      );
      this.#deliver(network, packet);
      return;
    }
    const routes: RouteEntry[] = subnet.host_routes
      .filter((r) => contains(r.destination, packet.dst))
      .map((r) => ({
        prefix: prefixOf(r.destination),
        cidr: r.destination,
        kind: 'host',
        nexthop: r.nexthop,
      }));
    if (subnet.gateway_ip && ipVersion(subnet.gateway_ip) === packet.family)
      routes.push({
        prefix: 0,
        cidr: packet.family === 4 ? '0.0.0.0/0' : '::/0',
        kind: 'default',
        nexthop: subnet.gateway_ip,
      });
    const route = routes.sort((a, b) => b.prefix - a.prefix)[0];
    if (!route)
      this.fail(
        'gateway',
        this.#object('subnet', subnet),
        `${this.#subnetLabel(subnet)} has no gateway and no host route to ${packet.dst}`,
        'unreachable',
      );
    const nexthop = route.nexthop!;
    const via =
      route.kind === 'default' ? `its gateway ${nexthop}` : `host route ${route.cidr} via ${nexthop}`;
    const holder = this.holders(nexthop, network.id)[0];
    if (!holder && this.beyond(nexthop, network.id)) this.leave();
    if (!holder)
      this.fail(
        'gateway',
        this.#object('subnet', subnet),
        route.kind === 'default'
          ? `${this.#subnetLabel(subnet)} has no router interface: no port holds its gateway ${nexthop}`
          : `no port holds ${nexthop}, the next hop of ${this.#subnetLabel(subnet)}'s host route ${route.cidr}`,
        'unreachable',
      );
    const router = this.#routerOf(holder);
    if (!router)
      this.fail(
        'gateway',
        this.#object('port', holder),
        `${nexthop} (${via}) is ${this.portLabel(holder)}, not a router: the trace cannot follow the packet through it`,
        'unreachable',
      );
    this.pass(
      'gateway',
      this.#object('router', router),
      `${packet.dst} is off-link: via ${via}, an interface of ${this.#named('router', router)}`,
    );
    this.#inRouter(router, packet, 'inside', 0, holder);
  }

  /** The addresses the router holds itself (interfaces and gateway). */
  #ownAddresses(router: TRouter): string[] {
    return (this.#routerPorts.get(router.id) ?? []).flatMap((p) => p.fixed_ips.map((f) => f.ip_address));
  }

  /** Floating IPs the router NATs: associated, IPv4, and the router has a gateway (as nat.ts). */
  #natFloatingIps(router: TRouter): TFloatingIp[] {
    if (!router.external_gateway_info) return [];
    return this.#model.floatingIps.filter(
      (f) =>
        f.router_id === router.id &&
        f.port_id !== null &&
        f.fixed_ip_address !== null &&
        ipVersion(f.floating_ip_address) === 4 &&
        ipVersion(f.fixed_ip_address) === 4,
    );
  }

  /** The router's routing table, as `services/l3.ts` lays it out, best match for `ip` first. */
  #routes(router: TRouter, ip: string, family: IpVersion): RouteEntry[] {
    const routes: RouteEntry[] = [];
    const ports = this.#routerPorts.get(router.id) ?? [];
    for (const port of ports)
      for (const fixed of port.fixed_ips) {
        const subnet = this.#subnets.get(fixed.subnet_id);
        if (!subnet || !contains(subnet.cidr, ip)) continue;
        const kind = port.device_owner === DeviceOwner.routerGateway ? 'external' : 'connected';
        routes.push({ prefix: prefixOf(subnet.cidr), cidr: subnet.cidr, kind, subnet });
      }
    for (const r of router.routes)
      if (contains(r.destination, ip))
        routes.push({
          prefix: prefixOf(r.destination),
          cidr: r.destination,
          kind: 'extra',
          nexthop: r.nexthop,
        });
    const gatewayIp = this.#externalGatewayIp(router, family);
    if (gatewayIp)
      routes.push({
        prefix: 0,
        cidr: family === 4 ? '0.0.0.0/0' : '::/0',
        kind: 'default',
        nexthop: gatewayIp,
      });
    const rank = { connected: 0, external: 0, extra: 1, default: 2, host: 1 };
    return routes.sort((a, b) => b.prefix - a.prefix || rank[a.kind] - rank[b.kind]);
  }

  /** The default route's next hop: the gateway of the first external subnet of the family. */
  #externalGatewayIp(router: TRouter, family: IpVersion): string | undefined {
    for (const fixed of router.external_gateway_info?.external_fixed_ips ?? []) {
      const gateway = this.#subnets.get(fixed.subnet_id)?.gateway_ip;
      if (gateway && ipVersion(gateway) === family) return gateway;
    }
    return undefined;
  }

  #inRouter(
    router: TRouter,
    packet: Packet,
    entered: 'inside' | 'outside',
    depth: number,
    entry?: TPort,
  ): void {
    const object = this.#object('router', router);
    const name = this.#named('router', router);
    if (depth >= MAX_ROUTERS)
      this.fail(
        'route',
        object,
        `the packet went through ${MAX_ROUTERS} routers: a routing loop`,
        'unreachable',
      );
    if (!router.admin_state_up)
      this.fail('router', object, `${name} is administratively down`, 'unreachable');
    if (entry) this.#firewall(entry, 'egress', packet);
    const fip = this.#natFloatingIps(router).find((f) => f.floating_ip_address === packet.dst);
    if (fip) {
      const target = fip.port_id ? this.#ports.get(fip.port_id) : undefined;
      this.pass(
        'nat',
        this.#object('floating_ip', fip),
        `${name} DNATs floating IP ${fip.floating_ip_address} to ${fip.fixed_ip_address}${target ? ` (${this.portLabel(target)})` : ''}`,
      );
      packet.dst = fip.fixed_ip_address!;
      packet.dnat = true;
    } else if (this.#ownAddresses(router).includes(packet.dst)) {
      this.#atRouter(router, packet);
      return;
    }
    const route = this.#routes(router, packet.dst, packet.family)[0];
    if (!route)
      this.fail(
        'route',
        object,
        router.external_gateway_info
          ? `${name} has no route to ${packet.dst}`
          : `${name} has no route to ${packet.dst}: no interface on its subnet, no extra route to it, and no external gateway`,
        'unreachable',
      );
    switch (route.kind) {
      case 'connected': {
        const subnet = route.subnet!;
        const network = this.#networks.get(subnet.network_id) ?? this.leave();
        this.pass(
          'route',
          this.#object('subnet', subnet),
          `${name}: ${packet.dst} is on its connected ${this.#subnetLabel(subnet)}`,
        );
        const exit = this.#interfaceOn(router, subnet);
        if (exit) this.#firewall(exit, 'ingress', packet);
        if (packet.dnat && entered === 'inside') {
          const own = this.#interfaceAddress(router, subnet);
          this.pass(
            'nat',
            object,
            `hairpin: ${name} masquerades the source ${packet.src} to its own address ${own} on ${this.#subnetLabel(subnet)}`,
          );
          packet.src = own;
        }
        this.#deliver(network, packet);
        return;
      }
      case 'extra':
        this.#viaExtraRoute(router, route, packet, depth);
        return;
      default:
        this.#outOfGateway(router, route, packet, entered, depth);
    }
  }

  #interfaceOn(router: TRouter, subnet: TSubnet): TPort | undefined {
    return (this.#routerPorts.get(router.id) ?? []).find((p) =>
      p.fixed_ips.some((f) => f.subnet_id === subnet.id),
    );
  }

  /**
   * A router interface's firewall group on the packet (FWaaS): `egress` as it enters the router
   * from the interface's network, `ingress` as it leaves into it. The first of the direction's
   * rules that matches decides; none: the group's default drop. Interfaces in no group (or in
   * one without a policy) pass everything, and say nothing.
   */
  #firewall(port: TPort, direction: 'ingress' | 'egress', packet: Packet): void {
    const fw = this.#firewalls.get(port.id);
    if (!fw) return;
    const group = this.#object('firewall_group', fw.group);
    const groupName = `firewall group ${fw.group.name || short(fw.group.id)}`;
    const where = `${this.portLabel(port)} (router interface)`;
    const what = `${protocolText(packet)} from ${packet.src} to ${packet.dst}`;
    if (!fw.admin_state_up)
      this.fail(
        'firewall',
        group,
        `${groupName} on ${where} is administratively down: it passes nothing`,
        'denied',
      );
    const rule = fw[direction].find((r) => firewallRuleMatches(r, packet));
    if (!rule)
      this.fail(
        'firewall',
        group,
        `no ${direction} rule of ${groupName} on ${where} matches ${what}: the group's default drop`,
        'denied',
      );
    const label = `${direction} firewall rule ${rule.name || short(rule.id)} (${firewallRuleText(rule)}) of ${groupName} on ${where}`;
    const object = this.#object('firewall_rule', rule);
    if (rule.action === 'allow') this.pass('firewall', object, `${label} allows ${what}`);
    else
      this.fail(
        'firewall',
        object,
        `${label} ${rule.action === 'deny' ? 'drops' : 'rejects'} ${what}`,
        'denied',
      );
  }

  #interfaceAddress(router: TRouter, subnet: TSubnet): string {
    for (const port of this.#routerPorts.get(router.id) ?? [])
      for (const fixed of port.fixed_ips) if (fixed.subnet_id === subnet.id) return fixed.ip_address;
    return subnet.gateway_ip ?? '';
  }

  #viaExtraRoute(router: TRouter, route: RouteEntry, packet: Packet, depth: number): void {
    const name = this.#named('router', router);
    const nexthop = route.nexthop!;
    const connected = this.#routes(router, nexthop, packet.family).find(
      (r) => r.kind === 'connected' || r.kind === 'external',
    );
    const holder = connected && this.holders(nexthop, connected.subnet!.network_id)[0];
    if (connected && !holder && this.beyond(nexthop, connected.subnet!.network_id)) this.leave();
    if (!holder)
      this.fail(
        'route',
        this.#object('router', router),
        `${name}: extra route ${route.cidr} via ${nexthop}, but no port on its subnets holds ${nexthop}`,
        'unreachable',
      );
    const next = this.#routerOf(holder);
    if (!next)
      this.fail(
        'route',
        this.#object('port', holder),
        `${name}: extra route ${route.cidr} via ${nexthop}, which is ${this.portLabel(holder)}, not a router: the trace cannot follow the packet through it`,
        'unreachable',
      );
    this.pass(
      'route',
      this.#object('router', router),
      `${name}: extra route ${route.cidr} via ${nexthop}, an interface of ${this.#named('router', next)}`,
    );
    this.#inRouter(
      next,
      packet,
      holder.device_owner === DeviceOwner.routerGateway ? 'outside' : 'inside',
      depth + 1,
      holder,
    );
  }

  /** Out by the gateway: SNAT (to the source's floating IP or the gateway address), then the external network. */
  #outOfGateway(
    router: TRouter,
    route: RouteEntry,
    packet: Packet,
    entered: 'inside' | 'outside',
    depth: number,
  ): void {
    const name = this.#named('router', router);
    const info = router.external_gateway_info!;
    const network = this.#networks.get(info.network_id);
    if (!network && this.#scoped) this.leave();
    if (!network)
      this.fail('route', this.#object('router', router), `${name}'s external network is gone`, 'unreachable');
    this.pass(
      'route',
      this.#object('network', network),
      route.kind === 'default'
        ? `${name}: ${packet.dst} leaves by its external gateway on ${this.#network(network.id)} (default route via ${route.nexthop})`
        : `${name}: ${packet.dst} is on the external ${this.#network(network.id)} (${route.cidr})`,
    );
    if (!network.admin_state_up)
      this.fail(
        'network',
        this.#object('network', network),
        `${this.#network(network.id)} is administratively down`,
        'unreachable',
      );
    if (entered === 'inside' && !packet.dnat) {
      const own = this.#natFloatingIps(router).find((f) => f.fixed_ip_address === packet.src);
      const gatewayAddress = info.external_fixed_ips
        .map((f) => f.ip_address)
        .find((ip) => ipVersion(ip) === 4);
      if (own) {
        this.pass(
          'nat',
          this.#object('floating_ip', own),
          `${name} SNATs ${packet.src} to its floating IP ${own.floating_ip_address}`,
        );
        packet.src = own.floating_ip_address;
      } else if (packet.family === 4 && info.enable_snat && gatewayAddress) {
        this.pass(
          'nat',
          this.#object('router', router),
          `${name} SNATs ${packet.src} to its gateway address ${gatewayAddress}`,
        );
        packet.src = gatewayAddress;
      } else if (this.isPrivate(packet.src)) {
        this.fail(
          'nat',
          this.#object('router', router),
          `${name} does not SNAT (${packet.family === 4 ? 'enable_snat is off' : 'no NAT for IPv6'}) and ${packet.src} has no floating IP: replies to a tenant address cannot come back from the external ${this.#network(network.id)}`,
          'unreachable',
        );
      }
    }
    this.#onExternal(network, packet, depth);
  }

  /** On an external network: a floating IP (to its router), a router's gateway, or an outside host. */
  #onExternal(network: TNetwork, packet: Packet, depth: number): void {
    const fip = this.floatingIpsAt(packet.dst).find((f) => f.floating_network_id === network.id);
    if (fip) {
      const router = fip.router_id ? this.#routers.get(fip.router_id) : undefined;
      if (fip.router_id && !router && this.#scoped) this.leave();
      if (!fip.port_id || !router)
        this.fail(
          'floating_ip',
          this.#object('floating_ip', fip),
          `floating IP ${fip.floating_ip_address} is not associated with a port`,
          'unreachable',
        );
      this.pass(
        'floating_ip',
        this.#object('floating_ip', fip),
        `floating IP ${fip.floating_ip_address} is mapped by ${this.#named('router', router)} to ${fip.fixed_ip_address}`,
      );
      this.#inRouter(router, packet, 'outside', depth + 1);
      return;
    }
    const holder = this.holders(packet.dst, network.id)[0];
    if (!holder && this.beyond(packet.dst, network.id)) this.leave();
    const router = holder && this.#routerOf(holder);
    if (router) {
      this.#atRouter(router, packet);
      return;
    }
    if (holder && this.#instanceOf.has(holder.id)) {
      this.pass(
        'l2',
        this.#object('network', network),
        `${packet.dst} is on the external ${this.#network(network.id)}: delivered there (L2)`,
      );
      this.#deliver(network, packet);
      return;
    }
    if (this.isPrivate(packet.dst))
      this.fail(
        'route',
        this.#object('network', network),
        `${packet.dst} is a tenant address, which is not routed on the external ${this.#network(network.id)}`,
        'unreachable',
      );
    if (this.beyond(packet.dst, null)) this.leave();
    const subnet = (this.#subnetsOf.get(network.id) ?? []).find((s) => contains(s.cidr, packet.dst));
    this.pass(
      'destination',
      this.#object('network', network),
      subnet
        ? `${packet.dst} is an outside host on the external ${this.#network(network.id)}`
        : `${packet.dst} is beyond the external ${this.#network(network.id)}`,
    );
  }

  /** The packet is for a router's own address: routers answer pings and accept nothing else. */
  #atRouter(router: TRouter, packet: Packet): void {
    const object = this.#object('router', router);
    const name = this.#named('router', router);
    if (!router.admin_state_up)
      this.fail('router', object, `${name} is administratively down`, 'unreachable');
    if (packet.protocol !== 'icmp')
      this.fail(
        'destination',
        object,
        `${name} (${packet.dst}) accepts no ${protocolText(packet)} connections`,
        'unreachable',
      );
    this.pass('destination', object, `${packet.dst} is ${name}'s own address: it answers`);
  }

  /** L2 delivery on `network` to the port holding the destination address. */
  #deliver(network: TNetwork, packet: Packet): void {
    if (!network.admin_state_up)
      this.fail(
        'network',
        this.#object('network', network),
        `${this.#network(network.id)} is administratively down`,
        'unreachable',
      );
    const port =
      this.holders(packet.dst, network.id).find((p) => p.device_owner !== DeviceOwner.floatingIp) ??
      this.pairHolders(packet.dst, network.id)[0];
    if (!port && this.beyond(packet.dst, network.id)) this.leave();
    if (!port)
      this.fail(
        'destination',
        this.#object('network', network),
        `no port on ${this.#network(network.id)} holds ${packet.dst}`,
        'unreachable',
      );
    const router = this.#routerOf(port);
    if (router) {
      this.#atRouter(router, packet);
      return;
    }
    const object = this.#object('port', port);
    if (!port.admin_state_up)
      this.fail('destination', object, `${this.portLabel(port)} is administratively down`, 'unreachable');
    if (port.device_owner === DeviceOwner.dhcp) {
      const served =
        packet.protocol === 'icmp' ||
        (packet.protocol === 'udp' && (packet.port === 53 || packet.port === 67)) ||
        (packet.protocol === 'tcp' && packet.port === 53);
      if (!served)
        this.fail(
          'destination',
          object,
          `${packet.dst} is the DHCP server of ${this.#network(network.id)}: it serves only DHCP and DNS`,
          'unreachable',
        );
      this.pass(
        'destination',
        object,
        `${packet.dst} is the DHCP server of ${this.#network(network.id)}: it answers`,
      );
      return;
    }
    const owner = this.#instanceOf.get(port.id);
    if (!owner)
      this.fail(
        'destination',
        object,
        `nothing is plugged into ${this.portLabel(port)} (no instance uses it)`,
        'unreachable',
      );
    this.#filter(port, packet, 'ingress');
    const down = port.status === 'DOWN' ? ' (status DOWN: its host has not wired it yet)' : '';
    this.pass(
      'destination',
      this.#object('instance', owner.instance),
      `delivered to instance ${owner.instance.name} (eth${owner.nic}, port ${short(port.id)}) at ${packet.dst}${down}`,
    );
  }
}

function isRouterPort(port: Pick<TPort, 'device_owner'>): boolean {
  return (
    port.device_owner === DeviceOwner.routerGateway || ROUTER_INTERFACE_OWNERS.includes(port.device_owner)
  );
}

/** The address an allowed address pair names when it is one address (`10.0.0.5`, `10.0.0.5/32`). */
function singleAddress(pair: string): string | null {
  const [address, length] = pair.split('/');
  const ip = normalizeIp(address);
  if (!ip || (length !== undefined && Number(length) !== (ipVersion(ip) === 4 ? 32 : 128))) return null;
  return ip;
}

/** An allowed address pair (an address or a CIDR) covers `ip`. */
function covers(pair: string, ip: string): boolean {
  if (pair.includes('/')) return contains(pair, ip);
  return normalizeIp(pair) === ip;
}

type Endpoint =
  | { kind: 'instance'; instance: TInstance }
  | { kind: 'port'; port: TPort }
  | { kind: 'ip'; ip: string };

/**
 * An instance or port by id, else an instance by name, else an address. A member's model holds
 * only what it may see: another project's instance or port is not found, as an unknown one.
 */
function resolve(tracer: Tracer, model: TraceModel, ref: string, role: string): Endpoint {
  const byId = tracer.instance(ref);
  if (byId) return { kind: 'instance', instance: byId };
  const port = tracer.port(ref);
  if (port) return { kind: 'port', port };
  const named = model.instances.filter((i) => i.name === ref);
  if (named.length > 1) throw Conflict({ msg: `More than one instance exists with the name '${ref}'` });
  if (named.length === 1) return { kind: 'instance', instance: named[0] };
  const ip = normalizeIp(ref);
  if (ip) return { kind: 'ip', ip };
  throw NotFound({ msg: `No instance, port or IP address found for ${role} ${ref}` });
}

function firstAddress(port: TPort, family: IpVersion | undefined): string | undefined {
  const of = (v: IpVersion) => port.fixed_ips.find((f) => ipVersion(f.ip_address) === v)?.ip_address;
  return family ? of(family) : (of(4) ?? of(6));
}

/** Traces `request` through `model` (a member's: `scopeTraceModel`'s). */
export function trace(model: TraceModel, request: TraceRequest): TraceResult {
  const { protocol } = request;
  if (protocol !== 'icmp' && request.port === undefined)
    throw InvalidInput({ error_message: `a ${protocol} trace needs a port` });
  if (protocol === 'icmp' && request.port !== undefined)
    throw InvalidInput({ error_message: 'an icmp trace takes no port' });
  const sourceIp = request.source_ip === undefined ? undefined : normalizeIp(request.source_ip);
  if (sourceIp === null) throw InvalidInput({ error_message: `${request.source_ip} is not an IP address` });

  const tracer: Tracer = new Tracer(model);
  const source = resolve(tracer, model, request.source, 'source');
  const destination = resolve(tracer, model, request.destination, 'destination');
  let family: IpVersion | undefined =
    destination.kind === 'ip'
      ? (ipVersion(destination.ip) ?? undefined)
      : (sourceIp && ipVersion(sourceIp)) || undefined;

  // The source: a port (an instance's chosen below), or an outside host.
  let from: TPort | null = null;
  let src: string | undefined = sourceIp;
  let candidates: TPort[] = [];
  if (source.kind === 'instance') {
    candidates = tracer.instancePorts(source.instance);
    if (candidates.length === 0)
      throw InvalidInput({ error_message: `instance ${source.instance.name} has no port` });
  } else if (source.kind === 'port') {
    candidates = [source.port];
  } else {
    const held = tracer.holders(source.ip).filter((p) => !isRouterPort(p));
    const viaFip = tracer
      .floatingIpsAt(source.ip)
      .flatMap((f) => (f.port_id ? (tracer.port(f.port_id) ?? []) : []));
    const paired = tracer.pairHolders(source.ip);
    const ports = held.length > 0 ? held : viaFip.length > 0 ? viaFip : paired;
    if (ports.length > 1)
      throw Conflict({
        msg: `address ${source.ip} is held by ${ports.length} ports (${ports.map((p) => p.id).join(', ')}): name the instance or port`,
      });
    if (ports.length === 1) {
      candidates = ports;
      if (held.length === 0 && viaFip.length > 0)
        src ??= tracer.floatingIpsAt(source.ip)[0].fixed_ip_address ?? undefined;
      else src ??= source.ip;
    } else if (tracer.isPrivate(source.ip) || tracer.beyond(source.ip, null)) {
      throw NotFound({ msg: `No port holds the source address ${source.ip}` });
    } else {
      src = source.ip;
    }
    family ??= ipVersion(source.ip) ?? undefined;
  }

  // The destination: an address, or a port's (an instance's) address.
  let dst: string;
  let target: TPort | undefined;
  if (destination.kind === 'ip') {
    dst = destination.ip;
  } else {
    const ports =
      destination.kind === 'instance' ? tracer.instancePorts(destination.instance) : [destination.port];
    target = ports.find((p) => candidates.some((c) => c.network_id === p.network_id)) ?? ports[0];
    if (!target) throw InvalidInput({ error_message: `the destination has no port` });
    const address = firstAddress(target, family);
    if (!address)
      throw InvalidInput({
        error_message: `${tracer.portLabel(target)} has no IPv${family ?? 4} address`,
      });
    dst = address;
    family ??= ipVersion(address) ?? 4;
  }
  family ??= 4;

  if (candidates.length > 0) {
    from =
      (target && candidates.find((c) => c.network_id === target.network_id)) ??
      candidates.find((c) => {
        const subnet = tracer.subnetOf(c, family, src);
        return subnet !== undefined && contains(subnet.cidr, dst);
      }) ??
      candidates.find((c) => tracer.subnetOf(c, family, src)?.gateway_ip) ??
      candidates[0];
    src ??= firstAddress(from, family);
  }

  const packet: Packet = {
    family,
    protocol,
    ...(request.port !== undefined ? { port: request.port } : {}),
    src: src ?? '',
    dst,
  };
  try {
    if (from) {
      if (!src) {
        tracer.fail(
          'source',
          { type: 'port', id: from.id, name: from.name },
          `${tracer.portLabel(from)} has no IPv${family} address`,
          'unreachable',
        );
      }
      tracer.fromPort(from, packet);
    } else {
      if (target) packet.dst = dst = tracer.floatingIpFor(target, packet.src);
      tracer.fromOutside(
        packet,
        tracer.externalNetworkOf(packet.src) ?? tracer.externalNetworkOf(packet.dst),
      );
    }
  } catch (err) {
    if (!(err instanceof Stop)) throw err;
    return {
      verdict: err.verdict,
      hops: tracer.hops,
      reason: tracer.hops.at(-1)?.detail ?? err.verdict,
      ...(src ? { source_ip: src } : {}),
      destination_ip: dst,
    };
  }
  return { verdict: 'allowed', hops: tracer.hops, ...(src ? { source_ip: src } : {}), destination_ip: dst };
}
