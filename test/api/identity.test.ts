import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Identity } from '../../src/identity/identity.js';
import { client, dialects, type Response, startTestServer, type TestServer } from '../helpers/server.js';

const TOKENS = '/identity/v3/auth/tokens';
const KEYSTONE_TIME = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/;
const HOST = 'neutrino.test:9696';

type Scope = Record<string, unknown> | 'unscoped' | undefined;

function passwordAuth(user: Record<string, unknown>, password: string, scope?: Scope) {
  return {
    auth: {
      identity: { methods: ['password'], password: { user: { ...user, password } } },
      ...(scope !== undefined ? { scope } : {}),
    },
  };
}

function assertKeystoneError(r: Response, code: number, title: string) {
  assert.equal(r.status, code, JSON.stringify(r.body));
  assert.deepEqual(Object.keys(r.body), ['error']);
  assert.equal(r.body.error.code, code);
  assert.equal(r.body.error.title, title);
  assert.equal(typeof r.body.error.message, 'string');
}

for (const dialect of dialects()) {
  describe(`identity (${dialect})`, () => {
    let t: TestServer;
    let admin: ReturnType<typeof client>;
    let adminUserId: string;
    const issue = (body: unknown, headers: Record<string, string> = {}) =>
      t.request('POST', TOKENS, body, { host: HOST, ...headers });
    const tokenOf = (r: Response) => String(r.headers['x-subject-token']);

    before(async () => {
      t = await startTestServer(dialect);
      admin = client(t, t.adminToken);
      adminUserId = (await t.server.services.identity.listUsers({ name: 'admin' }))[0].id;
    });
    after(() => t.close());

    describe('version documents', () => {
      it('GET /identity answers 300 Multiple Choices with versions.values', async () => {
        const r = await t.request('GET', '/identity', undefined, { host: HOST });
        assert.equal(r.status, 300);
        const values = r.body.versions.values;
        assert.ok(Array.isArray(values) && values.length >= 1);
        assert.match(values[0].id, /^v3\.\d+$/);
        assert.equal(
          values[0].links.find((l: { rel: string }) => l.rel === 'self').href,
          `http://${HOST}/identity/v3/`,
        );
      });

      it('GET /identity/v3 describes v3.x without a token', async () => {
        const r = await t.request('GET', '/identity/v3', undefined, { host: HOST });
        assert.equal(r.status, 200);
        assert.match(r.body.version.id, /^v3\.\d+$/);
        assert.equal(r.body.version.status, 'stable');
        assert.equal(r.body.version.links[0].href, `http://${HOST}/identity/v3/`);
      });
    });

    describe('password authentication', () => {
      it('issues a project token the way tempest reads it', async () => {
        const r = await issue(
          passwordAuth({ name: 'admin', domain: { name: 'Default' } }, 'secret', {
            project: { name: 'admin', domain: { name: 'Default' } },
          }),
        );
        assert.equal(r.status, 201);
        const raw = tokenOf(r);
        assert.ok(raw.length >= 32, 'X-Subject-Token carries the token');
        const tok = r.body.token;
        assert.match(tok.expires_at, KEYSTONE_TIME);
        assert.match(tok.issued_at, KEYSTONE_TIME);
        assert.ok(new Date(tok.expires_at) > new Date(tok.issued_at));
        assert.deepEqual(tok.methods, ['password']);
        assert.ok(Array.isArray(tok.audit_ids) && tok.audit_ids.length === 1);
        assert.equal(tok.user.id, adminUserId);
        assert.equal(tok.user.name, 'admin');
        assert.deepEqual(tok.user.domain, { id: 'default', name: 'Default' });
        assert.equal(tok.project.id, t.adminProjectId);
        assert.equal(tok.project.name, 'admin');
        assert.deepEqual(tok.project.domain, { id: 'default', name: 'Default' });
        // Keystone lists the roles the assigned one implies (admin ⇒ member ⇒ reader).
        assert.deepEqual(
          tok.roles.map((x: { name: string }) => x.name),
          ['admin', 'member', 'reader'],
        );
        assert.equal(typeof tok.roles[0].id, 'string');

        const network = tok.catalog.find((s: { type: string }) => s.type === 'network');
        assert.ok(network, 'catalog has a network service');
        const pub = network.endpoints.find(
          (e: { interface: string; region: string }) => e.interface === 'public' && e.region === 'RegionOne',
        );
        assert.ok(pub, 'network has a public endpoint in RegionOne');
        assert.equal(pub.region_id, 'RegionOne');
        assert.equal(pub.url, `http://${HOST}`);
        const identity = tok.catalog.find((s: { type: string }) => s.type === 'identity');
        assert.equal(identity.endpoints[0].url, `http://${HOST}/identity/v3/`);

        const nets = await t.request('GET', '/v2.0/networks', undefined, { 'x-auth-token': raw });
        assert.equal(nets.status, 200);
      });

      it('accepts the user by id and the domain by id, scopes the project by id', async () => {
        const byId = await issue(
          passwordAuth({ id: adminUserId }, 'secret', { project: { id: t.adminProjectId } }),
        );
        assert.equal(byId.status, 201);
        assert.equal(byId.body.token.user.id, adminUserId);
        assert.equal(byId.body.token.project.id, t.adminProjectId);
        const byDomainId = await issue(
          passwordAuth({ name: 'admin', domain: { id: 'default' } }, 'secret', {
            project: { name: 'admin', domain: { id: 'default' } },
          }),
        );
        assert.equal(byDomainId.status, 201);
        assert.equal(byDomainId.body.token.project.id, t.adminProjectId);
      });

      it('omits the catalog with ?nocatalog', async () => {
        const r = await t.request(
          'POST',
          `${TOKENS}?nocatalog`,
          passwordAuth({ id: adminUserId }, 'secret', { project: { id: t.adminProjectId } }),
        );
        assert.equal(r.status, 201);
        assert.equal(r.body.token.catalog, undefined);
        assert.ok(r.body.token.roles.length > 0);
      });

      it('scopes an unscoped request to the default project, as Keystone does', async () => {
        const r = await issue(passwordAuth({ name: 'admin', domain: { id: 'default' } }, 'secret'));
        assert.equal(r.status, 201);
        assert.equal(r.body.token.project.id, t.adminProjectId);
        assert.ok(r.body.token.catalog.length > 0);
        assert.ok(r.body.token.roles.length > 0);
      });

      it('gives a user without a default project an unscoped token: no project, roles or catalog', async () => {
        const id = t.server.services.identity;
        const u = await id.createUser({ name: 'drifter', password: 'drift' });
        const r = await issue(passwordAuth({ id: u.id }, 'drift'));
        assert.equal(r.status, 201);
        assert.equal(r.body.token.user.id, u.id);
        assert.equal(r.body.token.project, undefined);
        assert.equal(r.body.token.roles, undefined);
        assert.equal(r.body.token.catalog, undefined);
        const explicit = await issue(passwordAuth({ id: adminUserId }, 'secret', 'unscoped'));
        assert.equal(explicit.status, 201);
        assert.equal(explicit.body.token.project, undefined);
        assert.equal(explicit.body.token.catalog, undefined);
      });

      it('falls back to unscoped when the user has no role on its default project', async () => {
        const id = t.server.services.identity;
        const p = await id.createProject({ name: 'roleless' });
        const u = await id.createUser({ name: 'roleless-user', password: 'pw', default_project_id: p.id });
        const r = await issue(passwordAuth({ id: u.id }, 'pw'));
        assert.equal(r.status, 201, JSON.stringify(r.body));
        assert.equal(r.body.token.project, undefined);
        const scoped = await issue(passwordAuth({ id: u.id }, 'pw', { project: { id: p.id } }));
        assertKeystoneError(scoped, 401, 'Unauthorized');
      });

      it('issues domain-scoped tokens to users with a role on the domain', async () => {
        const id = t.server.services.identity;
        const u = await id.createUser({ name: 'domain-user', password: 'pw' });
        const member = (await id.listRoles({ name: 'member' }))[0];
        const denied = await issue(passwordAuth({ id: u.id }, 'pw', { domain: { id: 'default' } }));
        assertKeystoneError(denied, 401, 'Unauthorized');
        assert.equal(
          (await admin.put(`/identity/v3/domains/default/users/${u.id}/roles/${member.id}`)).status,
          204,
        );
        const r = await issue(passwordAuth({ id: u.id }, 'pw', { domain: { name: 'Default' } }));
        assert.equal(r.status, 201, JSON.stringify(r.body));
        assert.deepEqual(r.body.token.domain, { id: 'default', name: 'Default' });
        assert.equal(r.body.token.project, undefined);
        assert.deepEqual(
          r.body.token.roles.map((x: { name: string }) => x.name),
          ['member', 'reader'],
        );
        assert.ok(r.body.token.catalog.some((s: { type: string }) => s.type === 'network'));
      });

      it('answers a bad login with 401 and Keystone’s error body', async () => {
        const cases = [
          passwordAuth({ name: 'admin', domain: { id: 'default' } }, 'wrong'),
          passwordAuth({ name: 'nobody', domain: { id: 'default' } }, 'secret'),
          passwordAuth({ id: 'no-such-id' }, 'secret'),
          passwordAuth({ name: 'admin', domain: { name: 'NoSuchDomain' } }, 'secret'),
          passwordAuth({ id: adminUserId }, 'secret', { project: { id: 'no-such-project' } }),
        ];
        for (const body of cases) {
          const r = await issue(body);
          assertKeystoneError(r, 401, 'Unauthorized');
          assert.equal(r.headers['x-subject-token'], undefined);
        }
      });

      it('rejects malformed auth requests with 400', async () => {
        assertKeystoneError(await issue({ auth: {} }), 400, 'Bad Request');
        assertKeystoneError(await issue({ auth: { identity: { methods: ['totp'] } } }), 400, 'Bad Request');
        assertKeystoneError(
          await issue({
            auth: { identity: { methods: ['password'], password: { user: { name: 'admin' } } } },
          }),
          400,
          'Bad Request',
        );
      });

      it('refuses disabled users', async () => {
        const id = t.server.services.identity;
        const u = await id.createUser({ name: 'sleeper', password: 'pw', enabled: false });
        assertKeystoneError(await issue(passwordAuth({ id: u.id }, 'pw')), 401, 'Unauthorized');
      });
    });

    describe('token authentication (rescoping)', () => {
      it('rescopes an unscoped token to a project; expiry never outlives the parent', async () => {
        const unscoped = await issue(passwordAuth({ id: adminUserId }, 'secret', 'unscoped'));
        assert.equal(unscoped.status, 201);
        await sleep(5);
        const r = await issue({
          auth: {
            identity: { methods: ['token'], token: { id: tokenOf(unscoped) } },
            scope: { project: { id: t.adminProjectId } },
          },
        });
        assert.equal(r.status, 201, JSON.stringify(r.body));
        assert.equal(r.body.token.project.id, t.adminProjectId);
        assert.ok(new Date(r.body.token.expires_at) <= new Date(unscoped.body.token.expires_at));
        assert.match(r.body.token.expires_at, KEYSTONE_TIME);
        assert.deepEqual(r.body.token.audit_ids, unscoped.body.token.audit_ids);
        assert.notEqual(tokenOf(r), tokenOf(unscoped));
        const nets = await t.request('GET', '/v2.0/networks', undefined, { 'x-auth-token': tokenOf(r) });
        assert.equal(nets.status, 200);
      });

      it('refuses an unknown or revoked parent token', async () => {
        const bogus = await issue({ auth: { identity: { methods: ['token'], token: { id: 'nope' } } } });
        assertKeystoneError(bogus, 401, 'Unauthorized');
        const parent = await issue(passwordAuth({ id: adminUserId }, 'secret'));
        await t.request('DELETE', TOKENS, undefined, {
          'x-auth-token': t.adminToken,
          'x-subject-token': tokenOf(parent),
        });
        const child = await issue({
          auth: { identity: { methods: ['token'], token: { id: tokenOf(parent) } } },
        });
        assertKeystoneError(child, 401, 'Unauthorized');
      });
    });

    describe('validation and revocation', () => {
      it('GET and HEAD validate a subject token; an invalid one is 404', async () => {
        const subject = tokenOf(await issue(passwordAuth({ id: adminUserId }, 'secret')));
        const got = await t.request('GET', TOKENS, undefined, {
          host: HOST,
          'x-auth-token': t.adminToken,
          'x-subject-token': subject,
        });
        assert.equal(got.status, 200);
        assert.equal(got.headers['x-subject-token'], subject);
        assert.equal(got.body.token.user.id, adminUserId);
        assert.equal(got.body.token.project.id, t.adminProjectId);
        assert.ok(got.body.token.catalog.some((s: { type: string }) => s.type === 'network'));
        const head = await t.request('HEAD', TOKENS, undefined, {
          'x-auth-token': t.adminToken,
          'x-subject-token': subject,
        });
        assert.equal(head.status, 200);
        const missing = await t.request('GET', TOKENS, undefined, {
          'x-auth-token': t.adminToken,
          'x-subject-token': 'not-a-token',
        });
        assertKeystoneError(missing, 404, 'Not Found');
        const noCaller = await t.request('GET', TOKENS, undefined, { 'x-subject-token': subject });
        assertKeystoneError(noCaller, 401, 'Unauthorized');
      });

      it('DELETE revokes: the token then gets 401 from the networking API', async () => {
        const subject = tokenOf(await issue(passwordAuth({ id: adminUserId }, 'secret')));
        assert.equal(
          (await t.request('GET', '/v2.0/networks', undefined, { 'x-auth-token': subject })).status,
          200,
        );
        const del = await t.request('DELETE', TOKENS, undefined, {
          'x-auth-token': t.adminToken,
          'x-subject-token': subject,
        });
        assert.equal(del.status, 204);
        const after = await t.request('GET', '/v2.0/networks', undefined, { 'x-auth-token': subject });
        assert.equal(after.status, 401);
        assertKeystoneError(after, 401, 'Unauthorized');
        const again = await t.request('HEAD', TOKENS, undefined, {
          'x-auth-token': t.adminToken,
          'x-subject-token': subject,
        });
        assert.equal(again.status, 404);
      });

      it('stores only a hash of each token', async () => {
        const raw = tokenOf(await issue(passwordAuth({ id: adminUserId }, 'secret')));
        const rows = await t.store.db.selectFrom('tokens').selectAll().execute();
        assert.ok(rows.length > 0);
        for (const row of rows) assert.ok(!JSON.stringify(row).includes(raw), 'no row holds the raw token');
        const hashes = rows.map((r) => r.token_hash);
        assert.ok(hashes.every((h) => /^[0-9a-f]{64}$/.test(h)));
      });

      it('expires tokens (1-second lifetime)', async () => {
        const shortLived = new Identity(t.store, 1);
        const { token, info } = await shortLived.authenticate(
          passwordAuth({ id: adminUserId }, 'secret', { project: { id: t.adminProjectId } }),
        );
        assert.ok(new Date(info.expires_at).getTime() - new Date(info.issued_at).getTime() <= 1000);
        assert.ok(await shortLived.validate(token));
        assert.equal(
          (await t.request('GET', '/v2.0/networks', undefined, { 'x-auth-token': token })).status,
          200,
        );
        await sleep(1100);
        assert.equal(await shortLived.validate(token), null);
        assert.equal(
          (await t.request('GET', '/v2.0/networks', undefined, { 'x-auth-token': token })).status,
          401,
        );
        await shortLived.pruneTokens();
        assert.equal(
          (
            await t.store.db
              .selectFrom('tokens')
              .select('token_hash')
              .where('expires_at', '<', info.expires_at)
              .execute()
          ).length,
          0,
        );
      });

      it('expires tokens whose expires_at has passed in the database', async () => {
        const r = await issue(passwordAuth({ id: adminUserId }, 'secret'));
        const raw = tokenOf(r);
        assert.equal(
          (await t.request('GET', '/v2.0/networks', undefined, { 'x-auth-token': raw })).status,
          200,
        );
        await t.store.db
          .updateTable('tokens')
          .set({ expires_at: '2000-01-01T00:00:00.000000Z' })
          .where('issued_at', '=', r.body.token.issued_at)
          .where('audit_id', '=', r.body.token.audit_ids[0])
          .execute();
        assert.equal(
          (await t.request('GET', '/v2.0/networks', undefined, { 'x-auth-token': raw })).status,
          401,
        );
      });
    });

    describe('administration', () => {
      let member: ReturnType<typeof client>;
      let memberIds: { token: string; projectId: string; userId: string };
      before(async () => {
        const m = await t.newProjectUser('member');
        member = client(t, m.token);
        memberIds = m;
      });

      it('projects: create, list, show, update, delete; 409 on duplicates, 404 on unknown ids', async () => {
        const c = await admin.post('/identity/v3/projects', {
          project: { name: 'alpha', description: 'first' },
        });
        assert.equal(c.status, 201, JSON.stringify(c.body));
        const p = c.body.project;
        assert.equal(p.name, 'alpha');
        assert.equal(p.domain_id, 'default');
        assert.equal(p.enabled, true);
        assert.match(p.id, /^[0-9a-f]{32}$/);
        assertKeystoneError(
          await admin.post('/identity/v3/projects', { project: { name: 'alpha' } }),
          409,
          'Conflict',
        );
        const list = await admin.get('/identity/v3/projects?name=alpha');
        assert.deepEqual(
          list.body.projects.map((x: { id: string }) => x.id),
          [p.id],
        );
        assert.equal((await admin.get(`/identity/v3/projects/${p.id}`)).body.project.description, 'first');
        const patched = await t.request(
          'PATCH',
          `/identity/v3/projects/${p.id}`,
          { project: { description: 'second', enabled: false } },
          { 'x-auth-token': t.adminToken },
        );
        assert.equal(patched.status, 200);
        assert.equal(patched.body.project.description, 'second');
        assert.equal(patched.body.project.enabled, false);
        const clash = await t.request(
          'PATCH',
          `/identity/v3/projects/${p.id}`,
          { project: { name: 'admin' } },
          { 'x-auth-token': t.adminToken },
        );
        assertKeystoneError(clash, 409, 'Conflict');
        assert.equal((await admin.del(`/identity/v3/projects/${p.id}`)).status, 204);
        assertKeystoneError(await admin.get(`/identity/v3/projects/${p.id}`), 404, 'Not Found');
        assertKeystoneError(await admin.del(`/identity/v3/projects/${p.id}`), 404, 'Not Found');
        assertKeystoneError(
          await t.request(
            'PATCH',
            '/identity/v3/projects/nope',
            { project: { name: 'x' } },
            { 'x-auth-token': t.adminToken },
          ),
          404,
          'Not Found',
        );
        assertKeystoneError(
          await admin.post('/identity/v3/projects', { project: { name: 'beta', domain_id: 'nope' } }),
          404,
          'Not Found',
        );
      });

      it('users: create, list, show, update, delete; passwords are scrypt hashes', async () => {
        const c = await admin.post('/identity/v3/users', {
          user: { name: 'bob', password: 'bobpw', default_project_id: memberIds.projectId },
        });
        assert.equal(c.status, 201, JSON.stringify(c.body));
        const u = c.body.user;
        assert.equal(u.name, 'bob');
        assert.equal(u.domain_id, 'default');
        assert.equal(u.default_project_id, memberIds.projectId);
        assert.equal(u.password, undefined);
        assert.equal(u.password_hash, undefined);
        const row = await t.store.db
          .selectFrom('users')
          .select('password_hash')
          .where('id', '=', u.id)
          .executeTakeFirstOrThrow();
        assert.ok(row.password_hash.startsWith('scrypt$'), row.password_hash);
        assert.ok(!row.password_hash.includes('bobpw'));
        assertKeystoneError(
          await admin.post('/identity/v3/users', { user: { name: 'bob' } }),
          409,
          'Conflict',
        );
        assertKeystoneError(
          await admin.post('/identity/v3/users', { user: { name: 'carol', default_project_id: 'nope' } }),
          404,
          'Not Found',
        );
        const listed = await admin.get('/identity/v3/users?name=bob');
        assert.deepEqual(
          listed.body.users.map((x: { id: string }) => x.id),
          [u.id],
        );
        assert.ok(listed.body.users.every((x: Record<string, unknown>) => !('password_hash' in x)));

        const oldToken = tokenOf(await issue(passwordAuth({ id: u.id }, 'bobpw', 'unscoped')));
        const pw = await t.request(
          'PATCH',
          `/identity/v3/users/${u.id}`,
          { user: { password: 'newpw', description: 'changed' } },
          { 'x-auth-token': t.adminToken },
        );
        assert.equal(pw.status, 200);
        assert.equal(pw.body.user.description, 'changed');
        assertKeystoneError(
          await issue(passwordAuth({ id: u.id }, 'bobpw', 'unscoped')),
          401,
          'Unauthorized',
        );
        assert.equal(
          (
            await t.request('GET', TOKENS, undefined, {
              'x-auth-token': t.adminToken,
              'x-subject-token': oldToken,
            })
          ).status,
          404,
          'changing the password revokes the user’s tokens',
        );
        assert.equal((await issue(passwordAuth({ id: u.id }, 'newpw', 'unscoped'))).status, 201);

        const bobToken = tokenOf(await issue(passwordAuth({ id: u.id }, 'newpw', 'unscoped')));
        assert.equal((await client(t, bobToken).get(`/identity/v3/users/${u.id}`)).status, 200);
        assertKeystoneError(
          await client(t, bobToken).get(`/identity/v3/users/${adminUserId}`),
          403,
          'Forbidden',
        );

        assert.equal((await admin.del(`/identity/v3/users/${u.id}`)).status, 204);
        assertKeystoneError(await admin.get(`/identity/v3/users/${u.id}`), 404, 'Not Found');
        assertKeystoneError(await admin.del(`/identity/v3/users/${u.id}`), 404, 'Not Found');
        assertKeystoneError(await issue(passwordAuth({ id: u.id }, 'newpw')), 401, 'Unauthorized');
        assert.equal(
          (
            await t.request('GET', TOKENS, undefined, {
              'x-auth-token': t.adminToken,
              'x-subject-token': bobToken,
            })
          ).status,
          404,
          'a deleted user’s tokens are gone',
        );
      });

      it('roles: create, list, show, delete; duplicates 409', async () => {
        const c = await admin.post('/identity/v3/roles', { role: { name: 'auditor' } });
        assert.equal(c.status, 201);
        const r = c.body.role;
        assertKeystoneError(
          await admin.post('/identity/v3/roles', { role: { name: 'auditor' } }),
          409,
          'Conflict',
        );
        const names = (await admin.get('/identity/v3/roles')).body.roles.map((x: { name: string }) => x.name);
        for (const n of ['admin', 'member', 'reader', 'auditor']) assert.ok(names.includes(n), n);
        assert.equal((await admin.get(`/identity/v3/roles/${r.id}`)).body.role.name, 'auditor');
        assert.equal((await admin.del(`/identity/v3/roles/${r.id}`)).status, 204);
        assertKeystoneError(await admin.get(`/identity/v3/roles/${r.id}`), 404, 'Not Found');
        assertKeystoneError(await admin.del(`/identity/v3/roles/${r.id}`), 404, 'Not Found');
      });

      it('role assignments: grant, check, list, revoke; unknown ids 404', async () => {
        const p = (await admin.post('/identity/v3/projects', { project: { name: 'gamma' } })).body.project;
        const u = (await admin.post('/identity/v3/users', { user: { name: 'dave', password: 'davepw' } }))
          .body.user;
        const reader = (await admin.get('/identity/v3/roles?name=reader')).body.roles[0];
        const path = `/identity/v3/projects/${p.id}/users/${u.id}/roles/${reader.id}`;
        assertKeystoneError(await admin.get(path), 404, 'Not Found');
        assert.equal((await admin.put(path)).status, 204);
        assert.equal((await admin.put(path)).status, 204, 'granting twice is fine');
        assert.equal((await admin.get(path)).status, 204);
        assert.equal(
          (await t.request('HEAD', path, undefined, { 'x-auth-token': t.adminToken })).status,
          204,
        );
        const roles = await admin.get(`/identity/v3/projects/${p.id}/users/${u.id}/roles`);
        assert.deepEqual(
          roles.body.roles.map((x: { name: string }) => x.name),
          ['reader'],
        );
        const ra = await admin.get(`/identity/v3/role_assignments?user.id=${u.id}`);
        assert.deepEqual(
          ra.body.role_assignments.map((a: { scope: unknown }) => a.scope),
          [{ project: { id: p.id } }],
        );
        assert.equal(ra.body.role_assignments[0].role.id, reader.id);

        const tok = await issue(
          passwordAuth({ id: u.id }, 'davepw', { project: { name: 'gamma', domain: { id: 'default' } } }),
        );
        assert.equal(tok.status, 201);
        assert.deepEqual(
          tok.body.token.roles.map((x: { name: string }) => x.name),
          ['reader'],
        );
        const projects = await client(t, tokenOf(tok)).get('/identity/v3/auth/projects');
        assert.deepEqual(
          projects.body.projects.map((x: { id: string }) => x.id),
          [p.id],
        );

        assert.equal((await admin.del(path)).status, 204);
        assertKeystoneError(await admin.del(path), 404, 'Not Found');
        assert.equal(
          (await t.request('GET', '/v2.0/networks', undefined, { 'x-auth-token': tokenOf(tok) })).status,
          401,
        );
        assertKeystoneError(
          await admin.put(`/identity/v3/projects/nope/users/${u.id}/roles/${reader.id}`),
          404,
          'Not Found',
        );
        assertKeystoneError(
          await admin.put(`/identity/v3/projects/${p.id}/users/nope/roles/${reader.id}`),
          404,
          'Not Found',
        );
        assertKeystoneError(
          await admin.put(`/identity/v3/projects/${p.id}/users/${u.id}/roles/nope`),
          404,
          'Not Found',
        );
      });

      it('is admin-only: a member gets 403 Forbidden', async () => {
        const reader = (await admin.get('/identity/v3/roles?name=reader')).body.roles[0];
        const checks: Response[] = [
          await member.get('/identity/v3/projects'),
          await member.post('/identity/v3/projects', { project: { name: 'mine' } }),
          await t.request(
            'PATCH',
            `/identity/v3/projects/${memberIds.projectId}`,
            { project: { name: 'x' } },
            { 'x-auth-token': memberIds.token },
          ),
          await member.del(`/identity/v3/projects/${t.adminProjectId}`),
          await member.get('/identity/v3/users'),
          await member.post('/identity/v3/users', { user: { name: 'sneaky' } }),
          await member.del(`/identity/v3/users/${adminUserId}`),
          await member.post('/identity/v3/roles', { role: { name: 'superuser' } }),
          await member.put(
            `/identity/v3/projects/${memberIds.projectId}/users/${memberIds.userId}/roles/${reader.id}`,
          ),
          await member.get('/identity/v3/role_assignments'),
          await member.get(`/identity/v3/projects/${t.adminProjectId}`),
        ];
        for (const r of checks) assertKeystoneError(r, 403, 'Forbidden');
        assert.equal(
          (await member.get(`/identity/v3/projects/${memberIds.projectId}`)).status,
          200,
          'own project is visible',
        );
        assertKeystoneError(await t.request('GET', '/identity/v3/projects'), 401, 'Unauthorized');
      });
    });

    describe('policy on the networking API', () => {
      it('a member of project P creates networks in P', async () => {
        const m = await t.newProjectUser('member');
        const r = await client(t, m.token).post('/v2.0/networks', { network: { name: 'member-net' } });
        assert.equal(r.status, 201);
        assert.equal(r.body.network.project_id, m.projectId);
        assert.equal(r.body.network.tenant_id, m.projectId);
      });

      it('a reader cannot write', async () => {
        const rd = await t.newProjectUser('reader');
        const c = client(t, rd.token);
        assert.equal((await c.get('/v2.0/networks')).status, 200);
        const w = await c.post('/v2.0/networks', { network: { name: 'nope' } });
        assert.equal(w.status, 403);
        assert.equal(w.body.NeutronError.type, 'PolicyNotAuthorized');
      });
    });

    describe('bootstrap', () => {
      it('is idempotent: a second bootstrap creates no second admin and keeps the password', async () => {
        const id = t.server.services.identity;
        const before = await t.store.db.selectFrom('users').select('id').execute();
        assert.deepEqual(await id.bootstrap('another-password'), { created: false });
        const after = await t.store.db.selectFrom('users').select('id').execute();
        assert.equal(after.length, before.length);
        assert.equal((await id.listUsers({ name: 'admin' })).length, 1);
        assert.equal((await id.listProjects({ name: 'admin' })).length, 1);
        assert.deepEqual(
          (await id.listRoles()).map((r) => r.name).filter((n) => ['admin', 'member', 'reader'].includes(n)),
          ['admin', 'member', 'reader'],
        );
        assert.equal((await issue(passwordAuth({ id: adminUserId }, 'secret'))).status, 201);
        assertKeystoneError(
          await issue(passwordAuth({ id: adminUserId }, 'another-password')),
          401,
          'Unauthorized',
        );
        const hash = await t.store.db
          .selectFrom('users')
          .select('password_hash')
          .where('id', '=', adminUserId)
          .executeTakeFirstOrThrow();
        assert.match(hash.password_hash, /^scrypt\$/);
      });

      it('recreates missing pieces and survives concurrent bootstraps', async () => {
        const fresh = await startTestServer(dialect);
        try {
          const db = fresh.store.db;
          for (const table of [
            'tokens',
            'role_assignments',
            'users',
            'roles',
            'projects',
            'domains',
          ] as const) {
            await db.deleteFrom(table).execute();
          }
          const id = fresh.server.services.identity;
          const results = await Promise.all(['one', 'two', 'three'].map((pw) => id.bootstrap(pw)));
          assert.equal(results.filter((r) => r.created).length, 1);
          assert.equal((await id.listUsers({ name: 'admin' })).length, 1);
          assert.equal((await id.listProjects({ name: 'admin' })).length, 1);
          assert.equal((await id.listDomains()).length, 1);
          assert.deepEqual(
            (await id.listRoles()).map((r) => r.name),
            ['admin', 'member', 'reader'],
          );

          const admin1 = (await id.listUsers({ name: 'admin' }))[0];
          await id.deleteUser(admin1.id);
          assert.deepEqual(await id.bootstrap('again'), { created: true });
          const login = await fresh.request(
            'POST',
            TOKENS,
            passwordAuth({ name: 'admin', domain: { id: 'default' } }, 'again'),
          );
          assert.equal(login.status, 201, JSON.stringify(login.body));
          assert.deepEqual(
            login.body.token.roles.map((r: { name: string }) => r.name),
            ['admin', 'member', 'reader'],
          );
          assert.equal((await id.listProjects({ name: 'admin' })).length, 1);
        } finally {
          await fresh.close();
        }
      });
    });
  });
}
