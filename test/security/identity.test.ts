/**
 * The identity service as strict as Keystone: who may look at someone else's token, revocation
 * for good, lockout and per-address throttling, timing, secrets kept out of logs, Keystone's
 * 400s for malformed bodies, implied roles and system scope.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import pino from 'pino';
import { Metrics } from '../../src/api/metrics.js';
import { buildServer } from '../../src/api/server.js';
import { serverLogger } from '../../src/cli/server.js';
import { DEFAULT_SETTINGS } from '../../src/core/settings.js';
import { Store } from '../../src/store/store.js';
import { client, dialects, type Response, startTestServer, type TestServer } from '../helpers/server.js';

const TOKENS = '/identity/v3/auth/tokens';

function passwordAuth(user: Record<string, unknown>, password: unknown, scope?: unknown) {
  return {
    auth: {
      identity: { methods: ['password'], password: { user: { ...user, password } } },
      ...(scope !== undefined ? { scope } : {}),
    },
  };
}

function assertKeystoneError(r: Response, code: number, message?: string | RegExp) {
  assert.equal(r.status, code, JSON.stringify(r.body));
  assert.deepEqual(Object.keys(r.body), ['error']);
  assert.equal(r.body.error.code, code);
  assert.equal(typeof r.body.error.title, 'string');
  if (typeof message === 'string') assert.equal(r.body.error.message, message);
  else if (message) assert.match(r.body.error.message, message);
}

/** A login from `address` (the test servers are reached by inject, so any address will do). */
async function loginFrom(t: TestServer, address: string, body: unknown): Promise<Response> {
  const res = await t.server.app.inject({
    method: 'POST',
    url: TOKENS,
    remoteAddress: address,
    headers: { 'content-type': 'application/json' },
    payload: JSON.stringify(body),
  });
  return { status: res.statusCode, body: res.body ? JSON.parse(res.body) : undefined, headers: res.headers };
}

