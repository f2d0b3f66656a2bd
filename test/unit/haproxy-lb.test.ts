/**
 * A load balancer's haproxy configuration, rendered from the snapshot's model: frontends per
 * listener (mode, bind on the VIP, maxconn, timeouts, L7 policies as ACLs), backends per listener
 * and pool (balance, persistence, health checks with Octavia's fall/rise), servers per member
 * (weight, backup, disabled); what haproxy's `show stat` says read back as member health and
 * listener counters; and the desired state the compiler makes of it (namespace, VIP, daemon).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { compile } from '../../src/agent/reconcile/compile.js';
import { diff } from '../../src/agent/reconcile/diff.js';
import { lbNamespace } from '../../src/agent/services/load-balancer.js';
import { expectLine, loadBalancerConfig, parseStats, ruleCondition } from '../../src/linux/haproxy-lb.js';
import type { Snapshot, SnapshotLoadBalancer } from '../../src/model/host-snapshot.js';

const LB_ID = 'lb111111-2222-3333-4444-555555555555';
const LISTENER = 'li111111-2222-3333-4444-555555555555';
const POOL = 'po111111-2222-3333-4444-555555555555';
const STATIC_POOL = 'po222222-2222-3333-4444-555555555555';
const M1 = 'me111111-2222-3333-4444-555555555555';
const M2 = 'me222222-2222-3333-4444-555555555555';

function lb(overrides: Partial<SnapshotLoadBalancer> = {}): SnapshotLoadBalancer {
  return {
    id: LB_ID,
    admin_state_up: true,
    vip: {
      port_id: 'vp111111-2222-3333-4444-555555555555',
      network_id: 'ne111111-2222-3333-4444-555555555555',
      mac_address: 'fa:16:3e:00:00:01',
      ip_address: '10.0.0.100',
      prefixlen: 24,
      gateway_ip: '10.0.0.1',
    },
    listeners: [
      {
        id: LISTENER,
        protocol: 'HTTP',
        protocol_port: 80,
        admin_state_up: true,
        connection_limit: 100,
        default_pool_id: POOL,
        timeout_client_data: 50000,
        timeout_member_connect: 5000,
        timeout_member_data: 50000,
        timeout_tcp_inspect: 0,
        insert_headers: {},
        l7policies: [],
      },
    ],
    pools: [
      {
        id: POOL,
        protocol: 'HTTP',
        lb_algorithm: 'ROUND_ROBIN',
        admin_state_up: true,
        session_persistence: null,
        monitor: {
          type: 'HTTP',
          delay: 2,
          timeout: 1,
          max_retries: 2,
          max_retries_down: 3,
          http_method: 'GET',
          url_path: '/health',
          expected_codes: '200',
          admin_state_up: true,
        },
        members: [
          {
            id: M1,
            address: '10.0.0.11',
            protocol_port: 8080,
            weight: 1,
            backup: false,
            admin_state_up: true,
            monitor_address: null,
            monitor_port: null,
          },
          {
            id: M2,
            address: '10.0.0.12',
            protocol_port: 8080,
            weight: 5,
            backup: true,
            admin_state_up: false,
            monitor_address: null,
            monitor_port: null,
          },
        ],
      },
    ],
    ...overrides,
  };
}

const vipDevice = (state: ReturnType<typeof compile>, netns: string) =>
  Object.values(state.namespaceLinks).find((l) => l.netns === netns && l.name !== 'lo')?.name;
const lines = (text: string) => text.split('\n').map((l) => l.trim());

describe('load balancer haproxy configuration', () => {
  it('renders a listener, its pool with an HTTP monitor, and members with weight, backup and disabled', () => {
    const text = loadBalancerConfig(lb(), '/var/lib/neutrino/lbaas/x');
    const l = lines(text);
    assert.ok(l.includes('master-worker'));
    assert.ok(
      l.includes(
        'stats socket /var/lib/neutrino/lbaas/x/haproxy.sock mode 600 level admin expose-fd listeners',
      ),
    );
    assert.ok(l.includes('pidfile /var/lib/neutrino/lbaas/x/haproxy.pid'));
    assert.ok(l.includes(`frontend ${LISTENER}`));
    assert.ok(l.includes('bind 10.0.0.100:80'));
    assert.ok(l.includes('maxconn 100'));
    assert.ok(l.includes('mode http'));
    assert.ok(l.includes('timeout client 50000'));
    assert.ok(l.includes(`default_backend ${LISTENER}.${POOL}`));
    assert.ok(l.includes(`backend ${LISTENER}.${POOL}`));
    assert.ok(l.includes('balance roundrobin'));
    assert.ok(l.includes('timeout connect 5000'));
    assert.ok(l.includes('option httpchk GET /health'));
    assert.ok(l.includes('http-check expect status 200'));
    assert.ok(l.includes(`server ${M1} 10.0.0.11:8080 weight 1 check inter 2s fall 3 rise 2`));
    assert.ok(
      l.includes(`server ${M2} 10.0.0.12:8080 weight 5 check inter 2s fall 3 rise 2 backup disabled`),
    );
  });

  it('maps algorithms and persistence: source stick table, inserted cookie, application cookie', () => {
    const withPool = (pool: Partial<SnapshotLoadBalancer['pools'][number]>) =>
      lines(loadBalancerConfig(lb({ pools: [{ ...lb().pools[0], monitor: null, ...pool }] }), '/s/lb'));
    const source = withPool({
      lb_algorithm: 'SOURCE_IP',
      session_persistence: { type: 'SOURCE_IP', cookie_name: null },
    });
    assert.ok(source.includes('balance source'));
    assert.ok(source.includes('stick on src'));
    assert.ok(source.includes(`server ${M1} 10.0.0.11:8080 weight 1`), 'no check without a monitor');
    const cookie = withPool({
      lb_algorithm: 'LEAST_CONNECTIONS',
      session_persistence: { type: 'HTTP_COOKIE', cookie_name: null },
    });
    assert.ok(cookie.includes('balance leastconn'));
    assert.ok(cookie.includes('cookie SRV insert indirect nocache'));
    assert.ok(cookie.includes(`server ${M1} 10.0.0.11:8080 weight 1 cookie ${M1}`));
    const app = withPool({ session_persistence: { type: 'APP_COOKIE', cookie_name: 'JSESSIONID' } });
    assert.ok(app.includes('stick match req.cook(JSESSIONID)'));
  });

  it('renders a TCP or HTTPS-passthrough listener in tcp mode with a connect check', () => {
    const base = lb();
    const tcp = lb({
      listeners: [
        {
          ...base.listeners[0],
          protocol: 'HTTPS',
          protocol_port: 443,
          connection_limit: -1,
          timeout_tcp_inspect: 100,
        },
      ],
      pools: [
        {
          ...base.pools[0],
          protocol: 'HTTPS',
          monitor: {
            ...base.pools[0].monitor!,
            type: 'TCP',
            http_method: null,
            url_path: null,
            expected_codes: null,
          },
        },
      ],
    });
    const l = lines(loadBalancerConfig(tcp, '/s/lb'));
    assert.ok(l.includes('mode tcp'));
    assert.ok(!l.includes('mode http'));
    assert.ok(l.includes('bind 10.0.0.100:443'));
    assert.ok(l.includes('tcp-request inspect-delay 100'));
    assert.ok(!l.some((x) => x.startsWith('maxconn 100')), 'no listener limit');
    assert.ok(!l.some((x) => x.startsWith('option httpchk')));
    assert.ok(l.includes(`server ${M1} 10.0.0.11:8080 weight 1 check inter 2s fall 3 rise 2`));
  });

  it('turns L7 policies into ACL actions in position order, and sends a redirect pool its own backend', () => {
    const base = lb();
    const policy = (
      id: string,
      action: string,
      rules: Partial<SnapshotLoadBalancer['listeners'][number]['l7policies'][number]['rules'][number]>[],
      extra = {},
    ) => ({
      id,
      action,
      admin_state_up: true,
      redirect_pool_id: null,
      redirect_url: null,
      redirect_http_code: null,
      rules: rules.map((r, i) => ({
        id: `${id}-r${i}`,
        type: 'PATH',
        compare_type: 'STARTS_WITH',
        key: null,
        value: '/',
        invert: false,
        admin_state_up: true,
        ...r,
      })),
      ...extra,
    });
    const text = loadBalancerConfig(
      lb({
        listeners: [
          {
            ...base.listeners[0],
            l7policies: [
              policy('p1', 'REJECT', [
                { type: 'HEADER', key: 'X-Bad', compare_type: 'EQUAL_TO', value: 'yes' },
              ]),
              policy('p2', 'REDIRECT_TO_POOL', [{ value: '/static' }], { redirect_pool_id: STATIC_POOL }),
              policy(
                'p3',
                'REDIRECT_TO_URL',
                [{ type: 'HOST_NAME', compare_type: 'EQUAL_TO', value: 'old.example' }],
                {
                  redirect_url: 'http://new.example/',
                  redirect_http_code: 301,
                },
              ),
              policy('p4', 'REJECT', []),
            ],
          },
        ],
        pools: [...base.pools, { ...base.pools[0], id: STATIC_POOL, members: [], monitor: null }],
      }),
      '/s/lb',
    );
    const l = lines(text);
    const deny = l.indexOf('http-request deny if { req.hdr(X-Bad) -m str yes }');
    const use = l.indexOf(`use_backend ${LISTENER}.${STATIC_POOL} if { path -m beg /static }`);
    assert.ok(deny >= 0 && use > deny, text);
    assert.ok(
      l.includes(
        'redirect location http://new.example/ code 301 if { req.hdr(host),field(1,:) -m str -i old.example }',
      ),
    );
    assert.equal(
      l.filter((x) => x.startsWith('http-request deny')).length,
      1,
      'a policy without rules never applies',
    );
    assert.ok(l.includes(`backend ${LISTENER}.${STATIC_POOL}`));
  });

  it('words rules and expected codes as haproxy reads them', () => {
    const rule = {
      id: 'r',
      type: 'FILE_TYPE',
      compare_type: 'EQUAL_TO',
      key: null,
      value: 'css',
      invert: true,
      admin_state_up: true,
    };
    assert.equal(ruleCondition(rule), '!{ path_end .css }');
    assert.equal(
      ruleCondition({
        ...rule,
        type: 'COOKIE',
        key: 'user',
        compare_type: 'CONTAINS',
        value: 'adm',
        invert: false,
      }),
      '{ req.cook(user) -m sub adm }',
    );
    assert.equal(expectLine('200-202'), 'http-check expect rstatus ^(200|201|202)$');
    assert.equal(expectLine('200,204'), 'http-check expect rstatus ^(200|204)$');
    assert.throws(() => ruleCondition({ ...rule, value: 'a b' }), /unusable/);
  });

  it('refuses ids and paths that would break the configuration', () => {
    assert.throws(() => loadBalancerConfig(lb({ id: 'bad id' }), '/s/lb'), /unusable id/);
    assert.throws(() => loadBalancerConfig(lb(), '/s/l b'), /unusable directory/);
  });

  it('reads member health and listener counters from show stat', () => {
    const csv = [
      '# pxname,svname,qcur,qmax,scur,smax,slim,stot,bin,bout,dreq,dresp,ereq,econ,eresp,wretr,wredis,status',
      `${LISTENER},FRONTEND,,,2,5,100,42,1000,2000,0,0,3,,,,,OPEN`,
      `${LISTENER}.${POOL},${M1},0,0,1,1,,20,500,900,,0,,0,0,0,0,UP`,
      `${LISTENER}.${POOL},${M2},0,0,0,0,,0,0,0,,0,,0,0,0,0,DOWN 1/3`,
      `${LISTENER}.${POOL},BACKEND,0,0,1,1,,20,500,900,0,0,,0,0,0,0,UP`,
      '',
    ].join('\n');
    assert.deepEqual(parseStats(LB_ID, csv), {
      loadbalancer_id: LB_ID,
      members: { [M1]: 'UP', [M2]: 'DOWN' },
      listeners: {
        [LISTENER]: {
          bytes_in: 1000,
          bytes_out: 2000,
          active_connections: 2,
          total_connections: 42,
          request_errors: 3,
        },
      },
    });
  });

  it('reloads haproxy (SIGHUP, no restart) when only its configuration changed', () => {
    const snapshot = (balancer: SnapshotLoadBalancer) =>
      ({
        host: 'h',
        revision: 1,
        dnsDomain: 'openstacklocal',
        networks: [
          {
            id: lb().vip.network_id,
            admin_state_up: true,
            mtu: 1500,
            network_type: 'local',
            physical_network: null,
            segmentation_id: null,
            project_id: 'p',
          },
        ],
        subnets: [],
        ports: [],
        instances: [],
        routers: [],
        physicalInterfaceMappings: {},
        load_balancers: [balancer],
      }) as unknown as Snapshot;
    const before = compile(snapshot(lb()), { stateDir: '/s' });
    const key = `lb ${lbNamespace(LB_ID)}`;
    const running = { ...before, daemons: { [key]: { ...before.daemons[key], pid: 4242 } } };
    const changed = lb({ pools: [{ ...lb().pools[0], lb_algorithm: 'LEAST_CONNECTIONS' }] });
    const ops = diff(compile(snapshot(changed), { stateDir: '/s' }), running)
      .filter((a) => a.op.startsWith('daemon.'))
      .map((a) => a.op);
    assert.deepEqual(ops, ['daemon.reload']);
  });

  it('compiles a load balancer into its namespace, VIP device and haproxy daemon', () => {
    const network = {
      id: lb().vip.network_id,
      name: 'web',
      admin_state_up: true,
      mtu: 1500,
      network_type: 'vxlan',
      physical_network: null,
      segmentation_id: 100,
      project_id: 'p',
    };
    const snapshot = {
      host: 'h',
      revision: 1,
      dnsDomain: 'openstacklocal',
      networks: [network],
      subnets: [],
      ports: [],
      instances: [],
      routers: [],
      physicalInterfaceMappings: {},
      load_balancers: [lb()],
    } as unknown as Snapshot;
    const state = compile(snapshot, { stateDir: '/var/lib/neutrino' });
    const netns = lbNamespace(LB_ID);
    assert.deepEqual(state.problems, []);
    assert.deepEqual(state.namespaces[netns], {
      kind: 'lb',
      routes: [{ destination: '0.0.0.0/0', nexthop: '10.0.0.1', dev: vipDevice(state, netns) }],
    });
    const vip = Object.values(state.namespaceLinks).find((l) => l.netns === netns && l.name !== 'lo');
    assert.deepEqual(vip?.addresses, ['10.0.0.100/24']);
    const daemon = state.daemons[`lb ${netns}`];
    assert.ok(daemon, 'haproxy daemon');
    assert.deepEqual(daemon.argv, [
      '/usr/sbin/haproxy',
      '-W',
      '-f',
      `/var/lib/neutrino/lbaas/${LB_ID}/haproxy.cfg`,
    ]);
    assert.match((state.files[daemon.config] as { content: string }).content, /frontend li111111/);
  });
});
