/**
 * Topology files without a server: schema errors located at file:line:col with the field's path,
 * reference problems, the published JSON Schema equal to the TypeBox one, every example valid;
 * and plans: creates in dependency order with refs, no changes once the API holds the file,
 * updates, replaced instances keeping their floating IP, rule diffs, objects the file does not
 * own left alone (or refused), and destroy in dependency order.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { addressProblem, cidrProblem } from '../../src/cli/topology/check-addresses.js';
import { waitForInstances } from '../../src/cli/topology/execute.js';
import { loadTopology, parseTopology, TopologyError } from '../../src/cli/topology/load.js';
import {
  type Current,
  computePlan,
  destroyPlan,
  formatPlan,
  PlanError,
  type Row,
} from '../../src/cli/topology/plan.js';
import { publishedSchemaText } from '../../src/cli/topology/schema.js';
import type { Session } from '../../src/client/session.js';

const root = join(import.meta.dirname, '..', '..');
const OWNER = 'neutrino-topology:t';

function problems(text: string): string[] {
  try {
    parseTopology('t.yaml', text);
  } catch (err) {
    assert.ok(err instanceof TopologyError, String(err));
    return err.problems;
  }
  assert.fail('expected problems');
}

describe('topology files', () => {
  it('locates schema errors at file:line:col with the field path', () => {
    const text = [
      'projects:', //                                   1
      '  shop:', //                                     2
      '    networks:', //                               3
      '      web:', //                                  4
      '        mtu: 12', //                             5
      '        subnets:', //                            6
      '          web-v4: {cidr: 10.0.0.0/24, gatway: 10.0.0.1}', // 7
      '          db-v4: {cidr: nonsense}', //           8
      '    security_groups:', //                        9
      '      web:', //                                  10
      '        rules:', //                              11
      '          - {protocol: tcp, port: eighty}', //   12
      '    instances:', //                              13
      '      vm1: {}', //                               14
    ].join('\n');
    assert.deepEqual(problems(text), [
      't.yaml:5:14: projects.shop.networks.web.mtu: must be >= 68',
      't.yaml:7:39: projects.shop.networks.web.subnets.web-v4.gatway: unknown property',
      't.yaml:8:25: projects.shop.networks.web.subnets.db-v4.cidr: must be a CIDR, e.g. 10.0.0.0/24',
      't.yaml:12:35: projects.shop.security_groups.web.rules.0.port: must be a port (80) or a range ("8000-8080")',
      't.yaml:14:12: projects.shop.instances.vm1: missing required property networks',
    ]);
  });

  it('reports YAML errors and problems the schema cannot see', () => {
    assert.match(problems('projects:\n  a: {}\n  a: {}\n')[0], /^t\.yaml:3:3: Map keys must be unique/);
    assert.deepEqual(problems('{}'), ['t.yaml:1:1: (top): missing required property projects']);
    const text = [
      'projects:',
      '  p:',
      '    networks:',
      '      a: {subnets: {s: {cidr: 10.0.0.0/24}}}',
      '      b: {subnets: {s: {cidr: 10.0.1.0/24}}}',
      '    security_groups:',
      '      default: {}',
      '    instances:',
      '      vm: {networks: [a]}',
      '    floating_ips:',
      '      - {instance: vm, network: public, interface: b}',
      '      - {instance: nope, network: public}',
    ].join('\n');
    assert.deepEqual(problems(text), [
      't.yaml:5:21: projects.p.networks.b.subnets.s: subnet s is also declared on network a: subnet names must be unique in a project',
      "t.yaml:7:7: projects.p.security_groups.default: the default group is Neutron's own: refer to it, do not declare it",
      't.yaml:11:52: projects.p.floating_ips.0.interface: instance vm has no interface on network b',
      't.yaml:12:20: projects.p.floating_ips.1.instance: no instance nope in project p',
    ]);
  });

  it('names a topology by its name: or its file', () => {
    assert.equal(parseTopology('dir/lab.yaml', 'projects: {}').name, 'lab');
    assert.equal(parseTopology('dir/lab.yaml', 'name: other\nprojects: {}').name, 'other');
    assert.match(problems('name: "a/b"\nprojects: {}')[0], /t\.yaml:1:7: name: must be 1-42 letters/);
  });

  it('publishes the JSON Schema it validates with', () => {
    assert.equal(readFileSync(join(root, 'docs', 'topology.schema.json'), 'utf8'), publishedSchemaText());
  });

  it('accepts every example', () => {
    for (const example of ['two-tier', 'overlapping-tenants', 'routed-lab'])
      assert.equal(loadTopology(join(root, 'examples', `${example}.yaml`)).name, example);
  });
});

// ---- plans ----

const empty = (): Current => ({
  projects: [{ id: 'admin-p', name: 'admin', description: '' }],
  networks: [{ id: 'pub', name: 'public', project_id: 'admin-p', 'router:external': true, tags: [] }],
  subnets: [],
  securityGroups: [],
  routers: [],
  routerPorts: [],
  instances: [],
  ports: [],
  floatingIps: [],
});

const FILE = `
name: t
projects:
  shop:
    description: Shop
    networks:
      web:
        mtu: 1450
        subnets:
          web-v4: {cidr: 10.1.0.0/24}
    routers:
      r1: {external_gateway: public, interfaces: [web-v4]}
    security_groups:
      web:
        rules:
          - {protocol: tcp, port: 80}
          - {protocol: tcp, port: 443, remote_group: web}
    instances:
      vm1: {networks: [web], security_groups: [web]}
    floating_ips:
      - {instance: vm1, network: public}
`;

const plan = (text: string, current: Current) => computePlan(parseTopology('t.yaml', text), current);
const lines = (text: string, current: Current) => formatPlan(plan(text, current)).trimEnd().split('\n');

/** What the API holds after applying FILE (as the server would answer). */
function applied(): Current {
  const tags = [OWNER];
  const rule = (id: string, extra: Partial<Row>): Row => ({
    id,
    direction: 'ingress',
    ethertype: 'IPv4',
    protocol: 'tcp',
    port_range_min: null,
    port_range_max: null,
    remote_ip_prefix: null,
    normalized_cidr: null,
    remote_group_id: null,
    description: '',
    ...extra,
  });
  const egress = (id: string, ethertype: string) =>
    rule(id, { direction: 'egress', ethertype, protocol: null });
  return {
    ...empty(),
    projects: [...empty().projects, { id: 'shop-p', name: 'shop', description: `Shop [${OWNER}]` }],
    networks: [
      ...empty().networks,
      {
        id: 'web-n',
        name: 'web',
        project_id: 'shop-p',
        tags,
        description: '',
        admin_state_up: true,
        shared: false,
        'router:external': false,
        port_security_enabled: true,
        mtu: 1450,
        'provider:network_type': 'vxlan',
      },
    ],
    subnets: [
      {
        id: 'web-s',
        name: 'web-v4',
        project_id: 'shop-p',
        tags,
        network_id: 'web-n',
        cidr: '10.1.0.0/24',
        description: '',
        enable_dhcp: true,
        dns_nameservers: [],
        host_routes: [],
        gateway_ip: '10.1.0.1',
        ipv6_ra_mode: null,
        ipv6_address_mode: null,
      },
    ],
    securityGroups: [
      { id: 'def-g', name: 'default', project_id: 'shop-p', tags: [], security_group_rules: [] },
      {
        id: 'web-g',
        name: 'web',
        project_id: 'shop-p',
        tags,
        description: '',
        security_group_rules: [
          egress('e4', 'IPv4'),
          egress('e6', 'IPv6'),
          rule('r80', { port_range_min: 80, port_range_max: 80 }),
          rule('r443', { port_range_min: 443, port_range_max: 443, remote_group_id: 'web-g' }),
        ],
      },
    ],
    routers: [
      {
        id: 'r1',
        name: 'r1',
        project_id: 'shop-p',
        tags,
        description: '',
        admin_state_up: true,
        routes: [],
        external_gateway_info: { network_id: 'pub', enable_snat: true, external_fixed_ips: [] },
      },
    ],
    routerPorts: [{ id: 'rp', device_id: 'r1', fixed_ips: [{ subnet_id: 'web-s', ip_address: '10.1.0.1' }] }],
    instances: [
      {
        id: 'vm1',
        name: 'vm1',
        project_id: 'shop-p',
        ports: [{ id: 'p1', network_id: 'web-n', fixed_ips: [{ ip_address: '10.1.0.5' }] }],
      },
    ],
    ports: [{ id: 'p1', project_id: 'shop-p', tags, security_groups: ['web-g'], device_id: 'vm1' }],
    floatingIps: [
      {
        id: 'f1',
        project_id: 'shop-p',
        tags,
        floating_network_id: 'pub',
        floating_ip_address: '203.0.113.5',
        port_id: 'p1',
        description: '',
      },
    ],
  };
}

