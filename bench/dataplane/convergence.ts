/**
 * Data-plane benchmark through the API (root): an all-in-one (server + local agent, as `neutrino up`
 * runs them, in this process) on a fresh state dir per N; N instances created through the API on
 * one network, timed until the API shows all N ACTIVE (each holding its DHCP address), side by side
 * with `raw.ts` (the same kernel objects built with batched iproute2: with static addresses, and
 * with the same dnsmasq and udhcpc giving them by DHCP), each started on a quiet machine; then the
 * no-op resync time at that N (sync over HTTP + compile + observe + diff, nothing to apply). Last,
 * iperf3 between two instances on one network against a bare veth pair between two namespaces.
 * Everything is removed afterwards. Merges `convergence` and `iperf3` into
 * bench/dataplane/results.json and prints a table.
 *
 *   npx tsx bench/dataplane/convergence.ts [--n 10,100,500] [--out bench/dataplane/results.json]
 *     [--log-level info]
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { stringify } from 'yaml';
import { type AllInOne, startAllInOne } from '../../src/cli/dataplane.js';
import { Session } from '../../src/client/session.js';
import { loadConfig } from '../../src/config.js';
import { run } from '../../src/linux/exec.js';
import { addNamespace, deleteNamespace, ipBatch, ipJson } from '../../src/linux/ip.js';
import { iperf, median } from '../measure.js';
import { type RawDhcpResult, type RawResult, rawBuild, rawDhcpBuild } from './raw.js';

const args = process.argv.slice(2);
const arg = (name: string, fallback: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : fallback;
};
const SIZES = arg('n', '10,100,500').split(',').map(Number);
const OUT = arg('out', 'bench/dataplane/results.json');
/** `info` shows each reconcile with its stages' times. */
const LOG_LEVEL = arg('log-level', 'warn');
const API_CONCURRENCY = 8;
const NO_OP_RUNS = 7;
const CONVERGE_TIMEOUT_MS = 300_000;
const PASSWORD = `bench-${randomBytes(6).toString('hex')}`;

interface Instance {
  id: string;
  status: string;
  ports: { fixed_ips: { ip_address: string }[] }[];
}

interface ConvergenceResult {
  n: number;
  /** Issuing the N `POST /neutrino/v1/instances` (8 concurrent clients). */
  apiCallsMs: number;
  /** From the first POST until the API shows all N ACTIVE. */
  allActiveMs: number;
  /** A reconcile with nothing to do: HTTP sync + compile + observe + diff (median). */
  noOpResyncMs: number;
  /** CPU while converging: this process (server, agent thread, benchmark), and the whole machine. */
  cpu: { nodeMs: number; machineBusyPct: number };
  raw: RawResult;
  rawDhcp: RawDhcpResult;
}

/** The machine's CPU time counters (`/proc/stat`, all CPUs, in clock ticks). */
async function machineTicks(): Promise<number[]> {
  const line = (await readFile('/proc/stat', 'utf8')).split('\n')[0];
  return line.trim().split(/\s+/).slice(1).map(Number);
}

/** The share of CPU time spent busy (not idle, not waiting for I/O) between two readings, in %. */
function busyShare(before: number[], after: number[]): number {
  const d = after.map((v, i) => v - before[i]);
  const total = d.reduce((x, y) => x + y, 0);
  return total === 0 ? 0 : Math.round(((total - d[3] - d[4]) / total) * 100);
}

/**
 * Waits until the machine is quiet (under 10 % busy for a quarter second, at most 20 s): deleting
 * hundreds of namespaces goes on in the kernel after the command returns, and would slow whatever
 * is measured next.
 */
async function settle(): Promise<void> {
  const deadline = performance.now() + 20_000;
  while (performance.now() < deadline) {
    const before = await machineTicks();
    await sleep(250);
    if (busyShare(before, await machineTicks()) < 10) return;
  }
}

