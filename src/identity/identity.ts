/**
 * The Keystone v3 subset: domains, projects, users, roles, role assignments and tokens.
 * Tokens are 256-bit random strings; only their SHA-256 is stored. A validated token becomes a
 * `Context` for the Neutron API.
 */
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import type { Context } from '../core/context.js';
import { isUniqueViolation, type Store } from '../store/store.js';
import { KeystoneBadRequest, KeystoneConflict, KeystoneNotFound, Unauthorized } from './errors.js';
import { hashPassword, verifyPassword } from './passwords.js';

export const DEFAULT_DOMAIN = { id: 'default', name: 'Default' };
export const REGION = 'RegionOne';

export interface Ref {
  id: string;
  name: string;
}

export interface TokenInfo {
  user: Ref & { domain: Ref };
  project: (Ref & { domain: Ref }) | null;
  domain: Ref | null;
  roles: Ref[];
  methods: string[];
  issued_at: string;
  expires_at: string;
  audit_id: string;
}

interface AuthRequest {
  auth?: {
    identity?: {
      methods?: string[];
      password?: {
        user?: { id?: string; name?: string; password?: string; domain?: { id?: string; name?: string } };
      };
      token?: { id?: string };
    };
    scope?: unknown;
  };
}

const hex = (s: string) => createHash('sha256').update(s).digest('hex');
const newId = () => randomUUID().replace(/-/g, '');

