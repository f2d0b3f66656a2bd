/**
 * L3: routers, floating IPs, which floating IP maps which fixed address (a key, so one fixed
 * address gets one floating IP per external network even under concurrent association), and
 * the host each router is scheduled to.
 */
import type { Kysely } from 'kysely';
import { resourceTable } from './resource-table.js';

export async function up(db: Kysely<unknown>): Promise<void> {
  const resource = (table: string) => resourceTable(db, table);

  await resource('routers').execute();
  await db.schema.createIndex('routers_project').on('routers').column('project_id').execute();

  await resource('floatingips').execute();
  await db.schema.createIndex('floatingips_project').on('floatingips').column('project_id').execute();

  await db.schema
    .createTable('floatingip_associations')
    .addColumn('floatingip_id', 'varchar(64)', (c) => c.primaryKey())
    .addColumn('floating_network_id', 'varchar(64)', (c) => c.notNull())
    .addColumn('port_id', 'varchar(64)', (c) => c.notNull())
    .addColumn('fixed_ip_address', 'varchar(64)', (c) => c.notNull())
    .addColumn('router_id', 'varchar(64)', (c) => c.notNull())
    .addUniqueConstraint('floatingip_associations_fixed', [
      'floating_network_id',
      'port_id',
      'fixed_ip_address',
    ])
    .execute();
  await db.schema
    .createIndex('floatingip_associations_port')
    .on('floatingip_associations')
    .column('port_id')
    .execute();
  await db.schema
    .createIndex('floatingip_associations_router')
    .on('floatingip_associations')
    .column('router_id')
    .execute();

  await db.schema
    .createTable('l3_bindings')
    .addColumn('router_id', 'varchar(64)', (c) => c.primaryKey())
    .addColumn('host', 'varchar(255)', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('l3_bindings_host').on('l3_bindings').column('host').execute();
}
