/**
 * The agent's desired-state compiler (pure): the linuxbridge layout, Neutron's names, the DHCP
 * service (namespace, addresses, dnsmasq files and command line), the instance DHCP clients, and
 * what it refuses (vlan, unmapped flat networks, unsafe input) as problems.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { L2_DRIVERS, l2Driver } from '../../src/agent/drivers/index.js';
import { compile } from '../../src/agent/reconcile/compile.js';
import { linkAlias, ownerTag } from '../../src/agent/state/host-state.js';
import { assertNamespaceName } from '../../src/linux/exec.js';
import type { Snapshot } from '../../src/model/host-snapshot.js';
import {
  DHCP_PORT,
  INST_A,
  INST_B,
  NET,
  PORT_A,
  PORT_B,
  SUBNET,
  snapshotNetwork,
  snapshotPort,
  snapshotSubnet,
} from '../helpers/snapshot.js';

const stateDir = '/var/lib/neutrino-test';
const owner = ownerTag(stateDir);

const network = snapshotNetwork;
const port = snapshotPort;

function snapshot(overrides: Partial<Snapshot> = {}): Snapshot {
  return {
    host: 'h1',
    revision: 7,
    dnsDomain: 'openstacklocal.',
    networks: [network()],
    subnets: [snapshotSubnet({ dns_nameservers: ['192.0.2.53'] })],
    ports: [
      port(DHCP_PORT, '10.0.0.2', 'fa:16:3e:00:00:02', { device_owner: 'network:dhcp' }),
      port(PORT_A, '10.0.0.11', 'FA:16:3E:00:00:11'),
      port(PORT_B, '10.0.0.12', 'fa:16:3e:00:00:12', { dns_name: 'web1' }),
    ],
    instances: [
      { id: INST_A, name: 'VM A_1', ports: [PORT_A] },
      { id: INST_B, name: 'vm-b', ports: [PORT_B] },
    ],
    physicalInterfaceMappings: {},
    ...overrides,
  };
}

describe('compile: linuxbridge layout', () => {
  it("lays out a vxlan network as Neutron's bridge, VXLAN device and veths", () => {
    const state = compile(snapshot(), { stateDir });
    assert.deepEqual(state.problems, []);
    assert.deepEqual(state.bridges, {
      'brq6f1b2c3d-4e': { mtu: 1450, alias: linkAlias('network', NET, owner), up: true },
    });
    assert.deepEqual(state.vxlans, {
      'vxlan-1001': {
        vni: 1001,
        dstport: 4789,
        local: null,
        dev: null,
        proxy: false,
        mtu: 1450,
        master: 'brq6f1b2c3d-4e',
        alias: linkAlias('network', NET, owner),
        up: true,
      },
    });
    assert.deepEqual(state.veths['tapaaaaaaaa-22'], {
      mtu: 1450,
      master: 'brq6f1b2c3d-4e',
      alias: `neutrino:port:${PORT_A}@${owner}`,
      up: true,
      peer: { netns: `inst-${INST_A}`, name: 'eth0', mac: 'fa:16:3e:00:00:11' },
    });
    assert.deepEqual(state.veths['tapd0d0d0d0-11'].peer, {
      netns: `qdhcp-${NET}`,
      name: 'ns-d0d0d0d0-11',
      mac: 'fa:16:3e:00:00:02',
    });
    assert.deepEqual(Object.keys(state.namespaces).sort(), [
      `inst-${INST_A}`,
      `inst-${INST_B}`,
      `qdhcp-${NET}`,
    ]);
    assert.deepEqual(state.dirs[`${stateDir}/dhcp/${NET}`], { netns: `qdhcp-${NET}` });
    assert.deepEqual(state.dirs[`${stateDir}/instances/${INST_A}`], { netns: `inst-${INST_A}` });
  });

  it('attaches the mapped interface of a flat network, and refuses what it cannot do', () => {
    const flat = '77777777-0000-4000-8000-000000000000';
    const unmapped = '88888888-0000-4000-8000-000000000000';
    const vlan = '99999999-0000-4000-8000-000000000000';
    const state = compile(
      snapshot({
        networks: [
          network(),
          network({ id: flat, network_type: 'flat', physical_network: 'ext', segmentation_id: null }),
          network({ id: unmapped, network_type: 'flat', physical_network: 'other', segmentation_id: null }),
          network({ id: vlan, network_type: 'vlan', physical_network: 'ext', segmentation_id: 10 }),
          network({ id: 'aaaaaaaa-0000-4000-8000-000000000000', segmentation_id: 1001 }),
        ],
        physicalInterfaceMappings: { ext: 'ens9' },
      }),
      { stateDir },
    );
    assert.deepEqual(state.uplinks, { ens9: { master: 'brq77777777-00' } });
    assert.deepEqual(
      state.problems.map((p) => p.object),
      [`network ${unmapped}`, `network ${vlan}`, 'network aaaaaaaa-0000-4000-8000-000000000000'],
    );
    assert.match(state.problems[1].message, /8021q/);
    assert.match(state.problems[2].message, /VNI 1001/);
    assert.ok(!state.bridges['brq99999999-00'], 'a refused network gets no bridge');
  });

  it('keeps a port down when it or its network is administratively down', () => {
    const state = compile(
      snapshot({ ports: [port(PORT_A, '10.0.0.11', 'fa:16:3e:00:00:11', { admin_state_up: false })] }),
      { stateDir },
    );
    assert.equal(state.veths['tapaaaaaaaa-22'].up, false);
    const down = compile(snapshot({ networks: [network({ admin_state_up: false })] }), { stateDir });
    assert.equal(down.veths['tapbbbbbbbb-33'].up, false);
    assert.equal(down.bridges['brq6f1b2c3d-4e'].up, true);
  });
});

describe('compile: DHCP', () => {
  const dir = `${stateDir}/dhcp/${NET}`;

  it("plumbs this host's DHCP port of several, and offers every DHCP server as a DNS server", () => {
    const other = 'd1d1d1d1-1111-4111-8111-111111111111';
    const state = compile(
      snapshot({
        subnets: [snapshotSubnet()],
        ports: [
          port(other, '10.0.0.3', 'fa:16:3e:00:00:03', {
            device_owner: 'network:dhcp',
            binding_host_id: 'h2',
          }),
          port(DHCP_PORT, '10.0.0.2', 'fa:16:3e:00:00:02', {
            device_owner: 'network:dhcp',
            binding_host_id: 'h1',
          }),
          port(PORT_A, '10.0.0.11', 'fa:16:3e:00:00:11'),
        ],
        instances: [{ id: INST_A, name: 'vm-a', ports: [PORT_A] }],
      }),
      { stateDir },
    );
    assert.equal(state.dhcpServers[NET].device, 'ns-d0d0d0d0-11');
    assert.deepEqual(state.namespaceLinks[`qdhcp-${NET}/ns-d0d0d0d0-11`]?.addresses, [
      '10.0.0.2/24',
      '169.254.169.254/32',
    ]);
    assert.ok(
      (state.files[`${dir}/opts`] as { content: string }).content.includes(
        `tag:subnet-${SUBNET},option:dns-server,10.0.0.2,10.0.0.3\n`,
      ),
    );
    const elsewhere = compile(
      snapshot({
        ports: [
          port(other, '10.0.0.3', 'fa:16:3e:00:00:03', {
            device_owner: 'network:dhcp',
            binding_host_id: 'h2',
          }),
        ],
        instances: [],
      }),
      { stateDir },
    );
    assert.equal(elsewhere.dhcpServers[NET], undefined, "another host's DHCP port is not plumbed here");
  });

  it("builds the DHCP namespace and dnsmasq's files and command line from the ports", () => {
    const state = compile(snapshot(), { stateDir });
    const ns = `qdhcp-${NET}`;
    assert.deepEqual(state.namespaceLinks[`${ns}/ns-d0d0d0d0-11`], {
      netns: ns,
      name: 'ns-d0d0d0d0-11',
      up: true,
      addresses: ['10.0.0.2/24', '169.254.169.254/32'],
    });
    assert.deepEqual(state.namespaceLinks[`${ns}/lo`], { netns: ns, name: 'lo', up: true });
    // The metadata proxy: haproxy on 169.254.169.254:80 stamping the network and source address,
    // forwarding to the agent's socket; DHCP routes the address to this port.
    const proxy = state.daemons[`haproxy ${ns}`];
    assert.deepEqual(proxy, {
      kind: 'haproxy',
      netns: ns,
      config: `${dir}/haproxy.cfg`,
      pidFile: `${dir}/haproxy.pid`,
      argv: ['/usr/sbin/haproxy', '-f', `${dir}/haproxy.cfg`],
    });
    const cfg = (state.files[`${dir}/haproxy.cfg`] as { content: string }).content;
    assert.match(cfg, /bind 169\.254\.169\.254:80\n/);
    assert.ok(cfg.includes(`http-request set-header X-Neutrino-Network-ID ${NET}\n`));
    assert.ok(
      cfg.includes('http-request set-header X-Forwarded-For %[src]\n'),
      'never what the instance sent',
    );
    assert.ok(cfg.includes(`server agent unix@${stateDir}/metadata.sock\n`));
    assert.deepEqual(state.files[`${dir}/host`], {
      content:
        'fa:16:3e:00:00:11,host-10-0-0-11.openstacklocal,10.0.0.11\n' +
        'fa:16:3e:00:00:12,web1.openstacklocal,10.0.0.12\n' +
        'fa:16:3e:00:00:02,host-10-0-0-2.openstacklocal,10.0.0.2\n',
      mode: 0o644,
    });
    assert.match((state.files[`${dir}/addn_hosts`] as { content: string }).content, /^10\.0\.0\.11\t/);
    assert.deepEqual((state.files[`${dir}/opts`] as { content: string }).content.split('\n'), [
      `tag:subnet-${SUBNET},option:dns-server,192.0.2.53`,
      `tag:subnet-${SUBNET},option:classless-static-route,169.254.169.254/32,10.0.0.2,0.0.0.0/0,10.0.0.1`,
      `tag:subnet-${SUBNET},249,169.254.169.254/32,10.0.0.2,0.0.0.0/0,10.0.0.1`,
      `tag:subnet-${SUBNET},option:router,10.0.0.1`,
      '',
    ]);
    const server = state.dhcpServers[NET];
    assert.equal(server.netns, ns);
    assert.equal(server.device, 'ns-d0d0d0d0-11');
    assert.equal(server.argv[0], 'dnsmasq');
    for (const arg of [
      `--dhcp-hostsfile=${dir}/host`,
      `--pid-file=${dir}/pid`,
      '--interface=ns-d0d0d0d0-11',
      `--dhcp-range=set:subnet-${SUBNET},10.0.0.0,static,255.255.255.0,86400s`,
      '--dhcp-option-force=option:mtu,1450',
      '--dhcp-lease-max=256',
      '--domain=openstacklocal',
    ])
      assert.ok(server.argv.includes(arg), arg);
    assert.deepEqual(server.leases, [
      { mac: 'fa:16:3e:00:00:11', ip: '10.0.0.11' },
      { mac: 'fa:16:3e:00:00:12', ip: '10.0.0.12' },
      { mac: 'fa:16:3e:00:00:02', ip: '10.0.0.2' },
    ]);
  });

  it('offers classless static routes with the default route repeated, and no router when gateway_ip is null', () => {
    const base = snapshot();
    const subnet = {
      ...base.subnets[0],
      gateway_ip: null,
      dns_nameservers: [],
      host_routes: [{ destination: '192.168.0.0/16', nexthop: '10.0.0.254' }],
    };
    const opts = compile({ ...base, subnets: [subnet] }, { stateDir }).files[`${dir}/opts`] as {
      content: string;
    };
    assert.deepEqual(opts.content.split('\n'), [
      `tag:subnet-${SUBNET},option:classless-static-route,192.168.0.0/16,10.0.0.254,169.254.169.254/32,10.0.0.2`,
      `tag:subnet-${SUBNET},249,192.168.0.0/16,10.0.0.254,169.254.169.254/32,10.0.0.2`,
      `tag:subnet-${SUBNET},option:router`,
      '',
    ]);
  });

  it('runs one udhcpc per instance interface, recording its lease under the instance', () => {
    const state = compile(snapshot(), { stateDir });
    const instDir = `${stateDir}/instances/${INST_A}`;
    const client = state.dhcpClients[`${INST_A}/eth0`];
    assert.equal(client.netns, `inst-${INST_A}`);
    assert.equal(client.pidFile, `${instDir}/udhcpc-eth0.pid`);
    assert.equal(client.leaseFile, `${instDir}/eth0.lease`);
    assert.equal(client.argv[0], `${stateDir}/bin/udhcpc`);
    assert.deepEqual(client.argv.slice(client.argv.indexOf('-x')), ['-x', 'hostname:vm-a-1']);
    assert.ok(client.argv.includes('-f'), 'udhcpc stays in the foreground of its detached process');
    assert.deepEqual(state.files[`${stateDir}/bin/udhcpc`], { symlink: '/bin/busybox' });
    const script = state.files[`${stateDir}/udhcpc.sh`] as { content: string; mode: number };
    assert.equal(script.mode, 0o755);
    assert.match(script.content, /link set dev \$interface mtu \$mtu/);
  });

  describe('dhclient -6 on networks with DHCPv6', () => {
    const SUBNET6 = '5e5e5e5e-0000-4000-8000-000000000006';
    const v6 = (mode: string, overrides: Record<string, unknown> = {}) =>
      snapshotSubnet({
        id: SUBNET6,
        ip_version: 6,
        cidr: '2001:db8:62::/64',
        gateway_ip: '2001:db8:62::1',
        ipv6_ra_mode: mode as 'slaac',
        ipv6_address_mode: mode as 'slaac',
        ...overrides,
      });
    const instDir = `${stateDir}/instances/${INST_A}`;

    it('runs a supervised dhclient -6 beside udhcpc (stateful), its files under the instance', () => {
      const base = snapshot();
      const state = compile({ ...base, subnets: [...base.subnets, v6('dhcpv6-stateful')] }, { stateDir });
      assert.deepEqual(state.problems, []);
      assert.ok(state.dhcpClients[`${INST_A}/eth0`], 'udhcpc still runs for IPv4');
      assert.deepEqual(state.dhcpClients[`${INST_A}/eth0/dhcpv6`], {
        netns: `inst-${INST_A}`,
        device: 'eth0',
        pidFile: `${instDir}/dhclient6-eth0.pid`,
        leaseFile: `${instDir}/eth0.lease6`,
        leaseDb: `${instDir}/dhclient6-eth0.leases`,
        dhcpv6: 'stateful',
        argv: [
          '/usr/sbin/dhclient',
          '-6',
          '-d',
          '-q',
          '-D',
          'LL',
          '-cf',
          `${stateDir}/dhclient6.conf`,
          '-sf',
          `${stateDir}/dhclient6.sh`,
          '-pf',
          `${instDir}/dhclient6-eth0.pid`,
          '-lf',
          `${instDir}/dhclient6-eth0.leases`,
          '-e',
          `NEUTRINO_LEASE_FILE=${instDir}/eth0.lease6`,
          'eth0',
        ],
      });
      const script = state.files[`${stateDir}/dhclient6.sh`] as { content: string; mode: number };
      assert.equal(script.mode, 0o755);
      assert.match(script.content, /BOUND6\|RENEW6\|REBIND6\|REBOOT6\)/);
      assert.match(script.content, /ip -6 addr replace "\$new_ip6_address\/\$new_ip6_prefixlen"/);
      assert.doesNotMatch(script.content, /resolv\.conf|\/etc\//, "nothing of the host's /etc");
      const config = state.files[`${stateDir}/dhclient6.conf`] as { content: string; mode: number };
      assert.match(config.content, /^request dhcp6\.name-servers, dhcp6\.domain-search;$/m);
      assert.doesNotMatch(config.content, /host-name/);
    });

    it('asks for information only on a stateless network (-S); none for SLAAC, without DHCP or on a port down', () => {
      const base = snapshot();
      const stateless = compile({ ...base, subnets: [...base.subnets, v6('dhcpv6-stateless')] }, { stateDir })
        .dhcpClients[`${INST_A}/eth0/dhcpv6`];
      assert.equal(stateless.dhcpv6, 'stateless');
      assert.deepEqual(stateless.argv.slice(0, 4), ['/usr/sbin/dhclient', '-6', '-S', '-d']);
      for (const subnets of [
        [...base.subnets, v6('slaac')],
        [...base.subnets, v6('dhcpv6-stateful', { enable_dhcp: false })],
      ]) {
        const state = compile({ ...base, subnets }, { stateDir });
        assert.deepEqual(Object.keys(state.dhcpClients).sort(), [`${INST_A}/eth0`, `${INST_B}/eth0`]);
        assert.equal(state.files[`${stateDir}/dhclient6.sh`], undefined);
      }
      const noDhcpPort = compile(
        {
          ...base,
          subnets: [...base.subnets, v6('dhcpv6-stateful')],
          ports: base.ports.filter((p) => p.device_owner !== 'network:dhcp'),
        },
        { stateDir },
      );
      assert.deepEqual(noDhcpPort.dhcpClients, {}, 'no DHCP server here or elsewhere');
      const down = compile(
        {
          ...base,
          subnets: [...base.subnets, v6('dhcpv6-stateful')],
          ports: base.ports.map((p) => (p.id === PORT_A ? { ...p, admin_state_up: false } : p)),
        },
        { stateDir },
      );
      assert.ok(!down.dhcpClients[`${INST_A}/eth0/dhcpv6`], 'an admin-down port: no link-local to bind to');
      assert.ok(down.dhcpClients[`${INST_B}/eth0/dhcpv6`]);
    });

    it('on an IPv6-only stateful network: dhclient -6 alone, the interface kept up by the agent', () => {
      const base = snapshot();
      const state = compile(
        {
          ...base,
          subnets: [v6('dhcpv6-stateful')],
          ports: [
            port(DHCP_PORT, '2001:db8:62::2', 'fa:16:3e:00:00:02', {
              device_owner: 'network:dhcp',
              fixed_ips: [{ subnet_id: SUBNET6, ip_address: '2001:db8:62::2' }],
            }),
            port(PORT_A, '2001:db8:62::11', 'fa:16:3e:00:00:11', {
              fixed_ips: [{ subnet_id: SUBNET6, ip_address: '2001:db8:62::11' }],
            }),
          ],
          instances: [{ id: INST_A, name: 'a', ports: [PORT_A] }],
        },
        { stateDir },
      );
      assert.deepEqual(Object.keys(state.dhcpClients), [`${INST_A}/eth0/dhcpv6`]);
      assert.equal(state.dhcpClients[`${INST_A}/eth0/dhcpv6`].dhcpv6, 'stateful');
      assert.equal(state.namespaceLinks[`inst-${INST_A}/eth0`]?.up, true);
    });
  });

  it('has no DHCP service or clients without a DHCP-enabled subnet or a DHCP port', () => {
    const base = snapshot();
    for (const s of [
      { ...base, subnets: [{ ...base.subnets[0], enable_dhcp: false }] },
      { ...base, ports: base.ports.filter((p) => p.device_owner !== 'network:dhcp') },
    ]) {
      const state = compile(s, { stateDir });
      assert.deepEqual(state.dhcpServers, {});
      assert.deepEqual(state.dhcpClients, {});
      assert.ok(!state.namespaces[`qdhcp-${NET}`]);
      assert.equal(Object.keys(state.veths).length, 2, 'instances are still plugged');
    }
  });

  it('refuses input that would inject into ip batches or dnsmasq files', () => {
    const base = snapshot();
    const state = compile(
      {
        ...base,
        ports: [
          ...base.ports,
          port('evil-1', '10.0.0.20', 'fa:16:3e:00:00:20', { dns_name: 'x\ndhcp-option=3,6.6.6.6' }),
          port('evil 2', '10.0.0.21', 'fa:16:3e:00:00:21'),
          port('evil-3', '10.0.0.22', 'not-a-mac'),
          port('evil-4', '10.9.9.9', 'fa:16:3e:00:00:23'),
        ],
        subnets: [...base.subnets, { ...base.subnets[0], id: 'bad-subnet', gateway_ip: '1.2.3.4\nx' }],
      },
      { stateDir },
    );
    assert.deepEqual(
      state.problems.map((p) => p.object),
      ['subnet bad-subnet', 'port evil 2', 'port evil-1', 'port evil-3', 'port evil-4'],
    );
    // The host snapshot's schema says which field is wrong.
    assert.deepEqual(
      state.problems.slice(1).map((p) => p.message),
      [
        'invalid id "evil 2"',
        'invalid dns_name "x\\ndhcp-option=3,6.6.6.6"',
        'invalid mac_address "not-a-mac"',
        'address 10.9.9.9 is not in 10.0.0.0/24',
      ],
    );
    const hosts = (state.files[`${dir}/host`] as { content: string }).content;
    assert.equal(hosts.split('\n').length, 4, 'only the three valid ports');
  });
});

describe('compile: names', () => {
  const id = fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/);

  it('makes link names of at most 15 characters and valid namespace names, for any usable id', () => {
    fc.assert(
      fc.property(id, id, id, id, fc.integer({ min: 1, max: 2 ** 24 - 1 }), (net, dhcp, vm, inst, vni) => {
        fc.pre(new Set([dhcp.slice(0, 11), vm.slice(0, 11)]).size === 2);
        const s = snapshot({
          networks: [network({ id: net, segmentation_id: vni })],
          subnets: [{ ...snapshot().subnets[0], network_id: net }],
          ports: [
            port(dhcp, '10.0.0.2', 'fa:16:3e:00:00:02', { device_owner: 'network:dhcp', network_id: net }),
            port(vm, '10.0.0.11', 'fa:16:3e:00:00:11', { network_id: net }),
          ],
          instances: [{ id: inst, name: 'x', ports: [vm] }],
        });
        const state = compile(s, { stateDir });
        assert.deepEqual(state.problems, []);
        const links = [
          ...Object.keys(state.bridges),
          ...Object.keys(state.vxlans),
          ...Object.entries(state.veths).flatMap(([name, v]) => [name, v.peer.name ?? '']),
        ];
        assert.equal(links.length, 6);
        for (const name of links) assert.ok(name.length >= 1 && name.length <= 15, name);
        for (const name of Object.keys(state.namespaces)) assertNamespaceName(name);
      }),
    );
  });

  it('reports two ports whose ids share their first 11 characters instead of mixing them up', () => {
    const state = compile(
      snapshot({
        ports: [
          port('same-prefix-1', '10.0.0.11', 'fa:16:3e:00:00:11'),
          port('same-prefix-2', '10.0.0.12', 'fa:16:3e:00:00:12'),
        ],
        instances: [{ id: INST_A, name: 'a', ports: ['same-prefix-1', 'same-prefix-2'] }],
      }),
      { stateDir },
    );
    assert.deepEqual(Object.keys(state.veths), ['tapsame-prefix']);
    assert.match(state.problems[0].message, /tapsame-prefix is taken/);
  });

  it('does not depend on the order of the snapshot', () => {
    const s = snapshot();
    const reversed = {
      ...s,
      ports: [...s.ports].reverse(),
      instances: [...s.instances].reverse(),
      networks: [...s.networks].reverse(),
    };
    assert.deepEqual(compile(reversed, { stateDir }), compile(s, { stateDir }));
  });
});

describe('L2 driver registry', () => {
  it('gives the default driver and refuses an unknown name, naming the known ones', () => {
    assert.equal(l2Driver(), L2_DRIVERS.linuxbridge);
    assert.equal(l2Driver('linuxbridge'), L2_DRIVERS.linuxbridge);
    assert.throws(() => l2Driver('ovs-typo'), /unknown L2 driver ovs-typo: one of linuxbridge/);
    assert.throws(() => l2Driver('toString'), /unknown L2 driver toString/);
  });
});
