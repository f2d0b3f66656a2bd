/**
 * A router's firewall groups (FWaaS v2) as one nftables table of its own in the router namespace,
 * `inet neutrino-fwaas`, rendered as the text of one `nft -f` transaction that replaces the table
 * whole (pure); a router without firewalls gets the transaction that removes it. neutron-fwaas's
 * L3 recipe: at the forward hook, for each interface in a group, its `ingress` chain for what the
 * router sends into the port's network (`oifname qr-…`) and its `egress` chain for what it
 * receives from it (`iifname qr-…`); each drops invalid packets, accepts established and related
 * ones (as security groups do), then runs the policy's enabled rules in order (allow: accept,
 * deny: drop, reject: ICMP port unreachable, as neutron-fwaas's iptables driver answers), then
 * drops the rest. Ingress and egress are two base chains, so a packet between two guarded
 * interfaces must pass both (an accept in one base chain does not skip the other). An interface
 * of a group that is administratively down passes nothing. Every rule and each default drop
 * counts into a named counter (`fwaas-<port>-<direction>-<rule id | default>`), so a drop is
 * attributed to a rule; counters start again from zero when the table is replaced.
 */
import { join } from 'node:path';
import ipaddr from 'ipaddr.js';
import type { ConnectionFilter } from '../../linux/conntrack.js';
import {
  LowerUuid,
  SnapshotFirewallRule,
  type SnapshotNetworkLogging,
  type SnapshotPortFirewall,
} from '../../model/host-snapshot.js';
import { limitedLogRule, logStatement, portLogging } from '../logging/rules.js';
import { unusable } from '../state/usable.js';

export const FWAAS_FAMILY = 'inet';
export const FWAAS_TABLE = 'neutrino-fwaas';
export type FirewallDirection = 'ingress' | 'egress';

/** The named counter of one rule (or `default`, the final drop) of a port's direction. */
export function fwaasCounter(portId: string, direction: FirewallDirection, rule: string): string {
  return `fwaas-${portId}-${direction}-${rule}`;
}

/** The port, direction and rule (or `default`) of a counter's name, if it is one of ours. */
export function parseFwaasCounter(
  name: string,
): { port: string; direction: FirewallDirection; rule: string } | undefined {
  const m = /^fwaas-([0-9a-f-]{36})-(ingress|egress)-(default|[0-9a-f-]{36})$/.exec(name);
  return m ? { port: m[1] as string, direction: m[2] as FirewallDirection, rule: m[3] as string } : undefined;
}

const NAMED_PROTOCOLS = ['tcp', 'udp', 'icmp', 'ipv6-icmp', 'sctp', 'dccp'];
const PORTED = ['tcp', 'udp', 'sctp', 'dccp'];

/** Why a rule cannot be rendered, if it cannot (the server validates; this guards the text). */
export function invalidFirewallRule(rule: SnapshotFirewallRule): string | undefined {
  const why = unusable(SnapshotFirewallRule, rule);
  if (why) return `rule ${rule.id}: ${why}`;
  if (rule.protocol !== null && !NAMED_PROTOCOLS.includes(rule.protocol))
    return `unsupported protocol ${rule.protocol}`;
  for (const address of [rule.source_ip_address, rule.destination_ip_address]) {
    if (address === null) continue;
    const valid = address.includes('/') ? ipaddr.isValidCIDR(address) : ipaddr.isValid(address);
    if (!valid) return `invalid address ${address}`;
    const kind = ipaddr.parse(address.split('/')[0] as string).kind();
    if ((kind === 'ipv4') !== (rule.ip_version === 4))
      return `address ${address} is not IPv${rule.ip_version}`;
  }
  for (const range of [rule.source_port, rule.destination_port])
    if (range !== null && (!/^\d{1,5}(:\d{1,5})?$/.test(range) || !PORTED.includes(rule.protocol ?? '')))
      return `invalid port range ${range}`;
  if (!['allow', 'deny', 'reject'].includes(rule.action)) return `unknown action ${rule.action}`;
  return undefined;
}

/** A CIDR with its host bits cleared (nft refuses `10.0.0.1/24`); a plain address stays. */
function prefix(address: string): string {
  if (!address.includes('/')) return ipaddr.parse(address).toString();
  const [ip, length] = ipaddr.parseCIDR(address);
  const network =
    ip.kind() === 'ipv4'
      ? ipaddr.IPv4.networkAddressFromCIDR(address)
      : ipaddr.IPv6.networkAddressFromCIDR(address);
  return `${network.toString()}/${length}`;
}

/** One rule's nft text: its match, its counter, its verdict (an accept logged by `log`, if given). */
export function renderFirewallRule(
  portId: string,
  direction: FirewallDirection,
  rule: SnapshotFirewallRule,
  log?: string,
): string {
  const parts = firewallRuleMatch(rule);
  parts.push(`counter name "${fwaasCounter(portId, direction, rule.id)}"`);
  if (log && rule.action === 'allow') parts.push(log);
  parts.push(
    rule.action === 'allow'
      ? 'accept'
      : rule.action === 'deny'
        ? 'drop'
        : 'reject with icmpx type port-unreachable',
  );
  return parts.join(' ');
}

