/**
 * API benchmark: a real `neutrino server` child process per dialect, driven over keep-alive
 * HTTP by 1 and by 8 concurrent clients. Creates 50 networks, 50 subnets and 1,000 ports,
 * then shows, updates, lists (1k and 10k ports) and deletes; reports ops/s and p50/p95.
 * Also records the server's idle RSS. Writes bench/api/results.json and prints a table.
 *
 *   npx tsx bench/api/run.ts [--dialects sqlite,postgres] [--out bench/api/results.json]
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import pg from 'pg';

interface Stat {
  op: string;
  dialect: string;
  clients: number;
  count: number;
  ops_per_s: number;
  p50_ms: number;
  p95_ms: number;
}

const args = process.argv.slice(2);
const arg = (name: string, dflt: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : dflt;
};
const DIALECTS = arg('dialects', 'sqlite,postgres').split(',');
const OUT = arg('out', 'bench/api/results.json');
const PG_URL = process.env.NEUTRINO_TEST_PG_URL ?? 'postgres://neutrino:neutrino@127.0.0.1:5432/postgres';
const PASSWORD = 'bench-password';

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

class Api {
  constructor(
    readonly base: string,
    public token = '',
  ) {}

  async call(method: string, path: string, body?: unknown): Promise<any> {
    const res = await fetch(this.base + path, {
      method,
      headers: { 'content-type': 'application/json', 'x-auth-token': this.token },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    if (res.status >= 400) throw new Error(`${method} ${path}: ${res.status} ${text.slice(0, 300)}`);
    return text ? JSON.parse(text) : undefined;
  }
}

/** Runs `n` operations split over `clients` concurrent loops; returns per-op latencies. */
async function measure(
  results: Stat[],
  dialect: string,
  op: string,
  clients: number,
  n: number,
  fn: (i: number) => Promise<unknown>,
): Promise<void> {
  const latencies: number[] = [];
  let next = 0;
  const start = performance.now();
  await Promise.all(
    Array.from({ length: clients }, async () => {
      for (;;) {
        const i = next++;
        if (i >= n) return;
        const t0 = performance.now();
        await fn(i);
        latencies.push(performance.now() - t0);
      }
    }),
  );
  const elapsed = (performance.now() - start) / 1000;
  latencies.sort((a, b) => a - b);
  const stat = {
    op,
    dialect,
    clients,
    count: n,
    ops_per_s: Math.round((n / elapsed) * 10) / 10,
    p50_ms: Math.round(pct(latencies, 50) * 100) / 100,
    p95_ms: Math.round(pct(latencies, 95) * 100) / 100,
  };
  results.push(stat);
  console.log(
    `${dialect.padEnd(8)} ${op.padEnd(22)} c=${clients} n=${String(n).padStart(5)}  ${String(stat.ops_per_s).padStart(8)} ops/s  p50 ${stat.p50_ms} ms  p95 ${stat.p95_ms} ms`,
  );
}

async function startServer(
  dbUrl: string | undefined,
  stateDir: string,
): Promise<{ child: ChildProcess; base: string }> {
  const port = await freePort();
  // The same V8 flags as bin/neutrino.js's shebang.
  const flags = [
    '--max-semi-space-size=2',
    '--v8-pool-size=1',
    'bin/neutrino.js',
    'server',
    '--port',
    String(port),
    '--state-dir',
    stateDir,
    '--log-level',
    'warn',
  ];
  if (dbUrl) flags.push('--db', dbUrl);
  const child = spawn(process.execPath, flags, {
    env: { ...process.env, NEUTRINO_ADMIN_PASSWORD: PASSWORD },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const base = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 200; i++) {
    try {
      if ((await fetch(`${base}/healthz`)).ok) return { child, base };
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  child.kill('SIGKILL');
  throw new Error('server did not start');
}

function rssMb(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
  return Math.round(kb / 1024);
}

/** Logs in as admin; returns the admin project's id. */
async function login(api: Api): Promise<string> {
  const res = await fetch(`${api.base}/identity/v3/auth/tokens`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      auth: {
        identity: {
          methods: ['password'],
          password: { user: { name: 'admin', domain: { id: 'default' }, password: PASSWORD } },
        },
        scope: { project: { name: 'admin', domain: { id: 'default' } } },
      },
    }),
  });
  api.token = res.headers.get('x-subject-token') ?? '';
  return ((await res.json()) as { token: { project: { id: string } } }).token.project.id;
}

