/**
 * Waiting for leases (no root needed): which ports wait only for their lease (`awaitingLease`,
 * pure), and the lease watch: a lease file written the way the udhcpc script writes it (truncated
 * on `deconfig`, written whole on `bound`) is reported within milliseconds, only when it
 * holds one of the port's addresses; leases already there when the wait starts are found too; a
 * burst of leases comes out in few callbacks; nothing is reported after `close()`. With DHCPv6
 * (`dhclient -6`): an IPv6-only stateful port waits for its DHCPv6 lease, a dual-stack port for its
 * IPv4 one, a stateless client for nothing.
 */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { LeaseWatch } from '../../src/agent/dhcp/lease-watch.js';
import { linuxbridge } from '../../src/agent/drivers/linuxbridge/layout.js';
import { awaitingLease, type LeaseWait, portStatus } from '../../src/agent/port-status.js';
import { compile } from '../../src/agent/reconcile/compile.js';
import type { HostState } from '../../src/agent/state/host-state.js';
import type { Snapshot } from '../../src/model/host-snapshot.js';
import {
  DHCP_PORT,
  NET,
  PORT_A,
  SUBNET,
  snapshotNetwork,
  snapshotPort,
  snapshotSubnet,
} from '../helpers/snapshot.js';

let root: string;

async function instance(name: string): Promise<string> {
  const dir = join(root, 'instances', name);
  await mkdir(dir, { recursive: true });
  return dir;
}

/** What the udhcpc script does on `bound`. */
async function writeLease(file: string, ip: string): Promise<void> {
  await writeFile(file, `ip=${ip}\nmask=24\nrouter=10.0.0.1\nmtu=1450\ndns=10.0.0.2\n`);
}

/** A watch whose callbacks are recorded with the time they came. */
function recording(): { watch: LeaseWatch; calls: { ports: string[]; at: number }[] } {
  const calls: { ports: string[]; at: number }[] = [];
  const watch = new LeaseWatch((ports) => calls.push({ ports: [...ports].sort(), at: performance.now() }));
  return { watch, calls };
}

async function until(check: () => boolean, timeoutMs = 2_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    assert.ok(Date.now() < deadline, 'timed out');
    await sleep(2);
  }
}

describe('awaitingLease', () => {
  const port = (id: string, ip: string, owner: string) => ({
    id,
    network_id: NET,
    mac_address: `fa:16:3e:00:00:${ip.split('.')[3].padStart(2, '0')}`,
    fixed_ips: [{ subnet_id: SUBNET, ip_address: ip }],
    device_owner: owner,
    device_id: '',
    admin_state_up: true,
    dns_name: '',
    extra_dhcp_opts: [],
  });
  const snapshot: Snapshot = {
    host: 'h1',
    revision: 4,
    dnsDomain: 'openstacklocal',
    networks: [
      {
        id: NET,
        project_id: 'p',
        admin_state_up: true,
        mtu: 1500,
        network_type: 'local',
        physical_network: null,
        segmentation_id: null,
      },
    ],
    subnets: [snapshotSubnet()],
    ports: [
      port('dddddddd-0000-4000-8000-000000000000', '10.0.0.2', 'network:dhcp'),
      port('aaaaaaaa-0000-4000-8000-000000000000', '10.0.0.11', 'compute:nova'),
      port('bbbbbbbb-0000-4000-8000-000000000000', '10.0.0.12', 'compute:nova'),
    ],
    instances: [
      {
        id: '11111111-0000-4000-8000-000000000000',
        name: 'a',
        ports: ['aaaaaaaa-0000-4000-8000-000000000000'],
      },
      {
        id: '22222222-0000-4000-8000-000000000000',
        name: 'b',
        ports: ['bbbbbbbb-0000-4000-8000-000000000000'],
      },
    ],
    routers: [],
    physicalInterfaceMappings: {},
  };
  const stateDir = '/var/lib/neutrino-test';

  it('lists the wired instance ports without their lease, with the lease file and addresses', () => {
    const desired = compile(snapshot, { stateDir });
    const actual = structuredClone(desired);
    for (const veth of Object.values(actual.veths)) veth.lowerUp = true;
    actual.dhcpServers[NET].pid = 42;
    for (const client of Object.values(actual.dhcpClients)) client.pid = 43;
    actual.dhcpClients['11111111-0000-4000-8000-000000000000/eth0'].lease = '10.0.0.11';
    assert.deepEqual(awaitingLease(snapshot, desired, actual, linuxbridge), [
      {
        port: 'bbbbbbbb-0000-4000-8000-000000000000',
        leaseFile: `${stateDir}/instances/22222222-0000-4000-8000-000000000000/eth0.lease`,
        addresses: ['10.0.0.12'],
      },
    ]);
    assert.deepEqual(portStatus(snapshot, desired, actual, linuxbridge), {
      'dddddddd-0000-4000-8000-000000000000': 'ACTIVE',
      'aaaaaaaa-0000-4000-8000-000000000000': 'ACTIVE',
      'bbbbbbbb-0000-4000-8000-000000000000': 'DOWN',
    });
    actual.veths['tapbbbbbbbb-00'].lowerUp = false;
    assert.equal(
      awaitingLease(snapshot, desired, actual, linuxbridge).length,
      1,
      'the instance side comes up with its DHCP client: still a lease away',
    );
    actual.veths['tapbbbbbbbb-00'].up = false;
    assert.deepEqual(
      awaitingLease(snapshot, desired, actual, linuxbridge),
      [],
      'not plugged: not a lease away',
    );
  });
});

