/**
 * Floating IP port forwardings (Neutron's `floating-ip-port-forwarding` with port ranges): one row
 * per forwarding, under its floating IP, with the router that realises it (the floating IP's, the
 * same for all its forwardings) so a router's snapshot finds them by index. Overlaps of port
 * ranges are not a key the database can enforce; the service checks them under the floating IP's
 * and the internal port's row locks.
 */
import type { Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('port_forwardings')
    .addColumn('id', 'varchar(64)', (c) => c.primaryKey())
    .addColumn('floatingip_id', 'varchar(64)', (c) => c.notNull())
    .addColumn('router_id', 'varchar(64)', (c) => c.notNull())
    .addColumn('internal_port_id', 'varchar(64)', (c) => c.notNull())
    .addColumn('internal_ip_address', 'varchar(64)', (c) => c.notNull())
    .addColumn('protocol', 'varchar(16)', (c) => c.notNull())
    .addColumn('internal_port_start', 'integer', (c) => c.notNull())
    .addColumn('internal_port_end', 'integer', (c) => c.notNull())
    .addColumn('external_port_start', 'integer', (c) => c.notNull())
    .addColumn('external_port_end', 'integer', (c) => c.notNull())
    .addColumn('description', 'varchar(255)', (c) => c.notNull())
    .addColumn('created_at', 'varchar(32)', (c) => c.notNull())
    .execute();
  for (const column of ['floatingip_id', 'router_id', 'internal_port_id'] as const) {
    await db.schema.createIndex(`port_forwardings_${column}`).on('port_forwardings').column(column).execute();
  }
}
