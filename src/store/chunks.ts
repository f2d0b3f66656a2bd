/**
 * Long value lists cut to a size every database takes in one statement. SQLite binds at most
 * 32,766 variables per statement (999 before 3.32) and PostgreSQL 65,535; an `IN` list or a
 * multi-row insert built from an unbounded list (every port of a network, a query's repeated
 * `?id=` filters) goes through here instead, in chunks of `CHUNK` values (or rows).
 */

/** Values per `IN` list, rows per insert: far below either limit even at 60 columns a row. */
export const CHUNK = 500;

/** `values` in consecutive slices of at most `size`. */
export function chunks<T>(values: readonly T[], size = CHUNK): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < values.length; i += size) out.push(values.slice(i, i + size));
  return out;
}

/** Runs `query` once per chunk of `values` (none when empty); the rows in chunk order. */
export async function inChunks<T, R>(
  values: readonly T[],
  query: (chunk: T[]) => Promise<R[]>,
): Promise<R[]> {
  const out: R[] = [];
  for (const chunk of chunks(values)) for (const row of await query(chunk)) out.push(row);
  return out;
}

/**
 * Runs a query narrowed by `IN` filters (column → wanted values, ORed; filters ANDed) with no
 * list longer than `CHUNK`: the longest longer list is split and the query run once per chunk
 * (rows are disjoint: a row has one value per column); any other long list is left out of the
 * query, and `complete` says so — the caller must then filter by it itself.
 */
export async function byFilterChunks<R>(
  filters: Readonly<Record<string, string[] | undefined>>,
  query: (filters: Record<string, string[]>) => Promise<R[]>,
): Promise<{ rows: R[]; complete: boolean }> {
  const short: Record<string, string[]> = {};
  const long: [string, string[]][] = [];
  for (const [key, values] of Object.entries(filters)) {
    if (values === undefined) continue;
    const distinct = [...new Set(values)];
    if (distinct.length <= CHUNK) short[key] = distinct;
    else long.push([key, distinct]);
  }
  if (long.length === 0) return { rows: await query(short), complete: true };
  long.sort((a, b) => b[1].length - a[1].length);
  const [key, values] = long[0];
  const rows = await inChunks(values, (chunk) => query({ ...short, [key]: chunk }));
  return { rows, complete: long.length === 1 };
}
