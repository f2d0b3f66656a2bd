/**
 * The nftables text of security groups and port security (pure). Two tables per deployment, both
 * named `neutrino-sg-<owner>`, because the `bridge` family has no connection tracking on this kernel:
 *
 * - `bridge`: at prerouting every frame from a port with port security jumps (by its tap, through
 *   the map `from-port`) to the port's `from-<port>` chain, which marks it with the port's number
 *   (low 16 bits) and drops MAC, IP and ARP spoofing, DHCP-server replies and router
 *   advertisements; at forward, a frame leaving by such a port gets the port's number in the high
 *   16 bits (`to-<port>`). Frames from our VXLAN/VLAN/uplink devices get mark 0.
 * - `inet` (bridge netfilter hands it bridged IPv4/IPv6: prerouting, forward and input see the
 *   bridge as the interface, so the ports are known only from the mark): at raw priority the
 *   conntrack zone of the packet's network (by bridge); at forward one base chain per direction
 *   jumps (maps `egress`, `ingress`, by the mark) to the port's `egress-<port>`/`ingress-<port>`
 *   chain — `ct state` first, then a jump to each of its groups' `sg-<group>-<direction>` chain
 *   (one `accept` per rule), then a counted drop. Remote groups are the sets `sg-<group>-v4`/`-v6`.
 *
 * A rule change refills one group chain; a port joining a remote group adds one set element.
 */
import { createHash } from 'node:crypto';
import ipaddr from 'ipaddr.js';
import type { SnapshotSecurityGroupRule } from '../../model/host-snapshot.js';
import type { Firewall, FirewallFamily, FirewallSet } from '../state/host-state.js';

export const FIREWALL_FAMILIES: readonly FirewallFamily[] = ['bridge', 'inet'];

export function firewallTable(owner: string): string {
  return `neutrino-sg-${owner}`;
}

/** Why a port's packets were dropped, and the table counting them. */
export const DROP_REASONS = {
  /** Source MAC, IP or ARP sender not the port's (or an allowed address pair's). */
  spoof: 'bridge',
  /** The instance answered as a DHCP server (udp sport 67 or 547). */
  dhcp: 'bridge',
  /** The instance sent an IPv6 router advertisement. */
  ra: 'bridge',
  /** No egress rule allowed it. */
  egress: 'inet',
  /** No ingress rule allowed it. */
  ingress: 'inet',
  /** Connection tracking found it invalid. */
  invalid: 'inet',
} as const satisfies Record<string, FirewallFamily>;
export type DropReason = keyof typeof DROP_REASONS;

export function dropCounter(portId: string, reason: DropReason): string {
  return `drop-${portId}-${reason}`;
}

/** The port and reason of a drop counter's name, if it is one. */
export function parseDropCounter(name: string): { port: string; reason: DropReason } | undefined {
  const m = /^drop-(.+)-([a-z]+)$/.exec(name);
  return m && Object.hasOwn(DROP_REASONS, m[2]) ? { port: m[1], reason: m[2] as DropReason } : undefined;
}

/** The largest port number a mark's 16 bits carry. */
export const MAX_PORT_NUMBER = 0xffff;

export function hex(value: number): string {
  return `0x${value.toString(16).padStart(8, '0')}`;
}

/** A port's number as the `from-port` mark (low bits) and the `to-port` mark (high bits). */
export function inMark(number: number): string {
  return hex(number);
}

export function outMark(number: number): string {
  return hex(number * 0x10000);
}

export const chainNames = {
  from: (port: string) => `from-${port}`,
  to: (port: string) => `to-${port}`,
  egress: (port: string) => `egress-${port}`,
  ingress: (port: string) => `ingress-${port}`,
  group: (group: string, direction: 'ingress' | 'egress') => `sg-${group}-${direction}`,
  dscp: (value: number) => `dscp-${value}`,
};

/** The rules of a DSCP marking chain: the value set on IPv4 and IPv6 alike. */
export function dscpRules(value: number): string[] {
  return [`ip dscp set ${value}`, `ip6 dscp set ${value}`];
}

export function memberSet(group: string, ethertype: 'IPv4' | 'IPv6'): string {
  return `sg-${group}-${ethertype === 'IPv4' ? 'v4' : 'v6'}`;
}

/** The interval set of an address group's CIDRs of one family. */
export function addressGroupSet(group: string, ethertype: 'IPv4' | 'IPv6'): string {
  return `ag-${group}-${ethertype === 'IPv4' ? 'v4' : 'v6'}`;
}

