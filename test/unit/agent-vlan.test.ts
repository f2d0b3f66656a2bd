/**
 * VLAN networks in the linuxbridge driver (pure): Neutron's `<interface>.<vid>` device names (hashed
 * to fit 15 characters), the compiled layout where the kernel has 8021q (an 802.1Q device on the
 * physnet's mapped interface, enslaved to the network's bridge), what is refused without it, and
 * the actions that build, change and remove the device.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { MAX_LINK_NAME, vlanName } from '../../src/agent/drivers/linuxbridge/names.js';
import { compile } from '../../src/agent/reconcile/compile.js';
import { diff } from '../../src/agent/reconcile/diff.js';
import { emptyHostState, linkAlias, ownerTag } from '../../src/agent/state/host-state.js';
import type { Snapshot, SnapshotNetwork } from '../../src/model/host-snapshot.js';
import {
  DHCP_PORT,
  INST_A,
  NET,
  PORT_A,
  snapshotNetwork,
  snapshotPort,
  snapshotSubnet,
} from '../helpers/snapshot.js';

const stateDir = '/var/lib/neutrino-test';
const owner = ownerTag(stateDir);
const NET2 = '7a7a7a7a-0000-4000-8000-000000000000';
const BRIDGE = 'brq6f1b2c3d-4e';

function vlanNetwork(overrides: Partial<SnapshotNetwork> = {}): SnapshotNetwork {
  return snapshotNetwork({
    mtu: 1500,
    network_type: 'vlan',
    physical_network: 'physnet1',
    segmentation_id: 100,
    ...overrides,
  });
}

function snapshot(networks: SnapshotNetwork[], mappings: Record<string, string>): Snapshot {
  const port = (id: string, ip: string, mac: string, owner: string) =>
    snapshotPort(id, ip, mac, { device_owner: owner });
  return {
    host: 'h1',
    revision: 3,
    dnsDomain: 'openstacklocal',
    networks,
    subnets: [snapshotSubnet()],
    ports: [
      port(DHCP_PORT, '10.0.0.2', 'fa:16:3e:00:00:02', 'network:dhcp'),
      port(PORT_A, '10.0.0.11', 'fa:16:3e:00:00:11', 'compute:nova'),
    ],
    instances: [{ id: INST_A, name: 'vm-a', ports: [PORT_A] }],
    routers: [],
    physicalInterfaceMappings: mappings,
  };
}

describe('vlanName', () => {
  it("is Neutron's <interface>.<vid>, hashed like get_subinterface_name when too long", () => {
    assert.equal(vlanName('eth1', 100), 'eth1.100');
    assert.equal(vlanName('enp5s0f1np1', 100), 'enp5s0f1np1.100', 'exactly 15 characters still fit');
    // Expected values computed with Python's hashlib, as Neutron computes them.
    assert.equal(vlanName('enp5s0f1np1', 4094), 'enp51ddf7a.4094');
    assert.equal(vlanName('verylonginterface', 7), 'verylone57fa2.7');
  });

  it('always fits IFNAMSIZ and keeps the VLAN id visible, for any interface name and VLAN id', () => {
    fc.assert(
      fc.property(
        fc.stringMatching(/^[A-Za-z0-9_.-]{1,15}$/),
        fc.integer({ min: 1, max: 4094 }),
        (iface, vid) => {
          const name = vlanName(iface, vid);
          assert.ok(name.length <= MAX_LINK_NAME, name);
          assert.ok(name.endsWith(`.${vid}`), name);
        },
      ),
    );
  });
});

describe('compile: vlan networks (linuxbridge)', () => {
  it('builds an 802.1Q device on the mapped interface, enslaved to the bridge, where the kernel has 8021q', () => {
    const state = compile(snapshot([vlanNetwork()], { physnet1: 'eth1' }), { stateDir, vlanCapable: true });
    assert.deepEqual(state.problems, []);
    const alias = linkAlias('network', NET, owner);
    assert.deepEqual(state.bridges, { [BRIDGE]: { mtu: 1500, alias, up: true } });
    assert.deepEqual(state.vlans, {
      'eth1.100': { vid: 100, parent: 'eth1', mtu: 1500, master: BRIDGE, alias, up: true },
    });
    assert.deepEqual(state.uplinks, {}, 'the interface itself is not enslaved (that is flat)');
    assert.deepEqual(state.vxlans, {});
    assert.equal(state.veths['tapaaaaaaaa-22'].master, BRIDGE);
    assert.equal(state.veths['tapd0d0d0d0-11'].master, BRIDGE);
    assert.ok(state.dhcpServers[NET], 'DHCP is served on the vlan network');
  });

  it('names long interfaces the way Neutron does', () => {
    const state = compile(snapshot([vlanNetwork({ segmentation_id: 4094 })], { physnet1: 'enp5s0f1np1' }), {
      stateDir,
      vlanCapable: true,
    });
    assert.deepEqual(Object.keys(state.vlans), ['enp51ddf7a.4094']);
    assert.equal(state.vlans['enp51ddf7a.4094'].parent, 'enp5s0f1np1');
  });

  it('refuses vlan networks without 8021q, naming it, and builds nothing for them', () => {
    const state = compile(snapshot([vlanNetwork()], { physnet1: 'eth1' }), { stateDir });
    assert.deepEqual(
      state.problems.map((p) => p.object),
      [`network ${NET}`, `instance ${INST_A}`],
      'its instance is told why too',
    );
    assert.match(state.problems[0].message, /8021q/);
    assert.deepEqual(state.vlans, {});
    assert.deepEqual(state.bridges, {});
    assert.deepEqual(state.veths, {});
  });

  it('refuses an unmapped physnet, a missing or bad VLAN id, and a VLAN id used twice on one interface', () => {
    const state = compile(
      snapshot(
        [
          vlanNetwork(),
          vlanNetwork({ id: NET2 }),
          vlanNetwork({ id: '8b8b8b8b-0000-4000-8000-000000000000', physical_network: 'nowhere' }),
          vlanNetwork({ id: '9c9c9c9c-0000-4000-8000-000000000000', segmentation_id: null }),
          vlanNetwork({ id: 'adadadad-0000-4000-8000-000000000000', segmentation_id: 4095 }),
          vlanNetwork({ id: 'bebebebe-0000-4000-8000-000000000000', segmentation_id: 101 }),
        ],
        { physnet1: 'eth1' },
      ),
      { stateDir, vlanCapable: true },
    );
    assert.deepEqual(Object.keys(state.vlans).sort(), ['eth1.100', 'eth1.101']);
    const problems = Object.fromEntries(state.problems.map((p) => [p.object.split(' ')[1], p.message]));
    assert.match(problems[NET2], /VLAN 100 on eth1 is used by another network/);
    assert.match(
      problems['8b8b8b8b-0000-4000-8000-000000000000'],
      /no interface mapped for physical network nowhere/,
    );
    assert.match(problems['9c9c9c9c-0000-4000-8000-000000000000'], /valid segmentation id/);
    assert.match(problems['adadadad-0000-4000-8000-000000000000'], /valid segmentation id/);
  });
});

describe('diff: vlan devices', () => {
  const desired = () =>
    compile(snapshot([vlanNetwork()], { physnet1: 'eth1' }), { stateDir, vlanCapable: true });

  it('adds the device after its bridge, in the plug stage, and leaves a matching one alone', () => {
    const actions = diff(desired(), emptyHostState());
    const ops = actions.map((a) => a.op);
    const vlanAdd = actions.find((a) => a.op === 'vlan.add');
    assert.deepEqual(vlanAdd, { op: 'vlan.add', name: 'eth1.100', vlan: desired().vlans['eth1.100'] });
    assert.ok(ops.indexOf('bridge.add') < ops.indexOf('vlan.add'));
    assert.ok(ops.indexOf('vlan.add') < ops.indexOf('udhcpc.start'));

    const actual = { ...emptyHostState(), vlans: structuredClone(desired().vlans) };
    assert.deepEqual(
      diff(desired(), actual).filter((a) => a.op.startsWith('vlan') || 'kind' in a),
      [],
      'nothing to do for the device',
    );
  });

  it('recreates a device whose VLAN id or parent changed, fixes its master, and removes a stale one', () => {
    const want = desired();
    const have = structuredClone(want.vlans['eth1.100']);
    const wrongId = diff(want, { ...emptyHostState(), vlans: { 'eth1.100': { ...have, vid: 7 } } });
    assert.deepEqual(
      wrongId.filter((a) => a.op.startsWith('vlan')).map((a) => a.op),
      ['vlan.del', 'vlan.add'],
    );
    const detached = diff(want, { ...emptyHostState(), vlans: { 'eth1.100': { ...have, master: null } } });
    assert.deepEqual(
      detached.filter((a) => a.op === 'link.master'),
      [{ op: 'link.master', kind: 'vlan', name: 'eth1.100', master: BRIDGE }],
    );
    const stale = diff(emptyHostState(), { ...emptyHostState(), vlans: { 'eth1.100': have } });
    assert.deepEqual(stale, [{ op: 'vlan.del', name: 'eth1.100' }]);
  });
});
