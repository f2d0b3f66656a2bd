/**
 * The agent's diff (pure), checked against a pure simulator of the kernel and processes: identical
 * states give no action; from any state, one pass of the actions reaches the desired state; actions
 * come in dependency order; a dnsmasq file change costs one SIGHUP; a deleted port releases its
 * lease; drift and wrong placements are repaired by recreation.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { compile } from '../../src/agent/reconcile/compile.js';
import { diff } from '../../src/agent/reconcile/diff.js';
import { type Action, rankOf, STAGES } from '../../src/agent/state/actions.js';
import { emptyHostState, type HostState, namespaceLinkKey } from '../../src/agent/state/host-state.js';
import type { Snapshot, SnapshotPort } from '../../src/model/host-snapshot.js';

const stateDir = '/var/lib/neutrino-test';

/** What the kernel and the processes do with each action, as data. */
function simulate(start: HostState, actions: readonly Action[]): HostState {
  const s = structuredClone(start);
  const links = { bridge: s.bridges, vxlan: s.vxlans, veth: s.veths, uplink: s.uplinks };
  const dropPeer = (name: string) => {
    const peer = s.veths[name]?.peer;
    if (peer) delete s.namespaceLinks[namespaceLinkKey(peer.netns ?? '', peer.name ?? '')];
  };
  for (const a of actions) {
    switch (a.op) {
      case 'udhcpc.stop':
        delete s.dhcpClients[a.key];
        break;
      case 'dnsmasq.stop':
        delete s.dhcpServers[a.network];
        break;
      case 'daemon.stop':
        delete s.daemons[a.key];
        break;
      case 'dir.create':
        s.dirs[a.path] = { netns: a.netns };
        break;
      case 'veth.del':
        dropPeer(a.name);
        delete s.veths[a.name];
        break;
      case 'vxlan.del':
        delete s.vxlans[a.name];
        break;
      case 'link.master':
        (a.kind === 'uplink' ? s.uplinks : a.kind === 'vxlan' ? s.vxlans : s.veths)[a.name].master = a.master;
        break;
      case 'bridge.del':
        delete s.bridges[a.name];
        for (const map of [s.vxlans, s.veths, s.uplinks])
          for (const link of Object.values(map)) if (link.master === a.name) link.master = null;
        break;
      case 'netns.del':
        delete s.namespaces[a.name];
        for (const [name, veth] of Object.entries(s.veths))
          if (veth.peer.netns === a.name) delete s.veths[name];
        for (const [key, link] of Object.entries(s.namespaceLinks))
          if (link.netns === a.name) delete s.namespaceLinks[key];
        break;
      case 'netns.add':
        assert.ok(!s.namespaces[a.name], `${a.name} exists`);
        s.namespaces[a.name] = a.namespace;
        break;
      case 'bridge.add':
        assert.ok(!s.bridges[a.name], `${a.name} exists`);
        s.bridges[a.name] = structuredClone(a.bridge);
        break;
      case 'link.set': {
        const link = links[a.kind][a.name] as unknown as Record<string, unknown>;
        for (const key of ['mtu', 'alias', 'up'] as const) if (a[key] !== undefined) link[key] = a[key];
        break;
      }
      case 'vxlan.add':
        assert.ok(!s.vxlans[a.name], `${a.name} exists`);
        s.vxlans[a.name] = structuredClone(a.vxlan);
        break;
      case 'veth.add':
        assert.ok(!s.veths[a.name], `${a.name} exists`);
        assert.ok(s.namespaces[a.veth.peer.netns ?? ''], `veth ${a.name} before its namespace`);
        assert.ok(!a.veth.master || s.bridges[a.veth.master], `veth ${a.name} before its bridge`);
        s.veths[a.name] = structuredClone(a.veth);
        break;
      case 'nslink.set': {
        const key = namespaceLinkKey(a.netns, a.name);
        s.namespaceLinks[key] = {
          ...(s.namespaceLinks[key] ?? { netns: a.netns, name: a.name }),
          up: a.up,
          ...(a.silent ? { silent: true } : {}),
        };
        break;
      }
      case 'addr.add':
      case 'addr.del': {
        const link = s.namespaceLinks[namespaceLinkKey(a.netns, a.dev)];
        const kept = (link.addresses ?? []).filter((cidr) => cidr !== a.cidr);
        link.addresses = (a.op === 'addr.add' ? [...kept, a.cidr] : kept).sort();
        break;
      }
      case 'file.write':
        s.files[a.path] = a.file;
        break;
      case 'file.remove':
        delete s.files[a.path];
        break;
      case 'dir.remove':
        assert.ok(!s.namespaces[a.netns], `dir of ${a.netns} removed before the namespace`);
        delete s.dirs[a.path];
        break;
      case 'dnsmasq.start':
        assert.ok(!s.dhcpServers[a.network], 'dnsmasq started twice');
        s.dhcpServers[a.network] = structuredClone(a.server);
        break;
      case 'dnsmasq.reload':
      case 'daemon.reload':
        break;
      case 'daemon.start': {
        const key = `${a.daemon.kind} ${a.daemon.netns}`;
        assert.ok(!s.daemons[key], `${key} started twice`);
        s.daemons[key] = structuredClone(a.daemon);
        break;
      }
      case 'dhcp.release': {
        const server = s.dhcpServers[a.network];
        server.leases = server.leases.filter((l) => l.mac !== a.mac || l.ip !== a.ip);
        break;
      }
      case 'udhcpc.start':
        assert.ok(!s.dhcpClients[a.key], 'udhcpc started twice');
        s.dhcpClients[a.key] = structuredClone(a.client);
        break;
    }
  }
  return s;
}

