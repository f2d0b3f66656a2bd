/**
 * Trunks (Neutron's `trunk`): a resource table whose `port_id` column is unique (a port is the
 * parent of one trunk at most, settled by the database under concurrent creates), and the
 * subports, keyed by port (a port is a subport once) with one segmentation per trunk.
 */
import type { Kysely } from 'kysely';
import { resourceTable } from './resource-table.js';

export async function up(db: Kysely<unknown>): Promise<void> {
  await resourceTable(db, 'trunks')
    .addColumn('port_id', 'varchar(64)', (c) => c.notNull().unique())
    .execute();
  await db.schema.createIndex('trunks_project').on('trunks').column('project_id').execute();
  await db.schema
    .createTable('trunk_subports')
    .addColumn('port_id', 'varchar(64)', (c) => c.primaryKey())
    .addColumn('trunk_id', 'varchar(64)', (c) => c.notNull())
    .addColumn('segmentation_type', 'varchar(32)', (c) => c.notNull())
    .addColumn('segmentation_id', 'integer', (c) => c.notNull())
    .addUniqueConstraint('trunk_subports_segmentation', ['trunk_id', 'segmentation_type', 'segmentation_id'])
    .execute();
}
