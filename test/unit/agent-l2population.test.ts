/**
 * l2population, pure: a snapshot's tunnel peers become a VXLAN device bound to this host's
 * endpoint with one flood entry per peer host, one forwarding entry per remote MAC and one proxy
 * neighbour entry per remote address; the diff changes only the entries that differ (a port
 * arriving or leaving elsewhere), never the device, and recreates the device (with all its entries)
 * only when its endpoint changes.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { compile } from '../../src/agent/reconcile/compile.js';
import { diff } from '../../src/agent/reconcile/diff.js';
import type { Action } from '../../src/agent/state/actions.js';
import { FLOOD_MAC, type HostState } from '../../src/agent/state/host-state.js';
import type { Snapshot, SnapshotTunnelPeer } from '../../src/model/host-snapshot.js';
import { INST_A, NET, PORT_A, snapshotNetwork, snapshotPort, snapshotSubnet } from '../helpers/snapshot.js';

const stateDir = '/var/lib/neutrino-test';
const tunnel = { localIp: '100.64.9.11', device: 'eth0' };
const VXLAN = 'vxlan-1001';

function peer(host: string, tunnelIp: string, ports: [string, ...string[]][]): SnapshotTunnelPeer {
  return {
    host,
    tunnel_ip: tunnelIp,
    ports: ports.map(([mac, ...ips]) => ({ mac_address: mac, ip_addresses: ips })),
  };
}

function snapshot(peers: SnapshotTunnelPeer[]): Snapshot {
  return {
    host: 'h1',
    revision: 1,
    dnsDomain: 'openstacklocal',
    networks: [snapshotNetwork()],
    subnets: [snapshotSubnet()],
    ports: [snapshotPort(PORT_A, '10.0.0.11', 'fa:16:3e:00:00:11')],
    instances: [{ id: INST_A, name: 'a', ports: [PORT_A] }],
    routers: [],
    physicalInterfaceMappings: {},
    l2population: { [NET]: peers },
  };
}

const TWO_PEERS = [
  peer('h2', '100.64.9.12', [
    ['FA:16:3E:00:00:21', '10.0.0.21'],
    ['fa:16:3e:00:00:02', '10.0.0.2'],
  ]),
  peer('h3', '100.64.9.13', [['fa:16:3e:00:00:31', '10.0.0.31', '2001:db8::31']]),
];

function desired(peers: SnapshotTunnelPeer[], withTunnel = true): HostState {
  return compile(snapshot(peers), { stateDir, ...(withTunnel ? { tunnel } : {}) });
}

/** The state as if `state` had been applied exactly (what observe would read back). */
function applied(state: HostState): HostState {
  return structuredClone(state);
}

const ops = (actions: Action[]) => actions.map((a) => a.op);
const l2 = (actions: Action[]) => actions.filter((a) => a.op.startsWith('fdb.') || a.op.startsWith('neigh.'));

