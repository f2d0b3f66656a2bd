/**
 * The openvswitch driver on `neutrino lab --driver openvswitch` (two hosts, each agent with its own
 * Open vSwitch, the userspace datapath on this kernel): `br-int` with a local VLAN tag per network,
 * `br-tun` behind patch ports with a VXLAN port per other host and l2population's rules (floods to
 * hosts with ports only, remote MACs down their tunnel, ARP answered locally), the tunnel interface
 * on `br-phy` holding the endpoint address (given back by `down`),
 * hybrid plug (`tap` → `qbr` → `qvb`/`qvo` → `br-int`) with security groups on the `qbr`, a vxlan
 * network across the hosts, a VLAN provider network whose frames leave tagged (seen with tcpdump on
 * the underlay wire) and isolated from another VLAN, drift repaired, an agent restart that loses no
 * ping, bad input refused, and `lab down` leaving no Open vSwitch behind.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { type LabHost, type LabState, readLab, restartLabAgent } from '../../src/cli/lab.js';
import type { Session } from '../../src/client/session.js';
import { runInHostNamespace, runOnHost } from '../../src/linux/lab-host.js';
import { activeInstance, type Lab, labTcp, labUp, neutrinoCli } from '../helpers/lab.js';
import { BIN } from '../helpers/neutrino-up.js';
import { until } from '../helpers/until.js';

const isRoot = process.getuid?.() === 0;

interface Instance {
  id: string;
  name: string;
  status: string;
  host: string | null;
  ports: { id: string; fixed_ips: { ip_address: string }[] }[];
}

/** Command lines of every process on the machine. */
function processes(): string[] {
  return readdirSync('/proc')
    .filter((p) => /^\d+$/.test(p))
    .flatMap((p) => {
      try {
        return [readFileSync(`/proc/${p}/cmdline`, 'utf8').replaceAll('\0', ' ')];
      } catch {
        return [];
      }
    });
}

