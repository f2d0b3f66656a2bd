/**
 * A router's NAT ruleset (pure): the exact text of the one-transaction replacement, the order of the
 * rules (hairpin, floating-IP SNAT, no SNAT for DNATed flows, default SNAT), which floating IPs get
 * NAT, enable_snat, routers without a gateway, and a text independent of the floating IPs' order.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { natFloatingIps, renderRouterRuleset } from '../../src/agent/services/nat.js';
import type { SnapshotRouter } from '../../src/agent/snapshot.js';

const names = { gateway: 'qg-11111111-11', internal: 'qr-*' };

function router(overrides: Partial<SnapshotRouter> = {}): SnapshotRouter {
  return {
    id: 'r1',
    project_id: 'p1',
    admin_state_up: true,
    gateway: {
      port_id: '11111111-1111-4111-8111-111111111111',
      network_id: 'ext',
      mac_address: 'fa:16:3e:00:00:01',
      addresses: [
        { subnet_id: 'ext-v6', ip_address: '2001:db8::10', prefixlen: 64 },
        { subnet_id: 'ext-v4', ip_address: '203.0.113.10', prefixlen: 24 },
      ],
      enable_snat: true,
      external_gateway_ips: ['203.0.113.1'],
    },
    interfaces: [],
    routes: [],
    floating_ips: [
      { id: 'f1', floating_ip_address: '203.0.113.20', fixed_ip_address: '10.0.0.5', port_id: 'p5' },
      { id: 'f2', floating_ip_address: '203.0.113.9', fixed_ip_address: '10.0.1.7', port_id: 'p7' },
      { id: 'f3', floating_ip_address: '203.0.113.30', fixed_ip_address: null, port_id: null },
    ],
    ...overrides,
  };
}

describe('renderRouterRuleset', () => {
  it('replaces the whole table in one transaction, rules in Neutron order', () => {
    assert.equal(
      renderRouterRuleset(router(), names),
      `table ip neutrino-router {}
delete table ip neutrino-router
table ip neutrino-router {
\tchain prerouting {
\t\ttype nat hook prerouting priority dstnat; policy accept;
\t\tiifname "qr-*" meta mark set 0x1
\t\tip daddr 203.0.113.9 dnat to 10.0.1.7
\t\tip daddr 203.0.113.20 dnat to 10.0.0.5
\t}
\tchain output {
\t\ttype nat hook output priority -100; policy accept;
\t\tip daddr 203.0.113.9 dnat to 10.0.1.7
\t\tip daddr 203.0.113.20 dnat to 10.0.0.5
\t}
\tchain postrouting {
\t\ttype nat hook postrouting priority srcnat; policy accept;
\t\toifname "qr-*" meta mark 0x1 ct status dnat masquerade
\t\tip saddr 10.0.1.7 oifname "qg-11111111-11" snat to 203.0.113.9
\t\tip saddr 10.0.0.5 oifname "qg-11111111-11" snat to 203.0.113.20
\t\tct status dnat accept
\t\toifname "qg-11111111-11" snat to 203.0.113.10
\t}
}
`,
    );
  });

  it('keeps floating IPs but drops the default SNAT when enable_snat is off', () => {
    const base = router();
    const text = renderRouterRuleset(router({ gateway: { ...base.gateway!, enable_snat: false } }), names);
    assert.ok(text.includes('snat to 203.0.113.20\n'));
    assert.ok(text.includes('ct status dnat accept\n'));
    assert.ok(!text.includes('snat to 203.0.113.10'));
  });

  it('has no NAT but hairpin masquerading without a gateway', () => {
    const text = renderRouterRuleset(router({ gateway: null }), { gateway: null, internal: 'qr-*' });
    assert.ok(!/dnat to|snat to|ct status dnat accept/.test(text));
    assert.ok(text.includes('oifname "qr-*" meta mark 0x1 ct status dnat masquerade'));
  });

  it('gives NAT only to associated IPv4 floating IPs', () => {
    const r = router();
    r.floating_ips.push({
      id: 'f6',
      floating_ip_address: '2001:db8::20',
      fixed_ip_address: 'fd00::5',
      port_id: 'p9',
    });
    assert.deepEqual(natFloatingIps(r), [
      { floating: '203.0.113.9', fixed: '10.0.1.7' },
      { floating: '203.0.113.20', fixed: '10.0.0.5' },
    ]);
    assert.deepEqual(natFloatingIps({ ...r, gateway: null }), []);
  });

  it('renders the same text whatever the order of the floating IPs', () => {
    const base = router();
    const expected = renderRouterRuleset(base, names);
    fc.assert(
      fc.property(fc.shuffledSubarray(base.floating_ips, { minLength: 3, maxLength: 3 }), (floating_ips) => {
        assert.equal(renderRouterRuleset({ ...base, floating_ips }, names), expected);
      }),
    );
  });
});
