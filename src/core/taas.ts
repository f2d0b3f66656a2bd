/**
 * Tap-as-a-Service: tap services (a monitoring port that receives copies) and tap flows (a source
 * port whose traffic is copied to a tap service, in a direction seen from the source's
 * instance). Both belong to a project and are seen by it and by admins only; the ports named must
 * be the project's own (another project's port is "not found" to a member, as TaaS answers
 * through the core plugin, and PortDoesNotBelongToTenant to an admin creating for a project).
 * A port is the monitoring port of one tap service at most, and never mirrored to itself. The
 * agent copies on the source port's host to a monitoring port on the same host: a flow whose
 * ports are bound to different hosts is refused, and a port that moves later stops being copied
 * (its flow stays; `status` is always ACTIVE: agents do not report mirroring). Deleting a tap
 * service deletes its flows; deleting a port deletes the tap services it monitors for and the
 * flows it is the source of, as TaaS does.
 */
import { randomUUID } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { SnapshotTapFlow } from '../model/host-snapshot.js';
import type { TapFlowCreate, TapFlowUpdate, TapServiceCreate, TapServiceUpdate } from '../model/taas.js';
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
import { type Context, owns, requireWriter, targetProject } from './context.js';
import {
  InvalidInput,
  PolicyNotAuthorized,
  PortDoesNotBelongToTenant,
  RevisionNumberConstraintFailed,
  TapFlowExists,
  TapFlowNotFound,
  TapServiceNotBelongToTenant,
  TapServiceNotFound,
  TapServicePortInUse,
} from './errors.js';
import type { Ports } from './ports.js';
import type { ListHint, ResourceService, View } from './resource.js';

const hostOf = (port: Stored) => (typeof port['binding:host_id'] === 'string' ? port['binding:host_id'] : '');

/** The port `ctx` may see and that belongs to `project`, else the refusal TaaS gives. */
async function ownPort(ports: Ports, ctx: Context, id: string, project: string, tx: Tx): Promise<Stored> {
  const port = await ports.get(ctx, id, tx);
  if (port.project_id !== project) throw PortDoesNotBelongToTenant();
  return port;
}

function viewOf(row: Stored, keys: string[]): View {
  const view: View = { id: row.id, project_id: row.project_id, tenant_id: row.project_id };
  for (const k of keys) view[k] = row[k];
  return view;
}

/** `list` for both collections: the caller's rows (all for admins), narrowed by id when filtered. */
async function visibleRows(
  db: Kysely<Database>,
  table: 'tap_services' | 'tap_flows',
  ctx: Context,
  hint: ListHint,
): Promise<Stored[]> {
  const ids = hint.filters.id;
  const rows = await listResources(db, table, ids ? { column: 'id', values: ids } : undefined);
  return rows.filter((r) => owns(ctx, r.project_id));
}

const SERVICE_KEYS = ['name', 'description', 'port_id', 'status'];
const FLOW_KEYS = [
  'name',
  'description',
  'tap_service_id',
  'source_port',
  'direction',
  'status',
  'vlan_filter',
];

export class TapServices implements ResourceService<TapServiceCreate, TapServiceUpdate> {
  readonly table = 'tap_services' as const;
  readonly #store: Store;
  readonly #ports: Ports;

  constructor(store: Store, ports: Ports) {
    this.#store = store;
    this.#ports = ports;
    ports.onDelete.push(async (tx, port) => {
      const services = await tx
        .selectFrom('tap_services')
        .select('id')
        .where('port_id', '=', port.id)
        .execute();
      for (const { id } of services) await this.#delete(tx, id);
      const flows = await tx
        .selectFrom('tap_flows')
        .select('id')
        .where('source_port', '=', port.id)
        .execute();
      for (const { id } of flows) await deleteFlow(tx, id);
    });
  }