for (const dialect of dialects()) {
  describe(`identity security (${dialect})`, () => {
    let t: TestServer;
    let admin: ReturnType<typeof client>;
    const subject = (caller: string, method: string, token: string) =>
      t.request(method, TOKENS, undefined, { 'x-auth-token': caller, 'x-subject-token': token });
    const valid = async (token: string) => (await subject(t.adminToken, 'GET', token)).status === 200;
    const roleId = async (name: string) => (await t.server.services.identity.listRoles({ name }))[0].id;

    before(async () => {
      t = await startTestServer(dialect);
      admin = client(t, t.adminToken);
    });
    after(() => t.close());

    describe("someone else's token (X-Subject-Token)", () => {
      it('is 403 for a user who is neither admin nor its subject, as identity:*_token policy', async () => {
        const alice = await t.newProjectUser();
        const bob = await t.newProjectUser();
        for (const [method, action] of [
          ['GET', 'validate_token'],
          ['HEAD', 'check_token'],
          ['DELETE', 'revoke_token'],
        ]) {
          const r = await subject(bob.token, method, alice.token);
          assert.equal(r.status, 403, `${method}: ${r.status}`);
          if (method !== 'HEAD')
            assertKeystoneError(
              r,
              403,
              `You are not authorized to perform the requested action: identity:${action}.`,
            );
        }
        assert.ok(await valid(alice.token), 'the refused DELETE revoked nothing');
      });

      it("is allowed to the token's own user and to admins", async () => {
        const alice = await t.newProjectUser();
        const again = await loginFrom(t, '127.0.0.1', passwordAuth({ id: alice.userId }, 'pw'));
        const second = String(again.headers['x-subject-token']);
        assert.equal((await subject(second, 'GET', alice.token)).status, 200);
        assert.equal((await subject(second, 'HEAD', alice.token)).status, 200);
        assert.equal((await subject(t.adminToken, 'HEAD', alice.token)).status, 200);
        assert.equal((await subject(second, 'DELETE', alice.token)).status, 204);
        assert.equal(await valid(alice.token), false);
      });
    });

    describe('revocation for good', () => {
      it('disabling a user revokes its tokens; enabling it again does not revive them', async () => {
        const u = await t.newProjectUser();
        const path = `/identity/v3/users/${u.userId}`;
        assert.equal((await t.request('PATCH', path, { user: { enabled: false } }, h())).status, 200);
        assert.equal((await t.request('PATCH', path, { user: { enabled: true } }, h())).status, 200);
        assert.equal(await valid(u.token), false);
        assert.equal((await client(t, u.token).get('/v2.0/networks')).status, 401);
      });

      it('disabling a project revokes the tokens scoped to it for good', async () => {
        const u = await t.newProjectUser();
        const path = `/identity/v3/projects/${u.projectId}`;
        assert.equal((await t.request('PATCH', path, { project: { enabled: false } }, h())).status, 200);
        assert.equal((await t.request('PATCH', path, { project: { enabled: true } }, h())).status, 200);
        assert.equal(await valid(u.token), false);
      });

      it("disabling a domain revokes its users' and its projects' tokens for good", async () => {
        const id = t.server.services.identity;
        await t.store.db
          .insertInto('domains')
          .values({ id: `d${Date.now()}`, name: `dom-${Date.now()}`, enabled: 1, description: '' })
          .execute();
        const domain = (await id.listDomains()).find((d) => d.name.startsWith('dom-'))!;
        const project = await id.createProject({ name: 'dp', domain_id: domain.id });
        const user = await id.createUser({ name: 'du', password: 'pw', domain_id: domain.id });
        await id.grant('project', project.id, user.id, await roleId('member'));
        const r = await loginFrom(
          t,
          '127.0.0.1',
          passwordAuth({ name: 'du', domain: { id: domain.id } }, 'pw', { project: { id: project.id } }),
        );
        assert.equal(r.status, 201, JSON.stringify(r.body));
        const token = String(r.headers['x-subject-token']);
        const path = `/identity/v3/domains/${domain.id}`;
        assert.equal((await t.request('PATCH', path, { domain: { enabled: false } }, h())).status, 200);
        assert.equal(await valid(token), false);
        const refused = await loginFrom(t, '127.0.0.1', passwordAuth({ id: user.id }, 'pw'));
        assertKeystoneError(refused, 401);
        assert.equal((await t.request('PATCH', path, { domain: { enabled: true } }, h())).status, 200);
        assert.equal(await valid(token), false);
      });

      it('removing a role assignment revokes the tokens that carried it, even with roles left', async () => {
        const u = await t.newProjectUser();
        const reader = await roleId('reader');
        const grant = `/identity/v3/projects/${u.projectId}/users/${u.userId}/roles/${reader}`;
        assert.equal((await admin.put(grant)).status, 204);
        const again = await loginFrom(t, '127.0.0.1', passwordAuth({ id: u.userId }, 'pw'));
        const token = String(again.headers['x-subject-token']);
        assert.equal((await admin.del(grant)).status, 204);
        assert.equal(await valid(u.token), false);
        assert.equal(await valid(token), false);
        assert.equal((await admin.put(grant)).status, 204);
        assert.equal(await valid(token), false);
      });
    });

    describe('timing', () => {
      it('an unknown user costs a password hash like a wrong password', async () => {
        const u = await t.newProjectUser();
        const time = async (body: unknown) => {
          const start = process.hrtime.bigint();
          assert.equal((await loginFrom(t, '192.0.2.50', body)).status, 401);
          return Number(process.hrtime.bigint() - start) / 1e6;
        };
        const median = (xs: number[]) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)];
        const wrong: number[] = [];
        const unknown: number[] = [];
        for (let i = 0; i < 4; i++) {
          wrong.push(await time(passwordAuth({ id: u.userId }, 'nope')));
          unknown.push(await time(passwordAuth({ name: `ghost${i}`, domain: { id: 'default' } }, 'nope')));
        }
        assert.ok(
          median(unknown) > median(wrong) / 2,
          `unknown ${median(unknown)} ms, wrong ${median(wrong)} ms`,
        );
      });
    });

    describe("Keystone's 400 for malformed bodies", () => {
      for (const [what, body, message] of [
        [
          'a numeric user id',
          passwordAuth({ id: 12 }, 'x'),
          "Invalid input for field 'identity/password/user/id': 12 is not of type 'string'",
        ],
        [
          'an object user name',
          passwordAuth({ name: { a: 1 }, domain: { id: 'default' } }, 'x'),
          "Invalid input for field 'identity/password/user/name': {'a': 1} is not of type 'string'",
        ],
        [
          'an array domain id',
          passwordAuth({ name: 'admin', domain: { id: ['default'] } }, 'x'),
          /identity\/password\/user\/domain\/id/,
        ],
        [
          'a numeric password (not echoed)',
          passwordAuth({ name: 'admin', domain: { id: 'default' } }, 987654),
          "Invalid input for field 'identity/password/user/password': The value is not of type 'string'",
        ],
        [
          'an array project id in the scope',
          passwordAuth({ name: 'admin', domain: { id: 'default' } }, 'secret', { project: { id: [1] } }),
          "Invalid input for field 'scope/project/id': [1] is not of type 'string'",
        ],
        [
          'a numeric token id',
          { auth: { identity: { methods: ['token'], token: { id: 5 } } } },
          "Invalid input for field 'identity/token/id': 5 is not of type 'string'",
        ],
        ['methods not an array', { auth: { identity: { methods: 'password' } } }, /identity\/methods/],
        ['no identity', { auth: {} }, "'identity' is a required property"],
        ['no auth', {}, "'auth' is a required property"],
        [
          'a non-boolean system.all',
          passwordAuth({ name: 'admin', domain: { id: 'default' } }, 'secret', { system: { all: 'yes' } }),
          /scope\/system\/all/,
        ],
      ] as const) {
        it(`POST /auth/tokens with ${what}`, async () => {
          const r = await t.request('POST', TOKENS, body);
          assertKeystoneError(r, 400, message);
          assert.equal(r.body.error.title, 'Bad Request');
          assert.doesNotMatch(r.body.error.message, /987654/);
        });
      }

      it('admin bodies too: a numeric user name is 400 in Keystone words', async () => {
        const r = await admin.post('/identity/v3/users', { user: { name: 5 } });
        assertKeystoneError(r, 400, "Invalid input for field 'user/name': 5 is not of type 'string'");
        const extra = await admin.post('/identity/v3/projects', { project: { name: 'x', color: 'red' } });
        assertKeystoneError(extra, 400, /Additional properties are not allowed \('color' was unexpected\)/);
      });

      it('repeated query keys on identity lists take the first value', async () => {
        for (const url of [
          '/identity/v3/users?name=admin&name=other',
          '/identity/v3/projects?name=admin&name=other&domain_id=default&domain_id=x',
          '/identity/v3/roles?name=admin&name=reader',
          '/identity/v3/role_assignments?user.id=a&user.id=b&role.id=c&role.id=d&scope.project.id=e&scope.project.id=f',
        ]) {
          const r = await admin.get(url);
          assert.equal(r.status, 200, `${url}: ${JSON.stringify(r.body)}`);
        }
        const users = await admin.get('/identity/v3/users?name=admin&name=other');
        assert.deepEqual(
          users.body.users.map((u: { name: string }) => u.name),
          ['admin'],
        );
      });
    });

    describe('roles and system scope', () => {
      it("bootstrap declares Keystone's roles with admin ⇒ member ⇒ reader", async () => {
        const names = (await t.server.services.identity.listRoles()).map((r) => r.name);
        for (const n of ['admin', 'member', 'reader']) assert.ok(names.includes(n));
        const u = await t.newProjectUser('member');
        const r = await subject(t.adminToken, 'GET', u.token);
        assert.deepEqual(
          r.body.token.roles.map((x: { name: string }) => x.name),
          ['member', 'reader'],
        );
        const reader = await t.newProjectUser('reader');
        assert.equal((await client(t, reader.token).get('/v2.0/networks')).status, 200);
        assert.equal(
          (await client(t, reader.token).post('/v2.0/networks', { network: { name: 'r' } })).status,
          403,
        );
      });

      it('the bootstrap admin gets a system-scoped token that acts as admin', async () => {
        const r = await t.request(
          'POST',
          TOKENS,
          passwordAuth({ name: 'admin', domain: { id: 'default' } }, 'secret', { system: { all: true } }),
        );
        assert.equal(r.status, 201, JSON.stringify(r.body));
        assert.deepEqual(r.body.token.system, { all: true });
        assert.equal(r.body.token.project, undefined);
        assert.ok(r.body.token.roles.some((x: { name: string }) => x.name === 'admin'));
        assert.ok(Array.isArray(r.body.token.catalog));
        const sys = client(t, String(r.headers['x-subject-token']));
        assert.equal((await sys.get('/identity/v3/users')).status, 200);
        assert.equal((await sys.get('/v2.0/networks')).status, 200);
        const assignments = await admin.get('/identity/v3/role_assignments?scope.system=all');
        assert.ok(
          assignments.body.role_assignments.some(
            (a: { scope: unknown }) => JSON.stringify(a.scope) === '{"system":{"all":true}}',
          ),
        );
      });

      it('a user without a system role assignment cannot scope to the system', async () => {
        const u = await t.newProjectUser();
        const r = await t.request(
          'POST',
          TOKENS,
          passwordAuth({ id: u.userId }, 'pw', { system: { all: true } }),
        );
        assertKeystoneError(r, 401, `User ${u.userId} has no access to the system.`);
        const reader = await roleId('reader');
        assert.equal((await admin.put(`/identity/v3/system/users/${u.userId}/roles/${reader}`)).status, 204);
        const ok = await t.request(
          'POST',
          TOKENS,
          passwordAuth({ id: u.userId }, 'pw', { system: { all: true } }),
        );
        assert.equal(ok.status, 201, JSON.stringify(ok.body));
        const sys = String(ok.headers['x-subject-token']);
        // A system reader may validate anyone's token but is no admin on the networking API.
        const other = await t.newProjectUser();
        assert.equal((await subject(sys, 'GET', other.token)).status, 200);
        assert.equal((await subject(sys, 'DELETE', other.token)).status, 403);
        assert.equal((await client(t, sys).get('/v2.0/networks')).status, 403);
      });
    });

    function h() {
      return { 'x-auth-token': t.adminToken };
    }
  });

  describe(`lockout and throttling (${dialect})`, () => {
    let t: TestServer;
    before(async () => {
      t = await startTestServer(dialect, {
        lockoutFailureAttempts: 3,
        lockoutDuration: 1,
        loginFailuresPerAddress: 5,
        loginFailureWindow: 60,
      });
    });
    after(() => t.close());

    it("locks a user after lockoutFailureAttempts failures with Keystone's 401, until the duration ends", async () => {
      const u = await t.newProjectUser();
      for (let i = 0; i < 3; i++)
        assertKeystoneError(
          await loginFrom(t, `198.51.100.${i}`, passwordAuth({ id: u.userId }, 'bad')),
          401,
        );
      const locked = await loginFrom(t, '198.51.100.9', passwordAuth({ id: u.userId }, 'pw'));
      assertKeystoneError(locked, 401, `The account is locked for user: ${u.userId}.`);
      await sleep(1100);
      assert.equal((await loginFrom(t, '198.51.100.9', passwordAuth({ id: u.userId }, 'pw'))).status, 201);
    });

    it('a successful login resets the counter; enabling the user lifts a lockout', async () => {
      const u = await t.newProjectUser();
      const attempt = (pw: string) => loginFrom(t, '203.0.113.1', passwordAuth({ id: u.userId }, pw));
      for (let round = 0; round < 2; round++) {
        assert.equal((await attempt('bad')).status, 401);
        assert.equal((await attempt('bad')).status, 401);
        assert.equal((await attempt('pw')).status, 201);
      }
      const v = await t.newProjectUser();
      for (let i = 0; i < 3; i++) await loginFrom(t, '203.0.113.2', passwordAuth({ id: v.userId }, 'bad'));
      assertKeystoneError(
        await loginFrom(t, '203.0.113.3', passwordAuth({ id: v.userId }, 'pw')),
        401,
        /locked/,
      );
      const path = `/identity/v3/users/${v.userId}`;
      const patched = await t.request(
        'PATCH',
        path,
        { user: { enabled: true } },
        { 'x-auth-token': t.adminToken },
      );
      assert.equal(patched.status, 200);
      assert.equal((await loginFrom(t, '203.0.113.3', passwordAuth({ id: v.userId }, 'pw'))).status, 201);
    });

    it('throttles an address after loginFailuresPerAddress failures: 429 before any password check', async () => {
      const body = passwordAuth({ name: 'nobody', domain: { id: 'default' } }, 'x');
      for (let i = 0; i < 5; i++) assert.equal((await loginFrom(t, '192.0.2.77', body)).status, 401);
      const start = Date.now();
      const r = await loginFrom(t, '192.0.2.77', body);
      assertKeystoneError(r, 429, /Too many failed authentication attempts/);
      assert.ok(Number(r.headers['retry-after']) > 0);
      assert.ok(Date.now() - start < 200);
      // Even the right password waits: the address is refused before any check.
      const admin = passwordAuth({ name: 'admin', domain: { id: 'default' } }, 'secret');
      assert.equal((await loginFrom(t, '192.0.2.77', admin)).status, 429);
      assert.equal((await loginFrom(t, '192.0.2.78', admin)).status, 201);
    });
  });
}

