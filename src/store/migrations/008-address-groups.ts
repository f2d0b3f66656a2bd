/** Address groups (Neutron's `address-group` extension): a resource table like any other. */
import type { Kysely } from 'kysely';
import { resourceTable } from './resource-table.js';

export async function up(db: Kysely<unknown>): Promise<void> {
  await resourceTable(db, 'address_groups').execute();
  await db.schema.createIndex('address_groups_project').on('address_groups').column('project_id').execute();
}