/**
 * An address group's CIDRs of `kind` as interval-set elements: normalised (`network/prefix`), and
 * without those another one covers (an interval set refuses overlapping elements), sorted.
 */
export function intervalElements(cidrs: readonly string[], kind: 'ipv4' | 'ipv6'): string[] {
  const ranges = cidrs
    .filter((c) => ipaddr.isValidCIDR(c) && ipaddr.parseCIDR(c)[0].kind() === kind)
    .map((c) => {
      const prefix = ipaddr.parseCIDR(c)[1];
      const network =
        kind === 'ipv4' ? ipaddr.IPv4.networkAddressFromCIDR(c) : ipaddr.IPv6.networkAddressFromCIDR(c);
      return [network, prefix] as [ipaddr.IPv4 | ipaddr.IPv6, number];
    })
    .sort((a, b) => a[1] - b[1]);
  const kept: [ipaddr.IPv4 | ipaddr.IPv6, number][] = [];
  for (const [network, prefix] of ranges)
    if (!kept.some((range) => network.match(range as never))) kept.push([network, prefix]);
  return [...new Set(kept.map(([network, prefix]) => `${network.toString()}/${prefix}`))].sort();
}

/** ICMPv6 types a port may send from the unspecified address (DAD, router solicitation, MLD). */
const ND_FROM = ['nd-router-solicit', 'nd-neighbor-solicit', 'mld-listener-report', 'mld2-listener-report'];
/** ICMPv6 types always allowed out of a port and into it (neighbour discovery, MLD). */
const ND_EGRESS = [
  'nd-router-solicit',
  'nd-neighbor-solicit',
  'nd-neighbor-advert',
  'mld-listener-report',
  'mld2-listener-report',
];
const ND_INGRESS = ['mld-listener-query', 'nd-router-advert', 'nd-neighbor-solicit', 'nd-neighbor-advert'];

/**
 * The declarations of the sets and maps of the fixed part: those whose elements change with the
 * ports and networks, and the constant ICMPv6 type lists every port chain refers to. A named set
 * is declared once; the same list written into each port's rule would be an anonymous set per
 * rule, a kernel object each, which more than doubled the time to load 500 ports' chains.
 */
export const SKELETON_SETS: readonly (Omit<FirewallSet, 'elements'> & { elements?: readonly string[] })[] = [
  { family: 'bridge', kind: 'set', name: 'nd-from', type: 'type icmpv6_type;', elements: ND_FROM },
  { family: 'inet', kind: 'set', name: 'nd-egress', type: 'type icmpv6_type;', elements: ND_EGRESS },
  { family: 'inet', kind: 'set', name: 'nd-ingress', type: 'type icmpv6_type;', elements: ND_INGRESS },
  { family: 'bridge', kind: 'set', name: 'trunks', type: 'type ifname;' },
  { family: 'bridge', kind: 'map', name: 'from-port', type: 'type ifname : verdict;' },
  { family: 'bridge', kind: 'map', name: 'to-port', type: 'type ifname : verdict;' },
  { family: 'bridge', kind: 'map', name: 'dscp', type: 'type ifname : verdict;' },
  { family: 'inet', kind: 'set', name: 'bridges', type: 'type ifname;' },
  { family: 'inet', kind: 'set', name: 'unfiltered', type: 'type ifname;' },
  { family: 'inet', kind: 'map', name: 'zones', type: 'typeof iifname : ct zone;' },
  { family: 'inet', kind: 'map', name: 'egress', type: 'type mark : verdict;' },
  { family: 'inet', kind: 'map', name: 'ingress', type: 'type mark : verdict;' },
];