  async list(ctx: Context, hint: ListHint): Promise<View[]> {
    return (await visibleRows(this.#store.db, this.table, ctx, hint)).map((r) => viewOf(r, SERVICE_KEYS));
  }

  /** The stored tap service if `ctx` may see it, else TapServiceNotFound. */
  async get(ctx: Context, id: string, db: Kysely<Database> = this.#store.db): Promise<Stored> {
    const row = await getResource(db, this.table, id);
    if (!row || !owns(ctx, row.project_id)) throw TapServiceNotFound({ tap_id: id });
    return row;
  }

  async show(ctx: Context, id: string): Promise<View> {
    return viewOf(await this.get(ctx, id), SERVICE_KEYS);
  }

  async create(ctx: Context, bodies: TapServiceCreate[]): Promise<View[]> {
    requireWriter(ctx, 'create_tap_service');
    const projects = bodies.map((b) => targetProject(ctx, b, 'create_tap_service'));
    const rows = await this.#store.transaction(async (tx) => {
      const out: Stored[] = [];
      for (const [i, body] of bodies.entries()) {
        const port = await ownPort(this.#ports, ctx, body.port_id, projects[i], tx);
        const taken = await tx
          .selectFrom('tap_services')
          .select('id')
          .where('port_id', '=', port.id)
          .executeTakeFirst();
        if (taken) throw TapServicePortInUse({ port_id: port.id, tap_id: taken.id });
        const resource = {
          id: randomUUID(),
          project_id: projects[i],
          name: body.name ?? '',
          description: body.description ?? '',
          port_id: port.id,
          status: 'ACTIVE',
        };
        out.push(await insertResource(tx, this.table, resource, { port_id: port.id }));
      }
      return out;
    });
    return rows.map((r) => viewOf(r, SERVICE_KEYS));
  }

  async update(ctx: Context, id: string, body: TapServiceUpdate, ifRevision?: number): Promise<View> {
    requireWriter(ctx, 'update_tap_service');
    const row = await this.#store.transaction(async (tx) => {
      const current = await this.get(ctx, id, tx);
      return updateResource(tx, this.table, current, { ...current, ...body }, {}, ifRevision);
    });
    return viewOf(row, SERVICE_KEYS);
  }

  async remove(ctx: Context, id: string, ifRevision?: number): Promise<void> {
    requireWriter(ctx, 'delete_tap_service');
    await this.#store.transaction(async (tx) => {
      const current = await this.get(ctx, id, tx);
      if (ifRevision !== undefined && ifRevision !== current.revision_number)
        throw RevisionNumberConstraintFailed({ expected: ifRevision, current: current.revision_number });
      await this.#delete(tx, id);
    });
  }

  async #delete(tx: Tx, id: string): Promise<void> {
    const flows = await tx.selectFrom('tap_flows').select('id').where('tap_service_id', '=', id).execute();
    for (const flow of flows) await deleteFlow(tx, flow.id);
    const current = await getResource(tx, this.table, id);
    if (current) await deleteResource(tx, this.table, current);
  }
}

async function deleteFlow(tx: Tx, id: string): Promise<void> {
  const current = await getResource(tx, 'tap_flows', id);
  if (current) await deleteResource(tx, 'tap_flows', current);
}

export class TapFlows implements ResourceService<TapFlowCreate, TapFlowUpdate> {
  readonly table = 'tap_flows' as const;
  readonly #store: Store;
  readonly #ports: Ports;
  readonly #services: TapServices;

  constructor(store: Store, ports: Ports, services: TapServices) {
    this.#store = store;
    this.#ports = ports;
    this.#services = services;
  }

