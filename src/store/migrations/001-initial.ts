/** The first schema: Neutron resources, the change feed and identity. */
import type { Kysely } from 'kysely';
import type { DialectName } from '../dialect.js';
import { resourceTable } from './resource-table.js';

export async function up(db: Kysely<unknown>, dialect: DialectName): Promise<void> {
  const resource = (table: string) => resourceTable(db, table);

  await resource('networks').execute();
  await db.schema.createIndex('networks_project').on('networks').column('project_id').execute();

  await db.schema
    .createTable('network_segments')
    .addColumn('network_id', 'varchar(64)', (c) => c.primaryKey())
    .addColumn('network_type', 'varchar(32)', (c) => c.notNull())
    .addColumn('physical_network', 'varchar(64)', (c) => c.notNull())
    .addColumn('segmentation_id', 'integer', (c) => c.notNull())
    .addUniqueConstraint('network_segments_unique', ['network_type', 'physical_network', 'segmentation_id'])
    .execute();

  await resource('subnets')
    .addColumn('network_id', 'varchar(64)', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('subnets_network').on('subnets').column('network_id').execute();

  await resource('ports')
    .addColumn('network_id', 'varchar(64)', (c) => c.notNull())
    .addColumn('mac_address', 'varchar(32)', (c) => c.notNull())
    .addColumn('device_id', 'varchar(255)', (c) => c.notNull())
    .addColumn('device_owner', 'varchar(255)', (c) => c.notNull())
    .addColumn('admin_doc', 'text', (c) => c.notNull().defaultTo('{}'))
    .addColumn('derived_doc', 'text')
    .addUniqueConstraint('ports_network_mac', ['network_id', 'mac_address'])
    .execute();
  await db.schema.createIndex('ports_project').on('ports').column('project_id').execute();
  await db.schema.createIndex('ports_device').on('ports').column('device_id').execute();

  await db.schema
    .createTable('ip_allocations')
    .addColumn('subnet_id', 'varchar(64)', (c) => c.notNull())
    .addColumn('ip_address', 'varchar(64)', (c) => c.notNull())
    .addColumn('port_id', 'varchar(64)', (c) => c.notNull())
    .addColumn('network_id', 'varchar(64)', (c) => c.notNull())
    .addPrimaryKeyConstraint('ip_allocations_pk', ['subnet_id', 'ip_address'])
    .execute();
  await db.schema.createIndex('ip_allocations_port').on('ip_allocations').column('port_id').execute();

  await resource('security_groups').execute();
  await db.schema.createIndex('security_groups_project').on('security_groups').column('project_id').execute();
  await db.schema
    .createTable('default_security_groups')
    .addColumn('project_id', 'varchar(64)', (c) => c.primaryKey())
    .addColumn('security_group_id', 'varchar(64)', (c) => c.notNull())
    .execute();
  await resource('security_group_rules')
    .addColumn('security_group_id', 'varchar(64)', (c) => c.notNull())
    .execute();
  await db.schema
    .createIndex('security_group_rules_group')
    .on('security_group_rules')
    .column('security_group_id')
    .execute();

  await resource('rbac_policies')
    .addColumn('object_type', 'varchar(32)', (c) => c.notNull())
    .addColumn('object_id', 'varchar(64)', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('rbac_policies_object').on('rbac_policies').column('object_id').execute();

  await db.schema
    .createTable('quotas')
    .addColumn('project_id', 'varchar(64)', (c) => c.notNull())
    .addColumn('resource', 'varchar(64)', (c) => c.notNull())
    .addColumn('hard_limit', 'integer', (c) => c.notNull())
    .addPrimaryKeyConstraint('quotas_pk', ['project_id', 'resource'])
    .execute();

  await db.schema
    .createTable('revisions')
    .addColumn('revision', dialect === 'postgres' ? 'bigserial' : 'integer', (c) => c.primaryKey())
    .addColumn('resource', 'varchar(64)', (c) => c.notNull())
    .addColumn('resource_id', 'varchar(64)', (c) => c.notNull())
    .addColumn('op', 'varchar(16)', (c) => c.notNull())
    .addColumn('project_id', 'varchar(64)', (c) => c.notNull())
    .addColumn('created_at', 'varchar(32)', (c) => c.notNull())
    .execute();

  await db.schema
    .createTable('domains')
    .addColumn('id', 'varchar(64)', (c) => c.primaryKey())
    .addColumn('name', 'varchar(255)', (c) => c.notNull().unique())
    .addColumn('enabled', 'integer', (c) => c.notNull())
    .addColumn('description', 'text', (c) => c.notNull())
    .execute();
  await db.schema
    .createTable('projects')
    .addColumn('id', 'varchar(64)', (c) => c.primaryKey())
    .addColumn('name', 'varchar(255)', (c) => c.notNull())
    .addColumn('domain_id', 'varchar(64)', (c) => c.notNull())
    .addColumn('enabled', 'integer', (c) => c.notNull())
    .addColumn('description', 'text', (c) => c.notNull())
    .addColumn('is_domain', 'integer', (c) => c.notNull())
    .addUniqueConstraint('projects_domain_name', ['domain_id', 'name'])
    .execute();
  await db.schema
    .createTable('users')
    .addColumn('id', 'varchar(64)', (c) => c.primaryKey())
    .addColumn('name', 'varchar(255)', (c) => c.notNull())
    .addColumn('domain_id', 'varchar(64)', (c) => c.notNull())
    .addColumn('enabled', 'integer', (c) => c.notNull())
    .addColumn('password_hash', 'text', (c) => c.notNull())
    .addColumn('default_project_id', 'varchar(64)')
    .addColumn('description', 'text', (c) => c.notNull())
    .addUniqueConstraint('users_domain_name', ['domain_id', 'name'])
    .execute();
  await db.schema
    .createTable('roles')
    .addColumn('id', 'varchar(64)', (c) => c.primaryKey())
    .addColumn('name', 'varchar(255)', (c) => c.notNull().unique())
    .addColumn('domain_id', 'varchar(64)')
    .execute();
  await db.schema
    .createTable('role_assignments')
    .addColumn('role_id', 'varchar(64)', (c) => c.notNull())
    .addColumn('actor_id', 'varchar(64)', (c) => c.notNull())
    .addColumn('target_id', 'varchar(64)', (c) => c.notNull())
    .addColumn('target_type', 'varchar(16)', (c) => c.notNull())
    .addPrimaryKeyConstraint('role_assignments_pk', ['role_id', 'actor_id', 'target_id'])
    .execute();
  await db.schema
    .createTable('tokens')
    .addColumn('token_hash', 'varchar(64)', (c) => c.primaryKey())
    .addColumn('user_id', 'varchar(64)', (c) => c.notNull())
    .addColumn('scope_type', 'varchar(16)', (c) => c.notNull())
    .addColumn('scope_id', 'varchar(64)')
    .addColumn('methods', 'varchar(64)', (c) => c.notNull())
    .addColumn('issued_at', 'varchar(32)', (c) => c.notNull())
    .addColumn('expires_at', 'varchar(32)', (c) => c.notNull())
    .addColumn('audit_id', 'varchar(64)', (c) => c.notNull())
    .addColumn('revoked', 'integer', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('tokens_expires').on('tokens').column('expires_at').execute();
}
