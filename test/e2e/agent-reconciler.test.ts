/**
 * The agent's reconciler against the real kernel (root): a hand-built snapshot with four networks
 * (local, vxlan with MTU 1450, a second project's local network reusing 10.0.0.0/24, and a flat
 * network on a test-made uplink to an "outside" namespace), instances getting their fixed IPs by
 * DHCP, isolation, idempotence, no packet lost across no-op reconciles, drift repair, port
 * deletion with `dhcp_release`, and a teardown that leaves nothing behind.
 *
 * Every id is a fresh UUID (and the VNI random), so parallel runs never share a name, and a
 * temporary state dir makes this run a deployment of its own.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { chmod, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Reconciler, type Summary } from '../../src/agent/reconciler.js';
import { run, runInNamespace } from '../../src/linux/exec.js';
import { addNamespace, deleteNamespace, ipBatch, ipJson, listNamespaces } from '../../src/linux/ip.js';
import { isAlive, readPidFile } from '../../src/linux/process.js';
import type { Snapshot, SnapshotPort } from '../../src/model/host-snapshot.js';

const isRoot = process.getuid?.() === 0;
const LEAK_CHECK = '/work/shared/tools/leak-check';

interface Vm {
  instance: string;
  port: SnapshotPort;
  ip: string;
}

/** Builds the snapshot: networks with one IPv4 subnet, a DHCP port at .2 and instances. */
class Topology {
  readonly snapshot: Snapshot = {
    host: 'test',
    revision: 1,
    dnsDomain: 'openstacklocal.',
    networks: [],
    subnets: [],
    ports: [],
    instances: [],
    routers: [],
    physicalInterfaceMappings: {},
  };
  #mac = randomBytes(2).readUInt16BE() & 0xfff0;

  network(options: {
    type: 'local' | 'vxlan' | 'flat';
    cidr24: string;
    mtu?: number;
    vni?: number;
    physnet?: string;
    gateway?: boolean;
  }): { id: string; subnet: string; dhcp: SnapshotPort } {
    const id = randomUUID();
    const subnet = randomUUID();
    this.snapshot.networks.push({
      id,
      project_id: randomUUID(),
      admin_state_up: true,
      mtu: options.mtu ?? 1500,
      network_type: options.type,
      physical_network: options.physnet ?? null,
      segmentation_id: options.vni ?? null,
    });
    this.snapshot.subnets.push({
      id: subnet,
      network_id: id,
      ip_version: 4,
      cidr: `${options.cidr24}.0/24`,
      gateway_ip: options.gateway === false ? null : `${options.cidr24}.1`,
      enable_dhcp: true,
      dns_nameservers: [],
      host_routes: [],
    });
    const dhcp = this.port(id, subnet, `${options.cidr24}.2`, 'network:dhcp');
    return { id, subnet, dhcp };
  }

  port(network: string, subnet: string, ip: string, owner = 'compute:nova'): SnapshotPort {
    const mac = this.#mac++;
    const port: SnapshotPort = {
      id: randomUUID(),
      network_id: network,
      mac_address: `fa:16:3e:${randomBytes(1).toString('hex')}:${(mac >> 8).toString(16).padStart(2, '0')}:${(mac & 255).toString(16).padStart(2, '0')}`,
      fixed_ips: [{ subnet_id: subnet, ip_address: ip }],
      device_owner: owner,
      device_id: '',
      admin_state_up: true,
      dns_name: '',
      extra_dhcp_opts: [],
    };
    this.snapshot.ports.push(port);
    return port;
  }

  vm(net: { id: string; subnet: string }, ip: string): Vm {
    const port = this.port(net.id, net.subnet, ip);
    const instance = randomUUID();
    this.snapshot.instances.push({ id: instance, name: `vm ${ip}`, ports: [port.id] });
    return { instance, port, ip };
  }

  remove(vm: Vm): void {
    this.snapshot.instances = this.snapshot.instances.filter((i) => i.id !== vm.instance);
    this.snapshot.ports = this.snapshot.ports.filter((p) => p.id !== vm.port.id);
  }
}

const ns = (vm: Vm) => `inst-${vm.instance}`;
const tap = (port: SnapshotPort) => `tap${port.id.slice(0, 11)}`;

async function ping(from: Vm, to: string, args: string[] = []): Promise<boolean> {
  const { code } = await runInNamespace(ns(from), 'ping', ['-c', '1', '-W', '1', ...args, to], {
    allowFail: true,
  });
  return code === 0;
}

