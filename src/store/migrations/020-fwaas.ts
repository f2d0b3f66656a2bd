/**
 * Firewall as a service (neutron-fwaas's `fwaas_v2`): rules, policies and groups are resource
 * tables like any other (a policy's ordered rule ids and a group's ports live in its doc). Two
 * keyed tables let the database decide what must be unique: a port belongs to one firewall
 * group at most (`firewall_group_ports`), and a project has one default group
 * (`default_firewall_groups`), even under concurrent requests.
 */
import type { Kysely } from 'kysely';
import { resourceTable } from './resource-table.js';

export async function up(db: Kysely<unknown>): Promise<void> {
  for (const table of ['firewall_rules', 'firewall_policies', 'firewall_groups']) {
    await resourceTable(db, table).execute();
    await db.schema.createIndex(`${table}_project`).on(table).column('project_id').execute();
  }
  await db.schema
    .createTable('firewall_group_ports')
    .addColumn('port_id', 'varchar(64)', (c) => c.primaryKey())
    .addColumn('firewall_group_id', 'varchar(64)', (c) => c.notNull())
    .execute();
  await db.schema
    .createIndex('firewall_group_ports_group')
    .on('firewall_group_ports')
    .column('firewall_group_id')
    .execute();
  await db.schema
    .createTable('default_firewall_groups')
    .addColumn('project_id', 'varchar(64)', (c) => c.primaryKey())
    .addColumn('firewall_group_id', 'varchar(64)', (c) => c.notNull())
    .execute();
}
