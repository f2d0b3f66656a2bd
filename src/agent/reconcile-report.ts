/**
 * What one reconcile tells the metrics (`api/metrics.ts`): its duration, the actions it applied by
 * kind, its failures, how many of its actions repaired drift, and this host's ports by status.
 * `up`'s agent thread sends one per reconcile to the main thread, whose `/metrics` shows them;
 * another host's agent adds them up (`AgentHealthTotals`) and sends the totals with its status
 * reports, which the server's `/metrics` shows per host.
 */
import type { AgentHealth } from '../model/agent.js';
import type { Summary } from './reconciler.js';

export interface ReconcileReport {
  /** When it finished (ms since the epoch). */
  at: number;
  durationMs: number;
  /** Applied actions by kind (`veth.add`: 3). */
  ops: Record<string, number>;
  failures: number;
  /**
   * Actions applied although the model had not changed since the previous reconcile, which had
   * left the host as asked: the kernel had drifted (someone deleted a veth, killed a dnsmasq).
   */
  drift: number;
  /** This host's ports by the status the agent gives them. */
  ports: Record<string, number>;
}

/** Turns reconcile summaries into reports; drift is judged against the previous summary. */
export class ReconcileReports {
  #previous: { revision: number | null; failures: number } | undefined;

  next(summary: Summary, at = Date.now()): ReconcileReport {
    const previous = this.#previous;
    const unchanged =
      previous !== undefined && previous.failures === 0 && previous.revision === summary.revision;
    this.#previous = { revision: summary.revision, failures: summary.failures.length };
    const ports: Record<string, number> = {};
    for (const status of Object.values(summary.ports)) ports[status] = (ports[status] ?? 0) + 1;
    const ops: Record<string, number> = {};
    for (const [op, n] of Object.entries(summary.ops)) ops[op] = n ?? 0;
    for (const failure of summary.failures) ops[failure.op] = (ops[failure.op] ?? 1) - 1;
    return {
      at,
      durationMs: summary.durationMs,
      ops,
      failures: summary.failures.length,
      drift: unchanged ? summary.applied : 0,
      ports,
    };
  }
}

/** An agent's health since it started (what its status reports carry), kept up to date by `add`. */
export class AgentHealthTotals {
  #health: AgentHealth = {
    reconciles: 0,
    reconcile_seconds: 0,
    last_reconcile_seconds: 0,
    actions: {},
    failures: 0,
    drift: 0,
    last_sync: 0,
  };

  add(report: ReconcileReport): void {
    const h = this.#health;
    const seconds = report.durationMs / 1000;
    const actions = { ...h.actions };
    for (const [kind, n] of Object.entries(report.ops)) if (n > 0) actions[kind] = (actions[kind] ?? 0) + n;
    this.#health = {
      reconciles: h.reconciles + 1,
      reconcile_seconds: Math.round((h.reconcile_seconds + seconds) * 1000) / 1000,
      last_reconcile_seconds: seconds,
      actions,
      failures: h.failures + report.failures,
      drift: h.drift + report.drift,
      last_sync: Math.round(report.at / 1000),
    };
  }

  get current(): AgentHealth {
    return this.#health;
  }
}
