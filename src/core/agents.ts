/**
 * Agents: each role of a host's agent process (`Linux bridge agent`, `DHCP agent`, …) registers
 * by heartbeat, one row per host and agent type. Neutron's agents API reads and edits them
 * (admins only); `alive` means a heartbeat within `agentDownTime` seconds. Heartbeats are not
 * model changes: they write no revisions, so they never wake the agents themselves.
 */
import { randomUUID } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { Agent, AgentUpdate, Heartbeat } from '../model/agent.js';
import { L2_AGENT_TYPES } from '../model/agent.js';
import type { Database } from '../store/schema.js';
import { now, type Store } from '../store/store.js';
import { type Context, requireAdmin } from './context.js';
import { AgentNotFound, Conflict, HiddenByPolicy } from './errors.js';
import type { Settings } from './settings.js';

/** Agent types with a topic and an availability zone of their own, as in Neutron. */
const TOPICS = new Map([
  ['DHCP agent', 'dhcp_agent'],
  ['L3 agent', 'l3_agent'],
]);
const DEFAULT_ZONE = 'nova';

type AgentRow = Database['agents'];

/** Neutron's agent timestamps: `YYYY-MM-DD HH:MM:SS` (UTC). */
function agentTime(iso: string): string {
  return iso.replace('T', ' ').replace(/(\.\d+)?Z$/, '');
}

/** What an L2 agent's configurations say about multi-host: its tunnel endpoint and its roles. */
interface L2Configurations {
  tunneling_ip?: unknown;
  roles?: unknown;
}

function l2Configurations(row: Pick<AgentRow, 'configurations'>): L2Configurations {
  return JSON.parse(row.configurations) as L2Configurations;
}

function isStringMap(value: unknown): value is Record<string, string> {
  return (
    typeof value === 'object' &&
    value !== null &&
    !Array.isArray(value) &&
    Object.values(value).every((v) => typeof v === 'string')
  );
}

export class Agents {
  readonly #store: Store;
  readonly #settings: Settings;

  constructor(store: Store, settings: Settings) {
    this.#store = store;
    this.#settings = settings;
  }