/** The base chains (hooked, policy accept): they only dispatch to the maps. */
export const BASE_CHAINS: readonly { family: FirewallFamily; name: string; hook: string; rules: string[] }[] =
  [
    {
      family: 'bridge',
      name: 'hook-prerouting',
      hook: 'type filter hook prerouting priority -200; policy accept;',
      // QoS DSCP marking after the spoofing checks: `dscp-<value>` chains by the port's tap.
      rules: ['iifname @trunks meta mark set 0x00000000', 'iifname vmap @from-port', 'iifname vmap @dscp'],
    },
    {
      family: 'bridge',
      name: 'hook-forward',
      hook: 'type filter hook forward priority -200; policy accept;',
      rules: ['oifname vmap @to-port'],
    },
    {
      family: 'inet',
      name: 'hook-zone-in',
      hook: 'type filter hook prerouting priority raw; policy accept;',
      // Our bridges without a filtered port: bridge netfilter hands their IPv4 to these hooks too
      // (a namespace-wide default), and tracking it would cost every packet for nothing.
      rules: ['iifname @unfiltered notrack', 'ct zone set iifname map @zones'],
    },
    {
      family: 'inet',
      name: 'hook-zone-out',
      hook: 'type filter hook output priority raw; policy accept;',
      rules: ['ct zone set oifname map @zones'],
    },
    {
      family: 'inet',
      name: 'hook-egress',
      hook: 'type filter hook forward priority filter; policy accept;',
      rules: ['iifname != @bridges return', 'meta mark & 0x0000ffff vmap @egress'],
    },
    {
      family: 'inet',
      name: 'hook-ingress',
      hook: 'type filter hook forward priority 10; policy accept;',
      rules: ['iifname != @bridges return', 'meta mark & 0xffff0000 vmap @ingress'],
    },
    {
      family: 'inet',
      name: 'hook-input',
      hook: 'type filter hook input priority filter; policy accept;',
      rules: ['iifname != @bridges return', 'meta mark & 0x0000ffff vmap @egress'],
    },
  ];

/** The fixed part of both tables (nft text declaring them with empty sets and maps). */
export function renderSkeleton(table: string): string {
  return FIREWALL_FAMILIES.map((family) =>
    [
      `table ${family} ${table} {`,
      ...SKELETON_SETS.filter((s) => s.family === family).map((s) => `\t${s.kind} ${s.name} { ${s.type} }`),
      ...BASE_CHAINS.filter((c) => c.family === family).map((c) =>
        [`\tchain ${c.name} {`, `\t\t${c.hook}`, ...c.rules.map((r) => `\t\t${r}`), '\t}'].join('\n'),
      ),
      '}',
    ].join('\n'),
  ).join('\n');
}

/** What a port's chains are made of (see `firewall/security-groups.ts`). */
export interface PortFilter {
  id: string;
  number: number;
  mac: string;
  /** Port MAC and allowed pairs' MACs. */
  macs: string[];
  /** (MAC, IPv4 address or CIDR) pairs it may send from. */
  ipv4: { mac: string; ip: string }[];
  /** (MAC, IPv6 address or CIDR) pairs, its EUI-64 link-local address included. */
  ipv6: { mac: string; ip: string }[];
  /** Its groups, sorted. */
  groups: string[];
  /** false only when every group is stateless. */
  stateful: boolean;
}

const set = (items: string[]) => `{ ${items.join(', ')} }`;
/** Up to this many (MAC, IP) pairs are matched by a rule each rather than an anonymous set. */
const MAX_PAIR_RULES = 4;

/**
 * Rules passing (`return`) frames whose `macKey . ipKey` is one of `list`: a rule per pair for a
 * few (an anonymous set is a kernel object of its own, costly to load by the hundred), one rule
 * with an anonymous set of concatenations beyond that.
 */
function pairRules(macKey: string, ipKey: string, list: { mac: string; ip: string }[]): string[] {
  if (list.length > MAX_PAIR_RULES)
    return [`${macKey} . ${ipKey} ${set(list.map((p) => `${p.mac} . ${p.ip}`))} return`];
  return list.map((p) => `${macKey} ${p.mac} ${ipKey} ${p.ip} return`);
}

/**
 * The `from-<port>` chain: Neutron's egress spoof chain. DHCP discovery and IPv6 DAD/ND from the
 * unspecified address pass; DHCP-server replies and router advertisements are dropped; every other
 * frame must come from one of the port's (MAC, IP) pairs, ARP included; other ethertypes (VLAN
 * tags too) are dropped.
 */
export function fromPortRules(port: PortFilter): string[] {
  const spoof = `counter name "${dropCounter(port.id, 'spoof')}" drop`;
  const dhcp = `counter name "${dropCounter(port.id, 'dhcp')}" drop`;
  const ra = `counter name "${dropCounter(port.id, 'ra')}" drop`;
  const arp = [...port.macs.map((mac) => ({ mac, ip: '0.0.0.0' })), ...port.ipv4];
  const macs = port.macs.length === 1 ? port.macs[0] : set(port.macs);
  return [
    `meta mark set ${inMark(port.number)}`,
    `ether saddr != ${macs} ${spoof}`,
    ...pairRules('arp saddr ether', 'arp saddr ip', arp),
    `ether type arp ${spoof}`,
    'ip saddr 0.0.0.0 ip daddr 255.255.255.255 udp sport 68 udp dport 67 return',
    `ether type ip udp sport 67 ${dhcp}`,
    ...pairRules('ether saddr', 'ip saddr', port.ipv4),
    `ether type ip ${spoof}`,
    'ip6 saddr :: icmpv6 type @nd-from return',
    `icmpv6 type nd-router-advert ${ra}`,
    `ether type ip6 udp sport 547 ${dhcp}`,
    ...pairRules('ether saddr', 'ip6 saddr', port.ipv6),
    spoof,
  ];
}

