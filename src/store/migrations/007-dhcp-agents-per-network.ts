/**
 * Several DHCP hosts per network (`dhcp_agents_per_network`): `dhcp_bindings` is keyed by
 * (network, host) instead of by network alone. The table is rebuilt, since SQLite cannot change a
 * primary key in place; its rows are kept.
 */
import { type Kysely, sql } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('dhcp_bindings_by_host')
    .addColumn('network_id', 'varchar(64)', (c) => c.notNull())
    .addColumn('host', 'varchar(255)', (c) => c.notNull())
    .addPrimaryKeyConstraint('dhcp_bindings_network_host', ['network_id', 'host'])
    .execute();
  await sql`insert into dhcp_bindings_by_host (network_id, host) select network_id, host from dhcp_bindings`.execute(
    db,
  );
  await db.schema.dropTable('dhcp_bindings').execute();
  await db.schema.alterTable('dhcp_bindings_by_host').renameTo('dhcp_bindings').execute();
  await db.schema.dropIndex('dhcp_bindings_host').ifExists().execute();
  await db.schema.createIndex('dhcp_bindings_host').on('dhcp_bindings').column('host').execute();
}
