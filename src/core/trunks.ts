/**
 * Trunks (Neutron's `trunk` service plugin, its validators in `services/trunk/rules.py`): a parent
 * port and subports with VLAN segmentation. Visible to the project and admins. A port is the
 * parent of one trunk at most and a subport once (the database's keys settle races); a subport is
 * a free port (no device), never the parent, with a segmentation unique on its trunk and an MTU no
 * larger than the parent's network's; `inherit` takes the subport network's own segmentation. A
 * disabled trunk's subports cannot change, and ports of a trunk cannot be deleted.
 *
 * Realising a trunk needs VLAN subinterfaces in the instance (the 8021q module) and an agent that
 * builds them: creates and additions are refused, clearly, while no live agent reports
 * `trunk_capable` (the linuxbridge agent does not yet; see docs/api-compatibility.md).
 */
import { randomUUID } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { SubPort, SubPortRequest, TrunkCreate, TrunkUpdate } from '../model/trunk.js';
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
import type { Agents } from './agents.js';
import { type Context, owns, requireWriter, targetProject } from './context.js';
import {
  DuplicateSubPort,
  InvalidInput,
  ParentPortInUse,
  PolicyNotAuthorized,
  PortInUse,
  PortInUseAsSubPort,
  PortInUseAsTrunkParent,
  RevisionNumberConstraintFailed,
  SubPortMtuGreaterThanTrunkPortMtu,
  SubPortNotFound,
  TrunkDisabled,
  TrunkNotFound,
  TrunkNotRealisable,
  TrunkPortInUse,
} from './errors.js';
import type { Networks } from './networks.js';
import type { Ports } from './ports.js';
import type { ListHint, ResourceService, View } from './resource.js';

/** Segmentation types and their id ranges (Neutron's `vlan`; `inherit` resolves to the network's). */
const SEGMENTATION_TYPES: Record<string, (id: number) => boolean> = {
  vlan: (id) => Number.isInteger(id) && id >= 1 && id <= 4094,
};

/** What the API layer checks in Neutron (`validate_subports`): ids unique, segmentation complete. */
function basicCheck(subports: readonly SubPortRequest[]): void {
  const ids = new Set<string>();
  const seen = new Set<string>();
  for (const s of subports) {
    if (ids.has(s.port_id))
      throw InvalidInput({ error_message: `Non unique UUID for subport: '${s.port_id}'` });
    ids.add(s.port_id);
    if (s.segmentation_type === 'inherit') continue;
    const keys = Object.keys(s).length;
    if ((!s.segmentation_type || s.segmentation_id === undefined) && keys > 1)
      throw InvalidInput({
        error_message: `Invalid subport details '${JSON.stringify(s)}': missing segmentation information. Must specify both segmentation_id and segmentation_type`,
      });
    const key = `${s.segmentation_type} ${s.segmentation_id}`;
    if (s.segmentation_type && seen.has(key))
      throw InvalidInput({
        error_message: `Segmentation ID ${s.segmentation_id} used twice for segmentation type ${s.segmentation_type}`,
      });
    seen.add(key);
  }
}

export class Trunks implements ResourceService<TrunkCreate, TrunkUpdate> {
  readonly table = 'trunks' as const;
  readonly #store: Store;
  readonly #ports: Ports;
  readonly #networks: Networks;
  readonly #agents: Agents;

  constructor(store: Store, services: { ports: Ports; networks: Networks; agents: Agents }) {
    this.#store = store;
    this.#ports = services.ports;
    this.#networks = services.networks;
    this.#agents = services.agents;
    services.ports.onDelete.push(async (tx, port) => {
      const sub = await tx
        .selectFrom('trunk_subports')
        .select('trunk_id')
        .where('port_id', '=', port.id)
        .executeTakeFirst();
      if (sub) throw PortInUseAsSubPort({ port_id: port.id, trunk_id: sub.trunk_id });
      const parent = await tx
        .selectFrom('trunks')
        .select('id')
        .where('port_id', '=', port.id)
        .executeTakeFirst();
      if (parent) throw PortInUseAsTrunkParent({ port_id: port.id, trunk_id: parent.id });
    });
  }

