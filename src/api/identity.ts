/**
 * Keystone v3 routes at /identity: version documents, tokens (issue, validate, revoke), the
 * catalog, and admin-only management of domains, projects, users, roles and assignments.
 * Request bodies are checked against schemas and refused in Keystone's words; on repeated
 * query keys (`?name=a&name=b`) the first counts, as in Keystone.
 */
import { randomUUID } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest, FastifySchema } from 'fastify';
import { type TSchema, Type } from 'typebox';
import {
  Forbidden,
  ForbiddenAction,
  KeystoneBadRequest,
  KeystoneError,
  KeystoneNotFound,
  Unauthorized,
} from '../identity/errors.js';
import { type AuthRequest, type Identity, REGION, SYSTEM_ALL, type TokenInfo } from '../identity/identity.js';
import { noteCaller } from './request-log.js';
import { publicBase } from './resource-routes.js';

const V3 = '/identity/v3';

interface AjvError {
  keyword: string;
  instancePath: string;
  params: Record<string, unknown>;
  message?: string;
}

/** A value as Keystone's (Python's) messages print it; passwords never. */
function pyRepr(v: unknown): string {
  if (typeof v === 'string') return `'${v}'`;
  if (v === null || v === undefined) return 'None';
  if (typeof v === 'boolean') return v ? 'True' : 'False';
  if (Array.isArray(v)) return `[${v.map(pyRepr).join(', ')}]`;
  if (typeof v === 'object')
    return `{${Object.entries(v)
      .map(([k, x]) => `'${k}': ${k === 'password' ? "'***'" : pyRepr(x)}`)
      .join(', ')}}`;
  return String(v);
}

/**
 * Keystone's SchemaValidationError text for the first (deepest) schema violation: "Invalid input
 * for field 'identity/methods': 1 is not of type 'array'". `root` is the part of the body that
 * Keystone validates (`auth` for tokens), left out of field paths.
 */
export function keystoneValidationMessage(errors: AjvError[], body: unknown, root = ''): string {
  const e = errors
    .filter((x) => x.keyword !== 'anyOf')
    .sort((a, b) => b.instancePath.split('/').length - a.instancePath.split('/').length)[0];
  if (!e) return 'Invalid input';
  const segments = e.instancePath
    .split('/')
    .slice(1)
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
  let value: unknown = body;
  for (const s of segments) value = (value as Record<string, unknown> | undefined)?.[s];
  const secret = segments.at(-1) === 'password';
  const shown = secret ? 'The value' : pyRepr(value);
  let reason: string;
  if (e.keyword === 'required') reason = `'${String(e.params.missingProperty)}' is a required property`;
  else if (e.keyword === 'additionalProperties')
    reason = `Additional properties are not allowed ('${String(e.params.additionalProperty)}' was unexpected)`;
  else if (e.keyword === 'type') reason = `${shown} is not of type '${String(e.params.type)}'`;
  else if (e.keyword === 'minLength' || e.keyword === 'minItems') reason = `${shown} is too short`;
  else if (e.keyword === 'maxLength' || e.keyword === 'maxItems') reason = `${shown} is too long`;
  else reason = `${shown} ${e.message ?? 'is not valid'}`;
  const field = (root && segments[0] === root ? segments.slice(1) : segments).join('/');
  return field ? `Invalid input for field '${field}': ${reason}` : reason;
}

/** Route options that check the body against `schema` and refuse it with Keystone's 400. */
function keystoneBody(body: TSchema, root = '') {
  return {
    schema: { body } as FastifySchema,
    attachValidation: true,
    preHandler: async (req: FastifyRequest) => {
      const errors = (req as FastifyRequest & { validationError?: { validation?: AjvError[] } })
        .validationError?.validation;
      if (errors) throw KeystoneBadRequest(keystoneValidationMessage(errors, req.body, root));
    },
  };
}

