/**
 * Identity hardening: the failed-login counter behind account lockout (Keystone's
 * `failed_auth_count` / `failed_auth_at`), and implied roles (admin implies member implies
 * reader, as `keystone-manage bootstrap` declares them).
 */
import type { Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .alterTable('users')
    .addColumn('failed_auth_count', 'integer', (c) => c.notNull().defaultTo(0))
    .execute();
  await db.schema.alterTable('users').addColumn('failed_auth_at', 'varchar(32)').execute();
  await db.schema
    .createTable('implied_roles')
    .addColumn('prior_role_id', 'varchar(64)', (c) => c.notNull())
    .addColumn('implied_role_id', 'varchar(64)', (c) => c.notNull())
    .addPrimaryKeyConstraint('implied_roles_pk', ['prior_role_id', 'implied_role_id'])
    .execute();
}
