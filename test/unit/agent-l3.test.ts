/**
 * Routers in the agent's compile and diff (pure): Neutron's names (`qrouter-`, `qr-`, `qg-`, `tap`),
 * the gateway plugged into a mapped host bridge (or a bridge of ours with the mapped interface),
 * addresses with floating IPs as /32, forwarding inside the namespace, routes, the NAT hash, what it
 * refuses; and the actions: none when nothing changed, one NAT replacement per change, conntrack
 * flushes for floating IPs that no longer map where they did, gratuitous ARP for new ones, no
 * deletion of routes the kernel drops itself; floating IPs forwarding ports held like associated ones.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { sha256 } from '../../src/agent/l3/router.js';
import { compile } from '../../src/agent/reconcile/compile.js';
import { diff } from '../../src/agent/reconcile/diff.js';
import { type Action, rankOf, STAGES } from '../../src/agent/state/actions.js';
import type { HostState } from '../../src/agent/state/host-state.js';
import type { Snapshot, SnapshotRouter } from '../../src/model/host-snapshot.js';

const stateDir = '/var/lib/neutrino-test';
const EXT = 'eeeeeeee-0000-4000-8000-000000000000';
const NET_A = 'aaaaaaaa-0000-4000-8000-000000000000';
const NET_B = 'bbbbbbbb-0000-4000-8000-000000000000';
const ROUTER = '99999999-0000-4000-8000-000000000000';
const GW_PORT = 'a0a0a0a0-1111-4111-8111-111111111111';
const QR_A = 'b1b1b1b1-2222-4222-8222-222222222222';
const QR_B = 'c2c2c2c2-3333-4333-8333-333333333333';
const NS = `qrouter-${ROUTER}`;
const QG = 'qg-a0a0a0a0-11';

function net(id: string, type: 'flat' | 'local' = 'local') {
  return {
    id,
    project_id: 'p1',
    admin_state_up: true,
    mtu: 1500,
    network_type: type,
    physical_network: type === 'flat' ? 'public' : null,
    segmentation_id: null,
  };
}

function subnet(id: string, network: string, cidr: string, version: 4 | 6 = 4) {
  return {
    id,
    network_id: network,
    ip_version: version,
    cidr,
    gateway_ip: null,
    enable_dhcp: false,
    dns_nameservers: [],
    host_routes: [],
  };
}

function router(overrides: Partial<SnapshotRouter> = {}): SnapshotRouter {
  return {
    id: ROUTER,
    project_id: 'p1',
    admin_state_up: true,
    gateway: {
      port_id: GW_PORT,
      network_id: EXT,
      mac_address: 'FA:16:3E:00:00:01',
      addresses: [{ subnet_id: 'ext-v4', ip_address: '203.0.113.10', prefixlen: 24 }],
      enable_snat: true,
      external_gateway_ips: ['203.0.113.1'],
    },
    interfaces: [
      {
        port_id: QR_A,
        network_id: NET_A,
        mac_address: 'fa:16:3e:00:00:0a',
        addresses: [
          { subnet_id: 'a-v4', ip_address: '10.0.0.1', prefixlen: 24 },
          { subnet_id: 'a-v6', ip_address: 'fd00:a::1', prefixlen: 64 },
        ],
      },
      {
        port_id: QR_B,
        network_id: NET_B,
        mac_address: 'fa:16:3e:00:00:0b',
        addresses: [{ subnet_id: 'b-v4', ip_address: '10.0.1.1', prefixlen: 24 }],
      },
    ],
    routes: [{ destination: '10.9.0.5/16', nexthop: '10.0.1.50' }],
    floating_ips: [
      { id: 'f1', floating_ip_address: '203.0.113.20', fixed_ip_address: '10.0.0.5', port_id: 'p5' },
    ],
    ...overrides,
  };
}

function snapshot(routers: SnapshotRouter[] = [router()]): Snapshot {
  return {
    host: 'h1',
    revision: 1,
    dnsDomain: 'openstacklocal',
    networks: [net(EXT, 'flat'), net(NET_A), net(NET_B)],
    subnets: [
      subnet('ext-v4', EXT, '203.0.113.0/24'),
      subnet('a-v4', NET_A, '10.0.0.0/24'),
      subnet('a-v6', NET_A, 'fd00:a::/64', 6),
      subnet('b-v4', NET_B, '10.0.1.0/24'),
    ],
    ports: [],
    instances: [],
    routers,
    physicalInterfaceMappings: { public: 'br-ex' },
  };
}

const build = (s: Snapshot, hostBridges = ['br-ex']) => compile(s, { stateDir, hostBridges });

/** What `observe` would report once `desired` is realised. */
function realised(desired: HostState): HostState {
  const actual = structuredClone(desired);
  actual.problems = [];
  for (const router of Object.values(actual.routers)) {
    delete router.nat.ruleset;
    router.gatewayDevice = null;
    router.recorded = true;
  }
  return actual;
}