async function deployment(): Promise<{ allInOne: AllInOne; api: Session; stateDir: string }> {
  const stateDir = await mkdtemp(join(tmpdir(), 'neutrino-bench-up-'));
  const configFile = join(stateDir, 'neutrino.yaml');
  const vniBase = 100_000 + (randomBytes(3).readUIntBE(0, 3) % 16_000_000);
  await writeFile(
    configFile,
    stringify({
      settings: {
        vni_range: [vniBase, vniBase + 999],
        quotas: {
          network: 100,
          subnet: 100,
          port: 10_000,
          router: 10,
          floatingip: 50,
          security_group: 10,
          security_group_rule: 100,
          rbac_policy: 10,
        },
      },
    }),
  );
  process.env.NEUTRINO_ADMIN_PASSWORD = PASSWORD;
  const config = loadConfig(
    { config: configFile, stateDir, host: '127.0.0.1', port: 0, logLevel: LOG_LEVEL },
    { NEUTRINO_ADMIN_PASSWORD: PASSWORD },
  );
  // The periodic resync would only add noise to the timings; the agent reacts to the change feed.
  const allInOne = await startAllInOne(config, {
    host: `bench-${randomBytes(3).toString('hex')}`,
    resyncIntervalMs: 600_000,
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
  return { allInOne, api, stateDir };
}

async function network(api: Session, name: string, cidr: string, type = 'vxlan'): Promise<string> {
  const { network: net } = await api.post<{ network: { id: string } }>('/v2.0/networks', {
    network: { name, 'provider:network_type': type },
  });
  await api.post('/v2.0/subnets', { subnet: { network_id: net.id, ip_version: 4, cidr } });
  return net.id;
}

async function createInstances(api: Session, networkId: string, n: number): Promise<string[]> {
  const ids: string[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(API_CONCURRENCY, n) }, async () => {
      while (next < n) {
        const i = next++;
        const { instance } = await api.post<{ instance: Instance }>('/neutrino/v1/instances', {
          instance: { name: `bench-${i}`, networks: [{ network_id: networkId }] },
        });
        ids.push(instance.id);
      }
    }),
  );
  return ids;
}

/** Checks that every instance's eth0 holds its port's fixed IP (lease files, and `ip addr` for some). */
async function verifyAddresses(stateDir: string, instances: Instance[]): Promise<void> {
  for (const [k, instance] of instances.entries()) {
    const want = instance.ports[0].fixed_ips[0].ip_address;
    const lease = await readFile(join(stateDir, 'agent', 'instances', instance.id, 'eth0.lease'), 'utf8');
    if (!lease.includes(`ip=${want}\n`))
      throw new Error(`instance ${instance.id}: lease ${lease} is not ${want}`);
    if (k % Math.ceil(instances.length / 10) !== 0) continue;
    const [eth0] = await ipJson<{ addr_info: { family: string; local: string }[] }[]>(
      ['addr', 'show', 'eth0'],
      {
        netns: `inst-${instance.id}`,
      },
    );
    const have = eth0.addr_info.filter((a) => a.family === 'inet').map((a) => a.local);
    if (have.join() !== want) throw new Error(`instance ${instance.id}: eth0 has ${have}, not ${want}`);
  }
}

async function convergence(n: number): Promise<Omit<ConvergenceResult, 'raw' | 'rawDhcp'>> {
  const { allInOne, api, stateDir } = await deployment();
  try {
    const networkId = await network(api, 'bench', '10.9.0.0/16');
    await sleep(500); // the DHCP server of the network is up before the clock starts
    const cpu0 = process.cpuUsage();
    const machine0 = await machineTicks();
    const start = performance.now();
    const ids = await createInstances(api, networkId, n);
    const apiCallsMs = Math.round(performance.now() - start);
    let instances: Instance[] = [];
    for (;;) {
      const listed = (await api.get<{ instances: Instance[] }>('/neutrino/v1/instances')).instances;
      instances = listed.filter((i) => ids.includes(i.id));
      if (instances.length === n && instances.every((i) => i.status === 'ACTIVE')) break;
      const failed = instances.find((i) => i.status === 'ERROR');
      if (failed) throw new Error(`instance ${failed.id} in ERROR`);
      if (performance.now() - start > CONVERGE_TIMEOUT_MS) throw new Error(`N=${n}: not ACTIVE in time`);
      await sleep(20);
    }
    const allActiveMs = Math.round(performance.now() - start);
    const node = process.cpuUsage(cpu0);
    const machine = busyShare(machine0, await machineTicks());
    const cpu = { nodeMs: Math.round((node.user + node.system) / 1000), machineBusyPct: machine };
    await verifyAddresses(stateDir, instances);
    const noOps: number[] = [];
    for (let i = 0; i < NO_OP_RUNS; i++) {
      const t = performance.now();
      const summary = await allInOne.agent.reconcile();
      noOps.push(performance.now() - t);
      if (summary.actions !== 0) throw new Error(`no-op resync planned ${summary.actions} actions`);
    }
    return { n, apiCallsMs, allActiveMs, noOpResyncMs: median(noOps), cpu };
  } finally {
    const down = await allInOne.close({ cleanup: true });
    if (down && down.failures.length > 0) console.error('teardown failures', down.failures);
    await rm(stateDir, { recursive: true, force: true });
  }
}

interface IperfResult {
  instancesGbps: number;
  vethGbps: number;
  rounds: { instances: number[]; veth: number[] };
}

/** How many interleaved iperf3 rounds (instances, then veth) the medians are taken over. */
const IPERF_ROUNDS = 5;

