/**
 * A router's metering labels as nftables counters in a table of their own in its namespace,
 * `inet neutrino-metering` (the NAT table is replaced whole; counters must not be): one named
 * counter per label (`l-<label id>`), a chain per label holding its rules — `excluded` ones first,
 * each a `return`, then the counting ones, each counting into the label's counter and returning,
 * so a packet counts once per label — and a base chain at the forward hook jumping to each label.
 * As Neutron's iptables driver counts: `ingress` is what enters the router from its gateway device
 * (a remote prefix matches the source), `egress` what leaves through it (the destination); source
 * and destination prefixes match as named. Counted before NAT's postrouting and after its
 * prerouting: internal addresses, IP packet bytes. The transaction changes the table in place
 * (`add` keeps an existing counter's values, chains are flushed and refilled), so counts survive
 * any change; a deleted label's counter stays until the router has no labels left, when the table
 * goes.
 */
import { join } from 'node:path';
import { Type } from 'typebox';
import { SnapshotMeteringLabel } from '../../model/host-snapshot.js';
import type { RecordedTable } from '../state/host-state.js';
import { unusable } from '../state/usable.js';
import { sha256 } from './router.js';

export const METERING_FAMILY = 'inet';
export const METERING_TABLE = 'neutrino-metering';
const PREFIX = /^[0-9a-f.:]+\/\d{1,3}$/;

export function meteringRecordFile(routerDir: string): string {
  return join(routerDir, 'metering.json');
}

export function counterName(labelId: string): string {
  return `l-${labelId}`;
}

type Rule = SnapshotMeteringLabel['rules'][number];

function family(prefix: string): 'ip' | 'ip6' {
  return prefix.includes(':') ? 'ip6' : 'ip';
}

/** The match of one rule at gateway device `gw`, or null when its prefixes are unusable or of two families. */
export function ruleMatch(rule: Rule, gw: string): string | null {
  const parts = [rule.direction === 'ingress' ? `iifname "${gw}"` : `oifname "${gw}"`];
  const prefixes: [string | null, 'saddr' | 'daddr'][] = [
    [rule.remote_ip_prefix, rule.direction === 'ingress' ? 'saddr' : 'daddr'],
    [rule.source_ip_prefix, 'saddr'],
    [rule.destination_ip_prefix, 'daddr'],
  ];
  const families = new Set<string>();
  for (const [prefix, field] of prefixes) {
    if (prefix === null) continue;
    if (!PREFIX.test(prefix)) return null;
    families.add(family(prefix));
    parts.push(`${family(prefix)} ${field} ${prefix}`);
  }
  return families.size > 1 ? null : parts.join(' ');
}

/** A label's id names its chain and counters. */
const LabelIdentity = Type.Pick(SnapshotMeteringLabel, ['id']);

/** The table for `labels` counted at gateway device `gw` (null: no gateway, nothing to count). */
export function renderMetering(
  labels: readonly SnapshotMeteringLabel[],
  gw: string | null,
  record: string,
  problems: string[],
): RecordedTable {
  const t = `${METERING_FAMILY} ${METERING_TABLE}`;
  const usable = gw === null ? [] : labels.filter((l) => !unusable(LabelIdentity, l));
  if (usable.length === 0)
    return {
      family: METERING_FAMILY,
      name: METERING_TABLE,
      hash: '',
      transaction: `add table ${t}\ndelete table ${t}\n`,
      record,
    };
  const lines = [
    `add table ${t}`,
    `add chain ${t} forward { type filter hook forward priority mangle; policy accept; }`,
    `flush chain ${t} forward`,
  ];
  for (const label of [...usable].sort((a, b) => a.id.localeCompare(b.id))) {
    const name = counterName(label.id);
    lines.push(`add counter ${t} ${name}`, `add chain ${t} ${name}`, `flush chain ${t} ${name}`);
    const ordered = [...label.rules.filter((r) => r.excluded), ...label.rules.filter((r) => !r.excluded)];
    for (const rule of ordered) {
      const match = ruleMatch(rule, gw as string);
      if (match === null) {
        problems.push(`metering rule ${rule.id}: unusable prefixes`);
        continue;
      }
      lines.push(
        `add rule ${t} ${name} ${match} ${rule.excluded ? 'return' : `counter name "${name}" return`}`,
      );
    }
    lines.push(`add rule ${t} forward jump ${name}`);
  }
  const transaction = `${lines.join('\n')}\n`;
  return { family: METERING_FAMILY, name: METERING_TABLE, hash: sha256(transaction), transaction, record };
}

/** nft's listing of a table without counter values, which change with traffic, not with the rules. */
export function canonicalListing(listing: string): string {
  return listing.replace(/packets \d+ bytes \d+/g, 'packets bytes');
}
