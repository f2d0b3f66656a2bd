import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { client, dialects, startTestServer, type TestServer } from '../helpers/server.js';

type Client = ReturnType<typeof client>;
type FixedIp = { subnet_id: string; ip_address: string };

for (const dialect of dialects()) {
  describe(`ports (${dialect})`, () => {
    let t: TestServer;
    let admin: Client;
    before(async () => {
      t = await startTestServer(dialect);
      admin = client(t, t.adminToken);
    });
    after(() => t.close());

    const errorType = (r: { body: { NeutronError?: { type: string } } }) => r.body.NeutronError?.type;
    const network = async (c: Client = admin, body: Record<string, unknown> = {}) =>
      (await c.post('/v2.0/networks', { network: { name: 'n', ...body } })).body.network;
    const subnet = async (networkId: string, body: Record<string, unknown> = {}, c: Client = admin) =>
      (
        await c.post('/v2.0/subnets', {
          subnet: { network_id: networkId, ip_version: 4, cidr: '10.0.0.0/24', ...body },
        })
      ).body.subnet;
    const port = (networkId: string, body: Record<string, unknown> = {}, c: Client = admin) =>
      c.post('/v2.0/ports', { port: { network_id: networkId, ...body } });
    /** A network with one IPv4 subnet. */
    const net4 = async (c: Client = admin, cidr = '10.0.0.0/24', body: Record<string, unknown> = {}) => {
      const net = await network(c, body);
      return { net, sub: await subnet(net.id, { cidr }, c) };
    };
    const allocations = (portId: string) =>
      t.store.db.selectFrom('ip_allocations').selectAll().where('port_id', '=', portId).execute();

    it('creates with Neutron defaults: MAC, one IPv4 address, default group, unbound', async () => {
      const { net, sub } = await net4();
      const r = await port(net.id, { name: 'p1' });
      assert.equal(r.status, 201);
      const p = r.body.port;
      assert.match(p.mac_address, /^fa:16:3e(:[0-9a-f]{2}){3}$/);
      assert.equal(p.fixed_ips.length, 1);
      assert.equal(p.fixed_ips[0].subnet_id, sub.id);
      assert.match(p.fixed_ips[0].ip_address, /^10\.0\.0\.([2-9]|1\d)$/, 'one of the first free addresses');
      assert.equal(p.status, 'DOWN');
      assert.equal(p.admin_state_up, true);
      assert.equal(p.device_id, '');
      assert.equal(p.device_owner, '');
      assert.equal(p.port_security_enabled, true);
      assert.equal(p.security_groups.length, 1);
      const sg = await admin.get(`/v2.0/security-groups/${p.security_groups[0]}`);
      assert.equal(sg.body.security_group.name, 'default');
      assert.equal(p['binding:vnic_type'], 'normal');
      assert.equal(p['binding:vif_type'], 'unbound');
      assert.equal(p['binding:host_id'], '');
      assert.deepEqual(p['binding:vif_details'], {});
      assert.deepEqual(p['binding:profile'], {});
      assert.deepEqual(p.allowed_address_pairs, []);
      assert.deepEqual(p.extra_dhcp_opts, []);
      assert.equal(p.dns_name, '');
      const host = `host-${p.fixed_ips[0].ip_address.replaceAll('.', '-')}`;
      assert.deepEqual(p.dns_assignment, [
        { hostname: host, ip_address: p.fixed_ips[0].ip_address, fqdn: `${host}.openstacklocal.` },
      ]);
      assert.equal(p.ip_allocation, 'immediate');
      assert.equal(p.propagate_uplink_status, false);
      assert.equal(p.resource_request, null);
      assert.equal(p.project_id, t.adminProjectId);
      assert.equal(p.tenant_id, t.adminProjectId);
      assert.equal(p.revision_number, 0);
      const rows = await allocations(p.id);
      assert.deepEqual(
        rows.map((a) => [a.subnet_id, a.ip_address, a.network_id]),
        [[sub.id, p.fixed_ips[0].ip_address, net.id]],
      );
      const again = (await port(net.id)).body.port;
      assert.notEqual(again.fixed_ips[0].ip_address, p.fixed_ips[0].ip_address);
      assert.equal(again.security_groups[0], p.security_groups[0], 'one default group per project');
    });

    it('adds EUI-64 addresses on SLAAC subnets and one stateful IPv6 address', async () => {
      const { net, sub } = await net4();
      const slaac = await subnet(net.id, {
        ip_version: 6,
        cidr: '2001:db8:a::/64',
        ipv6_ra_mode: 'slaac',
        ipv6_address_mode: 'slaac',
      });
      const stateful = await subnet(net.id, {
        ip_version: 6,
        cidr: '2001:db8:b::/64',
        ipv6_address_mode: 'dhcpv6-stateful',
      });
      const p = (await port(net.id, { mac_address: 'FA:16:3E:12:34:56' })).body.port;
      assert.equal(p.mac_address, 'fa:16:3e:12:34:56');
      const bySubnet = new Map(p.fixed_ips.map((ip: FixedIp) => [ip.subnet_id, ip.ip_address]));
      assert.equal(bySubnet.size, 3);
      assert.match(String(bySubnet.get(sub.id)), /^10\.0\.0\./);
      assert.equal(bySubnet.get(slaac.id), '2001:db8:a:0:f816:3eff:fe12:3456');
      assert.match(String(bySubnet.get(stateful.id)), /^2001:db8:b::/);
      const explicitV4 = (await port(net.id, { fixed_ips: [{ subnet_id: sub.id }] })).body.port;
      assert.equal(explicitV4.fixed_ips.length, 2, 'the named subnet plus the SLAAC address');
      const wrong = await port(net.id, {
        fixed_ips: [{ subnet_id: slaac.id, ip_address: '2001:db8:a::99' }],
      });
      assert.equal(wrong.status, 400);
      assert.equal(errorType(wrong), 'AllocationOnAutoAddressSubnet');
    });

    it('allocates addresses asked for by subnet, address, or both', async () => {
      const { net, sub } = await net4();
      const other = await subnet(net.id, { cidr: '10.1.0.0/24' });
      const both = await port(net.id, { fixed_ips: [{ subnet_id: other.id, ip_address: '10.1.0.50' }] });
      assert.equal(both.status, 201);
      assert.deepEqual(both.body.port.fixed_ips, [{ subnet_id: other.id, ip_address: '10.1.0.50' }]);
      const byAddress = await port(net.id, { fixed_ips: [{ ip_address: '10.0.0.77' }] });
      assert.deepEqual(byAddress.body.port.fixed_ips, [{ subnet_id: sub.id, ip_address: '10.0.0.77' }]);
      const bySubnet = await port(net.id, { fixed_ips: [{ subnet_id: other.id }, { subnet_id: other.id }] });
      assert.equal(bySubnet.status, 201);
      const [a, b] = bySubnet.body.port.fixed_ips;
      assert.equal(a.subnet_id, other.id);
      assert.notEqual(a.ip_address, b.ip_address);
      const outsidePool = await port(net.id, {
        fixed_ips: [{ ip_address: '10.0.0.1' }],
        device_owner: 'network:router_interface',
      });
      assert.equal(outsidePool.status, 201, 'the gateway address may be asked for');

      const cases: [unknown[], number, string][] = [
        [[{ ip_address: '10.0.0.77' }], 409, 'IpAddressInUse'],
        [[{ subnet_id: sub.id, ip_address: '10.1.0.9' }], 400, 'InvalidIpForSubnet'],
        [[{ subnet_id: sub.id, ip_address: '10.0.0.255' }], 400, 'InvalidIpForSubnet'],
        [[{ subnet_id: sub.id, ip_address: '10.0.0.0' }], 400, 'InvalidIpForSubnet'],
        [[{ ip_address: '192.168.7.7' }], 400, 'InvalidIpForNetwork'],
        [[{ ip_address: '10.0.0.300' }], 400, 'HTTPBadRequest'],
        [[{ ip_address: '10.0.0.20' }, { ip_address: '10.0.0.20' }], 400, 'HTTPBadRequest'],
        [[{}], 400, 'InvalidInput'],
        [[{ subnet_id: sub.id, bogus: 1 }], 400, 'HTTPBadRequest'],
        [[{ subnet_id: '00000000-0000-0000-0000-000000000000' }], 404, 'SubnetNotFound'],
      ];
      for (const [fixed_ips, status, type] of cases) {
        const r = await port(net.id, { fixed_ips });
        assert.equal(r.status, status, JSON.stringify(fixed_ips));
        assert.equal(errorType(r), type, JSON.stringify(fixed_ips));
      }
      const foreign = (await net4(admin, '10.7.0.0/24')).sub;
      const elsewhere = await port(net.id, { fixed_ips: [{ subnet_id: foreign.id }] });
      assert.equal(elsewhere.status, 400);
      assert.equal(errorType(elsewhere), 'InvalidInput');
    });

    it('gives ports on networks without subnets no addresses, and none when fixed_ips is []', async () => {
      const bare = await network();
      const p = (await port(bare.id)).body.port;
      assert.deepEqual(p.fixed_ips, []);
      assert.equal(p.ip_allocation, 'immediate');
      const asked = await port(bare.id, { fixed_ips: [{ ip_address: '10.0.0.5' }] });
      assert.equal(asked.status, 400);
      const { net } = await net4();
      const none = (await port(net.id, { fixed_ips: [] })).body.port;
      assert.deepEqual(none.fixed_ips, []);
      assert.equal(none.ip_allocation, 'none');
    });

    it('answers IpAddressGenerationFailure when the pools are exhausted', async () => {
      const { net } = await net4(admin, '10.2.0.0/29');
      const got = new Set<string>();
      for (let i = 0; i < 5; i++) got.add((await port(net.id)).body.port.fixed_ips[0].ip_address);
      assert.deepEqual([...got].sort(), ['10.2.0.2', '10.2.0.3', '10.2.0.4', '10.2.0.5', '10.2.0.6']);
      const r = await port(net.id);
      assert.equal(r.status, 409);
      assert.equal(errorType(r), 'IpAddressGenerationFailure');
    });

    it('fills a subnet too large to read whole to its last address', async () => {
      const owner = await t.newProjectUser();
      const c = client(t, owner.token);
      await t.store.db
        .insertInto('quotas')
        .values({ project_id: owner.projectId, resource: 'port', hard_limit: -1 })
        .execute();
      const { net } = await net4(c, '10.3.0.0/23');
      const bulk = await c.post('/v2.0/ports', {
        ports: Array.from({ length: 300 }, () => ({ network_id: net.id })),
      });
      assert.equal(bulk.status, 201);
      const addresses = bulk.body.ports.map((p: { fixed_ips: FixedIp[] }) => p.fixed_ips[0].ip_address);
      for (let i = 300; i < 509; i++) {
        const r = await port(net.id, {}, c);
        assert.equal(r.status, 201, JSON.stringify(r.body));
        addresses.push(r.body.port.fixed_ips[0].ip_address);
      }
      assert.equal(new Set(addresses).size, 509);
      assert.ok(!addresses.includes('10.3.0.1') && !addresses.includes('10.3.1.255'));
      const full = await port(net.id, {}, c);
      assert.equal(full.status, 409);
      assert.equal(errorType(full), 'IpAddressGenerationFailure');
    });

    it('validates MACs and keeps them unique per network', async () => {
      const { net } = await net4();
      assert.equal((await port(net.id, { mac_address: 'fa:16:3e:aa:bb:cc' })).status, 201);
      const dup = await port(net.id, { mac_address: 'FA:16:3E:AA:BB:CC' });
      assert.equal(dup.status, 409);
      assert.equal(errorType(dup), 'MacAddressInUse');
      for (const mac of ['nope', 'ff:ff:ff:ff:ff:ff', '01:00:5e:00:00:01', '00:00:00:00:00:00']) {
        const r = await port(net.id, { mac_address: mac });
        assert.equal(r.status, 400, mac);
      }
      const { net: other } = await net4();
      assert.equal(
        (await port(other.id, { mac_address: 'fa:16:3e:aa:bb:cc' })).status,
        201,
        'unique per network only',
      );
    });

    it('applies port security, security groups and address pairs as Neutron does', async () => {
      const { net } = await net4();
      const off = await port(net.id, { port_security_enabled: false });
      assert.equal(off.status, 201);
      assert.deepEqual(off.body.port.security_groups, []);
      const offWithGroups = await port(net.id, {
        port_security_enabled: false,
        security_groups: [off.body.port.id],
      });
      assert.equal(offWithGroups.status, 400);
      assert.equal(errorType(offWithGroups), 'PortSecurityAndIPRequiredForSecurityGroups');
      const offWithPairs = await port(net.id, {
        port_security_enabled: false,
        allowed_address_pairs: [{ ip_address: '10.0.0.200' }],
      });
      assert.equal(offWithPairs.status, 409);
      assert.equal(errorType(offWithPairs), 'AddressPairAndPortSecurityRequired');
      const missing = await port(net.id, { security_groups: ['00000000-0000-0000-0000-00000000dead'] });
      assert.equal(missing.status, 404);
      assert.equal(errorType(missing), 'SecurityGroupNotFound');
      const none = await port(net.id, { security_groups: [] });
      assert.deepEqual(none.body.port.security_groups, []);
      const dhcp = await port(net.id, { device_owner: 'network:dhcp' });
      assert.deepEqual(dhcp.body.port.security_groups, [], 'network: ports get no default group');
      const insecureNet = await network(admin, { port_security_enabled: false });
      assert.equal((await port(insecureNet.id)).body.port.port_security_enabled, false);

      const pairs = await port(net.id, {
        allowed_address_pairs: [
          { ip_address: '10.0.0.200' },
          { ip_address: '192.168.0.0/24', mac_address: 'fa:16:3e:00:00:09' },
        ],
      });
      assert.equal(pairs.status, 201);
      assert.deepEqual(pairs.body.port.allowed_address_pairs, [
        { ip_address: '10.0.0.200', mac_address: pairs.body.port.mac_address },
        { ip_address: '192.168.0.0/24', mac_address: 'fa:16:3e:00:00:09' },
      ]);
      const badPairs: [unknown[], string][] = [
        [[{ ip_address: 'x' }], 'HTTPBadRequest'],
        [[{ ip_address: '10.0.0.1', mac_address: 'x' }], 'HTTPBadRequest'],
        [[{ ip_address: '10.0.0.1' }, { ip_address: '10.0.0.1' }], 'DuplicateAddressPairInRequest'],
        [
          Array.from({ length: 11 }, (_, i) => ({ ip_address: `10.0.0.${i + 1}` })),
          'AllowedAddressPairExhausted',
        ],
        [[{ mac_address: 'fa:16:3e:00:00:09' }], 'HTTPBadRequest'],
      ];
      for (const [allowed_address_pairs, type] of badPairs) {
        const r = await port(net.id, { allowed_address_pairs });
        assert.equal(r.status, 400, JSON.stringify(allowed_address_pairs));
        assert.equal(errorType(r), type);
      }

      const p = pairs.body.port;
      const url = `/v2.0/ports/${p.id}`;
      const hasGroups = await admin.put(url, {
        port: { port_security_enabled: false, allowed_address_pairs: [] },
      });
      assert.equal(hasGroups.status, 409);
      assert.equal(errorType(hasGroups), 'PortSecurityPortHasSecurityGroup');
      const keepsPairs = await admin.put(url, {
        port: { port_security_enabled: false, security_groups: [] },
      });
      assert.equal(keepsPairs.status, 409);
      assert.equal(errorType(keepsPairs), 'AddressPairAndPortSecurityRequired');
      const disabled = await admin.put(url, {
        port: { port_security_enabled: false, security_groups: [], allowed_address_pairs: [] },
      });
      assert.equal(disabled.status, 200);
      assert.equal(disabled.body.port.port_security_enabled, false);
      assert.deepEqual(disabled.body.port.security_groups, []);
      const regroup = await admin.put(url, { port: { security_groups: [p.security_groups[0]] } });
      assert.equal(regroup.status, 400);
      assert.equal(errorType(regroup), 'PortSecurityAndIPRequiredForSecurityGroups');
      const enabled = await admin.put(url, {
        port: { port_security_enabled: true, security_groups: [p.security_groups[0]] },
      });
      assert.equal(enabled.status, 200);
      assert.deepEqual(enabled.body.port.security_groups, [p.security_groups[0]]);
    });

    it('shows and accepts binding attributes for admins only (vnic_type for all)', async () => {
      const m = await t.newProjectUser();
      const member = client(t, m.token);
      const { net } = await net4(member);
      const p = await port(net.id, { 'binding:vnic_type': 'direct' }, member);
      assert.equal(p.status, 201);
      assert.equal(p.body.port['binding:vnic_type'], 'direct');
      for (const key of [
        'binding:host_id',
        'binding:vif_type',
        'binding:vif_details',
        'binding:profile',
        'resource_request',
      ]) {
        assert.equal(key in p.body.port, false, key);
      }
      for (const body of [{ 'binding:host_id': 'compute1' }, { 'binding:profile': {} }]) {
        const denied = await port(net.id, body, member);
        assert.equal(denied.status, 403, JSON.stringify(body));
        assert.equal(errorType(denied), 'PolicyNotAuthorized');
        const update = await member.put(`/v2.0/ports/${p.body.port.id}`, { port: body });
        assert.equal(update.status, 403);
      }
      const bound = await admin.put(`/v2.0/ports/${p.body.port.id}`, {
        port: { 'binding:host_id': 'compute1', 'binding:profile': { a: 1 } },
      });
      assert.equal(bound.status, 200);
      assert.equal(bound.body.port['binding:host_id'], 'compute1');
      assert.equal(bound.body.port['binding:vif_type'], 'bridge');
      assert.deepEqual(bound.body.port['binding:profile'], { a: 1 });
      // A host whose L2 agent is Open vSwitch's binds ports as `ovs`, with hybrid plug.
      const heartbeat = await admin.post('/neutrino/v1/hosts/ovs-host/heartbeat', {
        agent: { agent_type: 'Open vSwitch agent', binary: 'neutrino-agent' },
      });
      assert.ok(heartbeat.status < 300, JSON.stringify(heartbeat.body));
      const onOvs = await admin.put(`/v2.0/ports/${p.body.port.id}`, {
        port: { 'binding:host_id': 'ovs-host' },
      });
      assert.equal(onOvs.status, 200);
      assert.equal(onOvs.body.port['binding:vif_type'], 'ovs');
      assert.equal(onOvs.body.port['binding:vif_details'].ovs_hybrid_plug, true);
      assert.equal(onOvs.body.port['binding:vif_details'].bridge_name, 'br-int');
      await admin.put(`/v2.0/ports/${p.body.port.id}`, { port: { 'binding:host_id': 'compute1' } });
      assert.equal((await admin.get(`/v2.0/ports?binding:host_id=compute1`)).body.ports.length, 1);
      const seen = (await member.get(`/v2.0/ports/${p.body.port.id}`)).body.port;
      assert.equal(seen['binding:host_id'], undefined);
      const wrongVnic = await port(net.id, { 'binding:vnic_type': 'warp' }, member);
      assert.equal(wrongVnic.status, 400);
    });

    it('updates names, addresses (replacing them) and MACs (admins, unbound ports only)', async () => {
      const { net, sub } = await net4();
      const p = (await port(net.id, { fixed_ips: [{ ip_address: '10.0.0.10' }] })).body.port;
      const url = `/v2.0/ports/${p.id}`;
      const moved = await admin.put(url, {
        port: { name: 'moved', fixed_ips: [{ ip_address: '10.0.0.11' }, { subnet_id: sub.id }] },
      });
      assert.equal(moved.status, 200);
      assert.equal(moved.body.port.name, 'moved');
      assert.equal(moved.body.port.revision_number, 1);
      const ips = moved.body.port.fixed_ips.map((ip: FixedIp) => ip.ip_address);
      assert.deepEqual(ips.sort(), ['10.0.0.10', '10.0.0.11'], 'a subnet-only item keeps the address there');
      assert.deepEqual((await allocations(p.id)).map((a) => a.ip_address).sort(), ips);
      const replaced = await admin.put(url, { port: { fixed_ips: [{ ip_address: '10.0.0.11' }] } });
      assert.deepEqual(replaced.body.port.fixed_ips, [{ subnet_id: sub.id, ip_address: '10.0.0.11' }]);
      assert.deepEqual(
        (await allocations(p.id)).map((a) => a.ip_address),
        ['10.0.0.11'],
      );
      assert.equal(
        (await port(net.id, { fixed_ips: [{ ip_address: '10.0.0.10' }] })).status,
        201,
        'the old address is free again',
      );
      const taken = await admin.put(url, { port: { fixed_ips: [{ ip_address: '10.0.0.10' }] } });
      assert.equal(taken.status, 409);
      assert.equal(errorType(taken), 'IpAddressInUse');
      assert.deepEqual((await admin.get(url)).body.port.fixed_ips, [
        { subnet_id: sub.id, ip_address: '10.0.0.11' },
      ]);

      const mac = await admin.put(url, {
        port: { mac_address: 'fa:16:3e:01:02:03', device_id: 'vm-1', device_owner: 'compute:nova' },
      });
      assert.equal(mac.status, 200);
      assert.equal(mac.body.port.mac_address, 'fa:16:3e:01:02:03');
      assert.equal((await admin.get('/v2.0/ports?device_id=vm-1')).body.ports.length, 1);
      await admin.put(url, { port: { 'binding:host_id': 'compute1' } });
      const bound = await admin.put(url, { port: { mac_address: 'fa:16:3e:01:02:04' } });
      assert.equal(bound.status, 409);
      assert.equal(errorType(bound), 'PortBound');
      const stale = await admin.put(url, { port: { name: 'x' } }, { 'if-match': 'revision_number=0' });
      assert.equal(stale.status, 412);
    });

    it('recomputes EUI-64 addresses when the MAC changes', async () => {
      const net = await network();
      const slaac = await subnet(net.id, {
        ip_version: 6,
        cidr: '2001:db8:c::/64',
        ipv6_address_mode: 'slaac',
      });
      const p = (await port(net.id, { mac_address: 'fa:16:3e:00:00:01' })).body.port;
      assert.deepEqual(p.fixed_ips, [{ subnet_id: slaac.id, ip_address: '2001:db8:c:0:f816:3eff:fe00:1' }]);
      const r = await admin.put(`/v2.0/ports/${p.id}`, { port: { mac_address: 'fa:16:3e:00:00:02' } });
      assert.equal(r.status, 200);
      assert.deepEqual(r.body.port.fixed_ips, [
        { subnet_id: slaac.id, ip_address: '2001:db8:c:0:f816:3eff:fe00:2' },
      ]);
      assert.deepEqual(
        (await allocations(p.id)).map((a) => a.ip_address),
        ['2001:db8:c:0:f816:3eff:fe00:2'],
      );
    });

    it('deletes ports and frees their addresses', async () => {
      const { net } = await net4();
      const p = (await port(net.id, { fixed_ips: [{ ip_address: '10.0.0.99' }] })).body.port;
      assert.equal((await admin.del(`/v2.0/ports/${p.id}`, { 'if-match': 'revision_number=3' })).status, 412);
      assert.equal((await admin.del(`/v2.0/ports/${p.id}`)).status, 204);
      assert.equal((await admin.get(`/v2.0/ports/${p.id}`)).status, 404);
      assert.equal((await admin.del(`/v2.0/ports/${p.id}`)).status, 404);
      assert.equal((await allocations(p.id)).length, 0);
      assert.equal((await port(net.id, { fixed_ips: [{ ip_address: '10.0.0.99' }] })).status, 201);
    });

    it('bulk-creates all or nothing: a taken address in the last port leaves nothing behind', async () => {
      const { net } = await net4();
      await port(net.id, { fixed_ips: [{ ip_address: '10.0.0.50' }] });
      const before = await t.store.db
        .selectFrom('ip_allocations')
        .selectAll()
        .where('network_id', '=', net.id)
        .execute();
      const bad = await admin.post('/v2.0/ports', {
        ports: [
          { network_id: net.id, name: 'b1' },
          { network_id: net.id, name: 'b2', fixed_ips: [{ ip_address: '10.0.0.60' }] },
          { network_id: net.id, name: 'b3', fixed_ips: [{ ip_address: '10.0.0.50' }] },
        ],
      });
      assert.equal(bad.status, 409);
      assert.equal(errorType(bad), 'IpAddressInUse');
      assert.equal((await admin.get(`/v2.0/ports?network_id=${net.id}`)).body.ports.length, 1);
      const afterRows = await t.store.db
        .selectFrom('ip_allocations')
        .selectAll()
        .where('network_id', '=', net.id)
        .execute();
      assert.equal(afterRows.length, before.length);
      const ok = await admin.post('/v2.0/ports', {
        ports: Array.from({ length: 20 }, (_, i) => ({ network_id: net.id, name: `ok${i}` })),
      });
      assert.equal(ok.status, 201);
      const ips = ok.body.ports.map((p: { fixed_ips: FixedIp[] }) => p.fixed_ips[0].ip_address);
      assert.equal(new Set(ips).size, 20);
    });

    it('filters by fixed_ips, device, network and MAC', async () => {
      const { net, sub } = await net4();
      const p = (await port(net.id, { fixed_ips: [{ ip_address: '10.0.0.42' }], device_id: 'dev-42' })).body
        .port;
      await port(net.id);
      const list = async (q: string) =>
        (await admin.get(`/v2.0/ports?${q}`)).body.ports.map((x: { id: string }) => x.id);
      assert.deepEqual(await list('fixed_ips=ip_address%3D10.0.0.42'), [p.id]);
      assert.deepEqual(await list(`fixed_ips=ip_address%3D10.0.0.42&network_id=${net.id}`), [p.id]);
      assert.deepEqual(await list('fixed_ips=ip_address%3D10.0.0.43'), []);
      assert.equal((await list(`fixed_ips=subnet_id%3D${sub.id}`)).length, 2);
      assert.deepEqual(await list('device_id=dev-42'), [p.id]);
      assert.equal((await list(`network_id=${net.id}`)).length, 2);
      assert.deepEqual(await list(`mac_address=${p.mac_address}&network_id=${net.id}`), [p.id]);
      assert.equal((await list(`network_id=${net.id}&device_owner=`)).length, 2);
      assert.equal((await list(`network_id=${net.id}&device_owner=compute:nova`)).length, 0);
      assert.equal((await admin.get('/v2.0/ports?nonsense=1')).status, 400);
      const fields = await admin.get(`/v2.0/ports?device_id=dev-42&fields=id&fields=fixed_ips`);
      assert.deepEqual(Object.keys(fields.body.ports[0]).sort(), ['fixed_ips', 'id']);
    });

    it('filters fixed_ips as Neutron: ip_address_substr, subnet_id, several keys together (AND), a router’s device_id', async () => {
      const net = await network(admin);
      const a = await subnet(net.id, { cidr: '10.77.0.0/24' });
      const b = await subnet(net.id, { cidr: '10.78.0.0/24' });
      const both = (
        await port(net.id, {
          fixed_ips: [
            { subnet_id: a.id, ip_address: '10.77.0.51' },
            { subnet_id: b.id, ip_address: '10.78.0.9' },
          ],
        })
      ).body.port;
      const onA = (await port(net.id, { fixed_ips: [{ subnet_id: a.id, ip_address: '10.77.0.9' }] })).body
        .port;
      const list = async (q: string) => {
        const r = await admin.get(`/v2.0/ports?network_id=${net.id}&${q}`);
        assert.equal(r.status, 200, JSON.stringify(r.body));
        return r.body.ports.map((x: { id: string }) => x.id).sort();
      };
      const sorted = (...ids: string[]) => ids.sort();
      assert.deepEqual(await list('fixed_ips=ip_address_substr%3D10.77.0.5'), [both.id]);
      assert.deepEqual(await list('fixed_ips=ip_address_substr%3D.0.9'), sorted(both.id, onA.id));
      assert.deepEqual(await list('fixed_ips=ip_address_substr%3D192.168.'), []);
      assert.deepEqual(await list(`fixed_ips=subnet_id%3D${b.id}`), [both.id]);
      assert.deepEqual(await list(`fixed_ips=subnet_id%3D${a.id}`), sorted(both.id, onA.id));
      // Different keys: every one met (each by some address); the same key twice: either.
      assert.deepEqual(await list(`fixed_ips=subnet_id%3D${b.id}&fixed_ips=ip_address%3D10.77.0.9`), []);
      assert.deepEqual(await list(`fixed_ips=subnet_id%3D${a.id}&fixed_ips=ip_address%3D10.77.0.9`), [
        onA.id,
      ]);
      assert.deepEqual(
        await list('fixed_ips=ip_address_substr%3D10.77&fixed_ips=ip_address%3D10.78.0.9'),
        [both.id],
        'Neutron’s dual-address case',
      );
      assert.deepEqual(
        await list('fixed_ips=ip_address%3D10.77.0.9&fixed_ips=ip_address%3D10.77.0.51'),
        sorted(both.id, onA.id),
      );
      assert.deepEqual(await list(`mac_address=${onA.mac_address.toUpperCase()}`), [onA.id], 'MACs any case');

      const form = await admin.get('/v2.0/ports?fixed_ips=10.77.0.9');
      assert.equal(form.status, 400);
      assert.deepEqual(form.body.NeutronError, {
        type: 'InvalidInput',
        message: "Invalid input for operation: '10.77.0.9' is not of the form <key>=[value].",
        detail: '',
      });
      assert.equal(
        (await admin.get('/v2.0/ports?fixed_ips=mac%3Dx')).status,
        400,
        'never silently everything',
      );

      // openstack port list --router R: the router's interfaces, its gateway to admins only.
      const r = (await admin.post('/v2.0/routers', { router: { name: 'r' } })).body.router;
      const intf = (await port(net.id, { fixed_ips: [{ subnet_id: a.id }] })).body.port;
      const added = await admin.put(`/v2.0/routers/${r.id}/add_router_interface`, { port_id: intf.id });
      assert.equal(added.status, 200, JSON.stringify(added.body));
      const byRouter = (await admin.get(`/v2.0/ports?device_id=${r.id}`)).body.ports;
      assert.deepEqual(
        byRouter.map((x: { id: string; device_id: string }) => [x.id, x.device_id]),
        [[intf.id, r.id]],
      );
    });

    it('answers 400 in Neutron’s words for names that are no filter, and for values that do not convert', async () => {
      const bad = async (url: string, message: string, type = 'HTTPBadRequest') => {
        const r = await admin.get(url);
        assert.equal(r.status, 400, `${url}: ${JSON.stringify(r.body)}`);
        assert.deepEqual(r.body.NeutronError, { type, message, detail: '' }, url);
      };
      await bad('/v2.0/ports?nonsense=1', "['nonsense'] is invalid attribute for filtering");
      await bad(
        '/v2.0/ports?port_security_enabled=true&allowed_address_pairs=x',
        "['port_security_enabled', 'allowed_address_pairs'] is invalid attribute for filtering",
      );
      await bad('/v2.0/networks?name_substr=a', "['name_substr'] is invalid attribute for filtering");
      await bad(
        '/v2.0/routers?external_gateway_info=x',
        "['external_gateway_info'] is invalid attribute for filtering",
      );
      await bad('/v2.0/security-group-rules?tags=x', "['tags'] is invalid attribute for filtering");
      await bad(
        '/v2.0/networks?admin_state_up=maybe',
        "Invalid input for operation: 'maybe' cannot be converted to boolean.",
        'InvalidInput',
      );
      await bad(
        '/v2.0/networks?mtu=big',
        "Invalid input for operation: 'big' is not an integer.",
        'InvalidInput',
      );
      await bad(
        '/v2.0/ports?changed_since=yesterday',
        'Invalid input for operation: The input changed_since must be in the following format: YYYY-MM-DDTHH:MM:SSZ.',
        'InvalidInput',
      );
      await bad('/v2.0/agents?bogus=1', "['bogus'] is invalid attribute for filtering");
      // Documented filters work.
      const net = await network(admin, { name: 'filtered' });
      const sub = await subnet(net.id, { cidr: '10.79.0.0/24' });
      const ids = async (url: string) => {
        const r = await admin.get(url);
        assert.equal(r.status, 200, `${url}: ${JSON.stringify(r.body)}`);
        return Object.values(r.body)[0] as { id: string }[];
      };
      assert.ok((await ids('/v2.0/networks?admin_state_up=True&name=filtered')).some((n) => n.id === net.id));
      assert.deepEqual(await ids('/v2.0/networks?admin_state_up=0&name=filtered'), []);
      assert.deepEqual(
        (await ids('/v2.0/subnets?cidr=10.79.0.77/24')).map((s) => s.id),
        [sub.id],
        'CIDRs normalised',
      );
      assert.ok((await ids(`/v2.0/networks?mtu=${net.mtu}&name=filtered`)).some((n) => n.id === net.id));
      assert.ok((await ids('/v2.0/networks?changed_since=2000-01-01T00:00:00&name=filtered')).length > 0);
      assert.deepEqual(await ids('/v2.0/networks?changed_since=2999-01-01T00:00:00Z&name=filtered'), []);
    });

    it('hides other projects’ ports; network owners see ports on their networks', async () => {
      const a = await t.newProjectUser();
      const b = await t.newProjectUser();
      const ca = client(t, a.token);
      const cb = client(t, b.token);
      const { net: privateNet } = await net4(ca, '10.20.0.0/24');
      const hidden = await port(privateNet.id, {}, cb);
      assert.equal(hidden.status, 404);
      assert.equal(errorType(hidden), 'NetworkNotFound');
      const own = (await port(privateNet.id, {}, ca)).body.port;
      for (const r of [
        await cb.get(`/v2.0/ports/${own.id}`),
        await cb.put(`/v2.0/ports/${own.id}`, { port: { name: 'x' } }),
        await cb.del(`/v2.0/ports/${own.id}`),
      ]) {
        assert.equal(r.status, 404);
        assert.equal(errorType(r), 'PortNotFound');
      }
      assert.ok((await cb.get('/v2.0/ports')).body.ports.every((p: { id: string }) => p.id !== own.id));

      const { net: shared } = await net4(ca, '10.21.0.0/24', { shared: false });
      await admin.put(`/v2.0/networks/${shared.id}`, { network: { shared: true } });
      const guest = await port(shared.id, { name: 'guest' }, cb);
      assert.equal(guest.status, 201);
      assert.equal(guest.body.port.project_id, b.projectId);
      for (const body of [
        { fixed_ips: [{ ip_address: '10.21.0.9' }] },
        { mac_address: 'fa:16:3e:99:99:99' },
        { port_security_enabled: false },
        { device_owner: 'network:dhcp' },
        { allowed_address_pairs: [] },
      ]) {
        const r = await port(shared.id, body, cb);
        assert.equal(r.status, 403, JSON.stringify(body));
        assert.equal(errorType(r), 'PolicyNotAuthorized');
      }
      const ownerView = await ca.get(`/v2.0/ports/${guest.body.port.id}`);
      assert.equal(ownerView.status, 200, 'the network owner sees the guest port');
      const ownerList = (await ca.get('/v2.0/ports')).body.ports.map((p: { id: string }) => p.id);
      assert.ok(ownerList.includes(guest.body.port.id) && ownerList.includes(own.id));
      assert.equal((await ca.put(`/v2.0/ports/${guest.body.port.id}`, { port: { name: 'x' } })).status, 403);
      const guestList = (await cb.get('/v2.0/ports')).body.ports.map((p: { id: string }) => p.id);
      assert.deepEqual(guestList, [guest.body.port.id]);
      assert.equal(
        (await ca.del(`/v2.0/ports/${guest.body.port.id}`)).status,
        204,
        'network owners may delete',
      );

      const external = await network(admin, { 'router:external': true });
      await subnet(external.id, { cidr: '203.0.113.0/24' });
      const onExternal = await port(external.id, {}, cb);
      assert.equal(onExternal.status, 403);
      const groupOfA = (await port(privateNet.id, {}, ca)).body.port.security_groups[0];
      const foreignGroup = await port(shared.id, { security_groups: [groupOfA] }, cb);
      assert.equal(foreignGroup.status, 404);
      assert.equal(errorType(foreignGroup), 'SecurityGroupNotFound');
    });

    it('rejects unknown attributes and hostile values, stores hostile names verbatim', async () => {
      const { net } = await net4();
      const name = `'; DROP TABLE ports; -- <script>\n`;
      const ok = await port(net.id, { name, device_id: name, dns_name: 'My-Host' });
      assert.equal(ok.status, 201);
      assert.equal(ok.body.port.name, name);
      assert.equal(ok.body.port.device_id, name);
      assert.equal(ok.body.port.dns_name, 'my-host');
      assert.equal(ok.body.port.dns_assignment[0].hostname, 'my-host');
      const cases: Record<string, unknown>[] = [
        { bogus: true },
        { status: 'ACTIVE' },
        { dns_name: 'bad name' },
        { dns_name: '-x' },
        { extra_dhcp_opts: [{ opt_name: 'mtu', opt_value: '1400\ndhcp-range=evil' }] },
        { extra_dhcp_opts: [{ opt_name: 'mtu', opt_value: '' }] },
        { 'binding:host_id': 'host\nevil' },
        { admin_state_up: 'yes' },
        { device_owner: 'x'.repeat(256) },
      ];
      for (const body of cases) {
        const r = await port(net.id, body);
        assert.equal(r.status, 400, JSON.stringify(body));
        assert.ok(r.body.NeutronError);
      }
      const noNetwork = await admin.post('/v2.0/ports', { port: { name: 'x' } });
      assert.equal(noNetwork.status, 400);
    });

    it('merges extra DHCP options on update', async () => {
      const { net } = await net4();
      const p = (
        await port(net.id, {
          extra_dhcp_opts: [
            { opt_name: 'mtu', opt_value: '1400' },
            { opt_name: 'domain-search', opt_value: 'example.org', ip_version: 6 },
            { opt_name: 'skipped', opt_value: null },
          ],
        })
      ).body.port;
      assert.deepEqual(p.extra_dhcp_opts, [
        { opt_name: 'mtu', opt_value: '1400', ip_version: 4 },
        { opt_name: 'domain-search', opt_value: 'example.org', ip_version: 6 },
      ]);
      const r = await admin.put(`/v2.0/ports/${p.id}`, {
        port: {
          extra_dhcp_opts: [
            { opt_name: 'mtu', opt_value: '1300' },
            { opt_name: 'domain-search', opt_value: null, ip_version: 6 },
          ],
        },
      });
      assert.deepEqual(r.body.port.extra_dhcp_opts, [{ opt_name: 'mtu', opt_value: '1300', ip_version: 4 }]);
    });

    it('enforces the port quota', async () => {
      const p = await t.newProjectUser();
      const c = client(t, p.token);
      await t.store.db
        .insertInto('quotas')
        .values({ project_id: p.projectId, resource: 'port', hard_limit: 2 })
        .execute();
      const { net } = await net4(c);
      assert.equal((await port(net.id, {}, c)).status, 201);
      const bulk = await c.post('/v2.0/ports', { ports: [{ network_id: net.id }, { network_id: net.id }] });
      assert.equal(bulk.status, 409);
      assert.equal(errorType(bulk), 'OverQuota');
      assert.equal((await port(net.id, {}, c)).status, 201);
    });

    it('answers plain lists from stored JSON exactly as the object path does', async () => {
      const m = await t.newProjectUser();
      const member = client(t, m.token);
      const { net } = await net4(member, '10.30.0.0/24');
      const renamed = (await port(net.id, {}, member)).body.port;
      await member.put(`/v2.0/ports/${renamed.id}`, { port: { name: 'renamed', dns_name: 'web-1' } });
      const tagged = (
        await port(net.id, { name: 'ünï "q" \\ </script>\n', dns_name: 'db.example.org.' }, member)
      ).body.port;
      assert.equal((await member.put(`/v2.0/ports/${tagged.id}/tags/red`)).status, 201);
      const derived = async (id: string) =>
        (
          await t.store.db
            .selectFrom('ports')
            .select('derived_doc')
            .where('id', '=', id)
            .executeTakeFirstOrThrow()
        ).derived_doc;
      assert.notEqual(await derived(tagged.id), null, 'a tag leaves the stored DNS assignment valid');
      await port(
        net.id,
        { fixed_ips: [], extra_dhcp_opts: [{ opt_name: 'mtu', opt_value: '1400' }] },
        member,
      );
      // Admin's port on the member's network, in a project whose id needs escaping in JSON.
      const bound = await port(net.id, {
        project_id: 'odd "project"\t\\',
        'binding:host_id': 'compute1',
        'binding:profile': { slot: [1, 'a'] },
        device_owner: 'compute:nova',
      });
      assert.equal(bound.status, 201);
      // A SLAAC subnet gives the ports addresses through another module: their stored DNS
      // assignments go stale and must be computed again.
      await subnet(
        net.id,
        { ip_version: 6, cidr: '2001:db8:30::/64', ipv6_ra_mode: 'slaac', ipv6_address_mode: 'slaac' },
        member,
      );
      assert.equal(await derived(renamed.id), null);
      const fresh = (await port(net.id, {}, member)).body.port;
      assert.notEqual(await derived(fresh.id), null);

      const service = t.server.services.ports;
      const listRaw = service.listRaw.bind(service);
      let spliced = 0;
      service.listRaw = async (...args) => {
        const raw = await listRaw(...args);
        if (raw) spliced++;
        return raw;
      };
      type Port = { id: string } & Record<string, unknown>;
      const byId = (ports: Port[]) => [...ports].sort((a, b) => (a.id < b.id ? -1 : 1));
      try {
        for (const [viewer, c] of [
          ['admin', admin],
          ['member', member],
        ] as const) {
          for (const q of [
            '',
            `network_id=${net.id}`,
            `network_id=${net.id}&device_owner=`,
            `tenant_id=${m.projectId}`,
          ]) {
            const before = spliced;
            const fast = await c.get(`/v2.0/ports?${q}`);
            assert.equal(fast.status, 200);
            assert.equal(spliced, before + 1, `${viewer} ?${q} is spliced`);
            assert.equal(fast.headers['content-type'], 'application/json; charset=utf-8');
            const objects = await c.get(`/v2.0/ports?${q}&sort_key=id`);
            assert.equal(spliced, before + 1, `${viewer} ?${q}&sort_key=id takes the object path`);
            assert.ok(fast.body.ports.length > 0);
            assert.deepEqual(byId(fast.body.ports), objects.body.ports, `${viewer} ?${q}`);
          }
          const all: Port[] = (await c.get(`/v2.0/ports?network_id=${net.id}`)).body.ports;
          assert.equal(all.length, 5);
          for (const p of all) assert.deepEqual(p, (await c.get(`/v2.0/ports/${p.id}`)).body.port);
          const stale = all.find((p) => p.id === renamed.id)!;
          assert.deepEqual(
            (stale.dns_assignment as { ip_address: string }[]).map((a) => a.ip_address),
            (stale.fixed_ips as FixedIp[]).map((ip) => ip.ip_address),
          );
          assert.equal((stale.fixed_ips as FixedIp[]).length, 2);
          const admins = all.find((p) => p.device_owner === 'compute:nova')!;
          assert.equal(admins.project_id, 'odd "project"\t\\');
          assert.equal(admins['binding:host_id'], viewer === 'admin' ? 'compute1' : undefined);
          assert.equal('binding:vif_type' in all[0], viewer === 'admin');
        }
        const before = spliced;
        const named = await member.get('/v2.0/ports?name=renamed');
        assert.deepEqual(
          named.body.ports.map((p: Port) => p.id),
          [renamed.id],
        );
        assert.equal(spliced, before, 'a filter SQL does not answer takes the object path');
      } finally {
        service.listRaw = listRaw;
      }
    });

    it('lets readers read but not write', async () => {
      const { net } = await net4();
      const reader = client(t, (await t.newProjectUser('reader')).token);
      const r = await port(net.id, {}, reader);
      assert.equal(r.status, 403);
    });
  });
}
