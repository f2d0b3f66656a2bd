/**
 * The openvswitch L2 driver, pure parts: `layoutNetwork` and `plugPort` (drivers/openvswitch/layout.ts)
 * called directly on an empty host state, and the Open vSwitch part of the diff. Covers br-tun (one
 * VXLAN port per remote host with ports, l2population's rules in tables 0/2/4/20/21/22, peers
 * skipped or reported), tunnel ports shared between networks and a VNI used twice, vxlan networks
 * without a tunnel endpoint, physnets whose provider bridge would be br-int or br-tun, the
 * userspace datapath's br-phy with the tunnel interface and the checksummed (txOffload false)
 * devices of tunnelled networks, the physnet whose bridge would be br-phy, the underlay's
 * take/release actions and `link.offload`, and tunnel port names.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { NetworkContext } from '../../src/agent/drivers/driver.js';
import { ovsActions } from '../../src/agent/drivers/openvswitch/diff.js';
import { openvswitch } from '../../src/agent/drivers/openvswitch/layout.js';
import { tunnelPortName } from '../../src/agent/drivers/openvswitch/names.js';
import { diff } from '../../src/agent/reconcile/diff.js';
import { emptyHostState, type HostState, type OvsState } from '../../src/agent/state/host-state.js';
import type { Ovs } from '../../src/linux/ovs.js';
import type { SnapshotNetwork, SnapshotTunnelPeer } from '../../src/model/host-snapshot.js';
import { DHCP_PORT, NET, PORT_A, snapshotNetwork } from '../helpers/snapshot.js';

const NET2 = '7f1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d';
const NET3 = '8f1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d';
const handle: Ovs = { db: 'unix:/nonexistent/db.sock', dir: '/nonexistent', env: {} };
const LOCAL_IP = '10.0.0.1';
const UNDERLAY = { device: 'eth1', mac: '52:54:00:00:00:01', cidr: '10.0.0.1/24' };
/** Our rules' cookie, spelled out so a changed constant shows. */
const rule = (text: string) => `cookie=0x4e54524e,${text}`;

interface Setup {
  datapath?: 'system' | 'netdev';
  /** This host has a tunnel endpoint (default true). */
  tunnel?: boolean;
  /** The userspace datapath's tunnel interface (default: none). */
  underlay?: boolean;
  peers?: Record<string, SnapshotTunnelPeer[]>;
  mappings?: Record<string, string>;
}

/** An empty host state and the context the driver lays networks out in. */
function setup(options: Setup = {}): { state: HostState; context: NetworkContext } {
  const { datapath = 'system', tunnel = true, underlay = false, peers = {}, mappings = {} } = options;
  const context: NetworkContext = {
    owner: 'owner1',
    physicalInterfaceMappings: mappings,
    hostBridges: new Set(),
    vlanCapable: true,
    ...(tunnel ? { tunnel: { localIp: LOCAL_IP, device: 'eth1' } } : {}),
    peers,
    ovs: {
      datapath,
      handle,
      previousTags: {},
      tags: {},
      segments: new Set(),
      tagsFile: '/var/lib/neutrino-test/ovs-tags.json',
      ...(underlay ? { underlay: UNDERLAY } : {}),
    },
  };
  return { state: emptyHostState(), context };
}

/** A vxlan network (`NET` by default, VNI 1001). */
function vxlan(id = NET, vni = 1001): SnapshotNetwork {
  return snapshotNetwork({ id, segmentation_id: vni });
}

function peer(host: string, tunnelIp: string, ports: [string, ...string[]][]): SnapshotTunnelPeer {
  return {
    host,
    tunnel_ip: tunnelIp,
    ports: ports.map(([mac, ...ips]) => ({ mac_address: mac, ip_addresses: ips })),
  };
}

/** `bridge`'s rules in OpenFlow table `table`. */
function table(state: HostState, bridge: string, n: number): string[] {
  return (state.ovs.bridges[bridge]?.flows ?? []).filter((f) => f.includes(`,table=${n},`));
}

function vxlanPorts(state: HostState): string[] {
  return Object.entries(state.ovs.ports)
    .filter(([, port]) => port.type === 'vxlan')
    .map(([name]) => name)
    .sort();
}

