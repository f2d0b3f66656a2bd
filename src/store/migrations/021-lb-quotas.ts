/**
 * Octavia's quotas: a project's own limit per load-balancing resource (`loadbalancer`,
 * `listener`, `pool`, `member`, `healthmonitor`, `l7policy`, `l7rule`); a resource without a row
 * has the default (unlimited, as Octavia's defaults are).
 */
import type { Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('lb_quotas')
    .addColumn('project_id', 'varchar(64)', (c) => c.notNull())
    .addColumn('resource', 'varchar(32)', (c) => c.notNull())
    .addColumn('hard_limit', 'integer', (c) => c.notNull())
    .addPrimaryKeyConstraint('lb_quotas_pk', ['project_id', 'resource'])
    .execute();
}
