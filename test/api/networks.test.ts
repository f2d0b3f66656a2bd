import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { client, dialects, startTestServer, type TestServer } from '../helpers/server.js';

for (const dialect of dialects()) {
  describe(`networks (${dialect})`, () => {
    let t: TestServer;
    let admin: ReturnType<typeof client>;
    before(async () => {
      t = await startTestServer(dialect, { physicalNetworks: ['physnet1'] });
      admin = client(t, t.adminToken);
    });
    after(() => t.close());

    it('creates with Neutron defaults and both project_id and tenant_id', async () => {
      const r = await admin.post('/v2.0/networks', { network: { name: 'net1' } });
      assert.equal(r.status, 201);
      const n = r.body.network;
      assert.equal(n.name, 'net1');
      assert.equal(n.admin_state_up, true);
      assert.equal(n.shared, false);
      assert.equal(n['router:external'], false);
      assert.equal(n.port_security_enabled, true);
      assert.equal(n.status, 'ACTIVE');
      assert.equal(n.mtu, 1500);
      assert.deepEqual(n.subnets, []);
      assert.equal(n.project_id, t.adminProjectId);
      assert.equal(n.tenant_id, t.adminProjectId);
      assert.equal(n.revision_number, 0);
      assert.match(n.created_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
      assert.equal(n['provider:network_type'], 'local');
    });

    it('gives vxlan networks a VNI and MTU 1450, flat networks need a mapped physnet', async () => {
      const v = await admin.post('/v2.0/networks', {
        network: { name: 'vx', 'provider:network_type': 'vxlan' },
      });
      assert.equal(v.status, 201);
      assert.equal(v.body.network.mtu, 1450);
      assert.equal(typeof v.body.network['provider:segmentation_id'], 'number');
      const dup = await admin.post('/v2.0/networks', {
        network: {
          'provider:network_type': 'vxlan',
          'provider:segmentation_id': v.body.network['provider:segmentation_id'],
        },
      });
      assert.equal(dup.status, 400);
      const f = await admin.post('/v2.0/networks', {
        network: { 'provider:network_type': 'flat', 'provider:physical_network': 'nope' },
      });
      assert.equal(f.status, 400);
      assert.equal(f.body.NeutronError.type, 'InvalidInput');
      const ok = await admin.post('/v2.0/networks', {
        network: { 'provider:network_type': 'flat', 'provider:physical_network': 'physnet1' },
      });
      assert.equal(ok.status, 201);
      assert.equal(ok.body.network['provider:physical_network'], 'physnet1');
    });

    it('refuses vlan where the data plane cannot build it, and unknown types', async () => {
      const before = (await admin.get('/v2.0/networks')).body.networks.length;
      const r = await admin.post('/v2.0/networks', { network: { 'provider:network_type': 'vlan' } });
      assert.equal(r.status, 400);
      assert.match(r.body.NeutronError.message, /8021q/);
      const u = await admin.post('/v2.0/networks', { network: { 'provider:network_type': 'gre' } });
      assert.equal(u.status, 400);
      assert.equal((await admin.get('/v2.0/networks')).body.networks.length, before);
    });

    it('rejects unknown attributes, wrong types and malformed JSON with NeutronError 400', async () => {
      const cases: unknown[] = [
        { network: { name: 'x', bogus: 1 } },
        { network: { admin_state_up: 'maybe' } },
        { network: { name: 7 } },
        { network: { name: 'x'.repeat(256) } },
        { nets: {} },
        '{"network": ',
        '[]',
      ];
      for (const body of cases) {
        const r = await t.request('POST', '/v2.0/networks', body, {
          'x-auth-token': t.adminToken,
          'content-type': 'application/json',
        });
        assert.equal(r.status, 400, JSON.stringify(body));
        assert.ok(r.body.NeutronError, JSON.stringify(r.body));
      }
    });

    it('stores hostile names verbatim', async () => {
      const name = `a'b"c;$(rm -rf /) DROP TABLE networks;--`;
      const r = await admin.post('/v2.0/networks', { network: { name } });
      assert.equal(r.status, 201);
      const got = await admin.get(`/v2.0/networks?name=${encodeURIComponent(name)}`);
      assert.equal(got.body.networks.length, 1);
      assert.equal(got.body.networks[0].name, name);
    });

    it('answers 404 for a name in the id position (clients resolve names this way)', async () => {
      const r = await admin.get('/v2.0/networks/net1');
      assert.equal(r.status, 404);
      assert.equal(r.body.NeutronError.type, 'NetworkNotFound');
    });

    it('updates with If-Match revision checks', async () => {
      const n = (await admin.post('/v2.0/networks', { network: { name: 'rev' } })).body.network;
      const ok = await admin.put(
        `/v2.0/networks/${n.id}`,
        { network: { name: 'rev2' } },
        { 'if-match': 'revision_number=0' },
      );
      assert.equal(ok.status, 200);
      assert.equal(ok.body.network.revision_number, 1);
      assert.equal(ok.body.network.name, 'rev2');
      const stale = await admin.put(
        `/v2.0/networks/${n.id}`,
        { network: { name: 'rev3' } },
        { 'if-match': 'revision_number=0' },
      );
      assert.equal(stale.status, 412);
      assert.equal(stale.body.NeutronError.type, 'RevisionNumberConstraintFailed');
      const del = await admin.del(`/v2.0/networks/${n.id}`, { 'if-match': 'revision_number=0' });
      assert.equal(del.status, 412);
      assert.equal((await admin.get(`/v2.0/networks/${n.id}`)).status, 200);
    });

    it('bulk-creates all or nothing', async () => {
      const ok = await admin.post('/v2.0/networks', { networks: [{ name: 'b1' }, { name: 'b2' }] });
      assert.equal(ok.status, 201);
      assert.equal(ok.body.networks.length, 2);
      const count = (await admin.get('/v2.0/networks')).body.networks.length;
      const bad = await admin.post('/v2.0/networks', {
        networks: [{ name: 'b3' }, { name: 'b4', 'provider:network_type': 'vlan' }],
      });
      assert.equal(bad.status, 400);
      assert.equal((await admin.get('/v2.0/networks')).body.networks.length, count);
    });

    it('filters (OR within a key, AND across), fields, sorting and pagination links', async () => {
      for (const name of ['p1', 'p2', 'p3', 'p4', 'p5'])
        await admin.post('/v2.0/networks', { network: { name, admin_state_up: name !== 'p5' } });
      const or = await admin.get('/v2.0/networks?name=p1&name=p2');
      assert.deepEqual(or.body.networks.map((n: { name: string }) => n.name).sort(), ['p1', 'p2']);
      const and = await admin.get('/v2.0/networks?name=p5&admin_state_up=false');
      assert.equal(and.body.networks.length, 1);
      const none = await admin.get('/v2.0/networks?name=p5&admin_state_up=true');
      assert.equal(none.body.networks.length, 0);
      const fields = await admin.get('/v2.0/networks?name=p1&fields=id&fields=name');
      assert.deepEqual(Object.keys(fields.body.networks[0]).sort(), ['id', 'name']);
      const sorted = await admin.get('/v2.0/networks?name=p1&name=p2&name=p3&sort_key=name&sort_dir=desc');
      assert.deepEqual(
        sorted.body.networks.map((n: { name: string }) => n.name),
        ['p3', 'p2', 'p1'],
      );
      const bad = await admin.get('/v2.0/networks?nonsense=1');
      assert.equal(bad.status, 400);

      const seen: string[] = [];
      let url: string | undefined =
        '/v2.0/networks?name=p1&name=p2&name=p3&name=p4&name=p5&limit=2&sort_key=name';
      while (url) {
        const page = await admin.get(url);
        assert.ok(page.body.networks.length <= 2);
        seen.push(...page.body.networks.map((n: { name: string }) => n.name));
        const next = (page.body.networks_links ?? []).find((l: { rel: string }) => l.rel === 'next');
        url = next ? new URL(next.href).pathname + new URL(next.href).search : undefined;
      }
      assert.deepEqual(seen, ['p1', 'p2', 'p3', 'p4', 'p5']);
      const reversed = await admin.get(
        '/v2.0/networks?name=p1&name=p2&name=p3&name=p4&name=p5&limit=2&sort_key=name&page_reverse=true',
      );
      assert.deepEqual(
        reversed.body.networks.map((n: { name: string }) => n.name),
        ['p4', 'p5'],
      );
    });

    it('tags: add, replace, check, remove, filter', async () => {
      const n = (await admin.post('/v2.0/networks', { network: { name: 'tagged' } })).body.network;
      assert.equal((await admin.put(`/v2.0/networks/${n.id}/tags/red`)).status, 201);
      assert.equal((await admin.get(`/v2.0/networks/${n.id}/tags/red`)).status, 204);
      assert.equal((await admin.get(`/v2.0/networks/${n.id}/tags/blue`)).status, 404);
      const all = await admin.put(`/v2.0/networks/${n.id}/tags`, { tags: ['a', 'b', 'c'] });
      assert.deepEqual(all.body.tags, ['a', 'b', 'c']);
      assert.deepEqual((await admin.get(`/v2.0/networks/${n.id}`)).body.network.tags, ['a', 'b', 'c']);
      assert.equal((await admin.get('/v2.0/networks?tags=a,b')).body.networks.length, 1);
      assert.equal((await admin.get('/v2.0/networks?tags=a,zzz')).body.networks.length, 0);
      assert.equal((await admin.get('/v2.0/networks?tags-any=zzz,c')).body.networks.length, 1);
      assert.ok(
        (await admin.get('/v2.0/networks?not-tags=a')).body.networks.every(
          (x: { id: string }) => x.id !== n.id,
        ),
      );
      assert.ok(
        (await admin.get('/v2.0/networks?not-tags-any=zzz,b')).body.networks.every(
          (x: { id: string }) => x.id !== n.id,
        ),
      );
      assert.equal((await admin.del(`/v2.0/networks/${n.id}/tags/b`)).status, 204);
      assert.equal((await admin.del(`/v2.0/networks/${n.id}/tags/b`)).status, 404);
      assert.equal((await admin.del(`/v2.0/networks/${n.id}/tags`)).status, 204);
      assert.deepEqual((await admin.get(`/v2.0/networks/${n.id}/tags`)).body.tags, []);
    });

    it('hides other projects’ networks (404, not 403) and provider attributes from members', async () => {
      const a = await t.newProjectUser();
      const b = await t.newProjectUser();
      const ca = client(t, a.token);
      const cb = client(t, b.token);
      const net = (await ca.post('/v2.0/networks', { network: { name: 'private' } })).body.network;
      assert.equal(net['provider:network_type'], undefined);
      assert.equal((await cb.get(`/v2.0/networks/${net.id}`)).status, 404);
      assert.equal((await cb.put(`/v2.0/networks/${net.id}`, { network: { name: 'x' } })).status, 404);
      assert.equal((await cb.del(`/v2.0/networks/${net.id}`)).status, 404);
      assert.ok((await cb.get('/v2.0/networks')).body.networks.every((n: { id: string }) => n.id !== net.id));
      assert.equal((await ca.post('/v2.0/networks', { network: { shared: true } })).status, 403);
      assert.equal((await ca.post('/v2.0/networks', { network: { project_id: b.projectId } })).status, 403);
      const shared = (await admin.post('/v2.0/networks', { network: { name: 'pub', shared: true } })).body
        .network;
      const seen = await cb.get(`/v2.0/networks/${shared.id}`);
      assert.equal(seen.status, 200);
      assert.equal(seen.body.network.shared, true);
    });

    it('lets readers read but not write', async () => {
      const r = await t.newProjectUser('reader');
      const c = client(t, r.token);
      assert.equal((await c.get('/v2.0/networks')).status, 200);
      const w = await c.post('/v2.0/networks', { network: { name: 'nope' } });
      assert.equal(w.status, 403);
      assert.equal(w.body.NeutronError.type, 'PolicyNotAuthorized');
    });

    it('requires a valid token', async () => {
      assert.equal((await t.request('GET', '/v2.0/networks')).status, 401);
      assert.equal(
        (await t.request('GET', '/v2.0/networks', undefined, { 'x-auth-token': 'bogus' })).status,
        401,
      );
      assert.equal((await t.request('GET', '/')).status, 200);
    });

    it('enforces the network quota with OverQuota', async () => {
      const p = await t.newProjectUser();
      const c = client(t, p.token);
      assert.equal((await admin.put(`/v2.0/quotas/${p.projectId}`, { quota: { network: 1 } })).status, 200);
      assert.equal((await c.post('/v2.0/networks', { network: {} })).status, 201);
      const over = await c.post('/v2.0/networks', { network: {} });
      assert.equal(over.status, 409);
      assert.deepEqual(over.body.NeutronError, {
        type: 'OverQuota',
        message: "Quota exceeded for resources: ['network'].",
        detail: '',
      });
    });

    it('takes quota 0 as nothing allowed and -1 as unlimited, for any resource', async () => {
      const p = await t.newProjectUser();
      const c = client(t, p.token);
      const quota = (q: Record<string, number>) => admin.put(`/v2.0/quotas/${p.projectId}`, { quota: q });
      assert.equal((await quota({ network: 0, security_group: 0, port: 0 })).status, 200);
      for (const [path, body, resource] of [
        ['/v2.0/networks', { network: {} }, 'network'],
        ['/v2.0/security-groups', { security_group: { name: 'sg' } }, 'security_group'],
      ] as const) {
        const r = await c.post(path, body);
        assert.equal(r.status, 409, path);
        assert.equal(r.body.NeutronError.message, `Quota exceeded for resources: ['${resource}'].`);
      }
      assert.equal((await quota({ network: -1, security_group: -1 })).status, 200);
      assert.deepEqual((await c.get(`/v2.0/quotas/${p.projectId}`)).body.quota.network, -1);
      for (let i = 0; i < 3; i++) assert.equal((await c.post('/v2.0/networks', { network: {} })).status, 201);
      const net = (await c.post('/v2.0/networks', { network: {} })).body.network;
      const port = await c.post('/v2.0/ports', { port: { network_id: net.id } });
      assert.equal(port.status, 409);
      assert.equal(port.body.NeutronError.message, "Quota exceeded for resources: ['port'].");
      const details = (await c.get(`/v2.0/quotas/${p.projectId}/details`)).body.quota;
      assert.deepEqual(details.network, { limit: -1, used: 4, reserved: 0 });
      assert.deepEqual(details.port, { limit: 0, used: 0, reserved: 0 });
      const tooSmall = await quota({ network: -2 });
      assert.equal(tooSmall.status, 400);
    });

    it('deletes a network and answers 404 afterwards', async () => {
      const n = (await admin.post('/v2.0/networks', { network: { name: 'gone' } })).body.network;
      assert.equal((await admin.del(`/v2.0/networks/${n.id}`)).status, 204);
      assert.equal((await admin.get(`/v2.0/networks/${n.id}`)).status, 404);
      assert.equal((await admin.del(`/v2.0/networks/${n.id}`)).status, 404);
    });
  });
}

for (const dialect of dialects()) {
  describe(`external networks take the tenant network type (${dialect})`, () => {
    let t: TestServer;
    let admin: ReturnType<typeof client>;
    before(async () => {
      t = await startTestServer(dialect, { tenantNetworkType: 'vxlan', physicalNetworks: ['public'] });
      admin = client(t, t.adminToken);
    });
    after(() => t.close());

    it('router:external without provider attributes is a tenant network like any other', async () => {
      for (const name of ['ext1', 'ext2']) {
        const r = await admin.post('/v2.0/networks', { network: { name, 'router:external': true } });
        assert.equal(r.status, 201, JSON.stringify(r.body));
        assert.equal(r.body.network['router:external'], true);
        assert.equal(r.body.network['provider:network_type'], 'vxlan');
        assert.equal(r.body.network['provider:physical_network'], null);
        assert.equal(typeof r.body.network['provider:segmentation_id'], 'number');
        assert.equal(r.body.network.mtu, 1450);
      }
    });

    it('honours provider attributes when given; a second flat network on the physnet is FlatNetworkInUse', async () => {
      const flat = {
        'router:external': true,
        'provider:network_type': 'flat',
        'provider:physical_network': 'public',
      };
      const r = await admin.post('/v2.0/networks', { network: { name: 'public', ...flat } });
      assert.equal(r.status, 201, JSON.stringify(r.body));
      assert.equal(r.body.network['provider:network_type'], 'flat');
      assert.equal(r.body.network['provider:physical_network'], 'public');
      assert.equal(r.body.network['provider:segmentation_id'], null);
      assert.equal(r.body.network.mtu, 1500);
      const again = await admin.post('/v2.0/networks', { network: { name: 'public2', ...flat } });
      assert.equal(again.status, 409);
      assert.deepEqual(again.body, {
        NeutronError: {
          type: 'FlatNetworkInUse',
          message: 'Unable to create the flat network. Physical network public is in use.',
          detail: '',
        },
      });
      const noPhysnet = await admin.post('/v2.0/networks', {
        network: { 'router:external': true, 'provider:network_type': 'flat' },
      });
      assert.equal(noPhysnet.status, 400);
      assert.equal(
        noPhysnet.body.NeutronError.message,
        'Invalid input for operation: physical_network required for flat provider network.',
      );
    });
  });
}
