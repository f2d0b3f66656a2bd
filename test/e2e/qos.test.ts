/**
 * QoS on the real kernel (root), through the agent's reconciler and a hand-built snapshot: two
 * instances on one network, bandwidth limits on one port's both directions measured with iperf3
 * (±15 %), a limit changed in place while traffic flows (no link flap, the same connection goes
 * on), the limit removed during a transfer restoring the full rate without reconnecting, DSCP
 * marks seen by tcpdump on the receiving instance with a valid IPv4 checksum, and a teardown that
 * leaves no IFB device, qdisc or record behind.
 */
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { chmod, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Reconciler } from '../../src/agent/reconciler.js';
import { run, runInNamespace } from '../../src/linux/exec.js';
import { ipJson } from '../../src/linux/ip.js';
import type { Snapshot, SnapshotPort, SnapshotQos } from '../../src/model/host-snapshot.js';
import { spawnInNamespace } from '../helpers/background.js';

const isRoot = process.getuid?.() === 0;

function port(network: string, subnet: string, ip: string, owner = 'compute:nova'): SnapshotPort {
  const mac = randomBytes(3).toString('hex').match(/../g)!.join(':');
  return {
    id: randomUUID(),
    network_id: network,
    mac_address: `fa:16:3e:${mac}`,
    fixed_ips: [{ subnet_id: subnet, ip_address: ip }],
    device_owner: owner,
    device_id: '',
    admin_state_up: true,
    dns_name: '',
    extra_dhcp_opts: [],
    binding_host_id: 'test',
  };
}

function policy(limits: SnapshotQos['bandwidth_limits'], dscp: number | null = null): SnapshotQos {
  return { policy_id: randomUUID(), bandwidth_limits: limits, dscp_mark: dscp };
}

/** Mbit/s iperf3 measured from `from` to `to` (the first second omitted: HTB's burst). */
async function iperf(fromNs: string, toNs: string, toIp: string, seconds = 3): Promise<number> {
  const server = spawnInNamespace(toNs, 'iperf3', ['-s', '-1', '-B', toIp]);
  try {
    await sleep(300);
    const { stdout } = await runInNamespace(
      fromNs,
      'iperf3',
      ['-c', toIp, '-t', String(seconds), '-O', '1', '-J'],
      {
        timeoutMs: 30_000,
      },
    );
    return (JSON.parse(stdout) as IperfResult).end.sum_received.bits_per_second / 1e6;
  } finally {
    await server.stop();
  }
}

interface IperfResult {
  intervals: { sum: { bits_per_second: number; omitted: boolean } }[];
  end: { sum_received: { bits_per_second: number } };
}

function within(measured: number, limit: number, tolerance = 0.15): boolean {
  return measured > limit * (1 - tolerance) && measured < limit * (1 + tolerance);
}