describe('agent reconciler (real kernel)', { skip: !isRoot && 'needs root' }, () => {
  const topo = new Topology();
  const vni = 100_000 + (randomBytes(3).readUIntBE(0, 3) % 16_000_000);
  const local = topo.network({ type: 'local', cidr24: '10.0.0' });
  const a1 = topo.vm(local, '10.0.0.11');
  const a2 = topo.vm(local, '10.0.0.12');
  const vxlan = topo.network({ type: 'vxlan', cidr24: '10.1.0', mtu: 1450, vni });
  const v1 = topo.vm(vxlan, '10.1.0.11');
  const v2 = topo.vm(vxlan, '10.1.0.12');
  const other = topo.network({ type: 'local', cidr24: '10.0.0' });
  const b1 = topo.vm(other, '10.0.0.11');
  const b2 = topo.vm(other, '10.0.0.13');
  const flat = topo.network({ type: 'flat', cidr24: '203.0.113', physnet: 'ext', gateway: false });
  const f1 = topo.vm(flat, '203.0.113.10');
  const vms = [a1, a2, v1, v2, b1, b2, f1];

  const r = randomBytes(3).toString('hex');
  const outside = `neutrino-out${r}`;
  const uplink = `tapx${r}`;
  topo.snapshot.physicalInterfaceMappings = { ext: uplink };

  const namespaces = [...vms.map(ns), ...topo.snapshot.networks.map((n) => `qdhcp-${n.id}`)];
  const links = [
    ...topo.snapshot.networks.map((n) => `brq${n.id.slice(0, 11)}`),
    `vxlan-${vni}`,
    ...topo.snapshot.ports.map(tap),
  ];
  let stateDir = '';
  let reconciler: Reconciler;
  const pids = new Set<number>();

  /** Reconciles until every port is ACTIVE (wired, and its instance holds its lease). */
  async function converge(timeoutMs = 20_000): Promise<Summary> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const summary = await reconciler.reconcile();
      assert.deepEqual(summary.failures, []);
      if (Object.values(summary.ports).every((s) => s === 'ACTIVE')) return summary;
      assert.ok(Date.now() < deadline, `ports still DOWN: ${JSON.stringify(summary.ports)}`);
      await sleep(50);
    }
  }

  async function recordPids(): Promise<void> {
    for (const net of topo.snapshot.networks) {
      const pid = await readPidFile(join(stateDir, 'dhcp', net.id, 'pid'));
      if (pid) pids.add(pid);
    }
    for (const vm of vms) {
      const pid = await readPidFile(join(stateDir, 'instances', vm.instance, 'udhcpc-eth0.pid'));
      if (pid) pids.add(pid);
    }
  }

  before(async () => {
    stateDir = await mkdtemp(join(tmpdir(), 'neutrino-agent-'));
    await chmod(stateDir, 0o755); // dnsmasq rereads its files as an unprivileged user
    reconciler = new Reconciler({ stateDir, source: async () => structuredClone(topo.snapshot) });
    // "The outside world" of the flat network: a namespace of its own behind a test-made uplink.
    await addNamespace(outside);
    await ipBatch([
      ['link', 'add', uplink, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', outside],
      ['link', 'set', uplink, 'up'],
    ]);
    await ipBatch(
      [
        ['addr', 'add', '203.0.113.254/24', 'dev', 'eth0'],
        ['link', 'set', 'eth0', 'up'],
      ],
      { netns: outside },
    );
  });

  after(async () => {
    if (reconciler) await reconciler.teardown().catch((err) => console.error('teardown', err));
    await ipBatch([['link', 'del', uplink]]).catch(() => undefined);
    await deleteNamespace(outside).catch((err) => console.error(outside, err));
    if (stateDir) await rm(stateDir, { recursive: true, force: true });
  });

  it('builds everything in one run, and a second run right after finds nothing to do', async (t) => {
    const first = await reconciler.reconcile();
    t.diagnostic(`first run: ${first.actions} actions in ${first.durationMs} ms`);
    assert.deepEqual(first.failures, []);
    assert.deepEqual(first.problems, []);
    assert.ok(first.actions > 50);
    const second = await reconciler.reconcile();
    t.diagnostic(`second run: ${second.actions} actions in ${second.durationMs} ms`);
    assert.equal(second.actions, 0);
    assert.equal(second.revision, 1);
    const restarted = new Reconciler({ stateDir, source: async () => structuredClone(topo.snapshot) });
    assert.equal((await restarted.reconcile()).actions, 0, 'a restarted agent adopts what it finds');
  });

  it('gives every instance exactly its fixed IP by DHCP', async (t) => {
    const started = performance.now();
    await converge();
    t.diagnostic(
      `all ${vms.length} instances leased after ${Math.round(performance.now() - started)} ms more`,
    );
    for (const vm of vms) {
      const lease = await readFile(join(stateDir, 'instances', vm.instance, 'eth0.lease'), 'utf8');
      assert.match(lease, new RegExp(`^ip=${vm.ip.replaceAll('.', '\\.')}$`, 'm'));
      const [eth0] = await ipJson<{ address: string; addr_info: { family: string; local: string }[] }[]>(
        ['addr', 'show', 'dev', 'eth0'],
        { netns: ns(vm) },
      );
      assert.deepEqual(
        eth0.addr_info.filter((a) => a.family === 'inet').map((a) => a.local),
        [vm.ip],
      );
      assert.equal(eth0.address, vm.port.mac_address);
    }
    await recordPids();
    const client = (await readPidFile(join(stateDir, 'instances', a1.instance, 'udhcpc-eth0.pid')))!;
    assert.equal(
      (await readFile(`/proc/${client}/comm`, 'utf8')).trim(),
      'udhcpc',
      'visible to pgrep -x udhcpc',
    );
  });

  it('connects the instances of a network', async () => {
    assert.ok(await ping(a1, a2.ip));
    assert.ok(await ping(a2, a1.ip));
    assert.ok(await ping(v1, v2.ip));
  });

  it('delivers MTU 1450 to instances of a vxlan network by DHCP', async () => {
    const [eth0] = await ipJson<{ mtu: number }[]>(['link', 'show', 'dev', 'eth0'], { netns: ns(v1) });
    assert.equal(eth0.mtu, 1450);
    assert.ok(await ping(v1, v2.ip, ['-M', 'do', '-s', '1422']), '1450-byte packets pass');
    assert.ok(!(await ping(v1, v2.ip, ['-M', 'do', '-s', '1423'])), '1451-byte packets do not');
  });

  it('isolates networks, even two projects using the same CIDR at once', async () => {
    assert.ok(await ping(b1, b2.ip), 'the second project works');
    assert.ok(!(await ping(a1, b2.ip)), '10.0.0.13 exists only on the other network');
    assert.ok(!(await ping(b2, a2.ip)), '10.0.0.12 exists only on the other network');
    const [neighbour] = await ipJson<{ lladdr?: string }[]>(['neigh', 'show', b1.ip], { netns: ns(b2) });
    assert.equal(neighbour?.lladdr, b1.port.mac_address, 'b2 reached its own 10.0.0.11, not a1');
  });

  it('bridges a flat network onto its mapped interface', async () => {
    assert.ok(await ping(f1, '203.0.113.254'));
    const [link] = await ipJson<{ master?: string }[]>(['link', 'show', 'dev', uplink]);
    assert.equal(link.master, `brq${flat.id.slice(0, 11)}`);
  });

  it('does not disturb traffic while reconciling an unchanged state', async (t) => {
    const pinging = runInNamespace(ns(a1), 'ping', ['-i', '0.05', '-c', '60', '-W', '1', a2.ip], {
      allowFail: true,
    });
    let done = false;
    void pinging.finally(() => {
      done = true;
    });
    const durations: number[] = [];
    while (!done) {
      const summary = await reconciler.reconcile();
      assert.equal(summary.actions, 0);
      durations.push(summary.durationMs);
    }
    const { stdout } = await pinging;
    t.diagnostic(
      `${durations.length} no-op reconciles, median ${durations.sort((x, y) => x - y)[durations.length >> 1]} ms`,
    );
    assert.match(stdout, /60 packets transmitted, 60 received, 0% packet loss/);
  });

  it('coalesces a burst of requests into one more run: one SIGHUP for many new ports', async () => {
    let reads = 0;
    const counting = new Reconciler({
      stateDir,
      source: async () => {
        reads++;
        return structuredClone(topo.snapshot);
      },
    });
    const burst: Promise<Summary>[] = [];
    for (let i = 0; i < 100; i++) {
      topo.port(local.id, local.subnet, `10.0.0.${100 + i}`);
      topo.snapshot.revision++;
      burst.push(counting.reconcile());
    }
    const summaries = [...new Set(await Promise.all(burst))];
    assert.equal(reads, 2, 'the first request runs, the other 99 share the next run');
    assert.deepEqual(
      summaries.map((s) => s.revision),
      [2, 101],
    );
    assert.ok(summaries.every((s) => (s.ops['dnsmasq.reload'] ?? 0) <= 1));
    const hosts = await readFile(join(stateDir, 'dhcp', local.id, 'host'), 'utf8');
    assert.ok(hosts.includes(',10.0.0.199\n'));
    topo.snapshot.ports = topo.snapshot.ports.filter(
      (p) => !p.fixed_ips[0].ip_address.match(/^10\.0\.0\.(1\d\d)$/),
    );
    assert.equal((await counting.reconcile()).ops['dnsmasq.reload'], 1);
  });

  it('repairs drift: a deleted tap and a killed dnsmasq', async () => {
    const pidFile = join(stateDir, 'dhcp', local.id, 'pid');
    const dnsmasq = (await readPidFile(pidFile))!;
    await ipBatch([['link', 'del', tap(a1.port)]]);
    process.kill(dnsmasq, 'SIGKILL');
    while (await isAlive(dnsmasq)) await sleep(10);
    const repair = await reconciler.reconcile();
    assert.deepEqual(repair.failures, []);
    assert.ok(repair.actions >= 3, `${repair.actions} actions`);
    await converge();
    const restarted = (await readPidFile(pidFile))!;
    assert.notEqual(restarted, dnsmasq);
    assert.ok(await isAlive(restarted));
    assert.ok(await ping(a1, a2.ip));
    await recordPids();
  });

  it('unplugs a deleted instance, ending what ran in it, and releases its lease', async () => {
    const leases = join(stateDir, 'dhcp', other.id, 'leases');
    assert.match(await readFile(leases, 'utf8'), new RegExp(` ${b2.ip.replaceAll('.', '\\.')} `));
    // A process inside keeps a namespace (and its veth) alive after `netns del`: it must go too.
    const inside = spawn('ip', ['netns', 'exec', ns(b2), 'sleep', '300'], { stdio: 'ignore' });
    await sleep(200);
    topo.remove(b2);
    const summary = await reconciler.reconcile();
    assert.deepEqual(summary.failures, []);
    assert.ok(!(await listNamespaces()).includes(ns(b2)));
    assert.equal((await ipJson(['link', 'show'])).filter((l) => l.ifname === tap(b2.port)).length, 0);
    assert.ok(inside.pid !== undefined && !(await isAlive(inside.pid)), 'the process inside was ended');
    for (let i = 0; (await readFile(leases, 'utf8')).includes(` ${b2.ip} `); i++) {
      assert.ok(i < 100, 'dhcp_release did not remove the lease');
      await sleep(10);
    }
    assert.ok(!(await readFile(join(stateDir, 'dhcp', other.id, 'host'), 'utf8')).includes(b2.ip));
    assert.ok(await ping(b1, '10.0.0.2'), 'the rest of the network still works');
  });

  it('tears everything down, leaving no namespace, link or process of its own', async (t) => {
    const running = reconciler.reconcile();
    const queued = reconciler.reconcile();
    const summary = await reconciler.teardown();
    assert.equal((await running).revision, topo.snapshot.revision);
    assert.equal(await queued, summary, 'the teardown replaces the queued reconcile');
    assert.deepEqual(summary.failures, []);
    const left = new Set(await listNamespaces());
    assert.deepEqual(
      namespaces.filter((n) => left.has(n)),
      [],
    );
    const present = new Set((await ipJson<{ ifname: string }[]>(['link', 'show'])).map((l) => l.ifname));
    assert.deepEqual(
      links.filter((l) => present.has(l)),
      [],
    );
    assert.ok(present.has(uplink), 'the mapped interface is not ours to delete');
    for (const pid of pids) assert.equal(await isAlive(pid), false, `pid ${pid}`);
    assert.ok(pids.size >= vms.length + 4);
    await ipBatch([['link', 'del', uplink]]);
    await deleteNamespace(outside);
    const { code, stdout } = await run(LEAK_CHECK, [], { allowFail: true });
    const ours = [...namespaces, ...links, outside, uplink, stateDir];
    const mine = stdout.split('\n').filter((line) => ours.some((name) => line.includes(name)));
    assert.deepEqual(mine, [], stdout);
    if (code !== 0) t.diagnostic(`leak-check found objects of other runs:\n${stdout}`);
  });
});