/** A rule's match, as nft expressions. */
function firewallRuleMatch(rule: SnapshotFirewallRule): string[] {
  const family = rule.ip_version === 4 ? 'ip' : 'ip6';
  const parts = [`meta nfproto ${rule.ip_version === 4 ? 'ipv4' : 'ipv6'}`];
  if (rule.source_ip_address) parts.push(`${family} saddr ${prefix(rule.source_ip_address)}`);
  if (rule.destination_ip_address) parts.push(`${family} daddr ${prefix(rule.destination_ip_address)}`);
  if (rule.protocol) {
    // neutron-fwaas matches `icmp` of an IPv6 rule as ICMPv6.
    const protocol = rule.protocol === 'icmp' && rule.ip_version === 6 ? 'ipv6-icmp' : rule.protocol;
    parts.push(`meta l4proto ${protocol}`);
    const span = (range: string) => range.replace(':', '-');
    if (rule.source_port) parts.push(`th sport ${span(rule.source_port)}`);
    if (rule.destination_port) parts.push(`th dport ${span(rule.destination_port)}`);
  }
  return parts;
}

/**
 * The rules of one interface's direction with network logging (`logging/rules.ts`): a
 * `log` in each allow rule's accept, and a rate-limited `log` rule before each deny or reject rule
 * and before the default drop.
 */
function loggedRules(
  f: SnapshotPortFirewall,
  direction: FirewallDirection,
  logging: FwaasLogging | undefined,
): string[] {
  const wants = logging && portLogging(logging.config, 'firewall_group', f.port_id, [f.firewall_group_id]);
  const fallback = `counter name "${fwaasCounter(f.port_id, direction, 'default')}" drop`;
  if (!logging || !wants)
    return [...f[direction].map((r) => renderFirewallRule(f.port_id, direction, r)), fallback];
  const tag = (event: 'ACCEPT' | 'DROP') => ({
    event,
    direction,
    port: f.port_id,
    group: f.firewall_group_id,
  });
  const accept = wants.accept.size > 0 ? logStatement(logging.group, tag('ACCEPT')) : undefined;
  const dropLog = limitedLogRule(logging.config, logging.group, tag('DROP'));
  const out: string[] = [];
  for (const rule of f[direction]) {
    if (rule.action !== 'allow' && wants.drop) out.push([...firewallRuleMatch(rule), dropLog].join(' '));
    out.push(renderFirewallRule(f.port_id, direction, rule, accept));
  }
  if (wants.drop) out.push(dropLog);
  return [...out, fallback];
}

/** What a router's firewalls log, and to which NFLOG group. */
export interface FwaasLogging {
  config: SnapshotNetworkLogging;
  group: number;
}

/**
 * What each enabled rule of the usable `firewalls` decides, one key per rule (its fields, action
 * included), as `connectionFilterOf` reads them: when the router's rules change, the connections
 * of every rule that appeared, went or changed are deleted, as neutron-fwaas does, so a removed
 * allow (or a new deny) takes effect on established flows too; flows another rule still allows
 * are tracked again at their next packet.
 */
export function fwaasRuleKeys(firewalls: SnapshotPortFirewall[]): string[] {
  const keys = new Set<string>();
  for (const f of firewalls)
    for (const rule of [...f.ingress, ...f.egress])
      keys.add(
        JSON.stringify([
          rule.ip_version,
          rule.protocol,
          rule.source_ip_address,
          rule.destination_ip_address,
          rule.source_port,
          rule.destination_port,
          rule.action,
          f.port_id,
          f.admin_state_up,
        ]),
      );
  return [...keys].sort();
}

/** The connections (in the router namespace's default zone) a rule key of `fwaasRuleKeys` covers. */
export function connectionFilterOf(key: string): ConnectionFilter {
  const [version, protocol, source, destination] = JSON.parse(key) as [
    4 | 6,
    string | null,
    string | null,
    string | null,
  ];
  const family = version === 4 ? 'ipv4' : 'ipv6';
  // conntrack names ICMPv6 `icmpv6`; an address with a prefix cannot be matched exactly, so the
  // filter then covers every address (more is deleted, and tracked again if still allowed).
  const name = protocol === 'ipv6-icmp' ? 'icmpv6' : (protocol ?? undefined);
  const single = (a: string | null) => (a === null || a.includes('/') ? undefined : a);
  const src = single(source);
  const dst = single(destination);
  return {
    zone: 0,
    family,
    ...(name === undefined ? {} : { protocol: name }),
    ...(src === undefined ? {} : { src }),
    ...(dst === undefined ? {} : { dst }),
  };
}

/** The chain of one port's direction. */
export function portChain(portId: string, direction: FirewallDirection): string {
  return `${direction}-${portId}`;
}

