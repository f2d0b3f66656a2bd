/**
 * Firewall groups on instance ports in the agent (`firewall/firewall-groups.ts`, pure): one root
 * `inet` table matched by the security groups' port marks on the port's bridge (ingress: leaving
 * by the port, to the instance; egress: sent by it), DHCP and neighbour discovery before the
 * policy, the policy's rules and the default drop as the router side renders them, bridge
 * netfilter on the bridge; a port without port security is reported and left out; the table is
 * removed when no firewall is left (a teardown removes the recorded one) and reloaded only when
 * its text changes, deleting then the connections of the rules that went (in the port's zone).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { l2Driver } from '../../src/agent/drivers/index.js';
import { firewallGroupsTable } from '../../src/agent/firewall/firewall-groups.js';
import { inMark, outMark } from '../../src/agent/firewall/render.js';
import { fwaasCounter } from '../../src/agent/l3/fwaas.js';
import { compile } from '../../src/agent/reconcile/compile.js';
import { emptyHostState, ownerTag } from '../../src/agent/state/host-state.js';
import { tableActions } from '../../src/agent/tables/diff.js';
import type { Snapshot, SnapshotFirewallRule, SnapshotPortFirewall } from '../../src/model/host-snapshot.js';
import {
  INST_A,
  INST_B,
  NET,
  PORT_A,
  PORT_B,
  snapshotNetwork,
  snapshotPort,
  snapshotSubnet,
} from '../helpers/snapshot.js';

const stateDir = '/var/lib/neutrino-fwg-test';
const TABLE = firewallGroupsTable(ownerTag(stateDir));
const BRIDGE = `brq${NET.slice(0, 11)}`;
const SG = '5e5e5e5e-0000-4000-8000-00000000000a';
const NO_SSH: SnapshotFirewallRule = {
  id: 'aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee',
  protocol: 'tcp',
  ip_version: 4,
  source_ip_address: null,
  destination_ip_address: null,
  source_port: null,
  destination_port: '22',
  action: 'deny',
};

function firewall(over: Partial<SnapshotPortFirewall> = {}): SnapshotPortFirewall {
  return {
    port_id: PORT_A,
    firewall_group_id: 'fwg',
    admin_state_up: true,
    ingress: [NO_SSH],
    egress: [],
    ...over,
  };
}

function snapshot(firewalls: SnapshotPortFirewall[], security = true): Snapshot {
  const port = (id: string, ip: string, mac: string) =>
    snapshotPort(id, ip, mac, {
      binding_host_id: 'h1',
      port_security_enabled: security,
      security_groups: security ? [SG] : [],
      allowed_address_pairs: [],
    });
  return {
    host: 'h1',
    revision: 3,
    dnsDomain: 'openstacklocal.',
    networks: [snapshotNetwork()],
    subnets: [snapshotSubnet()],
    ports: [port(PORT_A, '10.0.0.11', 'fa:16:3e:00:00:11'), port(PORT_B, '10.0.0.12', 'fa:16:3e:00:00:12')],
    instances: [
      { id: INST_A, name: 'a', ports: [PORT_A] },
      { id: INST_B, name: 'b', ports: [PORT_B] },
    ],
    physicalInterfaceMappings: {},
    security_groups: [{ id: SG, stateful: true, rules: [] }],
    firewall_groups: firewalls,
  };
}

describe('firewall groups on instance ports', () => {
  it('filters the port by its security-group marks on its bridge, ingress to the instance', () => {
    const state = compile(
      snapshot([
        firewall({
          egress: [
            {
              ...NO_SSH,
              id: 'bbbbbbbb-bbbb-4ccc-8ddd-eeeeeeeeeeee',
              action: 'allow',
              protocol: null,
              destination_port: null,
            },
          ],
        }),
      ]),
      { stateDir },
    );
    const mark = state.firewall.marks[PORT_A];
    assert.ok(mark !== undefined);
    const table = state.firewallGroups;
    assert.equal(table?.family, 'inet');
    assert.equal(table?.name, TABLE);
    const text = table?.transaction ?? '';
    assert.ok(text.startsWith(`table inet ${TABLE} {}\ndelete table inet ${TABLE}\n`), text);
    assert.ok(
      text.includes(`oifname "${BRIDGE}" meta mark & 0xffff0000 == ${outMark(mark)} jump ingress-${PORT_A}`),
      text,
    );
    assert.ok(
      text.includes(`iifname "${BRIDGE}" meta mark & 0x0000ffff == ${inMark(mark)} jump egress-${PORT_A}`),
      text,
    );
    const ingress = text
      .slice(text.indexOf(`chain ingress-${PORT_A} {`))
      .split('\n\t}')[0]
      ?.split('\n\t\t')
      .slice(1);
    assert.deepEqual(ingress, [
      'ct state invalid drop',
      'ct state established,related accept',
      'udp sport 67 udp dport 68 accept',
      'udp sport 547 udp dport 546 accept',
      'icmpv6 type { mld-listener-query, nd-router-advert, nd-neighbor-solicit, nd-neighbor-advert } accept',
      `meta nfproto ipv4 meta l4proto tcp th dport 22 counter name "${fwaasCounter(PORT_A, 'ingress', NO_SSH.id)}" drop`,
      `counter name "${fwaasCounter(PORT_A, 'ingress', 'default')}" drop`,
    ]);
    assert.ok(!text.includes(PORT_B), 'a port in no group is not in the table');
    assert.equal(state.bridges[BRIDGE]?.nfCall, true);
    assert.deepEqual(
      state.problems.filter((p) => p.object.startsWith('firewall')),
      [],
    );
  });

  it("with Open vSwitch's hybrid plug, selects the port on its own qbr bridge", () => {
    const handle = { db: 'unix:/nonexistent/db.sock', dir: '/nonexistent', env: {} };
    const state = compile(snapshot([firewall()]), {
      stateDir,
      driver: l2Driver('openvswitch'),
      ovs: { handle, datapath: 'netdev', previousTags: {} },
    });
    const qbr = `qbr${PORT_A.slice(0, 11)}`;
    const mark = state.firewall.marks[PORT_A] as number;
    const text = state.firewallGroups?.transaction ?? '';
    assert.ok(text.includes(`oifname "${qbr}" meta mark & 0xffff0000 == ${outMark(mark)}`), text);
    assert.ok(text.includes(`iifname "${qbr}" meta mark & 0x0000ffff == ${inMark(mark)}`), text);
    assert.equal(state.bridges[qbr]?.nfCall, true);
  });

  it('marks a port without port security for its group, and filters nothing else of it', () => {
    const state = compile(snapshot([firewall()], false), { stateDir });
    const mark = state.firewall.marks[PORT_A];
    assert.ok(mark !== undefined, 'the port has a mark');
    assert.equal(
      state.firewall.marks[PORT_B],
      undefined,
      'a port in no group and without port security has none',
    );
    const chain = (name: string) => state.firewall.chains[`bridge chain ${name}`]?.rules;
    assert.deepEqual(chain(`from-${PORT_A}`), [`meta mark set ${inMark(mark)}`], 'no anti-spoofing');
    assert.deepEqual(chain(`to-${PORT_A}`), [`meta mark set meta mark & 0x0000ffff | ${outMark(mark)}`]);
    const elements = (name: string) => state.firewall.sets[`inet map ${name}`]?.elements ?? [];
    assert.deepEqual([...elements('egress'), ...elements('ingress')], [], 'no security-group chains');
    assert.ok(
      elements('zones').some((e) => e.startsWith(`"${BRIDGE}"`)),
      'its bridge has a conntrack zone',
    );
    assert.ok(state.firewallGroups?.transaction?.includes(`jump ingress-${PORT_A}`));
    assert.equal(state.bridges[BRIDGE]?.nfCall, true);
  });

  it('loads the table when its text changes and removes the recorded one when none is left', () => {
    const desired = compile(snapshot([firewall()]), { stateDir });
    const actual = emptyHostState();
    const first = tableActions(desired, actual, new Set(), new Set());
    assert.deepEqual(
      first.map((a) => a.op === 'table.apply' && a.table.name),
      [TABLE],
    );
    actual.firewallGroups = { ...desired.firewallGroups!, transaction: undefined };
    assert.deepEqual(tableActions(desired, actual, new Set(), new Set()), [], 'unchanged: nothing to do');
    const changed = compile(snapshot([firewall({ ingress: [] })]), { stateDir });
    const [reload] = tableActions(changed, actual, new Set(), new Set());
    assert.ok(reload?.op === 'table.apply');
    const zone = desired.firewall.ports[PORT_A]?.zone;
    assert.ok(zone !== undefined && zone > 0);
    assert.deepEqual(
      reload.flush,
      [{ zone, family: 'ipv4', protocol: 'tcp', dst: '10.0.0.11' }],
      "the deny's connections to the port, in its bridge's zone, are deleted once the change is in",
    );
    const none = compile(snapshot([]), { stateDir });
    assert.equal(none.firewallGroups, undefined);
    const removal = tableActions(none, actual, new Set(), new Set());
    assert.equal(removal.length, 1);
    const action = removal[0];
    assert.ok(action?.op === 'table.apply');
    assert.equal(action.table.transaction, `table inet ${TABLE} {}\ndelete table inet ${TABLE}\n`);
  });
});