describe('awaitingLease and port status with DHCPv6 (dhclient -6)', () => {
  const SUBNET6 = '5e5e5e5e-0000-4000-8000-000000000006';
  const stateDir = '/var/lib/neutrino-test';
  const inst = (n: number) => `${n}${n}${n}${n}${n}${n}${n}${n}-0000-4000-8000-000000000000`;
  const subnet6 = (mode: 'dhcpv6-stateful' | 'dhcpv6-stateless') =>
    snapshotSubnet({
      id: SUBNET6,
      ip_version: 6,
      cidr: '2001:db8:62::/64',
      gateway_ip: '2001:db8:62::1',
      ipv6_ra_mode: mode,
      ipv6_address_mode: mode,
    });
  const fixed = (v4: string | null, v6: string) => [
    ...(v4 ? [{ subnet_id: SUBNET, ip_address: v4 }] : []),
    { subnet_id: SUBNET6, ip_address: v6 },
  ];
  function snapshotWith(v4: boolean, mode: 'dhcpv6-stateful' | 'dhcpv6-stateless'): Snapshot {
    const ports = [
      snapshotPort(DHCP_PORT, '10.0.0.2', 'fa:16:3e:00:00:02', {
        device_owner: 'network:dhcp',
        fixed_ips: fixed(v4 ? '10.0.0.2' : null, '2001:db8:62::2'),
      }),
      snapshotPort(PORT_A, '10.0.0.11', 'fa:16:3e:00:00:11', {
        fixed_ips: fixed(v4 ? '10.0.0.11' : null, '2001:db8:62::11'),
      }),
    ];
    return {
      host: 'h1',
      revision: 4,
      dnsDomain: 'openstacklocal',
      networks: [snapshotNetwork()],
      subnets: [...(v4 ? [snapshotSubnet()] : []), subnet6(mode)],
      ports,
      instances: [{ id: inst(1), name: 'a', ports: [PORT_A] }],
      routers: [],
      physicalInterfaceMappings: {},
    };
  }
  function wired(desired: HostState): HostState {
    const actual = structuredClone(desired);
    for (const veth of Object.values(actual.veths)) veth.lowerUp = true;
    for (const server of Object.values(actual.dhcpServers)) server.pid = 42;
    for (const client of Object.values(actual.dhcpClients)) client.pid = 43;
    return actual;
  }
  const v4Key = `${inst(1)}/eth0`;
  const v6Key = `${inst(1)}/eth0/dhcpv6`;

  it('an IPv6-only stateful port waits for its DHCPv6 lease (lease6 file), then is ACTIVE', () => {
    const snapshot = snapshotWith(false, 'dhcpv6-stateful');
    const desired = compile(snapshot, { stateDir });
    const actual = wired(desired);
    assert.deepEqual(awaitingLease(snapshot, desired, actual, linuxbridge), [
      {
        port: PORT_A,
        leaseFile: `${stateDir}/instances/${inst(1)}/eth0.lease6`,
        addresses: ['2001:db8:62::11'],
      },
    ]);
    assert.equal(portStatus(snapshot, desired, actual, linuxbridge)[PORT_A], 'DOWN');
    actual.dhcpClients[v6Key].lease = '2001:db8:62::99';
    assert.equal(portStatus(snapshot, desired, actual, linuxbridge)[PORT_A], 'DOWN', 'not its address');
    actual.dhcpClients[v6Key].lease = '2001:db8:62::11';
    assert.equal(portStatus(snapshot, desired, actual, linuxbridge)[PORT_A], 'ACTIVE');
    assert.deepEqual(awaitingLease(snapshot, desired, actual, linuxbridge), []);
  });

  it('a dual-stack port is ACTIVE on its IPv4 lease, whatever DHCPv6 holds', () => {
    const snapshot = snapshotWith(true, 'dhcpv6-stateful');
    const desired = compile(snapshot, { stateDir });
    assert.ok(desired.dhcpClients[v4Key] && desired.dhcpClients[v6Key]);
    const actual = wired(desired);
    actual.dhcpClients[v6Key].lease = '2001:db8:62::11';
    assert.equal(portStatus(snapshot, desired, actual, linuxbridge)[PORT_A], 'DOWN');
    assert.deepEqual(
      awaitingLease(snapshot, desired, actual, linuxbridge).map((w) => w.leaseFile),
      [`${stateDir}/instances/${inst(1)}/eth0.lease`],
    );
    delete actual.dhcpClients[v6Key].lease;
    actual.dhcpClients[v4Key].lease = '10.0.0.11';
    assert.equal(portStatus(snapshot, desired, actual, linuxbridge)[PORT_A], 'ACTIVE');
  });

  it('a stateless DHCPv6 client (no address to lease) holds no port back', () => {
    const snapshot = snapshotWith(false, 'dhcpv6-stateless');
    const desired = compile(snapshot, { stateDir });
    assert.equal(desired.dhcpClients[v6Key]?.dhcpv6, 'stateless');
    const actual = wired(desired);
    assert.deepEqual(awaitingLease(snapshot, desired, actual, linuxbridge), []);
    assert.equal(portStatus(snapshot, desired, actual, linuxbridge)[PORT_A], 'ACTIVE');
  });
});

