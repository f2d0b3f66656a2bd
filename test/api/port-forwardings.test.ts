/**
 * Floating IP port forwardings: create/list/show/update/delete under a floating IP, the view
 * Neutron gives (ports and ranges), the floating IP's `port_forwardings` and router, each refusal
 * (an associated floating IP, associating one that forwards, the internal port and its address,
 * no router, duplicates of external or internal ports, mismatched ranges), the cascades on the
 * internal port's and the floating IP's delete, the router's guards, and another project's view.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { client, dialects, startTestServer, type TestServer } from '../helpers/server.js';

type Client = ReturnType<typeof client>;
type Reply = { status: number; body: { NeutronError?: { type: string; message: string } } };

const errorOf = (r: Reply) => `${r.status} ${r.body.NeutronError?.type}: ${r.body.NeutronError?.message}`;

for (const dialect of dialects()) {
  describe(`floating IP port forwardings (${dialect})`, () => {
    let t: TestServer;
    let admin: Client;
    let member: Client;
    let other: Client;
    let ext: { id: string };
    let net: { id: string };
    let sub: { id: string };
    let routerId: string;
    before(async () => {
      t = await startTestServer(dialect);
      admin = client(t, t.adminToken);
      member = client(t, (await t.newProjectUser()).token);
      other = client(t, (await t.newProjectUser()).token);
      ext = (await admin.post('/v2.0/networks', { network: { name: 'ext', 'router:external': true } })).body
        .network;
      await subnet(admin, ext.id, '198.51.100.0/24');
      net = (await member.post('/v2.0/networks', { network: { name: 'int' } })).body.network;
      sub = await subnet(member, net.id, '10.0.0.0/24');
      const r = await member.post('/v2.0/routers', {
        router: { name: 'r', external_gateway_info: { network_id: ext.id } },
      });
      routerId = r.body.router.id;
      await member.put(`/v2.0/routers/${routerId}/add_router_interface`, { subnet_id: sub.id });
    });
    after(() => t.close());

    async function subnet(c: Client, networkId: string, cidr: string) {
      const r = await c.post('/v2.0/subnets', { subnet: { network_id: networkId, ip_version: 4, cidr } });
      assert.equal(r.status, 201, JSON.stringify(r.body));
      return r.body.subnet;
    }
    const port = async (c: Client = member, networkId = net.id) => {
      const r = await c.post('/v2.0/ports', { port: { network_id: networkId } });
      assert.equal(r.status, 201, JSON.stringify(r.body));
      return r.body.port as { id: string; fixed_ips: { ip_address: string; subnet_id: string }[] };
    };
    const fip = async (c: Client = member) => {
      const r = await c.post('/v2.0/floatingips', { floatingip: { floating_network_id: ext.id } });
      assert.equal(r.status, 201, JSON.stringify(r.body));
      return r.body.floatingip as { id: string; floating_ip_address: string };
    };
    const base = (fipId: string) => `/v2.0/floatingips/${fipId}/port_forwardings`;
    const forward = (fipId: string, body: Record<string, unknown>, c: Client = member) =>
      c.post(base(fipId), { port_forwarding: { protocol: 'tcp', ...body } });
    const created = async (fipId: string, body: Record<string, unknown>, c: Client = member) => {
      const r = await forward(fipId, body, c);
      assert.equal(r.status, 201, JSON.stringify(r.body));
      return r.body.port_forwarding;
    };
    const showFip = async (id: string) => (await member.get(`/v2.0/floatingips/${id}`)).body.floatingip;

    it('creates, lists, shows, updates and deletes; the floating IP shows them and takes the router', async () => {
      const p = await port();
      const f = await fip();
      const address = p.fixed_ips[0].ip_address;
      const pf = await created(f.id, {
        internal_port_id: p.id,
        internal_port: 22,
        external_port: 2222,
        description: 'ssh',
      });
      assert.match(pf.id, /^[0-9a-f-]{36}$/);
      assert.deepEqual(pf, {
        id: pf.id,
        protocol: 'tcp',
        internal_ip_address: address,
        internal_port: 22,
        internal_port_id: p.id,
        external_port: 2222,
        description: 'ssh',
        internal_port_range: '22:22',
        external_port_range: '2222:2222',
      });
      const shown = await showFip(f.id);
      assert.equal(shown.router_id, routerId);
      assert.equal(shown.status, 'ACTIVE');
      assert.equal(shown.port_id, null);
      assert.deepEqual(shown.port_forwardings, [
        {
          id: pf.id,
          protocol: 'tcp',
          internal_ip_address: address,
          internal_port: 22,
          internal_port_id: p.id,
          external_port: 2222,
        },
      ]);
      const udp = await created(f.id, {
        protocol: 'UDP',
        internal_port_id: p.id,
        internal_port: 53,
        external_port: 53,
      });
      assert.equal(udp.protocol, 'udp');

      const list = await member.get(base(f.id));
      assert.equal(list.status, 200);
      assert.deepEqual(
        list.body.port_forwardings.map((x: { id: string }) => x.id).sort(),
        [pf.id, udp.id].sort(),
      );
      const filtered = await member.get(`${base(f.id)}?protocol=udp`);
      assert.deepEqual(
        filtered.body.port_forwardings.map((x: { id: string }) => x.id),
        [udp.id],
      );
      const byPort = await member.get(`${base(f.id)}?external_port=2222&fields=id&fields=external_port`);
      assert.deepEqual(byPort.body.port_forwardings, [{ id: pf.id, external_port: 2222 }]);
      const sorted = await member.get(`${base(f.id)}?sort_key=external_port&sort_dir=asc&limit=1`);
      assert.deepEqual(
        sorted.body.port_forwardings.map((x: { id: string }) => x.id),
        [udp.id],
      );
      assert.ok(sorted.body.port_forwardings_links?.length);
      assert.equal((await member.get(`${base(f.id)}?internal_ip_address=${address}`)).status, 400);

      const one = await member.get(`${base(f.id)}/${pf.id}`);
      assert.equal(one.status, 200);
      assert.deepEqual(one.body.port_forwarding, pf);

      const changed = await member.put(`${base(f.id)}/${pf.id}`, {
        port_forwarding: { external_port: 2200, description: 'moved' },
      });
      assert.equal(changed.status, 200, JSON.stringify(changed.body));
      assert.equal(changed.body.port_forwarding.external_port, 2200);
      assert.equal(changed.body.port_forwarding.external_port_range, '2200:2200');
      assert.equal(changed.body.port_forwarding.internal_port, 22);
      assert.equal(changed.body.port_forwarding.description, 'moved');
      const exposed = (await showFip(f.id)).port_forwardings.find((x: { id: string }) => x.id === pf.id);
      assert.equal(exposed.external_port, 2200);

      assert.equal((await member.del(`${base(f.id)}/${pf.id}`)).status, 204);
      assert.equal(
        (await member.get(`${base(f.id)}/${pf.id}`)).body.NeutronError.type,
        'PortForwardingNotFound',
      );
      assert.equal((await showFip(f.id)).router_id, routerId, 'a forwarding remains');
      assert.equal((await member.del(`${base(f.id)}/${udp.id}`)).status, 204);
      const bare = await showFip(f.id);
      assert.deepEqual([bare.router_id, bare.status, bare.port_forwardings], [null, 'DOWN', []]);
      assert.equal((await member.del(`${base(f.id)}/${udp.id}`)).status, 404);
    });

    it('forwards port ranges: N-N and 1-N, and refuses other relations', async () => {
      const p = await port();
      const f = await fip();
      const nn = await created(f.id, {
        internal_port_id: p.id,
        internal_port_range: '8000:8009',
        external_port_range: '9000:9009',
      });
      assert.deepEqual(
        [nn.internal_port, nn.external_port, nn.internal_port_range, nn.external_port_range],
        [null, null, '8000:8009', '9000:9009'],
      );
      const oneN = await created(f.id, {
        internal_port_id: p.id,
        internal_port: 80,
        external_port_range: '9100:9105',
      });
      assert.deepEqual([oneN.internal_port_range, oneN.external_port_range], ['80:80', '9100:9105']);
      const mismatched = await forward(f.id, {
        internal_port_id: p.id,
        internal_port_range: '7000:7002',
        external_port_range: '7000:7005',
      });
      assert.equal(mismatched.status, 400, errorOf(mismatched));
      assert.match(mismatched.body.NeutronError.message, /must be N-N or 1-N/);
      for (const bad of [
        { internal_port: 0, external_port: 1 },
        { internal_port: 70000, external_port: 1 },
        { internal_port_range: '10:5', external_port_range: '10:15' },
        { internal_port_range: 'a:b', external_port_range: '1:2' },
        { internal_port: 5 },
        { external_port: 5 },
      ]) {
        const r = await forward(f.id, { internal_port_id: p.id, ...bad });
        assert.equal(r.status, 400, `${JSON.stringify(bad)}: ${errorOf(r)}`);
      }
      const proto = await forward(f.id, {
        protocol: 'icmp',
        internal_port_id: p.id,
        internal_port: 1,
        external_port: 1,
      });
      assert.equal(proto.status, 400, errorOf(proto));
      const unknown = await forward(f.id, {
        internal_port_id: p.id,
        internal_port: 1,
        external_port: 1,
        name: 'x',
      });
      assert.equal(unknown.status, 400);
      const list = await member.get(base(f.id));
      assert.equal(list.body.port_forwardings.length, 2, 'nothing half-created');
    });

    it('refuses duplicates of external ports on a floating IP and of internal ports on an address', async () => {
      const p = await port();
      const q = await port();
      const f = await fip();
      const g = await fip();
      await created(f.id, {
        internal_port_id: p.id,
        internal_port_range: '100:110',
        external_port_range: '100:110',
      });
      const outside = await forward(f.id, { internal_port_id: q.id, internal_port: 22, external_port: 105 });
      assert.equal(outside.status, 400, errorOf(outside));
      assert.equal(
        outside.body.NeutronError.message,
        `Bad port_forwarding request: A duplicate port forwarding entry with same attributes already exists, conflicting values are {'floatingip_id': '${f.id}', 'external_port_range': '100:110', 'protocol': 'tcp'}.`,
      );
      const inside = await forward(g.id, { internal_port_id: p.id, internal_port: 110, external_port: 22 });
      assert.equal(inside.status, 400, errorOf(inside));
      assert.match(
        inside.body.NeutronError.message,
        /A duplicate port forwarding entry with same attributes already exists, conflicting values are \{'internal_port_id': /,
      );
      // Another protocol, or ports next to the range, are fine.
      await created(f.id, { protocol: 'udp', internal_port_id: q.id, internal_port: 22, external_port: 105 });
      const next = await created(g.id, { internal_port_id: p.id, internal_port: 111, external_port: 111 });
      await created(f.id, { internal_port_id: q.id, internal_port: 22, external_port: 111 });
      // An update into another's ports is refused as well, and changes nothing.
      const moved = await member.put(`${base(g.id)}/${next.id}`, { port_forwarding: { internal_port: 100 } });
      assert.equal(moved.status, 400, errorOf(moved));
      assert.equal((await member.get(`${base(g.id)}/${next.id}`)).body.port_forwarding.internal_port, 111);
    });

    it('refuses an associated floating IP, and associating a floating IP that forwards', async () => {
      const p = await port();
      const q = await port();
      const associated = await fip();
      const a = await member.put(`/v2.0/floatingips/${associated.id}`, { floatingip: { port_id: p.id } });
      assert.equal(a.status, 200, JSON.stringify(a.body));
      const r = await forward(associated.id, {
        internal_port_id: q.id,
        internal_port: 22,
        external_port: 22,
      });
      assert.equal(r.status, 409, errorOf(r));
      assert.equal(r.body.NeutronError.type, 'FloatingIPPortAlreadyAssociated');
      // The port that holds a floating IP of its own cannot be forwarded to either.
      const f = await fip();
      const bound = await forward(f.id, { internal_port_id: p.id, internal_port: 22, external_port: 22 });
      assert.equal(bound.status, 409, errorOf(bound));
      assert.equal(bound.body.NeutronError.type, 'PortHasBindingFloatingIP');

      await created(f.id, { internal_port_id: q.id, internal_port: 22, external_port: 22 });
      const assoc = await member.put(`/v2.0/floatingips/${f.id}`, { floatingip: { port_id: q.id } });
      assert.equal(assoc.status, 409, errorOf(assoc));
      assert.deepEqual(assoc.body.NeutronError, {
        type: 'FipInUseByPortForwarding',
        message: `Floating IP ${f.id} in use by Port Forwarding resources.`,
        detail: '',
      });
      const described = await member.put(`/v2.0/floatingips/${f.id}`, { floatingip: { description: 'pf' } });
      assert.equal(described.status, 200);
      assert.deepEqual(
        [described.body.floatingip.router_id, described.body.floatingip.status],
        [routerId, 'ACTIVE'],
        'a description change keeps the forwarding router',
      );
    });

    it('checks the internal port, its address and the route to the external network', async () => {
      const f = await fip();
      const missing = await forward(f.id, {
        internal_port_id: '00000000-0000-0000-0000-000000000000',
        internal_port: 1,
        external_port: 1,
      });
      assert.equal(missing.status, 404, errorOf(missing));
      assert.equal(missing.body.NeutronError.type, 'PortNotFound');
      const foreign = await port(admin);
      const notMine = await forward(f.id, {
        internal_port_id: foreign.id,
        internal_port: 1,
        external_port: 1,
      });
      assert.equal(notMine.status, 404, errorOf(notMine));

      const p = await port();
      const wrong = await forward(f.id, {
        internal_port_id: p.id,
        internal_ip_address: '10.0.0.250',
        internal_port: 1,
        external_port: 1,
      });
      assert.equal(wrong.status, 400, errorOf(wrong));
      assert.match(
        wrong.body.NeutronError.message,
        /Requested internal IP address 10\.0\.0\.250 is not suitable/,
      );

      const v6net = (await member.post('/v2.0/networks', { network: { name: 'v6' } })).body.network;
      await member.post('/v2.0/subnets', {
        subnet: { network_id: v6net.id, ip_version: 6, cidr: '2001:db8::/64' },
      });
      const v6 = await port(member, v6net.id);
      const noV4 = await forward(f.id, { internal_port_id: v6.id, internal_port: 1, external_port: 1 });
      assert.equal(noV4.status, 400, errorOf(noV4));
      assert.match(noV4.body.NeutronError.message, /must allocate an IPv4 address at least/);

      const lone = (await member.post('/v2.0/networks', { network: { name: 'lone' } })).body.network;
      const loneSub = await subnet(member, lone.id, '10.9.0.0/24');
      const unrouted = await port(member, lone.id);
      const noRouter = await forward(f.id, {
        internal_port_id: unrouted.id,
        internal_port: 1,
        external_port: 1,
      });
      assert.equal(noRouter.status, 400, errorOf(noRouter));
      assert.equal(
        noRouter.body.NeutronError.message,
        `Bad port_forwarding request: External network ${ext.id} is not reachable from subnet ${loneSub.id}. Cannot set Port forwarding for port ${unrouted.id} with Floating IP ${f.id}.`,
      );
      // Through another router than the floating IP's other forwardings take: refused.
      const r2 = await member.post('/v2.0/routers', {
        router: { name: 'r2', external_gateway_info: { network_id: ext.id } },
      });
      await member.put(`/v2.0/routers/${r2.body.router.id}/add_router_interface`, { subnet_id: loneSub.id });
      await created(f.id, { internal_port_id: p.id, internal_port: 1, external_port: 1 });
      const elsewhere = await forward(f.id, {
        internal_port_id: unrouted.id,
        internal_port: 1,
        external_port: 2,
      });
      assert.equal(elsewhere.status, 400, errorOf(elsewhere));
      assert.match(elsewhere.body.NeutronError.message, /had been set on router .* can not reach it/);
      assert.equal((await showFip(f.id)).port_forwardings.length, 1);
    });

    it("answers 404 for another project's floating IP, and lets an admin in", async () => {
      const p = await port();
      const f = await fip();
      const pf = await created(f.id, { internal_port_id: p.id, internal_port: 80, external_port: 80 });
      for (const r of [
        await other.get(base(f.id)),
        await other.get(`${base(f.id)}/${pf.id}`),
        await other.put(`${base(f.id)}/${pf.id}`, { port_forwarding: { description: 'x' } }),
        await other.del(`${base(f.id)}/${pf.id}`),
        await forward(f.id, { internal_port_id: p.id, internal_port: 81, external_port: 81 }, other),
      ]) {
        assert.equal(r.status, 404, errorOf(r));
        assert.equal(r.body.NeutronError?.type, 'FloatingIPNotFound');
      }
      // A forwarding is found under its own floating IP only.
      const g = await fip();
      assert.equal((await member.get(`${base(g.id)}/${pf.id}`)).status, 404);
      assert.equal((await admin.get(`${base(f.id)}/${pf.id}`)).status, 200);
      const missing = await member.get(`${base('00000000-0000-0000-0000-000000000000')}`);
      assert.equal(missing.status, 404);
    });

    it('goes with its internal port, its address, or its floating IP', async () => {
      const p = await port();
      const f = await fip();
      await created(f.id, { internal_port_id: p.id, internal_port: 80, external_port: 80 });
      assert.equal((await member.del(`/v2.0/ports/${p.id}`)).status, 204);
      const left = await showFip(f.id);
      assert.deepEqual([left.port_forwardings, left.router_id, left.status], [[], null, 'DOWN']);

      const q = await port();
      const g = await fip();
      await created(g.id, { internal_port_id: q.id, internal_port: 80, external_port: 80 });
      const readdressed = await member.put(`/v2.0/ports/${q.id}`, {
        port: { fixed_ips: [{ subnet_id: sub.id, ip_address: '10.0.0.200' }] },
      });
      assert.equal(readdressed.status, 200, JSON.stringify(readdressed.body));
      assert.deepEqual((await showFip(g.id)).port_forwardings, [], 'the forwarded address went away');

      const pf = await created(g.id, { internal_port_id: q.id, internal_port: 80, external_port: 80 });
      assert.equal((await member.del(`/v2.0/floatingips/${g.id}`)).status, 204);
      const rows = await t.store.db
        .selectFrom('port_forwardings')
        .select('id')
        .where('id', '=', pf.id)
        .execute();
      assert.deepEqual(rows, []);
    });

    it("keeps the router's gateway and interface while forwardings need them", async () => {
      const n = (await member.post('/v2.0/networks', { network: { name: 'guarded' } })).body.network;
      const s = await subnet(member, n.id, '10.7.0.0/24');
      const r = (
        await member.post('/v2.0/routers', {
          router: { name: 'g', external_gateway_info: { network_id: ext.id } },
        })
      ).body.router;
      await member.put(`/v2.0/routers/${r.id}/add_router_interface`, { subnet_id: s.id });
      const p = await port(member, n.id);
      const f = await fip();
      const pf = await created(f.id, { internal_port_id: p.id, internal_port: 80, external_port: 80 });
      const gateway = await member.put(`/v2.0/routers/${r.id}`, { router: { external_gateway_info: {} } });
      assert.equal(gateway.status, 409, errorOf(gateway));
      assert.equal(gateway.body.NeutronError.type, 'RouterExternalGatewayInUseByFloatingIp');
      const iface = await member.put(`/v2.0/routers/${r.id}/remove_router_interface`, { subnet_id: s.id });
      assert.equal(iface.status, 409, errorOf(iface));
      assert.equal(iface.body.NeutronError.type, 'RouterInterfaceInUseByFloatingIP');
      await member.del(`${base(f.id)}/${pf.id}`);
      const freed = await member.put(`/v2.0/routers/${r.id}/remove_router_interface`, { subnet_id: s.id });
      assert.equal(freed.status, 200, errorOf(freed));
    });

    it('updates the internal port and address, within the same router', async () => {
      const p = await port();
      const q = await port();
      const f = await fip();
      const pf = await created(f.id, { internal_port_id: p.id, internal_port: 80, external_port: 8080 });
      const moved = await member.put(`${base(f.id)}/${pf.id}`, {
        port_forwarding: { internal_port_id: q.id, internal_port_range: '81:81', protocol: 'udp' },
      });
      assert.equal(moved.status, 200, errorOf(moved));
      assert.deepEqual(
        [
          moved.body.port_forwarding.internal_port_id,
          moved.body.port_forwarding.internal_ip_address,
          moved.body.port_forwarding.internal_port,
          moved.body.port_forwarding.protocol,
        ],
        [q.id, q.fixed_ips[0].ip_address, 81, 'udp'],
      );
      const bad = await member.put(`${base(f.id)}/${pf.id}`, {
        port_forwarding: { internal_ip_address: p.fixed_ips[0].ip_address },
      });
      assert.equal(bad.status, 400, errorOf(bad));
      const ranged = await member.put(`${base(f.id)}/${pf.id}`, {
        port_forwarding: { internal_port_range: '81:90' },
      });
      assert.equal(ranged.status, 400, 'ten internal ports for one external one');
    });
  });
}