/**
 * What diff converges: not the leases clients took, not host interfaces left on no bridge (they
 * exist whatever the desired state says), not problems.
 */
function converged(state: HostState): HostState {
  const s = structuredClone(state);
  for (const server of Object.values(s.dhcpServers)) server.leases = [];
  for (const [name, uplink] of Object.entries(s.uplinks)) if (uplink.master === null) delete s.uplinks[name];
  s.problems = [];
  return s;
}

/** An empty host that has the interfaces flat networks are mapped to. */
function emptyHost(desired: HostState): HostState {
  const host = emptyHostState();
  for (const name of Object.keys(desired.uplinks)) host.uplinks[name] = { master: null };
  return host;
}

const hex = (n: number) => n.toString(16).padStart(2, '0');

/** Random snapshots: 1-3 networks of every type, subnets with and without DHCP, ports, instances. */
const snapshots: fc.Arbitrary<Snapshot> = fc
  .record({
    networks: fc.array(
      fc.record({
        id: fc.uuid(),
        type: fc.constantFrom('local', 'vxlan', 'flat', 'vlan'),
        mtu: fc.constantFrom(1450, 1500, 9000),
        up: fc.boolean(),
        vni: fc.integer({ min: 1, max: 40 }),
        subnets: fc.array(
          fc.record({
            id: fc.uuid(),
            dhcp: fc.boolean(),
            gateway: fc.boolean(),
            routes: fc.boolean(),
            dhcpPort: fc.boolean(),
          }),
          { minLength: 0, maxLength: 2 },
        ),
        ports: fc.array(
          fc.record({ id: fc.uuid(), instance: fc.nat(3), up: fc.boolean(), dns: fc.boolean() }),
          { maxLength: 4 },
        ),
      }),
      { minLength: 1, maxLength: 3 },
    ),
    instanceIds: fc.array(fc.uuid(), { minLength: 4, maxLength: 4 }),
  })
  .map(({ networks, instanceIds }) => {
    const s: Snapshot = {
      host: 'h',
      revision: 1,
      dnsDomain: 'openstacklocal',
      networks: [],
      subnets: [],
      ports: [],
      instances: instanceIds.map((id, i) => ({ id, name: `vm ${i}`, ports: [] })),
      physicalInterfaceMappings: { physnet1: 'ens9' },
    };
    let mac = 0;
    networks.forEach((n, ni) => {
      s.networks.push({
        id: n.id,
        project_id: 'p',
        admin_state_up: n.up,
        mtu: n.mtu,
        network_type: n.type,
        physical_network: n.type === 'flat' || n.type === 'vlan' ? 'physnet1' : null,
        segmentation_id: n.type === 'vxlan' ? n.vni : null,
      });
      const cidr = (si: number) => `10.${ni}.${si}.0/24`;
      n.subnets.forEach((sub, si) => {
        s.subnets.push({
          id: sub.id,
          network_id: n.id,
          ip_version: 4,
          cidr: cidr(si),
          gateway_ip: sub.gateway ? `10.${ni}.${si}.1` : null,
          enable_dhcp: sub.dhcp,
          dns_nameservers: [],
          host_routes: sub.routes ? [{ destination: '192.168.0.0/16', nexthop: `10.${ni}.${si}.254` }] : [],
        });
      });
      const port = (
        id: string,
        fixed: { subnet_id: string; ip_address: string }[],
        extra: Partial<SnapshotPort>,
      ) =>
        s.ports.push({
          id,
          network_id: n.id,
          mac_address: `fa:16:3e:00:${hex(ni)}:${hex(mac++)}`,
          fixed_ips: fixed,
          device_owner: 'compute:nova',
          device_id: '',
          admin_state_up: true,
          dns_name: '',
          extra_dhcp_opts: [],
          ...extra,
        });
      const dhcpIps = n.subnets.flatMap((sub, si) =>
        sub.dhcpPort ? [{ subnet_id: sub.id, ip_address: `10.${ni}.${si}.2` }] : [],
      );
      if (dhcpIps.length > 0) port(`d${n.id.slice(1)}`, dhcpIps, { device_owner: 'network:dhcp' });
      n.ports.forEach((p, pi) => {
        const fixed = n.subnets.map((sub, si) => ({
          subnet_id: sub.id,
          ip_address: `10.${ni}.${si}.${10 + pi}`,
        }));
        port(p.id, fixed, { admin_state_up: p.up, dns_name: p.dns ? `vm-${ni}-${pi}` : '' });
        if (p.instance < 3) s.instances[p.instance].ports.push(p.id);
      });
    });
    return s;
  });