async function runDialect(dialect: string, results: Stat[], memory: Record<string, number>): Promise<void> {
  const stateDir = mkdtempSync(join(tmpdir(), 'neutrino-bench-'));
  let dbUrl: string | undefined;
  let dropDb: (() => Promise<void>) | undefined;
  if (dialect === 'postgres') {
    const name = `neutrino_bench_${process.pid}`;
    const admin = new pg.Client({ connectionString: PG_URL });
    await admin.connect();
    await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await admin.query(`CREATE DATABASE ${name}`);
    await admin.end();
    const u = new URL(PG_URL);
    u.pathname = `/${name}`;
    dbUrl = u.toString();
    dropDb = async () => {
      const c = new pg.Client({ connectionString: PG_URL });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await c.end();
    };
  }
  const { child, base } = await startServer(dbUrl, stateDir);
  try {
    await new Promise((r) => setTimeout(r, 1500));
    memory[`${dialect}_idle_rss_mb`] = rssMb(child.pid!);
    const api = new Api(base);
    const project = await login(api);
    await api.call('PUT', `/v2.0/quotas/${project}`, { quota: { network: -1, subnet: -1, port: -1 } });
    for (const clients of [1, 8]) {
      const tag = `c${clients}`;
      const nets: string[] = [];
      await measure(results, dialect, 'network create', clients, 50, async (i) => {
        nets[i] = (
          await api.call('POST', '/v2.0/networks', { network: { name: `bench-${tag}-${i}` } })
        ).network.id;
      });
      const subnets: string[] = [];
      await measure(results, dialect, 'subnet create', clients, 50, async (i) => {
        subnets[i] = (
          await api.call('POST', '/v2.0/subnets', {
            subnet: { network_id: nets[i], ip_version: 4, cidr: `10.${i}.0.0/16`, name: `bench-${i}` },
          })
        ).subnet.id;
      });
      const ports: string[] = [];
      await measure(results, dialect, 'port create', clients, 1000, async (i) => {
        ports[i] = (
          await api.call('POST', '/v2.0/ports', { port: { network_id: nets[i % 50], name: `p${i}` } })
        ).port.id;
      });
      await measure(results, dialect, 'port show', clients, 1000, (i) =>
        api.call('GET', `/v2.0/ports/${ports[i]}`),
      );
      await measure(results, dialect, 'port update', clients, 1000, (i) =>
        api.call('PUT', `/v2.0/ports/${ports[i]}`, { port: { name: `q${i}` } }),
      );
      await measure(results, dialect, 'port list (1k)', clients, 20, () => api.call('GET', '/v2.0/ports'));
      await measure(results, dialect, 'port delete', clients, 1000, (i) =>
        api.call('DELETE', `/v2.0/ports/${ports[i]}`),
      );
      await measure(results, dialect, 'subnet delete', clients, 50, (i) =>
        api.call('DELETE', `/v2.0/subnets/${subnets[i]}`),
      );
      await measure(results, dialect, 'network delete', clients, 50, (i) =>
        api.call('DELETE', `/v2.0/networks/${nets[i]}`),
      );
    }
    // 10k ports for the large list, created in bulk (not measured as creates).
    const big = (await api.call('POST', '/v2.0/networks', { network: { name: 'big' } })).network;
    await api.call('POST', '/v2.0/subnets', {
      subnet: { network_id: big.id, ip_version: 4, cidr: '10.200.0.0/16' },
    });
    for (let b = 0; b < 10; b++) {
      await api.call('POST', '/v2.0/ports', {
        ports: Array.from({ length: 1000 }, (_, i) => ({ network_id: big.id, name: `big-${b}-${i}` })),
      });
    }
    await measure(results, dialect, 'port list (10k)', 1, 10, () => api.call('GET', '/v2.0/ports'));
    memory[`${dialect}_rss_after_mb`] = rssMb(child.pid!);
  } finally {
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
    await dropDb?.();
    rmSync(stateDir, { recursive: true, force: true });
  }
}

const results: Stat[] = [];
const memory: Record<string, number> = {};
for (const dialect of DIALECTS) await runDialect(dialect, results, memory);
console.log(memory);
writeFileSync(
  OUT,
  `${JSON.stringify({ date: new Date().toISOString(), node: process.version, cpus: 2, results, memory }, null, 2)}\n`,
);
console.log(`wrote ${OUT}`);
