/**
 * The Keystone v3 subset: domains, projects, users, roles, role assignments and tokens.
 * Tokens are 256-bit random strings; only their SHA-256 is stored. A validated token becomes a
 * `Context` for the Neutron API.
 *
 * Strict as Keystone: repeated failed logins lock a user out (`lockoutFailureAttempts`,
 * `lockoutDuration`) and throttle the source address; an unknown user costs one password hash
 * like a wrong password; disabling a user, project or domain, or removing a role assignment,
 * revokes the tokens concerned for good.
 */
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import type { Context } from '../core/context.js';
import { DEFAULT_SETTINGS, type Settings } from '../core/settings.js';
import { isUniqueViolation, type Store } from '../store/store.js';
import {
  AccountLocked,
  KeystoneBadRequest,
  KeystoneConflict,
  KeystoneNotFound,
  TooManyFailedLogins,
  Unauthorized,
  UserDisabled,
} from './errors.js';
import { LoginThrottle } from './login-throttle.js';
import { hashPassword, verifyPassword } from './passwords.js';

export const DEFAULT_DOMAIN = { id: 'default', name: 'Default' };
export const REGION = 'RegionOne';
/** The target id of system role assignments and system-scoped tokens (Keystone's `system: {all}`). */
export const SYSTEM_ALL = 'all';

export interface Ref {
  id: string;
  name: string;
}

export type TargetType = 'project' | 'domain' | 'system';

export interface TokenInfo {
  user: Ref & { domain: Ref };
  project: (Ref & { domain: Ref }) | null;
  domain: Ref | null;
  /** Scoped to the whole deployment (`scope: {system: {all: true}}`). */
  system: boolean;
  /** Assigned roles and the roles they imply, by name. */
  roles: Ref[];
  methods: string[];
  issued_at: string;
  expires_at: string;
  audit_id: string;
}

type IdOrName = { id?: string; name?: string };

/** POST /v3/auth/tokens, as the route's schema admits it. */
export interface AuthRequest {
  auth: {
    identity: {
      methods: string[];
      password?: { user?: IdOrName & { password?: string; domain?: IdOrName } };
      token?: { id: string };
    };
    scope?:
      | string
      | { project?: IdOrName & { domain?: IdOrName }; domain?: IdOrName; system?: { all?: boolean } };
  };
}

export type IdentitySecurity = Pick<
  Settings,
  'lockoutFailureAttempts' | 'lockoutDuration' | 'loginFailuresPerAddress' | 'loginFailureWindow'
>;

type UserRow = {
  id: string;
  name: string;
  domain_id: string;
  enabled: number;
  default_project_id: string | null;
};

const hex = (s: string) => createHash('sha256').update(s).digest('hex');
const newId = () => randomUUID().replace(/-/g, '');

