/**
 * Bounded requests, measured: the worst requests the server's limits still allow, each timed
 * in-process (`app.inject`) with the event loop's longest stall while it ran; and a storm —
 * project A creating ports from 8 concurrent clients while project B lists networks and
 * creates ports one at a time — with B's latency beside B's latency on an idle server.
 * Writes bench/fuzz/results-bounds.json and prints a table.
 *
 *   npx tsx bench/fuzz/bounds.ts [--dialects sqlite,postgres] [--storm-seconds 10]
 *     [--project-writes N] [--out bench/fuzz/results-bounds.json]
 */
import { writeFileSync } from 'node:fs';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { DEFAULT_QUOTAS, DEFAULT_SETTINGS } from '../../src/core/settings.js';
import { type Dialect, startTestServer, type TestServer } from '../../test/helpers/server.js';

const args = process.argv.slice(2);
const arg = (name: string, dflt: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : dflt;
};
const DIALECTS = arg('dialects', 'sqlite,postgres').split(',');
const OUT = arg('out', 'bench/fuzz/results-bounds.json');
const STORM_MS = Number(arg('storm-seconds', '10')) * 1000;
const PROJECT_WRITES = Number(arg('project-writes', String(DEFAULT_SETTINGS.projectWriteConcurrency)));

interface Case {
  dialect: string;
  request: string;
  status: number;
  /** Median wall time of the request, ms. */
  server_ms: number;
  /** The event loop's longest stall while it ran, ms (max over the runs). */
  loop_block_ms: number;
}

const range = <T>(n: number, item: (i: number) => T): T[] => Array.from({ length: n }, (_, i) => item(i));
const round = (ms: number) => Math.round(ms * 10) / 10;
const pct = (values: number[], p: number) => {
  const sorted = [...values].sort((a, b) => a - b);
  return round(sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0);
};

/** A caller of the in-process server: one project's member token. */
class Caller {
  constructor(
    readonly server: TestServer,
    readonly token: string,
  ) {}

  /** A caller with `role` on a project of its own. */
  static async login(server: TestServer, role: string): Promise<Caller> {
    return new Caller(server, (await server.newProjectUser(role)).token);
  }

  call(method: string, url: string, body?: unknown): Promise<{ status: number; body: unknown }> {
    return this.server.request(method, url, body, { 'x-auth-token': this.token });
  }

  // biome-ignore lint/suspicious/noExplicitAny: response bodies are read by shape
  async ok(method: string, url: string, body?: unknown): Promise<any> {
    const r = await this.call(method, url, body);
    if (r.status >= 400)
      throw new Error(`${method} ${url}: ${r.status} ${JSON.stringify(r.body).slice(0, 300)}`);
    return r.body;
  }
}

/** Runs `request` three times; its median time and the loop's longest stall meanwhile. */
async function timed(
  cases: Case[],
  dialect: string,
  name: string,
  request: () => Promise<{ status: number }>,
): Promise<void> {
  const times: number[] = [];
  let block = 0;
  let status = 0;
  for (let run = 0; run < 3; run++) {
    const loop = monitorEventLoopDelay({ resolution: 1 });
    loop.enable();
    const start = performance.now();
    status = (await request()).status;
    times.push(performance.now() - start);
    // A stall is recorded when the loop next turns: let it.
    await sleep(20);
    loop.disable();
    block = Math.max(block, loop.max / 1e6);
  }
  cases.push({ dialect, request: name, status, server_ms: pct(times, 50), loop_block_ms: round(block) });
}

async function network(c: Caller, cidr: string): Promise<{ net: string; sub: string }> {
  const net = (await c.ok('POST', '/v2.0/networks', { network: { name: 'n' } })).network.id;
  const sub = (await c.ok('POST', '/v2.0/subnets', { subnet: { network_id: net, ip_version: 4, cidr } }))
    .subnet.id;
  return { net, sub };
}

