/**
 * Multi-host on the server side: each host's snapshot carries, per vxlan network, the other hosts
 * with ports there and their tunnel endpoints, ports' MACs and addresses (l2population); roles keep
 * instances off network-only hosts and DHCP off compute-only hosts; a second agent claiming a live
 * host name from another tunnel endpoint is refused.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Snapshot } from '../../src/model/host-snapshot.js';
import { client, dialects, startTestServer, type TestServer } from '../helpers/server.js';

type Client = ReturnType<typeof client>;

for (const dialect of dialects()) {
  describe(`l2population and roles (${dialect})`, () => {
    let t: TestServer;
    let admin: Client;
    before(async () => {
      t = await startTestServer(dialect, { defaultHost: 'default-host' });
      admin = client(t, t.adminToken);
    });
    after(() => t.close());

    const heartbeat = (
      host: string,
      agentType: string,
      configurations: Record<string, unknown>,
      start = true,
    ) =>
      admin.post(`/neutrino/v1/hosts/${host}/heartbeat`, {
        agent: {
          agent_type: agentType,
          binary: 'neutrino-agent',
          configurations,
          ...(start ? { start_flag: true } : {}),
        },
      });
    const register = async (host: string, ip: string, roles: string[]) => {
      const l2 = await heartbeat(host, 'Linux bridge agent', {
        tunneling_ip: ip,
        l2_population: true,
        roles,
      });
      assert.equal(l2.status, 200, JSON.stringify(l2.body));
      if (roles.includes('network')) {
        for (const type of ['DHCP agent', 'L3 agent'])
          assert.equal((await heartbeat(host, type, {})).status, 200);
      }
    };
    const sync = async (host: string): Promise<Snapshot> => {
      const r = await admin.post(`/neutrino/v1/hosts/${host}/sync`, undefined);
      assert.equal(r.status, 200, JSON.stringify(r.body));
      return r.body.snapshot;
    };
    const instance = async (networkId: string, host?: string) => {
      const r = await admin.post('/neutrino/v1/instances', {
        instance: { name: 'vm', networks: [{ network_id: networkId }], ...(host ? { host } : {}) },
      });
      assert.equal(r.status, 201, JSON.stringify(r.body));
      return r.body.instance;
    };

    let net: { id: string };
    before(async () => {
      await register('mh-net', '100.64.50.11', ['compute', 'network']);
      await register('mh-c1', '100.64.50.12', ['compute']);
      await register('mh-c2', '100.64.50.13', ['compute']);
      net = (
        await admin.post('/v2.0/networks', {
          network: { name: 'mh', 'provider:network_type': 'vxlan' },
        })
      ).body.network;
      const s = await admin.post('/v2.0/subnets', {
        subnet: { network_id: net.id, ip_version: 4, cidr: '10.70.0.0/24' },
      });
      assert.equal(s.status, 201, JSON.stringify(s.body));
    });

    it('schedules DHCP only on a network host, even when a compute host syncs first', async () => {
      const c1 = await sync('mh-c1');
      assert.ok(!c1.ports.some((p) => p.device_owner === 'network:dhcp'));
      const n = await sync('mh-net');
      assert.equal(n.ports.filter((p) => p.device_owner === 'network:dhcp').length, 1);
    });

    it('places instances on compute hosts only', async () => {
      const hosts = new Set<string>();
      for (let i = 0; i < 4; i++) hosts.add((await instance(net.id)).host);
      assert.ok(!hosts.has('default-host'));
      for (const host of hosts) assert.ok(['mh-net', 'mh-c1', 'mh-c2'].includes(host));
    });

    it("gives each host the other hosts' endpoints, MACs and addresses on its vxlan networks", async () => {
      const a = await instance(net.id, 'mh-c1');
      const snapshot = await sync('mh-c1');
      const peers = snapshot.l2population?.[net.id] ?? [];
      assert.ok(!peers.some((p) => p.host === 'mh-c1'), 'no entry for the host itself');
      const netHost = peers.find((p) => p.host === 'mh-net');
      assert.equal(netHost?.tunnel_ip, '100.64.50.11');
      const dhcp = (await admin.get(`/v2.0/ports?network_id=${net.id}&device_owner=network:dhcp`)).body
        .ports[0];
      assert.deepEqual(netHost?.ports.find((p) => p.mac_address === dhcp.mac_address)?.ip_addresses, [
        dhcp.fixed_ips[0].ip_address,
      ]);
      const fromNet = (await sync('mh-net')).l2population?.[net.id] ?? [];
      const c1 = fromNet.find((p) => p.host === 'mh-c1');
      assert.ok(c1?.ports.some((p) => p.mac_address === a.ports[0].mac_address));
    });

    it('wakes every agent (a revision) when a tunnel endpoint appears or moves, and only then', async () => {
      const latest = () => t.store.latestRevision();
      const before = await latest();
      assert.equal(
        (await heartbeat('mh-c9', 'Linux bridge agent', { tunneling_ip: '100.64.50.19' })).status,
        200,
      );
      const afterNew = await latest();
      assert.equal(afterNew, before + 1, 'a new endpoint is a change');
      await heartbeat('mh-c9', 'Linux bridge agent', { tunneling_ip: '100.64.50.19' }, false);
      await heartbeat('mh-c9', 'Linux bridge agent', { tunneling_ip: '100.64.50.19' });
      assert.equal(await latest(), afterNew, 'heartbeats and restarts with the same endpoint write nothing');
      await heartbeat('mh-c9', 'DHCP agent', {});
      assert.equal(await latest(), afterNew);
    });

    it('refuses a second live agent for one host name from another tunnel endpoint', async () => {
      const r = await heartbeat('mh-c1', 'Linux bridge agent', {
        tunneling_ip: '100.64.50.99',
        roles: ['compute'],
      });
      assert.equal(r.status, 409);
      assert.match(
        r.body.NeutronError.message,
        /host mh-c1 is already served by a live Linux bridge agent with tunnel endpoint 100\.64\.50\.12/,
      );
      const restart = await heartbeat('mh-c1', 'Linux bridge agent', {
        tunneling_ip: '100.64.50.12',
        roles: ['compute'],
      });
      assert.equal(restart.status, 200, 'the same endpoint is the same host restarting');
    });
  });
}
