/**
 * Neutron's list conventions over a collection of resources: attribute filters (a repeated key
 * is OR, different keys AND; which names and values are accepted is `filters.ts`'s), tag filters, `fields`, `sort_key`/`sort_dir`, and
 * `limit`/`marker`/`page_reverse` pagination with `<collection>_links`. Pure: data in, data out.
 */
import { HTTPBadRequest } from '../core/errors.js';

export type Query = Record<string, string | string[] | undefined>;
type Resource = Record<string, unknown> & { id: string };

const CONTROL = new Set(['fields', 'sort_key', 'sort_dir', 'limit', 'marker', 'page_reverse']);
const TAG_FILTERS = new Set(['tags', 'tags-any', 'not-tags', 'not-tags-any']);

/** Attribute filters: the query's keys that are neither control keys nor tag filters. */
export function attributeFilters(q: Query): Record<string, string[]> {
  const filters: Record<string, string[]> = {};
  for (const [k, v] of Object.entries(q)) {
    if (v !== undefined && !CONTROL.has(k) && !TAG_FILTERS.has(k)) filters[k] = values(v);
  }
  return filters;
}

/** Does the query only filter on attributes (no fields, sorting, paging or tag filters)? */
export function onlyFilters(q: Query): boolean {
  return Object.keys(q).every((k) => !CONTROL.has(k) && !TAG_FILTERS.has(k));
}

export interface Link {
  rel: 'next' | 'previous';
  href: string;
}

export interface ListResult {
  items: Record<string, unknown>[];
  links: Link[];
}

function values(v: string | string[] | undefined): string[] {
  if (v === undefined) return [];
  return Array.isArray(v) ? v : [v];
}

/**
 * Does an attribute value match one of a filter's values? Booleans as `true`/`1`/`false`/`0`,
 * null as ``/`None`/`null`, lists when an element matches (`key=value` looks into objects of a
 * list: `fixed_ips=ip_address=…`). The values are looked up in sets: a filter may repeat
 * thousands of times (`?id=…&id=…`), and testing each against each resource grew with their
 * product.
 */
function matcherOf(wanted: string[]): (actual: unknown) => boolean {
  const strings = new Set(wanted);
  const numbers = new Set(wanted.map(Number));
  const lower = new Set(wanted.map((w) => w.toLowerCase()));
  const truthy = lower.has('true') || lower.has('1');
  const falsy = lower.has('false') || lower.has('0');
  const nullish = strings.has('') || strings.has('None') || strings.has('null');
  const plain = wanted.filter((w) => w.indexOf('=') <= 0);
  const pairs = new Map<string, string[]>();
  for (const w of wanted) {
    const eq = w.indexOf('=');
    if (eq <= 0) continue;
    const values = pairs.get(w.slice(0, eq));
    if (values) values.push(w.slice(eq + 1));
    else pairs.set(w.slice(0, eq), [w.slice(eq + 1)]);
  }
  const byKey = [...pairs].map(([key, values]) => [key, matcherOf(values)] as const);
  const plainMatch = plain.length === wanted.length ? undefined : matcherOf(plain);
  const isObject = (a: unknown): a is Resource => typeof a === 'object' && a !== null;
  const one = (actual: unknown): boolean => {
    if (actual === null || actual === undefined) return nullish;
    if (typeof actual === 'boolean') return actual ? truthy : falsy;
    if (typeof actual === 'number') return numbers.has(actual);
    if (Array.isArray(actual)) {
      // `key=value` filters look into objects of a list (fixed_ips=ip_address=…).
      if (byKey.length > 0 && actual.some(isObject)) {
        const inObjects = actual.some((a) => isObject(a) && byKey.some(([key, match]) => match(a[key])));
        return inObjects || actual.some((a) => (plainMatch ?? one)(a));
      }
      return actual.some(one);
    }
    if (typeof actual === 'object') return false;
    return strings.has(String(actual));
  };
  return one;
}

