/**
 * One virtual network across hosts, on `neutrino lab` with three hosts (host1 network+compute,
 * host2 and host3 compute), driven through the CLI and the API: instances on different hosts get
 * their addresses by DHCP from the network host, ping and talk TCP, see MTU 1450 exactly; a host
 * with no port on a network receives none of its broadcasts; ARP for a remote instance is answered
 * on the asking host; a port coming and going on one host changes only forwarding entries on the
 * others (no device recreated); bad agent input fails with one clear line; `lab down` leaves
 * nothing. Underlay traffic is counted on each host's `eth1`, which carries VXLAN only (the lab
 * gives tunnel endpoints static neighbours and the API its own interface).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Session } from '../../src/cli/client.js';
import { type LabHost, type LabState, readLab } from '../../src/cli/lab.js';
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
  const instance = async (name: string, networkId: string, on: string): Promise<Instance> => {
    const { instance } = await session.post<{ instance: Instance }>(INSTANCES, {
      instance: { name, host: on, networks: [{ network_id: networkId }] },
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
  /** Packets received on a host's tunnel interface. */
  const tunnelRx = async (name: string) => {
    const [link] = await ipJson<{ stats64: { rx: { packets: number } } }[]>(
      ['-s', 'link', 'show', 'dev', 'eth1'],
      {
        netns: host(name).netns,
      },
    );
    return link.stats64.rx.packets;
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
    // The CLI places instances across hosts by name.
    await cli('instance', 'create', 'vm-b', '--network', 'mh-a', '--host', 'host2', '--wait');
    vmB = (await session.get<{ instances: Instance[] }>(INSTANCES)).instances.find((i) => i.name === 'vm-b')!;
    assert.equal(vmB.host, 'host2');
    vmC = await instance('vm-c', netA, 'host3');
    vmB2 = await instance('vm-b2', b.id, 'host2');
  });

  after(async () => {
    const down = await neutrino(['lab', 'down', '--state-dir', stateDir]);
    assert.equal(down.code, 0, `lab down failed: ${down.stderr}`);
    const tag = lab?.tag;
    if (tag) {
      assert.deepEqual(
        (await listNamespaces()).filter((n) => n.includes(tag)),
        [],
      );
      assert.ok(!existsSync(`/sys/class/net/nlab-${tag}`));
      for (const h of lab.hosts) assert.ok(!isMountPoint(h.mountFile));
    }
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
    const [before1, before3] = [await tunnelRx('host1'), await tunnelRx('host3')];
    await inside(vmB2, 'ping', ['-b', '-c', '3', '-i', '0.2', '-W', '1', '10.92.0.255']);
    await sleep(300);
    const [after1, after3] = [await tunnelRx('host1'), await tunnelRx('host3')];
    assert.ok(after1 - before1 >= 3, `host1 got ${after1 - before1} packets, expected the 3 broadcasts`);
    assert.equal(after3 - before3, 0, 'host3 has no port on mh-b and must receive nothing');
  });

  it('answers ARP for a remote instance on the asking host, without a broadcast on the underlay', async () => {
    await inside(vmB, 'ip', ['neigh', 'flush', 'dev', 'eth0']);
    const before1 = await tunnelRx('host1');
    assert.ok(await ping(vmB, ipOf(vmC)));
    const after1 = await tunnelRx('host1');
    assert.equal(after1 - before1, 0, 'host1 (DHCP port on mh-a) saw no ARP broadcast');
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
});
