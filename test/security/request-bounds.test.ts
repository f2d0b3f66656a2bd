/**
 * Bounded requests: how many items each list of a request body may hold (Neutron's limits with
 * Neutron's errors, a schema ceiling elsewhere), how deep and large free-form dictionaries may
 * be, and that long filter lists and allowed worst cases are answered, quickly, without a 500.
 */
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { after, before, describe, it } from 'node:test';
import { DEFAULT_QUOTAS } from '../../src/core/settings.js';
import { client, dialects, startTestServer, type TestServer } from '../helpers/server.js';

type Client = ReturnType<typeof client>;
type Reply = { status: number; body: { NeutronError?: { type: string; message: string } } };

const range = <T>(n: number, item: (i: number) => T): T[] => Array.from({ length: n }, (_, i) => item(i));
const uuid = (i: number) => `${i.toString(16).padStart(8, '0')}-0000-4000-8000-000000000000`;

for (const dialect of dialects()) {
  describe(`request bounds (${dialect})`, () => {
    let t: TestServer;
    let admin: Client;
    let net: { id: string };
    let sub: { id: string };
    before(async () => {
      t = await startTestServer(dialect, { quotas: { ...DEFAULT_QUOTAS, port: 10_000 } });
      admin = client(t, t.adminToken);
      net = (await admin.post('/v2.0/networks', { network: { name: 'n', shared: true } })).body.network;
      sub = (
        await admin.post('/v2.0/subnets', {
          subnet: { network_id: net.id, ip_version: 4, cidr: '10.0.0.0/16' },
        })
      ).body.subnet;
    });
    after(() => t.close());

    const refused = (r: Reply, type: string, message?: string) => {
      assert.equal(r.status, 400, JSON.stringify(r.body));
      assert.equal(r.body.NeutronError?.type, type, JSON.stringify(r.body));
      if (message !== undefined) assert.equal(r.body.NeutronError?.message, message);
    };
    const ips = (n: number) => range(n, () => ({ subnet_id: sub.id }));
    const port = (body: Record<string, unknown>, c: Client = admin) =>
      c.post('/v2.0/ports', { port: { network_id: net.id, ...body } });
    const TOO_MANY_IPS = 'Invalid input for operation: Exceeded maximum amount of fixed ips per port.';

    it('holds ports to max_fixed_ips_per_port on create, bulk create and update', async () => {
      assert.equal((await port({ fixed_ips: ips(5) })).status, 201);
      refused(await port({ fixed_ips: ips(6) }), 'InvalidInput', TOO_MANY_IPS);
      const before = (await admin.get(`/v2.0/ports?network_id=${net.id}`)).body.ports.length;
      const bulk = await admin.post('/v2.0/ports', {
        ports: [{ network_id: net.id }, { network_id: net.id, fixed_ips: ips(6) }],
      });
      refused(bulk, 'InvalidInput', TOO_MANY_IPS);
      const after = (await admin.get(`/v2.0/ports?network_id=${net.id}`)).body.ports.length;
      assert.equal(after, before, 'a refused bulk create creates nothing');
      const p = (await port({})).body.port;
      const update = await admin.put(`/v2.0/ports/${p.id}`, { port: { fixed_ips: ips(6) } });
      refused(update, 'InvalidInput', TOO_MANY_IPS);
      const five = await admin.put(`/v2.0/ports/${p.id}`, { port: { fixed_ips: ips(5) } });
      assert.equal(five.status, 200);
      assert.equal(five.body.port.fixed_ips.length, 5);
    });

    it('lets network: owners (DHCP, routers) hold more, as Neutron does', async () => {
      const r = await port({ device_owner: 'network:dhcp', fixed_ips: ips(8) });
      assert.equal(r.status, 201);
      assert.equal(r.body.port.fixed_ips.length, 8);
    });

    it('refuses a port asking for thousands of addresses at once, taking none', async () => {
      const member = client(t, (await t.newProjectUser()).token);
      const start = performance.now();
      const r = await port({ fixed_ips: ips(3000) }, member);
      assert.equal(r.status, 400);
      assert.ok(performance.now() - start < 500, 'refused without allocating');
      const trusted = await port({ device_owner: 'network:dhcp', fixed_ips: ips(1001) });
      assert.equal(trusted.status, 400, 'the schema ceiling holds for every owner');
    });

    it('takes the limit from the server settings', async () => {
      const small = await startTestServer(dialect, { maxFixedIpsPerPort: 1, maxDnsNameservers: 1 });
      try {
        const c = client(small, small.adminToken);
        const n = (await c.post('/v2.0/networks', { network: {} })).body.network;
        const s = (
          await c.post('/v2.0/subnets', { subnet: { network_id: n.id, ip_version: 4, cidr: '10.1.0.0/24' } })
        ).body.subnet;
        const two = [{ subnet_id: s.id }, { subnet_id: s.id }];
        refused(await c.post('/v2.0/ports', { port: { network_id: n.id, fixed_ips: two } }), 'InvalidInput');
        const dns = await c.put(`/v2.0/subnets/${s.id}`, {
          subnet: { dns_nameservers: ['1.1.1.1', '8.8.8.8'] },
        });
        refused(dns, 'DNSNameServersExhausted');
      } finally {
        await small.close();
      }
    });

    it("holds subnets, routers and address pairs to Neutron's limits with Neutron's errors", async () => {
      const servers = (n: number) => range(n, (i) => `10.9.${i >> 8}.${(i & 255) + 1}`);
      const hostRoutes = (n: number) =>
        range(n, (i) => ({ destination: `172.${16 + (i >> 8)}.${i & 255}.0/24`, nexthop: '10.0.0.9' }));
      const subnet = (body: Record<string, unknown>) =>
        admin.post('/v2.0/subnets', {
          subnet: { network_id: net.id, ip_version: 4, cidr: '10.200.0.0/24', ...body },
        });
      for (const n of [6, 20_000]) {
        refused(
          await subnet({ dns_nameservers: servers(n) }),
          'DNSNameServersExhausted',
          'Unable to complete operation for new subnet. The number of DNS nameservers exceeds the limit 5.',
        );
      }
      for (const n of [21, 20_000])
        refused(await subnet({ host_routes: hostRoutes(n) }), 'HostRoutesExhausted');
      const full = await subnet({ dns_nameservers: servers(5), host_routes: hostRoutes(20) });
      assert.equal(full.status, 201);
      await admin.del(`/v2.0/subnets/${full.body.subnet.id}`);

      const router = (await admin.post('/v2.0/routers', { router: { name: 'r' } })).body.router;
      const routes = (n: number) =>
        range(n, (i) => ({ destination: `192.168.${i & 255}.0/24`, nexthop: '10.0.0.9' }));
      for (const n of [31, 20_000]) {
        refused(
          await admin.put(`/v2.0/routers/${router.id}`, { router: { routes: routes(n) } }),
          'RoutesExhausted',
        );
        const add = await admin.put(`/v2.0/routers/${router.id}/add_extraroutes`, {
          router: { routes: routes(n) },
        });
        refused(add, 'RoutesExhausted');
      }

      const pairs = (n: number) => range(n, (i) => ({ ip_address: `10.8.${i >> 8}.${i & 255}` }));
      for (const n of [11, 20_000]) {
        refused(
          await port({ allowed_address_pairs: pairs(n) }),
          'AllowedAddressPairExhausted',
          'The number of allowed address pair exceeds the maximum 10.',
        );
      }
      assert.equal((await port({ allowed_address_pairs: pairs(10) })).status, 201);
    });

    it('caps the lists Neutron leaves unbounded', async () => {
      refused(await port({ security_groups: range(65, uuid) }), 'HTTPBadRequest');
      const opts = range(65, (i) => ({ opt_name: `o${i}`, opt_value: 'v' }));
      refused(await port({ extra_dhcp_opts: opts }), 'HTTPBadRequest');
      const zones = range(33, (i) => `az${i}`);
      refused(
        await admin.post('/v2.0/networks', { network: { availability_zone_hints: zones } }),
        'HTTPBadRequest',
      );
      const pools = range(101, (i) => ({ start: `10.201.0.${i + 2}`, end: `10.201.0.${i + 2}` }));
      const subnet = { network_id: net.id, ip_version: 4, cidr: '10.201.0.0/24', allocation_pools: pools };
      refused(await admin.post('/v2.0/subnets', { subnet }), 'HTTPBadRequest');
      const types = range(33, (i) => `compute:az${i}`);
      const typed = { ...subnet, allocation_pools: undefined, service_types: types };
      refused(await admin.post('/v2.0/subnets', { subnet: typed }), 'HTTPBadRequest');
    });

    it("holds a resource to Neutron's 50 tags however they are added", async () => {
      const n = (await admin.post('/v2.0/networks', { network: {} })).body.network;
      const tags = (count: number) => range(count, (i) => `t${i}`);
      const message = 'Bad networks request: The number of tags exceed the per-resource limit of 50.';
      refused(await admin.put(`/v2.0/networks/${n.id}/tags`, { tags: tags(51) }), 'BadRequest', message);
      assert.equal((await admin.put(`/v2.0/networks/${n.id}/tags`, { tags: tags(50) })).status, 200);
      refused(await admin.put(`/v2.0/networks/${n.id}/tags/one-more`), 'BadRequest', message);
      assert.equal(
        (await admin.put(`/v2.0/networks/${n.id}/tags/t0`)).status,
        201,
        'an existing tag is no change',
      );
    });

    it('bounds the depth and size of binding:profile', async () => {
      const nested = (depth: number): Record<string, unknown> =>
        depth === 1 ? { a: 1 } : { a: nested(depth - 1) };
      const ok = await port({ 'binding:profile': nested(4) });
      assert.equal(ok.status, 201);
      refused(
        await port({ 'binding:profile': nested(5) }),
        'InvalidInput',
        "Invalid input for operation: 'binding:profile' is nested more than 4 levels deep.",
      );
      const deep = `{"port": {"network_id": "${net.id}", "binding:profile": ${'{"a":'.repeat(100_000)}1${'}'.repeat(100_000)}}}`;
      refused(await admin.post('/v2.0/ports', deep, { 'content-type': 'application/json' }), 'InvalidInput');
      refused(await port({ 'binding:profile': { blob: 'x'.repeat(5000) } }), 'InvalidInput');
      const update = await admin.put(`/v2.0/ports/${ok.body.port.id}`, {
        port: { 'binding:profile': nested(6) },
      });
      refused(update, 'InvalidInput');
    });

    it('answers filters with tens of thousands of values (more than SQL binds at once)', async () => {
      const p = (await port({})).body.port;
      const ids = [...range(40_000, uuid), p.id];
      const query = (key: string) => ids.map((id) => `${key}=${id}`).join('&');
      for (const collection of [
        'ports',
        'networks',
        'subnets',
        'security-groups',
        'security-group-rules',
        'routers',
      ]) {
        const r = await admin.get(`/v2.0/${collection}?${query('id')}`);
        assert.equal(r.status, 200, `${collection}: ${JSON.stringify(r.body).slice(0, 300)}`);
      }
      const ports = await admin.get(`/v2.0/ports?${query('id')}`);
      assert.deepEqual(
        ports.body.ports.map((x: { id: string }) => x.id),
        [p.id],
      );
      const both = await admin.get(`/v2.0/ports?${query('id')}&${query('device_id')}&device_id=`);
      assert.equal(both.status, 200);
      assert.deepEqual(
        both.body.ports.map((x: { id: string }) => x.id),
        [p.id],
        'two long filters: the one left out of SQL still filters',
      );
    });

    it("keeps one project's burst of writes from queueing ahead of another project", async () => {
      const a = client(t, (await t.newProjectUser()).token);
      const b = client(t, (await t.newProjectUser()).token);
      const netA = (await a.post('/v2.0/networks', { network: {} })).body.network;
      await a.post('/v2.0/subnets', { subnet: { network_id: netA.id, ip_version: 4, cidr: '10.5.0.0/20' } });
      const netB = (await b.post('/v2.0/networks', { network: {} })).body.network;
      await b.post('/v2.0/subnets', { subnet: { network_id: netB.id, ip_version: 4, cidr: '10.6.0.0/24' } });
      let stop = false;
      let creates = 0;
      const burst = range(8, async () => {
        while (!stop) {
          assert.equal((await a.post('/v2.0/ports', { port: { network_id: netA.id } })).status, 201);
          creates++;
        }
      });
      await new Promise((resolve) => setTimeout(resolve, 50));
      const before = creates;
      for (let i = 0; i < 10; i++) {
        assert.equal((await b.get('/v2.0/networks')).status, 200);
        assert.equal((await b.post('/v2.0/ports', { port: { network_id: netB.id } })).status, 201);
      }
      const during = creates - before;
      stop = true;
      await Promise.all(burst);
      // The store serves transactions in arrival order: each of B's requests waited behind A's
      // queued writes, ~80 of them in all (SQLite and PostgreSQL alike). With at most two of
      // A's writes in progress at once (projectWriteConcurrency), 20 to 36.
      assert.ok(during < 60, `A created ${during} ports during B's 20 requests`);
    });

    it('allocates in time that grows with the number of addresses, not its square', async () => {
      const bulk = async (ports: number) => {
        const n = (await admin.post('/v2.0/networks', { network: {} })).body.network;
        const s = (
          await admin.post('/v2.0/subnets', {
            subnet: { network_id: n.id, ip_version: 4, cidr: '10.0.0.0/16' },
          })
        ).body.subnet;
        const body = range(ports, () => ({
          network_id: n.id,
          fixed_ips: range(5, () => ({ subnet_id: s.id })),
        }));
        const start = performance.now();
        const r = await admin.post('/v2.0/ports', { ports: body });
        assert.equal(r.status, 201);
        return performance.now() - start;
      };
      // The faster of two runs each, so a busy machine (other tests, labs) does not decide.
      const small = Math.min(await bulk(200), await bulk(200));
      const large = Math.min(await bulk(1000), await bulk(1000));
      // Each address once walked every address taken before it: the 5000 of the large bulk
      // took 16 times as long as the small bulk's 1000 on SQLite (6.1 s); linear is 5 times. The
      // bound sits between the two (their geometric mean), as far from either.
      assert.ok(
        large < small * 11,
        `1000 ports: ${Math.round(large)} ms, 200 ports: ${Math.round(small)} ms`,
      );
    });
  });
}