function arpResponder(tag: number, ip: string, mac: string): string {
  const actions = [
    'move:NXM_OF_ETH_SRC[]->NXM_OF_ETH_DST[]',
    `mod_dl_src:${mac}`,
    'load:0x2->NXM_OF_ARP_OP[]',
    'move:NXM_NX_ARP_SHA[]->NXM_NX_ARP_THA[]',
    'move:NXM_OF_ARP_SPA[]->NXM_OF_ARP_TPA[]',
    `set_field:${mac}->arp_sha`,
    `set_field:${ip}->arp_spa`,
    'in_port',
  ];
  return rule(`table=21,priority=1,dl_vlan=${tag},arp,arp_tpa=${ip},actions=${actions.join(',')}`);
}

const QVB = `qvb${PORT_A.slice(0, 11)}`;
const TAP_A = `tap${PORT_A.slice(0, 11)}`;
const TAP_DHCP = `tap${DHCP_PORT.slice(0, 11)}`;
const DHCP_NS = `qdhcp-${NET}`;

/** Plugs `PORT_A` as an instance's port and `DHCP_PORT` as a service's, on `network`. */
function plugBoth(state: HostState, context: NetworkContext, network: SnapshotNetwork): void {
  const instance = {
    portId: PORT_A,
    network,
    netns: 'inst',
    device: 'eth0',
    mac: 'fa:16:3e:00:00:0a',
    up: true,
    instance: true,
  };
  const service = {
    portId: DHCP_PORT,
    network,
    netns: DHCP_NS,
    device: 'ns-d0d0d0d0-11',
    mac: 'fa:16:3e:00:00:0d',
    up: true,
  };
  assert.equal(openvswitch.plugPort(state, instance, context), undefined);
  assert.equal(openvswitch.plugPort(state, service, context), undefined);
}

