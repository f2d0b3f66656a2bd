/**
 * The shape every Neutron resource's rules take (networks, subnets, ports, …): what the API
 * layer calls. Implementations decide visibility, defaults and constraints; the API only
 * translates HTTP. `list` returns every resource the caller may see, as full views; the API
 * applies filters, sorting, paging and field selection on top (`listRaw` lets a service
 * answer large plain lists without building objects).
 */
import type { ResourceTable } from '../store/schema.js';
import type { Context } from './context.js';

export type View = Record<string, unknown> & { id: string; project_id: string };

export interface ListHint {
  /** Equality filters from the query string that an implementation may push into SQL. */
  filters: Record<string, string[]>;
}

export interface ResourceService<Create = unknown, Update = unknown> {
  /** The table whose rows hold this resource (for the generic tag operations). */
  readonly table: ResourceTable;
  list(ctx: Context, hint: ListHint): Promise<View[]>;
  /**
   * Optional fast path for lists with attribute filters only: `list`'s views as JSON strings,
   * or undefined when the filters need `list` (one the SQL does not answer exactly).
   */
  listRaw?(ctx: Context, hint: ListHint): Promise<string[] | undefined>;
  show(ctx: Context, id: string): Promise<View>;
  /** All-or-nothing: one transaction for the whole list. */
  create(ctx: Context, bodies: Create[]): Promise<View[]>;
  update(ctx: Context, id: string, body: Update, ifRevision?: number): Promise<View>;
  remove(ctx: Context, id: string, ifRevision?: number): Promise<void>;
}
