/**
 * Load balancing through a real `neutrino up` process (root, real packets): three instances run
 * busybox `httpd`, each serving its own name, behind a load balancer made with Octavia's API; a
 * fourth instance asks the VIP. Requests are spread over all three; a member whose httpd stops is
 * taken out by its HTTP health monitor (its operating status ERROR, as haproxy's checks report it)
 * and no request fails after that; an L7 policy sends `/static` to a second pool, which also takes
 * a member on another subnet behind the VIP subnet's router; SOURCE_IP keeps
 * one client on one member; the stats count the requests (since haproxy's last reload); a floating
 * IP on the VIP answers the outside namespace (198.51.100.0/24, a namespace of the test's own);
 * cascade delete leaves no haproxy and no namespace.
 */
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { runInNamespace } from '../../src/linux/exec.js';
import { isAlive, readPidFile } from '../../src/linux/process.js';
import { type Background, spawnInNamespace } from '../helpers/background.js';
import { NeutrinoUp } from '../helpers/neutrino-up.js';
import { Outside } from '../helpers/outside.js';
import { until } from '../helpers/until.js';

const isRoot = process.getuid?.() === 0;
const INSTANCES = '/neutrino/v1/instances';
const LB = '/load-balancer/v2/lbaas';
const OUTSIDE_IP = '198.51.100.254';

interface Instance {
  id: string;
  status: string;
  ports: { id: string }[];
  fault?: unknown;
}

