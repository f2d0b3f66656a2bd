/**
 * Octavia's v2 API: a load balancer with its VIP port (owner `Octavia`, device `lb-<id>`), on a
 * subnet or a network; listeners (one per protocol port: 409), pools by listener or load
 * balancer, members (on the VIP's subnet or behind its gateway router, else 400), health monitors (one per pool: 409), L7
 * policies and rules; the status tree and stats from an agent's report; cascade delete taking
 * the VIP port; Octavia's error bodies; another project seeing nothing; the catalog entry.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { client, dialects, startTestServer, type TestServer } from '../helpers/server.js';

type Client = ReturnType<typeof client>;
const LB = '/load-balancer/v2/lbaas';

for (const dialect of dialects()) {
  describe(`load balancers, Octavia v2 (${dialect})`, () => {
    let t: TestServer;
    let admin: Client;
    let member: Client;
    let other: Client;
    let net: { id: string };
    let sub: { id: string };
    let far: { id: string };
    let routed: { id: string };
    before(async () => {
      t = await startTestServer(dialect);
      admin = client(t, t.adminToken);
      member = client(t, (await t.newProjectUser()).token);
      other = client(t, (await t.newProjectUser()).token);
      net = (await member.post('/v2.0/networks', { network: { name: 'web' } })).body.network;
      sub = await subnet(net.id, '10.7.0.0/24');
      const farNet = (await member.post('/v2.0/networks', { network: { name: 'far' } })).body.network;
      far = await subnet(farNet.id, '10.8.0.0/24');
      const routedNet = (await member.post('/v2.0/networks', { network: { name: 'routed' } })).body.network;
      routed = await subnet(routedNet.id, '10.9.0.0/24');
      const router = (await member.post('/v2.0/routers', { router: { name: 'r' } })).body.router;
      for (const s of [sub, routed]) {
        const r = await member.put(`/v2.0/routers/${router.id}/add_router_interface`, { subnet_id: s.id });
        assert.equal(r.status, 200, JSON.stringify(r.body));
      }
    });
    after(() => t.close());

    async function subnet(networkId: string, cidr: string) {
      const r = await member.post('/v2.0/subnets', {
        subnet: { network_id: networkId, ip_version: 4, cidr },
      });
      assert.equal(r.status, 201, JSON.stringify(r.body));
      return r.body.subnet;
    }
    async function created(c: Client, path: string, body: object) {
      const r = await c.post(path, body);
      assert.equal(r.status, 201, JSON.stringify(r.body));
      return r.body;
    }
    const fault = (r: { status: number; body: Record<string, unknown> }) =>
      `${r.status} ${r.body.faultcode}: ${r.body.faultstring}`;

    it('creates a load balancer with an Octavia VIP port on the subnet and shows it as Octavia does', async () => {
      const body = await created(member, `${LB}/loadbalancers`, {
        loadbalancer: { name: 'lb1', vip_subnet_id: sub.id },
      });
      const lb = body.loadbalancer;
      assert.equal(lb.provisioning_status, 'PENDING_CREATE');
      assert.equal(lb.vip_subnet_id, sub.id);
      assert.equal(lb.vip_network_id, net.id);
      assert.deepEqual(lb.listeners, []);
      assert.equal(lb.provider, 'amphora');
      const port = (await member.get(`/v2.0/ports/${lb.vip_port_id}`)).body.port;
      assert.equal(port.device_owner, 'Octavia');
      assert.equal(port.device_id, `lb-${lb.id}`);
      assert.equal(port.fixed_ips[0].ip_address, lb.vip_address);
      assert.equal(
        (await member.del(`/v2.0/ports/${port.id}`)).status,
        409,
        'the VIP port goes with its load balancer',
      );
      const shown = (await member.get(`${LB}/loadbalancers/${lb.id}`)).body.loadbalancer;
      assert.equal(shown.provisioning_status, 'ACTIVE');
      assert.equal(shown.operating_status, 'OFFLINE', 'nothing reported yet');
      // the python client's path
      const alias = await member.get(`/load-balancer/v2.0/lbaas/loadbalancers/${lb.id}`);
      assert.equal(alias.body.loadbalancer.id, lb.id);
    });

    it('takes a VIP by network, with the address asked for', async () => {
      const lb = (
        await created(member, `${LB}/loadbalancers`, {
          loadbalancer: { vip_network_id: net.id, vip_address: '10.7.0.200' },
        })
      ).loadbalancer;
      assert.equal(lb.vip_address, '10.7.0.200');
      assert.equal(lb.vip_subnet_id, sub.id);
      const r = await member.del(`${LB}/loadbalancers/${lb.id}`);
      assert.equal(r.status, 204);
      assert.equal((await member.get(`/v2.0/ports/${lb.vip_port_id}`)).status, 404, 'VIP port gone');
    });

    it('refuses a load balancer without a VIP, or on a subnet that does not exist, in Octavia words', async () => {
      const none = await member.post(`${LB}/loadbalancers`, { loadbalancer: { name: 'x' } });
      assert.equal(
        fault(none),
        '400 Client: Validation failure: VIP must contain one of: vip_port_id, vip_network_id, vip_subnet_id.',
      );
      assert.equal(none.body.debuginfo, null);
      const missing = await member.post(`${LB}/loadbalancers`, {
        loadbalancer: { vip_subnet_id: '00000000-0000-0000-0000-000000000000' },
      });
      assert.equal(fault(missing), '400 Client: Subnet 00000000-0000-0000-0000-000000000000 not found.');
      const unknown = await member.post(`${LB}/loadbalancers`, {
        loadbalancer: { vip_subnet_id: sub.id, colour: 1 },
      });
      assert.equal(unknown.status, 400);
      assert.equal(unknown.body.faultcode, 'Client');
      const gone = await member.get(`${LB}/loadbalancers/nope`);
      assert.equal(fault(gone), '404 Client: Load Balancer nope not found.');
    });

    it('builds listeners, pools, members and a monitor, with their references, and refuses what Octavia refuses', async () => {
      const lb = (await created(member, `${LB}/loadbalancers`, { loadbalancer: { vip_subnet_id: sub.id } }))
        .loadbalancer;
      const listener = (
        await created(member, `${LB}/listeners`, {
          listener: { loadbalancer_id: lb.id, protocol: 'HTTP', protocol_port: 80, connection_limit: 100 },
        })
      ).listener;
      assert.equal(listener.connection_limit, 100);
      assert.equal(listener.timeout_client_data, 50000);
      assert.equal(listener.timeout_member_connect, 5000);
      assert.deepEqual(listener.loadbalancers, [{ id: lb.id }]);
      const dup = await member.post(`${LB}/listeners`, {
        listener: { loadbalancer_id: lb.id, protocol: 'TCP', protocol_port: 80 },
      });
      assert.equal(
        fault(dup),
        '409 Client: Another Listener on this Load Balancer is already using protocol HTTP and protocol_port 80',
      );
      // python-octaviaclient sends some integers as strings, which Octavia accepts
      const stringly = (
        await created(member, `${LB}/listeners`, {
          listener: {
            loadbalancer_id: lb.id,
            protocol: 'TCP',
            protocol_port: '8443',
            connection_limit: '500',
          },
        })
      ).listener;
      assert.equal(stringly.protocol_port, 8443);
      assert.equal(stringly.connection_limit, 500);
      const badLimit = await member.post(`${LB}/listeners`, {
        listener: { loadbalancer_id: lb.id, protocol: 'TCP', protocol_port: 8444, connection_limit: -2 },
      });
      assert.equal(badLimit.status, 400);
      const badProto = await member.post(`${LB}/listeners`, {
        listener: { loadbalancer_id: lb.id, protocol: 'UDP', protocol_port: 53 },
      });
      assert.equal(badProto.status, 400);

      const pool = (
        await created(member, `${LB}/pools`, {
          pool: {
            listener_id: listener.id,
            protocol: 'HTTP',
            lb_algorithm: 'ROUND_ROBIN',
            session_persistence: { type: 'HTTP_COOKIE' },
          },
        })
      ).pool;
      assert.deepEqual(pool.listeners, [{ id: listener.id }]);
      assert.equal(pool.session_persistence.type, 'HTTP_COOKIE');
      assert.equal(
        (await member.get(`${LB}/listeners/${listener.id}`)).body.listener.default_pool_id,
        pool.id,
      );
      const second = await member.post(`${LB}/pools`, {
        pool: { listener_id: listener.id, protocol: 'HTTP', lb_algorithm: 'ROUND_ROBIN' },
      });
      assert.equal(fault(second), '409 Client: This listener already has a default pool');
      const appCookie = await member.post(`${LB}/pools`, {
        pool: {
          loadbalancer_id: lb.id,
          protocol: 'HTTP',
          lb_algorithm: 'SOURCE_IP',
          session_persistence: { type: 'APP_COOKIE' },
        },
      });
      assert.equal(appCookie.status, 400);

      const m1 = (
        await created(member, `${LB}/pools/${pool.id}/members`, {
          member: { address: '10.7.0.11', protocol_port: 8080, weight: 5 },
        })
      ).member;
      assert.equal(m1.subnet_id, sub.id);
      assert.equal(m1.weight, 5);
      assert.equal(m1.backup, false);
      assert.equal(m1.operating_status, 'NO_MONITOR');
      const routedMember = (
        await created(member, `${LB}/pools/${pool.id}/members`, {
          member: { address: '10.7.0.12', protocol_port: 8080, subnet_id: sub.id, backup: true },
        })
      ).member;
      assert.equal(routedMember.backup, true);
      const behindRouter = (
        await created(member, `${LB}/pools/${pool.id}/members`, {
          member: { address: '10.9.0.5', protocol_port: 8080 },
        })
      ).member;
      assert.equal(behindRouter.subnet_id, routed.id, 'found by its address, behind the gateway router');
      assert.equal((await member.del(`${LB}/pools/${pool.id}/members/${behindRouter.id}`)).status, 204);
      const unreachable = await member.post(`${LB}/pools/${pool.id}/members`, {
        member: { address: '10.8.0.5', protocol_port: 8080, subnet_id: far.id },
      });
      assert.equal(unreachable.status, 400, JSON.stringify(unreachable.body));
      assert.match(String(unreachable.body.faultstring), /not reachable from load balancer/);
      const again = await member.post(`${LB}/pools/${pool.id}/members`, {
        member: { address: '10.7.0.11', protocol_port: 8080 },
      });
      assert.equal(
        fault(again),
        '409 Client: Another member on this pool is already using ip address 10.7.0.11 on protocol_port 8080',
      );
      const members = (await member.get(`${LB}/pools/${pool.id}/members`)).body;
      assert.equal(members.members.length, 2);
      assert.deepEqual(members.members_links, []);

      const hm = (
        await created(member, `${LB}/healthmonitors`, {
          healthmonitor: {
            pool_id: pool.id,
            type: 'HTTP',
            delay: 2,
            timeout: 1,
            max_retries: 2,
            url_path: '/health',
            expected_codes: '200-204',
          },
        })
      ).healthmonitor;
      assert.equal(hm.http_method, 'GET');
      assert.equal(hm.max_retries_down, 3);
      assert.deepEqual(hm.pools, [{ id: pool.id }]);
      const twice = await member.post(`${LB}/healthmonitors`, {
        healthmonitor: { pool_id: pool.id, type: 'TCP', delay: 2, timeout: 1, max_retries: 2 },
      });
      assert.equal(fault(twice), '409 Client: This pool already has a health monitor');
      assert.equal((await member.get(`${LB}/pools/${pool.id}`)).body.pool.healthmonitor_id, hm.id);
      assert.equal(
        (await member.get(`${LB}/pools/${pool.id}/members/${m1.id}`)).body.member.operating_status,
        'OFFLINE',
      );

      // haproxy's checks, as the agent reports them
      await t.server.services.loadBalancers.report('host-a', [
        {
          loadbalancer_id: lb.id,
          members: { [m1.id]: 'UP', [routedMember.id]: 'DOWN' },
          listeners: {
            [listener.id]: {
              bytes_in: 10,
              bytes_out: 20,
              active_connections: 1,
              total_connections: 7,
              request_errors: 2,
            },
          },
        },
      ]);
      const status = (await member.get(`${LB}/loadbalancers/${lb.id}/status`)).body.statuses.loadbalancer;
      assert.equal(status.operating_status, 'DEGRADED');
      const poolStatus = status.listeners.find((l: { id: string }) => l.id === listener.id).pools[0];
      assert.equal(poolStatus.operating_status, 'DEGRADED');
      assert.equal(poolStatus.health_monitor.type, 'HTTP');
      const byId = Object.fromEntries(
        poolStatus.members.map((m: { id: string; operating_status: string }) => [m.id, m.operating_status]),
      );
      assert.deepEqual(byId, { [m1.id]: 'ONLINE', [routedMember.id]: 'ERROR' });
      const stats = (await member.get(`${LB}/loadbalancers/${lb.id}/stats`)).body.stats;
      assert.deepEqual(stats, {
        bytes_in: 10,
        bytes_out: 20,
        active_connections: 1,
        total_connections: 7,
        request_errors: 2,
      });
      assert.equal(
        (await member.get(`${LB}/listeners/${listener.id}/stats`)).body.stats.total_connections,
        7,
      );

      const updated = await member.put(`${LB}/pools/${pool.id}/members/${m1.id}`, {
        member: { admin_state_up: false },
      });
      assert.equal(updated.body.member.provisioning_status, 'PENDING_UPDATE');
      assert.equal(updated.body.member.operating_status, 'OFFLINE');

      // L7: /static to a second pool, ordered by position
      const statics = (
        await created(member, `${LB}/pools`, {
          pool: { loadbalancer_id: lb.id, protocol: 'HTTP', lb_algorithm: 'LEAST_CONNECTIONS' },
        })
      ).pool;
      const tcpWithPath = await member.post(`${LB}/healthmonitors`, {
        healthmonitor: {
          pool_id: statics.id,
          type: 'TCP',
          delay: 2,
          timeout: 1,
          max_retries: 2,
          url_path: '/',
        },
      });
      assert.equal(tcpWithPath.status, 400);
      const policy = (
        await created(member, `${LB}/l7policies`, {
          l7policy: { listener_id: listener.id, action: 'REDIRECT_TO_POOL', redirect_pool_id: statics.id },
        })
      ).l7policy;
      assert.equal(policy.position, 1);
      const reject = (
        await created(member, `${LB}/l7policies`, {
          l7policy: { listener_id: listener.id, action: 'REJECT', position: 1 },
        })
      ).l7policy;
      assert.equal(reject.position, 1);
      assert.equal((await member.get(`${LB}/l7policies/${policy.id}`)).body.l7policy.position, 2);
      const rule = (
        await created(member, `${LB}/l7policies/${policy.id}/rules`, {
          rule: { type: 'PATH', compare_type: 'STARTS_WITH', value: '/static' },
        })
      ).rule;
      assert.equal(rule.invert, false);
      const headerless = await member.post(`${LB}/l7policies/${policy.id}/rules`, {
        rule: { type: 'HEADER', compare_type: 'EQUAL_TO', value: 'x' },
      });
      assert.equal(headerless.status, 400);
      // what haproxy's configuration could not hold is refused, never half-realised
      const quoted = await member.post(`${LB}/l7policies/${policy.id}/rules`, {
        rule: { type: 'HEADER', key: 'X-Test', compare_type: 'EQUAL_TO', value: 'a"b' },
      });
      assert.equal(quoted.status, 400);
      const hashUrl = await member.post(`${LB}/l7policies`, {
        l7policy: {
          listener_id: listener.id,
          action: 'REDIRECT_TO_URL',
          redirect_url: 'http://x.example/#frag',
        },
      });
      assert.equal(hashUrl.status, 400);
      assert.deepEqual((await member.get(`${LB}/l7policies/${policy.id}`)).body.l7policy.rules, [
        { id: rule.id },
      ]);

      // another project sees none of it
      assert.equal((await other.get(`${LB}/loadbalancers/${lb.id}`)).status, 404);
      assert.deepEqual((await other.get(`${LB}/pools`)).body.pools, []);
      assert.equal(
        (
          await other.post(`${LB}/listeners`, {
            listener: { loadbalancer_id: lb.id, protocol: 'TCP', protocol_port: 81 },
          })
        ).status,
        404,
      );
      // admins see all
      assert.ok(
        (await admin.get(`${LB}/loadbalancers`)).body.loadbalancers.some(
          (l: { id: string }) => l.id === lb.id,
        ),
      );
      // filters and fields
      const filtered = (await member.get(`${LB}/listeners?protocol_port=80&fields=id`)).body.listeners;
      assert.deepEqual(filtered, [{ id: listener.id }]);

      // a load balancer with children goes only with cascade, and takes its VIP port
      const refused = await member.del(`${LB}/loadbalancers/${lb.id}`);
      assert.equal(
        fault(refused),
        `400 Client: Validation failure: Cannot delete Load Balancer ${lb.id} - it has children`,
      );
      assert.equal((await member.del(`${LB}/loadbalancers/${lb.id}?cascade=true`)).status, 204);
      assert.equal((await member.get(`${LB}/loadbalancers/${lb.id}`)).status, 404);
      assert.equal((await member.get(`${LB}/pools/${pool.id}`)).status, 404);
      assert.equal((await member.get(`/v2.0/ports/${lb.vip_port_id}`)).status, 404);
    });

    it('deleting a pool takes its members and monitor, and policies redirecting to it reject instead', async () => {
      const lb = (await created(member, `${LB}/loadbalancers`, { loadbalancer: { vip_subnet_id: sub.id } }))
        .loadbalancer;
      const listener = (
        await created(member, `${LB}/listeners`, {
          listener: { loadbalancer_id: lb.id, protocol: 'HTTP', protocol_port: 80 },
        })
      ).listener;
      const pool = (
        await created(member, `${LB}/pools`, {
          pool: { loadbalancer_id: lb.id, protocol: 'HTTP', lb_algorithm: 'ROUND_ROBIN' },
        })
      ).pool;
      const m = (
        await created(member, `${LB}/pools/${pool.id}/members`, {
          member: { address: '10.7.0.30', protocol_port: 80 },
        })
      ).member;
      const policy = (
        await created(member, `${LB}/l7policies`, {
          l7policy: { listener_id: listener.id, action: 'REDIRECT_TO_POOL', redirect_pool_id: pool.id },
        })
      ).l7policy;
      assert.equal((await member.del(`${LB}/pools/${pool.id}`)).status, 204);
      assert.equal((await member.get(`${LB}/pools/${pool.id}/members/${m.id}`)).status, 404);
      assert.equal((await member.get(`${LB}/l7policies/${policy.id}`)).body.l7policy.action, 'REJECT');
      assert.equal((await member.del(`${LB}/loadbalancers/${lb.id}?cascade=true`)).status, 204);
    });

    it('puts a load-balancer endpoint in the catalog', async () => {
      const r = await t.server.app.inject({
        method: 'GET',
        url: '/identity/v3/auth/catalog',
        headers: { 'x-auth-token': t.adminToken },
      });
      const entry = r.json().catalog.find((s: { type: string }) => s.type === 'load-balancer');
      assert.ok(entry, 'catalog has load-balancer');
      assert.match(entry.endpoints[0].url, /\/load-balancer$/);
    });
  });
}
