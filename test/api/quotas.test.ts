import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { client, dialects, startTestServer, type TestServer } from '../helpers/server.js';

const DEFAULTS = {
  network: 100,
  subnet: 100,
  port: 500,
  router: 10,
  floatingip: 50,
  security_group: 10,
  security_group_rule: 100,
  rbac_policy: 10,
};

for (const dialect of dialects()) {
  describe(`quotas (${dialect})`, () => {
    let t: TestServer;
    let admin: ReturnType<typeof client>;
    before(async () => {
      t = await startTestServer(dialect);
      admin = client(t, t.adminToken);
    });
    after(() => t.close());

    it('shows Neutron defaults for a project without limits of its own', async () => {
      const p = await t.newProjectUser();
      const r = await admin.get(`/v2.0/quotas/${p.projectId}`);
      assert.equal(r.status, 200);
      assert.deepEqual(r.body.quota, DEFAULTS);
      const d = await admin.get(`/v2.0/quotas/${p.projectId}/default`);
      assert.deepEqual(d.body.quota, DEFAULTS);
    });

    it('sets, lists and resets limits (openstack quota set --networks 5 PROJECT)', async () => {
      const p = await t.newProjectUser();
      const set = await admin.put(`/v2.0/quotas/${p.projectId}`, { quota: { network: 5, port: -1 } });
      assert.equal(set.status, 200);
      assert.deepEqual(set.body.quota, { ...DEFAULTS, network: 5, port: -1 });
      assert.equal((await admin.get(`/v2.0/quotas/${p.projectId}`)).body.quota.network, 5);
      assert.equal(
        (await admin.put(`/v2.0/quotas/${p.projectId}`, { quota: { network: 7 } })).body.quota.network,
        7,
      );

      const list = await admin.get('/v2.0/quotas');
      assert.equal(list.status, 200);
      const mine = list.body.quotas.find((q: { project_id: string }) => q.project_id === p.projectId);
      assert.deepEqual(mine, {
        ...DEFAULTS,
        network: 7,
        port: -1,
        project_id: p.projectId,
        tenant_id: p.projectId,
      });

      assert.equal((await admin.del(`/v2.0/quotas/${p.projectId}`)).status, 204);
      assert.deepEqual((await admin.get(`/v2.0/quotas/${p.projectId}`)).body.quota, DEFAULTS);
      assert.ok(
        (await admin.get('/v2.0/quotas')).body.quotas.every(
          (q: { project_id: string }) => q.project_id !== p.projectId,
        ),
      );
      const again = await admin.del(`/v2.0/quotas/${p.projectId}`);
      assert.equal(again.status, 404);
      assert.equal(again.body.NeutronError.type, 'TenantQuotaNotFound');
    });

    it('rejects unknown resources, non-integers and values below -1', async () => {
      const p = await t.newProjectUser();
      for (const quota of [{ bogus: 1 }, { network: 'lots' }, { network: -2 }, { network: 1.5 }]) {
        const r = await admin.put(`/v2.0/quotas/${p.projectId}`, { quota });
        assert.equal(r.status, 400, JSON.stringify(quota));
        assert.ok(r.body.NeutronError, JSON.stringify(r.body));
      }
      assert.equal((await admin.put(`/v2.0/quotas/${p.projectId}`, { quotas: {} })).status, 400);
      assert.equal(
        (await admin.put(`/v2.0/quotas/${p.projectId}`, { quota: { network: 3, tenant_id: 'other' } }))
          .status,
        400,
      );
      const same = await admin.put(`/v2.0/quotas/${p.projectId}`, {
        quota: { network: 3, tenant_id: p.projectId },
      });
      assert.equal(same.status, 200);
    });

    it('details: limit, used and reserved per resource, for the project itself or an admin', async () => {
      const p = await t.newProjectUser();
      const c = client(t, p.token);
      await c.post('/v2.0/networks', { network: { name: 'a' } });
      await c.post('/v2.0/networks', { network: { name: 'b' } });
      await admin.put(`/v2.0/quotas/${p.projectId}`, { quota: { network: 4 } });
      for (const path of ['details', 'details.json']) {
        const r = await c.get(`/v2.0/quotas/${p.projectId}/${path}`);
        assert.equal(r.status, 200);
        assert.deepEqual(r.body.quota.network, { limit: 4, used: 2, reserved: 0 });
        assert.deepEqual(r.body.quota.router, { limit: 10, used: 0, reserved: 0 });
        assert.deepEqual(Object.keys(r.body.quota).sort(), Object.keys(DEFAULTS).sort());
      }
      assert.deepEqual((await admin.get(`/v2.0/quotas/${p.projectId}/details`)).body.quota.network.used, 2);
    });

    it('check_limit refuses a limit below usage; without it the limit is set and creates are refused', async () => {
      const p = await t.newProjectUser();
      const c = client(t, p.token);
      await c.post('/v2.0/networks', { network: {} });
      await c.post('/v2.0/networks', { network: {} });
      const checked = await admin.put(`/v2.0/quotas/${p.projectId}`, {
        quota: { network: 1, check_limit: true },
      });
      assert.equal(checked.status, 400);
      assert.match(checked.body.NeutronError.message, /must be greater than or equal to already used 2/);
      assert.equal((await admin.get(`/v2.0/quotas/${p.projectId}`)).body.quota.network, 100);
      assert.equal(
        (await admin.put(`/v2.0/quotas/${p.projectId}`, { quota: { network: 2, check_limit: true } })).status,
        200,
      );
      assert.equal((await admin.put(`/v2.0/quotas/${p.projectId}`, { quota: { network: 1 } })).status, 200);
      const over = await c.post('/v2.0/networks', { network: {} });
      assert.equal(over.status, 409);
      assert.equal(over.body.NeutronError.type, 'OverQuota');
    });

    it('members read their own quotas only and change none', async () => {
      const p = await t.newProjectUser();
      const q = await t.newProjectUser();
      const c = client(t, p.token);
      assert.equal((await c.get(`/v2.0/quotas/${p.projectId}`)).status, 200);
      assert.equal((await c.get(`/v2.0/quotas/${p.projectId}/default`)).status, 200);
      for (const path of ['', '/default']) {
        const r = await c.get(`/v2.0/quotas/${q.projectId}${path}`);
        assert.equal(r.status, 403, path);
        assert.equal(r.body.NeutronError.type, 'PolicyNotAuthorized');
      }
      const details = await c.get(`/v2.0/quotas/${q.projectId}/details`);
      assert.equal(details.status, 403);
      assert.equal(details.body.NeutronError.type, 'AdminRequired');
      assert.deepEqual(await c.get('/v2.0/quotas').then((r) => [r.status, r.body]), [
        403,
        {
          NeutronError: {
            type: 'AdminRequired',
            message: 'User does not have admin privileges: Only admin can view or configure quota.',
            detail: '',
          },
        },
      ]);
      assert.equal((await c.put(`/v2.0/quotas/${p.projectId}`, { quota: { network: 1000 } })).status, 403);
      assert.equal((await c.del(`/v2.0/quotas/${p.projectId}`)).status, 403);
      const reader = client(t, (await t.newProjectUser('reader')).token);
      assert.equal((await reader.put(`/v2.0/quotas/${p.projectId}`, { quota: { network: 1 } })).status, 403);
    });
  });
}
