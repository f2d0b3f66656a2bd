/**
 * Metering (Neutron's `metering`, `metering_source_and_destination_fields`): labels, their rules,
 * and the counts agents report. As in Neutron's default policy, only admins read or write labels
 * and rules (Neutron shows the counts only through notifications to its telemetry service;
 * Neutrino serves them at `GET /neutrino/v1/metering-labels/{id}/stats`, to admins too). A label
 * applies to every router of its project, or of every project when shared. A rule selects by a
 * remote prefix, or by a source and/or destination prefix, never both ways; two rules of a label
 * with the same direction and `excluded` whose remote prefixes overlap conflict
 * (MeteringLabelRuleOverlaps). Counts stay monotonic when an agent's counters restart from zero
 * (a rebuilt or moved router namespace): what the old counter had counted is kept as a base.
 */
import { randomUUID } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { SnapshotMeteringLabel } from '../model/host-snapshot.js';
import type {
  MeteringCount,
  MeteringLabelCreate,
  MeteringLabelRuleCreate,
  MeteringLabelStats,
  Unchangeable,
} from '../model/metering.js';
import {
  deleteResource,
  getResource,
  insertResource,
  listResources,
  type Stored,
} from '../store/resources.js';
import type { Database } from '../store/schema.js';
import { now, type Store } from '../store/store.js';
import { type Context, requireAdmin, targetProject } from './context.js';
import {
  HTTPBadRequest,
  InvalidInput,
  MeteringLabelNotFound,
  MeteringLabelRuleNotFound,
  MeteringLabelRuleOverlaps,
  RevisionNumberConstraintFailed,
} from './errors.js';
import { cidrsOverlap, normalizeCidr } from './ipam.js';
import { toBoolean } from './qos.js';
import type { ListHint, ResourceService, View } from './resource.js';

const LABEL_KEYS = ['name', 'description', 'shared'];
const RULE_KEYS = [
  'metering_label_id',
  'direction',
  'excluded',
  'remote_ip_prefix',
  'source_ip_prefix',
  'destination_ip_prefix',
];

function viewOf(row: Stored, keys: string[]): View {
  const view: View = { id: row.id, project_id: row.project_id, tenant_id: row.project_id };
  for (const k of keys) view[k] = row[k];
  return view;
}

/** Neutron's policy hides metering from non-admins: their lists are empty, their gets 404. */
async function adminRows(
  db: Kysely<Database>,
  table: 'metering_labels' | 'metering_label_rules',
  ctx: Context,
  hint: ListHint,
): Promise<Stored[]> {
  if (!ctx.isAdmin) return [];
  const ids = hint.filters.id;
  return listResources(db, table, ids ? { column: 'id', values: ids } : undefined);
}

export class MeteringLabels implements ResourceService<MeteringLabelCreate, Unchangeable> {
  readonly table = 'metering_labels' as const;
  readonly #store: Store;

  constructor(store: Store) {
    this.#store = store;
  }

  async list(ctx: Context, hint: ListHint): Promise<View[]> {
    return (await adminRows(this.#store.db, this.table, ctx, hint)).map((r) => viewOf(r, LABEL_KEYS));
  }

  async get(ctx: Context, id: string, db: Kysely<Database> = this.#store.db): Promise<Stored> {
    const row = ctx.isAdmin ? await getResource(db, this.table, id) : undefined;
    if (!row) throw MeteringLabelNotFound({ label_id: id });
    return row;
  }

  async show(ctx: Context, id: string): Promise<View> {
    return viewOf(await this.get(ctx, id), LABEL_KEYS);
  }

  async create(ctx: Context, bodies: MeteringLabelCreate[]): Promise<View[]> {
    requireAdmin(ctx, 'create_metering_label');
    const projects = bodies.map((b) => targetProject(ctx, b, 'create_metering_label'));
    const rows = await this.#store.transaction(async (tx) => {
      const out: Stored[] = [];
      for (const [i, body] of bodies.entries())
        out.push(
          await insertResource(tx, this.table, {
            id: randomUUID(),
            project_id: projects[i],
            name: body.name ?? '',
            description: body.description ?? '',
            shared: body.shared === undefined ? false : toBoolean(body.shared),
          }),
        );
      return out;
    });
    return rows.map((r) => viewOf(r, LABEL_KEYS));
  }