const pairs = fc.tuple(snapshots, snapshots, fc.array(fc.boolean(), { minLength: 8, maxLength: 8 }));

/** A second snapshot that shares some objects with the first (so updates, not only adds/deletes). */
function mix(a: Snapshot, b: Snapshot, keep: boolean[]): Snapshot {
  const pick = <T>(x: T[], y: T[], k: boolean) => (k ? x : y);
  return {
    ...a,
    networks: [...pick(a.networks, [], keep[0]), ...b.networks],
    subnets: [...pick(a.subnets, [], keep[0]), ...b.subnets],
    ports: [...pick(a.ports, [], keep[0] && keep[1]), ...b.ports],
    instances: [...pick(a.instances, [], keep[2]), ...b.instances],
  };
}

function stageIndex(action: Action): number {
  return STAGES.indexOf(rankOf(action).stage) * 100 + rankOf(action).order;
}

describe('diff: properties', () => {
  it('finds nothing to do between identical states', () => {
    fc.assert(
      fc.property(snapshots, (s) => {
        assert.deepEqual(diff(compile(s, { stateDir }), compile(s, { stateDir })), []);
      }),
    );
  });

  it('reaches the desired state from an empty host in one pass', () => {
    fc.assert(
      fc.property(snapshots, (s) => {
        const desired = compile(s, { stateDir });
        const reached = simulate(emptyHost(desired), diff(desired, emptyHost(desired)));
        assert.deepEqual(converged(reached), converged(desired));
        assert.deepEqual(diff(desired, reached), []);
      }),
    );
  });

  it('reaches any desired state from any other in one pass, in stage order', () => {
    fc.assert(
      fc.property(pairs, ([a, b, keep]) => {
        const before = compile(a, { stateDir });
        const desired = compile(mix(a, b, keep), { stateDir });
        const actual = { ...before, uplinks: { ...emptyHost(desired).uplinks, ...before.uplinks } };
        const actions = diff(desired, actual);
        const ranks = actions.map(stageIndex);
        assert.deepEqual(
          ranks,
          [...ranks].sort((x, y) => x - y),
        );
        const reached = simulate(actual, actions);
        assert.deepEqual(converged(reached), converged(desired));
        assert.deepEqual(diff(desired, reached), []);
      }),
    );
  });

  it('takes everything down in reverse dependency order', () => {
    fc.assert(
      fc.property(snapshots, (s) => {
        const actual = compile(s, { stateDir });
        const actions = diff(emptyHostState(), actual);
        const reached = simulate(actual, actions);
        assert.deepEqual(converged(reached), emptyHostState());
        const ops = actions.map((a) => a.op);
        const last = (op: string) => ops.lastIndexOf(op as Action['op']);
        const first = (op: string) =>
          ops.includes(op as Action['op']) ? ops.indexOf(op as Action['op']) : Infinity;
        assert.ok(last('udhcpc.stop') < first('netns.del'));
        assert.ok(last('dnsmasq.stop') < first('netns.del'));
        assert.ok(!ops.includes('veth.del'), 'every veth goes with its namespace');
        assert.ok(last('vxlan.del') < first('bridge.del'));
        assert.ok(last('bridge.del') < first('netns.del'));
        const links = actions.flatMap((a) => (a.op === 'netns.del' ? a.links : []));
        assert.deepEqual(links.sort(), Object.keys(actual.veths).sort());
        assert.ok(last('netns.del') < first('dir.remove'));
        assert.ok(!ops.some((op) => op.endsWith('.add') || op.endsWith('.start')));
      }),
    );
  });
});

