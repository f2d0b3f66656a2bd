/**
 * Security groups and port security as Neutron's firewall applies them, laid out for one host
 * (pure): every port bound here with port security on (instance ports; DHCP and router ports have
 * it off) gets its spoofing and security-group chains, numbered by a mark that stays the port's
 * while it is here (an instance port in a firewall group gets its mark and zone without port
 * security too, and nothing else); every group those ports use gets its rule chains; every group
 * their rules name as a remote group gets its member sets; every bridge they sit on gets a
 * conntrack zone and bridge netfilter. The text itself is `firewall.ts`'s.
 */
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import ipaddr from 'ipaddr.js';
import { Type } from 'typebox';
import { isComputeOwner } from '../../model/device-owners.js';
import {
  type Snapshot,
  type SnapshotNetwork,
  type SnapshotPort,
  SnapshotSecurityGroup,
  SnapshotSecurityGroupRule,
} from '../../model/host-snapshot.js';
import type { L2Driver, NetworkContext } from '../drivers/driver.js';
import { loggedPortRules, nflogGroup, portLogging } from '../logging/rules.js';
import type {
  Firewall,
  FirewallChain,
  FirewallFamily,
  FirewallRule,
  FirewallSet,
  HostState,
  Problem,
} from '../state/host-state.js';
import { unusable } from '../state/usable.js';
import {
  addressGroupSet,
  chainNames,
  DROP_REASONS,
  dropCounter,
  dscpRules,
  firewallTable,
  fromPortRules,
  inMark,
  intervalElements,
  invalidRule,
  MAX_PORT_NUMBER,
  memberSet,
  objectKey,
  outMark,
  type PortFilter,
  portDirectionRules,
  protocolNumber,
  renderRule,
  renderSkeleton,
  SKELETON_SETS,
  toPortRules,
} from './render.js';

/** The numbers a previous run gave out, kept while their port or network stays (see the record). */
export interface FirewallAllocations {
  marks: Record<string, number>;
  zones: Record<string, number>;
}

export interface FirewallInput {
  snapshot: Snapshot;
  /** The host's valid ports (MACs lower-case). */
  ports: Map<string, SnapshotPort>;
  networks: Map<string, SnapshotNetwork>;
  driver: L2Driver;
  context: NetworkContext;
  /** Where what was applied is recorded (see `firewall/observe.ts`). */
  record: string;
  previous?: FirewallAllocations;
}

const MAX_ZONE = 0xffff;
const CONNTRACK_PROTOCOLS: Record<number, string> = {
  1: 'icmp',
  6: 'tcp',
  17: 'udp',
  33: 'dccp',
  58: 'icmpv6',
  132: 'sctp',
  136: 'udplite',
};

/** What the last change of the tables applied: `Firewall` plus listings (see `firewall/observe.ts`). */
export function firewallRecordFile(stateDir: string): string {
  return join(stateDir, 'security-groups.json');
}

export function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