/** The first value of a query parameter given once or more. */
function first(query: unknown, key: string): string | undefined {
  const v = (query as Record<string, unknown> | undefined)?.[key];
  const one = Array.isArray(v) ? v[0] : v;
  return typeof one === 'string' ? one : undefined;
}

const IdOrName = Type.Object({ id: Type.Optional(Type.String()), name: Type.Optional(Type.String()) });

/**
 * POST /v3/auth/tokens, typed as Keystone's `token_issue` schema: ids, names and passwords are
 * strings. Like Keystone's, the objects stay open (other methods and scopes add members).
 */
const AuthBody = Type.Object({
  auth: Type.Object({
    identity: Type.Object({
      methods: Type.Array(Type.String()),
      password: Type.Optional(
        Type.Object({
          user: Type.Optional(
            Type.Object({
              id: Type.Optional(Type.String()),
              name: Type.Optional(Type.String()),
              password: Type.Optional(Type.String()),
              domain: Type.Optional(IdOrName),
            }),
          ),
        }),
      ),
      token: Type.Optional(Type.Object({ id: Type.String() })),
    }),
    scope: Type.Optional(
      Type.Union([
        Type.String(),
        Type.Object({
          project: Type.Optional(
            Type.Object({
              id: Type.Optional(Type.String()),
              name: Type.Optional(Type.String()),
              domain: Type.Optional(IdOrName),
            }),
          ),
          domain: Type.Optional(IdOrName),
          system: Type.Optional(Type.Object({ all: Type.Optional(Type.Boolean()) })),
        }),
      ]),
    ),
  }),
});

function versionDoc(base: string) {
  return {
    id: 'v3.14',
    status: 'stable',
    updated: '2020-04-07T00:00:00Z',
    links: [{ rel: 'self', href: `${base}${V3}/` }],
    'media-types': [{ base: 'application/json', type: 'application/vnd.openstack.identity-v3+json' }],
  };
}

/** Stable ids for the catalog entries, so clients see the same ids on every token. */
const CATALOG_IDS = {
  identity: randomUUID().replace(/-/g, ''),
  network: randomUUID().replace(/-/g, ''),
  loadBalancer: randomUUID().replace(/-/g, ''),
};

export function catalog(base: string) {
  const entry = (type: string, name: string, id: string, url: string) => ({
    endpoints: ['public', 'internal', 'admin'].map((iface, i) => ({
      id: `${id.slice(0, 30)}${i}${iface[0]}`,
      interface: iface,
      region_id: REGION,
      region: REGION,
      url,
    })),
    id,
    type,
    name,
  });
  return [
    entry('identity', 'keystone', CATALOG_IDS.identity, `${base}${V3}/`),
    entry('network', 'neutron', CATALOG_IDS.network, base),
    entry('load-balancer', 'octavia', CATALOG_IDS.loadBalancer, `${base}/load-balancer`),
  ];
}

function tokenBody(info: TokenInfo, base: string, withCatalog: boolean) {
  const token: Record<string, unknown> = {
    methods: info.methods,
    user: { ...info.user, password_expires_at: null },
    audit_ids: [info.audit_id],
    expires_at: info.expires_at,
    issued_at: info.issued_at,
  };
  if (info.project) {
    token.project = info.project;
    token.is_domain = false;
  }
  if (info.domain) token.domain = info.domain;
  if (info.system) token.system = { all: true };
  if (info.project || info.domain || info.system) {
    token.roles = info.roles;
    if (withCatalog) token.catalog = catalog(base);
  }
  return { token };
}

const bool = (v: number) => v === 1;

