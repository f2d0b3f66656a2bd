/**
 * L3 benchmark through the API (root), on an all-in-one (server + local agent, as `neutrino up` runs
 * them, in this process) whose external network is a bridge of the bench's own with an "outside"
 * namespace as its gateway. Throughput (iperf3 -t 3, five interleaved rounds, medians): instance →
 * instance on one network, instance → instance across a router, outside → instance through a
 * floating IP. Convergence: from
 * the first API call to 100 routers, each with two interfaces (on DHCP-less networks) and a gateway,
 * all built (their 300 ports ACTIVE, every NAT table in place) and a ping through one of them
 * working (an instance made beforehand behind the first router pings the outside); then the no-op
 * resync and the observation with and without NAT verification at that size. Everything is removed
 * afterwards. Merges `l3` into bench/dataplane/results.json and prints a table.
 *
 *   npx tsx bench/dataplane/l3.ts [--routers 100] [--out bench/dataplane/results.json]
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { stringify } from 'yaml';
import { observe } from '../../src/agent/reconcile/observe.js';
import { type AllInOne, startAllInOne } from '../../src/cli/dataplane.js';
import { Session } from '../../src/client/session.js';
import { loadConfig } from '../../src/config.js';
import { runInNamespace } from '../../src/linux/exec.js';
import { addNamespace, deleteNamespace, ipBatch, listNamespaces } from '../../src/linux/ip.js';
import { nftListTable } from '../../src/linux/nft.js';
import { iperf, median } from '../measure.js';

const args = process.argv.slice(2);
const arg = (name: string, fallback: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : fallback;
};
const ROUTERS = Number(arg('routers', '100'));
const OUT = arg('out', 'bench/dataplane/results.json');
const API_CONCURRENCY = 8;
const RUNS = 7;
const IPERF_ROUNDS = 5;
const TIMEOUT_MS = 300_000;
const PASSWORD = `bench-${randomBytes(6).toString('hex')}`;
const OUTSIDE_IP = '203.0.113.254';

interface Port {
  id: string;
  status: string;
  fixed_ips: { ip_address: string }[];
}
interface Instance {
  id: string;
  status: string;
  ports: Port[];
}

async function inParallel<T>(items: T[], work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await work(items[next++]);
  };
  await Promise.all(Array.from({ length: Math.min(API_CONCURRENCY, items.length) }, worker));
}

/** An all-in-one plus "the outside": a bridge mapped as physnet `public`, a namespace on it. */
class Deployment {
  readonly r = randomBytes(2).toString('hex');
  readonly bridge = `br-ex${this.r}`;
  readonly outside = `neutrino-out${this.r}`;
  stateDir = '';
  allInOne!: AllInOne;
  api!: Session;
  external = '';

  async start(): Promise<void> {
    await addNamespace(this.outside);
    await ipBatch([
      ['link', 'add', this.bridge, 'type', 'bridge'],
      ['link', 'set', this.bridge, 'addrgenmode', 'none', 'up'],
      [
        'link',
        'add',
        `tapout${this.r}`,
        'master',
        this.bridge,
        'type',
        'veth',
        'peer',
        'name',
        'eth0',
        'netns',
        this.outside,
      ],
      ['link', 'set', `tapout${this.r}`, 'up'],
    ]);
    await ipBatch(
      [
        ['link', 'set', 'lo', 'up'],
        ['link', 'set', 'eth0', 'up'],
        ['addr', 'add', `${OUTSIDE_IP}/24`, 'dev', 'eth0'],
      ],
      { netns: this.outside },
    );
    this.stateDir = await mkdtemp(join(tmpdir(), 'neutrino-bench-l3-'));
    const configFile = join(this.stateDir, 'neutrino.yaml');
    const quotas = { network: 1000, subnet: 1000, port: 10_000, router: 1000, floatingip: 1000 };
    await writeFile(
      configFile,
      stringify({ physical_interface_mappings: { public: this.bridge }, settings: { quotas } }),
    );
    process.env.NEUTRINO_ADMIN_PASSWORD = PASSWORD;
    const config = loadConfig(
      { config: configFile, stateDir: this.stateDir, host: '127.0.0.1', port: 0, logLevel: 'warn' },
      { NEUTRINO_ADMIN_PASSWORD: PASSWORD },
    );
    // The periodic resync would only add noise to the timings; the agent reacts to the change feed.
    this.allInOne = await startAllInOne(config, {
      host: `bench-${this.r}`,
      resyncIntervalMs: 600_000,
    });
    this.api = new Session({
      auth: {
        type: 'password',
        credentials: {
          authUrl: `${this.allInOne.url}/identity/v3`,
          username: 'admin',
          password: PASSWORD,
          projectName: 'admin',
          userDomainName: 'Default',
          projectDomainName: 'Default',
        },
      },
    });
    const { network } = await this.api.post<{ network: { id: string } }>('/v2.0/networks', {
      network: { name: 'public', 'router:external': true },
    });
    await this.api.post('/v2.0/subnets', {
      subnet: {
        network_id: network.id,
        ip_version: 4,
        cidr: '203.0.113.0/24',
        gateway_ip: OUTSIDE_IP,
        allocation_pools: [{ start: '203.0.113.1', end: '203.0.113.253' }],
        enable_dhcp: false,
      },
    });
    this.external = network.id;
  }