/**
 * Neutron's port filter on addresses: `fixed_ips=ip_address=…`, `…=subnet_id=…` and
 * `…=ip_address_substr=…`; values of one key are alternatives, different keys must all be met,
 * each by some address of the port (as Neutron's query asks `fixed_ips.any(…)` per key).
 */
function fixedIpsMatcher(wanted: string[]): (actual: unknown) => boolean {
  const byKey = new Map<string, string[]>();
  for (const w of wanted) {
    const eq = w.indexOf('=');
    const key = eq < 0 ? w : w.slice(0, eq);
    byKey.set(key, [...(byKey.get(key) ?? []), eq < 0 ? '' : w.slice(eq + 1)]);
  }
  const test = (key: string, ip: Record<string, unknown>, value: string) =>
    key === 'ip_address_substr'
      ? String(ip.ip_address ?? '').includes(value)
      : key === 'ip_address' || key === 'subnet_id'
        ? ip[key] === value
        : false;
  return (actual) => {
    const ips = (Array.isArray(actual) ? actual : []) as Record<string, unknown>[];
    return [...byKey].every(([key, vals]) => ips.some((ip) => vals.some((v) => test(key, ip, v))));
  };
}

/** `changed_since`: resources updated at or after the time (UTC when no zone is given). */
function changedSince(raw: string | undefined): (r: Resource) => boolean {
  const zoned = raw !== undefined && /(Z|[+-]\d\d:?\d\d)$/.test(raw) ? raw : `${raw}Z`;
  const since = Date.parse(zoned);
  return (r) => typeof r.updated_at === 'string' && Date.parse(r.updated_at) >= since;
}

function tagList(v: string | string[] | undefined): string[] {
  return values(v)
    .flatMap((s) => s.split(','))
    .filter((s) => s !== '');
}

export function parseLimit(q: Query): number | undefined {
  const raw = values(q.limit)[0];
  if (raw === undefined || raw === '') return undefined;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0)
    throw HTTPBadRequest({ msg: `Limit must be an integer 0 or greater and not '${raw}'` });
  return n === 0 ? undefined : n;
}

function isTrue(v: string | undefined): boolean {
  return v !== undefined && ['true', '1', 'yes'].includes(v.toLowerCase());
}

function compare(a: unknown, b: unknown): number {
  if (a === b) return 0;
  if (a === null || a === undefined) return -1;
  if (b === null || b === undefined) return 1;
  if (typeof a === 'number' && typeof b === 'number') return a - b;
  if (typeof a === 'boolean' && typeof b === 'boolean') return Number(a) - Number(b);
  const sa = typeof a === 'object' ? JSON.stringify(a) : String(a);
  const sb = typeof b === 'object' ? JSON.stringify(b) : String(b);
  return sa < sb ? -1 : sa > sb ? 1 : 0;
}

/**
 * Applies a query to the resources the caller may see. `attributes` are the names a filter or
 * sort key may use; anything else is a 400, as with Neutron's filter-validation.
 */
