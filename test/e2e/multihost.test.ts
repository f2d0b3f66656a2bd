/**
 * One virtual network across hosts, on `neutrino lab` with three hosts (host1 network+compute,
 * host2 and host3 compute), driven through the CLI and the API: instances on different hosts get
 * their addresses by DHCP from the network host, ping and talk TCP, see MTU 1450 exactly; a host
 * with no port on a network receives none of its broadcasts; ARP for a remote instance is answered
 * on the asking host; a port coming and going on one host changes only forwarding entries on the
 * others (no device recreated); bad agent input fails with one clear line; `lab down` leaves
 * nothing. Underlay traffic is counted by nftables counters on VXLAN packets by VNI (and inner
 * broadcast MAC) on each host's input, so other networks' unicast (neighbour probes, DHCP
 * renewals) never blurs the numbers.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { type LabHost, type LabState, readLab } from '../../src/cli/lab.js';
import { Session } from '../../src/client/session.js';
import { runInNamespace } from '../../src/linux/exec.js';
import { ipJson, listNamespaces } from '../../src/linux/ip.js';
import { isMountPoint, runInHostNamespace, runOnHost } from '../../src/linux/lab-host.js';
import { BIN, type CliResult } from '../helpers/neutrino-up.js';
import { until } from '../helpers/until.js';

const isRoot = process.getuid?.() === 0;
const INSTANCES = '/neutrino/v1/instances';

interface Instance {
  id: string;
  name: string;
  status: string;
  host: string | null;
  ports: { id: string; mac_address: string; fixed_ips: { ip_address: string }[] }[];
}

/** The environment without the caller's NEUTRINO_* and OS_* variables, plus `extra`. */
function env(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const out: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env))
    if (!k.startsWith('NEUTRINO_') && !k.startsWith('OS_')) out[k] = v;
  return { ...out, ...extra };
}