describe('QoS bandwidth limits and DSCP (real kernel)', { skip: !isRoot && 'needs root' }, () => {
  const network = randomUUID();
  const subnet = randomUUID();
  const dhcp = port(network, subnet, '10.77.0.2', 'network:dhcp');
  const a = port(network, subnet, '10.77.0.11');
  const b = port(network, subnet, '10.77.0.12');
  const instA = randomUUID();
  const instB = randomUUID();
  const snapshot: Snapshot = {
    host: 'test',
    revision: 1,
    dnsDomain: 'openstacklocal.',
    networks: [
      {
        id: network,
        project_id: randomUUID(),
        admin_state_up: true,
        mtu: 1500,
        network_type: 'local',
        physical_network: null,
        segmentation_id: null,
      },
    ],
    subnets: [
      {
        id: subnet,
        network_id: network,
        ip_version: 4,
        cidr: '10.77.0.0/24',
        gateway_ip: null,
        enable_dhcp: true,
        dns_nameservers: [],
        host_routes: [],
      },
    ],
    ports: [dhcp, a, b],
    instances: [
      { id: instA, name: 'a', ports: [a.id] },
      { id: instB, name: 'b', ports: [b.id] },
    ],
    routers: [],
    physicalInterfaceMappings: {},
  };
  const nsA = `inst-${instA}`;
  const nsB = `inst-${instB}`;
  const tapA = `tap${a.id.slice(0, 11)}`;
  const ifbA = `ifb${a.id.slice(0, 11)}`;
  let stateDir = '';
  let reconciler: Reconciler;

  async function reconcile(): Promise<void> {
    snapshot.revision++;
    const summary = await reconciler.reconcile();
    assert.deepEqual(summary.failures, []);
    assert.deepEqual(summary.problems, []);
  }

  const carrierChanges = async () => Number(await readFile(`/sys/class/net/${tapA}/carrier_changes`, 'utf8'));

  before(async () => {
    stateDir = await mkdtemp(join(tmpdir(), 'neutrino-qos-'));
    await chmod(stateDir, 0o755);
    reconciler = new Reconciler({ stateDir, source: async () => structuredClone(snapshot) });
    const deadline = Date.now() + 20_000;
    for (;;) {
      const summary = await reconciler.reconcile();
      assert.deepEqual(summary.failures, []);
      if (Object.values(summary.ports).every((s) => s === 'ACTIVE')) break;
      assert.ok(Date.now() < deadline, `ports still DOWN: ${JSON.stringify(summary.ports)}`);
      await sleep(50);
    }
  });

  after(async () => {
    if (reconciler) await reconciler.teardown().catch((err) => console.error('teardown', err));
    if (stateDir) await rm(stateDir, { recursive: true, force: true });
  });

  it('limits what a port sends and what it receives, each within 15 %', async (t) => {
    const unlimited = await iperf(nsA, nsB, b.fixed_ips[0].ip_address);
    a.qos = policy([
      { direction: 'egress', max_kbps: 10_000, max_burst_kbps: 0 },
      { direction: 'ingress', max_kbps: 20_000, max_burst_kbps: 0 },
    ]);
    await reconcile();
    const [ifb] = await ipJson<{ ifalias?: string }[]>(['link', 'show', 'dev', ifbA]);
    assert.match(ifb.ifalias ?? '', new RegExp(`^neutrino:port:${a.id}@`), 'the IFB device is ours');
    const sent = await iperf(nsA, nsB, b.fixed_ips[0].ip_address);
    const received = await iperf(nsB, nsA, a.fixed_ips[0].ip_address);
    t.diagnostic(
      `unlimited ${unlimited.toFixed(0)} Mbit/s; egress ${sent.toFixed(2)} (10), ingress ${received.toFixed(2)} (20)`,
    );
    assert.ok(unlimited > 200, 'without a limit the pair is fast');
    assert.ok(within(sent, 10), `egress ${sent} Mbit/s, limit 10`);
    assert.ok(within(received, 20), `ingress ${received} Mbit/s, limit 20`);
    const again = await reconciler.reconcile();
    assert.equal(again.actions, 0, 'a second run finds nothing to do');
  });

  it('changes a limit in place while a transfer runs: no link flap, the connection goes on', async (t) => {
    const flaps = await carrierChanges();
    const [before] = await ipJson<{ ifindex: number }[]>(['link', 'show', 'dev', ifbA]);
    const server = spawnInNamespace(nsB, 'iperf3', ['-s', '-1', '-B', b.fixed_ips[0].ip_address]);
    try {
      await sleep(300);
      const client = runInNamespace(
        nsA,
        'iperf3',
        ['-c', b.fixed_ips[0].ip_address, '-t', '4', '-i', '1', '-J'],
        {
          timeoutMs: 30_000,
        },
      );
      await sleep(2_000);
      a.qos = policy([
        { direction: 'egress', max_kbps: 4_000, max_burst_kbps: 0 },
        { direction: 'ingress', max_kbps: 20_000, max_burst_kbps: 0 },
      ]);
      await reconcile();
      const result = JSON.parse((await client).stdout) as IperfResult;
      t.diagnostic(
        `per second: ${result.intervals.map((i) => (i.sum.bits_per_second / 1e6).toFixed(1)).join(' ')}`,
      );
      assert.equal(result.intervals.length, 4, 'the transfer ran its four seconds on one connection');
    } finally {
      await server.stop();
    }
    const sent = await iperf(nsA, nsB, b.fixed_ips[0].ip_address);
    t.diagnostic(`egress after the change ${sent.toFixed(2)} (4)`);
    assert.ok(within(sent, 4), `egress ${sent} Mbit/s, limit 4`);
    assert.equal(await carrierChanges(), flaps, 'the tap never went down');
    const [after] = await ipJson<{ ifindex: number }[]>(['link', 'show', 'dev', ifbA]);
    assert.equal(after.ifindex, before.ifindex, 'the same IFB device');
  });

  it('restores the full rate without reconnecting when the policy goes', async (t) => {
    const server = spawnInNamespace(nsB, 'iperf3', ['-s', '-1', '-B', b.fixed_ips[0].ip_address]);
    try {
      await sleep(300);
      const client = runInNamespace(
        nsA,
        'iperf3',
        ['-c', b.fixed_ips[0].ip_address, '-t', '5', '-i', '1', '-J'],
        {
          timeoutMs: 30_000,
        },
      );
      await sleep(2_000);
      a.qos = null;
      await reconcile();
      const result = JSON.parse((await client).stdout) as IperfResult;
      const rates = result.intervals.map((i) => i.sum.bits_per_second / 1e6);
      t.diagnostic(`per second: ${rates.map((r) => r.toFixed(1)).join(' ')}`);
      assert.ok(rates[0] < 50, `limited first: ${rates[0]}`);
      assert.ok(rates.at(-1)! > 100, `then unlimited on the same connection: ${rates.at(-1)}`);
    } finally {
      await server.stop();
    }
    const { stdout } = await run('tc', ['-json', 'qdisc', 'show', 'dev', tapA]);
    assert.ok(
      !(JSON.parse(stdout) as { kind: string }[]).some((q) => q.kind === 'htb' || q.kind === 'ingress'),
    );
    const links = await ipJson<{ ifname: string }[]>(['link', 'show', 'type', 'ifb']);
    assert.ok(!links.some((l) => l.ifname === ifbA), 'the IFB device went with the policy');
    assert.deepEqual(await readdir(join(stateDir, 'qos')), [], 'no record left');
  });

  it('marks DSCP on what the port sends; the receiver sees it with a valid checksum', async () => {
    a.qos = policy([], 26);
    await reconcile();
    const capture = spawnInNamespace(nsB, 'tcpdump', [
      '-v',
      '-n',
      '-c',
      '2',
      '-i',
      'eth0',
      'icmp and src host 10.77.0.11',
    ]);
    try {
      await sleep(500);
      await runInNamespace(nsA, 'ping', ['-c', '3', '-i', '0.2', b.fixed_ips[0].ip_address]);
      const output = await capture.output(5_000);
      assert.match(output, /tos 0x68/, 'DSCP 26 (AF31) is tos 0x68');
      assert.doesNotMatch(output, /bad cksum/);
    } finally {
      await capture.stop();
    }
    a.qos = policy([], null);
    await reconcile();
    const { stdout } = await runInNamespace(nsA, 'ping', ['-c', '1', b.fixed_ips[0].ip_address]);
    assert.match(stdout, /1 received/);
  });

  it('tears down: no IFB device and no record remain', async () => {
    a.qos = policy([{ direction: 'egress', max_kbps: 1_000, max_burst_kbps: 0 }]);
    await reconcile();
    await reconciler.teardown();
    const links = await ipJson<{ ifname: string }[]>(['link', 'show', 'type', 'ifb']);
    assert.ok(!links.some((l) => l.ifname === ifbA));
    assert.deepEqual(await readdir(join(stateDir, 'qos')).catch(() => []), []);
  });
});
