/**
 * The store: a Kysely database plus the change feed. Every mutation runs in `transaction()`,
 * which records a revision row for each changed resource in the same transaction and wakes the
 * feed's followers after commit (PostgreSQL also NOTIFYs other servers).
 */
import { type Kysely, sql, type Transaction } from 'kysely';
import type pg from 'pg';
import { chunks } from './chunks.js';
import { type DialectName, type Opened, openDatabase, type QueryObserver } from './dialect.js';
import { migrate } from './migrate.js';
import type { Database } from './schema.js';

export type Tx = Transaction<Database> & { changed: (change: Change) => void };

export interface Change {
  resource: string;
  resource_id: string;
  op: 'create' | 'update' | 'delete';
  project_id: string;
}

export interface Revision extends Change {
  revision: number;
  created_at: string;
  /** The change was a status report's: a port's or instance's status, nothing agents build. */
  status_only: boolean;
}

export interface TransactionOptions {
  /** Every change of the transaction is a status report's (see `Revision.status_only`). */
  statusOnly?: boolean;
}

export const NOTIFY_CHANNEL = 'neutrino_revisions';
/** Advisory lock key serialising revision numbering on PostgreSQL ("ntrn"). */
const REVISION_LOCK = 0x6e74726e;

export function now(): string {
  return new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** PostgreSQL aborted the transaction for a deadlock or a serialization conflict: retry it. */
export function isRetryableConflict(err: unknown): boolean {
  const code = (err as { code?: string } | null)?.code;
  return code === '40P01' || code === '40001';
}

export function isUniqueViolation(err: unknown): boolean {
  const code = (err as { code?: string } | null)?.code;
  return code === '23505' || code === 'SQLITE_CONSTRAINT_PRIMARYKEY' || code === 'SQLITE_CONSTRAINT_UNIQUE';
}

export class Store {
  readonly db: Kysely<Database>;
  readonly dialect: DialectName;
  readonly #wakers = new Set<() => void>();
  readonly #close: () => Promise<void>;
  #listening?: Promise<void>;
  readonly #pool: pg.Pool | undefined;
  #releaseListener?: () => void;

  private constructor(opened: Opened) {
    this.db = opened.db;
    this.dialect = opened.dialect;
    this.#pool = opened.pool;
    this.#close = () => opened.db.destroy();
  }

  static async open(url: string, onQuery?: QueryObserver): Promise<Store> {
    const store = new Store(await openDatabase(url, onQuery));
    await migrate(store.db, store.dialect);
    return store;
  }

  /**
   * Runs `fn` in one transaction. Changes it reports with `tx.changed()` become revision rows
   * of the same transaction; followers are woken once it has committed.
   */
  async transaction<T>(fn: (tx: Tx) => Promise<T>, options: TransactionOptions = {}): Promise<T> {
    const changes: Change[] = [];
    const result = await this.db.transaction().execute(async (trx) => {
      const tx = Object.assign(trx, { changed: (change: Change) => void changes.push(change) }) as Tx;
      const value = await fn(tx);
      if (changes.length > 0) {
        if (this.dialect === 'postgres') {
          // Revision numbers must follow commit order, or a follower that has read revision N
          // could skip a smaller one committed later. The lock is held until commit.
          await sql`select pg_advisory_xact_lock(${REVISION_LOCK})`.execute(trx);
        }
        const created_at = now();
        const rows = changes.map((c) => ({ ...c, created_at, status_only: options.statusOnly ? 1 : 0 }));
        for (const chunk of chunks(rows)) await trx.insertInto('revisions').values(chunk).execute();
        if (this.dialect === 'postgres') await sql`select pg_notify(${NOTIFY_CHANNEL}, '')`.execute(trx);
      }
      return value;
    });
    if (changes.length > 0) this.#wake();
    return result;
  }

  /** Retries `fn` while it fails on a unique key taken by, or a deadlock with, a concurrent transaction. */
  async retrying<T>(fn: () => Promise<T>, attempts = 25): Promise<T> {
    for (let i = 1; ; i++) {
      try {
        return await fn();
      } catch (err) {
        if (!(isUniqueViolation(err) || isRetryableConflict(err)) || i >= attempts) throw err;
      }
    }
  }

  /** Drops all but the newest `keep` revisions; followers behind that must resync. */
  async pruneRevisions(keep: number): Promise<void> {
    const latest = await this.latestRevision();
    await this.db
      .deleteFrom('revisions')
      .where('revision', '<=', latest - keep)
      .execute();
  }

  /**
   * PostgreSQL only (SQLite serialises writers anyway): locks a row until commit, `share` for
   * users of a parent (a port on a network), `update` for its deleter, so the deleter's
   * "still in use?" check can't miss a concurrent insert.
   */
  async lockRow(
    tx: Tx,
    table: 'networks' | 'subnets' | 'security_groups',
    id: string,
    mode: 'share' | 'update',
  ): Promise<void> {
    if (this.dialect !== 'postgres') return;
    const q = tx.selectFrom(table).select('id').where('id', '=', id);
    await (mode === 'share' ? q.forShare() : q.forUpdate()).execute();
  }

  async latestRevision(): Promise<number> {
    const row = await this.db
      .selectFrom('revisions')
      .select((eb) => eb.fn.max('revision').as('rev'))
      .executeTakeFirst();
    return Number(row?.rev ?? 0);
  }

  async oldestRevision(): Promise<number> {
    const row = await this.db
      .selectFrom('revisions')
      .select((eb) => eb.fn.min('revision').as('rev'))
      .executeTakeFirst();
    return Number(row?.rev ?? 0);
  }

  async revisionsSince(since: number, limit = 1000): Promise<Revision[]> {
    const rows = await this.db
      .selectFrom('revisions')
      .selectAll()
      .where('revision', '>', since)
      .orderBy('revision')
      .limit(limit)
      .execute();
    return rows.map((r) => ({
      ...r,
      op: r.op as Change['op'],
      revision: Number(r.revision),
      status_only: r.status_only === 1,
    }));
  }

  /** Calls `wake` after every commit that changed something (here or, on PostgreSQL, elsewhere). */
  follow(wake: () => void): () => void {
    this.#wakers.add(wake);
    if (this.#pool && !this.#listening) this.#listening = this.#listen(this.#pool);
    return () => this.#wakers.delete(wake);
  }

  #wake(): void {
    for (const wake of this.#wakers) wake();
  }

  async #listen(pool: pg.Pool): Promise<void> {
    const client = await pool.connect();
    client.on('notification', () => this.#wake());
    await client.query(`LISTEN ${NOTIFY_CHANNEL}`);
    this.#releaseListener = () => client.release();
  }

  async close(): Promise<void> {
    await this.#listening?.catch(() => undefined);
    this.#releaseListener?.();
    await this.#close();
  }
}
