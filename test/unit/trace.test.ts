/**
 * The pure packet trace over hand-built models: routed and L2 paths allowed by the default group,
 * denials by ingress and egress rules (named with their group and rule), stateless groups, a
 * subnet without a router interface, a router without a route or gateway, an outside host
 * reaching an instance only by its floating IP, SNAT and hairpin NAT, anti-spoofing and allowed
 * address pairs, administrative state, and what a project member may see of other projects.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { NeutronError } from '../../src/core/errors.js';
import { type TraceModel, type TraceRule, trace } from '../../src/core/trace.js';
import type { TraceRequest } from '../../src/model/trace.js';

type Model = TraceModel;
type PortIn = Model['ports'][number];

let counter = 0;
const uuid = (tag: string) =>
  `${tag.padEnd(8, '0').slice(0, 8)}-0000-4000-8000-${String(++counter).padStart(12, '0')}`;

function rule(over: Partial<TraceRule>): TraceRule {
  return {
    id: uuid('rule'),
    direction: 'ingress',
    ethertype: 'IPv4',
    protocol: null,
    port_range_min: null,
    port_range_max: null,
    remote_ip_prefix: null,
    remote_group_id: null,
    normalized_cidr: null,
    ...over,
  };
}

/**
 * Project `p1`: networks net1 (10.0.1.0/24), net2 (10.0.2.0/24) behind router r1 (gateway
 * 203.0.113.10 on `public`, SNAT on), net3 (10.0.3.0/24) on no router; groups `default` (egress
 * any, ingress from itself) and `web` (egress any, ingress tcp 80 and icmp from anywhere);
 * instances vm1 (net1 .5, default), vm2 (net2 .5, default), vm3 (net1 .6, web, floating IP
 * 203.0.113.20), vm4 (net3 .5, default). Project `p2`: net9 (10.0.1.0/24 too) with vm9.
 */