export function applyListQuery(
  all: Resource[],
  q: Query,
  attributes: ReadonlySet<string>,
  linkBase: string,
): ListResult {
  let items = all;
  for (const [key, raw] of Object.entries(q)) {
    if (CONTROL.has(key) || TAG_FILTERS.has(key) || raw === undefined) continue;
    if (key === 'changed_since') {
      items = items.filter(changedSince(values(raw)[0]));
      continue;
    }
    if (!attributes.has(key)) {
      throw HTTPBadRequest({ msg: `['${key}'] is invalid attribute for filtering` });
    }
    const match = key === 'fixed_ips' ? fixedIpsMatcher(values(raw)) : matcherOf(values(raw));
    items = items.filter((r) => match(r[key]));
  }
  const tags = (r: Resource) => (Array.isArray(r.tags) ? (r.tags as string[]) : []);
  const all_ = tagList(q.tags);
  const any = tagList(q['tags-any']);
  const notAll = tagList(q['not-tags']);
  const notAny = tagList(q['not-tags-any']);
  if (all_.length) items = items.filter((r) => all_.every((t) => tags(r).includes(t)));
  if (any.length) items = items.filter((r) => any.some((t) => tags(r).includes(t)));
  if (notAll.length) items = items.filter((r) => !notAll.every((t) => tags(r).includes(t)));
  if (notAny.length) items = items.filter((r) => !notAny.some((t) => tags(r).includes(t)));

  const keys = values(q.sort_key);
  const dirs = values(q.sort_dir);
  if (dirs.length > keys.length)
    throw HTTPBadRequest({ msg: 'The number of sort_keys and sort_dirs must be same' });
  for (const k of keys) {
    if (!attributes.has(k)) throw HTTPBadRequest({ msg: `${k} is an invalid attribute for sort_keys` });
  }
  for (const d of dirs) {
    if (d !== 'asc' && d !== 'desc')
      throw HTTPBadRequest({
        msg: `${d} is an invalid value for sort_dirs, valid values are 'asc' and 'desc'`,
      });
  }
  const limit = parseLimit(q);
  const marker = values(q.marker)[0];
  const reverse = isTrue(values(q.page_reverse)[0]);
  const order: [string, number][] = keys.map((k, i) => [k, dirs[i] === 'desc' ? -1 : 1]);
  if ((limit !== undefined || marker !== undefined) && !keys.includes('id')) order.push(['id', 1]);
  if (order.length) {
    items = [...items].sort((a, b) => {
      for (const [k, dir] of order) {
        const c = compare(a[k], b[k]);
        if (c !== 0) return c * dir;
      }
      return 0;
    });
  }

  const links: Link[] = [];
  if (limit !== undefined || marker !== undefined) {
    if (reverse) items = [...items].reverse();
    let start = 0;
    if (marker !== undefined) {
      const at = items.findIndex((r) => r.id === marker);
      start = at < 0 ? items.length : at + 1;
    }
    const page = limit === undefined ? items.slice(start) : items.slice(start, start + limit);
    const more = limit !== undefined && start + limit < items.length;
    items = reverse ? [...page].reverse() : page;
    const base = linkQuery(q);
    const first = items[0];
    const last = items[items.length - 1];
    const nextMarker = reverse ? first : last;
    const prevMarker = reverse ? last : first;
    if (more && nextMarker) {
      links.push({ rel: 'next', href: href(linkBase, base, limit, nextMarker.id, reverse) });
    }
    if (marker !== undefined && prevMarker) {
      links.push({ rel: 'previous', href: href(linkBase, base, limit, prevMarker.id, !reverse) });
    }
    if (reverse) links.reverse();
  }

  const fields = values(q.fields).filter((f) => f !== '');
  const out = fields.length ? items.map((r) => selectFields(r, fields)) : items;
  return { items: out, links };
}

function linkQuery(q: Query): [string, string][] {
  const pairs: [string, string][] = [];
  for (const [k, v] of Object.entries(q)) {
    if (k === 'limit' || k === 'marker' || k === 'page_reverse') continue;
    for (const s of values(v)) pairs.push([k, s]);
  }
  return pairs;
}

function href(
  base: string,
  pairs: [string, string][],
  limit: number | undefined,
  marker: string,
  reverse: boolean,
) {
  const params = new URLSearchParams(pairs);
  if (limit !== undefined) params.set('limit', String(limit));
  params.set('marker', marker);
  if (reverse) params.set('page_reverse', 'True');
  return `${base}?${params.toString()}`;
}

/** Keeps only the named attributes (Neutron's `fields=`); unknown names are ignored. */
export function selectFields(r: Record<string, unknown>, fields: string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const f of fields) if (f in r) out[f] = r[f];
  return out;
}
