/**
 * Marks the revisions of status reports (an agent saying a port or instance is ACTIVE or DOWN):
 * agents follow the change feed to rebuild what changed, and a status changes nothing they build.
 */
import type { Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .alterTable('revisions')
    .addColumn('status_only', 'integer', (c) => c.notNull().defaultTo(0))
    .execute();
}
