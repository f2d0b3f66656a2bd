import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { client, dialects, startTestServer, type TestServer } from '../helpers/server.js';

/** 2^64 - 2: an IPv6 /64's default pool (all but the subnet-router anycast and the gateway). */
const V6_POOL = 18446744073709551614n;

for (const dialect of dialects()) {
  describe(`network ip availability (${dialect})`, () => {
    let t: TestServer;
    let admin: ReturnType<typeof client>;
    before(async () => {
      t = await startTestServer(dialect);
      admin = client(t, t.adminToken);
    });
    after(() => t.close());

    /** The raw JSON text, to check integers past 2^53 digit for digit. */
    async function rawGet(url: string): Promise<string> {
      const res = await t.server.app.inject({
        method: 'GET',
        url,
        headers: { 'x-auth-token': t.adminToken },
      });
      assert.equal(res.statusCode, 200, res.body);
      return res.body;
    }

    it('reports networks without subnets with zero totals', async () => {
      const net = (await admin.post('/v2.0/networks', { network: { name: 'empty' } })).body.network;
      const r = await admin.get(`/v2.0/network-ip-availabilities/${net.id}`);
      assert.equal(r.status, 200);
      assert.deepEqual(r.body.network_ip_availability, {
        network_id: net.id,
        network_name: 'empty',
        project_id: t.adminProjectId,
        tenant_id: t.adminProjectId,
        total_ips: 0,
        used_ips: 0,
        subnet_ip_availability: [],
      });
      const list = await admin.get('/v2.0/network-ip-availabilities?network_name=empty');
      assert.equal(list.body.network_ip_availabilities.length, 1);
      const v4 = await admin.get('/v2.0/network-ip-availabilities?ip_version=4&network_name=empty');
      assert.equal(v4.body.network_ip_availabilities.length, 0);
    });

    it('answers 404 for unknown networks and 400 for unknown filters', async () => {
      const r = await admin.get('/v2.0/network-ip-availabilities/00000000-0000-4000-8000-000000000000');
      assert.equal(r.status, 404);
      assert.equal(r.body.NeutronError.type, 'NetworkNotFound');
      assert.equal((await admin.get('/v2.0/network-ip-availabilities?bogus=1')).status, 400);
    });

    it('hides everything from members, as Neutron’s admin-only policy does', async () => {
      const p = await t.newProjectUser();
      const c = client(t, p.token);
      const net = (await c.post('/v2.0/networks', { network: { name: 'mine' } })).body.network;
      const list = await c.get('/v2.0/network-ip-availabilities');
      assert.equal(list.status, 200);
      assert.deepEqual(list.body.network_ip_availabilities, []);
      const one = await c.get(`/v2.0/network-ip-availabilities/${net.id}`);
      assert.equal(one.status, 404);
      assert.deepEqual(one.body, {
        type: 'HTTPNotFound',
        message: 'The resource could not be found.',
        detail: '',
      });
      const seen = await admin.get(`/v2.0/network-ip-availabilities?project_id=${p.projectId}`);
      assert.deepEqual(
        seen.body.network_ip_availabilities.map((n: { network_id: string }) => n.network_id),
        [net.id],
      );
    });

    it('counts pool sizes and allocations per subnet, exactly past 2^53', async () => {
      const net = (await admin.post('/v2.0/networks', { network: { name: 'counted' } })).body.network;
      const subnet = async (body: Record<string, unknown>) => {
        const r = await admin.post('/v2.0/subnets', { subnet: { network_id: net.id, ...body } });
        assert.equal(r.status, 201, JSON.stringify(r.body));
        return r.body.subnet as { id: string };
      };
      const v4 = await subnet({ ip_version: 4, cidr: '10.20.0.0/24', name: 'v4' });
      await subnet({ ip_version: 6, cidr: 'fd00:20::/64', name: 'v6' });
      const pooled = await subnet({
        ip_version: 4,
        cidr: '10.21.0.0/24',
        name: 'pooled',
        allocation_pools: [
          { start: '10.21.0.10', end: '10.21.0.19' },
          { start: '10.21.0.100', end: '10.21.0.104' },
        ],
      });
      const pinned = await admin.post('/v2.0/ports', {
        port: { network_id: net.id, fixed_ips: [{ subnet_id: pooled.id }] },
      });
      assert.equal(pinned.status, 201, JSON.stringify(pinned.body));
      assert.equal((await admin.post('/v2.0/ports', { port: { network_id: net.id } })).status, 201);
      // Whatever ports exist (DHCP ports included), every fixed IP counts.
      const used = new Map<string, number>();
      for (const p of (await admin.get(`/v2.0/ports?network_id=${net.id}`)).body.ports) {
        for (const ip of p.fixed_ips) used.set(ip.subnet_id, (used.get(ip.subnet_id) ?? 0) + 1);
      }
      assert.ok((used.get(pooled.id) ?? 0) >= 1);
      const usedTotal = [...used.values()].reduce((a, b) => a + b, 0);

      const r = await admin.get(`/v2.0/network-ip-availabilities/${net.id}`);
      assert.equal(r.status, 200);
      const subnets = r.body.network_ip_availability.subnet_ip_availability as { subnet_name: string }[];
      const byName = new Map(subnets.map((s) => [s.subnet_name, s as Record<string, unknown>]));
      assert.deepEqual(byName.get('v4'), {
        subnet_id: v4.id,
        subnet_name: 'v4',
        cidr: '10.20.0.0/24',
        ip_version: 4,
        total_ips: 253,
        used_ips: used.get(v4.id) ?? 0,
      });
      assert.equal(byName.get('pooled')?.total_ips, 15);
      assert.equal(byName.get('pooled')?.used_ips, used.get(pooled.id));
      assert.equal(r.body.network_ip_availability.used_ips, usedTotal);

      const raw = await rawGet(`/v2.0/network-ip-availabilities/${net.id}`);
      assert.ok(raw.includes(`"total_ips":${V6_POOL}`), raw);
      assert.ok(raw.includes(`"total_ips":${V6_POOL + 253n + 15n},`), raw);

      const v4only = await admin.get(`/v2.0/network-ip-availabilities?network_id=${net.id}&ip_version=4`);
      const only = v4only.body.network_ip_availabilities[0];
      assert.deepEqual(
        only.subnet_ip_availability.map((s: { ip_version: number }) => s.ip_version),
        [4, 4],
      );
      assert.equal(only.total_ips, 268);
      const fields = await admin.get(
        `/v2.0/network-ip-availabilities?network_id=${net.id}&fields=network_id&fields=used_ips`,
      );
      assert.deepEqual(fields.body.network_ip_availabilities, [{ network_id: net.id, used_ips: usedTotal }]);
    });
  });
}