describe('l2population: snapshot → desired entries', () => {
  it('binds the VXLAN device to the tunnel endpoint and answers ARP/ND locally', () => {
    const state = desired(TWO_PEERS);
    assert.deepEqual(state.problems, []);
    const vxlan = state.vxlans[VXLAN];
    assert.equal(vxlan.local, '100.64.9.11');
    assert.equal(vxlan.dev, 'eth0');
    assert.equal(vxlan.proxy, true);
  });

  it('floods only towards hosts with ports, forwards each remote MAC, resolves each remote address', () => {
    const state = desired([...TWO_PEERS, peer('h4', '100.64.9.14', [])]);
    const fdb = Object.values(state.fdb).map((e) => `${e.mac} ${e.dst}`);
    assert.deepEqual(fdb.sort(), [
      `${FLOOD_MAC} 100.64.9.12`,
      `${FLOOD_MAC} 100.64.9.13`,
      'fa:16:3e:00:00:02 100.64.9.12',
      'fa:16:3e:00:00:21 100.64.9.12',
      'fa:16:3e:00:00:31 100.64.9.13',
    ]);
    assert.ok(Object.values(state.fdb).every((e) => e.dev === VXLAN));
    const neighbours = Object.values(state.neighbours).map((n) => `${n.ip} ${n.mac}`);
    assert.deepEqual(neighbours.sort(), [
      '10.0.0.2 fa:16:3e:00:00:02',
      '10.0.0.21 fa:16:3e:00:00:21',
      '10.0.0.31 fa:16:3e:00:00:31',
      '2001:db8::31 fa:16:3e:00:00:31',
    ]);
  });

  it('without a tunnel endpoint the network stays on this host: no entries, no proxy', () => {
    const state = desired(TWO_PEERS, false);
    assert.equal(state.vxlans[VXLAN].local, null);
    assert.equal(state.vxlans[VXLAN].proxy, false);
    assert.deepEqual(state.fdb, {});
    assert.deepEqual(state.neighbours, {});
  });

  it('skips its own endpoint, a MAC reported twice, and reports unusable input as problems', () => {
    const state = desired([
      peer('h2', '100.64.9.12', [['fa:16:3e:00:00:21', '10.0.0.21']]),
      peer('h3', '100.64.9.13', [['fa:16:3e:00:00:21', '10.0.0.99']]),
      peer('self', '100.64.9.11', [['fa:16:3e:00:00:41', '10.0.0.41']]),
      peer('v6', '2001:db8::1', [['fa:16:3e:00:00:51', '10.0.0.51']]),
      peer('bad', '100.64.9.15', [
        ['zz:16:3e:00:00:61', '10.0.0.61'],
        ['fa:16:3e:00:00:62', 'x;y'],
      ]),
    ]);
    const macs = Object.values(state.fdb).filter((e) => e.mac !== FLOOD_MAC);
    assert.deepEqual(
      macs.map((e) => `${e.mac} ${e.dst}`),
      ['fa:16:3e:00:00:21 100.64.9.12', 'fa:16:3e:00:00:62 100.64.9.15'],
    );
    assert.ok(!Object.values(state.fdb).some((e) => e.dst === '100.64.9.11'));
    const messages = state.problems.map((p) => p.message).join('\n');
    assert.match(messages, /host v6: unusable tunnel endpoint/);
    assert.match(messages, /host bad: invalid MAC/);
    assert.match(messages, /host bad: invalid address "x;y"/);
  });
});

