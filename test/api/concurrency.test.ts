import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { client, dialects, startTestServer, type TestServer } from '../helpers/server.js';

for (const dialect of dialects()) {
  describe(`concurrent port creation (${dialect})`, () => {
    let t: TestServer;
    before(async () => {
      t = await startTestServer(dialect);
    });
    after(() => t.close());

    it('hands out each address of a /26 once: 61 ports succeed, the rest get IpAddressGenerationFailure', async () => {
      const admin = client(t, t.adminToken);
      const net = (await admin.post('/v2.0/networks', { network: { name: 'race' } })).body.network;
      const sub = await admin.post('/v2.0/subnets', {
        subnet: { network_id: net.id, ip_version: 4, cidr: '10.64.0.0/26' },
      });
      assert.equal(sub.status, 201);

      const results = await Promise.all(
        Array.from({ length: 64 }, (_, i) =>
          admin.post('/v2.0/ports', { port: { network_id: net.id, name: `p${i}` } }),
        ),
      );
      const created = results.filter((r) => r.status === 201);
      const refused = results.filter((r) => r.status !== 201);
      assert.equal(created.length, 61, JSON.stringify(refused.map((r) => r.body)));
      for (const r of refused) {
        assert.equal(r.status, 409);
        assert.equal(r.body.NeutronError.type, 'IpAddressGenerationFailure');
      }
      const addresses = created.map((r) => r.body.port.fixed_ips[0].ip_address);
      assert.equal(new Set(addresses).size, 61);
      const macs = created.map((r) => r.body.port.mac_address);
      assert.equal(new Set(macs).size, 61);
      const rows = await t.store.db
        .selectFrom('ip_allocations')
        .selectAll()
        .where('network_id', '=', net.id)
        .execute();
      assert.equal(rows.length, 61);
      const groups = await t.store.db
        .selectFrom('default_security_groups')
        .selectAll()
        .where('project_id', '=', t.adminProjectId)
        .execute();
      assert.equal(groups.length, 1, 'one default group despite 64 concurrent first uses');
    });
  });
}
