import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { client, dialects, startTestServer, type TestServer } from '../helpers/server.js';

type Client = ReturnType<typeof client>;

for (const dialect of dialects()) {
  describe(`rbac policies (${dialect})`, () => {
    let t: TestServer;
    let admin: Client;
    before(async () => {
      t = await startTestServer(dialect);
      admin = client(t, t.adminToken);
    });
    after(() => t.close());

    /** Two projects: an owner with a private network, and another project. */
    async function setup() {
      const owner = await t.newProjectUser();
      const other = await t.newProjectUser();
      const co = client(t, owner.token);
      const cx = client(t, other.token);
      const net = (await co.post('/v2.0/networks', { network: { name: 'private' } })).body.network;
      return { owner, other, co, cx, net };
    }

    const share = (c: Client, objectId: string, target: string, extra: Record<string, unknown> = {}) =>
      c.post('/v2.0/rbac-policies', {
        rbac_policy: {
          object_type: 'network',
          object_id: objectId,
          action: 'access_as_shared',
          target_tenant: target,
          ...extra,
        },
      });

    it('shares a network with one project (openstack network rbac create --target-project P …)', async () => {
      const { owner, other, co, cx, net } = await setup();
      assert.equal((await cx.get(`/v2.0/networks/${net.id}`)).status, 404);
      const r = await share(co, net.id, other.projectId);
      assert.equal(r.status, 201);
      assert.deepEqual(r.body.rbac_policy, {
        id: r.body.rbac_policy.id,
        project_id: owner.projectId,
        tenant_id: owner.projectId,
        object_type: 'network',
        object_id: net.id,
        action: 'access_as_shared',
        target_tenant: other.projectId,
      });
      const seen = await cx.get(`/v2.0/networks/${net.id}`);
      assert.equal(seen.status, 200);
      assert.equal(seen.body.network.shared, true);
      assert.equal((await co.get(`/v2.0/networks/${net.id}`)).body.network.shared, false);
      assert.ok((await cx.get('/v2.0/networks')).body.networks.some((n: { id: string }) => n.id === net.id));
      // …but the target cannot change it, and does not see the policy
      assert.equal((await cx.put(`/v2.0/networks/${net.id}`, { network: { name: 'mine' } })).status, 403);
      assert.equal((await cx.get(`/v2.0/rbac-policies/${r.body.rbac_policy.id}`)).status, 404);
      assert.equal((await cx.get('/v2.0/rbac-policies')).body.rbac_policies.length, 0);

      const list = await co.get(`/v2.0/rbac-policies?object_id=${net.id}&action=access_as_shared`);
      assert.equal(list.body.rbac_policies.length, 1);
      assert.equal(
        (await co.get(`/v2.0/rbac-policies?target_tenant=${other.projectId}`)).body.rbac_policies.length,
        1,
      );
      assert.equal(
        (await co.get('/v2.0/rbac-policies?object_type=security_group')).body.rbac_policies.length,
        0,
      );

      assert.equal((await co.del(`/v2.0/rbac-policies/${r.body.rbac_policy.id}`)).status, 204);
      assert.equal((await cx.get(`/v2.0/networks/${net.id}`)).status, 404);
      assert.equal((await co.get(`/v2.0/rbac-policies/${r.body.rbac_policy.id}`)).status, 404);
    });

    it('refuses duplicates, bad types, actions and targets', async () => {
      const { other, co, net } = await setup();
      assert.equal((await share(co, net.id, other.projectId)).status, 201);
      const dup = await share(co, net.id, other.projectId);
      assert.equal(dup.status, 409);
      assert.equal(dup.body.NeutronError.type, 'DuplicateRbacPolicy');

      const badType = await share(co, net.id, other.projectId, { object_type: 'router' });
      assert.equal(badType.status, 400);
      assert.equal(badType.body.NeutronError.type, 'InvalidInput');
      const badAction = await share(co, net.id, other.projectId, { action: 'access_as_owner' });
      assert.equal(badAction.status, 400);
      assert.equal(badAction.body.NeutronError.type, 'InvalidActionForType');
      assert.equal((await share(co, net.id, other.projectId, { object_type: 'constructor' })).status, 400);
      assert.equal((await share(co, net.id, 'not-a-project')).status, 400);
      assert.equal((await share(co, 'not-a-uuid', other.projectId)).status, 400);
      assert.equal((await share(co, net.id, other.projectId, { bogus: 1 })).status, 400);
      const missing = await co.post('/v2.0/rbac-policies', {
        rbac_policy: { object_type: 'network', object_id: net.id },
      });
      assert.equal(missing.status, 400);
    });

    it('only admins share with everyone; members share only what they own', async () => {
      const { other, co, cx, net } = await setup();
      const wild = await share(co, net.id, '*');
      assert.equal(wild.status, 403);
      assert.equal(wild.body.NeutronError.type, 'PolicyNotAuthorized');

      // another project's private network is not found; a network shared with the caller is not theirs
      const third = await t.newProjectUser();
      const nf = await share(cx, net.id, third.projectId);
      assert.equal(nf.status, 404);
      assert.equal(nf.body.NeutronError.type, 'NetworkNotFound');
      assert.equal((await share(co, net.id, other.projectId)).status, 201);
      const notMine = await share(cx, net.id, third.projectId);
      assert.equal(notMine.status, 400);
      assert.match(notMine.body.NeutronError.message, /Only admins can manipulate policies/);

      const everyone = await share(admin, net.id, '*');
      assert.equal(everyone.status, 201);
      assert.equal(everyone.body.rbac_policy.project_id, t.adminProjectId);
      assert.equal((await client(t, third.token).get(`/v2.0/networks/${net.id}`)).status, 200);
      const reader = client(t, (await t.newProjectUser('reader')).token);
      assert.equal((await share(reader, net.id, other.projectId)).status, 403);
    });

    it('updates only target_tenant, with the same rules', async () => {
      const { other, co, cx, net } = await setup();
      const third = await t.newProjectUser();
      const p = (await share(co, net.id, other.projectId)).body.rbac_policy;
      const moved = await co.put(`/v2.0/rbac-policies/${p.id}`, {
        rbac_policy: { target_tenant: third.projectId },
      });
      assert.equal(moved.status, 200);
      assert.equal(moved.body.rbac_policy.target_tenant, third.projectId);
      assert.equal((await cx.get(`/v2.0/networks/${net.id}`)).status, 404);
      assert.equal((await client(t, third.token).get(`/v2.0/networks/${net.id}`)).status, 200);
      assert.equal(
        (await co.put(`/v2.0/rbac-policies/${p.id}`, { rbac_policy: { target_tenant: '*' } })).status,
        403,
      );
      assert.equal(
        (await co.put(`/v2.0/rbac-policies/${p.id}`, { rbac_policy: { action: 'access_as_external' } }))
          .status,
        400,
      );
      assert.equal(
        (await cx.put(`/v2.0/rbac-policies/${p.id}`, { rbac_policy: { target_tenant: other.projectId } }))
          .status,
        404,
      );
      assert.equal(
        (await admin.put(`/v2.0/rbac-policies/${p.id}`, { rbac_policy: { target_tenant: '*' } })).status,
        200,
      );
    });

    it('grants external access to networks only, and shares security groups', async () => {
      const { other, co, cx, net } = await setup();
      const ext = await co.post('/v2.0/rbac-policies', {
        rbac_policy: {
          object_type: 'network',
          object_id: net.id,
          action: 'access_as_external',
          target_tenant: other.projectId,
        },
      });
      assert.equal(ext.status, 201);
      assert.equal((await cx.get(`/v2.0/networks/${net.id}`)).status, 200);

      const sg = (await co.post('/v2.0/security-groups', { security_group: { name: 'web' } })).body
        .security_group;
      const sgExt = await co.post('/v2.0/rbac-policies', {
        rbac_policy: {
          object_type: 'security_group',
          object_id: sg.id,
          action: 'access_as_external',
          target_tenant: other.projectId,
        },
      });
      assert.equal(sgExt.status, 400);
      assert.equal(sgExt.body.NeutronError.type, 'InvalidActionForType');
      assert.equal((await cx.get(`/v2.0/security-groups/${sg.id}`)).status, 404);
      const sgShare = await co.post('/v2.0/rbac-policies', {
        rbac_policy: {
          object_type: 'security_group',
          object_id: sg.id,
          action: 'access_as_shared',
          target_tenant: other.projectId,
        },
      });
      assert.equal(sgShare.status, 201);
      const seen = await cx.get(`/v2.0/security-groups/${sg.id}`);
      assert.equal(seen.status, 200);
      assert.equal(seen.body.security_group.shared, true);
      const unknown = await co.post('/v2.0/rbac-policies', {
        rbac_policy: {
          object_type: 'security_group',
          object_id: '00000000-0000-4000-8000-000000000000',
          action: 'access_as_shared',
          target_tenant: other.projectId,
        },
      });
      assert.equal(unknown.status, 404);
      assert.equal(unknown.body.NeutronError.type, 'SecurityGroupNotFound');
    });

    it('counts against the rbac_policy quota', async () => {
      const { owner, co, net } = await setup();
      await admin.put(`/v2.0/quotas/${owner.projectId}`, { quota: { rbac_policy: 1 } });
      const a = await t.newProjectUser();
      const b = await t.newProjectUser();
      assert.equal((await share(co, net.id, a.projectId)).status, 201);
      const over = await share(co, net.id, b.projectId);
      assert.equal(over.status, 409);
      assert.equal(over.body.NeutronError.type, 'OverQuota');
    });

    it('goes away with its network', async () => {
      const { other, co, net } = await setup();
      const p = (await share(co, net.id, other.projectId)).body.rbac_policy;
      assert.equal((await co.del(`/v2.0/networks/${net.id}`)).status, 204);
      assert.equal((await co.get(`/v2.0/rbac-policies/${p.id}`)).status, 404);
    });

    it('lets the target create ports, and cannot be removed while they exist', async () => {
      const { other, co, cx, net } = await setup();
      const p = (await share(co, net.id, other.projectId)).body.rbac_policy;
      const port = await cx.post('/v2.0/ports', { port: { network_id: net.id } });
      assert.equal(port.status, 201);
      assert.equal(port.body.port.project_id, other.projectId);

      const blocked = await co.del(`/v2.0/rbac-policies/${p.id}`);
      assert.equal(blocked.status, 409);
      assert.equal(blocked.body.NeutronError.type, 'RbacPolicyInUse');
      const third = await t.newProjectUser();
      const moved = await co.put(`/v2.0/rbac-policies/${p.id}`, {
        rbac_policy: { target_tenant: third.projectId },
      });
      assert.equal(moved.status, 409);

      // a wildcard grant keeps the port's access, so the specific one may go
      const wild = (await share(admin, net.id, '*')).body.rbac_policy;
      assert.equal((await co.del(`/v2.0/rbac-policies/${p.id}`)).status, 204);
      assert.equal((await admin.del(`/v2.0/rbac-policies/${wild.id}`)).status, 409);
      assert.equal((await cx.del(`/v2.0/ports/${port.body.port.id}`)).status, 204);
      assert.equal((await admin.del(`/v2.0/rbac-policies/${wild.id}`)).status, 204);
    });
  });
}
