/**
 * Scheduling DHCP and routers across hosts: Neutron's agent scheduler API (a DHCP agent's networks,
 * a network's DHCP agents, an L3 agent's routers, a router's L3 agents; adding and removing them;
 * its errors; admins only), `dhcp_agents_per_network` (a DHCP port of its own per host), routers
 * to the network host with the fewest, and failover with a fake clock: the work of a host whose
 * agent is dead moves to a live network host, which takes the dead host's DHCP port (its address
 * stays), while the dead host's snapshot, when it returns, holds none of it.
 */
import assert from 'node:assert/strict';
import { after, afterEach, before, beforeEach, describe, it, mock } from 'node:test';
import type { Settings } from '../../src/core/settings.js';
import type { Snapshot } from '../../src/model/host-snapshot.js';
import { client, dialects, startTestServer, type TestServer } from '../helpers/server.js';

type Client = ReturnType<typeof client>;
interface AgentView {
  id: string;
  host: string;
  agent_type: string;
}

const errorType = (r: { body: { NeutronError?: { type: string } } }) => r.body.NeutronError?.type;

/** A server with hosts net1, net2 (network+compute) and cmp1 (compute), and helpers over them. */
function fixture(dialect: Parameters<typeof startTestServer>[0], settings: Partial<Settings> = {}) {
  const f = {
    t: undefined as unknown as TestServer,
    admin: undefined as unknown as Client,
    async start() {
      f.t = await startTestServer(dialect, { agentDownTime: 30, ...settings });
      f.admin = client(f.t, f.t.adminToken);
      for (const host of ['net1', 'net2', 'cmp1']) await f.register(host);
    },
    /** Heartbeats as `host`'s agents: every host an L2 agent, network hosts DHCP and L3 agents too. */
    async register(host: string) {
      const network = host.startsWith('net');
      const roles = network ? ['compute', 'network'] : ['compute'];
      const types = network ? ['Linux bridge agent', 'DHCP agent', 'L3 agent'] : ['Linux bridge agent'];
      for (const agent_type of types) {
        const r = await f.admin.post(`/neutrino/v1/hosts/${host}/heartbeat`, {
          agent: { agent_type, binary: 'neutrino-agent', configurations: { roles } },
        });
        assert.equal(r.status, 200, JSON.stringify(r.body));
      }
    },
    async agent(host: string, type: string): Promise<AgentView> {
      const { agents } = (await f.admin.get(`/v2.0/agents?host=${host}`)).body as { agents: AgentView[] };
      return agents.find((a) => a.agent_type === type)!;
    },
    async sync(host: string): Promise<Snapshot> {
      const r = await f.admin.post(`/neutrino/v1/hosts/${host}/sync`, undefined);
      assert.equal(r.status, 200, JSON.stringify(r.body));
      return r.body.snapshot;
    },
    async create(path: string, key: string, body: Record<string, unknown>) {
      const r = await f.admin.post(`/v2.0/${path}`, { [key]: body });
      assert.equal(r.status, 201, JSON.stringify(r.body));
      return r.body[key];
    },
    async network(name: string, cidr: string) {
      const network = await f.create('networks', 'network', { name });
      await f.create('subnets', 'subnet', { network_id: network.id, ip_version: 4, cidr });
      return network as { id: string };
    },
    async router(name: string, externalId: string) {
      return (await f.create('routers', 'router', {
        name,
        external_gateway_info: { network_id: externalId },
      })) as { id: string };
    },
    async dhcpHosts(networkId: string): Promise<string[]> {
      const r = await f.admin.get(`/v2.0/networks/${networkId}/dhcp-agents`);
      assert.equal(r.status, 200, JSON.stringify(r.body));
      return (r.body.agents as AgentView[]).map((a) => a.host).sort();
    },
    async routerHost(routerId: string): Promise<string[]> {
      const r = await f.admin.get(`/v2.0/routers/${routerId}/l3-agents`);
      assert.equal(r.status, 200, JSON.stringify(r.body));
      return (r.body.agents as AgentView[]).map((a) => a.host);
    },
    dhcpPorts: (s: Snapshot, networkId: string) =>
      s.ports.filter((p) => p.device_owner === 'network:dhcp' && p.network_id === networkId),
  };
  return f;
}

