/**
 * Failover on `neutrino lab` with three hosts (host1 and host2 network+compute, host3 compute),
 * agent_down_time 4 s and heartbeats every second: a router with its gateway on a flat external
 * network (physnet1, every host's eth2, with an "outside" namespace of the test's own on the lab's
 * physnet bridge holding the external gateway 198.51.100.1), its network's DHCP put on the router's
 * host through the scheduler API, an instance on host3 pinging the outside. Then that network host
 * dies — its agent killed with -9, its three links cut — and DHCP and the router come up on the
 * other network host: the instance's pings resume and a DHCP request is answered there. The time
 * from the kill to the first ping through the new host is logged (not asserted). When the dead
 * host's links and agent come back, it removes its stale DHCP and router namespaces and its
 * dnsmasq, and does not take them back.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type LabHost, type LabState, restartLabAgent } from '../../src/cli/lab.js';
import type { Session } from '../../src/client/session.js';
import { runInHostNamespace, runOnHost } from '../../src/linux/lab-host.js';
import {
  activeInstance,
  hostLinks,
  type Lab,
  labUp,
  PhysnetOutside,
  physnetExternalNetwork,
} from '../helpers/lab.js';
import { until } from '../helpers/until.js';

const isRoot = process.getuid?.() === 0;
const OUTSIDE_IP = '198.51.100.1';

interface Instance {
  id: string;
  status: string;
  host: string | null;
}

describe('multi-host failover: DHCP and a router move off a dead network host', {
  skip: !isRoot && 'needs root',
}, () => {
  let labUpped: Lab | undefined;
  let lab: LabState;
  let session: Session;
  let stateDir = '';
  let outside: PhysnetOutside | undefined;
  let netId = '';
  let routerId = '';
  let vm: Instance;
  let dead: LabHost;
  let survivor: LabHost;
  const host = (name: string): LabHost => lab.hosts.find((h) => h.name === name)!;

  const post = async <T>(path: string, body: unknown) => session.post<T>(path, body);
  const namespacesOf = async (h: LabHost) => (await runOnHost(h, 'ip', ['netns', 'list'])).stdout;
  const ping = async (to: string) =>
    (
      await runInHostNamespace(host('host3'), `inst-${vm.id}`, 'ping', ['-c', '1', '-W', '1', to], {
        allowFail: true,
        timeoutMs: 5_000,
      })
    ).code === 0;
  const hostsOf = async (path: string) =>
    (await session.get<{ agents: { host: string }[] }>(path)).agents.map((a) => a.host).sort();
  const agentOf = async (name: string, type: string) =>
    (
      await session.get<{ agents: { id: string; agent_type: string }[] }>(`/v2.0/agents?host=${name}`)
    ).agents.find((a) => a.agent_type === type)!.id;
  const links = (h: LabHost, state: 'up' | 'down') => hostLinks(lab, h, state);
  const dnsmasqOf = (h: LabHost, networkId: string) =>
    runOnHost(h, 'ip', ['netns', 'pids', `qdhcp-${networkId}`], { allowFail: true });

  before(async () => {
    labUpped = await labUp([
      ...['--hosts', '3', '--network-hosts', '2'],
      ...['--agent-down-time', '4', '--report-interval', '1'],
    ]);
    ({ state: lab, session, stateDir } = labUpped);
    // The outside: a namespace of the test's own on the lab's physnet bridge (never the root namespace's).
    outside = new PhysnetOutside(lab, OUTSIDE_IP);
    await outside.create();
    const extId = await physnetExternalNetwork(session, OUTSIDE_IP);
    const { network } = await post<{ network: { id: string } }>('/v2.0/networks', {
      network: { name: 'fo-net', 'provider:network_type': 'vxlan' },
    });
    netId = network.id;
    const { subnet } = await post<{ subnet: { id: string } }>('/v2.0/subnets', {
      subnet: { network_id: netId, ip_version: 4, cidr: '10.97.0.0/24' },
    });
    const { router } = await post<{ router: { id: string } }>('/v2.0/routers', {
      router: { name: 'fo-router', external_gateway_info: { network_id: extId } },
    });
    routerId = router.id;
    await session.put(`/v2.0/routers/${routerId}/add_router_interface`, { subnet_id: subnet.id });
    const routerHost = await until(
      'the router scheduled',
      async () => (await hostsOf(`/v2.0/routers/${routerId}/l3-agents`))[0],
    );
    dead = host(routerHost);
    survivor = host(routerHost === 'host1' ? 'host2' : 'host1');
    // DHCP to the router's host (the scheduler API), so that one death takes both.
    const dhcpHosts = await until('DHCP scheduled', async () => {
      const hosts = await hostsOf(`/v2.0/networks/${netId}/dhcp-agents`);
      return hosts.length > 0 ? hosts : undefined;
    });
    if (!dhcpHosts.includes(dead.name)) {
      await post(`/v2.0/agents/${await agentOf(dead.name, 'DHCP agent')}/dhcp-networks`, {
        network_id: netId,
      });
      for (const other of dhcpHosts)
        await session.delete(`/v2.0/agents/${await agentOf(other, 'DHCP agent')}/dhcp-networks/${netId}`);
    }
    await until('DHCP on the router host only', async () => {
      const [a, b] = [await namespacesOf(dead), await namespacesOf(survivor)];
      return a.includes(`qdhcp-${netId}`) && !b.includes(`qdhcp-${netId}`);
    });
    vm = await activeInstance<Instance>(session, {
      name: 'fo-vm',
      host: 'host3',
      networks: [{ network_id: netId }],
    });
  });

  after(async () => {
    await outside?.remove();
    await labUpped?.down();
  });

  it('reaches the outside through the router on its network host', async () => {
    assert.ok(await until('a ping to the outside', () => ping(OUTSIDE_IP), 20_000));
    assert.match(await namespacesOf(dead), new RegExp(`qrouter-${routerId}`));
    assert.doesNotMatch(await namespacesOf(survivor), /qrouter-/);
  });

  it('moves DHCP and the router to the other network host when their host dies', async () => {
    const killedAt = Date.now();
    process.kill(dead.pid!, 'SIGKILL');
    await links(dead, 'down');
    await until(
      'the router on the survivor',
      async () => (await hostsOf(`/v2.0/routers/${routerId}/l3-agents`))[0] === survivor.name,
      60_000,
    );
    const movedAt = Date.now();
    await until('a ping to the outside through the survivor', () => ping(OUTSIDE_IP), 60_000, 200);
    const resumedAt = Date.now();
    console.log(
      `failover: router rescheduled ${((movedAt - killedAt) / 1000).toFixed(1)} s after the kill, pings resumed after ${((resumedAt - killedAt) / 1000).toFixed(1)} s (agent_down_time 4 s, report_interval 1 s)`,
    );
    assert.deepEqual(await hostsOf(`/v2.0/networks/${netId}/dhcp-agents`), [survivor.name]);
    const here = await namespacesOf(survivor);
    assert.match(here, new RegExp(`qrouter-${routerId}`));
    await until('DHCP on the survivor', async () =>
      (await namespacesOf(survivor)).includes(`qdhcp-${netId}`),
    );
    const answered = await until(
      'a DHCP answer from the survivor',
      async () =>
        (
          await runInHostNamespace(
            host('host3'),
            `inst-${vm.id}`,
            'busybox',
            ['udhcpc', '-i', 'eth0', '-n', '-q', '-t', '2', '-T', '1', '-s', '/bin/true'],
            { allowFail: true, timeoutMs: 10_000 },
          )
        ).code === 0,
      30_000,
      500,
    );
    assert.ok(answered);
  });

  it('the dead host, back, removes its stale DHCP and router and takes nothing back', async () => {
    assert.match(await namespacesOf(dead), new RegExp(`qdhcp-${netId}`), 'stale until its agent returns');
    await links(dead, 'up');
    await restartLabAgent(stateDir, dead.name);
    await until(
      'the stale namespaces gone',
      async () => {
        const ns = await namespacesOf(dead);
        return !ns.includes(`qdhcp-${netId}`) && !ns.includes(`qrouter-${routerId}`);
      },
      60_000,
    );
    assert.equal((await dnsmasqOf(dead, netId)).stdout.trim(), '');
    assert.deepEqual(await hostsOf(`/v2.0/networks/${netId}/dhcp-agents`), [survivor.name]);
    assert.deepEqual(await hostsOf(`/v2.0/routers/${routerId}/l3-agents`), [survivor.name]);
    assert.match(await namespacesOf(survivor), new RegExp(`qrouter-${routerId}`));
    assert.ok(await until('a ping to the outside still', () => ping(OUTSIDE_IP), 20_000));
  });
});
