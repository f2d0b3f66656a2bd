/**
 * The pure renderings of port mirroring and metering: which chains a tap flow's direction gives
 * (OUT: the tap's ingress hook, IN: its egress hook), one chain per device and hook whatever the
 * number of monitors, flows whose ports are not plugged here left out with a problem, no table
 * without flows; a metering rule's match per direction and prefix kind, excluded rules before
 * the counting ones, no table without a gateway or labels, and counter values left out of the
 * listing that verification hashes.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { linuxbridge } from '../../src/agent/drivers/linuxbridge/layout.js';
import { canonicalListing, renderMetering, ruleMatch } from '../../src/agent/l3/metering.js';
import { addTaas } from '../../src/agent/services/taas.js';
import { emptyHostState, type Veth } from '../../src/agent/state/host-state.js';
import type { SnapshotMeteringLabel, SnapshotTapFlow } from '../../src/model/host-snapshot.js';

const A = '11111111-1111-4111-8111-111111111111';
const B = '22222222-2222-4222-8222-222222222222';
const M = '33333333-3333-4333-8333-333333333333';
const tap = (id: string) => linuxbridge.portDeviceName(id);

function plugged(...ids: string[]) {
  const state = emptyHostState();
  for (const id of ids) state.veths[tap(id)] = {} as Veth;
  return state;
}

const flow = (id: string, source: string, direction: SnapshotTapFlow['direction']): SnapshotTapFlow => ({
  id,
  source_port: source,
  monitor_port: M,
  direction,
});

describe('port mirroring rendering', () => {
  const input = (flows: SnapshotTapFlow[]) => ({
    flows,
    driver: linuxbridge,
    owner: 'abcd1234',
    stateDir: '/s',
  });

  it('hooks ingress for OUT, egress for IN, both for BOTH, each dup to the monitoring tap', () => {
    const state = plugged(A, B, M);
    const problems = addTaas(state, input([flow('f1', A, 'OUT'), flow('f2', B, 'BOTH')]));
    assert.deepEqual(problems, []);
    const text = state.taas?.transaction ?? '';
    assert.equal(state.taas?.name, 'neutrino-taas-abcd1234');
    assert.equal(state.taas?.family, 'netdev');
    assert.match(
      text,
      new RegExp(`chain ingress-${tap(A)} \\{\\n +type filter hook ingress device "${tap(A)}"`),
    );
    assert.doesNotMatch(text, new RegExp(`hook egress device "${tap(A)}"`));
    assert.match(text, new RegExp(`hook ingress device "${tap(B)}"`));
    assert.match(text, new RegExp(`hook egress device "${tap(B)}"`));
    assert.equal(text.split(`dup to "${tap(M)}"`).length - 1, 3);
    assert.ok(
      text.startsWith(
        'add table netdev neutrino-taas-abcd1234\ndelete table netdev neutrino-taas-abcd1234\n',
      ),
    );
    assert.deepEqual(state.taas?.devices, [tap(A), tap(B), tap(M)].sort());
    assert.equal(state.taas?.record, '/s/taas.json');
  });

  it('leaves out flows whose ports are not plugged here, and makes no table without flows', () => {
    const state = plugged(A, M);
    const problems = addTaas(state, input([flow('f1', B, 'IN')]));
    assert.equal(problems.length, 1);
    assert.match(problems[0].message, /not plugged here/);
    assert.equal(state.taas, undefined);
  });

  it('renders the same text for the same flows in any order', () => {
    const one = plugged(A, B, M);
    const two = plugged(A, B, M);
    addTaas(one, input([flow('f1', A, 'IN'), flow('f2', B, 'OUT')]));
    addTaas(two, input([flow('f2', B, 'OUT'), flow('f1', A, 'IN')]));
    assert.equal(one.taas?.hash, two.taas?.hash);
  });
});

describe('metering rendering', () => {
  const rule = (over: Partial<SnapshotMeteringLabel['rules'][number]>) => ({
    id: 'r',
    direction: 'egress' as const,
    excluded: false,
    remote_ip_prefix: null,
    source_ip_prefix: null,
    destination_ip_prefix: null,
    ...over,
  });

  it('matches the remote prefix as the destination of egress and the source of ingress', () => {
    assert.equal(
      ruleMatch(rule({ remote_ip_prefix: '198.51.100.0/24' }), 'qg-x'),
      'oifname "qg-x" ip daddr 198.51.100.0/24',
    );
    assert.equal(
      ruleMatch(rule({ direction: 'ingress', remote_ip_prefix: '2001:db8::/64' }), 'qg-x'),
      'iifname "qg-x" ip6 saddr 2001:db8::/64',
    );
    assert.equal(
      ruleMatch(rule({ source_ip_prefix: '10.0.0.0/8', destination_ip_prefix: '198.51.100.0/24' }), 'qg-x'),
      'oifname "qg-x" ip saddr 10.0.0.0/8 ip daddr 198.51.100.0/24',
    );
    assert.equal(
      ruleMatch(rule({ source_ip_prefix: '10.0.0.0/8', destination_ip_prefix: '2001:db8::/64' }), 'g'),
      null,
    );
  });

  it('puts excluded rules first, as returns, and counts once per label', () => {
    const label: SnapshotMeteringLabel = {
      id: 'aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa',
      rules: [
        rule({ id: 'c', remote_ip_prefix: '198.51.100.0/24' }),
        rule({ id: 'x', excluded: true, remote_ip_prefix: '198.51.100.7/32' }),
      ],
    };
    const problems: string[] = [];
    const table = renderMetering([label], 'qg-x', '/r/metering.json', problems);
    const lines = (table?.transaction ?? '').split('\n');
    const name = `l-${label.id}`;
    const excluded = lines.findIndex((l) => l.includes('198.51.100.7/32 return'));
    const counting = lines.findIndex((l) => l.includes(`198.51.100.0/24 counter name "${name}" return`));
    assert.ok(excluded > 0 && counting > excluded, table?.transaction);
    assert.ok(lines.includes(`add counter inet neutrino-metering ${name}`));
    assert.ok(lines.includes(`add rule inet neutrino-metering forward jump ${name}`));
    assert.ok(!lines.some((l) => l.startsWith('delete')), 'changed in place, never replaced');
    assert.deepEqual(problems, []);
  });

  it('has no table without a gateway or without labels', () => {
    const label = { id: 'aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa', rules: [] };
    assert.equal(renderMetering([label], null, '/r', [])?.hash ?? '', '');
    assert.equal(renderMetering([], 'qg-x', '/r', [])?.hash ?? '', '');
  });

  it('hashes listings without counter values', () => {
    const at = (n: number) =>
      `table inet neutrino-metering {\n\tcounter l-a {\n\t\tpackets ${n} bytes ${n * 100}\n\t}\n}\n`;
    assert.equal(canonicalListing(at(1)), canonicalListing(at(7)));
  });
});