  #isAlive(row: AgentRow): boolean {
    return Date.now() - Date.parse(row.heartbeat_timestamp) <= this.#settings.agentDownTime * 1000;
  }

  #view(row: AgentRow): Agent {
    return {
      id: row.id,
      agent_type: row.agent_type,
      binary: row.binary,
      host: row.host,
      topic: row.topic,
      admin_state_up: Boolean(row.admin_state_up),
      alive: this.#isAlive(row),
      availability_zone: row.availability_zone,
      configurations: JSON.parse(row.configurations) as Record<string, unknown>,
      created_at: agentTime(row.created_at),
      started_at: agentTime(row.started_at),
      heartbeat_timestamp: agentTime(row.heartbeat_timestamp),
      description: row.description,
      resources_synced: null,
    };
  }

  async #row(id: string): Promise<AgentRow> {
    const row = await this.#store.db.selectFrom('agents').selectAll().where('id', '=', id).executeTakeFirst();
    if (!row) throw AgentNotFound({ id });
    return row;
  }

  /** Registers the agent on its first heartbeat; later ones refresh what it reports. */
  async heartbeat(ctx: Context, host: string, report: Heartbeat): Promise<Agent> {
    requireAdmin(ctx, 'report_agent_state');
    const at = now();
    const zone =
      report.availability_zone !== undefined
        ? report.availability_zone
        : TOPICS.has(report.agent_type)
          ? DEFAULT_ZONE
          : null;
    const refreshed = {
      binary: report.binary,
      topic: report.topic ?? TOPICS.get(report.agent_type) ?? 'N/A',
      availability_zone: zone,
      configurations: JSON.stringify(report.configurations ?? {}),
      heartbeat_timestamp: at,
      ...(report.start_flag ? { started_at: at } : {}),
    };
    const previous = report.start_flag ? await this.#checkClaim(host, report) : undefined;
    // A tunnel endpoint that appears or moves changes other hosts' l2population: then the
    // heartbeat writes a revision, which wakes every agent (other heartbeats write none).
    const endpoint = (report.configurations as L2Configurations | undefined)?.tunneling_ip;
    const moved =
      report.start_flag === true &&
      L2_AGENT_TYPES.includes(report.agent_type) &&
      endpoint !== undefined &&
      (previous === undefined || l2Configurations(previous).tunneling_ip !== endpoint);
    const upsert = async (db: Kysely<Database>) => {
      await db
        .insertInto('agents')
        .values({
          id: randomUUID(),
          host,
          agent_type: report.agent_type,
          admin_state_up: 1,
          description: null,
          created_at: at,
          started_at: at,
          ...refreshed,
        })
        .onConflict((oc) => oc.columns(['host', 'agent_type']).doUpdateSet(refreshed))
        .execute();
      return db
        .selectFrom('agents')
        .selectAll()
        .where('host', '=', host)
        .where('agent_type', '=', report.agent_type)
        .executeTakeFirstOrThrow();
    };
    const row = moved
      ? await this.#store.transaction(async (tx) => {
          const written = await upsert(tx);
          tx.changed({ resource: 'tunnel_endpoints', resource_id: written.id, op: 'update', project_id: '' });
          return written;
        })
      : await upsert(this.#store.db);
    return this.#view(row);
  }

  /**
   * Two agents claiming one host name would fight over its ports: a starting agent is refused while
   * a live agent of its type on that host reports another tunnel endpoint. (The same endpoint is
   * the same host's agent restarting, which adopts what it left.) Returns the row it found.
   */
  async #checkClaim(host: string, report: Heartbeat): Promise<AgentRow | undefined> {
    const row = await this.#store.db
      .selectFrom('agents')
      .selectAll()
      .where('host', '=', host)
      .where('agent_type', '=', report.agent_type)
      .executeTakeFirst();
    if (!row || !this.#isAlive(row)) return row;
    const had = l2Configurations(row).tunneling_ip;
    const claims = (report.configurations as L2Configurations | undefined)?.tunneling_ip;
    if (had === claims) return row;
    throw Conflict({
      msg: `host ${host} is already served by a live ${report.agent_type} with tunnel endpoint ${String(had ?? 'none')}; give this agent another --host, or stop the other one (it is considered dead ${this.#settings.agentDownTime} s after its last heartbeat)`,
    });
  }

  /** Every agent for admins; none for others (Neutron's policy filters the list, it does not refuse it). */
  async list(ctx: Context): Promise<Agent[]> {
    if (!ctx.isAdmin) return [];
    const rows = await this.#store.db.selectFrom('agents').selectAll().execute();
    return rows.map((r) => this.#view(r));
  }

  async show(ctx: Context, id: string): Promise<Agent> {
    if (!ctx.isAdmin) throw HiddenByPolicy('GET');
    return this.#view(await this.#row(id));
  }

  async update(ctx: Context, id: string, body: AgentUpdate): Promise<Agent> {
    if (!ctx.isAdmin) throw HiddenByPolicy('PUT');
    const change = {
      ...(body.admin_state_up === undefined ? {} : { admin_state_up: Number(body.admin_state_up) }),
      ...(body.description === undefined ? {} : { description: body.description }),
    };
    if (Object.keys(change).length > 0) {
      await this.#store.db.updateTable('agents').set(change).where('id', '=', id).execute();
    }
    return this.#view(await this.#row(id));
  }

  /** Neutron allows deleting an agent at any time; a live one registers again on its next heartbeat. */
  async remove(ctx: Context, id: string): Promise<void> {
    if (!ctx.isAdmin) throw HiddenByPolicy('DELETE');
    const result = await this.#store.db.deleteFrom('agents').where('id', '=', id).executeTakeFirst();
    if (Number(result.numDeletedRows) === 0) throw AgentNotFound({ id });
  }

  /** Hosts where an agent of one of `types` is alive and administratively up. */
  /**
   * The hosts of the L3 agents when none of them is alive and up; undefined when one is, or while
   * no L3 agent ever reported (a deployment starting: its routers wait for one).
   */
  async deadNetworkHosts(db: Kysely<Database> = this.#store.db): Promise<string[] | undefined> {
    const l3 = await db.selectFrom('agents').selectAll().where('agent_type', '=', 'L3 agent').execute();
    if (l3.length === 0 || l3.some((r) => r.admin_state_up === 1 && this.#isAlive(r))) return undefined;
    return [...new Set(l3.map((r) => r.host))].sort();
  }

  async liveHosts(types: string[]): Promise<string[]> {
    const rows = await this.#store.db
      .selectFrom('agents')
      .selectAll()
      .where('agent_type', 'in', types)
      .where('admin_state_up', '=', 1)
      .execute();
    return [...new Set(rows.filter((r) => this.#isAlive(r)).map((r) => r.host))];
  }

  /** Whether `host` has a live L2 agent (its agent process runs); undefined when none ever registered. */
  async hostAlive(host: string): Promise<boolean | undefined> {
    const rows = await this.#store.db
      .selectFrom('agents')
      .selectAll()
      .where('host', '=', host)
      .where('agent_type', 'in', L2_AGENT_TYPES)
      .execute();
    return rows.length === 0 ? undefined : rows.some((r) => this.#isAlive(r));
  }

  /**
   * Hosts that take instances: those with a live, administratively up agent of one of `types` (the
   * L2 agents) whose roles include `compute` (one that reports no roles takes everything).
   */
  async computeHosts(types: readonly string[]): Promise<string[]> {
    const rows = await this.#store.db
      .selectFrom('agents')
      .selectAll()
      .where('agent_type', 'in', types)
      .where('admin_state_up', '=', 1)
      .execute();
    const computes = (row: AgentRow) => {
      const roles = l2Configurations(row).roles;
      return !Array.isArray(roles) || roles.includes('compute');
    };
    return [...new Set(rows.filter((r) => this.#isAlive(r) && computes(r)).map((r) => r.host))];
  }

  /** Whether `host`'s L2 agent says it has no `network` role (no DHCP or routers there then). */
  async isComputeOnly(host: string): Promise<boolean> {
    const rows = await this.#store.db
      .selectFrom('agents')
      .select('configurations')
      .where('host', '=', host)
      .where('agent_type', 'in', L2_AGENT_TYPES)
      .execute();
    return rows.some((r) => {
      const roles = l2Configurations(r).roles;
      return Array.isArray(roles) && !roles.includes('network');
    });
  }

  /**
   * Every host's tunnel endpoint, as its L2 agent reports it (`configurations.tunneling_ip`), alive
   * or not: a host whose agent is down still has its ports, and traffic to them may resume.
   */
  async tunnelEndpoints(): Promise<Map<string, string>> {
    const rows = await this.#store.db
      .selectFrom('agents')
      .select(['host', 'configurations'])
      .where('agent_type', 'in', L2_AGENT_TYPES)
      .execute();
    const endpoints = new Map<string, string>();
    for (const row of rows) {
      const ip = l2Configurations(row).tunneling_ip;
      if (typeof ip === 'string' && ip !== '') endpoints.set(row.host, ip);
    }
    return endpoints;
  }

  /** Whether a live, administratively up L2 agent reports that it can build vlan networks. */
  async vlanCapable(): Promise<boolean> {
    const rows = await this.#store.db
      .selectFrom('agents')
      .selectAll()
      .where('agent_type', 'in', L2_AGENT_TYPES)
      .where('admin_state_up', '=', 1)
      .execute();
    return rows.some(
      (r) =>
        this.#isAlive(r) &&
        (JSON.parse(r.configurations) as { vlan_capable?: unknown }).vlan_capable === true,
    );
  }

  /**
   * Whether a live L2 agent (on `host`, when given) reports `trunk_capable`: it builds trunk
   * subports as VLAN subinterfaces in the instance.
   */
  async trunkCapable(host?: string): Promise<boolean> {
    let q = this.#store.db
      .selectFrom('agents')
      .selectAll()
      .where('agent_type', 'in', L2_AGENT_TYPES)
      .where('admin_state_up', '=', 1);
    if (host !== undefined) q = q.where('host', '=', host);
    return (await q.execute()).some(
      (r) =>
        this.#isAlive(r) &&
        (JSON.parse(r.configurations) as { trunk_capable?: unknown }).trunk_capable === true,
    );
  }

  /**
   * The physnet → interface mappings the host's L2 agent reports (`interface_mappings`, as
   * Neutron's linuxbridge agent does), if it reports any.
   */
  async interfaceMappings(host: string): Promise<Record<string, string> | undefined> {
    const rows = await this.#store.db
      .selectFrom('agents')
      .select('configurations')
      .where('host', '=', host)
      .where('agent_type', 'in', L2_AGENT_TYPES)
      .execute();
    for (const row of rows) {
      const mappings = (JSON.parse(row.configurations) as { interface_mappings?: unknown })
        .interface_mappings;
      if (isStringMap(mappings) && Object.keys(mappings).length > 0) return mappings;
    }
    return undefined;
  }
}
