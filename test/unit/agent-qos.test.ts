/**
 * QoS in the agent (pure): the tc lines of a shaper (a tree built from nothing, a rate changed in
 * place, an address limit removed, the default class switched), the shapers a snapshot compiles to
 * (a port's directions turned round on its host end, floating IPs and gateway addresses as address
 * classes on the gateway device, invalid limits refused), DSCP marking chains, and the diff: nothing
 * when nothing changed, an in-place change from what was recorded, a rebuild when the record is lost
 * or the device was made anew, a removal when the policy goes.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ifbName } from '../../src/agent/qos/render.js';
import { compile } from '../../src/agent/reconcile/compile.js';
import { diff } from '../../src/agent/reconcile/diff.js';
import type { HostState } from '../../src/agent/state/host-state.js';
import { burstBytes, type ShapeClass, treeLines } from '../../src/linux/tc.js';
import type { Snapshot, SnapshotQos, SnapshotRouter } from '../../src/model/host-snapshot.js';
import {
  INST_A,
  INST_B,
  PORT_A,
  PORT_B,
  snapshotNetwork,
  snapshotPort,
  snapshotSubnet,
} from '../helpers/snapshot.js';

const stateDir = '/var/lib/neutrino-qos-test';
const TAP_A = `tap${PORT_A.slice(0, 11)}`;
const TAP_B = `tap${PORT_B.slice(0, 11)}`;
const ROUTER = '99999999-0000-4000-8000-000000000000';
const GW_PORT = 'a0a0a0a0-1111-4111-8111-111111111111';
const EXT = 'eeeeeeee-0000-4000-8000-000000000000';

function qos(limits: SnapshotQos['bandwidth_limits'], dscp: number | null = null): SnapshotQos {
  return { policy_id: 'pol-1', bandwidth_limits: limits, dscp_mark: dscp };
}

const egress10 = { direction: 'egress' as const, max_kbps: 10_000, max_burst_kbps: 0 };
const ingress20 = { direction: 'ingress' as const, max_kbps: 20_000, max_burst_kbps: 1_000 };

function router(overrides: Partial<SnapshotRouter> = {}): SnapshotRouter {
  return {
    id: ROUTER,
    project_id: 'p1',
    admin_state_up: true,
    gateway: {
      port_id: GW_PORT,
      network_id: EXT,
      mac_address: 'fa:16:3e:00:00:01',
      addresses: [{ subnet_id: 'ext-v4', ip_address: '198.51.100.10', prefixlen: 24 }],
      enable_snat: true,
      external_gateway_ips: ['198.51.100.1'],
    },
    interfaces: [],
    routes: [],
    floating_ips: [
      { id: 'f1', floating_ip_address: '198.51.100.20', fixed_ip_address: '10.0.0.11', port_id: PORT_A },
      { id: 'f2', floating_ip_address: '198.51.100.21', fixed_ip_address: '10.0.0.12', port_id: PORT_B },
    ],
    ...overrides,
  };
}

function snapshot(
  overrides: Partial<Snapshot> = {},
  qosA: SnapshotQos | null = qos([egress10, ingress20]),
): Snapshot {
  return {
    host: 'h1',
    revision: 1,
    dnsDomain: 'openstacklocal',
    networks: [
      snapshotNetwork(),
      {
        id: EXT,
        project_id: 'p1',
        admin_state_up: true,
        mtu: 1500,
        network_type: 'local',
        physical_network: null,
        segmentation_id: null,
      },
    ],
    subnets: [
      snapshotSubnet(),
      { ...snapshotSubnet({ id: 'ext-v4', network_id: EXT, cidr: '198.51.100.0/24', gateway_ip: null }) },
    ],
    ports: [
      snapshotPort(PORT_A, '10.0.0.11', 'fa:16:3e:00:00:11', { binding_host_id: 'h1', qos: qosA }),
      snapshotPort(PORT_B, '10.0.0.12', 'fa:16:3e:00:00:12', { binding_host_id: 'h1' }),
    ],
    instances: [
      { id: INST_A, name: 'a', ports: [PORT_A] },
      { id: INST_B, name: 'b', ports: [PORT_B] },
    ],
    routers: [],
    physicalInterfaceMappings: {},
    ...overrides,
  };
}

/** What `observe` would report once `desired` is realised. */
function realised(desired: HostState): HostState {
  return structuredClone(desired);
}

const all = (id: number, rateKbit: number, burstKbit = 0): ShapeClass => ({
  id,
  match: null,
  rateKbit,
  burstKbit,
});

