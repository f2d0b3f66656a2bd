/**
 * `POST /neutrino/v1/trace` through the API: the request's validation (an empty body is a 400,
 * which is how the dashboard knows the API exists), a trace between a member's instances
 * across its router, and a member tracing into another project: its path ends where it leaves the
 * member's project, naming nothing of the other's (ids, names, addresses but the one the member
 * asked for), and the other's instances and ports are as unknown as endpoints as ones that do not
 * exist.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { client, dialects, startTestServer, type TestServer } from '../helpers/server.js';

type Client = ReturnType<typeof client>;

for (const dialect of dialects()) {
  describe(`trace (${dialect})`, () => {
    let t: TestServer;
    let admin: Client;
    let member: Client;
    let other: Client;
    before(async () => {
      t = await startTestServer(dialect, { defaultHost: 'h1' });
      admin = client(t, t.adminToken);
      member = client(t, (await t.newProjectUser()).token);
      other = client(t, (await t.newProjectUser()).token);
    });
    after(() => t.close());

    const network = async (c: Client, cidr: string) => {
      const net = (await c.post('/v2.0/networks', { network: { name: `n-${cidr}` } })).body.network;
      const sub = await c.post('/v2.0/subnets', { subnet: { network_id: net.id, ip_version: 4, cidr } });
      assert.equal(sub.status, 201, JSON.stringify(sub.body));
      return { network: net.id as string, subnet: sub.body.subnet.id as string };
    };
    const instance = async (c: Client, name: string, networkId: string) => {
      const r = await c.post('/neutrino/v1/instances', {
        instance: { name, networks: [{ network_id: networkId }] },
      });
      assert.equal(r.status, 201, JSON.stringify(r.body));
      return r.body.instance as { id: string; ports: { id: string; fixed_ips: { ip_address: string }[] }[] };
    };

    it('refuses an empty or wrong body with a 400', async () => {
      assert.equal((await member.post('/neutrino/v1/trace', {})).status, 400);
      const bad = await member.post('/neutrino/v1/trace', { source: 'a', destination: 'b', protocol: 'gre' });
      assert.equal(bad.status, 400);
      const noPort = await member.post('/neutrino/v1/trace', {
        source: 'a',
        destination: 'b',
        protocol: 'tcp',
      });
      assert.equal(noPort.status, 400);
      const unknown = await member.post('/neutrino/v1/trace', {
        source: 'a',
        destination: 'b',
        protocol: 'icmp',
      });
      assert.equal(unknown.status, 404);
      assert.match(unknown.body.NeutronError.message, /No instance, port or IP address found for source a/);
    });

    it('traces between a member’s instances across its router', async () => {
      const a = await network(member, '10.50.1.0/24');
      const b = await network(member, '10.50.2.0/24');
      const router = (await member.post('/v2.0/routers', { router: { name: 'r' } })).body.router;
      for (const s of [a.subnet, b.subnet])
        await member.put(`/v2.0/routers/${router.id}/add_router_interface`, { subnet_id: s });
      await instance(member, 'vm-a', a.network);
      const vmB = await instance(member, 'vm-b', b.network);
      const r = await member.post('/neutrino/v1/trace', {
        source: 'vm-a',
        destination: 'vm-b',
        protocol: 'icmp',
      });
      assert.equal(r.status, 200, JSON.stringify(r.body));
      assert.equal(r.body.verdict, 'allowed', JSON.stringify(r.body, null, 2));
      assert.equal(r.body.destination_ip, vmB.ports[0].fixed_ips[0].ip_address);
      const gateway = r.body.hops.find((h: { step: string }) => h.step === 'gateway');
      assert.deepEqual(gateway.object, { type: 'router', id: router.id, name: 'r' });
      const ssh = await member.post('/neutrino/v1/trace', {
        source: 'vm-a',
        destination: 'vm-b',
        protocol: 'tcp',
        port: 22,
      });
      assert.equal(ssh.body.verdict, 'allowed', 'the default group lets its members in');
    });

    it('keeps other projects’ instances out of a member’s reach; admins see everything', async () => {
      const c = await network(other, '10.60.1.0/24');
      const vmC = await instance(other, 'vm-c', c.network);
      const byName = await member.post('/neutrino/v1/trace', {
        source: 'vm-a',
        destination: 'vm-c',
        protocol: 'icmp',
      });
      assert.equal(byName.status, 404);
      const byIp = await member.post('/neutrino/v1/trace', {
        source: 'vm-a',
        destination: vmC.ports[0].fixed_ips[0].ip_address,
        protocol: 'icmp',
      });
      assert.equal(byIp.status, 200);
      assert.equal(byIp.body.verdict, 'unreachable');
      assert.doesNotMatch(JSON.stringify(byIp.body), new RegExp(vmC.id));
      const asAdmin = await admin.post('/neutrino/v1/trace', {
        source: 'vm-c',
        destination: 'vm-a',
        protocol: 'icmp',
      });
      assert.equal(asAdmin.status, 200);
      assert.equal(asAdmin.body.hops[0].object.id, vmC.ports[0].id);
    });

    it('ends a member’s path where it leaves its project, naming nothing beyond', async () => {
      const ext = (await admin.post('/v2.0/networks', { network: { name: 'ext', 'router:external': true } }))
        .body.network;
      const extSubnet = await admin.post('/v2.0/subnets', {
        subnet: { network_id: ext.id, ip_version: 4, cidr: '203.0.113.0/24' },
      });
      assert.equal(extSubnet.status, 201, JSON.stringify(extSubnet.body));
      const routed = async (c: Client, name: string, cidr: string) => {
        const net = await network(c, cidr);
        const router = (
          await c.post('/v2.0/routers', { router: { name, external_gateway_info: { network_id: ext.id } } })
        ).body.router;
        await c.put(`/v2.0/routers/${router.id}/add_router_interface`, { subnet_id: net.subnet });
        return { ...net, router: router.id as string };
      };
      const a = await routed(member, 'edge-a', '10.70.1.0/24');
      await instance(member, 'vm-a2', a.network);
      // Project B: a router on the external network, an instance behind it with a floating IP.
      const b = await routed(other, 'edge-b', '10.80.1.0/24');
      const vmB = await instance(other, 'vm-b', b.network);
      const fip = (
        await other.post('/v2.0/floatingips', {
          floatingip: { floating_network_id: ext.id, port_id: vmB.ports[0].id },
        })
      ).body.floatingip;
      const routerB = (await other.get(`/v2.0/routers/${b.router}`)).body.router;
      const gatewayB = routerB.external_gateway_info.external_fixed_ips[0].ip_address as string;
      const fixedB = vmB.ports[0].fixed_ips[0].ip_address;
      const secrets = [
        b.network,
        b.subnet,
        b.router,
        vmB.id,
        vmB.ports[0].id,
        fip.id,
        'edge-b',
        'vm-b',
        'n-10.80.1.0/24',
        fixedB,
        gatewayB,
        fip.floating_ip_address,
      ];
      for (const destination of [fip.floating_ip_address, fixedB, gatewayB]) {
        const r = await member.post('/neutrino/v1/trace', { source: 'vm-a2', destination, protocol: 'icmp' });
        assert.equal(r.status, 200, JSON.stringify(r.body));
        assert.equal(r.body.verdict, 'leaves_project', JSON.stringify(r.body, null, 2));
        const last = r.body.hops.at(-1);
        assert.equal(last.step, 'boundary');
        assert.deepEqual(last.object, { type: 'project', id: '', name: '' });
        assert.match(last.detail, /^the path leaves your project/);
        assert.equal(r.body.reason, last.detail);
        // The address the member asked for it knows already; nothing else of B's appears.
        const text = JSON.stringify(r.body);
        for (const secret of secrets)
          if (secret !== destination) assert.ok(!text.includes(secret), `${secret} in ${text}`);
      }
      const asAdmin = await admin.post('/neutrino/v1/trace', {
        source: 'vm-a2',
        destination: fip.floating_ip_address,
        protocol: 'icmp',
      });
      assert.notEqual(asAdmin.body.verdict, 'leaves_project');
      assert.ok(JSON.stringify(asAdmin.body).includes(vmB.ports[0].id), JSON.stringify(asAdmin.body));

      // B's port, instance or router as an endpoint: answered as an id that does not exist.
      const nobody = '4e0b1a52-0000-4000-8000-000000000000';
      const answer = async (source: string, destination: string, ref: string) => {
        const r = await member.post('/neutrino/v1/trace', { source, destination, protocol: 'icmp' });
        return { status: r.status, body: JSON.stringify(r.body).replaceAll(ref, 'REF') };
      };
      for (const ref of [vmB.ports[0].id, vmB.id, b.router]) {
        assert.deepEqual(await answer('vm-a2', ref, ref), await answer('vm-a2', nobody, nobody));
        assert.deepEqual(await answer(ref, 'vm-a2', ref), await answer(nobody, 'vm-a2', nobody));
      }
      assert.equal((await answer('vm-a2', nobody, nobody)).status, 404);
    });
  });
}
