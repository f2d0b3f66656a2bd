/**
 * Load balancing (Octavia's v2 API): every object of a load balancer — the load balancer
 * itself, its listeners, pools, members, health monitors, L7 policies and rules — is a row of
 * `lb_objects`, by `kind`, with its load balancer and its parent (a listener's load balancer, a
 * member's pool, a rule's policy) as columns, because every read is of one load balancer's tree.
 * `unique_key` is what must be unique under one parent (a listener's protocol port, a member's
 * address and port, a pool's one health monitor), enforced by the database so two concurrent
 * creates cannot both win. `lb_reports` holds what the agent running a load balancer last
 * reported of it: member health from haproxy's checks and the listeners' counters.
 */
import type { Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('lb_objects')
    .addColumn('id', 'varchar(64)', (c) => c.primaryKey())
    .addColumn('kind', 'varchar(16)', (c) => c.notNull())
    .addColumn('project_id', 'varchar(64)', (c) => c.notNull())
    .addColumn('loadbalancer_id', 'varchar(64)', (c) => c.notNull())
    .addColumn('parent_id', 'varchar(64)', (c) => c.notNull())
    .addColumn('unique_key', 'varchar(128)')
    .addColumn('created_at', 'varchar(32)', (c) => c.notNull())
    .addColumn('updated_at', 'varchar(32)')
    .addColumn('doc', 'text', (c) => c.notNull())
    .addUniqueConstraint('lb_objects_unique_under_parent', ['kind', 'parent_id', 'unique_key'])
    .execute();
  await db.schema.createIndex('lb_objects_loadbalancer').on('lb_objects').column('loadbalancer_id').execute();
  await db.schema
    .createIndex('lb_objects_kind_project')
    .on('lb_objects')
    .columns(['kind', 'project_id'])
    .execute();
  await db.schema
    .createTable('lb_reports')
    .addColumn('loadbalancer_id', 'varchar(64)', (c) => c.primaryKey())
    .addColumn('host', 'varchar(255)', (c) => c.notNull())
    .addColumn('report', 'text', (c) => c.notNull())
    .addColumn('updated_at', 'varchar(32)', (c) => c.notNull())
    .execute();
}
