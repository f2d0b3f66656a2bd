/**
 * Octavia's quotas (`/load-balancer/v2/lbaas/quotas`): unlimited defaults with the old spellings
 * beside the new ones, a member reading its own project's (not another's), only admins setting and
 * resetting them (Octavia's 403), a load balancer over quota refused with Octavia's 403 and nothing
 * left behind (no VIP port), a listener quota likewise, and a reset lifting the limit.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { client, dialects, startTestServer, type TestServer } from '../helpers/server.js';

const LB = '/load-balancer/v2/lbaas';
const UNLIMITED = {
  loadbalancer: -1,
  load_balancer: -1,
  listener: -1,
  member: -1,
  pool: -1,
  healthmonitor: -1,
  health_monitor: -1,
  l7policy: -1,
  l7rule: -1,
};

for (const dialect of dialects()) {
  describe(`load balancer quotas, Octavia v2 (${dialect})`, () => {
    let t: TestServer;
    before(async () => {
      t = await startTestServer(dialect);
    });
    after(() => t.close());

    it('limits a project as an admin sets it, refusing with Octavia’s 403 and leaving nothing behind', async () => {
      const admin = client(t, t.adminToken);
      const user = await t.newProjectUser();
      const member = client(t, user.token);
      const { network } = (await member.post('/v2.0/networks', { network: { name: 'q' } })).body;
      const { subnet } = (
        await member.post('/v2.0/subnets', {
          subnet: { network_id: network.id, ip_version: 4, cidr: '10.66.0.0/24' },
        })
      ).body;

      assert.deepEqual((await member.get(`${LB}/quotas/defaults`)).body, { quota: UNLIMITED });
      const own = await member.get(`${LB}/quotas/${user.projectId}`);
      assert.equal(own.status, 200);
      assert.deepEqual(own.body.quota, { project_id: user.projectId, ...UNLIMITED });
      const stranger = await member.get(`${LB}/quotas/${t.adminProjectId}`);
      assert.equal(stranger.status, 403);
      assert.equal(stranger.body.faultstring, 'Policy does not allow this request to be performed.');

      const refused = await member.put(`${LB}/quotas/${user.projectId}`, { quota: { loadbalancer: 5 } });
      assert.equal(refused.status, 403);
      const bad = await admin.put(`${LB}/quotas/${user.projectId}`, { quota: { loadbalancer: -2 } });
      assert.equal(bad.status, 400);
      const unknown = await admin.put(`${LB}/quotas/${user.projectId}`, { quota: { amphora: 1 } });
      assert.equal(unknown.status, 400);
      const set = await admin.put(`${LB}/quotas/${user.projectId}`, {
        quota: { load_balancer: 1, listener: 1 },
      });
      assert.equal(set.status, 202, JSON.stringify(set.body));
      assert.equal(set.body.quota.loadbalancer, 1, 'the old spelling sets the new one');
      assert.equal(set.body.quota.load_balancer, 1);
      assert.equal(set.body.quota.listener, 1);
      assert.equal(set.body.quota.pool, -1);
      const listed = (await admin.get(`${LB}/quotas`)).body.quotas as { project_id: string }[];
      assert.ok(listed.some((q) => q.project_id === user.projectId));
      assert.deepEqual(
        ((await member.get(`${LB}/quotas`)).body.quotas as { project_id: string }[]).map((q) => q.project_id),
        [user.projectId],
        'a member lists its own project only',
      );

      const first = await member.post(`${LB}/loadbalancers`, {
        loadbalancer: { name: 'a', vip_subnet_id: subnet.id },
      });
      assert.equal(first.status, 201, JSON.stringify(first.body));
      const ports = async () => (await member.get('/v2.0/ports?device_owner=Octavia')).body.ports.length;
      const before = await ports();
      const second = await member.post(`${LB}/loadbalancers`, {
        loadbalancer: { name: 'b', vip_subnet_id: subnet.id },
      });
      assert.equal(second.status, 403);
      assert.deepEqual(second.body, {
        faultcode: 'Client',
        faultstring: 'Quota has been met for resources: Load Balancer',
        debuginfo: null,
      });
      assert.equal(await ports(), before, 'no VIP port left by the refused create');
      const lb = first.body.loadbalancer.id;
      const listener = (port: number) =>
        member.post(`${LB}/listeners`, {
          listener: { loadbalancer_id: lb, protocol: 'TCP', protocol_port: port },
        });
      assert.equal((await listener(80)).status, 201);
      const over = await listener(81);
      assert.equal(over.status, 403);
      assert.equal(over.body.faultstring, 'Quota has been met for resources: Listener');

      assert.equal((await admin.del(`${LB}/quotas/${user.projectId}`)).status, 202);
      assert.deepEqual((await member.get(`${LB}/quotas/${user.projectId}`)).body.quota, {
        project_id: user.projectId,
        ...UNLIMITED,
      });
      assert.equal((await listener(81)).status, 201, 'the reset lifts the limit');
    });
  });
}
