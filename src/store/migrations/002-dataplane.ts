/** The data plane's tables: agents and their heartbeats, DHCP scheduling, and instances. */
import type { Kysely } from 'kysely';
import { resourceTable } from './resource-table.js';

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('agents')
    .addColumn('id', 'varchar(64)', (c) => c.primaryKey())
    .addColumn('host', 'varchar(255)', (c) => c.notNull())
    .addColumn('agent_type', 'varchar(255)', (c) => c.notNull())
    .addColumn('binary', 'varchar(255)', (c) => c.notNull())
    .addColumn('topic', 'varchar(255)', (c) => c.notNull())
    .addColumn('admin_state_up', 'integer', (c) => c.notNull())
    .addColumn('availability_zone', 'varchar(255)')
    .addColumn('configurations', 'text', (c) => c.notNull())
    .addColumn('description', 'text')
    .addColumn('created_at', 'varchar(32)', (c) => c.notNull())
    .addColumn('started_at', 'varchar(32)', (c) => c.notNull())
    .addColumn('heartbeat_timestamp', 'varchar(32)', (c) => c.notNull())
    .addUniqueConstraint('agents_host_type', ['host', 'agent_type'])
    .execute();

  await db.schema
    .createTable('dhcp_bindings')
    .addColumn('network_id', 'varchar(64)', (c) => c.primaryKey())
    .addColumn('host', 'varchar(255)', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('dhcp_bindings_host').on('dhcp_bindings').column('host').execute();

  await resourceTable(db, 'instances')
    .addColumn('host', 'varchar(255)', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('instances_project').on('instances').column('project_id').execute();
  await db.schema.createIndex('instances_host').on('instances').column('host').execute();
}