describe('load balancing through neutrino up (real kernel, haproxy)', {
  skip: !isRoot && 'needs root',
}, () => {
  // The outside world: a namespace of the test's own on 198.51.100.0/24, mapped as physnet `public`.
  const outside = new Outside(`${OUTSIDE_IP}/24`);
  const up = new NeutrinoUp({ resyncIntervalS: 2, physicalInterfaceMappings: { public: outside.bridge } });
  let externalId: string;
  const servers = new Map<string, Background>();
  const members: { name: string; vm: Instance; id?: string }[] = [];
  let client: Instance;
  let subnetId: string;
  let lb: { id: string; vip_address: string };
  let poolId: string;
  let listenerId: string;
  let staticPoolId: string;
  let behindRouter: Instance;

  const api = () => up.session;
  const instance = async (name: string, networkId: string): Promise<Instance> => {
    const { instance: made } = await api().post<{ instance: Instance }>(INSTANCES, {
      instance: { name, networks: [{ network_id: networkId }] },
    });
    return made;
  };
  const active = (id: string) =>
    until(
      `instance ${id} ACTIVE`,
      async () => {
        const { instance: now } = await api().get<{ instance: Instance }>(`${INSTANCES}/${id}`);
        assert.notEqual(now.status, 'ERROR', JSON.stringify(now.fault));
        return now.status === 'ACTIVE' ? now : undefined;
      },
      60_000,
    );
  const addressOf = async (vm: Instance) => {
    const { port } = await api().get<{ port: { fixed_ips: { ip_address: string }[] } }>(
      `/v2.0/ports/${vm.ports[0].id}`,
    );
    return port.fixed_ips[0].ip_address;
  };
  /** Starts busybox httpd in the member's namespace, serving its name (and `/static/` as `static-<name>`). */
  const serve = (name: string, vm: Instance) => {
    const root = join(up.stateDir, `www-${name}`);
    mkdirSync(join(root, 'static'), { recursive: true });
    writeFileSync(join(root, 'index.html'), `${name}\n`);
    // Only web-c and web-d (behind the router) have static files: elsewhere /static/ is a 404.
    if (name === 'web-c' || name === 'web-d')
      writeFileSync(join(root, 'static', 'index.html'), `static-${name}\n`);
    servers.set(name, spawnInNamespace(`inst-${vm.id}`, 'busybox', ['httpd', '-f', '-p', '80', '-h', root]));
  };
  /** One request from the client instance to the VIP: the body, or null when it failed. */
  const fetch = async (path = '/'): Promise<string | null> => {
    const r = await runInNamespace(
      `inst-${client.id}`,
      'curl',
      ['-s', '-f', '-m', '3', `http://${lb.vip_address}${path}`],
      {
        timeoutMs: 10_000,
      },
    ).catch(() => undefined);
    return r && r.code === 0 ? r.stdout.trim() : null;
  };
  const statusTree = async () =>
    (
      await api().get<{
        statuses: {
          loadbalancer: {
            operating_status: string;
            listeners: { pools: { id: string; members: { id: string; operating_status: string }[] }[] }[];
          };
        };
      }>(`${LB}/loadbalancers/${lb.id}/status`)
    ).statuses.loadbalancer;
  const memberStatus = async (memberId: string) => {
    for (const l of (await statusTree()).listeners)
      for (const p of l.pools) for (const m of p.members) if (m.id === memberId) return m.operating_status;
    return undefined;
  };

  before(async () => {
    await outside.create();
    await up.start();
    const { network } = await api().post<{ network: { id: string } }>('/v2.0/networks', {
      network: { name: 'lb-net' },
    });
    const { subnet } = await api().post<{ subnet: { id: string } }>('/v2.0/subnets', {
      subnet: { network_id: network.id, ip_version: 4, cidr: '10.41.0.0/24' },
    });
    subnetId = subnet.id;
    const ext = { id: await outside.publicNetwork(api()) };
    externalId = ext.id;
    const { router } = await api().post<{ router: { id: string } }>('/v2.0/routers', {
      router: { name: 'lb-router', external_gateway_info: { network_id: ext.id } },
    });
    await api().put(`/v2.0/routers/${router.id}/add_router_interface`, { subnet_id: subnet.id });
    const { network: far } = await api().post<{ network: { id: string } }>('/v2.0/networks', {
      network: { name: 'lb-far' },
    });
    const { subnet: farSubnet } = await api().post<{ subnet: { id: string } }>('/v2.0/subnets', {
      subnet: { network_id: far.id, ip_version: 4, cidr: '10.42.0.0/24' },
    });
    await api().put(`/v2.0/routers/${router.id}/add_router_interface`, { subnet_id: farSubnet.id });
    const made = await Promise.all([
      ...['web-a', 'web-b', 'web-c', 'client'].map((n) => instance(n, network.id)),
      instance('web-d', far.id),
    ]);
    const ready = await Promise.all(made.map((m) => active(m.id)));
    client = ready[3];
    behindRouter = ready[4];
    for (const [i, name] of ['web-a', 'web-b', 'web-c'].entries()) members.push({ name, vm: ready[i] });
    const { port } = await api().get<{ port: { security_groups: string[] } }>(
      `/v2.0/ports/${client.ports[0].id}`,
    );
    for (const security_group_id of port.security_groups)
      await api().post('/v2.0/security-group-rules', {
        security_group_rule: {
          security_group_id,
          direction: 'ingress',
          protocol: 'tcp',
          port_range_min: 80,
          port_range_max: 80,
        },
      });
    for (const m of members) serve(m.name, m.vm);
    serve('web-d', behindRouter);
  });

  after(async () => {
    for (const s of servers.values()) await s.stop();
    await up.cleanup();
    await outside.remove();
  });

  it('spreads requests from an instance over all three members', async () => {
    ({ loadbalancer: lb } = await api().post<{ loadbalancer: typeof lb }>(`${LB}/loadbalancers`, {
      loadbalancer: { name: 'web', vip_subnet_id: subnetId },
    }));
    const { listener } = await api().post<{ listener: { id: string } }>(`${LB}/listeners`, {
      listener: { loadbalancer_id: lb.id, protocol: 'HTTP', protocol_port: 80 },
    });
    listenerId = listener.id;
    const { pool } = await api().post<{ pool: { id: string } }>(`${LB}/pools`, {
      pool: { listener_id: listener.id, protocol: 'HTTP', lb_algorithm: 'ROUND_ROBIN' },
    });
    poolId = pool.id;
    for (const m of members) {
      const { member } = await api().post<{ member: { id: string } }>(`${LB}/pools/${pool.id}/members`, {
        member: { address: await addressOf(m.vm), protocol_port: 80, subnet_id: subnetId },
      });
      m.id = member.id;
    }
    await api().post(`${LB}/healthmonitors`, {
      healthmonitor: {
        pool_id: pool.id,
        type: 'HTTP',
        delay: 1,
        timeout: 1,
        max_retries: 1,
        max_retries_down: 2,
        url_path: '/',
      },
    });
    await until('the VIP answering', async () => (await fetch()) !== null, 60_000, 500);
    const seen = new Set<string>();
    for (let i = 0; i < 12; i++) {
      const body = await fetch();
      assert.ok(body, 'every request answered');
      seen.add(body);
    }
    assert.deepEqual([...seen].sort(), ['web-a', 'web-b', 'web-c']);
    await until(
      'every member ONLINE by its health checks',
      async () => {
        const statuses = await Promise.all(members.map((m) => memberStatus(m.id!)));
        return statuses.every((s) => s === 'ONLINE');
      },
      30_000,
      500,
    );
    assert.equal((await statusTree()).operating_status, 'ONLINE');
  });

  it('takes a member whose server stopped out (ERROR), and no request fails after that', async () => {
    await servers.get('web-b')!.stop();
    await until(
      'web-b ERROR by its health checks',
      async () => (await memberStatus(members[1].id!)) === 'ERROR',
      30_000,
      250,
    );
    const seen = new Set<string>();
    for (let i = 0; i < 12; i++) {
      const body = await fetch();
      assert.ok(body, 'no request fails once the member is out');
      seen.add(body);
    }
    assert.deepEqual([...seen].sort(), ['web-a', 'web-c']);
    assert.equal((await statusTree()).operating_status, 'DEGRADED');
    serve('web-b', members[1].vm);
    await until(
      'web-b back ONLINE',
      async () => (await memberStatus(members[1].id!)) === 'ONLINE',
      30_000,
      250,
    );
  });

  it('sends /static to a second pool by an L7 policy', async () => {
    const { pool } = await api().post<{ pool: { id: string } }>(`${LB}/pools`, {
      pool: { loadbalancer_id: lb.id, protocol: 'HTTP', lb_algorithm: 'ROUND_ROBIN' },
    });
    staticPoolId = pool.id;
    await api().post(`${LB}/pools/${pool.id}/members`, {
      member: { address: await addressOf(members[2].vm), protocol_port: 80 },
    });
    const { l7policy } = await api().post<{ l7policy: { id: string } }>(`${LB}/l7policies`, {
      l7policy: { listener_id: listenerId, action: 'REDIRECT_TO_POOL', redirect_pool_id: pool.id },
    });
    await api().post(`${LB}/l7policies/${l7policy.id}/rules`, {
      rule: { type: 'PATH', compare_type: 'STARTS_WITH', value: '/static' },
    });
    await until(
      '/static from the second pool',
      async () => {
        for (let i = 0; i < 4; i++) if ((await fetch('/static/')) !== 'static-web-c') return false;
        return true;
      },
      20_000,
      250,
    );
    for (let i = 0; i < 6; i++) assert.equal(await fetch('/static/'), 'static-web-c');
    const others = new Set<string>();
    for (let i = 0; i < 9; i++) others.add((await fetch('/')) ?? 'failed');
    assert.deepEqual([...others].sort(), ['web-a', 'web-b', 'web-c'], 'the rest still spread');
  });

  it('reaches a member on another subnet behind the router of the VIP subnet', async () => {
    const { member } = await api().post<{ member: { subnet_id: string } }>(
      `${LB}/pools/${staticPoolId}/members`,
      {
        member: { address: await addressOf(behindRouter), protocol_port: 80 },
      },
    );
    assert.notEqual(member.subnet_id, subnetId);
    await until(
      'web-d serving /static/ too',
      async () => {
        const seen = new Set<string | null>();
        for (let i = 0; i < 4; i++) seen.add(await fetch('/static/'));
        return seen.has('static-web-d') && seen.has('static-web-c') && !seen.has(null);
      },
      20_000,
      250,
    );
  });

  it('keeps one client on one member with SOURCE_IP persistence', async () => {
    await api().put(`${LB}/pools/${poolId}`, { pool: { session_persistence: { type: 'SOURCE_IP' } } });
    // The reload takes effect when the new workers run; then one source sees one member.
    await until(
      'requests stuck to one member',
      async () => {
        const seen = new Set<string | null>();
        for (let i = 0; i < 6; i++) seen.add(await fetch());
        return seen.size === 1 && !seen.has(null);
      },
      20_000,
      500,
    );
    const first = await fetch();
    for (let i = 0; i < 10; i++) assert.equal(await fetch(), first);
  });

  it('counts the requests in the stats', async () => {
    const stats = await until(
      'stats reported',
      async () => {
        const { stats: s } = await api().get<{
          stats: { total_connections: number; bytes_in: number; bytes_out: number };
        }>(`${LB}/loadbalancers/${lb.id}/stats`);
        // haproxy's counters start again with each reload's new workers (the last: SOURCE_IP).
        return s.total_connections >= 10 ? s : undefined;
      },
      20_000,
      500,
    );
    assert.ok(stats.bytes_in > 0 && stats.bytes_out > 0, JSON.stringify(stats));
  });

  it('answers through a floating IP on the VIP from the outside namespace', async () => {
    const { loadbalancer } = await api().get<{ loadbalancer: { vip_port_id: string } }>(
      `${LB}/loadbalancers/${lb.id}`,
    );
    const { floatingip } = await api().post<{ floatingip: { floating_ip_address: string } }>(
      '/v2.0/floatingips',
      {
        floatingip: { floating_network_id: externalId, port_id: loadbalancer.vip_port_id },
      },
    );
    const get = async () => {
      const r = await runInNamespace(
        outside.netns,
        'curl',
        ['-s', '-f', '-m', '3', `http://${floatingip.floating_ip_address}/`],
        {
          timeoutMs: 10_000,
        },
      ).catch(() => undefined);
      return r && r.code === 0 ? r.stdout.trim() : null;
    };
    await until('the floating IP answering', async () => (await get()) !== null, 30_000, 500);
    // SOURCE_IP persistence holds the outside client to one member too.
    const seen = new Set<string | null>();
    for (let i = 0; i < 5; i++) seen.add(await get());
    assert.equal(seen.size, 1);
    assert.ok(['web-a', 'web-b', 'web-c'].includes([...seen][0] ?? ''), [...seen].join());
  });

  it('cascade delete leaves no haproxy and no namespace', async () => {
    const pid = await readPidFile(join(up.agentDir, 'lbaas', lb.id, 'haproxy.pid'));
    assert.ok(pid !== undefined, 'haproxy had a pid file');
    await api().delete(`${LB}/loadbalancers/${lb.id}?cascade=true`);
    await until(
      'the namespace gone',
      async () => {
        const r = await runInNamespace(`qlbaas-${lb.id}`, 'true', []).catch(() => undefined);
        return r?.code !== 0;
      },
      30_000,
      250,
    );
    await until('haproxy gone', async () => !(await isAlive(pid)), 10_000, 100);
  });
});
