/**
 * The drop counters agents report per port (security groups): one row per port, replaced whole by
 * each report of the port's host.
 */
import type { Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('port_drops')
    .addColumn('port_id', 'varchar(64)', (c) => c.primaryKey())
    .addColumn('host', 'varchar(255)', (c) => c.notNull())
    .addColumn('drops', 'text', (c) => c.notNull())
    .addColumn('updated_at', 'varchar(32)', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('port_drops_host').on('port_drops').column('host').execute();
}
