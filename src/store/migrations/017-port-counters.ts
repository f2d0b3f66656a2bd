/**
 * The traffic counters agents report per port: one row per port with the latest counters and the
 * ones before them (rates come from the two), replaced by each report of the port's host.
 */
import type { Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('port_counters')
    .addColumn('port_id', 'varchar(64)', (c) => c.primaryKey())
    .addColumn('host', 'varchar(255)', (c) => c.notNull())
    .addColumn('counters', 'text', (c) => c.notNull())
    .addColumn('updated_at', 'varchar(32)', (c) => c.notNull())
    .addColumn('previous', 'text')
    .addColumn('previous_at', 'varchar(32)')
    .execute();
  await db.schema.createIndex('port_counters_host').on('port_counters').column('host').execute();
}
