/**
 * Both L2 drivers, one behaviour: the same scenarios on a two-host lab (host1 network+compute,
 * host2 compute) once per driver of `DRIVERS` (default `linuxbridge,openvswitch`), and once with
 * mixed hosts (host1 Open vSwitch, host2 Linux bridge) when both are listed: DHCP and L2 within and
 * across hosts (ping, TCP), SNAT to an outside namespace on the physnet and a floating IP reached
 * from it, a security group that drops, anti-spoofing, `neutrino check` clean with every probe
 * agreeing with the model, and a trace naming the devices each host's driver wires.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { runInNamespace } from '../../src/linux/exec.js';
import { runInHostNamespace } from '../../src/linux/lab-host.js';
import type { TraceResult } from '../../src/model/trace.js';
import {
  activeInstance,
  type Lab,
  labCli,
  labTcp,
  labUp,
  PhysnetOutside,
  physnetExternalNetwork,
} from '../helpers/lab.js';
import { until } from '../helpers/until.js';

const isRoot = process.getuid?.() === 0;
const OUTSIDE_IP = '198.51.100.1';
const DRIVERS = (process.env.DRIVERS ?? 'linuxbridge,openvswitch').split(',').filter(Boolean);
/** Each run: its name and the lab's `--driver` (hosts take the listed drivers in turn). */
const RUNS = [
  ...DRIVERS.map((d) => ({ name: d, driver: d })),
  ...(DRIVERS.includes('linuxbridge') && DRIVERS.includes('openvswitch')
    ? [{ name: 'mixed hosts', driver: 'openvswitch,linuxbridge' }]
    : []),
];

interface Instance {
  id: string;
  name: string;
  status: string;
  host: string | null;
  ports: { id: string; fixed_ips: { ip_address: string }[] }[];
}

