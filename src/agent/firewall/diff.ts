/**
 * The security groups' share of the diff (pure): desired and actual `Firewall` in, at most one
 * `firewall.apply` (one `nft -f` transaction touching only the chains, sets and counters that
 * differ: a rule change refills its group's chains, a membership change adds or deletes set
 * elements) and one `firewall.conntrack` out. Tables that are missing, of another layout or in an
 * unknown state are replaced whole in that one transaction. As Neutron does, connections a change
 * no longer allows are deleted: those of a rule gone from a port (per port address and zone), of a
 * member gone from a remote group, of a port gone.
 */
import type { ConnectionFilter } from '../../linux/conntrack.js';
import type { Action } from '../state/actions.js';
import type { Firewall, FirewallPort, FirewallRule } from '../state/host-state.js';
import {
  allChanges,
  FIREWALL_FAMILIES,
  type FirewallChanges,
  objectKey,
  renderChanges,
  renderRemoval,
  renderSkeleton,
} from './render.js';

const MEMBER_SET = /^sg-(.+)-(v4|v6)$/;
/** How many objects a change lists one by one (see `firewallActions`). */
const MAX_LISTED = 12;

function missing<T>(have: Record<string, T>, want: Record<string, unknown>): [string, T][] {
  return Object.entries(have).filter(([key]) => !Object.hasOwn(want, key));
}

function listCommand(kind: 'chain' | 'set' | 'map', family: string, table: string, name: string): string {
  return `list ${kind} ${family} ${table} ${name}`;
}

/** What to record: the desired objects without their rules' text, the listings still true. */
function recordOf(desired: Firewall, listings: Record<string, string>): Firewall {
  const chains = Object.fromEntries(
    Object.entries(desired.chains).map(([key, { family, name, hash }]) => [key, { family, name, hash }]),
  );
  return { ...desired, chains, listings };
}

/** The changes that take existing tables from `actual` to `desired`. */
function changes(desired: Firewall, actual: Firewall): FirewallChanges {
  const c: FirewallChanges = {
    fill: [],
    sets: [],
    counters: [],
    removeChains: [],
    removeSets: [],
    removeCounters: [],
  };
  for (const [key, chain] of Object.entries(desired.chains))
    if (actual.chains[key]?.hash !== chain.hash)
      c.fill.push({ family: chain.family, name: chain.name, rules: chain.rules ?? [] });
  for (const [key, set] of Object.entries(desired.sets)) {
    const have = actual.sets[key];
    if (!have || have.drift || have.type !== set.type) {
      const declare = have?.type !== set.type;
      c.sets.push({ set, add: set.elements, remove: [], rewrite: have !== undefined, declare });
      continue;
    }
    const had = new Set(have.elements);
    const wanted = new Set(set.elements);
    const add = set.elements.filter((e) => !had.has(e));
    const remove = have.elements.filter((e) => !wanted.has(e));
    if (add.length > 0 || remove.length > 0)
      c.sets.push({ set, add, remove, rewrite: false, declare: false });
  }
  for (const [key, counter] of Object.entries(desired.counters))
    if (!actual.counters[key]) c.counters.push(counter);
  for (const [, { family, name }] of missing(actual.chains, desired.chains))
    c.removeChains.push({ family, name });
  for (const [, { family, kind, name }] of missing(actual.sets, desired.sets))
    c.removeSets.push({ family, kind, name });
  for (const [, counter] of missing(actual.counters, desired.counters)) c.removeCounters.push(counter);
  return c;
}

function isEmpty(c: FirewallChanges): boolean {
  return Object.values(c).every((list) => list.length === 0);
}

function family(address: string): 'ipv4' | 'ipv6' {
  return address.includes(':') ? 'ipv6' : 'ipv4';
}

/** The rules that apply to a port with `groups`, by id. */
function rulesOf(firewall: Firewall, groups: string[]): Map<string, FirewallRule> {
  return new Map(groups.flatMap((g) => (firewall.rules[g] ?? []).map((r) => [r.id, r] as const)));
}

/** What `rule` allowed to or from `address` in `zone`, as a filter of connections to delete. */
function ruleFilter(rule: FirewallRule, address: string, zone: number): ConnectionFilter | undefined {
  const f = family(address);
  if ((f === 'ipv4') !== (rule.ethertype === 'IPv4')) return undefined;
  const remote = rule.remote !== null && !rule.remote.includes('/') ? rule.remote : undefined;
  const [local, far] = rule.direction === 'ingress' ? (['dst', 'src'] as const) : (['src', 'dst'] as const);
  return {
    zone,
    family: f,
    ...(rule.protocol === null ? {} : { protocol: rule.protocol }),
    [local]: address,
    ...(remote === undefined ? {} : { [far]: remote }),
  };
}