describe('tc lines', () => {
  it('builds a tree from nothing: the qdisc with its default class, then the class', () => {
    const lines = treeLines('tapx', [all(1, 10_000)], []);
    assert.deepEqual(lines[0], [
      'qdisc',
      'add',
      'dev',
      'tapx',
      'root',
      'handle',
      '1:',
      'htb',
      'default',
      '1',
    ]);
    assert.deepEqual(lines[1].slice(0, 12), [
      'class',
      'replace',
      'dev',
      'tapx',
      'parent',
      '1:',
      'classid',
      '1:1',
      'htb',
      'rate',
      '10000kbit',
      'ceil',
    ]);
    assert.equal(lines.length, 2);
  });

  it('changes a rate in place: one class replace, no qdisc touched', () => {
    const lines = treeLines('tapx', [all(1, 5_000)], [all(1, 10_000)]);
    assert.equal(lines.length, 1);
    assert.equal(lines[0][0], 'class');
    assert.equal(lines[0][1], 'replace');
    assert.ok(lines[0].includes('5000kbit'));
  });

  it('does nothing for equal trees and deletes the qdisc when no limit is left', () => {
    assert.deepEqual(treeLines('tapx', [all(1, 5_000)], [all(1, 5_000)]), []);
    assert.deepEqual(treeLines('tapx', [], [all(1, 5_000)]), [['qdisc', 'del', 'dev', 'tapx', 'root']]);
    assert.deepEqual(treeLines('tapx', [], []), []);
  });

  it('removes an address limit with its filter, and moves a filter whose address changed', () => {
    const a: ShapeClass = {
      id: 16,
      match: { field: 'src', address: '198.51.100.20' },
      rateKbit: 1000,
      burstKbit: 0,
    };
    const b: ShapeClass = {
      id: 17,
      match: { field: 'src', address: '198.51.100.21' },
      rateKbit: 1000,
      burstKbit: 0,
    };
    const gone = treeLines('qg-x', [a], [a, b]);
    assert.deepEqual(gone, [
      [
        'filter',
        'del',
        'dev',
        'qg-x',
        'parent',
        '1:',
        'protocol',
        'ip',
        'prio',
        '1',
        'handle',
        '800::11',
        'u32',
      ],
      ['class', 'del', 'dev', 'qg-x', 'classid', '1:11'],
    ]);
    const moved = treeLines('qg-x', [{ ...a, match: { field: 'src', address: '198.51.100.30' } }], [a]);
    assert.equal(moved[0][1], 'del');
    assert.ok(moved.some((l) => l[0] === 'filter' && l[1] === 'replace' && l.includes('198.51.100.30/32')));
  });

  it('rebuilds the tree when its default class changes (HTB cannot change it in place)', () => {
    const address: ShapeClass = {
      id: 16,
      match: { field: 'dst', address: '198.51.100.20' },
      rateKbit: 1,
      burstKbit: 0,
    };
    const lines = treeLines('qg-x', [address], [all(1, 1000)]);
    assert.deepEqual(lines[0], ['qdisc', 'del', 'dev', 'qg-x', 'root']);
    assert.deepEqual(lines[1], [
      'qdisc',
      'add',
      'dev',
      'qg-x',
      'root',
      'handle',
      '1:',
      'htb',
      'default',
      '0',
    ]);
  });

  it("uses Neutron's burst: max_burst_kbps, else 80 % of the rate, never below a few frames", () => {
    assert.equal(burstBytes(10_000, 0), 1_000_000);
    assert.equal(burstBytes(10_000, 2_000), 250_000);
    assert.equal(burstBytes(8, 0), 15_000);
  });
});

