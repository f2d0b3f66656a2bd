/** What a trace matches packets with (pure): security-group and firewall rules, addresses, protocols. */
import { DeviceOwner, ROUTER_INTERFACE_OWNERS } from '../../model/device-owners.js';
import { cidrContains, type IpVersion, ipVersion, normalizeIp, parseCidr } from '../ipam.js';
import type { Packet, Protocol, TPort, TraceFirewallRule, TraceRule } from './model.js';

/** ICMP echo request: the type a ping sends. */
export const ECHO_REQUEST = { 4: 8, 6: 128 } as const;
export const ECHO_REPLY = { 4: 0, 6: 129 } as const;
/** The protocol numbers of the rule protocol names a trace can meet (0, `ip`, `hopopt`: any). */
export const PROTOCOL_NUMBERS: Record<string, number> = {
  ip: 0,
  hopopt: 0,
  icmp: 1,
  tcp: 6,
  udp: 17,
  'ipv6-icmp': 58,
  icmpv6: 58,
};
/** The number of each traced protocol per family. */
export const TRACED = { tcp: { 4: 6, 6: 6 }, udp: { 4: 17, 6: 17 }, icmp: { 4: 1, 6: 58 } } as const;

export const short = (id: string) => id.slice(0, 8);

export function contains(cidr: string, ip: string): boolean {
  const parsed = parseCidr(cidr);
  return parsed !== null && cidrContains(parsed, ip);
}

export function prefixOf(cidr: string): number {
  return parseCidr(cidr)?.prefix ?? -1;
}

export function protocolText(packet: Pick<Packet, 'protocol' | 'port'>): string {
  return packet.protocol === 'icmp' ? 'icmp echo' : `${packet.protocol} port ${packet.port}`;
}

export function groupBy<T>(items: readonly T[], key: (item: T) => string): Map<string, T[]> {
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
export function ruleProtocol(protocol: string | null): number | null | undefined {
  if (protocol === null) return null;
  const n = /^\d{1,3}$/.test(protocol) ? Number(protocol) : PROTOCOL_NUMBERS[protocol.toLowerCase()];
  return n === 0 ? null : n;
}

/** Does `rule` (of a port's groups) let this packet through in `direction`, with `remote` the far end? */
export function ruleMatches(
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
export function firewallRuleMatches(rule: TraceFirewallRule, packet: Packet): boolean {
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

export const cidrOf = (address: string) =>
  address.includes('/') ? address : `${address}/${address.includes(':') ? 128 : 32}`;

/** `tcp port 5000 from 10.0.0.0/24`: a firewall rule in words. */
export function firewallRuleText(rule: TraceFirewallRule): string {
  const parts = [`IPv${rule.ip_version}`, rule.protocol ?? 'any protocol'];
  if (rule.destination_port) parts.push(`port ${rule.destination_port.replace(':', '-')}`);
  if (rule.source_port) parts.push(`source port ${rule.source_port.replace(':', '-')}`);
  if (rule.source_ip_address) parts.push(`from ${rule.source_ip_address}`);
  if (rule.destination_ip_address) parts.push(`to ${rule.destination_ip_address}`);
  return parts.join(' ');
}

/** `ingress IPv4 tcp port 22 from 10.0.0.0/24`, as the dashboard writes rules. */
export function ruleText(rule: TraceRule, groupName: (id: string) => string): string {
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

export function isRouterPort(port: Pick<TPort, 'device_owner'>): boolean {
  return (
    port.device_owner === DeviceOwner.routerGateway || ROUTER_INTERFACE_OWNERS.includes(port.device_owner)
  );
}

/** The address an allowed address pair names when it is one address (`10.0.0.5`, `10.0.0.5/32`). */
export function singleAddress(pair: string): string | null {
  const [address, length] = pair.split('/');
  const ip = normalizeIp(address);
  if (!ip || (length !== undefined && Number(length) !== (ipVersion(ip) === 4 ? 32 : 128))) return null;
  return ip;
}

/** An allowed address pair (an address or a CIDR) covers `ip`. */
export function covers(pair: string, ip: string): boolean {
  if (pair.includes('/')) return contains(pair, ip);
  return normalizeIp(pair) === ip;
}