  async stop(): Promise<void> {
    const down = await this.allInOne?.close({ cleanup: true });
    if (down && down.failures.length > 0) console.error('teardown failures', down.failures);
    await deleteNamespace(this.outside);
    await ipBatch([['link', 'del', this.bridge]]).catch(() => undefined);
    if (this.stateDir) await rm(this.stateDir, { recursive: true, force: true });
  }

  async network(name: string, cidr: string, dhcp = true): Promise<{ network: string; subnet: string }> {
    const { network } = await this.api.post<{ network: { id: string } }>('/v2.0/networks', {
      network: { name, 'provider:network_type': 'local' },
    });
    const { subnet } = await this.api.post<{ subnet: { id: string } }>('/v2.0/subnets', {
      subnet: { network_id: network.id, ip_version: 4, cidr, enable_dhcp: dhcp },
    });
    return { network: network.id, subnet: subnet.id };
  }

  async router(name: string, subnets: string[]): Promise<string> {
    const { router } = await this.api.post<{ router: { id: string } }>('/v2.0/routers', {
      router: { name, external_gateway_info: { network_id: this.external } },
    });
    for (const subnet_id of subnets)
      await this.api.put(`/v2.0/routers/${router.id}/add_router_interface`, { subnet_id });
    return router.id;
  }

  async instances(networks: string[]): Promise<Instance[]> {
    const ids: string[] = [];
    for (const network_id of networks) {
      const { instance } = await this.api.post<{ instance: Instance }>('/neutrino/v1/instances', {
        instance: { name: `bench-${ids.length}`, networks: [{ network_id }] },
      });
      ids.push(instance.id);
    }
    for (;;) {
      const all = await Promise.all(
        ids.map(
          async (id) => (await this.api.get<{ instance: Instance }>(`/neutrino/v1/instances/${id}`)).instance,
        ),
      );
      if (all.every((i) => i.status === 'ACTIVE')) return all;
      if (all.some((i) => i.status === 'ERROR')) throw new Error('instance in ERROR');
      await sleep(50);
    }
  }
}

interface Throughput {
  sameNetworkGbps: number;
  routedGbps: number;
  floatingIpGbps: number;
  routedRatio: number;
}

async function throughput(): Promise<Throughput> {
  const d = new Deployment();
  try {
    await d.start();
    const net1 = await d.network('net1', '10.40.1.0/24');
    const net2 = await d.network('net2', '10.40.2.0/24');
    await d.router('r', [net1.subnet, net2.subnet]);
    const [server, neighbour, remote] = await d.instances([net1.network, net1.network, net2.network]);
    const { floatingip } = await d.api.post<{ floatingip: { floating_ip_address: string } }>(
      '/v2.0/floatingips',
      {
        floatingip: { floating_network_id: d.external, port_id: server.ports[0].id },
      },
    );
    const ns = (i: Instance) => `inst-${i.id}`;
    const address = server.ports[0].fixed_ips[0].ip_address;
    // Interleaved rounds, medians: a shared machine's load shifts during a run.
    const same: number[] = [];
    const routed: number[] = [];
    const floating: number[] = [];
    for (let round = 0; round < IPERF_ROUNDS; round++) {
      same.push(await iperf(ns(neighbour), ns(server), address));
      routed.push(await iperf(ns(remote), ns(server), address));
      floating.push(await iperf(d.outside, ns(server), address, floatingip.floating_ip_address));
    }
    const [sameNetworkGbps, routedGbps, floatingIpGbps] = [median(same), median(routed), median(floating)];
    return {
      sameNetworkGbps,
      routedGbps,
      floatingIpGbps,
      routedRatio: Math.round((routedGbps / sameNetworkGbps) * 100) / 100,
    };
  } finally {
    await d.stop();
  }
}

interface Convergence {
  routers: number;
  /** The API calls: 2 networks + subnets, a router with a gateway and 2 interfaces, per router. */
  apiCallsMs: number;
  /** From the first call until every router port is ACTIVE and every NAT table exists. */
  allBuiltMs: number;
  /** ... and an instance behind the first router pings the outside (SNAT). */
  pingThroughMs: number;
  /** A reconcile with nothing to do at that size (HTTP sync + compile + observe + diff), median. */
  noOpResyncMs: number;
  /** Observation alone, trusting the NAT records (every reconcile) and listing every table (resyncs). */
  observeMs: number;
  observeVerifyingMs: number;
}