export function registerIdentity(app: FastifyInstance, identity: Identity, publicUrl?: string) {
  const baseOf = (req: FastifyRequest) => publicUrl ?? publicBase(req);

  /** The caller's token, validated, or 401. */
  const caller = async (req: FastifyRequest): Promise<TokenInfo> => {
    const token = req.headers['x-auth-token'];
    const info = typeof token === 'string' ? await identity.validate(token) : null;
    if (!info) throw Unauthorized();
    noteCaller(req, info.user.id, info.project?.id);
    return info;
  };
  const admin = async (req: FastifyRequest): Promise<TokenInfo> => {
    const info = await caller(req);
    if (!info.roles.some((r) => r.name === 'admin')) throw Forbidden();
    return info;
  };
  const self = (req: FastifyRequest, kind: string, id: string) => ({
    self: `${baseOf(req)}${V3}/${kind}/${id}`,
  });

  const project = (req: FastifyRequest, p: Awaited<ReturnType<Identity['getProject']>>) => ({
    id: p.id,
    name: p.name,
    domain_id: p.domain_id,
    description: p.description,
    enabled: bool(p.enabled),
    is_domain: bool(p.is_domain),
    parent_id: p.domain_id,
    tags: [],
    options: {},
    links: self(req, 'projects', p.id),
  });
  const user = (req: FastifyRequest, u: Awaited<ReturnType<Identity['getUser']>>) => ({
    id: u.id,
    name: u.name,
    domain_id: u.domain_id,
    enabled: bool(u.enabled),
    default_project_id: u.default_project_id ?? undefined,
    description: u.description,
    password_expires_at: null,
    options: {},
    links: self(req, 'users', u.id),
  });
  const role = (req: FastifyRequest, r: { id: string; name: string; domain_id: string | null }) => ({
    id: r.id,
    name: r.name,
    domain_id: r.domain_id,
    description: null,
    options: {},
    links: self(req, 'roles', r.id),
  });
  const domain = (
    req: FastifyRequest,
    d: { id: string; name: string; enabled: number; description: string },
  ) => ({
    id: d.id,
    name: d.name,
    enabled: bool(d.enabled),
    description: d.description,
    tags: [],
    options: {},
    links: self(req, 'domains', d.id),
  });
  const collectionLinks = (req: FastifyRequest) => ({
    self: `${baseOf(req)}${req.url.split('?')[0]}`,
    previous: null,
    next: null,
  });

  app.get('/identity', async (req, reply) => {
    reply.code(300);
    return { versions: { values: [versionDoc(baseOf(req))] } };
  });
  app.get(V3, async (req) => ({ version: versionDoc(baseOf(req)) }));

  app.post(`${V3}/auth/tokens`, keystoneBody(AuthBody, 'auth'), async (req, reply) => {
    const body = req.body as AuthRequest;
    let issued: Awaited<ReturnType<Identity['authenticate']>>;
    try {
      issued = await identity.authenticate(body, req.ip);
    } catch (err) {
      if (err instanceof KeystoneError && err.status === 401) {
        const u = body.auth.identity.password?.user;
        req.log.warn({ user: u?.id ?? u?.name, address: req.ip }, 'authentication failed');
      }
      const retryAfter = (err as { retryAfterSeconds?: number }).retryAfterSeconds;
      if (retryAfter !== undefined) reply.header('Retry-After', String(retryAfter));
      throw err;
    }
    const nocatalog = 'nocatalog' in (req.query as object);
    reply.code(201).header('X-Subject-Token', issued.token).header('Vary', 'X-Auth-Token');
    return tokenBody(issued.info, baseOf(req), !nocatalog);
  });

  /**
   * The token named by X-Subject-Token, for a caller Keystone's policy lets see it: an admin,
   * a system reader (not for revoking), or the token's own user; anyone else gets 403.
   */
  const subject = async (
    req: FastifyRequest,
    action: 'check_token' | 'validate_token' | 'revoke_token',
  ): Promise<{ token: string; info: TokenInfo }> => {
    const me = await caller(req);
    const token = req.headers['x-subject-token'];
    const info = typeof token === 'string' ? await identity.validate(token) : null;
    if (!info || typeof token !== 'string') throw KeystoneNotFound('token', 'subject');
    const isAdmin = me.roles.some((r) => r.name === 'admin');
    const systemReader = me.system && me.roles.some((r) => r.name === 'reader') && action !== 'revoke_token';
    if (!isAdmin && !systemReader && me.user.id !== info.user.id) throw ForbiddenAction(`identity:${action}`);
    return { token, info };
  };
  app.get(`${V3}/auth/tokens`, async (req, reply) => {
    const { token, info } = await subject(req, 'validate_token');
    reply.header('X-Subject-Token', token);
    return tokenBody(info, baseOf(req), !('nocatalog' in (req.query as object)));
  });
  app.head(`${V3}/auth/tokens`, async (req, reply) => {
    const { token } = await subject(req, 'check_token');
    return reply.code(200).header('X-Subject-Token', token).send();
  });
  app.delete(`${V3}/auth/tokens`, async (req, reply) => {
    const { token } = await subject(req, 'revoke_token');
    await identity.revoke(token);
    return reply.code(204).send();
  });
  app.get(`${V3}/auth/catalog`, async (req) => {
    await caller(req);
    return { catalog: catalog(baseOf(req)), links: collectionLinks(req) };
  });
  app.get(`${V3}/auth/projects`, async (req) => {
    const info = await caller(req);
    return {
      projects: (await identity.userProjects(info.user.id)).map((p) => project(req, p)),
      links: collectionLinks(req),
    };
  });

  // ---- domains ----
  app.get(`${V3}/domains`, async (req) => {
    await caller(req);
    return {
      domains: (await identity.listDomains()).map((d) => domain(req, d)),
      links: collectionLinks(req),
    };
  });
  app.get(`${V3}/domains/:id`, async (req) => {
    await caller(req);
    const { id } = req.params as { id: string };
    const d = (await identity.listDomains()).find((x) => x.id === id || x.name === id);
    if (!d) throw KeystoneNotFound('domain', id);
    return { domain: domain(req, d) };
  });
  const DomainBody = Type.Object(
    {
      domain: Type.Object(
        {
          name: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
          description: Type.Optional(Type.String()),
          enabled: Type.Optional(Type.Boolean()),
          tags: Type.Optional(Type.Array(Type.String())),
          options: Type.Optional(Type.Object({})),
        },
        { additionalProperties: false },
      ),
    },
    { required: ['domain'], additionalProperties: false },
  );
  app.patch(`${V3}/domains/:id`, keystoneBody(DomainBody), async (req) => {
    await admin(req);
    const { id } = req.params as { id: string };
    const { domain: d } = req.body as { domain: { name?: string; description?: string; enabled?: boolean } };
    return { domain: domain(req, await identity.updateDomain(id, d)) };
  });

  // ---- projects ----
  const ProjectBody = Type.Object(
    {
      project: Type.Object(
        {
          name: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
          domain_id: Type.Optional(Type.String()),
          description: Type.Optional(Type.String()),
          enabled: Type.Optional(Type.Boolean()),
          is_domain: Type.Optional(Type.Boolean()),
          parent_id: Type.Optional(Type.Union([Type.String(), Type.Null()])),
          tags: Type.Optional(Type.Array(Type.String())),
          options: Type.Optional(Type.Object({})),
        },
        { additionalProperties: false },
      ),
    },
    { required: ['project'], additionalProperties: false },
  );
  app.get(`${V3}/projects`, async (req) => {
    await admin(req);
    const q = { name: first(req.query, 'name'), domain_id: first(req.query, 'domain_id') };
    return {
      projects: (await identity.listProjects(q)).map((p) => project(req, p)),
      links: collectionLinks(req),
    };
  });
  app.post(`${V3}/projects`, keystoneBody(ProjectBody), async (req, reply) => {
    await admin(req);
    const { project: p } = req.body as {
      project: { name?: string; domain_id?: string; description?: string; enabled?: boolean };
    };
    if (!p.name) throw KeystoneBadRequest("'name' is a required property");
    const created = await identity.createProject({ ...p, name: p.name });
    reply.code(201);
    return { project: project(req, created) };
  });
  app.get(`${V3}/projects/:id`, async (req) => {
    const info = await caller(req);
    const { id } = req.params as { id: string };
    if (info.project?.id !== id && !info.roles.some((r) => r.name === 'admin')) throw Forbidden();
    return { project: project(req, await identity.getProject(id)) };
  });
  app.patch(`${V3}/projects/:id`, keystoneBody(ProjectBody), async (req) => {
    await admin(req);
    const { id } = req.params as { id: string };
    const { project: p } = req.body as {
      project: { name?: string; description?: string; enabled?: boolean };
    };
    return { project: project(req, await identity.updateProject(id, p)) };
  });
  app.delete(`${V3}/projects/:id`, async (req, reply) => {
    await admin(req);
    await identity.deleteProject((req.params as { id: string }).id);
    return reply.code(204).send();
  });

  // ---- users ----
  const UserBody = Type.Object(
    {
      user: Type.Object(
        {
          name: Type.Optional(Type.String({ minLength: 1, maxLength: 255 })),
          password: Type.Optional(Type.Union([Type.String(), Type.Null()])),
          domain_id: Type.Optional(Type.String()),
          default_project_id: Type.Optional(Type.Union([Type.String(), Type.Null()])),
          description: Type.Optional(Type.String()),
          email: Type.Optional(Type.String()),
          enabled: Type.Optional(Type.Boolean()),
          options: Type.Optional(Type.Object({})),
        },
        { additionalProperties: false },
      ),
    },
    { required: ['user'], additionalProperties: false },
  );
  type UserIn = {
    name?: string;
    password?: string | null;
    domain_id?: string;
    default_project_id?: string | null;
    description?: string;
    enabled?: boolean;
  };
  app.get(`${V3}/users`, async (req) => {
    await admin(req);
    const q = { name: first(req.query, 'name'), domain_id: first(req.query, 'domain_id') };
    return { users: (await identity.listUsers(q)).map((u) => user(req, u)), links: collectionLinks(req) };
  });
  app.post(`${V3}/users`, keystoneBody(UserBody), async (req, reply) => {
    await admin(req);
    const { user: u } = req.body as { user: UserIn };
    if (!u.name) throw KeystoneBadRequest("'name' is a required property");
    const created = await identity.createUser({
      name: u.name,
      password: u.password ?? undefined,
      domain_id: u.domain_id,
      default_project_id: u.default_project_id ?? undefined,
      description: u.description,
      enabled: u.enabled,
    });
    reply.code(201);
    return { user: user(req, created) };
  });
  const selfOrAdmin = async (req: FastifyRequest, id: string) => {
    const info = await caller(req);
    if (info.user.id !== id && !info.roles.some((r) => r.name === 'admin')) throw Forbidden();
  };
  app.get(`${V3}/users/:id`, async (req) => {
    const { id } = req.params as { id: string };
    await selfOrAdmin(req, id);
    return { user: user(req, await identity.getUser(id)) };
  });
  app.patch(`${V3}/users/:id`, keystoneBody(UserBody), async (req) => {
    await admin(req);
    const { id } = req.params as { id: string };
    const { user: u } = req.body as { user: UserIn };
    return { user: user(req, await identity.updateUser(id, { ...u, password: u.password ?? undefined })) };
  });
  app.delete(`${V3}/users/:id`, async (req, reply) => {
    await admin(req);
    await identity.deleteUser((req.params as { id: string }).id);
    return reply.code(204).send();
  });
  app.get(`${V3}/users/:id/projects`, async (req) => {
    const { id } = req.params as { id: string };
    await selfOrAdmin(req, id);
    return {
      projects: (await identity.userProjects(id)).map((p) => project(req, p)),
      links: collectionLinks(req),
    };
  });

  // ---- roles ----
  const RoleBody = Type.Object(
    {
      role: Type.Object(
        {
          name: Type.String({ minLength: 1, maxLength: 255 }),
          description: Type.Optional(Type.String()),
          domain_id: Type.Optional(Type.Null()),
          options: Type.Optional(Type.Object({})),
        },
        { additionalProperties: false },
      ),
    },
    { required: ['role'], additionalProperties: false },
  );
  app.get(`${V3}/roles`, async (req) => {
    await caller(req);
    const q = { name: first(req.query, 'name') };
    return { roles: (await identity.listRoles(q)).map((r) => role(req, r)), links: collectionLinks(req) };
  });
  app.post(`${V3}/roles`, keystoneBody(RoleBody), async (req, reply) => {
    await admin(req);
    const { role: r } = req.body as { role: { name: string } };
    reply.code(201);
    return { role: role(req, await identity.createRole(r)) };
  });
  app.get(`${V3}/roles/:id`, async (req) => {
    await caller(req);
    return { role: role(req, await identity.getRole((req.params as { id: string }).id)) };
  });
  app.delete(`${V3}/roles/:id`, async (req, reply) => {
    await admin(req);
    await identity.deleteRole((req.params as { id: string }).id);
    return reply.code(204).send();
  });

  // ---- role assignments: /{projects|domains}/{target}/users/{user}/roles[/{role}] and
  // /system/users/{user}/roles[/{role}] (the target is then `all`) ----
  const targetOf = (req: FastifyRequest) => (req.params as { target?: string }).target ?? SYSTEM_ALL;
  for (const [type, prefix] of [
    ['project', 'projects/:target'],
    ['domain', 'domains/:target'],
    ['system', 'system'],
  ] as const) {
    const path = `${V3}/${prefix}/users/:user/roles`;
    app.get(path, async (req) => {
      await admin(req);
      const { user: u } = req.params as { user: string };
      const grants = await identity.listGrants({ userId: u, targetType: type, targetId: targetOf(req) });
      const roles = await Promise.all(grants.map((g) => identity.getRole(g.role_id)));
      return { roles: roles.map((r) => role(req, r)), links: collectionLinks(req) };
    });
    app.put(`${path}/:role`, async (req, reply) => {
      await admin(req);
      const { user: u, role: r } = req.params as { user: string; role: string };
      await identity.grant(type, targetOf(req), u, r);
      return reply.code(204).send();
    });
    const check = async (req: FastifyRequest, reply: FastifyReply) => {
      await admin(req);
      const { user: u, role: r } = req.params as { user: string; role: string };
      if (!(await identity.hasGrant(targetOf(req), u, r))) throw KeystoneNotFound('role assignment', r);
      return reply.code(204).send();
    };
    app.head(`${path}/:role`, check);
    app.get(`${path}/:role`, check);
    app.delete(`${path}/:role`, async (req, reply) => {
      await admin(req);
      const { user: u, role: r } = req.params as { user: string; role: string };
      await identity.revokeGrant(type, targetOf(req), u, r);
      return reply.code(204).send();
    });
  }

  app.get(`${V3}/role_assignments`, async (req) => {
    await admin(req);
    const q = (key: string) => first(req.query, key);
    const system = q('scope.system') !== undefined;
    const grants = await identity.listGrants({
      userId: q('user.id'),
      targetType: system ? 'system' : undefined,
      targetId: q('scope.project.id') ?? q('scope.domain.id') ?? (system ? SYSTEM_ALL : undefined),
      roleId: q('role.id'),
    });
    const scopeOf = (g: { target_type: string; target_id: string }) =>
      g.target_type === 'system'
        ? { system: { all: true } }
        : g.target_type === 'project'
          ? { project: { id: g.target_id } }
          : { domain: { id: g.target_id } };
    const assignmentPath = (g: { target_type: string; target_id: string }) =>
      g.target_type === 'system' ? 'system' : `${g.target_type}s/${g.target_id}`;
    return {
      role_assignments: grants.map((g) => ({
        role: { id: g.role_id },
        user: { id: g.actor_id },
        scope: scopeOf(g),
        links: {
          assignment: `${baseOf(req)}${V3}/${assignmentPath(g)}/users/${g.actor_id}/roles/${g.role_id}`,
        },
      })),
      links: collectionLinks(req),
    };
  });
}
