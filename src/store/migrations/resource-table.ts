/**
 * The columns every Neutron resource table starts with (see `ResourceRow` in schema.ts), for
 * migrations to extend with a resource's own indexed columns.
 */
import type { Kysely } from 'kysely';

export function resourceTable(db: Kysely<unknown>, table: string) {
  return db.schema
    .createTable(table)
    .addColumn('id', 'varchar(64)', (c) => c.primaryKey())
    .addColumn('project_id', 'varchar(64)', (c) => c.notNull())
    .addColumn('revision_number', 'integer', (c) => c.notNull())
    .addColumn('created_at', 'varchar(32)', (c) => c.notNull())
    .addColumn('updated_at', 'varchar(32)', (c) => c.notNull())
    .addColumn('doc', 'text', (c) => c.notNull());
}
