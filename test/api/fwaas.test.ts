/**
 * Firewall as a service (`fwaas_v2`): rules with neutron-fwaas's validation (protocols, ports
 * only with tcp/udp, port ranges normalised, addresses agreeing with the IP version, actions),
 * `firewall_policy_id` as neutron-fwaas shows it, policies with ordered rules, `audited` reset on
 * every change, `insert_rule` / `remove_rule` and their errors, rules and policies in use,
 * sharing (admins only; shared policies need shared rules), firewall groups on router interface
 * ports and bound instance ports (an unbound instance port not supported, other owners invalid,
 * another project's port invalid, a port in one group only), their status, the default group per project (reserved names, what a
 * member may not change or delete), a deleted router interface leaving its group, and the host
 * snapshot carrying the router port's and the instance port's resolved rules, and traces naming
 * the rule that decided at a router interface or an instance port.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { client, dialects, startTestServer, type TestServer } from '../helpers/server.js';

type Client = ReturnType<typeof client>;
type Reply = {
  status: number;
  body: { NeutronError?: { type: string; message: string } } & Record<string, unknown>;
};

const RULES = '/v2.0/fwaas/firewall_rules';
const POLICIES = '/v2.0/fwaas/firewall_policies';
const GROUPS = '/v2.0/fwaas/firewall_groups';

function refused(r: Reply, status: number, type: string, message?: RegExp | string): void {
  assert.equal(r.status, status, JSON.stringify(r.body));
  assert.equal(r.body.NeutronError?.type, type, JSON.stringify(r.body));
  if (typeof message === 'string') assert.equal(r.body.NeutronError?.message, message);
  else if (message) assert.match(r.body.NeutronError?.message ?? '', message);
}

for (const dialect of dialects()) {
  describe(`firewall as a service (${dialect})`, () => {
    let t: TestServer;
    let admin: Client;
    let member: Client;
    let memberProject: string;
    let other: Client;
    let routerId: string;
    let ifacePort: string;
    let ifacePort2: string;
    let vmPort: string;
    let dhcpLikePort: string;

    before(async () => {
      t = await startTestServer(dialect, { defaultHost: 'h1' });
      admin = client(t, t.adminToken);
      const m = await t.newProjectUser();
      member = client(t, m.token);
      memberProject = m.projectId;
      other = client(t, (await t.newProjectUser()).token);
      const router = await member.post('/v2.0/routers', { router: { name: 'r' } });
      routerId = router.body.router.id;
      const iface = async (cidr: string) => {
        const net = (await member.post('/v2.0/networks', { network: { name: cidr } })).body.network;
        const sub = await member.post('/v2.0/subnets', {
          subnet: { network_id: net.id, ip_version: 4, cidr },
        });
        assert.equal(sub.status, 201, JSON.stringify(sub.body));
        const r = await member.put(`/v2.0/routers/${routerId}/add_router_interface`, {
          subnet_id: sub.body.subnet.id,
        });
        assert.equal(r.status, 200, JSON.stringify(r.body));
        return { net: net.id as string, port: r.body.port_id as string };
      };
      const a = await iface('10.10.1.0/24');
      ifacePort = a.port;
      ifacePort2 = (await iface('10.10.2.0/24')).port;
      const vm = await member.post('/v2.0/ports', {
        port: { network_id: a.net, device_owner: 'compute:nova' },
      });
      vmPort = vm.body.port.id;
      const plain = await member.post('/v2.0/ports', { port: { network_id: a.net } });
      dhcpLikePort = plain.body.port.id;
    });
    after(() => t.close());

    const rule = async (body: Record<string, unknown>, c: Client = member) => {
      const r = await c.post(RULES, { firewall_rule: body });
      assert.equal(r.status, 201, JSON.stringify(r.body));
      return r.body.firewall_rule as Record<string, unknown> & { id: string };
    };
    const policy = async (body: Record<string, unknown>, c: Client = member) => {
      const r = await c.post(POLICIES, { firewall_policy: body });
      assert.equal(r.status, 201, JSON.stringify(r.body));
      return r.body.firewall_policy as Record<string, unknown> & { id: string };
    };

    it('creates a rule with neutron-fwaas defaults and shows the policies holding it', async () => {
      const r = await rule({ name: 'web', protocol: 'tcp', destination_port: '80:80', action: 'ALLOW' });
      assert.equal(r.project_id, memberProject);
      assert.equal(r.tenant_id, memberProject);
      assert.equal(r.ip_version, 4);
      assert.equal(r.enabled, true);
      assert.equal(r.shared, false);
      assert.equal(r.action, 'allow', 'action is case-insensitive');
      assert.equal(r.destination_port, '80', "'80:80' is stored as min/max and shown as '80'");
      assert.equal(r.source_port, null);
      assert.equal(r.firewall_policy_id, null);
      const range = await rule({ protocol: 'udp', source_port: 1000, destination_port: '2000:3000' });
      assert.equal(range.source_port, '1000');
      assert.equal(range.destination_port, '2000:3000');
      assert.equal(range.action, 'deny', 'deny by default');
      const p = await policy({ name: 'p', firewall_rules: [r.id] });
      const shown = await member.get(`${RULES}/${r.id}`);
      assert.deepEqual(shown.body.firewall_rule.firewall_policy_id, [p.id]);
      const listed = await member.get(`${RULES}?name=web`);
      assert.equal(listed.body.firewall_rules.length, 1);
      assert.equal(listed.body.firewall_rules[0].firewall_policy_id, null, 'lists do not resolve policies');
      const tagged = await member.put(`${RULES}/${r.id}/tags/web`, undefined);
      assert.equal(tagged.status, 201, JSON.stringify(tagged.body));
      const byTag = await member.get(`${RULES}?tags=web`);
      assert.deepEqual(
        byTag.body.firewall_rules.map((x: { id: string }) => x.id),
        [r.id],
      );
    });

    it('validates rules as neutron-fwaas does', async () => {
      const post = (body: Record<string, unknown>) => member.post(RULES, { firewall_rule: body });
      refused(
        await post({ protocol: 'icmp', destination_port: '22' }),
        400,
        'FirewallRuleInvalidICMPParameter',
        'Source, destination port are not allowed when protocol is set to ICMP.',
      );
      refused(
        await post({ destination_port: '22' }),
        400,
        'FirewallRuleWithPortWithoutProtocolInvalid',
        'Source/destination port requires a protocol.',
      );
      refused(
        await post({ protocol: 'tcp', destination_port: '90:80' }),
        400,
        'FirewallRuleInvalidPortValue',
        'Invalid value for port 90:80.',
      );
      refused(
        await post({ protocol: 'tcp', destination_port: '70000' }),
        400,
        'HTTPBadRequest',
        /Invalid port: 70000/,
      );
      refused(
        await post({ protocol: 'tcp', destination_port: '1:2:3' }),
        400,
        'HTTPBadRequest',
        /two integers separated by a colon/,
      );
      refused(await post({ protocol: 'gre' }), 400, 'InvalidInput', /IP protocol 'gre' is not supported/);
      refused(await post({ protocol: '6' }), 400, 'HTTPBadRequest', /6 is not in valid_values/);
      refused(await post({ ip_version: 5 }), 400, 'HTTPBadRequest', /5 is not in valid_values/);
      refused(await post({ action: 'drop' }), 400, 'HTTPBadRequest', /drop is not in valid_values/);
      refused(
        await post({ source_ip_address: 'nope' }),
        400,
        'HTTPBadRequest',
        /neither a valid IP address, nor/,
      );
      refused(
        await post({ source_ip_address: '2001:db8::/64' }),
        400,
        'FirewallIpAddressConflict',
        'Invalid input - IP addresses do not agree with IP Version.',
      );
      refused(await post({ enabled: 'maybe' }), 400, 'InvalidInput', /cannot be converted to boolean/);
      refused(await post({ position: 1 }), 400, 'HTTPBadRequest');
      const v6 = await rule({ ip_version: '6', source_ip_address: '2001:db8::/64', protocol: 'ipv6-icmp' });
      assert.equal(v6.ip_version, 6);
      const any = await rule({ protocol: null });
      assert.equal(any.protocol, null);
      refused(await post({ shared: true }), 403, 'PolicyNotAuthorized', /create_firewall_rule:shared/);
    });

    it('orders policy rules; insert_rule / remove_rule with their errors; audited resets on change', async () => {
      const [a, b, c, d] = [
        await rule({ name: 'a' }),
        await rule({ name: 'b' }),
        await rule({ name: 'c' }),
        await rule({ name: 'd' }),
      ];
      const p = await policy({ name: 'ordered', firewall_rules: [a.id, b.id], audited: true });
      assert.deepEqual(p.firewall_rules, [a.id, b.id]);
      assert.equal(p.audited, true);
      const put = (action: string, body: unknown) => member.put(`${POLICIES}/${p.id}/${action}`, body);
      const before = await put('insert_rule', { firewall_rule_id: c.id, insert_before: b.id });
      assert.equal(before.status, 200, JSON.stringify(before.body));
      assert.deepEqual(before.body.firewall_rules, [a.id, c.id, b.id], 'the answer is the policy itself');
      assert.equal(before.body.audited, false);
      const afterB = await put('insert_rule', { firewall_rule_id: d.id, insert_after: b.id });
      assert.deepEqual(afterB.body.firewall_rules, [a.id, c.id, b.id, d.id]);
      refused(
        await put('insert_rule', { firewall_rule_id: d.id }),
        409,
        'FirewallRuleAlreadyAssociated',
        `Operation cannot be performed since firewall rule ${d.id} is already associated with firewall policy ${p.id}.`,
      );
      const e = await rule({ name: 'e' });
      refused(
        await put('insert_rule', {
          firewall_rule_id: e.id,
          insert_before: '3b0ef8f4-82c7-44d4-a4fb-6177f9a21977',
        }),
        400,
        'FirewallRuleNotAssociatedWithPolicy',
      );
      const top = await put('insert_rule', { firewall_rule_id: e.id });
      assert.deepEqual(top.body.firewall_rules, [e.id, a.id, c.id, b.id, d.id], 'no reference: first');
      refused(
        await put('insert_rule', {}),
        400,
        'FirewallRuleInfoMissing',
        'Missing rule info argument for insert/remove rule operation.',
      );
      refused(await put('insert_rule', { firewall_rule_id: 'x' }), 404, 'FirewallRuleNotFound');
      refused(
        await put('insert_rule', { firewall_rule_id: '3b0ef8f4-82c7-44d4-a4fb-6177f9a21977' }),
        404,
        'FirewallRuleNotFound',
        'Firewall rule 3b0ef8f4-82c7-44d4-a4fb-6177f9a21977 could not be found.',
      );
      const removed = await put('remove_rule', { firewall_rule_id: c.id });
      assert.deepEqual(removed.body.firewall_rules, [e.id, a.id, b.id, d.id]);
      refused(
        await put('remove_rule', { firewall_rule_id: c.id }),
        400,
        'FirewallRuleNotAssociatedWithPolicy',
        `Firewall rule ${c.id} is not associated with firewall policy ${p.id}.`,
      );
      const audited = await member.put(`${POLICIES}/${p.id}`, { firewall_policy: { audited: true } });
      assert.equal(audited.body.firewall_policy.audited, true);
      await member.put(`${RULES}/${a.id}`, { firewall_rule: { protocol: 'tcp' } });
      assert.equal(
        (await member.get(`${POLICIES}/${p.id}`)).body.firewall_policy.audited,
        false,
        'a rule change',
      );
      await member.put(`${POLICIES}/${p.id}`, { firewall_policy: { audited: true } });
      const renamed = await member.put(`${POLICIES}/${p.id}`, { firewall_policy: { name: 'renamed' } });
      assert.equal(renamed.body.firewall_policy.audited, false, 'any update without audited');
      const replaced = await member.put(`${POLICIES}/${p.id}`, {
        firewall_policy: { firewall_rules: [d.id, a.id] },
      });
      assert.deepEqual(replaced.body.firewall_policy.firewall_rules, [d.id, a.id]);
      refused(
        await member.del(`${RULES}/${a.id}`),
        409,
        'FirewallRuleInUse',
        `Firewall rule ${a.id} is being used.`,
      );
      assert.equal((await member.del(`${RULES}/${c.id}`)).status, 204);
      refused(await member.get(`${RULES}/${c.id}`), 404, 'FirewallRuleNotFound');
    });

    it('keeps rules and policies to their project unless shared; only admins share', async () => {
      const mine = await rule({ name: 'mine' });
      refused(await other.get(`${RULES}/${mine.id}`), 404, 'FirewallRuleNotFound');
      refused(
        await other.post(POLICIES, { firewall_policy: { firewall_rules: [mine.id] } }),
        404,
        'FirewallRuleNotFound',
      );
      const shared = await rule({ name: 'shared', shared: true }, admin);
      assert.equal((await other.get(`${RULES}/${shared.id}`)).status, 200, 'a shared rule is visible to all');
      const theirs = await policy({ firewall_rules: [shared.id] }, other);
      assert.deepEqual(theirs.firewall_rules, [shared.id]);
      refused(
        await admin.post(POLICIES, { firewall_policy: { shared: true, firewall_rules: [mine.id] } }),
        404,
        'FirewallRuleSharingConflict',
      );
      const adminPolicy = await policy({ name: 'ap' }, admin);
      refused(
        await admin.put(`${POLICIES}/${adminPolicy.id}/insert_rule`, { firewall_rule_id: mine.id }),
        409,
        'FirewallRuleConflict',
        `Operation cannot be performed since firewall rule ${mine.id} is not shared and belongs to another project ${memberProject}.`,
      );
      const pm = await policy({ firewall_rules: [mine.id] });
      refused(
        await admin.put(`${POLICIES}/${pm.id}`, { firewall_policy: { shared: true } }),
        409,
        'FirewallPolicySharingConflict',
      );
      refused(
        await member.put(`${POLICIES}/${pm.id}`, { firewall_policy: { shared: true } }),
        403,
        'PolicyNotAuthorized',
      );
      refused(
        await other.put(`${POLICIES}/${pm.id}`, { firewall_policy: { name: 'x' } }),
        404,
        'FirewallPolicyNotFound',
      );
    });

    it('creates the default group on first use, with neutron-fwaas names and rules', async () => {
      const listed = await member.get(GROUPS);
      assert.equal(listed.status, 200, JSON.stringify(listed.body));
      const defaults = listed.body.firewall_groups.filter((g: { name: string }) => g.name === 'default');
      assert.equal(defaults.length, 1);
      const g = defaults[0];
      assert.equal(g.status, 'INACTIVE');
      assert.deepEqual(g.ports, []);
      assert.equal(g.description, 'Default firewall group');
      const ingress = (await member.get(`${POLICIES}/${g.ingress_firewall_policy_id}`)).body.firewall_policy;
      const egress = (await member.get(`${POLICIES}/${g.egress_firewall_policy_id}`)).body.firewall_policy;
      assert.equal(ingress.name, 'default ingress');
      assert.equal(egress.name, 'default egress');
      const rules = await Promise.all(
        [...ingress.firewall_rules, ...egress.firewall_rules].map(
          async (id: string) => (await member.get(`${RULES}/${id}`)).body.firewall_rule,
        ),
      );
      assert.deepEqual(
        rules.map((r) => [r.name, r.action, r.ip_version, r.protocol]),
        [
          ['default ingress ipv4', 'deny', 4, null],
          ['default ingress ipv6', 'deny', 6, null],
          ['default egress ipv4', 'allow', 4, null],
          ['default egress ipv6', 'allow', 6, null],
        ],
      );
      const again = await member.get(GROUPS);
      assert.equal(
        again.body.firewall_groups.filter((x: { name: string }) => x.name === 'default').length,
        1,
      );
      refused(
        await member.post(GROUPS, { firewall_group: { name: 'default' } }),
        409,
        'FirewallDefaultParameterExists',
        "Operation cannot be performed since 'default' is a reserved name for Firewall Group.",
      );
      refused(
        await member.post(POLICIES, { firewall_policy: { name: 'default ingress' } }),
        409,
        'FirewallDefaultParameterExists',
      );
      refused(
        await member.put(`${POLICIES}/${ingress.id}`, { firewall_policy: { description: 'x' } }),
        409,
        'FirewallDefaultObjectUpdateRestricted',
      );
      refused(
        await member.put(`${GROUPS}/${g.id}`, { firewall_group: { admin_state_up: false } }),
        409,
        'FirewallDefaultObjectUpdateRestricted',
      );
      refused(
        await member.del(`${GROUPS}/${g.id}`),
        409,
        'FirewallGroupCannotRemoveDefault',
        'Deleting default firewall group not allowed.',
      );
      refused(await member.del(`${POLICIES}/${ingress.id}`), 409, 'FirewallPolicyInUse');
    });

    it('puts router interface ports in one group only and refuses other ports', async () => {
      const allowIcmp = await rule({ protocol: 'icmp', action: 'allow' });
      const p = await policy({ name: 'icmp only', firewall_rules: [allowIcmp.id] });
      const created = await member.post(GROUPS, {
        firewall_group: { name: 'fw', ingress_firewall_policy_id: p.id, ports: [ifacePort] },
      });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      const g = created.body.firewall_group;
      assert.equal(g.status, 'ACTIVE');
      assert.equal(g.admin_state_up, true);
      assert.equal(g.egress_firewall_policy_id, null);
      assert.deepEqual(g.ports, [ifacePort]);
      refused(
        await member.post(GROUPS, { firewall_group: { name: 'fw2', ports: [ifacePort] } }),
        409,
        'FirewallGroupPortInUse',
        `Port(s) ['${ifacePort}'] provided already associated with other firewall group(s).`,
      );
      refused(
        await member.post(GROUPS, { firewall_group: { name: 'vm', ports: [vmPort] } }),
        409,
        'FirewallGroupPortNotSupported',
        `Port ${vmPort} is not supported by firewall driver 'neutrino (bound instance ports only)'.`,
      );
      refused(
        await member.post(GROUPS, { firewall_group: { name: 'plain', ports: [dhcpLikePort] } }),
        409,
        'FirewallGroupPortInvalid',
        `Port ${dhcpLikePort} of firewall group is invalid.`,
      );
      refused(await other.post(GROUPS, { firewall_group: { ports: [ifacePort2] } }), 404, 'PortNotFound');
      const adminGroup = await admin.post(GROUPS, {
        firewall_group: { name: 'admins', ports: [ifacePort2] },
      });
      refused(adminGroup, 409, 'FirewallGroupPortInvalidProject');
      refused(
        await other.post(GROUPS, { firewall_group: { ingress_firewall_policy_id: p.id } }),
        404,
        'FirewallPolicyNotFound',
      );
      const names = (await member.get(`${GROUPS}?name=fw2`)).body.firewall_groups;
      assert.deepEqual(names, [], 'nothing half-created');
      const down = await member.put(`${GROUPS}/${g.id}`, { firewall_group: { admin_state_up: false } });
      assert.equal(down.body.firewall_group.status, 'DOWN');
      const up = await member.put(`${GROUPS}/${g.id}`, {
        firewall_group: { admin_state_up: true, ports: [ifacePort, ifacePort2] },
      });
      assert.equal(up.status, 200, JSON.stringify(up.body));
      assert.deepEqual(up.body.firewall_group.ports, [ifacePort, ifacePort2]);
      refused(
        await member.del(`${POLICIES}/${p.id}`),
        409,
        'FirewallPolicyInUse',
        `Firewall policy ${p.id} is being used.`,
      );
      refused(
        await member.del(`${GROUPS}/${g.id}`),
        409,
        'FirewallGroupInUse',
        `Firewall group ${g.id} is still active.`,
      );

      // The host snapshot: the router's ports carry their group's rules, resolved in order.
      const sync = async () => {
        const r = await admin.post('/neutrino/v1/hosts/h1/sync', undefined);
        assert.equal(r.status, 200, JSON.stringify(r.body));
        return r.body.snapshot as { routers: { id: string; firewall_groups?: unknown[] }[] };
      };
      await sync();
      const routerSnapshot = (await sync()).routers.find((r) => r.id === routerId);
      assert.deepEqual(
        routerSnapshot?.firewall_groups,
        [ifacePort, ifacePort2].sort().map((port_id) => ({
          port_id,
          firewall_group_id: g.id,
          admin_state_up: true,
          ingress: [
            {
              id: allowIcmp.id,
              protocol: 'icmp',
              ip_version: 4,
              source_ip_address: null,
              destination_ip_address: null,
              source_port: null,
              destination_port: null,
              action: 'allow',
            },
          ],
          egress: [],
        })),
      );
      const emptied = await member.put(`${GROUPS}/${g.id}`, { firewall_group: { ports: [] } });
      assert.equal(emptied.body.firewall_group.status, 'INACTIVE');
      assert.equal((await member.del(`${GROUPS}/${g.id}`)).status, 204);
      refused(
        await member.get(`${GROUPS}/${g.id}`),
        404,
        'FirewallGroupNotFound',
        `Firewall group ${g.id} could not be found.`,
      );
    });

    it('lets a deleted router interface leave its group', async () => {
      const net = (await member.post('/v2.0/networks', { network: { name: 'gone' } })).body.network;
      const sub = (
        await member.post('/v2.0/subnets', {
          subnet: { network_id: net.id, ip_version: 4, cidr: '10.10.9.0/24' },
        })
      ).body.subnet;
      const iface = await member.put(`/v2.0/routers/${routerId}/add_router_interface`, { subnet_id: sub.id });
      const port = iface.body.port_id as string;
      const g = (await member.post(GROUPS, { firewall_group: { name: 'going', ports: [port] } })).body
        .firewall_group;
      assert.equal(g.status, 'INACTIVE', 'ports but no policy: INACTIVE');
      const removed = await member.put(`/v2.0/routers/${routerId}/remove_router_interface`, {
        subnet_id: sub.id,
      });
      assert.equal(removed.status, 200, JSON.stringify(removed.body));
      const after = (await member.get(`${GROUPS}/${g.id}`)).body.firewall_group;
      assert.deepEqual(after.ports, []);
    });

    it('names the firewall rule, or the default drop, in a packet trace across the router', async () => {
      const boot = async (name: string, port: string) => {
        const networkId = (await member.get(`/v2.0/ports/${port}`)).body.port.network_id as string;
        const r = await member.post('/neutrino/v1/instances', {
          instance: { name, networks: [{ network_id: networkId }] },
        });
        assert.equal(r.status, 201, JSON.stringify(r.body));
        return r.body.instance.id as string;
      };
      const source = await boot('fw-client', ifacePort);
      const target = await boot('fw-server', ifacePort2);
      const noSsh = await rule({ name: 'no-ssh', protocol: 'tcp', destination_port: '22', action: 'deny' });
      const tcp = await rule({ name: 'tcp', protocol: 'tcp', action: 'allow' });
      const p = await policy({ name: 'traced', firewall_rules: [noSsh.id, tcp.id] });
      const g = await member.post(GROUPS, {
        firewall_group: { name: 'traced', ingress_firewall_policy_id: p.id, ports: [ifacePort2] },
      });
      assert.equal(g.status, 201, JSON.stringify(g.body));
      const traceTo = async (protocol: string, port?: number) => {
        const r = await member.post('/neutrino/v1/trace', {
          source,
          destination: target,
          protocol,
          ...(port ? { port } : {}),
        });
        assert.equal(r.status, 200, JSON.stringify(r.body));
        return r.body as {
          verdict: string;
          hops: { step: string; object: { type: string; id: string }; detail: string; ok: boolean }[];
        };
      };
      const ssh = await traceTo('tcp', 22);
      assert.equal(ssh.verdict, 'denied', JSON.stringify(ssh));
      const last = ssh.hops.at(-1);
      assert.equal(last?.step, 'firewall');
      assert.deepEqual(last?.object, { type: 'firewall_rule', id: noSsh.id, name: 'no-ssh' });
      assert.match(
        last?.detail ?? '',
        /ingress firewall rule no-ssh .* of firewall group traced .* drops tcp port 22/,
      );
      const web = await traceTo('tcp', 80);
      assert.equal(web.verdict, 'allowed', JSON.stringify(web));
      assert.ok(web.hops.some((h) => h.step === 'firewall' && h.ok && h.object.id === tcp.id));
      const icmp = await traceTo('icmp');
      assert.equal(icmp.verdict, 'denied');
      assert.equal(icmp.hops.at(-1)?.object.type, 'firewall_group');
      assert.match(
        icmp.hops.at(-1)?.detail ?? '',
        /no ingress rule of firewall group traced .* the group's default drop/,
      );
      const otherView = await other.post('/neutrino/v1/trace', {
        source,
        destination: target,
        protocol: 'icmp',
      });
      assert.notEqual(otherView.status, 200, 'another project traces nothing of these ports');
      await member.put(`${GROUPS}/${g.body.firewall_group.id}`, { firewall_group: { ports: [] } });
      assert.equal((await traceTo('icmp')).verdict, 'allowed', 'out of the group: nothing filters');
    });

    it('puts bound instance ports of its project in one group; the host snapshot and traces carry it', async () => {
      const netA = (await member.get(`/v2.0/ports/${ifacePort}`)).body.port.network_id as string;
      const boot = async (c: Client, name: string, networkId: string) => {
        const r = await c.post('/neutrino/v1/instances', {
          instance: { name, networks: [{ network_id: networkId }] },
        });
        assert.equal(r.status, 201, JSON.stringify(r.body));
        const id = r.body.instance.id as string;
        const ports = (await c.get(`/v2.0/ports?device_id=${id}`)).body.ports;
        assert.equal(ports.length, 1);
        return { id, port: ports[0].id as string, address: ports[0].fixed_ips[0].ip_address as string };
      };
      const client = await boot(member, 'vm-client', netA);
      const server = await boot(member, 'vm-server', netA);
      const shown = (await member.get(`/v2.0/ports/${server.port}`)).body.port;
      assert.match(shown.device_owner, /^compute:/);
      assert.notEqual(shown['binding:vif_type'], 'unbound');

      const noSsh = await rule({
        name: 'vm-no-ssh',
        protocol: 'tcp',
        destination_port: '22',
        action: 'deny',
      });
      const any = await rule({ name: 'vm-any', action: 'allow' });
      const out = await rule({
        name: 'vm-no-8080',
        protocol: 'tcp',
        destination_port: '8080',
        action: 'reject',
      });
      const inbound = await policy({ name: 'vm-in', firewall_rules: [noSsh.id, any.id] });
      const outbound = await policy({ name: 'vm-out', firewall_rules: [out.id, any.id] });
      const created = await member.post(GROUPS, {
        firewall_group: {
          name: 'vm-fw',
          ingress_firewall_policy_id: inbound.id,
          egress_firewall_policy_id: outbound.id,
          ports: [server.port],
        },
      });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      const g = created.body.firewall_group;
      assert.equal(g.status, 'ACTIVE');
      assert.deepEqual(g.ports, [server.port]);

      refused(
        await member.post(GROUPS, { firewall_group: { name: 'vm-fw2', ports: [server.port] } }),
        409,
        'FirewallGroupPortInUse',
        `Port(s) ['${server.port}'] provided already associated with other firewall group(s).`,
      );
      refused(
        await admin.post(GROUPS, { firewall_group: { name: 'admins-vm', ports: [client.port] } }),
        409,
        'FirewallGroupPortInvalidProject',
      );
      refused(await other.post(GROUPS, { firewall_group: { ports: [client.port] } }), 404, 'PortNotFound');
      const otherNet = (await other.post('/v2.0/networks', { network: { name: 'o' } })).body.network;
      await other.post('/v2.0/subnets', {
        subnet: { network_id: otherNet.id, ip_version: 4, cidr: '10.77.0.0/24' },
      });
      const foreign = await boot(other, 'other-vm', otherNet.id);
      refused(
        await member.put(`${GROUPS}/${g.id}`, { firewall_group: { ports: [server.port, foreign.port] } }),
        404,
        'PortNotFound',
      );
      const dhcp = await admin.post('/v2.0/ports', {
        port: { network_id: netA, device_owner: 'network:dhcp', project_id: memberProject },
      });
      assert.equal(dhcp.status, 201, JSON.stringify(dhcp.body));
      refused(
        await member.put(`${GROUPS}/${g.id}`, {
          firewall_group: { ports: [server.port, dhcp.body.port.id] },
        }),
        409,
        'FirewallGroupPortInvalid',
        `Port ${dhcp.body.port.id} of firewall group is invalid.`,
      );
      assert.deepEqual(
        (await member.get(`${GROUPS}/${g.id}`)).body.firewall_group.ports,
        [server.port],
        'nothing half-changed',
      );

      // The host snapshot carries the instance port's group at the top, not under a router.
      const sync = async () => {
        const r = await admin.post('/neutrino/v1/hosts/h1/sync', undefined);
        assert.equal(r.status, 200, JSON.stringify(r.body));
        return r.body.snapshot as {
          firewall_groups?: { port_id: string; ingress: { id: string }[]; egress: { id: string }[] }[];
          routers: { firewall_groups?: { port_id: string }[] }[];
        };
      };
      await sync();
      const snapshot = await sync();
      const mine = (snapshot.firewall_groups ?? []).filter((f) => f.port_id === server.port);
      assert.equal(mine.length, 1, JSON.stringify(snapshot.firewall_groups));
      assert.deepEqual(
        mine[0]?.ingress.map((r) => r.id),
        [noSsh.id, any.id],
      );
      assert.deepEqual(
        mine[0]?.egress.map((r) => r.id),
        [out.id, any.id],
      );
      assert.ok(
        snapshot.routers.every((r) => !(r.firewall_groups ?? []).some((f) => f.port_id === server.port)),
        'not a router interface',
      );

      const trace = async (source: string, destination: string, protocol: string, port?: number) => {
        const r = await member.post('/neutrino/v1/trace', {
          source,
          destination,
          protocol,
          ...(port ? { port } : {}),
        });
        assert.equal(r.status, 200, JSON.stringify(r.body));
        return r.body as {
          verdict: string;
          hops: { step: string; object: { type: string; id: string }; detail: string; ok: boolean }[];
        };
      };
      // The default security group lets members of the group in: only the firewall decides.
      const ssh = await trace(client.id, server.id, 'tcp', 22);
      assert.equal(ssh.verdict, 'denied', JSON.stringify(ssh));
      assert.deepEqual(ssh.hops.at(-1)?.object, { type: 'firewall_rule', id: noSsh.id, name: 'vm-no-ssh' });
      assert.match(
        ssh.hops.at(-1)?.detail ?? '',
        /ingress firewall rule vm-no-ssh .* of firewall group vm-fw on .*\(instance port\) drops tcp port 22/,
      );
      const icmp = await trace(client.id, server.id, 'icmp');
      assert.equal(icmp.verdict, 'allowed', JSON.stringify(icmp));
      assert.ok(icmp.hops.some((h) => h.step === 'firewall' && h.ok && h.object.id === any.id));
      const outward = await trace(server.id, client.id, 'tcp', 8080);
      assert.equal(outward.verdict, 'denied', JSON.stringify(outward));
      assert.match(
        outward.hops.at(-1)?.detail ?? '',
        /egress firewall rule vm-no-8080 .* rejects tcp port 8080/,
      );

      const emptied = await member.put(`${GROUPS}/${g.id}`, { firewall_group: { ports: [] } });
      assert.equal(emptied.status, 200, JSON.stringify(emptied.body));
      assert.equal((await trace(client.id, server.id, 'tcp', 22)).verdict, 'allowed');
      assert.ok(!((await sync()).firewall_groups ?? []).some((f) => f.port_id === server.port));
    });

    it('advertises fwaas_v2', async () => {
      const r = await member.get('/v2.0/extensions/fwaas_v2');
      assert.equal(r.status, 200, JSON.stringify(r.body));
      assert.equal(r.body.extension.alias, 'fwaas_v2');
    });
  });
}