describe('topology plans', () => {
  it('creates everything in dependency order, referring to what earlier steps make', () => {
    const p = plan(FILE, empty());
    assert.deepEqual(formatPlan(p).trimEnd().split('\n'), [
      '+ project shop',
      '+ network shop/web',
      '+ subnet shop/web-v4',
      '+ security group shop/web',
      '+ rule shop/web ingress IPv4 tcp 80',
      '+ rule shop/web ingress IPv4 tcp 443 from group shop/web',
      '+ router shop/r1',
      '+ router interface shop/r1 ↔ web-v4',
      '+ instance shop/vm1',
      '+ floating IP shop/vm1 (public)',
      '10 to create, 0 to change, 0 to delete',
    ]);
    const by = (name: string) => p.steps.find((s) => s.name === name)!;
    assert.deepEqual(by('shop/web').body, {
      name: 'web',
      project_id: { $ref: 'project:shop/shop' },
      tags: [OWNER],
      mtu: 1450,
    });
    assert.deepEqual(by('shop/r1').body?.external_gateway_info, { network_id: 'pub' });
    assert.deepEqual(by('shop/vm1').body?.nics, [
      { network: { $ref: 'network:shop/web' }, security_groups: [{ $ref: 'security_group:shop/web' }] },
    ]);
    assert.deepEqual(by('shop/vm1 (public)').body?.port_id, { $ref: 'port:shop/vm1#0' });
    assert.equal(by('shop').body?.description, `Shop [${OWNER}]`);
  });

  it('has nothing to do once the API holds the file', () => {
    assert.deepEqual(plan(FILE, applied()).steps, []);
    assert.equal(formatPlan(plan(FILE, applied())), 'no changes\n');
  });

  it('changes what can change, replaces instances whose interfaces differ, keeps their floating IP', () => {
    const text = FILE.replace('mtu: 1450', 'mtu: 1400')
      .replace('{protocol: tcp, port: 80}', '{protocol: udp, port: 53}')
      .replace(
        'vm1: {networks: [web], security_groups: [web]}',
        'vm1: {networks: [web], security_groups: [default]}',
      );
    assert.deepEqual(lines(text, applied()), [
      '- instance shop/vm1: replaced: eth0 security groups change',
      '- rule shop/web ingress IPv4 tcp 80',
      '~ network shop/web: mtu: 1450 → 1400',
      '+ rule shop/web ingress IPv4 udp 53',
      '+ instance shop/vm1',
      '~ floating IP shop/vm1 (public): port_id: "p1" → (new port:shop/vm1#0)',
      '2 to create, 2 to change, 2 to delete',
    ]);
    const replaced = plan(text, applied()).steps.find((s) => s.op === 'delete' && s.kind === 'instance');
    assert.deepEqual(replaced?.extra, { ports: ['p1'] });
  });

  it('removes routes before interfaces and adds them after', () => {
    const withRoute = applied();
    withRoute.routers[0].routes = [{ destination: '10.9.0.0/16', nexthop: '10.1.0.9' }];
    const text = FILE.replace('interfaces: [web-v4]}', 'interfaces: []}');
    assert.deepEqual(lines(text, withRoute), [
      '- router routes shop/r1: 10.9.0.0/16 via 10.1.0.9',
      '- router interface shop/r1 ↔ web-v4',
      '0 to create, 0 to change, 2 to delete',
    ]);
    const more = FILE.replace(
      'interfaces: [web-v4]}',
      'interfaces: [web-v4], routes: [{destination: 10.8.0.0/16, nexthop: 10.1.0.8}]}',
    );
    assert.deepEqual(lines(more, applied()), [
      '+ router routes shop/r1: 10.8.0.0/16 via 10.1.0.8',
      '1 to create, 0 to change, 0 to delete',
    ]);
  });

  it('refuses objects of the same name the file does not own, and fixed attributes', () => {
    const foreign = applied();
    foreign.networks[1].tags = [];
    assert.throws(
      () => plan(FILE, foreign),
      (err: unknown) =>
        err instanceof PlanError &&
        err.problems.includes(
          't.yaml:8:9: projects.shop.networks.web: network web exists in project shop and is not managed by this file (tag neutrino-topology:t)',
        ),
    );
    assert.throws(
      () => plan(FILE.replace('10.1.0.0/24', '10.2.0.0/24'), applied()),
      /cidr cannot change \("10\.1\.0\.0\/24" → "10\.2\.0\.0\/24"\)/,
    );
    assert.throws(
      () => plan(FILE.replace('network: public', 'network: nowhere'), applied()),
      /t\.yaml:21:\d+: projects\.shop\.floating_ips\.0\.network: no network nowhere/,
    );
  });

  it('destroys exactly what the file owns, in dependency order', () => {
    const current = applied();
    current.networks.push({ id: 'x', name: 'mine-too', project_id: 'shop-p', tags: ['other'] });
    assert.deepEqual(formatPlan(destroyPlan('t', current)).trimEnd().split('\n'), [
      '- floating IP shop/203.0.113.5',
      '- instance shop/vm1',
      '- router interface shop/r1 ↔ web-v4',
      '- router shop/r1',
      '- subnet shop/web-v4',
      '- network shop/web',
      '- security group shop/web',
      '- project shop',
      '0 to create, 0 to change, 8 to delete',
    ]);
    assert.deepEqual(destroyPlan('someone-else', current).steps, []);
  });
});

