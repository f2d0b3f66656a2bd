/**
 * Load balancing benchmark (issue 13), on an all-in-one (server + agent in this process, as
 * `neutrino up` runs them): three instances serving a small page with busybox `httpd` (each its
 * own name) behind a load balancer (HTTP listener, round robin, an HTTP health monitor), and a
 * client instance on the same network. Measured in one run, alternating (A B A B):
 *
 * - HTTP requests per second from the client through the VIP, beside the same client talking to
 *   one member directly, with connections reused (keep-alive) and not (a connection per request);
 *   `http-load.mjs` runs in the client's namespace, 16 concurrent loops for 5 s each round;
 * - the time from `POST …/members` of a fourth instance until a request through the VIP is
 *   answered by it (requests every 10 ms on new connections).
 *
 * Merges into bench/services/results.json and prints a table.
 *
 *   npx tsx bench/services/lb.ts [--rounds 3] [--seconds 5] [--out bench/services/results.json]
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import pino from 'pino';
import { stringify } from 'yaml';
import { type AllInOne, startAllInOne } from '../../src/cli/dataplane.js';
import { Session } from '../../src/client/session.js';
import { loadConfig } from '../../src/config.js';
import { runInNamespace } from '../../src/linux/exec.js';
import { median } from '../measure.js';

const args = process.argv.slice(2);
const arg = (name: string, fallback: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : fallback;
};
const ROUNDS = Number(arg('rounds', '3'));
const SECONDS = Number(arg('seconds', '5'));
const CONCURRENCY = 16;
const OUT = arg('out', 'bench/services/results.json');
const LOADER = join(dirname(fileURLToPath(import.meta.url)), 'http-load.mjs');
const LBAAS = '/load-balancer/v2/lbaas';
const PASSWORD = `bench-${randomBytes(6).toString('hex')}`;
const INSTANCES = '/neutrino/v1/instances';

interface Instance {
  id: string;
  name: string;
  status: string;
  ports: { id: string; fixed_ips: { ip_address: string; subnet_id: string }[] }[];
}

const children: ChildProcess[] = [];
const ns = (vm: Instance) => `inst-${vm.id}`;
const ip = (vm: Instance) => vm.ports[0].fixed_ips[0].ip_address;

/** busybox httpd in the instance, serving its name at `/`. */
async function serve(vm: Instance, dir: string): Promise<void> {
  const root = join(dir, vm.name);
  await mkdir(root, { recursive: true });
  await writeFile(join(root, 'index.html'), `${vm.name}\n`);
  const child = spawn('ip', ['netns', 'exec', ns(vm), 'busybox', 'httpd', '-f', '-p', '80', '-h', root], {
    stdio: 'ignore',
  });
  children.push(child);
}

