/**
 * Network logging: log objects are a resource table like any other; the records agents send are
 * rows of their own, numbered by the database (`seq`, what a reader asks to continue after) and
 * pruned to the newest ones per log (`core/network-logs.ts`).
 */
import type { Kysely } from 'kysely';
import type { DialectName } from '../dialect.js';
import { resourceTable } from './resource-table.js';

export async function up(db: Kysely<unknown>, dialect: DialectName): Promise<void> {
  await resourceTable(db, 'network_logs').execute();
  await db.schema.createIndex('network_logs_project').on('network_logs').column('project_id').execute();
  await db.schema
    .createTable('network_log_records')
    .addColumn('seq', dialect === 'postgres' ? 'bigserial' : 'integer', (c) => c.primaryKey())
    .addColumn('log_id', 'varchar(64)', (c) => c.notNull())
    .addColumn('host', 'varchar(255)', (c) => c.notNull())
    .addColumn('record', 'text', (c) => c.notNull())
    .execute();
  await db.schema
    .createIndex('network_log_records_log')
    .on('network_log_records')
    .columns(['log_id', 'seq'])
    .execute();
}
