/**
 * Security groups in the agent (pure): the rule text and its order (spoof chain, per-direction port
 * chains, group chains), which ports are filtered, marks and zones that stay put, and the diff: a
 * rule change refills only its group's chains, a membership change is set-element operations only,
 * a port leaving removes only its own objects, a verification that finds drift rewrites only what
 * drifted; connections a change no longer allows are deleted per port address and zone.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { firewallActions } from '../../src/agent/firewall/diff.js';
import { verified } from '../../src/agent/firewall/observe.js';
import {
  fromPortRules,
  intervalElements,
  listingHashes,
  parseCounters,
  parseDropCounter,
  portDirectionRules,
  renderRule,
  renderSkeleton,
} from '../../src/agent/firewall/render.js';
import { linkLocal } from '../../src/agent/firewall/security-groups.js';
import { compile } from '../../src/agent/reconcile/compile.js';
import { emptyFirewall, type Firewall, ownerTag } from '../../src/agent/state/host-state.js';
import type {
  Snapshot,
  SnapshotPort,
  SnapshotSecurityGroup,
  SnapshotSecurityGroupRule,
} from '../../src/model/host-snapshot.js';
import {
  DHCP_PORT,
  INST_A,
  INST_B,
  NET,
  PORT_A,
  PORT_B,
  snapshotNetwork,
  snapshotPort,
  snapshotSubnet,
} from '../helpers/snapshot.js';

const stateDir = '/var/lib/neutrino-sg-test';
const TABLE = `neutrino-sg-${ownerTag(stateDir)}`;
const PORT_C = 'cccccccc-4444-4444-8444-444444444444';
const WEB = '5e5e5e5e-0000-4000-8000-00000000000a';
const DB = '5e5e5e5e-0000-4000-8000-00000000000b';

function rule(id: string, overrides: Partial<SnapshotSecurityGroupRule> = {}): SnapshotSecurityGroupRule {
  return {
    id,
    direction: 'ingress',
    ethertype: 'IPv4',
    protocol: null,
    port_range_min: null,
    port_range_max: null,
    remote_ip_prefix: null,
    remote_group_id: null,
    ...overrides,
  };
}

function port(id: string, ip: string, mac: string, overrides: Partial<SnapshotPort> = {}): SnapshotPort {
  return snapshotPort(id, ip, mac, {
    binding_host_id: 'h1',
    port_security_enabled: true,
    security_groups: [WEB],
    allowed_address_pairs: [],
    ...overrides,
  });
}

function groups(): SnapshotSecurityGroup[] {
  return [
    {
      id: WEB,
      stateful: true,
      rules: [
        rule('r1', { direction: 'egress' }),
        rule('r2', { protocol: 'tcp', port_range_min: 80, port_range_max: 80 }),
        rule('r3', { remote_group_id: WEB }),
      ],
    },
    {
      id: DB,
      stateful: true,
      rules: [
        rule('r9', { protocol: 'tcp', port_range_min: 5432, port_range_max: 5432, remote_group_id: WEB }),
      ],
    },
  ];
}

function snapshot(overrides: Partial<Snapshot> = {}): Snapshot {
  return {
    host: 'h1',
    revision: 7,
    dnsDomain: 'openstacklocal.',
    networks: [snapshotNetwork()],
    subnets: [snapshotSubnet()],
    ports: [
      port(DHCP_PORT, '10.0.0.2', 'fa:16:3e:00:00:02', {
        device_owner: 'network:dhcp',
        port_security_enabled: false,
        security_groups: [],
      }),
      port(PORT_A, '10.0.0.11', 'FA:16:3E:00:00:11'),
      port(PORT_B, '10.0.0.12', 'fa:16:3e:00:00:12'),
      port(PORT_C, '10.0.0.13', 'fa:16:3e:00:00:13', { binding_host_id: 'elsewhere' }),
    ],
    instances: [
      { id: INST_A, name: 'a', ports: [PORT_A] },
      { id: INST_B, name: 'b', ports: [PORT_B] },
    ],
    routers: [],
    physicalInterfaceMappings: {},
    security_groups: groups(),
    security_group_members: { [WEB]: ['10.0.0.11', '10.0.0.12', '10.0.0.13'] },
    ...overrides,
  };
}

function firewallOf(s: Snapshot, previous?: Firewall): Firewall {
  const options = previous ? { marks: previous.marks, zones: previous.zones } : undefined;
  return compile(s, { stateDir, firewall: options }).firewall;
}

/** The firewall as the record would hold it after applying `desired`, listings included. */
function applied(desired: Firewall): Firewall {
  const [action] = firewallActions(desired, emptyFirewall());
  assert.equal(action.op, 'firewall.apply');
  return action.op === 'firewall.apply' ? { ...action.firewall, listings: {} } : desired;
}

