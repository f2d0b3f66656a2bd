/**
 * Prometheus metrics: requests and latency per route, database query timings, live agents by type,
 * and what `up`'s own agent reports of each reconcile (`agent/reconcile-report.ts`: its duration,
 * actions applied by kind, failures, drift repaired, the last sync's time, its ports by status), and
 * every host's agent's health as its status reports said it (`neutrino_host_agent_*{host}`: its
 * reconciles and their time, actions by kind, failures, drift repaired, last sync), and with the
 * `metrics_per_port` setting every port's traffic as its host last reported it.
 */
import type { FastifyInstance } from 'fastify';
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import type { ReconcileReport } from '../agent/reconcile-report.js';
import type { AgentHealth, PortCounters } from '../model/agent.js';

/** One port's series: its counters as last reported, labelled with its project. */
export type PortSeries = PortCounters & { port_id: string; project_id: string };

export class Metrics {
  readonly registry = new Registry();
  readonly requests = new Counter({
    name: 'neutrino_http_requests_total',
    help: 'HTTP requests by method, route and status code',
    labelNames: ['method', 'route', 'status'] as const,
    registers: [this.registry],
  });
  readonly latency = new Histogram({
    name: 'neutrino_http_request_duration_seconds',
    help: 'HTTP request latency by method and route',
    labelNames: ['method', 'route'] as const,
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [this.registry],
  });
  readonly db = new Histogram({
    name: 'neutrino_db_query_duration_seconds',
    help: 'Database query time by statement kind',
    labelNames: ['kind'] as const,
    buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5],
    registers: [this.registry],
  });

  readonly reconcileDuration = new Histogram({
    name: 'neutrino_agent_reconcile_duration_seconds',
    help: "The local agent's reconciles: observe, diff, apply and re-observe",
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [this.registry],
  });
  readonly actions = new Counter({
    name: 'neutrino_agent_actions_total',
    help: 'Kernel actions the local agent applied, by kind (veth.add, dnsmasq.reload, ...)',
    labelNames: ['kind'] as const,
    registers: [this.registry],
  });
  readonly failures = new Counter({
    name: 'neutrino_agent_action_failures_total',
    help: 'Kernel actions of the local agent that failed (retried by the next reconcile)',
    registers: [this.registry],
  });
  readonly drift = new Counter({
    name: 'neutrino_agent_drift_repaired_total',
    help: 'Actions the local agent applied although the model had not changed: kernel drift repaired',
    registers: [this.registry],
  });
  readonly lastSync = new Gauge({
    name: 'neutrino_agent_last_sync_timestamp_seconds',
    help: 'When the local agent last finished a reconcile (Unix time)',
    registers: [this.registry],
  });
  readonly ports = new Gauge({
    name: 'neutrino_agent_ports',
    help: "The local agent's ports by the status it gives them",
    labelNames: ['status'] as const,
    registers: [this.registry],
  });
  #countAgents: (() => Promise<Record<string, number>>) | undefined;
  readonly liveAgents: Gauge<'agent_type'> = new Gauge({
    name: 'neutrino_agents_alive',
    help: 'Agents whose last heartbeat is recent enough, by agent type',
    labelNames: ['agent_type'] as const,
    registers: [this.registry],
    // Called before each scrape; a failed read leaves the last values.
    collect: async () => {
      const counts = await this.#countAgents?.().catch(() => undefined);
      if (!counts) return;
      this.liveAgents.reset();
      for (const [agentType, n] of Object.entries(counts)) this.liveAgents.set({ agent_type: agentType }, n);
    },
  });

  #portCounters: (() => Promise<PortSeries[]>) | undefined;
  /** One read of the ports' counters serves both gauges of a scrape (collected concurrently). */
  #portsRead: Promise<PortSeries[] | undefined> | undefined;
  readonly portBytes: Gauge<'port_id' | 'project_id' | 'direction'> = new Gauge({
    name: 'neutrino_port_bytes',
    help: "A port's bytes as its host last reported them, by direction (tx: sent by the port's owner)",
    labelNames: ['port_id', 'project_id', 'direction'] as const,
    registers: [this.registry],
    collect: () => this.#collectPorts(this.portBytes, 'bytes'),
  });
  readonly portPackets: Gauge<'port_id' | 'project_id' | 'direction'> = new Gauge({
    name: 'neutrino_port_packets',
    help: "A port's packets as its host last reported them, by direction (tx: sent by the port's owner)",
    labelNames: ['port_id', 'project_id', 'direction'] as const,
    registers: [this.registry],
    collect: () => this.#collectPorts(this.portPackets, 'packets'),
  });

  async #collectPorts(gauge: Gauge<'port_id' | 'project_id' | 'direction'>, unit: 'bytes' | 'packets') {
    const read = this.#portCounters;
    if (!read) return;
    this.#portsRead ??= read()
      .catch(() => undefined)
      .finally(() => setTimeout(() => (this.#portsRead = undefined), 0));
    const series = await this.#portsRead;
    if (!series) return;
    gauge.reset();
    for (const p of series) {
      const labels = { port_id: p.port_id, project_id: p.project_id };
      gauge.set({ ...labels, direction: 'rx' }, p[`rx_${unit}`]);
      gauge.set({ ...labels, direction: 'tx' }, p[`tx_${unit}`]);
    }
  }

  // Every host's agent, as its status reports last said (totals since that agent started).
  readonly #hosts = (name: string, help: string, labels: ('host' | 'kind')[] = ['host']) =>
    new Gauge({ name, help, labelNames: labels, registers: [this.registry] });
  readonly hostReconciles = this.#hosts(
    'neutrino_host_agent_reconciles_total',
    "Reconciles a host's agent ran since it started",
  );
  readonly hostReconcileSeconds = this.#hosts(
    'neutrino_host_agent_reconcile_seconds_total',
    "Time a host's agent spent reconciling since it started",
  );
  readonly hostLastReconcile = this.#hosts(
    'neutrino_host_agent_last_reconcile_seconds',
    "How long a host's agent's last reconcile took",
  );
  readonly hostActions = this.#hosts(
    'neutrino_host_agent_actions_total',
    "Kernel actions a host's agent applied since it started, by kind",
    ['host', 'kind'],
  );
  readonly hostFailures = this.#hosts(
    'neutrino_host_agent_action_failures_total',
    "Kernel actions of a host's agent that failed since it started",
  );
  readonly hostDrift = this.#hosts(
    'neutrino_host_agent_drift_repaired_total',
    "Actions a host's agent applied to repair kernel drift since it started",
  );
  readonly hostLastSync = this.#hosts(
    'neutrino_host_agent_last_sync_timestamp_seconds',
    "When a host's agent last finished a reconcile (Unix time)",
  );

  /** A host's agent health, from its status report. */
  agentHealth(host: string, h: AgentHealth): void {
    this.hostReconciles.set({ host }, h.reconciles);
    this.hostReconcileSeconds.set({ host }, h.reconcile_seconds);
    this.hostLastReconcile.set({ host }, h.last_reconcile_seconds);
    for (const [kind, n] of Object.entries(h.actions)) this.hostActions.set({ host, kind }, n);
    this.hostFailures.set({ host }, h.failures);
    this.hostDrift.set({ host }, h.drift);
    this.hostLastSync.set({ host }, h.last_sync);
  }

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'neutrino_' });
  }

  /** One reconcile of the local agent. */
  observeReconcile = (report: ReconcileReport): void => {
    this.reconcileDuration.observe(report.durationMs / 1000);
    for (const [kind, n] of Object.entries(report.ops)) if (n > 0) this.actions.inc({ kind }, n);
    if (report.failures > 0) this.failures.inc(report.failures);
    if (report.drift > 0) this.drift.inc(report.drift);
    this.lastSync.set(report.at / 1000);
    this.ports.reset();
    for (const [status, n] of Object.entries(report.ports)) this.ports.set({ status }, n);
  };

  /** Where per-port series come from (the `metrics_per_port` setting); none without it. */
  portCounters(read: () => Promise<PortSeries[]>): void {
    this.#portCounters = read;
  }

  /** How live agents are counted at each scrape (by agent type). */
  countAgents(count: () => Promise<Record<string, number>>): void {
    this.#countAgents = count;
  }

  /** Kysely's `log` hook: one observation per query, by its first SQL keyword. */
  observeQuery = (sqlText: string, ms: number): void => {
    const kind = /^\s*(\w+)/.exec(sqlText)?.[1]?.toLowerCase() ?? 'other';
    this.db.observe({ kind }, ms / 1000);
  };

  register(app: FastifyInstance): void {
    app.addHook('onResponse', async (req, reply) => {
      const route = req.routeOptions.url ?? 'unmatched';
      this.requests.inc({ method: req.method, route, status: String(reply.statusCode) });
      this.latency.observe({ method: req.method, route }, reply.elapsedTime / 1000);
    });
    app.get('/metrics', async (_req, reply) => {
      reply.header('content-type', this.registry.contentType);
      return this.registry.metrics();
    });
  }
}