/** The `to-<port>` chain: the port's number into the mark's high bits. */
export function toPortRules(port: Pick<PortFilter, 'number'>): string[] {
  return [`meta mark set meta mark & 0x0000ffff | ${outMark(port.number)}`];
}

/**
 * What an instance port always sends or receives, before any rule (Neutron's and neutron-fwaas's
 * L2 firewalls alike): DHCP and DHCPv6 with the server, and IPv6 neighbour discovery and MLD
 * (`nd`: the set of ICMPv6 types, a named one or `ndTypes(direction)`).
 */
export function portNeeds(direction: 'ingress' | 'egress', nd: string): string[] {
  return direction === 'egress'
    ? ['udp sport 68 udp dport 67 accept', 'udp sport 546 udp dport 547 accept', `icmpv6 type ${nd} accept`]
    : ['udp sport 67 udp dport 68 accept', 'udp sport 547 udp dport 546 accept', `icmpv6 type ${nd} accept`];
}

/** The ICMPv6 types of `portNeeds` as an anonymous set. */
export function ndTypes(direction: 'ingress' | 'egress'): string {
  return `{ ${(direction === 'egress' ? ND_EGRESS : ND_INGRESS).join(', ')} }`;
}

/**
 * A port's `egress-<port>` or `ingress-<port>` chain: replies to allowed traffic and what a port
 * always needs (DHCP, IPv6 neighbour discovery) pass, then each group's rules, then a counted drop.
 */
export function portDirectionRules(port: PortFilter, direction: 'ingress' | 'egress'): string[] {
  const stateful = port.stateful
    ? [
        'ct state established,related accept',
        `ct state invalid counter name "${dropCounter(port.id, 'invalid')}" drop`,
      ]
    : [];
  return [
    ...stateful,
    ...portNeeds(direction, `@nd-${direction}`),
    ...port.groups.map((group) => `jump ${chainNames.group(group, direction)}`),
    `counter name "${dropCounter(port.id, direction)}" drop`,
  ];
}

/** Protocol names a rule may carry (neutron-lib's IP_PROTOCOL_MAP). */
const PROTOCOL_NUMBERS: Record<string, number> = {
  ah: 51,
  dccp: 33,
  egp: 8,
  esp: 50,
  gre: 47,
  hopopt: 0,
  icmp: 1,
  igmp: 2,
  ip: 0,
  ipip: 4,
  'ipv6-encap': 41,
  'ipv6-frag': 44,
  'ipv6-icmp': 58,
  icmpv6: 58,
  'ipv6-nonxt': 59,
  'ipv6-opts': 60,
  'ipv6-route': 43,
  ospf: 89,
  pgm: 113,
  rsvp: 46,
  sctp: 132,
  tcp: 6,
  udp: 17,
  udplite: 136,
  vrrp: 112,
};
/** Protocols whose rules take a destination port range (the port sits where TCP's does). */
const PORT_PROTOCOLS = new Set([6, 17, 33, 132, 136]);

/** A rule's protocol as a number; null for any (also 0: iptables' `-p 0`, as Neutron renders it). */
export function protocolNumber(protocol: string | null): number | null | undefined {
  if (protocol === null) return null;
  const n = /^\d{1,3}$/.test(protocol) ? Number(protocol) : PROTOCOL_NUMBERS[protocol.toLowerCase()];
  if (n === undefined || n > 255) return undefined;
  return n === 0 ? null : n;
}

function isAnywhere(cidr: string): boolean {
  return cidr.endsWith('/0');
}

function range(min: number, max: number | null): string {
  return max === null || max === min ? String(min) : `${min}-${max}`;
}

