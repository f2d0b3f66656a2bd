/**
 * RBAC policies: an object's owner (or an admin) opens a network, security group, subnet pool,
 * address scope or QoS policy to another project, or (admins only) to every project with `*`. Policies are
 * visible to the project that owns them. A policy cannot go while the project it serves still has
 * something that depends on it (ports, subnets from the pool, pools in the scope), and the same
 * grant cannot exist twice.
 */
import { randomUUID } from 'node:crypto';
import type { Kysely } from 'kysely';
import { DeviceOwner } from '../model/device-owners.js';
import { RBAC_ACTIONS, type RbacPolicyCreate, type RbacPolicyUpdate } from '../model/rbac-policy.js';
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
  DuplicateRbacPolicy,
  HTTPBadRequest,
  InvalidActionForType,
  InvalidInput,
  InvalidSharedSetting,
  PolicyNotAuthorized,
  RbacPolicyInitError,
  RbacPolicyInUse,
  RbacPolicyNotFound,
} from './errors.js';
import { qosPolicyUsers } from './qos.js';
import { enforce } from './quotas.js';
import type { ListHint, ResourceService, View } from './resource.js';
import type { Settings } from './settings.js';

const UUID_LIKE = /^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$/i;
const TABLES = {
  network: 'networks',
  security_group: 'security_groups',
  subnetpool: 'subnetpools',
  address_scope: 'address_scopes',
  qos_policy: 'qos_policies',
} as const;
type ObjectType = keyof typeof TABLES;

/** Finds an object a policy may open as the caller sees it, else throws the object's NotFound. */
export type ObjectLookup = (ctx: Context, id: string, db: Kysely<Database>) => Promise<Stored>;

function validTarget(target: string): string {
  if (target !== '*' && !UUID_LIKE.test(target)) {
    throw InvalidInput({
      error_message: `'${target}' is not a valid target project ID; expected a UUID or '*'`,
    });
  }
  return target;
}

/** Only admins may open an object to every project. */
function checkWildcard(ctx: Context, target: string, action: string): void {
  if (target === '*' && !ctx.isAdmin) throw PolicyNotAuthorized({ action: `${action}:target_tenant` });
}

export class RbacPolicies implements ResourceService<RbacPolicyCreate, RbacPolicyUpdate> {
  readonly table = 'rbac_policies' as const;
  readonly #store: Store;
  readonly #settings: Settings;
  readonly #lookups: Record<ObjectType, ObjectLookup>;

  constructor(store: Store, settings: Settings, lookups: Record<ObjectType, ObjectLookup>) {
    this.#store = store;
    this.#settings = settings;
    this.#lookups = lookups;
  }

