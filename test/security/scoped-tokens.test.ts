/**
 * Only project-scoped tokens reach the networking API (`/v2.0`, `/neutrino/v1`), as Neutron
 * behind keystonemiddleware with scope enforcement: an unscoped or domain-scoped token gets a 403
 * and never the rows whose `project_id` is empty (router gateway and floating-IP ports); a token
 * whose user has lost its role on the project gets a 401.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { client, dialects, startTestServer, type TestServer } from '../helpers/server.js';

const PATHS = [
  '/v2.0/networks',
  '/v2.0/ports',
  '/v2.0/ports?device_owner=network:router_gateway',
  '/v2.0/routers',
  '/v2.0/floatingips',
  '/v2.0/floatingip-pools',
  '/v2.0/security-group-rules',
  '/neutrino/v1/instances',
  '/neutrino/v1/events?since=0',
];

for (const dialect of dialects()) {
  describe(`scoped tokens on the networking API (${dialect})`, () => {
    let t: TestServer;
    let unscoped: string;
    let domainScoped: string;
    before(async () => {
      t = await startTestServer(dialect);
      const admin = client(t, t.adminToken);
      // Rows with no project: an external network's router gateway port and a floating IP's port.
      const ext = (await admin.post('/v2.0/networks', { network: { name: 'ext', 'router:external': true } }))
        .body.network;
      await admin.post('/v2.0/subnets', {
        subnet: { network_id: ext.id, ip_version: 4, cidr: '198.51.100.0/24', enable_dhcp: false },
      });
      const router = await admin.post('/v2.0/routers', {
        router: { name: 'r', external_gateway_info: { network_id: ext.id } },
      });
      assert.equal(router.status, 201, JSON.stringify(router.body));
      assert.equal(
        (await admin.post('/v2.0/floatingips', { floatingip: { floating_network_id: ext.id } })).status,
        201,
      );

      const identity = t.server.services.identity;
      const user = await identity.createUser({ name: 'scope-less', password: 'pw' });
      const domainRole = (await identity.listRoles({ name: 'member' }))[0];
      await identity.grant('domain', 'default', user.id, domainRole.id);
      const login = async (scope?: unknown) => {
        const r = await t.request('POST', '/identity/v3/auth/tokens', {
          auth: {
            identity: {
              methods: ['password'],
              password: { user: { name: 'scope-less', domain: { id: 'default' }, password: 'pw' } },
            },
            ...(scope ? { scope } : {}),
          },
        });
        assert.equal(r.status, 201, JSON.stringify(r.body));
        return String(r.headers['x-subject-token']);
      };
      unscoped = await login();
      domainScoped = await login({ domain: { id: 'default' } });
    });
    after(() => t.close());

    it('refuses an unscoped token with a 403 on every path, never listing rows without a project', async () => {
      for (const path of PATHS) {
        const r = await client(t, unscoped).get(path);
        assert.equal(r.status, 403, `${path}: ${JSON.stringify(r.body)}`);
        assert.equal(r.body.NeutronError.type, 'PolicyNotAuthorized', path);
      }
    });

    it('refuses a domain-scoped token the same way', async () => {
      for (const path of PATHS) {
        const r = await client(t, domainScoped).get(path);
        assert.equal(r.status, 403, `${path}: ${JSON.stringify(r.body)}`);
      }
      const create = await client(t, domainScoped).post('/v2.0/networks', { network: { name: 'x' } });
      assert.equal(create.status, 403);
    });

    it('answers 401 once the user has lost its role on the token’s project', async () => {
      const m = await t.newProjectUser();
      assert.equal((await client(t, m.token).get('/v2.0/networks')).status, 200);
      const identity = t.server.services.identity;
      const role = (await identity.listRoles({ name: 'member' }))[0];
      await identity.revokeGrant('project', m.projectId, m.userId, role.id);
      const r = await client(t, m.token).get('/v2.0/networks');
      assert.equal(r.status, 401);
    });

    it('lets a project member see its own rows and none without a project', async () => {
      const m = await t.newProjectUser();
      const ports = await client(t, m.token).get('/v2.0/ports');
      assert.equal(ports.status, 200);
      assert.deepEqual(ports.body.ports, []);
      const fips = await client(t, m.token).get('/v2.0/floatingips');
      assert.deepEqual(fips.body.floatingips, []);
    });
  });
}