/** The ops of `actions`, but the records that go with any change of a router namespace. */
const ops = (actions: Action[]) => actions.map((a) => a.op).filter((op) => !op.startsWith('router.'));

describe('L3 in compile', () => {
  it("lays out a router with Neutron's names, the gateway on the mapped host bridge", () => {
    const state = build(snapshot());
    assert.deepEqual(state.problems, []);
    assert.deepEqual(state.namespaces[NS], { kind: 'router' });
    assert.deepEqual(state.dirs[`${stateDir}/routers/${ROUTER}`], { netns: NS });
    assert.equal(state.bridges.brqeeeeeeee, undefined, 'no bridge of ours for the external network');
    assert.deepEqual(state.veths['tapa0a0a0a0-11'].peer, { netns: NS, name: QG, mac: 'fa:16:3e:00:00:01' });
    assert.equal(state.veths['tapa0a0a0a0-11'].master, 'br-ex');
    assert.equal(state.veths['tapb1b1b1b1-22'].master, 'brqaaaaaaaa-00');
    assert.equal(state.veths['tapb1b1b1b1-22'].peer.name, 'qr-b1b1b1b1-22');
    assert.deepEqual(state.namespaceLinks[`${NS}/${QG}`], {
      netns: NS,
      name: QG,
      up: true,
      addresses: ['203.0.113.10/24', '203.0.113.20/32'],
    });
    assert.deepEqual(state.namespaceLinks[`${NS}/qr-b1b1b1b1-22`].addresses, ['10.0.0.1/24', 'fd00:a::1/64']);
    const r = state.routers[NS];
    assert.deepEqual(r.sysctls, { 'net.ipv4.ip_forward': '1', 'net.ipv6.conf.all.forwarding': '1' });
    assert.deepEqual(r.routes, [
      { destination: '0.0.0.0/0', nexthop: '203.0.113.1', dev: QG },
      { destination: '10.9.0.0/16', nexthop: '10.0.1.50', dev: 'qr-c2c2c2c2-33' },
    ]);
    assert.equal(r.gatewayDevice, QG);
    assert.equal(r.nat.hash, sha256(r.nat.ruleset!));
    assert.deepEqual(r.nat.floatingIps, { '203.0.113.20': '10.0.0.5' });
  });

  it('enslaves a mapped interface to a bridge of ours when the mapping names no bridge', () => {
    const state = build(snapshot(), []);
    assert.deepEqual(state.uplinks['br-ex'], { master: 'brqeeeeeeee-00' });
    assert.equal(state.veths['tapa0a0a0a0-11'].master, 'brqeeeeeeee-00');
  });

  it('keeps IPv6 forwarding off without an IPv6 subnet, and a router without a gateway has no default route', () => {
    const [a, b] = router().interfaces;
    const state = build(
      snapshot([router({ gateway: null, interfaces: [{ ...a, addresses: [a.addresses[0]] }, b] })]),
    );
    const r = state.routers[NS];
    assert.equal(r.sysctls['net.ipv6.conf.all.forwarding'], '0');
    assert.deepEqual(
      r.routes.map((x) => x.destination),
      ['10.9.0.0/16'],
    );
    assert.equal(r.gatewayDevice, null);
    assert.deepEqual(r.nat.floatingIps, {});
  });

  it('takes the devices down and installs no route when admin_state_up is false', () => {
    const state = build(snapshot([router({ admin_state_up: false })]));
    assert.equal(state.namespaceLinks[`${NS}/${QG}`].up, false);
    assert.equal(state.veths['tapa0a0a0a0-11'].up, false);
    assert.deepEqual(state.routers[NS].routes, []);
  });

  it('reports what it cannot realise and leaves it out', () => {
    const [a] = router().interfaces;
    const state = build(
      snapshot([
        router({
          interfaces: [a, { ...a, port_id: 'd3d3d3d3-4444', network_id: 'gone' }],
          routes: [{ destination: '10.50.0.0/24', nexthop: '192.0.2.1' }],
        }),
        router({
          id: 'bad-router',
          floating_ips: [{ id: 'x', floating_ip_address: 'nope', fixed_ip_address: null, port_id: null }],
        }),
        router({ id: 'no/slash' }),
      ]),
    );
    assert.deepEqual(
      state.problems.map((p) => `${p.object}: ${p.message}`),
      [
        `router ${ROUTER}: port d3d3d3d3-4444: network gone is not usable on this host`,
        `router ${ROUTER}: route to 10.50.0.0/24: next hop 192.0.2.1 is not on a subnet of the router`,
        'router bad-router: invalid floating IP',
        'router no/slash: invalid id "no/slash"',
      ],
    );
    assert.equal(state.veths['tapd3d3d3d3-44'], undefined);
    assert.equal(state.namespaces['qrouter-bad-router'], undefined);
  });
});