/** Keystone's timestamp format: microseconds and a Z. */
function keystoneTime(d: Date): string {
  return d.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

export class Identity {
  readonly #store: Store;
  readonly tokenLifetimeSeconds: number;

  constructor(store: Store, tokenLifetimeSeconds = 12 * 3600) {
    this.#store = store;
    this.tokenLifetimeSeconds = tokenLifetimeSeconds;
  }

  get #db() {
    return this.#store.db;
  }

  /**
   * First start: domain Default, project admin, user admin (role admin), roles member and
   * reader. Idempotent piece by piece, like `keystone-manage bootstrap`: what exists is kept (an
   * existing admin keeps its password), what is missing is created. Several servers starting
   * at once on one PostgreSQL may race here; the loser sees a unique violation and moves on.
   * Reports whether this call created the admin user.
   */
  async bootstrap(adminPassword: string): Promise<{ created: boolean }> {
    try {
      return await this.#store.transaction(async (tx) => {
        const domain = await tx
          .selectFrom('domains')
          .select('id')
          .where('id', '=', DEFAULT_DOMAIN.id)
          .executeTakeFirst();
        if (!domain) {
          await tx
            .insertInto('domains')
            .values({ ...DEFAULT_DOMAIN, enabled: 1, description: 'The default domain' })
            .execute();
        }
        let projectId = (
          await tx
            .selectFrom('projects')
            .select('id')
            .where('name', '=', 'admin')
            .where('domain_id', '=', DEFAULT_DOMAIN.id)
            .executeTakeFirst()
        )?.id;
        if (!projectId) {
          projectId = newId();
          await tx
            .insertInto('projects')
            .values({
              id: projectId,
              name: 'admin',
              domain_id: DEFAULT_DOMAIN.id,
              enabled: 1,
              description: 'Bootstrap project',
              is_domain: 0,
            })
            .execute();
        }
        const roleIds: Record<string, string> = {};
        for (const name of ['admin', 'member', 'reader']) {
          const role = await tx.selectFrom('roles').select('id').where('name', '=', name).executeTakeFirst();
          roleIds[name] = role?.id ?? newId();
          if (!role)
            await tx.insertInto('roles').values({ id: roleIds[name], name, domain_id: null }).execute();
        }
        const user = await tx
          .selectFrom('users')
          .select('id')
          .where('name', '=', 'admin')
          .where('domain_id', '=', DEFAULT_DOMAIN.id)
          .executeTakeFirst();
        if (user) return { created: false };
        const userId = newId();
        await tx
          .insertInto('users')
          .values({
            id: userId,
            name: 'admin',
            domain_id: DEFAULT_DOMAIN.id,
            enabled: 1,
            password_hash: await hashPassword(adminPassword),
            default_project_id: projectId,
            description: 'Bootstrap administrator',
          })
          .execute();
        await tx
          .insertInto('role_assignments')
          .values({ role_id: roleIds.admin, actor_id: userId, target_id: projectId, target_type: 'project' })
          .execute();
        return { created: true };
      });
    } catch (err) {
      if (isUniqueViolation(err)) return { created: false };
      throw err;
    }
  }

  async #domain(ref: { id?: string; name?: string } | undefined): Promise<Ref> {
    if (!ref || (ref.id === undefined && ref.name === undefined))
      throw KeystoneBadRequest('A domain id or name is required.');
    const q = this.#db.selectFrom('domains').select(['id', 'name']);
    const row = await (ref.id !== undefined
      ? q.where('id', '=', ref.id)
      : q.where('name', '=', ref.name!)
    ).executeTakeFirst();
    if (!row) throw Unauthorized();
    return row;
  }

  async #roles(userId: string, targetId: string): Promise<Ref[]> {
    return this.#db
      .selectFrom('role_assignments')
      .innerJoin('roles', 'roles.id', 'role_assignments.role_id')
      .select(['roles.id', 'roles.name'])
      .where('role_assignments.actor_id', '=', userId)
      .where('role_assignments.target_id', '=', targetId)
      .orderBy('roles.name')
      .execute();
  }

  /** `POST /v3/auth/tokens`: checks the identity, resolves the scope, issues a token. */
  async authenticate(req: AuthRequest): Promise<{ token: string; info: TokenInfo }> {
    const identity = req?.auth?.identity;
    const methods = identity?.methods;
    if (!Array.isArray(methods) || methods.length === 0)
      throw KeystoneBadRequest('Expecting to find identity in auth.');
    let user: {
      id: string;
      name: string;
      domain_id: string;
      enabled: number;
      default_project_id: string | null;
    };
    let auditId = randomBytes(16).toString('base64url');
    let parentExpiry: string | undefined;
    if (methods.includes('password')) {
      const u = identity?.password?.user;
      if (!u || typeof u.password !== 'string')
        throw KeystoneBadRequest('Expecting to find password in user.');
      let q = this.#db.selectFrom('users').selectAll();
      if (u.id !== undefined) q = q.where('id', '=', u.id);
      else if (u.name !== undefined)
        q = q.where('name', '=', u.name).where('domain_id', '=', (await this.#domain(u.domain)).id);
      else throw KeystoneBadRequest('Expecting to find id or name in user.');
      const row = await q.executeTakeFirst();
      if (!row || !(await verifyPassword(u.password, row.password_hash))) {
        throw Unauthorized('The request you have made requires authentication.');
      }
      user = row;
    } else if (methods.includes('token')) {
      const parent = identity?.token?.id ? await this.validate(identity.token.id) : null;
      if (!parent) throw Unauthorized();
      const row = await this.#db
        .selectFrom('users')
        .selectAll()
        .where('id', '=', parent.user.id)
        .executeTakeFirst();
      if (!row) throw Unauthorized();
      user = row;
      auditId = parent.audit_id;
      parentExpiry = parent.expires_at;
    } else {
      throw KeystoneBadRequest(`Unsupported authentication method: ${methods.join(',')}`);
    }
    if (!user.enabled) throw Unauthorized('The account is disabled for user: ' + user.id + '.');

    const scope = await this.#scope(req.auth?.scope, user.id, user.default_project_id);
    const issued = new Date();
    let expires = new Date(issued.getTime() + this.tokenLifetimeSeconds * 1000);
    if (parentExpiry && new Date(parentExpiry) < expires) expires = new Date(parentExpiry);
    const token = randomBytes(32).toString('base64url');
    let roles: Ref[] = [];
    if (scope.type !== 'unscoped') {
      roles = await this.#roles(user.id, scope.id!);
      if (roles.length === 0)
        throw Unauthorized(`User ${user.id} has no access to ${scope.type} ${scope.id}.`);
    }
    await this.#db
      .insertInto('tokens')
      .values({
        token_hash: hex(token),
        user_id: user.id,
        scope_type: scope.type,
        scope_id: scope.id ?? null,
        methods: methods.join(','),
        issued_at: keystoneTime(issued),
        expires_at: keystoneTime(expires),
        audit_id: auditId,
        revoked: 0,
      })
      .execute();
    const info = await this.validate(token);
    if (!info) throw Unauthorized();
    return { token, info };
  }

  async #scope(
    scope: unknown,
    userId: string,
    defaultProject: string | null,
  ): Promise<{ type: 'project' | 'domain' | 'unscoped'; id?: string }> {
    if (scope === 'unscoped') return { type: 'unscoped' };
    const s = scope as
      | {
          project?: { id?: string; name?: string; domain?: { id?: string; name?: string } };
          domain?: { id?: string; name?: string };
        }
      | undefined;
    if (s?.project) {
      let q = this.#db.selectFrom('projects').select(['id', 'enabled']);
      if (s.project.id !== undefined) q = q.where('id', '=', s.project.id);
      else if (s.project.name !== undefined)
        q = q
          .where('name', '=', s.project.name)
          .where('domain_id', '=', (await this.#domain(s.project.domain)).id);
      else throw KeystoneBadRequest('Expecting to find id or name in project.');
      const row = await q.executeTakeFirst();
      if (!row?.enabled) throw Unauthorized();
      return { type: 'project', id: row.id };
    }
    if (s?.domain) return { type: 'domain', id: (await this.#domain(s.domain)).id };
    if (s !== undefined && s !== null && typeof s === 'object' && 'system' in s) {
      throw KeystoneBadRequest('System scope is not supported; scope to a project.');
    }
    // As Keystone: the default project only when it is enabled and the user has a role on it,
    // otherwise an unscoped token (never a 401 for a stale default_project_id).
    if (defaultProject) {
      const row = await this.#db
        .selectFrom('projects')
        .select(['id', 'enabled'])
        .where('id', '=', defaultProject)
        .executeTakeFirst();
      if (row?.enabled && (await this.#roles(userId, row.id)).length > 0)
        return { type: 'project', id: row.id };
    }
    return { type: 'unscoped' };
  }

  /** The token's facts, or null when it is unknown, expired or revoked. */
  async validate(token: string): Promise<TokenInfo | null> {
    const row = await this.#db
      .selectFrom('tokens')
      .innerJoin('users', 'users.id', 'tokens.user_id')
      .innerJoin('domains', 'domains.id', 'users.domain_id')
      .select([
        'tokens.scope_type',
        'tokens.scope_id',
        'tokens.methods',
        'tokens.issued_at',
        'tokens.expires_at',
        'tokens.audit_id',
        'tokens.revoked',
        'users.id as user_id',
        'users.name as user_name',
        'users.enabled as user_enabled',
        'domains.id as domain_id',
        'domains.name as domain_name',
      ])
      .where('tokens.token_hash', '=', hex(token))
      .executeTakeFirst();
    if (!row || row.revoked || !row.user_enabled || new Date(row.expires_at) <= new Date()) return null;
    let project: TokenInfo['project'] = null;
    let domain: TokenInfo['domain'] = null;
    if (row.scope_type === 'project' && row.scope_id) {
      const p = await this.#db
        .selectFrom('projects')
        .innerJoin('domains', 'domains.id', 'projects.domain_id')
        .select([
          'projects.id',
          'projects.name',
          'projects.enabled',
          'domains.id as did',
          'domains.name as dname',
        ])
        .where('projects.id', '=', row.scope_id)
        .executeTakeFirst();
      if (!p?.enabled) return null;
      project = { id: p.id, name: p.name, domain: { id: p.did, name: p.dname } };
    } else if (row.scope_type === 'domain' && row.scope_id) {
      domain =
        (await this.#db
          .selectFrom('domains')
          .select(['id', 'name'])
          .where('id', '=', row.scope_id)
          .executeTakeFirst()) ?? null;
      if (!domain) return null;
    }
    const roles = row.scope_id ? await this.#roles(row.user_id, row.scope_id) : [];
    if (row.scope_id && roles.length === 0) return null;
    return {
      user: { id: row.user_id, name: row.user_name, domain: { id: row.domain_id, name: row.domain_name } },
      project,
      domain,
      roles,
      methods: row.methods.split(','),
      issued_at: row.issued_at,
      expires_at: row.expires_at,
      audit_id: row.audit_id,
    };
  }

  async revoke(token: string): Promise<boolean> {
    const r = await this.#db
      .updateTable('tokens')
      .set({ revoked: 1 })
      .where('token_hash', '=', hex(token))
      .where('revoked', '=', 0)
      .executeTakeFirst();
    return Number(r.numUpdatedRows) > 0;
  }

  /** Removes expired tokens (called periodically by the server). */
  async pruneTokens(): Promise<void> {
    await this.#db.deleteFrom('tokens').where('expires_at', '<', keystoneTime(new Date())).execute();
  }

  static context(info: TokenInfo): Context {
    const roles = info.roles.map((r) => r.name);
    return {
      userId: info.user.id,
      userName: info.user.name,
      projectId: info.project?.id ?? null,
      projectName: info.project?.name ?? null,
      roles,
      isAdmin: roles.includes('admin'),
    };
  }

  // ---- administration (admin only; checked by the routes) ----

  listDomains() {
    return this.#db.selectFrom('domains').selectAll().orderBy('name').execute();
  }

  listProjects(filter: { name?: string; domain_id?: string } = {}) {
    let q = this.#db.selectFrom('projects').selectAll();
    if (filter.name !== undefined) q = q.where('name', '=', filter.name);
    if (filter.domain_id !== undefined) q = q.where('domain_id', '=', filter.domain_id);
    return q.orderBy('name').execute();
  }

  /** Projects the user has any role on (for `GET /v3/users/{id}/projects`, `/auth/projects`). */
  async userProjects(userId: string) {
    return this.#db
      .selectFrom('projects')
      .selectAll('projects')
      .where(
        'id',
        'in',
        this.#db
          .selectFrom('role_assignments')
          .select('target_id')
          .where('actor_id', '=', userId)
          .where('target_type', '=', 'project'),
      )
      .orderBy('name')
      .execute();
  }

  async getProject(id: string) {
    const row = await this.#db.selectFrom('projects').selectAll().where('id', '=', id).executeTakeFirst();
    if (!row) throw KeystoneNotFound('project', id);
    return row;
  }

  async createProject(p: { name: string; domain_id?: string; description?: string; enabled?: boolean }) {
    const row = {
      id: newId(),
      name: p.name,
      domain_id: p.domain_id ?? DEFAULT_DOMAIN.id,
      description: p.description ?? '',
      enabled: p.enabled === false ? 0 : 1,
      is_domain: 0,
    };
    await this.#domainExists(row.domain_id);
    await this.#insert(
      () => this.#db.insertInto('projects').values(row).execute(),
      'project',
      'name',
      p.name,
    );
    return row;
  }

  async updateProject(id: string, p: { name?: string; description?: string; enabled?: boolean }) {
    const current = await this.getProject(id);
    const next = {
      name: p.name ?? current.name,
      description: p.description ?? current.description,
      enabled: p.enabled === undefined ? current.enabled : p.enabled ? 1 : 0,
    };
    await this.#insert(
      () => this.#db.updateTable('projects').set(next).where('id', '=', id).execute(),
      'project',
      'name',
      next.name,
    );
    return { ...current, ...next };
  }

  async deleteProject(id: string) {
    await this.getProject(id);
    await this.#store.transaction(async (tx) => {
      await tx.deleteFrom('role_assignments').where('target_id', '=', id).execute();
      await tx.deleteFrom('projects').where('id', '=', id).execute();
    });
  }

  listUsers(filter: { name?: string; domain_id?: string } = {}) {
    let q = this.#db
      .selectFrom('users')
      .select(['id', 'name', 'domain_id', 'enabled', 'default_project_id', 'description']);
    if (filter.name !== undefined) q = q.where('name', '=', filter.name);
    if (filter.domain_id !== undefined) q = q.where('domain_id', '=', filter.domain_id);
    return q.orderBy('name').execute();
  }

  async getUser(id: string) {
    const row = await this.#db
      .selectFrom('users')
      .select(['id', 'name', 'domain_id', 'enabled', 'default_project_id', 'description'])
      .where('id', '=', id)
      .executeTakeFirst();
    if (!row) throw KeystoneNotFound('user', id);
    return row;
  }

  async createUser(u: {
    name: string;
    password?: string;
    domain_id?: string;
    default_project_id?: string;
    description?: string;
    enabled?: boolean;
  }) {
    const row = {
      id: newId(),
      name: u.name,
      domain_id: u.domain_id ?? DEFAULT_DOMAIN.id,
      enabled: u.enabled === false ? 0 : 1,
      default_project_id: u.default_project_id ?? null,
      description: u.description ?? '',
    };
    await this.#domainExists(row.domain_id);
    if (row.default_project_id) await this.getProject(row.default_project_id);
    const password_hash = u.password === undefined ? '!' : await hashPassword(u.password);
    await this.#insert(
      () =>
        this.#db
          .insertInto('users')
          .values({ ...row, password_hash })
          .execute(),
      'user',
      'name',
      u.name,
    );
    return row;
  }

  async updateUser(
    id: string,
    u: {
      name?: string;
      password?: string;
      enabled?: boolean;
      default_project_id?: string | null;
      description?: string;
    },
  ) {
    const current = await this.getUser(id);
    const next: Record<string, unknown> = {};
    if (u.name !== undefined) next.name = u.name;
    if (u.description !== undefined) next.description = u.description;
    if (u.enabled !== undefined) next.enabled = u.enabled ? 1 : 0;
    if (u.default_project_id !== undefined) next.default_project_id = u.default_project_id;
    if (u.password !== undefined) next.password_hash = await hashPassword(u.password);
    if (Object.keys(next).length > 0) {
      await this.#insert(
        () => this.#db.updateTable('users').set(next).where('id', '=', id).execute(),
        'user',
        'name',
        String(u.name),
      );
    }
    // As Keystone: a new password ends every session that the old one opened.
    if (u.password !== undefined)
      await this.#db.updateTable('tokens').set({ revoked: 1 }).where('user_id', '=', id).execute();
    return this.getUser(current.id);
  }

  async deleteUser(id: string) {
    await this.getUser(id);
    await this.#store.transaction(async (tx) => {
      await tx.deleteFrom('role_assignments').where('actor_id', '=', id).execute();
      await tx.deleteFrom('tokens').where('user_id', '=', id).execute();
      await tx.deleteFrom('users').where('id', '=', id).execute();
    });
  }

  listRoles(filter: { name?: string } = {}) {
    let q = this.#db.selectFrom('roles').selectAll();
    if (filter.name !== undefined) q = q.where('name', '=', filter.name);
    return q.orderBy('name').execute();
  }

  async getRole(id: string) {
    const row = await this.#db.selectFrom('roles').selectAll().where('id', '=', id).executeTakeFirst();
    if (!row) throw KeystoneNotFound('role', id);
    return row;
  }

  async createRole(r: { name: string }) {
    const row = { id: newId(), name: r.name, domain_id: null };
    await this.#insert(() => this.#db.insertInto('roles').values(row).execute(), 'role', 'name', r.name);
    return row;
  }

  async deleteRole(id: string) {
    await this.getRole(id);
    await this.#store.transaction(async (tx) => {
      await tx.deleteFrom('role_assignments').where('role_id', '=', id).execute();
      await tx.deleteFrom('roles').where('id', '=', id).execute();
    });
  }

  async #target(targetType: 'project' | 'domain', targetId: string) {
    if (targetType === 'project') await this.getProject(targetId);
    else await this.#domainExists(targetId);
  }

  async grant(targetType: 'project' | 'domain', targetId: string, userId: string, roleId: string) {
    await this.#target(targetType, targetId);
    await this.getUser(userId);
    await this.getRole(roleId);
    try {
      await this.#db
        .insertInto('role_assignments')
        .values({ role_id: roleId, actor_id: userId, target_id: targetId, target_type: targetType })
        .execute();
    } catch (err) {
      if (!isUniqueViolation(err)) throw err;
    }
  }

  async hasGrant(targetId: string, userId: string, roleId: string): Promise<boolean> {
    const row = await this.#db
      .selectFrom('role_assignments')
      .select('role_id')
      .where('target_id', '=', targetId)
      .where('actor_id', '=', userId)
      .where('role_id', '=', roleId)
      .executeTakeFirst();
    return row !== undefined;
  }

  async revokeGrant(targetId: string, userId: string, roleId: string) {
    const r = await this.#db
      .deleteFrom('role_assignments')
      .where('target_id', '=', targetId)
      .where('actor_id', '=', userId)
      .where('role_id', '=', roleId)
      .executeTakeFirst();
    if (Number(r.numDeletedRows) === 0) throw KeystoneNotFound('role assignment', `${roleId}`);
  }

  listGrants(filter: { userId?: string; targetId?: string; roleId?: string } = {}) {
    let q = this.#db.selectFrom('role_assignments').selectAll();
    if (filter.userId) q = q.where('actor_id', '=', filter.userId);
    if (filter.targetId) q = q.where('target_id', '=', filter.targetId);
    if (filter.roleId) q = q.where('role_id', '=', filter.roleId);
    return q.execute();
  }

  async #domainExists(id: string) {
    const row = await this.#db.selectFrom('domains').select('id').where('id', '=', id).executeTakeFirst();
    if (!row) throw KeystoneNotFound('domain', id);
  }

  async #insert(write: () => Promise<unknown>, kind: string, field: string, value: string) {
    try {
      await write();
    } catch (err) {
      if (isUniqueViolation(err)) throw KeystoneConflict(kind, field, value);
      throw err;
    }
  }

  /** Project ids that exist (quotas and RBAC validate against them). */
  async projectExists(id: string): Promise<boolean> {
    return (
      (await this.#db.selectFrom('projects').select('id').where('id', '=', id).executeTakeFirst()) !==
      undefined
    );
  }
}
