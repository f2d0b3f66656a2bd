import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { client, dialects, startTestServer, type TestServer } from '../helpers/server.js';

for (const dialect of dialects()) {
  describe(`subnets (${dialect})`, () => {
    let t: TestServer;
    let admin: ReturnType<typeof client>;
    before(async () => {
      t = await startTestServer(dialect);
      admin = client(t, t.adminToken);
    });
    after(() => t.close());

    const network = async (c = admin, body: Record<string, unknown> = {}) =>
      (await c.post('/v2.0/networks', { network: { name: 'n', ...body } })).body.network;
    const subnet = (networkId: string, body: Record<string, unknown> = {}, c = admin) =>
      c.post('/v2.0/subnets', {
        subnet: { network_id: networkId, ip_version: 4, cidr: '10.0.0.0/24', ...body },
      });
    const errorType = (r: { body: { NeutronError?: { type: string } } }) => r.body.NeutronError?.type;

    it('creates an IPv4 subnet with Neutron defaults and a normalised CIDR', async () => {
      const net = await network();
      const r = await subnet(net.id, { name: 's1', cidr: '10.0.0.77/24' });
      assert.equal(r.status, 201);
      const s = r.body.subnet;
      assert.equal(s.cidr, '10.0.0.0/24');
      assert.equal(s.ip_version, 4);
      assert.equal(s.gateway_ip, '10.0.0.1');
      assert.deepEqual(s.allocation_pools, [{ start: '10.0.0.2', end: '10.0.0.254' }]);
      assert.equal(s.enable_dhcp, true);
      assert.deepEqual(s.dns_nameservers, []);
      assert.deepEqual(s.host_routes, []);
      assert.equal(s.ipv6_ra_mode, null);
      assert.equal(s.ipv6_address_mode, null);
      assert.equal(s.subnetpool_id, null);
      assert.equal(s.segment_id, null);
      assert.deepEqual(s.service_types, []);
      assert.equal(s.project_id, t.adminProjectId);
      assert.equal(s.tenant_id, t.adminProjectId);
      assert.equal(s.revision_number, 0);
      assert.equal(s.use_default_subnetpool, undefined);
      assert.deepEqual((await admin.get(`/v2.0/networks/${net.id}`)).body.network.subnets, [s.id]);
      assert.equal((await admin.get(`/v2.0/subnets/${s.id}`)).body.subnet.cidr, '10.0.0.0/24');
    });

    it('keeps Neutron’s rule on host bits: a subnet’s CIDR is cleared of them, a route’s refused', async () => {
      // Neutron stores 10.99.0.1/24 as 10.99.0.0/24 (db_base_plugin_v2, test_create_subnet_nonzero_cidr);
      // only route destinations are refused (neutron-lib validate_route_cidr).
      const r = await subnet((await network()).id, { cidr: '10.99.0.1/24' });
      assert.equal(r.status, 201);
      assert.equal(r.body.subnet.cidr, '10.99.0.0/24');
      assert.equal(r.body.subnet.gateway_ip, '10.99.0.1');
      const bad = await subnet((await network()).id, {
        host_routes: [{ destination: '10.5.0.1/16', nexthop: '10.0.0.5' }],
      });
      assert.equal(bad.status, 400);
      assert.equal(
        bad.body.NeutronError.message,
        "Invalid input for host_routes. Reason: '10.5.0.1/16' is not a valid CIDR.",
      );
    });

    it('takes gateway_ip null as no gateway and explicit pools as given', async () => {
      const net = await network();
      const none = await subnet(net.id, { gateway_ip: null });
      assert.equal(none.status, 201);
      assert.equal(none.body.subnet.gateway_ip, null);
      assert.deepEqual(none.body.subnet.allocation_pools, [{ start: '10.0.0.1', end: '10.0.0.254' }]);
      const net2 = await network();
      const pools = [
        { start: '10.0.0.100', end: '10.0.0.150' },
        { start: '10.0.0.10', end: '10.0.0.20' },
      ];
      const r = await subnet(net2.id, { allocation_pools: pools, gateway_ip: '10.0.0.254' });
      assert.equal(r.status, 201);
      assert.deepEqual(r.body.subnet.allocation_pools, pools);
      const outside = await subnet((await network()).id, { gateway_ip: '192.168.0.1' });
      assert.equal(outside.status, 201, 'a gateway outside the subnet is allowed');
    });

    it('creates IPv6 subnets, with SLAAC and DHCPv6 modes', async () => {
      const net = await network();
      const r = await subnet(net.id, { ip_version: 6, cidr: '2001:DB8:0:1::/64' });
      assert.equal(r.status, 201);
      const s = r.body.subnet;
      assert.equal(s.cidr, '2001:db8:0:1::/64');
      assert.equal(s.gateway_ip, '2001:db8:0:1::1');
      assert.deepEqual(s.allocation_pools, [
        { start: '2001:db8:0:1::2', end: '2001:db8:0:1:ffff:ffff:ffff:ffff' },
      ]);
      const slaac = await subnet(net.id, {
        ip_version: 6,
        cidr: '2001:db8:0:2::/64',
        ipv6_ra_mode: 'slaac',
        ipv6_address_mode: 'slaac',
      });
      assert.equal(slaac.status, 201);
      assert.equal(slaac.body.subnet.ipv6_address_mode, 'slaac');
      const stateful = await subnet(net.id, {
        ip_version: 6,
        cidr: '2001:db8:0:3::/64',
        ipv6_address_mode: 'dhcpv6-stateful',
      });
      assert.equal(stateful.status, 201);
    });

    it('validates IPv6 modes as Neutron does', async () => {
      const net = await network();
      const v6 = { ip_version: 6, cidr: '2001:db8:1::/64' };
      const mismatch = await subnet(net.id, {
        ...v6,
        ipv6_ra_mode: 'slaac',
        ipv6_address_mode: 'dhcpv6-stateful',
      });
      assert.equal(mismatch.status, 400);
      assert.equal(errorType(mismatch), 'InvalidInput');
      const onV4 = await subnet(net.id, { ipv6_ra_mode: 'slaac' });
      assert.equal(onV4.status, 400);
      assert.match(onV4.body.NeutronError.message, /ipv6_ra_mode is not valid when ip_version is 4/);
      const noDhcp = await subnet(net.id, { ...v6, ipv6_address_mode: 'slaac', enable_dhcp: false });
      assert.equal(noDhcp.status, 400);
      const not64 = await subnet(net.id, {
        ip_version: 6,
        cidr: '2001:db8:1::/80',
        ipv6_address_mode: 'slaac',
      });
      assert.equal(not64.status, 400);
      assert.match(not64.body.NeutronError.message, /EUI-64/);
      const unknown = await subnet(net.id, { ...v6, ipv6_address_mode: 'magic' });
      assert.equal(unknown.status, 400);
    });

    it('rejects bad CIDRs, versions and overlapping subnets on the same network', async () => {
      const net = await network();
      const cases: [Record<string, unknown>, string][] = [
        [{ cidr: 'nonsense' }, 'HTTPBadRequest'],
        [{ cidr: '10.0.0.0' }, 'HTTPBadRequest'],
        [{ cidr: '10.0.0.0/33' }, 'HTTPBadRequest'],
        [{ cidr: '2001:db8::/64' }, 'InvalidInput'],
        [{ ip_version: 6 }, 'InvalidInput'],
        [{ ip_version: 5 }, 'HTTPBadRequest'],
        [{ cidr: '0.0.0.0/0', enable_dhcp: false }, 'InvalidInput'],
        [{ cidr: '10.9.9.0/31' }, 'InvalidInput'],
        [{ cidr: '224.0.0.0/24' }, 'InvalidInput'],
        [{ cidr: undefined }, 'BadRequest'],
        [{ bogus: 1 }, 'HTTPBadRequest'],
        [{ ip_version: '4' }, 'HTTPBadRequest'],
      ];
      for (const [body, type] of cases) {
        const r = await subnet(net.id, body);
        assert.equal(r.status, 400, JSON.stringify(body));
        assert.equal(errorType(r), type, JSON.stringify(body));
      }
      const pool = await subnet(net.id, { subnetpool_id: '11111111-2222-3333-4444-555555555555' });
      assert.equal(pool.status, 404);
      assert.equal(errorType(pool), 'SubnetPoolNotFound');
      assert.equal((await subnet(net.id, { cidr: '10.1.0.0/16' })).status, 201);
      const overlap = await subnet(net.id, { cidr: '10.1.2.0/24' });
      assert.equal(overlap.status, 400);
      assert.equal(
        overlap.body.NeutronError.message,
        `Invalid input for operation: Requested subnet with cidr: 10.1.2.0/24 for network: ${net.id} overlaps with another subnet.`,
      );
      const elsewhere = await subnet((await network()).id, { cidr: '10.1.2.0/24' });
      assert.equal(elsewhere.status, 201, 'other networks may overlap');
    });

    it('validates allocation pools and the gateway against them', async () => {
      const net = await network();
      const cases: [Record<string, unknown>, number, string][] = [
        [{ allocation_pools: [{ start: '10.0.0.50', end: '10.0.0.10' }] }, 400, 'InvalidAllocationPool'],
        [{ allocation_pools: [{ start: '10.0.0.10', end: '2001:db8::1' }] }, 400, 'InvalidAllocationPool'],
        [{ allocation_pools: [{ start: 'x', end: '10.0.0.9' }] }, 400, 'HTTPBadRequest'],
        [{ allocation_pools: [{ start: '10.0.0.10', end: '10.0.1.10' }] }, 400, 'OutOfBoundsAllocationPool'],
        [{ allocation_pools: [{ start: '10.0.0.0', end: '10.0.0.10' }] }, 400, 'OutOfBoundsAllocationPool'],
        [
          {
            allocation_pools: [
              { start: '10.0.0.10', end: '10.0.0.20' },
              { start: '10.0.0.15', end: '10.0.0.30' },
            ],
          },
          409,
          'OverlappingAllocationPools',
        ],
        [
          { allocation_pools: [{ start: '10.0.0.1', end: '10.0.0.20' }] },
          409,
          'GatewayConflictWithAllocationPools',
        ],
        [{ allocation_pools: [{ start: '10.0.0.2', end: '10.0.0.20', extra: 1 }] }, 400, 'HTTPBadRequest'],
        [{ gateway_ip: '2001:db8::1' }, 400, 'InvalidInput'],
        [{ gateway_ip: '10.0.0.255' }, 400, 'InvalidInput'],
        [{ gateway_ip: '10.0.0.0' }, 400, 'InvalidInput'],
        [{ gateway_ip: 'gw' }, 400, 'HTTPBadRequest'],
      ];
      for (const [body, status, type] of cases) {
        const r = await subnet(net.id, body);
        assert.equal(r.status, status, JSON.stringify(body));
        assert.equal(errorType(r), type, JSON.stringify(body));
      }
      assert.deepEqual((await admin.get(`/v2.0/subnets?network_id=${net.id}`)).body.subnets, []);
    });

    it('validates DNS servers and host routes', async () => {
      const net = await network();
      const cases: [Record<string, unknown>, string][] = [
        [{ dns_nameservers: ['8.8.8.8', 'dns.example'] }, 'HTTPBadRequest'],
        [{ dns_nameservers: ['8.8.8.8', '8.8.8.8'] }, 'HTTPBadRequest'],
        [
          { dns_nameservers: ['1.1.1.1', '1.1.1.2', '1.1.1.3', '1.1.1.4', '1.1.1.5', '1.1.1.6'] },
          'DNSNameServersExhausted',
        ],
        [{ dns_nameservers: ['2001:4860::8888'] }, 'InvalidInput'],
        [{ host_routes: [{ destination: '10.5.0.1/16', nexthop: '10.0.0.5' }] }, 'HTTPBadRequest'],
        [{ host_routes: [{ destination: '10.5.0.0/16', nexthop: 'router' }] }, 'HTTPBadRequest'],
        [{ host_routes: [{ destination: '10.5.0.0/16' }] }, 'HTTPBadRequest'],
        [{ host_routes: [{ destination: '2001:db8::/64', nexthop: '2001:db8::1' }] }, 'InvalidInput'],
      ];
      for (const [body, type] of cases) {
        const r = await subnet(net.id, body);
        assert.equal(r.status, 400, JSON.stringify(body));
        assert.equal(errorType(r), type, JSON.stringify(body));
      }
      const routes = [{ destination: '192.168.0.0/16', nexthop: '10.0.0.5' }];
      const ok = await subnet(net.id, { dns_nameservers: ['8.8.8.8', '1.1.1.1'], host_routes: routes });
      assert.equal(ok.status, 201);
      assert.deepEqual(ok.body.subnet.dns_nameservers, ['8.8.8.8', '1.1.1.1']);
      assert.deepEqual(ok.body.subnet.host_routes, routes);
    });

    it('stores hostile names verbatim, refusing only a NUL character (no database can hold one)', async () => {
      const name = `x'"; DROP TABLE subnets;-- $(reboot) \u0001\u202e`;
      const nul = await subnet((await network()).id, { name: `${name}\u0000` });
      assert.equal(nul.status, 400);
      const r = await subnet((await network()).id, { name });
      assert.equal(r.status, 201);
      const got = await admin.get(`/v2.0/subnets?name=${encodeURIComponent(name)}`);
      assert.equal(got.body.subnets.length, 1);
      assert.equal(got.body.subnets[0].name, name);
    });

    it('updates what Neutron lets change, re-validating it', async () => {
      const net = await network();
      const s = (await subnet(net.id)).body.subnet;
      const url = `/v2.0/subnets/${s.id}`;
      for (const attr of [
        { cidr: '10.0.1.0/24' },
        { ip_version: 6 },
        { network_id: net.id },
        { ipv6_ra_mode: 'slaac' },
      ]) {
        const r = await admin.put(url, { subnet: attr });
        assert.equal(r.status, 400, JSON.stringify(attr));
      }
      const renamed = await admin.put(url, {
        subnet: {
          name: 'renamed',
          dns_nameservers: ['9.9.9.9'],
          host_routes: [{ destination: '0.0.0.0/0', nexthop: '10.0.0.9' }],
        },
      });
      assert.equal(renamed.status, 200);
      assert.equal(renamed.body.subnet.name, 'renamed');
      assert.deepEqual(renamed.body.subnet.dns_nameservers, ['9.9.9.9']);
      assert.equal(renamed.body.subnet.revision_number, 1);
      const conflict = await admin.put(url, { subnet: { gateway_ip: '10.0.0.50' } });
      assert.equal(conflict.status, 409);
      assert.equal(errorType(conflict), 'GatewayConflictWithAllocationPools');
      const pools = await admin.put(url, {
        subnet: { gateway_ip: '10.0.0.50', allocation_pools: [{ start: '10.0.0.100', end: '10.0.0.200' }] },
      });
      assert.equal(pools.status, 200);
      assert.equal(pools.body.subnet.gateway_ip, '10.0.0.50');
      const bad = await admin.put(url, {
        subnet: { allocation_pools: [{ start: '10.0.0.100', end: '10.0.1.200' }] },
      });
      assert.equal(bad.status, 400);
      assert.equal(errorType(bad), 'OutOfBoundsAllocationPool');
      const noGw = await admin.put(url, { subnet: { gateway_ip: null, dns_nameservers: null } });
      assert.equal(noGw.status, 200);
      assert.equal(noGw.body.subnet.gateway_ip, null);
      assert.deepEqual(noGw.body.subnet.dns_nameservers, []);
      const dhcp = await admin.put(url, { subnet: { enable_dhcp: false } });
      assert.equal(dhcp.body.subnet.enable_dhcp, false);
      const stale = await admin.put(url, { subnet: { name: 'x' } }, { 'if-match': 'revision_number=1' });
      assert.equal(stale.status, 412);
    });

    it('refuses to move the gateway onto, or off, an address a port holds', async () => {
      const net = await network();
      const s = (await subnet(net.id, { allocation_pools: [{ start: '10.0.0.10', end: '10.0.0.20' }] })).body
        .subnet;
      const port = await admin.post('/v2.0/ports', {
        port: {
          network_id: net.id,
          fixed_ips: [{ subnet_id: s.id, ip_address: '10.0.0.1' }],
          device_owner: 'network:router_interface',
        },
      });
      assert.equal(port.status, 201);
      const moved = await admin.put(`/v2.0/subnets/${s.id}`, { subnet: { gateway_ip: '10.0.0.2' } });
      assert.equal(moved.status, 409);
      assert.equal(errorType(moved), 'GatewayIpInUse');
      const other = await admin.post('/v2.0/ports', {
        port: { network_id: net.id, fixed_ips: [{ ip_address: '10.0.0.30' }] },
      });
      assert.equal(other.status, 201);
      await admin.del(`/v2.0/ports/${port.body.port.id}`);
      const onto = await admin.put(`/v2.0/subnets/${s.id}`, { subnet: { gateway_ip: '10.0.0.30' } });
      assert.equal(onto.status, 409);
      assert.equal(errorType(onto), 'GatewayIpInUse');
      assert.equal(
        (await admin.put(`/v2.0/subnets/${s.id}`, { subnet: { gateway_ip: '10.0.0.31' } })).status,
        200,
      );
    });

    it('refuses to delete a subnet ports use (SubnetInUse), but removes DHCP ports’ addresses', async () => {
      const net = await network();
      const s = (await subnet(net.id)).body.subnet;
      const dhcp = (
        await admin.post('/v2.0/ports', { port: { network_id: net.id, device_owner: 'network:dhcp' } })
      ).body.port;
      assert.equal(dhcp.fixed_ips.length, 1);
      const vm = (
        await admin.post('/v2.0/ports', { port: { network_id: net.id, device_owner: 'compute:nova' } })
      ).body.port;
      const inUse = await admin.del(`/v2.0/subnets/${s.id}`);
      assert.equal(inUse.status, 409);
      assert.equal(errorType(inUse), 'SubnetInUse');
      assert.equal((await admin.del(`/v2.0/ports/${vm.id}`)).status, 204);
      assert.equal(
        (await admin.del(`/v2.0/subnets/${s.id}`, { 'if-match': 'revision_number=7' })).status,
        412,
      );
      assert.equal((await admin.del(`/v2.0/subnets/${s.id}`)).status, 204);
      assert.equal((await admin.get(`/v2.0/subnets/${s.id}`)).status, 404);
      const after = (await admin.get(`/v2.0/ports/${dhcp.id}`)).body.port;
      assert.deepEqual(after.fixed_ips, []);
      assert.equal(after.revision_number, 1);
      const left = await t.store.db
        .selectFrom('ip_allocations')
        .selectAll()
        .where('subnet_id', '=', s.id)
        .execute();
      assert.equal(left.length, 0);
    });

    it('deletes a network with only a DHCP port, its subnets and their addresses; other ports block it', async () => {
      const net = await network();
      const s = (await subnet(net.id)).body.subnet;
      const dhcp = (
        await admin.post('/v2.0/ports', { port: { network_id: net.id, device_owner: 'network:dhcp' } })
      ).body.port;
      const vm = (await admin.post('/v2.0/ports', { port: { network_id: net.id } })).body.port;
      const blocked = await admin.del(`/v2.0/networks/${net.id}`);
      assert.equal(blocked.status, 409);
      assert.equal(errorType(blocked), 'NetworkInUse');
      await admin.del(`/v2.0/ports/${vm.id}`);
      assert.equal((await admin.del(`/v2.0/networks/${net.id}`)).status, 204);
      assert.equal((await admin.get(`/v2.0/subnets/${s.id}`)).status, 404);
      assert.equal((await admin.get(`/v2.0/ports/${dhcp.id}`)).status, 404);
      const left = await t.store.db
        .selectFrom('ip_allocations')
        .selectAll()
        .where('network_id', '=', net.id)
        .execute();
      assert.equal(left.length, 0);
    });

    it('gives existing ports an EUI-64 address when a SLAAC subnet is added', async () => {
      const net = await network();
      await subnet(net.id);
      const port = (
        await admin.post('/v2.0/ports', { port: { network_id: net.id, mac_address: 'fa:16:3e:00:00:01' } })
      ).body.port;
      const slaac = await subnet(net.id, {
        ip_version: 6,
        cidr: '2001:db8:5::/64',
        ipv6_address_mode: 'slaac',
        ipv6_ra_mode: 'slaac',
      });
      assert.equal(slaac.status, 201);
      const after = (await admin.get(`/v2.0/ports/${port.id}`)).body.port;
      assert.deepEqual(after.fixed_ips[1], {
        subnet_id: slaac.body.subnet.id,
        ip_address: '2001:db8:5:0:f816:3eff:fe00:1',
      });
      assert.equal(
        (await admin.del(`/v2.0/subnets/${slaac.body.subnet.id}`)).status,
        204,
        'auto addresses do not block',
      );
      assert.equal((await admin.get(`/v2.0/ports/${port.id}`)).body.port.fixed_ips.length, 1);
    });

    it('bulk-creates all or nothing', async () => {
      const net = await network();
      const ok = await admin.post('/v2.0/subnets', {
        subnets: [
          { network_id: net.id, ip_version: 4, cidr: '10.10.0.0/24' },
          { network_id: net.id, ip_version: 6, cidr: '2001:db8:10::/64' },
        ],
      });
      assert.equal(ok.status, 201);
      assert.equal(ok.body.subnets.length, 2);
      const bad = await admin.post('/v2.0/subnets', {
        subnets: [
          { network_id: net.id, ip_version: 4, cidr: '10.11.0.0/24' },
          { network_id: net.id, ip_version: 4, cidr: '10.11.0.0/25' },
        ],
      });
      assert.equal(bad.status, 400);
      assert.equal((await admin.get(`/v2.0/subnets?network_id=${net.id}`)).body.subnets.length, 2);
    });

    it('filters by network, CIDR and IP version', async () => {
      const net = await network();
      await subnet(net.id, { cidr: '172.16.0.0/24' });
      await subnet(net.id, { ip_version: 6, cidr: '2001:db8:99::/64' });
      const list = (q: string) => admin.get(`/v2.0/subnets?network_id=${net.id}&${q}`);
      assert.equal((await list('')).body.subnets.length, 2);
      assert.equal((await list('ip_version=6')).body.subnets.length, 1);
      assert.equal((await list('cidr=172.16.0.0/24')).body.subnets[0].ip_version, 4);
      assert.equal((await list('enable_dhcp=false')).body.subnets.length, 0);
    });

    it('hides the subnets of an external network that is not shared from other projects (the network stays visible)', async () => {
      const b = await t.newProjectUser();
      const cb = client(t, b.token);
      const ids = (r: { body: { subnets: { id: string }[] } }) => r.body.subnets.map((x) => x.id);
      const ext = await network(admin, { 'router:external': true });
      const extSubnet = (await subnet(ext.id, { cidr: '198.51.100.0/24' })).body.subnet;
      const seen = await cb.get(`/v2.0/networks/${ext.id}`);
      assert.equal(seen.status, 200);
      assert.deepEqual(
        seen.body.network.subnets,
        [extSubnet.id],
        'the network lists its subnet ids, as Neutron',
      );
      assert.ok(!ids(await cb.get('/v2.0/subnets')).includes(extSubnet.id));
      assert.deepEqual(ids(await cb.get(`/v2.0/subnets?network_id=${ext.id}`)), []);
      const one = await cb.get(`/v2.0/subnets/${extSubnet.id}`);
      assert.equal(one.status, 404);
      assert.equal(errorType(one), 'SubnetNotFound');
      assert.deepEqual(ids(await admin.get(`/v2.0/subnets?network_id=${ext.id}`)), [extSubnet.id]);

      // Opened by RBAC for external use only: still hidden; shared with the project: visible.
      const opened = await network(admin);
      const openedSubnet = (await subnet(opened.id, { cidr: '198.51.101.0/24' })).body.subnet;
      const rbac = (action: string) =>
        admin.post('/v2.0/rbac-policies', {
          rbac_policy: { object_type: 'network', object_id: opened.id, action, target_tenant: b.projectId },
        });
      assert.equal((await rbac('access_as_external')).status, 201);
      assert.equal((await cb.get(`/v2.0/networks/${opened.id}`)).status, 200);
      assert.equal((await cb.get(`/v2.0/subnets/${openedSubnet.id}`)).status, 404);
      assert.equal((await rbac('access_as_shared')).status, 201);
      assert.equal((await cb.get(`/v2.0/subnets/${openedSubnet.id}`)).status, 200);
      assert.ok(ids(await cb.get('/v2.0/subnets')).includes(openedSubnet.id));

      const sharedExt = await network(admin, { 'router:external': true, shared: true });
      const sharedExtSubnet = (await subnet(sharedExt.id, { cidr: '198.51.102.0/24' })).body.subnet;
      assert.equal((await cb.get(`/v2.0/subnets/${sharedExtSubnet.id}`)).status, 200);
    });

    it('lets network owners add subnets; others get 404, or 403 on a network they may only see', async () => {
      const a = await t.newProjectUser();
      const b = await t.newProjectUser();
      const ca = client(t, a.token);
      const cb = client(t, b.token);
      const own = await network(ca);
      const s = await subnet(own.id, {}, ca);
      assert.equal(s.status, 201);
      assert.equal(s.body.subnet.project_id, a.projectId);
      assert.equal(s.body.subnet.segment_id, undefined, 'segment_id is admin-only');
      const hidden = await subnet(own.id, { cidr: '10.2.0.0/24' }, cb);
      assert.equal(hidden.status, 404);
      assert.equal(errorType(hidden), 'NetworkNotFound');
      for (const r of [
        await cb.get(`/v2.0/subnets/${s.body.subnet.id}`),
        await cb.put(`/v2.0/subnets/${s.body.subnet.id}`, { subnet: { name: 'x' } }),
        await cb.del(`/v2.0/subnets/${s.body.subnet.id}`),
      ]) {
        assert.equal(r.status, 404);
        assert.equal(errorType(r), 'SubnetNotFound');
      }
      assert.ok(
        (await cb.get('/v2.0/subnets')).body.subnets.every((x: { id: string }) => x.id !== s.body.subnet.id),
      );
      const shared = await network(admin, { shared: true });
      const sharedSubnet = (await subnet(shared.id, { cidr: '10.3.0.0/24' })).body.subnet;
      assert.equal(
        (await cb.get(`/v2.0/subnets/${sharedSubnet.id}`)).status,
        200,
        'subnets of shared networks are visible',
      );
      assert.equal((await cb.put(`/v2.0/subnets/${sharedSubnet.id}`, { subnet: { name: 'x' } })).status, 403);
      const onShared = await subnet(shared.id, { cidr: '10.4.0.0/24' }, cb);
      assert.equal(onShared.status, 403);
      assert.equal(errorType(onShared), 'PolicyNotAuthorized');
      const forOther = await subnet(own.id, { cidr: '10.5.0.0/24', project_id: b.projectId }, ca);
      assert.equal(forOther.status, 403);
      const reader = client(t, (await t.newProjectUser('reader')).token);
      assert.equal((await subnet(own.id, { cidr: '10.6.0.0/24' }, reader)).status, 403);
    });

    it('enforces the subnet quota', async () => {
      const p = await t.newProjectUser();
      const c = client(t, p.token);
      await t.store.db
        .insertInto('quotas')
        .values({ project_id: p.projectId, resource: 'subnet', hard_limit: 1 })
        .execute();
      const net = await network(c);
      assert.equal((await subnet(net.id, {}, c)).status, 201);
      const over = await subnet(net.id, { cidr: '10.9.0.0/24' }, c);
      assert.equal(over.status, 409);
      assert.equal(errorType(over), 'OverQuota');
    });

    it('serves ports only from subnets whose service_types match their owner (admin-set)', async () => {
      const net = await network();
      const routers = (
        await subnet(net.id, { cidr: '10.30.0.0/24', service_types: ['network:router_gateway'] })
      ).body.subnet;
      const general = (await subnet(net.id, { cidr: '10.31.0.0/24' })).body.subnet;
      const vm = (await admin.post('/v2.0/ports', { port: { network_id: net.id } })).body.port;
      assert.equal(vm.fixed_ips[0].subnet_id, general.id);
      const gw = (
        await admin.post('/v2.0/ports', {
          port: { network_id: net.id, device_owner: 'network:router_gateway' },
        })
      ).body.port;
      assert.equal(gw.fixed_ips[0].subnet_id, routers.id);
      const m = await t.newProjectUser();
      const own = await network(client(t, m.token));
      const denied = await subnet(own.id, { service_types: ['compute:nova'] }, client(t, m.token));
      assert.equal(denied.status, 403);
    });

    it('tags subnets', async () => {
      const s = (await subnet((await network()).id)).body.subnet;
      assert.equal((await admin.put(`/v2.0/subnets/${s.id}/tags/blue`)).status, 201);
      assert.equal((await admin.get('/v2.0/subnets?tags=blue')).body.subnets.length, 1);
    });
  });
}
