/**
 * Network logging (Neutron's `logging` extension): log objects, the records agents send for them,
 * and the part of a host's snapshot that says what to log there.
 *
 * A log names a type (`security_group`, or `firewall_group` on router interfaces), optionally a
 * group (`resource_id`) and a port (`target_id`), checked as Neutron's and neutron-fwaas's
 * validators check them: the group must exist for the caller, the port too (another project's
 * port is "not found", whoever asks), and when both are given the port must be in the group. A log
 * with neither covers every group of its project. Only `name`, `description` and `enabled` change
 * afterwards. Deleting a security group or a port deletes the logs naming it, as Neutron's
 * callbacks do.
 *
 * Records are rows numbered by the database; a log's project (and admins) read them in order
 * from any server, the newest `networkLogRecordsKept` per log being kept.
 */
import { randomUUID } from 'node:crypto';
import type { Kysely } from 'kysely';
import { ROUTER_INTERFACE_OWNERS } from '../model/device-owners.js';
import type { SnapshotNetworkLogging, SnapshotRouter } from '../model/host-snapshot.js';
import {
  type HostLogRecord,
  LOG_EVENTS,
  LOGGABLE_TYPES,
  type LogRecord,
  type NetworkLogCreate,
  type NetworkLogUpdate,
} from '../model/network-log.js';
import { inChunks } from '../store/chunks.js';
import {
  deleteResource,
  getResource,
  insertResource,
  listResources,
  type Stored,
  updateResource,
} from '../store/resources.js';
import type { Database } from '../store/schema.js';
import type { Store, Tx } from '../store/store.js';
import { type Context, owns, requireAdmin, requireWriter, targetProject } from './context.js';
import {
  FWGIsNotReadyForLogging,
  InvalidAttribute,
  InvalidInput,
  InvalidLogResourceType,
  InvalidResourceConstraint,
  LoggingTypeNotSupported,
  LogResourceIdNotFound,
  LogResourceNotFound,
  LogTargetResourceNotFound,
  NeutronError,
  RevisionNumberConstraintFailed,
  TargetResourceNotAssociated,
} from './errors.js';
import type { ListHint, ResourceService, View } from './resource.js';
import type { Settings } from './settings.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const KEYS = ['name', 'description', 'resource_type', 'resource_id', 'target_id', 'event', 'enabled'];
/** Records one request returns at most. */
const MAX_READ = 1000;

/** Finds a group as the caller sees it (a service's `get`), throwing when it cannot. */
type GroupLookup = (ctx: Context, id: string, db: Kysely<Database>) => Promise<Stored>;

export interface NetworkLogLookups {
  securityGroup: GroupLookup;
  firewallGroup: GroupLookup;
}

/** neutron-lib's convert_to_boolean. */
function toBoolean(raw: unknown): boolean {
  if (typeof raw === 'boolean') return raw;
  const lower = String(raw).toLowerCase();
  if (lower === 'true' || lower === '1') return true;
  if (lower === 'false' || lower === '0') return false;
  throw InvalidInput({ error_message: `'${String(raw)}' cannot be converted to boolean` });
}

/** neutron-lib's `type:uuid_or_none`. */
function uuidOrNone(attr: string, raw: unknown): string | null {
  if (raw === null || raw === undefined) return null;
  if (typeof raw !== 'string' || !UUID.test(raw))
    throw InvalidAttribute({ attr, reason: `'${String(raw)}' is not a valid UUID` });
  return raw.toLowerCase();
}

function viewOf(row: Stored): View {
  const view: View = {
    id: row.id,
    project_id: row.project_id,
    tenant_id: row.project_id,
    created_at: row.created_at,
    updated_at: row.updated_at,
    revision_number: row.revision_number,
  };
  for (const k of KEYS) view[k] = row[k];
  return view;
}

/** Whether a lookup failed for want of the object (its error is a 404), not for another reason. */
async function found<T>(look: () => Promise<T>): Promise<T | undefined> {
  try {
    return await look();
  } catch (err) {
    if (err instanceof NeutronError && err.status === 404) return undefined;
    throw err;
  }
}

export class NetworkLogs implements ResourceService<NetworkLogCreate, NetworkLogUpdate> {
  readonly table = 'network_logs' as const;
  readonly #store: Store;
  readonly #settings: Settings;
  readonly #lookups: NetworkLogLookups;

  constructor(store: Store, settings: Settings, lookups: NetworkLogLookups) {
    this.#store = store;
    this.#settings = settings;
    this.#lookups = lookups;
  }

