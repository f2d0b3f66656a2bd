/**
 * Fuzz benchmark: a real `neutrino server` child process (SQLite) driven over keep-alive HTTP
 * by 8 concurrent clients with the security tests' request generators (every route, arbitrary
 * bodies, queries and callers) for 50,000+ requests, while a ninth client asks `/healthz` every
 * 20 ms. Reports requests per second, the status classes, every 5xx and every error body not in
 * its API's format (both must be zero), and `/healthz` p50/p99/max during the run.
 * Writes bench/fuzz/results.json and prints a table.
 *
 *   npx tsx bench/fuzz/run.ts [--requests 50000] [--clients 8] [--seed 20261203]
 */
import { writeFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import fc from 'fast-check';
import { type FuzzRequest, type FuzzTarget, fuzzRequest, isApiFormatted } from '../../test/helpers/fuzz.js';
import { startServerProcess } from '../../test/helpers/process.js';
import { startTestServer } from '../../test/helpers/server.js';

const args = process.argv.slice(2);
const arg = (name: string, dflt: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : dflt;
};
const REQUESTS = Number(arg('requests', '50000'));
const CLIENTS = Number(arg('clients', '8'));
const SEED = Number(arg('seed', '20261203'));
const OUT = arg('out', 'bench/fuzz/results.json');
const HEALTH_EVERY_MS = 20;

function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;
}