describe('openvswitch: br-tun and l2population', () => {
  const peers = [
    peer('h2', '10.0.1.2', [['FA:16:3E:00:00:21', '10.1.0.21', '2001:db8::21']]),
    peer('h3', '10.0.1.3', [['fa:16:3e:00:00:31', '10.1.0.31']]),
    peer('h4', '10.0.1.4', []),
    peer('self', LOCAL_IP, [['fa:16:3e:00:00:11', '10.1.0.11']]),
    peer('bad', 'not-an-ip', [['fa:16:3e:00:00:99', '10.1.0.99']]),
  ];
  const laidOut = () => {
    const { state, context } = setup({ peers: { [NET]: peers } });
    assert.equal(openvswitch.layoutNetwork(state, vxlan(), context), undefined);
    assert.deepEqual(context.ovs?.tags, { [NET]: 1 });
    return state;
  };

  it('gives br-tun one VXLAN port per remote host with ports, none for our own or a portless one', () => {
    const state = laidOut();
    assert.deepEqual(vxlanPorts(state), ['vxlan-0a000102', 'vxlan-0a000103']);
    assert.deepEqual(state.ovs.ports['vxlan-0a000102'], {
      bridge: 'br-tun',
      tag: null,
      type: 'vxlan',
      options: { remote_ip: '10.0.1.2', local_ip: LOCAL_IP, key: 'flow', dst_port: '4789' },
      ids: { 'neutrino-host': 'h2' },
    });
    assert.equal(state.ovs.ports['vxlan-0a000103']?.options?.remote_ip, '10.0.1.3');
  });

  it('joins br-tun to br-int by patch ports and sorts frames in tables 0 and 2', () => {
    const state = laidOut();
    assert.deepEqual(state.ovs.ports['patch-tun'], {
      bridge: 'br-int',
      tag: null,
      type: 'patch',
      options: { peer: 'patch-int' },
      ids: {},
    });
    assert.deepEqual(state.ovs.ports['patch-int']?.options, { peer: 'patch-tun' });
    assert.equal(state.ovs.ports['patch-int']?.bridge, 'br-tun');
    assert.deepEqual(table(state, 'br-tun', 0), [
      rule('table=0,priority=0,actions=drop'),
      rule('table=0,priority=1,in_port=patch-int,actions=resubmit(,2)'),
      rule('table=0,priority=1,in_port=vxlan-0a000102,actions=resubmit(,4)'),
      rule('table=0,priority=1,in_port=vxlan-0a000103,actions=resubmit(,4)'),
    ]);
    assert.deepEqual(table(state, 'br-tun', 2), [
      rule('table=2,priority=0,dl_dst=00:00:00:00:00:00/01:00:00:00:00:00,actions=resubmit(,20)'),
      rule('table=2,priority=0,dl_dst=01:00:00:00:00:00/01:00:00:00:00:00,actions=resubmit(,22)'),
      rule('table=2,priority=1,arp,dl_dst=ff:ff:ff:ff:ff:ff,actions=resubmit(,21)'),
    ]);
  });

  it('turns the VNI into the local tag in table 4', () => {
    assert.deepEqual(table(laidOut(), 'br-tun', 4), [
      rule('table=4,priority=1,tun_id=1001,actions=mod_vlan_vid:1,output:patch-int'),
    ]);
  });

  it('floods (table 22) only to the hosts with ports', () => {
    assert.deepEqual(table(laidOut(), 'br-tun', 22), [
      rule(
        'table=22,priority=1,dl_vlan=1,actions=strip_vlan,set_tunnel:1001,output:vxlan-0a000102,output:vxlan-0a000103',
      ),
    ]);
  });

  it('sends each remote MAC down its host tunnel (table 20), lower-cased', () => {
    assert.deepEqual(table(laidOut(), 'br-tun', 20), [
      rule('table=20,priority=0,actions=resubmit(,22)'),
      rule(
        'table=20,priority=2,dl_vlan=1,dl_dst=fa:16:3e:00:00:21,actions=strip_vlan,set_tunnel:1001,output:vxlan-0a000102',
      ),
      rule(
        'table=20,priority=2,dl_vlan=1,dl_dst=fa:16:3e:00:00:31,actions=strip_vlan,set_tunnel:1001,output:vxlan-0a000103',
      ),
    ]);
  });

  it('answers ARP (table 21) for each remote IPv4 address, not for IPv6 ones', () => {
    const rules = table(laidOut(), 'br-tun', 21);
    assert.deepEqual(rules, [
      rule('table=21,priority=0,actions=resubmit(,22)'),
      arpResponder(1, '10.1.0.21', 'fa:16:3e:00:00:21'),
      arpResponder(1, '10.1.0.31', 'fa:16:3e:00:00:31'),
    ]);
    assert.ok(rules.every((r) => !r.includes('2001:db8')));
  });

  it("adds none of our own endpoint's MACs and reports an unusable endpoint as a problem", () => {
    const state = laidOut();
    const all = (state.ovs.bridges['br-tun']?.flows ?? []).join('\n');
    assert.ok(!all.includes('fa:16:3e:00:00:11'), all);
    assert.ok(!all.includes('fa:16:3e:00:00:99'), all);
    assert.deepEqual(state.problems, [
      { object: `network ${NET}`, message: 'l2population: host bad: unusable tunnel endpoint "not-an-ip"' },
    ]);
  });

  it('shares one tunnel port between networks with the same remote host', () => {
    const h2 = peer('h2', '10.0.1.2', [['fa:16:3e:00:00:21', '10.1.0.21']]);
    const h2b = peer('h2', '10.0.1.2', [['fa:16:3e:00:00:22', '10.2.0.22']]);
    const { state, context } = setup({ peers: { [NET]: [h2], [NET2]: [h2b] } });
    assert.equal(openvswitch.layoutNetwork(state, vxlan(NET, 1001), context), undefined);
    assert.equal(openvswitch.layoutNetwork(state, vxlan(NET2, 1002), context), undefined);
    assert.deepEqual(context.ovs?.tags, { [NET]: 1, [NET2]: 2 });
    assert.deepEqual(vxlanPorts(state), ['vxlan-0a000102']);
    const inPort = table(state, 'br-tun', 0).filter((r) => r.includes('in_port=vxlan-0a000102'));
    assert.equal(inPort.length, 1);
    assert.deepEqual(table(state, 'br-tun', 22), [
      rule('table=22,priority=1,dl_vlan=1,actions=strip_vlan,set_tunnel:1001,output:vxlan-0a000102'),
      rule('table=22,priority=1,dl_vlan=2,actions=strip_vlan,set_tunnel:1002,output:vxlan-0a000102'),
    ]);
    assert.deepEqual(table(state, 'br-tun', 4), [
      rule('table=4,priority=1,tun_id=1001,actions=mod_vlan_vid:1,output:patch-int'),
      rule('table=4,priority=1,tun_id=1002,actions=mod_vlan_vid:2,output:patch-int'),
    ]);
  });

  it('gives a network no remote host has ports on no tunnel port and no flood rule', () => {
    const { state, context } = setup({ peers: { [NET]: [peer('h4', '10.0.1.4', [])] } });
    assert.equal(openvswitch.layoutNetwork(state, vxlan(), context), undefined);
    assert.deepEqual(vxlanPorts(state), []);
    assert.deepEqual(table(state, 'br-tun', 22), []);
    assert.deepEqual(table(state, 'br-tun', 4), [
      rule('table=4,priority=1,tun_id=1001,actions=mod_vlan_vid:1,output:patch-int'),
    ]);
  });

  it('refuses a second network with the same VNI', () => {
    const { state, context } = setup();
    assert.equal(openvswitch.layoutNetwork(state, vxlan(NET, 1001), context), undefined);
    const before = structuredClone(state.ovs.bridges['br-tun']?.flows);
    assert.equal(
      openvswitch.layoutNetwork(state, vxlan(NET3, 1001), context),
      'VNI 1001 is used by another network',
    );
    assert.deepEqual(context.ovs?.tags, { [NET]: 1 });
    assert.deepEqual(state.ovs.bridges['br-tun']?.flows, before);
  });

  it('without a tunnel endpoint, keeps a vxlan network on br-int alone (no br-tun)', () => {
    const h2 = peer('h2', '10.0.1.2', [['fa:16:3e:00:00:21', '10.1.0.21']]);
    const { state, context } = setup({ tunnel: false, peers: { [NET]: [h2] } });
    assert.equal(openvswitch.layoutNetwork(state, vxlan(), context), undefined);
    assert.deepEqual(context.ovs?.tags, { [NET]: 1 });
    assert.deepEqual(Object.keys(state.ovs.bridges), ['br-int']);
    assert.deepEqual(state.ovs.ports, {});
    assert.equal(state.ovs.underlay, undefined);
    assert.deepEqual(state.files['/var/lib/neutrino-test/ovs-tags.json'], {
      content: `{\n "${NET}": 1\n}\n`,
      mode: 0o644,
    });
  });
});

