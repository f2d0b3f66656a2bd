/**
 * Traffic counters per port: agents report them (with their status report, when they changed) for
 * every port they realise; the server keeps each port's latest counters and the ones before them,
 * so a port's rates are those of its last report interval. Whoever may see a port may read its
 * stats (with its security groups' drop counters); an instance's and a router's are their ports'.
 */
import type { DeviceStats, DropCounters, PortCounters, PortStats as PortStatsView } from '../model/agent.js';
import type { Store } from '../store/store.js';
import { type Context, callerProject, requireAdmin } from './context.js';
import type { Ports } from './ports.js';

interface Sources {
  ports: Ports;
  /** The instance, checked to be visible (InstanceNotFound otherwise). */
  instance: (ctx: Context, id: string) => Promise<unknown>;
  /** The router, checked to be visible (RouterNotFound otherwise). */
  router: (ctx: Context, id: string) => Promise<unknown>;
}

const ZERO: PortCounters = { rx_bytes: 0, rx_packets: 0, tx_bytes: 0, tx_packets: 0 };
const BATCH = 500;

/** Counts per second between two reports; null when unknown or when the counters restarted. */
export function rates(
  latest: PortCounters,
  at: string,
  previous: PortCounters | null,
  previousAt: string | null,
): Pick<PortStatsView, 'rx_bps' | 'tx_bps' | 'rx_pps' | 'tx_pps'> {
  const seconds = previousAt === null ? 0 : (Date.parse(at) - Date.parse(previousAt)) / 1000;
  const restarted =
    previous === null ||
    (Object.keys(ZERO) as (keyof PortCounters)[]).some((key) => latest[key] < previous[key]);
  if (restarted || !(seconds > 0)) return { rx_bps: null, tx_bps: null, rx_pps: null, tx_pps: null };
  const per = (now: number, before: number, scale = 1) => Math.round(((now - before) * scale) / seconds);
  return {
    rx_bps: per(latest.rx_bytes, previous.rx_bytes, 8),
    tx_bps: per(latest.tx_bytes, previous.tx_bytes, 8),
    rx_pps: per(latest.rx_packets, previous.rx_packets),
    tx_pps: per(latest.tx_packets, previous.tx_packets),
  };
}

export class PortStats {
  readonly #store: Store;
  readonly #sources: Sources;

  constructor(store: Store, sources: Sources) {
    this.#store = store;
    this.#sources = sources;
  }