async function worstAllowed(server: TestServer, dialect: string, cases: Case[]): Promise<void> {
  const admin = await Caller.login(server, 'admin');
  const member = await Caller.login(server, 'member');
  const { net, sub } = await network(admin, '10.0.0.0/16');
  // A big subnet that is already busy: 10,000 addresses taken.
  for (let i = 0; i < 10; i++) {
    await admin.ok('POST', '/v2.0/ports', { ports: range(1000, () => ({ network_id: net })) });
  }
  const ips = (n: number) => range(n, () => ({ subnet_id: sub }));
  await timed(cases, dialect, 'port create, 5 fixed IPs, /16 with 10k taken', () =>
    admin.call('POST', '/v2.0/ports', { port: { network_id: net, fixed_ips: ips(5) } }),
  );
  await timed(cases, dialect, 'bulk create, 1000 ports', () =>
    admin.call('POST', '/v2.0/ports', { ports: range(1000, () => ({ network_id: net })) }),
  );
  await timed(cases, dialect, 'bulk create, 1000 ports x 5 fixed IPs', () =>
    admin.call('POST', '/v2.0/ports', { ports: range(1000, () => ({ network_id: net, fixed_ips: ips(5) })) }),
  );
  const own = await network(member, '10.1.0.0/16');
  await timed(cases, dialect, 'port create, 3000 fixed IPs (refused)', () =>
    member.call('POST', '/v2.0/ports', {
      port: { network_id: own.net, fixed_ips: range(3000, () => ({ subnet_id: own.sub })) },
    }),
  );
  let third = 0;
  await timed(cases, dialect, 'subnet create, 100 pools, 20 host routes, 5 DNS', () => {
    third++;
    return member.call('POST', '/v2.0/subnets', {
      subnet: {
        network_id: own.net,
        ip_version: 4,
        cidr: `10.${100 + third}.0.0/16`,
        allocation_pools: range(100, (i) => ({
          start: `10.${100 + third}.${i + 1}.1`,
          end: `10.${100 + third}.${i + 1}.200`,
        })),
        host_routes: range(20, (i) => ({
          destination: `172.16.${i}.0/24`,
          nexthop: `10.${100 + third}.1.1`,
        })),
        dns_nameservers: range(5, (i) => `192.0.2.${i + 1}`),
      },
    });
  });
  const router = (await member.ok('POST', '/v2.0/routers', { router: { name: 'r' } })).router.id;
  await member.ok('PUT', `/v2.0/routers/${router}/add_router_interface`, { subnet_id: own.sub });
  await timed(cases, dialect, 'router update, 30 routes', () =>
    member.call('PUT', `/v2.0/routers/${router}`, {
      router: { routes: range(30, (i) => ({ destination: `192.168.${i}.0/24`, nexthop: '10.1.0.9' })) },
    }),
  );
  await timed(cases, dialect, 'port create, 4 KiB binding:profile', () =>
    admin.call('POST', '/v2.0/ports', {
      port: { network_id: net, 'binding:profile': { blob: 'x'.repeat(4000) } },
    }),
  );
  await timed(cases, dialect, 'port list, 17k ports', () => admin.call('GET', '/v2.0/ports'));
  const ids = range(40_000, (i) => `id=${i.toString(16).padStart(8, '0')}-0000-4000-8000-000000000000`).join(
    '&',
  );
  await timed(cases, dialect, 'port list, 40k id= filters', () => admin.call('GET', `/v2.0/ports?${ids}`));
}

interface Storm {
  dialect: string;
  project_writes: number;
  idle_p50_ms: number;
  idle_p95_ms: number;
  storm_p50_ms: number;
  storm_p95_ms: number;
  p95_ratio: number;
  storm_a_creates: number;
  storm_b_requests: number;
}

/** B's loop: list networks, create a port; latencies of each request. */
async function projectB(b: Caller, net: string, until: () => boolean): Promise<number[]> {
  const latencies: number[] = [];
  while (!until()) {
    for (const [method, url, body] of [
      ['GET', '/v2.0/networks', undefined],
      ['POST', '/v2.0/ports', { port: { network_id: net } }],
    ] as const) {
      const start = performance.now();
      await b.ok(method, url, body);
      latencies.push(performance.now() - start);
    }
  }
  return latencies;
}

async function storm(server: TestServer, dialect: string, projectWrites: number): Promise<Storm> {
  const a = await Caller.login(server, 'member');
  const b = await Caller.login(server, 'member');
  const netA = await network(a, '10.2.0.0/16');
  const netB = await network(b, '10.3.0.0/16');
  const idleEnd = performance.now() + Math.min(STORM_MS, 5000);
  const idle = await projectB(b, netB.net, () => performance.now() > idleEnd);
  let stop = false;
  let creates = 0;
  const clients = range(8, async () => {
    while (!stop) {
      await a.ok('POST', '/v2.0/ports', { port: { network_id: netA.net } });
      creates++;
    }
  });
  await sleep(200);
  const stormEnd = performance.now() + STORM_MS;
  const during = await projectB(b, netB.net, () => performance.now() > stormEnd);
  stop = true;
  await Promise.all(clients);
  return {
    dialect,
    project_writes: projectWrites,
    idle_p50_ms: pct(idle, 50),
    idle_p95_ms: pct(idle, 95),
    storm_p50_ms: pct(during, 50),
    storm_p95_ms: pct(during, 95),
    p95_ratio: round(pct(during, 95) / pct(idle, 95)),
    storm_a_creates: creates,
    storm_b_requests: during.length,
  };
}

const cases: Case[] = [];
const storms: Storm[] = [];
for (const dialect of DIALECTS as Dialect[]) {
  const serve = (projectWriteConcurrency: number) =>
    startTestServer(dialect, {
      quotas: { ...DEFAULT_QUOTAS, port: 1_000_000, subnet: 1000 },
      projectWriteConcurrency,
    });
  const server = await serve(PROJECT_WRITES);
  try {
    await worstAllowed(server, dialect, cases);
    storms.push(await storm(server, dialect, PROJECT_WRITES));
  } finally {
    await server.close();
  }
  // The same storm without the per-project limit, for comparison.
  const unlimited = await serve(0);
  try {
    storms.push(await storm(unlimited, dialect, 0));
  } finally {
    await unlimited.close();
  }
}

writeFileSync(
  OUT,
  `${JSON.stringify({ date: new Date().toISOString(), node: process.version, cases, storms }, null, 2)}\n`,
);
console.table(cases);
console.table(storms);
