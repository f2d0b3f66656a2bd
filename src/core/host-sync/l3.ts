/**
 * L3 scheduling as a host syncs: every router with a port is served by one host (an HA router by
 * up to `max_l3_agents_per_router`), the one with a live L3 agent and the fewest routers while any
 * is alive; its ports are bound there (an HA router's to the host that last reported master).
 */
import { type Kysely, sql } from 'kysely';
import { DeviceOwner } from '../../model/device-owners.js';
import { inChunks } from '../../store/chunks.js';
import { listResources, type Stored } from '../../store/resources.js';
import type { Database } from '../../store/schema.js';
import type { Tx } from '../../store/store.js';
import { portBinding } from '../binding.js';
import type { UsedAddresses } from '../fixed-ips.js';
import { haPortName, haPorts, vrrpIds } from '../l3-ha.js';
import { removePort } from '../ports.js';
import { routerPorts } from '../routers.js';
import { groupBy, L3_AGENT_TYPE, L3_LOCK, SCHEDULER_LOCK, Scheduling, updateIfCurrent } from './common.js';

interface L3Plan {
  /** Routers with ports and no host, with the host each goes to. */
  schedule: { router_id: string; host: string }[];
  /** Routers served here that lost their last port. */
  unschedule: string[];
  /** Ports of the routers served here that are not bound here yet. */
  rebind: Stored[];
  /** HA routers served here without an HA port here. */
  createHa: { routerId: string; networkId: string }[];
  /** HA ports bound here, or left on a host that no longer serves the router, or duplicates. */
  removeHa: Stored[];
}

/** Routers per host, for `candidates` (each counted, from 0). */
export function routerLoad(bindings: { host: string }[], candidates: string[]): Map<string, number> {
  const load = new Map(candidates.map((h) => [h, 0]));
  for (const b of bindings) if (load.has(b.host)) load.set(b.host, load.get(b.host)! + 1);
  return load;
}

/** The host of `load` with the fewest routers (ties by name), counted as taking one more. */
export function leastLoaded(load: Map<string, number>): string {
  const [host] = [...load].sort(([a, x], [b, y]) => x - y || a.localeCompare(b))[0];
  load.set(host, load.get(host)! + 1);
  return host;
}

/**
 * Writes a revision saying a router changed hosts (its binding is no resource of its own), so the
 * agents look again: the new host builds it, the old one removes it.
 */
export async function routerMoved(tx: Tx, routerId: string): Promise<void> {
  const row = await tx
    .selectFrom('routers')
    .select('project_id')
    .where('id', '=', routerId)
    .executeTakeFirst();
  tx.changed({ resource: 'router', resource_id: routerId, op: 'update', project_id: row?.project_id ?? '' });
}

function isL3Settled(plan: L3Plan): boolean {
  return (
    plan.schedule.length === 0 &&
    plan.unschedule.length === 0 &&
    plan.rebind.length === 0 &&
    plan.createHa.length === 0 &&
    plan.removeHa.length === 0
  );
}

