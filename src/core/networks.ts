/**
 * Networks: who sees them (owner, admin, shared, external, RBAC), their defaults (MTU by type,
 * port security on), the segment each gets (local, flat on a mapped physnet, a VXLAN VNI, a
 * VLAN where the data plane can build it), and what blocks a delete (ports in use).
 */
import { randomUUID } from 'node:crypto';
import type { Kysely } from 'kysely';
import { DeviceOwner } from '../model/device-owners.js';
import type { NetworkCreate, NetworkUpdate } from '../model/network.js';
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
  ExternalNetworkInUse,
  FlatNetworkInUse,
  InvalidInput,
  InvalidSharedSetting,
  NetworkInUse,
  NetworkNotFound,
  PolicyNotAuthorized,
} from './errors.js';
import { checkPolicyForNetwork, checkQosChange, defaultQosPolicy, requireQosPolicy } from './qos.js';
import { enforce } from './quotas.js';
import type { ListHint, ResourceService, View } from './resource.js';
import type { Settings } from './settings.js';
import { sharedWith } from './sharing.js';
import { networkScopes } from './subnet-pools.js';

const PROVIDER_KEYS = [
  'provider:network_type',
  'provider:physical_network',
  'provider:segmentation_id',
] as const;

/** Device owners whose ports go away with their network instead of blocking its delete. */
export const AUTO_DELETED_OWNERS: readonly string[] = [DeviceOwner.dhcp];

interface Segment {
  network_type: string;
  physical_network: string | null;
  segmentation_id: number | null;
}

export class Networks implements ResourceService<NetworkCreate, NetworkUpdate> {
  readonly table = 'networks' as const;
  readonly #store: Store;
  readonly #settings: Settings;
  /** Called inside a network's delete transaction: Subnets removes its subnets, Ports its DHCP ports. */
  onDelete: ((tx: Tx, network: Stored) => Promise<void>)[] = [];
  /**
   * Whether a live L2 agent can build vlan networks (its kernel has 8021q); asked, outside any
   * transaction, only when `settings.vlanSupported` does not already allow them.
   */
  vlanCapable: () => Promise<boolean> = async () => false;

  constructor(store: Store, settings: Settings) {
    this.#store = store;
    this.#settings = settings;
  }