/** Why a rule cannot be rendered, if it cannot (the snapshot is checked, not trusted). */
export function invalidRule(rule: SnapshotSecurityGroupRule): string | undefined {
  if (rule.direction !== 'ingress' && rule.direction !== 'egress')
    return `invalid direction ${rule.direction}`;
  if (rule.ethertype !== 'IPv4' && rule.ethertype !== 'IPv6') return `invalid ethertype ${rule.ethertype}`;
  if (protocolNumber(rule.protocol) === undefined) return `invalid protocol ${rule.protocol}`;
  const port = (p: number | null) => p === null || (Number.isInteger(p) && p >= 0 && p <= 65535);
  if (!port(rule.port_range_min) || !port(rule.port_range_max)) return 'invalid port range';
  if (rule.remote_ip_prefix !== null) {
    if (!ipaddr.isValidCIDR(rule.remote_ip_prefix))
      return `invalid remote_ip_prefix ${rule.remote_ip_prefix}`;
    const kind = ipaddr.parseCIDR(rule.remote_ip_prefix)[0].kind();
    if ((kind === 'ipv4') !== (rule.ethertype === 'IPv4')) return 'remote_ip_prefix does not match ethertype';
  }
  return undefined;
}

/** The protocol part of a rule's match (ports, ICMP type and code). */
function protocolMatch(rule: SnapshotSecurityGroupRule): string[] {
  const n = protocolNumber(rule.protocol);
  if (n === null || n === undefined) return [];
  const { port_range_min: min, port_range_max: max } = rule;
  const v4 = rule.ethertype === 'IPv4';
  if (n === (v4 ? 1 : 58)) {
    const icmp = v4 ? 'icmp' : 'icmpv6';
    if (min === null) return [`meta l4proto ${v4 ? 'icmp' : 'ipv6-icmp'}`];
    return [`${icmp} type ${min}`, ...(max === null ? [] : [`${icmp} code ${max}`])];
  }
  const name = n === 6 ? 'tcp' : n === 17 ? 'udp' : null;
  if (!PORT_PROTOCOLS.has(n) || min === null) return [`meta l4proto ${name ?? n}`];
  return name ? [`${name} dport ${range(min, max)}`] : [`meta l4proto ${n}`, `th dport ${range(min, max)}`];
}

/** One rule of a group chain (`accept` when it matches); see `invalidRule` for what it needs. */
export function renderRule(rule: SnapshotSecurityGroupRule): string {
  const v4 = rule.ethertype === 'IPv4';
  const ip = v4 ? 'ip' : 'ip6';
  const end = rule.direction === 'ingress' ? 'saddr' : 'daddr';
  const parts = [`meta nfproto ${v4 ? 'ipv4' : 'ipv6'}`];
  if (rule.remote_group_id !== null)
    parts.push(`${ip} ${end} @${memberSet(rule.remote_group_id, rule.ethertype)}`);
  else if (rule.remote_address_group_id != null)
    parts.push(`${ip} ${end} @${addressGroupSet(rule.remote_address_group_id, rule.ethertype)}`);
  else if (rule.remote_ip_prefix !== null && !isAnywhere(rule.remote_ip_prefix))
    parts.push(`${ip} ${end} ${rule.remote_ip_prefix}`);
  return [...parts, ...protocolMatch(rule), 'accept'].join(' ');
}

/** The key of a chain, set, map or counter: `<family> <kind> <name>`. */
export function objectKey(
  family: FirewallFamily,
  kind: 'chain' | 'set' | 'map' | 'counter',
  name: string,
): string {
  return `${family} ${kind} ${name}`;
}

/** The key part of a set element (a map element is `key : value`). */
function elementKey(element: string): string {
  const colon = element.indexOf(' : ');
  return colon < 0 ? element : element.slice(0, colon);
}

/** What one transaction changes in tables that exist (see `firewall/diff.ts`). */
export interface FirewallChanges {
  /** Chains to (re)fill, with their rules. */
  fill: { family: FirewallFamily; name: string; rules: string[] }[];
  /**
   * Sets and maps whose elements change: declared first when `declare` (absent, or changed type),
   * emptied first when `rewrite`.
   */
  sets: { set: FirewallSet; add: string[]; remove: string[]; rewrite: boolean; declare: boolean }[];
  counters: { family: FirewallFamily; name: string }[];
  removeChains: { family: FirewallFamily; name: string }[];
  removeSets: { family: FirewallFamily; kind: 'set' | 'map'; name: string }[];
  removeCounters: { family: FirewallFamily; name: string }[];
}

/**
 * The `nft -f` text of one transaction: declarations first (so that rules and map elements can
 * refer to them), then chain contents, then elements, then removals (emptied before deleted).
 */
