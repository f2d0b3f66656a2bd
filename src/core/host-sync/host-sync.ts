/**
 * What the server does for each host's agent, one concern per file beside this one: schedules
 * DHCP (`dhcp.ts`) and L3 (`l3.ts`, sharing `common.ts`), assembles the host's `Snapshot`
 * (`snapshot.ts`), and applies the agent's status reports to ports and instances (`reports.ts`).
 * A sync or report that finds nothing to change writes nothing, so an agent woken by the
 * revisions its own sync wrote settles after one more round.
 */
import type { StatusReport } from '../../model/agent.js';
import type { Snapshot } from '../../model/host-snapshot.js';
import type { Store } from '../../store/store.js';
import type { Agents } from '../agents.js';
import { type Context, requireAdmin } from '../context.js';
import type { Networks } from '../networks.js';
import type { Settings } from '../settings.js';
import { DhcpScheduling } from './dhcp.js';
import { L3Scheduling } from './l3.js';
import { StatusReports } from './reports.js';
import { SnapshotAssembly } from './snapshot.js';

export class HostSync {
  readonly #store: Store;
  readonly #dhcp: DhcpScheduling;
  readonly #l3: L3Scheduling;
  readonly #snapshots: SnapshotAssembly;
  readonly #reports: StatusReports;

  constructor(store: Store, settings: Settings, networks: Networks, agents: Agents) {
    this.#store = store;
    this.#dhcp = new DhcpScheduling(store, settings, agents);
    this.#l3 = new L3Scheduling(store, settings, agents);
    this.#snapshots = new SnapshotAssembly(store, settings, agents);
    this.#reports = new StatusReports(store, settings, agents);
    networks.onDelete.push(async (tx, network) => {
      await tx.deleteFrom('dhcp_bindings').where('network_id', '=', network.id).execute();
    });
  }

  /** Schedules and repairs DHCP and L3 for `host`, then returns its snapshot as of the store's latest revision. */
  async sync(ctx: Context, host: string): Promise<Snapshot> {
    requireAdmin(ctx, 'sync_host');
    await this.#dhcp.ensure(host);
    await this.#l3.ensure(host);
    return this.#snapshots.build(host, await this.#store.latestRevision());
  }

  /** Applies an agent's status report (`reports.ts`). */
  report(ctx: Context, host: string, report: StatusReport): Promise<void> {
    return this.#reports.report(ctx, host, report);
  }
}
