/**
 * QoS through the API of a real `neutrino up` (root, real packets): a bandwidth-limit policy set on
 * a port limits what its instance sends (iperf3, ±15 %) and unsetting it restores the full rate; a
 * policy on a floating IP limits the traffic from the outside namespace to that floating IP only,
 * while the router's other floating IP runs at full speed.
 *
 * The external network is made through the API on a bridge of the test's own (`Outside`, on
 * 198.51.100.0/24), with `--no-external-network`.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { runInNamespace } from '../../src/linux/exec.js';
import { ipJson } from '../../src/linux/ip.js';
import { spawnInNamespace } from '../helpers/background.js';
import { activeInstance } from '../helpers/lab.js';
import { NeutrinoUp } from '../helpers/neutrino-up.js';
import { Outside } from '../helpers/outside.js';
import { until } from '../helpers/until.js';

const isRoot = process.getuid?.() === 0;
const OUTSIDE_IP = '198.51.100.254';

interface Instance {
  id: string;
  status: string;
  ports: { id: string; fixed_ips: { ip_address: string }[] }[];
  fault?: unknown;
}

/** Mbit/s from namespace `from` to `address`, where `serverNs` listens (the first second omitted). */
async function iperf(from: string, serverNs: string, address: string, bind?: string): Promise<number> {
  const server = spawnInNamespace(serverNs, 'iperf3', ['-s', '-1', ...(bind ? ['-B', bind] : [])]);
  try {
    await sleep(300);
    const { stdout } = await runInNamespace(from, 'iperf3', ['-c', address, '-t', '3', '-O', '1', '-J'], {
      timeoutMs: 30_000,
    });
    return (
      (JSON.parse(stdout) as { end: { sum_received: { bits_per_second: number } } }).end.sum_received
        .bits_per_second / 1e6
    );
  } finally {
    await server.stop();
  }
}

const within = (measured: number, limit: number) => measured > limit * 0.85 && measured < limit * 1.15;