function transactionOf(desired: Firewall, actual: Firewall): string {
  const action = firewallActions(desired, actual).find((a) => a.op === 'firewall.apply');
  return action?.op === 'firewall.apply' ? action.transaction : '';
}

describe('security group rule rendering', () => {
  it('renders protocols, ports, ICMP type/code, remote prefixes and groups', () => {
    const cases: [Partial<SnapshotSecurityGroupRule>, string][] = [
      [{}, 'meta nfproto ipv4 accept'],
      [{ protocol: 'tcp', port_range_min: 22, port_range_max: 22 }, 'meta nfproto ipv4 tcp dport 22 accept'],
      [
        { protocol: '17', port_range_min: 1000, port_range_max: 2000 },
        'meta nfproto ipv4 udp dport 1000-2000 accept',
      ],
      [{ protocol: 'udp' }, 'meta nfproto ipv4 meta l4proto udp accept'],
      [
        { protocol: 'icmp', port_range_min: 8, port_range_max: 0 },
        'meta nfproto ipv4 icmp type 8 icmp code 0 accept',
      ],
      [{ protocol: 'icmp', port_range_min: 8 }, 'meta nfproto ipv4 icmp type 8 accept'],
      [{ protocol: 'icmp' }, 'meta nfproto ipv4 meta l4proto icmp accept'],
      [
        { protocol: 'sctp', port_range_min: 5, port_range_max: 9 },
        'meta nfproto ipv4 meta l4proto 132 th dport 5-9 accept',
      ],
      [{ protocol: '112' }, 'meta nfproto ipv4 meta l4proto 112 accept'],
      [{ protocol: '0' }, 'meta nfproto ipv4 accept'],
      [{ remote_ip_prefix: '192.0.2.0/24' }, 'meta nfproto ipv4 ip saddr 192.0.2.0/24 accept'],
      [{ remote_ip_prefix: '0.0.0.0/0' }, 'meta nfproto ipv4 accept'],
      [
        { direction: 'egress', remote_ip_prefix: '192.0.2.7/32' },
        'meta nfproto ipv4 ip daddr 192.0.2.7/32 accept',
      ],
      [{ remote_group_id: WEB }, `meta nfproto ipv4 ip saddr @sg-${WEB}-v4 accept`],
      [
        { ethertype: 'IPv6', protocol: 'ipv6-icmp', port_range_min: 128 },
        'meta nfproto ipv6 icmpv6 type 128 accept',
      ],
      [
        {
          ethertype: 'IPv6',
          direction: 'egress',
          remote_group_id: DB,
          protocol: 'tcp',
          port_range_min: 1,
          port_range_max: 2,
        },
        `meta nfproto ipv6 ip6 daddr @sg-${DB}-v6 tcp dport 1-2 accept`,
      ],
      [
        { remote_address_group_id: WEB, protocol: 'tcp', port_range_min: 22, port_range_max: 22 },
        `meta nfproto ipv4 ip saddr @ag-${WEB}-v4 tcp dport 22 accept`,
      ],
    ];
    for (const [overrides, text] of cases) assert.equal(renderRule(rule('x', overrides)), text);
  });

  it('turns an address group into interval-set elements: one family, none another covers', () => {
    const cidrs = [
      '10.0.0.0/8',
      '10.1.0.0/16',
      '192.0.2.7/32',
      '192.0.2.0/25',
      '2001:db8::/64',
      '10.0.0.0/8',
    ];
    assert.deepEqual(intervalElements(cidrs, 'ipv4'), ['10.0.0.0/8', '192.0.2.0/25']);
    assert.deepEqual(intervalElements(cidrs, 'ipv6'), ['2001:db8::/64']);
    assert.deepEqual(intervalElements(['192.0.2.128/25', '192.0.2.0/25'], 'ipv4'), [
      '192.0.2.0/25',
      '192.0.2.128/25',
    ]);
    assert.deepEqual(intervalElements(['nonsense', '10.0.0.1'], 'ipv4'), []);
  });

  it('checks the spoof chain in Neutron order: DHCP client first, servers and RAs dropped, then pairs', () => {
    const filter = {
      id: 'p',
      number: 5,
      mac: 'fa:16:3e:00:00:11',
      macs: ['fa:16:3e:00:00:11', 'fa:16:3e:00:00:99'],
      ipv4: [
        { mac: 'fa:16:3e:00:00:11', ip: '10.0.0.11' },
        { mac: 'fa:16:3e:00:00:99', ip: '10.0.0.0/28' },
      ],
      ipv6: [{ mac: 'fa:16:3e:00:00:11', ip: 'fe80::f816:3eff:fe00:11' }],
      groups: ['g'],
      stateful: true,
    };
    assert.deepEqual(fromPortRules(filter), [
      'meta mark set 0x00000005',
      'ether saddr != { fa:16:3e:00:00:11, fa:16:3e:00:00:99 } counter name "drop-p-spoof" drop',
      'arp saddr ether fa:16:3e:00:00:11 arp saddr ip 0.0.0.0 return',
      'arp saddr ether fa:16:3e:00:00:99 arp saddr ip 0.0.0.0 return',
      'arp saddr ether fa:16:3e:00:00:11 arp saddr ip 10.0.0.11 return',
      'arp saddr ether fa:16:3e:00:00:99 arp saddr ip 10.0.0.0/28 return',
      'ether type arp counter name "drop-p-spoof" drop',
      'ip saddr 0.0.0.0 ip daddr 255.255.255.255 udp sport 68 udp dport 67 return',
      'ether type ip udp sport 67 counter name "drop-p-dhcp" drop',
      'ether saddr fa:16:3e:00:00:11 ip saddr 10.0.0.11 return',
      'ether saddr fa:16:3e:00:00:99 ip saddr 10.0.0.0/28 return',
      'ether type ip counter name "drop-p-spoof" drop',
      'ip6 saddr :: icmpv6 type @nd-from return',
      'icmpv6 type nd-router-advert counter name "drop-p-ra" drop',
      'ether type ip6 udp sport 547 counter name "drop-p-dhcp" drop',
      'ether saddr fa:16:3e:00:00:11 ip6 saddr fe80::f816:3eff:fe00:11 return',
      'counter name "drop-p-spoof" drop',
    ]);
    // One MAC is compared, not looked up; beyond four pairs, one rule looks them up in a set.
    const pairs = ['10.0.0.1', '10.0.0.2', '10.0.0.3', '10.0.0.4', '10.0.0.5'];
    const many = fromPortRules({
      ...filter,
      macs: [filter.mac],
      ipv4: pairs.map((ip) => ({ mac: filter.mac, ip })),
    });
    assert.equal(many[1], 'ether saddr != fa:16:3e:00:00:11 counter name "drop-p-spoof" drop');
    assert.ok(
      many.includes(
        `ether saddr . ip saddr { ${pairs.map((ip) => `fa:16:3e:00:00:11 . ${ip}`).join(', ')} } return`,
      ),
    );
    assert.deepEqual(portDirectionRules(filter, 'ingress'), [
      'ct state established,related accept',
      'ct state invalid counter name "drop-p-invalid" drop',
      'udp sport 67 udp dport 68 accept',
      'udp sport 547 udp dport 546 accept',
      'icmpv6 type @nd-ingress accept',
      'jump sg-g-ingress',
      'counter name "drop-p-ingress" drop',
    ]);
    assert.ok(!portDirectionRules({ ...filter, stateful: false }, 'egress').some((r) => r.startsWith('ct ')));
    assert.equal(linkLocal('fa:16:3e:00:00:11'), 'fe80::f816:3eff:fe00:11');
    assert.deepEqual(parseDropCounter('drop-aaaaaaaa-2222-4222-8222-222222222222-spoof'), {
      port: 'aaaaaaaa-2222-4222-8222-222222222222',
      reason: 'spoof',
    });
  });
});

