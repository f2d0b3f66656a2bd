/**
 * Firewall groups (FWaaS v2) on instance ports, as neutron-fwaas's L2 extension applies them: one
 * `inet` table in the root namespace, `neutrino-fwg-<owner>`, rendered by the router side's
 * renderer (`l3/fwaas.ts`) as one `nft -f` transaction that replaces it whole, and recorded like
 * the other root tables (`tables/`). Ingress is what the instance receives, egress what it sends.
 *
 * The bridge family has no connection tracking on this kernel, so the table sits where security
 * groups' stateful half does (`render.ts`): bridge netfilter hands bridged IPv4/IPv6 to the inet
 * forward hook with the bridge as both interfaces, so a port is known by the mark the security
 * groups' bridge table gave its frames (low 16 bits: sent by the port; high 16 bits: leaving by
 * it) and its connections are tracked in its bridge's zone. A packet must pass both tables' base
 * chains: an accept in one does not skip the other. As neutron-fwaas's L2 firewall, DHCP and IPv6
 * neighbour discovery pass before the policy's rules. A port in a group gets its mark and zone
 * even without port security (`security-groups.ts`); one without a mark (none left) is reported
 * and left unfiltered.
 */
import { join } from 'node:path';
import type { ConnectionFilter } from '../../linux/conntrack.js';
import type { SnapshotNetwork, SnapshotPort, SnapshotPortFirewall } from '../../model/host-snapshot.js';
import type { L2Driver, NetworkContext } from '../drivers/driver.js';
import { type FirewallDirection, renderFirewallGroupTable } from '../l3/fwaas.js';
import { sha256 } from '../l3/router.js';
import type { HostState, Problem } from '../state/host-state.js';
import { inMark, ndTypes, outMark, portNeeds } from './render.js';

export const FIREWALL_GROUPS_FAMILY = 'inet';

export function firewallGroupsTable(owner: string): string {
  return `neutrino-fwg-${owner}`;
}

/** The record of what the last change loaded, in the state dir. */
export function firewallGroupsRecordFile(stateDir: string): string {
  return join(stateDir, 'firewall-groups.json');
}

export interface FirewallGroupsInput {
  firewalls: readonly SnapshotPortFirewall[];
  /** The host's valid ports. */
  ports: Map<string, SnapshotPort>;
  networks: Map<string, SnapshotNetwork>;
  driver: L2Driver;
  context: NetworkContext;
  stateDir: string;
}

/** The transaction that only removes the table (a host without firewalled instance ports). */
export function renderFirewallGroupsRemoval(table: string): string {
  return renderFirewallGroupTable(`${FIREWALL_GROUPS_FAMILY} ${table}`, [], { select: () => '' });
}

/**
 * Sets `state.firewallGroups` (left unset: no table) for the firewalls of instance ports whose
 * frames the security groups mark (run after `addFirewall`), and bridge netfilter on their
 * bridges; returns the firewalls it left out and why.
 */