export function renderChanges(t: string, c: FirewallChanges): string {
  const lines: string[] = [];
  for (const { family, name } of c.counters) lines.push(`add counter ${family} ${t} ${name}`);
  for (const { set: s, declare } of c.sets)
    if (declare) lines.push(`add ${s.kind} ${s.family} ${t} ${s.name} { ${s.type} }`);
  for (const { family, name } of c.fill) lines.push(`add chain ${family} ${t} ${name}`);
  for (const { family, name, rules } of c.fill) {
    lines.push(`flush chain ${family} ${t} ${name}`);
    for (const rule of rules) lines.push(`add rule ${family} ${t} ${name} ${rule}`);
  }
  for (const { set: s, add, remove, rewrite } of c.sets) {
    const target = `${s.kind} ${s.family} ${t} ${s.name}`;
    if (rewrite) lines.push(`flush ${target}`);
    else if (remove.length > 0)
      lines.push(`delete element ${s.family} ${t} ${s.name} ${set(remove.map(elementKey))}`);
    if (add.length > 0) lines.push(`add element ${s.family} ${t} ${s.name} ${set(add)}`);
  }
  for (const { family, name } of c.removeChains) lines.push(`flush chain ${family} ${t} ${name}`);
  for (const { family, name } of c.removeChains) lines.push(`delete chain ${family} ${t} ${name}`);
  for (const { family, kind, name } of c.removeSets) lines.push(`delete ${kind} ${family} ${t} ${name}`);
  for (const { family, name } of c.removeCounters) lines.push(`delete counter ${family} ${t} ${name}`);
  return lines.map((line) => `${line}\n`).join('');
}

/** The text that removes both tables (whether they exist or not). */
export function renderRemoval(t: string): string {
  return FIREWALL_FAMILIES.map((f) => `table ${f} ${t} {}\ndelete table ${f} ${t}\n`).join('');
}

/** Everything of `firewall` as changes to freshly made, empty tables. */
export function allChanges(firewall: Firewall): FirewallChanges {
  return {
    fill: Object.values(firewall.chains).map(({ family, name, rules }) => ({
      family,
      name,
      rules: rules ?? [],
    })),
    sets: Object.values(firewall.sets).map((s) => ({
      set: s,
      add: s.elements,
      remove: [],
      rewrite: false,
      declare: true,
    })),
    counters: Object.values(firewall.counters),
    removeChains: [],
    removeSets: [],
    removeCounters: [],
  };
}

/**
 * nft's text listing (`list table`, `list chain`, `list set`…, one or more) as a hash per object
 * (keyed as `objectKey`): a chain by its lines, a set or map by its declaration and its sorted
 * elements (nft lists them in no fixed order). A counter's is '' (its values change).
 */
export function listingHashes(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  let family: FirewallFamily | undefined;
  let object: { kind: 'chain' | 'set' | 'map' | 'counter'; name: string; body: string[] } | undefined;
  for (const line of text.split('\n')) {
    const table = /^table (bridge|inet) \S+ \{$/.exec(line);
    if (table) {
      family = table[1] as FirewallFamily;
      continue;
    }
    const start = /^\t(chain|set|map|counter) (\S+) \{$/.exec(line);
    if (start && family) {
      object = { kind: start[1] as 'chain', name: start[2], body: [] };
      continue;
    }
    if (line === '\t}') {
      if (object && family)
        out[objectKey(family, object.kind, object.name)] =
          object.kind === 'counter' ? '' : sha256Text(canonicalBody(object));
      object = undefined;
      continue;
    }
    object?.body.push(line.trim());
  }
  return out;
}

function canonicalBody(object: { kind: string; body: string[] }): string {
  if (object.kind === 'chain') return object.body.filter((l) => l !== '').join('\n');
  const text = object.body.join(' ');
  const at = text.indexOf('elements = {');
  if (at < 0) return text;
  const end = text.lastIndexOf('}');
  const elements = text
    .slice(at + 'elements = {'.length, end)
    .split(',')
    .map((e) => e.trim())
    .filter((e) => e !== '')
    .sort();
  return `${text.slice(0, at).trim()}\n${elements.join('\n')}\n${text.slice(end + 1).trim()}`;
}

function sha256Text(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/** nft's listing of counters (`list counters table …`) as packets and bytes by counter name. */
export function parseCounters(text: string): Record<string, { packets: number; bytes: number }> {
  const out: Record<string, { packets: number; bytes: number }> = {};
  for (const m of text.matchAll(/counter (\S+) \{\s*packets (\d+) bytes (\d+)/g))
    out[m[1]] = { packets: Number(m[2]), bytes: Number(m[3]) };
  return out;
}