describe('openvswitch: provider bridges', () => {
  const flat = (physnet: string) =>
    snapshotNetwork({ id: NET2, network_type: 'flat', physical_network: physnet, segmentation_id: null });

  it('refuses a physnet whose provider bridge would be br-int', () => {
    const { state, context } = setup({ mappings: { int: 'eth2' } });
    assert.equal(openvswitch.layoutNetwork(state, vxlan(), context), undefined);
    assert.equal(
      openvswitch.layoutNetwork(state, flat('int'), context),
      "physical network int's bridge would be br-int, which the driver uses itself",
    );
    assert.equal(state.ovs.ports.eth2, undefined);
    assert.deepEqual(context.ovs?.tags, { [NET]: 1 });
  });

  it('refuses a physnet whose provider bridge would be br-tun while this host tunnels, in either order', () => {
    for (const order of [
      ['vxlan', 'flat'],
      ['flat', 'vxlan'],
    ]) {
      const { state, context } = setup({ mappings: { tun: 'eth2' } });
      for (const kind of order)
        if (kind === 'vxlan') assert.equal(openvswitch.layoutNetwork(state, vxlan(), context), undefined);
        else
          assert.equal(
            openvswitch.layoutNetwork(state, flat('tun'), context),
            "physical network tun's bridge would be br-tun, which the driver uses itself",
          );
      assert.equal(state.ovs.ports['patch-int']?.bridge, 'br-tun', order.join(' then '));
      assert.deepEqual(table(state, 'br-tun', 0)[0], rule('table=0,priority=0,actions=drop'));
      assert.equal(state.ovs.ports.eth2, undefined);
    }
  });

  it('lays out a physnet named tun on its own br-tun when this host has no tunnel endpoint', () => {
    const { state, context } = setup({ tunnel: false, mappings: { tun: 'eth2' } });
    assert.equal(openvswitch.layoutNetwork(state, flat('tun'), context), undefined);
    assert.deepEqual(state.ovs.ports.eth2, {
      bridge: 'br-tun',
      tag: null,
      type: '',
      ids: { 'neutrino-physnet': 'tun' },
    });
    assert.equal(state.veths['int-br-tun']?.peer.name, 'phy-br-tun');
  });
});