for (const [index, run] of RUNS.entries()) {
  describe(`L2 driver matrix: ${run.name}`, { skip: !isRoot && 'needs root' }, () => {
    let lab: Lab | undefined;
    let outside: PhysnetOutside | undefined;
    let vmA: Instance;
    let vmB: Instance;
    let closed: Instance;
    const net = `10.${71 + index}.0`;
    const drivers = run.driver.split(',');
    const driverOf = (host: string) => drivers[(host === 'host1' ? 0 : 1) % drivers.length];
    const ipOf = (i: Instance) => i.ports[0].fixed_ips[0].ip_address;
    const inside = (i: Instance, cmd: string, args: string[]) =>
      runInHostNamespace(lab!.host(i.host!), `inst-${i.id}`, cmd, args, {
        allowFail: true,
        timeoutMs: 15_000,
      });
    const ping = async (from: Instance, to: string, extra: string[] = []) =>
      (await inside(from, 'ping', ['-c', '1', '-W', '2', ...extra, to])).code === 0;
    const cli = (...args: string[]) => labCli(lab!.stateDir, ...args);

    before(async () => {
      lab = await labUp(['--hosts', '2', '--network-hosts', '1', '--driver', run.driver]);
      const { session } = lab;
      outside = new PhysnetOutside(lab.state, OUTSIDE_IP);
      await outside.create();
      const external = await physnetExternalNetwork(session, OUTSIDE_IP);
      const { network } = await session.post<{ network: { id: string } }>('/v2.0/networks', {
        network: { name: 'matrix', 'provider:network_type': 'vxlan' },
      });
      const { subnet } = await session.post<{ subnet: { id: string } }>('/v2.0/subnets', {
        subnet: { network_id: network.id, ip_version: 4, cidr: `${net}.0/24` },
      });
      const { router } = await session.post<{ router: { id: string } }>('/v2.0/routers', {
        router: { name: 'matrix-router', external_gateway_info: { network_id: external } },
      });
      await session.put(`/v2.0/routers/${router.id}/add_router_interface`, { subnet_id: subnet.id });
      const { security_group: open } = await session.post<{ security_group: { id: string } }>(
        '/v2.0/security-groups',
        { security_group: { name: 'icmp-from-anywhere' } },
      );
      await session.post('/v2.0/security-group-rules', {
        security_group_rule: {
          security_group_id: open.id,
          direction: 'ingress',
          ethertype: 'IPv4',
          protocol: 'icmp',
        },
      });
      await session.post('/v2.0/security-groups', { security_group: { name: 'closed' } });
      const vm = (name: string, host: string, groups?: string[]) =>
        activeInstance<Instance>(session, {
          name,
          host,
          networks: [{ network_id: network.id }],
          ...(groups ? { security_groups: groups } : {}),
        });
      vmA = await vm('vm-a', 'host1');
      vmB = await vm('vm-b', 'host2', ['default', 'icmp-from-anywhere']);
      closed = await vm('vm-closed', 'host2', ['closed']);
    });

    after(async () => {
      await outside?.remove();
      await lab?.down();
    });

    it('serves DHCP and carries L2 within and across hosts (ping, TCP)', async () => {
      for (const vm of [vmA, vmB]) {
        const { stdout } = await inside(vm, 'ip', ['-4', '-o', 'addr', 'show', 'dev', 'eth0']);
        assert.match(stdout, new RegExp(`inet ${ipOf(vm).replaceAll('.', '\\.')}/24`), `${vm.name} leased`);
      }
      assert.ok(await ping(vmA, ipOf(vmB)), 'vm-a → vm-b across hosts');
      await labTcp(
        { host: lab!.host('host2'), netns: `inst-${vmB.id}` },
        { host: lab!.host('host1'), netns: `inst-${vmA.id}`, ip: ipOf(vmA) },
        5200,
      );
    });

    it('routes to the outside with SNAT, and from it to a floating IP', async () => {
      assert.ok(await until('a ping to the outside', () => ping(vmB, OUTSIDE_IP), 20_000, 300));
      const { session } = lab!;
      const { floatingips } = await session.get<{ floatingips: unknown[] }>('/v2.0/floatingips');
      assert.equal(floatingips.length, 0);
      const external = (
        await session.get<{ networks: { id: string }[] }>('/v2.0/networks?router:external=true')
      ).networks[0].id;
      const { floatingip } = await session.post<{ floatingip: { floating_ip_address: string } }>(
        '/v2.0/floatingips',
        { floatingip: { floating_network_id: external, port_id: vmB.ports[0].id } },
      );
      const fromOutside = () =>
        runInNamespace(outside!.netns, 'ping', ['-c', '1', '-W', '1', floatingip.floating_ip_address], {
          allowFail: true,
        }).then((r) => r.code === 0);
      assert.ok(await until('a ping from the outside to the floating IP', fromOutside, 20_000, 300));
    });

    it('drops what a security group does not allow, and spoofed sources', async () => {
      assert.equal(await ping(vmB, ipOf(closed)), false, 'closed group');
      const spoofed = `${net}.250`;
      await inside(vmB, 'ip', ['addr', 'add', `${spoofed}/24`, 'dev', 'eth0']);
      try {
        assert.equal(await ping(vmB, ipOf(vmA), ['-I', spoofed]), false, 'a source the port does not own');
        assert.ok(await ping(vmB, ipOf(vmA)), 'its own address still works');
      } finally {
        await inside(vmB, 'ip', ['addr', 'del', `${spoofed}/24`, 'dev', 'eth0']);
      }
    });

    it('check: hosts clean and named with their driver; the trace names what each host wires', async () => {
      const r = await cli('check', '-f', 'json');
      assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
      const body = JSON.parse(r.stdout) as {
        hosts: { host: string; findings: string[]; driver?: string }[];
        results: { agrees?: boolean }[];
      };
      assert.deepEqual(
        body.hosts.map((h) => [h.host, h.driver, h.findings]),
        [
          ['host1', driverOf('host1'), []],
          ['host2', driverOf('host2'), []],
        ],
      );
      // Every probe sent agrees (the outside is probed from only with a state dir: not here).
      assert.ok(
        body.results.every((x) => x.agrees !== false),
        JSON.stringify(body.results),
      );
      assert.ok(body.results.filter((x) => x.agrees === true).length >= 9, JSON.stringify(body.results));
      const trace = await lab!.session.post<TraceResult>('/neutrino/v1/trace', {
        source: vmA.id,
        destination: vmB.id,
        protocol: 'icmp',
      });
      assert.equal(trace.verdict, 'allowed');
      const wiring = (driver: string, port: string) =>
        driver === 'openvswitch'
          ? new RegExp(`tap${port} → qbr${port} → qvb${port}/qvo${port} → br-int \\(local VLAN tag \\d+\\)`)
          : new RegExp(`tap${port} on Linux bridge brq`);
      const source = trace.hops.find((h) => h.step === 'source')!.detail;
      const destination = trace.hops.at(-1)!.detail;
      assert.match(source, wiring(driverOf('host1'), vmA.ports[0].id.slice(0, 11)));
      assert.match(destination, wiring(driverOf('host2'), vmB.ports[0].id.slice(0, 11)));
      // The frame crosses from host1 to host2: the tunnel, as host1's driver names its way out.
      const out = driverOf('host1') === 'openvswitch' ? 'br-tun port vxlan-[0-9a-f]{8}' : 'vxlan-\\d+';
      assert.match(
        destination,
        new RegExp(
          `across hosts host1 → host2 over VXLAN \\(VNI \\d+ [\\d.]+ → [\\d.]+\\), out of ${out} on host1`,
        ),
      );
    });
  });
}