describe('openvswitch driver on a two-host lab', { skip: !isRoot && 'needs root' }, () => {
  let labUpped: Lab | undefined;
  let stateDir = '';
  let lab: LabState;
  let session: Session;
  const host = (name: string): LabHost => lab.hosts.find((h) => h.name === name)!;
  const ovsDir = (name: string) => join(host(name).stateDir, 'agent', 'ovs');
  const vsctl = async (name: string, ...args: string[]) =>
    (await runOnHost(host(name), 'ovs-vsctl', [`--db=unix:${ovsDir(name)}/db.sock`, ...args])).stdout;
  const ofctl = async (name: string, command: string, bridge: string, ...args: string[]) =>
    (await runOnHost(host(name), 'ovs-ofctl', [command, `unix:${ovsDir(name)}/${bridge}.mgmt`, ...args]))
      .stdout;
  const ipOf = (i: Instance) => i.ports[0].fixed_ips[0].ip_address;
  /** The VXLAN port towards `h`'s tunnel endpoint, as Neutron names it (`vxlan-` and the address in hex). */
  const tunnelPort = (h: LabHost) =>
    `vxlan-${h.tunnelIp
      .split('.')
      .map((o) => Number(o).toString(16).padStart(2, '0'))
      .join('')}`;
  /** The nftables table fencing `name`'s tunnel interface off from its own stack. */
  const fence = async (name: string) => {
    const tables = (await runOnHost(host(name), 'nft', ['list', 'tables', 'netdev'])).stdout;
    const table = /table netdev (neutrino-ul-\S+)/.exec(tables);
    assert.ok(table, tables);
    return (await runOnHost(host(name), 'nft', ['list', 'table', 'netdev', table[1]])).stdout;
  };
  const addressesOf = async (name: string, dev: string) =>
    (
      JSON.parse((await runOnHost(host(name), 'ip', ['-j', 'addr', 'show', 'dev', dev])).stdout) as {
        addr_info: { local: string; scope: string }[];
      }[]
    )[0].addr_info
      .filter((a) => a.scope === 'global')
      .map((a) => a.local);
  const inside = (i: Instance, cmd: string, args: string[], timeoutMs = 15_000) =>
    runInHostNamespace(host(i.host!), `inst-${i.id}`, cmd, args, { allowFail: true, timeoutMs });
  const ping = async (from: Instance, to: string) =>
    (await inside(from, 'ping', ['-c', '1', '-W', '2', to])).code === 0;
  const tcp = (from: Instance, to: Instance, port: number) =>
    labTcp(
      { host: host(from.host!), netns: `inst-${from.id}` },
      { host: host(to.host!), netns: `inst-${to.id}`, ip: ipOf(to) },
      port,
    );
  const network = async (name: string, cidr: string, provider: Record<string, unknown> = {}) => {
    const { network } = await session.post<{ network: { id: string } }>('/v2.0/networks', {
      network: { name, ...provider },
    });
    // Addresses are given out below .200 only: .200 stays free for a fixed address.
    const last = cidr.replace(/\.0\/24$/, '.199');
    const pools = [{ start: cidr.replace(/\.0\/24$/, '.2'), end: last }];
    await session.post('/v2.0/subnets', {
      subnet: { network_id: network.id, ip_version: 4, cidr, allocation_pools: pools },
    });
    return network.id;
  };
  const instance = (name: string, networkId: string, on: string, groups?: string[], fixedIp?: string) =>
    activeInstance<Instance>(session, {
      name,
      host: on,
      networks: [{ network_id: networkId, ...(fixedIp ? { fixed_ip: fixedIp } : {}) }],
      ...(groups ? { security_groups: groups } : {}),
    });
  let vxlanNet = '';
  let vm1: Instance;
  let vm2: Instance;
  let vm3: Instance;
  let closed: Instance;
  let v100a: Instance;
  let v100b: Instance;
  let v200: Instance;

  before(async () => {
    labUpped = await labUp(['--hosts', '2', '--driver', 'openvswitch', '--resync-interval', '2']);
    ({ stateDir, state: lab, session } = labUpped);
    vxlanNet = await network('ovs-x', '10.61.0.0/24', { 'provider:network_type': 'vxlan' });
    const { security_group: group } = await session.post<{ security_group: { id: string } }>(
      '/v2.0/security-groups',
      { security_group: { name: 'ovs-closed' } },
    );
    vm1 = await instance('ovs-vm1', vxlanNet, 'host1');
    vm2 = await instance('ovs-vm2', vxlanNet, 'host1');
    vm3 = await instance('ovs-vm3', vxlanNet, 'host2');
    closed = await instance('ovs-closed', vxlanNet, 'host2', [group.id]);
    const vlan = (id: number) => ({
      'provider:network_type': 'vlan',
      'provider:physical_network': 'physnet1',
      'provider:segmentation_id': id,
    });
    // The same addresses on both VLANs: only the tag keeps them apart.
    const n100 = await network('ovs-v100', '10.62.0.0/24', vlan(100));
    const n200 = await network('ovs-v200', '10.62.0.0/24', vlan(200));
    v100a = await instance('ovs-v100a', n100, 'host1');
    v100b = await instance('ovs-v100b', n100, 'host2');
    // An address no port of VLAN 100 holds: reaching it would mean crossing into VLAN 200.
    v200 = await instance('ovs-v200', n200, 'host2', undefined, '10.62.0.200');
  });

  after(async () => {
    await labUpped?.down();
    const left = processes().filter((p) => /ovs-vswitchd|ovsdb-server/.test(p) && p.includes(stateDir));
    assert.deepEqual(left, [], 'no Open vSwitch daemon of the lab is left');
  });

  it('reports Open vSwitch agents, binds ports as ovs and logs the userspace datapath', async () => {
    const { agents } = await session.get<{ agents: { host: string; agent_type: string; alive: boolean }[] }>(
      '/v2.0/agents',
    );
    for (const name of ['host1', 'host2'])
      assert.ok(
        agents.some((a) => a.host === name && a.agent_type === 'Open vSwitch agent' && a.alive),
        `${name}: ${JSON.stringify(agents)}`,
      );
    assert.ok(!agents.some((a) => a.agent_type === 'Linux bridge agent'));
    const { port } = await session.get<{ port: Record<string, unknown> }>(`/v2.0/ports/${vm1.ports[0].id}`);
    assert.equal(port['binding:vif_type'], 'ovs');
    const log = readFileSync(join(host('host1').stateDir, 'agent.log'), 'utf8');
    assert.match(log, /Open vSwitch datapath: netdev \(userspace/);
  });

  it('lays out br-int, the provider bridge and the veth pair between them; one tag per network', async () => {
    const bridges = (await vsctl('host1', 'list-br')).split('\n').filter(Boolean).sort();
    assert.deepEqual(bridges, ['br-int', 'br-phy', 'br-physnet1', 'br-tun']);
    // br-int and br-tun joined by patch ports; on br-tun one VXLAN port towards host2's endpoint.
    assert.equal((await vsctl('host1', 'get', 'Interface', 'patch-tun', 'options:peer')).trim(), 'patch-int');
    const tunPorts = (await vsctl('host1', 'list-ports', 'br-tun')).split('\n').filter(Boolean).sort();
    assert.deepEqual(tunPorts, ['patch-int', tunnelPort(host('host2'))]);
    const options = (await vsctl('host1', 'get', 'Interface', tunnelPort(host('host2')), 'options')).trim();
    assert.match(options, new RegExp(`remote_ip="${host('host2').tunnelIp.replaceAll('.', '\\.')}"`));
    assert.match(options, /key=flow/);
    assert.equal(
      (await vsctl('host1', 'get', 'Interface', tunnelPort(host('host2')), 'type')).trim(),
      'vxlan',
    );
    // The userspace datapath tunnels through br-phy: eth1 on it, the endpoint address on its port.
    assert.deepEqual((await vsctl('host1', 'list-ports', 'br-phy')).split('\n').filter(Boolean), ['eth1']);
    assert.deepEqual(await addressesOf('host1', 'br-phy'), [host('host1').tunnelIp]);
    assert.deepEqual(await addressesOf('host1', 'eth1'), []);
    const log = readFileSync(join(host('host1').stateDir, 'agent.log'), 'utf8');
    assert.match(log, /eth1 joins br-phy/);
    // eth1 is fenced off from host1's own stack: it sees that wire only through br-phy.
    assert.match(await fence('host1'), /hook ingress device "eth1"[\s\S]*counter packets \d+ bytes \d+ drop/);
    const intPorts = (await vsctl('host1', 'list-ports', 'br-int')).split('\n');
    const phyPorts = (await vsctl('host1', 'list-ports', 'br-physnet1')).split('\n');
    assert.ok(intPorts.includes('int-br-physnet1'), intPorts.join(' '));
    assert.ok(phyPorts.includes('phy-br-physnet1') && phyPorts.includes('eth2'), phyPorts.join(' '));
    const peer = await runOnHost(host('host1'), 'ip', ['-d', '-j', 'link', 'show', 'dev', 'int-br-physnet1']);
    assert.equal(JSON.parse(peer.stdout)[0].linkinfo.info_kind, 'veth');
    const tag = async (port: string) => Number((await vsctl('host1', 'get', 'Port', port, 'tag')).trim());
    const qvo = (i: Instance) => `qvo${i.ports[0].id.slice(0, 11)}`;
    const t1 = await tag(qvo(vm1));
    assert.ok(t1 >= 1);
    assert.equal(await tag(qvo(vm2)), t1, 'ports of one network carry the same tag');
    assert.notEqual(await tag(qvo(v100a)), t1, 'another network, another tag');
    // Hybrid plug: the tap and qvb on the port's own Linux bridge.
    const onQbr = await runOnHost(host('host1'), 'ip', [
      '-j',
      'link',
      'show',
      'master',
      `qbr${vm1.ports[0].id.slice(0, 11)}`,
    ]);
    const names = (JSON.parse(onQbr.stdout) as { ifname: string }[]).map((l) => l.ifname).sort();
    assert.deepEqual(names, [`qvb${vm1.ports[0].id.slice(0, 11)}`, `tap${vm1.ports[0].id.slice(0, 11)}`]);
  });

  it('carries a vxlan network within and across hosts (ping and TCP)', async () => {
    assert.ok(await ping(vm1, ipOf(vm2)), 'same host, through br-int');
    assert.ok(await ping(vm1, ipOf(vm3)), 'across hosts');
    await tcp(vm1, vm2, 5101);
    await tcp(vm3, vm1, 5102);
  });

  it('l2population on br-tun: floods only to hosts with ports, sends remote MACs down their tunnel, answers ARP', async () => {
    const flows = async (table: number) =>
      (await ofctl('host1', 'dump-flows', 'br-tun', '--names', `table=${table}`))
        .split('\n')
        .filter((l) => l.includes('cookie='));
    const toHost2 = tunnelPort(host('host2'));
    const tagOf = async (i: Instance) =>
      Number((await vsctl('host1', 'get', 'Port', `qvo${i.ports[0].id.slice(0, 11)}`, 'tag')).trim());
    const t1 = await tagOf(vm1);
    const flood = (await flows(22)).filter((l) => l.includes(`dl_vlan=${t1}`));
    assert.equal(flood.length, 1, flood.join('\n'));
    assert.match(flood[0], new RegExp(`output:"?${toHost2}"?`));
    const mac3 = (await session.get<{ port: { mac_address: string } }>(`/v2.0/ports/${vm3.ports[0].id}`)).port
      .mac_address;
    assert.ok(
      (await flows(20)).some(
        (l) => l.includes(`dl_dst=${mac3}`) && new RegExp(`output:"?${toHost2}`).test(l),
      ),
      "vm3's MAC goes down host2's tunnel",
    );
    // ARP for a remote address is answered on this host: with vm1's neighbour entry gone, a ping
    // makes vm1 ask, and table 21's rule for vm3's address counts the request it answered.
    const answered = async () => {
      const rule = (await flows(21)).find((l) => l.includes(`arp_tpa=${ipOf(vm3)}`));
      assert.ok(rule, 'an ARP responder rule for vm3');
      return Number(/n_packets=(\d+)/.exec(rule)![1]);
    };
    const before = await answered();
    await inside(vm1, 'ip', ['neigh', 'flush', 'dev', 'eth0']);
    assert.ok(await ping(vm1, ipOf(vm3)));
    // The switch adds a datapath flow's counts to its rules every half second or so.
    await until(
      'the request counted by the ARP responder rule',
      async () => (await answered()) > before,
      10_000,
      300,
    );
    // A network with ports on host1 only floods nowhere; a port on host2 opens its flood.
    const lonely = await network('ovs-lonely', '10.63.0.0/24', { 'provider:network_type': 'vxlan' });
    const l1 = await instance('ovs-l1', lonely, 'host1');
    const tag = await tagOf(l1);
    assert.deepEqual(
      (await flows(22)).filter((l) => l.includes(`dl_vlan=${tag}`)),
      [],
    );
    const l2 = await instance('ovs-l2', lonely, 'host2');
    await until(
      'a flood rule towards host2 for the network',
      async () => (await flows(22)).some((l) => l.includes(`dl_vlan=${tag}`) && l.includes(toHost2)),
      20_000,
      300,
    );
    assert.ok(await until('l1 reaches l2 across the tunnel', () => ping(l1, ipOf(l2)), 20_000, 300));
    // What reached host1's stack on eth1 was dropped there (the switch had read it).
    assert.ok(Number(/counter packets (\d+)/.exec(await fence('host1'))![1]) > 0);
  });

  it("filters on the port's qbr: a group without ingress rules drops, a rule opens it", async () => {
    assert.equal(await ping(vm3, ipOf(closed)), false);
    const { port } = await session.get<{ port: { security_groups: string[] } }>(
      `/v2.0/ports/${closed.ports[0].id}`,
    );
    await session.post('/v2.0/security-group-rules', {
      security_group_rule: {
        security_group_id: port.security_groups[0],
        direction: 'ingress',
        ethertype: 'IPv4',
        protocol: 'icmp',
      },
    });
    await until('ping through the new rule', () => ping(vm3, ipOf(closed)), 20_000, 300);
  });

  it('sends a VLAN provider network tagged on the wire and keeps two VLANs apart', async () => {
    const wire = `${host('host1').name}-p`;
    const dump = spawn('ip', [
      ...['netns', 'exec', lab.underlayNetns, 'tcpdump', '-l', '-e', '-n', '-c', '2', '-i', wire, 'icmp'],
    ]);
    let seen = '';
    dump.stdout.on('data', (c: Buffer) => {
      seen += c;
    });
    try {
      // tcpdump needs a moment to attach; on a loaded machine a ping may need another try.
      await sleep(1_000);
      assert.ok(await until('VLAN 100 across hosts', () => ping(v100a, ipOf(v100b)), 20_000, 300));
      await until('tagged frames on the wire', async () => /vlan 100/.test(seen), 10_000);
    } finally {
      dump.kill();
    }
    assert.doesNotMatch(seen, /ethertype IPv4 \(0x0800\), length \d+: 10\.62/, 'no untagged frame');
    assert.equal(await ping(v100a, ipOf(v200)), false, 'VLAN 200 is another network');
  });

  it('repairs drift: a deleted qvo port and a flow removed by hand come back', async () => {
    const qvo = `qvo${vm2.ports[0].id.slice(0, 11)}`;
    await vsctl('host1', 'del-port', 'br-int', qvo);
    await until(
      'qvo back on br-int',
      async () => (await vsctl('host1', 'list-ports', 'br-int')).includes(qvo),
      20_000,
      300,
    );
    await until('ping through the repaired port', () => ping(vm1, ipOf(vm2)), 20_000, 300);
    const before = (await ofctl('host1', 'dump-flows', 'br-physnet1'))
      .split('\n')
      .filter((l) => l.includes('cookie=')).length;
    // The provider bridge's normal switching: VLAN traffic stops at it until the rule is back.
    await ofctl('host1', 'del-flows', 'br-physnet1', '--strict', 'priority=0');
    await until(
      'the rules put back by the next resync',
      async () =>
        (await ofctl('host1', 'dump-flows', 'br-physnet1')).split('\n').filter((l) => l.includes('cookie='))
          .length === before,
      20_000,
      300,
    );
    assert.ok(await ping(v100a, ipOf(v100b)));
  });

  it('keeps traffic through an agent restart (the switch runs on)', async () => {
    const agent = host('host1');
    const pinger = spawn('nsenter', [
      `--mount=${agent.mountFile}`,
      `--net=/run/netns/${agent.netns}`,
      '--',
      ...['ip', 'netns', 'exec', `inst-${vm1.id}`, 'ping', '-c', '40', '-i', '0.1', ipOf(vm3)],
    ]);
    let out = '';
    pinger.stdout.on('data', (c: Buffer) => {
      out += c;
    });
    const done = new Promise((resolve) => pinger.on('close', resolve));
    await sleep(500);
    process.kill(agent.pid!, 'SIGKILL');
    await sleep(500);
    await restartLabAgent(stateDir, 'host1', { resyncInterval: '2' });
    lab = readLab(stateDir)!;
    await done;
    assert.match(out, / 0% packet loss/, out.split('\n').slice(-3).join('\n'));
  });

  it('refuses bad input with one clear line and builds nothing', async () => {
    const typo = mkdtempSync(join(tmpdir(), 'neutrino-ovslab-typo-'));
    try {
      const r = await neutrinoCli(['lab', 'up', '--hosts', '1', '--driver', 'ovs-typo', '--state-dir', typo]);
      assert.notEqual(r.code, 0);
      assert.match(r.stderr, /--driver "ovs-typo": one of linuxbridge, openvswitch/);
      assert.equal(readLab(typo), undefined, 'no lab was made');
      const agent = await neutrinoCli([
        'agent',
        '--server',
        'http://127.0.0.1:9',
        '--host',
        'x',
        '--driver',
        'ovs-typo',
      ]);
      assert.notEqual(agent.code, 0);
      assert.match(agent.stderr, /--driver "ovs-typo"/);
    } finally {
      rmSync(typo, { recursive: true, force: true });
    }
    const outOfRange = await session
      .post('/v2.0/networks', {
        network: {
          name: 'ovs-bad',
          'provider:network_type': 'vlan',
          'provider:physical_network': 'physnet1',
          'provider:segmentation_id': 4095,
        },
      })
      .then(
        () => undefined,
        (err: { status?: number; message?: string }) => err,
      );
    assert.equal(outOfRange?.status, 400, String(outOfRange?.message));
  });

  it('neutrino down on a host removes its bridges and stops its switch, leaving nothing', async () => {
    const h = host('host2');
    process.kill(h.pid!, 'SIGTERM');
    await until(
      'the agent stopped',
      async () => !processes().some((p) => p.includes(`${h.stateDir} `)),
      10_000,
    );
    const down = await runOnHost(h, process.execPath, [
      ...[BIN, 'down', '--state-dir', h.stateDir, '--config', join(h.stateDir, 'neutrino.yaml')],
    ]);
    assert.match(down.stdout, /removed the data plane/);
    const left = processes().filter((p) => /ovs-vswitchd|ovsdb-server/.test(p) && p.includes(h.stateDir));
    assert.deepEqual(left, []);
    const links = JSON.parse((await runOnHost(h, 'ip', ['-j', 'link', 'show'])).stdout) as {
      ifname: string;
    }[];
    const ours = links
      .map((l) => l.ifname)
      .filter((n) => /^(br-|ovs-netdev|qbr|qvb|qvo|tap|int-br|phy-br|vxlan-)/.test(n));
    assert.deepEqual(ours, [], 'no bridge, port or datapath device left on host2');
    assert.deepEqual(await addressesOf('host2', 'eth1'), [h.tunnelIp], 'the tunnel endpoint is back on eth1');
    assert.doesNotMatch((await runOnHost(h, 'nft', ['list', 'tables', 'netdev'])).stdout, /neutrino-ul-/);
    assert.equal((await runOnHost(h, 'ip', ['netns', 'list'])).stdout.trim(), '');
  });
});