  async list(ctx: Context, hint: ListHint): Promise<View[]> {
    return (await visibleRows(this.#store.db, this.table, ctx, hint)).map((r) => viewOf(r, FLOW_KEYS));
  }

  async get(ctx: Context, id: string, db: Kysely<Database> = this.#store.db): Promise<Stored> {
    const row = await getResource(db, this.table, id);
    if (!row || !owns(ctx, row.project_id)) throw TapFlowNotFound({ flow_id: id });
    return row;
  }

  async show(ctx: Context, id: string): Promise<View> {
    return viewOf(await this.get(ctx, id), FLOW_KEYS);
  }

  async create(ctx: Context, bodies: TapFlowCreate[]): Promise<View[]> {
    requireWriter(ctx, 'create_tap_flow');
    const projects = bodies.map((b) => targetProject(ctx, b, 'create_tap_flow'));
    const rows = await this.#store.transaction(async (tx) => {
      const out: Stored[] = [];
      for (const [i, body] of bodies.entries()) out.push(await this.#insert(ctx, tx, body, projects[i]));
      return out;
    });
    return rows.map((r) => viewOf(r, FLOW_KEYS));
  }

  async #insert(ctx: Context, tx: Tx, body: TapFlowCreate, project: string): Promise<Stored> {
    if (body.vlan_filter !== undefined && body.vlan_filter !== null)
      throw InvalidInput({
        error_message: 'vlan_filter is not supported (taas-vlan-filter): copies are whole frames',
      });
    const service = await this.#services.get(ctx, body.tap_service_id, tx);
    if (service.project_id !== project) throw TapServiceNotBelongToTenant();
    const source = await ownPort(this.#ports, ctx, body.source_port, project, tx);
    if (source.id === service.port_id)
      throw InvalidInput({
        error_message: `port ${source.id} is the tap service's monitoring port: it cannot be mirrored to itself`,
      });
    const monitoring = await tx
      .selectFrom('tap_services')
      .select('id')
      .where('port_id', '=', source.id)
      .executeTakeFirst();
    if (monitoring)
      throw InvalidInput({
        error_message: `port ${source.id} is the monitoring port of tap service ${monitoring.id}`,
      });
    const monitor = await getResource(tx, 'ports', String(service.port_id));
    const [from, to] = [hostOf(source), monitor ? hostOf(monitor) : ''];
    if (from !== '' && to !== '' && from !== to)
      throw InvalidInput({
        error_message: `source port ${source.id} is bound to host ${from} and the monitoring port to ${to}: mirroring is within one host`,
      });
    const duplicate = await tx
      .selectFrom('tap_flows')
      .select('id')
      .where('tap_service_id', '=', service.id)
      .where('source_port', '=', source.id)
      .executeTakeFirst();
    if (duplicate) throw TapFlowExists({ port_id: source.id, tap_id: service.id });
    const resource = {
      id: randomUUID(),
      project_id: project,
      name: body.name ?? '',
      description: body.description ?? '',
      tap_service_id: service.id,
      source_port: source.id,
      direction: body.direction,
      status: 'ACTIVE',
      vlan_filter: null,
    };
    return insertResource(tx, this.table, resource, { tap_service_id: service.id, source_port: source.id });
  }

  async update(ctx: Context, id: string, body: TapFlowUpdate, ifRevision?: number): Promise<View> {
    requireWriter(ctx, 'update_tap_flow');
    const row = await this.#store.transaction(async (tx) => {
      const current = await this.get(ctx, id, tx);
      return updateResource(tx, this.table, current, { ...current, ...body }, {}, ifRevision);
    });
    return viewOf(row, FLOW_KEYS);
  }

  async remove(ctx: Context, id: string, ifRevision?: number): Promise<void> {
    requireWriter(ctx, 'delete_tap_flow');
    await this.#store.transaction(async (tx) => {
      const current = await this.get(ctx, id, tx);
      if (!owns(ctx, current.project_id)) throw PolicyNotAuthorized({ action: 'delete_tap_flow' });
      if (ifRevision !== undefined && ifRevision !== current.revision_number)
        throw RevisionNumberConstraintFailed({ expected: ifRevision, current: current.revision_number });
      await deleteResource(tx, this.table, current);
    });
  }
}

/** A host's tap flows for its snapshot: those whose source and monitoring ports are both among its ports. */
export async function snapshotTapFlows(
  db: Kysely<Database>,
  hostPorts: ReadonlySet<string>,
): Promise<SnapshotTapFlow[]> {
  const rows = await inChunks([...hostPorts], (chunk) =>
    db
      .selectFrom('tap_flows')
      .innerJoin('tap_services', 'tap_services.id', 'tap_flows.tap_service_id')
      .select([
        'tap_flows.id as id',
        'tap_flows.source_port as source',
        'tap_services.port_id as monitor',
        'tap_flows.doc as doc',
      ])
      .where('tap_flows.source_port', 'in', chunk)
      .execute(),
  );
  return rows
    .filter((r) => hostPorts.has(r.monitor))
    .map((r) => ({
      id: r.id,
      source_port: r.source,
      monitor_port: r.monitor,
      direction: (JSON.parse(r.doc) as { direction: SnapshotTapFlow['direction'] }).direction,
    }))
    .sort((a, b) => a.id.localeCompare(b.id));
}