describe('server logs', () => {
  it('never show passwords or tokens', async () => {
    const lines: string[] = [];
    const dir = mkdtempSync(join(tmpdir(), 'neutrino-log-'));
    const store = await Store.open(join(dir, 'n.db'));
    const log = serverLogger(pino({ level: 'trace' }, { write: (l: string) => void lines.push(l) }));
    const server = await buildServer({
      store,
      settings: DEFAULT_SETTINGS,
      metrics: new Metrics(),
      auth: 'keystone',
      logger: log,
    });
    try {
      const password = 'S3cret-password-for-log-test';
      await server.services.identity.bootstrap(password);
      const login = (pw: string) =>
        server.app.inject({
          method: 'POST',
          url: TOKENS,
          headers: { 'content-type': 'application/json' },
          payload: JSON.stringify(
            passwordAuth({ name: 'admin', domain: { id: 'default' } }, pw, {
              project: { name: 'admin', domain: { id: 'default' } },
            }),
          ),
        });
      assert.equal((await login('wrong-password-for-log-test')).statusCode, 401);
      const ok = await login(password);
      assert.equal(ok.statusCode, 201);
      const token = String(ok.headers['x-subject-token']);
      const headers = { 'x-auth-token': token, 'x-subject-token': token };
      assert.equal(
        (await server.app.inject({ method: 'GET', url: '/v2.0/networks', headers })).statusCode,
        200,
      );
      assert.equal((await server.app.inject({ method: 'GET', url: TOKENS, headers })).statusCode, 200);
      // Whatever a handler logs of a request: its headers and body are censored.
      server.app.log.info(
        {
          headers,
          body: passwordAuth({ name: 'admin' }, password),
          req: { headers, body: { auth: { identity: { token: { id: token } } } } },
        },
        'request seen',
      );
      const all = lines.join('\n');
      assert.ok(lines.length > 4, 'the server logged its requests');
      assert.match(all, /authentication failed/);
      assert.match(all, /\[REDACTED\]/);
      for (const secret of [password, 'wrong-password-for-log-test', token])
        assert.ok(!all.includes(secret), `the log shows ${secret.slice(0, 8)}…`);
    } finally {
      await server.app.close();
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
