/**
 * Address groups (`address-group`, `security-groups-remote-address-group`): create with CIDRs
 * stored as `network/prefix`, Neutron's validation message for an address without a prefix,
 * `add_addresses` / `remove_addresses` with their errors, visibility (another project's group is
 * 404), rules naming a group as their remote, a group in use refused on delete, no tags, and the
 * host snapshot carrying the group's CIDRs to the agents of hosts whose ports use such a rule.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { normaliseAddress } from '../../src/core/address-groups.js';
import { client, dialects, startTestServer, type TestServer } from '../helpers/server.js';

describe('normaliseAddress', () => {
  it('clears host bits and refuses an address without a prefix, as Neutron words it', () => {
    assert.equal(normaliseAddress('10.1.2.3/24'), '10.1.2.0/24');
    assert.equal(normaliseAddress('2001:db8::1/64'), '2001:db8::/64');
    assert.throws(
      () => normaliseAddress('10.0.0.1'),
      /'10.0.0.1' isn't a recognized IP subnet cidr, '10.0.0.1\/32' is recommended/,
    );
    assert.throws(() => normaliseAddress('nonsense'), /'nonsense' is not a valid IP subnet/);
  });
});

for (const dialect of dialects()) {
  describe(`address groups (${dialect})`, () => {
    let t: TestServer;
    let admin: ReturnType<typeof client>;
    before(async () => {
      t = await startTestServer(dialect);
      admin = client(t, t.adminToken);
    });
    after(() => t.close());

    const errorOf = (r: { body: { NeutronError: { type: string; message: string } } }) => r.body.NeutronError;

    it('creates with normalised addresses, shows, updates and lists (openstack address group create)', async () => {
      const r = await admin.post('/v2.0/address-groups', {
        address_group: {
          name: 'ag1',
          description: 'd',
          addresses: ['10.0.0.5/24', '192.0.2.7/32', '10.0.0.0/24'],
        },
      });
      assert.equal(r.status, 201, JSON.stringify(r.body));
      const ag = r.body.address_group;
      assert.deepEqual(ag.addresses, ['10.0.0.0/24', '192.0.2.7/32']);
      assert.equal(ag.name, 'ag1');
      assert.equal(ag.project_id, ag.tenant_id);
      assert.equal(ag.revision_number, 0);
      assert.equal(ag.tags, undefined, 'address groups take no tags in Neutron');
      const shown = await admin.get(`/v2.0/address-groups/${ag.id}`);
      assert.deepEqual(shown.body.address_group, ag);
      const renamed = await admin.put(`/v2.0/address-groups/${ag.id}`, { address_group: { name: 'ag1b' } });
      assert.equal(renamed.body.address_group.name, 'ag1b');
      const refused = await admin.put(`/v2.0/address-groups/${ag.id}`, { address_group: { addresses: [] } });
      assert.equal(refused.status, 400, 'addresses change only through the actions');
      const listed = await admin.get('/v2.0/address-groups?name=ag1b');
      assert.deepEqual(
        listed.body.address_groups.map((g: { id: string }) => g.id),
        [ag.id],
      );
      assert.equal((await admin.put(`/v2.0/address-groups/${ag.id}/tags/blue`, undefined)).status, 404);
      const empty = await admin.post('/v2.0/address-groups', { address_group: { name: 'none' } });
      assert.deepEqual(empty.body.address_group.addresses, []);
    });

    it('refuses an address without a prefix with Neutron’s message, making nothing', async () => {
      const r = await admin.post('/v2.0/address-groups', {
        address_group: { name: 'bad', addresses: ['10.0.0.1'] },
      });
      assert.equal(r.status, 400);
      assert.equal(
        errorOf(r).message,
        "Invalid input for addresses. Reason: '10.0.0.1' isn't a recognized IP subnet cidr, '10.0.0.1/32' is recommended.",
      );
      const listed = await admin.get('/v2.0/address-groups?name=bad');
      assert.deepEqual(listed.body.address_groups, []);
    });

    it('adds and removes addresses, refusing ones already there or missing', async () => {
      const ag = (
        await admin.post('/v2.0/address-groups', {
          address_group: { name: 'ops', addresses: ['10.1.0.0/16'] },
        })
      ).body.address_group;
      const added = await admin.put(`/v2.0/address-groups/${ag.id}/add_addresses`, {
        addresses: ['10.2.0.9/16', '2001:db8::/64'],
      });
      assert.equal(added.status, 200, JSON.stringify(added.body));
      assert.deepEqual(added.body.address_group.addresses, ['10.1.0.0/16', '10.2.0.0/16', '2001:db8::/64']);
      assert.equal(added.body.address_group.revision_number, 1);
      const again = await admin.put(`/v2.0/address-groups/${ag.id}/add_addresses`, {
        addresses: ['10.1.0.0/16'],
      });
      assert.equal(again.status, 400);
      assert.equal(errorOf(again).type, 'AddressesAlreadyExist');
      assert.equal(
        errorOf(again).message,
        `Addresses ['10.1.0.0/16'] already exist in the address group ${ag.id}.`,
      );
      const removed = await admin.put(`/v2.0/address-groups/${ag.id}/remove_addresses`, {
        addresses: ['10.1.0.0/16'],
      });
      assert.deepEqual(removed.body.address_group.addresses, ['10.2.0.0/16', '2001:db8::/64']);
      const missing = await admin.put(`/v2.0/address-groups/${ag.id}/remove_addresses`, {
        addresses: ['10.9.0.0/16'],
      });
      assert.equal(missing.status, 404);
      assert.equal(errorOf(missing).type, 'AddressesNotFound');
      assert.equal(
        errorOf(missing).message,
        `Addresses ['10.9.0.0/16'] not found in the address group ${ag.id}.`,
      );
      const unknown = await admin.put(
        '/v2.0/address-groups/00000000-0000-0000-0000-000000000000/add_addresses',
        {
          addresses: ['10.9.0.0/16'],
        },
      );
      assert.equal(unknown.status, 404);
      assert.equal(errorOf(unknown).type, 'AddressGroupNotFound');
    });

    it('hides another project’s group (404) from members, in lists and in rules', async () => {
      const a = await t.newProjectUser();
      const b = await t.newProjectUser();
      const ca = client(t, a.token);
      const cb = client(t, b.token);
      const ag = (await ca.post('/v2.0/address-groups', { address_group: { name: 'mine', addresses: [] } }))
        .body.address_group;
      assert.equal(ag.project_id, a.projectId);
      assert.equal((await cb.get(`/v2.0/address-groups/${ag.id}`)).status, 404);
      assert.deepEqual((await cb.get('/v2.0/address-groups')).body.address_groups, []);
      const put = await cb.put(`/v2.0/address-groups/${ag.id}/add_addresses`, { addresses: ['10.0.0.0/8'] });
      assert.equal(put.status, 404);
      assert.equal((await cb.del(`/v2.0/address-groups/${ag.id}`)).status, 404);
      const group = (await cb.post('/v2.0/security-groups', { security_group: { name: 'g' } })).body
        .security_group;
      const rule = await cb.post('/v2.0/security-group-rules', {
        security_group_rule: {
          security_group_id: group.id,
          direction: 'ingress',
          remote_address_group_id: ag.id,
        },
      });
      assert.equal(rule.status, 404);
      assert.equal(errorOf(rule).type, 'AddressGroupNotFound');
    });

    it('names a group as a rule’s remote, refuses deleting it while used, and snapshots its CIDRs', async () => {
      const ag = (
        await admin.post('/v2.0/address-groups', {
          address_group: { name: 'remote', addresses: ['198.51.100.0/25'] },
        })
      ).body.address_group;
      const group = (await admin.post('/v2.0/security-groups', { security_group: { name: 'uses-ag' } })).body
        .security_group;
      const both = await admin.post('/v2.0/security-group-rules', {
        security_group_rule: {
          security_group_id: group.id,
          direction: 'ingress',
          remote_address_group_id: ag.id,
          remote_ip_prefix: '10.0.0.0/8',
        },
      });
      assert.equal(both.status, 400, 'one remote only');
      const made = await admin.post('/v2.0/security-group-rules', {
        security_group_rule: {
          security_group_id: group.id,
          direction: 'ingress',
          protocol: 'tcp',
          port_range_min: 22,
          port_range_max: 22,
          remote_address_group_id: ag.id,
        },
      });
      assert.equal(made.status, 201, JSON.stringify(made.body));
      assert.equal(made.body.security_group_rule.remote_address_group_id, ag.id);
      const inUse = await admin.del(`/v2.0/address-groups/${ag.id}`);
      assert.equal(inUse.status, 409);
      assert.equal(errorOf(inUse).type, 'AddressGroupInUse');
      assert.equal(
        errorOf(inUse).message,
        `Address group ${ag.id} is in use on one or more security group rules.`,
      );

      // A port of the group bound to a host: its snapshot carries the rule and the group's CIDRs.
      const net = (await admin.post('/v2.0/networks', { network: { name: 'ag-net' } })).body.network;
      await admin.post('/v2.0/subnets', {
        subnet: { network_id: net.id, ip_version: 4, cidr: '10.77.0.0/24' },
      });
      await admin.post('/v2.0/ports', {
        port: { network_id: net.id, security_groups: [group.id], 'binding:host_id': 'ag-host' },
      });
      const snapshot = async () =>
        (await admin.post('/neutrino/v1/hosts/ag-host/sync', undefined)).body.snapshot as {
          security_groups: { id: string; rules: { remote_address_group_id: string | null }[] }[];
          address_groups: Record<string, string[]>;
        };
      const before = await snapshot();
      const rules = before.security_groups.find((g) => g.id === group.id)!.rules;
      assert.ok(rules.some((r) => r.remote_address_group_id === ag.id));
      assert.deepEqual(before.address_groups, { [ag.id]: ['198.51.100.0/25'] });
      await admin.put(`/v2.0/address-groups/${ag.id}/add_addresses`, { addresses: ['198.51.100.128/25'] });
      assert.deepEqual((await snapshot()).address_groups, {
        [ag.id]: ['198.51.100.0/25', '198.51.100.128/25'],
      });

      await admin.del(`/v2.0/security-group-rules/${made.body.security_group_rule.id}`);
      assert.equal((await admin.del(`/v2.0/address-groups/${ag.id}`)).status, 204);
      assert.equal((await admin.get(`/v2.0/address-groups/${ag.id}`)).status, 404);
    });

    it('advertises address-group and security-groups-remote-address-group', async () => {
      const aliases = (await admin.get('/v2.0/extensions')).body.extensions.map(
        (e: { alias: string }) => e.alias,
      );
      assert.ok(aliases.includes('address-group'));
      assert.ok(aliases.includes('security-groups-remote-address-group'));
    });
  });
}