  async update(ctx: Context, id: string, _body: Unchangeable, ifRevision?: number): Promise<View> {
    requireAdmin(ctx, 'update_metering_label');
    const row = await this.#store.transaction(async (tx) => {
      const current = await this.get(ctx, id, tx);
      if (ifRevision !== undefined && ifRevision !== current.revision_number)
        throw RevisionNumberConstraintFailed({ expected: ifRevision, current: current.revision_number });
      return current;
    });
    return viewOf(row, LABEL_KEYS);
  }

  async remove(ctx: Context, id: string, ifRevision?: number): Promise<void> {
    await this.get(ctx, id);
    requireAdmin(ctx, 'delete_metering_label');
    await this.#store.transaction(async (tx) => {
      const current = await this.get(ctx, id, tx);
      if (ifRevision !== undefined && ifRevision !== current.revision_number)
        throw RevisionNumberConstraintFailed({ expected: ifRevision, current: current.revision_number });
      const rules = await listResources(tx, 'metering_label_rules', {
        column: 'metering_label_id',
        values: [id],
      });
      for (const rule of rules) await deleteResource(tx, 'metering_label_rules', rule);
      await tx.deleteFrom('metering_counts').where('label_id', '=', id).execute();
      await deleteResource(tx, this.table, current);
    });
  }

  /** What the label's counters have counted in all, and on each router (admins only, as the label). */
  async stats(ctx: Context, id: string): Promise<MeteringLabelStats> {
    await this.get(ctx, id);
    const rows = await this.#store.db
      .selectFrom('metering_counts')
      .selectAll()
      .where('label_id', '=', id)
      .orderBy('router_id')
      .orderBy('host')
      .execute();
    const routers = rows.map((r) => ({
      router_id: r.router_id,
      host: r.host,
      bytes: Number(r.base_bytes) + Number(r.bytes),
      packets: Number(r.base_packets) + Number(r.packets),
      updated_at: r.updated_at,
    }));
    const sum = (k: 'bytes' | 'packets') => routers.reduce((n, r) => n + r[k], 0);
    return { label_id: id, bytes: sum('bytes'), packets: sum('packets'), routers };
  }

  /**
   * Records a host's counts (cumulative per label and router since its counter was made). A
   * value below the last one means a new counter: the old one's total joins the base.
   */
  async report(ctx: Context, host: string, counts: MeteringCount[]): Promise<void> {
    requireAdmin(ctx, 'report_metering');
    if (counts.length === 0) return;
    await this.#store.transaction(async (tx) => {
      const labels = new Set(
        (
          await tx
            .selectFrom('metering_labels')
            .select('id')
            .where('id', 'in', [...new Set(counts.map((c) => c.label_id))])
            .execute()
        ).map((r) => r.id),
      );
      for (const c of counts) {
        if (!labels.has(c.label_id)) continue;
        const key = { label_id: c.label_id, router_id: c.router_id, host };
        const old = await tx
          .selectFrom('metering_counts')
          .selectAll()
          .where('label_id', '=', key.label_id)
          .where('router_id', '=', key.router_id)
          .where('host', '=', host)
          .executeTakeFirst();
        if (!old) {
          await tx
            .insertInto('metering_counts')
            .values({
              ...key,
              bytes: c.bytes,
              packets: c.packets,
              base_bytes: 0,
              base_packets: 0,
              updated_at: now(),
            })
            .execute();
          continue;
        }
        const reset = c.bytes < Number(old.bytes) || c.packets < Number(old.packets);
        if (!reset && c.bytes === Number(old.bytes) && c.packets === Number(old.packets)) continue;
        await tx
          .updateTable('metering_counts')
          .set({
            bytes: c.bytes,
            packets: c.packets,
            base_bytes: Number(old.base_bytes) + (reset ? Number(old.bytes) : 0),
            base_packets: Number(old.base_packets) + (reset ? Number(old.packets) : 0),
            updated_at: now(),
          })
          .where('label_id', '=', key.label_id)
          .where('router_id', '=', key.router_id)
          .where('host', '=', host)
          .execute();
      }
    });
  }
}

type RuleBody = MeteringLabelRuleCreate;

/** A prefix as neutron-lib's subnet validator accepts it (a network address), or null. */
function prefixOf(body: RuleBody, key: 'remote_ip_prefix' | 'source_ip_prefix' | 'destination_ip_prefix') {
  const raw = body[key];
  if (raw === undefined || raw === null) return null;
  const normal = normalizeCidr(raw);
  if (normal === null || normal !== raw.toLowerCase())
    throw InvalidInput({ error_message: `'${raw}' is not a valid IP subnet for ${key}` });
  return normal;
}

export class MeteringLabelRules implements ResourceService<MeteringLabelRuleCreate, Unchangeable> {
  readonly table = 'metering_label_rules' as const;
  readonly #store: Store;
  readonly #labels: MeteringLabels;

  constructor(store: Store, labels: MeteringLabels) {
    this.#store = store;
    this.#labels = labels;
  }

