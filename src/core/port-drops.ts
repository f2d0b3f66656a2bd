/**
 * Security-group drop counters per port: agents report them (with their status report, when they
 * change) for every port they filter, and whoever may see a port may read its counters. A report
 * replaces everything its host reported before, so counters of ports gone from the host go too.
 */
import type { DropCounters, PortDrops as PortDropsView } from '../model/agent.js';
import type { Store } from '../store/store.js';
import { now } from '../store/store.js';
import { type Context, requireAdmin } from './context.js';
import type { Ports } from './ports.js';

export class PortDrops {
  readonly #store: Store;
  readonly #ports: Ports;

  constructor(store: Store, ports: Ports) {
    this.#store = store;
    this.#ports = ports;
  }

  /** Stores `host`'s report: the counters of the ports bound to it, nothing else of it stays. */
  async report(ctx: Context, host: string, drops: Record<string, DropCounters>): Promise<void> {
    requireAdmin(ctx, 'report_host_status');
    const at = now();
    await this.#store.transaction(async (tx) => {
      await tx.deleteFrom('port_drops').where('host', '=', host).execute();
      const ids = Object.keys(drops);
      for (let i = 0; i < ids.length; i += 500) {
        const rows = ids
          .slice(i, i + 500)
          .map((port_id) => ({ port_id, host, drops: JSON.stringify(drops[port_id]), updated_at: at }));
        await tx
          .insertInto('port_drops')
          .values(rows)
          .onConflict((oc) =>
            oc.column('port_id').doUpdateSet((eb) => ({
              host: eb.ref('excluded.host'),
              drops: eb.ref('excluded.drops'),
              updated_at: eb.ref('excluded.updated_at'),
            })),
          )
          .execute();
      }
    });
  }

  /** A port's counters (PortNotFound unless `ctx` may see the port); empty before any report. */
  async get(ctx: Context, portId: string): Promise<PortDropsView> {
    const port = await this.#ports.get(ctx, portId);
    const row = await this.#store.db
      .selectFrom('port_drops')
      .selectAll()
      .where('port_id', '=', port.id)
      .executeTakeFirst();
    if (!row) return { port_id: port.id, host: null, updated_at: null, drops: {} };
    return { port_id: port.id, host: row.host, updated_at: row.updated_at, drops: JSON.parse(row.drops) };
  }
}
