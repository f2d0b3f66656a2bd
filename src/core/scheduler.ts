/**
 * Neutron's agent scheduler API and automatic failover. The API (admins only) lists, adds and
 * removes a network's DHCP hosts and a router's host by agent (`dhcp_agent_scheduler`,
 * `l3_agent_scheduler`); bindings are by host, so an agent stands for its host. Failover
 * (`rescheduleFromDeadAgents`, run periodically by every server) moves the networks and routers of
 * hosts whose agent is dead (no heartbeat for `agent_down_time`) to live network hosts: a router
 * to the one with the fewest routers, a network's DHCP to the live DHCP host with the fewest
 * networks that does not serve it yet. The new host's own sync then builds them (a DHCP host takes
 * over the dead host's DHCP port, keeping its address), and the dead host's agent, when it comes
 * back, finds them gone from its snapshot and removes them.
 */
import { sql } from 'kysely';
import type { Agent } from '../model/agent.js';
import type { Store, Tx } from '../store/store.js';
import type { Agents } from './agents.js';
import { type Context, requireAdmin } from './context.js';
import {
  InvalidDHCPAgent,
  InvalidL3Agent,
  NetworkHostedByDHCPAgent,
  NetworkNotHostedByDhcpAgent,
  RouterHostedByL3Agent,
  RouterNotHostedByL3Agent,
} from './errors.js';
import { DHCP_LOCK, L3_LOCK, SCHEDULER_LOCK } from './host-sync/common.js';
import { dhcpMoved } from './host-sync/dhcp.js';
import { leastLoaded, routerLoad, routerMoved } from './host-sync/l3.js';
import { vrrpIds } from './l3-ha.js';
import type { View } from './resource.js';

const DHCP_AGENT_TYPE = 'DHCP agent';
const L3_AGENT_TYPE = 'L3 agent';

/** What one failover check moved. */
export interface Rescheduled {
  networks: { network_id: string; from: string; to: string }[];
  routers: { router_id: string; from: string; to: string }[];
}

/** How the scheduler reads networks and routers as the API shows them (and checks they exist). */
export interface Viewers {
  network: (ctx: Context, id: string) => Promise<View>;
  router: (ctx: Context, id: string) => Promise<View>;
}

export class Scheduler {
  readonly #store: Store;
  readonly #agents: Agents;
  readonly #views: Viewers;

  constructor(store: Store, agents: Agents, views: Viewers) {
    this.#store = store;
    this.#agents = agents;
    this.#views = views;
  }

