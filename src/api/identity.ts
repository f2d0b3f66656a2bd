/**
 * Keystone v3 routes at /identity: version documents, tokens (issue, validate, revoke), the
 * catalog, and admin-only management of domains, projects, users, roles and assignments.
 */
import { randomUUID } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { Type } from 'typebox';
import { Forbidden, KeystoneBadRequest, KeystoneNotFound, Unauthorized } from '../identity/errors.js';
import { type Identity, REGION, type TokenInfo } from '../identity/identity.js';
import { publicBase } from './resource-routes.js';

const V3 = '/identity/v3';

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
const CATALOG_IDS = { identity: randomUUID().replace(/-/g, ''), network: randomUUID().replace(/-/g, '') };

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
  if (info.project || info.domain) {
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

  app.post(`${V3}/auth/tokens`, async (req, reply) => {
    const { token, info } = await identity.authenticate(req.body as Parameters<Identity['authenticate']>[0]);
    const nocatalog = 'nocatalog' in (req.query as object);
    reply.code(201).header('X-Subject-Token', token).header('Vary', 'X-Auth-Token');
    return tokenBody(info, baseOf(req), !nocatalog);
  });

  const subject = async (req: FastifyRequest): Promise<{ token: string; info: TokenInfo }> => {
    await caller(req);
    const token = req.headers['x-subject-token'];
    const info = typeof token === 'string' ? await identity.validate(token) : null;
    if (!info || typeof token !== 'string') throw KeystoneNotFound('token', 'subject');
    return { token, info };
  };
  app.get(`${V3}/auth/tokens`, async (req, reply) => {
    const { token, info } = await subject(req);
    reply.header('X-Subject-Token', token);
    return tokenBody(info, baseOf(req), !('nocatalog' in (req.query as object)));
  });
  app.head(`${V3}/auth/tokens`, async (req, reply) => {
    const { token } = await subject(req);
    return reply.code(200).header('X-Subject-Token', token).send();
  });
  app.delete(`${V3}/auth/tokens`, async (req, reply) => {
    const { token } = await subject(req);
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
    const q = req.query as { name?: string; domain_id?: string };
    return {
      projects: (await identity.listProjects(q)).map((p) => project(req, p)),
      links: collectionLinks(req),
    };
  });
  app.post(`${V3}/projects`, { schema: { body: ProjectBody } }, async (req, reply) => {
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
  app.patch(`${V3}/projects/:id`, { schema: { body: ProjectBody } }, async (req) => {
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
    const q = req.query as { name?: string; domain_id?: string };
    return { users: (await identity.listUsers(q)).map((u) => user(req, u)), links: collectionLinks(req) };
  });
  app.post(`${V3}/users`, { schema: { body: UserBody } }, async (req, reply) => {
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
  app.patch(`${V3}/users/:id`, { schema: { body: UserBody } }, async (req) => {
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
    const q = req.query as { name?: string };
    return { roles: (await identity.listRoles(q)).map((r) => role(req, r)), links: collectionLinks(req) };
  });
  app.post(`${V3}/roles`, { schema: { body: RoleBody } }, async (req, reply) => {
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

  // ---- role assignments: /{projects|domains}/{target}/users/{user}/roles[/{role}] ----
  for (const targetType of ['projects', 'domains'] as const) {
    const type = targetType === 'projects' ? 'project' : 'domain';
    const path = `${V3}/${targetType}/:target/users/:user/roles`;
    app.get(path, async (req) => {
      await admin(req);
      const { target, user: u } = req.params as { target: string; user: string };
      const grants = await identity.listGrants({ userId: u, targetId: target });
      const roles = await Promise.all(grants.map((g) => identity.getRole(g.role_id)));
      return { roles: roles.map((r) => role(req, r)), links: collectionLinks(req) };
    });
    app.put(`${path}/:role`, async (req, reply) => {
      await admin(req);
      const { target, user: u, role: r } = req.params as { target: string; user: string; role: string };
      await identity.grant(type, target, u, r);
      return reply.code(204).send();
    });
    const check = async (req: FastifyRequest, reply: FastifyReply) => {
      await admin(req);
      const { target, user: u, role: r } = req.params as { target: string; user: string; role: string };
      if (!(await identity.hasGrant(target, u, r))) throw KeystoneNotFound('role assignment', r);
      return reply.code(204).send();
    };
    app.head(`${path}/:role`, check);
    app.get(`${path}/:role`, check);
    app.delete(`${path}/:role`, async (req, reply) => {
      await admin(req);
      const { target, user: u, role: r } = req.params as { target: string; user: string; role: string };
      await identity.revokeGrant(target, u, r);
      return reply.code(204).send();
    });
  }

  app.get(`${V3}/role_assignments`, async (req) => {
    await admin(req);
    const q = req.query as Record<string, string | undefined>;
    const grants = await identity.listGrants({
      userId: q['user.id'],
      targetId: q['scope.project.id'] ?? q['scope.domain.id'],
      roleId: q['role.id'],
    });
    return {
      role_assignments: grants.map((g) => ({
        role: { id: g.role_id },
        user: { id: g.actor_id },
        scope:
          g.target_type === 'project' ? { project: { id: g.target_id } } : { domain: { id: g.target_id } },
        links: {
          assignment: `${baseOf(req)}${V3}/${g.target_type}s/${g.target_id}/users/${g.actor_id}/roles/${g.role_id}`,
        },
      })),
      links: collectionLinks(req),
    };
  });
}