function build() {
  const m: Model = {
    networks: [],
    subnets: [],
    ports: [],
    routers: [],
    floatingIps: [],
    securityGroups: [],
    instances: [],
  };
  const network = (name: string, project = 'p1', external = false) => {
    const n = {
      id: uuid(name),
      name,
      project_id: project,
      admin_state_up: true,
      'router:external': external,
    };
    m.networks.push(n);
    return n;
  };
  const subnet = (
    net: { id: string; project_id: string },
    name: string,
    cidr: string,
    gateway: string | null,
  ) => {
    const s = {
      id: uuid(name),
      name,
      project_id: net.project_id,
      network_id: net.id,
      ip_version: 4,
      cidr,
      gateway_ip: gateway,
      host_routes: [] as { destination: string; nexthop: string }[],
    };
    m.subnets.push(s);
    return s;
  };
  const port = (
    net: { id: string; project_id: string },
    sub: { id: string },
    ip: string,
    over: Partial<PortIn> = {},
  ): PortIn => {
    const p: PortIn = {
      id: uuid('port'),
      name: '',
      project_id: net.project_id,
      network_id: net.id,
      admin_state_up: true,
      status: 'ACTIVE',
      mac_address: 'fa:16:3e:00:00:01',
      fixed_ips: [{ subnet_id: sub.id, ip_address: ip }],
      device_id: '',
      device_owner: '',
      allowed_address_pairs: [],
      port_security_enabled: true,
      security_groups: [],
      ...over,
    };
    m.ports.push(p);
    return p;
  };
  const group = (name: string, project = 'p1', stateful = true) => {
    const g = {
      id: uuid(name),
      name,
      project_id: project,
      stateful,
      security_group_rules: [] as TraceRule[],
    };
    g.security_group_rules.push(
      rule({ direction: 'egress' }),
      rule({ direction: 'egress', ethertype: 'IPv6' }),
    );
    m.securityGroups.push(g);
    return g;
  };
  const instance = (
    name: string,
    net: { id: string; project_id: string },
    sub: { id: string },
    ip: string,
    groups: string[],
  ) => {
    const id = uuid(name);
    const p = port(net, sub, ip, { device_id: id, device_owner: 'compute:nova', security_groups: groups });
    m.instances.push({ id, name, project_id: net.project_id, host: 'h1', ports: [{ id: p.id }] });
    return { id, port: p };
  };

  const pub = network('public', 'admin', true);
  const pubSubnet = subnet(pub, 'public-v4', '203.0.113.0/24', '203.0.113.254');
  const net1 = network('net1');
  const s1 = subnet(net1, 's1', '10.0.1.0/24', '10.0.1.1');
  const net2 = network('net2');
  const s2 = subnet(net2, 's2', '10.0.2.0/24', '10.0.2.1');
  const net3 = network('net3');
  const s3 = subnet(net3, 's3', '10.0.3.0/24', '10.0.3.1');

  const r1 = {
    id: uuid('r1'),
    name: 'r1',
    project_id: 'p1',
    admin_state_up: true,
    routes: [] as { destination: string; nexthop: string }[],
    external_gateway_info: {
      network_id: pub.id,
      enable_snat: true,
      external_fixed_ips: [{ subnet_id: pubSubnet.id, ip_address: '203.0.113.10' }],
    } as Model['routers'][number]['external_gateway_info'],
  };
  m.routers.push(r1);
  const owned = { device_id: r1.id, port_security_enabled: false };
  port(net1, s1, '10.0.1.1', { ...owned, device_owner: 'network:router_interface' });
  port(net2, s2, '10.0.2.1', { ...owned, device_owner: 'network:router_interface' });
  port(pub, pubSubnet, '203.0.113.10', { ...owned, device_owner: 'network:router_gateway', project_id: '' });
  port(net1, s1, '10.0.1.2', {
    device_owner: 'network:dhcp',
    device_id: `dhcp-${net1.id}`,
    port_security_enabled: false,
  });

  const byDefault = group('default');
  byDefault.security_group_rules.push(rule({ remote_group_id: byDefault.id }));
  const web = group('web');
  web.security_group_rules.push(
    rule({
      protocol: 'tcp',
      port_range_min: 80,
      port_range_max: 80,
      remote_ip_prefix: '0.0.0.0/0',
      normalized_cidr: '0.0.0.0/0',
    }),
    rule({ protocol: 'icmp', remote_ip_prefix: '0.0.0.0/0', normalized_cidr: '0.0.0.0/0' }),
  );

  const vm1 = instance('vm1', net1, s1, '10.0.1.5', [byDefault.id]);
  const vm2 = instance('vm2', net2, s2, '10.0.2.5', [byDefault.id]);
  const vm3 = instance('vm3', net1, s1, '10.0.1.6', [web.id]);
  const vm4 = instance('vm4', net3, s3, '10.0.3.5', [byDefault.id]);
  const fip = {
    id: uuid('fip'),
    project_id: 'p1',
    floating_ip_address: '203.0.113.20',
    floating_network_id: pub.id,
    router_id: r1.id,
    port_id: vm3.port.id,
    fixed_ip_address: '10.0.1.6',
  };
  m.floatingIps.push(fip);

  const net9 = network('net9', 'p2');
  const s9 = subnet(net9, 's9', '10.0.1.0/24', '10.0.1.1');
  const other = group('default', 'p2');
  other.security_group_rules.push(rule({ remote_group_id: other.id }));
  const vm9 = instance('vm9', net9, s9, '10.0.1.5', [other.id]);

  return { m, pub, net1, net2, net3, s1, s3, r1, byDefault, web, vm1, vm2, vm3, vm4, vm9, fip };
}

const req = (
  source: string,
  destination: string,
  protocol: TraceRequest['protocol'] = 'icmp',
  port?: number,
): TraceRequest => ({
  source,
  destination,
  protocol,
  ...(port === undefined ? {} : { port }),
});

const steps = (r: ReturnType<typeof trace>) => r.hops.map((h) => h.step);