  /** The network as `ctx` sees it: derived subnets, per-viewer `shared`, admin-only provider attributes. */
  async #views(ctx: Context, rows: Stored[]): Promise<View[]> {
    if (rows.length === 0) return [];
    const ids = rows.map((r) => r.id);
    const db = this.#store.db;
    const subnets = await inChunks(ids, (chunk) =>
      db
        .selectFrom('subnets')
        .select(['id', 'network_id', 'subnetpool_id'])
        .where('network_id', 'in', chunk)
        .execute(),
    );
    const scopes = await networkScopes(db, subnets);
    const byNetwork = new Map<string, string[]>();
    for (const s of subnets) {
      const list = byNetwork.get(s.network_id);
      if (list) list.push(s.id);
      else byNetwork.set(s.network_id, [s.id]);
    }
    const segments = ctx.isAdmin
      ? new Map(
          (
            await inChunks(ids, (chunk) =>
              db.selectFrom('network_segments').selectAll().where('network_id', 'in', chunk).execute(),
            )
          ).map((s) => [s.network_id, s]),
        )
      : new Map();
    const shared = await sharedWith(db, 'network', 'access_as_shared', ctx.projectId, ids);
    return rows.map((r) => {
      const view: View = {
        ...r,
        subnets: byNetwork.get(r.id) ?? [],
        shared: r.shared === true || shared.has(r.id),
        ipv4_address_scope: scopes.get(`${r.id}/4`) ?? null,
        ipv6_address_scope: scopes.get(`${r.id}/6`) ?? null,
        qos_policy_id: r.qos_policy_id ?? null,
      };
      if (ctx.isAdmin) {
        const seg = segments.get(r.id);
        view['provider:network_type'] = seg?.network_type ?? r['provider:network_type'];
        view['provider:physical_network'] = seg?.physical_network || null;
        view['provider:segmentation_id'] =
          seg && seg.network_type !== 'local' && seg.network_type !== 'flat'
            ? Number(seg.segmentation_id)
            : null;
      } else {
        for (const k of PROVIDER_KEYS) delete view[k];
      }
      return view;
    });
  }

  /** Ids of networks `ctx` may see among `rows`. */
  async #visible(ctx: Context, rows: Stored[], db: Kysely<Database> = this.#store.db): Promise<Stored[]> {
    if (ctx.isAdmin) return rows;
    const others = rows
      .filter((r) => r.project_id !== ctx.projectId && r.shared !== true && r['router:external'] !== true)
      .map((r) => r.id);
    const rbac = await sharedWith(db, 'network', 'access_as_shared', ctx.projectId, others);
    const external = await sharedWith(db, 'network', 'access_as_external', ctx.projectId, others);
    return rows.filter(
      (r) =>
        r.project_id === ctx.projectId ||
        r.shared === true ||
        r['router:external'] === true ||
        rbac.has(r.id) ||
        external.has(r.id),
    );
  }

  async list(ctx: Context, hint: ListHint): Promise<View[]> {
    const ids = hint.filters.id;
    const rows = await listResources(
      this.#store.db,
      'networks',
      ids ? { column: 'id', values: ids } : undefined,
    );
    return this.#views(ctx, await this.#visible(ctx, rows));
  }

  /** The stored network if `ctx` may see it, else NetworkNotFound (never 403). */
  async get(ctx: Context, id: string, db: Kysely<Database> = this.#store.db): Promise<Stored> {
    const row = await getResource(db, 'networks', id);
    if (!row || (await this.#visible(ctx, [row], db)).length === 0) throw NetworkNotFound({ net_id: id });
    return row;
  }

  /** May `ctx` put ports or subnets on this network? Owner, admin, or shared with it. */
  async usable(ctx: Context, network: Stored, db: Kysely<Database> = this.#store.db): Promise<boolean> {
    if (owns(ctx, network.project_id) || network.shared === true) return true;
    return (await sharedWith(db, 'network', 'access_as_shared', ctx.projectId, [network.id])).has(network.id);
  }

  /**
   * Which of these networks `ctx` may use: owned, or shared with it (the `shared` flag or an
   * `access_as_shared` policy); merely external is not enough (whose subnets Neutron hides).
   */
  async usableIds(ctx: Context, ids: string[], db: Kysely<Database> = this.#store.db): Promise<Set<string>> {
    if (ids.length === 0) return new Set();
    const rows = await listResources(db, 'networks', { column: 'id', values: ids });
    const usable = new Set(rows.filter((r) => owns(ctx, r.project_id) || r.shared === true).map((r) => r.id));
    for (const id of await sharedWith(db, 'network', 'access_as_shared', ctx.projectId, ids)) usable.add(id);
    return usable;
  }

  async show(ctx: Context, id: string): Promise<View> {
    return (await this.#views(ctx, [await this.get(ctx, id)]))[0];
  }

  /** As ML2 without `external_network_type`: external networks get the tenant type like any other. */
  #typeOf(body: NetworkCreate): string {
    return body['provider:network_type'] ?? this.#settings.tenantNetworkType;
  }

  /** Whether networks of the tenant type may be created (VLAN needs capable agents or the setting). */
  tenantTypeSupported(): Promise<boolean> {
    return this.#vlanSupported([{}]);
  }

  async #vlanSupported(bodies: NetworkCreate[]): Promise<boolean> {
    if (this.#settings.vlanSupported) return true;
    return bodies.some((b) => this.#typeOf(b) === 'vlan') && (await this.vlanCapable());
  }

  #segmentFor(body: NetworkCreate, vlanSupported: boolean): Segment {
    const type = this.#typeOf(body);
    const physnet = body['provider:physical_network'] ?? null;
    const segId = body['provider:segmentation_id'] ?? null;
    switch (type) {
      case 'local':
        if (physnet !== null || segId !== null)
          throw InvalidInput({ error_message: 'local networks take no physical_network or segmentation_id' });
        return { network_type: 'local', physical_network: null, segmentation_id: null };
      case 'flat': {
        if (physnet === null)
          throw InvalidInput({ error_message: 'physical_network required for flat provider network' });
        if (!this.#settings.physicalNetworks.includes(physnet)) {
          throw InvalidInput({
            error_message: `physical_network '${physnet}' unknown for flat provider network`,
          });
        }
        if (segId !== null)
          throw InvalidInput({ error_message: 'segmentation_id specified for flat provider network' });
        return { network_type: 'flat', physical_network: physnet, segmentation_id: null };
      }
      case 'vxlan':
        if (physnet !== null)
          throw InvalidInput({ error_message: 'provider:physical_network specified for vxlan network' });
        if (segId !== null && (segId < 1 || segId > 16777215))
          throw InvalidInput({ error_message: `${segId} is not a valid VXLAN VNI` });
        return { network_type: 'vxlan', physical_network: null, segmentation_id: segId };
      case 'vlan':
        if (!vlanSupported) {
          throw InvalidInput({
            error_message:
              'network type vlan is not supported: no host with a live L2 agent has 802.1Q VLAN support in its kernel (8021q); use vxlan, flat or local',
          });
        }
        if (physnet !== null && !this.#settings.physicalNetworks.includes(physnet)) {
          throw InvalidInput({
            error_message: `physical_network '${physnet}' unknown for vlan provider network`,
          });
        }
        if (segId !== null && (segId < 1 || segId > 4094))
          throw InvalidInput({ error_message: `${segId} is not a valid VLAN tag` });
        return {
          network_type: 'vlan',
          physical_network: physnet ?? this.#settings.physicalNetworks[0] ?? null,
          segmentation_id: segId,
        };
      default:
        throw InvalidInput({
          error_message: `Unknown network type ${type}; supported: local, flat, vxlan, vlan`,
        });
    }
  }

  /** Reserves the segment: an explicit id must be free; otherwise the lowest free id in range. */
  async #allocateSegment(tx: Tx, networkId: string, seg: Segment): Promise<Segment> {
    const physnet = seg.physical_network ?? '';
    let id = seg.segmentation_id;
    if (seg.network_type === 'vxlan' || seg.network_type === 'vlan') {
      const [lo, hi] = seg.network_type === 'vxlan' ? this.#settings.vniRange : this.#settings.vlanRange;
      const taken = await tx
        .selectFrom('network_segments')
        .select('segmentation_id')
        .where('network_type', '=', seg.network_type)
        .where('physical_network', '=', physnet)
        .execute();
      const used = new Set(taken.map((t) => Number(t.segmentation_id)));
      if (id !== null && used.has(id)) {
        throw InvalidInput({
          error_message: `Unable to create the network. The ${seg.network_type} ${id} on physical network ${physnet || '-'} is in use`,
        });
      }
      if (id === null) {
        for (let n = lo; n <= hi; n++)
          if (!used.has(n)) {
            id = n;
            break;
          }
        if (id === null)
          throw InvalidInput({
            error_message: `Unable to create the network. No ${seg.network_type} segment is available`,
          });
      }
    }
    if (seg.network_type === 'flat') {
      const taken = await tx
        .selectFrom('network_segments')
        .select('network_id')
        .where('network_type', '=', 'flat')
        .where('physical_network', '=', physnet)
        .executeTakeFirst();
      if (taken) throw FlatNetworkInUse({ physical_network: physnet });
    }
    // Local networks have nothing to reserve; their type lives on the network itself.
    if (seg.network_type !== 'local') {
      await tx
        .insertInto('network_segments')
        .values({
          network_id: networkId,
          network_type: seg.network_type,
          physical_network: physnet,
          segmentation_id: id ?? 0,
        })
        .execute();
    }
    return { ...seg, segmentation_id: id };
  }

  mtuFor(type: string): number {
    return type === 'vxlan' ? this.#settings.physicalMtu - 50 : this.#settings.physicalMtu;
  }

  async create(ctx: Context, bodies: NetworkCreate[]): Promise<View[]> {
    requireWriter(ctx, 'create_network');
    const vlanSupported = await this.#vlanSupported(bodies);
    const rows = await this.#store.transaction(async (tx) => {
      const out: Stored[] = [];
      for (const body of bodies) {
        const project = targetProject(ctx, body, 'create_network');
        if (body.shared || body['router:external'] !== undefined) requireAdmin(ctx, 'create_network:shared');
        if (PROVIDER_KEYS.some((k) => body[k] !== undefined))
          requireAdmin(ctx, 'create_network:provider:network_type');
        await enforce(tx, this.#settings.quotas, project, 'network', 1);
        // qos-default: a network created without a policy gets its project's default.
        const qos = body.qos_policy_id || (await defaultQosPolicy(tx, project));
        if (qos) await requireQosPolicy(ctx, tx, qos);
        const network = await this.insert(tx, { ...body, qos_policy_id: qos }, project, vlanSupported);
        await checkPolicyForNetwork(tx, qos, network.id);
        out.push(network);
      }
      return out;
    });
    return this.#views(ctx, rows);
  }

  /**
   * Writes a new network of `project` in `tx` (its segment reserved), past the caller's checks:
   * `create`'s, or the HA network a project's first HA router needs.
   */
  async insert(tx: Tx, body: NetworkCreate, project: string, vlanSupported: boolean): Promise<Stored> {
    const id = randomUUID();
    const seg = await this.#allocateSegment(tx, id, this.#segmentFor(body, vlanSupported));
    const maxMtu = this.mtuFor(seg.network_type);
    if (body.mtu !== undefined && body.mtu > maxMtu) {
      throw InvalidInput({ error_message: `Requested MTU is too big, maximum is ${maxMtu}` });
    }
    return insertResource(tx, 'networks', {
      id,
      project_id: project,
      name: body.name ?? '',
      description: body.description ?? '',
      admin_state_up: body.admin_state_up ?? true,
      status: 'ACTIVE',
      shared: body.shared ?? false,
      'router:external': body['router:external'] ?? false,
      mtu: body.mtu ?? maxMtu,
      port_security_enabled: body.port_security_enabled ?? true,
      'provider:network_type': seg.network_type,
      availability_zones: ['nova'],
      availability_zone_hints: body.availability_zone_hints ?? [],
      ipv4_address_scope: null,
      ipv6_address_scope: null,
      l2_adjacency: true,
      qos_policy_id: body.qos_policy_id ?? null,
      tags: body.tags ?? [],
    });
  }

  async update(ctx: Context, id: string, body: NetworkUpdate, ifRevision?: number): Promise<View> {
    requireWriter(ctx, 'update_network');
    const row = await this.#store.transaction(async (tx) => {
      const current = await this.get(ctx, id, tx);
      if (!owns(ctx, current.project_id)) throw PolicyNotAuthorized({ action: 'update_network' });
      if (body.shared !== undefined || body['router:external'] !== undefined)
        requireAdmin(ctx, 'update_network:shared');
      if (PROVIDER_KEYS.some((k) => body[k] !== undefined)) {
        throw InvalidInput({ error_message: 'Plugin does not support updating provider attributes' });
      }
      if (body.shared === false && current.shared === true) {
        const foreign = await tx
          .selectFrom('ports')
          .select('id')
          .where('network_id', '=', id)
          .where('project_id', '!=', current.project_id)
          .executeTakeFirst();
        if (foreign) throw InvalidSharedSetting({ network: id });
      }
      if (body['router:external'] === false && current['router:external'] === true) {
        // As Neutron: a network routers use as their gateway stays external until they leave it.
        const gateway = await tx
          .selectFrom('ports')
          .select('id')
          .where('network_id', '=', id)
          .where('device_owner', '=', DeviceOwner.routerGateway)
          .executeTakeFirst();
        if (gateway) throw ExternalNetworkInUse({ net_id: id });
      }
      await checkQosChange(ctx, tx, current.qos_policy_id, body.qos_policy_id);
      if (body.qos_policy_id !== current.qos_policy_id)
        await checkPolicyForNetwork(tx, body.qos_policy_id, id);
      if (body.mtu !== undefined) {
        const max = this.mtuFor(String(current['provider:network_type']));
        if (body.mtu > max)
          throw InvalidInput({ error_message: `Requested MTU is too big, maximum is ${max}` });
      }
      return updateResource(tx, 'networks', current, { ...current, ...body }, {}, ifRevision);
    });
    return (await this.#views(ctx, [row]))[0];
  }

  async remove(ctx: Context, id: string, ifRevision?: number): Promise<void> {
    requireWriter(ctx, 'delete_network');
    await this.#store.transaction(async (tx) => {
      const current = await this.get(ctx, id, tx);
      if (!owns(ctx, current.project_id)) throw PolicyNotAuthorized({ action: 'delete_network' });
      await this.#store.lockRow(tx, 'networks', id, 'update');
      if (ifRevision !== undefined && ifRevision !== current.revision_number) {
        await updateResource(tx, 'networks', current, current, {}, ifRevision);
      }
      const blocking = await tx
        .selectFrom('ports')
        .select('id')
        .where('network_id', '=', id)
        .where('device_owner', 'not in', AUTO_DELETED_OWNERS)
        .executeTakeFirst();
      if (blocking) throw NetworkInUse({ net_id: id });
      await this.delete(tx, current);
    });
  }

  /** Deletes `network` in `tx` with its subnets, segment and RBAC policies, past the caller's checks. */
  async delete(tx: Tx, network: Stored): Promise<void> {
    for (const hook of this.onDelete) await hook(tx, network);
    await tx.deleteFrom('network_segments').where('network_id', '=', network.id).execute();
    await tx
      .deleteFrom('rbac_policies')
      .where('object_type', '=', 'network')
      .where('object_id', '=', network.id)
      .execute();
    await deleteResource(tx, 'networks', network);
  }
}
