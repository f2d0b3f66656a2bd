/**
 * The state of one plan being computed and the moves every kind's planner makes with it: record
 * a create (returning the `{$ref}` later steps use), compare and record an update, match a file's
 * object with the owned one of its name, and look names up — the file's objects first, then what
 * the API already holds. Problems are collected with the file location they are about.
 */
import type { LoadedTopology, Path } from './load.js';
import type { Current, Id, Ref, Row, Step, StepKind } from './plan.js';
import type { Topology } from './schema.js';

type Body = Record<string, unknown>;

export const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);
export const sameSet = (a: unknown[], b: unknown[]) =>
  same(a.map((x) => JSON.stringify(x)).sort(), b.map((x) => JSON.stringify(x)).sort());
export const idText = (id: Id) => (typeof id === 'string' ? id : `ref:${id.$ref}`);
const show = (v: unknown) =>
  v === undefined
    ? 'unset'
    : typeof v === 'object' && v !== null && '$ref' in v
      ? `(new ${(v as Ref).$ref})`
      : JSON.stringify(v);

export const ownerTag = (name: string) => `neutrino-topology:${name}`;

/** A project's description with the ownership marker at its end (Keystone projects have no tags here). */
export function markedDescription(description: string | undefined, owner: string): string {
  return description ? `${description} [${owner}]` : `[${owner}]`;
}

export const isMarked = (row: Row, owner: string) => String(row.description ?? '').endsWith(`[${owner}]`);

export class Planner {
  readonly owner: string;
  readonly topology: Topology;
  readonly current: Current;
  readonly steps: Step[] = [];
  readonly problems: string[] = [];
  /** `kind:project/name` → the id of what exists, or the `{$ref}` of what a step creates. */
  readonly ids = new Map<string, Id>();
  /** Ids of owned objects the file still wants (everything else owned is deleted). */
  readonly kept = new Set<string>();
  readonly #locate: (path: Path) => string;

  constructor(loaded: Pick<LoadedTopology, 'topology' | 'name' | 'locate'>, current: Current) {
    this.owner = ownerTag(loaded.name);
    this.topology = loaded.topology;
    this.current = current;
    this.#locate = loaded.locate;
  }

  problem(path: Path, message: string): void {
    this.problems.push(`${this.#locate(path)}: ${path.join('.')}: ${message}`);
  }

  owned(row: Row): boolean {
    return Array.isArray(row.tags) && row.tags.includes(this.owner);
  }

  /** Records a create of `project/name`; later steps refer to it by the returned ref. */
  create(
    kind: StepKind,
    project: string,
    name: string,
    body: Body,
    options: { display?: string; extra?: Body } = {},
  ): Ref {
    const key = `${kind}:${project}/${name}`;
    for (const [k, v] of Object.entries(body)) if (v === undefined) delete body[k];
    this.steps.push({
      op: 'create',
      kind,
      name: options.display ?? (kind === 'project' ? name : `${project}/${name}`),
      key,
      body,
      ...(options.extra ? { extra: options.extra } : {}),
    });
    const ref = { $ref: key };
    this.ids.set(key, ref);
    return ref;
  }

  remove(kind: StepKind, name: string, id: string | undefined, more: Partial<Step> = {}): void {
    this.steps.push({ op: 'delete', kind, name, ...(id ? { id } : {}), ...more });
  }

  /**
   * The owned object of `rows` named `name` in the project (now kept), or undefined; a problem when
   * only objects the file does not own bear that name.
   */
  match(rows: Row[], kind: string, project: string, name: string, path: Path): Row | undefined {
    const projectId = this.projectId(project);
    if (typeof projectId !== 'string') return undefined;
    const named = rows.filter((r) => r.project_id === projectId && r.name === name);
    const mine = named.find((r) => this.owned(r));
    if (!mine && named.length > 0)
      this.problem(
        path,
        `${kind} ${name} exists in project ${project} and is not managed by this file (tag ${this.owner})`,
      );
    if (mine) this.kept.add(mine.id);
    return mine;
  }

  /** Compares the `wanted` attributes (undefined: don't care) with `row`'s; records an update if they differ. */
  update(kind: StepKind, name: string, row: Row, wanted: Body): void {
    const body: Body = {};
    const changes: string[] = [];
    for (const [key, value] of Object.entries(wanted)) {
      if (value === undefined || same(row[key], value)) continue;
      body[key] = value;
      changes.push(`${key}: ${show(row[key])} → ${show(value)}`);
    }
    if (changes.length > 0) this.steps.push({ op: 'update', kind, name, id: row.id, body, changes });
  }

  /** An attribute that cannot change once created. */
  fixed(path: Path, what: string, had: unknown, wanted: unknown): void {
    if (wanted !== undefined && !same(had, wanted))
      this.problem(path, `${what} cannot change (${show(had)} → ${show(wanted)}); destroy and apply again`);
  }

  projectId(project: string): Id {
    return this.ids.get(`project:${project}`)!;
  }

  projectName(id: unknown): string {
    return String(this.current.projects.find((p) => p.id === id)?.name ?? id);
  }

  /** A network by name: the project's in the file, another project's in the file, else an existing one. */
  network(project: string, name: string, path: Path): Id | undefined {
    const own = this.ids.get(`network:${project}/${name}`);
    if (own) return own;
    const others = Object.entries(this.topology.projects).filter(([, p]) => p.networks?.[name]);
    if (others.length === 1) return this.ids.get(`network:${others[0][0]}/${name}`);
    if (others.length > 1) {
      this.problem(
        path,
        `network ${name} is declared in several projects of the file: which one is ambiguous`,
      );
      return undefined;
    }
    const pid = this.projectId(project);
    const named = this.current.networks.filter((n) => n.name === name);
    const local = named.filter((n) => n.project_id === pid);
    const usable = local.length > 0 ? local : named.filter((n) => n.shared || n['router:external']);
    if (usable.length === 1) return usable[0].id;
    this.#notFound(
      path,
      'network',
      name,
      usable.length,
      `in the file, in project ${project}, or shared or external`,
    );
    return undefined;
  }

  subnet(project: string, name: string, path: Path): Id | undefined {
    const own = this.ids.get(`subnet:${project}/${name}`);
    if (own) return own;
    const pid = this.projectId(project);
    const found = this.current.subnets.filter((s) => s.name === name && s.project_id === pid);
    if (found.length === 1) return found[0].id;
    this.#notFound(path, 'subnet', name, found.length, `in project ${project} of the file or the API`);
    return undefined;
  }

  /** A security group of the project: the file's, an existing one, or (lazily) the project's `default`. */
  group(project: string, name: string, path: Path): Id | undefined {
    const own = this.ids.get(`security_group:${project}/${name}`);
    if (own) return own;
    const pid = this.projectId(project);
    const found = this.current.securityGroups.filter((g) => g.name === name && g.project_id === pid);
    if (found.length === 1) return found[0].id;
    if (name === 'default') return { $ref: 'default-security-group', project: pid };
    this.#notFound(
      path,
      'security group',
      name,
      found.length,
      `in project ${project} of the file or the API`,
    );
    return undefined;
  }

  #notFound(path: Path, kind: string, name: string, count: number, where: string): void {
    this.problem(
      path,
      count === 0 ? `no ${kind} ${name} ${where}` : `more than one ${kind} exists with the name '${name}'`,
    );
  }
}