describe('QoS policies through the API (real kernel)', { skip: !isRoot && 'needs root' }, () => {
  const outside = new Outside(`${OUTSIDE_IP}/24`);
  const up = new NeutrinoUp({ resyncIntervalS: 2, physicalInterfaceMappings: { public: outside.bridge } });
  let routerId = '';
  let vm1: Instance;
  let vm2: Instance;
  let fip1: { id: string; floating_ip_address: string };
  let fip2: { id: string; floating_ip_address: string };

  const policy = async (name: string, rule: Record<string, unknown>) => {
    const { policy: created } = await up.session.post<{ policy: { id: string } }>('/v2.0/qos/policies', {
      policy: { name },
    });
    await up.session.post(`/v2.0/qos/policies/${created.id}/bandwidth_limit_rules`, {
      bandwidth_limit_rule: rule,
    });
    return created.id;
  };
  /** The HTB classes on the router's gateway device and its IFB device (tc's lines). */
  const gatewayClasses = async () => {
    const netns = `qrouter-${routerId}`;
    const links = await ipJson<{ ifname: string }[]>(['link', 'show'], { netns });
    const classes: string[] = [];
    for (const { ifname } of links.filter((l) => /^(qg|ifb)-/.test(l.ifname))) {
      // iproute2 6.1 prints HTB classes as text even with -json.
      const { stdout } = await runInNamespace(netns, 'tc', ['class', 'show', 'dev', ifname], {
        allowFail: true,
      });
      classes.push(...stdout.split('\n').filter((line) => line.startsWith('class htb')));
    }
    return classes;
  };

  before(async () => {
    await outside.create();
    await up.start();
    const api = up.session;
    const ext = { id: await outside.publicNetwork(api) };
    const { network } = await api.post<{ network: { id: string } }>('/v2.0/networks', {
      network: { name: 'qos-net' },
    });
    const { subnet } = await api.post<{ subnet: { id: string } }>('/v2.0/subnets', {
      subnet: { network_id: network.id, ip_version: 4, cidr: '10.31.1.0/24' },
    });
    const { router } = await api.post<{ router: { id: string } }>('/v2.0/routers', {
      router: { name: 'qos-router', external_gateway_info: { network_id: ext.id } },
    });
    routerId = router.id;
    await api.put(`/v2.0/routers/${router.id}/add_router_interface`, { subnet_id: subnet.id });
    [vm1, vm2] = await Promise.all(
      ['qos-1', 'qos-2'].map((name) =>
        activeInstance<Instance>(api, { name, networks: [{ network_id: network.id }] }),
      ),
    );
    const { port } = await api.get<{ port: { security_groups: string[] } }>(`/v2.0/ports/${vm1.ports[0].id}`);
    for (const security_group_id of port.security_groups)
      await api.post('/v2.0/security-group-rules', {
        security_group_rule: { security_group_id, direction: 'ingress', protocol: 'tcp' },
      });
    const floating = async (vm: Instance) =>
      (
        await api.post<{ floatingip: { id: string; floating_ip_address: string } }>('/v2.0/floatingips', {
          floatingip: { floating_network_id: ext.id, port_id: vm.ports[0].id },
        })
      ).floatingip;
    fip1 = await floating(vm1);
    fip2 = await floating(vm2);
  });

  after(async () => {
    await up.cleanup();
    await outside.remove();
  });

  it("limits what a port's instance sends, and unsetting the policy lifts the limit", async (t) => {
    const id = await policy('port-20m', { max_kbps: 20_000, direction: 'egress' });
    await up.session.put(`/v2.0/ports/${vm1.ports[0].id}`, { port: { qos_policy_id: id } });
    const tap = `tap${vm1.ports[0].id.slice(0, 11)}`;
    const ifb = `ifb${vm1.ports[0].id.slice(0, 11)}`;
    await until('the IFB device of the port', async () =>
      (await ipJson<{ ifname: string }[]>(['link', 'show', 'type', 'ifb'])).some((l) => l.ifname === ifb),
    );
    const to = vm2.ports[0].fixed_ips[0].ip_address;
    const limited = await iperf(`inst-${vm1.id}`, `inst-${vm2.id}`, to, to);
    t.diagnostic(`${tap} egress with 20 Mbit/s: ${limited.toFixed(2)}`);
    assert.ok(within(limited, 20), `${limited} Mbit/s`);
    await up.session.put(`/v2.0/ports/${vm1.ports[0].id}`, { port: { qos_policy_id: null } });
    await until(
      'the IFB device gone',
      async () =>
        !(await ipJson<{ ifname: string }[]>(['link', 'show', 'type', 'ifb'])).some((l) => l.ifname === ifb),
    );
    const free = await iperf(`inst-${vm1.id}`, `inst-${vm2.id}`, to, to);
    t.diagnostic(`without the policy: ${free.toFixed(0)}`);
    assert.ok(free > 200, `${free} Mbit/s`);
    await up.session.delete(`/v2.0/qos/policies/${id}`);
  });

  it("limits a floating IP's traffic, and only that floating IP's", async (t) => {
    const id = await policy('fip-10m', { max_kbps: 10_000, direction: 'ingress' });
    await up.session.put(`/v2.0/floatingips/${fip1.id}`, { floatingip: { qos_policy_id: id } });
    await until('an address class on the gateway device', async () => (await gatewayClasses()).length > 0);
    const limited = await iperf(outside.netns, `inst-${vm1.id}`, fip1.floating_ip_address);
    const other = await iperf(outside.netns, `inst-${vm2.id}`, fip2.floating_ip_address);
    t.diagnostic(
      `to ${fip1.floating_ip_address} (10 Mbit/s): ${limited.toFixed(2)}; to the other: ${other.toFixed(0)}`,
    );
    assert.ok(within(limited, 10), `${limited} Mbit/s`);
    assert.ok(other > 100, `the other floating IP is not limited: ${other} Mbit/s`);
    await up.session.put(`/v2.0/floatingips/${fip1.id}`, { floatingip: { qos_policy_id: null } });
    await until('no class on the gateway device', async () => (await gatewayClasses()).length === 0);
  });
});
