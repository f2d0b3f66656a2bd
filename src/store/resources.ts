/**
 * Generic reads and writes of Neutron resource rows: standard attributes in columns, the rest
 * in `doc`. Resource-specific columns are passed as `extra`. Revision numbers start at 0 and
 * grow by one on every update; `If-Match` checks compare against them.
 */
import type { Kysely } from 'kysely';
import { RevisionNumberConstraintFailed } from '../core/errors.js';
import type { Database, ResourceRow, ResourceTable } from './schema.js';
import { now, type Tx } from './store.js';

/** A resource as the API returns it before field selection: standard attributes + doc. */
export type Stored = Record<string, unknown> & {
  id: string;
  project_id: string;
  tenant_id: string;
  revision_number: number;
  created_at: string;
  updated_at: string;
};

export function fromRow(row: ResourceRow): Stored {
  // Assigning onto the freshly parsed object is ~5x cheaper than spreading it into a new one,
  // which matters when listing 10k ports.
  const resource = JSON.parse(row.doc) as Stored;
  resource.id = row.id;
  resource.project_id = row.project_id;
  resource.tenant_id = row.project_id;
  resource.revision_number = Number(row.revision_number);
  resource.created_at = row.created_at;
  resource.updated_at = row.updated_at;
  return resource;
}

const STANDARD = new Set(['id', 'project_id', 'tenant_id', 'revision_number', 'created_at', 'updated_at']);

function docOf(resource: Record<string, unknown>): string {
  const doc: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(resource)) if (!STANDARD.has(k)) doc[k] = v;
  return JSON.stringify(doc);
}

export async function insertResource(
  tx: Tx,
  table: ResourceTable,
  resource: Record<string, unknown> & { id: string; project_id: string },
  extra: Record<string, string> = {},
): Promise<Stored> {
  const at = now();
  const row = {
    id: resource.id,
    project_id: resource.project_id,
    revision_number: 0,
    created_at: at,
    updated_at: at,
    doc: docOf(resource),
    ...extra,
  };
  await tx
    .insertInto(table)
    .values(row as never)
    .execute();
  tx.changed({ resource: table, resource_id: row.id, op: 'create', project_id: row.project_id });
  return fromRow(row);
}

/**
 * Replaces a resource's doc, bumping its revision. `expected` (from If-Match) must equal the
 * current revision number. The update is conditional on the revision read, so two concurrent
 * updates cannot both win.
 */
export async function updateResource(
  tx: Tx,
  table: ResourceTable,
  current: Stored,
  next: Record<string, unknown>,
  extra: Record<string, string> = {},
  expected?: number,
): Promise<Stored> {
  if (expected !== undefined && expected !== current.revision_number) {
    throw RevisionNumberConstraintFailed({ expected, current: current.revision_number });
  }
  const revision = current.revision_number + 1;
  const updated_at = now();
  const result = await tx
    .updateTable(table)
    .set({ doc: docOf(next), revision_number: revision, updated_at, ...extra } as never)
    .where('id', '=', current.id)
    .where('revision_number', '=', current.revision_number)
    .executeTakeFirst();
  if (Number(result.numUpdatedRows) !== 1) {
    const fresh = await getResource(tx, table, current.id);
    throw RevisionNumberConstraintFailed({
      expected: current.revision_number,
      current: fresh?.revision_number ?? -1,
    });
  }
  tx.changed({ resource: table, resource_id: current.id, op: 'update', project_id: current.project_id });
  return { ...next, ...pickStandard(current), revision_number: revision, updated_at } as Stored;
}

function pickStandard(s: Stored): Partial<Stored> {
  return { id: s.id, project_id: s.project_id, tenant_id: s.project_id, created_at: s.created_at };
}

export async function deleteResource(tx: Tx, table: ResourceTable, current: Stored): Promise<void> {
  await tx.deleteFrom(table).where('id', '=', current.id).execute();
  tx.changed({ resource: table, resource_id: current.id, op: 'delete', project_id: current.project_id });
}

export async function getResource(
  db: Kysely<Database>,
  table: ResourceTable,
  id: string,
): Promise<Stored | undefined> {
  const row = await db
    .selectFrom(table)
    .select(['id', 'project_id', 'revision_number', 'created_at', 'updated_at', 'doc'])
    .where('id', '=', id)
    .executeTakeFirst();
  return row ? fromRow(row as ResourceRow) : undefined;
}

/** All rows of a table, optionally narrowed by one indexed column (`column IN values`). */
export async function listResources(
  db: Kysely<Database>,
  table: ResourceTable,
  where?: { column: string; values: string[] },
): Promise<Stored[]> {
  if (where && where.values.length === 0) return [];
  let q = db
    .selectFrom(table)
    .select(['id', 'project_id', 'revision_number', 'created_at', 'updated_at', 'doc']);
  if (where) q = q.where(where.column as never, 'in', where.values as never);
  const rows = await q.execute();
  return rows.map((r) => fromRow(r as ResourceRow));
}
