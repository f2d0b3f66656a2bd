/**
 * The FWaaS table of a router (`l3/fwaas.ts`): per interface, an ingress chain on what the
 * router sends into the port's network and an egress chain on what it receives from it, invalid
 * dropped and established accepted first, the policy's rules in order with a named counter each,
 * then the counted default drop; two base chains so both interfaces of a crossing are checked; an
 * administratively down group passes nothing; no firewalls: the table is removed; unusable rules
 * are reported, not rendered; counter names parse back; counter values leave the listing's hash.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  canonicalFwaasListing,
  connectionFilterOf,
  fwaasCounter,
  fwaasRuleKeys,
  parseFwaasCounter,
  renderFirewallRule,
  renderFwaasRuleset,
} from '../../src/agent/l3/fwaas.js';
import { internalDeviceName } from '../../src/agent/l3/router.js';
import type { SnapshotFirewallRule, SnapshotPortFirewall } from '../../src/model/host-snapshot.js';

const PORT = '11111111-2222-4333-8444-555555555555';
const OTHER = '99999999-2222-4333-8444-555555555555';
const rule = (over: Partial<SnapshotFirewallRule>): SnapshotFirewallRule => ({
  id: 'aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee',
  protocol: null,
  ip_version: 4,
  source_ip_address: null,
  destination_ip_address: null,
  source_port: null,
  destination_port: null,
  action: 'allow',
  ...over,
});
const firewall = (over: Partial<SnapshotPortFirewall>): SnapshotPortFirewall => ({
  port_id: PORT,
  firewall_group_id: 'fw',
  admin_state_up: true,
  ingress: [],
  egress: [],
  ...over,
});

describe('FWaaS rendering', () => {
  it('renders matches, counters and verdicts as neutron-fwaas means them', () => {
    const tcp = rule({
      protocol: 'tcp',
      destination_port: '5000',
      source_port: '1000:2000',
      source_ip_address: '10.0.0.7/24',
      action: 'allow',
    });
    assert.equal(
      renderFirewallRule(PORT, 'ingress', tcp),
      `meta nfproto ipv4 ip saddr 10.0.0.0/24 meta l4proto tcp th sport 1000-2000 th dport 5000 counter name "${fwaasCounter(PORT, 'ingress', tcp.id)}" accept`,
    );
    assert.match(renderFirewallRule(PORT, 'egress', rule({ action: 'deny' })), / drop$/);
    assert.match(
      renderFirewallRule(PORT, 'egress', rule({ action: 'reject' })),
      / reject with icmpx type port-unreachable$/,
    );
    assert.match(
      renderFirewallRule(
        PORT,
        'ingress',
        rule({ protocol: 'icmp', ip_version: 6, destination_ip_address: '2001:db8::1' }),
      ),
      /^meta nfproto ipv6 ip6 daddr 2001:db8::1 meta l4proto ipv6-icmp /,
    );
  });

  it('guards each interface in both directions, rules in order, then the counted default drop', () => {
    const first = rule({
      id: 'aaaaaaaa-0000-4000-8000-000000000001',
      protocol: 'tcp',
      destination_port: '5000',
    });
    const second = rule({ id: 'aaaaaaaa-0000-4000-8000-000000000002', protocol: 'icmp' });
    const text = renderFwaasRuleset([firewall({ ingress: [first, second] })], internalDeviceName);
    const dev = internalDeviceName(PORT);
    assert.ok(text.startsWith('table inet neutrino-fwaas {}\ndelete table inet neutrino-fwaas\n'));
    assert.match(
      text,
      new RegExp(
        `chain forward-ingress \\{\\n\\t\\ttype filter hook forward priority filter; policy accept;\\n\\t\\toifname "${dev}" jump ingress-${PORT}\\n`,
      ),
    );
    assert.match(
      text,
      new RegExp(
        `chain forward-egress \\{\\n\\t\\ttype filter hook forward priority filter \\+ 1; policy accept;\\n\\t\\tiifname "${dev}" jump egress-${PORT}\\n`,
      ),
    );
    const ingress = text.slice(text.indexOf(`chain ingress-${PORT}`));
    const lines = ingress
      .split('\n')
      .slice(1, 6)
      .map((l) => l.trim());
    assert.equal(lines[0], 'ct state invalid drop');
    assert.equal(lines[1], 'ct state established,related accept');
    assert.match(lines[2] ?? '', /th dport 5000 .* accept$/);
    assert.match(lines[3] ?? '', /meta l4proto icmp .* accept$/);
    assert.equal(lines[4], `counter name "${fwaasCounter(PORT, 'ingress', 'default')}" drop`);
    const egress = text
      .slice(text.indexOf(`chain egress-${PORT}`))
      .split('\n')
      .slice(1, 4)
      .map((l) => l.trim());
    assert.deepEqual(egress, [
      'ct state invalid drop',
      'ct state established,related accept',
      `counter name "${fwaasCounter(PORT, 'egress', 'default')}" drop`,
    ]);
    for (const name of [fwaasCounter(PORT, 'ingress', first.id), fwaasCounter(PORT, 'egress', 'default')])
      assert.ok(text.includes(`\tcounter ${name} {\n\t}`), name);
  });

  it('passes nothing through a group that is administratively down', () => {
    const text = renderFwaasRuleset(
      [firewall({ admin_state_up: false, ingress: [rule({})] })],
      internalDeviceName,
    );
    const chain = text
      .slice(text.indexOf(`chain ingress-${PORT}`))
      .split('\n')
      .slice(1, 3)
      .map((l) => l.trim());
    assert.deepEqual(chain, [`counter name "${fwaasCounter(PORT, 'ingress', 'default')}" drop`, '}']);
  });

  it('removes the table when the router has no firewall, and leaves out unusable firewalls', () => {
    assert.equal(
      renderFwaasRuleset([], internalDeviceName),
      'table inet neutrino-fwaas {}\ndelete table inet neutrino-fwaas\n',
    );
    const problems: string[] = [];
    const text = renderFwaasRuleset(
      [
        firewall({ ingress: [rule({ source_ip_address: '2001:db8::/64' })] }),
        firewall({
          port_id: OTHER,
          egress: [rule({ protocol: 'tcp', destination_port: '1; flush ruleset' })],
        }),
      ],
      internalDeviceName,
      problems,
    );
    assert.equal(text, 'table inet neutrino-fwaas {}\ndelete table inet neutrino-fwaas\n');
    assert.equal(problems.length, 2);
    assert.match(problems[0] ?? '', /is not IPv4/);
    assert.match(problems[1] ?? '', /invalid port range/);
  });

  it('names counters so that a drop parses back to its port, direction and rule', () => {
    assert.deepEqual(parseFwaasCounter(fwaasCounter(PORT, 'egress', 'default')), {
      port: PORT,
      direction: 'egress',
      rule: 'default',
    });
    assert.equal(parseFwaasCounter('drop-x-spoof'), undefined);
    assert.equal(
      canonicalFwaasListing('counter a {\n\t\tpackets 5 bytes 300\n\t}'),
      canonicalFwaasListing('counter a {\n\t\tpackets 0 bytes 0\n\t}'),
    );
  });
});

describe('FWaaS connections to delete when rules change', () => {
  const tcp22 = rule({ protocol: 'tcp', destination_port: '22', source_ip_address: '10.0.0.5' });
  const icmp6 = rule({
    id: 'bbbbbbbb-bbbb-4ccc-8ddd-eeeeeeeeeeee',
    ip_version: 6,
    protocol: 'ipv6-icmp',
    destination_ip_address: '2001:db8::/64',
  });

  it('keys each rule by what it decides, so removing, changing or adding one changes the keys', () => {
    const before = fwaasRuleKeys([firewall({ ingress: [tcp22, icmp6] })]);
    assert.equal(before.length, 2);
    const removed = fwaasRuleKeys([firewall({ ingress: [icmp6] })]);
    const changed = fwaasRuleKeys([firewall({ ingress: [{ ...tcp22, action: 'deny' }, icmp6] })]);
    const down = fwaasRuleKeys([firewall({ ingress: [tcp22, icmp6], admin_state_up: false })]);
    const gone = (after: string[]) => before.filter((k) => !after.includes(k));
    assert.deepEqual(gone(removed).map(connectionFilterOf), [
      { zone: 0, family: 'ipv4', protocol: 'tcp', src: '10.0.0.5' },
    ]);
    assert.equal(gone(changed).length, 1);
    assert.equal(gone(down).length, 2);
    // The same rules in another order decide the same: nothing to delete.
    assert.deepEqual(fwaasRuleKeys([firewall({ ingress: [icmp6, tcp22] })]), before);
  });

  it('names ICMPv6 as conntrack does and covers every address where a rule names a prefix', () => {
    const [key] = fwaasRuleKeys([firewall({ egress: [icmp6] })]);
    assert.deepEqual(connectionFilterOf(key), { zone: 0, family: 'ipv6', protocol: 'icmpv6' });
    const [any] = fwaasRuleKeys([firewall({ egress: [rule({})] })]);
    assert.deepEqual(connectionFilterOf(any), { zone: 0, family: 'ipv4' });
  });
});