for (const dialect of dialects()) {
  describe(`agent scheduler API (${dialect})`, () => {
    const f = fixture(dialect);
    before(() => f.start());
    after(() => f.t.close());

    it('lists, adds and removes a DHCP agent of a network, with a DHCP port of its own', async () => {
      const net = await f.network('sched-a', '10.50.0.0/24');
      await f.sync('net1');
      assert.deepEqual(await f.dhcpHosts(net.id), ['net1']);
      const dhcp1 = await f.agent('net1', 'DHCP agent');
      const dhcp2 = await f.agent('net2', 'DHCP agent');
      const onAgent = await f.admin.get(`/v2.0/agents/${dhcp1.id}/dhcp-networks`);
      assert.deepEqual(
        onAgent.body.networks.map((n: { id: string; name: string }) => [n.id, n.name]),
        [[net.id, 'sched-a']],
      );

      const add = await f.admin.post(`/v2.0/agents/${dhcp2.id}/dhcp-networks`, { network_id: net.id });
      assert.equal(add.status, 201, JSON.stringify(add.body));
      assert.equal(add.body, null);
      assert.deepEqual(await f.dhcpHosts(net.id), ['net1', 'net2']);
      const again = await f.admin.post(`/v2.0/agents/${dhcp2.id}/dhcp-networks`, { network_id: net.id });
      assert.equal(again.status, 409);
      assert.equal(errorType(again), 'NetworkHostedByDHCPAgent');

      const s1 = await f.sync('net1');
      const s2 = await f.sync('net2');
      const own = (s: Snapshot, host: string) =>
        f.dhcpPorts(s, net.id).filter((p) => p.binding_host_id === host);
      assert.equal(own(s1, 'net1').length, 1);
      assert.equal(own(s2, 'net2').length, 1);
      const [a1, a2] = [own(s1, 'net1')[0], own(s2, 'net2')[0]];
      assert.notEqual(a1.id, a2.id);
      assert.notEqual(a1.fixed_ips[0].ip_address, a2.fixed_ips[0].ip_address);
      assert.equal(
        f.dhcpPorts(s2, net.id).length,
        2,
        "each DHCP host knows the other's port (its hosts file)",
      );

      const removed = await f.admin.del(`/v2.0/agents/${dhcp2.id}/dhcp-networks/${net.id}`);
      assert.equal(removed.status, 204);
      assert.deepEqual(await f.dhcpHosts(net.id), ['net1']);
      const twice = await f.admin.del(`/v2.0/agents/${dhcp2.id}/dhcp-networks/${net.id}`);
      assert.equal(twice.status, 409);
      assert.equal(errorType(twice), 'NetworkNotHostedByDhcpAgent');
      assert.deepEqual(
        f.dhcpPorts(await f.sync('net1'), net.id).map((p) => p.id),
        [a1.id],
        'the spare port went',
      );
    });

    it("answers with Neutron's errors, and to admins only", async () => {
      const net = await f.network('sched-b', '10.51.0.0/24');
      const l2 = await f.agent('net1', 'Linux bridge agent');
      const wrongType = await f.admin.post(`/v2.0/agents/${l2.id}/dhcp-networks`, { network_id: net.id });
      assert.equal(wrongType.status, 404);
      assert.equal(errorType(wrongType), 'InvalidDHCPAgent');
      const noAgent = await f.admin.get('/v2.0/agents/5b0f0bb4-4f2b-4bd0-9a36-000000000000/dhcp-networks');
      assert.equal(noAgent.status, 404);
      assert.equal(errorType(noAgent), 'AgentNotFound');
      const noNet = await f.admin.get('/v2.0/networks/5b0f0bb4-4f2b-4bd0-9a36-000000000000/dhcp-agents');
      assert.equal(noNet.status, 404);
      assert.equal(errorType(noNet), 'NetworkNotFound');
      const badBody = await f.admin.post(`/v2.0/agents/${l2.id}/dhcp-networks`, { network: net.id });
      assert.equal(badBody.status, 400);
      const l3 = await f.agent('net1', 'L3 agent');
      const member = client(f.t, (await f.t.newProjectUser()).token);
      for (const r of [
        await member.get(`/v2.0/agents/${l3.id}/l3-routers`),
        await member.get(`/v2.0/networks/${net.id}/dhcp-agents`),
        await member.post(`/v2.0/agents/${l3.id}/l3-routers`, { router_id: net.id }),
      ])
        assert.equal(r.status, 403, JSON.stringify(r.body));
      const invalidL3 = await f.admin.post(`/v2.0/agents/${l2.id}/l3-routers`, { router_id: net.id });
      assert.equal(invalidL3.status, 404);
    });

    it('puts routers on the network host with the fewest, and moves one by the API', async () => {
      const ext = await f.create('networks', 'network', { name: 'ext', 'router:external': true });
      await f.create('subnets', 'subnet', { network_id: ext.id, ip_version: 4, cidr: '198.51.100.0/24' });
      const routers = [
        await f.router('r1', ext.id),
        await f.router('r2', ext.id),
        await f.router('r3', ext.id),
      ];
      // A compute host's sync schedules them too, but never to itself.
      assert.deepEqual((await f.sync('cmp1')).routers, []);
      const hosts = await Promise.all(routers.map(async (r) => (await f.routerHost(r.id))[0]));
      const count = (h: string) => hosts.filter((x) => x === h).length;
      assert.deepEqual([count('net1'), count('net2')].sort(), [1, 2], hosts.join(','));
      const r4 = await f.router('r4', ext.id);
      await f.sync('net1');
      const [fewest] = count('net1') < count('net2') ? ['net1'] : ['net2'];
      assert.deepEqual(await f.routerHost(r4.id), [fewest], 'the fourth evens them out');

      const r = routers[0];
      const from = await f.agent(hosts[0], 'L3 agent');
      const other = hosts[0] === 'net1' ? 'net2' : 'net1';
      const to = await f.agent(other, 'L3 agent');
      const listed = await f.admin.get(`/v2.0/agents/${from.id}/l3-routers`);
      assert.ok(listed.body.routers.some((x: { id: string }) => x.id === r.id));
      const taken = await f.admin.post(`/v2.0/agents/${to.id}/l3-routers`, { router_id: r.id });
      assert.equal(taken.status, 409);
      assert.equal(errorType(taken), 'RouterHostedByL3Agent');
      assert.equal((await f.admin.del(`/v2.0/agents/${from.id}/l3-routers/${r.id}`)).status, 204);
      const gone = await f.admin.del(`/v2.0/agents/${from.id}/l3-routers/${r.id}`);
      assert.equal(gone.status, 409);
      assert.equal(errorType(gone), 'RouterNotHostedByL3Agent');
      assert.deepEqual(await f.routerHost(r.id), []);
      const add = await f.admin.post(`/v2.0/agents/${to.id}/l3-routers`, { router_id: r.id });
      assert.equal(add.status, 201, JSON.stringify(add.body));
      assert.deepEqual(await f.routerHost(r.id), [other]);
      assert.ok((await f.sync(other)).routers.some((x) => x.id === r.id));
      assert.ok(!(await f.sync(hosts[0])).routers.some((x) => x.id === r.id));
      const snapshot = await f.sync(other);
      const gateway = snapshot.routers.find((x) => x.id === r.id)!.gateway!;
      const port = (await f.admin.get(`/v2.0/ports/${gateway.port_id}`)).body.port;
      assert.equal(port['binding:host_id'], other, "the router's ports follow it");
    });

    it('advertises the scheduler extensions', async () => {
      const aliases = (await f.admin.get('/v2.0/extensions')).body.extensions.map(
        (e: { alias: string }) => e.alias,
      );
      assert.ok(aliases.includes('dhcp_agent_scheduler'));
      assert.ok(aliases.includes('l3_agent_scheduler'));
    });
  });

  describe(`dhcp_agents_per_network = 2 (${dialect})`, () => {
    const f = fixture(dialect, { dhcpAgentsPerNetwork: 2 });
    before(async () => {
      await f.start();
      await f.register('net3');
    });
    after(() => f.t.close());

    it('gives a network two DHCP hosts, each with its own port and address, and no third', async () => {
      const net = await f.network('two-dhcp', '10.52.0.0/24');
      for (const host of ['cmp1', 'net1', 'net2', 'net3']) await f.sync(host);
      assert.deepEqual(await f.dhcpHosts(net.id), ['net1', 'net2']);
      const s1 = await f.sync('net1');
      const ports = f.dhcpPorts(s1, net.id);
      assert.deepEqual(ports.map((p) => p.binding_host_id).sort(), ['net1', 'net2']);
      assert.equal(new Set(ports.map((p) => p.fixed_ips[0].ip_address)).size, 2);
      assert.deepEqual(f.dhcpPorts(await f.sync('net3'), net.id), []);
      assert.equal(
        (await f.admin.get(`/v2.0/ports?network_id=${net.id}&device_owner=network:dhcp`)).body.ports.length,
        2,
      );
    });
  });

  describe(`failover from a dead agent, with a fake clock (${dialect})`, () => {
    const f = fixture(dialect);
    before(() => f.start());
    after(() => f.t.close());
    beforeEach(() => mock.timers.enable({ apis: ['Date'], now: Date.now() }));
    afterEach(() => mock.timers.reset());

    /** Lets `seconds` pass, with every host but `dead` heartbeating. */
    const pass = async (seconds: number, dead: string[]) => {
      mock.timers.tick(seconds * 1000);
      for (const host of ['net1', 'net2', 'cmp1']) if (!dead.includes(host)) await f.register(host);
    };

    it('moves DHCP and the router of a dead network host to the live one; the old host then drops them', async () => {
      const ext = await f.create('networks', 'network', { name: 'ext', 'router:external': true });
      await f.create('subnets', 'subnet', {
        network_id: ext.id,
        ip_version: 4,
        cidr: '198.51.100.0/24',
        enable_dhcp: false,
      });
      const net = await f.network('fo', '10.60.0.0/24');
      const router = await f.router('fo-r', ext.id);
      const subnetId = (await f.admin.get(`/v2.0/subnets?network_id=${net.id}`)).body.subnets[0].id;
      const iface = await f.admin.put(`/v2.0/routers/${router.id}/add_router_interface`, {
        subnet_id: subnetId,
      });
      assert.equal(iface.status, 200, JSON.stringify(iface.body));
      await f.admin.post(`/v2.0/agents/${(await f.agent('net2', 'L3 agent')).id}/l3-routers`, {
        router_id: router.id,
      });
      await f.sync('net1');
      await f.sync('net2');
      // Whichever host holds them, the other is to take over.
      const [holder] = await f.dhcpHosts(net.id);
      const other = holder === 'net1' ? 'net2' : 'net1';
      if ((await f.routerHost(router.id))[0] !== holder) {
        const from = await f.agent(other, 'L3 agent');
        await f.admin.del(`/v2.0/agents/${from.id}/l3-routers/${router.id}`);
        await f.admin.post(`/v2.0/agents/${(await f.agent(holder, 'L3 agent')).id}/l3-routers`, {
          router_id: router.id,
        });
      }
      const [dhcpPort] = f.dhcpPorts(await f.sync(holder), net.id);
      const revision = async () => (await f.t.store.latestRevision()) as number;

      await pass(20, [holder]);
      assert.deepEqual(await f.t.server.services.scheduler.rescheduleFromDeadAgents(), {
        networks: [],
        routers: [],
      });
      await pass(11, [holder]);
      const before = await revision();
      const moved = await f.t.server.services.scheduler.rescheduleFromDeadAgents();
      assert.deepEqual(moved.networks, [{ network_id: net.id, from: holder, to: other }]);
      assert.deepEqual(moved.routers, [{ router_id: router.id, from: holder, to: other }]);
      assert.ok((await revision()) > before, 'the agents are woken');
      assert.deepEqual(await f.dhcpHosts(net.id), [other]);
      assert.deepEqual(await f.routerHost(router.id), [other]);

      const taking = await f.sync(other);
      const [taken] = f.dhcpPorts(taking, net.id);
      assert.equal(taken.id, dhcpPort.id, "the dead host's DHCP port is taken over");
      assert.deepEqual(taken.fixed_ips, dhcpPort.fixed_ips, 'with its address');
      assert.equal(taken.binding_host_id, other);
      assert.deepEqual(
        taking.routers.map((r) => r.id),
        [router.id],
      );

      // The old host comes back: nothing of it is its own any more.
      await f.register(holder);
      const back = await f.sync(holder);
      assert.deepEqual(back.routers, []);
      assert.deepEqual(f.dhcpPorts(back, net.id), []);
      assert.ok(!back.networks.some((n) => n.id === net.id));
      assert.deepEqual(await f.dhcpHosts(net.id), [other], 'it does not take the network back');
    });

    it('leaves the work where it is while no live network host could take it', async () => {
      const net = await f.network('fo-none', '10.61.0.0/24');
      await f.sync('net1');
      const [holder] = await f.dhcpHosts(net.id);
      // (The previous test's heartbeats are 31 s ahead of this clock.)
      await pass(80, ['net1', 'net2']);
      const moved = await f.t.server.services.scheduler.rescheduleFromDeadAgents();
      assert.deepEqual(moved, { networks: [], routers: [] });
      assert.deepEqual(await f.dhcpHosts(net.id), [holder]);
    });
  });
}
