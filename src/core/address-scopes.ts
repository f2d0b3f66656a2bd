/**
 * Address scopes (Neutron's `address-scope`): a family's address space, owned by a project and
 * shared by the `shared` flag (admins only) or an RBAC `access_as_shared` policy. Subnet pools
 * join a scope (see subnet-pools.ts); a scope some pool names cannot be deleted, and a shared
 * scope cannot be unshared. Routers route between subnets of one scope without NAT.
 */
import { randomUUID } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { AddressScopeCreate, AddressScopeUpdate } from '../model/address-scope.js';
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
  AddressScopeInUse,
  AddressScopeNotFound,
  AddressScopeUpdateError,
  PolicyNotAuthorized,
  RevisionNumberConstraintFailed,
} from './errors.js';
import type { ListHint, ResourceService, View } from './resource.js';
import { sharedWith } from './sharing.js';

export class AddressScopes implements ResourceService<AddressScopeCreate, AddressScopeUpdate> {
  readonly table = 'address_scopes' as const;
  readonly #store: Store;

  constructor(store: Store) {
    this.#store = store;
  }

  /** Neutron's attributes only: address scopes have no standard attributes. */
  #view(row: Stored, sharedToCaller: boolean): View {
    const { id, name, project_id, ip_version } = row;
    return {
      id,
      name,
      project_id,
      tenant_id: project_id,
      shared: row.shared === true || sharedToCaller,
      ip_version,
    };
  }

  /** Of `rows`, those `ctx` may see, with whether an RBAC policy shares each with it. */
  async #visible(ctx: Context, rows: Stored[], db: Kysely<Database>): Promise<View[]> {
    const ids = rows.map((r) => r.id);
    const rbac = ids.length
      ? await sharedWith(db, 'address_scope', 'access_as_shared', ctx.projectId, ids)
      : new Set();
    return rows
      .filter((r) => owns(ctx, r.project_id) || r.shared === true || rbac.has(r.id))
      .map((r) => this.#view(r, rbac.has(r.id)));
  }

  async list(ctx: Context, hint: ListHint): Promise<View[]> {
    const ids = hint.filters.id;
    const rows = await listResources(
      this.#store.db,
      'address_scopes',
      ids ? { column: 'id', values: ids } : undefined,
    );
    return this.#visible(ctx, rows, this.#store.db);
  }

  /** The scope as `ctx` sees it (with `shared` per viewer), else AddressScopeNotFound. */
  async get(ctx: Context, id: string, db: Kysely<Database> = this.#store.db): Promise<Stored> {
    const row = await getResource(db, 'address_scopes', id);
    const [view] = row ? await this.#visible(ctx, [row], db) : [];
    if (!row || !view) throw AddressScopeNotFound({ address_scope_id: id });
    return { ...row, shared: view.shared };
  }

  async show(ctx: Context, id: string): Promise<View> {
    return this.#view(await this.get(ctx, id), false);
  }

  async #owned(ctx: Context, id: string, action: string, tx: Tx): Promise<Stored> {
    requireWriter(ctx, action);
    const row = await this.get(ctx, id, tx);
    if (!owns(ctx, row.project_id)) throw PolicyNotAuthorized({ action });
    return (await getResource(tx, 'address_scopes', id)) as Stored;
  }

  async create(ctx: Context, bodies: AddressScopeCreate[]): Promise<View[]> {
    requireWriter(ctx, 'create_address_scope');
    if (bodies.some((b) => b.shared)) requireAdmin(ctx, 'create_address_scope:shared');
    const projects = bodies.map((body) => targetProject(ctx, body, 'create_address_scope'));
    const rows = await this.#store.transaction(async (tx) => {
      const out: Stored[] = [];
      for (const [i, body] of bodies.entries())
        out.push(
          await insertResource(tx, 'address_scopes', {
            id: randomUUID(),
            project_id: projects[i],
            name: body.name ?? '',
            shared: body.shared ?? false,
            ip_version: body.ip_version,
          }),
        );
      return out;
    });
    return rows.map((r) => this.#view(r, false));
  }

  async update(ctx: Context, id: string, body: AddressScopeUpdate, ifRevision?: number): Promise<View> {
    if (body.shared !== undefined) requireAdmin(ctx, 'update_address_scope:shared');
    const row = await this.#store.transaction(async (tx) => {
      const current = await this.#owned(ctx, id, 'update_address_scope', tx);
      if (current.shared === true && body.shared === false) {
        throw AddressScopeUpdateError({
          address_scope_id: id,
          reason: "Shared address scope can't be unshared",
        });
      }
      return updateResource(tx, 'address_scopes', current, { ...current, ...body }, {}, ifRevision);
    });
    return this.#view(row, false);
  }

  async remove(ctx: Context, id: string, ifRevision?: number): Promise<void> {
    await this.#store.transaction(async (tx) => {
      const current = await this.#owned(ctx, id, 'delete_address_scope', tx);
      if (ifRevision !== undefined && ifRevision !== current.revision_number) {
        throw RevisionNumberConstraintFailed({ expected: ifRevision, current: current.revision_number });
      }
      if (this.#store.dialect === 'postgres') {
        // A pool joining the scope concurrently reads it FOR SHARE: one of the two waits.
        await tx.selectFrom('address_scopes').select('id').where('id', '=', id).forUpdate().execute();
      }
      const pool = await tx
        .selectFrom('subnetpools')
        .select('id')
        .where('address_scope_id', '=', id)
        .executeTakeFirst();
      if (pool) throw AddressScopeInUse({ address_scope_id: id });
      await deleteResource(tx, 'address_scopes', current);
    });
  }
}