/** The command lines of every process on the machine. */
function listProcesses(): string[] {
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

function neutrino(
  args: string[],
  extraEnv: Record<string, string> = {},
  timeoutMs = 120_000,
): Promise<CliResult> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      env: env(extraEnv),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => {
      stdout += c;
    });
    child.stderr.on('data', (c: Buffer) => {
      stderr += c;
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

describe('multi-host: one vxlan network across a three-host lab', { skip: !isRoot && 'needs root' }, () => {
  const stateDir = mkdtempSync(join(tmpdir(), 'neutrino-lab-'));
  let lab: LabState;
  let session: Session;
  let cloudEnv: Record<string, string>;
  const host = (name: string): LabHost => lab.hosts.find((h) => h.name === name)!;
  let vniA = 0;
  let vniB = 0;
  let netA = '';
  let vmB: Instance;
  let vmC: Instance;
  let vmB2: Instance;

  const cli = async (...args: string[]) => {
    const r = await neutrino(args, cloudEnv);
    assert.equal(r.code, 0, `neutrino ${args.join(' ')}: ${r.stderr}`);
    return r.stdout;
  };
  const network = async (name: string, cidr: string) => {
    const { network } = await session.post<{ network: { id: string; 'provider:segmentation_id': number } }>(
      '/v2.0/networks',
      { network: { name, 'provider:network_type': 'vxlan' } },
    );
    await session.post('/v2.0/subnets', { subnet: { network_id: network.id, ip_version: 4, cidr } });
    return network;
  };
  const instance = async (
    name: string,
    networkId: string,
    on: string,
    fixedIp?: string,
  ): Promise<Instance> => {
    const { instance } = await session.post<{ instance: Instance }>(INSTANCES, {
      instance: {
        name,
        host: on,
        networks: [{ network_id: networkId, ...(fixedIp === undefined ? {} : { fixed_ip: fixedIp }) }],
      },
    });
    return until(
      `${name} ACTIVE`,
      async () => {
        const { instance: now } = await session.get<{ instance: Instance }>(`${INSTANCES}/${instance.id}`);
        assert.notEqual(now.status, 'ERROR', JSON.stringify(now));
        return now.status === 'ACTIVE' ? now : undefined;
      },
      60_000,
    );
  };
  const ipOf = (i: Instance) => i.ports[0].fixed_ips[0].ip_address;
  const inside = (i: Instance, cmd: string, args: string[], timeoutMs = 15_000) =>
    runInHostNamespace(host(i.host!), `inst-${i.id}`, cmd, args, { allowFail: true, timeoutMs });
  const ping = async (from: Instance, to: string, args: string[] = []) =>
    (await inside(from, 'ping', ['-c', '1', '-W', '2', ...args, to])).code === 0;
  /**
   * A counter of the VXLAN packets a host receives from the underlay (not the gratuitous ARPs its
   * agent hands its own devices over loopback) that match `match` (raw payload expressions over
   * the UDP header: `@th,96,24` is the VNI, `@th,128,48` the inner destination MAC), in a table of
   * the test's own inside the host's namespace (it goes with the namespace); returns its reader.
   * Counting by VNI keeps other networks' unicast (neighbour probes, renewals) out of the numbers.
   */
  const watch = async (name: string, counter: string, match: string) => {
    const table = 'inet neutrino-labtest';
    const input = [
      `add table ${table}`,
      `add chain ${table} input { type filter hook input priority -300; policy accept; }`,
      `add counter ${table} ${counter}`,
      `add rule ${table} input iifname != "lo" udp dport 4789 ${match} counter name "${counter}"`,
      '',
    ].join('\n');
    await runInNamespace(host(name).netns, 'nft', ['-f', '-'], { input });
    return async () => {
      const { stdout } = await runInNamespace(host(name).netns, 'nft', [
        '-j',
        'list',
        'counter',
        table,
        counter,
      ]);
      const found = (JSON.parse(stdout) as { nftables: { counter?: { packets: number } }[] }).nftables;
      return found.find((o) => o.counter)!.counter!.packets;
    };
  };
  const vxlanIfindex = async (name: string) =>
    (
      await ipJson<{ ifindex: number }[]>(['link', 'show', 'dev', `vxlan-${vniA}`], {
        netns: host(name).netns,
      })
    )[0].ifindex;
  const fdb = async (name: string) => {
    const { stdout } = await runOnHost(host(name), 'bridge', [
      '-json',
      'fdb',
      'show',
      'dev',
      `vxlan-${vniA}`,
    ]);
    return (JSON.parse(stdout) as { mac: string; dst?: string }[])
      .filter((e) => e.dst !== undefined)
      .map((e) => `${e.mac} ${e.dst}`)
      .sort();
  };

  before(async () => {
    const up = await neutrino(['lab', 'up', '--hosts', '3', '--network-hosts', '1', '--state-dir', stateDir]);
    assert.equal(up.code, 0, `lab up failed: ${up.stderr}`);
    assert.match(up.stdout, /export OS_CLIENT_CONFIG_FILE=/);
    lab = readLab(stateDir)!;
    cloudEnv = { OS_CLIENT_CONFIG_FILE: join(stateDir, 'clouds.yaml'), OS_CLOUD: 'neutrino' };
    session = new Session({
      auth: {
        type: 'password',
        credentials: {
          authUrl: `${lab.server!.url}/identity/v3`,
          username: 'admin',
          password: readFileSync(join(stateDir, 'admin-password'), 'utf8').trim(),
          projectName: 'admin',
          userDomainName: 'Default',
          projectDomainName: 'Default',
        },
      },
    });
    const a = await network('mh-a', '10.91.0.0/24');
    netA = a.id;
    vniA = a['provider:segmentation_id'];
    const b = await network('mh-b', '10.92.0.0/24');
    vniB = b['provider:segmentation_id'];
    // The CLI places instances across hosts by name.
    await cli('instance', 'create', 'vm-b', '--network', 'mh-a', '--host', 'host2', '--wait');
    vmB = (await session.get<{ instances: Instance[] }>(INSTANCES)).instances.find((i) => i.name === 'vm-b')!;
    assert.equal(vmB.host, 'host2');
    vmC = await instance('vm-c', netA, 'host3');
    vmB2 = await instance('vm-b2', b.id, 'host2');
  });

  // Whatever the tests did or failed to do, the lab goes.
  after(async () => {
    const down = await neutrino(['lab', 'down', '--state-dir', stateDir]);
    assert.equal(down.code, 0, `lab down failed: ${down.stderr}`);
    rmSync(stateDir, { recursive: true, force: true });
  });

  it('puts DHCP on the network host only; instances elsewhere get their addresses from it', async () => {
    const namespaces = async (name: string) => (await runOnHost(host(name), 'ip', ['netns', 'list'])).stdout;
    assert.match(await namespaces('host1'), new RegExp(`qdhcp-${netA}`));
    assert.doesNotMatch(await namespaces('host2'), /qdhcp-/);
    assert.match(await namespaces('host2'), new RegExp(`inst-${vmB.id}`));
    assert.doesNotMatch(
      await namespaces('host2'),
      new RegExp(`inst-${vmC.id}`),
      'each host has its own netns names',
    );
    for (const vm of [vmB, vmC]) {
      const { stdout } = await inside(vm, 'ip', ['-4', '-o', 'addr', 'show', 'dev', 'eth0']);
      assert.match(stdout, new RegExp(`inet ${ipOf(vm).replaceAll('.', '\\.')}/24`));
    }
    const exec = await neutrino(['exec', 'vm-b', '--', 'ip', '-o', 'link', 'show', 'eth0'], cloudEnv);
    assert.equal(exec.code, 0, exec.stderr);
    assert.match(exec.stdout, /mtu 1450/);
  });

  it('instances on different hosts ping each other and talk TCP', async () => {
    assert.ok(await ping(vmB, ipOf(vmC)));
    assert.ok(await ping(vmC, ipOf(vmB)));
    const listener = inside(vmC, 'busybox', ['nc', '-l', '-p', '7777', '-w', '10'], 20_000);
    await until('a listener', async () => {
      const { stdout } = await inside(vmC, 'ss', ['-ltn']);
      return stdout.includes(':7777');
    });
    const sent = await runInHostNamespace(
      host('host2'),
      `inst-${vmB.id}`,
      'busybox',
      ['nc', '-w', '2', ipOf(vmC), '7777'],
      { input: 'over the tunnel\n', allowFail: true },
    );
    assert.equal(sent.code, 0, sent.stderr);
    assert.match((await listener).stdout, /over the tunnel/);
  });

  it('carries 1422 bytes of payload with DF across hosts and refuses 1423 (MTU 1450 by DHCP)', async () => {
    assert.ok(await ping(vmB, ipOf(vmC), ['-M', 'do', '-s', '1422']));
    assert.ok(!(await ping(vmB, ipOf(vmC), ['-M', 'do', '-s', '1423'])));
  });

  it("sends a network's broadcasts only to hosts with ports on it", async () => {
    // Network mh-b has ports on host2 (vm-b2) and host1 (its DHCP port), none on host3.
    const onHost1 = await watch('host1', 'vni-b', `@th,96,24 ${vniB}`);
    const onHost3 = await watch('host3', 'vni-b', `@th,96,24 ${vniB}`);
    await inside(vmB2, 'ping', ['-b', '-c', '3', '-i', '0.2', '-W', '1', '10.92.0.255']);
    await sleep(300);
    assert.ok((await onHost1()) >= 3, 'host1 has a port on mh-b and gets its broadcasts');
    assert.equal(await onHost3(), 0, 'host3 has no port on mh-b and must receive none of its traffic');
  });

  it('answers ARP for a remote instance on the asking host, without a broadcast on the underlay', async () => {
    const broadcasts = `@th,96,24 ${vniA} @th,128,48 0xffffffffffff`;
    const [onHost1, onHost3] = [
      await watch('host1', 'bcast-a', broadcasts),
      await watch('host3', 'bcast-a', broadcasts),
    ];
    await inside(vmB, 'ip', ['neigh', 'flush', 'dev', 'eth0']);
    assert.ok(await ping(vmB, ipOf(vmC)));
    assert.deepEqual([await onHost1(), await onHost3()], [0, 0], 'no broadcast of mh-a crossed the underlay');
    const { stdout } = await inside(vmB, 'ip', ['neigh', 'show', ipOf(vmC)]);
    assert.match(stdout, new RegExp(vmC.ports[0].mac_address));
  });

  it('a port coming and going on host1 changes only forwarding entries on host2 and host3', async () => {
    const ifindexes = [await vxlanIfindex('host2'), await vxlanIfindex('host3')];
    const before = [await fdb('host2'), await fdb('host3')];
    const vmA = await instance('vm-a', netA, 'host1');
    const mac = vmA.ports[0].mac_address;
    const entry = `${mac} ${host('host1').tunnelIp}`;
    for (const name of ['host2', 'host3'])
      await until(`${mac} on ${name}`, async () => (await fdb(name)).includes(entry));
    assert.ok(await ping(vmA, ipOf(vmC)));
    await session.delete(`${INSTANCES}/${vmA.id}`);
    for (const [i, name] of ['host2', 'host3'].entries())
      await until(
        `${mac} gone from ${name}`,
        async () => JSON.stringify(await fdb(name)) === JSON.stringify(before[i]),
      );
    assert.deepEqual(
      [await vxlanIfindex('host2'), await vxlanIfindex('host3')],
      ifindexes,
      'no device recreated',
    );
  });

  it('an address freed on host3 and re-used by a new port there is reachable at once from host2', async () => {
    // vm-b learns the address at the first port's MAC (REACHABLE for 15-45 s, confirmed by nothing
    // but ARP); the proxy on host2 keeps the new port's own gratuitous ARP from crossing, so only
    // host2's agent announcing the new MAC on its bridge points vm-b at the new port in time.
    const address = '10.91.0.250';
    const first = await instance('vm-reuse-1', netA, 'host3', address);
    assert.ok(await ping(vmB, address));
    await session.delete(`${INSTANCES}/${first.id}`);
    const gone = `${first.ports[0].mac_address} ${host('host3').tunnelIp}`;
    await until('the first port gone from host2', async () => !(await fdb('host2')).includes(gone));
    const second = await instance('vm-reuse-2', netA, 'host3', address);
    const mac = second.ports[0].mac_address;
    assert.notEqual(mac, first.ports[0].mac_address);
    assert.ok(
      (await inside(vmB, 'ping', ['-c', '1', '-i', '0.1', '-w', '3', address])).code === 0,
      'the re-used address answers within 3 s',
    );
    assert.match((await inside(vmB, 'ip', ['neigh', 'show', address])).stdout, new RegExp(mac));
    await session.delete(`${INSTANCES}/${second.id}`);
    const entry = `${mac} ${host('host3').tunnelIp}`;
    await until('the second port gone from host2', async () => !(await fdb('host2')).includes(entry));
  });

  it("spans a flat network across hosts through each host's physnet interface", async () => {
    const { network } = await session.post<{ network: { id: string } }>('/v2.0/networks', {
      network: { name: 'mh-flat', 'provider:network_type': 'flat', 'provider:physical_network': 'physnet1' },
    });
    await session.post('/v2.0/subnets', {
      subnet: { network_id: network.id, ip_version: 4, cidr: '10.93.0.0/24' },
    });
    const [f2, f3] = [
      await instance('vm-f2', network.id, 'host2'),
      await instance('vm-f3', network.id, 'host3'),
    ];
    assert.ok(await ping(f2, ipOf(f3)));
    const { stdout } = await inside(f2, 'ip', ['-o', 'link', 'show', 'eth0']);
    assert.match(stdout, /mtu 1500/);
  });

  it('refuses an agent whose tunnel IP is not an address of its host, in one line', async () => {
    const r = await neutrino([
      ...['agent', '--server', lab.server!.url, '--host', 'nowhere', '--tunnel-ip', '198.51.100.250'],
      ...['--state-dir', join(stateDir, 'bad-agent')],
    ]);
    assert.notEqual(r.code, 0);
    assert.equal(
      r.stderr.trim(),
      'neutrino: --tunnel-ip 198.51.100.250 is not an address of this host (see ip addr)',
    );
  });

  it('refuses an instance on a host with no live compute agent, in one line, leaving no port', async () => {
    const before = (await session.get<{ ports: unknown[] }>('/v2.0/ports')).ports.length;
    const r = await neutrino(
      ['instance', 'create', 'vm-x', '--network', 'mh-a', '--host', 'host9'],
      cloudEnv,
    );
    assert.notEqual(r.code, 0);
    const lines = r.stderr.trim().split('\n');
    assert.equal(lines.length, 1, r.stderr);
    assert.match(lines[0], /host9 has no live compute agent; live compute hosts: host1, host2, host3/);
    assert.equal((await session.get<{ ports: unknown[] }>('/v2.0/ports')).ports.length, before);
  });

  it('refuses a second agent claiming a live host name', async () => {
    const dir = join(stateDir, 'hosts', 'impostor');
    mkdirSync(dir, { recursive: true });
    copyFileSync(join(stateDir, 'admin-password'), join(dir, 'admin-password'));
    const args = [
      BIN,
      'agent',
      '--server',
      lab.server!.url,
      '--host',
      'host3',
      '--tunnel-ip',
      host('host2').tunnelIp,
    ];
    const r = await runOnHost(host('host2'), process.execPath, [...args, '--state-dir', dir], {
      allowFail: true,
    });
    assert.notEqual(r.code, 0);
    const lines = r.stderr.trim().split('\n');
    assert.equal(lines.length, 1, r.stderr);
    assert.match(
      lines[0],
      /^neutrino: host host3 is already served by a live Linux bridge agent with tunnel endpoint/,
    );
  });

  it('lab down removes everything, even after every agent was killed', async () => {
    for (const h of lab.hosts) process.kill(h.pid!, 'SIGKILL');
    await until('agents gone', async () => lab.hosts.every((h) => !existsSync(`/proc/${h.pid}`)));
    const down = await neutrino(['lab', 'down', '--state-dir', stateDir]);
    assert.equal(down.code, 0, `lab down failed: ${down.stderr}`);
    assert.deepEqual(
      (await listNamespaces()).filter((n) => n.includes(lab.tag)),
      [],
    );
    assert.ok(!existsSync(`/sys/class/net/${lab.rootLink}`));
    for (const h of lab.hosts) assert.ok(!isMountPoint(h.mountFile), `${h.mountFile} still mounted`);
    const left = listProcesses().filter((p) => p.includes(stateDir));
    assert.deepEqual(left, [], 'no process of the lab is left (dnsmasq, udhcpc, server)');
    assert.equal(readLab(stateDir), undefined);
  });
});
