/**
 * Network logging (Neutron's `logging`): log objects on security groups and firewall groups
 * created, listed, shown, updated and deleted as Neutron answers; each refusal of Neutron's and
 * neutron-fwaas's validators (an unknown type, an event other than ALL/ACCEPT/DROP, a group or port
 * not found, another project's port, a port outside the group, a port no driver logs, a firewall
 * group not active or a router interface in none) with nothing created, a bulk create included;
 * the cascades (a deleted security group or port takes the logs naming it); the records agents
 * post, read by the log's project only and in order; and the host snapshot carrying what to log.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { client, dialects, type Response, startTestServer, type TestServer } from '../helpers/server.js';

type Client = ReturnType<typeof client>;
const LOGS = '/v2.0/log/logs';

function refused(r: Response, status: number, type: string, message?: string): void {
  assert.equal(r.status, status, JSON.stringify(r.body));
  assert.equal(r.body.NeutronError.type, type, JSON.stringify(r.body));
  if (message !== undefined) assert.equal(r.body.NeutronError.message, message);
}

for (const dialect of dialects()) {
  describe(`network logging (${dialect})`, () => {
    let t: TestServer;
    let admin: Client;
    let member: Client;
    let other: Client;
    let memberProject: string;
    let net: string;
    let sg: string;
    let otherSg: string;
    let vm: string;
    let otherVm: string;
    let routerId: string;
    let iface: string;
    let iface2: string;

    before(async () => {
      t = await startTestServer(dialect, { defaultHost: 'log-h1' });
      admin = client(t, t.adminToken);
      const m = await t.newProjectUser();
      member = client(t, m.token);
      memberProject = m.projectId;
      other = client(t, (await t.newProjectUser()).token);
      net = (await member.post('/v2.0/networks', { network: { name: 'logged' } })).body.network.id;
      const sub = await member.post('/v2.0/subnets', {
        subnet: { network_id: net, ip_version: 4, cidr: '10.31.0.0/24' },
      });
      assert.equal(sub.status, 201, JSON.stringify(sub.body));
      sg = (await member.post('/v2.0/security-groups', { security_group: { name: 'web' } })).body
        .security_group.id;
      otherSg = (await other.post('/v2.0/security-groups', { security_group: { name: 'theirs' } })).body
        .security_group.id;
      const p = await admin.post('/v2.0/ports', {
        port: {
          network_id: net,
          project_id: memberProject,
          device_owner: 'compute:nova',
          'binding:host_id': 'log-h1',
          security_groups: [sg],
        },
      });
      assert.equal(p.status, 201, JSON.stringify(p.body));
      vm = p.body.port.id;
      const otherNet = (await other.post('/v2.0/networks', { network: { name: 'theirs' } })).body.network.id;
      otherVm = (
        await other.post('/v2.0/ports', { port: { network_id: otherNet, device_owner: 'compute:nova' } })
      ).body.port.id;
      routerId = (await member.post('/v2.0/routers', { router: { name: 'r' } })).body.router.id;
      const attach = async (cidr: string) => {
        const n = (await member.post('/v2.0/networks', { network: { name: cidr } })).body.network.id;
        const s = await member.post('/v2.0/subnets', { subnet: { network_id: n, ip_version: 4, cidr } });
        const r = await member.put(`/v2.0/routers/${routerId}/add_router_interface`, {
          subnet_id: s.body.subnet.id,
        });
        assert.equal(r.status, 200, JSON.stringify(r.body));
        return r.body.port_id as string;
      };
      iface = await attach('10.32.1.0/24');
      iface2 = await attach('10.32.2.0/24');
    });
    after(() => t.close());

    const logCount = async () => ((await admin.get(LOGS)).body.logs as unknown[]).length;
    const create = (body: Record<string, unknown>, c: Client = member) => c.post(LOGS, { log: body });

    it('lists the loggable resource types', async () => {
      const r = await member.get('/v2.0/log/loggable-resources');
      assert.equal(r.status, 200);
      assert.deepEqual(r.body, {
        loggable_resources: [{ type: 'security_group' }, { type: 'firewall_group' }],
      });
      const ext = await member.get('/v2.0/extensions/logging');
      assert.equal(ext.status, 200);
    });

    it('creates, lists, shows, updates and deletes a log as Neutron does', async () => {
      const r = await create({ name: 'sg-log', resource_type: 'security_group', resource_id: sg });
      assert.equal(r.status, 201, JSON.stringify(r.body));
      const log = r.body.log;
      assert.deepEqual(
        { ...log, id: undefined, created_at: undefined, updated_at: undefined },
        {
          id: undefined,
          created_at: undefined,
          updated_at: undefined,
          name: 'sg-log',
          description: '',
          project_id: memberProject,
          tenant_id: memberProject,
          resource_type: 'security_group',
          resource_id: sg,
          target_id: null,
          event: 'ALL',
          enabled: true,
          revision_number: 0,
        },
      );
      assert.equal((await member.get(`${LOGS}/${log.id}`)).body.log.name, 'sg-log');
      const listed = await member.get(`${LOGS}?resource_type=security_group&fields=id&fields=event`);
      assert.deepEqual(listed.body.logs, [{ id: log.id, event: 'ALL' }]);
      const set = await member.put(`${LOGS}/${log.id}`, { log: { enabled: 'false', description: 'off' } });
      assert.equal(set.status, 200, JSON.stringify(set.body));
      assert.equal(set.body.log.enabled, false);
      assert.equal(set.body.log.revision_number, 1);
      assert.equal((await member.put(`${LOGS}/${log.id}`, { log: { event: 'DROP' } })).status, 400);
      assert.equal((await member.put(`${LOGS}/${log.id}`, { log: { resource_id: null } })).status, 400);
      refused(
        await other.get(`${LOGS}/${log.id}`),
        404,
        'LogResourceNotFound',
        `Log resource ${log.id} could not be found.`,
      );
      refused(await other.put(`${LOGS}/${log.id}`, { log: { name: 'x' } }), 404, 'LogResourceNotFound');
      refused(await other.del(`${LOGS}/${log.id}`), 404, 'LogResourceNotFound');
      assert.deepEqual((await other.get(LOGS)).body.logs, []);
      assert.equal((await member.del(`${LOGS}/${log.id}`)).status, 204);
      refused(await member.get(`${LOGS}/${log.id}`), 404, 'LogResourceNotFound');
    });

    it('takes a port, a group and a port, or neither, and each event', async () => {
      for (const body of [
        { resource_type: 'security_group', target_id: vm, event: 'DROP' },
        { resource_type: 'security_group', resource_id: sg, target_id: vm, event: 'ACCEPT' },
        { resource_type: 'security_group', enabled: false },
      ]) {
        const r = await create(body);
        assert.equal(r.status, 201, JSON.stringify(r.body));
        assert.equal((await member.del(`${LOGS}/${r.body.log.id}`)).status, 204);
      }
    });

    it('refuses bad logs with Neutron’s errors and creates nothing', async () => {
      const before = await logCount();
      refused(
        await create({ resource_type: 'router' }),
        400,
        'InvalidLogResourceType',
        'Invalid log resource_type: router.',
      );
      refused(
        await create({ resource_type: 'security_group', event: 'REJECT' }),
        400,
        'HTTPBadRequest',
        "Invalid input for event. Reason: 'REJECT' is not in ['ACCEPT', 'DROP', 'ALL'].",
      );
      refused(await create({ resource_type: 'security_group', event: 'drop' }), 400, 'HTTPBadRequest');
      refused(await create({ resource_type: 'security_group', resource_id: 'nope' }), 400, 'HTTPBadRequest');
      assert.equal((await create({ event: 'ALL' })).status, 400, 'resource_type is required');
      assert.equal((await create({ resource_type: 'security_group', colour: 'red' })).status, 400);
      const missing = '11111111-2222-3333-4444-555555555555';
      refused(
        await create({ resource_type: 'security_group', resource_id: missing }),
        404,
        'ResourceNotFound',
        `Resource ${missing} could not be found.`,
      );
      refused(
        await create({ resource_type: 'security_group', resource_id: otherSg }),
        404,
        'ResourceNotFound',
      );
      refused(
        await create({ resource_type: 'security_group', target_id: missing }),
        404,
        'TargetResourceNotFound',
        `Target resource ${missing} could not be found.`,
      );
      refused(
        await create({ resource_type: 'security_group', target_id: otherVm }),
        404,
        'TargetResourceNotFound',
      );
      // An admin logging for the member's project on another project's port: not found either.
      refused(
        await create(
          { resource_type: 'security_group', target_id: otherVm, project_id: memberProject },
          admin,
        ),
        404,
        'TargetResourceNotFound',
      );
      const defaultSg = (await member.get('/v2.0/security-groups?name=default')).body.security_groups[0].id;
      refused(
        await create({ resource_type: 'security_group', resource_id: defaultSg, target_id: vm }),
        400,
        'InvalidResourceConstraint',
        `Invalid resource constraint between resource (security_group ${defaultSg}) and target resource (port ${vm}).`,
      );
      refused(
        await create({ resource_type: 'security_group', target_id: iface }),
        409,
        'LoggingTypeNotSupported',
        `Logging type security_group is not supported on port ${iface}.`,
      );
      const bulk = await member.post(LOGS, {
        logs: [
          { resource_type: 'security_group', resource_id: sg },
          { resource_type: 'security_group', event: 'NONE' },
        ],
      });
      assert.equal(bulk.status, 400);
      assert.equal(await logCount(), before);
      const reader = client(t, (await t.newProjectUser('reader')).token);
      refused(await create({ resource_type: 'security_group' }, reader), 403, 'PolicyNotAuthorized');
    });

    it('logs firewall groups on router interfaces in an active group, as neutron-fwaas validates', async () => {
      const rule = (await member.post('/v2.0/fwaas/firewall_rules', { firewall_rule: { action: 'allow' } }))
        .body.firewall_rule;
      const policy = (
        await member.post('/v2.0/fwaas/firewall_policies', { firewall_policy: { firewall_rules: [rule.id] } })
      ).body.firewall_policy;
      const group = (
        await member.post('/v2.0/fwaas/firewall_groups', {
          firewall_group: { name: 'fw', ingress_firewall_policy_id: policy.id, ports: [iface] },
        })
      ).body.firewall_group;
      assert.equal(group.status, 'ACTIVE');
      const idle = (await member.post('/v2.0/fwaas/firewall_groups', { firewall_group: { name: 'idle' } }))
        .body.firewall_group;
      const before = await logCount();
      refused(
        await create({ resource_type: 'firewall_group', resource_id: idle.id }),
        400,
        'FWGIsNotReadyForLogging',
        `Firewall group ${idle.id} is not ready for logging because of INACTIVE status.`,
      );
      refused(
        await create({ resource_type: 'firewall_group', target_id: iface2 }),
        400,
        'TargetResourceNotAssociated',
        `Target resource ${iface2} is not associated with any firewall group.`,
      );
      refused(
        await create({ resource_type: 'firewall_group', resource_id: group.id, target_id: iface2 }),
        400,
        'InvalidResourceConstraint',
      );
      refused(
        await create({ resource_type: 'firewall_group', target_id: vm }),
        409,
        'LoggingTypeNotSupported',
      );
      assert.equal(await logCount(), before);
      const ok = await create({ resource_type: 'firewall_group', resource_id: group.id, target_id: iface });
      assert.equal(ok.status, 201, JSON.stringify(ok.body));
      // A deleted firewall group takes its logs, as a deleted security group does.
      const emptied = await member.put(`/v2.0/fwaas/firewall_groups/${group.id}`, {
        firewall_group: { ports: [] },
      });
      assert.equal(emptied.status, 200);
      assert.equal((await member.get(`${LOGS}/${ok.body.log.id}`)).status, 200);
      assert.equal((await member.del(`/v2.0/fwaas/firewall_groups/${group.id}`)).status, 204);
      refused(await member.get(`${LOGS}/${ok.body.log.id}`), 404, 'LogResourceNotFound');
    });

    it('serves the records agents post to the log’s project only, in order', async () => {
      const log = (await create({ resource_type: 'security_group', resource_id: sg })).body.log;
      const record = (n: number, logId = log.id) => ({
        log_id: logId,
        time: new Date(Date.UTC(2026, 0, 1, 0, 0, n)).toISOString(),
        event: 'DROP',
        direction: 'ingress',
        port_id: vm,
        resource_id: null,
        ethertype: 'IPv4',
        protocol: 'tcp',
        src_ip: '10.31.0.9',
        dst_ip: '10.31.0.5',
        src_port: 40000 + n,
        dst_port: 22,
      });
      const unknown = '99999999-2222-3333-4444-555555555555';
      refused(
        await member.post('/neutrino/v1/hosts/log-h1/log-records', { records: [record(1)] }),
        403,
        'PolicyNotAuthorized',
      );
      const posted = await admin.post('/neutrino/v1/hosts/log-h1/log-records', {
        records: [record(1), record(2), record(3, unknown)],
      });
      assert.equal(posted.status, 204, JSON.stringify(posted.body));
      const r = await member.get(`/neutrino/v1/logs/${log.id}/events`);
      assert.equal(r.status, 200, JSON.stringify(r.body));
      const records = r.body.log_records;
      assert.deepEqual(
        records.map((x: { src_port: number; host: string }) => [x.src_port, x.host]),
        [
          [40001, 'log-h1'],
          [40002, 'log-h1'],
        ],
      );
      assert.ok(records[1].seq > records[0].seq);
      const later = await member.get(`/neutrino/v1/logs/${log.id}/events?since=${records[0].seq}`);
      assert.deepEqual(
        later.body.log_records.map((x: { src_port: number }) => x.src_port),
        [40002],
      );
      refused(await other.get(`/neutrino/v1/logs/${log.id}/events`), 404, 'LogResourceNotFound');
      assert.equal((await admin.get(`/neutrino/v1/logs/${log.id}/events`)).body.log_records.length, 2);
      assert.equal((await member.get(`/neutrino/v1/logs/${log.id}/events?since=x`)).status, 400);
      assert.equal((await member.del(`${LOGS}/${log.id}`)).status, 204);
    });

    it('keeps only the newest records per log', async () => {
      const small = await startTestServer(dialect, { networkLogRecordsKept: 3 });
      try {
        const a = client(small, small.adminToken);
        const g = (await a.post('/v2.0/security-groups', { security_group: { name: 'g' } })).body
          .security_group;
        const log = (await a.post(LOGS, { log: { resource_type: 'security_group', resource_id: g.id } })).body
          .log;
        const rec = (n: number) => ({
          log_id: log.id,
          time: new Date().toISOString(),
          event: 'DROP',
          direction: 'egress',
          port_id: g.id,
          resource_id: null,
          ethertype: 'IPv4',
          protocol: 'udp',
          src_ip: '10.0.0.1',
          dst_ip: '10.0.0.2',
          src_port: n,
          dst_port: 53,
        });
        await a.post('/neutrino/v1/hosts/h/log-records', { records: [1, 2].map(rec) });
        await a.post('/neutrino/v1/hosts/h/log-records', { records: [3, 4, 5].map(rec) });
        const kept = (await a.get(`/neutrino/v1/logs/${log.id}/events`)).body.log_records;
        assert.deepEqual(
          kept.map((x: { src_port: number }) => x.src_port),
          [3, 4, 5],
        );
      } finally {
        await small.close();
      }
    });

    it('deletes the logs of a deleted security group or port, as Neutron’s callbacks do', async () => {
      const g = (await member.post('/v2.0/security-groups', { security_group: { name: 'short-lived' } })).body
        .security_group;
      const onGroup = (await create({ resource_type: 'security_group', resource_id: g.id })).body.log;
      const port = (
        await member.post('/v2.0/ports', {
          port: { network_id: net, device_owner: 'compute:nova', security_groups: [g.id] },
        })
      ).body.port;
      const onPort = (await create({ resource_type: 'security_group', target_id: port.id })).body.log;
      const kept = (await create({ resource_type: 'security_group' })).body.log;
      assert.equal((await member.del(`/v2.0/ports/${port.id}`)).status, 204);
      refused(await member.get(`${LOGS}/${onPort.id}`), 404, 'LogResourceNotFound');
      assert.equal((await member.get(`${LOGS}/${onGroup.id}`)).status, 200);
      assert.equal((await member.del(`/v2.0/security-groups/${g.id}`)).status, 204);
      refused(await member.get(`${LOGS}/${onGroup.id}`), 404, 'LogResourceNotFound');
      assert.equal((await member.get(`${LOGS}/${kept.id}`)).status, 200);
      assert.equal((await member.del(`${LOGS}/${kept.id}`)).status, 204);
    });

    it('tells the host of a logged port what to log there, and nothing once disabled', async () => {
      const sync = async () => (await admin.post('/neutrino/v1/hosts/log-h1/sync', undefined)).body.snapshot;
      assert.equal((await sync()).network_logging, undefined);
      const log = (await create({ resource_type: 'security_group', resource_id: sg, event: 'DROP' })).body
        .log;
      const all = (await create({ resource_type: 'security_group' })).body.log;
      const logging = (await sync()).network_logging;
      assert.deepEqual(logging, {
        rate_limit: 100,
        burst_limit: 25,
        logs: [
          {
            id: log.id,
            project_id: memberProject,
            resource_type: 'security_group',
            resource_id: sg,
            event: 'DROP',
            ports: [vm],
          },
          {
            id: all.id,
            project_id: memberProject,
            resource_type: 'security_group',
            resource_id: null,
            event: 'ALL',
            ports: [vm],
          },
        ].sort((a, b) => (a.id < b.id ? -1 : 1)),
      });
      await member.put(`${LOGS}/${log.id}`, { log: { enabled: false } });
      await member.del(`${LOGS}/${all.id}`);
      assert.equal((await sync()).network_logging, undefined);
      await member.del(`${LOGS}/${log.id}`);
    });
  });
}