  async list(ctx: Context, hint: ListHint): Promise<View[]> {
    const ids = hint.filters.id;
    const rows = await listResources(
      this.#store.db,
      this.table,
      ids ? { column: 'id', values: ids } : undefined,
    );
    return rows.filter((r) => owns(ctx, r.project_id)).map(viewOf);
  }

  async get(ctx: Context, id: string, db: Kysely<Database> = this.#store.db): Promise<Stored> {
    const row = await getResource(db, this.table, id);
    if (!row || !owns(ctx, row.project_id)) throw LogResourceNotFound({ log_id: id });
    return row;
  }

  async show(ctx: Context, id: string): Promise<View> {
    return viewOf(await this.get(ctx, id));
  }

  async create(ctx: Context, bodies: NetworkLogCreate[]): Promise<View[]> {
    requireWriter(ctx, 'create_log');
    const prepared = bodies.map((body) => ({ body, project: targetProject(ctx, body, 'create_log') }));
    const rows = await this.#store.transaction(async (tx) => {
      const out: Stored[] = [];
      for (const { body, project } of prepared) {
        const log = {
          id: randomUUID(),
          project_id: project,
          name: body.name ?? '',
          description: body.description ?? '',
          ...(await this.#checked(ctx, tx, body, project)),
          enabled: body.enabled === undefined ? true : toBoolean(body.enabled),
        };
        out.push(await insertResource(tx, this.table, log));
      }
      return out;
    });
    return rows.map(viewOf);
  }

  /** The log's type, group, port and event, checked as Neutron's and neutron-fwaas's validators do. */
  async #checked(ctx: Context, tx: Tx, body: NetworkLogCreate, project: string) {
    const type = body.resource_type;
    if (typeof type !== 'string')
      throw InvalidAttribute({ attr: 'resource_type', reason: `'${String(type)}' is not a valid string` });
    if (!(LOGGABLE_TYPES as readonly string[]).includes(type))
      throw InvalidLogResourceType({ resource_type: type });
    const event = body.event ?? 'ALL';
    if (typeof event !== 'string' || !(LOG_EVENTS as readonly string[]).includes(event))
      throw InvalidAttribute({
        attr: 'event',
        reason: `'${String(event)}' is not in ['ACCEPT', 'DROP', 'ALL']`,
      });
    const resourceId = uuidOrNone('resource_id', body.resource_id);
    const targetId = uuidOrNone('target_id', body.target_id);
    if (type === 'security_group') await this.#checkSecurityGroup(ctx, tx, project, resourceId, targetId);
    else await this.#checkFirewallGroup(ctx, tx, project, resourceId, targetId);
    return { resource_type: type, resource_id: resourceId, target_id: targetId, event };
  }

  /** The port the log's project owns and the caller may see, else TargetResourceNotFound. */
  async #port(ctx: Context, tx: Tx, project: string, id: string): Promise<Stored> {
    const port = await getResource(tx, 'ports', id);
    if (!port || !owns(ctx, port.project_id) || port.project_id !== project)
      throw LogTargetResourceNotFound({ target_id: id });
    return port;
  }

  async #group(ctx: Context, tx: Tx, project: string, id: string, lookup: GroupLookup): Promise<Stored> {
    const group = await found(() => lookup(ctx, id, tx));
    if (!group || (group.project_id !== project && group.shared !== true && !ctx.isAdmin))
      throw LogResourceIdNotFound({ resource_id: id });
    return group;
  }

  /** neutron's sg_validate: the group exists, the port takes security group logging and is in it. */
  async #checkSecurityGroup(
    ctx: Context,
    tx: Tx,
    project: string,
    resourceId: string | null,
    targetId: string | null,
  ): Promise<void> {
    if (resourceId) await this.#group(ctx, tx, project, resourceId, this.#lookups.securityGroup);
    if (!targetId) return;
    const port = await this.#port(ctx, tx, project, targetId);
    // Only ports the security groups filter can be logged: not router or DHCP ports, and not a
    // port whose port security is off (no driver here logs those).
    if (String(port.device_owner ?? '').startsWith('network:') || port.port_security_enabled === false)
      throw LoggingTypeNotSupported({ log_type: 'security_group', port_id: targetId });
    const groups = Array.isArray(port.security_groups) ? (port.security_groups as string[]) : [];
    if (resourceId && !groups.includes(resourceId))
      throw InvalidResourceConstraint({
        resource: 'security_group',
        resource_id: resourceId,
        target_resource: 'port',
        target_id: targetId,
      });
  }

  /** neutron-fwaas's fwg_validate: a router interface in the group, an active group. */
  async #checkFirewallGroup(
    ctx: Context,
    tx: Tx,
    project: string,
    resourceId: string | null,
    targetId: string | null,
  ): Promise<void> {
    const groupOf = async (port: string) =>
      (
        await tx
          .selectFrom('firewall_group_ports')
          .select('firewall_group_id')
          .where('port_id', '=', port)
          .executeTakeFirst()
      )?.firewall_group_id;
    if (resourceId && targetId && (await groupOf(targetId)) !== resourceId)
      throw InvalidResourceConstraint({
        resource: 'firewall_group',
        resource_id: resourceId,
        target_resource: 'port',
        target_id: targetId,
      });
    const active = (group: Stored) => {
      if (group.status !== 'ACTIVE')
        throw FWGIsNotReadyForLogging({ fwg_id: group.id, fwg_status: String(group.status) });
    };
    if (resourceId) active(await this.#group(ctx, tx, project, resourceId, this.#lookups.firewallGroup));
    if (!targetId) return;
    const port = await this.#port(ctx, tx, project, targetId);
    if (!ROUTER_INTERFACE_OWNERS.includes(String(port.device_owner ?? '')))
      throw LoggingTypeNotSupported({ log_type: 'firewall_group', port_id: targetId });
    const groupId = await groupOf(targetId);
    if (!groupId) throw TargetResourceNotAssociated({ target_id: targetId });
    const group = await getResource(tx, 'firewall_groups', groupId);
    if (group) active(group);
  }

  async update(ctx: Context, id: string, body: NetworkLogUpdate, ifRevision?: number): Promise<View> {
    requireWriter(ctx, 'update_log');
    const row = await this.#store.transaction(async (tx) => {
      const current = await this.get(ctx, id, tx);
      const next: Record<string, unknown> = { ...current };
      if (body.name !== undefined) next.name = body.name;
      if (body.description !== undefined) next.description = body.description;
      if (body.enabled !== undefined) next.enabled = toBoolean(body.enabled);
      return updateResource(tx, this.table, current, next, {}, ifRevision);
    });
    return viewOf(row);
  }

  async remove(ctx: Context, id: string, ifRevision?: number): Promise<void> {
    requireWriter(ctx, 'delete_log');
    await this.#store.transaction(async (tx) => {
      const current = await this.get(ctx, id, tx);
      if (ifRevision !== undefined && ifRevision !== current.revision_number)
        throw RevisionNumberConstraintFailed({ expected: ifRevision, current: current.revision_number });
      await deleteLog(tx, current);
    });
  }

  /** `GET /v2.0/log/loggable-resources`: the types a log may name. */
  loggableResources(): { type: string }[] {
    return LOGGABLE_TYPES.map((type) => ({ type }));
  }

  /** Deletes the logs naming a deleted security group or port (Neutron's logging callbacks). */
  async forget(tx: Tx, key: 'resource_id' | 'target_id', id: string): Promise<void> {
    const rows = await tx
      .selectFrom('network_logs')
      .select('id')
      .where('doc', 'like', `%"${key}":"${id}"%`)
      .execute();
    for (const { id: logId } of rows) {
      const log = await getResource(tx, 'network_logs', logId);
      if (log && log[key] === id) await deleteLog(tx, log);
    }
  }

  /**
   * Takes an agent's records (admins only: agents hold admin tokens): those of logs that still
   * exist are stored, and each log keeps its newest `networkLogRecordsKept`.
   */
  async report(ctx: Context, host: string, records: HostLogRecord[]): Promise<void> {
    requireAdmin(ctx, 'create_log_records');
    if (records.length === 0) return;
    const ids = [...new Set(records.map((r) => r.log_id))];
    await this.#store.transaction(async (tx) => {
      const known = new Set(
        (
          await inChunks(ids, (chunk) =>
            tx.selectFrom('network_logs').select('id').where('id', 'in', chunk).execute(),
          )
        ).map((r) => r.id),
      );
      const rows = records
        .filter((r) => known.has(r.log_id))
        .map((r) => ({ log_id: r.log_id, host, record: JSON.stringify(r) }));
      for (let i = 0; i < rows.length; i += 500)
        await tx
          .insertInto('network_log_records')
          .values(rows.slice(i, i + 500))
          .execute();
      for (const id of known) await this.#prune(tx, id);
    });
  }

  async #prune(tx: Tx, logId: string): Promise<void> {
    const oldestKept = await tx
      .selectFrom('network_log_records')
      .select('seq')
      .where('log_id', '=', logId)
      .orderBy('seq', 'desc')
      .offset(this.#settings.networkLogRecordsKept - 1)
      .limit(1)
      .executeTakeFirst();
    if (oldestKept)
      await tx
        .deleteFrom('network_log_records')
        .where('log_id', '=', logId)
        .where('seq', '<', oldestKept.seq)
        .execute();
  }

  /** A log's records after `since` (oldest first, at most `limit`), for its project and admins. */
  async records(ctx: Context, id: string, since = 0, limit = MAX_READ): Promise<LogRecord[]> {
    const log = await this.get(ctx, id);
    const rows = await this.#store.db
      .selectFrom('network_log_records')
      .select(['seq', 'host', 'record'])
      .where('log_id', '=', log.id)
      .where('seq', '>', since)
      .orderBy('seq', 'asc')
      .limit(Math.min(Math.max(limit, 1), MAX_READ))
      .execute();
    return rows.map((r) => ({
      seq: Number(r.seq),
      host: r.host,
      ...(JSON.parse(r.record) as HostLogRecord),
    }));
  }
}

