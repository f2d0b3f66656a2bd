/**
 * Tap-as-a-Service: tap services and tap flows created, listed, shown, updated and deleted as
 * TaaS answers; each refusal (another project's port, a flow to another project's tap service,
 * a port mirrored to itself or to a monitoring port, ports on two hosts, a second tap service on
 * one port, a duplicate flow, a vlan_filter, a bad direction) with nothing left half-made; the
 * cascades (a tap service's flows go with it, a deleted port takes its tap services and flows);
 * and the host snapshot carrying the flows whose ports are both bound to that host.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { client, dialects, startTestServer, type TestServer } from '../helpers/server.js';

type Client = ReturnType<typeof client>;

for (const dialect of dialects()) {
  describe(`tap-as-a-service (${dialect})`, () => {
    let t: TestServer;
    let admin: Client;
    let member: Client;
    let other: Client;
    let memberProject: string;
    let net: { id: string };
    before(async () => {
      t = await startTestServer(dialect);
      admin = client(t, t.adminToken);
      const m = await t.newProjectUser();
      memberProject = m.projectId;
      member = client(t, m.token);
      other = client(t, (await t.newProjectUser()).token);
      net = (await member.post('/v2.0/networks', { network: { name: 'tapped' } })).body.network;
      const s = await member.post('/v2.0/subnets', {
        subnet: { network_id: net.id, ip_version: 4, cidr: '10.9.0.0/24' },
      });
      assert.equal(s.status, 201);
    });
    after(() => t.close());

    /** A port of the member's project, bound to `host` when given (an admin binds it). */
    const port = async (host?: string) => {
      const body = host
        ? {
            network_id: net.id,
            project_id: memberProject,
            device_owner: 'compute:nova',
            'binding:host_id': host,
          }
        : { network_id: net.id };
      const r = await (host ? admin : member).post('/v2.0/ports', { port: body });
      assert.equal(r.status, 201, JSON.stringify(r.body));
      return r.body.port.id as string;
    };
    const service = async (portId: string, c: Client = member) =>
      c.post('/v2.0/taas/tap_services', { tap_service: { name: 'mon', port_id: portId } });
    const flow = async (serviceId: string, source: string, direction = 'BOTH', c: Client = member) =>
      c.post('/v2.0/taas/tap_flows', {
        tap_flow: { name: 'f', tap_service_id: serviceId, source_port: source, direction },
      });
    const countOf = async (collection: string) =>
      ((await admin.get(`/v2.0/taas/${collection}`)).body[collection] as unknown[]).length;

    it('creates, lists, shows, updates and deletes a tap service and its flows as TaaS does', async () => {
      const monitor = await port();
      const source = await port();
      const ts = await service(monitor);
      assert.equal(ts.status, 201, JSON.stringify(ts.body));
      const svc = ts.body.tap_service;
      assert.deepEqual(
        { ...svc, id: undefined },
        {
          id: undefined,
          name: 'mon',
          description: '',
          project_id: memberProject,
          tenant_id: memberProject,
          port_id: monitor,
          status: 'ACTIVE',
        },
      );
      const tf = await flow(svc.id, source, 'IN');
      assert.equal(tf.status, 201, JSON.stringify(tf.body));
      assert.deepEqual(
        { ...tf.body.tap_flow, id: undefined },
        {
          id: undefined,
          name: 'f',
          description: '',
          project_id: memberProject,
          tenant_id: memberProject,
          tap_service_id: svc.id,
          source_port: source,
          direction: 'IN',
          status: 'ACTIVE',
          vlan_filter: null,
        },
      );
      const listed = await member.get(`/v2.0/taas/tap_flows?tap_service_id=${svc.id}`);
      assert.deepEqual(
        listed.body.tap_flows.map((f: { id: string }) => f.id),
        [tf.body.tap_flow.id],
      );
      const renamed = await member.put(`/v2.0/taas/tap_services/${svc.id}`, {
        tap_service: { name: 'renamed', description: 'd' },
      });
      assert.equal(renamed.status, 200);
      assert.equal(renamed.body.tap_service.name, 'renamed');
      const fixed = await member.put(`/v2.0/taas/tap_services/${svc.id}`, {
        tap_service: { port_id: source },
      });
      assert.equal(fixed.status, 400, 'port_id cannot change');
      const flowPut = await member.put(`/v2.0/taas/tap_flows/${tf.body.tap_flow.id}`, {
        tap_flow: { direction: 'OUT' },
      });
      assert.equal(flowPut.status, 400, 'direction cannot change');
      // Another project sees neither.
      assert.equal((await other.get(`/v2.0/taas/tap_services/${svc.id}`)).status, 404);
      assert.equal((await other.get('/v2.0/taas/tap_flows')).body.tap_flows.length, 0);
      // Deleting the tap service deletes its flows.
      assert.equal((await member.del(`/v2.0/taas/tap_services/${svc.id}`)).status, 204);
      const gone = await member.get(`/v2.0/taas/tap_flows/${tf.body.tap_flow.id}`);
      assert.equal(gone.status, 404);
      assert.equal(gone.body.NeutronError.type, 'TapFlowNotFound');
      const svcGone = await member.get(`/v2.0/taas/tap_services/${svc.id}`);
      assert.equal(svcGone.body.NeutronError.type, 'TapServiceNotFound');
    });

    it('refuses bad tap services and flows and makes nothing', async () => {
      const before = [await countOf('tap_services'), await countOf('tap_flows')];
      const foreign = (
        await other.post('/v2.0/ports', {
          port: { network_id: (await other.post('/v2.0/networks', { network: {} })).body.network.id },
        })
      ).body.port.id;
      // Another project's port is not found to a member, as through Neutron's core plugin.
      const r1 = await service(foreign);
      assert.equal(r1.status, 404);
      assert.equal(r1.body.NeutronError.type, 'PortNotFound');
      // An admin creating for the member's project on another project's port.
      const r2 = await admin.post('/v2.0/taas/tap_services', {
        tap_service: { port_id: foreign, project_id: memberProject },
      });
      assert.equal(r2.status, 403);
      assert.equal(r2.body.NeutronError.type, 'PortDoesNotBelongToTenant');
      const monitor = await port();
      const svc = (await service(monitor)).body.tap_service;
      const again = await service(monitor);
      assert.equal(again.status, 409, 'one tap service per monitoring port');
      assert.equal(again.body.NeutronError.type, 'TapServicePortInUse');
      const self = await flow(svc.id, monitor);
      assert.equal(self.status, 400, JSON.stringify(self.body));
      assert.match(self.body.NeutronError.message, /cannot be mirrored to itself/);
      const foreignFlow = await flow(svc.id, foreign);
      assert.equal(foreignFlow.status, 404);
      const otherService = await flow(svc.id, foreign, 'BOTH', other);
      assert.equal(otherService.status, 404);
      assert.equal(otherService.body.NeutronError.type, 'TapServiceNotFound');
      const source = await port();
      const badDirection = await flow(svc.id, source, 'SIDEWAYS');
      assert.equal(badDirection.status, 400);
      const vlan = await member.post('/v2.0/taas/tap_flows', {
        tap_flow: { tap_service_id: svc.id, source_port: source, direction: 'IN', vlan_filter: '9-18' },
      });
      assert.equal(vlan.status, 400);
      assert.match(vlan.body.NeutronError.message, /vlan_filter is not supported/);
      const missing = await member.post('/v2.0/taas/tap_services', { tap_service: { name: 'x' } });
      assert.equal(missing.status, 400);
      const unknownPort = await service('8c3f0e39-0c8c-4a3e-9c3a-4e7a3c1c2b4d');
      assert.equal(unknownPort.status, 404);
      // A second monitoring port cannot be a source, and a flow is made once per source.
      const monitor2 = await port();
      const svc2 = (await service(monitor2)).body.tap_service;
      const loop = await flow(svc.id, monitor2);
      assert.equal(loop.status, 400);
      assert.match(loop.body.NeutronError.message, /monitoring port of tap service/);
      assert.equal((await flow(svc.id, source)).status, 201);
      const dup = await flow(svc.id, source, 'OUT');
      assert.equal(dup.status, 409);
      assert.equal(dup.body.NeutronError.type, 'TapFlowExists');
      // Bulk create is all or nothing: the second flow's port is bad.
      const bulk = await member.post('/v2.0/taas/tap_flows', {
        tap_flows: [
          { tap_service_id: svc2.id, source_port: await port(), direction: 'IN' },
          { tap_service_id: svc2.id, source_port: foreign, direction: 'IN' },
        ],
      });
      assert.equal(bulk.status, 404);
      assert.deepEqual(
        [await countOf('tap_services'), await countOf('tap_flows')],
        [before[0] + 2, before[1] + 1],
      );
      await member.del(`/v2.0/taas/tap_services/${svc.id}`);
      await member.del(`/v2.0/taas/tap_services/${svc2.id}`);
    });

    it('refuses a flow whose ports are bound to different hosts; the host snapshot has flows bound to it', async () => {
      const monitor = await port('taas-h1');
      const source = await port('taas-h1');
      const elsewhere = await port('taas-h2');
      const svc = (await service(monitor)).body.tap_service;
      const split = await flow(svc.id, elsewhere);
      assert.equal(split.status, 400);
      assert.match(
        split.body.NeutronError.message,
        /bound to host taas-h2 and the monitoring port to taas-h1/,
      );
      const tf = (await flow(svc.id, source, 'OUT')).body.tap_flow;
      const snapshot = (await admin.post('/neutrino/v1/hosts/taas-h1/sync', undefined)).body.snapshot;
      assert.deepEqual(snapshot.tap_flows, [
        { id: tf.id, source_port: source, monitor_port: monitor, direction: 'OUT' },
      ]);
      const h2 = (await admin.post('/neutrino/v1/hosts/taas-h2/sync', undefined)).body.snapshot;
      assert.deepEqual(h2.tap_flows, []);
      // Deleting the source port takes its flow; deleting the monitoring port its tap service.
      assert.equal((await admin.del(`/v2.0/ports/${source}`)).status, 204);
      assert.equal((await member.get(`/v2.0/taas/tap_flows/${tf.id}`)).status, 404);
      assert.equal((await admin.del(`/v2.0/ports/${monitor}`)).status, 204);
      assert.equal((await member.get(`/v2.0/taas/tap_services/${svc.id}`)).status, 404);
    });

    it('advertises the taas extension', async () => {
      const r = await member.get('/v2.0/extensions/taas');
      assert.equal(r.status, 200);
      assert.equal(r.body.extension.alias, 'taas');
    });
  });
}