/**
 * iperf3 between two instances on one network (through their bridge, port security on) and over
 * a bare veth pair between two namespaces, in interleaved rounds: this machine's throughput drifts
 * by ±30 % over minutes, so the two figures must be taken side by side.
 */
async function iperfBoth(): Promise<IperfResult> {
  const { allInOne, api, stateDir } = await deployment();
  const r = randomBytes(3).toString('hex');
  const [va, vb] = [`neutrino-ipa${r}`, `neutrino-ipb${r}`];
  try {
    const networkId = await network(api, 'iperf', '10.8.0.0/24', 'local');
    const ids = await createInstances(api, networkId, 2);
    let instances: Instance[] = [];
    while (instances.length < 2 || instances.some((i) => i.status !== 'ACTIVE')) {
      await sleep(50);
      instances = (await api.get<{ instances: Instance[] }>('/neutrino/v1/instances')).instances.filter((i) =>
        ids.includes(i.id),
      );
    }
    const [a, b] = instances;
    await addNamespace(va);
    await addNamespace(vb);
    await ipBatch([['link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', vb]], {
      netns: va,
    });
    for (const [netns, address] of [
      [va, '192.0.2.1/24'],
      [vb, '192.0.2.2/24'],
    ])
      await ipBatch(
        [
          ['link', 'set', 'lo', 'up'],
          ['link', 'set', 'eth0', 'up'],
          ['addr', 'add', address, 'dev', 'eth0'],
        ],
        { netns },
      );
    const inst: number[] = [];
    const veth: number[] = [];
    for (let round = 0; round < IPERF_ROUNDS; round++) {
      inst.push(await iperf(`inst-${a.id}`, `inst-${b.id}`, b.ports[0].fixed_ips[0].ip_address));
      veth.push(await iperf(va, vb, '192.0.2.2'));
    }
    return { instancesGbps: median(inst), vethGbps: median(veth), rounds: { instances: inst, veth } };
  } finally {
    await Promise.all([va, vb].map((ns) => deleteNamespace(ns).catch(() => undefined)));
    await allInOne.close({ cleanup: true });
    await rm(stateDir, { recursive: true, force: true });
  }
}

const results: ConvergenceResult[] = [];
for (const n of SIZES) {
  await settle();
  const raw = await rawBuild(n);
  await settle();
  const rawDhcp = await rawDhcpBuild(n);
  await settle();
  const agent = await convergence(n);
  results.push({ ...agent, raw, rawDhcp });
  console.error(`N=${n}: ${JSON.stringify(results.at(-1))}`);
}
await settle();
const iperf3 = await iperfBoth();
console.error(`iperf3: ${JSON.stringify(iperf3)}`);

const previous = JSON.parse(await readFile(OUT, 'utf8').catch(() => '{}')) as Record<string, unknown>;
await writeFile(
  OUT,
  `${JSON.stringify({ ...previous, convergence: { date: new Date().toISOString(), results }, iperf3 }, null, 2)}\n`,
);

const rows = [
  [
    'N',
    'API calls',
    'API → all ACTIVE',
    'raw static',
    'raw + DHCP',
    '÷ static',
    '÷ DHCP',
    'CPU busy',
    'no-op resync',
  ],
  ...results.map((r) => [
    String(r.n),
    `${r.apiCallsMs} ms`,
    `${r.allActiveMs} ms`,
    `${r.raw.totalMs} ms`,
    `${r.rawDhcp.totalMs} ms`,
    `${(r.allActiveMs / r.raw.totalMs).toFixed(2)}×`,
    `${(r.allActiveMs / r.rawDhcp.totalMs).toFixed(2)}×`,
    `${r.cpu.machineBusyPct} %`,
    `${r.noOpResyncMs} ms`,
  ]),
];
const widths = rows[0].map((_, c) => Math.max(...rows.map((row) => row[c].length)));
for (const row of rows) console.log(row.map((cell, c) => cell.padEnd(widths[c])).join('  '));
console.log(
  `iperf3 -t 3, medians of ${IPERF_ROUNDS} interleaved rounds: instances on one network ${iperf3.instancesGbps} Gbit/s, bare veth ${iperf3.vethGbps} Gbit/s (${Math.round((iperf3.instancesGbps / iperf3.vethGbps) * 100)} %)`,
);
// Stopped clients stay zombies until init reaps them (seconds here), and pgrep still lists those;
// namespaces deleted at the end go on being dismantled by the kernel for a moment too.
let leaks = await run('/work/shared/tools/leak-check', [], { allowFail: true });
for (let i = 0; i < 10 && leaks.code !== 0; i++) {
  await sleep(1_000);
  leaks = await run('/work/shared/tools/leak-check', [], { allowFail: true });
}
const { stdout } = leaks;
console.log(stdout.trim());