/** A network with DHCP and `n` instance ports, each in its own instance. */
function network(n: number, options: { mtu?: number } = {}): Snapshot {
  const net = '6f1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d';
  const subnet = 'a1b2c3d4-0000-4000-8000-000000000001';
  const port = (i: number, owner = 'compute:nova'): SnapshotPort => ({
    id: `${i.toString(16).padStart(8, '0')}-0000-4000-8000-000000000000`,
    network_id: net,
    mac_address: `fa:16:3e:00:${hex(i >> 8)}:${hex(i & 255)}`,
    fixed_ips: [{ subnet_id: subnet, ip_address: `10.0.${i >> 8}.${i & 255}` }],
    device_owner: owner,
    device_id: '',
    admin_state_up: true,
    dns_name: '',
    extra_dhcp_opts: [],
  });
  const ports = Array.from({ length: n }, (_, i) => port(i + 10));
  return {
    host: 'h',
    revision: 1,
    dnsDomain: 'openstacklocal',
    networks: [
      {
        id: net,
        project_id: 'p',
        admin_state_up: true,
        mtu: options.mtu ?? 1450,
        network_type: 'vxlan',
        physical_network: null,
        segmentation_id: 77,
      },
    ],
    subnets: [
      {
        id: subnet,
        network_id: net,
        ip_version: 4,
        cidr: '10.0.0.0/16',
        gateway_ip: '10.0.0.1',
        enable_dhcp: true,
        dns_nameservers: [],
        host_routes: [],
      },
    ],
    ports: [port(2, 'network:dhcp'), ...ports],
    instances: ports.map((p, i) => ({ id: `inst-${i}`, name: `vm${i}`, ports: [p.id] })),
    physicalInterfaceMappings: {},
  };
}

const ops = (actions: Action[]) => actions.map((a) => a.op);
const count = (actions: Action[], op: Action['op']) => actions.filter((a) => a.op === op).length;