/** Keystone's timestamp format: microseconds and a Z. */
function keystoneTime(d: Date): string {
  return d.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

/** Keystone's bootstrap roles, each implying the next: admin ⇒ member ⇒ reader. */
const BOOTSTRAP_ROLES = ['admin', 'member', 'reader'] as const;

export class Identity {
  readonly #store: Store;
  readonly tokenLifetimeSeconds: number;
  readonly #security: IdentitySecurity;
  readonly #throttle: LoginThrottle;

  constructor(store: Store, tokenLifetimeSeconds = 12 * 3600, security: IdentitySecurity = DEFAULT_SETTINGS) {
    this.#store = store;
    this.tokenLifetimeSeconds = tokenLifetimeSeconds;
    this.#security = security;
    this.#throttle = new LoginThrottle(security.loginFailuresPerAddress, security.loginFailureWindow);
  }

  get #db() {
    return this.#store.db;
  }

  /**
   * First start: domain Default, project admin, user admin, roles admin, member and reader with
   * admin ⇒ member ⇒ reader implied, and the admin role for user admin on project admin and on
   * the system. Idempotent piece by piece, like `keystone-manage bootstrap`: what exists is kept
   * (an existing admin keeps its password), what is missing is created. Several servers starting
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
        for (const name of BOOTSTRAP_ROLES) {
          const role = await tx.selectFrom('roles').select('id').where('name', '=', name).executeTakeFirst();
          roleIds[name] = role?.id ?? newId();
          if (!role)
            await tx.insertInto('roles').values({ id: roleIds[name], name, domain_id: null }).execute();
        }
        for (let i = 0; i + 1 < BOOTSTRAP_ROLES.length; i++) {
          const rule = {
            prior_role_id: roleIds[BOOTSTRAP_ROLES[i]],
            implied_role_id: roleIds[BOOTSTRAP_ROLES[i + 1]],
          };
          const exists = await tx
            .selectFrom('implied_roles')
            .select('prior_role_id')
            .where('prior_role_id', '=', rule.prior_role_id)
            .where('implied_role_id', '=', rule.implied_role_id)
            .executeTakeFirst();
          if (!exists) await tx.insertInto('implied_roles').values(rule).execute();
        }
        const user = await tx
          .selectFrom('users')
          .select('id')
          .where('name', '=', 'admin')
          .where('domain_id', '=', DEFAULT_DOMAIN.id)
          .executeTakeFirst();
        const userId = user?.id ?? newId();
        if (!user) {
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
            .values({
              role_id: roleIds.admin,
              actor_id: userId,
              target_id: projectId,
              target_type: 'project',
            })
            .execute();
        }
        // As Keystone's bootstrap, also for an admin that already existed: admin on the system,
        // so the operator can never lock itself out of system-scoped requests.
        const systemGrant = await tx
          .selectFrom('role_assignments')
          .select('role_id')
          .where('role_id', '=', roleIds.admin)
          .where('actor_id', '=', userId)
          .where('target_id', '=', SYSTEM_ALL)
          .executeTakeFirst();
        if (!systemGrant) {
          await tx
            .insertInto('role_assignments')
            .values({
              role_id: roleIds.admin,
              actor_id: userId,
              target_id: SYSTEM_ALL,
              target_type: 'system',
            })
            .execute();
        }
        return { created: !user };
      });
    } catch (err) {
      if (isUniqueViolation(err)) return { created: false };
      throw err;
    }
  }

  /** The domain named by id or name, or undefined (a 400 when neither is given). */
  async #findDomain(ref: IdOrName | undefined) {
    if (!ref || (ref.id === undefined && ref.name === undefined))
      throw KeystoneBadRequest('A domain id or name is required.');
    const q = this.#db.selectFrom('domains').select(['id', 'name', 'enabled']);
    return (
      ref.id !== undefined ? q.where('id', '=', ref.id) : q.where('name', '=', ref.name!)
    ).executeTakeFirst();
  }

  /** An enabled domain by id or name, or 401 (as Keystone: a disabled domain does not authenticate). */
  async #domain(ref: IdOrName | undefined): Promise<Ref> {
    const row = await this.#findDomain(ref);
    if (!row?.enabled) throw Unauthorized();
    return { id: row.id, name: row.name };
  }

  /** The roles the user holds on the target: assigned ones and those they imply, by name. */
  async #roles(userId: string, targetType: TargetType, targetId: string): Promise<Ref[]> {
    const assigned = await this.#db
      .selectFrom('role_assignments')
      .select('role_id')
      .where('actor_id', '=', userId)
      .where('target_type', '=', targetType)
      .where('target_id', '=', targetId)
      .execute();
    if (assigned.length === 0) return [];
    const rules = await this.#db.selectFrom('implied_roles').selectAll().execute();
    const ids = new Set(assigned.map((a) => a.role_id));
    // A Set visits what is added while iterating it: this follows chains (admin ⇒ member ⇒ reader).
    for (const id of ids) {
      for (const rule of rules) if (rule.prior_role_id === id) ids.add(rule.implied_role_id);
    }
    return this.#db
      .selectFrom('roles')
      .select(['id', 'name'])
      .where('id', 'in', [...ids])
      .orderBy('name')
      .execute();
  }

  /**
   * `POST /v3/auth/tokens`: checks the identity, resolves the scope, issues a token. `address`
   * is the client's, for throttling failed password logins.
   */
  async authenticate(req: AuthRequest, address = ''): Promise<{ token: string; info: TokenInfo }> {
    const identity = req?.auth?.identity;
    const methods = identity?.methods;
    if (!Array.isArray(methods) || methods.length === 0)
      throw KeystoneBadRequest('Expecting to find identity in auth.');
    let user: UserRow;
    let auditId = randomBytes(16).toString('base64url');
    let parentExpiry: string | undefined;
    if (methods.includes('password')) {
      user = await this.#checkPassword(identity.password?.user, address);
    } else if (methods.includes('token')) {
      const parent = identity.token?.id ? await this.validate(identity.token.id) : null;
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
    if (!user.enabled) throw UserDisabled(user.id);
    await this.#domain({ id: user.domain_id });

    const scope = await this.#scope(req.auth.scope, user.id, user.default_project_id);
    const issued = new Date();
    let expires = new Date(issued.getTime() + this.tokenLifetimeSeconds * 1000);
    if (parentExpiry && new Date(parentExpiry) < expires) expires = new Date(parentExpiry);
    const token = randomBytes(32).toString('base64url');
    if (scope.type !== 'unscoped') {
      const roles = await this.#roles(user.id, scope.type, scope.id!);
      if (roles.length === 0) {
        const target = scope.type === 'system' ? 'the system' : `${scope.type} ${scope.id}`;
        throw Unauthorized(`User ${user.id} has no access to ${target}.`);
      }
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

  /**
   * The password method, in Keystone's order: a locked account is refused (whatever the
   * password), then the password is checked (a failure counts towards the lockout), then the
   * caller learns whether the account is disabled. The address is throttled before anything.
   */
  async #checkPassword(
    u: NonNullable<AuthRequest['auth']['identity']['password']>['user'],
    address: string,
  ): Promise<UserRow> {
    if (!u || typeof u.password !== 'string') throw KeystoneBadRequest('Expecting to find password in user.');
    const wait = this.#throttle.retryAfter(address);
    if (wait > 0) throw TooManyFailedLogins(wait);
    const q = this.#db.selectFrom('users').selectAll();
    let row: Awaited<ReturnType<typeof q.executeTakeFirst>>;
    if (u.id !== undefined) row = await q.where('id', '=', u.id).executeTakeFirst();
    else if (u.name !== undefined) {
      const domain = await this.#findDomain(u.domain);
      row = domain
        ? await q.where('name', '=', u.name).where('domain_id', '=', domain.id).executeTakeFirst()
        : undefined;
    } else
      throw KeystoneBadRequest('Invalid input for field identity/password/user: id or name must be present.');
    if (row && (await this.#locked(row))) throw AccountLocked(row.id);
    if (!(await verifyPassword(u.password, row?.password_hash))) {
      this.#throttle.fail(address);
      if (row) {
        await this.#db
          .updateTable('users')
          .set((eb) => ({
            failed_auth_count: eb('failed_auth_count', '+', 1),
            failed_auth_at: keystoneTime(new Date()),
          }))
          .where('id', '=', row.id)
          .execute();
      }
      throw Unauthorized();
    }
    if (row!.failed_auth_count > 0) await this.#resetFailures(row!.id);
    return row!;
  }

  /** Whether too many failed logins lock the user now; an expired lockout is forgotten. */
  async #locked(row: { id: string; failed_auth_count: number; failed_auth_at: string | null }) {
    const { lockoutFailureAttempts: max, lockoutDuration: duration } = this.#security;
    if (!max || row.failed_auth_count < max) return false;
    if (!duration) return true;
    const since = row.failed_auth_at ? new Date(row.failed_auth_at).getTime() : 0;
    if (since + duration * 1000 > Date.now()) return true;
    await this.#resetFailures(row.id);
    return false;
  }

  async #resetFailures(userId: string) {
    await this.#db
      .updateTable('users')
      .set({ failed_auth_count: 0, failed_auth_at: null })
      .where('id', '=', userId)
      .execute();
  }

  async #scope(
    scope: AuthRequest['auth']['scope'],
    userId: string,
    defaultProject: string | null,
  ): Promise<{ type: TargetType | 'unscoped'; id?: string }> {
    if (typeof scope === 'string') {
      if (scope === 'unscoped') return { type: 'unscoped' };
      throw KeystoneBadRequest(`Invalid input for field 'scope': '${scope}' is not of type 'object'`);
    }
    if (scope?.project) {
      const p = scope.project;
      let q = this.#db
        .selectFrom('projects')
        .innerJoin('domains', 'domains.id', 'projects.domain_id')
        .select(['projects.id', 'projects.enabled', 'domains.enabled as domain_enabled']);
      if (p.id !== undefined) q = q.where('projects.id', '=', p.id);
      else if (p.name !== undefined)
        q = q
          .where('projects.name', '=', p.name)
          .where('projects.domain_id', '=', (await this.#domain(p.domain)).id);
      else throw KeystoneBadRequest('Invalid input for field scope/project: id or name must be present.');
      const row = await q.executeTakeFirst();
      if (!row?.enabled || !row.domain_enabled) throw Unauthorized();
      return { type: 'project', id: row.id };
    }
    if (scope?.domain) return { type: 'domain', id: (await this.#domain(scope.domain)).id };
    if (scope?.system) {
      if (scope.system.all !== true)
        throw KeystoneBadRequest(
          'Invalid input for field \'scope/system\': only {"all": true} is supported.',
        );
      return { type: 'system', id: SYSTEM_ALL };
    }
    // As Keystone: the default project only when it is enabled and the user has a role on it,
    // otherwise an unscoped token (never a 401 for a stale default_project_id).
    if (defaultProject) {
      const row = await this.#db
        .selectFrom('projects')
        .innerJoin('domains', 'domains.id', 'projects.domain_id')
        .select(['projects.id', 'projects.enabled', 'domains.enabled as domain_enabled'])
        .where('projects.id', '=', defaultProject)
        .executeTakeFirst();
      if (row?.enabled && row.domain_enabled && (await this.#roles(userId, 'project', row.id)).length > 0)
        return { type: 'project', id: row.id };
    }
    return { type: 'unscoped' };
  }

  /**
   * The token's facts, or null when it is unknown, expired or revoked. Disabled users, projects
   * and domains revoke their tokens when they are disabled; the live checks here cover the
   * moment between.
   */
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
        'domains.enabled as domain_enabled',
      ])
      .where('tokens.token_hash', '=', hex(token))
      .executeTakeFirst();
    if (!row || row.revoked || !row.user_enabled || !row.domain_enabled) return null;
    if (new Date(row.expires_at) <= new Date()) return null;
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
          'domains.enabled as denabled',
        ])
        .where('projects.id', '=', row.scope_id)
        .executeTakeFirst();
      if (!p?.enabled || !p.denabled) return null;
      project = { id: p.id, name: p.name, domain: { id: p.did, name: p.dname } };
    } else if (row.scope_type === 'domain' && row.scope_id) {
      const d = await this.#db
        .selectFrom('domains')
        .select(['id', 'name', 'enabled'])
        .where('id', '=', row.scope_id)
        .executeTakeFirst();
      if (!d?.enabled) return null;
      domain = { id: d.id, name: d.name };
    }
    const roles = row.scope_id
      ? await this.#roles(row.user_id, row.scope_type as TargetType, row.scope_id)
      : [];
    if (row.scope_id && roles.length === 0) return null;
    return {
      user: { id: row.user_id, name: row.user_name, domain: { id: row.domain_id, name: row.domain_name } },
      project,
      domain,
      system: row.scope_type === 'system',
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

  /**
   * The networking API's view of a token. `admin` on any scope is cloud-wide admin (Keystone's
   * and Neutron's legacy `role:admin`); `system` says the token is system-scoped (no project).
   */
  static context(info: TokenInfo): Context & { system: boolean } {
    const roles = info.roles.map((r) => r.name);
    return {
      userId: info.user.id,
      userName: info.user.name,
      projectId: info.project?.id ?? null,
      projectName: info.project?.name ?? null,
      roles,
      isAdmin: roles.includes('admin'),
      system: info.system,
    };
  }

  /**
   * Revokes for good the tokens a change takes away (a disabled user, project or domain, a
   * removed assignment): enabling or granting again later issues no old token back.
   */
  async #revokeTokens(
    db: Store['db'],
    of: { user?: string; scope?: { type: TargetType; id: string }; domain?: string },
  ) {
    let q = db.updateTable('tokens').set({ revoked: 1 }).where('revoked', '=', 0);
    if (of.user !== undefined) q = q.where('user_id', '=', of.user);
    if (of.scope !== undefined)
      q = q.where('scope_type', '=', of.scope.type).where('scope_id', '=', of.scope.id);
    if (of.domain !== undefined) {
      const domainId = of.domain;
      q = q.where((eb) =>
        eb.or([
          eb('user_id', 'in', eb.selectFrom('users').select('id').where('domain_id', '=', domainId)),
          eb.and([eb('scope_type', '=', 'domain'), eb('scope_id', '=', domainId)]),
          eb.and([
            eb('scope_type', '=', 'project'),
            eb('scope_id', 'in', eb.selectFrom('projects').select('id').where('domain_id', '=', domainId)),
          ]),
        ]),
      );
    }
    await q.execute();
  }

  // ---- administration (admin only; checked by the routes) ----

  listDomains() {
    return this.#db.selectFrom('domains').selectAll().orderBy('name').execute();
  }

  async getDomain(id: string) {
    const row = await this.#db.selectFrom('domains').selectAll().where('id', '=', id).executeTakeFirst();
    if (!row) throw KeystoneNotFound('domain', id);
    return row;
  }

  /** Disabling a domain revokes its users' tokens and those scoped to it or its projects. */
  async updateDomain(id: string, d: { name?: string; description?: string; enabled?: boolean }) {
    const current = await this.getDomain(id);
    const next = {
      name: d.name ?? current.name,
      description: d.description ?? current.description,
      enabled: d.enabled === undefined ? current.enabled : d.enabled ? 1 : 0,
    };
    await this.#insert(
      () =>
        this.#store.transaction(async (tx) => {
          await tx.updateTable('domains').set(next).where('id', '=', id).execute();
          if (!next.enabled) await this.#revokeTokens(tx, { domain: id });
        }),
      'domain',
      'name',
      next.name,
    );
    return { ...current, ...next };
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
      () =>
        this.#store.transaction(async (tx) => {
          await tx.updateTable('projects').set(next).where('id', '=', id).execute();
          if (!next.enabled) await this.#revokeTokens(tx, { scope: { type: 'project', id } });
        }),
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
      await this.#revokeTokens(tx, { scope: { type: 'project', id } });
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
    // As Keystone: enabling a user is how an admin lifts a lockout.
    if (u.enabled === true) Object.assign(next, { failed_auth_count: 0, failed_auth_at: null });
    if (u.default_project_id !== undefined) next.default_project_id = u.default_project_id;
    if (u.password !== undefined) next.password_hash = await hashPassword(u.password);
    if (Object.keys(next).length > 0) {
      await this.#insert(
        () =>
          this.#store.transaction(async (tx) => {
            await tx.updateTable('users').set(next).where('id', '=', id).execute();
            // As Keystone: a new password ends every session that the old one opened, and a
            // disabled user's sessions end for good.
            if (u.password !== undefined || u.enabled === false) await this.#revokeTokens(tx, { user: id });
          }),
        'user',
        'name',
        String(u.name),
      );
    }
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
      const grants = await tx.selectFrom('role_assignments').selectAll().where('role_id', '=', id).execute();
      for (const g of grants)
        await this.#revokeTokens(tx, {
          user: g.actor_id,
          scope: { type: g.target_type as TargetType, id: g.target_id },
        });
      await tx.deleteFrom('role_assignments').where('role_id', '=', id).execute();
      await tx
        .deleteFrom('implied_roles')
        .where((eb) => eb.or([eb('prior_role_id', '=', id), eb('implied_role_id', '=', id)]))
        .execute();
      await tx.deleteFrom('roles').where('id', '=', id).execute();
    });
  }

  async #target(targetType: TargetType, targetId: string) {
    if (targetType === 'project') await this.getProject(targetId);
    else if (targetType === 'domain') await this.#domainExists(targetId);
    else if (targetId !== SYSTEM_ALL) throw KeystoneNotFound('system', targetId);
  }

  async grant(targetType: TargetType, targetId: string, userId: string, roleId: string) {
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

  /** Removes the assignment and revokes the user's tokens scoped to the target (they carried it). */
  async revokeGrant(targetType: TargetType, targetId: string, userId: string, roleId: string) {
    await this.#store.transaction(async (tx) => {
      const r = await tx
        .deleteFrom('role_assignments')
        .where('target_id', '=', targetId)
        .where('actor_id', '=', userId)
        .where('role_id', '=', roleId)
        .executeTakeFirst();
      if (Number(r.numDeletedRows) === 0) throw KeystoneNotFound('role assignment', `${roleId}`);
      await this.#revokeTokens(tx, { user: userId, scope: { type: targetType, id: targetId } });
    });
  }

  listGrants(filter: { userId?: string; targetType?: TargetType; targetId?: string; roleId?: string } = {}) {
    let q = this.#db.selectFrom('role_assignments').selectAll();
    if (filter.targetType) q = q.where('target_type', '=', filter.targetType);
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
