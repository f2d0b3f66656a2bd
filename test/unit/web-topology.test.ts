import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseSse } from '../../web/src/api/change-feed.js';
import { affectedBy, COLLECTION_KEYS, type Collections } from '../../web/src/api/resources.js';
import { buildTopology, SIZES, wrappedLines } from '../../web/src/topology/graph.js';
import { projectView } from '../../web/src/topology/project-view.js';

const id = (n: number) => `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`;
const PROJECT = id(999);
const base = { project_id: PROJECT, admin_state_up: true, status: 'ACTIVE' };

function network(n: number, name: string, extra: Record<string, unknown> = {}) {
  return { ...base, id: id(n), name, shared: false, subnets: [], ...extra };
}
function subnet(n: number, network: number, cidr: string) {
  return {
    project_id: PROJECT,
    id: id(n),
    name: '',
    network_id: id(network),
    cidr,
    ip_version: 4,
    gateway_ip: cidr.replace(/0\/\d+$/, '1'),
    enable_dhcp: true,
  };
}
function port(
  n: number,
  network: number,
  ip: string,
  owner = '',
  device = '',
  extra: Record<string, unknown> = {},
) {
  return {
    ...base,
    id: id(n),
    name: '',
    network_id: id(network),
    mac_address: 'fa:16:3e:00:00:01',
    fixed_ips: [{ subnet_id: id(0), ip_address: ip }],
    device_owner: owner,
    device_id: device,
    ...extra,
  };
}

/** public (external) ← r1 → net1, net2; vm1 on net1 with a floating IP; vm2 on net1 and net2. */
function small(): Partial<Collections> {
  return {
    networks: [
      network(1, 'public', { 'router:external': true }),
      network(2, 'net1'),
      network(3, 'net2', { admin_state_up: false, status: 'DOWN' }),
    ],
    subnets: [subnet(11, 1, '203.0.113.0/24'), subnet(12, 2, '10.0.0.0/24'), subnet(13, 3, '10.0.1.0/24')],
    routers: [
      {
        ...base,
        id: id(20),
        name: 'r1',
        external_gateway_info: {
          network_id: id(1),
          external_fixed_ips: [{ subnet_id: id(11), ip_address: '203.0.113.5' }],
        },
      },
    ],
    ports: [
      port(30, 1, '203.0.113.5', 'network:router_gateway', id(20)),
      port(31, 2, '10.0.0.1', 'network:router_interface', id(20)),
      port(32, 3, '10.0.1.1', 'network:router_interface', id(20)),
      port(33, 2, '10.0.0.2', 'network:dhcp', 'dhcp'),
      port(34, 2, '10.0.0.10', 'compute:nova', id(40)),
      port(35, 2, '10.0.0.11', 'compute:nova', id(41), { status: 'DOWN' }),
      port(36, 3, '10.0.1.11', 'compute:nova', id(41), { admin_state_up: false, status: 'DOWN' }),
      port(37, 3, '10.0.1.50', '', '', { name: 'spare', status: 'DOWN' }),
      port(38, 1, '203.0.113.7', 'network:floatingip', id(50)),
    ],
    instances: [
      {
        id: id(40),
        name: 'vm1',
        project_id: PROJECT,
        status: 'ACTIVE',
        host: 'h',
        fault: null,
        ports: [port(34, 2, '10.0.0.10')],
      },
      {
        id: id(41),
        name: 'vm2',
        project_id: PROJECT,
        status: 'ACTIVE',
        host: 'h',
        fault: null,
        ports: [port(35, 2, '10.0.0.11'), port(36, 3, '10.0.1.11')],
      },
    ],
    floatingips: [
      {
        id: id(50),
        project_id: PROJECT,
        status: 'ACTIVE',
        floating_ip_address: '203.0.113.7',
        floating_network_id: id(1),
        router_id: id(20),
        port_id: id(34),
        fixed_ip_address: '10.0.0.10',
      },
    ],
  } as Partial<Collections>;
}

