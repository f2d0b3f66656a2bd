/**
 * Routers: Neutron's attributes, the external gateway (external networks, RBAC external access,
 * admin-only SNAT and addresses), interfaces by subnet and by port with Neutron's errors, extra
 * routes (whole list and atomic add/remove), what routers refuse to give up, the port API's
 * limits on router ports, quotas, and L3 scheduling with the router part of a host's snapshot.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Snapshot } from '../../src/model/host-snapshot.js';
import { client, dialects, startTestServer, type TestServer } from '../helpers/server.js';

type Client = ReturnType<typeof client>;
type FixedIp = { subnet_id: string; ip_address: string };

const errorType = (r: { body: { NeutronError?: { type: string } } }) => r.body.NeutronError?.type;
const errorMessage = (r: { body: { NeutronError?: { message: string } } }) => r.body.NeutronError?.message;

for (const dialect of dialects()) {
  describe(`routers (${dialect})`, () => {
    let t: TestServer;
    let admin: Client;
    let member: Client;
    let memberProject: string;
    let other: Client;
    let otherProject: string;
    let ext: { id: string };
    let extSubnet: { id: string };
    before(async () => {
      t = await startTestServer(dialect);
      admin = client(t, t.adminToken);
      const m = await t.newProjectUser();
      member = client(t, m.token);
      memberProject = m.projectId;
      await admin.put(`/v2.0/quotas/${memberProject}`, { quota: { router: 50 } });
      const o = await t.newProjectUser();
      other = client(t, o.token);
      otherProject = o.projectId;
      ext = (await admin.post('/v2.0/networks', { network: { name: 'ext', 'router:external': true } })).body
        .network;
      extSubnet = await subnet(admin, ext.id, '203.0.113.0/24');
    });
    after(() => t.close());

    async function subnet(c: Client, networkId: string, cidr: string, body: Record<string, unknown> = {}) {
      const r = await c.post('/v2.0/subnets', {
        subnet: { network_id: networkId, ip_version: cidr.includes(':') ? 6 : 4, cidr, ...body },
      });
      assert.equal(r.status, 201, JSON.stringify(r.body));
      return r.body.subnet;
    }
    const network = async (c: Client = member, body: Record<string, unknown> = {}) =>
      (await c.post('/v2.0/networks', { network: { name: 'n', ...body } })).body.network;
    /** A network of `c`'s with one subnet. */
    const net4 = async (cidr: string, c: Client = member) => {
      const net = await network(c);
      return { net, sub: await subnet(c, net.id, cidr) };
    };
    const router = async (c: Client = member, body: Record<string, unknown> = {}) => {
      const r = await c.post('/v2.0/routers', { router: { name: 'r', ...body } });
      assert.equal(r.status, 201, JSON.stringify(r.body));
      return r.body.router;
    };
    const addInterface = (c: Client, id: string, body: Record<string, unknown>) =>
      c.put(`/v2.0/routers/${id}/add_router_interface`, body);
    const removeInterface = (c: Client, id: string, body: Record<string, unknown>) =>
      c.put(`/v2.0/routers/${id}/remove_router_interface`, body);
    const setGateway = (c: Client, id: string, info: unknown) =>
      c.put(`/v2.0/routers/${id}`, { router: { external_gateway_info: info } });
    const portCount = async () =>
      Number(
        (
          await t.store.db
            .selectFrom('ports')
            .select((eb) => eb.fn.countAll().as('n'))
            .executeTakeFirstOrThrow()
        ).n,
      );
    const routerPorts = async (id: string) =>
      (await admin.get(`/v2.0/ports?device_id=${id}`)).body.ports as {
        id: string;
        device_owner: string;
        fixed_ips: FixedIp[];
        project_id: string;
        network_id: string;
      }[];

    it('creates from the openstack CLI body with Neutron attributes', async () => {
      const r = await member.post('/v2.0/routers', { router: { admin_state_up: true, name: 'r1' } });
      assert.equal(r.status, 201);
      const x = r.body.router;
      assert.match(x.id, /^[0-9a-f-]{36}$/);
      assert.equal(x.name, 'r1');
      assert.equal(x.description, '');
      assert.equal(x.admin_state_up, true);
      assert.equal(x.status, 'ACTIVE');
      assert.equal(x.external_gateway_info, null);
      assert.deepEqual(x.routes, []);
      assert.equal(x.flavor_id, null);
      assert.deepEqual(x.availability_zones, ['nova']);
      assert.deepEqual(x.availability_zone_hints, []);
      assert.deepEqual(x.tags, []);
      assert.equal(x.revision_number, 0);
      assert.equal(x.project_id, memberProject);
      assert.equal(x.tenant_id, memberProject);
      assert.match(x.created_at, /Z$/);
      assert.equal('distributed' in x, false, 'get_router:distributed is admin-only');
      assert.equal('ha' in x, false);
      assert.equal('enable_snat' in x, false);
      const seen = (await admin.get(`/v2.0/routers/${x.id}`)).body.router;
      assert.equal(seen.distributed, false);
      assert.equal(seen.ha, false);
      const listed = (await member.get('/v2.0/routers?name=r1')).body.routers;
      assert.deepEqual(
        listed.map((l: { id: string }) => l.id),
        [x.id],
      );
      const renamed = await member.put(`/v2.0/routers/${x.id}`, {
        router: { name: 'r2', admin_state_up: false },
      });
      assert.equal(renamed.status, 200);
      assert.equal(renamed.body.router.name, 'r2');
      assert.equal(renamed.body.router.admin_state_up, false);
      assert.equal(renamed.body.router.revision_number, 1);
      const bad = await member.post('/v2.0/routers', { router: { name: 'x', routes: [] } });
      assert.equal(bad.status, 400, 'routes are not settable on create');
    });

    it("hides another project's router (404) and lets admins act on it", async () => {
      const x = await router();
      for (const r of [
        await other.get(`/v2.0/routers/${x.id}`),
        await other.put(`/v2.0/routers/${x.id}`, { router: { name: 'mine' } }),
        await other.del(`/v2.0/routers/${x.id}`),
        await addInterface(other, x.id, { subnet_id: extSubnet.id }),
      ]) {
        assert.equal(r.status, 404);
        assert.equal(errorType(r), 'RouterNotFound');
      }
      assert.equal((await other.get('/v2.0/routers')).body.routers.length, 0);
      const { sub } = await net4('10.77.0.0/24');
      const added = await addInterface(admin, x.id, { subnet_id: sub.id });
      assert.equal(added.status, 200, JSON.stringify(added.body));
      assert.equal(added.body.project_id, memberProject, "the interface port is the router's project's");
      assert.equal((await removeInterface(member, x.id, { subnet_id: sub.id })).status, 200);
    });

    it('sets, keeps, changes and clears the external gateway', async () => {
      const x = await router();
      const before = await portCount();
      const r = await setGateway(member, x.id, { network_id: ext.id });
      assert.equal(r.status, 200, JSON.stringify(r.body));
      const info = r.body.router.external_gateway_info;
      assert.equal(info.network_id, ext.id);
      assert.equal(info.enable_snat, true);
      assert.equal(info.external_fixed_ips.length, 1);
      assert.equal(info.external_fixed_ips[0].subnet_id, extSubnet.id);
      assert.match(info.external_fixed_ips[0].ip_address, /^203\.0\.113\.\d+$/);
      const [gw] = await routerPorts(x.id);
      assert.equal(gw.device_owner, 'network:router_gateway');
      assert.equal(gw.project_id, '', 'gateway ports belong to no project, as in Neutron');
      assert.deepEqual(gw.fixed_ips, info.external_fixed_ips);
      assert.equal(
        (await member.get(`/v2.0/ports?device_id=${x.id}`)).body.ports.length,
        0,
        'members do not see the gateway port',
      );

      const again = await setGateway(member, x.id, { network_id: ext.id });
      assert.deepEqual(again.body.router.external_gateway_info, info, 'the same network keeps the port');
      assert.equal(await portCount(), before + 1);

      const snat = await setGateway(member, x.id, { network_id: ext.id, enable_snat: false });
      assert.equal(snat.status, 403);
      assert.equal(errorType(snat), 'PolicyNotAuthorized');
      const fixed = await setGateway(member, x.id, {
        network_id: ext.id,
        external_fixed_ips: [{ ip_address: '203.0.113.200' }],
      });
      assert.equal(fixed.status, 403);
      const byAdmin = await setGateway(admin, x.id, {
        network_id: ext.id,
        enable_snat: false,
        external_fixed_ips: [{ subnet_id: extSubnet.id, ip_address: '203.0.113.200' }],
      });
      assert.equal(byAdmin.status, 200, JSON.stringify(byAdmin.body));
      assert.deepEqual(byAdmin.body.router.external_gateway_info, {
        network_id: ext.id,
        enable_snat: false,
        external_fixed_ips: [{ subnet_id: extSubnet.id, ip_address: '203.0.113.200' }],
      });
      assert.equal((await routerPorts(x.id))[0].id, gw.id, 're-addressed in place');
      const onGateway = await setGateway(admin, x.id, {
        network_id: ext.id,
        external_fixed_ips: [{ ip_address: '203.0.113.1' }],
      });
      assert.equal(onGateway.status, 400);
      assert.equal(
        errorMessage(onGateway),
        'Bad router request: External IP 203.0.113.1 is the same as the gateway IP.',
      );

      const cleared = await setGateway(member, x.id, null);
      assert.equal(cleared.status, 200);
      assert.equal(cleared.body.router.external_gateway_info, null);
      assert.deepEqual(await routerPorts(x.id), []);
      assert.equal(await portCount(), before);
      await setGateway(member, x.id, { network_id: ext.id });
      assert.equal(
        (await setGateway(member, x.id, {})).body.router.external_gateway_info,
        null,
        '{} clears too',
      );

      const created = await router(member, { external_gateway_info: { network_id: ext.id } });
      assert.equal(created.external_gateway_info.network_id, ext.id);
      assert.equal(created.external_gateway_info.enable_snat, true);
    });

    it('takes external_gateway_info {} as no gateway on create and update (as Neutron)', async () => {
      const before = await portCount();
      const created = await member.post('/v2.0/routers', {
        router: { name: 'r', external_gateway_info: {} },
      });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      assert.equal(created.body.router.external_gateway_info, null);
      assert.equal(await portCount(), before);
      const id = created.body.router.id;
      const none = await setGateway(member, id, {});
      assert.equal(none.status, 200, JSON.stringify(none.body));
      assert.equal(none.body.router.external_gateway_info, null);
      assert.equal((await setGateway(member, id, { network_id: ext.id })).status, 200);
      assert.equal(await portCount(), before + 1);
      const cleared = await setGateway(member, id, {});
      assert.equal(cleared.body.router.external_gateway_info, null);
      assert.equal(await portCount(), before);
      const bad = await member.post('/v2.0/routers', {
        router: { external_gateway_info: { enable_snat: true } },
      });
      assert.equal(bad.status, 400, 'a gateway without network_id is still refused');
      assert.equal((await member.get(`/v2.0/routers/${id}`)).body.router.external_gateway_info, null);
    });

    it('keeps a network external while a router uses it as its gateway (ExternalNetworkInUse)', async () => {
      const net = (
        await admin.post('/v2.0/networks', { network: { name: 'ext-in-use', 'router:external': true } })
      ).body.network;
      const sub = await admin.post('/v2.0/subnets', {
        subnet: { network_id: net.id, cidr: '198.51.100.0/28', ip_version: 4 },
      });
      assert.equal(sub.status, 201, JSON.stringify(sub.body));
      const x = await router(admin, { external_gateway_info: { network_id: net.id } });
      const refused = await admin.put(`/v2.0/networks/${net.id}`, { network: { 'router:external': false } });
      assert.equal(refused.status, 409);
      assert.equal(errorType(refused), 'ExternalNetworkInUse');
      assert.equal(
        errorMessage(refused),
        `External network ${net.id} cannot be updated to be made non-external, since it has existing gateway ports.`,
      );
      assert.equal((await admin.get(`/v2.0/networks/${net.id}`)).body.network['router:external'], true);
      assert.equal((await setGateway(admin, x.id, null)).status, 200);
      const allowed = await admin.put(`/v2.0/networks/${net.id}`, { network: { 'router:external': false } });
      assert.equal(allowed.status, 200, JSON.stringify(allowed.body));
      assert.equal(allowed.body.network['router:external'], false);
    });

    it('refuses a gateway on a network that is not external (and hides invisible ones)', async () => {
      const x = await router();
      const { net } = await net4('10.20.0.0/24');
      const before = await portCount();
      const r = await setGateway(member, x.id, { network_id: net.id });
      assert.equal(r.status, 400);
      assert.equal(errorType(r), 'BadRequest');
      assert.equal(errorMessage(r), `Bad router request: Network ${net.id} is not an external network.`);
      const hidden = (await admin.post('/v2.0/networks', { network: { name: 'private' } })).body.network;
      const missing = await setGateway(member, x.id, { network_id: hidden.id });
      assert.equal(missing.status, 404);
      assert.equal(errorType(missing), 'NetworkNotFound');
      const onCreate = await member.post('/v2.0/routers', {
        router: { name: 'bad', external_gateway_info: { network_id: net.id } },
      });
      assert.equal(onCreate.status, 400);
      assert.equal(await portCount(), before, 'nothing half-created');
      assert.equal(
        (await member.get('/v2.0/routers?name=bad')).body.routers.length,
        0,
        'the router of a failed create is gone too',
      );
    });

    it('takes a gateway on a network opened by an access_as_external RBAC policy', async () => {
      const shared = (await admin.post('/v2.0/networks', { network: { name: 'ext-rbac' } })).body.network;
      const sub = await subnet(admin, shared.id, '198.51.100.0/24');
      const policy = await admin.post('/v2.0/rbac-policies', {
        rbac_policy: {
          object_type: 'network',
          object_id: shared.id,
          action: 'access_as_external',
          target_tenant: memberProject,
        },
      });
      assert.equal(policy.status, 201, JSON.stringify(policy.body));
      const x = await router();
      const r = await setGateway(member, x.id, { network_id: shared.id });
      assert.equal(r.status, 200, JSON.stringify(r.body));
      assert.equal(r.body.router.external_gateway_info.external_fixed_ips[0].subnet_id, sub.id);
      const y = await router(other);
      assert.equal((await setGateway(other, y.id, { network_id: shared.id })).status, 404);

      // The policy is what the member's router needs: it stays while the gateway does.
      const id = policy.body.rbac_policy.id;
      const inUse = await admin.del(`/v2.0/rbac-policies/${id}`);
      assert.equal(inUse.status, 409);
      assert.equal(errorType(inUse), 'RbacPolicyInUse');
      assert.match(errorMessage(inUse), /routers attached to this network that depend on this policy/);
      const retarget = await admin.put(`/v2.0/rbac-policies/${id}`, {
        rbac_policy: { target_tenant: otherProject },
      });
      assert.equal(retarget.status, 409, 'retargeting strands the router too');
      assert.equal((await setGateway(member, x.id, null)).status, 200);
      assert.equal((await admin.del(`/v2.0/rbac-policies/${id}`)).status, 204);
    });

    it('adds and removes an interface by subnet (the CLI body) with Neutron’s answer', async () => {
      const x = await router();
      const { net, sub } = await net4('10.1.0.0/24');
      const r = await addInterface(member, x.id, { subnet_id: sub.id });
      assert.equal(r.status, 200, JSON.stringify(r.body));
      const [port] = await routerPorts(x.id);
      assert.deepEqual(r.body, {
        id: x.id,
        network_id: net.id,
        port_id: port.id,
        subnet_id: sub.id,
        subnet_ids: [sub.id],
        project_id: memberProject,
        tenant_id: memberProject,
        tags: [],
      });
      assert.equal(port.device_owner, 'network:router_interface');
      assert.deepEqual(port.fixed_ips, [{ subnet_id: sub.id, ip_address: '10.1.0.1' }]);
      assert.equal(port.project_id, memberProject);
      assert.equal((await member.get(`/v2.0/routers/${x.id}`)).body.router.revision_number, 1);

      const twice = await addInterface(member, x.id, { subnet_id: sub.id });
      assert.equal(twice.status, 400);
      assert.equal(errorMessage(twice), `Bad router request: Router already has a port on subnet ${sub.id}.`);

      const removed = await removeInterface(member, x.id, { subnet_id: sub.id });
      assert.equal(removed.status, 200);
      assert.equal(removed.body.port_id, port.id);
      assert.deepEqual(removed.body.subnet_ids, [sub.id]);
      assert.deepEqual(await routerPorts(x.id), []);
      const gone = await removeInterface(member, x.id, { subnet_id: sub.id });
      assert.equal(gone.status, 404);
      assert.equal(errorType(gone), 'RouterInterfaceNotFoundForSubnet');
      assert.equal(errorMessage(gone), `Router ${x.id} has no interface on subnet ${sub.id}`);
    });

    it('refuses overlapping subnets, subnets without a gateway and a taken gateway address', async () => {
      const x = await router();
      const a = await net4('10.2.0.0/24');
      const b = await net4('10.2.0.0/25');
      assert.equal((await addInterface(member, x.id, { subnet_id: a.sub.id })).status, 200);
      const before = await portCount();
      const overlap = await addInterface(member, x.id, { subnet_id: b.sub.id });
      assert.equal(overlap.status, 400);
      assert.equal(errorType(overlap), 'BadRequest');
      assert.equal(
        errorMessage(overlap),
        `Bad router request: Cidr 10.2.0.0/25 of subnet ${b.sub.id} overlaps with cidr 10.2.0.0/24 of subnet ${a.sub.id}.`,
      );

      const noGw = await network();
      const noGwSub = await subnet(member, noGw.id, '10.3.0.0/24', { gateway_ip: null });
      const r = await addInterface(member, x.id, { subnet_id: noGwSub.id });
      assert.equal(r.status, 400);
      assert.equal(
        errorMessage(r),
        'Bad router request: Subnet for router interface must have a gateway IP.',
      );

      const taken = await net4('10.4.0.0/24');
      const squatter = await admin.post('/v2.0/ports', {
        port: { network_id: taken.net.id, fixed_ips: [{ ip_address: '10.4.0.1' }] },
      });
      assert.equal(squatter.status, 201);
      const inUse = await addInterface(member, x.id, { subnet_id: taken.sub.id });
      assert.equal(inUse.status, 409);
      assert.equal(errorType(inUse), 'IpAddressInUse');

      for (const body of [
        {},
        { subnet_id: a.sub.id, port_id: squatter.body.port.id },
        { subnet_id: 'nope' },
      ]) {
        const bad = await addInterface(member, x.id, body);
        assert.equal(bad.status, 400, JSON.stringify(body));
        assert.equal(errorType(bad), 'BadRequest');
      }
      assert.equal(await portCount(), before + 1, 'only the squatter was made');
      const missing = await addInterface(member, x.id, { subnet_id: '00000000-0000-4000-8000-000000000000' });
      assert.equal(missing.status, 404);
      assert.equal(errorType(missing), 'SubnetNotFound');
    });

    it('lets one of two concurrent overlapping interfaces win', async () => {
      const x = await router();
      const a = await net4('10.30.0.0/24');
      const b = await net4('10.30.0.0/24');
      const results = await Promise.all([
        addInterface(member, x.id, { subnet_id: a.sub.id }),
        addInterface(member, x.id, { subnet_id: b.sub.id }),
      ]);
      assert.deepEqual(results.map((r) => r.status).sort(), [200, 400]);
      assert.equal((await routerPorts(x.id)).length, 1);
    });

    it('attaches subnets of networks shared by RBAC, not those shared with everyone', async () => {
      const owner = await t.newProjectUser();
      const c = client(t, owner.token);
      const { net, sub } = await net4('10.5.0.0/24', c);
      await c.post('/v2.0/rbac-policies', {
        rbac_policy: {
          object_type: 'network',
          object_id: net.id,
          action: 'access_as_shared',
          target_tenant: memberProject,
        },
      });
      const x = await router();
      assert.equal((await addInterface(member, x.id, { subnet_id: sub.id })).status, 200);
      const global = await network(admin, { shared: true });
      const globalSub = await subnet(admin, global.id, '10.6.0.0/24');
      const r = await addInterface(member, x.id, { subnet_id: globalSub.id });
      assert.equal(r.status, 400);
      assert.equal(
        errorMessage(r),
        `Bad router request: Cannot add interface to router because subnet ${globalSub.id} is not owned by project making the request.`,
      );
    });

    it('adds an interface by port and deletes the port when it is removed', async () => {
      const x = await router();
      const { net, sub } = await net4('10.7.0.0/24');
      const p = (await member.post('/v2.0/ports', { port: { network_id: net.id, name: 'mine' } })).body.port;
      const r = await addInterface(member, x.id, { port_id: p.id });
      assert.equal(r.status, 200, JSON.stringify(r.body));
      assert.deepEqual(r.body, {
        id: x.id,
        network_id: net.id,
        port_id: p.id,
        subnet_id: sub.id,
        subnet_ids: [sub.id],
        project_id: memberProject,
        tenant_id: memberProject,
        tags: [],
      });
      const attached = (await member.get(`/v2.0/ports/${p.id}`)).body.port;
      assert.equal(attached.device_owner, 'network:router_interface');
      assert.equal(attached.device_id, x.id);

      const inUse = await addInterface(member, (await router()).id, { port_id: p.id });
      assert.equal(inUse.status, 409);
      assert.equal(errorType(inUse), 'PortInUse');

      const bare = (await member.post('/v2.0/ports', { port: { network_id: net.id, fixed_ips: [] } })).body
        .port;
      const noIp = await addInterface(member, (await router()).id, { port_id: bare.id });
      assert.equal(noIp.status, 400);
      assert.equal(errorMessage(noIp), 'Bad router request: Router port must have at least one fixed IP.');

      const two = await network();
      const s1 = await subnet(member, two.id, '10.8.0.0/24');
      const s2 = await subnet(member, two.id, '10.9.0.0/24');
      const dual = (
        await member.post('/v2.0/ports', {
          port: { network_id: two.id, fixed_ips: [{ subnet_id: s1.id }, { subnet_id: s2.id }] },
        })
      ).body.port;
      const multi = await addInterface(member, (await router()).id, { port_id: dual.id });
      assert.equal(multi.status, 400);
      assert.equal(
        errorMessage(multi),
        'Bad router request: Cannot have multiple IPv4 subnets on router port.',
      );
      assert.equal((await member.get(`/v2.0/ports/${dual.id}`)).body.port.device_id, '', 'left as it was');

      const mismatch = await removeInterface(member, x.id, { port_id: p.id, subnet_id: s1.id });
      assert.equal(mismatch.status, 400);
      assert.equal(errorType(mismatch), 'SubnetMismatchForPort');
      const removed = await removeInterface(member, x.id, { port_id: p.id });
      assert.equal(removed.status, 200);
      assert.equal((await member.get(`/v2.0/ports/${p.id}`)).status, 404, 'deleted, as Neutron does');
      const gone = await removeInterface(member, x.id, { port_id: p.id });
      assert.equal(gone.status, 404);
      assert.equal(errorType(gone), 'RouterInterfaceNotFound');
    });

    it('puts the IPv6 prefixes of one network on one interface', async () => {
      const x = await router();
      const net = await network();
      const a = await subnet(member, net.id, '2001:db8:1::/64');
      const b = await subnet(member, net.id, '2001:db8:2::/64');
      assert.equal((await addInterface(member, x.id, { subnet_id: a.id })).status, 200);
      const r = await addInterface(member, x.id, { subnet_id: b.id });
      assert.equal(r.status, 200, JSON.stringify(r.body));
      const ports = await routerPorts(x.id);
      assert.equal(ports.length, 1);
      assert.deepEqual(
        ports[0].fixed_ips.map((ip) => ip.ip_address),
        ['2001:db8:1::1', '2001:db8:2::1'],
      );
      assert.equal((await removeInterface(member, x.id, { subnet_id: a.id })).status, 200);
      assert.deepEqual(
        (await routerPorts(x.id))[0].fixed_ips.map((ip) => ip.subnet_id),
        [b.id],
      );
    });

    it('refuses to delete a router with interfaces (RouterInUse); its gateway port goes with it', async () => {
      const x = await router(member, { external_gateway_info: { network_id: ext.id } });
      const { net, sub } = await net4('10.10.0.0/24');
      const port = (await addInterface(member, x.id, { subnet_id: sub.id })).body.port_id;
      const r = await member.del(`/v2.0/routers/${x.id}`);
      assert.equal(r.status, 409);
      assert.equal(errorType(r), 'RouterInUse');
      assert.equal(errorMessage(r), `Router ${x.id} has ports still attached: ${port}`);

      const netDelete = await member.del(`/v2.0/networks/${net.id}`);
      assert.equal(netDelete.status, 409);
      assert.equal(errorType(netDelete), 'NetworkInUse');
      const subnetDelete = await member.del(`/v2.0/subnets/${sub.id}`);
      assert.equal(subnetDelete.status, 409);
      assert.equal(errorType(subnetDelete), 'SubnetInUse');

      await removeInterface(member, x.id, { subnet_id: sub.id });
      assert.equal((await member.del(`/v2.0/routers/${x.id}`)).status, 204);
      assert.deepEqual(await routerPorts(x.id), []);
      assert.equal((await member.get(`/v2.0/routers/${x.id}`)).status, 404);
    });

    it('keeps the port API off router ports', async () => {
      const x = await router(member, { external_gateway_info: { network_id: ext.id } });
      const { net, sub } = await net4('10.11.0.0/24');
      const portId = (await addInterface(member, x.id, { subnet_id: sub.id })).body.port_id;
      const gateway = (await routerPorts(x.id)).find((p) => p.device_owner === 'network:router_gateway')!;
      for (const [c, id] of [
        [member, portId],
        [admin, gateway.id],
      ] as const) {
        const r = await c.del(`/v2.0/ports/${id}`);
        assert.equal(r.status, 409);
        assert.equal(errorType(r), 'ServicePortInUse');
      }
      assert.equal(
        errorMessage(await member.del(`/v2.0/ports/${portId}`)),
        `Port ${portId} cannot be deleted directly via the port API: has device owner network:router_interface.`,
      );
      for (const change of [{ device_id: '' }, { device_owner: 'compute:nova' }]) {
        const r = await member.put(`/v2.0/ports/${portId}`, { port: change });
        assert.equal(r.status, 409, JSON.stringify(change));
        assert.equal(errorType(r), 'UnsupportedPortDeviceOwner');
      }
      assert.equal((await member.put(`/v2.0/ports/${portId}`, { port: { name: 'qr' } })).status, 200);
      const claim = await member.post('/v2.0/ports', {
        port: { network_id: net.id, device_owner: 'network:router_interface', device_id: x.id },
      });
      assert.equal(claim.status, 409);
      assert.equal(errorType(claim), 'DeviceIDNotOwnedByTenant');
    });

    it('sets, adds and removes extra routes through next hops on its subnets', async () => {
      const x = await router(member, { external_gateway_info: { network_id: ext.id } });
      const { sub } = await net4('10.12.0.0/24');
      await addInterface(member, x.id, { subnet_id: sub.id });
      const set = (routes: unknown) => member.put(`/v2.0/routers/${x.id}`, { router: { routes } });
      const r = await set([{ destination: '192.168.10.0/24', nexthop: '10.12.0.5' }]);
      assert.equal(r.status, 200, JSON.stringify(r.body));
      assert.deepEqual(r.body.router.routes, [{ destination: '192.168.10.0/24', nexthop: '10.12.0.5' }]);
      const viaGateway = await set([{ destination: '0.0.0.0/0', nexthop: '203.0.113.254' }]);
      assert.equal(viaGateway.status, 200, 'the gateway subnet counts');

      const far = await set([{ destination: '192.168.20.0/24', nexthop: '172.16.0.1' }]);
      assert.equal(far.status, 400);
      assert.equal(errorType(far), 'InvalidRoutes');
      assert.equal(
        errorMessage(far),
        "Invalid format for routes: [{'destination': '192.168.20.0/24', 'nexthop': '172.16.0.1'}], the nexthop is not connected with router",
      );
      const own = await set([{ destination: '192.168.20.0/24', nexthop: '10.12.0.1' }]);
      assert.equal(own.status, 400);
      assert.match(errorMessage(own) ?? '', /the nexthop is used by router$/);
      const notCidr = await set([{ destination: '192.168.20.1/24', nexthop: '10.12.0.5' }]);
      assert.equal(notCidr.status, 400);
      assert.equal(
        errorMessage(notCidr),
        "Invalid input for routes. Reason: '192.168.20.1/24' is not a valid CIDR.",
      );
      const many = Array.from({ length: 31 }, (_, i) => ({
        destination: `192.168.${i}.0/24`,
        nexthop: '10.12.0.5',
      }));
      const exhausted = await set(many);
      assert.equal(exhausted.status, 400);
      assert.equal(errorType(exhausted), 'RoutesExhausted');

      const add = (routes: unknown) =>
        member.put(`/v2.0/routers/${x.id}/add_extraroutes`, { router: { routes } });
      const remove = (routes: unknown) =>
        member.put(`/v2.0/routers/${x.id}/remove_extraroutes`, { router: { routes } });
      const a = { destination: '10.50.0.0/16', nexthop: '10.12.0.6' };
      const b = { destination: '10.60.0.0/16', nexthop: '10.12.0.7' };
      const added = await add([a, b, a]);
      assert.equal(added.status, 200, JSON.stringify(added.body));
      assert.deepEqual(added.body.router.routes, [
        { destination: '0.0.0.0/0', nexthop: '203.0.113.254' },
        a,
        b,
      ]);
      assert.deepEqual((await add([a])).body.router.routes.length, 3, 'idempotent');
      assert.equal((await add([{ destination: '10.70.0.0/16', nexthop: '172.16.0.1' }])).status, 400);
      const removed = await remove([a, { destination: '10.99.0.0/16', nexthop: '10.12.0.9' }]);
      assert.equal(removed.status, 200);
      assert.deepEqual(removed.body.router.routes, [
        { destination: '0.0.0.0/0', nexthop: '203.0.113.254' },
        b,
      ]);

      const inUse = await removeInterface(member, x.id, { subnet_id: sub.id });
      assert.equal(inUse.status, 409);
      assert.equal(errorType(inUse), 'RouterInterfaceInUseByRoute');
      const noGateway = await setGateway(member, x.id, null);
      assert.equal(noGateway.status, 400, 'a route through the gateway subnet keeps the gateway');
      assert.equal(errorType(noGateway), 'InvalidRoutes');
      const cleared = await set(null);
      assert.deepEqual(cleared.body.router.routes, []);
      assert.equal((await removeInterface(member, x.id, { subnet_id: sub.id })).status, 200);
    });

    it('counts routers against the project quota', async () => {
      const user = await t.newProjectUser();
      const c = client(t, user.token);
      await admin.put(`/v2.0/quotas/${user.projectId}`, { quota: { router: 1 } });
      await router(c);
      const r = await c.post('/v2.0/routers', { router: { name: 'second' } });
      assert.equal(r.status, 409);
      assert.equal(errorType(r), 'OverQuota');
      const details = (await c.get(`/v2.0/quotas/${user.projectId}/details`)).body.quota;
      assert.deepEqual(details.router, { limit: 1, used: 1, reserved: 0 });
    });

    it('advertises the L3 extensions it implements', async () => {
      const aliases = (await member.get('/v2.0/extensions')).body.extensions.map(
        (e: { alias: string }) => e.alias,
      );
      for (const alias of [
        'router',
        'ext-gw-mode',
        'extraroute',
        'extraroute-atomic',
        'fip-port-details',
        'floatingip-pools',
      ]) {
        assert.ok(aliases.includes(alias), alias);
      }
      for (const alias of ['dvr', 'router_availability_zone']) {
        assert.ok(!aliases.includes(alias), alias);
      }
    });

    it('is tagged like any resource', async () => {
      const x = await router();
      assert.equal((await member.put(`/v2.0/routers/${x.id}/tags/blue`)).status, 201);
      assert.deepEqual(
        (await member.get(`/v2.0/routers?tags=blue`)).body.routers.map((r: { id: string }) => r.id),
        [x.id],
      );
    });
  });

  describe(`L3 scheduling and the router snapshot (${dialect})`, () => {
    let t: TestServer;
    let admin: Client;
    before(async () => {
      t = await startTestServer(dialect);
      admin = client(t, t.adminToken);
    });
    after(() => t.close());

    const sync = async (host: string): Promise<Snapshot> => {
      const r = await admin.post(`/neutrino/v1/hosts/${host}/sync`, undefined);
      assert.equal(r.status, 200, JSON.stringify(r.body));
      return r.body.snapshot;
    };
    const create = async (path: string, key: string, body: Record<string, unknown>) => {
      const r = await admin.post(`/v2.0/${path}`, { [key]: body });
      assert.equal(r.status, 201, JSON.stringify(r.body));
      return r.body[key];
    };
    const bindingOf = async (routerId: string) =>
      (
        await t.store.db
          .selectFrom('l3_bindings')
          .selectAll()
          .where('router_id', '=', routerId)
          .executeTakeFirst()
      )?.host;

    it('schedules a router with ports to the first syncing host and describes it there', async () => {
      const ext = await create('networks', 'network', { name: 'ext', 'router:external': true });
      const extSub = await create('subnets', 'subnet', {
        network_id: ext.id,
        ip_version: 4,
        cidr: '203.0.113.0/24',
      });
      const net = await create('networks', 'network', { name: 'int' });
      const sub = await create('subnets', 'subnet', {
        network_id: net.id,
        ip_version: 4,
        cidr: '10.0.0.0/24',
      });
      const bare = await create('routers', 'router', { name: 'bare' });
      const r = await create('routers', 'router', {
        name: 'r',
        external_gateway_info: { network_id: ext.id },
      });
      const qr = (await admin.put(`/v2.0/routers/${r.id}/add_router_interface`, { subnet_id: sub.id })).body
        .port_id;
      await admin.put(`/v2.0/routers/${r.id}`, {
        router: { routes: [{ destination: '192.168.0.0/24', nexthop: '10.0.0.9' }] },
      });
      const vm = await create('ports', 'port', {
        network_id: net.id,
        fixed_ips: [{ ip_address: '10.0.0.5' }],
      });
      const fip = await create('floatingips', 'floatingip', { floating_network_id: ext.id, port_id: vm.id });
      const web = await create('ports', 'port', {
        network_id: net.id,
        fixed_ips: [{ ip_address: '10.0.0.6' }],
      });
      const forwarding = await create('floatingips', 'floatingip', { floating_network_id: ext.id });
      const pf = await admin.post(`/v2.0/floatingips/${forwarding.id}/port_forwardings`, {
        port_forwarding: {
          protocol: 'tcp',
          internal_port_id: web.id,
          internal_port_range: '8000:8009',
          external_port_range: '9000:9009',
        },
      });
      assert.equal(pf.status, 201, JSON.stringify(pf.body));

      const s = await sync('l3-host');
      assert.equal(await bindingOf(r.id), 'l3-host');
      assert.equal(await bindingOf(bare.id), undefined, 'a router without ports is not scheduled');
      assert.deepEqual(
        s.routers.map((x) => x.id),
        [r.id],
      );
      const [mine] = s.routers;
      const gw = (await admin.get(`/v2.0/ports?device_id=${r.id}&device_owner=network:router_gateway`)).body
        .ports[0];
      const qrPort = (await admin.get(`/v2.0/ports/${qr}`)).body.port;
      const byId = (a: { id: string }, b: { id: string }) => a.id.localeCompare(b.id);
      assert.deepEqual(
        { ...mine, floating_ips: [...mine.floating_ips].sort(byId) },
        {
          id: r.id,
          project_id: t.adminProjectId,
          admin_state_up: true,
          gateway: {
            port_id: gw.id,
            network_id: ext.id,
            mac_address: gw.mac_address,
            addresses: [{ subnet_id: extSub.id, ip_address: gw.fixed_ips[0].ip_address, prefixlen: 24 }],
            enable_snat: true,
            external_gateway_ips: ['203.0.113.1'],
          },
          interfaces: [
            {
              port_id: qr,
              network_id: net.id,
              mac_address: qrPort.mac_address,
              addresses: [{ subnet_id: sub.id, ip_address: '10.0.0.1', prefixlen: 24 }],
            },
          ],
          routes: [{ destination: '192.168.0.0/24', nexthop: '10.0.0.9' }],
          floating_ips: [
            {
              id: fip.id,
              floating_ip_address: fip.floating_ip_address,
              fixed_ip_address: '10.0.0.5',
              port_id: vm.id,
              port_forwardings: [],
            },
            {
              id: forwarding.id,
              floating_ip_address: forwarding.floating_ip_address,
              fixed_ip_address: null,
              port_id: null,
              port_forwardings: [
                {
                  protocol: 'tcp',
                  internal_ip_address: '10.0.0.6',
                  internal_port_start: 8000,
                  internal_port_end: 8009,
                  external_port_start: 9000,
                  external_port_end: 9009,
                },
              ],
            },
          ].sort(byId),
          metering: [],
        },
      );
      const networks = s.networks.map((n) => n.id);
      assert.ok(networks.includes(ext.id) && networks.includes(net.id), 'both networks, for the bridges');
      assert.ok(s.subnets.some((x) => x.id === extSub.id));
      const owners = s.ports.map((p) => p.device_owner);
      assert.ok(
        owners.every(
          (o) => !['network:router_interface', 'network:router_gateway', 'network:floatingip'].includes(o),
        ),
        owners.join(),
      );
      assert.equal(qrPort['binding:host_id'], 'l3-host', "router ports are bound to the router's host");
      assert.equal(gw['binding:host_id'], 'l3-host');

      const settled = await t.store.latestRevision();
      await sync('l3-host');
      assert.equal(await t.store.latestRevision(), settled, 'a second sync writes nothing');
      assert.deepEqual((await sync('other-host')).routers, [], 'served by one host');
    });

    it('prefers hosts with a live L3 agent, and unschedules a router that lost its ports', async () => {
      await admin.post('/neutrino/v1/hosts/l3-agent-host/heartbeat', {
        agent: { agent_type: 'L3 agent', binary: 'neutrino-agent' },
      });
      const ext = await create('networks', 'network', { name: 'ext2', 'router:external': true });
      await create('subnets', 'subnet', { network_id: ext.id, ip_version: 4, cidr: '198.51.100.0/24' });
      const r = await create('routers', 'router', {
        name: 'r2',
        external_gateway_info: { network_id: ext.id },
      });
      // Any host's sync schedules it, to the host with a live L3 agent (the fewest routers).
      assert.deepEqual((await sync('no-l3-agent')).routers, []);
      assert.equal(await bindingOf(r.id), 'l3-agent-host');
      assert.deepEqual(
        (await sync('l3-agent-host')).routers.map((x) => x.id),
        [r.id],
      );
      await admin.put(`/v2.0/routers/${r.id}`, { router: { external_gateway_info: null } });
      assert.deepEqual((await sync('l3-agent-host')).routers, []);
      assert.equal(await bindingOf(r.id), undefined);
    });

    it('refuses a gateway or an interface while no L3 agent is alive, leaving nothing behind', async () => {
      const age = (seconds: number) =>
        t.store.db
          .updateTable('agents')
          .set({ heartbeat_timestamp: new Date(Date.now() - seconds * 1000).toISOString() })
          .where('agent_type', '=', 'L3 agent')
          .execute();
      await admin.post('/neutrino/v1/hosts/l3-agent-host/heartbeat', {
        agent: { agent_type: 'L3 agent', binary: 'neutrino-agent' },
      });
      const ext = await create('networks', 'network', { name: 'ext3', 'router:external': true });
      await create('subnets', 'subnet', { network_id: ext.id, ip_version: 4, cidr: '198.51.100.0/24' });
      const net = await create('networks', 'network', { name: 'inner3' });
      const sub = await create('subnets', 'subnet', {
        network_id: net.id,
        ip_version: 4,
        cidr: '10.33.0.0/24',
      });
      const r = await create('routers', 'router', { name: 'r3' });
      await age(600);
      const portsBefore = (await admin.get('/v2.0/ports')).body.ports.length;
      const refusals = [
        await admin.post('/v2.0/routers', {
          router: { name: 'r4', external_gateway_info: { network_id: ext.id } },
        }),
        await admin.put(`/v2.0/routers/${r.id}`, {
          router: { external_gateway_info: { network_id: ext.id } },
        }),
        await admin.put(`/v2.0/routers/${r.id}/add_router_interface`, { subnet_id: sub.id }),
      ];
      for (const refused of refusals) {
        assert.equal(refused.status, 409, JSON.stringify(refused.body));
        assert.equal(refused.body.NeutronError.type, 'NoLiveNetworkHost');
        assert.match(
          refused.body.NeutronError.message,
          /no L3 agent is alive \(network hosts: l3-agent-host\)/,
        );
      }
      assert.equal((await admin.get('/v2.0/ports')).body.ports.length, portsBefore, 'no port made');
      assert.ok(
        !(await admin.get('/v2.0/routers')).body.routers.some((x: { name: string }) => x.name === 'r4'),
      );
      // A router without ports needs no host: names and such still change.
      assert.equal((await admin.put(`/v2.0/routers/${r.id}`, { router: { name: 'r3b' } })).status, 200);
      await age(0);
      const added = await admin.put(`/v2.0/routers/${r.id}/add_router_interface`, { subnet_id: sub.id });
      assert.equal(added.status, 200, JSON.stringify(added.body));
    });
  });
}