describe('l2population: diff of entries', () => {
  it('a new device gets its entries after it is created; a second run changes nothing', () => {
    const want = desired(TWO_PEERS);
    const actions = diff(want, compile(snapshot([]), { stateDir, tunnel: undefined }));
    const order = ops(actions);
    assert.ok(order.indexOf('vxlan.add') < order.indexOf('fdb.add'));
    assert.equal(order.filter((o) => o === 'fdb.add').length, 5);
    assert.equal(order.filter((o) => o === 'neigh.replace').length, 4);
    assert.ok(!order.includes('neigh.announce'), "a new device's bridge has no port that knew an address");
    assert.deepEqual(diff(want, applied(want)), []);
  });

  it('a port appearing on another host adds only its entries, without touching the device', () => {
    const before = applied(desired(TWO_PEERS));
    const more = structuredClone(TWO_PEERS);
    more[1].ports.push({ mac_address: 'fa:16:3e:00:00:32', ip_addresses: ['10.0.0.32', '2001:db8::32'] });
    const actions = diff(desired(more), before);
    assert.deepEqual(
      actions.map((a) => (a.op === 'fdb.add' ? `${a.op} ${a.entry.mac} ${a.entry.dst}` : a.op)),
      ['fdb.add fa:16:3e:00:00:32 100.64.9.13', 'neigh.replace', 'neigh.replace', 'neigh.announce'],
    );
  });

  it('announces a new remote IPv4 address on the bridge through its own device, once', () => {
    const before = applied(desired(TWO_PEERS));
    const more = structuredClone(TWO_PEERS);
    more[1].ports.push({ mac_address: 'fa:16:3e:00:00:32', ip_addresses: ['10.0.0.32', '2001:db8::32'] });
    const announced = diff(desired(more), before).filter((a) => a.op === 'neigh.announce');
    assert.deepEqual(announced, [
      {
        op: 'neigh.announce',
        entry: { dev: VXLAN, ip: '10.0.0.32', mac: 'fa:16:3e:00:00:32' },
        vni: 1001,
        dstport: 4789,
        local: '100.64.9.11',
      },
    ]);
    assert.deepEqual(diff(desired(more), applied(desired(more))), []);
  });

  it('an address re-used by a port with another MAC is replaced and announced', () => {
    const before = applied(desired(TWO_PEERS));
    const reused = structuredClone(TWO_PEERS);
    reused[0].ports[0].mac_address = 'fa:16:3e:00:00:22';
    const changes = l2(diff(desired(reused), before)).map((a) => `${a.op} ${a.entry.mac}`);
    assert.deepEqual(changes, [
      'fdb.del fa:16:3e:00:00:21',
      'fdb.add fa:16:3e:00:00:22',
      'neigh.replace fa:16:3e:00:00:22',
      'neigh.announce fa:16:3e:00:00:22',
    ]);
  });

  it('the last port of a host leaving removes its flood entry, MAC and neighbour only', () => {
    const before = applied(desired(TWO_PEERS));
    const actions = diff(desired([TWO_PEERS[0]]), before);
    assert.deepEqual(
      actions.map((a) =>
        a.op === 'fdb.del' || a.op === 'neigh.del' ? `${a.op} ${'mac' in a.entry ? a.entry.mac : ''}` : a.op,
      ),
      [
        `fdb.del ${FLOOD_MAC}`,
        'fdb.del fa:16:3e:00:00:31',
        'neigh.del fa:16:3e:00:00:31',
        'neigh.del fa:16:3e:00:00:31',
      ],
    );
  });

  it('a MAC moving to another host is deleted at the old endpoint and added at the new one', () => {
    const before = applied(desired(TWO_PEERS));
    const moved = [
      peer('h2', '100.64.9.12', [['fa:16:3e:00:00:02', '10.0.0.2']]),
      peer('h3', '100.64.9.13', [
        ['fa:16:3e:00:00:31', '10.0.0.31', '2001:db8::31'],
        ['fa:16:3e:00:00:21', '10.0.0.21'],
      ]),
    ];
    const changes = l2(diff(desired(moved), before)).map((a) =>
      a.op.startsWith('fdb') && 'dst' in a.entry ? `${a.op} ${a.entry.mac} ${a.entry.dst}` : a.op,
    );
    assert.deepEqual(changes, [
      'fdb.del fa:16:3e:00:00:21 100.64.9.12',
      'fdb.add fa:16:3e:00:00:21 100.64.9.13',
    ]);
  });

  it('a neighbour whose MAC changed is replaced', () => {
    const before = applied(desired(TWO_PEERS));
    const key = Object.keys(before.neighbours).find((k) => k.endsWith(' 10.0.0.21'))!;
    before.neighbours[key] = { ...before.neighbours[key], mac: 'fa:16:3e:99:99:99' };
    assert.deepEqual(ops(diff(desired(TWO_PEERS), before)), ['neigh.replace', 'neigh.announce']);
  });

  it('a changed endpoint recreates the device and all its entries; a removed device takes them along', () => {
    const before = applied(desired(TWO_PEERS));
    before.vxlans[VXLAN] = { ...before.vxlans[VXLAN], local: '100.64.9.99' };
    const actions = diff(desired(TWO_PEERS), before);
    assert.deepEqual(ops(actions).slice(0, 1), ['vxlan.del']);
    assert.equal(ops(actions).filter((o) => o === 'fdb.add').length, 5);
    assert.ok(!ops(actions).includes('fdb.del'));

    const gone = diff(
      compile({ ...snapshot([]), networks: [], ports: [], instances: [] }, { stateDir, tunnel }),
      before,
    );
    assert.ok(ops(gone).includes('vxlan.del'));
    assert.deepEqual(l2(gone), []);
  });
});

describe('instances on a host without the DHCP server', () => {
  it('get a DHCP client where another host serves DHCP for their network, and none otherwise', () => {
    const here = compile(snapshot(TWO_PEERS), { stateDir, tunnel });
    assert.deepEqual(Object.keys(here.dhcpClients), []);
    const elsewhere = compile({ ...snapshot(TWO_PEERS), dhcp_elsewhere: [NET] }, { stateDir, tunnel });
    assert.deepEqual(Object.keys(elsewhere.dhcpClients), [`${INST_A}/eth0`]);
    assert.deepEqual(Object.keys(elsewhere.dhcpServers), []);
  });
});