describe('trace (pure)', () => {
  it('allows a ping between instances of one group across a router, naming each hop', () => {
    const t = build();
    const r = trace(t.m, req('vm1', 'vm2'));
    assert.equal(r.verdict, 'allowed', JSON.stringify(r, null, 2));
    assert.equal(r.reason, undefined);
    assert.equal(r.source_ip, '10.0.1.5');
    assert.equal(r.destination_ip, '10.0.2.5');
    assert.deepEqual(steps(r), [
      'source',
      'subnet',
      'anti-spoofing',
      'egress',
      'gateway',
      'route',
      'ingress',
      'destination',
    ]);
    const gateway = r.hops.find((h) => h.step === 'gateway')!;
    assert.deepEqual(gateway.object, { type: 'router', id: t.r1.id, name: 'r1' });
    const ingress = r.hops.find((h) => h.step === 'ingress')!;
    const selfRule = t.byDefault.security_group_rules.find((x) => x.remote_group_id === t.byDefault.id)!;
    assert.deepEqual(ingress.object, { type: 'security_group_rule', id: selfRule.id, name: 'default' });
    assert.match(ingress.detail, /members of default/);
    assert.ok(r.hops.every((h) => h.ok));
  });

  it('delivers on one network by L2; the ingress rules decide', () => {
    const t = build();
    const allowed = trace(t.m, req('vm1', 'vm3', 'tcp', 80));
    assert.equal(allowed.verdict, 'allowed');
    assert.ok(steps(allowed).includes('l2'));
    assert.ok(!steps(allowed).includes('gateway'));
    const denied = trace(t.m, req(t.vm1.port.id, '10.0.1.6', 'tcp', 22));
    assert.equal(denied.verdict, 'denied');
    assert.match(
      denied.reason!,
      /no ingress rule of security group web on port .* allows tcp port 22 from 10\.0\.1\.5/,
    );
    assert.equal(denied.hops.at(-1)!.ok, false);
    assert.deepEqual(denied.hops.at(-1)!.object, { type: 'port', id: t.vm3.port.id, name: '' });
  });

  it('denies what no egress rule allows', () => {
    const t = build();
    t.byDefault.security_group_rules = t.byDefault.security_group_rules.filter(
      (x) => x.direction !== 'egress',
    );
    const r = trace(t.m, req('vm1', 'vm3', 'tcp', 80));
    assert.equal(r.verdict, 'denied');
    assert.match(r.reason!, /no egress rule of security group default .* allows tcp port 80 to 10\.0\.1\.6/);
  });

  it('needs a rule for the reply in a stateless group', () => {
    const t = build();
    t.web.stateful = false;
    t.web.security_group_rules = t.web.security_group_rules.filter((x) => x.direction === 'ingress');
    const r = trace(t.m, req('vm1', 'vm3', 'tcp', 80));
    assert.equal(r.verdict, 'denied');
    assert.match(r.reason!, /stateless .* reply to 10\.0\.1\.5/);
    t.web.security_group_rules.push(rule({ direction: 'egress', protocol: 'tcp' }));
    assert.equal(trace(t.m, req('vm1', 'vm3', 'tcp', 80)).verdict, 'allowed');
  });

  it('is unreachable from a subnet without a router interface', () => {
    const t = build();
    const r = trace(t.m, req('vm4', 'vm1'));
    assert.equal(r.verdict, 'unreachable');
    assert.match(
      r.reason!,
      /subnet s3 \(10\.0\.3\.0\/24\) has no router interface: no port holds its gateway 10\.0\.3\.1/,
    );
    t.s3.gateway_ip = null;
    assert.match(trace(t.m, req('vm4', 'vm1')).reason!, /has no gateway and no host route to 10\.0\.1\.5/);
  });

  it('is unreachable where the router has no route, or no external gateway', () => {
    const t = build();
    t.r1.external_gateway_info = null;
    const r = trace(t.m, req('vm1', '198.51.100.7'));
    assert.equal(r.verdict, 'unreachable');
    assert.match(r.reason!, /router r1 has no route to 198\.51\.100\.7: .*no external gateway/);
    assert.deepEqual(r.hops.at(-1)!.object, { type: 'router', id: t.r1.id, name: 'r1' });
    const other = trace(t.m, req('vm1', '10.0.3.5'));
    assert.equal(other.verdict, 'unreachable');
  });

  it('does not route tenant addresses over the external network', () => {
    const t = build();
    const r = trace(t.m, req('vm1', 'vm4'));
    assert.equal(r.verdict, 'unreachable');
    assert.match(
      r.reason!,
      /10\.0\.3\.5 is a tenant address, which is not routed on the external network public/,
    );
  });

  it('SNATs to the gateway address, or to the source’s floating IP; not at all with SNAT off', () => {
    const t = build();
    const out = trace(t.m, req('vm1', '203.0.113.254'));
    assert.equal(out.verdict, 'allowed');
    assert.ok(
      out.hops.some(
        (h) => h.step === 'nat' && /SNATs 10\.0\.1\.5 to its gateway address 203\.0\.113\.10/.test(h.detail),
      ),
    );
    assert.match(out.hops.at(-1)!.detail, /outside host on the external network public/);
    const withFip = trace(t.m, req('vm3', '198.51.100.1'));
    assert.ok(
      withFip.hops.some((h) => h.step === 'nat' && /to its floating IP 203\.0\.113\.20/.test(h.detail)),
    );
    assert.match(withFip.hops.at(-1)!.detail, /beyond the external network public/);
    t.r1.external_gateway_info!.enable_snat = false;
    const noSnat = trace(t.m, req('vm1', '203.0.113.254'));
    assert.equal(noSnat.verdict, 'unreachable');
    assert.match(noSnat.reason!, /does not SNAT \(enable_snat is off\) and 10\.0\.1\.5 has no floating IP/);
    assert.equal(trace(t.m, req('vm3', '203.0.113.254')).verdict, 'allowed');
  });

  it('reaches an instance from outside by its floating IP only', () => {
    const t = build();
    const noFip = trace(t.m, req('203.0.113.254', 'vm1'));
    assert.equal(noFip.verdict, 'unreachable');
    assert.match(
      noFip.reason!,
      /no floating IP for port .* \(instance vm1 eth0\): it cannot be reached from outside/,
    );
    const direct = trace(t.m, req('203.0.113.254', '10.0.1.5'));
    assert.equal(direct.verdict, 'unreachable');
    assert.match(direct.reason!, /tenant address/);
    const web = trace(t.m, req('203.0.113.254', 'vm3', 'tcp', 80));
    assert.equal(web.verdict, 'allowed', JSON.stringify(web, null, 2));
    assert.equal(web.destination_ip, '203.0.113.20');
    assert.ok(
      web.hops.some(
        (h) => h.step === 'nat' && /DNATs floating IP 203\.0\.113\.20 to 10\.0\.1\.6/.test(h.detail),
      ),
    );
    assert.match(web.hops.find((h) => h.step === 'ingress')!.detail, /from 203\.0\.113\.254/);
    assert.equal(trace(t.m, req('203.0.113.254', '203.0.113.20', 'tcp', 22)).verdict, 'denied');
    t.fip.port_id = null;
    t.fip.fixed_ip_address = null;
    t.fip.router_id = null;
    const loose = trace(t.m, req('203.0.113.254', '203.0.113.20'));
    assert.equal(loose.verdict, 'unreachable');
    assert.match(loose.reason!, /floating IP 203\.0\.113\.20 is not associated with a port/);
  });

  it('hairpins to a floating IP from inside: the destination sees the router’s address', () => {
    const t = build();
    const r = trace(t.m, req('vm2', '203.0.113.20'));
    assert.equal(r.verdict, 'allowed', JSON.stringify(r, null, 2));
    assert.ok(
      r.hops.some((h) =>
        /hairpin: router r1 masquerades the source 10\.0\.2\.5 to its own address 10\.0\.1\.1/.test(h.detail),
      ),
    );
    assert.match(r.hops.find((h) => h.step === 'ingress')!.detail, /from 10\.0\.1\.1/);
    t.fip.port_id = t.vm1.port.id;
    t.fip.fixed_ip_address = '10.0.1.5';
    const denied = trace(t.m, req('vm2', '203.0.113.20'));
    assert.equal(denied.verdict, 'denied', 'the router’s address is no member of the default group');
  });

  it('drops a spoofed source at the port, naming it; allowed address pairs pass', () => {
    const t = build();
    const r = trace(t.m, { ...req('vm1', 'vm2'), source_ip: '10.0.1.99' });
    assert.equal(r.verdict, 'denied');
    assert.equal(r.source_ip, '10.0.1.99');
    const hop = r.hops.at(-1)!;
    assert.equal(hop.step, 'anti-spoofing');
    assert.deepEqual(hop.object, { type: 'port', id: t.vm1.port.id, name: '' });
    assert.match(
      r.reason!,
      /anti-spoofing on port .* \(instance vm1 eth0\) drops packets from 10\.0\.1\.99: not its fixed IP \(10\.0\.1\.5\)/,
    );
    t.vm1.port.allowed_address_pairs = [{ ip_address: '10.0.1.96/28', mac_address: 'fa:16:3e:00:00:01' }];
    const paired = trace(t.m, { ...req('vm1', '203.0.113.254'), source_ip: '10.0.1.99' });
    assert.equal(paired.verdict, 'allowed');
    t.vm1.port.allowed_address_pairs = [{ ip_address: '10.0.1.99', mac_address: 'fa:16:3e:00:00:99' }];
    const otherMac = trace(t.m, { ...req('vm1', '203.0.113.254'), source_ip: '10.0.1.99' });
    assert.equal(otherMac.verdict, 'denied', 'a pair of another MAC does not cover the port’s own');
    t.vm1.port.port_security_enabled = false;
    t.vm1.port.allowed_address_pairs = [];
    assert.equal(trace(t.m, { ...req('vm1', '203.0.113.254'), source_ip: '10.0.1.99' }).verdict, 'allowed');
  });

  it('is unreachable through anything administratively down', () => {
    for (const down of ['router', 'port', 'network', 'destination'] as const) {
      const t = build();
      if (down === 'router') t.r1.admin_state_up = false;
      if (down === 'port') t.vm1.port.admin_state_up = false;
      if (down === 'network') t.net2.admin_state_up = false;
      if (down === 'destination') t.vm2.port.admin_state_up = false;
      const r = trace(t.m, req('vm1', 'vm2'));
      assert.equal(r.verdict, 'unreachable', down);
      assert.match(r.reason!, /administratively down/, down);
    }
  });

  it('answers pings to a router and to the DHCP server; nothing else', () => {
    const t = build();
    assert.equal(trace(t.m, req('vm1', '10.0.2.1')).verdict, 'allowed');
    assert.match(
      trace(t.m, req('vm1', '10.0.1.1', 'tcp', 22)).reason!,
      /router r1 \(10\.0\.1\.1\) accepts no tcp port 22/,
    );
    assert.equal(trace(t.m, req('vm1', '10.0.1.2', 'udp', 53)).verdict, 'allowed');
    assert.equal(trace(t.m, req('vm1', '10.0.1.77')).verdict, 'unreachable');
  });

  it('shows a member only what its project may see', () => {
    const t = build();
    const p1 = new Set(
      Object.values(t.m)
        .flat()
        .filter((o: { project_id: string }) => o.project_id === 'p1' || o.project_id === 'admin')
        .map((o: { id: string }) => o.id),
    );
    const member = { visible: p1 };
    assert.throws(
      () => trace(t.m, req('vm9', 'vm1'), member),
      (err: NeutronError) => err.status === 404,
    );
    assert.throws(
      () => trace(t.m, req(t.vm9.id, 'vm1'), member),
      (err: NeutronError) => err.status === 404,
    );
    // vm1 and vm9 share an address in two projects: the member's is the one meant.
    const mine = trace(t.m, req('10.0.1.5', '10.0.2.5'), member);
    assert.equal(mine.hops[0].object.id, t.vm1.port.id);
    assert.throws(
      () => trace(t.m, req('10.0.1.5', '10.0.2.5')),
      (err: NeutronError) => err.status === 409,
    );
    t.r1.project_id = 'p2';
    p1.delete(t.r1.id);
    const hidden = trace(t.m, req('vm1', 'vm2'), member);
    const gateway = hidden.hops.find((h) => h.step === 'gateway')!;
    assert.deepEqual(gateway.object, { type: 'router', id: '', name: '' });
    assert.match(gateway.detail, /another project's router/);
    assert.doesNotMatch(JSON.stringify(hidden), new RegExp(t.r1.id));
  });

  it('refuses a tcp trace without a port, and an unknown endpoint', () => {
    const t = build();
    assert.throws(
      () => trace(t.m, req('vm1', 'vm2', 'tcp')),
      (err: NeutronError) => err.status === 400,
    );
    assert.throws(
      () => trace(t.m, req('nope', 'vm2')),
      (err: NeutronError) => err.status === 404,
    );
    assert.throws(
      () => trace(t.m, { ...req('vm1', 'vm2'), source_ip: 'bogus' }),
      (err: NeutronError) => err.status === 400,
    );
  });
});