async function convergence(n: number): Promise<Convergence> {
  const d = new Deployment();
  try {
    await d.start();
    const first = await d.network('r0-a', '10.41.0.0/24');
    const [probe] = await d.instances([first.network]);
    const start = performance.now();
    const routers: string[] = [];
    await inParallel(
      Array.from({ length: n }, (_, i) => i),
      async (i) => {
        // No DHCP on these: the routers are what is measured (200 dnsmasq would dominate).
        const a = i === 0 ? first : await d.network(`r${i}-a`, `10.${42 + (i >> 8)}.${i & 255}.0/24`, false);
        const b = await d.network(`r${i}-b`, `10.${100 + (i >> 8)}.${i & 255}.0/24`, false);
        routers.push(await d.router(`r${i}`, [a.subnet, b.subnet]));
      },
    );
    const apiCallsMs = Math.round(performance.now() - start);
    for (;;) {
      const { ports } = await d.api.get<{ ports: Port[] }>(
        '/v2.0/ports?device_owner=network:router_interface',
      );
      const { ports: gateways } = await d.api.get<{ ports: Port[] }>(
        '/v2.0/ports?device_owner=network:router_gateway',
      );
      const all = [...ports, ...gateways];
      if (all.length === 3 * n && all.every((p) => p.status === 'ACTIVE')) break;
      if (performance.now() - start > TIMEOUT_MS) throw new Error('routers not built in time');
      await sleep(50);
    }
    const namespaces = new Set(await listNamespaces());
    const missing = routers.filter((id) => !namespaces.has(`qrouter-${id}`));
    if (missing.length > 0) throw new Error(`${missing.length} router namespaces missing`);
    await inParallel(routers, async (id) => {
      if ((await nftListTable('ip', 'neutrino-router', { netns: `qrouter-${id}` })) === undefined)
        throw new Error(`router ${id} has no NAT table`);
    });
    const allBuiltMs = Math.round(performance.now() - start);
    for (;;) {
      const { code } = await runInNamespace(`inst-${probe.id}`, 'ping', ['-c', '1', '-W', '1', OUTSIDE_IP], {
        allowFail: true,
      });
      if (code === 0) break;
      if (performance.now() - start > TIMEOUT_MS) throw new Error('no ping through the router');
    }
    const pingThroughMs = Math.round(performance.now() - start);

    const noOps: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      const t = performance.now();
      const summary = await d.allInOne.agent.reconcile();
      noOps.push(performance.now() - t);
      if (summary.actions !== 0) throw new Error(`no-op resync planned ${summary.actions} actions`);
    }
    const timeObserve = async (verify: boolean) => {
      const times: number[] = [];
      for (let i = 0; i < RUNS; i++) {
        const t = performance.now();
        await observe({ stateDir: join(d.stateDir, 'agent'), verify });
        times.push(performance.now() - t);
      }
      return median(times);
    };
    return {
      routers: n,
      apiCallsMs,
      allBuiltMs,
      pingThroughMs,
      noOpResyncMs: median(noOps),
      observeMs: await timeObserve(false),
      observeVerifyingMs: await timeObserve(true),
    };
  } finally {
    await d.stop();
  }
}

const iperf3 = await throughput();
console.error(`iperf3: ${JSON.stringify(iperf3)}`);
const routers = await convergence(ROUTERS);
console.error(`convergence: ${JSON.stringify(routers)}`);

const previous = JSON.parse(await readFile(OUT, 'utf8').catch(() => '{}')) as Record<string, unknown>;
const l3 = {
  date: new Date().toISOString(),
  source: 'API (neutrino up in-process)',
  iperf3,
  convergence: routers,
};
await writeFile(OUT, `${JSON.stringify({ ...previous, l3 }, null, 2)}\n`);

console.log(
  `iperf3 -t 3: same network ${iperf3.sameNetworkGbps} Gbit/s, across a router ${iperf3.routedGbps} Gbit/s ` +
    `(${Math.round(iperf3.routedRatio * 100)}%), outside → floating IP ${iperf3.floatingIpGbps} Gbit/s`,
);
console.log(
  `${routers.routers} routers (2 interfaces + gateway each): API calls ${routers.apiCallsMs} ms, ` +
    `all built ${routers.allBuiltMs} ms, ping through ${routers.pingThroughMs} ms; ` +
    `no-op resync ${routers.noOpResyncMs} ms; observe ${routers.observeMs} ms, verifying NAT ${routers.observeVerifyingMs} ms`,
);
