/**
 * The cross-tenant matrix: project A owns one of every resource; a member of project B and a
 * reader of project C try every action on each (show, list, list filtered by A's id, update, delete, tags)
 * and every way of naming A's objects from their own (ports on A's network, A's subnet on a
 * router, A's group as a remote group, a floating IP on A's port, RBAC on A's network, instances,
 * the trace API, port drops, quotas, IP availability, the agents' endpoints and the change feed
 * the dashboard follows). Every attempt is refused (403/404, or 400 for a body the resource never takes), no answer names A's objects, and A's
 * objects are unchanged afterwards.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { client, dialects, startTestServer, type TestServer } from '../helpers/server.js';
import { openFeed } from '../helpers/sse.js';

type Client = ReturnType<typeof client>;

/** A's resources by collection path, and their ids. */
interface Owned {
  network: string;
  subnet: string;
  port: string;
  router: string;
  floatingip: string;
  securityGroup: string;
  securityGroupRule: string;
  rbacPolicy: string;
  instance: string;
  instancePort: string;
}

const SECRET = 'secret-of-a';

for (const dialect of dialects()) {
  describe(`cross-tenant matrix (${dialect})`, () => {
    let t: TestServer;
    let admin: Client;
    let a: Client;
    let aProject: string;
    let bMember: Client;
    let bReader: Client;
    let bToken: string;
    let owned: Owned;
    let collections: [string, string, string][];
    let revisions: Map<string, number>;

    before(async () => {
      t = await startTestServer(dialect, { defaultHost: 'h1' });
      admin = client(t, t.adminToken);
      const ua = await t.newProjectUser();
      a = client(t, ua.token);
      aProject = ua.projectId;
      const ub = await t.newProjectUser();
      bToken = ub.token;
      bMember = client(t, ub.token);
      bReader = client(t, (await t.newProjectUser('reader')).token);

      const created = async (path: string, body: unknown, c: Client = a) => {
        const r = await c.post(path, body);
        assert.equal(r.status, 201, `${path}: ${JSON.stringify(r.body)}`);
        return r.body;
      };
      const ext = (
        await created('/v2.0/networks', { network: { name: 'ext', 'router:external': true } }, admin)
      ).network;
      await created(
        '/v2.0/subnets',
        { subnet: { network_id: ext.id, ip_version: 4, cidr: '198.51.100.0/24', enable_dhcp: false } },
        admin,
      );
      const network = (await created('/v2.0/networks', { network: { name: SECRET } })).network;
      const subnet = (
        await created('/v2.0/subnets', {
          subnet: { name: SECRET, network_id: network.id, ip_version: 4, cidr: '10.77.0.0/24' },
        })
      ).subnet;
      const port = (await created('/v2.0/ports', { port: { name: SECRET, network_id: network.id } })).port;
      const router = (
        await created('/v2.0/routers', {
          router: { name: SECRET, external_gateway_info: { network_id: ext.id } },
        })
      ).router;
      assert.equal(
        (await a.put(`/v2.0/routers/${router.id}/add_router_interface`, { subnet_id: subnet.id })).status,
        200,
      );
      const floatingip = (
        await created('/v2.0/floatingips', {
          floatingip: { floating_network_id: ext.id, port_id: port.id, description: SECRET },
        })
      ).floatingip;
      const sg = (await created('/v2.0/security-groups', { security_group: { name: SECRET } }))
        .security_group;
      const rule = (
        await created('/v2.0/security-group-rules', {
          security_group_rule: { security_group_id: sg.id, direction: 'ingress', description: SECRET },
        })
      ).security_group_rule;
      const rbac = (
        await created('/v2.0/rbac-policies', {
          rbac_policy: {
            object_type: 'network',
            object_id: network.id,
            action: 'access_as_shared',
            target_tenant: t.adminProjectId,
          },
        })
      ).rbac_policy;
      const instance = (
        await created('/neutrino/v1/instances', {
          instance: { name: SECRET, networks: [{ network_id: network.id }] },
        })
      ).instance;
      owned = {
        network: network.id,
        subnet: subnet.id,
        port: port.id,
        router: router.id,
        floatingip: floatingip.id,
        securityGroup: sg.id,
        securityGroupRule: rule.id,
        rbacPolicy: rbac.id,
        instance: instance.id,
        instancePort: instance.ports[0].id,
      };
      collections = [
        ['networks', 'network', owned.network],
        ['subnets', 'subnet', owned.subnet],
        ['ports', 'port', owned.port],
        ['routers', 'router', owned.router],
        ['floatingips', 'floatingip', owned.floatingip],
        ['security-groups', 'security_group', owned.securityGroup],
        ['security-group-rules', 'security_group_rule', owned.securityGroupRule],
        ['rbac-policies', 'rbac_policy', owned.rbacPolicy],
      ];
      revisions = new Map();
      for (const [path, member, id] of collections) {
        revisions.set(id, (await a.get(`/v2.0/${path}/${id}`)).body[member].revision_number);
      }
    });
    after(() => t.close());

    const ownIds = () => Object.values(owned);
    /**
     * Refused (a 400 for a body the resource never accepts counts: it changes nothing either),
     * and the answer names none of A's objects beyond the id the request itself gave.
     */
    const refused = (r: { status: number; body: unknown }, what: string, given = what) => {
      assert.ok([400, 403, 404].includes(r.status), `${what}: ${r.status} ${JSON.stringify(r.body)}`);
      assertNamesNothing(r.body, what, given);
    };
    const assertNamesNothing = (body: unknown, what: string, given = what) => {
      const text = JSON.stringify(body ?? '');
      assert.ok(!text.includes(SECRET), `${what} names A's object: ${text}`);
      for (const id of ownIds())
        if (!given.includes(id)) assert.ok(!text.includes(id), `${what} names ${id}: ${text}`);
    };

    it('hides every resource of A from B’s member and reader: show, list and filtered list', async () => {
      for (const c of [bMember, bReader]) {
        for (const [path, , id] of collections) {
          refused(await c.get(`/v2.0/${path}/${id}`), `GET ${path}/${id}`);
          for (const list of [`/v2.0/${path}`, `/v2.0/${path}?id=${id}`]) {
            const r = await c.get(list);
            assert.equal(r.status, 200, list);
            assertNamesNothing(r.body, list);
          }
          // Collections without a name attribute refuse the filter (400): either way, nothing of A's.
          assertNamesNothing((await c.get(`/v2.0/${path}?name=${SECRET}`)).body, `${path}?name`);
          refused(await c.get(`/v2.0/${path}/${id}/tags`), `GET ${path}/${id}/tags`);
        }
        refused(await c.get(`/neutrino/v1/instances/${owned.instance}`), `GET instance ${owned.instance}`);
        const instances = await c.get('/neutrino/v1/instances');
        assertNamesNothing(instances.body, 'GET instances');
        refused(
          await c.get(`/neutrino/v1/ports/${owned.instancePort}/drops`),
          `GET drops ${owned.instancePort}`,
        );
        refused(
          await c.get(`/v2.0/network-ip-availabilities/${owned.network}`),
          `GET ip availability ${owned.network}`,
        );
        refused(await c.get(`/v2.0/quotas/${aProject}`), 'GET quotas');
        refused(await c.get(`/v2.0/quotas/${aProject}/details`), 'GET quota details');
      }
    });

    it('refuses B’s updates, deletes and tag changes on A’s resources, which stay unchanged', async () => {
      for (const c of [bMember, bReader]) {
        for (const [path, member, id] of collections) {
          refused(
            await c.put(`/v2.0/${path}/${id}`, { [member]: { description: 'mine' } }),
            `PUT ${path}/${id}`,
          );
          refused(await c.put(`/v2.0/${path}/${id}/tags/stolen`), `PUT ${path}/${id}/tags/stolen`);
          refused(await c.put(`/v2.0/${path}/${id}/tags`, { tags: ['stolen'] }), `PUT ${path}/${id}/tags`);
          refused(await c.del(`/v2.0/${path}/${id}/tags`), `DELETE ${path}/${id}/tags`);
          refused(await c.del(`/v2.0/${path}/${id}`), `DELETE ${path}/${id}`);
        }
        refused(await c.del(`/neutrino/v1/instances/${owned.instance}`), `DELETE instance ${owned.instance}`);
        refused(await c.put(`/v2.0/quotas/${aProject}`, { quota: { network: 0 } }), 'PUT quotas');
        refused(await c.del(`/v2.0/quotas/${aProject}`), 'DELETE quotas');
      }
      for (const [path, member, id] of collections) {
        const r = await a.get(`/v2.0/${path}/${id}`);
        assert.equal(r.status, 200, `${path}/${id} still exists`);
        assert.equal(r.body[member].revision_number, revisions.get(id), `${path}/${id} unchanged`);
      }
      assert.equal((await a.get(`/neutrino/v1/instances/${owned.instance}`)).status, 200);
    });

    const call = (path: string, body: unknown): [string, unknown] => [path, body];

    it('refuses every way for B to name A’s objects from its own', async () => {
      const b = bMember;
      const net = (await b.post('/v2.0/networks', { network: { name: 'b-net' } })).body.network;
      const sub = (
        await b.post('/v2.0/subnets', { subnet: { network_id: net.id, ip_version: 4, cidr: '10.88.0.0/24' } })
      ).body.subnet;
      const router = (await b.post('/v2.0/routers', { router: { name: 'b-router' } })).body.router;
      const sg = (await b.post('/v2.0/security-groups', { security_group: { name: 'b-sg' } })).body
        .security_group;
      const port = (await b.post('/v2.0/ports', { port: { network_id: net.id } })).body.port;
      const attempts: [string, 'post' | 'put', string, unknown][] = [
        ['port on A’s network', 'post', ...call('/v2.0/ports', { port: { network_id: owned.network } })],
        [
          'subnet on A’s network',
          'post',
          ...call('/v2.0/subnets', {
            subnet: { network_id: owned.network, ip_version: 4, cidr: '10.99.0.0/24' },
          }),
        ],
        [
          'A’s subnet in B’s port',
          'post',
          ...call('/v2.0/ports', { port: { network_id: net.id, fixed_ips: [{ subnet_id: owned.subnet }] } }),
        ],
        [
          'A’s subnet on B’s port by update',
          'put',
          ...call(`/v2.0/ports/${port.id}`, { port: { fixed_ips: [{ subnet_id: owned.subnet }] } }),
        ],
        [
          'A’s group on B’s port',
          'post',
          ...call('/v2.0/ports', { port: { network_id: net.id, security_groups: [owned.securityGroup] } }),
        ],
        [
          'A’s subnet on B’s router',
          'put',
          ...call(`/v2.0/routers/${router.id}/add_router_interface`, { subnet_id: owned.subnet }),
        ],
        [
          'A’s port on B’s router',
          'put',
          ...call(`/v2.0/routers/${router.id}/add_router_interface`, { port_id: owned.port }),
        ],
        [
          'B’s subnet on A’s router',
          'put',
          ...call(`/v2.0/routers/${owned.router}/add_router_interface`, { subnet_id: sub.id }),
        ],
        [
          'A’s subnet off A’s router',
          'put',
          ...call(`/v2.0/routers/${owned.router}/remove_router_interface`, { subnet_id: owned.subnet }),
        ],
        [
          'routes on A’s router',
          'put',
          ...call(`/v2.0/routers/${owned.router}/add_extraroutes`, {
            router: { routes: [{ destination: '10.1.0.0/24', nexthop: '10.77.0.9' }] },
          }),
        ],
        [
          'floating IP on A’s port',
          'post',
          ...call('/v2.0/floatingips', {
            floatingip: { floating_network_id: owned.network, port_id: owned.port },
          }),
        ],
        [
          'A’s floating IP to B’s port',
          'put',
          ...call(`/v2.0/floatingips/${owned.floatingip}`, { floatingip: { port_id: port.id } }),
        ],
        [
          'rule in A’s group',
          'post',
          ...call('/v2.0/security-group-rules', {
            security_group_rule: { security_group_id: owned.securityGroup, direction: 'ingress' },
          }),
        ],
        [
          'A’s group as remote group',
          'post',
          ...call('/v2.0/security-group-rules', {
            security_group_rule: {
              security_group_id: sg.id,
              direction: 'ingress',
              remote_group_id: owned.securityGroup,
            },
          }),
        ],
        [
          'RBAC on A’s network',
          'post',
          ...call('/v2.0/rbac-policies', {
            rbac_policy: {
              object_type: 'network',
              object_id: owned.network,
              action: 'access_as_shared',
              target_tenant: '*',
            },
          }),
        ],
        [
          'instance on A’s network',
          'post',
          ...call('/neutrino/v1/instances', {
            instance: { name: 'b-vm', networks: [{ network_id: owned.network }] },
          }),
        ],
        [
          'trace from A’s instance',
          'post',
          ...call('/neutrino/v1/trace', {
            source: owned.instance,
            destination: '10.88.0.5',
            protocol: 'icmp',
          }),
        ],
        [
          'trace to A’s port',
          'post',
          ...call('/neutrino/v1/trace', {
            source: port.id,
            destination: owned.instancePort,
            protocol: 'icmp',
          }),
        ],
        ['agent sync', 'post', ...call('/neutrino/v1/hosts/h1/sync', {})],
        [
          'agent status',
          'post',
          ...call('/neutrino/v1/hosts/h1/status', { revision: 0, ports: { [owned.port]: 'ACTIVE' } }),
        ],
        [
          'agent heartbeat',
          'post',
          ...call('/neutrino/v1/hosts/h1/heartbeat', { agent_type: 'Linux bridge agent', binary: 'x' }),
        ],
        ['agent list entry', 'put', ...call('/v2.0/agents/anything', { agent: { admin_state_up: false } })],
      ];
      for (const [what, method, path, body] of attempts) {
        const r = await b[method](path, body);
        assert.ok(r.status >= 400 && r.status < 500, `${what}: ${r.status} ${JSON.stringify(r.body)}`);
        // An error may echo the ids the caller gave ("Network X could not be found"), nothing else.
        assertNamesNothing(r.body, what, `${path} ${JSON.stringify(body)}`);
      }
      for (const [path, member, id] of collections) {
        const r = await a.get(`/v2.0/${path}/${id}`);
        assert.equal(r.body[member].revision_number, revisions.get(id), `${path}/${id} unchanged`);
      }
    });

    it('keeps A’s changes out of B’s change feed', async () => {
      const base = await t.server.app.listen({ host: '127.0.0.1', port: 0 });
      const marker = (await bMember.post('/v2.0/networks', { network: { name: 'b-marker' } })).body.network;
      const feed = await openFeed(base, '/neutrino/v1/events?since=0', { 'x-auth-token': bToken });
      try {
        assert.equal(feed.status, 200);
        const events = await feed.until((evs) => evs.some((e) => e.data.includes(marker.id)));
        assertNamesNothing(events, 'change feed');
      } finally {
        feed.close();
      }
    });
  });
}
