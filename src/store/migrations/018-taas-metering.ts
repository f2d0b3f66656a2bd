/**
 * Tap-as-a-Service and metering: tap services (indexed by their monitoring port), tap flows (by
 * tap service and source port), metering labels and their rules (by label), as resource tables;
 * and the metering counts agents report, one row per label, router and host: `bytes`/`packets`
 * are the last cumulative values the agent read, `base_bytes`/`base_packets` what earlier
 * counters (reset by a router namespace rebuilt or moved) had counted, so totals never go back.
 */
import type { Kysely } from 'kysely';
import { resourceTable } from './resource-table.js';

export async function up(db: Kysely<unknown>): Promise<void> {
  await resourceTable(db, 'tap_services')
    .addColumn('port_id', 'varchar(64)', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('tap_services_port').on('tap_services').column('port_id').unique().execute();
  await resourceTable(db, 'tap_flows')
    .addColumn('tap_service_id', 'varchar(64)', (c) => c.notNull())
    .addColumn('source_port', 'varchar(64)', (c) => c.notNull())
    .execute();
  await db.schema
    .createIndex('tap_flows_service_source')
    .on('tap_flows')
    .columns(['tap_service_id', 'source_port'])
    .unique()
    .execute();
  await db.schema.createIndex('tap_flows_source').on('tap_flows').column('source_port').execute();
  await resourceTable(db, 'metering_labels').execute();
  await resourceTable(db, 'metering_label_rules')
    .addColumn('metering_label_id', 'varchar(64)', (c) => c.notNull())
    .execute();
  await db.schema
    .createIndex('metering_label_rules_label')
    .on('metering_label_rules')
    .column('metering_label_id')
    .execute();
  await db.schema
    .createTable('metering_counts')
    .addColumn('label_id', 'varchar(64)', (c) => c.notNull())
    .addColumn('router_id', 'varchar(64)', (c) => c.notNull())
    .addColumn('host', 'varchar(255)', (c) => c.notNull())
    .addColumn('bytes', 'bigint', (c) => c.notNull())
    .addColumn('packets', 'bigint', (c) => c.notNull())
    .addColumn('base_bytes', 'bigint', (c) => c.notNull())
    .addColumn('base_packets', 'bigint', (c) => c.notNull())
    .addColumn('updated_at', 'varchar(32)', (c) => c.notNull())
    .addPrimaryKeyConstraint('metering_counts_key', ['label_id', 'router_id', 'host'])
    .execute();
}
