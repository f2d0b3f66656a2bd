/**
 * Network logging in the data plane (pure): which ports here log what, and the nftables `log`
 * statements that send those packets to an NFLOG group the agent reads (`logger.ts`).
 *
 * - Security groups: a port whose drops are logged gets, before its chain's final counted drop, a
 *   rule logging at most `rate_limit`/s (`burst_limit` in a burst) in the kernel; a port whose
 *   accepts are logged has the rules of its logged groups inlined into its own chain, each with a
 *   `log` before its `accept` (a group chain is shared by every port of the group, and the record
 *   must name the port). Those rules see only what connection tracking did not already accept, so
 *   a connection is logged once, by its first packet.
 * - Firewall groups: the same in a router's `neutrino-fwaas` table, per interface chain: a `log`
 *   before the accept of allow rules, before the drop or reject of deny and reject rules and the
 *   default drop.
 *
 * The log prefix says what the packet was: `nl <A|D> <i|e> <port id> <group id or ->` (at most
 * 80 characters; nft takes 127). Which logs a packet belongs to is decided when it is read, from
 * the port, the event and the group, so one statement serves every log on a port.
 */
import { createHash } from 'node:crypto';
import type { SnapshotNetworkLogging } from '../../model/host-snapshot.js';

export type LoggedEvent = 'ACCEPT' | 'DROP';
export type LoggedDirection = 'ingress' | 'egress';

/** What one port logs: its drops, and the accepts of these groups. */
export interface PortLogging {
  drop: boolean;
  accept: Set<string>;
}

/** The decoded prefix of a logged packet. */
export interface LogTag {
  event: LoggedEvent;
  direction: LoggedDirection;
  port: string;
  /** The group whose rule accepted (or, for a firewall drop, whose rule or default dropped); null: none. */
  group: string | null;
}

const ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/**
 * The NFLOG group of a deployment: the same in every namespace (one reader per namespace), and
 * derived from the owner tag so that deployments sharing the root namespace (parallel tests) do
 * not ask for the same group, which only one reader can bind.
 */
export function nflogGroup(owner: string): number {
  return 0x4000 + (createHash('sha256').update(owner).digest().readUInt16BE(0) % 0x3fff);
}

export function logPrefix(tag: LogTag): string {
  return `nl ${tag.event === 'ACCEPT' ? 'A' : 'D'} ${tag.direction === 'ingress' ? 'i' : 'e'} ${tag.port} ${tag.group ?? '-'}`;
}

export function parseLogPrefix(prefix: string): LogTag | undefined {
  const m = /^nl ([AD]) ([ie]) (\S+) (\S+)$/.exec(prefix.replace(/\0+$/, '').trim());
  if (!m || !ID.test(m[3]) || (m[4] !== '-' && !ID.test(m[4]))) return undefined;
  return {
    event: m[1] === 'A' ? 'ACCEPT' : 'DROP',
    direction: m[2] === 'i' ? 'ingress' : 'egress',
    port: m[3],
    group: m[4] === '-' ? null : m[4],
  };
}

/**
 * The `log` statement of a tag. `queue-threshold 1` sends each packet to the reader at once: with
 * the threshold the reader (libpcap) sets, the kernel held packets for its one-second flush.
 */
export function logStatement(group: number, tag: LogTag): string {
  return `log prefix "${logPrefix(tag)}" group ${group} queue-threshold 1`;
}

/** A rate-limited `log` rule (a drop is logged at most `rate`/s per port and direction). */
export function limitedLogRule(logging: SnapshotNetworkLogging, group: number, tag: LogTag): string {
  return `limit rate ${logging.rate_limit}/second burst ${logging.burst_limit} packets ${logStatement(group, tag)}`;
}

/**
 * What `portId` logs: the logs covering it say whether drops are logged and whose accepts are
 * (a log naming no group logs the accepts of all of `groups`). Undefined when nothing.
 */
export function portLogging(
  logging: SnapshotNetworkLogging | undefined,
  type: 'security_group' | 'firewall_group',
  portId: string,
  groups: readonly string[],
): PortLogging | undefined {
  let found: PortLogging | undefined;
  for (const log of logging?.logs ?? []) {
    if (log.resource_type !== type || !log.ports.includes(portId)) continue;
    found ??= { drop: false, accept: new Set() };
    if (log.event !== 'ACCEPT') found.drop = true;
    if (log.event !== 'DROP')
      for (const g of groups) if (log.resource_id === null || log.resource_id === g) found.accept.add(g);
  }
  return found;
}

/**
 * A security group port chain (`portDirectionRules`) with logging: the jumps to logged groups
 * replaced by their rules (`groupRules`, each ending in `accept`) with a `log` before the accept,
 * and a rate-limited `log` before the final drop.
 */
export function loggedPortRules(
  rules: readonly string[],
  options: {
    port: string;
    direction: LoggedDirection;
    logging: SnapshotNetworkLogging;
    group: number;
    wants: PortLogging;
    jumpOf: (group: string) => string;
    groupRules: (group: string) => string[];
  },
): string[] {
  const { port, direction, logging, group, wants } = options;
  const out: string[] = [];
  const jumps = new Map([...wants.accept].map((g) => [`jump ${options.jumpOf(g)}`, g]));
  for (const [i, rule] of rules.entries()) {
    const logged = jumps.get(rule);
    if (logged !== undefined) {
      const statement = logStatement(group, { event: 'ACCEPT', direction, port, group: logged });
      for (const r of options.groupRules(logged)) out.push(r.replace(/ accept$/, ` ${statement} accept`));
      continue;
    }
    if (i === rules.length - 1 && wants.drop)
      out.push(limitedLogRule(logging, group, { event: 'DROP', direction, port, group: null }));
    out.push(rule);
  }
  return out;
}
