/**
 * Which objects RBAC policies open to a project: `access_as_shared` (use as if own) and
 * `access_as_external` (attach router gateways, floating IPs), to one project or to `*`.
 */
import type { Kysely } from 'kysely';
import type { Database } from '../store/schema.js';

export async function sharedWith(
  db: Kysely<Database>,
  objectType: string,
  action: 'access_as_shared' | 'access_as_external',
  projectId: string | null,
  objectIds?: string[],
): Promise<Set<string>> {
  let q = db.selectFrom('rbac_policies').select(['object_id', 'doc']).where('object_type', '=', objectType);
  if (objectIds) {
    if (objectIds.length === 0) return new Set();
    q = q.where('object_id', 'in', objectIds);
  }
  const ids = new Set<string>();
  for (const row of await q.execute()) {
    const doc = JSON.parse(row.doc) as { action: string; target_tenant: string };
    if (doc.action === action && (doc.target_tenant === '*' || doc.target_tenant === projectId))
      ids.add(row.object_id);
  }
  return ids;
}