describe('LeaseWatch', () => {
  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'neutrino-lease-watch-'));
  });
  after(() => rm(root, { recursive: true, force: true }));

  it('reports a lease for one of the port’s addresses within milliseconds, then stops watching', async (t) => {
    const dir = await instance('i1');
    const { watch, calls } = recording();
    const wait: LeaseWait = { port: 'p1', leaseFile: join(dir, 'eth0.lease'), addresses: ['10.0.0.5'] };
    watch.wait([wait]);
    assert.deepEqual(watch.watching, [dir]);
    await sleep(30);
    await writeFile(wait.leaseFile, ''); // deconfig truncates the file
    await writeLease(wait.leaseFile, '10.0.0.99'); // someone else's address does not count
    await sleep(50);
    assert.deepEqual(calls, []);
    const written = performance.now();
    await writeLease(wait.leaseFile, '10.0.0.5');
    await until(() => calls.length > 0);
    const latency = calls[0].at - written;
    t.diagnostic(`reported ${latency.toFixed(1)} ms after the lease file appeared`);
    assert.deepEqual(calls[0].ports, ['p1']);
    assert.ok(latency < 200, `${latency} ms`);
    assert.deepEqual(watch.watching, [], 'nothing left to wait for in that directory');
    watch.close();
  });

  it('finds a lease that arrived before the wait started, and keeps waiting for the other interface', async () => {
    const dir = await instance('i2');
    await writeLease(join(dir, 'eth0.lease'), '10.0.1.5');
    const { watch, calls } = recording();
    watch.wait([
      { port: 'p-eth0', leaseFile: join(dir, 'eth0.lease'), addresses: ['10.0.1.5'] },
      { port: 'p-eth1', leaseFile: join(dir, 'eth1.lease'), addresses: ['10.0.2.5'] },
    ]);
    await until(() => calls.length === 1);
    assert.deepEqual(calls[0].ports, ['p-eth0']);
    assert.deepEqual(watch.watching, [dir], 'eth1 still waits');
    await writeLease(join(dir, 'eth1.lease'), '10.0.2.5');
    await until(() => calls.length === 2);
    assert.deepEqual(calls[1].ports, ['p-eth1']);
    assert.deepEqual(watch.watching, []);
    watch.close();
  });

  it('coalesces a burst of leases into few callbacks, each port once', async () => {
    const waits: LeaseWait[] = [];
    for (let i = 0; i < 50; i++) {
      const dir = await instance(`burst-${i}`);
      waits.push({ port: `p${i}`, leaseFile: join(dir, 'eth0.lease'), addresses: [`10.1.0.${i + 10}`] });
    }
    const { watch, calls } = recording();
    watch.wait(waits);
    await sleep(30);
    await Promise.all(waits.map((w) => writeLease(w.leaseFile, w.addresses[0])));
    await until(() => calls.flatMap((c) => c.ports).length === 50);
    await sleep(50);
    const reported = calls.flatMap((c) => c.ports);
    assert.equal(new Set(reported).size, 50, 'every port once');
    assert.equal(reported.length, 50);
    assert.ok(calls.length <= 10, `${calls.length} callbacks for 50 leases`);
    watch.close();
  });

  it('forgets ports no longer waited for, and reports nothing after close', async () => {
    const dir = await instance('i3');
    const { watch, calls } = recording();
    watch.wait([{ port: 'gone', leaseFile: join(dir, 'eth0.lease'), addresses: ['10.0.3.5'] }]);
    watch.wait([]);
    assert.deepEqual(watch.watching, []);
    await writeLease(join(dir, 'eth0.lease'), '10.0.3.5');
    const dir4 = await instance('i4');
    watch.wait([{ port: 'p4', leaseFile: join(dir4, 'eth0.lease'), addresses: ['10.0.4.5'] }]);
    watch.close();
    await writeLease(join(dir4, 'eth0.lease'), '10.0.4.5');
    await sleep(100);
    assert.deepEqual(calls, []);
  });

  it('ignores a directory that does not exist (yet): the reconciler looks again', async () => {
    const { watch, calls } = recording();
    const missing = join(root, 'instances', 'not-there', 'eth0.lease');
    assert.doesNotThrow(() => watch.wait([{ port: 'x', leaseFile: missing, addresses: ['10.0.5.5'] }]));
    assert.deepEqual(watch.watching, []);
    await sleep(50);
    assert.deepEqual(calls, []);
    watch.close();
  });
});