describe('L3 in diff', () => {
  const desired = build(snapshot());

  it('builds a router from nothing, NAT and ARP after the addresses', () => {
    const actions = diff(desired, build(snapshot([])));
    const after = (op: string) => STAGES.indexOf(rankOf(actions.find((a) => a.op === op)!).stage);
    assert.ok(ops(actions).includes('netns.add'));
    assert.deepEqual(
      actions.filter((a) => a.op === 'sysctl.set'),
      [
        {
          op: 'sysctl.set',
          netns: NS,
          values: { 'net.ipv4.ip_forward': '1', 'net.ipv6.conf.all.forwarding': '1' },
        },
      ],
    );
    assert.equal(ops(actions).filter((op) => op === 'route.replace').length, 2);
    assert.ok(after('nat.apply') > after('addr.add'));
    assert.ok(after('route.replace') >= after('addr.add'));
    const [arp] = actions.filter((a) => a.op === 'arp.announce');
    assert.deepEqual(arp, { op: 'arp.announce', netns: NS, dev: QG, ip: '203.0.113.20' });
    assert.ok(actions.indexOf(arp) > actions.findIndex((a) => a.op === 'nat.apply'));
    const nat = actions.find((a) => a.op === 'nat.apply');
    assert.equal(nat?.op === 'nat.apply' && nat.record, `${stateDir}/routers/${ROUTER}/nat.json`);
  });

  it('does nothing when the router is as desired', () => {
    assert.deepEqual(diff(desired, realised(desired)), []);
  });

  it('drops the record before changing a namespace and writes it after; records one found without', () => {
    const path = `${stateDir}/routers/${ROUTER}/namespace.json`;
    const actions = diff(build(snapshot([router({ floating_ips: [] })])), realised(desired));
    const forget = actions.findIndex((a) => a.op === 'router.forget');
    const record = actions.findIndex((a) => a.op === 'router.record');
    assert.deepEqual(actions[forget], { op: 'router.forget', netns: NS, path });
    assert.equal(forget, 0);
    assert.equal(record, actions.length - 1);
    const written = actions[record];
    assert.ok(written.op === 'router.record');
    assert.deepEqual(written.record.links[QG], { up: true, addresses: ['203.0.113.10/24'] });
    assert.deepEqual(written.record.links.lo, { up: true });
    const unrecorded = realised(desired);
    unrecorded.routers[NS].recorded = false;
    assert.deepEqual(
      diff(desired, unrecorded).map((a) => a.op),
      ['router.record'],
    );
  });

  it('re-applies NAT found changed by verification, without flushing or announcing', () => {
    const actual = realised(desired);
    actual.routers[NS].nat.hash = '';
    assert.deepEqual(ops(diff(desired, actual)), ['nat.apply']);
  });

  it('removes a disassociated floating IP: its NAT, its connections, then its address', () => {
    const next = build(snapshot([router({ floating_ips: [] })]));
    const actions = diff(next, realised(desired)).filter((a) => !a.op.startsWith('router.'));
    assert.deepEqual(ops(actions), ['nat.apply', 'conntrack.flush', 'addr.del']);
    assert.deepEqual(actions[1], { op: 'conntrack.flush', netns: NS, ip: '203.0.113.20' });
    assert.deepEqual(actions[2], { op: 'addr.del', netns: NS, dev: QG, cidr: '203.0.113.20/32' });
  });

  it('flushes, without an address change or ARP, a floating IP moved to another port', () => {
    const moved = [
      { id: 'f1', floating_ip_address: '203.0.113.20', fixed_ip_address: '10.0.1.8', port_id: 'p8' },
    ];
    assert.deepEqual(ops(diff(build(snapshot([router({ floating_ips: moved })])), realised(desired))), [
      'nat.apply',
      'conntrack.flush',
    ]);
  });

  it('announces a newly associated floating IP', () => {
    const more = [
      ...router().floating_ips,
      { id: 'f2', floating_ip_address: '203.0.113.21', fixed_ip_address: '10.0.0.6', port_id: 'p6' },
    ];
    assert.deepEqual(ops(diff(build(snapshot([router({ floating_ips: more })])), realised(desired))), [
      'addr.add',
      'nat.apply',
      'arp.announce',
    ]);
  });

  it('changes and removes extra routes; the kernel drops those of a removed gateway by itself', () => {
    const moved = build(
      snapshot([router({ routes: [{ destination: '10.9.0.0/16', nexthop: '10.0.1.60' }] })]),
    );
    assert.deepEqual(
      diff(moved, realised(desired)).filter((a) => a.op === 'route.replace'),
      [
        {
          op: 'route.replace',
          netns: NS,
          route: { destination: '10.9.0.0/16', nexthop: '10.0.1.60', dev: 'qr-c2c2c2c2-33' },
        },
      ],
    );
    const noGateway = build(snapshot([router({ gateway: null, floating_ips: [], routes: [] })]));
    const actions = diff(noGateway, realised(desired));
    assert.deepEqual(
      actions.filter((a) => a.op === 'route.del').map((a) => a.op === 'route.del' && a.route.destination),
      ['10.9.0.0/16'],
    );
    assert.ok(ops(actions).includes('veth.del'));
    assert.ok(ops(actions).includes('conntrack.flush'), "the floating IP's connections go too");
  });

  it('takes links down without deleting the routes that go with them', () => {
    const down = build(snapshot([router({ admin_state_up: false })]));
    const actions = diff(down, realised(desired));
    assert.ok(!ops(actions).includes('route.del'));
    assert.ok(actions.some((a) => a.op === 'nslink.set' && a.name === QG && !a.up));
  });

  it('rebuilds everything inside a namespace that vanished', () => {
    const actual = realised(desired);
    delete actual.namespaces[NS];
    const actions = diff(desired, actual);
    for (const op of ['netns.add', 'sysctl.set', 'nat.apply', 'arp.announce', 'route.replace'])
      assert.ok(ops(actions).includes(op as Action['op']), op);
    assert.ok(!ops(actions).includes('conntrack.flush'));
  });
});

