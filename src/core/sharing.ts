/**
 * Which objects RBAC policies open to a project: `access_as_shared` (use as if own) and
 * `access_as_external` (attach router gateways, floating IPs), to one project or to `*`.
 */
import type { Kysely } from 'kysely';
import { inChunks } from '../store/chunks.js';
import type { Database } from '../store/schema.js';

export async function sharedWith(
  db: Kysely<Database>,
  objectType: string,
  action: 'access_as_shared' | 'access_as_external',
  projectId: string | null,
  objectIds?: string[],
): Promise<Set<string>> {
  const q = db.selectFrom('rbac_policies').select(['object_id', 'doc']).where('object_type', '=', objectType);
  const rows = objectIds
    ? await inChunks(objectIds, (chunk) => q.where('object_id', 'in', chunk).execute())
    : await q.execute();
  const ids = new Set<string>();
  for (const row of rows) {
    const doc = JSON.parse(row.doc) as { action: string; target_tenant: string };
    if (doc.action === action && (doc.target_tenant === '*' || doc.target_tenant === projectId))
      ids.add(row.object_id);
  }
  return ids;
}