  async list(ctx: Context, hint: ListHint): Promise<View[]> {
    return (await adminRows(this.#store.db, this.table, ctx, hint)).map((r) => viewOf(r, RULE_KEYS));
  }

  async get(ctx: Context, id: string, db: Kysely<Database> = this.#store.db): Promise<Stored> {
    const row = ctx.isAdmin ? await getResource(db, this.table, id) : undefined;
    if (!row) throw MeteringLabelRuleNotFound({ rule_id: id });
    return row;
  }

  async show(ctx: Context, id: string): Promise<View> {
    return viewOf(await this.get(ctx, id), RULE_KEYS);
  }

  async create(ctx: Context, bodies: RuleBody[]): Promise<View[]> {
    requireAdmin(ctx, 'create_metering_label_rule');
    const rows = await this.#store.transaction(async (tx) => {
      const out: Stored[] = [];
      for (const body of bodies) {
        const remote = prefixOf(body, 'remote_ip_prefix');
        const source = prefixOf(body, 'source_ip_prefix');
        const destination = prefixOf(body, 'destination_ip_prefix');
        if (remote !== null && (source !== null || destination !== null))
          throw HTTPBadRequest({
            msg: "Cannot use 'remote-ip-prefix' in conjunction with 'source-ip-prefix' or 'destination-ip-prefix'.",
          });
        if (remote === null && source === null && destination === null)
          throw HTTPBadRequest({
            msg: "You must define at least one of the following parameters 'remote_ip_prefix', or 'source_ip_prefix' or 'destination_ip_prefix'.",
          });
        const label = await this.#labels.get(ctx, body.metering_label_id, tx);
        // The label's row lock orders concurrent rules of one label (the overlap check reads them).
        if (this.#store.dialect === 'postgres')
          await tx
            .selectFrom('metering_labels')
            .select('id')
            .where('id', '=', label.id)
            .forUpdate()
            .execute();
        const direction = body.direction ?? 'ingress';
        const excluded = body.excluded === undefined ? false : toBoolean(body.excluded);
        if (remote !== null) {
          const siblings = await listResources(tx, this.table, {
            column: 'metering_label_id',
            values: [label.id],
          });
          const clash = siblings.some(
            (r) =>
              r.direction === direction &&
              r.excluded === excluded &&
              typeof r.remote_ip_prefix === 'string' &&
              cidrsOverlap(r.remote_ip_prefix, remote),
          );
          if (clash) throw MeteringLabelRuleOverlaps({ remote_ip_prefix: remote });
        }
        const resource = {
          id: randomUUID(),
          project_id: label.project_id,
          metering_label_id: label.id,
          direction,
          excluded,
          remote_ip_prefix: remote,
          source_ip_prefix: source,
          destination_ip_prefix: destination,
        };
        out.push(await insertResource(tx, this.table, resource, { metering_label_id: label.id }));
      }
      return out;
    });
    return rows.map((r) => viewOf(r, RULE_KEYS));
  }

  async update(ctx: Context, id: string, _body: Unchangeable, ifRevision?: number): Promise<View> {
    requireAdmin(ctx, 'update_metering_label_rule');
    const current = await this.get(ctx, id);
    if (ifRevision !== undefined && ifRevision !== current.revision_number)
      throw RevisionNumberConstraintFailed({ expected: ifRevision, current: current.revision_number });
    return viewOf(current, RULE_KEYS);
  }

  async remove(ctx: Context, id: string, ifRevision?: number): Promise<void> {
    await this.get(ctx, id);
    requireAdmin(ctx, 'delete_metering_label_rule');
    await this.#store.transaction(async (tx) => {
      const current = await this.get(ctx, id, tx);
      if (ifRevision !== undefined && ifRevision !== current.revision_number)
        throw RevisionNumberConstraintFailed({ expected: ifRevision, current: current.revision_number });
      await deleteResource(tx, this.table, current);
    });
  }
}

/** A router's metering for its snapshot: the labels of its project and the shared ones, with their rules. */
export async function snapshotMetering(
  db: Kysely<Database>,
): Promise<(projectId: string) => SnapshotMeteringLabel[]> {
  const labels = await listResources(db, 'metering_labels');
  if (labels.length === 0) return () => [];
  const rules = await listResources(db, 'metering_label_rules');
  const byLabel = new Map<string, SnapshotMeteringLabel['rules']>();
  for (const r of rules.sort(
    (a, b) => a.created_at.localeCompare(b.created_at) || a.id.localeCompare(b.id),
  )) {
    const list = byLabel.get(String(r.metering_label_id)) ?? [];
    list.push({
      id: r.id,
      direction: r.direction === 'egress' ? 'egress' : 'ingress',
      excluded: r.excluded === true,
      remote_ip_prefix: (r.remote_ip_prefix as string | null) ?? null,
      source_ip_prefix: (r.source_ip_prefix as string | null) ?? null,
      destination_ip_prefix: (r.destination_ip_prefix as string | null) ?? null,
    });
    byLabel.set(String(r.metering_label_id), list);
  }
  const sorted = labels.sort((a, b) => a.id.localeCompare(b.id));
  return (projectId) =>
    sorted
      .filter((l) => l.shared === true || l.project_id === projectId)
      .map((l) => ({ id: l.id, rules: byLabel.get(l.id) ?? [] }));
}
