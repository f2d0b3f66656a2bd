/**
 * The `default` security group every project gets on first need (first port, first group
 * listing): egress to anywhere over IPv4 and IPv6, ingress from members of the group itself.
 * Created at most once per project, even by concurrent requests (a keyed row decides).
 */
import { randomUUID } from 'node:crypto';
import { insertResource } from '../store/resources.js';
import type { Tx } from '../store/store.js';

export type RuleDoc = {
  id: string;
  project_id: string;
  security_group_id: string;
  direction: 'ingress' | 'egress';
  ethertype: 'IPv4' | 'IPv6';
  protocol: string | null;
  port_range_min: number | null;
  port_range_max: number | null;
  remote_ip_prefix: string | null;
  remote_group_id: string | null;
  remote_address_group_id: null;
  normalized_cidr: string | null;
  description: string;
  belongs_to_default_sg: boolean;
};

/** Neutron's rules for a new group: egress-any for both families (plus self-ingress for `default`). */
export function initialRules(projectId: string, groupId: string, isDefault: boolean): RuleDoc[] {
  const rule = (direction: 'ingress' | 'egress', ethertype: 'IPv4' | 'IPv6'): RuleDoc => ({
    id: randomUUID(),
    project_id: projectId,
    security_group_id: groupId,
    direction,
    ethertype,
    protocol: null,
    port_range_min: null,
    port_range_max: null,
    remote_ip_prefix: null,
    remote_group_id: direction === 'ingress' ? groupId : null,
    remote_address_group_id: null,
    normalized_cidr: null,
    description: '',
    belongs_to_default_sg: isDefault,
  });
  const rules = [rule('egress', 'IPv4'), rule('egress', 'IPv6')];
  if (isDefault) rules.push(rule('ingress', 'IPv4'), rule('ingress', 'IPv6'));
  return rules;
}

export async function insertRules(tx: Tx, rules: RuleDoc[]): Promise<void> {
  for (const r of rules) {
    await insertResource(tx, 'security_group_rules', r, { security_group_id: r.security_group_id });
  }
}

/** The project's default group id, creating the group (and its rules) when it has none. */
export async function ensureDefaultSecurityGroup(tx: Tx, projectId: string): Promise<string> {
  const existing = await tx
    .selectFrom('default_security_groups')
    .select('security_group_id')
    .where('project_id', '=', projectId)
    .executeTakeFirst();
  if (existing) return existing.security_group_id;
  const id = randomUUID();
  // A concurrent first use fails here on the key; callers run in `store.retrying`, and the
  // retry finds the group the other transaction created.
  await tx
    .insertInto('default_security_groups')
    .values({ project_id: projectId, security_group_id: id })
    .execute();
  await insertResource(tx, 'security_groups', {
    id,
    project_id: projectId,
    name: 'default',
    description: 'Default security group',
    stateful: true,
    shared: false,
    tags: [],
  });
  await insertRules(tx, initialRules(projectId, id, true));
  return id;
}