describe('openvswitch: the userspace datapath', () => {
  it('puts the tunnel interface on br-phy, which takes its MAC and the endpoint address', () => {
    const { state, context } = setup({ datapath: 'netdev', underlay: true });
    assert.equal(openvswitch.layoutNetwork(state, vxlan(), context), undefined);
    assert.deepEqual(state.ovs.bridges['br-phy'], {
      datapath: 'netdev',
      mac: '52:54:00:00:00:01',
      flows: [rule('table=0,priority=0,actions=NORMAL')],
    });
    assert.deepEqual(state.ovs.ports.eth1, {
      bridge: 'br-phy',
      tag: null,
      type: '',
      ids: { 'neutrino-underlay': 'tunnel' },
    });
    assert.deepEqual(state.ovs.underlay, {
      bridge: 'br-phy',
      device: 'eth1',
      addresses: ['10.0.0.1/24'],
      fence: 'neutrino-ul-owner1',
    });
    assert.equal(state.ovs.bridges['br-tun']?.datapath, 'netdev');
  });

  it("makes a tunnelled network's instance qvb and service peer compute checksums", () => {
    const { state, context } = setup({ datapath: 'netdev', underlay: true });
    const network = vxlan();
    assert.equal(openvswitch.layoutNetwork(state, network, context), undefined);
    plugBoth(state, context, network);
    assert.equal(state.veths[QVB]?.txOffload, false);
    assert.deepEqual(state.veths[QVB]?.peer, { netns: '', name: `qvo${PORT_A.slice(0, 11)}` });
    assert.equal(state.veths[TAP_A]?.txOffload, undefined);
    assert.equal(state.veths[TAP_A]?.peer.txOffload, undefined);
    assert.deepEqual(state.veths[TAP_DHCP]?.peer, {
      netns: DHCP_NS,
      name: 'ns-d0d0d0d0-11',
      mac: 'fa:16:3e:00:00:0d',
      txOffload: false,
    });
    assert.equal(state.veths[TAP_DHCP]?.txOffload, undefined);
  });

  it('on the kernel datapath: no br-phy, no underlay, offloads left alone', () => {
    const { state, context } = setup({ datapath: 'system' });
    const network = vxlan();
    assert.equal(openvswitch.layoutNetwork(state, network, context), undefined);
    plugBoth(state, context, network);
    assert.deepEqual(Object.keys(state.ovs.bridges).sort(), ['br-int', 'br-tun']);
    assert.equal(state.ovs.underlay, undefined);
    assert.equal(state.veths[QVB]?.txOffload, undefined);
    assert.equal(state.veths[TAP_DHCP]?.peer.txOffload, undefined);
    assert.ok(Object.hasOwn(state.veths, QVB));
    assert.ok(Object.hasOwn(state.veths, TAP_DHCP));
  });

  it('leaves offloads alone on a network that crosses no tunnel (vlan)', () => {
    const { state, context } = setup({ datapath: 'netdev', underlay: true, mappings: { physnet1: 'eth2' } });
    const network = snapshotNetwork({
      network_type: 'vlan',
      physical_network: 'physnet1',
      segmentation_id: 100,
    });
    assert.equal(openvswitch.layoutNetwork(state, network, context), undefined);
    plugBoth(state, context, network);
    assert.equal(state.veths[QVB]?.txOffload, undefined);
    assert.equal(state.veths[TAP_DHCP]?.peer.txOffload, undefined);
    assert.equal(state.ovs.bridges['br-phy'], undefined);
  });

  it('refuses a physnet whose provider bridge would be br-phy while the underlay holds it', () => {
    const flat = snapshotNetwork({
      id: NET2,
      network_type: 'flat',
      physical_network: 'phy',
      segmentation_id: null,
    });
    const { state, context } = setup({ datapath: 'netdev', underlay: true, mappings: { phy: 'eth2' } });
    assert.equal(
      openvswitch.layoutNetwork(state, flat, context),
      "physical network phy's bridge would be br-phy, which holds the tunnel interface",
    );
    assert.deepEqual(state.ovs.bridges, {});
    assert.deepEqual(context.ovs?.tags, {});

    const kernel = setup({ datapath: 'system', mappings: { phy: 'eth2' } });
    assert.equal(openvswitch.layoutNetwork(kernel.state, flat, kernel.context), undefined);
    assert.equal(kernel.state.ovs.ports.eth2?.bridge, 'br-phy');
  });
});

