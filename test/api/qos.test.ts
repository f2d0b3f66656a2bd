/**
 * QoS (`qos` and companions): policies (create, list, show, update, delete, tags, shared and
 * private visibility, one default per project and a network created without a policy getting it),
 * their rules under a policy and by alias (defaults, Neutron's conversions and refusals, one per
 * type and direction, minimum against maximum), rule types with their details, `qos_policy_id`
 * on networks, ports, floating IPs and router gateways (another project's private policy is not
 * found, a policy in use cannot go), the extensions advertised, the policy's revision growing
 * with every rule change, and what a host's snapshot asks of the data plane.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Snapshot } from '../../src/model/host-snapshot.js';
import { client, dialects, startTestServer, type TestServer } from '../helpers/server.js';

type Client = ReturnType<typeof client>;
type Reply = { status: number; body: { NeutronError?: { type: string; message: string } } };

const errorOf = (r: Reply) => `${r.status} ${r.body.NeutronError?.type}: ${r.body.NeutronError?.message}`;

for (const dialect of dialects()) {
  describe(`QoS (${dialect})`, () => {
    let t: TestServer;
    let admin: Client;
    let member: Client;
    let memberProject: string;
    let other: Client;
    before(async () => {
      t = await startTestServer(dialect, { defaultHost: 'qos-host' });
      admin = client(t, t.adminToken);
      const m = await t.newProjectUser();
      member = client(t, m.token);
      memberProject = m.projectId;
      other = client(t, (await t.newProjectUser()).token);
    });
    after(() => t.close());

    const policy = async (body: Record<string, unknown> = {}) => {
      const r = await admin.post('/v2.0/qos/policies', {
        policy: { name: 'p', project_id: memberProject, ...body },
      });
      assert.equal(r.status, 201, JSON.stringify(r.body));
      return r.body.policy as { id: string; revision_number: number };
    };
    const rule = async (policyId: string, type: string, body: Record<string, unknown>, c: Client = admin) =>
      c.post(`/v2.0/qos/policies/${policyId}/${type}_rules`, { [`${type}_rule`]: body });
    const network = async (c: Client = member, body: Record<string, unknown> = {}) => {
      const r = await c.post('/v2.0/networks', { network: { name: 'n', ...body } });
      assert.equal(r.status, 201, JSON.stringify(r.body));
      return r.body.network as { id: string; qos_policy_id: string | null };
    };

    it('advertises the QoS extensions', async () => {
      const aliases = (await admin.get('/v2.0/extensions')).body.extensions.map(
        (e: { alias: string }) => e.alias,
      );
      for (const alias of [
        'qos',
        'qos-bw-limit-direction',
        'qos-default',
        'qos-fip',
        'qos-gateway-ip',
        'qos-rules-alias',
        'qos-rule-type-details',
        'qos-port-network-policy',
      ])
        assert.ok(aliases.includes(alias), alias);
    });

    it('creates, shows, lists, updates, tags and deletes a policy as Neutron shows it', async () => {
      const r = await admin.post('/v2.0/qos/policies', {
        policy: { name: 'gold', description: 'd', project_id: memberProject },
      });
      assert.equal(r.status, 201, JSON.stringify(r.body));
      const p = r.body.policy;
      assert.deepEqual(
        Object.keys(p).sort(),
        [
          'created_at',
          'description',
          'id',
          'is_default',
          'name',
          'project_id',
          'revision_number',
          'rules',
          'shared',
          'tags',
          'tenant_id',
          'updated_at',
        ].sort(),
      );
      assert.equal(p.shared, false);
      assert.equal(p.is_default, false);
      assert.deepEqual(p.rules, []);
      assert.equal(p.project_id, memberProject);
      const shown = (await member.get(`/v2.0/qos/policies/${p.id}`)).body.policy;
      assert.equal(shown.name, 'gold');
      assert.ok(
        (await member.get('/v2.0/qos/policies')).body.policies.some((x: { id: string }) => x.id === p.id),
      );
      assert.ok(
        !(await other.get('/v2.0/qos/policies')).body.policies.some((x: { id: string }) => x.id === p.id),
      );
      assert.equal((await other.get(`/v2.0/qos/policies/${p.id}`)).status, 404);
      const byName = (await admin.get('/v2.0/qos/policies?name=gold')).body.policies;
      assert.ok(byName.every((x: { name: string }) => x.name === 'gold') && byName.length >= 1);
      const u = await admin.put(`/v2.0/qos/policies/${p.id}`, { policy: { name: 'platinum', shared: true } });
      assert.equal(u.status, 200, JSON.stringify(u.body));
      assert.equal(u.body.policy.name, 'platinum');
      assert.equal(u.body.policy.revision_number, p.revision_number + 1);
      // Shared: every project sees it.
      assert.equal((await other.get(`/v2.0/qos/policies/${p.id}`)).status, 200);
      assert.equal((await admin.put(`/v2.0/qos/policies/${p.id}/tags/blue`, undefined)).status, 201);
      assert.deepEqual((await admin.get(`/v2.0/qos/policies/${p.id}`)).body.policy.tags, ['blue']);
      assert.equal((await admin.del(`/v2.0/qos/policies/${p.id}`)).status, 204);
      const gone = await admin.get(`/v2.0/qos/policies/${p.id}`);
      assert.equal(errorOf(gone), `404 QosPolicyNotFound: QoS policy ${p.id} could not be found.`);
    });

    it('leaves policies and their rules to admins (Neutron’s defaults), and refuses unknown attributes', async () => {
      const r = await member.post('/v2.0/qos/policies', { policy: { name: 'mine' } });
      assert.equal(errorOf(r), '403 PolicyNotAuthorized: (rule:create_policy) is disallowed by policy');
      const p = await policy();
      const byMember = await rule(p.id, 'bandwidth_limit', { max_kbps: 1000 }, member);
      assert.equal(
        errorOf(byMember),
        '403 PolicyNotAuthorized: (rule:create_policy_bandwidth_limit_rule) is disallowed by policy',
      );
      const unknown = await admin.post('/v2.0/qos/policies', { policy: { name: 'x', colour: 'red' } });
      assert.equal(errorOf(unknown), "400 HTTPBadRequest: Unrecognized attribute(s) 'colour'");
    });

    it('keeps bandwidth-limit rules, one per direction, with Neutron’s defaults and refusals', async () => {
      const p = await policy();
      const egress = await rule(p.id, 'bandwidth_limit', { max_kbps: 10000, max_burst_kbps: 800 });
      assert.equal(egress.status, 201, JSON.stringify(egress.body));
      const e = egress.body.bandwidth_limit_rule;
      assert.deepEqual(Object.keys(e).sort(), ['direction', 'id', 'max_burst_kbps', 'max_kbps']);
      assert.equal(e.direction, 'egress');
      const ingress = await rule(p.id, 'bandwidth_limit', { max_kbps: '20000', direction: 'ingress' });
      assert.equal(ingress.status, 201, JSON.stringify(ingress.body));
      assert.equal(ingress.body.bandwidth_limit_rule.max_kbps, 20000);
      assert.equal(ingress.body.bandwidth_limit_rule.max_burst_kbps, 0);
      const again = await rule(p.id, 'bandwidth_limit', { max_kbps: 5, direction: 'egress' });
      assert.equal(
        errorOf(again),
        `409 QoSRulesConflict: Rule bandwidth_limit conflicts with rule ${e.id} which already exists in QoS Policy ${p.id}.`,
      );
      assert.equal(
        errorOf(await rule(p.id, 'bandwidth_limit', { max_kbps: -1 })),
        "400 HTTPBadRequest: Invalid input for max_kbps. Reason: '-1' is too small - must be at least '1'.",
      );
      // A limit of 0 (Neutron takes it) would shape to nothing: refused here.
      assert.equal(
        errorOf(await rule(p.id, 'bandwidth_limit', { max_kbps: 0 })),
        "400 HTTPBadRequest: Invalid input for max_kbps. Reason: '0' is too small - must be at least '1'.",
      );
      assert.equal(
        errorOf(await rule(p.id, 'bandwidth_limit', { max_kbps: 2 ** 31 })),
        "400 HTTPBadRequest: Invalid input for max_kbps. Reason: '2147483648' is too large - must be no larger than '2147483647'.",
      );
      assert.equal(
        errorOf(await rule(p.id, 'bandwidth_limit', { max_kbps: 'fast' })),
        "400 InvalidInput: Invalid input for operation: 'fast' is not an integer.",
      );
      assert.equal(
        errorOf(await rule(p.id, 'bandwidth_limit', { max_kbps: 1, direction: 'up' })),
        '400 HTTPBadRequest: Invalid input for direction. Reason: up is not in valid_values.',
      );
      assert.equal(
        errorOf(await rule(p.id, 'bandwidth_limit', { max_burst_kbps: 1 })),
        "400 HTTPBadRequest: Failed to parse request. Required attribute 'max_kbps' not specified",
      );
      assert.equal(
        errorOf(await rule(p.id, 'bandwidth_limit', { max_kbps: 1, dscp_mark: 26 })),
        "400 HTTPBadRequest: Unrecognized attribute(s) 'dscp_mark'",
      );
      const list = (await member.get(`/v2.0/qos/policies/${p.id}/bandwidth_limit_rules`)).body
        .bandwidth_limit_rules;
      assert.deepEqual(list.map((x: { direction: string }) => x.direction).sort(), ['egress', 'ingress']);
      const byRate = await member.get(`/v2.0/qos/policies/${p.id}/bandwidth_limit_rules?max_kbps=20000`);
      assert.deepEqual(
        byRate.body.bandwidth_limit_rules.map((x: { direction: string }) => x.direction),
        ['ingress'],
      );
      const filtered = await member.get(`/v2.0/qos/policies/${p.id}/bandwidth_limit_rules?direction=ingress`);
      assert.deepEqual(
        filtered.body.bandwidth_limit_rules.map((x: { max_kbps: number }) => x.max_kbps),
        [20000],
      );
      const shown = await member.get(`/v2.0/qos/policies/${p.id}/bandwidth_limit_rules/${e.id}`);
      assert.deepEqual(shown.body.bandwidth_limit_rule, e);
      const moved = await admin.put(`/v2.0/qos/policies/${p.id}/bandwidth_limit_rules/${e.id}`, {
        bandwidth_limit_rule: { direction: 'ingress' },
      });
      assert.equal(moved.status, 409, JSON.stringify(moved.body));
      const changed = await admin.put(`/v2.0/qos/policies/${p.id}/bandwidth_limit_rules/${e.id}`, {
        bandwidth_limit_rule: { max_kbps: 3000 },
      });
      assert.equal(changed.status, 200, JSON.stringify(changed.body));
      assert.equal(changed.body.bandwidth_limit_rule.max_kbps, 3000);
      const shownPolicy = (await admin.get(`/v2.0/qos/policies/${p.id}`)).body.policy;
      assert.deepEqual(
        shownPolicy.rules.find((x: { id: string }) => x.id === e.id),
        { ...e, max_kbps: 3000, qos_policy_id: p.id, type: 'bandwidth_limit' },
      );
      // Every rule change is a change of the policy (its revision, and so the change feed).
      assert.equal(shownPolicy.revision_number, p.revision_number + 3);
      const missing = await admin.get(`/v2.0/qos/policies/${p.id}/bandwidth_limit_rules/${p.id}`);
      assert.equal(
        errorOf(missing),
        `404 QosRuleNotFound: QoS rule ${p.id} for policy ${p.id} could not be found.`,
      );
      assert.equal((await admin.del(`/v2.0/qos/policies/${p.id}/bandwidth_limit_rules/${e.id}`)).status, 204);
      assert.equal((await admin.get(`/v2.0/qos/policies/${p.id}`)).body.policy.rules.length, 1);
    });

    it('keeps DSCP marking and minimum bandwidth rules with Neutron’s checks', async () => {
      const p = await policy();
      const dscp = await rule(p.id, 'dscp_marking', { dscp_mark: 26 });
      assert.equal(dscp.status, 201, JSON.stringify(dscp.body));
      assert.deepEqual(Object.keys(dscp.body.dscp_marking_rule).sort(), ['dscp_mark', 'id']);
      assert.equal(
        errorOf(await rule(p.id, 'dscp_marking', { dscp_mark: 7 })),
        '400 HTTPBadRequest: Invalid input for dscp_mark. Reason: 7 is not in valid_values.',
      );
      assert.equal((await rule(p.id, 'dscp_marking', { dscp_mark: 10 })).status, 409);
      assert.equal((await rule(p.id, 'bandwidth_limit', { max_kbps: 1000 })).status, 201);
      const tooMuch = await rule(p.id, 'minimum_bandwidth', { min_kbps: 2000 });
      assert.equal(
        errorOf(tooMuch),
        `409 QoSRuleParameterConflict: Unable to add the rule with value 2000 to the policy ${p.id} as the existing rule of type bandwidth_limit has value 1000.`,
      );
      const min = await rule(p.id, 'minimum_bandwidth', { min_kbps: 500 });
      assert.equal(min.status, 201, JSON.stringify(min.body));
      assert.deepEqual(min.body.minimum_bandwidth_rule.direction, 'egress');
      assert.equal(
        errorOf(await rule(p.id, 'minimum_bandwidth', { min_kbps: 1, direction: 'ingress' })),
        '400 HTTPBadRequest: Invalid input for direction. Reason: ingress is not in valid_values.',
      );
      const types = (await admin.get(`/v2.0/qos/policies/${p.id}`)).body.policy.rules
        .map((x: { type: string }) => x.type)
        .sort();
      assert.deepEqual(types, ['bandwidth_limit', 'dscp_marking', 'minimum_bandwidth']);
    });

    it('shows, updates and deletes rules by id alone (qos-rules-alias)', async () => {
      const p = await policy();
      const id = (await rule(p.id, 'dscp_marking', { dscp_mark: 26 })).body.dscp_marking_rule.id;
      const shown = await member.get(`/v2.0/qos/alias-dscp-marking-rules/${id}`);
      assert.equal(shown.status, 200, JSON.stringify(shown.body));
      assert.deepEqual(shown.body.alias_dscp_marking_rule, { id, dscp_mark: 26 });
      assert.equal((await other.get(`/v2.0/qos/alias-dscp-marking-rules/${id}`)).status, 404);
      const u = await admin.put(`/v2.0/qos/alias-dscp-marking-rules/${id}`, {
        alias_dscp_marking_rule: { dscp_mark: 46 },
      });
      assert.equal(u.status, 200, JSON.stringify(u.body));
      assert.equal(u.body.alias_dscp_marking_rule.dscp_mark, 46);
      assert.equal(
        errorOf(await admin.get(`/v2.0/qos/alias-bandwidth-limit-rules/${id}`)),
        `404 QosRuleNotFound: QoS rule ${id} for policy  could not be found.`,
      );
      assert.equal((await admin.del(`/v2.0/qos/alias-dscp-marking-rules/${id}`)).status, 204);
      assert.deepEqual((await admin.get(`/v2.0/qos/policies/${p.id}`)).body.policy.rules, []);
    });

    it('lists the enforced rule types and details them for admins', async () => {
      const list = (await member.get('/v2.0/qos/rule-types')).body.rule_types;
      assert.deepEqual(list.map((x: { type: string }) => x.type).sort(), ['bandwidth_limit', 'dscp_marking']);
      const all = (await member.get('/v2.0/qos/rule-types?all_rules=true')).body.rule_types;
      assert.equal(all.length, 3);
      const bw = await admin.get('/v2.0/qos/rule-types/bandwidth_limit');
      assert.equal(bw.status, 200, JSON.stringify(bw.body));
      assert.equal(bw.body.rule_type.type, 'bandwidth_limit');
      assert.equal(bw.body.rule_type.drivers[0].name, 'linuxbridge');
      assert.deepEqual(bw.body.rule_type.drivers[0].supported_parameters[0], {
        parameter_name: 'max_kbps',
        parameter_values: { start: 1, end: 2147483647 },
        parameter_type: 'range',
      });
      const min = await admin.get('/v2.0/qos/rule-types/minimum_bandwidth');
      assert.deepEqual(min.body.rule_type, { type: 'minimum_bandwidth', drivers: [] });
      assert.equal(
        errorOf(await member.get('/v2.0/qos/rule-types/bandwidth_limit')),
        '403 NotAuthorized: Not authorized.',
      );
    });

    it('attaches policies to networks and ports; another project’s private one is not found', async () => {
      const p = await policy();
      const foreign = await policy({ project_id: t.adminProjectId });
      const net = await network();
      assert.equal(net.qos_policy_id, null);
      const set = await member.put(`/v2.0/networks/${net.id}`, { network: { qos_policy_id: p.id } });
      assert.equal(set.status, 200, JSON.stringify(set.body));
      assert.equal(set.body.network.qos_policy_id, p.id);
      const refused = await member.put(`/v2.0/networks/${net.id}`, {
        network: { qos_policy_id: foreign.id },
      });
      assert.equal(errorOf(refused), `404 QosPolicyNotFound: QoS policy ${foreign.id} could not be found.`);
      const port = await member.post('/v2.0/ports', { port: { network_id: net.id, qos_policy_id: p.id } });
      assert.equal(port.status, 201, JSON.stringify(port.body));
      assert.equal(port.body.port.qos_policy_id, p.id);
      const listed = (await member.get(`/v2.0/ports?network_id=${net.id}`)).body.ports;
      assert.equal(listed[0].qos_policy_id, p.id);
      // qos-port-network-policy: its network's policy beside its own, in every view.
      assert.equal(listed[0].qos_network_policy_id, p.id);
      assert.equal(port.body.port.qos_network_policy_id, p.id);
      const sorted = await member.get(
        `/v2.0/ports?network_id=${net.id}&sort_key=name&fields=qos_network_policy_id`,
      );
      assert.deepEqual(sorted.body.ports, [{ qos_network_policy_id: p.id }]);
      const elsewhere = await network();
      const plain = (await member.post('/v2.0/ports', { port: { network_id: elsewhere.id } })).body.port;
      assert.equal(plain.qos_network_policy_id, null);
      assert.equal((await member.get(`/v2.0/ports/${plain.id}`)).body.port.qos_network_policy_id, null);
      const bad = await member.post('/v2.0/ports', {
        port: { network_id: net.id, qos_policy_id: foreign.id },
      });
      assert.equal(bad.status, 404);
      const notUuid = await member.post('/v2.0/ports', {
        port: { network_id: net.id, qos_policy_id: 'gold' },
      });
      assert.equal(
        errorOf(notUuid),
        "400 HTTPBadRequest: Invalid input for qos_policy_id. Reason: 'gold' is not a valid UUID.",
      );
      const inUse = await admin.del(`/v2.0/qos/policies/${p.id}`);
      assert.equal(
        errorOf(inUse),
        `409 QosPolicyInUse: QoS Policy ${p.id} is used by port ${port.body.port.id}.`,
      );
      // An admin puts its own private policy on the member's port: the member cannot take it off.
      assert.equal(
        (await admin.put(`/v2.0/ports/${port.body.port.id}`, { port: { qos_policy_id: foreign.id } })).status,
        200,
      );
      const off = await member.put(`/v2.0/ports/${port.body.port.id}`, { port: { qos_policy_id: null } });
      assert.equal(
        errorOf(off),
        `403 PolicyRemoveAuthorizationError: Failed to remove provided policy ${foreign.id} because you are not authorized.`,
      );
      assert.equal(
        (await admin.put(`/v2.0/ports/${port.body.port.id}`, { port: { qos_policy_id: null } })).status,
        200,
      );
      const netInUse = await admin.del(`/v2.0/qos/policies/${p.id}`);
      assert.equal(errorOf(netInUse), `409 QosPolicyInUse: QoS Policy ${p.id} is used by network ${net.id}.`);
      assert.equal(
        (await member.put(`/v2.0/networks/${net.id}`, { network: { qos_policy_id: null } })).status,
        200,
      );
      assert.equal((await admin.del(`/v2.0/qos/policies/${p.id}`)).status, 204);
    });

    it('opens a private policy to one project by RBAC (object type qos_policy)', async () => {
      const p = await policy({ project_id: t.adminProjectId });
      const o = await t.newProjectUser();
      const viewer = client(t, o.token);
      assert.equal((await viewer.get(`/v2.0/qos/policies/${p.id}`)).status, 404);
      const grant = await admin.post('/v2.0/rbac-policies', {
        rbac_policy: {
          object_type: 'qos_policy',
          object_id: p.id,
          action: 'access_as_shared',
          target_tenant: o.projectId,
        },
      });
      assert.equal(grant.status, 201, JSON.stringify(grant.body));
      assert.equal((await viewer.get(`/v2.0/qos/policies/${p.id}`)).status, 200);
      assert.ok(
        (await viewer.get('/v2.0/qos/policies')).body.policies.some((x: { id: string }) => x.id === p.id),
      );
      const net = await network(viewer, { qos_policy_id: p.id });
      assert.equal(net.qos_policy_id, p.id);
      const revoke = await admin.del(`/v2.0/rbac-policies/${grant.body.rbac_policy.id}`);
      assert.equal(revoke.status, 409, 'the project uses the policy');
      assert.equal(
        errorOf(
          await admin.post('/v2.0/rbac-policies', {
            rbac_policy: {
              object_type: 'qos_policy',
              object_id: p.id,
              action: 'access_as_external',
              target_tenant: '*',
            },
          }),
        ),
        "400 InvalidActionForType: Invalid action 'access_as_external' for object type 'qos_policy'. Valid actions: access_as_shared",
      );
      assert.equal(
        (await viewer.put(`/v2.0/networks/${net.id}`, { network: { qos_policy_id: null } })).status,
        200,
      );
      // A shared policy another project uses cannot be unshared.
      assert.equal((await admin.put(`/v2.0/qos/policies/${p.id}`, { policy: { shared: true } })).status, 200);
      const third = client(t, (await t.newProjectUser()).token);
      const used = await network(third, { qos_policy_id: p.id });
      const unshare = await admin.put(`/v2.0/qos/policies/${p.id}`, { policy: { shared: false } });
      assert.equal(
        errorOf(unshare),
        `409 RbacPolicyInUse: RBAC policy on object ${p.id} cannot be removed because other objects depend on it.\nDetails: project_id=*`,
      );
      assert.equal(
        (await third.put(`/v2.0/networks/${used.id}`, { network: { qos_policy_id: null } })).status,
        200,
      );
      assert.equal(
        (await admin.put(`/v2.0/qos/policies/${p.id}`, { policy: { shared: false } })).status,
        200,
      );
      assert.equal((await admin.del(`/v2.0/qos/policies/${p.id}`)).status, 204);
      assert.equal((await admin.get(`/v2.0/rbac-policies/${grant.body.rbac_policy.id}`)).status, 404);
    });

    it('refuses a minimum-bandwidth policy on networks and ports, as Neutron’s Linux bridge driver does', async () => {
      const p = await policy();
      const min = await rule(p.id, 'minimum_bandwidth', { min_kbps: 1000 });
      assert.equal(min.status, 201, JSON.stringify(min.body));
      const net = await network();
      const onNetwork = await member.put(`/v2.0/networks/${net.id}`, { network: { qos_policy_id: p.id } });
      assert.equal(
        errorOf(onNetwork),
        `409 QosRuleNotSupportedByNetwork: Rule minimum_bandwidth is not supported by network ${net.id}`,
      );
      const refused = await member.post('/v2.0/networks', { network: { name: 'n', qos_policy_id: p.id } });
      assert.equal(refused.status, 409);
      assert.equal(
        (await member.get('/v2.0/networks?name=n')).body.networks.some(
          (n: { qos_policy_id: string }) => n.qos_policy_id === p.id,
        ),
        false,
      );
      const port = (await member.post('/v2.0/ports', { port: { network_id: net.id } })).body.port;
      assert.equal(
        errorOf(await member.put(`/v2.0/ports/${port.id}`, { port: { qos_policy_id: p.id } })),
        `409 QosRuleNotSupported: Rule minimum_bandwidth is not supported by port ${port.id}`,
      );
      // A policy a port uses cannot take a minimum-bandwidth rule; nothing is left of the attempt.
      const used = await policy();
      assert.equal(
        (await member.put(`/v2.0/ports/${port.id}`, { port: { qos_policy_id: used.id } })).status,
        200,
      );
      const late = await rule(used.id, 'minimum_bandwidth', { min_kbps: 10 });
      assert.equal(
        errorOf(late),
        `409 QosRuleNotSupported: Rule minimum_bandwidth is not supported by port ${port.id}`,
      );
      assert.deepEqual((await admin.get(`/v2.0/qos/policies/${used.id}`)).body.policy.rules, []);
      assert.equal(
        (await member.put(`/v2.0/ports/${port.id}`, { port: { qos_policy_id: null } })).status,
        200,
      );
    });

    it('keeps one default policy per project, which new networks get', async () => {
      const d = await policy({ is_default: true });
      assert.equal((await admin.get(`/v2.0/qos/policies/${d.id}`)).body.policy.is_default, true);
      const second = await admin.post('/v2.0/qos/policies', {
        policy: { name: 'd2', project_id: memberProject, is_default: true },
      });
      assert.equal(
        errorOf(second),
        `409 QoSPolicyDefaultAlreadyExists: A default QoS policy exists for project ${memberProject}.`,
      );
      assert.equal((await network()).qos_policy_id, d.id);
      const chosen = await policy();
      assert.equal((await network(member, { qos_policy_id: chosen.id })).qos_policy_id, chosen.id);
      // Another project's networks do not get it.
      assert.equal((await network(other)).qos_policy_id, null);
      assert.equal(
        errorOf(await admin.get('/v2.0/qos/policies?colour=red')),
        "400 HTTPBadRequest: ['colour'] is invalid attribute for filtering",
      );
      const defaults = (await admin.get('/v2.0/qos/policies?is_default=True')).body.policies;
      assert.deepEqual(
        defaults.map((x: { id: string }) => x.id),
        [d.id],
      );
      const unset = await admin.put(`/v2.0/qos/policies/${d.id}`, { policy: { is_default: false } });
      assert.equal(unset.body.policy.is_default, false);
      assert.equal((await network()).qos_policy_id, null);
    });

    describe('on floating IPs, router gateways and in the host snapshot', () => {
      let ext: { id: string };
      let net: { id: string };
      let limited: { id: string };
      before(async () => {
        ext = await network(admin, { name: 'ext', 'router:external': true });
        await admin.post('/v2.0/subnets', {
          subnet: { network_id: ext.id, ip_version: 4, cidr: '198.51.100.0/24' },
        });
        net = await network();
        await member.post('/v2.0/subnets', {
          subnet: { network_id: net.id, ip_version: 4, cidr: '10.9.0.0/24' },
        });
        limited = await policy({ shared: true });
        assert.equal(
          (await rule(limited.id, 'bandwidth_limit', { max_kbps: 10000, max_burst_kbps: 1000 })).status,
          201,
        );
        assert.equal(
          (await rule(limited.id, 'bandwidth_limit', { max_kbps: 20000, direction: 'ingress' })).status,
          201,
        );
        assert.equal((await rule(limited.id, 'dscp_marking', { dscp_mark: 26 })).status, 201);
      });

      const sync = async (host: string): Promise<Snapshot> => {
        const r = await admin.post(`/neutrino/v1/hosts/${host}/sync`, undefined);
        assert.equal(r.status, 200, JSON.stringify(r.body));
        return r.body.snapshot;
      };
      const expected = {
        policy_id: '',
        bandwidth_limits: [
          { direction: 'egress', max_kbps: 10000, max_burst_kbps: 1000 },
          { direction: 'ingress', max_kbps: 20000, max_burst_kbps: 0 },
        ],
        dscp_mark: 26,
      };

      it('puts a floating IP’s and a router gateway’s limits in the snapshot, and refuses to delete their policy', async () => {
        const router = await member.post('/v2.0/routers', {
          router: { name: 'r', external_gateway_info: { network_id: ext.id, qos_policy_id: limited.id } },
        });
        assert.equal(router.status, 201, JSON.stringify(router.body));
        assert.equal(router.body.router.external_gateway_info.qos_policy_id, limited.id);
        const routerId = router.body.router.id;
        const sub = (await member.get(`/v2.0/subnets?network_id=${net.id}`)).body.subnets[0];
        await member.put(`/v2.0/routers/${routerId}/add_router_interface`, { subnet_id: sub.id });
        const port = (await member.post('/v2.0/ports', { port: { network_id: net.id } })).body.port;
        const fip = await member.post('/v2.0/floatingips', {
          floatingip: { floating_network_id: ext.id, port_id: port.id, qos_policy_id: limited.id },
        });
        assert.equal(fip.status, 201, JSON.stringify(fip.body));
        assert.equal(fip.body.floatingip.qos_policy_id, limited.id);
        const snapshot = await sync('qos-host');
        const r = snapshot.routers.find((x) => x.id === routerId)!;
        const limits = { ...expected, policy_id: limited.id, dscp_mark: null };
        assert.deepEqual(r.gateway?.qos, limits);
        assert.deepEqual(r.floating_ips.find((f) => f.id === fip.body.floatingip.id)?.qos, limits);
        // A minimum-bandwidth rule is accepted on a floating IP's or gateway's policy, and not sent.
        // A floating IP whose policy only marks is not shaped (nothing to send).
        const marking = await policy({ shared: true });
        assert.equal((await rule(marking.id, 'dscp_marking', { dscp_mark: 10 })).status, 201);
        await member.put(`/v2.0/floatingips/${fip.body.floatingip.id}`, {
          floatingip: { qos_policy_id: marking.id },
        });
        const marked = (await sync('qos-host')).routers.find((x) => x.id === routerId)!;
        assert.equal(marked.floating_ips.find((f) => f.id === fip.body.floatingip.id)?.qos, undefined);
        await member.put(`/v2.0/floatingips/${fip.body.floatingip.id}`, {
          floatingip: { qos_policy_id: limited.id },
        });
        const min = await rule(limited.id, 'minimum_bandwidth', { min_kbps: 100 });
        assert.equal(min.status, 201, JSON.stringify(min.body));
        assert.deepEqual(
          (await sync('qos-host')).routers.find((x) => x.id === routerId)?.gateway?.qos,
          limits,
        );
        const minId = min.body.minimum_bandwidth_rule.id;
        assert.equal(
          (await admin.del(`/v2.0/qos/policies/${limited.id}/minimum_bandwidth_rules/${minId}`)).status,
          204,
        );
        const inUse = await admin.del(`/v2.0/qos/policies/${limited.id}`);
        assert.equal(inUse.status, 409);
        assert.match(inUse.body.NeutronError.message, / is used by (fip|router) /);
        // Changing the gateway without the key keeps the policy; null clears it.
        const kept = await member.put(`/v2.0/routers/${routerId}`, {
          router: { external_gateway_info: { network_id: ext.id } },
        });
        assert.equal(kept.body.router.external_gateway_info.qos_policy_id, limited.id);
        const cleared = await member.put(`/v2.0/routers/${routerId}`, {
          router: { external_gateway_info: { network_id: ext.id, qos_policy_id: null } },
        });
        assert.equal(cleared.status, 200, JSON.stringify(cleared.body));
        assert.equal(cleared.body.router.external_gateway_info.qos_policy_id, undefined);
        const fipOff = await member.put(`/v2.0/floatingips/${fip.body.floatingip.id}`, {
          floatingip: { qos_policy_id: null },
        });
        assert.equal(fipOff.body.floatingip.qos_policy_id, null);
        const after = await sync('qos-host');
        const r2 = after.routers.find((x) => x.id === routerId)!;
        assert.equal(r2.gateway?.qos, undefined);
        assert.equal(r2.floating_ips.find((f) => f.id === fip.body.floatingip.id)?.qos, undefined);
      });

      it('gives a port its own policy, else a compute port its network’s, and follows rule changes', async () => {
        const host = 'qos-compute';
        await admin.post(`/neutrino/v1/hosts/${host}/heartbeat`, {
          agent: { agent_type: 'Linux bridge agent', binary: 'neutrino-agent' },
        });
        const quiet = await policy();
        assert.equal((await rule(quiet.id, 'dscp_marking', { dscp_mark: 10 })).status, 201);
        const vmNet = await network(member, { qos_policy_id: limited.id });
        await member.post('/v2.0/subnets', {
          subnet: { network_id: vmNet.id, ip_version: 4, cidr: '10.8.0.0/24' },
        });
        const vm = await admin.post('/neutrino/v1/instances', {
          instance: { name: 'vm', host, networks: [{ network_id: vmNet.id }, { network_id: vmNet.id }] },
        });
        assert.equal(vm.status, 201, JSON.stringify(vm.body));
        const [first, second] = vm.body.instance.ports.map((p: { id: string }) => p.id);
        await admin.put(`/v2.0/ports/${second}`, { port: { qos_policy_id: quiet.id } });
        const dhcp = (await admin.get(`/v2.0/ports?network_id=${vmNet.id}&device_owner=network:dhcp`)).body
          .ports;
        let s = await sync(host);
        const qosOf = (id: string) => s.ports.find((p) => p.id === id)?.qos;
        assert.deepEqual(qosOf(first), { ...expected, policy_id: limited.id });
        assert.deepEqual(qosOf(second), { policy_id: quiet.id, bandwidth_limits: [], dscp_mark: 10 });
        for (const p of dhcp) if (s.ports.some((x) => x.id === p.id)) assert.equal(qosOf(p.id), undefined);
        // A rule change reaches the snapshot, through a revision of the policy.
        const before = await t.store.latestRevision();
        const egress = (
          await admin.get(`/v2.0/qos/policies/${limited.id}/bandwidth_limit_rules?direction=egress`)
        ).body.bandwidth_limit_rules[0];
        await admin.put(`/v2.0/qos/policies/${limited.id}/bandwidth_limit_rules/${egress.id}`, {
          bandwidth_limit_rule: { max_kbps: 5000 },
        });
        const changes = await t.store.db
          .selectFrom('revisions')
          .select(['resource', 'resource_id'])
          .where('revision', '>', before)
          .execute();
        assert.deepEqual(changes, [{ resource: 'qos_policies', resource_id: limited.id }]);
        s = await sync(host);
        assert.equal(qosOf(first)?.bandwidth_limits[0].max_kbps, 5000);
        // A limit of 0 is refused (it would shape to nothing); deleting the rule lifts it.
        const ingress = (
          await admin.get(`/v2.0/qos/policies/${limited.id}/bandwidth_limit_rules?direction=ingress`)
        ).body.bandwidth_limit_rules[0];
        const zero = await admin.put(`/v2.0/qos/policies/${limited.id}/bandwidth_limit_rules/${ingress.id}`, {
          bandwidth_limit_rule: { max_kbps: 0 },
        });
        assert.equal(zero.status, 400, JSON.stringify(zero.body));
        const gone = await admin.del(`/v2.0/qos/policies/${limited.id}/bandwidth_limit_rules/${ingress.id}`);
        assert.equal(gone.status, 204, JSON.stringify(gone.body));
        s = await sync(host);
        assert.deepEqual(
          qosOf(first)?.bandwidth_limits.map((l) => l.direction),
          ['egress'],
        );
      });
    });
  });
}
