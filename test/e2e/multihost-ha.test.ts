/**
 * HA routers on `neutrino lab` with three hosts (host1 and host2 network+compute, host3 compute),
 * VRRP advertisements every second: an HA router with its gateway on the flat external network
 * (an "outside" namespace of the test's own on the lab's physnet bridge holding 198.51.100.1) and
 * an interface on a vxlan network with an instance on host3. The router lives on both network
 * hosts, each with a keepalived; one is master (`ha_state` active) and alone holds the router's
 * addresses, the other holds none and no IPv6 link-local either. Then the master's host dies (its
 * agent killed with -9, its links cut) while the instance pings the outside every 0.2 s: the
 * standby takes over, the router's ports move to it, and the pings resume; the lost replies are
 * counted (logged, and bounded to a few seconds' worth).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { LabHost, LabState } from '../../src/cli/lab.js';
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
}

describe('multi-host HA router: keepalived on two network hosts, failover by VRRP', {
  skip: !isRoot && 'needs root',
}, () => {
  let labUpped: Lab | undefined;
  let lab: LabState;
  let session: Session;
  let outside: PhysnetOutside | undefined;
  let routerId = '';
  let vm: Instance;
  const host = (name: string): LabHost => lab.hosts.find((h) => h.name === name)!;

  const haStates = async () =>
    Object.fromEntries(
      (
        await session.get<{ agents: { host: string; ha_state: string }[] }>(
          `/v2.0/routers/${routerId}/l3-agents`,
        )
      ).agents.map((a) => [a.host, a.ha_state]),
    );
  const master = async () => {
    const states = await haStates();
    const active = Object.keys(states).filter((h) => states[h] === 'active');
    return Object.keys(states).length === 2 && active.length === 1 ? active[0] : undefined;
  };
  const inRouter = (h: LabHost, args: string[]) =>
    runInHostNamespace(h, `qrouter-${routerId}`, 'ip', args, { allowFail: true });
  const ping = async (to: string) =>
    (
      await runInHostNamespace(host('host3'), `inst-${vm.id}`, 'ping', ['-c', '1', '-W', '1', to], {
        allowFail: true,
        timeoutMs: 5_000,
      })
    ).code === 0;

  before(async () => {
    labUpped = await labUp([
      ...['--hosts', '3', '--network-hosts', '2'],
      ...['--agent-down-time', '4', '--report-interval', '1'],
      ...['--setting', 'ha_vrrp_advert_int=1'],
    ]);
    ({ state: lab, session } = labUpped);
    outside = new PhysnetOutside(lab, OUTSIDE_IP);
    await outside.create();
    const extId = await physnetExternalNetwork(session, OUTSIDE_IP);
    const { network } = await session.post<{ network: { id: string } }>('/v2.0/networks', {
      network: { name: 'ha-net', 'provider:network_type': 'vxlan' },
    });
    const { subnet } = await session.post<{ subnet: { id: string } }>('/v2.0/subnets', {
      subnet: { network_id: network.id, ip_version: 4, cidr: '10.98.0.0/24' },
    });
    const { router } = await session.post<{ router: { id: string; ha: boolean } }>('/v2.0/routers', {
      router: { name: 'ha-router', ha: true, external_gateway_info: { network_id: extId } },
    });
    assert.equal(router.ha, true);
    routerId = router.id;
    await session.put(`/v2.0/routers/${routerId}/add_router_interface`, { subnet_id: subnet.id });
    vm = await activeInstance<Instance>(session, {
      name: 'ha-vm',
      host: 'host3',
      networks: [{ network_id: network.id }],
    });
  });

  after(async () => {
    await outside?.remove();
    await labUpped?.down();
  });

  it('runs the router on both network hosts, the master alone holding its addresses', async () => {
    const active = await until('one master and one standby', master, 30_000);
    const standby = active === 'host1' ? 'host2' : 'host1';
    const onMaster = (await inRouter(host(active), ['-4', '-o', 'addr', 'show'])).stdout;
    const onStandby = (await inRouter(host(standby), ['-4', '-o', 'addr', 'show'])).stdout;
    assert.match(onMaster, /qg-\S+\s+inet 198\.51\.100\./, onMaster);
    assert.match(onMaster, /qr-\S+\s+inet 10\.98\.0\.1\/24/, onMaster);
    assert.doesNotMatch(
      onStandby,
      /qg-|qr-/,
      `the standby holds none of the router's addresses:\n${onStandby}`,
    );
    assert.match(onStandby, /ha-\S+\s+inet 169\.254\.1(9[2-9]|[0-9]{2})\./, 'its own HA address');
    const linkLocal = (await inRouter(host(standby), ['-6', '-o', 'addr', 'show'])).stdout;
    assert.doesNotMatch(
      linkLocal,
      /qg-|qr-/,
      `no IPv6 link-local on the standby's router devices:\n${linkLocal}`,
    );
    const keepalived = await runOnHost(host(standby), 'ip', ['netns', 'pids', `qrouter-${routerId}`]);
    assert.notEqual(keepalived.stdout.trim(), '', 'keepalived runs on the standby too');
    const ports = (
      await session.get<{ ports: { device_owner: string; 'binding:host_id': string }[] }>(
        `/v2.0/ports?device_id=${routerId}`,
      )
    ).ports;
    for (const p of ports.filter((p) => p.device_owner !== 'network:router_ha_interface'))
      assert.equal(p['binding:host_id'], active, `${p.device_owner} bound to the master`);
    assert.ok(await until('a ping to the outside', () => ping(OUTSIDE_IP), 20_000));
  });

  it('fails over to the standby when the master dies, losing a few seconds of pings', async () => {
    const active = (await master())!;
    const standby = active === 'host1' ? 'host2' : 'host1';
    const pinging = runInHostNamespace(
      host('host3'),
      `inst-${vm.id}`,
      'ping',
      ['-i', '0.2', '-w', '24', '-W', '1', OUTSIDE_IP],
      { allowFail: true, timeoutMs: 40_000 },
    );
    await new Promise((r) => setTimeout(r, 3_000));
    const dead = host(active);
    process.kill(dead.pid!, 'SIGKILL');
    await hostLinks(lab, dead, 'down');
    await until('the standby master', async () => (await haStates())[standby] === 'active', 30_000, 200);
    const { stdout } = await pinging;
    const [, sent, received] = /(\d+) packets transmitted, (\d+) received/.exec(stdout) ?? [];
    assert.ok(sent && received, stdout);
    const lost = Number(sent) - Number(received);
    console.log(
      `HA failover: ${lost} of ${sent} pings lost at 0.2 s intervals (${(lost * 0.2).toFixed(1)} s), VRRP advert_int 1 s`,
    );
    assert.ok(Number(received) > 0 && lost <= 40, `at most a few seconds lost (8 s bound): ${stdout}`);
    assert.ok(await ping(OUTSIDE_IP), 'the outside answers through the new master');
    const onNew = (await inRouter(host(standby), ['-4', '-o', 'addr', 'show'])).stdout;
    assert.match(onNew, /qg-\S+\s+inet 198\.51\.100\./, onNew);
  });
});