describe('waiting for instances', () => {
  /** A session whose instances go BUILD → BUILD/ACTIVE → ACTIVE, one step per listing. */
  function fakeSession(statuses: string[][]): Session {
    let call = 0;
    const get = async (path: string) => {
      if (path.startsWith('/v2.0/ports'))
        return {
          ports: [
            { id: 'p1', device_id: 'i1' },
            { id: 'p2', device_id: 'i2' },
          ],
        };
      const now = statuses[Math.min(call++, statuses.length - 1)];
      return {
        instances: now.map((status, i) => ({ id: `i${i + 1}`, name: `vm${i + 1}`, status, fault: null })),
      };
    };
    return { get } as unknown as Session;
  }
  const steps = [
    ['BUILD', 'BUILD'],
    ['ACTIVE', 'BUILD'],
    ['ACTIVE', 'ACTIVE'],
  ];

  it('updates one line on a terminal', async () => {
    let out = '';
    await waitForInstances(fakeSession(steps), OWNER, {
      timeoutMs: 5000,
      tty: true,
      write: (t) => (out += t),
    });
    assert.equal(
      out,
      '\r\x1b[Kinstances: 0/2 ACTIVE (waiting for vm1 BUILD, vm2 BUILD)' +
        '\r\x1b[Kinstances: 1/2 ACTIVE (waiting for vm2 BUILD)\r\x1b[Kinstances: 2/2 ACTIVE\n',
    );
  });

  it('prints a line per change otherwise, nothing when all are ACTIVE, and fails on ERROR', async () => {
    let out = '';
    await waitForInstances(fakeSession(steps), OWNER, {
      timeoutMs: 5000,
      tty: false,
      write: (t) => (out += t),
    });
    assert.deepEqual(out.trimEnd().split('\n'), [
      'instances: 0/2 ACTIVE (waiting for vm1 BUILD, vm2 BUILD)',
      'instances: 1/2 ACTIVE (waiting for vm2 BUILD)',
      'instances: 2/2 ACTIVE',
    ]);
    out = '';
    await waitForInstances(fakeSession([['ACTIVE', 'ACTIVE']]), OWNER, {
      timeoutMs: 5000,
      tty: false,
      write: (t) => (out += t),
    });
    assert.equal(out, '');
    await assert.rejects(
      waitForInstances(fakeSession([['BUILD', 'ERROR']]), OWNER, {
        timeoutMs: 5000,
        tty: false,
        write: () => {},
      }),
      /instance vm2 is in ERROR: no fault given/,
    );
  });
});

