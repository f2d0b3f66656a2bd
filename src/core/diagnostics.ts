/**
 * Host diagnostics: an admin asks a host's agent to look at its own host (its kernel drift, a real
 * packet from an instance's namespace, a listener to probe) and waits for the answer. The request
 * is a row in the store plus a change-feed revision (`host_diagnostics`), which wakes the agent
 * whichever server it follows; the agent lists its host's pending requests, runs them and posts
 * each answer, which the asking server reads (woken by the answer's revision, or by polling) and
 * then deletes. Nothing stays pending: a request not answered in time is deleted too.
 */
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type {
  Diagnostic,
  DiagnosticAnswer,
  DiagnosticRequest,
  PendingDiagnostic,
} from '../model/diagnostics.js';
import { now, type Store } from '../store/store.js';
import type { Agents } from './agents.js';
import { type Context, requireAdmin } from './context.js';
import {
  DiagnosticFailed,
  DiagnosticNotFound,
  DiagnosticTimeout,
  HostAgentDown,
  HostNotFound,
} from './errors.js';
import type { Settings } from './settings.js';

export const RESOURCE = 'host_diagnostics';
/** The answer's revision wakes the waiter; this is the fallback when a wakeup is missed. */
const POLL_MS = 250;
/** Requests older than this are left from a server that died waiting: agents no longer see them. */
const STALE_MS = 5 * 60_000;

export class HostDiagnostics {
  readonly #store: Store;
  readonly #agents: Agents;
  readonly #settings: Settings;

  constructor(store: Store, settings: Settings, agents: Agents) {
    this.#store = store;
    this.#settings = settings;
    this.#agents = agents;
  }

  /** Asks `host`'s agent for `request` and waits for its answer (see the module's comment). */
  async ask(ctx: Context, host: string, request: DiagnosticRequest): Promise<Diagnostic> {
    requireAdmin(ctx, 'create_host_diagnostics');
    const alive = await this.#agents.hostAlive(host);
    if (alive === undefined) throw HostNotFound({ host });
    if (!alive) throw HostAgentDown({ host });
    const id = randomUUID();
    await this.#store.transaction(async (tx) => {
      await tx
        .insertInto('host_diagnostics')
        .values({ id, host, request: JSON.stringify(request), answer: null, created_at: now() })
        .execute();
      tx.changed({ resource: RESOURCE, resource_id: id, op: 'create', project_id: '' });
    });
    let wake = () => {};
    const unfollow = this.#store.follow(() => wake());
    try {
      const seconds = this.#settings.diagnosticsTimeout;
      const deadline = Date.now() + seconds * 1000;
      for (;;) {
        const row = await this.#store.db
          .selectFrom('host_diagnostics')
          .select('answer')
          .where('id', '=', id)
          .executeTakeFirst();
        if (row?.answer) {
          const answer = JSON.parse(row.answer) as DiagnosticAnswer;
          if ('error' in answer) throw DiagnosticFailed({ host, error: answer.error });
          return { id, host, kind: request.kind, result: answer.result };
        }
        const left = deadline - Date.now();
        if (left <= 0) throw DiagnosticTimeout({ host, seconds });
        const woken = new Promise<void>((resolve) => {
          wake = resolve;
        });
        await Promise.race([woken, sleep(Math.min(POLL_MS, left))]);
      }
    } finally {
      unfollow();
      await this.#store.db.deleteFrom('host_diagnostics').where('id', '=', id).execute();
    }
  }

  /** The requests waiting for `host`'s agent, oldest first (stale ones are dropped). */
  async pending(ctx: Context, host: string): Promise<PendingDiagnostic[]> {
    requireAdmin(ctx, 'get_host_diagnostics');
    const stale = new Date(Date.now() - STALE_MS).toISOString().replace(/\.\d{3}Z$/, 'Z');
    await this.#store.db.deleteFrom('host_diagnostics').where('created_at', '<', stale).execute();
    const rows = await this.#store.db
      .selectFrom('host_diagnostics')
      .selectAll()
      .where('host', '=', host)
      .where('answer', 'is', null)
      .orderBy('created_at')
      .execute();
    return rows.map((r) => ({
      id: r.id,
      host: r.host,
      request: JSON.parse(r.request) as DiagnosticRequest,
      created_at: r.created_at,
    }));
  }

  /** Records the answer of `host`'s agent to request `id` (DiagnosticNotFound once given up). */
  async answer(ctx: Context, host: string, id: string, answer: DiagnosticAnswer): Promise<void> {
    requireAdmin(ctx, 'update_host_diagnostics');
    await this.#store.transaction(async (tx) => {
      const result = await tx
        .updateTable('host_diagnostics')
        .set({ answer: JSON.stringify(answer) })
        .where('id', '=', id)
        .where('host', '=', host)
        .where('answer', 'is', null)
        .executeTakeFirst();
      if (Number(result.numUpdatedRows) === 0) throw DiagnosticNotFound({ id, host });
      tx.changed({ resource: RESOURCE, resource_id: id, op: 'update', project_id: '' });
    });
  }
}
