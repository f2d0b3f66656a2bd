/**
 * Metering: labels and rules created, listed, shown and deleted as Neutron answers (admins only,
 * as its default policy), each refusal (overlapping remote prefixes → MeteringLabelRuleOverlaps,
 * a remote prefix with source/destination ones, no prefix at all, a prefix with host bits, an
 * unknown label, updates), a label's rules going with it, the routers' snapshot carrying their
 * project's and the shared labels, and the counts agents report served as stats that never go
 * back when a counter restarts.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { client, dialects, startTestServer, type TestServer } from '../helpers/server.js';

type Client = ReturnType<typeof client>;

for (const dialect of dialects()) {
  describe(`metering (${dialect})`, () => {
    let t: TestServer;
    let admin: Client;
    let member: Client;
    let memberProject: string;
    before(async () => {
      t = await startTestServer(dialect);
      admin = client(t, t.adminToken);
      const m = await t.newProjectUser();
      memberProject = m.projectId;
      member = client(t, m.token);
    });
    after(() => t.close());

    const label = async (body: Record<string, unknown> = {}) => {
      const r = await admin.post('/v2.0/metering/metering-labels', {
        metering_label: { name: 'l', ...body },
      });
      assert.equal(r.status, 201, JSON.stringify(r.body));
      return r.body.metering_label as { id: string; project_id: string };
    };
    const rule = (body: Record<string, unknown>) =>
      admin.post('/v2.0/metering/metering-label-rules', { metering_label_rule: body });

    it('creates, lists, shows and deletes labels and rules; members see and change nothing', async () => {
      const l = await label({ description: 'd', project_id: memberProject });
      assert.deepEqual(
        { ...l, id: undefined },
        {
          id: undefined,
          name: 'l',
          description: 'd',
          project_id: memberProject,
          tenant_id: memberProject,
          shared: false,
        },
      );
      const r = await rule({ metering_label_id: l.id, remote_ip_prefix: '198.51.100.0/24' });
      assert.equal(r.status, 201, JSON.stringify(r.body));
      assert.deepEqual(
        { ...r.body.metering_label_rule, id: undefined },
        {
          id: undefined,
          project_id: memberProject,
          tenant_id: memberProject,
          metering_label_id: l.id,
          direction: 'ingress',
          excluded: false,
          remote_ip_prefix: '198.51.100.0/24',
          source_ip_prefix: null,
          destination_ip_prefix: null,
        },
      );
      const listed = await admin.get(`/v2.0/metering/metering-label-rules?metering_label_id=${l.id}`);
      assert.equal(listed.body.metering_label_rules.length, 1);
      assert.equal((await admin.get(`/v2.0/metering/metering-labels/${l.id}`)).status, 200);
      // Neutron's policy: metering is the admins'.
      assert.deepEqual((await member.get('/v2.0/metering/metering-labels')).body.metering_labels, []);
      assert.equal((await member.get(`/v2.0/metering/metering-labels/${l.id}`)).status, 404);
      const denied = await member.post('/v2.0/metering/metering-labels', { metering_label: { name: 'x' } });
      assert.equal(denied.status, 403);
      assert.equal((await member.del(`/v2.0/metering/metering-labels/${l.id}`)).status, 404);
      const renamed = await admin.put(`/v2.0/metering/metering-labels/${l.id}`, {
        metering_label: { name: 'n' },
      });
      assert.equal(renamed.status, 400, 'labels cannot be updated');
      // The label's rules go with it.
      assert.equal((await admin.del(`/v2.0/metering/metering-labels/${l.id}`)).status, 204);
      const gone = await admin.get(`/v2.0/metering/metering-label-rules/${r.body.metering_label_rule.id}`);
      assert.equal(gone.status, 404);
      assert.equal(gone.body.NeutronError.type, 'MeteringLabelRuleNotFound');
      const labelGone = await admin.get(`/v2.0/metering/metering-labels/${l.id}`);
      assert.equal(labelGone.body.NeutronError.type, 'MeteringLabelNotFound');
    });

    it('refuses overlapping and malformed rules as Neutron does', async () => {
      const l = await label();
      assert.equal(
        (await rule({ metering_label_id: l.id, direction: 'egress', remote_ip_prefix: '10.0.0.0/16' }))
          .status,
        201,
      );
      const overlap = await rule({
        metering_label_id: l.id,
        direction: 'egress',
        remote_ip_prefix: '10.0.5.0/24',
      });
      assert.equal(overlap.status, 409);
      assert.equal(overlap.body.NeutronError.type, 'MeteringLabelRuleOverlaps');
      assert.match(overlap.body.NeutronError.message, /10\.0\.5\.0\/24 overlaps another/);
      // Another direction, or an excluded rule, may overlap.
      assert.equal(
        (await rule({ metering_label_id: l.id, direction: 'ingress', remote_ip_prefix: '10.0.5.0/24' }))
          .status,
        201,
      );
      const excluded = await rule({
        metering_label_id: l.id,
        direction: 'egress',
        excluded: true,
        remote_ip_prefix: '10.0.5.0/24',
      });
      assert.equal(excluded.status, 201);
      assert.equal(excluded.body.metering_label_rule.excluded, true);
      const both = await rule({
        metering_label_id: l.id,
        remote_ip_prefix: '10.1.0.0/24',
        source_ip_prefix: '10.2.0.0/24',
      });
      assert.equal(both.status, 400);
      assert.match(both.body.NeutronError.message, /Cannot use 'remote-ip-prefix' in conjunction/);
      const none = await rule({ metering_label_id: l.id });
      assert.equal(none.status, 400);
      assert.match(none.body.NeutronError.message, /at least one of the following parameters/);
      const hostBits = await rule({ metering_label_id: l.id, remote_ip_prefix: '10.3.0.1/24' });
      assert.equal(hostBits.status, 400);
      const badDirection = await rule({
        metering_label_id: l.id,
        direction: 'up',
        remote_ip_prefix: '10.4.0.0/24',
      });
      assert.equal(badDirection.status, 400);
      const unknown = await rule({
        metering_label_id: '8c3f0e39-0c8c-4a3e-9c3a-4e7a3c1c2b4d',
        remote_ip_prefix: '10.5.0.0/24',
      });
      assert.equal(unknown.status, 404);
      assert.equal(unknown.body.NeutronError.type, 'MeteringLabelNotFound');
      const sd = await rule({
        metering_label_id: l.id,
        direction: 'egress',
        source_ip_prefix: '10.6.0.0/24',
        destination_ip_prefix: '198.51.100.0/24',
      });
      assert.equal(sd.status, 201);
      assert.equal(sd.body.metering_label_rule.remote_ip_prefix, null);
      const rules = await admin.get(`/v2.0/metering/metering-label-rules?metering_label_id=${l.id}`);
      assert.equal(rules.body.metering_label_rules.length, 4, 'nothing half-made');
    });

    it("puts a project's and the shared labels on its routers, and serves monotonic counts", async () => {
      const router = await member.post('/v2.0/routers', { router: { name: 'metered' } });
      assert.equal(router.status, 201);
      const routerId = router.body.router.id as string;
      const own = await label({ project_id: memberProject });
      const shared = await label({ shared: true });
      const foreign = await label();
      await rule({ metering_label_id: own.id, direction: 'egress', remote_ip_prefix: '198.51.100.0/24' });
      await rule({
        metering_label_id: own.id,
        direction: 'egress',
        excluded: true,
        remote_ip_prefix: '198.51.100.7/32',
      });
      // A router is scheduled once it has a port: give it an interface on a subnet.
      const net = (await member.post('/v2.0/networks', { network: {} })).body.network;
      const sub = (
        await member.post('/v2.0/subnets', {
          subnet: { network_id: net.id, ip_version: 4, cidr: '10.20.0.0/24' },
        })
      ).body.subnet;
      assert.equal(
        (await member.put(`/v2.0/routers/${routerId}/add_router_interface`, { subnet_id: sub.id })).status,
        200,
      );
      const agent = await admin.post('/neutrino/v1/hosts/meter-host/heartbeat', {
        agent: { agent_type: 'L3 agent', binary: 'neutrino-agent', topic: 'l3_agent', configurations: {} },
      });
      assert.equal(agent.status, 200, JSON.stringify(agent.body));
      const snapshot = (await admin.post('/neutrino/v1/hosts/meter-host/sync', undefined)).body.snapshot;
      const r = snapshot.routers.find((x: { id: string }) => x.id === routerId);
      assert.ok(r, 'the router is on meter-host');
      assert.deepEqual(
        r.metering.map((m: { id: string }) => m.id).sort(),
        [own.id, shared.id].sort(),
        'not the foreign label',
      );
      const ownRules = r.metering.find((m: { id: string }) => m.id === own.id).rules;
      assert.deepEqual(
        ownRules
          .map((x: { direction: string; excluded: boolean; remote_ip_prefix: string }) => [
            x.direction,
            x.excluded,
            x.remote_ip_prefix,
          ])
          .sort((x: unknown[], y: unknown[]) => Number(x[1]) - Number(y[1])),
        [
          ['egress', false, '198.51.100.0/24'],
          ['egress', true, '198.51.100.7/32'],
        ],
      );
      void foreign;
      const report = (bytes: number, packets: number) =>
        admin.post('/neutrino/v1/hosts/meter-host/metering', {
          metering: [{ router_id: routerId, label_id: own.id, bytes, packets }],
        });
      assert.equal((await report(1000, 10)).status, 204);
      assert.equal((await report(1500, 15)).status, 204);
      // The counter restarted (a rebuilt namespace): what it had counted is kept.
      assert.equal((await report(200, 2)).status, 204);
      const stats = await admin.get(`/neutrino/v1/metering-labels/${own.id}/stats`);
      assert.equal(stats.status, 200, JSON.stringify(stats.body));
      assert.equal(stats.body.metering_label_stats.bytes, 1700);
      assert.equal(stats.body.metering_label_stats.packets, 17);
      assert.equal(stats.body.metering_label_stats.routers[0].router_id, routerId);
      assert.equal(stats.body.metering_label_stats.routers[0].host, 'meter-host');
      assert.equal((await member.get(`/neutrino/v1/metering-labels/${own.id}/stats`)).status, 404);
      const byMember = await member.post('/neutrino/v1/hosts/meter-host/metering', { metering: [] });
      assert.equal(byMember.status, 403);
    });

    it('advertises metering and its source and destination fields', async () => {
      for (const alias of ['metering', 'metering_source_and_destination_fields']) {
        assert.equal((await member.get(`/v2.0/extensions/${alias}`)).status, 200, alias);
      }
    });
  });
}