describe('port forwardings in compile and diff', () => {
  const pf = {
    protocol: 'tcp',
    internal_ip_address: '10.0.0.7',
    internal_port_start: 22,
    internal_port_end: 22,
    external_port_start: 2222,
    external_port_end: 2222,
  };
  const forwarding = (forwardings = [pf]) => [
    ...router().floating_ips,
    {
      id: 'f4',
      floating_ip_address: '203.0.113.40',
      fixed_ip_address: null,
      port_id: null,
      port_forwardings: forwardings,
    },
  ];
  const desired = build(snapshot([router({ floating_ips: forwarding() })]));

  it('holds a forwarding floating IP on the gateway and records what it forwards', () => {
    assert.deepEqual(desired.problems, []);
    assert.deepEqual(desired.namespaceLinks[`${NS}/${QG}`].addresses, [
      '203.0.113.10/24',
      '203.0.113.20/32',
      '203.0.113.40/32',
    ]);
    const nat = desired.routers[NS].nat;
    assert.deepEqual(nat.floatingIps, {
      '203.0.113.20': '10.0.0.5',
      '203.0.113.40': 'tcp 2222-2222>10.0.0.7:22-22',
    });
    assert.ok(nat.ruleset?.includes('ip daddr 203.0.113.40 tcp dport 2222 dnat to 10.0.0.7:22\n'));
  });

  it('announces a new one; a changed forwarding flushes its connections; the last one gone takes the address', () => {
    const before = build(snapshot());
    assert.deepEqual(ops(diff(desired, realised(before))), ['addr.add', 'nat.apply', 'arp.announce']);
    const changed = build(
      snapshot([
        router({ floating_ips: forwarding([{ ...pf, external_port_start: 2200, external_port_end: 2200 }]) }),
      ]),
    );
    assert.deepEqual(ops(diff(changed, realised(desired))), ['nat.apply', 'conntrack.flush']);
    const gone = build(snapshot([router({ floating_ips: forwarding([]) })]));
    assert.deepEqual(ops(diff(gone, realised(desired))), ['nat.apply', 'conntrack.flush', 'addr.del']);
  });

  it('refuses a forwarding whose values nft would not take', () => {
    for (const bad of [
      { ...pf, protocol: 'icmp' },
      { ...pf, internal_ip_address: '10.0.0.7; flush ruleset' },
      { ...pf, external_port_start: 0 },
      { ...pf, internal_port_end: 30 },
    ]) {
      const state = build(snapshot([router({ floating_ips: forwarding([bad]) })]));
      assert.deepEqual(
        state.problems.map((p) => p.message),
        ['invalid port forwarding'],
        JSON.stringify(bad),
      );
    }
  });
});