describe('diff: cases', () => {
  it('creates objects in dependency order', () => {
    const desired = compile(network(1), { stateDir });
    assert.deepEqual(ops(diff(desired, emptyHostState())), [
      'dir.create',
      'dir.create',
      'netns.add',
      'netns.add',
      'bridge.add',
      'vxlan.add',
      'veth.add',
      'veth.add',
      'nslink.set',
      'nslink.set',
      'addr.add',
      'addr.add', // 169.254.169.254, the metadata proxy's
      'file.write',
      'file.write',
      'file.write',
      'file.write',
      'file.write',
      'file.write',
      'dnsmasq.start',
      'daemon.start',
      'udhcpc.start',
    ]);
  });

  it('rewrites the files and sends one SIGHUP however many ports are added, without touching others', () => {
    const actual = compile(network(3), { stateDir });
    actual.dhcpServers[Object.keys(actual.dhcpServers)[0]].pid = 4242;
    const actions = diff(compile(network(103), { stateDir }), actual);
    assert.equal(count(actions, 'dnsmasq.reload'), 1);
    assert.deepEqual(
      actions.find((a) => a.op === 'dnsmasq.reload'),
      { op: 'dnsmasq.reload', network: '6f1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d', pid: 4242 },
    );
    assert.equal(count(actions, 'dnsmasq.start'), 0);
    assert.equal(count(actions, 'dnsmasq.stop'), 0);
    assert.equal(count(actions, 'veth.add'), 100);
    assert.equal(count(actions, 'udhcpc.start'), 100);
    assert.equal(count(actions, 'file.write'), 2, 'host and addn_hosts; opts is unchanged');
    assert.equal(count(actions, 'link.set'), 0);
  });

  it('gives a port its extra DHCP options by a tag, and restarts rather than SIGHUPs a tagged dnsmasq', () => {
    const before = network(2);
    const after = network(2);
    const tagged = after.ports[1];
    tagged.extra_dhcp_opts = [
      { opt_name: 'ntp-server', opt_value: '10.0.0.9', ip_version: 4 },
      { opt_name: '150', opt_value: '10.0.0.8', ip_version: 4 },
      { opt_name: 'router', opt_value: '', ip_version: 4 },
      { opt_name: 'bad name;', opt_value: 'x', ip_version: 4 },
      { opt_name: 'dns-server', opt_value: '[2001:db8::1]', ip_version: 6 },
    ];
    const desired = compile(after, { stateDir });
    const dir = Object.values(desired.dhcpServers)[0].dir;
    const content = (name: string) => {
      const file = desired.files[`${dir}/${name}`];
      return file && 'content' in file ? file.content : '';
    };
    const tag = `port-${tagged.id}`;
    const line = (port: SnapshotPort) => {
      const ip = port.fixed_ips[0].ip_address;
      return `${port.mac_address},host-${ip.replaceAll('.', '-')}.openstacklocal,${ip}`;
    };
    const hosts = content('host').split('\n');
    assert.ok(hosts.includes(`${line(tagged)},set:${tag}`), content('host'));
    const plain = after.ports.find((p) => p !== tagged && p.device_owner === 'compute:nova');
    assert.ok(plain && hosts.includes(line(plain)), 'a port without options has no tag');
    assert.deepEqual(
      content('opts')
        .split('\n')
        .filter((l) => l.startsWith(`tag:${tag}`)),
      [
        `tag:${tag},option:ntp-server,10.0.0.9`,
        `tag:${tag},150,10.0.0.8`,
        `tag:${tag},option:router`,
        `tag:${tag},option6:dns-server,[2001:db8::1]`,
      ],
    );
    const actual = compile(before, { stateDir });
    actual.dhcpServers[Object.keys(actual.dhcpServers)[0]].pid = 4242;
    assert.deepEqual(
      ops(diff(desired, actual)).filter((op) => op.startsWith('dnsmasq')),
      ['dnsmasq.stop', 'dnsmasq.start'],
    );
    // Removing the last options: the running dnsmasq still has tagged lines, so it restarts too.
    const running = structuredClone(desired);
    running.dhcpServers[Object.keys(running.dhcpServers)[0]].pid = 4343;
    assert.deepEqual(
      ops(diff(compile(before, { stateDir }), running)).filter((op) => op.startsWith('dnsmasq')),
      ['dnsmasq.stop', 'dnsmasq.start'],
    );
  });

  it('releases the lease of a deleted port and unplugs it', () => {
    const before = network(2);
    before.instances = [{ id: 'inst-0', name: 'vm0', ports: [before.ports[1].id, before.ports[2].id] }];
    const after = network(1);
    after.instances = [{ id: 'inst-0', name: 'vm0', ports: [after.ports[1].id] }];
    const deleted = before.ports[2];
    const actions = diff(compile(after, { stateDir }), compile(before, { stateDir }));
    assert.deepEqual(ops(actions), [
      'udhcpc.stop',
      'veth.del',
      'file.write',
      'file.write',
      'dnsmasq.reload',
      'dhcp.release',
    ]);
    assert.deepEqual(actions[1], { op: 'veth.del', name: `tap${deleted.id.slice(0, 11)}` });
    assert.deepEqual(
      actions.filter((a) => a.op === 'dhcp.release').map((a) => a.op === 'dhcp.release' && [a.mac, a.ip]),
      [[deleted.mac_address, deleted.fixed_ips[0].ip_address]],
    );
  });

  it('lets the veths of a deleted instance go with its namespace', () => {
    const deleted = network(2).ports[2];
    const actions = diff(compile(network(1), { stateDir }), compile(network(2), { stateDir }));
    assert.deepEqual(ops(actions), [
      'udhcpc.stop',
      'netns.del',
      'file.write',
      'file.write',
      'dir.remove',
      'dnsmasq.reload',
      'dhcp.release',
    ]);
    assert.deepEqual(actions[1], {
      op: 'netns.del',
      name: 'inst-inst-1',
      links: [`tap${deleted.id.slice(0, 11)}`],
    });
  });

  it('changes the MTU in place, and restarts dnsmasq (a new option 26) rather than recreating links', () => {
    const actions = diff(compile(network(2, { mtu: 1400 }), { stateDir }), compile(network(2), { stateDir }));
    assert.equal(count(actions, 'link.set'), 5, 'bridge, vxlan and three veths');
    assert.ok(actions.every((a) => a.op !== 'link.set' || a.mtu === 1400));
    assert.deepEqual(
      ops(actions).filter((op) => op !== 'link.set'),
      ['dnsmasq.stop', 'dnsmasq.start'],
    );
  });

  it('repairs drift: a missing tap is recreated and its DHCP client restarted on the new interface', () => {
    const desired = compile(network(2), { stateDir });
    const actual = structuredClone(desired);
    const tap = Object.keys(actual.veths).find((name) => actual.veths[name].peer.name === 'eth0')!;
    delete actual.veths[tap];
    const key = Object.entries(desired.dhcpClients).find(
      ([, c]) => c.netns === desired.veths[tap].peer.netns,
    )![0];
    actual.dhcpClients[key].pid = 99;
    delete actual.dhcpServers[Object.keys(actual.dhcpServers)[0]];
    assert.deepEqual(diff(desired, actual), [
      { op: 'udhcpc.stop', key, pid: 99 },
      { op: 'veth.add', name: tap, veth: desired.veths[tap] },
      {
        op: 'dnsmasq.start',
        network: Object.keys(desired.dhcpServers)[0],
        server: Object.values(desired.dhcpServers)[0],
      },
      { op: 'udhcpc.start', key, client: desired.dhcpClients[key] },
    ]);
  });

  it('leaves a DHCP client that is still starting alone, and restarts one running other arguments', () => {
    const desired = compile(network(1), { stateDir });
    const actual = structuredClone(desired);
    const [key] = Object.keys(desired.dhcpClients);
    actual.dhcpClients[key] = {
      ...actual.dhcpClients[key],
      argv: ['sh', '-c', '…', 'neutrino-launcher'],
      pid: 98,
      starting: true,
    };
    assert.deepEqual(diff(desired, actual), []);
    actual.dhcpClients[key] = { ...desired.dhcpClients[key], argv: ['udhcpc', '-i', 'eth9'], pid: 98 };
    assert.deepEqual(ops(diff(desired, actual)), ['udhcpc.stop', 'udhcpc.start']);
  });

  it('recreates a veth whose peer is in another or a vanished namespace, and the links inside it', () => {
    const desired = compile(network(1), { stateDir });
    const actual = structuredClone(desired);
    const dhcpTap = Object.keys(actual.veths).find((name) =>
      actual.veths[name].peer.name?.startsWith('ns-'),
    )!;
    actual.veths[dhcpTap].peer = { netns: null };
    const actions = diff(desired, actual);
    assert.deepEqual(ops(actions), [
      'dnsmasq.stop',
      'veth.del',
      'veth.add',
      'nslink.set',
      'addr.add',
      'addr.add',
      'dnsmasq.start',
    ]);
  });

  it('detaches a host interface from a bridge it should no longer be on', () => {
    const desired = compile(network(1), { stateDir });
    const actual = structuredClone(desired);
    actual.uplinks.ens9 = { master: Object.keys(desired.bridges)[0] };
    assert.deepEqual(diff(desired, actual), [
      { op: 'link.master', kind: 'uplink', name: 'ens9', master: null },
    ]);
  });
});
