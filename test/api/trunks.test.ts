/**
 * Trunks (`trunk`): refused, naming why, while no live agent can build them (this machine's
 * kernel has no 8021q, and the linuxbridge agent builds no VLAN subinterfaces yet); with an
 * agent that reports `trunk_capable`, Neutron's API and validators: a parent and VLAN subports,
 * `add_subports` / `remove_subports` / `get_subports`, and the errors of services/trunk/rules.py.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { client, dialects, startTestServer, type TestServer } from '../helpers/server.js';

for (const dialect of dialects()) {
  describe(`trunks (${dialect})`, () => {
    let t: TestServer;
    let admin: ReturnType<typeof client>;
    let netId = '';
    before(async () => {
      t = await startTestServer(dialect);
      admin = client(t, t.adminToken);
      netId = (await admin.post('/v2.0/networks', { network: { name: 'trunk-net' } })).body.network.id;
      await admin.post('/v2.0/subnets', {
        subnet: { network_id: netId, ip_version: 4, cidr: '10.66.0.0/24' },
      });
    });
    after(() => t.close());

    const port = async (body: Record<string, unknown> = {}, network = netId) => {
      const r = await admin.post('/v2.0/ports', { port: { network_id: network, ...body } });
      assert.equal(r.status, 201, JSON.stringify(r.body));
      return r.body.port.id as string;
    };
    const heartbeat = (configurations: Record<string, unknown>) =>
      admin.post('/neutrino/v1/hosts/trunk-host/heartbeat', {
        agent: { agent_type: 'Linux bridge agent', binary: 'neutrino-agent', configurations },
      });
    const error = (r: { body: { NeutronError: { type: string; message: string } } }) => r.body.NeutronError;
    const trunkCount = async () => (await admin.get('/v2.0/trunks')).body.trunks.length;

    it('refuses a trunk while no agent can build one, saying why, and makes nothing', async () => {
      const parent = await port();
      const none = await admin.post('/v2.0/trunks', { trunk: { port_id: parent } });
      assert.equal(none.status, 409);
      assert.equal(error(none).type, 'TrunkNotRealisable');
      assert.equal(
        error(none).message,
        'No host of this deployment can realise trunk ports: subports are VLAN subinterfaces in the instance, and no live agent has the 8021q module.',
      );
      await heartbeat({ vlan_capable: true });
      const vlan = await admin.post('/v2.0/trunks', { trunk: { port_id: parent } });
      assert.equal(vlan.status, 409);
      assert.match(error(vlan).message, /no live agent reports trunk support/);
      assert.equal(await trunkCount(), 0);
      const aliases = (await admin.get('/v2.0/extensions')).body.extensions.map(
        (e: { alias: string }) => e.alias,
      );
      assert.ok(aliases.includes('trunk'));
    });

    it('creates, shows and changes a trunk and its subports as Neutron does', async () => {
      await heartbeat({ vlan_capable: true, trunk_capable: true });
      const [parent, a, b] = [await port(), await port(), await port()];
      const r = await admin.post('/v2.0/trunks', {
        trunk: {
          name: 't1',
          port_id: parent,
          sub_ports: [{ port_id: a, segmentation_type: 'vlan', segmentation_id: 100 }],
        },
      });
      assert.equal(r.status, 201, JSON.stringify(r.body));
      const trunk = r.body.trunk;
      assert.equal(trunk.status, 'DOWN');
      assert.equal(trunk.admin_state_up, true);
      assert.equal(trunk.port_id, parent);
      assert.deepEqual(trunk.sub_ports, [{ port_id: a, segmentation_type: 'vlan', segmentation_id: 100 }]);
      assert.deepEqual(trunk.tags, []);

      const added = await admin.put(`/v2.0/trunks/${trunk.id}/add_subports`, {
        sub_ports: [{ port_id: b, segmentation_type: 'vlan', segmentation_id: '101' }],
      });
      assert.equal(added.status, 200, JSON.stringify(added.body));
      assert.equal(added.body.id, trunk.id, 'the trunk itself, unwrapped');
      assert.equal(added.body.sub_ports.length, 2);
      assert.equal(added.body.revision_number, 1);
      const listed = await admin.get(`/v2.0/trunks/${trunk.id}/get_subports`);
      assert.deepEqual(
        listed.body.sub_ports.map((s: { segmentation_id: number }) => s.segmentation_id).sort(),
        [100, 101],
      );

      const duplicate = await admin.put(`/v2.0/trunks/${trunk.id}/add_subports`, {
        sub_ports: [{ port_id: await port(), segmentation_type: 'vlan', segmentation_id: 100 }],
      });
      assert.equal(duplicate.status, 409);
      assert.equal(
        error(duplicate).message,
        `segmentation_type vlan and segmentation_id 100 already in use on trunk ${trunk.id}.`,
      );
      const again = await admin.put(`/v2.0/trunks/${trunk.id}/add_subports`, {
        sub_ports: [{ port_id: a, segmentation_type: 'vlan', segmentation_id: 200 }],
      });
      assert.equal(error(again).type, 'TrunkPortInUse');
      const parentAsSub = await admin.put(`/v2.0/trunks/${trunk.id}/add_subports`, {
        sub_ports: [{ port_id: parent, segmentation_type: 'vlan', segmentation_id: 300 }],
      });
      assert.equal(error(parentAsSub).type, 'ParentPortInUse');
      const busy = await port({ device_id: 'some-vm', device_owner: 'compute:nova' });
      const inUse = await admin.put(`/v2.0/trunks/${trunk.id}/add_subports`, {
        sub_ports: [{ port_id: busy, segmentation_type: 'vlan', segmentation_id: 301 }],
      });
      assert.equal(inUse.status, 409);
      assert.equal(error(inUse).type, 'PortInUse');

      const free = await port();
      const bad = async (sub: Record<string, unknown>) =>
        error(
          await admin.put(`/v2.0/trunks/${trunk.id}/add_subports`, {
            sub_ports: [{ port_id: free, ...sub }],
          }),
        ).message;
      assert.equal(
        await bad({ segmentation_type: 'vlan', segmentation_id: 5000 }),
        "Invalid input for operation: Segmentation ID '5000' is not in range.",
      );
      assert.equal(
        await bad({ segmentation_type: 'gre', segmentation_id: 5 }),
        "Invalid input for operation: Unknown segmentation_type 'gre'.",
      );
      assert.match(await bad({ segmentation_type: 'vlan' }), /missing segmentation information/);
      assert.equal(
        await bad({ segmentation_type: 'inherit' }),
        "Invalid input for operation: Invalid subport details: segmentation_id 'None' is not an integer.",
        'inherit takes the network’s own: a local network has none',
      );
      assert.equal(
        (await admin.get(`/v2.0/trunks/${trunk.id}`)).body.trunk.sub_ports.length,
        2,
        'nothing added',
      );

      const second = await admin.post('/v2.0/trunks', { trunk: { port_id: parent } });
      assert.equal(error(second).type, 'ParentPortInUse');
      const subDelete = await admin.del(`/v2.0/ports/${a}`);
      assert.equal(subDelete.status, 409);
      assert.equal(error(subDelete).message, `Port ${a} is currently a subport for trunk ${trunk.id}.`);
      const parentDelete = await admin.del(`/v2.0/ports/${parent}`);
      assert.equal(
        error(parentDelete).message,
        `Port ${parent} is currently a parent port for trunk ${trunk.id}.`,
      );

      const removed = await admin.put(`/v2.0/trunks/${trunk.id}/remove_subports`, {
        sub_ports: [{ port_id: a }],
      });
      assert.deepEqual(
        removed.body.sub_ports.map((s: { port_id: string }) => s.port_id),
        [b],
      );
      const gone = await admin.put(`/v2.0/trunks/${trunk.id}/remove_subports`, {
        sub_ports: [{ port_id: a }],
      });
      assert.equal(gone.status, 404);
      assert.equal(error(gone).message, `SubPort ${a} on trunk ${trunk.id} could not be found.`);
      assert.equal((await admin.del(`/v2.0/ports/${a}`)).status, 204, 'a former subport is free again');

      await admin.put(`/v2.0/trunks/${trunk.id}`, { trunk: { admin_state_up: false } });
      const disabled = await admin.put(`/v2.0/trunks/${trunk.id}/add_subports`, {
        sub_ports: [{ port_id: free, segmentation_type: 'vlan', segmentation_id: 400 }],
      });
      assert.equal(error(disabled).message, `Trunk ${trunk.id} is currently disabled.`);
      assert.equal((await admin.del(`/v2.0/trunks/${trunk.id}`)).status, 409);
      await admin.put(`/v2.0/trunks/${trunk.id}`, { trunk: { admin_state_up: true } });
      assert.equal((await admin.del(`/v2.0/trunks/${trunk.id}`)).status, 204);
      assert.equal((await admin.del(`/v2.0/ports/${parent}`)).status, 204, 'the parent is free again');
    });

    it('keeps other projects’ trunks out of sight (404) and checks subport MTUs', async () => {
      await heartbeat({ vlan_capable: true, trunk_capable: true });
      const member = client(t, (await t.newProjectUser()).token);
      const parent = await port();
      const trunk = (await admin.post('/v2.0/trunks', { trunk: { port_id: parent } })).body.trunk;
      assert.equal((await member.get(`/v2.0/trunks/${trunk.id}`)).status, 404);
      assert.deepEqual((await member.get('/v2.0/trunks')).body.trunks, []);

      const small = (await admin.post('/v2.0/networks', { network: { name: 'small', mtu: 1400 } })).body
        .network;
      await admin.post('/v2.0/subnets', {
        subnet: { network_id: small.id, ip_version: 4, cidr: '10.67.0.0/24' },
      });
      const bigSub = await port();
      const smallParent = await port({}, small.id);
      const mtu = await admin.post('/v2.0/trunks', {
        trunk: {
          port_id: smallParent,
          sub_ports: [{ port_id: bigSub, segmentation_type: 'vlan', segmentation_id: 7 }],
        },
      });
      assert.equal(mtu.status, 409, JSON.stringify(mtu.body));
      assert.equal(error(mtu).type, 'SubPortMtuGreaterThanTrunkPortMtu');
      assert.equal((await admin.get(`/v2.0/trunks?port_id=${smallParent}`)).body.trunks.length, 0);
    });
  });
}
