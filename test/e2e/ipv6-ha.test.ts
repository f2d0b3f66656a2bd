/**
 * IPv6 router advertisements from an HA router on `neutrino lab` (three hosts, host1 and host2
 * network+compute, host3 compute; VRRP every second): an HA router with an interface on a vxlan
 * network's SLAAC subnet and an instance on host3. radvd runs in the router namespace on both
 * network hosts, but only the master holds the router's link-local address (keepalived moves it
 * with the router's other addresses), so only the master advertises: the instance gets its port's
 * EUI-64 address and a default route via that link-local address. When the master's host dies,
 * the standby takes the addresses over, link-local included, and the instance reaches the router
 * by IPv6 again without reconfiguring anything.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { linkLocal } from '../../src/agent/firewall/security-groups.js';
import type { LabHost, LabState } from '../../src/cli/lab.js';
import type { Session } from '../../src/client/session.js';
import { runInHostNamespace } from '../../src/linux/lab-host.js';
import { isAlive } from '../../src/linux/process.js';
import { activeInstance, hostLinks, type Lab, labUp } from '../helpers/lab.js';
import { until } from '../helpers/until.js';

const isRoot = process.getuid?.() === 0;
const GATEWAY = '2001:db8:98::1';

interface Instance {
  id: string;
  status: string;
  ports: { id: string; fixed_ips: { ip_address: string }[] }[];
}

describe('HA router: radvd on every replica, only the master advertises (real kernel)', {
  skip: !isRoot && 'needs root',
}, () => {
  let labUpped: Lab | undefined;
  let lab: LabState;
  let session: Session;
  let routerId = '';
  let routerLla = '';
  let vm: Instance;
  const host = (name: string): LabHost => lab.hosts.find((h) => h.name === name)!;

  const master = async () => {
    const { agents } = await session.get<{ agents: { host: string; ha_state: string }[] }>(
      `/v2.0/routers/${routerId}/l3-agents`,
    );
    const active = agents.filter((a) => a.ha_state === 'active');
    return agents.length === 2 && active.length === 1 ? active[0].host : undefined;
  };
  const inRouter = async (h: LabHost, args: string[]) =>
    (await runInHostNamespace(h, `qrouter-${routerId}`, 'ip', args, { allowFail: true })).stdout;
  const inVm = (cmd: string, args: string[]) =>
    runInHostNamespace(host('host3'), `inst-${vm.id}`, cmd, args, { allowFail: true, timeoutMs: 5_000 });
  const radvdRunning = async (h: LabHost) => {
    const file = join(h.stateDir, 'agent', 'routers', routerId, 'radvd.pid');
    return existsSync(file) && isAlive(Number(readFileSync(file, 'utf8').trim()));
  };
  const ping6 = async (to: string) => (await inVm('ping', ['-6', '-c', '1', '-W', '1', to])).code === 0;

  before(async () => {
    labUpped = await labUp([
      ...['--hosts', '3', '--network-hosts', '2'],
      ...['--agent-down-time', '4', '--report-interval', '1'],
      ...['--setting', 'ha_vrrp_advert_int=1'],
    ]);
    ({ state: lab, session } = labUpped);
    const { network } = await session.post<{ network: { id: string } }>('/v2.0/networks', {
      network: { name: 'ha-v6', 'provider:network_type': 'vxlan' },
    });
    const { subnet } = await session.post<{ subnet: { id: string } }>('/v2.0/subnets', {
      subnet: {
        network_id: network.id,
        ip_version: 6,
        cidr: '2001:db8:98::/64',
        ipv6_ra_mode: 'slaac',
        ipv6_address_mode: 'slaac',
      },
    });
    const { router } = await session.post<{ router: { id: string } }>('/v2.0/routers', {
      router: { name: 'ha-v6-router', ha: true },
    });
    routerId = router.id;
    const { port_id } = await session.put<{ port_id: string }>(
      `/v2.0/routers/${routerId}/add_router_interface`,
      { subnet_id: subnet.id },
    );
    const { port } = await session.get<{ port: { mac_address: string } }>(`/v2.0/ports/${port_id}`);
    routerLla = linkLocal(port.mac_address.toLowerCase());
    vm = await activeInstance<Instance>(session, {
      name: 'ha-v6-vm',
      host: 'host3',
      networks: [{ network_id: network.id }],
    });
  });

  after(async () => {
    await labUpped?.down();
  });

  it("advertises from the master only: the instance's EUI-64 address, the default route via the router's link-local", async () => {
    const active = await until('one master and one standby', master, 30_000);
    const standby = active === 'host1' ? 'host2' : 'host1';
    const dir = join(host(active).stateDir, 'agent', 'routers', routerId);
    const log = () => readFileSync(join(host(active).stateDir, 'agent.log'), 'utf8');
    await until('radvd on the master', () => radvdRunning(host(active)), 20_000).catch((err: Error) => {
      const lines = log()
        .split('\n')
        .filter((l) => /radvd|daemon/.test(l));
      throw new Error(`${err.message}: ${readdirSync(dir).join(' ')}\n${lines.slice(-20).join('\n')}`);
    });
    assert.ok(await until('radvd on the standby too', () => radvdRunning(host(standby)), 20_000));
    await until(
      "the master holds the router's link-local address",
      async () => (await inRouter(host(active), ['-6', '-o', 'addr', 'show'])).includes(`${routerLla}/64`),
      20_000,
    );
    const onStandby = await inRouter(host(standby), ['-6', '-o', 'addr', 'show']);
    assert.doesNotMatch(onStandby, /qr-/, `the standby holds no address on qr-:\n${onStandby}`);
    const fixed = vm.ports[0].fixed_ips[0].ip_address;
    await until(
      'SLAAC address and default route from the master',
      async () => {
        const addr = (await inVm('ip', ['-6', '-o', 'addr', 'show', 'dev', 'eth0', 'scope', 'global']))
          .stdout;
        const route = (await inVm('ip', ['-6', 'route', 'show', 'default'])).stdout;
        return addr.includes(`${fixed}/64`) && route.includes(`via ${routerLla} dev eth0 proto ra`);
      },
      60_000,
      250,
    );
    assert.ok(await until('the router answers', () => ping6(GATEWAY), 20_000));
  });

  it('keeps IPv6 working through the standby when the master dies', async () => {
    const active = (await master())!;
    const standby = active === 'host1' ? 'host2' : 'host1';
    const dead = host(active);
    process.kill(dead.pid!, 'SIGKILL');
    await hostLinks(lab, dead, 'down');
    await until('the standby master', async () => (await master()) === standby, 30_000, 200);
    await until(
      "the new master holds the router's link-local address",
      async () => (await inRouter(host(standby), ['-6', '-o', 'addr', 'show'])).includes(`${routerLla}/64`),
      20_000,
    );
    assert.ok(await until('the router answers through the new master', () => ping6(GATEWAY), 30_000));
    const route = (await inVm('ip', ['-6', 'route', 'show', 'default'])).stdout;
    assert.match(route, new RegExp(`via ${routerLla} dev eth0`), 'the same default router');
  });
});
