/**
 * Traffic counters: what a host's agent reports per port is stored with the report before it, a
 * port's stats show the counters, the rates between the two reports and its drop counters to whoever
 * may see the port; an instance's and a router's stats are their ports' with sums; counters that
 * restart (a replugged device) give no rate; ports a host stops reporting lose their counters;
 * only admins (agents) may report.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { client, dialects, startTestServer, type TestServer } from '../helpers/server.js';

type Client = ReturnType<typeof client>;

const counters = (rx: number, tx: number) => ({
  rx_bytes: rx,
  rx_packets: Math.floor(rx / 100),
  tx_bytes: tx,
  tx_packets: Math.floor(tx / 100),
});

for (const dialect of dialects()) {
  describe(`port stats (${dialect})`, () => {
    let t: TestServer;
    let admin: Client;
    before(async () => {
      t = await startTestServer(dialect, { defaultHost: 'default-host' });
      admin = client(t, t.adminToken);
    });
    after(() => t.close());

    const report = async (host: string, body: Record<string, unknown>, c: Client = admin) =>
      c.post(`/neutrino/v1/hosts/${host}/status`, {
        revision: await t.store.latestRevision(),
        ports: {},
        ...body,
      });

    async function setup(c: Client) {
      const { network } = (await c.post('/v2.0/networks', { network: { name: 'stats' } })).body;
      const { subnet } = (
        await c.post('/v2.0/subnets', {
          subnet: { network_id: network.id, ip_version: 4, cidr: '10.95.0.0/24' },
        })
      ).body;
      await admin.post('/neutrino/v1/hosts/stats-host/heartbeat', {
        agent: { agent_type: 'Linux bridge agent', binary: 'neutrino-agent' },
      });
      const created = await c.post('/neutrino/v1/instances', {
        instance: { name: 'vm', networks: [{ network_id: network.id }] },
      });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      return { network, subnet, instance: created.body.instance };
    }

    it('shows zeros before any report, then counters, rates and drops', async () => {
      const member = await t.newProjectUser();
      const c = client(t, member.token);
      const { instance } = await setup(c);
      const portId = instance.ports[0].id;
      const empty = await c.get(`/neutrino/v1/ports/${portId}/stats`);
      assert.equal(empty.status, 200, JSON.stringify(empty.body));
      assert.deepEqual(empty.body.port_stats, {
        port_id: portId,
        host: null,
        updated_at: null,
        rx_bytes: 0,
        rx_packets: 0,
        tx_bytes: 0,
        tx_packets: 0,
        rx_bps: null,
        tx_bps: null,
        rx_pps: null,
        tx_pps: null,
        drops: {},
      });
      assert.equal(
        (await report('stats-host', { counters: { [portId]: counters(1000, 2000) } })).status,
        204,
      );
      const first = (await c.get(`/neutrino/v1/ports/${portId}/stats`)).body.port_stats;
      assert.equal(first.host, 'stats-host');
      assert.equal(first.rx_bytes, 1000);
      assert.equal(first.tx_bytes, 2000);
      assert.equal(first.rx_bps, null, 'one report: no rate yet');
      await sleep(250);
      const drops = { spoof: { packets: 2, bytes: 120 } };
      await report('stats-host', {
        counters: { [portId]: counters(1000 + 125_000, 2000) },
        drops: { [portId]: drops },
      });
      const second = (await c.get(`/neutrino/v1/ports/${portId}/stats`)).body.port_stats;
      assert.equal(second.rx_bytes, 126_000);
      // 125 000 bytes in about a quarter of a second: about 4 Mbit/s (the request itself takes some).
      assert.ok(second.rx_bps > 1_000_000 && second.rx_bps <= 4_000_000, `rx_bps ${second.rx_bps}`);
      assert.equal(second.tx_bps, 0);
      assert.deepEqual(second.drops, drops);

      const listed = (await c.get('/neutrino/v1/port-rates')).body.port_rates;
      assert.deepEqual(
        listed.find((r: { port_id: string }) => r.port_id === portId),
        { port_id: portId, rx_bps: second.rx_bps, tx_bps: 0 },
      );
      const stranger = client(t, (await t.newProjectUser()).token);
      const theirs = (await stranger.get('/neutrino/v1/port-rates')).body.port_rates;
      assert.ok(!theirs.some((r: { port_id: string }) => r.port_id === portId), 'not in another project');

      const instanceStats = await c.get(`/neutrino/v1/instances/${instance.id}/stats`);
      assert.equal(instanceStats.status, 200, JSON.stringify(instanceStats.body));
      assert.equal(instanceStats.body.instance_stats.rx_bytes, 126_000);
      assert.deepEqual(
        instanceStats.body.instance_stats.ports.map((p: { port_id: string }) => p.port_id),
        [portId],
      );

      await report('stats-host', { counters: { [portId]: counters(10, 20) } });
      const restarted = (await c.get(`/neutrino/v1/ports/${portId}/stats`)).body.port_stats;
      assert.equal(restarted.rx_bytes, 10);
      assert.equal(restarted.rx_bps, null, 'counters that went down restarted: no rate');

      await report('stats-host', { counters: {} });
      const gone = (await c.get(`/neutrino/v1/ports/${portId}/stats`)).body.port_stats;
      assert.equal(gone.host, null, 'a port its host no longer reports has no counters');
    });

    it("sums a router's ports", async () => {
      const member = await t.newProjectUser();
      const c = client(t, member.token);
      const { subnet } = await setup(c);
      const { router } = (await c.post('/v2.0/routers', { router: { name: 'r' } })).body;
      const added = await c.put(`/v2.0/routers/${router.id}/add_router_interface`, { subnet_id: subnet.id });
      assert.equal(added.status, 200, JSON.stringify(added.body));
      await report('stats-host', { counters: { [added.body.port_id]: counters(500, 700) } });
      const r = await c.get(`/neutrino/v1/routers/${router.id}/stats`);
      assert.equal(r.status, 200, JSON.stringify(r.body));
      assert.equal(r.body.router_stats.tx_bytes, 700);
      assert.equal(r.body.router_stats.ports.length, 1);
    });

    it('hides stats from other projects and lets only admins report', async () => {
      const owner = await t.newProjectUser();
      const { instance } = await setup(client(t, owner.token));
      const stranger = client(t, (await t.newProjectUser()).token);
      assert.equal((await stranger.get(`/neutrino/v1/ports/${instance.ports[0].id}/stats`)).status, 404);
      assert.equal((await stranger.get(`/neutrino/v1/instances/${instance.id}/stats`)).status, 404);
      const refused = await report('stats-host', { counters: {} }, client(t, owner.token));
      assert.equal(refused.status, 403);
      const text = String((await t.request('GET', '/metrics')).body);
      assert.doesNotMatch(text, /neutrino_port_bytes\{/, 'no per-port series without metrics_per_port');
      const bad = await report('stats-host', {
        counters: { x: { rx_bytes: -1, rx_packets: 0, tx_bytes: 0, tx_packets: 0 } },
      });
      assert.equal(bad.status, 400);
    });
  });

  describe(`per-port metrics (${dialect})`, () => {
    let t: TestServer;
    before(async () => {
      t = await startTestServer(dialect, { defaultHost: 'metrics-host', metricsPerPort: true });
    });
    after(() => t.close());

    it('puts every reported port on /metrics with its project, only with metrics_per_port', async () => {
      const admin = client(t, t.adminToken);
      const { network } = (await admin.post('/v2.0/networks', { network: { name: 'm' } })).body;
      const { port } = (await admin.post('/v2.0/ports', { port: { network_id: network.id } })).body;
      await admin.post('/neutrino/v1/hosts/metrics-host/status', {
        revision: await t.store.latestRevision(),
        ports: {},
        counters: { [port.id]: counters(4242, 17) },
      });
      const text = String((await t.request('GET', '/metrics')).body);
      const labels = `port_id="${port.id}",project_id="${port.project_id}"`;
      assert.match(text, new RegExp(`neutrino_port_bytes\\{${labels},direction="rx"\\} 4242`));
      assert.match(text, new RegExp(`neutrino_port_packets\\{${labels},direction="tx"\\} 0`));
    });
  });
}