describe('HA routers in compile and diff', () => {
  const HA_NET = 'dddddddd-0000-4000-8000-000000000000';
  const HA_PORT = 'd4d4d4d4-4444-4444-8444-444444444444';
  const dir = `${stateDir}/routers/${ROUTER}`;
  const haRouter = (overrides: Partial<SnapshotRouter> = {}) =>
    router({
      ha: {
        vrid: 7,
        advert_int: 2,
        port: {
          port_id: HA_PORT,
          network_id: HA_NET,
          mac_address: 'fa:16:3e:00:00:aa',
          addresses: [{ subnet_id: 'ha-v4', ip_address: '169.254.192.5', prefixlen: 18 }],
        },
      },
      ...overrides,
    });
  const haSnapshot = (routers: SnapshotRouter[]) => {
    const s = snapshot(routers);
    s.networks.push(net(HA_NET));
    s.subnets.push(subnet('ha-v4', HA_NET, '169.254.192.0/18'));
    return s;
  };
  const desired = build(haSnapshot([haRouter()]));

  it("leaves the router's addresses and routes to keepalived, and keeps its devices silent", () => {
    assert.deepEqual(desired.problems, []);
    const qg = desired.namespaceLinks[`${NS}/${QG}`];
    assert.deepEqual(qg, { netns: NS, name: QG, up: true, silent: true });
    assert.equal(desired.namespaceLinks[`${NS}/qr-b1b1b1b1-22`].addresses, undefined);
    assert.deepEqual(desired.namespaceLinks[`${NS}/ha-d4d4d4d4-44`], {
      netns: NS,
      name: 'ha-d4d4d4d4-44',
      up: true,
      addresses: ['169.254.192.5/18'],
    });
    assert.deepEqual(desired.routers[NS].routes, []);
    assert.equal(desired.routers[NS].gatewayDevice, null, 'no ARP of its own: keepalived announces');
    assert.deepEqual(desired.daemons[`keepalived ${NS}`], {
      kind: 'keepalived',
      netns: NS,
      config: `${dir}/keepalived.conf`,
      pidFile: `${dir}/keepalived.pid`,
      argv: [
        '/usr/sbin/keepalived',
        '--vrrp',
        ...[
          '-f',
          `${dir}/keepalived.conf`,
          '-p',
          `${dir}/keepalived.pid`,
          '-r',
          `${dir}/keepalived-vrrp.pid`,
        ],
        '-l',
        '-D',
      ],
    });
    const config = desired.files[`${dir}/keepalived.conf`];
    assert.ok(config && 'content' in config);
    const text = config.content;
    assert.match(text, /virtual_router_id 7\n/);
    assert.match(text, /interface ha-d4d4d4d4-44\n/);
    assert.match(text, /advert_int 2\n/);
    assert.match(text, /state BACKUP\n[\s\S]*nopreempt/);
    assert.match(text, /169\.254\.0\.7\/24 dev ha-d4d4d4d4-44/);
    for (const vip of [
      `203.0.113.10/24 dev ${QG}`,
      `203.0.113.20/32 dev ${QG}`,
      '10.0.0.1/24 dev qr-b1b1b1b1-22',
      'fd00:a::1/64 dev qr-b1b1b1b1-22',
      '10.0.1.1/24 dev qr-c2c2c2c2-33',
    ])
      assert.ok(text.includes(`        ${vip}\n`), vip);
    assert.match(text, new RegExp(`0\\.0\\.0\\.0/0 via 203\\.0\\.113\\.1 dev ${QG}`));
    assert.match(text, /10\.9\.0\.0\/16 via 10\.0\.1\.50 dev qr-c2c2c2c2-33/);
    assert.match(text, new RegExp(`notify ${dir}/keepalived-notify.sh`));
    const notify = desired.files[`${dir}/keepalived-notify.sh`];
    assert.ok(notify && 'mode' in notify && notify.mode === 0o755);
  });

  it('starts keepalived after its files, reloads it when they change, stops it with the router', () => {
    const fresh = diff(desired, build(haSnapshot([])));
    const start = fresh.findIndex((a) => a.op === 'daemon.start');
    assert.ok(start > fresh.findIndex((a) => a.op === 'file.write'));
    assert.ok(fresh.some((a) => a.op === 'nslink.set' && a.name === QG && a.silent === true));
    assert.ok(!fresh.some((a) => a.op === 'addr.add' && a.dev === QG), 'no address of its own');
    assert.ok(!fresh.some((a) => a.op === 'route.replace'));

    const running = realised(desired);
    running.daemons[`keepalived ${NS}`].pid = 4242;
    assert.deepEqual(ops(diff(desired, running)), []);
    const moved = build(haSnapshot([haRouter({ routes: [] })]));
    assert.deepEqual(ops(diff(moved, running)), ['file.write', 'daemon.reload']);
    assert.deepEqual(
      diff(build(haSnapshot([])), running).filter((a) => a.op === 'daemon.stop' && a.key.startsWith('keep')),
      [{ op: 'daemon.stop', key: `keepalived ${NS}`, pid: 4242 }],
    );
    const loud = structuredClone(running);
    loud.namespaceLinks[`${NS}/${QG}`].silent = false;
    assert.deepEqual(diff(desired, loud), [
      { op: 'router.forget', netns: NS, path: `${dir}/namespace.json` },
      { op: 'nslink.set', netns: NS, name: QG, up: true, silent: true },
      diff(desired, loud).at(-1)!,
    ]);
  });

  it('waits, without keepalived or addresses, while the host has no HA port', () => {
    const waiting = build(haSnapshot([haRouter({ ha: { vrid: 7, advert_int: 2, port: null } })]));
    assert.equal(waiting.daemons[`keepalived ${NS}`], undefined);
    assert.equal(waiting.namespaceLinks[`${NS}/${QG}`].addresses, undefined);
    assert.match(waiting.problems.map((p) => p.message).join('\n'), /no HA port/);
  });
});
