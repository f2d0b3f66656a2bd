/**
 * A router's NAT ruleset (pure): the exact text of the one-transaction replacement, the order of the
 * rules (hairpin, floating-IP SNAT, no SNAT for DNATed flows, default SNAT), which floating IPs get
 * NAT, enable_snat, routers without a gateway, no SNAT within the gateway's address scope, a
 * text independent of the floating IPs' order, and port forwardings (single ports, same, shifted
 * and 1-N ranges) DNATed in prerouting and output beside the 1:1 floating IPs.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  forwardingRule,
  natFloatingIps,
  natPortForwardings,
  renderRouterRuleset,
  sameScopeSubnets,
} from '../../src/agent/l3/nat.js';
import type { SnapshotPortForwarding, SnapshotRouter } from '../../src/model/host-snapshot.js';

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

  it('routes internal subnets of the gateway’s address scope without SNAT; others are still SNATed', () => {
    const base = router();
    const scoped = router({
      gateway: {
        ...base.gateway!,
        addresses: base.gateway!.addresses.map((a) =>
          a.subnet_id === 'ext-v4' ? { ...a, address_scope_id: 'scope-a' } : a,
        ),
      },
      interfaces: [
        {
          port_id: 'i1',
          network_id: 'n1',
          mac_address: 'fa:16:3e:00:00:02',
          addresses: [
            { subnet_id: 'in-a', ip_address: '10.10.1.1', prefixlen: 24, address_scope_id: 'scope-a' },
            { subnet_id: 'in-a6', ip_address: 'fd00::1', prefixlen: 64, address_scope_id: 'scope-a' },
          ],
        },
        {
          port_id: 'i2',
          network_id: 'n2',
          mac_address: 'fa:16:3e:00:00:03',
          addresses: [
            { subnet_id: 'in-b', ip_address: '10.20.0.1', prefixlen: 16, address_scope_id: 'scope-b' },
          ],
        },
        {
          port_id: 'i3',
          network_id: 'n3',
          mac_address: 'fa:16:3e:00:00:04',
          addresses: [
            { subnet_id: 'in-c', ip_address: '10.9.0.129', prefixlen: 25, address_scope_id: 'scope-a' },
            { subnet_id: 'in-d', ip_address: '192.168.0.1', prefixlen: 24 },
          ],
        },
      ],
    });
    assert.deepEqual(sameScopeSubnets(scoped), ['10.9.0.128/25', '10.10.1.0/24']);
    const text = renderRouterRuleset(scoped, names);
    assert.ok(
      text.includes(
        '\t\tct status dnat accept\n\t\toifname "qg-11111111-11" ip saddr { 10.9.0.128/25, 10.10.1.0/24 } accept\n\t\toifname "qg-11111111-11" snat to 203.0.113.10\n',
      ),
      text,
    );
    // Without a scope on the gateway, or with another one, every subnet is SNATed as before.
    assert.deepEqual(sameScopeSubnets(router({ interfaces: scoped.interfaces })), []);
    assert.equal(
      renderRouterRuleset(router({ interfaces: scoped.interfaces }), names),
      renderRouterRuleset(router(), names),
    );
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

describe('port forwardings', () => {
  const pf = (over: Partial<SnapshotPortForwarding> = {}): SnapshotPortForwarding => ({
    protocol: 'tcp',
    internal_ip_address: '10.0.0.8',
    internal_port_start: 22,
    internal_port_end: 22,
    external_port_start: 2222,
    external_port_end: 2222,
    ...over,
  });
  const forwarding = (forwardings: SnapshotPortForwarding[]) =>
    router({
      floating_ips: [
        ...router().floating_ips,
        {
          id: 'f4',
          floating_ip_address: '203.0.113.40',
          fixed_ip_address: null,
          port_id: null,
          port_forwardings: forwardings,
        },
      ],
    });

  it('DNATs a forwarded port in prerouting and output, next to the 1:1 floating IPs and without SNAT', () => {
    const text = renderRouterRuleset(
      forwarding([
        pf(),
        pf({
          protocol: 'udp',
          internal_port_start: 53,
          internal_port_end: 53,
          external_port_start: 53,
          external_port_end: 53,
        }),
      ]),
      names,
    );
    const rules = [
      'ip daddr 203.0.113.40 tcp dport 2222 dnat to 10.0.0.8:22',
      'ip daddr 203.0.113.40 udp dport 53 dnat to 10.0.0.8:53',
    ];
    const chain = (name: string) => text.split(`chain ${name} {`)[1].split('}')[0];
    for (const rule of rules) {
      assert.ok(chain('prerouting').includes(`\t\t${rule}\n`), rule);
      assert.ok(chain('output').includes(`\t\t${rule}\n`), rule);
    }
    assert.ok(chain('prerouting').includes('ip daddr 203.0.113.20 dnat to 10.0.0.5\n'), '1:1 unchanged');
    assert.ok(
      !text.includes('snat to 203.0.113.40'),
      'replies go back by conntrack; new flows by the default SNAT',
    );
    assert.ok(
      chain('postrouting').includes('oifname "qr-*" meta mark 0x1 ct status dnat masquerade'),
      'hairpin',
    );
  });

  it('keeps the ports of a same range, maps a shifted one port by port, and sends 1-N to one port', () => {
    assert.equal(
      forwardingRule(
        '203.0.113.40',
        pf({
          internal_port_start: 8000,
          internal_port_end: 8002,
          external_port_start: 8000,
          external_port_end: 8002,
        }),
      ),
      'ip daddr 203.0.113.40 tcp dport 8000-8002 dnat to 10.0.0.8',
    );
    assert.equal(
      forwardingRule(
        '203.0.113.40',
        pf({
          protocol: 'sctp',
          internal_port_start: 8000,
          internal_port_end: 8002,
          external_port_start: 9000,
          external_port_end: 9002,
        }),
      ),
      'ip daddr 203.0.113.40 sctp dport 9000-9002 dnat to 10.0.0.8 : sctp dport map { 9000 : 8000, 9001 : 8001, 9002 : 8002 }',
    );
    assert.equal(
      forwardingRule(
        '203.0.113.40',
        pf({
          internal_port_start: 80,
          internal_port_end: 80,
          external_port_start: 9100,
          external_port_end: 9105,
        }),
      ),
      'ip daddr 203.0.113.40 tcp dport 9100-9105 dnat to 10.0.0.8:80',
    );
  });

  it('forwards only for unassociated IPv4 floating IPs on a router with a gateway', () => {
    const r = forwarding([pf()]);
    assert.deepEqual(natPortForwardings(r), [{ floating: '203.0.113.40', forwardings: [pf()] }]);
    assert.deepEqual(natPortForwardings({ ...r, gateway: null }), []);
    assert.ok(
      !renderRouterRuleset({ ...r, gateway: null }, { gateway: null, internal: 'qr-*' }).includes('dport'),
    );
    const associated = router({
      floating_ips: [
        {
          id: 'f5',
          floating_ip_address: '203.0.113.50',
          fixed_ip_address: '10.0.0.9',
          port_id: 'p9',
          port_forwardings: [pf()],
        },
      ],
    });
    assert.deepEqual(natPortForwardings(associated), []);
    assert.deepEqual(natPortForwardings(forwarding([])), []);
  });
});
