/**
 * `POST /neutrino/v1/trace` through the API: the request's validation (an empty body is a 400,
 * which is how the dashboard knows the API exists), a trace between a member's instances
 * across its router, and a member tracing into another project: its objects stay unnamed, and
 * its instances cannot be named as endpoints.
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

    it('keeps other projects’ objects unnamed; admins see everything', async () => {
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
  });
}