describe('security groups in the desired state', () => {
  it('filters this host’s ports with port security only, and gives their bridge zones and netfilter', () => {
    const state = compile(snapshot(), { stateDir });
    const fw = state.firewall;
    assert.equal(fw.table, TABLE);
    assert.deepEqual(Object.keys(fw.ports).sort(), [PORT_A, PORT_B]);
    assert.deepEqual(fw.marks, { [PORT_A]: 1, [PORT_B]: 2 });
    const bridge = `brq${NET.slice(0, 11)}`;
    assert.equal(state.bridges[bridge].nfCall, true);
    const zone = fw.zones[bridge];
    assert.ok(zone >= 1 && zone <= 65535);
    assert.deepEqual(fw.sets[`inet map zones`].elements, [`"${bridge}" : ${zone}`]);
    assert.deepEqual(fw.sets['inet set unfiltered'].elements, [], 'every bridge here filters');
    assert.deepEqual(fw.sets['bridge set trunks'].elements, ['"vxlan-1001"']);
    assert.deepEqual(fw.sets['bridge map from-port'].elements, [
      `"tap${PORT_A.slice(0, 11)}" : jump from-${PORT_A}`,
      `"tap${PORT_B.slice(0, 11)}" : jump from-${PORT_B}`,
    ]);
    assert.deepEqual(fw.sets['inet map ingress'].elements, [
      `0x00010000 : jump ingress-${PORT_A}`,
      `0x00020000 : jump ingress-${PORT_B}`,
    ]);
    assert.deepEqual(fw.sets[`inet set sg-${WEB}-v4`].elements, ['10.0.0.11', '10.0.0.12', '10.0.0.13']);
    assert.deepEqual(fw.chains[`inet chain sg-${WEB}-ingress`].rules, [
      'meta nfproto ipv4 tcp dport 80 accept',
      `meta nfproto ipv4 ip saddr @sg-${WEB}-v4 accept`,
    ]);
    assert.ok(!fw.chains[`inet chain sg-${DB}-ingress`], 'a group no port here uses has no chains');
    assert.deepEqual(state.problems, []);
    assert.equal(compile(snapshot({ ports: [] }), { stateDir }).firewall.skeleton, '', 'no port: no tables');
  });

  it('leaves the traffic of a bridge without filtered ports untracked', () => {
    const base = snapshot();
    const plain = { ...base.networks[0], id: 'dddddddd-0000-4000-8000-00000000000d', segmentation_id: 1002 };
    const port = {
      ...base.ports.find((p) => p.id === PORT_A)!,
      id: 'eeeeeeee-0000-4000-8000-00000000000e',
      network_id: plain.id,
      port_security_enabled: false,
      security_groups: [],
    };
    const state = compile(
      snapshot({
        networks: [...base.networks, plain],
        ports: [...base.ports, port],
        subnets: [...base.subnets, { ...base.subnets[0], id: 'plain-subnet', network_id: plain.id }],
        instances: [...base.instances, { id: 'plain-vm', name: 'p', ports: [port.id] }],
      }),
      { stateDir },
    );
    assert.deepEqual(state.firewall.sets['inet set unfiltered'].elements, [`"brq${plain.id.slice(0, 11)}"`]);
    assert.match(
      renderSkeleton(state.firewall.table),
      /iifname @unfiltered notrack\n\t\tct zone set iifname map @zones/,
    );
  });

  it('keeps marks and zones across changes, and gives a new port the lowest free mark', () => {
    const first = firewallOf(snapshot());
    const without = firewallOf(snapshot({ ports: snapshot().ports.filter((p) => p.id !== PORT_A) }), first);
    assert.deepEqual(without.marks, { [PORT_B]: 2 });
    const back = firewallOf(
      snapshot({ ports: [...snapshot().ports, port(PORT_C, '10.0.0.13', 'fa:16:3e:00:00:13')] }),
      without,
    );
    assert.deepEqual(back.marks, { [PORT_A]: 1, [PORT_B]: 2, [PORT_C]: 3 });
    assert.deepEqual(back.zones, first.zones);
  });

  it('reports bad rules and pairs as problems and leaves them out', () => {
    const bad = snapshot({
      security_groups: [{ id: WEB, stateful: true, rules: [rule('r1', { protocol: 'nope' }), rule('r2')] }],
      ports: [
        port(PORT_A, '10.0.0.11', 'fa:16:3e:00:00:11', {
          allowed_address_pairs: [{ ip_address: 'x', mac_address: '' }],
        }),
      ],
      instances: [{ id: INST_A, name: 'a', ports: [PORT_A] }],
    });
    const state = compile(bad, { stateDir });
    assert.deepEqual(
      state.problems.map((p) => p.object),
      ['security group rule r1', `port ${PORT_A}`],
    );
    assert.deepEqual(state.firewall.ports, {}, 'a port whose pairs cannot be rendered is not half-filtered');
  });
});

