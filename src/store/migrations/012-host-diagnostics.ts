/**
 * Host diagnostics waiting for their host's agent: a row per request, written by the API server
 * that was asked and answered by the agent (through whichever server it follows), so a request
 * made at one server reaches an agent connected to another. The asking server deletes the row
 * once it has the answer or gives up waiting.
 */
import type { Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('host_diagnostics')
    .addColumn('id', 'varchar(64)', (c) => c.primaryKey())
    .addColumn('host', 'varchar(255)', (c) => c.notNull())
    .addColumn('request', 'text', (c) => c.notNull())
    .addColumn('answer', 'text')
    .addColumn('created_at', 'varchar(32)', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('host_diagnostics_host').on('host_diagnostics').column('host').execute();
}