describe('QoS compile', () => {
  it("shapes a port on its host end with Neutron's directions turned round", () => {
    const state = compile(snapshot(), { stateDir });
    const shaper = state.shapers[`/${TAP_A}`];
    assert.ok(shaper, 'a shaper on the tap');
    assert.equal(shaper.netns, null);
    assert.equal(shaper.ifb, `ifb${PORT_A.slice(0, 11)}`);
    // Ingress (towards the instance) is what the tap transmits; egress what it receives.
    assert.deepEqual(shaper.spec.transmit, [all(1, 20_000, 1_000)]);
    assert.deepEqual(shaper.spec.receive, [all(1, 10_000)]);
    assert.equal(state.shapers[`/${TAP_B}`], undefined, 'no policy, no shaper');
    assert.ok(shaper.alias.startsWith(`neutrino:port:${PORT_A}@`));
  });

  it('leaves out a port bound elsewhere and refuses a zero limit', () => {
    const elsewhere = snapshot();
    elsewhere.ports[0].binding_host_id = 'h2';
    assert.deepEqual(compile(elsewhere, { stateDir }).shapers, {});
    const zero = compile(snapshot({}, qos([{ ...egress10, max_kbps: 0 }])), { stateDir });
    assert.deepEqual(zero.shapers, {});
    assert.ok(
      zero.problems.some((p) => p.object === `port ${PORT_A}` && /invalid bandwidth limit/.test(p.message)),
    );
  });

  it('shapes floating IPs and the gateway address as address classes on the gateway device', () => {
    const r = router();
    r.floating_ips[0].qos = qos([egress10, ingress20]);
    if (r.gateway) r.gateway.qos = qos([{ ...egress10, max_kbps: 50_000 }]);
    const state = compile(snapshot({ routers: [r] }), { stateDir });
    const netns = `qrouter-${ROUTER}`;
    const shaper = state.shapers[`${netns}/qg-${GW_PORT.slice(0, 11)}`];
    assert.ok(shaper, 'a shaper on the gateway device');
    assert.equal(shaper.ifb, 'ifb-a0a0a0a0-11');
    assert.deepEqual(shaper.spec.transmit, [
      { id: 16, match: { field: 'src', address: '198.51.100.20' }, rateKbit: 10_000, burstKbit: 0 },
      { id: 17, match: { field: 'src', address: '198.51.100.10' }, rateKbit: 50_000, burstKbit: 0 },
    ]);
    assert.deepEqual(shaper.spec.receive, [
      { id: 16, match: { field: 'dst', address: '198.51.100.20' }, rateKbit: 20_000, burstKbit: 1_000 },
    ]);
  });

  it('marks DSCP on what a port sends, by a chain per value, also without port security', () => {
    const state = compile(snapshot({}, qos([], 26)), { stateDir });
    const fw = state.firewall;
    assert.notEqual(fw.table, '', 'the tables exist for DSCP alone');
    assert.deepEqual(fw.chains['bridge chain dscp-26']?.rules, ['ip dscp set 26', 'ip6 dscp set 26']);
    assert.deepEqual(fw.sets['bridge map dscp']?.elements, [`"${TAP_A}" : jump dscp-26`]);
    assert.deepEqual(
      compile(snapshot({}, qos([], 27)), { stateDir }).firewall.chains['bridge chain dscp-27'],
      undefined,
    );
  });

  it('names IFB devices within 15 characters', () => {
    assert.equal(ifbName('tapaaaaaaaa-22'), 'ifbaaaaaaaa-22');
    assert.equal(ifbName('qg-a0a0a0a0-11'), 'ifb-a0a0a0a0-11');
  });
});

describe('QoS diff', () => {
  it('does nothing when the limits are as recorded', () => {
    const desired = compile(snapshot(), { stateDir });
    assert.deepEqual(
      diff(desired, realised(desired)).filter((a) => a.op.startsWith('qos.')),
      [],
    );
  });

  it('changes limits in place from what was recorded', () => {
    const before = compile(snapshot(), { stateDir });
    const after = compile(snapshot({}, qos([{ ...egress10, max_kbps: 3_000 }])), { stateDir });
    const actions = diff(after, realised(before)).filter((a) => a.op.startsWith('qos.'));
    assert.equal(actions.length, 1);
    const [action] = actions;
    assert.equal(action.op, 'qos.apply');
    assert.deepEqual(action.op === 'qos.apply' && action.have, before.shapers[`/${TAP_A}`].spec);
  });

  it('builds from nothing when the record is lost or the device is made anew', () => {
    const desired = compile(snapshot(), { stateDir });
    const lost = realised(desired);
    lost.shapers[`/${TAP_A}`].lost = true;
    const [fromLost] = diff(desired, lost).filter((a) => a.op === 'qos.apply');
    assert.equal(fromLost?.op === 'qos.apply' && fromLost.have, null);
    const replugged = realised(desired);
    delete replugged.veths[TAP_A];
    const [fromFresh] = diff(desired, replugged).filter((a) => a.op === 'qos.apply');
    assert.equal(fromFresh?.op === 'qos.apply' && fromFresh.have, null);
  });

  it('removes the limits of a port whose policy went', () => {
    const before = compile(snapshot(), { stateDir });
    const after = compile(snapshot({}, null), { stateDir });
    const actions = diff(after, realised(before)).filter((a) => a.op.startsWith('qos.'));
    assert.deepEqual(
      actions.map((a) => a.op),
      ['qos.remove'],
    );
    assert.equal(actions[0].op === 'qos.remove' && actions[0].shaper.dev, TAP_A);
  });
});
