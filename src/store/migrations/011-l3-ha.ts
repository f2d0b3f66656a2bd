/**
 * HA routers (Neutron's `l3-ha`): a router may live on several network hosts, so `l3_bindings` is
 * keyed by (router, host) and records the VRRP state each host's agent last reported (`ha_state`:
 * active, standby; NULL for routers that are not HA or before the first report). Each project
 * with HA routers has one hidden HA network (`ha_router_networks`, one per project by its key),
 * and each HA router a VRRP id unique on that network (`ha_router_vrids`). The bindings table is
 * rebuilt, since SQLite cannot change a primary key in place; its rows are kept.
 */
import { type Kysely, sql } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('l3_bindings_by_host')
    .addColumn('router_id', 'varchar(64)', (c) => c.notNull())
    .addColumn('host', 'varchar(255)', (c) => c.notNull())
    .addColumn('ha_state', 'varchar(16)')
    .addPrimaryKeyConstraint('l3_bindings_router_host', ['router_id', 'host'])
    .execute();
  await sql`insert into l3_bindings_by_host (router_id, host) select router_id, host from l3_bindings`.execute(
    db,
  );
  await db.schema.dropTable('l3_bindings').execute();
  await db.schema.alterTable('l3_bindings_by_host').renameTo('l3_bindings').execute();
  await db.schema.dropIndex('l3_bindings_host').ifExists().execute();
  await db.schema.createIndex('l3_bindings_host').on('l3_bindings').column('host').execute();

  await db.schema
    .createTable('ha_router_networks')
    .addColumn('project_id', 'varchar(255)', (c) => c.primaryKey())
    .addColumn('network_id', 'varchar(64)', (c) => c.notNull().unique())
    .execute();
  await db.schema
    .createTable('ha_router_vrids')
    .addColumn('network_id', 'varchar(64)', (c) => c.notNull())
    .addColumn('vr_id', 'integer', (c) => c.notNull())
    .addColumn('router_id', 'varchar(64)', (c) => c.notNull().unique())
    .addPrimaryKeyConstraint('ha_router_vrids_network_vrid', ['network_id', 'vr_id'])
    .execute();
}
