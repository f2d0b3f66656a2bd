/**
 * QoS (Neutron's `qos` and its companions): policies as a resource table; their rules in a table
 * of their own, keyed so that a policy holds at most one rule per type and direction (DSCP
 * marking has none: `direction` is ''), which is Neutron's conflict rule; and each project's
 * default policy (`qos-default`), one row per project so two concurrent defaults cannot both win.
 * Networks, ports, floating IPs and routers (for their gateway) name their policy in their `doc`;
 * networks and ports written before this migration get `"qos_policy_id": null`, so that lists
 * served from the stored JSON show the attribute too.
 */
import { type Kysely, sql } from 'kysely';
import { resourceTable } from './resource-table.js';

export async function up(db: Kysely<unknown>): Promise<void> {
  await resourceTable(db, 'qos_policies').execute();
  await db.schema.createIndex('qos_policies_project').on('qos_policies').column('project_id').execute();
  await db.schema
    .createTable('qos_rules')
    .addColumn('id', 'varchar(64)', (c) => c.primaryKey())
    .addColumn('qos_policy_id', 'varchar(64)', (c) => c.notNull())
    .addColumn('type', 'varchar(32)', (c) => c.notNull())
    .addColumn('direction', 'varchar(16)', (c) => c.notNull())
    .addColumn('max_kbps', 'integer')
    .addColumn('max_burst_kbps', 'integer')
    .addColumn('min_kbps', 'integer')
    .addColumn('dscp_mark', 'integer')
    .addColumn('created_at', 'varchar(32)', (c) => c.notNull())
    .addUniqueConstraint('qos_rules_one_per_direction', ['qos_policy_id', 'type', 'direction'])
    .execute();
  await db.schema
    .createTable('qos_default_policies')
    .addColumn('project_id', 'varchar(64)', (c) => c.primaryKey())
    .addColumn('qos_policy_id', 'varchar(64)', (c) => c.notNull())
    .execute();
  for (const table of ['networks', 'ports']) {
    await sql`update ${sql.table(table)} set doc = '{"qos_policy_id":null,' || substr(doc, 2)
      where doc like '{"%' and doc not like '%"qos_policy_id":%'`.execute(db);
  }
}
