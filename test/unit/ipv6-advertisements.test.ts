/**
 * IPv6 as Neutron serves it (pure parts): radvd's configuration per `ipv6_ra_mode` (flags,
 * autonomous or on-link-only prefixes, RDNSS, MTU), the router's radvd daemon in compile (an HA
 * router's link-local address moved by keepalived), and dnsmasq's IPv6 ranges, hosts and options
 * per `ipv6_address_mode` (no range for SLAAC, `static` for DHCPv6, never `--enable-ra`); an
 * instance interface on an IPv6-only network (no DHCP client to bring it up) brought up by the agent.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { compile } from '../../src/agent/reconcile/compile.js';
import { diff } from '../../src/agent/reconcile/diff.js';
import { dnsmasqArgs, servesDhcpv6 } from '../../src/linux/dnsmasq.js';
import { radvdArgs, radvdConfig } from '../../src/linux/radvd.js';
import type { Snapshot, SnapshotRouter, SnapshotSubnet } from '../../src/model/host-snapshot.js';
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

describe('radvd configuration', () => {
  it('advertises SLAAC prefixes autonomous, with RDNSS and the link MTU', () => {
    const text = radvdConfig([
      {
        device: 'qr-aaaaaaaa-11',
        mtu: 1450,
        subnets: [{ cidr: '2001:db8:1::/64', raMode: 'slaac', dnsServers: ['2001:db8::53', '192.0.2.1'] }],
      },
    ]);
    assert.equal(
      text,
      [
        'interface qr-aaaaaaaa-11',
        '{',
        '    AdvSendAdvert on;',
        '    MinRtrAdvInterval 30;',
        '    MaxRtrAdvInterval 100;',
        '    AdvLinkMTU 1450;',
        '    RDNSS 2001:db8::53 {};',
        '    prefix 2001:db8:1::/64',
        '    {',
        '        AdvOnLink on;',
        '        AdvAutonomous on;',
        '    };',
        '};',
        '',
      ].join('\n'),
    );
  });

  it('sets the Managed flag and no autonomous prefix for stateful DHCPv6, the Other flag for stateless', () => {
    const stateful = radvdConfig([
      {
        device: 'qr-b',
        mtu: 1500,
        subnets: [{ cidr: '2001:db8:2::5/64', raMode: 'dhcpv6-stateful', dnsServers: [] }],
      },
    ]);
    assert.match(stateful, /AdvManagedFlag on;/);
    assert.doesNotMatch(stateful, /AdvOtherConfigFlag/);
    assert.match(stateful, /prefix 2001:db8:2::\/64\n {4}\{\n {8}AdvOnLink on;\n {8}AdvAutonomous off;/);
    const stateless = radvdConfig([
      {
        device: 'qr-c',
        mtu: 1500,
        subnets: [{ cidr: '2001:db8:3::/64', raMode: 'dhcpv6-stateless', dnsServers: ['2001:db8::53'] }],
      },
    ]);
    assert.match(stateless, /AdvOtherConfigFlag on;/);
    assert.doesNotMatch(stateless, /AdvManagedFlag/);
    assert.match(stateless, /AdvAutonomous on;/);
    assert.doesNotMatch(stateless, /RDNSS/, 'stateless clients get DNS servers from DHCPv6');
  });

  it('advertises the router without a prefix on a subnet without ipv6_ra_mode, and no MTU under 1280', () => {
    const text = radvdConfig([
      { device: 'qr-d', mtu: 1200, subnets: [{ cidr: '2001:db8:4::/64', raMode: null, dnsServers: [] }] },
    ]);
    assert.match(text, /^interface qr-d\n\{\n {4}AdvSendAdvert on;/);
    assert.doesNotMatch(text, /prefix|AdvLinkMTU|Flag/);
  });

  it('refuses values that would break out of their line', () => {
    const ok = { cidr: '2001:db8::/64', raMode: 'slaac' as const, dnsServers: [] };
    assert.throws(() => radvdConfig([{ device: 'qr-x;\n}', mtu: 1500, subnets: [ok] }]), /invalid device/);
    assert.throws(() =>
      radvdConfig([{ device: 'qr-x', mtu: 1500, subnets: [{ ...ok, cidr: '10.0.0.0/24' }] }]),
    );
    assert.throws(() =>
      radvdConfig([{ device: 'qr-x', mtu: 1500, subnets: [{ ...ok, dnsServers: ['x {'] }] }]),
    );
  });

  it('runs with our configuration and pid file, logging to syslog (so it leaves the terminal)', () => {
    assert.deepEqual(radvdArgs('/s/routers/r'), [
      '-C',
      '/s/routers/r/radvd.conf',
      '-p',
      '/s/routers/r/radvd.pid',
      '-m',
      'syslog',
    ]);
  });
});

describe('radvd in compile', () => {
  const ROUTER = '99999999-0000-4000-8000-000000000000';
  const NS = `qrouter-${ROUTER}`;
  const dir = `${stateDir}/routers/${ROUTER}`;
  const V4 = 'aaaaaaaa-0000-4000-8000-00000000000a';
  const router = (overrides: Partial<SnapshotRouter> = {}): SnapshotRouter => ({
    id: ROUTER,
    project_id: 'p1',
    admin_state_up: true,
    gateway: null,
    interfaces: [
      {
        port_id: 'b1b1b1b1-2222-4222-8222-222222222222',
        network_id: NET,
        mac_address: 'fa:16:3e:00:00:0a',
        addresses: [
          { subnet_id: V4, ip_address: '10.0.0.1', prefixlen: 24 },
          { subnet_id: 's6', ip_address: '2001:db8:1::1', prefixlen: 64, ipv6_ra_mode: 'slaac' },
        ],
      },
    ],
    routes: [],
    floating_ips: [],
    ...overrides,
  });
  const snapshot = (routers: SnapshotRouter[]): Snapshot => ({
    host: 'h1',
    revision: 1,
    dnsDomain: 'openstacklocal',
    networks: [snapshotNetwork()],
    subnets: [
      snapshotSubnet({ id: V4, enable_dhcp: false }),
      snapshotSubnet({ id: 's6', ip_version: 6, cidr: '2001:db8:1::/64', gateway_ip: '2001:db8:1::1' }),
    ],
    ports: [],
    instances: [],
    routers,
    physicalInterfaceMappings: {},
  });

  it('runs radvd in the router namespace for its internal IPv6 subnets, with forwarding on', () => {
    const state = compile(snapshot([router()]), { stateDir });
    assert.deepEqual(state.problems, []);
    assert.deepEqual(state.daemons[`radvd ${NS}`], {
      kind: 'radvd',
      netns: NS,
      config: `${dir}/radvd.conf`,
      pidFile: `${dir}/radvd.pid`,
      argv: ['/usr/sbin/radvd', ...radvdArgs(dir)],
    });
    const text = (state.files[`${dir}/radvd.conf`] as { content: string }).content;
    assert.match(text, /^interface qr-b1b1b1b1-22\n/);
    assert.match(text, /AdvLinkMTU 1450;/);
    assert.match(text, /prefix 2001:db8:1::\/64/);
    assert.equal(state.routers[NS].sysctls['net.ipv6.conf.all.forwarding'], '1');
  });

  it('runs none for a router without IPv6 interfaces, nor for one administratively down', () => {
    const v4only = router();
    v4only.interfaces[0].addresses = v4only.interfaces[0].addresses.slice(0, 1);
    assert.equal(compile(snapshot([v4only]), { stateDir }).daemons[`radvd ${NS}`], undefined);
    const down = compile(snapshot([router({ admin_state_up: false })]), { stateDir });
    assert.equal(down.daemons[`radvd ${NS}`], undefined);
  });

  it("on an HA router, keepalived moves each IPv6 device's link-local address with the others", () => {
    const ha = router({
      ha: {
        vrid: 3,
        advert_int: 2,
        port: {
          port_id: 'c3c3c3c3-4444-4444-8444-444444444444',
          network_id: NET,
          mac_address: 'fa:16:3e:00:00:0c',
          addresses: [{ subnet_id: V4, ip_address: '10.0.0.9', prefixlen: 24 }],
        },
      },
    });
    const state = compile(snapshot([ha]), { stateDir });
    assert.ok(state.daemons[`radvd ${NS}`], 'radvd on every replica');
    const keepalived = (state.files[`${dir}/keepalived.conf`] as { content: string }).content;
    assert.ok(keepalived.includes('        fe80::f816:3eff:fe00:a/64 dev qr-b1b1b1b1-22\n'), keepalived);
    assert.equal(state.namespaceLinks[`${NS}/qr-b1b1b1b1-22`].silent, true, 'a standby has no link-local');
  });
});

describe("dnsmasq's IPv6 ranges", () => {
  const v6 = (mode: string | null, ra: string | null = mode) => ({
    id: 's6',
    cidr: '2001:db8:1::/64',
    enableDhcp: true,
    ipv6AddressMode: mode,
    ipv6RaMode: ra,
  });
  const ranges = (subnet: ReturnType<typeof v6>) =>
    dnsmasqArgs({ confDir: '/d', interfaceName: 'ns-x', subnets: [subnet] }).filter((a) =>
      a.startsWith('--dhcp-range='),
    );

  it("serves DHCPv6 'static' ranges as Neutron: stateful, stateless, no mode; nothing for SLAAC", () => {
    const range = ['--dhcp-range=set:subnet-s6,2001:db8:1::,static,64,86400s'];
    assert.deepEqual(ranges(v6('dhcpv6-stateful')), range);
    assert.deepEqual(ranges(v6('dhcpv6-stateless')), range);
    assert.deepEqual(ranges(v6(null)), range);
    assert.deepEqual(ranges(v6('slaac')), []);
    assert.deepEqual(ranges(v6(null, 'slaac')), [], 'addresses from the advertisements');
    assert.equal(servesDhcpv6({ ipv6AddressMode: 'dhcpv6-stateful', ipv6RaMode: null }), true);
    assert.deepEqual(ranges({ ...v6('dhcpv6-stateful'), cidr: '2001:db8::/48' }), [], 'wider than /64');
    const args = dnsmasqArgs({ confDir: '/d', interfaceName: 'ns-x', subnets: [v6('dhcpv6-stateful')] });
    assert.ok(!args.some((a) => a.startsWith('--enable-ra')), 'the router advertises, not dnsmasq');
  });

  it('leaves SLAAC and stateless addresses out of the hosts file (still in DNS), and SLAAC subnets out of the options', () => {
    const subnet = (id: string, cidr: string, mode: SnapshotSubnet['ipv6_address_mode']) =>
      snapshotSubnet({
        id,
        ip_version: 6,
        cidr,
        gateway_ip: cidr.replace('/64', '1'),
        dns_nameservers: ['2001:db8::53'],
        ipv6_address_mode: mode,
        ipv6_ra_mode: mode,
      });
    const subnets = [
      subnet('slaac', '2001:db8:1::/64', 'slaac'),
      subnet('stateful', '2001:db8:2::/64', 'dhcpv6-stateful'),
      subnet('stateless', '2001:db8:3::/64', 'dhcpv6-stateless'),
    ];
    const fixed = (n: string) => [
      { subnet_id: 'slaac', ip_address: `2001:db8:1::${n}` },
      { subnet_id: 'stateful', ip_address: `2001:db8:2::${n}` },
      { subnet_id: 'stateless', ip_address: `2001:db8:3::${n}` },
    ];
    const state = compile(
      {
        host: 'h1',
        revision: 1,
        dnsDomain: 'openstacklocal',
        networks: [snapshotNetwork()],
        subnets,
        ports: [
          snapshotPort(DHCP_PORT, '', 'fa:16:3e:00:00:02', {
            device_owner: 'network:dhcp',
            fixed_ips: fixed('2'),
          }),
          snapshotPort(PORT_A, '', 'fa:16:3e:00:00:11', { fixed_ips: fixed('11') }),
        ],
        instances: [],
        routers: [],
        physicalInterfaceMappings: {},
      },
      { stateDir },
    );
    assert.deepEqual(state.problems, []);
    const dir = `${stateDir}/dhcp/${NET}`;
    const content = (path: string) => (state.files[`${dir}/${path}`] as { content: string }).content;
    assert.equal(
      content('host'),
      'fa:16:3e:00:00:11,host-2001-db8-2--11.openstacklocal,[2001:db8:2::11]\n' +
        'fa:16:3e:00:00:02,host-2001-db8-2--2.openstacklocal,[2001:db8:2::2]\n',
    );
    assert.match(content('addn_hosts'), /^2001:db8:1::11\t/m);
    assert.deepEqual(content('opts').trim().split('\n'), [
      'tag:subnet-stateful,option6:dns-server,[2001:db8::53]',
      'tag:subnet-stateless,option6:dns-server,[2001:db8::53]',
    ]);
    const argv = state.dhcpServers[NET].argv;
    assert.deepEqual(
      argv.filter((a) => a.startsWith('--dhcp-range=')),
      [
        '--dhcp-range=set:subnet-stateful,2001:db8:2::,static,64,86400s',
        '--dhcp-range=set:subnet-stateless,2001:db8:3::,static,64,86400s',
      ],
    );
  });
});

describe('instances on IPv6-only networks', () => {
  const snapshot: Snapshot = {
    host: 'h1',
    revision: 1,
    dnsDomain: 'openstacklocal',
    networks: [snapshotNetwork()],
    subnets: [
      snapshotSubnet({
        ip_version: 6,
        cidr: '2001:db8:1::/64',
        gateway_ip: '2001:db8:1::1',
        ipv6_ra_mode: 'slaac',
        ipv6_address_mode: 'slaac',
      }),
    ],
    ports: [snapshotPort(PORT_A, '2001:db8:1:0:f816:3eff:fe00:11', 'fa:16:3e:00:00:11')],
    instances: [{ id: INST_A, name: 'a', ports: [PORT_A] }],
    routers: [],
    physicalInterfaceMappings: {},
  };
  const ns = `inst-${INST_A}`;

  it('brings the interface up without a DHCP client, and only while its veth has no carrier', () => {
    const desired = compile(snapshot, { stateDir });
    assert.deepEqual(desired.dhcpClients, {}, 'no IPv4 DHCP here');
    assert.deepEqual(desired.namespaceLinks[`${ns}/eth0`], { netns: ns, name: 'eth0', up: true });
    const fresh = diff(desired, {
      ...structuredClone(desired),
      namespaces: {},
      veths: {},
      namespaceLinks: {},
    });
    assert.ok(fresh.some((a) => a.op === 'nslink.set' && a.netns === ns && a.name === 'eth0' && a.up));
    // Instance namespaces are never read link by link: the veth's carrier says whether both ends are up.
    const running = structuredClone(desired);
    running.namespaceLinks = {};
    running.problems = [];
    const veth = Object.keys(desired.veths)[0];
    running.veths[veth].lowerUp = true;
    assert.deepEqual(diff(desired, running), []);
    running.veths[veth].lowerUp = false;
    assert.deepEqual(
      diff(desired, running).map((a) => a.op),
      ['nslink.set'],
    );
  });
});
