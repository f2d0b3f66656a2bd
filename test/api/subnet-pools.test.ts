/**
 * Subnet pools and address scopes (`subnet_allocation`, `default-subnetpools`,
 * `subnetpool-prefix-ops`, `address-scope`, `rbac-subnetpool`, `rbac-address-scope`): Neutron's
 * attributes, defaults and errors; subnets allocated from a pool (next free prefix, a given
 * prefixlen, a given CIDR, the default pool), released on delete, race-free under concurrent
 * creates; per-project quotas in address units; a pool in use refused on delete; address scopes
 * with their prefix-uniqueness and network-affinity rules; RBAC sharing of both.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { cidrsOverlap } from '../../src/core/ipam.js';
import { client, dialects, startTestServer, type TestServer } from '../helpers/server.js';

type Client = ReturnType<typeof client>;
const errorOf = (r: { body: { NeutronError: { type: string; message: string } } }) => r.body.NeutronError;

for (const dialect of dialects()) {
  describe(`subnet pools and address scopes (${dialect})`, () => {
    let t: TestServer;
    let admin: Client;
    before(async () => {
      t = await startTestServer(dialect);
      admin = client(t, t.adminToken);
    });
    after(() => t.close());

    const pool = async (c: Client, body: Record<string, unknown>) => {
      const r = await c.post('/v2.0/subnetpools', { subnetpool: { name: 'p', ...body } });
      assert.equal(r.status, 201, JSON.stringify(r.body));
      return r.body.subnetpool;
    };
    const network = async (c: Client) =>
      (await c.post('/v2.0/networks', { network: { name: 'n' } })).body.network;
    const subnet = (c: Client, body: Record<string, unknown>) =>
      c.post('/v2.0/subnets', { subnet: { ip_version: 4, ...body } });

    it('creates with Neutron’s attributes and defaults (prefix lengths as strings), shows, lists and updates', async () => {
      const p = await pool(admin, {
        name: 'pool1',
        prefixes: ['10.10.0.0/16', '10.11.0.5/16'],
        default_prefixlen: 24,
      });
      assert.deepEqual(p.prefixes, ['10.10.0.0/15'], 'prefixes are compacted as netaddr.IPSet does');
      assert.equal(p.ip_version, 4);
      assert.equal(p.default_prefixlen, '24');
      assert.equal(p.min_prefixlen, '8');
      assert.equal(p.max_prefixlen, '32');
      assert.equal(p.default_quota, null);
      assert.equal(p.is_default, false);
      assert.equal(p.shared, false);
      assert.equal(p.address_scope_id, null);
      assert.equal(p.description, '');
      assert.deepEqual(p.tags, []);
      assert.equal(p.revision_number, 0);
      assert.equal(p.project_id, t.adminProjectId);
      assert.equal(p.tenant_id, t.adminProjectId);
      assert.deepEqual((await admin.get(`/v2.0/subnetpools/${p.id}`)).body.subnetpool, p);
      const listed = await admin.get('/v2.0/subnetpools?name=pool1');
      assert.deepEqual(
        listed.body.subnetpools.map((x: { id: string }) => x.id),
        [p.id],
      );
      const v6 = await pool(admin, { prefixes: ['2001:db8::/48'] });
      assert.equal(v6.ip_version, 6);
      assert.equal(v6.min_prefixlen, '64');
      assert.equal(v6.default_prefixlen, '64');
      assert.equal(v6.max_prefixlen, '128');

      const updated = await admin.put(`/v2.0/subnetpools/${p.id}`, {
        subnetpool: {
          name: 'pool1b',
          default_prefixlen: 26,
          default_quota: 1024,
          prefixes: ['10.10.0.0/15', '10.20.0.0/16'],
        },
      });
      assert.equal(updated.status, 200, JSON.stringify(updated.body));
      const u = updated.body.subnetpool;
      assert.equal(u.name, 'pool1b');
      assert.equal(u.default_prefixlen, 26, 'Neutron answers update with the numbers');
      assert.equal(u.default_quota, 1024);
      assert.deepEqual(u.prefixes, ['10.10.0.0/15', '10.20.0.0/16']);
      assert.equal(u.revision_number, 1);
      assert.equal((await admin.get(`/v2.0/subnetpools/${p.id}`)).body.subnetpool.default_prefixlen, '26');
      assert.equal((await admin.put(`/v2.0/subnetpools/${p.id}/tags/blue`)).status, 201);
      assert.deepEqual((await admin.get(`/v2.0/subnetpools/${p.id}`)).body.subnetpool.tags, ['blue']);
    });

    it('refuses bad pools with Neutron’s errors, making nothing', async () => {
      const refuse = async (
        body: Record<string, unknown>,
        status: number,
        type: string,
        message?: string,
      ) => {
        const r = await admin.post('/v2.0/subnetpools', { subnetpool: { name: 'bad', ...body } });
        assert.equal(r.status, status, JSON.stringify(r.body));
        assert.equal(errorOf(r).type, type);
        if (message) assert.equal(errorOf(r).message, message);
      };
      await refuse({ prefixes: [] }, 400, 'EmptySubnetPoolPrefixList', 'Empty subnet pool prefix list.');
      await refuse(
        { prefixes: ['10.0.0.0/8', '2001:db8::/32'] },
        400,
        'PrefixVersionMismatch',
        'Cannot mix IPv4 and IPv6 prefixes in a subnet pool.',
      );
      await refuse(
        { prefixes: ['10.0.0.0/8'], min_prefixlen: 24, max_prefixlen: 16 },
        400,
        'IllegalSubnetPoolPrefixBounds',
        'Illegal prefix bounds: min_prefixlen=24, max_prefixlen=16.',
      );
      await refuse(
        { prefixes: ['10.0.0.0/8'], max_prefixlen: 33 },
        400,
        'IllegalSubnetPoolPrefixBounds',
        'Illegal prefix bounds: max_prefixlen=33, ip_version_max=32.',
      );
      await refuse(
        { prefixes: ['10.0.0.0/8'], default_prefixlen: 4 },
        400,
        'IllegalSubnetPoolPrefixBounds',
        'Illegal prefix bounds: default_prefixlen=4, min_prefixlen=8.',
      );
      await refuse(
        { prefixes: ['10.0.0.1'] },
        400,
        'HTTPBadRequest',
        "Invalid input for prefixes. Reason: '10.0.0.1' is not a valid IP subnet.",
      );
      await refuse(
        { prefixes: ['10.0.0.0/8'], default_quota: -1 },
        400,
        'HTTPBadRequest',
        "Invalid input for default_quota. Reason: '-1' should be non-negative.",
      );
      const missing = await admin.post('/v2.0/subnetpools', { subnetpool: { prefixes: ['10.0.0.0/8'] } });
      assert.equal(missing.status, 400);
      assert.match(errorOf(missing).message, /Required attribute 'name' not specified/);
      assert.deepEqual((await admin.get('/v2.0/subnetpools?name=bad')).body.subnetpools, []);
    });

    it('allocates subnets from a pool: next free prefix, prefixlen, a given CIDR, gateway and pools; shows subnetpool_id', async () => {
      const p = await pool(admin, { prefixes: ['10.30.0.0/16'], default_prefixlen: 24 });
      const net = await network(admin);
      const s1 = await subnet(admin, { network_id: net.id, subnetpool_id: p.id });
      assert.equal(s1.status, 201, JSON.stringify(s1.body));
      assert.equal(s1.body.subnet.cidr, '10.30.0.0/24');
      assert.equal(s1.body.subnet.subnetpool_id, p.id);
      assert.equal(s1.body.subnet.gateway_ip, '10.30.0.1');
      assert.deepEqual(s1.body.subnet.allocation_pools, [{ start: '10.30.0.2', end: '10.30.0.254' }]);
      const s2 = await subnet(admin, { network_id: net.id, subnetpool_id: p.id, prefixlen: 26 });
      assert.equal(s2.body.subnet.cidr, '10.30.1.0/26');
      const s3 = await subnet(admin, { network_id: net.id, subnetpool_id: p.id, cidr: '10.30.7.0/24' });
      assert.equal(s3.status, 201, JSON.stringify(s3.body));
      assert.equal(s3.body.subnet.cidr, '10.30.7.0/24');
      const noGateway = await subnet(admin, { network_id: net.id, subnetpool_id: p.id, gateway_ip: null });
      assert.equal(noGateway.body.subnet.gateway_ip, null);
      // Neutron takes the tightest free block that fits: the /24 left below 10.30.7.0/24.
      assert.equal(noGateway.body.subnet.cidr, '10.30.6.0/24');
      const shown = await admin.get(`/v2.0/subnets/${s1.body.subnet.id}`);
      assert.equal(shown.body.subnet.subnetpool_id, p.id);
      const byPool = await admin.get(`/v2.0/subnets?subnetpool_id=${p.id}`);
      assert.equal(byPool.body.subnets.length, 4);

      const taken = await subnet(admin, {
        network_id: (await network(admin)).id,
        subnetpool_id: p.id,
        cidr: '10.30.7.128/25',
      });
      assert.equal(taken.status, 500);
      assert.equal(errorOf(taken).type, 'SubnetAllocationError');
      assert.equal(
        errorOf(taken).message,
        'Failed to allocate subnet: Cannot allocate requested subnet from the available set of prefixes.',
      );
      const outside = await subnet(admin, {
        network_id: (await network(admin)).id,
        subnetpool_id: p.id,
        cidr: '10.99.0.0/24',
      });
      assert.equal(errorOf(outside).type, 'SubnetAllocationError');
      const both = await subnet(admin, {
        network_id: net.id,
        subnetpool_id: p.id,
        cidr: '10.30.9.0/24',
        prefixlen: 24,
      });
      assert.equal(both.status, 400);
      assert.equal(
        errorOf(both).message,
        'Bad subnets request: cidr and prefixlen must not be supplied together.',
      );
      const tooLong = await subnet(admin, { network_id: net.id, subnetpool_id: p.id, prefixlen: 33 });
      assert.equal(errorOf(tooLong).type, 'MaxPrefixSubnetAllocationError');
      assert.equal(
        errorOf(tooLong).message,
        'Unable to allocate subnet with prefix length 33, maximum allowed prefix is 32.',
      );
      const tooShort = await subnet(admin, { network_id: net.id, subnetpool_id: p.id, prefixlen: 7 });
      assert.equal(errorOf(tooShort).type, 'MinPrefixSubnetAllocationError');
      const huge = await subnet(admin, { network_id: net.id, subnetpool_id: p.id, prefixlen: 15 });
      assert.equal(huge.status, 500);
      assert.equal(
        errorOf(huge).message,
        'Failed to allocate subnet: Insufficient prefix space to allocate subnet size /15.',
      );
      const wrongFamily = await subnet(admin, { network_id: net.id, subnetpool_id: p.id, ip_version: 6 });
      assert.equal(wrongFamily.status, 400);
      assert.equal(
        errorOf(wrongFamily).message,
        'Bad subnets request: Cannot allocate IPv6 subnet from IPv4 subnet pool.',
      );
      const pools = await subnet(admin, {
        network_id: net.id,
        subnetpool_id: p.id,
        allocation_pools: [{ start: '10.30.3.10', end: '10.30.3.20' }],
      });
      assert.equal(
        errorOf(pools).message,
        'Bad subnets request: allocation_pools allowed only for specific subnet requests..',
      );
      const neither = await subnet(admin, { network_id: net.id });
      assert.equal(
        errorOf(neither).message,
        'Bad subnets request: a subnetpool must be specified in the absence of a cidr.',
      );
      const unknown = await subnet(admin, {
        network_id: net.id,
        subnetpool_id: '11111111-2222-3333-4444-555555555555',
      });
      assert.equal(unknown.status, 404);
      assert.equal(errorOf(unknown).type, 'SubnetPoolNotFound');
      const mixed = await subnet(admin, { network_id: net.id, cidr: '192.0.2.0/24' });
      assert.equal(mixed.status, 400);
      assert.equal(errorOf(mixed).type, 'NetworkSubnetPoolAffinityError');
    });

    it('releases a prefix when its subnet goes, and refuses to delete a pool in use (SubnetPoolDeleteError)', async () => {
      const p = await pool(admin, { prefixes: ['10.40.0.0/23'], default_prefixlen: 24 });
      const net = await network(admin);
      const a = (await subnet(admin, { network_id: net.id, subnetpool_id: p.id })).body.subnet;
      const b = (await subnet(admin, { network_id: net.id, subnetpool_id: p.id })).body.subnet;
      assert.deepEqual([a.cidr, b.cidr], ['10.40.0.0/24', '10.40.1.0/24']);
      const full = await subnet(admin, { network_id: net.id, subnetpool_id: p.id });
      assert.equal(errorOf(full).type, 'SubnetAllocationError');
      const inUse = await admin.del(`/v2.0/subnetpools/${p.id}`);
      assert.equal(inUse.status, 400);
      assert.equal(errorOf(inUse).type, 'SubnetPoolDeleteError');
      assert.equal(
        errorOf(inUse).message,
        'Unable to delete subnet pool: Subnet pool has existing allocations.',
      );
      assert.equal((await admin.del(`/v2.0/subnets/${a.id}`)).status, 204);
      const again = (await subnet(admin, { network_id: net.id, subnetpool_id: p.id })).body.subnet;
      assert.equal(again.cidr, '10.40.0.0/24', 'the released prefix is allocated again');
      assert.equal((await admin.del(`/v2.0/networks/${net.id}`)).status, 204);
      assert.equal((await admin.del(`/v2.0/subnetpools/${p.id}`)).status, 204);
      assert.equal((await admin.get(`/v2.0/subnetpools/${p.id}`)).status, 404);
    });

    it('allocates race-free: concurrent creates on one pool get distinct, non-overlapping prefixes', async () => {
      const p = await pool(admin, { prefixes: ['10.50.0.0/20'], default_prefixlen: 24 });
      const nets = await Promise.all(Array.from({ length: 6 }, () => network(admin)));
      const results = await Promise.all(
        Array.from({ length: 18 }, (_, i) =>
          subnet(admin, {
            network_id: nets[i % nets.length].id,
            subnetpool_id: p.id,
            prefixlen: i % 3 === 0 ? 23 : 24,
          }),
        ),
      );
      const made = results.filter((r) => r.status === 201).map((r) => r.body.subnet.cidr as string);
      const failed = results.filter((r) => r.status !== 201);
      for (const r of failed) assert.equal(errorOf(r).type, 'SubnetAllocationError', JSON.stringify(r.body));
      // 6 /23s and 12 /24s need 24 /24s; the pool has 16.
      assert.ok(made.length >= 10, `made ${made.length}`);
      for (const [i, a] of made.entries())
        for (const b of made.slice(i + 1)) assert.ok(!cidrsOverlap(a, b), `${a} overlaps ${b}`);
      const stored = (await admin.get(`/v2.0/subnets?subnetpool_id=${p.id}`)).body.subnets;
      assert.equal(stored.length, made.length);
    });

    it('enforces the per-project quota in address units (SubnetPoolQuotaExceeded)', async () => {
      const p = await pool(admin, { prefixes: ['10.60.0.0/16'], default_prefixlen: 24, default_quota: 512 });
      const net = await network(admin);
      assert.equal((await subnet(admin, { network_id: net.id, subnetpool_id: p.id })).status, 201);
      assert.equal((await subnet(admin, { network_id: net.id, subnetpool_id: p.id })).status, 201);
      const over = await subnet(admin, { network_id: net.id, subnetpool_id: p.id, prefixlen: 28 });
      assert.equal(over.status, 409);
      assert.equal(errorOf(over).type, 'SubnetPoolQuotaExceeded');
      assert.equal(errorOf(over).message, 'Per-project subnet pool prefix quota exceeded.');
    });

    it('uses the default pool of an IP version; only one default per family; is_default and shared are admin-only', async () => {
      const member = client(t, (await t.newProjectUser()).token);
      const net = await network(member);
      const none = await subnet(member, { network_id: net.id, use_default_subnetpool: true });
      assert.equal(none.status, 400);
      assert.equal(errorOf(none).message, 'Bad subnets request: No default subnetpool found for IPv4.');
      const refused = await member.post('/v2.0/subnetpools', {
        subnetpool: { name: 'x', prefixes: ['10.70.0.0/16'], is_default: true },
      });
      assert.equal(refused.status, 403);
      const sharedRefused = await member.post('/v2.0/subnetpools', {
        subnetpool: { name: 'x', prefixes: ['10.70.0.0/16'], shared: true },
      });
      assert.equal(sharedRefused.status, 403);
      const d = await pool(admin, {
        prefixes: ['10.70.0.0/16'],
        default_prefixlen: 26,
        is_default: true,
        shared: true,
      });
      const second = await admin.post('/v2.0/subnetpools', {
        subnetpool: { name: 'd2', prefixes: ['10.71.0.0/16'], is_default: true },
      });
      assert.equal(second.status, 400);
      assert.equal(
        errorOf(second).message,
        'Invalid input for operation: A default subnetpool for this IP family has already been set. Only one default may exist per IP family.',
      );
      const made = await subnet(member, { network_id: net.id, use_default_subnetpool: true });
      assert.equal(made.status, 201, JSON.stringify(made.body));
      assert.equal(made.body.subnet.subnetpool_id, d.id);
      assert.equal(made.body.subnet.cidr, '10.70.0.0/26');
      const seen = await member.get(`/v2.0/subnetpools/${d.id}`);
      assert.equal(seen.body.subnetpool.shared, true);
      const notOwner = await member.put(`/v2.0/subnetpools/${d.id}`, { subnetpool: { name: 'mine' } });
      assert.equal(notOwner.status, 403);
      const both = await subnet(member, {
        network_id: net.id,
        use_default_subnetpool: true,
        subnetpool_id: d.id,
      });
      assert.equal(
        errorOf(both).message,
        'Bad subnets request: subnetpool_id and use_default_subnetpool cannot both be specified.',
      );
      await admin.del(`/v2.0/subnets/${made.body.subnet.id}`);
      assert.equal(
        (await admin.put(`/v2.0/subnetpools/${d.id}`, { subnetpool: { is_default: false } })).status,
        200,
      );
    });

    it('adds and removes prefixes (subnetpool-prefix-ops), refusing to remove one a subnet uses', async () => {
      const p = await pool(admin, { prefixes: ['10.80.0.0/24'], default_prefixlen: 26 });
      const added = await admin.put(`/v2.0/subnetpools/${p.id}/add_prefixes`, {
        prefixes: ['10.80.1.0/24', '10.90.0.0/24'],
      });
      assert.equal(added.status, 200, JSON.stringify(added.body));
      assert.deepEqual(added.body, { prefixes: ['10.80.0.0/23', '10.90.0.0/24'] });
      const net = await network(admin);
      const s = (await subnet(admin, { network_id: net.id, subnetpool_id: p.id, cidr: '10.90.0.0/26' })).body
        .subnet;
      assert.equal(s.cidr, '10.90.0.0/26');
      const inUse = await admin.put(`/v2.0/subnetpools/${p.id}/remove_prefixes`, {
        prefixes: ['10.90.0.0/24'],
      });
      assert.equal(inUse.status, 400);
      assert.equal(errorOf(inUse).type, 'IllegalSubnetPoolPrefixUpdate');
      assert.equal(
        errorOf(inUse).message,
        'Illegal update to prefixes: One or more the prefixes to be removed is in use by a subnet.',
      );
      const removed = await admin.put(`/v2.0/subnetpools/${p.id}/remove_prefixes`, {
        prefixes: ['10.80.0.0/25'],
      });
      assert.deepEqual(removed.body, { prefixes: ['10.80.0.128/25', '10.80.1.0/24', '10.90.0.0/24'] });
      const empty = await admin.put(`/v2.0/subnetpools/${p.id}/add_prefixes`, { prefixes: [] });
      assert.equal(empty.status, 400);
      assert.equal(errorOf(empty).message, 'Request body contains invalid data');
      const shrink = await admin.put(`/v2.0/subnetpools/${p.id}`, {
        subnetpool: { prefixes: ['10.90.0.0/24'] },
      });
      assert.equal(shrink.status, 400);
      assert.equal(
        errorOf(shrink).message,
        'Illegal update to prefixes: Existing prefixes must be a subset of the new prefixes.',
      );
    });

    it('address scopes: CRUD without standard attributes, prefix uniqueness in a scope, in-use and unshare refused', async () => {
      const r = await admin.post('/v2.0/address-scopes', { address_scope: { name: 'as1', ip_version: 4 } });
      assert.equal(r.status, 201, JSON.stringify(r.body));
      const scope = r.body.address_scope;
      assert.deepEqual(Object.keys(scope).sort(), [
        'id',
        'ip_version',
        'name',
        'project_id',
        'shared',
        'tenant_id',
      ]);
      assert.equal(scope.shared, false);
      assert.deepEqual((await admin.get(`/v2.0/address-scopes/${scope.id}`)).body.address_scope, scope);
      const p1 = await pool(admin, { prefixes: ['10.100.0.0/16'], address_scope_id: scope.id });
      assert.equal(p1.address_scope_id, scope.id);
      const conflict = await admin.post('/v2.0/subnetpools', {
        subnetpool: { name: 'c', prefixes: ['10.100.128.0/17'], address_scope_id: scope.id },
      });
      assert.equal(conflict.status, 409);
      assert.equal(errorOf(conflict).type, 'AddressScopePrefixConflict');
      const v6 = (await admin.post('/v2.0/address-scopes', { address_scope: { name: 'as6', ip_version: 6 } }))
        .body.address_scope;
      const family = await admin.post('/v2.0/subnetpools', {
        subnetpool: { name: 'f', prefixes: ['10.101.0.0/16'], address_scope_id: v6.id },
      });
      assert.equal(family.status, 400);
      assert.equal(errorOf(family).type, 'IllegalSubnetPoolIpVersionAssociationToAddressScope');
      const inUse = await admin.del(`/v2.0/address-scopes/${scope.id}`);
      assert.equal(inUse.status, 409);
      assert.equal(errorOf(inUse).type, 'AddressScopeInUse');
      const shared = await admin.put(`/v2.0/address-scopes/${scope.id}`, { address_scope: { shared: true } });
      assert.equal(shared.body.address_scope.shared, true);
      const unshare = await admin.put(`/v2.0/address-scopes/${scope.id}`, {
        address_scope: { shared: false },
      });
      assert.equal(unshare.status, 400);
      assert.equal(errorOf(unshare).type, 'AddressScopeUpdateError');
      assert.equal(
        errorOf(unshare).message,
        `Unable to update address scope ${scope.id} : Shared address scope can't be unshared.`,
      );
      const member = client(t, (await t.newProjectUser()).token);
      assert.equal((await member.get(`/v2.0/address-scopes/${v6.id}`)).status, 404);
      assert.equal((await member.get(`/v2.0/address-scopes/${scope.id}`)).status, 200);
      assert.equal(
        (
          await member.post('/v2.0/address-scopes', {
            address_scope: { name: 's', ip_version: 4, shared: true },
          })
        ).status,
        403,
      );
      // A network's subnets of one family stay in one scope.
      const other = await pool(admin, { prefixes: ['10.102.0.0/16'] });
      const net = await network(admin);
      assert.equal(
        (await subnet(admin, { network_id: net.id, subnetpool_id: p1.id, prefixlen: 24 })).status,
        201,
      );
      const scoped = (await admin.get(`/v2.0/networks/${net.id}`)).body.network;
      assert.equal(scoped.ipv4_address_scope, scope.id, 'the network shows the scope of its subnets’ pool');
      assert.equal(scoped.ipv6_address_scope, null);
      const affinity = await subnet(admin, { network_id: net.id, subnetpool_id: other.id, prefixlen: 24 });
      assert.equal(affinity.status, 400);
      assert.equal(errorOf(affinity).type, 'NetworkAddressScopeAffinityError');
      assert.equal((await admin.del(`/v2.0/address-scopes/${v6.id}`)).status, 204);
    });

    it('shares pools and scopes by RBAC: the target sees and allocates; the policy in use cannot go', async () => {
      const b = await t.newProjectUser();
      const cb = client(t, b.token);
      const p = await pool(admin, { prefixes: ['10.110.0.0/16'], default_prefixlen: 24 });
      assert.equal((await cb.get(`/v2.0/subnetpools/${p.id}`)).status, 404);
      const rbac = (object_type: string, object_id: string) =>
        admin.post('/v2.0/rbac-policies', {
          rbac_policy: { object_type, object_id, action: 'access_as_shared', target_tenant: b.projectId },
        });
      const policy = await rbac('subnetpool', p.id);
      assert.equal(policy.status, 201, JSON.stringify(policy.body));
      const seen = await cb.get(`/v2.0/subnetpools/${p.id}`);
      assert.equal(seen.status, 200);
      assert.equal(seen.body.subnetpool.shared, true);
      const net = await network(cb);
      const s = await subnet(cb, { network_id: net.id, subnetpool_id: p.id });
      assert.equal(s.status, 201, JSON.stringify(s.body));
      const held = await admin.del(`/v2.0/rbac-policies/${policy.body.rbac_policy.id}`);
      assert.equal(held.status, 409);
      assert.equal(errorOf(held).type, 'RbacPolicyInUse');
      await cb.del(`/v2.0/subnets/${s.body.subnet.id}`);
      assert.equal((await admin.del(`/v2.0/rbac-policies/${policy.body.rbac_policy.id}`)).status, 204);

      // A pool in an address scope is shared only with projects that may use the scope.
      const scope = (
        await admin.post('/v2.0/address-scopes', { address_scope: { name: 'r', ip_version: 4 } })
      ).body.address_scope;
      const scoped = await pool(admin, { prefixes: ['10.111.0.0/16'], address_scope_id: scope.id });
      const refused = await rbac('subnetpool', scoped.id);
      assert.equal(refused.status, 500);
      assert.equal(errorOf(refused).type, 'RbacPolicyInitError');
      assert.equal(
        errorOf(refused).message,
        `Failed to create RBAC policy on object ${scoped.id} because target project doesn't have access to associated address scope..`,
      );
      assert.equal((await rbac('address_scope', scope.id)).status, 201);
      assert.equal((await cb.get(`/v2.0/address-scopes/${scope.id}`)).body.address_scope.shared, true);
      assert.equal((await rbac('subnetpool', scoped.id)).status, 201);
      const bad = await admin.post('/v2.0/rbac-policies', {
        rbac_policy: {
          object_type: 'address_scope',
          object_id: scope.id,
          action: 'access_as_external',
          target_tenant: '*',
        },
      });
      assert.equal(bad.status, 400);
      assert.equal(errorOf(bad).type, 'InvalidActionForType');
    });

    it('tells the router’s host the address scope of each interface and gateway subnet', async () => {
      const scope = (
        await admin.post('/v2.0/address-scopes', { address_scope: { name: 'nat', ip_version: 4 } })
      ).body.address_scope;
      const extPool = await pool(admin, { prefixes: ['198.51.100.0/24'], address_scope_id: scope.id });
      const inPool = await pool(admin, {
        prefixes: ['10.120.0.0/16'],
        default_prefixlen: 24,
        address_scope_id: scope.id,
      });
      const ext = (await admin.post('/v2.0/networks', { network: { name: 'ext', 'router:external': true } }))
        .body.network;
      const extSub = await subnet(admin, { network_id: ext.id, subnetpool_id: extPool.id, prefixlen: 24 });
      assert.equal(extSub.status, 201, JSON.stringify(extSub.body));
      const inside = (
        await subnet(admin, { network_id: (await network(admin)).id, subnetpool_id: inPool.id })
      ).body.subnet;
      const plain = (await subnet(admin, { network_id: (await network(admin)).id, cidr: '192.168.50.0/24' }))
        .body.subnet;
      const router = (
        await admin.post('/v2.0/routers', {
          router: { name: 'r', external_gateway_info: { network_id: ext.id } },
        })
      ).body.router;
      for (const s of [inside, plain])
        assert.equal(
          (await admin.put(`/v2.0/routers/${router.id}/add_router_interface`, { subnet_id: s.id })).status,
          200,
        );
      const sync = await admin.post('/neutrino/v1/hosts/scope-host/sync', undefined);
      assert.equal(sync.status, 200, JSON.stringify(sync.body));
      const mine = sync.body.snapshot.routers.find((r: { id: string }) => r.id === router.id);
      assert.equal(mine.gateway.addresses[0].address_scope_id, scope.id);
      const bySubnet = new Map(
        mine.interfaces
          .flatMap((i: { addresses: { subnet_id: string }[] }) => i.addresses)
          .map((a: { subnet_id: string }) => [a.subnet_id, a]),
      );
      assert.equal((bySubnet.get(inside.id) as { address_scope_id?: string }).address_scope_id, scope.id);
      assert.equal((bySubnet.get(plain.id) as { address_scope_id?: string }).address_scope_id, undefined);
    });

    it('advertises the extensions', async () => {
      const aliases = (await admin.get('/v2.0/extensions')).body.extensions.map(
        (e: { alias: string }) => e.alias,
      );
      for (const alias of [
        'subnet_allocation',
        'address-scope',
        'default-subnetpools',
        'subnetpool-prefix-ops',
        'rbac-subnetpool',
        'rbac-address-scope',
      ])
        assert.ok(aliases.includes(alias), alias);
    });
  });
}