describe('buildTopology', () => {
  it('draws networks as cards with their subnets, DHCP and a chip per interface or port', () => {
    const t = buildTopology(small());
    assert.deepEqual(
      t.cards.map((c) => c.name),
      ['public', 'net1', 'net2'],
      'external networks first, then by name',
    );
    const [pub, net1, net2] = t.cards;
    assert.equal(pub.external, true);
    assert.deepEqual(
      pub.chips.map((c) => [c.title, c.detail]),
      [['203.0.113.7', 'FIP → vm1 10.0.0.10']],
    );
    assert.deepEqual(
      net1.subnets.map((s) => s.label),
      ['10.0.0.0/24 · gw 10.0.0.1'],
    );
    assert.deepEqual(net1.dhcp, ['10.0.0.2']);
    assert.deepEqual(
      net1.chips.map((c) => [c.title, c.detail, c.status, c.flags, c.floating]),
      [
        ['vm1', '10.0.0.10', 'ACTIVE', [], ['203.0.113.7']],
        ['vm2 · eth0', '10.0.0.11', 'ACTIVE', ['port DOWN'], undefined],
      ],
    );
    assert.deepEqual(
      net2.chips.map((c) => [c.title, c.select.kind, c.flags]),
      [
        ['vm2 · eth1', 'instances', ['admin down']],
        ['spare', 'ports', []],
      ],
    );
    assert.equal(net2.adminDown, true);
    assert.equal(t.objects, 3 + 3 + 1 + 5);
  });

  it('draws router gateways and interfaces as lines labelled with their addresses', () => {
    const t = buildTopology(small());
    assert.deepEqual(
      t.routers.map((r) => [r.name, r.gateway]),
      [['r1', '203.0.113.5']],
    );
    assert.deepEqual(
      t.edges.map((e) => [e.kind, e.source, e.target, e.label]),
      [
        ['gateway', id(1), id(20), '203.0.113.5'],
        ['interface', id(20), id(2), '10.0.0.1'],
        ['interface', id(20), id(3), '10.0.1.1'],
      ],
    );
    assert.deepEqual(t.spacers, []);
  });

  it('wraps the networks under a router into rows', () => {
    const data = small();
    for (let i = 0; i < 8; i++) {
      data.networks!.push(network(100 + i, `n${i}`));
      data.ports!.push(port(200 + i, 100 + i, `10.9.${i}.1`, 'network:router_interface', id(20)));
    }
    const t = buildTopology(data);
    // 10 networks: rows of 4, each network below the one a row before it.
    assert.equal(t.spacers.length, 6);
    assert.ok(t.spacers.every((s) => t.cards.some((c) => c.id === s.source)));
  });

  it('keeps the layout key when only a status changes, not when a box comes or goes', () => {
    const a = buildTopology(small());
    const changed = small();
    changed.instances![0].status = 'ERROR';
    changed.networks![1].status = 'DOWN';
    assert.equal(buildTopology(changed).layoutKey, a.layoutKey);
    changed.networks!.push(network(60, 'more'));
    assert.notEqual(buildTopology(changed).layoutKey, a.layoutKey);
  });

  it('names the project of each object when asked to', () => {
    const t = buildTopology(small(), { projects: new Map([[PROJECT, 'demo']]) });
    assert.equal(t.cards[1].project, 'demo');
    assert.equal(t.cards[1].meta, 'demo');
    assert.equal(t.routers[0].project, 'demo');
    assert.equal(buildTopology(small()).cards[1].meta, '');
  });
});

describe('topology text and hosts', () => {
  it('counts wrapped lines as the browser breaks them: between words, inside an overlong word', () => {
    assert.equal(wrappedLines('web', 100, 10), 1);
    assert.equal(wrappedLines('ten chars!', 100, 10), 1);
    assert.equal(wrappedLines('ten chars! more', 100, 10), 2);
    assert.equal(wrappedLines('a'.repeat(25), 100, 10), 3);
    assert.equal(wrappedLines('ab ' + 'a'.repeat(25), 100, 10), 4);
    assert.equal(wrappedLines('', 100, 10), 1);
  });

  it('makes boxes tall enough for long names instead of cutting them off', () => {
    const data = small();
    const long = 'a-network-with-a-name-far-longer-than-any-card-is-wide-'.repeat(3);
    data.networks![1].name = long;
    data.routers![0].name = long;
    data.instances![0].name = long;
    const short = buildTopology(small());
    const t = buildTopology(data);
    assert.equal(t.cards[1].name, long);
    assert.ok(t.cards[1].nameLines > 1);
    assert.ok(t.cards[1].height > short.cards[1].height);
    assert.ok(t.cards[1].chipH > short.cards[1].chipH);
    assert.ok(t.routers[0].height > short.routers[0].height);
    assert.ok(short.cards[1].chipH >= SIZES.chipH);
    assert.notEqual(t.layoutKey, short.layoutKey);
  });

  it('shows the host of each instance, router and DHCP server', () => {
    const data = small();
    for (const p of data.ports!)
      if (p.device_owner === 'network:dhcp' || p.device_id === id(20)) p['binding:host_id'] = 'net-host';
    const t = buildTopology(data);
    assert.deepEqual(t.cards[1].dhcp, ['10.0.0.2 (net-host)']);
    assert.deepEqual(t.routers[0].hosts, ['net-host']);
    assert.equal(t.routers[0].meta, 'gw 203.0.113.5 · on net-host');
    assert.equal(t.cards[1].chips[0].host, 'h');
  });

  it('narrows to a project, keeping external networks with their subnets', () => {
    const data = small();
    const other = id(998);
    data.networks![0].project_id = other;
    data.subnets![0].project_id = other;
    data.networks!.push(network(70, 'theirs', { project_id: other }));
    data.subnets!.push({ ...subnet(71, 70, '10.7.0.0/24'), project_id: other });
    const view = projectView(data, PROJECT);
    assert.deepEqual(
      view.networks!.map((n) => n.name),
      ['public', 'net1', 'net2'],
    );
    assert.deepEqual(
      view.subnets!.map((s) => s.cidr),
      ['203.0.113.0/24', '10.0.0.0/24', '10.0.1.0/24'],
    );
    assert.equal(buildTopology(view).cards[0].subnets[0].label, '203.0.113.0/24 · gw 203.0.113.1');
  });
});

describe('parseSse', () => {
  it('splits complete events and keeps the rest', () => {
    const { events, rest } = parseSse(
      'retry: 1000\n\n: keepalive\n\nid: 7\nevent: change\ndata: {"a":1}\n\nid: 8\r\nevent: change\r\ndata: x\r\ndata: y\r\n\r\nid: 9\nda',
    );
    assert.deepEqual(events, [
      { id: '7', event: 'change', data: '{"a":1}' },
      { id: '8', event: 'change', data: 'x\ny' },
    ]);
    assert.equal(rest, 'id: 9\nda');
  });
});

describe('affectedBy', () => {
  it('rereads what a change to a table can touch', () => {
    assert.deepEqual(affectedBy('ports'), ['ports', 'instances', 'floatingips']);
    assert.deepEqual(affectedBy('security_group_rules'), ['security_groups', 'security_group_rules']);
    assert.deepEqual(affectedBy('floatingips'), ['floatingips']);
    assert.deepEqual(affectedBy('something_new'), COLLECTION_KEYS);
  });
});