describe('the security-group diff', () => {
  it('builds both tables in one transaction, then does nothing while nothing changes', () => {
    const desired = firewallOf(snapshot());
    const actions = firewallActions(desired, emptyFirewall());
    assert.deepEqual(
      actions.map((a) => a.op),
      ['firewall.apply'],
    );
    const text = transactionOf(desired, emptyFirewall());
    assert.match(text, new RegExp(`^table bridge ${TABLE} \\{\\}\ndelete table bridge ${TABLE}\n`));
    assert.match(text, /\tchain hook-prerouting \{\n\t\ttype filter hook prerouting priority -200;/);
    assert.deepEqual(firewallActions(desired, applied(desired)), []);
  });

  it('refills only the group’s chains when a rule changes', () => {
    const before = firewallOf(snapshot());
    const s = snapshot();
    s.security_groups![0].rules.push(rule('r4', { protocol: 'icmp' }));
    const after = firewallOf(s, before);
    assert.equal(
      transactionOf(after, applied(before)),
      [
        `add chain inet ${TABLE} sg-${WEB}-ingress`,
        `flush chain inet ${TABLE} sg-${WEB}-ingress`,
        `add rule inet ${TABLE} sg-${WEB}-ingress meta nfproto ipv4 tcp dport 80 accept`,
        `add rule inet ${TABLE} sg-${WEB}-ingress meta nfproto ipv4 ip saddr @sg-${WEB}-v4 accept`,
        `add rule inet ${TABLE} sg-${WEB}-ingress meta nfproto ipv4 meta l4proto icmp accept`,
        '',
      ].join('\n'),
    );
  });

  it('adds or deletes one set element when a port elsewhere joins or leaves a remote group', () => {
    const before = firewallOf(snapshot());
    const joined = firewallOf(
      snapshot({ security_group_members: { [WEB]: ['10.0.0.11', '10.0.0.12', '10.0.0.13', '10.0.0.99'] } }),
      before,
    );
    assert.equal(
      transactionOf(joined, applied(before)),
      `add element inet ${TABLE} sg-${WEB}-v4 { 10.0.0.99 }\n`,
    );
    const left = firewallOf(
      snapshot({ security_group_members: { [WEB]: ['10.0.0.11', '10.0.0.12'] } }),
      before,
    );
    const actions = firewallActions(left, applied(before));
    assert.equal(
      transactionOf(left, applied(before)),
      `delete element inet ${TABLE} sg-${WEB}-v4 { 10.0.0.13 }\n`,
    );
    const conntrack = actions.find((a) => a.op === 'firewall.conntrack');
    const zone = before.zones[`brq${NET.slice(0, 11)}`];
    assert.deepEqual(conntrack?.op === 'firewall.conntrack' && conntrack.filters.slice(0, 2), [
      { zone, family: 'ipv4', src: '10.0.0.11', dst: '10.0.0.13' },
      { zone, family: 'ipv4', src: '10.0.0.13', dst: '10.0.0.11' },
    ]);
  });

  it('removes only a leaving port’s objects and deletes its connections', () => {
    const before = firewallOf(snapshot());
    const after = firewallOf(snapshot({ ports: snapshot().ports.filter((p) => p.id !== PORT_B) }), before);
    const text = transactionOf(after, applied(before));
    const lines = text.trim().split('\n');
    assert.ok(
      lines.every((l) =>
        [PORT_B, 'tapbbbbbbbb-33', '{ 0x00000002 }', '{ 0x00020000 }'].some((x) => l.includes(x)),
      ),
      text,
    );
    assert.ok(lines.includes(`delete chain bridge ${TABLE} from-${PORT_B}`));
    assert.ok(lines.includes(`delete counter inet ${TABLE} drop-${PORT_B}-ingress`));
    const conntrack = firewallActions(after, applied(before)).find((a) => a.op === 'firewall.conntrack');
    const zone = before.zones[`brq${NET.slice(0, 11)}`];
    assert.deepEqual(conntrack?.op === 'firewall.conntrack' && conntrack.filters, [
      { zone, family: 'ipv4', src: '10.0.0.12' },
      { zone, family: 'ipv4', dst: '10.0.0.12' },
    ]);
  });

  it('deletes the connections a removed rule allowed, per port address and zone', () => {
    const before = firewallOf(snapshot());
    const s = snapshot();
    s.security_groups![0].rules = s.security_groups![0].rules.filter((r) => r.id !== 'r2');
    const after = firewallOf(s, before);
    const conntrack = firewallActions(after, applied(before)).find((a) => a.op === 'firewall.conntrack');
    const zone = before.zones[`brq${NET.slice(0, 11)}`];
    assert.deepEqual(conntrack?.op === 'firewall.conntrack' && conntrack.filters, [
      { zone, family: 'ipv4', protocol: 'tcp', dst: '10.0.0.11' },
      { zone, family: 'ipv4', protocol: 'tcp', dst: '10.0.0.12' },
    ]);
  });

  it('rewrites only what verification found changed; removes the tables when no port needs them', () => {
    const desired = firewallOf(snapshot());
    const recorded = applied(desired);
    const chain = `inet chain ingress-${PORT_A}`;
    const set = `inet set sg-${WEB}-v4`;
    const base = [
      'bridge chain hook-prerouting',
      'bridge chain hook-forward',
      'inet chain hook-zone-in',
      'inet chain hook-zone-out',
      'inet chain hook-egress',
      'inet chain hook-ingress',
      'inet chain hook-input',
    ];
    const listings: Record<string, string> = {};
    for (const key of [...base, ...Object.keys(recorded.chains), ...Object.keys(recorded.sets)])
      listings[key] = 'h';
    for (const key of Object.keys(recorded.counters)) listings[key] = '';
    assert.ok(listings[chain] && listings[set]);
    const now = { ...listings, [chain]: 'flushed' };
    const actual = verified({ ...recorded, listings }, now);
    const text = transactionOf(desired, actual);
    assert.match(text, new RegExp(`^add chain inet ${TABLE} ingress-${PORT_A}\nflush chain`));
    assert.doesNotMatch(text, /element|from-|egress-/);
    const rebuilt = verified({ ...recorded, listings }, { ...now, 'inet chain hook-input': 'gone' });
    assert.match(transactionOf(desired, rebuilt), /^table bridge .* \{\}\ndelete table/);
    const removal = firewallActions(emptyFirewall(), recorded);
    assert.equal(
      removal[0].op === 'firewall.apply' && removal[0].transaction.split('\n')[1],
      `delete table bridge ${TABLE}`,
    );
  });

  it('lists nft objects by a hash that ignores element order and counter values', () => {
    const a = listingHashes(
      `table inet t {\n\tcounter c {\n\t\tpackets 1 bytes 2\n\t}\n\n\tset s {\n\t\ttype ipv4_addr\n\t\telements = { 10.0.0.1, 10.0.0.2,\n\t\t\t     10.0.0.3 }\n\t}\n\n\tchain x {\n\t\tip saddr @s accept\n\t}\n}\n`,
    );
    const b = listingHashes(
      `table inet t {\n\tset s {\n\t\ttype ipv4_addr\n\t\telements = { 10.0.0.3, 10.0.0.1, 10.0.0.2 }\n\t}\n\tchain x {\n\t\tip saddr @s accept\n\t}\n}\n`,
    );
    assert.equal(a['inet set s'], b['inet set s']);
    assert.equal(a['inet chain x'], b['inet chain x']);
    assert.equal(a['inet counter c'], '');
    assert.deepEqual(
      parseCounters('table bridge t {\n\tcounter drop-p-spoof {\n\t\tpackets 3 bytes 180\n\t}\n}\n'),
      {
        'drop-p-spoof': { packets: 3, bytes: 180 },
      },
    );
  });
});
