/**
 * The security-group share of a host's snapshot: the ports bound to a host (with or without an
 * instance), the groups of the host's ports with port security and every group their rules name as
 * a remote group (with their rules), and the members of those remote groups — the addresses of all
 * their ports, on any host, which is what remote-group rules match.
 */
import type { Kysely } from 'kysely';
import type { SnapshotSecurityGroup, SnapshotSecurityGroupRule } from '../model/host-snapshot.js';
import type { AddressPair, FixedIp } from '../model/port.js';
import { fromRow, listResources, type Stored } from '../store/resources.js';
import type { Database, ResourceRow } from '../store/schema.js';

const PORT_COLUMNS = [
  'id',
  'project_id',
  'revision_number',
  'created_at',
  'updated_at',
  'doc',
  'admin_doc',
] as const;

/** The ports whose `binding:host_id` is `host` (read from the admin-only part of the row). */
export async function portsBoundTo(db: Kysely<Database>, host: string): Promise<Stored[]> {
  const rows = await db
    .selectFrom('ports')
    .select(PORT_COLUMNS)
    .where('admin_doc', 'like', `%"binding:host_id":${JSON.stringify(host)}%`)
    .execute();
  return rows
    .map((r) => fromRow(r as ResourceRow & { admin_doc: string }))
    .filter((p) => p['binding:host_id'] === host);
}

/** Single addresses of a port: its fixed IPs and the allowed address pairs that are one address. */
function addressesOf(port: Stored): string[] {
  const fixed = ((port.fixed_ips ?? []) as FixedIp[]).map((f) => f.ip_address);
  const pairs = ((port.allowed_address_pairs ?? []) as AddressPair[])
    .map((p) => p.ip_address)
    .filter((ip) => !ip.includes('/') || ip.endsWith('/32') || ip.endsWith('/128'))
    .map((ip) => ip.replace(/\/(32|128)$/, ''));
  return [...fixed, ...pairs];
}

function snapshotRule(rule: Stored): SnapshotSecurityGroupRule {
  return {
    id: rule.id,
    direction: rule.direction as SnapshotSecurityGroupRule['direction'],
    ethertype: rule.ethertype as SnapshotSecurityGroupRule['ethertype'],
    protocol: (rule.protocol as string | null) ?? null,
    port_range_min: (rule.port_range_min as number | null) ?? null,
    port_range_max: (rule.port_range_max as number | null) ?? null,
    remote_ip_prefix: (rule.normalized_cidr as string | null) ?? null,
    remote_group_id: (rule.remote_group_id as string | null) ?? null,
    remote_address_group_id: (rule.remote_address_group_id as string | null) ?? null,
  };
}

async function groupsWithRules(db: Kysely<Database>, ids: string[]): Promise<SnapshotSecurityGroup[]> {
  const [groups, rules] = await Promise.all([
    listResources(db, 'security_groups', { column: 'id', values: ids }),
    listResources(db, 'security_group_rules', { column: 'security_group_id', values: ids }),
  ]);
  return groups.map((g) => ({
    id: g.id,
    stateful: g.stateful !== false,
    rules: rules.filter((r) => r.security_group_id === g.id).map(snapshotRule),
  }));
}

/**
 * The groups `ports` (those with port security) use, the groups their rules name as remote
 * groups, those remote groups' members' addresses, and the CIDRs of the address groups rules name.
 */
export async function securityGroupsOf(
  db: Kysely<Database>,
  ports: Stored[],
): Promise<{
  groups: SnapshotSecurityGroup[];
  members: Record<string, string[]>;
  addressGroups: Record<string, string[]>;
}> {
  const own = new Set(
    ports
      .filter((p) => p.port_security_enabled === true)
      .flatMap((p) => (p.security_groups ?? []) as string[]),
  );
  if (own.size === 0) return { groups: [], members: {}, addressGroups: {} };
  const groups = await groupsWithRules(db, [...own]);
  const remote = new Set(groups.flatMap((g) => g.rules.flatMap((r) => r.remote_group_id ?? [])));
  const others = [...remote].filter((id) => !own.has(id));
  if (others.length > 0) groups.push(...(await groupsWithRules(db, others)));
  const members: Record<string, string[]> = Object.fromEntries([...remote].map((id) => [id, [] as string[]]));
  if (remote.size > 0) {
    // Group ids are UUIDs: safe inside LIKE; the match is checked exactly below.
    const rows = await db
      .selectFrom('ports')
      .select(PORT_COLUMNS)
      .where((eb) => eb.or([...remote].map((id) => eb('doc', 'like', `%"${id}"%`))))
      .execute();
    for (const row of rows) {
      const port = fromRow(row as ResourceRow & { admin_doc: string });
      for (const id of (port.security_groups ?? []) as string[])
        if (remote.has(id)) members[id].push(...addressesOf(port));
    }
    for (const id of remote) members[id] = [...new Set(members[id])].sort();
  }
  const named = new Set(groups.flatMap((g) => g.rules.flatMap((r) => r.remote_address_group_id ?? [])));
  const addressGroups = Object.fromEntries(
    (await listResources(db, 'address_groups', { column: 'id', values: [...named] })).map((g) => [
      g.id,
      g.addresses as string[],
    ]),
  );
  return { groups: groups.sort((a, b) => (a.id < b.id ? -1 : 1)), members, addressGroups };
}