describe('openvswitch: diff of the underlay and offloads', () => {
  const desiredUnderlay = {
    bridge: 'br-phy',
    device: 'eth1',
    addresses: ['10.0.0.1/24'],
    fence: 'neutrino-ul-owner1',
  };
  const ovsState = (underlay?: OvsState['underlay']): OvsState => ({
    handle,
    owner: 'owner1',
    bridges: {},
    ports: {},
    ...(underlay ? { underlay } : {}),
  });

  it('takes the endpoint onto br-phy when br-phy lacks the address', () => {
    const actual = ovsState({ ...desiredUnderlay, addresses: [], up: true, fenced: true });
    assert.deepEqual(ovsActions(ovsState(desiredUnderlay), actual, new Set()), [
      { op: 'ovs.underlay', take: true, underlay: desiredUnderlay },
    ]);
  });

  it('takes it again when br-phy holds the address but is down', () => {
    const actual = ovsState({ ...desiredUnderlay, up: false, fenced: true });
    assert.deepEqual(ovsActions(ovsState(desiredUnderlay), actual, new Set()), [
      { op: 'ovs.underlay', take: true, underlay: desiredUnderlay },
    ]);
  });

  it('takes it again when the interface is not fenced off from the host', () => {
    const actual = ovsState({ ...desiredUnderlay, up: true, fenced: false });
    assert.deepEqual(ovsActions(ovsState(desiredUnderlay), actual, new Set()), [
      { op: 'ovs.underlay', take: true, underlay: desiredUnderlay },
    ]);
  });

  it('gives the endpoint back when no underlay is desired', () => {
    const actual = { ...desiredUnderlay, up: true, fenced: true };
    assert.deepEqual(ovsActions(ovsState(), ovsState(actual), new Set()), [
      { op: 'ovs.underlay', take: false, underlay: actual },
    ]);
    // Only the fence left (the address already back): the fence goes too.
    const fenceOnly = { ...desiredUnderlay, addresses: [], up: true, fenced: true };
    assert.deepEqual(ovsActions(ovsState(), ovsState(fenceOnly), new Set()), [
      { op: 'ovs.underlay', take: false, underlay: fenceOnly },
    ]);
  });

  it('does nothing when br-phy holds the address and is up, or holds no tunnel interface', () => {
    const up = ovsState({ ...desiredUnderlay, up: true, fenced: true });
    assert.deepEqual(ovsActions(ovsState(desiredUnderlay), up, new Set()), []);
    const none = ovsState({ ...desiredUnderlay, device: '', up: true, fenced: false });
    assert.deepEqual(ovsActions(ovsState(), none, new Set()), []);
  });

  it('turns offloads off on new veth ends: the host end in the root namespace, the peer in its own', () => {
    const { state, context } = setup({ datapath: 'netdev', underlay: true });
    const network = vxlan();
    assert.equal(openvswitch.layoutNetwork(state, network, context), undefined);
    plugBoth(state, context, network);
    const offloads = diff(state, emptyHostState()).filter((a) => a.op === 'link.offload');
    assert.deepEqual(
      offloads.sort((a, b) => a.name.localeCompare(b.name)),
      [
        { op: 'link.offload', netns: DHCP_NS, name: 'ns-d0d0d0d0-11' },
        { op: 'link.offload', netns: '', name: QVB },
      ],
    );
  });

  it('leaves existing veths alone, even those wanting offloads off', () => {
    const { state, context } = setup({ datapath: 'netdev', underlay: true });
    const network = vxlan();
    assert.equal(openvswitch.layoutNetwork(state, network, context), undefined);
    plugBoth(state, context, network);
    const actual = structuredClone(state);
    const actions = diff(state, actual);
    assert.deepEqual(
      actions.filter((a) => a.op === 'link.offload' || a.op === 'veth.add'),
      [],
    );
  });
});

describe('openvswitch: tunnel port names', () => {
  it('spells an IPv4 endpoint in hex', () => {
    assert.equal(tunnelPortName('10.0.1.2'), 'vxlan-0a000102');
    assert.equal(tunnelPortName('192.168.255.1'), 'vxlan-c0a8ff01');
  });

  it('hashes an IPv6 endpoint to 8 hex digits (SHA-1), within 15 characters', () => {
    const name = tunnelPortName('2001:db8::2');
    assert.equal(name, 'vxlan-790f34e5');
    assert.match(name, /^vxlan-[0-9a-f]{8}$/);
    assert.notEqual(tunnelPortName('2001:db8::3'), name);
  });
});