/**
 * The `nft -f` text that makes the router's FWaaS table exactly this: the firewalls of its
 * interfaces (`device` names a port's `qr-…` device). Firewalls of ports with unusable ids or
 * rules are left out and reported in `problems`.
 */
export function renderFwaasRuleset(
  firewalls: SnapshotPortFirewall[],
  device: (portId: string) => string,
  problems: string[] = [],
  logging?: FwaasLogging,
): string {
  const select = (portId: string, direction: FirewallDirection) => {
    const dev = JSON.stringify(device(portId));
    return direction === 'ingress' ? `oifname ${dev}` : `iifname ${dev}`;
  };
  return renderFirewallGroupTable(`${FWAAS_FAMILY} ${FWAAS_TABLE}`, firewalls, { select, problems, logging });
}

/** How `renderFirewallGroupTable` finds and treats a table's ports. */
export interface FirewallGroupPorts {
  /** The nft match of a port's packets in a direction: a router interface's device, an instance port's mark. */
  select: (portId: string, direction: FirewallDirection) => string;
  /** Rules accepting what every port needs, after the connection states and before the policy's. */
  always?: (direction: FirewallDirection) => string[];
  /** Where the firewalls left out are reported. */
  problems?: string[];
  logging?: FwaasLogging;
}

/**
 * The `nft -f` text that makes `table` (`<family> <name>`) hold exactly these firewalls: at the
 * forward hook, per port and direction, a jump to its chain for the packets `how.select` matches
 * (a router interface's device, an instance port's mark). The one rendering of
 * firewall groups, for router namespaces (above) and instance ports (`firewall/firewall-groups.ts`).
 * Firewalls of ports with unusable ids or rules are left out and reported in `problems`; without
 * any, the text only removes the table.
 */
export function renderFirewallGroupTable(
  table: string,
  firewalls: SnapshotPortFirewall[],
  how: FirewallGroupPorts,
): string {
  const { select, always = () => [], problems = [], logging } = how;
  const usable = [...firewalls]
    .filter((f) => {
      if (unusable(LowerUuid, f.port_id)) {
        problems.push(`firewall of port ${f.port_id}: unusable port id`);
        return false;
      }
      for (const rule of [...f.ingress, ...f.egress]) {
        const why = invalidFirewallRule(rule);
        if (why) {
          problems.push(`firewall of port ${f.port_id}: rule ${rule.id}: ${why}`);
          return false;
        }
      }
      return true;
    })
    .sort((a, b) => a.port_id.localeCompare(b.port_id));
  // Declaring the table first makes the delete valid when it does not exist yet; the commands
  // are one transaction, so the table is never seen empty or half-written.
  const lines = [`table ${table} {}`, `delete table ${table}`];
  if (usable.length === 0) return `${lines.join('\n')}\n`;
  const counters: string[] = [];
  const chains: string[] = [];
  const jumps: Record<FirewallDirection, string[]> = { ingress: [], egress: [] };
  for (const f of usable) {
    for (const direction of ['ingress', 'egress'] as const) {
      const rules = f[direction];
      const fallback = fwaasCounter(f.port_id, direction, 'default');
      counters.push(
        fallback,
        ...(f.admin_state_up ? rules.map((r) => fwaasCounter(f.port_id, direction, r.id)) : []),
      );
      const body = f.admin_state_up
        ? [
            'ct state invalid drop',
            'ct state established,related accept',
            ...always(direction),
            ...loggedRules(f, direction, logging),
          ]
        : [`counter name "${fallback}" drop`];
      const name = portChain(f.port_id, direction);
      chains.push([`\tchain ${name} {`, ...body.map((r) => `\t\t${r}`), '\t}'].join('\n'));
      jumps[direction].push(`${select(f.port_id, direction)} jump ${name}`);
    }
  }
  const base = (name: string, priority: string, rules: string[]) =>
    [
      `\tchain ${name} {`,
      `\t\ttype filter hook forward priority ${priority}; policy accept;`,
      ...rules.map((r) => `\t\t${r}`),
      '\t}',
    ].join('\n');
  return [
    ...lines,
    `table ${table} {`,
    ...[...new Set(counters)].map((name) => `\tcounter ${name} {\n\t}`),
    base('forward-ingress', 'filter', jumps.ingress),
    base('forward-egress', 'filter + 1', jumps.egress),
    ...chains,
    '}',
    '',
  ].join('\n');
}

/**
 * nft's listing of the table without its counters' values (they change with traffic), for the
 * hash that verification compares.
 */
export function canonicalFwaasListing(listing: string): string {
  return listing.replace(/packets \d+ bytes \d+/g, '');
}

/** What the last apply recorded (`fwaas.json` in the router's directory). */
export interface FwaasRecord {
  /** sha256 of the ruleset applied. */
  hash: string;
  /** What its rules decide (`fwaasRuleKeys`): the connections a later change must not leave alone. */
  rules?: string[];
  /** sha256 of nft's listing right after, without counter values ('' when no table remained). */
  listing: string;
}

export function fwaasRecordFile(dir: string): string {
  return join(dir, 'fwaas.json');
}