async function load(client: Instance, url: string, mode: 'keepalive' | 'close') {
  const { stdout } = await runInNamespace(
    ns(client),
    process.execPath,
    [LOADER, url, String(CONCURRENCY), String(SECONDS), mode],
    { timeoutMs: (SECONDS + 30) * 1000 },
  );
  return JSON.parse(stdout) as {
    requests: number;
    errors: number;
    rps: number;
    bodies: Record<string, number>;
  };
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('run as root');
  const stateDir = await mkdtemp(join(tmpdir(), 'neutrino-bench-lb-'));
  const configFile = join(stateDir, 'neutrino.yaml');
  await writeFile(configFile, stringify({ settings: { quotas: { port: 1000 } } }));
  process.env.NEUTRINO_ADMIN_PASSWORD = PASSWORD;
  const config = loadConfig(
    { config: configFile, stateDir, host: '127.0.0.1', port: 0, logLevel: 'warn' },
    { NEUTRINO_ADMIN_PASSWORD: PASSWORD },
  );
  let allInOne: AllInOne | undefined;
  try {
    allInOne = await startAllInOne(config, {
      host: `bench-${randomBytes(2).toString('hex')}`,
      log: pino({ level: 'warn' }),
    });
    const api = new Session({
      auth: {
        type: 'password',
        credentials: {
          authUrl: `${allInOne.url}/identity/v3`,
          username: 'admin',
          password: PASSWORD,
          projectName: 'admin',
          userDomainName: 'Default',
          projectDomainName: 'Default',
        },
      },
    });
    const { network } = await api.post<{ network: { id: string } }>('/v2.0/networks', {
      network: { name: 'lb-bench' },
    });
    const { subnet } = await api.post<{ subnet: { id: string } }>('/v2.0/subnets', {
      subnet: { network_id: network.id, ip_version: 4, cidr: '10.88.0.0/24' },
    });
    const { security_groups } = await api.get<{ security_groups: { id: string; name: string }[] }>(
      '/v2.0/security-groups?name=default',
    );
    await api.post('/v2.0/security-group-rules', {
      security_group_rule: {
        security_group_id: security_groups[0].id,
        direction: 'ingress',
        protocol: 'tcp',
        port_range_min: 80,
        port_range_max: 80,
      },
    });
    const vms: Instance[] = [];
    for (const name of ['web-1', 'web-2', 'web-3', 'web-4', 'client']) {
      const { instance } = await api.post<{ instance: Instance }>(INSTANCES, {
        instance: { name, networks: [{ network_id: network.id }] },
      });
      vms.push(instance);
    }
    const deadline = Date.now() + 120_000;
    for (let i = 0; i < vms.length; i++) {
      for (;;) {
        const { instance } = await api.get<{ instance: Instance }>(`${INSTANCES}/${vms[i].id}`);
        if (instance.status === 'ACTIVE') {
          vms[i] = instance;
          break;
        }
        if (Date.now() > deadline) throw new Error(`instance ${instance.name}: ${instance.status}`);
        await sleep(200);
      }
    }
    const [m1, m2, m3, m4, client] = vms;
    const www = await mkdtemp(join(tmpdir(), 'neutrino-bench-www-'));
    for (const vm of [m1, m2, m3, m4]) await serve(vm, www);

    const { loadbalancer } = await api.post<{ loadbalancer: { id: string; vip_address: string } }>(
      `${LBAAS}/loadbalancers`,
      { loadbalancer: { name: 'bench', vip_subnet_id: subnet.id } },
    );
    const { listener } = await api.post<{ listener: { id: string } }>(`${LBAAS}/listeners`, {
      listener: { loadbalancer_id: loadbalancer.id, protocol: 'HTTP', protocol_port: 80 },
    });
    const { pool } = await api.post<{ pool: { id: string } }>(`${LBAAS}/pools`, {
      pool: { listener_id: listener.id, protocol: 'HTTP', lb_algorithm: 'ROUND_ROBIN' },
    });
    for (const vm of [m1, m2, m3])
      await api.post(`${LBAAS}/pools/${pool.id}/members`, {
        member: { address: ip(vm), protocol_port: 80, subnet_id: subnet.id },
      });
    await api.post(`${LBAAS}/healthmonitors`, {
      healthmonitor: { pool_id: pool.id, type: 'HTTP', delay: 2, timeout: 1, max_retries: 2, url_path: '/' },
    });
    const vip = `http://${loadbalancer.vip_address}/`;
    const direct = `http://${ip(m1)}/`;
    // Until all three members answer through the VIP.
    for (let seen = new Set<string>(); seen.size < 3; ) {
      if (Date.now() > deadline + 120_000) throw new Error(`only ${[...seen]} answer through the VIP`);
      const { stdout } = await runInNamespace(ns(client), 'busybox', ['wget', '-q', '-O', '-', vip], {
        allowFail: true,
      });
      if (stdout.trim()) seen.add(stdout.trim());
      else await sleep(200);
    }

    const rows: Record<string, number[]> = {
      vipKeepalive: [],
      directKeepalive: [],
      vipClose: [],
      directClose: [],
    };
    const spread: Record<string, number>[] = [];
    let errors = 0;
    for (let r = 0; r < ROUNDS; r++)
      for (const mode of ['keepalive', 'close'] as const) {
        const through = await load(client, vip, mode);
        const straight = await load(client, direct, mode);
        errors += through.errors + straight.errors;
        const suffix = mode === 'keepalive' ? 'Keepalive' : 'Close';
        rows[`vip${suffix}`].push(through.rps);
        rows[`direct${suffix}`].push(straight.rps);
        spread.push(through.bodies);
        console.error(`round ${r + 1} ${mode}: vip ${through.rps}/s, direct ${straight.rps}/s`);
      }

    // A fourth member: from the API call until it answers through the VIP.
    const added = performance.now();
    await api.post(`${LBAAS}/pools/${pool.id}/members`, {
      member: { address: ip(m4), protocol_port: 80, subnet_id: subnet.id },
    });
    let memberMs: number | null = null;
    while (performance.now() - added < 60_000) {
      const { stdout } = await runInNamespace(ns(client), 'busybox', ['wget', '-q', '-O', '-', vip], {
        allowFail: true,
      });
      if (stdout.trim() === m4.name) {
        memberMs = Math.round(performance.now() - added);
        break;
      }
      await sleep(10);
    }

    const med = (k: string) => median(rows[k]);
    const results = {
      date: new Date().toISOString(),
      node: process.version,
      cpus: cpus().length,
      rounds: ROUNDS,
      seconds: SECONDS,
      concurrency: CONCURRENCY,
      rps: rows,
      medians: Object.fromEntries(Object.keys(rows).map((k) => [k, med(k)])),
      ratioKeepalive: Math.round((med('vipKeepalive') / med('directKeepalive')) * 100) / 100,
      ratioClose: Math.round((med('vipClose') / med('directClose')) * 100) / 100,
      errors,
      spread,
      memberToTrafficMs: memberMs,
    };
    const previous = JSON.parse(await readFile(OUT, 'utf8').catch(() => '{}')) as Record<string, unknown>;
    await writeFile(OUT, `${JSON.stringify({ ...previous, loadBalancer: results }, null, 2)}\n`);
    console.log('| requests/s (median) | through the VIP | one member directly | ratio |');
    console.log('| --- | ---: | ---: | ---: |');
    console.log(
      `| keep-alive | ${med('vipKeepalive')} | ${med('directKeepalive')} | ${results.ratioKeepalive} |`,
    );
    console.log(
      `| a connection per request | ${med('vipClose')} | ${med('directClose')} | ${results.ratioClose} |`,
    );
    console.log(`member create → first answer through the VIP: ${memberMs} ms; errors: ${errors}`);
    await rm(www, { recursive: true, force: true });
  } finally {
    for (const child of children)
      if (child.pid !== undefined && child.exitCode === null) process.kill(child.pid, 'SIGKILL');
    await allInOne?.close({ cleanup: true });
    await rm(stateDir, { recursive: true, force: true });
  }
}

await main();