function portFilters(port: FirewallPort): ConnectionFilter[] {
  return port.addresses.flatMap((a) => [
    { zone: port.zone, family: family(a), src: a },
    { zone: port.zone, family: family(a), dst: a },
  ]);
}

/** The connections that what changed from `actual` to `desired` no longer allows. */
export function conntrackFilters(desired: Firewall, actual: Firewall): ConnectionFilter[] {
  const filters = new Map<string, ConnectionFilter>();
  const add = (f: ConnectionFilter | undefined) => {
    if (f) filters.set(JSON.stringify([f.zone, f.family, f.protocol, f.src, f.dst]), f);
  };
  for (const [id, had] of Object.entries(actual.ports)) {
    const now = desired.ports[id];
    if (!now || now.zone !== had.zone) {
      portFilters(had).forEach(add);
      continue;
    }
    const kept = rulesOf(desired, now.groups);
    for (const [ruleId, rule] of rulesOf(actual, had.groups)) {
      if (kept.has(ruleId)) continue;
      for (const address of had.addresses) add(ruleFilter(rule, address, had.zone));
    }
    const gone = had.addresses.filter((a) => !now.addresses.includes(a));
    portFilters({ ...had, addresses: gone }).forEach(add);
  }
  for (const [key, set] of Object.entries(actual.sets)) {
    const match = set.family === 'inet' && set.kind === 'set' ? MEMBER_SET.exec(set.name) : null;
    const wanted = desired.sets[key];
    if (!match || !wanted) continue;
    const gone = set.elements.filter((e) => !wanted.elements.includes(e));
    if (gone.length === 0) continue;
    const ethertype = match[2] === 'v4' ? 'IPv4' : 'IPv6';
    const referring = Object.entries(desired.rules)
      .filter(([, rules]) => rules.some((r) => r.remoteGroup === match[1] && r.ethertype === ethertype))
      .map(([group]) => group);
    for (const port of Object.values(desired.ports)) {
      if (!port.groups.some((g) => referring.includes(g))) continue;
      for (const local of port.addresses.filter((a) => family(a) === family(gone[0])))
        for (const remote of gone) {
          add({ zone: port.zone, family: family(remote), src: local, dst: remote });
          add({ zone: port.zone, family: family(remote), src: remote, dst: local });
        }
    }
  }
  return [...filters.values()];
}

/** The actions that take the security-group tables from `actual` to `desired`. */
export function firewallActions(desired: Firewall, actual: Firewall): Action[] {
  const filters = conntrackFilters(desired, actual);
  const after: Action[] = filters.length > 0 ? [{ op: 'firewall.conntrack', filters }] : [];
  if (desired.skeleton === '') {
    if (actual.skeleton === '' && !actual.unknown) return [];
    const table = actual.table;
    const firewall = { ...recordOf(desired, {}), record: actual.record, table: actual.table };
    return [
      { op: 'firewall.apply', transaction: table ? renderRemoval(table) : '', list: [], firewall },
      ...after,
    ];
  }
  const table = desired.table;
  if (actual.skeleton !== desired.skeleton || actual.unknown || actual.table !== table) {
    const transaction =
      renderRemoval(table) + `${renderSkeleton(table)}\n` + renderChanges(table, allChanges(desired));
    const list = FIREWALL_FAMILIES.map((f) => `list table ${f} ${table}`);
    return [{ op: 'firewall.apply', transaction, list, firewall: recordOf(desired, {}) }, ...after];
  }
  const c = changes(desired, actual);
  if (isEmpty(c)) return after;
  const touched = new Set<string>();
  const list: string[] = [];
  for (const { family, name } of c.fill) {
    touched.add(objectKey(family, 'chain', name));
    list.push(listCommand('chain', family, table, name));
  }
  for (const { set } of c.sets) {
    touched.add(objectKey(set.family, set.kind, set.name));
    list.push(listCommand(set.kind, set.family, table, set.name));
  }
  const removed = new Set([
    ...c.removeChains.map((x) => objectKey(x.family, 'chain', x.name)),
    ...c.removeSets.map((x) => objectKey(x.family, x.kind, x.name)),
  ]);
  const listings = Object.fromEntries(
    Object.entries(actual.listings ?? {}).filter(([key]) => !touched.has(key) && !removed.has(key)),
  );
  const transaction = renderChanges(table, c);
  // Each object is listed by a process of its own: beyond a few, the two tables are cheaper.
  if (list.length > MAX_LISTED)
    return [
      {
        op: 'firewall.apply',
        transaction,
        list: FIREWALL_FAMILIES.map((f) => `list table ${f} ${table}`),
        firewall: recordOf(desired, {}),
      },
      ...after,
    ];
  return [{ op: 'firewall.apply', transaction, list, firewall: recordOf(desired, listings) }, ...after];
}
