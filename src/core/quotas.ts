/**
 * Quotas: per-project limits with Neutron's defaults, overridden per project in the store.
 * `enforce` runs inside the creating transaction and counts what the project already has.
 */
import type { Kysely } from 'kysely';
import type { Database } from '../store/schema.js';
import type { Tx } from '../store/store.js';
import { OverQuota } from './errors.js';

/** Which table holds each quota-counted resource (routers and floating IPs come later). */
const COUNTED: Record<string, keyof Database | undefined> = {
  network: 'networks',
  subnet: 'subnets',
  port: 'ports',
  security_group: 'security_groups',
  security_group_rule: 'security_group_rules',
  rbac_policy: 'rbac_policies',
};

export async function limitsFor(
  db: Kysely<Database>,
  defaults: Record<string, number>,
  projectId: string,
): Promise<Record<string, number>> {
  const rows = await db.selectFrom('quotas').selectAll().where('project_id', '=', projectId).execute();
  const limits = { ...defaults };
  for (const r of rows) limits[r.resource] = Number(r.hard_limit);
  return limits;
}

export async function usage(db: Kysely<Database>, resource: string, projectId: string): Promise<number> {
  const table = COUNTED[resource];
  if (!table) return 0;
  const row = await db
    .selectFrom(table as 'networks')
    .select((eb) => eb.fn.countAll().as('n'))
    .where('project_id', '=', projectId)
    .executeTakeFirst();
  return Number(row?.n ?? 0);
}

/** Throws OverQuota when adding `count` of `resource` would pass the project's limit (-1 = unlimited). */
export async function enforce(
  tx: Tx,
  defaults: Record<string, number>,
  projectId: string,
  resource: string,
  count = 1,
): Promise<void> {
  const row = await tx
    .selectFrom('quotas')
    .select('hard_limit')
    .where('project_id', '=', projectId)
    .where('resource', '=', resource)
    .executeTakeFirst();
  const limit = row ? Number(row.hard_limit) : (defaults[resource] ?? -1);
  if (limit < 0) return;
  const used = await usage(tx, resource, projectId);
  if (used + count > limit) throw OverQuota({ overs: resource });
}
