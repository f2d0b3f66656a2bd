/**
 * Quotas: per-project limits with Neutron's defaults, overridden per project in the store.
 * `enforce` runs inside the creating transaction and counts what the project already has;
 * `Quotas` is the quota API's rules (who may read and set limits, usage details, resets).
 */
import type { Kysely } from 'kysely';
import type { Database } from '../store/schema.js';
import type { Store, Tx } from '../store/store.js';
import { type Context, requireAdmin } from './context.js';
import { AdminRequired, HTTPBadRequest, OverQuota, TenantQuotaNotFound } from './errors.js';
import { DEFAULT_QUOTAS } from './settings.js';

/** Which table holds each quota-counted resource. */
const COUNTED: Record<string, keyof Database | undefined> = {
  network: 'networks',
  subnet: 'subnets',
  port: 'ports',
  router: 'routers',
  floatingip: 'floatingips',
  security_group: 'security_groups',
  security_group_rule: 'security_group_rules',
  rbac_policy: 'rbac_policies',
};

/** The resources a quota may be set for: Neutron's quota-tracked resources. */
export const QUOTA_RESOURCES = Object.keys(DEFAULT_QUOTAS);

export async function limitsFor(
  db: Kysely<Database>,
  defaults: Record<string, number>,
  projectId: string,
): Promise<Record<string, number>> {
  const rows = await db.selectFrom('quotas').selectAll().where('project_id', '=', projectId).execute();
  const limits = { ...defaults };
  for (const r of rows) limits[r.resource] = Number(r.hard_limit);
  return limits;
}

export async function usage(db: Kysely<Database>, resource: string, projectId: string): Promise<number> {
  const table = COUNTED[resource];
  if (!table) return 0;
  const row = await db
    .selectFrom(table as 'networks')
    .select((eb) => eb.fn.countAll().as('n'))
    .where('project_id', '=', projectId)
    .executeTakeFirst();
  return Number(row?.n ?? 0);
}

/** Throws OverQuota when adding `count` of `resource` would pass the project's limit (-1 = unlimited). */
export async function enforce(
  tx: Tx,
  defaults: Record<string, number>,
  projectId: string,
  resource: string,
  count = 1,
): Promise<void> {
  const row = await tx
    .selectFrom('quotas')
    .select('hard_limit')
    .where('project_id', '=', projectId)
    .where('resource', '=', resource)
    .executeTakeFirst();
  const limit = row ? Number(row.hard_limit) : (defaults[resource] ?? -1);
  if (limit < 0) return;
  const used = await usage(tx, resource, projectId);
  // Neutron formats the sorted list of resources over quota as Python prints it: ['network'].
  if (used + count > limit) throw OverQuota({ overs: `['${resource}']` });
}

export interface QuotaDetail {
  limit: number;
  used: number;
  reserved: number;
}

/**
 * A quota update: new limits by resource, plus Neutron's `check_limit` and `force` flags and
 * the project id some clients repeat in the body.
 */
export type QuotaChange = Record<string, unknown> & {
  check_limit?: boolean;
  force?: boolean;
  project_id?: string;
  tenant_id?: string;
};

export class Quotas {
  readonly #store: Store;
  readonly #defaults: Record<string, number>;

  constructor(store: Store, defaults: Record<string, number>) {
    this.#store = store;
    this.#defaults = Object.fromEntries(QUOTA_RESOURCES.map((r) => [r, defaults[r] ?? DEFAULT_QUOTAS[r]]));
  }

  /** Any project may read its own quotas; another project's need an admin. */
  #requireReader(ctx: Context, projectId: string): void {
    if (projectId !== ctx.projectId) requireAdmin(ctx, 'get_quota');
  }

  /** Projects with limits of their own (admin only), each with every limit. */
  async list(ctx: Context): Promise<Record<string, unknown>[]> {
    // Neutron's quota controller checks this itself, before any policy.
    if (!ctx.isAdmin) throw AdminRequired({ reason: 'Only admin can view or configure quota' });
    const rows = await this.#store.db.selectFrom('quotas').selectAll().orderBy('project_id').execute();
    const byProject = new Map<string, Record<string, unknown>>();
    for (const r of rows) {
      const entry = byProject.get(r.project_id) ?? {
        ...this.#defaults,
        project_id: r.project_id,
        tenant_id: r.project_id,
      };
      entry[r.resource] = Number(r.hard_limit);
      byProject.set(r.project_id, entry);
    }
    return [...byProject.values()];
  }

  async show(ctx: Context, projectId: string): Promise<Record<string, number>> {
    this.#requireReader(ctx, projectId);
    return this.#limits(this.#store.db, projectId);
  }

  async defaults(ctx: Context, projectId: string): Promise<Record<string, number>> {
    this.#requireReader(ctx, projectId);
    return { ...this.#defaults };
  }

  /** Limit, usage and reservations (always 0: creates count in their own transaction) per resource. */
  async details(ctx: Context, projectId: string): Promise<Record<string, QuotaDetail>> {
    if (projectId !== ctx.projectId && !ctx.isAdmin) {
      throw AdminRequired({ reason: 'Only admin is authorized to access quotas for another project' });
    }
    const db = this.#store.db;
    const limits = await this.#limits(db, projectId);
    const out: Record<string, QuotaDetail> = {};
    for (const resource of QUOTA_RESOURCES) {
      out[resource] = { limit: limits[resource], used: await usage(db, resource, projectId), reserved: 0 };
    }
    return out;
  }

  /**
   * Sets limits (admin only). With `check_limit`, a limit below what the project already uses
   * is refused; without it, it is accepted and only new creates are refused.
   */
  async update(ctx: Context, projectId: string, change: QuotaChange): Promise<Record<string, number>> {
    requireAdmin(ctx, 'update_quota');
    const { check_limit, force, project_id, tenant_id, ...limits } = change;
    for (const id of [project_id, tenant_id]) {
      if (id !== undefined && id !== projectId)
        throw HTTPBadRequest({ msg: `'project_id' ${String(id)} does not match the URL` });
    }
    return this.#store.transaction(async (tx) => {
      for (const [resource, value] of Object.entries(limits)) {
        const limit = Number(value);
        if (check_limit === true && force !== true && limit !== -1) {
          const used = await usage(tx, resource, projectId);
          if (used > limit) {
            throw HTTPBadRequest({
              msg: `Quota limit ${limit} for ${resource} must be greater than or equal to already used ${used}`,
            });
          }
        }
        await tx
          .insertInto('quotas')
          .values({ project_id: projectId, resource, hard_limit: limit })
          .onConflict((oc) => oc.columns(['project_id', 'resource']).doUpdateSet({ hard_limit: limit }))
          .execute();
      }
      return this.#limits(tx, projectId);
    });
  }

  /** Back to the defaults (admin only); TenantQuotaNotFound when the project had no limits of its own. */
  async reset(ctx: Context, projectId: string): Promise<void> {
    requireAdmin(ctx, 'delete_quota');
    const result = await this.#store.db
      .deleteFrom('quotas')
      .where('project_id', '=', projectId)
      .executeTakeFirst();
    if (Number(result.numDeletedRows) === 0) throw TenantQuotaNotFound({ tenant_id: projectId });
  }

  async #limits(db: Kysely<Database>, projectId: string): Promise<Record<string, number>> {
    const limits = await limitsFor(db, this.#defaults, projectId);
    return Object.fromEntries(QUOTA_RESOURCES.map((r) => [r, limits[r]]));
  }
}
