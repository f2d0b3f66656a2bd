/**
 * Floating IPs: creation from an external network (the openstack CLI body), Neutron's
 * attributes with port_details, association rules and errors, re-association and
 * disassociation, what an association keeps (the router's gateway and interface, the port's
 * address), ports going away, deletes, quotas and the floating IP pools.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { client, dialects, startTestServer, type TestServer } from '../helpers/server.js';

type Client = ReturnType<typeof client>;

const errorType = (r: { body: { NeutronError?: { type: string } } }) => r.body.NeutronError?.type;
const errorMessage = (r: { body: { NeutronError?: { message: string } } }) => r.body.NeutronError?.message;

for (const dialect of dialects()) {
  describe(`floating IPs (${dialect})`, () => {
    let t: TestServer;
    let admin: Client;
    let member: Client;
    let memberProject: string;
    let ext: { id: string };
    let extSubnet: { id: string };
    let routerId: string;
    let net: { id: string };
    let sub: { id: string };
    before(async () => {
      t = await startTestServer(dialect);
      admin = client(t, t.adminToken);
      const m = await t.newProjectUser();
      member = client(t, m.token);
      memberProject = m.projectId;
      ext = (await admin.post('/v2.0/networks', { network: { name: 'ext', 'router:external': true } })).body
        .network;
      extSubnet = await subnet(admin, ext.id, '203.0.113.0/24');
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
    const port = async (c: Client = member, body: Record<string, unknown> = {}) => {
      const r = await c.post('/v2.0/ports', { port: { network_id: net.id, ...body } });
      assert.equal(r.status, 201, JSON.stringify(r.body));
      return r.body.port;
    };
    const fip = async (c: Client = member, body: Record<string, unknown> = {}) => {
      const r = await c.post('/v2.0/floatingips', { floatingip: { floating_network_id: ext.id, ...body } });
      assert.equal(r.status, 201, JSON.stringify(r.body));
      return r.body.floatingip;
    };
    const associate = (c: Client, id: string, body: Record<string, unknown>) =>
      c.put(`/v2.0/floatingips/${id}`, { floatingip: body });
    const portCount = async () =>
      Number(
        (
          await t.store.db
            .selectFrom('ports')
            .select((eb) => eb.fn.countAll().as('n'))
            .executeTakeFirstOrThrow()
        ).n,
      );

    it('creates from the openstack CLI body, with a port of its own on the external network', async () => {
      const r = await member.post('/v2.0/floatingips', { floatingip: { floating_network_id: ext.id } });
      assert.equal(r.status, 201, JSON.stringify(r.body));
      const f = r.body.floatingip;
      assert.match(f.floating_ip_address, /^203\.0\.113\.\d+$/);
      assert.deepEqual(
        {
          floating_network_id: f.floating_network_id,
          router_id: f.router_id,
          port_id: f.port_id,
          fixed_ip_address: f.fixed_ip_address,
          status: f.status,
          description: f.description,
          tags: f.tags,
          port_details: f.port_details,
          port_forwardings: f.port_forwardings,
          qos_policy_id: f.qos_policy_id,
          project_id: f.project_id,
          tenant_id: f.tenant_id,
          revision_number: f.revision_number,
        },
        {
          floating_network_id: ext.id,
          router_id: null,
          port_id: null,
          fixed_ip_address: null,
          status: 'DOWN',
          description: '',
          tags: [],
          port_details: null,
          port_forwardings: [],
          qos_policy_id: null,
          project_id: memberProject,
          tenant_id: memberProject,
          revision_number: 0,
        },
      );
      assert.equal('name' in f, false, 'floating IPs have no name');
      const [own] = (await admin.get(`/v2.0/ports?device_id=${f.id}`)).body.ports;
      assert.equal(own.device_owner, 'network:floatingip');
      assert.equal(own.network_id, ext.id);
      assert.equal(own.project_id, '');
      assert.deepEqual(own.fixed_ips, [{ subnet_id: extSubnet.id, ip_address: f.floating_ip_address }]);
      const shown = await member.get(`/v2.0/floatingips/${f.id}`);
      assert.equal(shown.body.floatingip.floating_ip_address, f.floating_ip_address);
      const listed = await member.get(`/v2.0/floatingips?floating_ip_address=${f.floating_ip_address}`);
      assert.deepEqual(
        listed.body.floatingips.map((x: { id: string }) => x.id),
        [f.id],
      );
      const named = await member.post('/v2.0/floatingips', {
        floatingip: { floating_network_id: ext.id, name: 'x' },
      });
      assert.equal(named.status, 400);
    });

    it('associates, re-associates to another port and disassociates', async () => {
      const p1 = await port(member, { name: 'p1' });
      const p2 = await port();
      const f = await fip();
      const r = await associate(member, f.id, { port_id: p1.id });
      assert.equal(r.status, 200, JSON.stringify(r.body));
      const a = r.body.floatingip;
      assert.equal(a.port_id, p1.id);
      assert.equal(a.router_id, routerId);
      assert.equal(a.fixed_ip_address, p1.fixed_ips[0].ip_address);
      assert.equal(a.status, 'ACTIVE');
      assert.deepEqual(a.port_details, {
        name: 'p1',
        network_id: net.id,
        mac_address: p1.mac_address,
        admin_state_up: true,
        status: 'DOWN',
        device_id: '',
        device_owner: '',
      });
      const moved = (await associate(member, f.id, { port_id: p2.id })).body.floatingip;
      assert.equal(moved.port_id, p2.id);
      assert.equal(moved.fixed_ip_address, p2.fixed_ips[0].ip_address);
      const described = (await associate(member, f.id, { description: 'web' })).body.floatingip;
      assert.equal(described.port_id, p2.id, 'an update without port_id keeps the association');
      assert.equal(described.description, 'web');
      const off = (await associate(member, f.id, { port_id: null })).body.floatingip;
      assert.equal(off.port_id, null);
      assert.equal(off.router_id, null);
      assert.equal(off.fixed_ip_address, null);
      assert.equal(off.port_details, null);
      assert.equal(off.status, 'DOWN');

      const direct = await fip(member, { port_id: p1.id, description: 'at once' });
      assert.equal(direct.router_id, routerId);
      assert.equal(direct.status, 'ACTIVE');
    });

    it('refuses a network that is not external, and hides networks the caller cannot see', async () => {
      const before = await portCount();
      const r = await member.post('/v2.0/floatingips', { floatingip: { floating_network_id: net.id } });
      assert.equal(r.status, 400);
      assert.equal(errorType(r), 'BadRequest');
      assert.equal(
        errorMessage(r),
        `Bad floatingip request: Network ${net.id} is not a valid external network.`,
      );
      const hidden = (await admin.post('/v2.0/networks', { network: { name: 'private' } })).body.network;
      const missing = await member.post('/v2.0/floatingips', {
        floatingip: { floating_network_id: hidden.id },
      });
      assert.equal(missing.status, 404);
      assert.equal(errorType(missing), 'NetworkNotFound');
      const empty = (
        await admin.post('/v2.0/networks', { network: { name: 'ext-empty', 'router:external': true } })
      ).body.network;
      const noV4 = await member.post('/v2.0/floatingips', { floatingip: { floating_network_id: empty.id } });
      assert.equal(noV4.status, 400);
      assert.equal(
        errorMessage(noV4),
        `Bad floatingip request: Network ${empty.id} does not contain any IPv4 subnet.`,
      );
      assert.equal(await portCount(), before);
    });

    it('needs a router between the port’s subnet and the external network', async () => {
      const lone = (await member.post('/v2.0/networks', { network: { name: 'lone' } })).body.network;
      const loneSub = await subnet(member, lone.id, '10.9.0.0/24');
      const p = await port(member, { network_id: lone.id });
      const before = await portCount();
      const r = await member.post('/v2.0/floatingips', {
        floatingip: { floating_network_id: ext.id, port_id: p.id },
      });
      assert.equal(r.status, 404);
      assert.equal(errorType(r), 'ExternalGatewayForFloatingIPNotFound');
      assert.equal(
        errorMessage(r),
        `External network ${ext.id} is not reachable from subnet ${loneSub.id}.  Therefore, cannot associate Port ${p.id} with a Floating IP.`,
      );
      assert.equal(await portCount(), before, 'no floating IP port left behind');
      assert.equal(
        (await member.get('/v2.0/floatingips')).body.floatingips.filter(
          (f: { port_id: string }) => f.port_id === p.id,
        ).length,
        0,
      );
    });

    it('takes a chosen address only from admins, and refuses a taken one', async () => {
      const denied = await member.post('/v2.0/floatingips', {
        floatingip: { floating_network_id: ext.id, floating_ip_address: '203.0.113.77' },
      });
      assert.equal(denied.status, 403);
      assert.equal(errorType(denied), 'PolicyNotAuthorized');
      const chosen = await fip(admin, { floating_ip_address: '203.0.113.77', subnet_id: extSubnet.id });
      assert.equal(chosen.floating_ip_address, '203.0.113.77');
      const before = await portCount();
      const taken = await admin.post('/v2.0/floatingips', {
        floatingip: { floating_network_id: ext.id, floating_ip_address: '203.0.113.77' },
      });
      assert.equal(taken.status, 409);
      assert.equal(errorType(taken), 'IpAddressInUse');
      const invalid = await admin.post('/v2.0/floatingips', {
        floatingip: { floating_network_id: ext.id, floating_ip_address: 'nope' },
      });
      assert.equal(invalid.status, 400);
      assert.equal(await portCount(), before);
    });

    it('gives one fixed address one floating IP per external network', async () => {
      const p = await port();
      const first = await fip(member, { port_id: p.id });
      const second = await fip();
      const r = await associate(member, second.id, { port_id: p.id });
      assert.equal(r.status, 409);
      assert.equal(errorType(r), 'FloatingIPPortAlreadyAssociated');
      assert.equal(
        errorMessage(r),
        `Cannot associate floating IP ${second.floating_ip_address} (${second.id}) with port ${p.id} using fixed IP ${p.fixed_ips[0].ip_address}, as that fixed IP already has a floating IP on external network ${ext.id}.`,
      );
      assert.equal(
        (await associate(member, first.id, { port_id: p.id })).status,
        200,
        'the same again is fine',
      );
    });

    it('lets one of two concurrent associations of one address win', async () => {
      const p = await port();
      const [a, b] = [await fip(), await fip()];
      const results = await Promise.all([
        associate(member, a.id, { port_id: p.id }),
        associate(member, b.id, { port_id: p.id }),
      ]);
      assert.deepEqual(results.map((r) => r.status).sort(), [200, 409]);
      const mapped = (await member.get(`/v2.0/floatingips?port_id=${p.id}`)).body.floatingips;
      assert.equal(mapped.length, 1);
    });

    it("picks the port's address: IPv4, its own, and named when it has several", async () => {
      const second = await subnet(member, net.id, '10.1.0.0/24');
      await member.put(`/v2.0/routers/${routerId}/add_router_interface`, { subnet_id: second.id });
      const p = await port(member, { fixed_ips: [{ subnet_id: sub.id }, { subnet_id: second.id }] });
      const f = await fip();
      const ambiguous = await associate(member, f.id, { port_id: p.id });
      assert.equal(ambiguous.status, 400);
      assert.equal(
        errorMessage(ambiguous),
        `Bad floatingip request: Port ${p.id} has multiple fixed IPv4 addresses.  Must provide a specific IPv4 address when assigning a floating IP.`,
      );
      const chosen = await associate(member, f.id, {
        port_id: p.id,
        fixed_ip_address: p.fixed_ips[1].ip_address,
      });
      assert.equal(chosen.status, 200, JSON.stringify(chosen.body));
      assert.equal(chosen.body.floatingip.fixed_ip_address, p.fixed_ips[1].ip_address);
      const foreign = await associate(member, f.id, { port_id: p.id, fixed_ip_address: '10.0.0.250' });
      assert.equal(foreign.status, 400);
      assert.equal(
        errorMessage(foreign),
        `Bad floatingip request: Port ${p.id} does not have fixed ip 10.0.0.250.`,
      );
      const alone = await associate(member, f.id, { fixed_ip_address: p.fixed_ips[0].ip_address });
      assert.equal(alone.status, 400);
      assert.equal(
        errorMessage(alone),
        'Bad floatingip request: fixed_ip_address cannot be specified without a port_id.',
      );
      const keep = await member.put(`/v2.0/ports/${p.id}`, { port: { fixed_ips: [{ subnet_id: sub.id }] } });
      assert.equal(keep.status, 400, 'the mapped address stays on the port');
      assert.equal(errorType(keep), 'BadRequest');
      await associate(member, f.id, { port_id: null });
    });

    it('refuses ports of other projects and DHCP ports', async () => {
      const owner = await t.newProjectUser();
      const c = client(t, owner.token);
      const shared = (await c.post('/v2.0/networks', { network: { name: 'shared' } })).body.network;
      await subnet(c, shared.id, '10.2.0.0/24');
      await c.post('/v2.0/rbac-policies', {
        rbac_policy: {
          object_type: 'network',
          object_id: shared.id,
          action: 'access_as_shared',
          target_tenant: memberProject,
        },
      });
      const theirs = await port(member, { network_id: shared.id });
      const f = await fip(c);
      const r = await associate(c, f.id, { port_id: theirs.id });
      assert.equal(r.status, 400);
      assert.equal(
        errorMessage(r),
        `Bad floatingip request: Cannot process floating IP association with Port ${theirs.id}, since that port is owned by a different project.`,
      );
      const invisible = await associate(member, (await fip()).id, {
        port_id: (await port(c, { network_id: shared.id })).id,
      });
      assert.equal(invisible.status, 404);
      assert.equal(errorType(invisible), 'PortNotFound');
      const dhcp = await port(member, { device_owner: 'network:dhcp' });
      const notServiced = await associate(member, (await fip()).id, { port_id: dhcp.id });
      assert.equal(notServiced.status, 400);
      assert.equal(
        errorMessage(notServiced),
        `Bad floatingip request: Port ${dhcp.id} is unable to be assigned a floating IP.`,
      );
      const other = await fip(client(t, (await t.newProjectUser()).token));
      assert.equal((await member.get(`/v2.0/floatingips/${other.id}`)).status, 404);
      assert.equal(errorType(await member.del(`/v2.0/floatingips/${other.id}`)), 'FloatingIPNotFound');
    });

    it('keeps the gateway and the interface a floating IP needs', async () => {
      const p = await port();
      const f = await fip(member, { port_id: p.id });
      const gw = await member.put(`/v2.0/routers/${routerId}`, { router: { external_gateway_info: null } });
      assert.equal(gw.status, 409);
      assert.equal(errorType(gw), 'RouterExternalGatewayInUseByFloatingIp');
      assert.equal(
        errorMessage(gw),
        `Gateway cannot be updated for router ${routerId}, since a gateway to external network ${ext.id} is required by one or more floating IPs.`,
      );
      const iface = await member.put(`/v2.0/routers/${routerId}/remove_router_interface`, {
        subnet_id: sub.id,
      });
      assert.equal(iface.status, 409);
      assert.equal(errorType(iface), 'RouterInterfaceInUseByFloatingIP');
      await associate(member, f.id, { port_id: null });
    });

    it('disassociates when the port is deleted, or its instance', async () => {
      const p = await port();
      const f = await fip(member, { port_id: p.id });
      assert.equal((await member.del(`/v2.0/ports/${p.id}`)).status, 204);
      const after = (await member.get(`/v2.0/floatingips/${f.id}`)).body.floatingip;
      assert.equal(after.port_id, null);
      assert.equal(after.status, 'DOWN');

      const vm = await member.post('/neutrino/v1/instances', {
        instance: { name: 'vm', networks: [{ network_id: net.id }] },
      });
      assert.equal(vm.status, 201, JSON.stringify(vm.body));
      const vmPort = vm.body.instance.ports[0].id;
      assert.equal((await associate(member, f.id, { port_id: vmPort })).status, 200);
      assert.equal((await member.del(`/neutrino/v1/instances/${vm.body.instance.id}`)).status, 204);
      assert.equal((await member.get(`/v2.0/floatingips/${f.id}`)).body.floatingip.port_id, null);
    });

    it('deletes with its port; its port cannot be deleted alone', async () => {
      const f = await fip();
      const [own] = (await admin.get(`/v2.0/ports?device_id=${f.id}`)).body.ports;
      const r = await admin.del(`/v2.0/ports/${own.id}`);
      assert.equal(r.status, 409);
      assert.equal(errorType(r), 'ServicePortInUse');
      const before = await portCount();
      assert.equal((await member.del(`/v2.0/floatingips/${f.id}`)).status, 204);
      assert.equal(await portCount(), before - 1);
      assert.equal((await member.get(`/v2.0/floatingips/${f.id}`)).status, 404);
      const extDelete = await admin.del(`/v2.0/networks/${ext.id}`);
      assert.equal(extDelete.status, 409, 'the router gateway and floating IPs hold the external network');
    });

    it('counts floating IPs against the project quota', async () => {
      const user = await t.newProjectUser();
      const c = client(t, user.token);
      await admin.put(`/v2.0/quotas/${user.projectId}`, { quota: { floatingip: 1 } });
      await fip(c);
      const before = await portCount();
      const r = await c.post('/v2.0/floatingips', { floatingip: { floating_network_id: ext.id } });
      assert.equal(r.status, 409);
      assert.equal(errorType(r), 'OverQuota');
      assert.equal(await portCount(), before);
    });

    it('lists the IPv4 subnets of external networks as floating IP pools', async () => {
      const r = await member.get('/v2.0/floatingip-pools');
      assert.equal(r.status, 200);
      assert.deepEqual(r.body.floatingip_pools, [
        {
          subnet_id: extSubnet.id,
          subnet_name: '',
          network_id: ext.id,
          cidr: '203.0.113.0/24',
          project_id: memberProject,
          tenant_id: memberProject,
        },
      ]);
      const fields = await member.get(`/v2.0/floatingip-pools?fields=cidr&network_id=${ext.id}`);
      assert.deepEqual(fields.body.floatingip_pools, [{ cidr: '203.0.113.0/24' }]);
    });
  });
}