  /** Runs `fn` in a transaction holding the scheduling lock of `kind` (PostgreSQL; SQLite is serial). */
  #locked<T>(kind: number, fn: (tx: Tx) => Promise<T>): Promise<T> {
    return this.#store.transaction(async (tx) => {
      if (this.#store.dialect === 'postgres')
        await sql`select pg_advisory_xact_lock(${SCHEDULER_LOCK}, ${kind})`.execute(tx);
      return fn(tx);
    });
  }

  /** The agent `id` when it is of `type` and administratively up, else `invalid`. */
  async #agentOf(
    ctx: Context,
    id: string,
    type: string,
    invalid: (p: { id: string }) => Error,
  ): Promise<Agent> {
    const agent = await this.#agents.show(ctx, id);
    if (agent.agent_type !== type || !agent.admin_state_up) throw invalid({ id });
    return agent;
  }

  /** The agents of `type` on `hosts`, as `GET /v2.0/agents` shows them. */
  async #agentsOn(ctx: Context, type: string, hosts: string[]): Promise<Agent[]> {
    const all = await this.#agents.list(ctx);
    return all.filter((a) => a.agent_type === type && hosts.includes(a.host));
  }

  /** `GET /v2.0/agents/{id}/dhcp-networks`. */
  async networksOnDhcpAgent(ctx: Context, agentId: string): Promise<View[]> {
    requireAdmin(ctx, 'get_dhcp-networks');
    const agent = await this.#agents.show(ctx, agentId);
    if (agent.agent_type !== DHCP_AGENT_TYPE) return [];
    const rows = await this.#store.db
      .selectFrom('dhcp_bindings')
      .select('network_id')
      .where('host', '=', agent.host)
      .orderBy('network_id')
      .execute();
    return Promise.all(rows.map((r) => this.#views.network(ctx, r.network_id)));
  }

  /** `GET /v2.0/networks/{id}/dhcp-agents`. */
  async dhcpAgentsHostingNetwork(ctx: Context, networkId: string): Promise<Agent[]> {
    requireAdmin(ctx, 'get_dhcp-agents');
    await this.#views.network(ctx, networkId);
    const rows = await this.#store.db
      .selectFrom('dhcp_bindings')
      .select('host')
      .where('network_id', '=', networkId)
      .execute();
    return this.#agentsOn(
      ctx,
      DHCP_AGENT_TYPE,
      rows.map((r) => r.host),
    );
  }

  /** `POST /v2.0/agents/{id}/dhcp-networks`: the agent's host serves the network too (beyond `dhcp_agents_per_network`). */
  async addNetworkToDhcpAgent(ctx: Context, agentId: string, networkId: string): Promise<void> {
    requireAdmin(ctx, 'create_dhcp-network');
    await this.#views.network(ctx, networkId);
    const agent = await this.#agentOf(ctx, agentId, DHCP_AGENT_TYPE, InvalidDHCPAgent);
    await this.#locked(DHCP_LOCK, async (tx) => {
      const bound = await tx
        .selectFrom('dhcp_bindings')
        .select('host')
        .where('network_id', '=', networkId)
        .where('host', '=', agent.host)
        .executeTakeFirst();
      if (bound) throw NetworkHostedByDHCPAgent({ network_id: networkId, agent_id: agentId });
      await tx.insertInto('dhcp_bindings').values({ network_id: networkId, host: agent.host }).execute();
      await dhcpMoved(tx, networkId);
    });
  }

  /**
   * `DELETE /v2.0/agents/{id}/dhcp-networks/{network_id}`. The host's DHCP port stays, bound to no
   * DHCP host of the network: the next host to serve it takes it with its address (Neutron's
   * reserved DHCP port).
   */
  async removeNetworkFromDhcpAgent(ctx: Context, agentId: string, networkId: string): Promise<void> {
    requireAdmin(ctx, 'delete_dhcp-network');
    const agent = await this.#agents.show(ctx, agentId);
    await this.#locked(DHCP_LOCK, async (tx) => {
      const removed = await tx
        .deleteFrom('dhcp_bindings')
        .where('network_id', '=', networkId)
        .where('host', '=', agent.host)
        .executeTakeFirst();
      if (agent.agent_type !== DHCP_AGENT_TYPE || Number(removed.numDeletedRows) === 0)
        throw NetworkNotHostedByDhcpAgent({ network_id: networkId, agent_id: agentId });
      await dhcpMoved(tx, networkId);
    });
  }

  /** `GET /v2.0/agents/{id}/l3-routers`. */
  async routersOnL3Agent(ctx: Context, agentId: string): Promise<View[]> {
    requireAdmin(ctx, 'get_l3-routers');
    const agent = await this.#agents.show(ctx, agentId);
    if (agent.agent_type !== L3_AGENT_TYPE) return [];
    const rows = await this.#store.db
      .selectFrom('l3_bindings')
      .select('router_id')
      .where('host', '=', agent.host)
      .orderBy('router_id')
      .execute();
    return Promise.all(rows.map((r) => this.#views.router(ctx, r.router_id)));
  }

  /**
   * `GET /v2.0/routers/{id}/l3-agents`, each with `ha_state` as Neutron shows it: for an HA router
   * what the host's keepalived last reported (`standby` before any report, `unknown` while the
   * agent is dead); null for a router on one host.
   */
  async l3AgentsHostingRouter(
    ctx: Context,
    routerId: string,
  ): Promise<(Agent & { ha_state: string | null })[]> {
    requireAdmin(ctx, 'get_l3-agents');
    await this.#views.router(ctx, routerId);
    const rows = await this.#store.db
      .selectFrom('l3_bindings')
      .select(['host', 'ha_state'])
      .where('router_id', '=', routerId)
      .execute();
    const ha = (await vrrpIds(this.#store.db, [routerId])).has(routerId);
    const state = new Map(rows.map((r) => [r.host, r.ha_state]));
    const agents = await this.#agentsOn(
      ctx,
      L3_AGENT_TYPE,
      rows.map((r) => r.host),
    );
    return agents.map((a) => ({
      ...a,
      ha_state: !ha ? null : !a.alive ? 'unknown' : (state.get(a.host) ?? 'standby'),
    }));
  }

  /**
   * `POST /v2.0/agents/{id}/l3-routers`: a router without a host goes to the agent's host; one
   * already there is left alone; an HA router takes the host as one more; a router on one host
   * that is on another is a conflict (remove it there first), as in Neutron.
   */
  async addRouterToL3Agent(ctx: Context, agentId: string, routerId: string): Promise<void> {
    requireAdmin(ctx, 'create_l3-router');
    await this.#views.router(ctx, routerId);
    const agent = await this.#agentOf(ctx, agentId, L3_AGENT_TYPE, InvalidL3Agent);
    const holder = await this.#locked(L3_LOCK, async (tx) => {
      const bound = await tx
        .selectFrom('l3_bindings')
        .select('host')
        .where('router_id', '=', routerId)
        .execute();
      if (bound.some((b) => b.host === agent.host)) return agent.host;
      const ha = (await vrrpIds(tx, [routerId])).has(routerId);
      if (bound.length > 0 && !ha) return bound[0].host;
      await tx.insertInto('l3_bindings').values({ router_id: routerId, host: agent.host }).execute();
      await routerMoved(tx, routerId);
      return agent.host;
    });
    if (holder === agent.host) return;
    const [other] = await this.#agentsOn(ctx, L3_AGENT_TYPE, [holder]);
    throw RouterHostedByL3Agent({ router_id: routerId, agent_id: other?.id ?? holder });
  }

  /**
   * `DELETE /v2.0/agents/{id}/l3-routers/{router_id}`: the router is left without a host until the
   * next sync schedules it again (to the network host with the fewest routers), as in Neutron.
   */
  async removeRouterFromL3Agent(ctx: Context, agentId: string, routerId: string): Promise<void> {
    requireAdmin(ctx, 'delete_l3-router');
    const agent = await this.#agents.show(ctx, agentId);
    await this.#locked(L3_LOCK, async (tx) => {
      const removed = await tx
        .deleteFrom('l3_bindings')
        .where('router_id', '=', routerId)
        .where('host', '=', agent.host)
        .executeTakeFirst();
      if (agent.agent_type !== L3_AGENT_TYPE || Number(removed.numDeletedRows) === 0)
        throw RouterNotHostedByL3Agent({ router_id: routerId, agent_id: agentId });
      await routerMoved(tx, routerId);
    });
  }

  /**
   * Moves DHCP and routers off hosts whose agent of that kind is not alive to live, administratively
   * up ones. Work stays where it is while no live host can take it (moving it would gain nothing).
   * Each move writes a revision, so the agents look again at once. Safe to run on several servers
   * at a time: each kind is decided under its scheduling lock.
   */
  async rescheduleFromDeadAgents(): Promise<Rescheduled> {
    const live = {
      dhcp: await this.#agents.liveHosts([DHCP_AGENT_TYPE]),
      l3: await this.#agents.liveHosts([L3_AGENT_TYPE]),
    };
    const networks = await this.#locked(DHCP_LOCK, async (tx) => {
      const moved: Rescheduled['networks'] = [];
      if (live.dhcp.length === 0) return moved;
      const bindings = await tx.selectFrom('dhcp_bindings').selectAll().orderBy('network_id').execute();
      const load = new Map(live.dhcp.map((h) => [h, 0]));
      for (const b of bindings) if (load.has(b.host)) load.set(b.host, load.get(b.host)! + 1);
      const hostsOf = new Map<string, Set<string>>();
      for (const b of bindings)
        hostsOf.set(b.network_id, (hostsOf.get(b.network_id) ?? new Set()).add(b.host));
      for (const b of bindings) {
        if (load.has(b.host)) continue;
        const serving = hostsOf.get(b.network_id)!;
        const free = new Map([...load].filter(([h]) => !serving.has(h)));
        if (free.size === 0) continue;
        const to = leastLoaded(free);
        load.set(to, free.get(to)!);
        serving.delete(b.host);
        serving.add(to);
        await tx
          .deleteFrom('dhcp_bindings')
          .where('network_id', '=', b.network_id)
          .where('host', '=', b.host)
          .execute();
        await tx.insertInto('dhcp_bindings').values({ network_id: b.network_id, host: to }).execute();
        await dhcpMoved(tx, b.network_id);
        moved.push({ network_id: b.network_id, from: b.host, to });
      }
      return moved;
    });
    const routers = await this.#locked(L3_LOCK, async (tx) => {
      const moved: Rescheduled['routers'] = [];
      if (live.l3.length === 0) return moved;
      const bindings = await tx.selectFrom('l3_bindings').selectAll().orderBy('router_id').execute();
      const load = routerLoad(bindings, live.l3);
      const hostsOf = new Map<string, Set<string>>();
      for (const b of bindings) hostsOf.set(b.router_id, (hostsOf.get(b.router_id) ?? new Set()).add(b.host));
      for (const b of bindings) {
        if (live.l3.includes(b.host)) continue;
        // An HA router's other hosts carry on by themselves (VRRP): its binding moves only to a
        // live host that does not hold the router yet, if there is one.
        const holding = hostsOf.get(b.router_id)!;
        const free = new Map([...load].filter(([h]) => !holding.has(h)));
        if (free.size === 0) continue;
        const to = leastLoaded(free);
        load.set(to, free.get(to)!);
        holding.delete(b.host);
        holding.add(to);
        await tx
          .updateTable('l3_bindings')
          .set({ host: to, ha_state: null })
          .where('router_id', '=', b.router_id)
          .where('host', '=', b.host)
          .execute();
        await routerMoved(tx, b.router_id);
        moved.push({ router_id: b.router_id, from: b.host, to });
      }
      return moved;
    });
    return { networks, routers };
  }
}
