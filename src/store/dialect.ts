/**
 * Opens a Kysely instance for a database URL: a SQLite file (WAL, busy timeout) by default,
 * PostgreSQL for `postgres://` URLs. The only place that knows which drivers exist.
 */
import SQLite from 'better-sqlite3';
import { Kysely, type LogEvent, PostgresDialect, SqliteDialect } from 'kysely';
import type pg from 'pg';
import type { Database } from './schema.js';

export type DialectName = 'sqlite' | 'postgres';

export interface Opened {
  db: Kysely<Database>;
  dialect: DialectName;
  /** PostgreSQL only: a pool for LISTEN/NOTIFY outside Kysely. */
  pool?: pg.Pool;
}

/** Called after every query with its SQL and duration (for metrics). */
export type QueryObserver = (sql: string, ms: number) => void;

export async function openDatabase(url: string, onQuery?: QueryObserver): Promise<Opened> {
  const log = onQuery
    ? (event: LogEvent) => {
        if (event.level === 'query') onQuery(event.query.sql, event.queryDurationMillis);
      }
    : undefined;
  if (url.startsWith('postgres://') || url.startsWith('postgresql://')) {
    // Loaded only when used: an all-in-one SQLite server never pays for the driver.
    const { default: pg } = await import('pg');
    // PostgreSQL returns bigint (revision numbers) as strings by default; ours fit in a double.
    pg.types.setTypeParser(20, (v) => Number.parseInt(v, 10));
    const pool = new pg.Pool({ connectionString: url, max: 10 });
    // An idle connection the server closed (restart, DROP DATABASE … FORCE) must not crash
    // the process; the pool replaces it on the next query.
    pool.on('error', () => undefined);
    return {
      db: new Kysely<Database>({ dialect: new PostgresDialect({ pool }), log }),
      dialect: 'postgres',
      pool,
    };
  }
  const file = url.startsWith('sqlite://') ? url.slice('sqlite://'.length) : url;
  const sqlite = new SQLite(file);
  sqlite.pragma('journal_mode = WAL');
  sqlite.pragma('busy_timeout = 5000');
  sqlite.pragma('synchronous = NORMAL');
  sqlite.pragma('foreign_keys = ON');
  return {
    db: new Kysely<Database>({ dialect: new SqliteDialect({ database: keepingStatements(sqlite) }), log }),
    dialect: 'sqlite',
  };
}

/** How many distinct SQL texts keep their prepared statement (`IN` lists make the texts vary). */
const STATEMENT_CACHE_SIZE = 500;

/**
 * The database as Kysely's SQLite driver uses it, with prepared statements kept by SQL text (least
 * recently used out): Kysely prepares every query anew, which took a third of the server's
 * database time under a burst of instance creates. Statements are only ever run to completion
 * (`all`/`run`, never streamed), so one statement is never in use twice at once.
 */
function keepingStatements(db: SQLite.Database): Pick<SQLite.Database, 'close' | 'prepare'> {
  const kept = new Map<string, SQLite.Statement>();
  return {
    close: () => db.close(),
    prepare(source: string) {
      let statement = kept.get(source);
      if (statement) kept.delete(source);
      else statement = db.prepare(source);
      kept.set(source, statement);
      if (kept.size > STATEMENT_CACHE_SIZE) kept.delete(kept.keys().next().value!);
      return statement;
    },
  } as Pick<SQLite.Database, 'close' | 'prepare'>;
}
