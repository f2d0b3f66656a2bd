/**
 * Instances: create (ports made or passed in, bound to the chosen host, all-or-nothing), list,
 * show and delete, host choice by live agents, and the errors a bad request gets.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { client, dialects, startTestServer, type TestServer } from '../helpers/server.js';

type Client = ReturnType<typeof client>;

for (const dialect of dialects()) {
  describe(`instances (${dialect})`, () => {
    let t: TestServer;
    let admin: Client;
    before(async () => {
      t = await startTestServer(dialect, { defaultHost: 'default-host' });
      admin = client(t, t.adminToken);
    });
    after(() => t.close());

    const errorType = (r: { body: { NeutronError?: { type: string } } }) => r.body.NeutronError?.type;
    /** A network with one subnet (DHCP unless told otherwise). */
    const network = async (c: Client = admin, cidr = '10.0.0.0/24', enable_dhcp = true) => {
      const net = (await c.post('/v2.0/networks', { network: { name: 'n' } })).body.network;
      const sub = await c.post('/v2.0/subnets', {
        subnet: { network_id: net.id, ip_version: 4, cidr, enable_dhcp },
      });
      assert.equal(sub.status, 201, JSON.stringify(sub.body));
      return net;
    };
    const create = (instance: Record<string, unknown>, c: Client = admin) =>
      c.post('/neutrino/v1/instances', { instance: { name: 'vm1', ...instance } });
    const portsOn = async (networkId: string) =>
      (await admin.get(`/v2.0/ports?network_id=${networkId}`)).body.ports;
    const heartbeat = (host: string) =>
      admin.post(`/neutrino/v1/hosts/${host}/heartbeat`, {
        agent: { agent_type: 'Linux bridge agent', binary: 'neutrino-agent' },
      });
    const ageAgents = (host: string, seconds: number) =>
      t.store.db
        .updateTable('agents')
        .set({ heartbeat_timestamp: new Date(Date.now() - seconds * 1000).toISOString() })
        .where('host', '=', host)
        .execute();

    it('creates an instance with a port per network, bound to its host', async () => {
      const a = await network();
      const b = await network(admin, '10.1.0.0/24');
      const before = await t.store.latestRevision();
      const r = await create({
        name: 'web-1.example',
        networks: [{ network_id: a.id }, { network_id: b.id }],
      });
      assert.equal(r.status, 201, JSON.stringify(r.body));
      const vm = r.body.instance;
      assert.deepEqual(Object.keys(vm).sort(), [
        'created_at',
        'fault',
        'host',
        'id',
        'key_name',
        'metadata',
        'name',
        'ports',
        'project_id',
        'status',
        'tenant_id',
        'updated_at',
      ]);
      assert.equal(vm.name, 'web-1.example');
      assert.equal(vm.status, 'BUILD');
      assert.equal(vm.fault, null);
      assert.equal(vm.key_name, null);
      assert.deepEqual(vm.metadata, {});
      assert.equal(vm.host, 'default-host', 'no live agent: the default host');
      assert.equal(vm.project_id, t.adminProjectId);
      assert.equal(vm.tenant_id, t.adminProjectId);
      assert.deepEqual(
        vm.ports.map((p: { network_id: string }) => p.network_id),
        [a.id, b.id],
        'in request order',
      );
      for (const p of vm.ports) {
        assert.deepEqual(Object.keys(p).sort(), ['fixed_ips', 'id', 'mac_address', 'network_id']);
        const port = (await admin.get(`/v2.0/ports/${p.id}`)).body.port;
        assert.equal(port.device_id, vm.id);
        assert.equal(port.device_owner, 'compute:nova');
        assert.equal(port['binding:host_id'], 'default-host');
        assert.equal(port['binding:vif_type'], 'bridge');
        assert.equal(port.status, 'DOWN');
        assert.deepEqual(port.fixed_ips, p.fixed_ips);
        assert.equal(port.mac_address, p.mac_address);
        assert.equal(port.security_groups.length, 1, 'the default group');
      }
      const revisions = await t.store.revisionsSince(before);
      assert.ok(
        revisions.some((x) => x.resource === 'instances' && x.resource_id === vm.id && x.op === 'create'),
      );

      const shown = await admin.get(`/neutrino/v1/instances/${vm.id}`);
      assert.equal(shown.status, 200);
      assert.deepEqual(shown.body.instance, vm);
      assert.deepEqual((await admin.get(`/neutrino/v1/instances/${vm.id}?fields=status`)).body.instance, {
        status: 'BUILD',
      });
    });

    it('takes a fixed IP, security groups by name or id, and an existing port', async () => {
      const net = await network(admin, '10.2.0.0/24');
      const sg = (await admin.post('/v2.0/security-groups', { security_group: { name: 'web' } })).body
        .security_group;
      const free = (await admin.post('/v2.0/ports', { port: { network_id: net.id, name: 'mine' } })).body
        .port;
      const r = await create({
        networks: [{ network_id: net.id, fixed_ip: '10.2.0.77' }, { port_id: free.id }],
        security_groups: ['web', 'default'],
      });
      assert.equal(r.status, 201, JSON.stringify(r.body));
      const vm = r.body.instance;
      assert.deepEqual(vm.ports[0].fixed_ips[0].ip_address, '10.2.0.77');
      assert.equal(vm.ports[1].id, free.id);
      const made = (await admin.get(`/v2.0/ports/${vm.ports[0].id}`)).body.port;
      const groups = (await admin.get('/v2.0/security-groups?name=default')).body.security_groups;
      const defaultId = groups.find((g: { project_id: string }) => g.project_id === t.adminProjectId).id;
      assert.deepEqual(made.security_groups.sort(), [sg.id, defaultId].sort());
      const taken = (await admin.get(`/v2.0/ports/${free.id}`)).body.port;
      assert.equal(taken.device_id, vm.id);
      assert.equal(taken['binding:host_id'], vm.host);
      assert.equal(taken.name, 'mine');

      const byId = await create({ networks: [{ network_id: net.id }], security_groups: [sg.id] });
      assert.equal(byId.status, 201);
      const unknown = await create({ networks: [{ network_id: net.id }], security_groups: ['nope'] });
      assert.equal(unknown.status, 404);
      assert.equal(errorType(unknown), 'SecurityGroupNotFound');

      assert.equal((await admin.del(`/neutrino/v1/instances/${vm.id}`)).status, 204);
      assert.equal((await admin.get(`/neutrino/v1/instances/${vm.id}`)).status, 404);
      assert.equal((await admin.get(`/v2.0/ports/${made.id}`)).status, 404, 'its own port goes with it');
      const kept = (await admin.get(`/v2.0/ports/${free.id}`)).body.port;
      assert.equal(kept.device_id, '', 'a port passed in stays, unbound');
      assert.equal(kept.device_owner, '');
      assert.equal(kept['binding:host_id'], '');
      assert.equal(kept['binding:vif_type'], 'unbound');
      const allocations = await t.store.db
        .selectFrom('ip_allocations')
        .selectAll()
        .where('port_id', '=', made.id)
        .execute();
      assert.deepEqual(allocations, []);
    });

    it('goes to the live L2 agent with the fewest instances, or where an admin says', async () => {
      const net = await network(admin, '10.3.0.0/24');
      const host = async (body: Record<string, unknown> = {}) => {
        const r = await create({ networks: [{ network_id: net.id }], ...body });
        assert.equal(r.status, 201, JSON.stringify(r.body));
        return r.body.instance.host;
      };
      await heartbeat('busy');
      assert.equal(await host(), 'busy', 'the only live agent');
      await heartbeat('idle');
      assert.equal(await host(), 'idle', 'fewer instances');
      assert.equal(await host(), 'busy', 'then it is a tie, broken by name');
      await ageAgents('busy', 600);
      await ageAgents('idle', 600);
      assert.equal(await host(), 'default-host', 'no live agent');
      // An admin's chosen host must have a live compute agent: refused before any port is made.
      const portsBefore = (await admin.get('/v2.0/ports')).body.ports.length;
      const refused = await create({ networks: [{ network_id: net.id }], host: 'chosen' });
      assert.equal(refused.status, 409, JSON.stringify(refused.body));
      assert.equal(errorType(refused), 'HostNotAvailable');
      assert.match(
        refused.body.NeutronError.message,
        /chosen has no live compute agent; live compute hosts: none/,
      );
      assert.equal((await admin.get('/v2.0/ports')).body.ports.length, portsBefore, 'no port left behind');
      await heartbeat('chosen');
      assert.equal(await host({ host: 'chosen' }), 'chosen');
      await ageAgents('chosen', 600);
      await heartbeat('busy');
      const dead = await create({ networks: [{ network_id: net.id }], host: 'chosen' });
      assert.match(dead.body.NeutronError.message, /live compute hosts: busy\./);

      const member = client(t, (await t.newProjectUser()).token);
      const own = await network(member, '10.3.0.0/24');
      const denied = await create({ networks: [{ network_id: own.id }], host: 'chosen' }, member);
      assert.equal(denied.status, 403);
      assert.equal(errorType(denied), 'PolicyNotAuthorized');
    });

    it('refuses a network without DHCP and leaves nothing behind', async () => {
      const good = await network(admin, '10.4.0.0/24');
      const bad = await network(admin, '10.5.0.0/24', false);
      const before = await t.store.latestRevision();
      const r = await create({ networks: [{ network_id: good.id }, { network_id: bad.id }] });
      assert.equal(r.status, 400);
      assert.equal(errorType(r), 'NetworkWithoutDhcp');
      assert.match(r.body.NeutronError.message, new RegExp(`${bad.id} has no DHCP-enabled subnet`));
      assert.deepEqual(await portsOn(good.id), []);
      assert.deepEqual(await portsOn(bad.id), []);
      assert.equal(await t.store.latestRevision(), before, 'nothing written');
    });

    it('lets one of two instances racing for a port have it, and removes the loser’s new ports', async () => {
      const net = await network(admin, '10.6.0.0/24');
      const free = (await admin.post('/v2.0/ports', { port: { network_id: net.id } })).body.port;
      const results = await Promise.all(
        [1, 2].map(() => create({ networks: [{ network_id: net.id }, { port_id: free.id }] })),
      );
      assert.deepEqual(results.map((r) => r.status).sort(), [201, 409]);
      assert.equal(errorType(results.find((r) => r.status === 409)!), 'PortInUse');
      const winner = results.find((r) => r.status === 201)!.body.instance;
      const left = (await portsOn(net.id)).map((p: { id: string }) => p.id).sort();
      assert.deepEqual(left, winner.ports.map((p: { id: string }) => p.id).sort());
    });

    it('answers bad requests with Neutron errors', async () => {
      const net = await network(admin, '10.7.0.0/24');
      const missing = await create({ networks: [{ network_id: '00000000-0000-0000-0000-000000000000' }] });
      assert.equal(missing.status, 404);
      assert.equal(errorType(missing), 'NetworkNotFound');
      const noPort = await create({ networks: [{ port_id: '00000000-0000-0000-0000-000000000000' }] });
      assert.equal(errorType(noPort), 'PortNotFound');
      for (const name of ['', 'vm 1', 'a'.repeat(64), 'vm/1']) {
        const r = await create({ name, networks: [{ network_id: net.id }] });
        assert.equal(r.status, 400, name);
      }
      const unknown = await create({ networks: [{ network_id: net.id }], flavor: 'm1.tiny' });
      assert.equal(unknown.status, 400);
      assert.match(unknown.body.NeutronError.message, /flavor/);
      const unknownItem = await create({ networks: [{ network_id: net.id, uuid: net.id }] });
      assert.equal(unknownItem.status, 400);
      for (const networks of [
        [],
        [{}],
        [{ network_id: net.id, port_id: net.id }],
        [{ port_id: net.id, fixed_ip: '10.7.0.9' }],
      ]) {
        const r = await create({ networks });
        assert.equal(r.status, 400, JSON.stringify(networks));
      }
      assert.equal((await admin.post('/neutrino/v1/instances', { name: 'x' })).status, 400);
      const badIp = await create({ networks: [{ network_id: net.id, fixed_ip: '10.99.0.5' }] });
      assert.equal(badIp.status, 400);
      assert.deepEqual(await portsOn(net.id), []);
    });

    it('scopes instances to their project', async () => {
      const alice = await t.newProjectUser();
      const bob = await t.newProjectUser();
      const a = client(t, alice.token);
      const b = client(t, bob.token);
      const aliceNet = await network(a, '10.8.0.0/24');
      const vm = (await create({ name: 'alice-vm', networks: [{ network_id: aliceNet.id }] }, a)).body
        .instance;
      assert.equal(vm.project_id, alice.projectId);

      const other = await create({ networks: [{ network_id: aliceNet.id }] }, b);
      assert.equal(other.status, 404, "another project's network is not found");
      assert.equal(errorType(other), 'NetworkNotFound');
      assert.equal(errorType(await create({ networks: [{ port_id: vm.ports[0].id }] }, b)), 'PortNotFound');

      assert.deepEqual(
        (await a.get('/neutrino/v1/instances')).body.instances.map((i: { id: string }) => i.id),
        [vm.id],
      );
      assert.deepEqual((await b.get('/neutrino/v1/instances')).body.instances, []);
      const all = (await admin.get('/neutrino/v1/instances')).body.instances;
      assert.ok(
        all.some((i: { id: string }) => i.id === vm.id),
        'admins see every project’s',
      );
      const show = await b.get(`/neutrino/v1/instances/${vm.id}`);
      assert.equal(show.status, 404);
      assert.equal(errorType(show), 'InstanceNotFound');
      assert.equal((await b.del(`/neutrino/v1/instances/${vm.id}`)).status, 404);

      const byName = await admin.get(`/neutrino/v1/instances?name=alice-vm&status=BUILD&host=${vm.host}`);
      assert.deepEqual(
        byName.body.instances.map((i: { id: string }) => i.id),
        [vm.id],
      );
      assert.equal((await admin.get('/neutrino/v1/instances?colour=red')).status, 400);
      const page = await a.get('/neutrino/v1/instances?limit=1&fields=id&fields=name');
      assert.deepEqual(page.body.instances, [{ id: vm.id, name: 'alice-vm' }]);

      const reader = client(t, (await t.newProjectUser('reader')).token);
      assert.equal((await create({ networks: [{ network_id: aliceNet.id }] }, reader)).status, 403);
      assert.equal((await a.del(`/neutrino/v1/instances/${vm.id}`)).status, 204);
      assert.deepEqual(await portsOn(aliceNet.id), []);
    });

    it('counts its ports against the port quota', async () => {
      const p = await t.newProjectUser();
      const c = client(t, p.token);
      const net = await network(c, '10.9.0.0/24');
      assert.equal((await admin.put(`/v2.0/quotas/${p.projectId}`, { quota: { port: 1 } })).status, 200);
      const r = await create({ networks: [{ network_id: net.id }, { network_id: net.id }] }, c);
      assert.equal(r.status, 409);
      assert.equal(errorType(r), 'OverQuota');
      assert.deepEqual((await c.get('/neutrino/v1/instances')).body.instances, []);
    });
  });
}
