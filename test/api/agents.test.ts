/**
 * Agents: registration and refresh by heartbeat, `alive` against the down time, and Neutron's
 * agents API (list with filters and fields, show, update, delete), admins only.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { client, dialects, startTestServer, type TestServer } from '../helpers/server.js';

type Client = ReturnType<typeof client>;
const TIMESTAMP = /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/;

for (const dialect of dialects()) {
  describe(`agents (${dialect})`, () => {
    let t: TestServer;
    let admin: Client;
    before(async () => {
      t = await startTestServer(dialect, { agentDownTime: 75 });
      admin = client(t, t.adminToken);
    });
    after(() => t.close());

    const errorType = (r: { body: { NeutronError?: { type: string } } }) => r.body.NeutronError?.type;
    const heartbeat = (host: string, agent: Record<string, unknown>, c: Client = admin) =>
      c.post(`/neutrino/v1/hosts/${host}/heartbeat`, { agent: { binary: 'neutrino-agent', ...agent } });
    /** Moves an agent's last heartbeat `seconds` into the past. */
    const age = (id: string, seconds: number) =>
      t.store.db
        .updateTable('agents')
        .set({ heartbeat_timestamp: new Date(Date.now() - seconds * 1000).toISOString() })
        .where('id', '=', id)
        .execute();

    it('registers on the first heartbeat and refreshes on the next', async () => {
      const first = await heartbeat('compute-1', {
        agent_type: 'Linux bridge agent',
        configurations: { interface_mappings: { physnet1: 'eth1' } },
        start_flag: true,
      });
      assert.equal(first.status, 200);
      const a = first.body.agent;
      assert.deepEqual(Object.keys(a).sort(), [
        'admin_state_up',
        'agent_type',
        'alive',
        'availability_zone',
        'binary',
        'configurations',
        'created_at',
        'description',
        'heartbeat_timestamp',
        'host',
        'id',
        'resources_synced',
        'started_at',
        'topic',
      ]);
      assert.equal(a.host, 'compute-1');
      assert.equal(a.agent_type, 'Linux bridge agent');
      assert.equal(a.binary, 'neutrino-agent');
      assert.equal(a.topic, 'N/A');
      assert.equal(a.admin_state_up, true);
      assert.equal(a.alive, true);
      assert.equal(a.availability_zone, null);
      assert.equal(a.description, null);
      assert.equal(a.resources_synced, null);
      assert.deepEqual(a.configurations, { interface_mappings: { physnet1: 'eth1' } });
      for (const key of ['created_at', 'started_at', 'heartbeat_timestamp']) assert.match(a[key], TIMESTAMP);

      const dhcp = (await heartbeat('compute-1', { agent_type: 'DHCP agent' })).body.agent;
      assert.notEqual(dhcp.id, a.id, 'one row per host and agent type');
      assert.equal(dhcp.topic, 'dhcp_agent');
      assert.equal(dhcp.availability_zone, 'nova');

      await age(a.id, 3600);
      const again = await heartbeat('compute-1', { agent_type: 'Linux bridge agent', configurations: {} });
      assert.equal(again.body.agent.id, a.id);
      assert.equal(again.body.agent.created_at, a.created_at);
      assert.equal(again.body.agent.started_at, a.started_at, 'no start_flag: same start');
      assert.equal(again.body.agent.alive, true);
      assert.ok(again.body.agent.heartbeat_timestamp >= a.heartbeat_timestamp);
      assert.deepEqual(again.body.agent.configurations, {});
      const rows = await t.store.db
        .selectFrom('agents')
        .selectAll()
        .where('host', '=', 'compute-1')
        .execute();
      assert.equal(rows.length, 2);
    });

    it('writes no revisions: heartbeats must not wake the agents', async () => {
      const before = await t.store.latestRevision();
      await heartbeat('quiet', { agent_type: 'Linux bridge agent' });
      await heartbeat('quiet', { agent_type: 'Linux bridge agent' });
      assert.equal(await t.store.latestRevision(), before);
    });

    it('turns dead after the down time without a heartbeat', async () => {
      const a = (await heartbeat('compute-2', { agent_type: 'Linux bridge agent' })).body.agent;
      await age(a.id, 60);
      assert.equal((await admin.get(`/v2.0/agents/${a.id}`)).body.agent.alive, true);
      await age(a.id, 80);
      assert.equal((await admin.get(`/v2.0/agents/${a.id}`)).body.agent.alive, false);
      const dead = await admin.get('/v2.0/agents?alive=false&fields=id&fields=alive');
      assert.ok(dead.body.agents.some((x: { id: string }) => x.id === a.id));
      assert.deepEqual(Object.keys(dead.body.agents[0]).sort(), ['alive', 'id']);
      await heartbeat('compute-2', { agent_type: 'Linux bridge agent' });
      assert.equal((await admin.get(`/v2.0/agents/${a.id}`)).body.agent.alive, true);
    });

    it('lists with filters, shows, updates and deletes (openstack network agent …)', async () => {
      const a = (await heartbeat('compute-3', { agent_type: 'DHCP agent' })).body.agent;
      const list = await admin.get('/v2.0/agents?host=compute-3');
      assert.equal(list.status, 200);
      assert.deepEqual(
        list.body.agents.map((x: { id: string }) => x.id),
        [a.id],
      );
      const byType = await admin.get('/v2.0/agents?agent_type=DHCP%20agent&host=compute-3');
      assert.equal(byType.body.agents.length, 1);
      assert.equal((await admin.get('/v2.0/agents?bogus=1')).status, 400);

      const updated = await admin.put(`/v2.0/agents/${a.id}`, {
        agent: { admin_state_up: false, description: 'draining' },
      });
      assert.equal(updated.status, 200);
      assert.equal(updated.body.agent.admin_state_up, false);
      assert.equal(updated.body.agent.description, 'draining');
      const beat = (await heartbeat('compute-3', { agent_type: 'DHCP agent' })).body.agent;
      assert.equal(beat.admin_state_up, false, 'heartbeats keep what the admin set');
      assert.equal(beat.description, 'draining');
      const bad = await admin.put(`/v2.0/agents/${a.id}`, { agent: { host: 'elsewhere' } });
      assert.equal(bad.status, 400);

      assert.equal((await admin.del(`/v2.0/agents/${a.id}`)).status, 204);
      const gone = await admin.get(`/v2.0/agents/${a.id}`);
      assert.equal(gone.status, 404);
      assert.equal(errorType(gone), 'AgentNotFound');
      assert.equal(errorType(await admin.del(`/v2.0/agents/${a.id}`)), 'AgentNotFound');
      assert.equal(
        errorType(await admin.put(`/v2.0/agents/${a.id}`, { agent: { description: 'x' } })),
        'AgentNotFound',
      );
    });

    it('is for admins only: a member lists none and finds none (as Neutron’s policy filters), agents’ calls refused', async () => {
      const a = (await heartbeat('compute-4', { agent_type: 'Linux bridge agent' })).body.agent;
      const member = client(t, (await t.newProjectUser()).token);
      const list = await member.get('/v2.0/agents');
      assert.equal(list.status, 200);
      assert.deepEqual(list.body, { agents: [] });
      assert.deepEqual((await member.get('/v2.0/agents?agent_type=Linux bridge agent')).body, { agents: [] });
      const hidden = { type: 'HTTPNotFound', message: 'The resource could not be found.', detail: '' };
      const shown = await member.get(`/v2.0/agents/${a.id}`);
      assert.equal(shown.status, 404);
      assert.deepEqual(
        shown.body,
        hidden,
        'a GET gets the fields unwrapped, as Neutron’s policy hook writes them',
      );
      for (const r of [
        await member.put(`/v2.0/agents/${a.id}`, { agent: { description: 'x' } }),
        await member.del(`/v2.0/agents/${a.id}`),
      ]) {
        assert.equal(r.status, 404);
        assert.deepEqual(r.body, { NeutronError: hidden });
      }
      assert.equal((await admin.get(`/v2.0/agents/${a.id}`)).body.agent.description, null, 'nothing changed');
      for (const r of [
        await heartbeat('compute-4', { agent_type: 'Linux bridge agent' }, member),
        await member.post('/neutrino/v1/hosts/compute-4/sync', undefined),
        await member.post('/neutrino/v1/hosts/compute-4/status', { revision: 0, ports: {} }),
      ]) {
        assert.equal(r.status, 403);
        assert.equal(errorType(r), 'PolicyNotAuthorized');
      }
      assert.equal((await t.request('GET', '/v2.0/agents')).status, 401);
    });

    it('validates host names and heartbeat bodies', async () => {
      assert.equal((await heartbeat('bad%20host', { agent_type: 'Linux bridge agent' })).status, 400);
      assert.equal((await heartbeat('-x', { agent_type: 'Linux bridge agent' })).status, 400);
      const unknown = await heartbeat('h', { agent_type: 'Linux bridge agent', colour: 'blue' });
      assert.equal(unknown.status, 400);
      assert.match(unknown.body.NeutronError.message, /colour/);
      assert.equal((await admin.post('/neutrino/v1/hosts/h/heartbeat', {})).status, 400);
    });

    it('advertises the agent extension', async () => {
      const r = await admin.get('/v2.0/extensions/agent');
      assert.equal(r.status, 200);
      assert.equal(r.body.extension.name, 'agent');
    });
  });
}