function byId<T extends { id: string }>(items: readonly T[]): T[] {
  return [...items].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

/** An address or CIDR in nft's form: host addresses bare, networks with their length. */
function canonical(text: string): string | undefined {
  if (isPlainIpv4(text)) return text;
  if (ipaddr.isValid(text)) return ipaddr.parse(text).toString();
  if (!ipaddr.isValidCIDR(text)) return undefined;
  const [address, length] = ipaddr.parseCIDR(text);
  if (length === (address.kind() === 'ipv4' ? 32 : 128)) return address.toString();
  const network =
    address.kind() === 'ipv4'
      ? ipaddr.IPv4.networkAddressFromCIDR(text)
      : ipaddr.IPv6.networkAddressFromCIDR(text);
  return `${network.toString()}/${length}`;
}

/** A dotted quad already in canonical form (the common case, spared ipaddr's slower parse). */
function isPlainIpv4(text: string): boolean {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(text);
  return m?.slice(1).every((o) => Number(o) <= 255 && (o === '0' || !o.startsWith('0'))) === true;
}

/** Work done per port that does not change between runs, keyed by its inputs (bounded). */
const memo = new Map<string, unknown>();
function memoised<T>(key: string, make: () => T): T {
  if (memo.has(key)) return memo.get(key) as T;
  if (memo.size > 50_000) memo.clear();
  const value = make();
  memo.set(key, value);
  return value;
}

/** The EUI-64 link-local address a MAC gives an interface (Neutron allows it on every port). */
export function linkLocal(mac: string): string {
  return memoised(`lla ${mac}`, () => {
    const b = mac.split(':').map((x) => Number.parseInt(x, 16));
    const bytes = [0xfe, 0x80, 0, 0, 0, 0, 0, 0, b[0] ^ 2, b[1], b[2], 0xff, 0xfe, b[3], b[4], b[5]];
    return ipaddr.fromByteArray(bytes).toString();
  });
}

/** A number from `hash` in 1..max that `used` does not hold yet (probing upwards). */
function freeNumber(seed: number, max: number, used: Set<number>): number | undefined {
  for (let i = 0; i < max; i++) {
    const n = ((seed + i) % max) + 1;
    if (!used.has(n)) return n;
  }
  return undefined;
}

function conntrackProtocol(protocol: string | null): string | null {
  const n = protocolNumber(protocol);
  return n === null || n === undefined ? null : (CONNTRACK_PROTOCOLS[n] ?? String(n));
}

interface Checked {
  groups: Map<string, SnapshotSecurityGroup>;
  problems: Problem[];
}

/** A group's id names its chains (its rules are checked one by one). */
const GroupIdentity = Type.Pick(SnapshotSecurityGroup, ['id']);

/** The snapshot's groups with the rules that can be rendered; the others are problems. */
function checkGroups(snapshot: Snapshot): Checked {
  const problems: Problem[] = [];
  const groups = new Map<string, SnapshotSecurityGroup>();
  for (const group of byId(snapshot.security_groups ?? [])) {
    const unfit = unusable(GroupIdentity, group);
    if (unfit) {
      problems.push({ object: `security group ${group.id}`, message: unfit });
      continue;
    }
    const rules = byId(group.rules).filter((rule) => {
      const why = unusable(SnapshotSecurityGroupRule, rule) ?? invalidRule(rule);
      if (why) problems.push({ object: `security group rule ${rule.id}`, message: why });
      return why === undefined;
    });
    groups.set(group.id, { ...group, rules });
  }
  return { groups, problems };
}

/** The port's filter inputs, or why it cannot be filtered (it is then left out: traffic stays open). */
function portFilter(
  port: SnapshotPort,
  number: number,
  groups: Map<string, SnapshotSecurityGroup>,
): PortFilter | string {
  const mac = port.mac_address;
  const macs = new Set([mac]);
  const ipv4: { mac: string; ip: string }[] = [];
  const ipv6: { mac: string; ip: string }[] = [{ mac, ip: linkLocal(mac) }];
  const add = (pairMac: string, text: string) => {
    const ip = canonical(text);
    if (ip === undefined) return false;
    const list = ip.includes(':') ? ipv6 : ipv4;
    if (!list.some((p) => p.mac === pairMac && p.ip === ip)) list.push({ mac: pairMac, ip });
    return true;
  };
  for (const ip of port.fixed_ips) if (!add(mac, ip.ip_address)) return `invalid address ${ip.ip_address}`;
  for (const pair of port.allowed_address_pairs ?? []) {
    const pairMac = (pair.mac_address || mac).toLowerCase();
    if (!add(pairMac, pair.ip_address)) return `invalid allowed address pair ${pair.ip_address}`;
    macs.add(pairMac);
  }
  const own = [...new Set(port.security_groups ?? [])].filter((g) => groups.has(g)).sort();
  return {
    id: port.id,
    number,
    mac,
    macs: [...macs].sort(),
    ipv4,
    ipv6,
    groups: own,
    stateful: own.length === 0 || own.some((g) => groups.get(g)?.stateful !== false),
  };
}

/** Whether the port's traffic is filtered here: bound here, port security on, not a network port. */
export function isFiltered(port: SnapshotPort, host: string): boolean {
  return (
    port.binding_host_id === host &&
    port.port_security_enabled === true &&
    !port.device_owner.startsWith('network:')
  );
}

/** Single addresses among a port's fixed IPs and allowed address pairs (remote-group members). */
export function memberAddresses(port: Pick<SnapshotPort, 'fixed_ips' | 'allowed_address_pairs'>): string[] {
  const texts = [
    ...port.fixed_ips.map((f) => f.ip_address),
    ...(port.allowed_address_pairs ?? []).map((p) => p.ip_address),
  ];
  const out = new Set<string>();
  for (const text of texts) {
    if (isPlainIpv4(text)) out.add(text);
    else if (ipaddr.isValid(text)) out.add(ipaddr.parse(text).toString());
    else if (ipaddr.isValidCIDR(text)) {
      const [address, length] = ipaddr.parseCIDR(text);
      if (length === (address.kind() === 'ipv4' ? 32 : 128)) out.add(address.toString());
    }
  }
  return [...out].sort();
}

/**
 * Adds the security-group tables for `input.snapshot`'s filtered ports to `state.firewall` (nothing
 * when there are none: no tables, no connection tracking) and bridge netfilter to their bridges.
 * Returns the problems of what it left out.
 */
export function addFirewall(state: HostState, input: FirewallInput): Problem[] {
  const { snapshot, networks, driver, context } = input;
  const previous = input.previous ?? { marks: {}, zones: {} };
  const { groups, problems } = checkGroups(snapshot);
  // An instance port in a firewall group needs its mark and zone even without port security
  // (`firewall-groups.ts` tells its packets apart by them); it gets nothing else of these tables.
  const grouped = new Set((snapshot.firewall_groups ?? []).map((f) => f.port_id));
  const markedOnly = (p: SnapshotPort) =>
    grouped.has(p.id) && p.binding_host_id === snapshot.host && isComputeOwner(p.device_owner);
  const candidates = [...input.ports.values()]
    .filter((p) => (isFiltered(p, snapshot.host) || markedOnly(p)) && networks.has(p.network_id))
    .sort((a, b) => (a.id < b.id ? -1 : 1));
  const marked = dscpMarks(state, input);
  if (candidates.length === 0 && marked.length === 0) return problems;

  const fw: Firewall = state.firewall;
  const marks = new Map<string, number>();
  const used = new Set<number>();
  for (const port of candidates) {
    const n = previous.marks[port.id];
    if (Number.isInteger(n) && n >= 1 && n <= MAX_PORT_NUMBER && !used.has(n)) {
      marks.set(port.id, n);
      used.add(n);
    }
  }
  const filters: { port: SnapshotPort; filter: PortFilter; bridge: string; tap: string }[] = [];
  const onlyMarked: { port: SnapshotPort; number: number; bridge: string; tap: string }[] = [];
  for (const port of candidates) {
    const number = marks.get(port.id) ?? freeNumber(0, MAX_PORT_NUMBER, used);
    if (number === undefined) {
      problems.push({ object: `port ${port.id}`, message: 'no security group mark left on this host' });
      continue;
    }
    used.add(number);
    const tap = driver.portDeviceName(port.id);
    const bridge =
      state.veths[tap]?.master ?? driver.networkBridgeName(networks.get(port.network_id)!, context);
    if (!isFiltered(port, snapshot.host)) {
      onlyMarked.push({ port, number, bridge, tap });
      continue;
    }
    const filter = portFilter(port, number, groups);
    if (typeof filter === 'string') {
      problems.push({ object: `port ${port.id}`, message: filter });
      continue;
    }
    for (const g of port.security_groups ?? [])
      if (!groups.has(g))
        problems.push({ object: `port ${port.id}`, message: `unknown security group ${g}` });
    filters.push({ port, filter, bridge, tap });
  }
  if (filters.length === 0 && onlyMarked.length === 0 && marked.length === 0) return problems;

  const chain = (family: FirewallFamily, name: string, rules: string[]) => {
    fw.chains[objectKey(family, 'chain', name)] = portChain(family, name, rules);
  };
  const sets = new Map<string, FirewallSet>();
  for (const s of SKELETON_SETS) sets.set(s.name, { ...s, elements: [...(s.elements ?? [])] });
  const element = (name: string, value: string) => sets.get(name)!.elements.push(value);

  const usedGroups = new Set<string>();
  const bridges = new Map<string, string>();
  for (const { port, filter, bridge, tap } of filters) {
    const p = port.id;
    const chains = memoised(`port ${JSON.stringify(filter)}`, () => [
      portChain('bridge', chainNames.from(p), fromPortRules(filter)),
      portChain('bridge', chainNames.to(p), toPortRules(filter)),
      portChain('inet', chainNames.egress(p), portDirectionRules(filter, 'egress')),
      portChain('inet', chainNames.ingress(p), portDirectionRules(filter, 'ingress')),
    ]);
    for (const c of chains) fw.chains[objectKey(c.family, 'chain', c.name)] = c;
    const wants = portLogging(snapshot.network_logging, 'security_group', p, filter.groups);
    if (wants && snapshot.network_logging) {
      const logging = snapshot.network_logging;
      for (const [direction, c] of [
        ['egress', chains[2]],
        ['ingress', chains[3]],
      ] as const) {
        const rules = loggedPortRules(c.rules ?? [], {
          port: p,
          direction,
          logging,
          group: nflogGroup(context.owner),
          wants,
          jumpOf: (g) => chainNames.group(g, direction),
          groupRules: (g) =>
            (groups.get(g)?.rules ?? []).filter((r) => r.direction === direction).map(renderRule),
        });
        fw.chains[objectKey('inet', 'chain', c.name)] = portChain('inet', c.name, rules);
      }
    }
    element('from-port', `${JSON.stringify(tap)} : jump ${chainNames.from(p)}`);
    element('to-port', `${JSON.stringify(tap)} : jump ${chainNames.to(p)}`);
    element('egress', `${inMark(filter.number)} : jump ${chainNames.egress(p)}`);
    element('ingress', `${outMark(filter.number)} : jump ${chainNames.ingress(p)}`);
    for (const [reason, family] of Object.entries(DROP_REASONS)) {
      const name = dropCounter(p, reason as keyof typeof DROP_REASONS);
      fw.counters[objectKey(family, 'counter', name)] = { family, name };
    }
    for (const g of filter.groups) usedGroups.add(g);
    bridges.set(bridge, port.network_id);
    fw.marks[p] = filter.number;
    fw.ports[p] = { zone: 0, addresses: memberAddresses(port), groups: filter.groups };
  }

  for (const { port, number, bridge, tap } of onlyMarked) {
    chain('bridge', chainNames.from(port.id), [`meta mark set ${inMark(number)}`]);
    chain('bridge', chainNames.to(port.id), toPortRules({ number }));
    element('from-port', `${JSON.stringify(tap)} : jump ${chainNames.from(port.id)}`);
    element('to-port', `${JSON.stringify(tap)} : jump ${chainNames.to(port.id)}`);
    bridges.set(bridge, port.network_id);
    fw.marks[port.id] = number;
    fw.ports[port.id] = { zone: 0, addresses: memberAddresses(port), groups: [] };
  }

  for (const { tap, value } of marked) {
    chain('bridge', chainNames.dscp(value), dscpRules(value));
    element('dscp', `${JSON.stringify(tap)} : jump ${chainNames.dscp(value)}`);
  }

  const remote = new Set<string>();
  const addressGroups = new Set<string>();
  for (const id of [...usedGroups].sort()) {
    const group = groups.get(id)!;
    for (const direction of ['ingress', 'egress'] as const) {
      const rules = group.rules.filter((r) => r.direction === direction);
      chain('inet', chainNames.group(id, direction), rules.map(renderRule));
    }
    for (const r of group.rules) {
      if (r.remote_group_id !== null) remote.add(`${r.remote_group_id} ${r.ethertype}`);
      if (r.remote_address_group_id != null) addressGroups.add(`${r.remote_address_group_id} ${r.ethertype}`);
    }
    fw.rules[id] = group.rules.map(firewallRule);
  }
  const members = snapshot.security_group_members ?? {};
  for (const key of [...remote].sort()) {
    const [group, ethertype] = key.split(' ') as [string, 'IPv4' | 'IPv6'];
    const name = memberSet(group, ethertype);
    const addresses = (members[group] ?? []).flatMap((text) => {
      if (!ipaddr.isValid(text)) return [];
      const address = ipaddr.parse(text);
      return (address.kind() === 'ipv4') === (ethertype === 'IPv4') ? [address.toString()] : [];
    });
    const type = ethertype === 'IPv4' ? 'type ipv4_addr;' : 'type ipv6_addr;';
    sets.set(name, { family: 'inet', kind: 'set', name, type, elements: [...new Set(addresses)] });
  }

  const cidrs = snapshot.address_groups ?? {};
  for (const key of [...addressGroups].sort()) {
    const [group, ethertype] = key.split(' ') as [string, 'IPv4' | 'IPv6'];
    const name = addressGroupSet(group, ethertype);
    const type = ethertype === 'IPv4' ? 'type ipv4_addr; flags interval;' : 'type ipv6_addr; flags interval;';
    const elements = intervalElements(cidrs[group] ?? [], ethertype === 'IPv4' ? 'ipv4' : 'ipv6');
    sets.set(name, { family: 'inet', kind: 'set', name, type, elements });
  }

  const zones = new Set<number>();
  const zoneOf = new Map<string, number>();
  for (const [bridge] of [...bridges].sort()) {
    const n = previous.zones[bridge];
    if (Number.isInteger(n) && n >= 1 && n <= MAX_ZONE && !zones.has(n)) {
      zoneOf.set(bridge, n);
      zones.add(n);
    }
  }
  for (const [bridge, network] of [...bridges].sort()) {
    if (zoneOf.has(bridge)) continue;
    const seed = Number.parseInt(sha256(network).slice(0, 8), 16);
    const n = freeNumber(seed, MAX_ZONE, zones)!;
    zoneOf.set(bridge, n);
    zones.add(n);
  }
  for (const [bridge, zone] of zoneOf) {
    fw.zones[bridge] = zone;
    element('bridges', JSON.stringify(bridge));
    element('zones', `${JSON.stringify(bridge)} : ${zone}`);
    // Bridge netfilter for our own bridges only; a mapped host bridge relies on the host's sysctl.
    if (state.bridges[bridge]) state.bridges[bridge].nfCall = true;
  }
  for (const bridge of Object.keys(state.bridges))
    if (!zoneOf.has(bridge)) element('unfiltered', JSON.stringify(bridge));
  for (const { port, bridge } of [...filters, ...onlyMarked]) fw.ports[port.id].zone = zoneOf.get(bridge)!;
  const trunks = [
    ...Object.entries(state.vxlans).map(([name, v]) => [name, v.master] as const),
    ...Object.entries(state.vlans).map(([name, v]) => [name, v.master] as const),
    ...Object.entries(state.uplinks).map(([name, u]) => [name, u.master] as const),
  ];
  for (const [name, master] of trunks)
    if (master !== null && zoneOf.has(master)) element('trunks', JSON.stringify(name));

  for (const s of sets.values()) {
    s.elements = [...new Set(s.elements)].sort();
    fw.sets[objectKey(s.family, s.kind, s.name)] = s;
  }
  fw.table = firewallTable(context.owner);
  fw.record = input.record;
  fw.skeleton = sha256(renderSkeleton(fw.table));
  return problems;
}

/** Neutron's valid DSCP marks (neutron-lib's VALID_DSCP_MARKS): 0 and the even values to 56. */
function isDscpMark(value: unknown): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= 0 && value <= 56 && value % 2 === 0;
}

/** The instance ports bound here whose QoS policy marks what they send, with the mark. */
function dscpMarks(state: HostState, input: FirewallInput): { tap: string; value: number }[] {
  const marked: { tap: string; value: number }[] = [];
  for (const port of input.ports.values()) {
    const value = port.qos?.dscp_mark;
    if (value === null || value === undefined || port.binding_host_id !== input.snapshot.host) continue;
    const tap = input.driver.portDeviceName(port.id);
    if (state.veths[tap] && isDscpMark(value)) marked.push({ tap, value });
  }
  return marked.sort((a, b) => (a.tap < b.tap ? -1 : 1));
}

function portChain(family: FirewallFamily, name: string, rules: string[]): FirewallChain {
  return { family, name, hash: sha256(rules.join('\n')), rules };
}

function firewallRule(rule: SnapshotSecurityGroupRule): FirewallRule {
  const prefix = rule.remote_ip_prefix;
  return {
    id: rule.id,
    direction: rule.direction,
    ethertype: rule.ethertype,
    protocol: conntrackProtocol(rule.protocol),
    remote: prefix === null || prefix.endsWith('/0') ? null : (canonical(prefix) ?? null),
    remoteGroup: rule.remote_group_id,
  };
}