  /**
   * Stores `host`'s report: the counters of the ports it realises (those it no longer reports
   * go); each port's previous counters are kept for its rates.
   */
  async report(ctx: Context, host: string, counters: Record<string, PortCounters>): Promise<void> {
    requireAdmin(ctx, 'report_host_status');
    // Milliseconds: rates over a 5-second interval need more than whole seconds.
    const at = new Date().toISOString();
    await this.#store.transaction(async (tx) => {
      const before = await tx.selectFrom('port_counters').selectAll().where('host', '=', host).execute();
      const known = new Map(before.map((row) => [row.port_id, row]));
      await tx.deleteFrom('port_counters').where('host', '=', host).execute();
      const rows = Object.entries(counters).map(([port_id, latest]) => {
        const row = known.get(port_id);
        return {
          port_id,
          host,
          counters: JSON.stringify(latest),
          updated_at: at,
          previous: row?.counters ?? null,
          previous_at: row?.updated_at ?? null,
        };
      });
      for (let i = 0; i < rows.length; i += BATCH)
        await tx
          .insertInto('port_counters')
          .values(rows.slice(i, i + BATCH))
          .onConflict((oc) =>
            oc.column('port_id').doUpdateSet((eb) => ({
              host: eb.ref('excluded.host'),
              counters: eb.ref('excluded.counters'),
              updated_at: eb.ref('excluded.updated_at'),
              previous: eb.ref('excluded.previous'),
              previous_at: eb.ref('excluded.previous_at'),
            })),
          )
          .execute();
    });
  }

  /** Every reported port's latest counters with its project (for `/metrics`). */
  async series(): Promise<(PortCounters & { port_id: string; project_id: string })[]> {
    const rows = await this.#store.db
      .selectFrom('port_counters')
      .innerJoin('ports', 'ports.id', 'port_counters.port_id')
      .select(['port_counters.port_id', 'port_counters.counters', 'ports.project_id'])
      .orderBy('port_counters.port_id')
      .execute();
    return rows.map((row) => ({
      port_id: row.port_id,
      project_id: row.project_id,
      ...(JSON.parse(row.counters) as PortCounters),
    }));
  }

  /**
   * The rates of every port `ctx` may see that a host reported (an admin's: all), for views that
   * show many at once (the dashboard's topology).
   */
  async rates(ctx: Context): Promise<Pick<PortStatsView, 'port_id' | 'rx_bps' | 'tx_bps'>[]> {
    let query = this.#store.db
      .selectFrom('port_counters')
      .innerJoin('ports', 'ports.id', 'port_counters.port_id')
      .select([
        'port_counters.port_id',
        'port_counters.counters',
        'port_counters.updated_at',
        'port_counters.previous',
        'port_counters.previous_at',
      ]);
    if (!ctx.isAdmin) query = query.where('ports.project_id', '=', callerProject(ctx, 'get_port'));
    const rows = await query.orderBy('port_counters.port_id').execute();
    return rows.map((row) => {
      const latest = JSON.parse(row.counters) as PortCounters;
      const previous = row.previous === null ? null : (JSON.parse(row.previous) as PortCounters);
      const { rx_bps, tx_bps } = rates(latest, row.updated_at, previous, row.previous_at);
      return { port_id: row.port_id, rx_bps, tx_bps };
    });
  }

  /** A port's stats (PortNotFound unless `ctx` may see the port); zeros before any report. */
  async get(ctx: Context, portId: string): Promise<PortStatsView> {
    const port = await this.#sources.ports.get(ctx, portId);
    return (await this.#statsOf([port.id]))[0];
  }

  /** An instance's ports' stats and their sums. */
  async instance(ctx: Context, id: string): Promise<DeviceStats> {
    await this.#sources.instance(ctx, id);
    return this.#device(id);
  }

  /** A router's ports' stats (its interfaces, gateway and HA ports) and their sums. */
  async router(ctx: Context, id: string): Promise<DeviceStats> {
    await this.#sources.router(ctx, id);
    return this.#device(id);
  }

  /** The stats of the ports whose device is `id` (an instance or a router), and their sums. */
  async #device(id: string): Promise<DeviceStats> {
    const rows = await this.#store.db
      .selectFrom('ports')
      .select('id')
      .where('device_id', '=', id)
      .orderBy('id')
      .execute();
    return sum(id, await this.#statsOf(rows.map((r) => r.id)));
  }

  async #statsOf(portIds: string[]): Promise<PortStatsView[]> {
    if (portIds.length === 0) return [];
    const rows = await this.#store.db
      .selectFrom('port_counters')
      .selectAll()
      .where('port_id', 'in', portIds)
      .execute();
    const byPort = new Map(rows.map((row) => [row.port_id, row]));
    const dropRows = await this.#store.db
      .selectFrom('port_drops')
      .select(['port_id', 'drops'])
      .where('port_id', 'in', portIds)
      .execute();
    const dropsOf = new Map(dropRows.map((row) => [row.port_id, JSON.parse(row.drops) as DropCounters]));
    return portIds.map((port_id): PortStatsView => {
      const drops = dropsOf.get(port_id) ?? {};
      const row = byPort.get(port_id);
      if (!row)
        return { port_id, host: null, updated_at: null, ...ZERO, ...rates(ZERO, '', null, null), drops };
      const latest = JSON.parse(row.counters) as PortCounters;
      const previous = row.previous === null ? null : (JSON.parse(row.previous) as PortCounters);
      return {
        port_id,
        host: row.host,
        updated_at: row.updated_at,
        ...latest,
        ...rates(latest, row.updated_at, previous, row.previous_at),
        drops,
      };
    });
  }
}

function sum(id: string, ports: PortStatsView[]): DeviceStats {
  const total = (key: keyof PortCounters) => ports.reduce((n, p) => n + p[key], 0);
  const rate = (key: 'rx_bps' | 'tx_bps') => {
    const known = ports.filter((p) => p[key] !== null);
    return known.length === 0 ? null : known.reduce((n, p) => n + (p[key] ?? 0), 0);
  };
  return {
    id,
    ports,
    rx_bytes: total('rx_bytes'),
    rx_packets: total('rx_packets'),
    tx_bytes: total('tx_bytes'),
    tx_packets: total('tx_packets'),
    rx_bps: rate('rx_bps'),
    tx_bps: rate('tx_bps'),
  };
}