  /** Neutron's attributes only: RBAC policies carry no timestamps, revisions or tags. */
  #view(row: Stored): View {
    const { id, project_id, object_type, object_id, action, target_tenant } = row;
    return { id, project_id, tenant_id: project_id, object_type, object_id, action, target_tenant };
  }

  async list(ctx: Context, hint: ListHint): Promise<View[]> {
    const ids = hint.filters.object_id;
    const rows = await listResources(
      this.#store.db,
      'rbac_policies',
      ids ? { column: 'object_id', values: ids } : undefined,
    );
    return rows.filter((r) => owns(ctx, r.project_id)).map((r) => this.#view(r));
  }

  /** The policy if it belongs to the caller's project (or the caller is admin), else not found. */
  async #get(ctx: Context, id: string, db: Kysely<Database>): Promise<Stored> {
    const row = await getResource(db, 'rbac_policies', id);
    if (!row || !owns(ctx, row.project_id)) throw RbacPolicyNotFound({ id, object_type: 'unknown' });
    return row;
  }

  async show(ctx: Context, id: string): Promise<View> {
    return this.#view(await this.#get(ctx, id, this.#store.db));
  }

  /**
   * Locks the object's row on PostgreSQL, so that concurrent policy changes on one object are
   * checked (for duplicates, for dependents) one after another. SQLite transactions are serial.
   */
  async #lock(tx: Tx, type: ObjectType, id: string): Promise<void> {
    if (this.#store.dialect === 'postgres') {
      await tx.selectFrom(TABLES[type]).select('id').where('id', '=', id).forUpdate().execute();
    }
  }

  /** The object a new policy opens, as the caller sees it (else its own NotFound), locked. */
  async #object(ctx: Context, tx: Tx, type: ObjectType, id: string): Promise<Stored> {
    await this.#lock(tx, type, id);
    return this.#lookups[type](ctx, id, tx);
  }

  #requireObjectOwner(ctx: Context, type: ObjectType, object: Stored): void {
    if (!ctx.isAdmin && object.project_id !== ctx.projectId) {
      const what = type === 'network' ? 'networks' : 'objects';
      throw InvalidInput({ error_message: `Only admins can manipulate policies on ${what} they do not own` });
    }
  }

  /** Other policies on the same object (all projects' policies: this is a rule check, not a read). */
  async #policiesOn(tx: Tx, type: string, objectId: string): Promise<Stored[]> {
    const rows = await listResources(tx, 'rbac_policies', { column: 'object_id', values: [objectId] });
    return rows.filter((r) => r.object_type === type);
  }

  async #rejectDuplicate(
    tx: Tx,
    type: string,
    objectId: string,
    action: string,
    target: string,
  ): Promise<void> {
    const same = (await this.#policiesOn(tx, type, objectId)).find(
      (p) => p.action === action && p.target_tenant === target,
    );
    if (same) throw DuplicateRbacPolicy();
  }

  async create(ctx: Context, bodies: RbacPolicyCreate[]): Promise<View[]> {
    requireWriter(ctx, 'create_rbac_policy');
    const rows = await this.#store.transaction(async (tx) => {
      const out: Stored[] = [];
      for (const body of bodies) {
        const project = targetProject(ctx, body, 'create_rbac_policy');
        const type = body.object_type.trim().toLowerCase();
        if (!Object.hasOwn(TABLES, type)) {
          throw InvalidInput({ error_message: `'${body.object_type}' is not a valid RBAC object type` });
        }
        if (!UUID_LIKE.test(body.object_id)) {
          throw HTTPBadRequest({
            msg: `Invalid input for object_id. Reason: '${body.object_id}' is not a valid UUID.`,
          });
        }
        const valid = RBAC_ACTIONS[type];
        if (!valid.includes(body.action)) {
          throw InvalidActionForType({
            action: body.action,
            object_type: type,
            valid_actions: valid.join(', '),
          });
        }
        const target = validTarget(body.target_tenant);
        checkWildcard(ctx, target, 'create_rbac_policy');
        const object = await this.#object(ctx, tx, type as ObjectType, body.object_id);
        this.#requireObjectOwner(ctx, type as ObjectType, object);
        if (type === 'subnetpool') await this.#requireScopeAccess(tx, object, target);
        await this.#rejectDuplicate(tx, type, object.id, body.action, target);
        await enforce(tx, this.#settings.quotas, project, 'rbac_policy', 1);
        const policy = {
          id: randomUUID(),
          project_id: project,
          object_type: type,
          object_id: object.id,
          action: body.action,
          target_tenant: target,
        };
        out.push(
          await insertResource(tx, 'rbac_policies', policy, { object_type: type, object_id: object.id }),
        );
      }
      return out;
    });
    return rows.map((r) => this.#view(r));
  }

  async update(ctx: Context, id: string, body: RbacPolicyUpdate, ifRevision?: number): Promise<View> {
    requireWriter(ctx, 'update_rbac_policy');
    const row = await this.#store.transaction(async (tx) => {
      const current = await this.#get(ctx, id, tx);
      const target = validTarget(body.target_tenant);
      checkWildcard(ctx, target, 'update_rbac_policy');
      if (target !== current.target_tenant) {
        const type = current.object_type as ObjectType;
        await this.#lock(tx, type, String(current.object_id));
        const object = await getResource(tx, TABLES[type], String(current.object_id));
        if (object) this.#requireObjectOwner(ctx, type, object);
        await this.#rejectDuplicate(tx, type, String(current.object_id), String(current.action), target);
        await this.#ensureUnused(tx, current, target);
      }
      return updateResource(
        tx,
        'rbac_policies',
        current,
        { ...current, target_tenant: target },
        {},
        ifRevision,
      );
    });
    return this.#view(row);
  }

  async remove(ctx: Context, id: string, ifRevision?: number): Promise<void> {
    requireWriter(ctx, 'delete_rbac_policy');
    await this.#store.transaction(async (tx) => {
      const current = await this.#get(ctx, id, tx);
      if (ifRevision !== undefined && ifRevision !== current.revision_number) {
        await updateResource(tx, 'rbac_policies', current, current, {}, ifRevision);
      }
      await this.#lock(tx, current.object_type as ObjectType, String(current.object_id));
      await this.#ensureUnused(tx, current);
      await deleteResource(tx, 'rbac_policies', current);
    });
  }

  /**
   * RbacPolicyInUse when dropping `policy` (or retargeting it to `replacement`) would leave a
   * project with something that depends on the access it grants: ports (`access_as_shared`) or
   * routers whose gateway is on the network (`access_as_external`). The object's owner, projects
   * other policies admit and a `*` grant keep their access; so does everyone on a network that is
   * shared (or `router:external`) anyway.
   */
  async #ensureUnused(tx: Tx, policy: Stored, replacement?: string): Promise<void> {
    const external = policy.action === 'access_as_external';
    if (policy.action !== 'access_as_shared' && !external) return;
    const type = policy.object_type as ObjectType;
    const object = await getResource(tx, TABLES[type], String(policy.object_id));
    if (!object || object[external ? 'router:external' : 'shared'] === true) return;
    const others = (await this.#policiesOn(tx, type, object.id)).filter(
      (p) => p.id !== policy.id && p.action === policy.action,
    );
    const allowed = new Set([object.project_id, ...others.map((p) => String(p.target_tenant))]);
    if (replacement !== undefined) allowed.add(replacement);
    if (allowed.has('*')) return;
    const losing = (project: string) =>
      project !== '' &&
      !allowed.has(project) &&
      (policy.target_tenant === '*' || policy.target_tenant === project);
    const dependents = external
      ? await this.#gatewayProjects(tx, object.id)
      : await this.#dependentProjects(tx, type, object.id);
    const stranded = [...dependents].filter(losing);
    if (stranded.length === 0) return;
    const details = external
      ? 'There are routers attached to this network that depend on this policy for access.'
      : type === 'network'
        ? InvalidSharedSetting({ network: object.id }).message
        : `project_id=${stranded.sort().join(',')}`;
    throw RbacPolicyInUse({ object_id: object.id, details });
  }

  /**
   * Neutron's SubnetPool.validate_rbac_policy_create: a pool in an address scope is shared only
   * with projects the scope is shared with (its `shared` flag, or a policy to `*` or the target).
   */
  async #requireScopeAccess(tx: Tx, pool: Stored, target: string): Promise<void> {
    const scopeId = pool.address_scope_id;
    if (typeof scopeId !== 'string') return;
    const scope = await getResource(tx, 'address_scopes', scopeId);
    if (scope?.shared === true) return;
    const grants = (await this.#policiesOn(tx, 'address_scope', scopeId)).filter(
      (p) => p.action === 'access_as_shared' && (p.target_tenant === '*' || p.target_tenant === target),
    );
    if (grants.length === 0) {
      throw RbacPolicyInitError({
        object_id: pool.id,
        reason: "target project doesn't have access to associated address scope.",
      });
    }
  }

  /** Projects of the routers whose gateway port is on the network (gateway ports have none). */
  async #gatewayProjects(tx: Tx, networkId: string): Promise<Set<string>> {
    const gateways = await tx
      .selectFrom('ports')
      .select('device_id')
      .where('network_id', '=', networkId)
      .where('device_owner', '=', DeviceOwner.routerGateway)
      .execute();
    const projects = new Set<string>();
    for (const { device_id } of gateways) {
      const router = device_id ? await getResource(tx, 'routers', device_id) : undefined;
      if (router) projects.add(router.project_id);
    }
    return projects;
  }

  /**
   * Projects with ports on the network, ports in the security group, subnets from the subnet
   * pool, subnet pools in the address scope, or ports, networks, floating IPs and routers that
   * use the QoS policy (Neutron's get_bound_project_ids).
   */
  async #dependentProjects(tx: Tx, type: ObjectType, objectId: string): Promise<Set<string>> {
    if (type === 'subnetpool' || type === 'address_scope') {
      const rows =
        type === 'subnetpool'
          ? await tx
              .selectFrom('subnets')
              .select('project_id')
              .where('subnetpool_id', '=', objectId)
              .execute()
          : await tx
              .selectFrom('subnetpools')
              .select('project_id')
              .where('address_scope_id', '=', objectId)
              .execute();
      return new Set(rows.map((r) => r.project_id));
    }
    if (type === 'qos_policy') return qosPolicyUsers(tx, objectId);
    if (type === 'network') {
      const rows = await tx
        .selectFrom('ports')
        .select('project_id')
        .distinct()
        .where('network_id', '=', objectId)
        .execute();
      return new Set(rows.map((r) => r.project_id));
    }
    const rows = await tx
      .selectFrom('ports')
      .select(['project_id', 'doc'])
      .where('doc', 'like', `%${objectId}%`)
      .execute();
    const projects = new Set<string>();
    for (const r of rows) {
      const groups = (JSON.parse(r.doc) as { security_groups?: string[] }).security_groups ?? [];
      if (groups.includes(objectId)) projects.add(r.project_id);
    }
    return projects;
  }
}
