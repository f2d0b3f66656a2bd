/**
 * VLAN networks are allowed only where they can be built: while a live, administratively up L2
 * agent reports `vlan_capable` (its kernel has 8021q) in its heartbeat, or when the settings say
 * so (`neutrino up` sets `vlanSupported` from probing its own kernel). Otherwise the create is a 400
 * naming the missing 802.1Q (8021q) support, and nothing is created.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { client, dialects, startTestServer, type TestServer } from '../helpers/server.js';

type Client = ReturnType<typeof client>;

for (const dialect of dialects()) {
  describe(`vlan networks and the agents' 8021q support (${dialect})`, () => {
    let t: TestServer;
    let admin: Client;
    before(async () => {
      t = await startTestServer(dialect, { physicalNetworks: ['physnet1'], agentDownTime: 75 });
      admin = client(t, t.adminToken);
    });
    after(() => t.close());

    const l2Heartbeat = (host: string, configurations: Record<string, unknown>) =>
      admin.post(`/neutrino/v1/hosts/${host}/heartbeat`, {
        agent: { agent_type: 'Linux bridge agent', binary: 'neutrino-agent', configurations },
      });
    const createVlan = (name: string) =>
      admin.post('/v2.0/networks', { network: { name, 'provider:network_type': 'vlan' } });
    const networkCount = async () => (await admin.get('/v2.0/networks')).body.networks.length;

    async function expectRefused(why: string): Promise<void> {
      const before = await networkCount();
      const r = await createVlan('refused');
      assert.equal(r.status, 400, why);
      assert.equal(r.body.NeutronError.type, 'InvalidInput');
      assert.match(r.body.NeutronError.message, /802\.1Q/);
      assert.match(r.body.NeutronError.message, /8021q/);
      assert.equal(await networkCount(), before, 'nothing created');
    }

    it('refuses vlan while no agent reports 8021q support, naming what is missing', async () => {
      await expectRefused('no agents at all');
      await l2Heartbeat('no-8021q', { interface_mappings: { physnet1: 'eth1' }, vlan_capable: false });
      await expectRefused('the only agent has no 8021q');
    });

    it('allows vlan once a live L2 agent reports vlan_capable, with a VLAN id on the physnet', async () => {
      const beat = await l2Heartbeat('with-8021q', {
        interface_mappings: { physnet1: 'eth1' },
        vlan_capable: true,
      });
      assert.equal(beat.status, 200);
      const r = await createVlan('v1');
      assert.equal(r.status, 201, JSON.stringify(r.body));
      assert.equal(r.body.network['provider:network_type'], 'vlan');
      assert.equal(r.body.network['provider:physical_network'], 'physnet1');
      assert.equal(r.body.network['provider:segmentation_id'], 1);
    });

    it('refuses vlan again when that agent is dead or administratively down', async () => {
      const { agents } = (await admin.get('/v2.0/agents?host=with-8021q')).body;
      const [agent] = agents as { id: string }[];
      await t.store.db
        .updateTable('agents')
        .set({ heartbeat_timestamp: new Date(Date.now() - 80_000).toISOString() })
        .where('id', '=', agent.id)
        .execute();
      await expectRefused('the capable agent is dead');
      await l2Heartbeat('with-8021q', { vlan_capable: true });
      assert.equal((await createVlan('v2')).status, 201, 'alive again');
      await admin.put(`/v2.0/agents/${agent.id}`, { agent: { admin_state_up: false } });
      await expectRefused('the capable agent is administratively down');
    });
  });

  describe(`vlan networks with vlanSupported set, as neutrino up does on a kernel with 8021q (${dialect})`, () => {
    let t: TestServer;
    before(async () => {
      t = await startTestServer(dialect, { physicalNetworks: ['physnet1'], vlanSupported: true });
    });
    after(() => t.close());

    it('allows vlan without any agent', async () => {
      const r = await client(t, t.adminToken).post('/v2.0/networks', {
        network: { 'provider:network_type': 'vlan', 'provider:segmentation_id': 42 },
      });
      assert.equal(r.status, 201, JSON.stringify(r.body));
      assert.equal(r.body.network['provider:segmentation_id'], 42);
    });
  });
}