async function call(base: string, method: string, path: string, body?: unknown, token?: string) {
  const res = await fetch(base + path, {
    method,
    headers: { 'content-type': 'application/json', ...(token ? { 'x-auth-token': token } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: text ? JSON.parse(text) : undefined };
}

/** The routes the server registers, read off an in-process server of the same code. */
async function routes(): Promise<FuzzTarget['routes']> {
  const t = await startTestServer('sqlite');
  const all = t.server.routes.filter((r) => r.url !== '/neutrino/v1/events');
  await t.close();
  return all;
}

/** Users, projects and one object of each kind on the child server, for the fuzz to aim at. */
async function fixtures(base: string, password: string): Promise<Omit<FuzzTarget, 'routes'>> {
  const login = async (name: string, pw: string, project?: string) => {
    const r = await call(base, 'POST', '/identity/v3/auth/tokens', {
      auth: {
        identity: {
          methods: ['password'],
          password: { user: { name, domain: { id: 'default' }, password: pw } },
        },
        ...(project ? { scope: { project: { id: project } } } : {}),
      },
    });
    if (r.status !== 201) throw new Error(`login ${name}: ${JSON.stringify(r.body)}`);
    return String(r.headers.get('x-subject-token'));
  };
  const admin = await login('admin', password);
  const as = (method: string, path: string, body?: unknown) => call(base, method, path, body, admin);
  const roles = (await as('GET', '/identity/v3/roles')).body.roles as { id: string; name: string }[];
  const user = async (name: string, role: string) => {
    const project = (await as('POST', '/identity/v3/projects', { project: { name: `${name}-project` } })).body
      .project;
    const u = (await as('POST', '/identity/v3/users', { user: { name, password: 'pw' } })).body.user;
    const roleId = roles.find((r) => r.name === role)?.id;
    await as('PUT', `/identity/v3/projects/${project.id}/users/${u.id}/roles/${roleId}`);
    return login(name, 'pw', project.id);
  };
  const member = await user('fuzz-member', 'member');
  const reader = await user('fuzz-reader', 'reader');
  const subject = await user('fuzz-subject', 'member');
  const spare = (await as('POST', '/identity/v3/projects', { project: { name: 'fuzz-spare' } })).body.project;
  const net = (await as('POST', '/v2.0/networks', { network: { name: 'fuzz' } })).body.network;
  const sub = (
    await as('POST', '/v2.0/subnets', { subnet: { network_id: net.id, ip_version: 4, cidr: '10.9.0.0/24' } })
  ).body.subnet;
  const port = (await as('POST', '/v2.0/ports', { port: { network_id: net.id } })).body.port;
  const router = (await as('POST', '/v2.0/routers', { router: { name: 'fuzz' } })).body.router;
  const sg = (await as('POST', '/v2.0/security-groups', { security_group: { name: 'fuzz' } })).body
    .security_group;
  return {
    tokens: [admin, member, reader, '', 'bogus'],
    subjects: [subject, 'bogus'],
    ids: [net.id, sub.id, port.id, router.id, sg.id, spare.id],
    addresses: ['10.9.0.5', '10.9.0.0/24', '198.51.100.7'],
  };
}

async function main() {
  const server = await startServerProcess();
  try {
    const target: FuzzTarget = {
      routes: await routes(),
      ...(await fixtures(server.url, server.adminPassword)),
    };
    const requests: FuzzRequest[] = fc.sample(fuzzRequest(target), { numRuns: REQUESTS, seed: SEED });
    const slowest: { ms: number; what: string }[] = [];
    const statuses: Record<string, number> = {};
    const failures: string[] = [];
    const health: number[] = [];
    let running = true;
    const probe = (async () => {
      while (running) {
        const started = performance.now();
        const r = await fetch(`${server.url}/healthz`);
        await r.text();
        health.push(performance.now() - started);
        if (r.status !== 200) failures.push(`/healthz answered ${r.status}`);
        await new Promise((resolve) => setTimeout(resolve, HEALTH_EVERY_MS));
      }
    })();
    let next = 0;
    const started = performance.now();
    await Promise.all(
      Array.from({ length: CLIENTS }, async () => {
        while (next < requests.length) {
          const req = requests[next++];
          const sent = performance.now();
          const res = await fetch(server.url + req.url, {
            method: req.method,
            headers: req.headers,
            body: req.method === 'GET' || req.method === 'HEAD' ? undefined : req.payload,
          });
          const text = await res.text();
          slowest.push({
            ms: performance.now() - sent,
            what: `${req.method} ${req.url.slice(0, 100)} -> ${res.status}`,
          });
          if (slowest.length > 100) slowest.sort((a, b) => b.ms - a.ms).splice(20);
          const kind = `${Math.floor(res.status / 100)}xx`;
          statuses[kind] = (statuses[kind] ?? 0) + 1;
          if (res.status >= 500)
            failures.push(`${req.method} ${req.url} -> ${res.status} ${text.slice(0, 200)}`);
          else if (res.status >= 400 && req.method !== 'HEAD' && !isApiFormatted(req.url, res.status, text))
            failures.push(
              `${req.method} ${req.url} -> ${res.status} not in the API's format: ${text.slice(0, 200)}`,
            );
        }
      }),
    );
    const seconds = (performance.now() - started) / 1000;
    running = false;
    await probe;
    const sorted = [...health].sort((a, b) => a - b);
    const result = {
      date: new Date().toISOString(),
      requests: requests.length,
      clients: CLIENTS,
      seed: SEED,
      seconds: Math.round(seconds * 10) / 10,
      requests_per_s: Math.round(requests.length / seconds),
      statuses,
      failures: failures.length,
      failure_examples: failures.slice(0, 20),
      slowest: slowest
        .sort((a, b) => b.ms - a.ms)
        .slice(0, 10)
        .map((x) => `${Math.round(x.ms)} ms ${x.what}`),
      healthz: {
        samples: sorted.length,
        p50_ms: Math.round(pct(sorted, 50) * 10) / 10,
        p99_ms: Math.round(pct(sorted, 99) * 10) / 10,
        max_ms: Math.round((sorted[sorted.length - 1] ?? 0) * 10) / 10,
      },
    };
    writeFileSync(OUT, `${JSON.stringify(result, null, 2)}\n`);
    console.log(
      `| requests | clients | req/s | 2xx | 4xx | 5xx | format errors | /healthz p50 | p99 | max |`,
    );
    console.log(`| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |`);
    console.log(
      `| ${result.requests} | ${CLIENTS} | ${result.requests_per_s} | ${statuses['2xx'] ?? 0} | ${statuses['4xx'] ?? 0} | ` +
        `${statuses['5xx'] ?? 0} | ${failures.length - (statuses['5xx'] ?? 0)} | ${result.healthz.p50_ms} ms | ` +
        `${result.healthz.p99_ms} ms | ${result.healthz.max_ms} ms |`,
    );
    for (const f of result.failure_examples) console.log(`  ${f}`);
    if (failures.length) process.exitCode = 1;
  } finally {
    await server.stop();
  }
}

await main();
