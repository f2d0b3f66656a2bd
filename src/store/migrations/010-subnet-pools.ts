/**
 * Subnet pools and address scopes (Neutron's `subnet_allocation`, `address-scope`): two resource
 * tables, and the pool a subnet's prefix came from as an indexed column of `subnets` (a pool's
 * allocations are its subnets: deleting the subnet releases the prefix). `default_ip_version` is
 * the IP version of a pool marked `is_default` and NULL otherwise; its unique key keeps one
 * default pool per family even under concurrent creates.
 */
import type { Kysely } from 'kysely';
import { resourceTable } from './resource-table.js';

export async function up(db: Kysely<unknown>): Promise<void> {
  await resourceTable(db, 'address_scopes').execute();
  await db.schema.createIndex('address_scopes_project').on('address_scopes').column('project_id').execute();
  await resourceTable(db, 'subnetpools')
    .addColumn('address_scope_id', 'varchar(64)')
    .addColumn('default_ip_version', 'integer', (c) => c.unique())
    .execute();
  await db.schema.createIndex('subnetpools_project').on('subnetpools').column('project_id').execute();
  await db.schema.createIndex('subnetpools_scope').on('subnetpools').column('address_scope_id').execute();
  await db.schema.alterTable('subnets').addColumn('subnetpool_id', 'varchar(64)').execute();
  await db.schema.createIndex('subnets_subnetpool').on('subnets').column('subnetpool_id').execute();
}
