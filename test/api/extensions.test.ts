import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { client, dialects, startTestServer, type TestServer } from '../helpers/server.js';

for (const dialect of dialects()) {
  describe(`extensions (${dialect})`, () => {
    let t: TestServer;
    let admin: ReturnType<typeof client>;
    before(async () => {
      t = await startTestServer(dialect);
      admin = client(t, t.adminToken);
    });
    after(() => t.close());

    it('lists the implemented extensions in Neutron’s format', async () => {
      const r = await admin.get('/v2.0/extensions');
      assert.equal(r.status, 200);
      const aliases = r.body.extensions.map((e: { alias: string }) => e.alias);
      assert.equal(new Set(aliases).size, aliases.length);
      for (const alias of [
        'quotas',
        'quota_details',
        'rbac-policies',
        'network-ip-availability',
        'security-group',
        'external-net',
      ]) {
        assert.ok(aliases.includes(alias), alias);
      }
      for (const e of r.body.extensions) {
        assert.deepEqual(Object.keys(e).sort(), ['alias', 'description', 'links', 'name', 'updated']);
        assert.deepEqual(e.links, []);
      }
    });

    it('advertises what works exactly as Neutron 21 names it, and not what does not', async () => {
      // As a real Neutron 21 answers them.
      const neutron = [
        {
          name: 'Subnet service types',
          alias: 'subnet-service-types',
          description: 'Provides ability to set the subnet service_types field',
          updated: '2016-03-15T18:00:00-00:00',
          links: [],
        },
        {
          name: 'Normalized CIDR field for security group rules',
          alias: 'security-groups-normalized-cidr',
          description: 'Add new field with normalized remote_ip_prefix cidr in SG rule',
          updated: '2020-07-28T10:00:00-00:00',
          links: [],
        },
      ];
      const ours = (await admin.get('/v2.0/extensions')).body.extensions as { alias: string }[];
      for (const e of neutron)
        assert.deepEqual(
          ours.find((x) => x.alias === e.alias),
          e,
          e.alias,
        );
      // dns-integration lacks dns_domain on networks and DNS on floating IPs; the availability
      // zone API and router hints are not built.
      for (const alias of ['dns-integration', 'availability_zone', 'router_availability_zone']) {
        assert.ok(!ours.some((x) => x.alias === alias), alias);
      }
    });

    it('shows one by alias and answers 404 for the rest (port create probes tag-ports-during-bulk-creation)', async () => {
      const r = await admin.get('/v2.0/extensions/quotas');
      assert.equal(r.status, 200);
      assert.deepEqual(r.body.extension, {
        name: 'Quota management support',
        alias: 'quotas',
        description: 'Expose functions for quotas management per project',
        updated: '2012-07-29T10:00:00-00:00',
        links: [],
      });
      const missing = await admin.get('/v2.0/extensions/tag-ports-during-bulk-creation');
      assert.equal(missing.status, 404);
      assert.equal(missing.body.NeutronError.type, 'ExtensionNotFound');
    });

    it('needs a token', async () => {
      assert.equal((await t.request('GET', '/v2.0/extensions')).status, 401);
    });
  });
}
