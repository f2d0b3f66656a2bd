/**
 * The pure packet trace over hand-built models: routed and L2 paths allowed by the default group,
 * denials by ingress and egress rules (named with their group and rule), stateless groups, a
 * subnet without a router interface, a router without a route or gateway, an outside host
 * reaching an instance only by its floating IP, SNAT and hairpin NAT, anti-spoofing and allowed
 * address pairs, administrative state, and what a project member may see of other projects: its
 * trace stops where the path meets their objects, naming none of them.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { NeutronError } from '../../src/core/errors.js';
import type { TraceModel, TraceRule } from '../../src/core/trace/model.js';
import { scopeTraceModel } from '../../src/core/trace/scope.js';
import { trace } from '../../src/core/trace/trace.js';
import { LEAVES_PROJECT } from '../../src/core/trace/walk.js';
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

  return {
    m,
    pub,
    pubSubnet,
    net1,
    net2,
    net3,
    s1,
    s3,
    r1,
    byDefault,
    web,
    vm1,
    vm2,
    vm3,
    vm4,
    vm9,
    fip,
    add: { network, subnet, port, group, instance },
  };
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

  it('names, for an admin, the devices each host wires and the tunnel an L2 frame crosses between hosts', () => {
    const t = build();
    const vm3 = t.m.instances.find((i) => i.id === t.vm3.id)!;
    vm3.host = 'h2';
    t.m.vxlans = { [t.net1.id]: 1001, [t.net2.id]: 1002 };
    const wiring = (h1: 'linuxbridge' | 'openvswitch', h2: 'linuxbridge' | 'openvswitch') => {
      t.m.wiring = {
        h1: { driver: h1, tags: { [t.net1.id]: 3 }, tunnelIp: '10.0.0.1' },
        h2: { driver: h2, tags: { [t.net1.id]: 5 }, tunnelIp: '10.0.0.2' },
      };
      return trace(t.m, req('vm1', 'vm3', 'tcp', 80)).hops.at(-1)!.detail;
    };
    const ovs = wiring('openvswitch', 'openvswitch');
    const port = t.vm3.port.id.slice(0, 11);
    assert.match(
      ovs,
      new RegExp(`on h2: tap${port} → qbr${port} → qvb${port}/qvo${port} → br-int \\(local VLAN tag 5\\)`),
    );
    assert.match(
      ovs,
      /across hosts h1 → h2 over VXLAN \(VNI 1001 10\.0\.0\.1 → 10\.0\.0\.2\), out of br-tun port vxlan-0a000002 on h1$/,
    );
    assert.match(wiring('linuxbridge', 'openvswitch'), /out of vxlan-1001 on h1$/);
    // Through a router the frame is the router's, not the source's: no tunnel named.
    vm3.host = 'h1';
    const routed = t.m.instances.find((i) => i.id === t.vm2.id)!;
    routed.host = 'h2';
    const across = trace(t.m, req('vm1', 'vm2')).hops.at(-1)!.detail;
    assert.doesNotMatch(across, /across hosts/);
    // On one host, no tunnel either; and a member is told neither hosts nor devices.
    assert.doesNotMatch(wiring('openvswitch', 'openvswitch'), /across hosts/);
    const member = scopeTraceModel(
      t.m,
      new Set(
        t.m.instances
          .flatMap((i) => [i.id, ...i.ports.map((p) => p.id)])
          .concat(
            t.m.networks.map((n) => n.id),
            t.m.subnets.map((x) => x.id),
            t.m.securityGroups.map((g) => g.id),
          ),
      ),
    );
    vm3.host = 'h2';
    assert.doesNotMatch(
      trace(member, req('vm1', 'vm3', 'tcp', 80)).hops.at(-1)!.detail,
      /on h2|across hosts/,
    );
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

  it('lets a member name only its own endpoints; another project’s is unknown', () => {
    const t = build();
    const member = asMember(t.m, 'p1');
    const unknown = (ref: string) => {
      try {
        trace(member, req('vm1', ref));
      } catch (err) {
        return { status: (err as NeutronError).status, message: (err as Error).message.replace(ref, 'REF') };
      }
      assert.fail(`${ref} was found`);
    };
    const nobody = unknown(uuid('nobody'));
    assert.equal(nobody.status, 404);
    for (const ref of ['vm9', t.vm9.id, t.vm9.port.id]) assert.deepEqual(unknown(ref), nobody, ref);
    assert.throws(
      () => trace(member, req(t.vm9.port.id, 'vm1')),
      (err: NeutronError) => err.status === 404 && !err.message.includes('vm9'),
    );
    // vm1 and vm9 share an address in two projects: the member's is the one meant.
    const mine = trace(member, req('10.0.1.5', '10.0.2.5'));
    assert.equal(mine.hops[0].object.id, t.vm1.port.id);
    assert.throws(
      () => trace(t.m, req('10.0.1.5', '10.0.2.5')),
      (err: NeutronError) => err.status === 409,
    );
  });

  it('stops a member’s path at another project’s router, floating IP, port or subnet', () => {
    const t = build();
    const { network, subnet, port, group, instance } = t.add;
    // Project p2 behind its own router r9 on `public` (gateway 203.0.113.30): vm8 (10.0.8.5,
    // floating IP 203.0.113.40) and, on p1's net1 shared with it, vm5 (10.0.1.9).
    const net8 = network('net8', 'p2');
    const s8 = subnet(net8, 's8', '10.0.8.0/24', '10.0.8.1');
    const r9 = {
      ...t.r1,
      id: uuid('r9'),
      name: 'r9',
      project_id: 'p2',
      external_gateway_info: {
        network_id: t.pub.id,
        enable_snat: true,
        external_fixed_ips: [{ subnet_id: t.pubSubnet.id, ip_address: '203.0.113.30' }],
      },
    };
    t.m.routers.push(r9);
    port(net8, s8, '10.0.8.1', { device_id: r9.id, device_owner: 'network:router_interface' });
    port(t.pub, t.pubSubnet, '203.0.113.30', {
      device_id: r9.id,
      device_owner: 'network:router_gateway',
      project_id: '',
    });
    const open = group('open9', 'p2');
    open.security_group_rules.push(rule({ remote_ip_prefix: '0.0.0.0/0', normalized_cidr: '0.0.0.0/0' }));
    const vm8 = instance('vm8', net8, s8, '10.0.8.5', [open.id]);
    const fip9 = {
      id: uuid('fip9'),
      project_id: 'p2',
      floating_ip_address: '203.0.113.40',
      floating_network_id: t.pub.id,
      router_id: r9.id,
      port_id: vm8.port.id,
      fixed_ip_address: '10.0.8.5',
    };
    t.m.floatingIps.push(fip9);
    const vm5 = instance('vm5', { id: t.net1.id, project_id: 'p2' }, t.s1, '10.0.1.9', [open.id]);
    const secrets = [
      ...[net8, s8, r9, open, vm8, vm8.port, fip9, vm5, vm5.port].map((o) => o.id),
      ...['net8', 's8', 'r9', 'open9', 'vm8', 'vm5', '10.0.8.1', '203.0.113.30'],
    ];
    const member = asMember(t.m, 'p1');
    const leaves = (destination: string, known: string[] = [destination]) => {
      const r = trace(member, req('vm1', destination));
      assert.equal(r.verdict, 'leaves_project', JSON.stringify(r, null, 2));
      assert.equal(r.reason, LEAVES_PROJECT);
      assert.deepEqual(r.hops.at(-1), {
        step: 'boundary',
        object: { type: 'project', id: '', name: '' },
        detail: LEAVES_PROJECT,
        ok: false,
      });
      const text = JSON.stringify(r);
      for (const secret of [...secrets, '10.0.8.5', '203.0.113.40', '10.0.1.9'])
        if (!known.includes(secret))
          assert.ok(!text.includes(secret), `${destination}: ${secret} in ${text}`);
      return r;
    };
    // Out by its own router and the external network, to p2's floating IP, gateway, tenant address.
    const toFip = leaves('203.0.113.40');
    assert.deepEqual(steps(toFip).slice(-3), ['route', 'nat', 'boundary']);
    leaves('203.0.113.30');
    leaves('10.0.8.5');
    // On its own network, to another project's instance there.
    assert.deepEqual(steps(leaves('10.0.1.9')).slice(-2), ['l2', 'boundary']);
    // Admins see the whole path.
    const whole = trace(t.m, req('vm1', '203.0.113.40'));
    assert.equal(whole.verdict, 'allowed', JSON.stringify(whole, null, 2));
    assert.ok(JSON.stringify(whole).includes(vm8.id));
    assert.equal(trace(t.m, req('vm1', '10.0.1.9')).verdict, 'allowed');
    assert.equal(trace(t.m, req('vm1', '10.0.8.5')).verdict, 'unreachable');
    // p2's tenant address is no source a member may send from, as one of its own it does not hold.
    assert.throws(
      () => trace(member, req('10.0.8.5', 'vm1')),
      (err: NeutronError) =>
        err.status === 404 && /No port holds the source address 10\.0\.8\.5/.test(err.message),
    );

    // The router on the member's path is another project's: it stops at the gateway.
    t.r1.project_id = 'p2';
    const hidden = trace(asMember(t.m, 'p1'), req('vm1', 'vm2'));
    assert.deepEqual(steps(hidden), ['source', 'subnet', 'anti-spoofing', 'egress', 'boundary']);
    assert.ok(!JSON.stringify(hidden).includes(t.r1.id));
    assert.ok(!JSON.stringify(hidden).includes('r1'));
  });

  it('stops a member’s path on a shared network at the others’ router and ports', () => {
    const t = build();
    const { network, subnet, port, instance } = t.add;
    const shared = network('shared', 'admin');
    const sub = subnet(shared, 'shared-v4', '10.0.7.0/24', '10.0.7.1');
    const r7 = { ...t.r1, id: uuid('r7'), name: 'r7', project_id: 'admin' };
    t.m.routers.push(r7);
    port(shared, sub, '10.0.7.1', {
      device_id: r7.id,
      device_owner: 'network:router_interface',
      project_id: 'admin',
    });
    const vm6 = instance('vm6', { id: shared.id, project_id: 'p1' }, sub, '10.0.7.5', [t.byDefault.id]);
    const vm7 = instance('vm7', { id: shared.id, project_id: 'p2' }, sub, '10.0.7.8', []);
    const member = asMember(t.m, 'p1', [shared.id, sub.id]);
    const out = trace(member, req('vm6', '198.51.100.1'));
    assert.equal(out.verdict, 'leaves_project');
    assert.deepEqual(steps(out), ['source', 'subnet', 'anti-spoofing', 'egress', 'boundary']);
    assert.match(out.hops[1].detail, /subnet shared-v4 \(10\.0\.7\.0\/24\), gateway 10\.0\.7\.1/);
    const peer = trace(member, req('vm6', '10.0.7.8'));
    assert.equal(peer.verdict, 'leaves_project');
    for (const secret of [r7.id, 'r7', vm7.id, vm7.port.id, 'vm7'])
      assert.ok(!JSON.stringify([out, peer]).includes(secret), secret);
    assert.equal(trace(t.m, req('vm6', '198.51.100.1')).verdict, 'allowed');
    assert.equal(vm6.port.project_id, 'p1');
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

/**
 * What `project` sees by the GET endpoints' rules, as the API works it out: its own objects,
 * external networks and those in `shared` (ids), the subnets of networks it sees, and every port
 * on a network of its own; then the model scoped to it.
 */
function asMember(m: Model, project: string, shared: string[] = []): Model {
  const networks = m.networks.filter(
    (n) => n.project_id === project || n['router:external'] || shared.includes(n.id),
  );
  const seen = new Set(networks.map((n) => n.id));
  const own = new Set(networks.filter((n) => n.project_id === project).map((n) => n.id));
  const visible = new Set([
    ...networks.map((n) => n.id),
    ...m.subnets.filter((s) => s.project_id === project || seen.has(s.network_id)).map((s) => s.id),
    ...m.ports.filter((p) => p.project_id === project || own.has(p.network_id)).map((p) => p.id),
    ...[...m.routers, ...m.floatingIps, ...m.securityGroups, ...m.instances]
      .filter((o) => o.project_id === project)
      .map((o) => o.id),
  ]);
  return scopeTraceModel(m, visible);
}
