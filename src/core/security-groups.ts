/**
 * Security groups: who sees them (owner, admin, RBAC `access_as_shared`), the project's
 * `default` group (made on first listing, as Neutron does), the egress rules every new group
 * starts with, and what blocks a change (ports using the group, the reserved name `default`).
 */
import { randomUUID } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { SecurityGroupCreate, SecurityGroupUpdate } from '../model/security-group.js';
import {
  deleteResource,
  fromRow,
  getResource,
  insertResource,
  listResources,
  type Stored,
  updateResource,
} from '../store/resources.js';
import type { Database, ResourceRow } from '../store/schema.js';
import { now, type Store, type Tx } from '../store/store.js';
import { type Context, owns, requireWriter, targetProject } from './context.js';
import { ensureDefaultSecurityGroup, initialRules, insertRules } from './default-security-group.js';
import {
  PolicyNotAuthorized,
  RevisionNumberConstraintFailed,
  SecurityGroupCannotRemoveDefault,
  SecurityGroupCannotUpdateDefault,
  SecurityGroupDefaultAlreadyExists,
  SecurityGroupInUse,
  SecurityGroupNotFound,
} from './errors.js';
import { enforce } from './quotas.js';
import type { ListHint, ResourceService, View } from './resource.js';
import type { Settings } from './settings.js';
import { sharedWith } from './sharing.js';

const DEFAULT_NAME = 'default';
const ROW = ['id', 'project_id', 'revision_number', 'created_at', 'updated_at', 'doc'] as const;

/** A rule as the API shows it (rules made with their group carry no tags in the store). */
export function ruleView(rule: Stored): View {
  return { ...rule, tags: rule.tags ?? [] };
}

/**
 * Bumps a group's revision because its rules changed (Neutron's `revises_on_change`). On
 * PostgreSQL the row lock also serialises concurrent rule changes of one group, which keeps
 * the duplicate-rule check sound. False when the group no longer exists.
 */
export async function reviseGroup(tx: Tx, groupId: string): Promise<boolean> {
  const row = await tx
    .updateTable('security_groups')
    .set((eb) => ({ revision_number: eb('revision_number', '+', 1), updated_at: now() }))
    .where('id', '=', groupId)
    .returning('project_id')
    .executeTakeFirst();
  if (row)
    tx.changed({
      resource: 'security_groups',
      resource_id: groupId,
      op: 'update',
      project_id: row.project_id,
    });
  return row !== undefined;
}

export class SecurityGroups implements ResourceService<SecurityGroupCreate, SecurityGroupUpdate> {
  readonly table = 'security_groups' as const;
  /** Run in the delete's transaction, after the group's row is gone (network logs naming it go). */
  readonly onDelete: ((tx: Tx, group: Stored) => Promise<void>)[] = [];
  readonly #store: Store;
  readonly #settings: Settings;

  constructor(store: Store, settings: Settings) {
    this.#store = store;
    this.#settings = settings;
  }

