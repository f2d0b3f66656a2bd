/**
 * One log line per request, written when the response is sent (Fastify's own two lines, "incoming
 * request" and "request completed", are turned off): method, URL and route, status, duration, the
 * caller's user and project, the request id (also sent as `X-Openstack-Request-Id`, as Neutron
 * does, so a client's error can be found in the log) and, on 4xx/5xx, the NeutronError type.
 *
 * The line of a successful write (POST/PUT/PATCH/DELETE) is also the audit trail: it names the
 * resource type and id (`audit`, `resource`, `resource_id`). The agents' own traffic (heartbeats,
 * syncs, status reports) and health checks and scrapes are logged at `debug` unless they fail, so
 * an idle deployment is silent at `info`.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { contextOf } from './auth.js';

const SEEN = Symbol('neutrino.request-log');

interface Seen {
  /** The caller, when the route authenticated one itself (the identity API). */
  user?: string;
  project?: string | null;
  /** The NeutronError (or Keystone error) type of a failed request. */
  error?: string;
  /** The ids a create answered with. */
  created?: string[];
}

function seen(req: FastifyRequest): Seen {
  const holder = req as unknown as Record<symbol, Seen | undefined>;
  holder[SEEN] ??= {};
  return holder[SEEN];
}

/** Names the caller of a request the networking API's authentication does not see (identity routes). */
export function noteCaller(req: FastifyRequest, user: string, project: string | null | undefined): void {
  Object.assign(seen(req), { user, project: project ?? null });
}

/** Routes that only agents and monitors call: at `debug` while they succeed. */
const QUIET = /^\/(healthz|metrics)$|^\/neutrino\/v1\/hosts\//;
/** Writes that change no resource: no audit. */
const NOT_AUDITED = /^\/identity\/v3\/auth\/|^\/neutrino\/v1\/hosts\/|^\/neutrino\/v1\/trace/;
const WRITES = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/** `security-group-rules` → `security_group_rule`, `rbac-policies` → `rbac_policy`. */
function singular(collection: string): string {
  const name = collection.replace(/-/g, '_');
  if (name.endsWith('ies')) return `${name.slice(0, -3)}y`;
  return name.endsWith('s') ? name.slice(0, -1) : name;
}

export interface Audit {
  audit: 'create' | 'update' | 'delete';
  resource: string;
  resource_id?: string | string[];
  /** What of the resource a sub-path changed, e.g. `add_router_interface`, `tags/blue`. */
  action?: string;
}

/**
 * What a successful write did, from its route and URL: the first path parameter is the resource's
 * id (the segment before it its collection), the rest of the path the action; a create's ids come
 * from its answer.
 */
export function auditOf(
  method: string,
  route: string,
  url: string,
  created: string[] = [],
): Audit | undefined {
  if (!WRITES.has(method) || NOT_AUDITED.test(route)) return undefined;
  const pattern = route.split('/');
  const path = url.split('?')[0].split('/');
  const param = pattern.findIndex((s) => s.startsWith(':'));
  if (param < 0) {
    if (method !== 'POST') return { audit: 'update', resource: singular(pattern.at(-1) ?? '') };
    const ids = created.length === 1 ? created[0] : created;
    return { audit: 'create', resource: singular(pattern.at(-1) ?? ''), resource_id: ids };
  }
  const rest = path.slice(param + 1).join('/');
  return {
    audit:
      method === 'DELETE' && rest === '' ? 'delete' : method === 'POST' && rest === '' ? 'create' : 'update',
    resource: singular(pattern[param - 1] ?? ''),
    resource_id: decodeURIComponent(path[param] ?? ''),
    ...(rest !== '' ? { action: decodeURIComponent(rest) } : {}),
  };
}

/** The ids in a create's answer: `{"network": {"id"…}}` or `{"networks": [{"id"…}…]}`. */
function createdIds(payload: string): string[] {
  try {
    const body = JSON.parse(payload) as Record<string, unknown>;
    const top = Object.values(body)[0];
    const items = Array.isArray(top) ? top : [top];
    return items.flatMap((item) => {
      const id = (item as { id?: unknown } | null)?.id;
      return typeof id === 'string' ? [id] : [];
    });
  } catch {
    return [];
  }
}

/** The type of a NeutronError body, or the title of a Keystone error body. */
function errorType(payload: string): string | undefined {
  try {
    const body = JSON.parse(payload) as {
      NeutronError?: { type?: unknown };
      error?: { title?: unknown };
    };
    const type = body.NeutronError?.type ?? body.error?.title;
    return typeof type === 'string' ? type : undefined;
  } catch {
    return undefined;
  }
}

export function registerRequestLog(app: FastifyInstance): void {
  app.addHook('onRequest', async (req, reply) => {
    reply.header('X-Openstack-Request-Id', req.id);
  });
  app.addHook('onSend', async (req, reply, payload) => {
    if (typeof payload !== 'string') return payload;
    const status = reply.statusCode;
    if (status >= 400) seen(req).error = errorType(payload);
    else if (req.method === 'POST' && status < 300 && !NOT_AUDITED.test(req.routeOptions.url ?? ''))
      seen(req).created = createdIds(payload);
    return payload;
  });
  app.addHook('onResponse', async (req, reply) => {
    const route = req.routeOptions.url ?? 'unmatched';
    const status = reply.statusCode;
    const noted = seen(req);
    let user = noted.user;
    let project = noted.project;
    if (user === undefined) {
      try {
        const ctx = contextOf(req);
        user = ctx.userId;
        project = ctx.projectId;
      } catch {
        // not authenticated (a public route, or a 401)
      }
    }
    const audit = status < 300 ? auditOf(req.method, route, req.url, noted.created) : undefined;
    // The request id is on every line of the request already (Fastify's `reqId`).
    const fields = {
      method: req.method,
      url: req.url,
      route,
      status,
      ms: Math.round(reply.elapsedTime * 10) / 10,
      ...(user !== undefined ? { user, project: project ?? null } : {}),
      ...(noted.error !== undefined ? { error: noted.error } : {}),
      ...audit,
    };
    const level = status >= 500 ? 'error' : status < 400 && QUIET.test(route) ? 'debug' : 'info';
    req.log[level](fields, `${req.method} ${req.url} ${status}`);
  });
}
