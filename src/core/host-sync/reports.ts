/**
 * What an agent's status report changes: its ports' and instances' status, its HA routers'
 * states. A report that finds nothing to change writes nothing, so an agent woken by the revisions
 * its own report wrote settles after one more round.
 */
import type { Kysely } from 'kysely';
import type { StatusReport } from '../../model/agent.js';
import type { Fault, InstanceStatus } from '../../model/instance.js';
import { inChunks } from '../../store/chunks.js';
import { listResources, type Stored } from '../../store/resources.js';
import type { Database } from '../../store/schema.js';
import type { Tx } from '../../store/store.js';
import { portBinding } from '../binding.js';
import { type Context, requireAdmin } from '../context.js';
import { interfacesOf } from '../instances.js';
import { routerPorts } from '../routers.js';
import { HostSyncPart, updateIfCurrent } from './common.js';
import { routerMoved } from './l3.js';

/** Which of `ids` changed after store revision `revision`. */
async function changedSince(tx: Tx, resource: string, revision: number, ids: string[]): Promise<Set<string>> {
  if (ids.length === 0) return new Set();
  const rows = await inChunks(ids, (chunk) =>
    tx
      .selectFrom('revisions')
      .select('resource_id')
      .where('resource', '=', resource)
      .where('revision', '>', revision)
      .where('resource_id', 'in', chunk)
      .execute(),
  );
  return new Set(rows.map((r) => r.resource_id));
}

/**
 * An instance's status from its ports' and the agent's word: ERROR while a problem names it or
 * one of its ports, ACTIVE once every port is; otherwise it stays (an ACTIVE instance whose port
 * went DOWN stays ACTIVE, as in Nova) but leaves ERROR for BUILD when its problem is gone.
 */
function health(
  current: Stored,
  statuses: string[],
  problems: string[],
): { status: InstanceStatus; fault: Fault | null } {
  if (problems.length > 0) return { status: 'ERROR', fault: { message: problems.join('; ') } };
  if (statuses.length > 0 && statuses.every((s) => s === 'ACTIVE')) return { status: 'ACTIVE', fault: null };
  return { status: current.status === 'ERROR' ? 'BUILD' : (current.status as InstanceStatus), fault: null };
}

/** The agents' status reports applied to ports, instances, HA routers and load balancers. */
export class StatusReports extends HostSyncPart {
  /**
   * Applies an agent's report: the status of each port bound to `host` that has not changed
   * since the reported revision (a later change makes the report about it stale), then the
   * status of each instance on `host`.
   */
  async report(ctx: Context, host: string, report: StatusReport): Promise<void> {
    requireAdmin(ctx, 'report_host_status');
    if (report.ha_states) await this.#recordHaStates(host, report.ha_states);
    const problems = report.problems ?? [];
    const reported = Object.keys(report.ports);
    await this.store.retrying(() =>
      this.store.transaction(
        async (tx) => {
          const instances = await listResources(tx, 'instances', { column: 'host', values: [host] });
          const interfaceIds = instances.flatMap((i) => interfacesOf(i).map((x) => x.port_id));
          const ids = [...new Set([...reported, ...interfaceIds])];
          const ports = await listResources(tx, 'ports', { column: 'id', values: ids });
          const stale = await changedSince(tx, 'ports', report.revision, reported);
          const status = new Map(ports.map((p) => [p.id, String(p.status)]));
          for (const port of ports) {
            const next = report.ports[port.id];
            if (next === undefined || next === port.status || stale.has(port.id)) continue;
            if (port['binding:host_id'] !== host) continue;
            if (await updateIfCurrent(tx, 'ports', port, { ...port, status: next }))
              status.set(port.id, next);
          }
          for (const instance of instances) {
            const own = interfacesOf(instance).map((x) => x.port_id);
            const named = problems.filter((p) => [instance.id, ...own].some((id) => p.includes(id)));
            const statuses = own.flatMap((id) => status.get(id) ?? []);
            const next = health(instance, statuses, named);
            if (
              next.status === instance.status &&
              JSON.stringify(next.fault) === JSON.stringify(instance.fault)
            )
              continue;
            await updateIfCurrent(tx, 'instances', instance, { ...instance, ...next });
          }
        },
        { statusOnly: true },
      ),
    );
  }

  /**
   * Records the VRRP state `host` reports for its HA routers. A router newly master here takes its
   * ports: they are bound here, so l2population points the other hosts at this one (as Neutron
   * does on failover). A router newly standby here hands them to another host that last reported
   * master, if any: after a partition heals, two masters meet and one yields, whichever reported
   * first. Writes nothing when nothing changed.
   */
  async #recordHaStates(host: string, states: Record<string, 'active' | 'standby'>): Promise<void> {
    const read = (db: Kysely<Database>) =>
      inChunks(Object.keys(states), (chunk) =>
        db
          .selectFrom('l3_bindings')
          .selectAll()
          .where('host', '=', host)
          .where('router_id', 'in', chunk)
          .execute(),
      );
    const changed = (rows: { router_id: string; ha_state: string | null }[]) =>
      rows.filter((b) => states[b.router_id] !== b.ha_state);
    if (changed(await read(this.store.db)).length === 0) return;
    await this.store.retrying(() =>
      this.store.transaction(async (tx) => {
        for (const binding of changed(await read(tx))) {
          const state = states[binding.router_id];
          await tx
            .updateTable('l3_bindings')
            .set({ ha_state: state })
            .where('router_id', '=', binding.router_id)
            .where('host', '=', host)
            .execute();
          const ports = await routerPorts(tx, [binding.router_id]);
          let to: string | undefined = host;
          if (state === 'standby') {
            if (!ports.some((p) => p['binding:host_id'] === host)) continue;
            const other = await tx
              .selectFrom('l3_bindings')
              .select('host')
              .where('router_id', '=', binding.router_id)
              .where('host', '!=', host)
              .where('ha_state', '=', 'active')
              .orderBy('host')
              .executeTakeFirst();
            to = other?.host;
          }
          if (to === undefined) continue;
          for (const port of ports)
            if (port['binding:host_id'] !== to)
              await updateIfCurrent(tx, 'ports', port, { ...port, ...(await portBinding(tx, to)) });
          await routerMoved(tx, binding.router_id);
        }
      }),
    );
  }
}