  async #views(db: Kysely<Database>, rows: Stored[]): Promise<View[]> {
    if (rows.length === 0) return [];
    const subports = await db
      .selectFrom('trunk_subports')
      .selectAll()
      .where(
        'trunk_id',
        'in',
        rows.map((r) => r.id),
      )
      .orderBy('port_id')
      .execute();
    return rows.map((r) => ({
      ...r,
      sub_ports: subports
        .filter((s) => s.trunk_id === r.id)
        .map((s) => ({
          port_id: s.port_id,
          segmentation_type: s.segmentation_type,
          segmentation_id: s.segmentation_id,
        })),
    }));
  }

  #visible(ctx: Context, row: Stored): boolean {
    return ctx.isAdmin || row.project_id === ctx.projectId;
  }

  async list(ctx: Context, hint: ListHint): Promise<View[]> {
    const ids = hint.filters.id;
    const rows = await listResources(
      this.#store.db,
      'trunks',
      ids ? { column: 'id', values: ids } : undefined,
    );
    return this.#views(
      this.#store.db,
      rows.filter((r) => this.#visible(ctx, r)),
    );
  }

  async #get(ctx: Context, id: string, db: Kysely<Database> = this.#store.db): Promise<Stored> {
    const row = await getResource(db, 'trunks', id);
    if (!row || !this.#visible(ctx, row)) throw TrunkNotFound({ trunk_id: id });
    return row;
  }

  async #owned(ctx: Context, id: string, action: string, tx: Tx): Promise<Stored> {
    requireWriter(ctx, action);
    const row = await this.#get(ctx, id, tx);
    if (!owns(ctx, row.project_id)) throw PolicyNotAuthorized({ action });
    return row;
  }

  async show(ctx: Context, id: string): Promise<View> {
    return (await this.#views(this.#store.db, [await this.#get(ctx, id)]))[0];
  }

  /** `GET /v2.0/trunks/{id}/get_subports`. */
  async subports(ctx: Context, id: string): Promise<SubPort[]> {
    return (await this.show(ctx, id)).sub_ports as SubPort[];
  }

  /** Refuses while no live agent can build trunks (VLAN subinterfaces in the instance). */
  async #requireRealisable(): Promise<void> {
    if (await this.#agents.trunkCapable()) return;
    const vlan = await this.#agents.vlanCapable();
    throw TrunkNotRealisable({
      reason: vlan
        ? 'no live agent reports trunk support (the linuxbridge agent does not build VLAN subinterfaces yet)'
        : 'subports are VLAN subinterfaces in the instance, and no live agent has the 8021q module',
    });
  }

  /** The parent port: visible, in no trunk as parent or subport, and unbound or on a trunk-capable host. */
  async #checkParent(ctx: Context, tx: Tx, portId: string): Promise<Stored> {
    const port = await this.#ports.get(ctx, portId, tx);
    if (
      await tx.selectFrom('trunk_subports').select('port_id').where('port_id', '=', portId).executeTakeFirst()
    )
      throw TrunkPortInUse({ port_id: portId });
    if (await tx.selectFrom('trunks').select('id').where('port_id', '=', portId).executeTakeFirst())
      throw ParentPortInUse({ port_id: portId });
    const host = String(port['binding:host_id'] ?? '');
    if (host !== '' && !(await this.#agents.trunkCapable(host))) throw ParentPortInUse({ port_id: portId });
    return port;
  }

  /** Neutron's SubPortsValidator: each subport resolved (`inherit`), in range, free, within the MTU. */
  async #checkSubports(
    ctx: Context,
    tx: Tx,
    trunkId: string,
    parent: Stored,
    requests: readonly SubPortRequest[],
  ): Promise<SubPort[]> {
    basicCheck(requests);
    const parentMtu = Number((await this.#networks.get(ctx, String(parent.network_id), tx)).mtu);
    const out: SubPort[] = [];
    for (const request of requests) {
      if (request.port_id === parent.id) throw ParentPortInUse({ port_id: request.port_id });
      const port = await this.#ports.get(ctx, request.port_id, tx);
      const network = await this.#networks.get(ctx, String(port.network_id), tx);
      const mtu = Number(network.mtu);
      if (mtu > parentMtu)
        throw SubPortMtuGreaterThanTrunkPortMtu({
          port_id: request.port_id,
          port_mtu: mtu,
          trunk_id: parent.id,
          trunk_mtu: parentMtu,
        });
      let type = request.segmentation_type;
      let id: unknown = request.segmentation_id;
      if (type === 'inherit') {
        const segment = await tx
          .selectFrom('network_segments')
          .selectAll()
          .where('network_id', '=', network.id)
          .executeTakeFirst();
        type = segment?.network_type ?? String(network['provider:network_type'] ?? 'local');
        // Flat and local networks have none: Neutron then says `None` is not an integer.
        id = segment && type !== 'flat' && type !== 'local' ? Number(segment.segmentation_id) : 'None';
      }
      if (type === undefined || id === undefined)
        throw InvalidInput({
          error_message: `Invalid subport details '${JSON.stringify(request)}': missing segmentation information. Must specify both segmentation_id and segmentation_type`,
        });
      const number = typeof id === 'number' ? id : /^\d+$/.test(String(id)) ? Number(id) : Number.NaN;
      if (Number.isNaN(number))
        throw InvalidInput({
          error_message: `Invalid subport details: segmentation_id '${id}' is not an integer`,
        });
      const inRange = SEGMENTATION_TYPES[type];
      if (!inRange) throw InvalidInput({ error_message: `Unknown segmentation_type '${type}'` });
      if (!inRange(number))
        throw InvalidInput({ error_message: `Segmentation ID '${number}' is not in range` });
      const sub = await tx
        .selectFrom('trunk_subports')
        .select('port_id')
        .where('port_id', '=', port.id)
        .executeTakeFirst();
      const asParent = await tx
        .selectFrom('trunks')
        .select('id')
        .where('port_id', '=', port.id)
        .executeTakeFirst();
      if (sub) throw TrunkPortInUse({ port_id: port.id });
      if (asParent) throw ParentPortInUse({ port_id: port.id });
      if (port.device_id)
        throw PortInUse({
          net_id: String(port.network_id),
          port_id: port.id,
          device_id: String(port.device_id),
        });
      const taken = await tx
        .selectFrom('trunk_subports')
        .select('port_id')
        .where('trunk_id', '=', trunkId)
        .where('segmentation_type', '=', type)
        .where('segmentation_id', '=', number)
        .executeTakeFirst();
      if (taken)
        throw DuplicateSubPort({ segmentation_type: type, segmentation_id: number, trunk_id: trunkId });
      out.push({ port_id: port.id, segmentation_type: type, segmentation_id: number });
    }
    return out;
  }

  async #insertSubports(tx: Tx, trunkId: string, subports: SubPort[]): Promise<void> {
    for (const s of subports)
      await tx
        .insertInto('trunk_subports')
        .values({ ...s, trunk_id: trunkId })
        .execute();
  }

  async create(ctx: Context, bodies: TrunkCreate[]): Promise<View[]> {
    requireWriter(ctx, 'create_trunk');
    for (const body of bodies) basicCheck(body.sub_ports ?? []);
    await this.#requireRealisable();
    const rows = await this.#store.transaction(async (tx) => {
      const out: Stored[] = [];
      for (const body of bodies) {
        const project = targetProject(ctx, body, 'create_trunk');
        const parent = await this.#checkParent(ctx, tx, body.port_id);
        const id = randomUUID();
        const subports = await this.#checkSubports(ctx, tx, id, parent, body.sub_ports ?? []);
        out.push(
          await insertResource(
            tx,
            'trunks',
            {
              id,
              project_id: project,
              name: body.name ?? '',
              description: body.description ?? '',
              admin_state_up: body.admin_state_up ?? true,
              port_id: body.port_id,
              status: 'DOWN',
              tags: body.tags ?? [],
            },
            { port_id: body.port_id },
          ),
        );
        await this.#insertSubports(tx, id, subports);
      }
      return out;
    });
    return this.#views(this.#store.db, rows);
  }

  async update(ctx: Context, id: string, body: TrunkUpdate, ifRevision?: number): Promise<View> {
    const row = await this.#store.transaction(async (tx) => {
      const current = await this.#owned(ctx, id, 'update_trunk', tx);
      return updateResource(tx, 'trunks', current, { ...current, ...body }, {}, ifRevision);
    });
    return (await this.#views(this.#store.db, [row]))[0];
  }

  /** `PUT …/add_subports`: the trunk back to DOWN until the agent wires the new subports. */
  async addSubports(ctx: Context, id: string, requests: SubPortRequest[]): Promise<View> {
    basicCheck(requests);
    await this.#requireRealisable();
    const row = await this.#store.transaction(async (tx) => {
      const trunk = await this.#owned(ctx, id, 'add_subports', tx);
      if (trunk.admin_state_up === false) throw TrunkDisabled({ trunk_id: id });
      const parent = await this.#ports.get(ctx, String(trunk.port_id), tx);
      await this.#insertSubports(tx, id, await this.#checkSubports(ctx, tx, id, parent, requests));
      return updateResource(tx, 'trunks', trunk, { ...trunk, status: 'DOWN' });
    });
    return (await this.#views(this.#store.db, [row]))[0];
  }

  /** `PUT …/remove_subports`: each must be a subport of this trunk (SubPortNotFound). */
  async removeSubports(ctx: Context, id: string, requests: SubPortRequest[]): Promise<View> {
    basicCheck(requests);
    const row = await this.#store.transaction(async (tx) => {
      const trunk = await this.#owned(ctx, id, 'remove_subports', tx);
      if (trunk.admin_state_up === false) throw TrunkDisabled({ trunk_id: id });
      for (const { port_id } of requests) {
        const gone = await tx
          .deleteFrom('trunk_subports')
          .where('trunk_id', '=', id)
          .where('port_id', '=', port_id)
          .executeTakeFirst();
        if (Number(gone.numDeletedRows) !== 1) throw SubPortNotFound({ trunk_id: id, port_id });
      }
      return updateResource(tx, 'trunks', trunk, { ...trunk, status: 'DOWN' });
    });
    return (await this.#views(this.#store.db, [row]))[0];
  }

  async remove(ctx: Context, id: string, ifRevision?: number): Promise<void> {
    await this.#store.transaction(async (tx) => {
      const trunk = await this.#owned(ctx, id, 'delete_trunk', tx);
      if (ifRevision !== undefined && ifRevision !== trunk.revision_number)
        throw RevisionNumberConstraintFailed({ expected: ifRevision, current: trunk.revision_number });
      if (trunk.admin_state_up === false) throw TrunkDisabled({ trunk_id: id });
      await tx.deleteFrom('trunk_subports').where('trunk_id', '=', id).execute();
      await deleteResource(tx, 'trunks', trunk);
    });
  }
}