async function deleteLog(tx: Tx, log: Stored): Promise<void> {
  await deleteResource(tx, 'network_logs', log);
  await tx.deleteFrom('network_log_records').where('log_id', '=', log.id).execute();
}

/** The ports (bound to this host) and router interfaces (of its routers) that logs may apply to. */
export interface LoggablePorts {
  /** Ports filtered by security groups here. */
  filtered: Stored[];
  routers: SnapshotRouter[];
}

/**
 * What this host logs: its enabled logs, each with the ports here it covers (filtered ports for
 * security group logs; router interfaces in a firewall group for firewall group logs), and the
 * rate limits. Absent when nothing here is logged.
 */
export async function snapshotNetworkLogging(
  db: Kysely<Database>,
  settings: Settings,
  on: LoggablePorts,
): Promise<SnapshotNetworkLogging | undefined> {
  const interfaces = on.routers.flatMap((r) => r.interfaces.map((i) => i.port_id));
  if (on.filtered.length === 0 && interfaces.length === 0) return undefined;
  const logs = (await listResources(db, 'network_logs')).filter((l) => l.enabled === true);
  if (logs.length === 0) return undefined;
  const groupOf = new Map(
    (
      await inChunks(interfaces, (chunk) =>
        db.selectFrom('firewall_group_ports').selectAll().where('port_id', 'in', chunk).execute(),
      )
    ).map((r) => [r.port_id, r.firewall_group_id]),
  );
  const fwgProject = new Map(
    (
      await listResources(db, 'firewall_groups', { column: 'id', values: [...new Set(groupOf.values())] })
    ).map((g) => [g.id, g.project_id]),
  );
  const out: SnapshotNetworkLogging['logs'] = [];
  for (const log of logs) {
    const resource = (log.resource_id as string | null) ?? null;
    const target = (log.target_id as string | null) ?? null;
    let ports: string[];
    if (log.resource_type === 'security_group')
      ports = on.filtered
        .filter((p) => {
          const groups = Array.isArray(p.security_groups) ? (p.security_groups as string[]) : [];
          if (target !== null) return p.id === target && (resource === null || groups.includes(resource));
          return resource !== null ? groups.includes(resource) : p.project_id === log.project_id;
        })
        .map((p) => p.id);
    else
      ports = interfaces.filter((p) => {
        const group = groupOf.get(p);
        if (group === undefined) return false;
        if (target !== null) return p === target && (resource === null || group === resource);
        return resource !== null ? group === resource : fwgProject.get(group) === log.project_id;
      });
    if (ports.length === 0) continue;
    out.push({
      id: log.id,
      project_id: log.project_id,
      resource_type: log.resource_type as 'security_group' | 'firewall_group',
      resource_id: resource,
      event: log.event as 'ALL' | 'ACCEPT' | 'DROP',
      ports: [...new Set(ports)].sort(),
    });
  }
  if (out.length === 0) return undefined;
  out.sort((a, b) => (a.id < b.id ? -1 : 1));
  return { rate_limit: settings.networkLogRateLimit, burst_limit: settings.networkLogBurstLimit, logs: out };
}
