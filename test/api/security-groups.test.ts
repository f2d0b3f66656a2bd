import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { now } from '../../src/store/store.js';
import { client, dialects, type Response, startTestServer, type TestServer } from '../helpers/server.js';

type Client = ReturnType<typeof client>;
type Rule = Record<string, unknown> & { id: string };

function fails(r: Response, status: number, type: string): void {
  assert.equal(r.status, status, JSON.stringify(r.body));
  assert.equal(r.body.NeutronError.type, type, JSON.stringify(r.body));
}

for (const dialect of dialects()) {
  describe(`security groups (${dialect})`, () => {
    let t: TestServer;
    let admin: Client;
    before(async () => {
      t = await startTestServer(dialect);
      admin = client(t, t.adminToken);
    });
    after(() => t.close());

    /** A member of a new project and a fresh (non-default) group of theirs. */
    async function projectWithGroup(name = 'sg') {
      const user = await t.newProjectUser();
      const c = client(t, user.token);
      const r = await c.post('/v2.0/security-groups', { security_group: { name } });
      assert.equal(r.status, 201, JSON.stringify(r.body));
      return { ...user, c, sg: r.body.security_group };
    }

    const rule = (c: Client, sg: { id: string }, attrs: Record<string, unknown>) =>
      c.post('/v2.0/security-group-rules', {
        security_group_rule: { security_group_id: sg.id, direction: 'ingress', ...attrs },
      });

    async function created(c: Client, sg: { id: string }, attrs: Record<string, unknown>): Promise<Rule> {
      const r = await rule(c, sg, attrs);
      assert.equal(r.status, 201, JSON.stringify(r.body));
      return r.body.security_group_rule;
    }

    it("makes the project's default group with Neutron's four rules on first list, once", async () => {
      const p = await t.newProjectUser();
      const c = client(t, p.token);
      const first = await c.get('/v2.0/security-groups');
      assert.equal(first.status, 200);
      assert.equal(first.body.security_groups.length, 1);
      const sg = first.body.security_groups[0];
      assert.equal(sg.name, 'default');
      assert.equal(sg.description, 'Default security group');
      assert.equal(sg.project_id, p.projectId);
      assert.equal(sg.tenant_id, p.projectId);
      assert.equal(sg.stateful, true);
      assert.equal(sg.shared, false);
      assert.deepEqual(sg.tags, []);
      const rules = sg.security_group_rules.map((r: Rule) => [
        r.direction,
        r.ethertype,
        r.remote_group_id,
        r.protocol,
        r.remote_ip_prefix,
      ]);
      assert.deepEqual(
        rules.sort(),
        [
          ['egress', 'IPv4', null, null, null],
          ['egress', 'IPv6', null, null, null],
          ['ingress', 'IPv4', sg.id, null, null],
          ['ingress', 'IPv6', sg.id, null, null],
        ].sort(),
      );
      assert.ok(
        sg.security_group_rules.every(
          (r: Rule) => r.belongs_to_default_sg === true && r.project_id === p.projectId,
        ),
      );
      assert.equal((await c.get('/v2.0/security-groups')).body.security_groups.length, 1);
      const listed = await c.get('/v2.0/security-group-rules');
      assert.equal(listed.body.security_group_rules.length, 4);

      const q = await t.newProjectUser();
      const rulesFirst = await client(t, q.token).get('/v2.0/security-group-rules');
      assert.equal(
        rulesFirst.body.security_group_rules.length,
        4,
        'listing rules also makes the default group',
      );
    });

    it('gives a new group the two egress rules and stores hostile strings verbatim', async () => {
      const name = `a'b"c;$(rm -rf /) DROP TABLE security_groups;--`;
      const { c, sg, projectId } = await projectWithGroup(name);
      assert.equal(sg.name, name);
      assert.equal(sg.description, '');
      assert.equal(sg.stateful, true);
      assert.equal(sg.revision_number, 0);
      assert.equal(sg.project_id, projectId);
      assert.deepEqual(
        sg.security_group_rules
          .map((r: Rule) => [
            r.direction,
            r.ethertype,
            r.protocol,
            r.remote_group_id,
            r.belongs_to_default_sg,
          ])
          .sort(),
        [
          ['egress', 'IPv4', null, null, false],
          ['egress', 'IPv6', null, null, false],
        ],
      );
      const found = await c.get(`/v2.0/security-groups?name=${encodeURIComponent(name)}`);
      assert.equal(found.body.security_groups.length, 1);
      assert.equal(found.body.security_groups[0].name, name);
      const stateless = await c.post('/v2.0/security-groups', {
        security_group: { name: 'sl', stateful: false, description: '<b>x</b>' },
      });
      assert.equal(stateless.body.security_group.stateful, false);
      assert.equal(stateless.body.security_group.description, '<b>x</b>');
      fails(
        await c.post('/v2.0/security-groups', { security_group: { name: 'x', shared: true } }),
        400,
        'HTTPBadRequest',
      );
    });

    it('reserves the name default', async () => {
      const { c, sg } = await projectWithGroup();
      fails(
        await c.post('/v2.0/security-groups', { security_group: { name: 'Default' } }),
        409,
        'SecurityGroupDefaultAlreadyExists',
      );
      fails(
        await c.put(`/v2.0/security-groups/${sg.id}`, { security_group: { name: 'default' } }),
        409,
        'SecurityGroupDefaultAlreadyExists',
      );
      const def = (await c.get('/v2.0/security-groups?name=default')).body.security_groups[0];
      fails(
        await c.put(`/v2.0/security-groups/${def.id}`, { security_group: { name: 'mine' } }),
        409,
        'SecurityGroupCannotUpdateDefault',
      );
      const ok = await c.put(`/v2.0/security-groups/${def.id}`, {
        security_group: { description: 'still default' },
      });
      assert.equal(ok.status, 200);
      assert.equal(ok.body.security_group.description, 'still default');
      assert.equal(ok.body.security_group.security_group_rules.length, 4);
    });

    it("accepts the openstack CLI's rule body and refuses its duplicate, by name or number", async () => {
      const { c, sg, projectId } = await projectWithGroup('sg1');
      const body = {
        security_group_rule: {
          direction: 'ingress',
          remote_ip_prefix: '0.0.0.0/0',
          port_range_min: 22,
          security_group_id: sg.id,
          protocol: 'tcp',
          ethertype: 'IPv4',
          port_range_max: 22,
        },
      };
      const r = await c.post('/v2.0/security-group-rules', body);
      assert.equal(r.status, 201, JSON.stringify(r.body));
      const got = r.body.security_group_rule;
      assert.deepEqual(
        { ...got, id: undefined, created_at: undefined, updated_at: undefined },
        {
          id: undefined,
          created_at: undefined,
          updated_at: undefined,
          project_id: projectId,
          tenant_id: projectId,
          security_group_id: sg.id,
          direction: 'ingress',
          ethertype: 'IPv4',
          protocol: 'tcp',
          port_range_min: 22,
          port_range_max: 22,
          remote_ip_prefix: '0.0.0.0/0',
          normalized_cidr: '0.0.0.0/0',
          remote_group_id: null,
          remote_address_group_id: null,
          description: '',
          belongs_to_default_sg: false,
          tags: [],
          revision_number: 0,
        },
      );
      const dup = await c.post('/v2.0/security-group-rules', body);
      fails(dup, 409, 'SecurityGroupRuleExists');
      assert.match(dup.body.NeutronError.message, new RegExp(got.id));
      fails(
        await rule(c, sg, { protocol: '6', port_range_min: 22, port_range_max: 22 }),
        409,
        'SecurityGroupRuleExists',
      );
      const egressAny = await rule(c, sg, { direction: 'egress', remote_ip_prefix: '0.0.0.0/0' });
      fails(egressAny, 409, 'SecurityGroupRuleExists');
      const shown = await c.get(`/v2.0/security-groups/${sg.id}`);
      assert.equal(shown.body.security_group.revision_number, 1, 'a new rule revises its group');
      assert.equal(shown.body.security_group.security_group_rules.length, 3);
    });

    it('normalises protocol names and numbers, ethertype case and the full port range', async () => {
      const { c, sg } = await projectWithGroup();
      assert.equal(
        (await created(c, sg, { protocol: 'TCP', port_range_min: 80, port_range_max: 81 })).protocol,
        'tcp',
      );
      assert.equal((await created(c, sg, { protocol: 17 })).protocol, '17');
      assert.equal((await created(c, sg, { protocol: '047' })).protocol, '47');
      assert.equal(
        (await created(c, sg, { protocol: 'any', remote_ip_prefix: '198.51.100.0/24' })).protocol,
        null,
      );
      const v6 = await created(c, sg, { protocol: 'icmp', ethertype: 'ipv6' });
      assert.deepEqual([v6.protocol, v6.ethertype], ['ipv6-icmp', 'IPv6']);
      fails(await rule(c, sg, { protocol: 'icmpv6', ethertype: 'IPv6' }), 409, 'SecurityGroupRuleExists');
      assert.equal(
        (await created(c, sg, { protocol: '1', ethertype: 'IPv6', direction: 'egress' })).protocol,
        '58',
      );
      const full = await created(c, sg, {
        protocol: 'udp',
        direction: 'egress',
        port_range_min: 1,
        port_range_max: 65535,
      });
      assert.deepEqual([full.port_range_min, full.port_range_max], [null, null]);
      const strings = await created(c, sg, {
        protocol: 'sctp',
        port_range_min: '5000',
        port_range_max: '5001',
      });
      assert.deepEqual([strings.port_range_min, strings.port_range_max], [5000, 5001]);
      for (const protocol of ['bogus', 256, '-1', 'encap']) {
        fails(await rule(c, sg, { protocol }), 400, 'SecurityGroupRuleInvalidProtocol');
      }
      fails(await rule(c, sg, { protocol: 'ipv6-icmp' }), 400, 'SecurityGroupEthertypeConflictWithProtocol');
      fails(await rule(c, sg, { protocol: '43' }), 400, 'SecurityGroupEthertypeConflictWithProtocol');
      fails(await rule(c, sg, { ethertype: 'IPv5' }), 400, 'SecurityGroupRuleInvalidEtherType');
      fails(await rule(c, sg, { direction: 'sideways' }), 400, 'HTTPBadRequest');
      fails(
        await c.post('/v2.0/security-group-rules', { security_group_rule: { direction: 'ingress' } }),
        400,
        'HTTPBadRequest',
      );
      fails(await rule(c, sg, { bogus: 1 }), 400, 'HTTPBadRequest');
    });

    it('validates port ranges and ICMP type and code', async () => {
      const { c, sg } = await projectWithGroup();
      fails(
        await rule(c, sg, { protocol: 'tcp', port_range_min: 100, port_range_max: 10 }),
        400,
        'SecurityGroupInvalidPortRange',
      );
      fails(await rule(c, sg, { protocol: 'tcp', port_range_min: 22 }), 400, 'SecurityGroupInvalidPortRange');
      fails(
        await rule(c, sg, { protocol: 'udp', port_range_min: 0, port_range_max: 10 }),
        400,
        'SecurityGroupInvalidPortValue',
      );
      fails(
        await rule(c, sg, { protocol: 'tcp', port_range_min: 1, port_range_max: 70000 }),
        400,
        'SecurityGroupInvalidPortValue',
      );
      fails(
        await rule(c, sg, { protocol: 'tcp', port_range_min: 'http', port_range_max: 80 }),
        400,
        'SecurityGroupInvalidPortValue',
      );
      fails(
        await rule(c, sg, { port_range_min: 22, port_range_max: 22 }),
        400,
        'SecurityGroupProtocolRequiredWithPorts',
      );
      fails(await rule(c, sg, { protocol: 'icmp', port_range_max: 0 }), 400, 'SecurityGroupMissingIcmpType');
      fails(
        await rule(c, sg, { protocol: 'icmp', port_range_min: 300 }),
        400,
        'SecurityGroupInvalidIcmpValue',
      );
      fails(
        await rule(c, sg, { protocol: 'icmp', port_range_min: 8, port_range_max: 256 }),
        400,
        'SecurityGroupInvalidIcmpValue',
      );
      fails(
        await rule(c, sg, { protocol: 'gre', port_range_min: 1, port_range_max: 2 }),
        400,
        'SecurityGroupInvalidProtocolForPort',
      );
      const echo = await created(c, sg, { protocol: 'icmp', port_range_min: 8, port_range_max: 0 });
      assert.deepEqual([echo.port_range_min, echo.port_range_max], [8, 0]);
      const typeOnly = await created(c, sg, { protocol: 'icmp', port_range_min: 3 });
      assert.deepEqual([typeOnly.port_range_min, typeOnly.port_range_max], [3, null]);
    });

    it('keeps remote prefixes as given, adds a missing mask, and checks family and remotes', async () => {
      const { c, sg } = await projectWithGroup();
      const host = await created(c, sg, { remote_ip_prefix: '10.0.0.5/24' });
      assert.deepEqual([host.remote_ip_prefix, host.normalized_cidr], ['10.0.0.5/24', '10.0.0.0/24']);
      const bare = await created(c, sg, { remote_ip_prefix: '192.0.2.7' });
      assert.deepEqual([bare.remote_ip_prefix, bare.normalized_cidr], ['192.0.2.7/32', '192.0.2.7/32']);
      const v6 = await created(c, sg, { ethertype: 'IPv6', remote_ip_prefix: '2001:DB8::1/64' });
      assert.deepEqual([v6.remote_ip_prefix, v6.normalized_cidr], ['2001:db8::1/64', '2001:db8::/64']);
      fails(
        await rule(c, sg, { remote_ip_prefix: '2001:db8::/64' }),
        400,
        'SecurityGroupRuleParameterConflict',
      );
      fails(
        await rule(c, sg, { ethertype: 'IPv6', remote_ip_prefix: '10.0.0.0/8' }),
        400,
        'SecurityGroupRuleParameterConflict',
      );
      for (const bad of ['nope', '10.0.0.0/33', '10.0.0.0/8/8', '10.0.0.0/']) {
        fails(await rule(c, sg, { remote_ip_prefix: bad }), 400, 'InvalidCIDR');
      }
      fails(
        await rule(c, sg, { remote_ip_prefix: '10.0.0.0/8', remote_group_id: sg.id }),
        400,
        'SecurityGroupMultipleRemoteEntites',
      );
      fails(await rule(c, sg, { remote_group_id: randomUUID() }), 404, 'SecurityGroupNotFound');
      fails(await rule(c, sg, { remote_address_group_id: randomUUID() }), 404, 'AddressGroupNotFound');
      const self = await created(c, sg, {
        protocol: 'tcp',
        port_range_min: 22,
        port_range_max: 22,
        remote_group_id: sg.id,
      });
      assert.equal(self.remote_group_id, sg.id);
      assert.equal(self.remote_ip_prefix, null);
    });

    it("hides another project's groups and rules (404) and lets nobody else change them", async () => {
      const a = await projectWithGroup('a-private');
      const b = await projectWithGroup('b-private');
      const r = await created(a.c, a.sg, { protocol: 'tcp', port_range_min: 443, port_range_max: 443 });
      fails(await b.c.get(`/v2.0/security-groups/${a.sg.id}`), 404, 'SecurityGroupNotFound');
      fails(
        await b.c.put(`/v2.0/security-groups/${a.sg.id}`, { security_group: { name: 'x' } }),
        404,
        'SecurityGroupNotFound',
      );
      fails(await b.c.del(`/v2.0/security-groups/${a.sg.id}`), 404, 'SecurityGroupNotFound');
      fails(await rule(b.c, a.sg, { protocol: 'udp' }), 404, 'SecurityGroupNotFound');
      fails(await rule(b.c, b.sg, { remote_group_id: a.sg.id }), 404, 'SecurityGroupNotFound');
      fails(await b.c.get(`/v2.0/security-group-rules/${r.id}`), 404, 'SecurityGroupRuleNotFound');
      fails(await b.c.del(`/v2.0/security-group-rules/${r.id}`), 404, 'SecurityGroupRuleNotFound');
      const groups = (await b.c.get('/v2.0/security-groups')).body.security_groups;
      assert.ok(groups.every((g: { project_id: string }) => g.project_id === b.projectId));
      const rules = (await b.c.get('/v2.0/security-group-rules')).body.security_group_rules;
      assert.ok(rules.length > 0 && rules.every((x: Rule) => x.project_id === b.projectId));
      assert.equal((await admin.get(`/v2.0/security-group-rules/${r.id}`)).status, 200);
      const forA = await admin.post('/v2.0/security-groups', {
        security_group: { name: 'by-admin', project_id: a.projectId },
      });
      assert.equal(forA.body.security_group.project_id, a.projectId);
      fails(
        await a.c.post('/v2.0/security-groups', { security_group: { project_id: b.projectId } }),
        403,
        'PolicyNotAuthorized',
      );
    });

    it('shows RBAC-shared groups as shared to their target, read-only', async () => {
      const a = await projectWithGroup('to-share');
      const b = await t.newProjectUser();
      const cb = client(t, b.token);
      const policy = await a.c.post('/v2.0/rbac-policies', {
        rbac_policy: {
          object_type: 'security_group',
          object_id: a.sg.id,
          action: 'access_as_shared',
          target_tenant: b.projectId,
        },
      });
      assert.equal(policy.status, 201, JSON.stringify(policy.body));
      const seen = await cb.get(`/v2.0/security-groups/${a.sg.id}`);
      assert.equal(seen.status, 200);
      assert.equal(seen.body.security_group.shared, true);
      assert.equal(seen.body.security_group.security_group_rules.length, 2);
      assert.equal((await a.c.get(`/v2.0/security-groups/${a.sg.id}`)).body.security_group.shared, false);
      assert.ok(
        (await cb.get('/v2.0/security-groups')).body.security_groups.some(
          (g: { id: string }) => g.id === a.sg.id,
        ),
      );
      fails(await rule(cb, a.sg, { protocol: 'tcp' }), 403, 'PolicyNotAuthorized');
      fails(
        await cb.put(`/v2.0/security-groups/${a.sg.id}`, { security_group: { name: 'mine' } }),
        403,
        'PolicyNotAuthorized',
      );
      fails(await cb.del(`/v2.0/security-groups/${a.sg.id}`), 403, 'PolicyNotAuthorized');
    });

    it('refuses to delete the default group for its project, lets admin do it, and remakes it on next list', async () => {
      const p = await t.newProjectUser();
      const c = client(t, p.token);
      const def = (await c.get('/v2.0/security-groups')).body.security_groups[0];
      fails(await c.del(`/v2.0/security-groups/${def.id}`), 409, 'SecurityGroupCannotRemoveDefault');
      assert.equal((await admin.del(`/v2.0/security-groups/${def.id}`)).status, 204);
      const again = (await c.get('/v2.0/security-groups')).body.security_groups;
      assert.equal(again.length, 1);
      assert.notEqual(again[0].id, def.id);
      assert.equal(again[0].name, 'default');
    });

    it('refuses to delete a group a port uses, or to change its statefulness', async () => {
      const { c, sg, projectId } = await projectWithGroup();
      const at = now();
      await t.store.db
        .insertInto('ports')
        .values({
          id: randomUUID(),
          project_id: projectId,
          revision_number: 0,
          created_at: at,
          updated_at: at,
          doc: JSON.stringify({ security_groups: [sg.id] }),
          network_id: randomUUID(),
          mac_address: 'fa:16:3e:00:00:01',
          device_id: '',
          device_owner: '',
        })
        .execute();
      fails(await c.del(`/v2.0/security-groups/${sg.id}`), 409, 'SecurityGroupInUse');
      fails(
        await c.put(`/v2.0/security-groups/${sg.id}`, { security_group: { stateful: false } }),
        409,
        'SecurityGroupInUse',
      );
      assert.equal(
        (await c.put(`/v2.0/security-groups/${sg.id}`, { security_group: { name: 'renamed' } })).status,
        200,
      );
    });

    it('deletes a group with its rules and the rules that name it as remote, recording every change', async () => {
      const { c, sg } = await projectWithGroup('target');
      const other = (await c.post('/v2.0/security-groups', { security_group: { name: 'other' } })).body
        .security_group;
      const pointing = await created(c, other, {
        protocol: 'tcp',
        port_range_min: 5432,
        port_range_max: 5432,
        remote_group_id: sg.id,
      });
      const mark = await t.store.latestRevision();
      assert.equal((await c.del(`/v2.0/security-groups/${sg.id}`)).status, 204);
      fails(await c.get(`/v2.0/security-groups/${sg.id}`), 404, 'SecurityGroupNotFound');
      fails(await c.get(`/v2.0/security-group-rules/${pointing.id}`), 404, 'SecurityGroupRuleNotFound');
      assert.equal(
        (await c.get(`/v2.0/security-group-rules?security_group_id=${sg.id}`)).body.security_group_rules
          .length,
        0,
      );
      const changes = (await t.store.revisionsSince(mark)).map(
        (r) => `${r.resource}:${r.op}:${r.resource_id}`,
      );
      assert.ok(changes.includes(`security_groups:delete:${sg.id}`));
      assert.ok(changes.includes(`security_group_rules:delete:${pointing.id}`));
      assert.ok(changes.includes(`security_groups:update:${other.id}`));

      const r = await created(c, other, { protocol: 'udp', port_range_min: 53, port_range_max: 53 });
      const before = (await c.get(`/v2.0/security-groups/${other.id}`)).body.security_group.revision_number;
      assert.equal((await c.del(`/v2.0/security-group-rules/${r.id}`)).status, 204);
      fails(await c.get(`/v2.0/security-group-rules/${r.id}`), 404, 'SecurityGroupRuleNotFound');
      assert.equal(
        (await c.get(`/v2.0/security-groups/${other.id}`)).body.security_group.revision_number,
        before + 1,
      );
    });

    it('answers that rules cannot be updated', async () => {
      const { c, sg } = await projectWithGroup();
      const [r] = sg.security_group_rules;
      const ro = await c.put(`/v2.0/security-group-rules/${r.id}`, {
        security_group_rule: { direction: 'ingress' },
      });
      fails(ro, 400, 'HTTPBadRequest');
      assert.match(ro.body.NeutronError.message, /read-only attribute direction/);
      fails(
        await c.put(`/v2.0/security-group-rules/${r.id}`, { security_group_rule: { bogus: 1 } }),
        400,
        'HTTPBadRequest',
      );
      assert.equal(
        (await c.get(`/v2.0/security-group-rules/${r.id}`)).body.security_group_rule.direction,
        'egress',
      );
    });

    it('enforces the security_group and security_group_rule quotas with OverQuota', async () => {
      const p = await t.newProjectUser();
      const c = client(t, p.token);
      const q = await admin.put(`/v2.0/quotas/${p.projectId}`, {
        quota: { security_group: 2, security_group_rule: 7 },
      });
      assert.equal(q.status, 200, JSON.stringify(q.body));
      const sg = (await c.post('/v2.0/security-groups', { security_group: { name: 'one' } })).body
        .security_group;
      fails(await c.post('/v2.0/security-groups', { security_group: { name: 'two' } }), 409, 'OverQuota');
      await created(c, sg, { protocol: 'tcp' });
      fails(await rule(c, sg, { protocol: 'udp' }), 409, 'OverQuota');
    });

    it('creates in bulk all or nothing', async () => {
      const { c, sg } = await projectWithGroup();
      const count = async () =>
        (await c.get(`/v2.0/security-group-rules?security_group_id=${sg.id}`)).body.security_group_rules
          .length;
      const base = await count();
      const many = (rules: Record<string, unknown>[]) =>
        c.post('/v2.0/security-group-rules', {
          security_group_rules: rules.map((r) => ({ security_group_id: sg.id, direction: 'ingress', ...r })),
        });
      const ok = await many([
        { protocol: 'tcp', port_range_min: 80, port_range_max: 80 },
        { protocol: 'tcp', port_range_min: 443, port_range_max: 443 },
      ]);
      assert.equal(ok.status, 201, JSON.stringify(ok.body));
      assert.equal(ok.body.security_group_rules.length, 2);
      fails(
        await many([{ protocol: 'udp' }, { protocol: 'tcp', port_range_min: 9, port_range_max: 1 }]),
        400,
        'SecurityGroupInvalidPortRange',
      );
      fails(await many([{ protocol: 'udp' }, { protocol: '17' }]), 409, 'DuplicateSecurityGroupRuleInPost');
      fails(
        await many([{ protocol: 'udp' }, { protocol: 'tcp', port_range_min: 80, port_range_max: 80 }]),
        409,
        'SecurityGroupRuleExists',
      );
      const other = (await c.post('/v2.0/security-groups', { security_group: { name: 'other' } })).body
        .security_group;
      const two = await c.post('/v2.0/security-group-rules', {
        security_group_rules: [
          { security_group_id: sg.id, direction: 'ingress', protocol: 'udp' },
          { security_group_id: other.id, direction: 'ingress', protocol: 'udp' },
        ],
      });
      fails(two, 400, 'SecurityGroupNotSingleGroupRules');
      assert.equal(await count(), base + 2);
      const groups = (await c.get('/v2.0/security-groups')).body.security_groups.length;
      fails(
        await c.post('/v2.0/security-groups', { security_groups: [{ name: 'fine' }, { name: 'default' }] }),
        409,
        'SecurityGroupDefaultAlreadyExists',
      );
      assert.equal((await c.get('/v2.0/security-groups')).body.security_groups.length, groups);
    });

    it('filters rules by direction and group, and groups by name and id', async () => {
      const { c, sg } = await projectWithGroup('filtered');
      const r = await created(c, sg, { protocol: 'tcp', port_range_min: 22, port_range_max: 22 });
      const ingress = await c.get(`/v2.0/security-group-rules?direction=ingress&security_group_id=${sg.id}`);
      assert.deepEqual(
        ingress.body.security_group_rules.map((x: Rule) => x.id),
        [r.id],
      );
      const egress = await c.get(`/v2.0/security-group-rules?direction=egress&security_group_id=${sg.id}`);
      assert.equal(egress.body.security_group_rules.length, 2);
      const byPort = await c.get(
        `/v2.0/security-group-rules?port_range_min=22&protocol=tcp&security_group_id=${sg.id}`,
      );
      assert.equal(byPort.body.security_group_rules.length, 1);
      const fields = await c.get(`/v2.0/security-groups?id=${sg.id}&fields=id&fields=name`);
      assert.deepEqual(fields.body.security_groups, [{ id: sg.id, name: 'filtered' }]);
      fails(await c.get('/v2.0/security-groups/filtered'), 404, 'SecurityGroupNotFound');
    });

    it('stays consistent under concurrent first use and identical rule creates', async () => {
      const p = await t.newProjectUser();
      const c = client(t, p.token);
      const lists = await Promise.all([1, 2, 3, 4, 5].map(() => c.get('/v2.0/security-groups')));
      assert.ok(lists.every((l) => l.status === 200 && l.body.security_groups.length === 1));
      assert.equal(new Set(lists.map((l) => l.body.security_groups[0].id)).size, 1);
      const sg = (await c.post('/v2.0/security-groups', { security_group: { name: 'race' } })).body
        .security_group;
      const tries = await Promise.all(
        [1, 2, 3, 4].map(() => rule(c, sg, { protocol: 'tcp', port_range_min: 8080, port_range_max: 8080 })),
      );
      assert.deepEqual(tries.map((r) => r.status).sort(), [201, 409, 409, 409]);
    });

    it('lets readers read but not write', async () => {
      const r = await t.newProjectUser('reader');
      const c = client(t, r.token);
      assert.equal((await c.get('/v2.0/security-groups')).body.security_groups.length, 1);
      fails(
        await c.post('/v2.0/security-groups', { security_group: { name: 'nope' } }),
        403,
        'PolicyNotAuthorized',
      );
    });
  });
}
