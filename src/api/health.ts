/**
 * `GET /healthz`: 200 `{"status": "ok", "checks": {...}}` when every check passes, else 503
 * `{"status": "failing", "checks": {"database": "ok", "agent": "no sync for 95 s"}}`. The database
 * must answer a query; `neutrino up`'s own agent (when there is one) must be running and must have
 * finished a reconcile within three resync intervals.
 */
import type { FastifyInstance } from 'fastify';
import type { Store } from '../store/store.js';

/** What the health check reads of the local agent (`up`'s agent thread). */
export interface AgentHealth {
  /** Whether its thread is running (false between a crash and its restart). */
  running: boolean;
  /** When it last finished a reconcile (ms since the epoch); undefined before the first. */
  lastSyncAt: number | undefined;
  /** When it was started: the clock of a first sync that never comes. */
  startedAt: number;
  resyncIntervalMs: number;
}

/**
 * The sources of `/healthz`, filled in by whoever runs the server: `up` sets `agent` once its agent
 * thread exists; `now` is the clock (tests give their own).
 */
export interface HealthSources {
  agent?: () => AgentHealth;
  now?: () => number;
}

/** How many resync intervals without a finished reconcile make the agent unhealthy. */
const STALE_INTERVALS = 3;

/** The agent's check: "ok", or why not. */
export function agentCheck(agent: AgentHealth, now: number): string {
  if (!agent.running) return 'agent thread is not running';
  const since = now - (agent.lastSyncAt ?? agent.startedAt);
  if (since <= STALE_INTERVALS * agent.resyncIntervalMs) return 'ok';
  const seconds = Math.round(since / 1000);
  return agent.lastSyncAt === undefined ? `no sync in ${seconds} s since start` : `no sync for ${seconds} s`;
}

export function registerHealth(app: FastifyInstance, store: Store, sources: HealthSources = {}): void {
  app.get('/healthz', async (_req, reply) => {
    const checks: Record<string, string> = {};
    try {
      await store.latestRevision();
      checks.database = 'ok';
    } catch (err) {
      checks.database = `unreachable: ${err instanceof Error ? err.message : String(err)}`;
    }
    if (sources.agent) checks.agent = agentCheck(sources.agent(), (sources.now ?? Date.now)());
    const ok = Object.values(checks).every((c) => c === 'ok');
    return reply.code(ok ? 200 : 503).send({ status: ok ? 'ok' : 'failing', checks });
  });
}