/** L3 scheduling: which hosts serve each router (two or more for an HA router), and its ports' binding. */
export class L3Scheduling extends Scheduling {
  /**
   * The hosts that take routers: those with a live L3 agent; while none is alive anywhere (one
   * host, or agents that do not report the role), `host` itself unless it is a compute host only.
   */
  async #l3Candidates(host: string): Promise<string[]> {
    const live = await this.agents.liveHosts([L3_AGENT_TYPE]);
    if (live.length > 0) return live;
    return (await this.agents.isComputeOnly(host)) ? [] : [host];
  }

  /**
   * Reads what L3 scheduling would change, as `host` syncs: every router with ports gets hosts
   * from the candidates with the fewest routers (ties by name) until it has one, or an HA router
   * `max_l3_agents_per_router` (at most one per candidate); `host` or another (whose agent a
   * revision then wakes). The router's ports are bound to its host, or an HA router's to the
   * host whose keepalived last reported master (before any report, the first by name). Each host
   * of an HA router has a port on the project's HA network. With `lock` (PostgreSQL, in the
   * writing transaction) the routers it schedules are held against a concurrent delete until
   * commit, and only those still there are scheduled.
   */
  async #planL3(db: Kysely<Database>, host: string, candidates: string[], lock: boolean): Promise<L3Plan> {
    const routers = (await db.selectFrom('routers').select('id').execute()).map((r) => r.id);
    const ports = await routerPorts(db, routers);
    const wanted = new Set(ports.map((p) => String(p.device_id)));
    const bindings = await db.selectFrom('l3_bindings').selectAll().execute();
    const ha = await vrrpIds(db, [...wanted]);
    const hostsOf = groupBy(bindings, (b) => b.router_id);
    const desired = (id: string) =>
      ha.has(id) ? Math.max(1, Math.min(this.settings.maxL3AgentsPerRouter, candidates.length)) : 1;
    let short =
      candidates.length > 0
        ? [...wanted].filter((id) => (hostsOf.get(id)?.length ?? 0) < desired(id)).sort()
        : [];
    if (lock && short.length > 0) {
      const held = await inChunks(short, (chunk) =>
        db.selectFrom('routers').select('id').where('id', 'in', chunk).orderBy('id').forShare().execute(),
      );
      short = held.map((r) => r.id);
    }
    const load = routerLoad(bindings, candidates);
    const schedule: L3Plan['schedule'] = [];
    for (const id of short) {
      const holding = new Set((hostsOf.get(id) ?? []).map((b) => b.host));
      for (let n = holding.size; n < desired(id); n++) {
        const free = new Map([...load].filter(([h]) => !holding.has(h)));
        if (free.size === 0) break;
        const to = leastLoaded(free);
        load.set(to, free.get(to)!);
        holding.add(to);
        schedule.push({ router_id: id, host: to });
      }
    }
    const hostsAfter = (id: string) => [
      ...(hostsOf.get(id) ?? []),
      ...schedule.filter((s) => s.router_id === id).map((s) => ({ ...s, ha_state: null })),
    ];
    // An HA router's ports go to a live host that reports master (a dead one may still say so).
    const portHost = (id: string) => {
      const all = hostsAfter(id).sort((a, b) => a.host.localeCompare(b.host));
      const active = all.filter((b) => b.ha_state === 'active');
      return (active.find((b) => candidates.includes(b.host)) ?? active[0] ?? all[0])?.host;
    };
    const served = new Set([...wanted].filter((id) => hostsAfter(id).some((b) => b.host === host)));
    const haHere = await haPorts(db, [...ha.keys()]);
    const haPortOf = new Set<string>();
    const removeHa: Stored[] = [];
    for (const port of haHere) {
      const id = String(port.device_id);
      const at = String(port['binding:host_id'] ?? '');
      const holder = hostsAfter(id).some((b) => b.host === at);
      // A host's HA port goes with its binding (this host's sync removes it, or any host's for
      // ports left on hosts that no longer hold the router); one per host and router is kept.
      if (!holder && (at === host || served.has(id))) removeHa.push(port);
      else if (at === host && haPortOf.has(id)) removeHa.push(port);
      else if (at === host) haPortOf.add(id);
    }
    return {
      schedule,
      unschedule: bindings.filter((b) => b.host === host && !wanted.has(b.router_id)).map((b) => b.router_id),
      rebind: ports.filter(
        (p) =>
          served.has(String(p.device_id)) &&
          portHost(String(p.device_id)) === host &&
          p['binding:host_id'] !== host,
      ),
      createHa: [...served]
        .filter((id) => ha.has(id) && !haPortOf.has(id))
        .sort()
        .map((id) => ({ routerId: id, networkId: ha.get(id)!.network_id })),
      removeHa,
    };
  }

  /**
   * Schedules routers short of hosts to the candidates with the fewest routers, binds the ports
   * of `host`'s routers to it and keeps its HA ports. Writes only when something is to change; a
   * router scheduled to another host writes a revision, which wakes that host's agent.
   */
  async ensure(host: string): Promise<void> {
    const candidates = await this.#l3Candidates(host);
    if (isL3Settled(await this.#planL3(this.store.db, host, candidates, false))) return;
    const postgres = this.store.dialect === 'postgres';
    await this.store.retrying(() =>
      this.store.transaction(async (tx) => {
        if (postgres) await sql`select pg_advisory_xact_lock(${SCHEDULER_LOCK}, ${L3_LOCK})`.execute(tx);
        const plan = await this.#planL3(tx, host, candidates, postgres);
        for (const binding of plan.schedule) {
          await tx.insertInto('l3_bindings').values(binding).execute();
          if (binding.host !== host) await routerMoved(tx, binding.router_id);
        }
        await inChunks(plan.unschedule, (chunk) =>
          tx.deleteFrom('l3_bindings').where('host', '=', host).where('router_id', 'in', chunk).execute(),
        );
        for (const port of plan.rebind)
          await updateIfCurrent(tx, 'ports', port, { ...port, ...(await portBinding(tx, host)) });
        for (const port of plan.removeHa) await removePort(tx, port);
        const used: UsedAddresses = new Map();
        for (const { routerId, networkId } of plan.createHa)
          await this.#createHaPort(tx, routerId, networkId, host, used);
      }),
    );
  }

  /** This host's port on an HA router's HA network (Neutron's `network:router_ha_interface`). */
  async #createHaPort(
    tx: Tx,
    routerId: string,
    networkId: string,
    host: string,
    used: UsedAddresses,
  ): Promise<void> {
    const [network] = await listResources(tx, 'networks', { column: 'id', values: [networkId] });
    const [router] = await listResources(tx, 'routers', { column: 'id', values: [routerId] });
    if (!network || !router) return;
    const subnets = await listResources(tx, 'subnets', { column: 'network_id', values: [networkId] });
    await this.createServicePort(tx, {
      network,
      subnets,
      host,
      deviceId: routerId,
      deviceOwner: DeviceOwner.routerHaInterface,
      name: haPortName(router.project_id),
      used,
    });
  }
}