  /**
   * Makes sure the project a listing is about has its `default` group: the caller's, or for
   * admins the one a `project_id` filter names (as Neutron's get_security_groups does).
   */
  async ensureDefault(ctx: Context, hint: ListHint): Promise<void> {
    const named = ctx.isAdmin ? (hint.filters.project_id ?? hint.filters.tenant_id)?.[0] : undefined;
    const project = named ?? ctx.projectId;
    if (project === null) return;
    const known = await this.#store.db
      .selectFrom('default_security_groups')
      .select('project_id')
      .where('project_id', '=', project)
      .executeTakeFirst();
    if (!known)
      await this.#store.retrying(() =>
        this.#store.transaction((tx) => ensureDefaultSecurityGroup(tx, project)),
      );
  }

  /** Groups as `ctx` sees them: their rules, and `shared` when RBAC shares them with the viewer. */
  async #views(ctx: Context, rows: Stored[]): Promise<View[]> {
    if (rows.length === 0) return [];
    const ids = rows.map((r) => r.id);
    const db = this.#store.db;
    const rules = await listResources(db, 'security_group_rules', {
      column: 'security_group_id',
      values: ids,
    });
    const byGroup = new Map<string, View[]>();
    for (const rule of rules) {
      const group = String(rule.security_group_id);
      byGroup.set(group, [...(byGroup.get(group) ?? []), ruleView(rule)]);
    }
    const shared = await sharedWith(db, 'security_group', 'access_as_shared', ctx.projectId, ids);
    return rows.map((r) => ({
      ...r,
      shared: shared.has(r.id),
      security_group_rules: byGroup.get(r.id) ?? [],
    }));
  }

  async #visible(ctx: Context, rows: Stored[], db: Kysely<Database>): Promise<Stored[]> {
    if (ctx.isAdmin) return rows;
    const others = rows.filter((r) => r.project_id !== ctx.projectId).map((r) => r.id);
    const shared = await sharedWith(db, 'security_group', 'access_as_shared', ctx.projectId, others);
    return rows.filter((r) => r.project_id === ctx.projectId || shared.has(r.id));
  }

  async list(ctx: Context, hint: ListHint): Promise<View[]> {
    await this.ensureDefault(ctx, hint);
    const ids = hint.filters.id;
    const rows = await listResources(
      this.#store.db,
      'security_groups',
      ids ? { column: 'id', values: ids } : undefined,
    );
    return this.#views(ctx, await this.#visible(ctx, rows, this.#store.db));
  }

  /** The stored group if `ctx` may see it, else SecurityGroupNotFound (never 403). */
  async get(ctx: Context, id: string, db: Kysely<Database> = this.#store.db): Promise<Stored> {
    const row = await getResource(db, 'security_groups', id);
    if (!row || (await this.#visible(ctx, [row], db)).length === 0) throw SecurityGroupNotFound({ id });
    return row;
  }

  /** The group if `ctx` may change it: visible (else 404) and owned (else 403). */
  async owned(ctx: Context, id: string, action: string, db: Kysely<Database>): Promise<Stored> {
    const row = await this.get(ctx, id, db);
    if (!owns(ctx, row.project_id)) throw PolicyNotAuthorized({ action });
    return row;
  }

  async show(ctx: Context, id: string): Promise<View> {
    return (await this.#views(ctx, [await this.get(ctx, id)]))[0];
  }

  async create(ctx: Context, bodies: SecurityGroupCreate[]): Promise<View[]> {
    requireWriter(ctx, 'create_security_group');
    for (const body of bodies) if (isDefaultName(body.name)) throw SecurityGroupDefaultAlreadyExists();
    const quotas = this.#settings.quotas;
    // A first group of a project also makes its default group, which concurrent requests race for.
    const rows = await this.#store.retrying(() =>
      this.#store.transaction(async (tx) => {
        const out: Stored[] = [];
        for (const body of bodies) {
          const project = targetProject(ctx, body, 'create_security_group');
          await ensureDefaultSecurityGroup(tx, project);
          const id = randomUUID();
          const rules = initialRules(project, id, false);
          await enforce(tx, quotas, project, 'security_group', 1);
          await enforce(tx, quotas, project, 'security_group_rule', rules.length);
          out.push(
            await insertResource(tx, 'security_groups', {
              id,
              project_id: project,
              name: body.name ?? '',
              description: body.description ?? '',
              stateful: body.stateful ?? true,
              tags: body.tags ?? [],
            }),
          );
          await insertRules(tx, rules);
        }
        return out;
      }),
    );
    return this.#views(ctx, rows);
  }

  async update(ctx: Context, id: string, body: SecurityGroupUpdate, ifRevision?: number): Promise<View> {
    requireWriter(ctx, 'update_security_group');
    if (isDefaultName(body.name)) throw SecurityGroupDefaultAlreadyExists();
    const row = await this.#store.transaction(async (tx) => {
      const current = await this.owned(ctx, id, 'update_security_group', tx);
      if (current.name === DEFAULT_NAME && body.name !== undefined) throw SecurityGroupCannotUpdateDefault();
      if (body.stateful !== undefined && body.stateful !== current.stateful && (await this.#inUse(tx, id))) {
        throw SecurityGroupInUse({ id });
      }
      return updateResource(tx, 'security_groups', current, { ...current, ...body }, {}, ifRevision);
    });
    return (await this.#views(ctx, [row]))[0];
  }

  /**
   * Deletes the group, its rules, and (as Neutron's foreign key cascades) other groups' rules
   * whose remote group it was. The group row goes first: on PostgreSQL that waits for rule
   * creates holding its lock, so no rule is left behind without its group.
   */
  async remove(ctx: Context, id: string, ifRevision?: number): Promise<void> {
    requireWriter(ctx, 'delete_security_group');
    await this.#store.transaction(async (tx) => {
      const current = await this.owned(ctx, id, 'delete_security_group', tx);
      if (ifRevision !== undefined && ifRevision !== current.revision_number) {
        throw RevisionNumberConstraintFailed({ expected: ifRevision, current: current.revision_number });
      }
      if (await this.#inUse(tx, id)) throw SecurityGroupInUse({ id });
      if (current.name === DEFAULT_NAME && !ctx.isAdmin) throw SecurityGroupCannotRemoveDefault();
      await deleteResource(tx, 'security_groups', current);
      for (const hook of this.onDelete) await hook(tx, current);
      const rules = await tx
        .selectFrom('security_group_rules')
        .select(ROW)
        .where((eb) =>
          eb.or([eb('security_group_id', '=', id), eb('doc', 'like', `%"remote_group_id":"${id}"%`)]),
        )
        .execute();
      const touched = new Set<string>();
      for (const row of rules) {
        const rule = fromRow(row as ResourceRow);
        await deleteResource(tx, 'security_group_rules', rule);
        if (rule.security_group_id !== id) touched.add(String(rule.security_group_id));
      }
      for (const group of touched) await reviseGroup(tx, group);
      await tx.deleteFrom('default_security_groups').where('security_group_id', '=', id).execute();
      await tx
        .deleteFrom('rbac_policies')
        .where('object_type', '=', 'security_group')
        .where('object_id', '=', id)
        .execute();
    });
  }

  /** Does a port use the group? Port docs list theirs in `security_groups` (ids are UUIDs, safe in LIKE). */
  async #inUse(tx: Tx, id: string): Promise<boolean> {
    const ports = await tx.selectFrom('ports').select('doc').where('doc', 'like', `%"${id}"%`).execute();
    return ports.some((p) => ((JSON.parse(p.doc).security_groups ?? []) as string[]).includes(id));
  }
}

/** Neutron reserves the name `default` (any case) for the group it makes itself. */
function isDefaultName(name: string | undefined): boolean {
  return name?.toLowerCase() === DEFAULT_NAME;
}