export function addFirewallGroups(state: HostState, input: FirewallGroupsInput): Problem[] {
  const problems: Problem[] = [];
  const bridges = new Map<string, string>();
  const applied: SnapshotPortFirewall[] = [];
  for (const f of [...input.firewalls].sort((a, b) => a.port_id.localeCompare(b.port_id))) {
    const object = `firewall group ${f.firewall_group_id}`;
    const port = input.ports.get(f.port_id);
    const network = port && input.networks.get(port.network_id);
    if (!port || !network) {
      problems.push({ object, message: `port ${f.port_id} is not a valid port of this host` });
      continue;
    }
    if (state.firewall.marks[f.port_id] === undefined) {
      problems.push({
        object,
        message: `not applied on port ${f.port_id}: it has no security-group mark on this host`,
      });
      continue;
    }
    const tap = input.driver.portDeviceName(port.id);
    bridges.set(port.id, state.veths[tap]?.master ?? input.driver.networkBridgeName(network, input.context));
    applied.push(f);
  }
  if (applied.length === 0) return problems;
  const select = (portId: string, direction: FirewallDirection) => {
    const number = state.firewall.marks[portId] as number;
    const bridge = JSON.stringify(bridges.get(portId));
    return direction === 'ingress'
      ? `oifname ${bridge} meta mark & 0xffff0000 == ${outMark(number)}`
      : `iifname ${bridge} meta mark & 0x0000ffff == ${inMark(number)}`;
  };
  const why: string[] = [];
  const table = firewallGroupsTable(input.context.owner);
  const always = (direction: FirewallDirection) => portNeeds(direction, ndTypes(direction));
  const transaction = renderFirewallGroupTable(`${FIREWALL_GROUPS_FAMILY} ${table}`, applied, {
    select,
    always,
    problems: why,
  });
  for (const message of why) problems.push({ object: 'firewall groups', message });
  for (const bridge of bridges.values()) if (state.bridges[bridge]) state.bridges[bridge].nfCall = true;
  const rules = instanceRuleKeys(applied, (portId) => ({
    zone: state.firewall.ports[portId]?.zone ?? 0,
    addresses: state.firewall.ports[portId]?.addresses ?? [],
  }));
  state.firewallGroups = {
    family: FIREWALL_GROUPS_FAMILY,
    name: table,
    hash: sha256(transaction),
    transaction,
    rules,
    record: firewallGroupsRecordFile(input.stateDir),
  };
  return problems;
}

/** A rule key of `instanceRuleKeys`: what the rule decides, and where its connections are. */
interface InstanceRuleKey {
  zone: number;
  /** The port's addresses of the rule's IP version. */
  addresses: string[];
  direction: FirewallDirection;
  version: 4 | 6;
  protocol: string | null;
  rule: unknown[];
}

/**
 * One key per enabled rule of each firewalled port (its fields and action, the port's conntrack
 * zone and addresses, the group's state), as the router side's `fwaasRuleKeys`: when they change,
 * the connections of every key that appeared or went are deleted (`instanceConnections`), as
 * neutron-fwaas cuts the connections of changed rules, so a removed allow (or a new deny) takes
 * effect on established flows too; those another rule still allows are tracked again.
 */
export function instanceRuleKeys(
  firewalls: readonly SnapshotPortFirewall[],
  where: (portId: string) => { zone: number; addresses: string[] },
): string[] {
  const keys = new Set<string>();
  for (const f of firewalls) {
    const { zone, addresses } = where(f.port_id);
    for (const direction of ['ingress', 'egress'] as const)
      for (const r of f[direction]) {
        const key: InstanceRuleKey = {
          zone,
          addresses: addresses.filter((a) => a.includes(':') === (r.ip_version === 6)),
          direction,
          version: r.ip_version,
          protocol: r.protocol,
          rule: [
            r.source_ip_address,
            r.destination_ip_address,
            r.source_port,
            r.destination_port,
            r.action,
            f.port_id,
            f.admin_state_up,
          ],
        };
        keys.add(JSON.stringify(key));
      }
  }
  return [...keys].sort();
}

/**
 * The connections of a key of `instanceRuleKeys`: in the port's zone, of the rule's protocol, to
 * the port (an ingress rule's: the remote end opened them) or from it (an egress rule's).
 */
export function instanceConnections(text: string): ConnectionFilter[] {
  const key = JSON.parse(text) as InstanceRuleKey;
  const family = key.version === 4 ? 'ipv4' : 'ipv6';
  // conntrack names ICMPv6 `icmpv6`; neutron-fwaas's `icmp` of an IPv6 rule is ICMPv6 too.
  const protocol =
    key.protocol === 'ipv6-icmp' || (key.protocol === 'icmp' && key.version === 6) ? 'icmpv6' : key.protocol;
  return key.addresses.map((address) => ({
    zone: key.zone,
    family,
    ...(protocol === null ? {} : { protocol }),
    ...(key.direction === 'ingress' ? { dst: address } : { src: address }),
  }));
}
