/**
 * Host sync: DHCP scheduling (one host and one DHCP port per network with DHCP, an address on
 * each DHCP-enabled subnet, kept in step with subnet changes, idempotent and race-free), the
 * snapshot a host's agent gets, and status reports flipping ports and instances.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Snapshot } from '../../src/model/host-snapshot.js';
import { client, dialects, startTestServer, type TestServer } from '../helpers/server.js';

type Client = ReturnType<typeof client>;
type FixedIp = { subnet_id: string; ip_address: string };

for (const dialect of dialects()) {
  describe(`host sync (${dialect})`, () => {
    let t: TestServer;
    let admin: Client;
    before(async () => {
      t = await startTestServer(dialect, {
        defaultHost: 'default-host',
        physicalNetworks: ['physnet1'],
        physicalInterfaceMappings: { physnet1: 'eth9' },
      });
      admin = client(t, t.adminToken);
    });
    after(() => t.close());

    const sync = async (host: string): Promise<Snapshot> => {
      const r = await admin.post(`/neutrino/v1/hosts/${host}/sync`, undefined);
      assert.equal(r.status, 200, JSON.stringify(r.body));
      return r.body.snapshot;
    };
    const network = async (body: Record<string, unknown> = {}, c: Client = admin) =>
      (await c.post('/v2.0/networks', { network: { name: 'n', ...body } })).body.network;
    const subnet = async (networkId: string, cidr: string, body: Record<string, unknown> = {}, c = admin) => {
      const r = await c.post('/v2.0/subnets', {
        subnet: { network_id: networkId, ip_version: 4, cidr, ...body },
      });
      assert.equal(r.status, 201, JSON.stringify(r.body));
      return r.body.subnet;
    };
    const dhcpPorts = async (networkId: string) =>
      (await admin.get(`/v2.0/ports?network_id=${networkId}&device_owner=network:dhcp`)).body.ports;
    const binding = (networkId: string) =>
      t.store.db
        .selectFrom('dhcp_bindings')
        .selectAll()
        .where('network_id', '=', networkId)
        .executeTakeFirst();
    const subnetsOf = (port: { fixed_ips: FixedIp[] }) => port.fixed_ips.map((ip) => ip.subnet_id).sort();
    const instance = async (host: string, networks: Record<string, string>[], c: Client = admin) => {
      // An instance goes only to a host with a live compute (L2) agent.
      await admin.post(`/neutrino/v1/hosts/${host}/heartbeat`, {
        agent: { agent_type: 'Linux bridge agent', binary: 'neutrino-agent' },
      });
      const r = await c.post('/neutrino/v1/instances', { instance: { name: 'vm', host, networks } });
      assert.equal(r.status, 201, JSON.stringify(r.body));
      return r.body.instance;
    };
    const report = async (host: string, body: Record<string, unknown>) => {
      const r = await admin.post(`/neutrino/v1/hosts/${host}/status`, {
        revision: await t.store.latestRevision(),
        ...body,
      });
      assert.equal(r.status, 204, JSON.stringify(r.body));
    };

    it('returns an empty snapshot for a host with nothing on it', async () => {
      const before = await t.store.latestRevision();
      const s = await sync('empty-host');
      assert.deepEqual(s, {
        host: 'empty-host',
        revision: before,
        dnsDomain: 'openstacklocal',
        networks: [],
        subnets: [],
        ports: [],
        instances: [],
        routers: [],
        physicalInterfaceMappings: { physnet1: 'eth9' },
        security_groups: [],
        security_group_members: {},
        address_groups: {},
        l2population: {},
        dhcp_elsewhere: [],
        tap_flows: [],
        load_balancers: [],
      });
    });

    it('snapshots the security groups of the host’s ports, their remote groups and members anywhere', async () => {
      const net = await network();
      const sub = await subnet(net.id, '10.90.0.0/24');
      const group = async (name: string) =>
        (await admin.post('/v2.0/security-groups', { security_group: { name } })).body.security_group;
      const rule = async (body: Record<string, unknown>) => {
        const r = await admin.post('/v2.0/security-group-rules', {
          security_group_rule: { direction: 'ingress', ...body },
        });
        assert.equal(r.status, 201, JSON.stringify(r.body));
        return r.body.security_group_rule;
      };
      const web = await group('web');
      const db = await group('db');
      const r = await rule({
        security_group_id: db.id,
        protocol: 'tcp',
        port_range_min: 5432,
        port_range_max: 5432,
        remote_group_id: web.id,
      });
      await rule({ security_group_id: db.id, protocol: 'icmp', remote_ip_prefix: '192.0.2.9/24' });
      const port = async (host: string, groups: string[], extra: Record<string, unknown> = {}) => {
        const created = await admin.post('/v2.0/ports', {
          port: { network_id: net.id, 'binding:host_id': host, security_groups: groups, ...extra },
        });
        assert.equal(created.status, 201, JSON.stringify(created.body));
        return created.body.port;
      };
      const here = await port('sg-host', [db.id], {
        allowed_address_pairs: [{ ip_address: '10.90.0.200/28' }, { ip_address: '10.90.0.99' }],
      });
      const member = await port('sg-other', [web.id], {
        allowed_address_pairs: [{ ip_address: '10.90.0.77' }],
      });
      await port('sg-other', [db.id]);
      const s = await sync('sg-host');
      const mine = s.ports.find((p) => p.id === here.id);
      assert.deepEqual(
        {
          binding_host_id: mine?.binding_host_id,
          port_security_enabled: mine?.port_security_enabled,
          security_groups: mine?.security_groups,
          allowed_address_pairs: mine?.allowed_address_pairs,
        },
        {
          binding_host_id: 'sg-host',
          port_security_enabled: true,
          security_groups: [db.id],
          allowed_address_pairs: [
            { ip_address: '10.90.0.200/28', mac_address: here.mac_address },
            { ip_address: '10.90.0.99', mac_address: here.mac_address },
          ],
        },
        'a port bound here without an instance is in the snapshot with its security attributes',
      );
      assert.deepEqual(s.security_groups?.map((g) => g.id).sort(), [web.id, db.id].sort());
      const dbGroup = s.security_groups?.find((g) => g.id === db.id);
      assert.equal(dbGroup?.stateful, true);
      assert.deepEqual(
        dbGroup?.rules.find((x) => x.id === r.id),
        {
          id: r.id,
          direction: 'ingress',
          ethertype: 'IPv4',
          protocol: 'tcp',
          port_range_min: 5432,
          port_range_max: 5432,
          remote_ip_prefix: null,
          remote_group_id: web.id,
          remote_address_group_id: null,
        },
      );
      assert.equal(dbGroup?.rules.find((x) => x.protocol === 'icmp')?.remote_ip_prefix, '192.0.2.0/24');
      assert.deepEqual(s.security_group_members, {
        [web.id]: [member.fixed_ips[0].ip_address, '10.90.0.77'].sort(),
      });
      assert.ok(sub.id);
    });

    it('stores the drop counters a host reports and shows them to who may see the port', async () => {
      const net = await network();
      await subnet(net.id, '10.91.0.0/24');
      const { port } = (
        await admin.post('/v2.0/ports', { port: { network_id: net.id, 'binding:host_id': 'drop-host' } })
      ).body;
      const empty = await admin.get(`/neutrino/v1/ports/${port.id}/drops`);
      assert.equal(empty.status, 200);
      assert.deepEqual(empty.body.port_drops, { port_id: port.id, host: null, updated_at: null, drops: {} });
      const counters = { spoof: { packets: 3, bytes: 180 }, ingress: { packets: 1, bytes: 60 } };
      await report('drop-host', { ports: {}, drops: { [port.id]: counters } });
      const shown = await admin.get(`/neutrino/v1/ports/${port.id}/drops`);
      assert.equal(shown.body.port_drops.host, 'drop-host');
      assert.deepEqual(shown.body.port_drops.drops, counters);
      const stranger = await t.newProjectUser();
      assert.equal((await client(t, stranger.token).get(`/neutrino/v1/ports/${port.id}/drops`)).status, 404);
      await report('drop-host', { ports: {}, drops: {} });
      assert.deepEqual((await admin.get(`/neutrino/v1/ports/${port.id}/drops`)).body.port_drops.drops, {});
    });

    it('schedules DHCP here with one port holding an address on each DHCP-enabled subnet', async () => {
      const member = await t.newProjectUser();
      const c = client(t, member.token);
      const net = await network({}, c);
      const a = await subnet(net.id, '10.10.0.0/24', {}, c);
      const b = await subnet(net.id, '10.11.0.0/24', {}, c);
      await subnet(net.id, '10.12.0.0/24', { enable_dhcp: false }, c);

      const s = await sync('dhcp-host');
      const ports = await dhcpPorts(net.id);
      assert.equal(ports.length, 1);
      const [port] = ports;
      assert.equal(port.device_id, `dhcp-${net.id}`);
      assert.equal(port.project_id, member.projectId, "the network's project");
      assert.equal(port['binding:host_id'], 'dhcp-host');
      assert.equal(port['binding:vif_type'], 'bridge');
      assert.equal(port.admin_state_up, true);
      assert.equal(port.port_security_enabled, false);
      assert.deepEqual(port.security_groups, []);
      assert.deepEqual(subnetsOf(port), [a.id, b.id].sort());
      assert.equal((await binding(net.id))?.host, 'dhcp-host');

      const mine = s.networks.find((n) => n.id === net.id);
      assert.deepEqual(mine, {
        id: net.id,
        project_id: member.projectId,
        admin_state_up: true,
        mtu: 1500,
        network_type: 'local',
        physical_network: null,
        segmentation_id: null,
      });
      assert.equal(s.subnets.filter((x) => x.network_id === net.id).length, 3);
      const sub = s.subnets.find((x) => x.id === a.id);
      assert.deepEqual(sub, {
        id: a.id,
        network_id: net.id,
        ip_version: 4,
        cidr: '10.10.0.0/24',
        gateway_ip: '10.10.0.1',
        enable_dhcp: true,
        dns_nameservers: [],
        host_routes: [],
        ipv6_ra_mode: null,
        ipv6_address_mode: null,
      });
      assert.deepEqual(
        s.ports.find((p) => p.id === port.id),
        {
          id: port.id,
          network_id: net.id,
          mac_address: port.mac_address,
          fixed_ips: port.fixed_ips,
          device_owner: 'network:dhcp',
          device_id: `dhcp-${net.id}`,
          admin_state_up: true,
          dns_name: '',
          extra_dhcp_opts: [],
          binding_host_id: 'dhcp-host',
          port_security_enabled: false,
          security_groups: [],
          allowed_address_pairs: [],
        },
      );

      const revision = await t.store.latestRevision();
      const again = await sync('dhcp-host');
      assert.equal(await t.store.latestRevision(), revision, 'a sync that changes nothing writes nothing');
      assert.equal(again.revision, revision);
      assert.deepEqual(await dhcpPorts(net.id), ports);
      const other = await sync('other-host');
      assert.ok(!other.networks.some((n) => n.id === net.id), 'served by one host only');
      assert.equal(await t.store.latestRevision(), revision);
    });

    it('keeps the DHCP port’s addresses in step with subnets added, disabled and deleted', async () => {
      const net = await network();
      const a = await subnet(net.id, '10.20.0.0/24');
      await sync('step-host');
      const [port] = await dhcpPorts(net.id);
      assert.deepEqual(subnetsOf(port), [a.id]);

      const b = await subnet(net.id, '10.21.0.0/24');
      await sync('step-host');
      const [grown] = await dhcpPorts(net.id);
      assert.equal(grown.id, port.id, 'the same port');
      assert.deepEqual(subnetsOf(grown), [a.id, b.id].sort());
      assert.deepEqual(
        grown.fixed_ips.find((ip: FixedIp) => ip.subnet_id === a.id),
        port.fixed_ips[0],
        'its first address stays',
      );

      assert.equal(
        (await admin.put(`/v2.0/subnets/${b.id}`, { subnet: { enable_dhcp: false } })).status,
        200,
      );
      await sync('step-host');
      assert.deepEqual(subnetsOf((await dhcpPorts(net.id))[0]), [a.id]);
      const allocations = await t.store.db
        .selectFrom('ip_allocations')
        .selectAll()
        .where('port_id', '=', port.id)
        .execute();
      assert.deepEqual(
        allocations.map((x) => x.subnet_id),
        [a.id],
      );

      assert.equal((await admin.put(`/v2.0/subnets/${b.id}`, { subnet: { enable_dhcp: true } })).status, 200);
      await sync('step-host');
      assert.deepEqual(subnetsOf((await dhcpPorts(net.id))[0]), [a.id, b.id].sort());
      assert.equal((await admin.del(`/v2.0/subnets/${b.id}`)).status, 204, 'a DHCP port does not block');
      assert.deepEqual(subnetsOf((await dhcpPorts(net.id))[0]), [a.id]);
      const revision = await t.store.latestRevision();
      await sync('step-host');
      assert.equal(await t.store.latestRevision(), revision);

      assert.equal(
        (await admin.put(`/v2.0/subnets/${a.id}`, { subnet: { enable_dhcp: false } })).status,
        200,
      );
      const s = await sync('step-host');
      assert.deepEqual(await dhcpPorts(net.id), [], 'no DHCP subnet left: no DHCP port');
      assert.equal(await binding(net.id), undefined);
      assert.ok(!s.networks.some((n) => n.id === net.id));
    });

    it('skips networks without a DHCP-enabled subnet', async () => {
      const net = await network();
      await subnet(net.id, '10.30.0.0/24', { enable_dhcp: false });
      await sync('skip-host');
      assert.deepEqual(await dhcpPorts(net.id), []);
      assert.equal(await binding(net.id), undefined);
    });

    it('gives DHCP to a project whose port quota is used up', async () => {
      const member = await t.newProjectUser();
      const net = await network({}, client(t, member.token));
      await subnet(net.id, '10.40.0.0/24', {}, client(t, member.token));
      assert.equal((await admin.put(`/v2.0/quotas/${member.projectId}`, { quota: { port: 0 } })).status, 200);
      await sync('quota-host');
      assert.equal((await dhcpPorts(net.id)).length, 1);
    });

    it('removes the DHCP port and the scheduling with the network', async () => {
      const net = await network();
      await subnet(net.id, '10.50.0.0/24');
      await sync('delete-host');
      const [port] = await dhcpPorts(net.id);
      assert.equal((await admin.del(`/v2.0/networks/${net.id}`)).status, 204);
      assert.equal((await admin.get(`/v2.0/ports/${port.id}`)).status, 404);
      assert.equal(await binding(net.id), undefined);
      const left = await t.store.db
        .selectFrom('ip_allocations')
        .selectAll()
        .where('port_id', '=', port.id)
        .execute();
      assert.deepEqual(left, []);
    });

    it('creates one DHCP port per network under concurrent syncs', async () => {
      const nets = [];
      for (let i = 0; i < 3; i++) {
        const net = await network();
        await subnet(net.id, `10.6${i}.0.0/24`);
        nets.push(net);
      }
      const hosts = ['race-a', 'race-a', 'race-a', 'race-b', 'race-b', 'race-c'];
      await Promise.all(hosts.map((h) => sync(h)));
      for (const net of nets) {
        const ports = await dhcpPorts(net.id);
        assert.equal(ports.length, 1, JSON.stringify(ports));
        assert.equal(ports[0]['binding:host_id'], (await binding(net.id))?.host);
      }
      // Scheduled, but the port is gone: the host's concurrent syncs must recreate it once.
      for (const net of nets) {
        const host = (await binding(net.id))!.host;
        assert.equal((await admin.del(`/v2.0/ports/${(await dhcpPorts(net.id))[0].id}`)).status, 204);
        await Promise.all(Array.from({ length: 4 }, () => sync(host)));
        assert.equal((await dhcpPorts(net.id)).length, 1);
      }
    });

    it('snapshots a host’s instances with their ports in order, segments and DHCP clients', async () => {
      const vx = await network({ 'provider:network_type': 'vxlan', 'provider:segmentation_id': 4242 });
      const vxSub = await subnet(vx.id, '10.70.0.0/24');
      const flat = await network({
        'provider:network_type': 'flat',
        'provider:physical_network': 'physnet1',
      });
      await subnet(flat.id, '198.51.100.0/24');
      const vm = await instance('snap-host', [
        { network_id: flat.id },
        { network_id: vx.id, fixed_ip: '10.70.0.50' },
      ]);
      const elsewhere = await instance('snap-other', [{ network_id: vx.id }]);
      await admin.post('/neutrino/v1/hosts/snap-host/heartbeat', {
        agent: { agent_type: 'Linux bridge agent', binary: 'neutrino-agent', configurations: {} },
      });

      await sync('snap-other');
      const s = await sync('snap-host');
      assert.equal((await binding(vx.id))?.host, 'snap-other', 'DHCP goes to the first host that syncs');
      assert.deepEqual(s.instances, [
        { id: vm.id, name: 'vm', ports: vm.ports.map((p: { id: string }) => p.id) },
      ]);
      assert.equal(vm.ports[1].fixed_ips[0].ip_address, '10.70.0.50');
      const vxNet = s.networks.find((n) => n.id === vx.id);
      assert.equal(vxNet?.network_type, 'vxlan');
      assert.equal(vxNet?.segmentation_id, 4242);
      assert.equal(vxNet?.mtu, 1450);
      const flatNet = s.networks.find((n) => n.id === flat.id);
      assert.equal(flatNet?.network_type, 'flat');
      assert.equal(flatNet?.physical_network, 'physnet1');
      assert.ok(s.subnets.some((x) => x.id === vxSub.id));
      for (const p of vm.ports) {
        const port = s.ports.find((x) => x.id === p.id);
        assert.equal(port?.mac_address, p.mac_address);
        assert.deepEqual(port?.fixed_ips, p.fixed_ips);
        assert.equal(port?.device_owner, 'compute:nova');
        assert.equal(port?.device_id, vm.id);
      }
      assert.ok(!s.ports.some((p) => p.id === elsewhere.ports[0].id), 'vx DHCP is served by snap-other');

      const other = await sync('snap-other');
      assert.deepEqual(
        other.instances.map((i) => i.id),
        [elsewhere.id],
      );
      assert.ok(
        other.ports.some((x) => x.id === vm.ports[1].id),
        'the DHCP server’s host gets every port of its networks, for its hosts file',
      );
      assert.deepEqual(other.physicalInterfaceMappings, { physnet1: 'eth9' });

      await admin.post('/neutrino/v1/hosts/snap-host/heartbeat', {
        agent: {
          agent_type: 'Linux bridge agent',
          binary: 'neutrino-agent',
          configurations: { interface_mappings: { physnet1: 'ens3' } },
        },
      });
      assert.deepEqual((await sync('snap-host')).physicalInterfaceMappings, { physnet1: 'ens3' });
    });

    it('applies status reports to ports and instances', async () => {
      const net = await network();
      await subnet(net.id, '10.80.0.0/24');
      const vm = await instance('status-host', [{ network_id: net.id }, { network_id: net.id }]);
      const [p0, p1] = vm.ports.map((p: { id: string }) => p.id);
      const s = await sync('status-host');
      const [dhcp] = await dhcpPorts(net.id);
      assert.ok(s.ports.some((p) => p.id === dhcp.id));
      const port = async (id: string) => (await admin.get(`/v2.0/ports/${id}`)).body.port;
      const show = async () => (await admin.get(`/neutrino/v1/instances/${vm.id}`)).body.instance;
      assert.equal((await port(p0)).status, 'DOWN');
      assert.equal((await show()).status, 'BUILD');

      await report('status-host', { ports: { [p0]: 'ACTIVE', [p1]: 'DOWN', [dhcp.id]: 'ACTIVE' } });
      assert.equal((await port(p0)).status, 'ACTIVE');
      assert.equal((await port(dhcp.id)).status, 'ACTIVE');
      assert.equal((await show()).status, 'BUILD', 'one port still DOWN');

      const before = (await port(p1)).revision_number;
      await report('status-host', { ports: { [p0]: 'ACTIVE', [p1]: 'ACTIVE' } });
      assert.equal((await port(p1)).revision_number, before + 1, 'a normal update');
      const active = await show();
      assert.equal(active.status, 'ACTIVE');
      assert.equal(active.fault, null);
      const revisions = await t.store.revisionsSince(0, 100000);
      const statusUpdate = revisions.find(
        (r) => r.resource === 'instances' && r.resource_id === vm.id && r.op === 'update',
      );
      assert.equal(statusUpdate?.status_only, true, 'marked as a status report: agents need not look');
      const created = revisions.find((r) => r.resource === 'instances' && r.resource_id === vm.id);
      assert.equal(created?.status_only, false, 'the create is a real change');

      const quiet = await t.store.latestRevision();
      await report('status-host', { ports: { [p0]: 'ACTIVE', [p1]: 'ACTIVE' } });
      assert.equal(await t.store.latestRevision(), quiet, 'nothing changed, nothing written');

      await report('status-host', { ports: { [p0]: 'DOWN', [p1]: 'ACTIVE' } });
      assert.equal((await port(p0)).status, 'DOWN');
      assert.equal((await show()).status, 'ACTIVE', 'an ACTIVE instance stays ACTIVE, as in Nova');

      await report('status-host', { ports: { [p0]: 'DOWN' }, problems: [`port ${p0}: no bridge for it`] });
      const failed = await show();
      assert.equal(failed.status, 'ERROR');
      assert.deepEqual(failed.fault, { message: `port ${p0}: no bridge for it` });
      await report('status-host', { ports: { [p0]: 'ACTIVE', [p1]: 'ACTIVE' } });
      assert.equal((await show()).status, 'ACTIVE', 'recovers once the problem is gone');
      assert.equal((await show()).fault, null);

      await report('other-status-host', { ports: { [p0]: 'DOWN' } });
      assert.equal((await port(p0)).status, 'ACTIVE', 'ports bound elsewhere are ignored');
    });

    it('ignores what a report says about ports changed after its revision', async () => {
      const net = await network();
      await subnet(net.id, '10.90.0.0/24');
      const vm = await instance('stale-host', [{ network_id: net.id }]);
      const old = await t.store.latestRevision();
      const [p] = vm.ports;
      assert.equal((await admin.put(`/v2.0/ports/${p.id}`, { port: { name: 'renamed' } })).status, 200);
      const r = await admin.post('/neutrino/v1/hosts/stale-host/status', {
        revision: old,
        ports: { [p.id]: 'ACTIVE' },
      });
      assert.equal(r.status, 204);
      assert.equal((await admin.get(`/v2.0/ports/${p.id}`)).body.port.status, 'DOWN');
    });

    it('validates status reports', async () => {
      const post = (body: unknown) => admin.post('/neutrino/v1/hosts/h/status', body);
      assert.equal((await post({ revision: 1, ports: { x: 'UP' } })).status, 400);
      assert.equal((await post({ revision: -1, ports: {} })).status, 400);
      assert.equal((await post({ ports: {} })).status, 400);
      assert.equal((await post({ revision: 1, ports: {}, extra: 1 })).status, 400);
      assert.equal((await post({ revision: 1, ports: { 'no-such-port': 'ACTIVE' } })).status, 204);
    });
  });
}