describe('topology addresses and CIDRs', () => {
  it('refuses host bits with the network to write, and what is no CIDR', () => {
    assert.equal(cidrProblem('10.99.0.1/24'), "'10.99.0.1/24' has host bits set: use '10.99.0.0/24'");
    assert.equal(cidrProblem('2001:db8::1/64'), "'2001:db8::1/64' has host bits set: use '2001:db8::/64'");
    assert.equal(cidrProblem('10.99.0.0/33'), "'10.99.0.0/33' is not a valid CIDR");
    assert.equal(cidrProblem('10.99.0.0/24'), null);
    assert.equal(addressProblem('10.0.0.300'), "'10.0.0.300' is not a valid IP address");
    assert.equal(addressProblem('2001:db8::1', 4), "'2001:db8::1' is not an IPv4 address");
  });

  it('locates every bad address of a file, before the plan', () => {
    const text = [
      'projects:', //                                                               1
      '  p:', //                                                                    2
      '    networks:', //                                                           3
      '      a:', //                                                                4
      '        subnets:', //                                                        5
      '          s1: {cidr: 10.99.0.1/24, gateway: 10.99.1.1, dns_nameservers: [fe80::1]}', // 6
      '          s2: {cidr: 10.98.0.0/24, allocation_pools: [{start: 10.98.0.200, end: 10.98.1.5}]}', // 7
      '          s3: {cidr: 10.98.0.0/25, host_routes: [{destination: 10.9.0.1/16, nexthop: 10.98.0.9}]}', // 8
      '    routers:', //                                                            9
      '      r: {interfaces: [s2], routes: [{destination: 10.7.0.0/16, nexthop: 10.55.0.1}]}', // 10
      '    instances:', //                                                          11
      '      vm: {networks: [{network: a, fixed_ip: 10.97.0.5}]}', //               12
    ].join('\n');
    assert.deepEqual(problems(text), [
      "t.yaml:6:22: projects.p.networks.a.subnets.s1.cidr: '10.99.0.1/24' has host bits set: use '10.99.0.0/24'",
      "t.yaml:6:74: projects.p.networks.a.subnets.s1.dns_nameservers.0: 'fe80::1' is not an IPv4 address",
      't.yaml:7:81: projects.p.networks.a.subnets.s2.allocation_pools.0.end: 10.98.1.5 is outside 10.98.0.0/24',
      't.yaml:8:22: projects.p.networks.a.subnets.s3.cidr: 10.98.0.0/25 overlaps subnet s2 of network a',
      "t.yaml:8:64: projects.p.networks.a.subnets.s3.host_routes.0.destination: '10.9.0.1/16' has host bits set: use '10.9.0.0/16'",
      "t.yaml:10:74: projects.p.routers.r.routes.0.nexthop: 10.55.0.1 is on none of router r's interface subnets: a next hop must be reachable through one",
      't.yaml:12:46: projects.p.instances.vm.networks.0.fixed_ip: 10.97.0.5 is in no subnet of network a',
    ]);
  });

  it('lists the file’s problems with those of the names the API must resolve, and plans nothing', () => {
    const text = [
      'projects:',
      '  p:',
      '    networks:',
      '      a: {subnets: {s: {cidr: 10.99.0.1/24}}}',
      '    routers:',
      '      r: {external_gateway: nowhere, interfaces: [s, ghost]}',
      '    instances:',
      '      vm: {networks: [a, missing], security_groups: [nope]}',
      '    floating_ips:',
      '      - {instance: ghost-vm, network: public}',
    ].join('\n');
    const loaded = parseTopology('t.yaml', text, { collect: true });
    assert.throws(
      () => computePlan(loaded, empty()),
      (err: unknown) => {
        assert.ok(err instanceof PlanError);
        assert.deepEqual(err.problems, [
          "t.yaml:4:31: projects.p.networks.a.subnets.s.cidr: '10.99.0.1/24' has host bits set: use '10.99.0.0/24'",
          't.yaml:6:29: projects.p.routers.r.external_gateway: no network nowhere in the file, in project p, or shared or external',
          't.yaml:6:54: projects.p.routers.r.interfaces.1: no subnet ghost in project p of the file or the API',
          't.yaml:8:26: projects.p.instances.vm.networks.1: no network missing in the file, in project p, or shared or external',
          't.yaml:8:54: projects.p.instances.vm.security_groups.0: no security group nope in project p of the file or the API',
          't.yaml:10:20: projects.p.floating_ips.0.instance: no instance ghost-vm in project p',
        ]);
        return true;
      },
    );
  });
});
