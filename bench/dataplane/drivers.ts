/**
 * Both L2 drivers side by side in one run (root): the agent's reconciler converging N instances on
 * one VXLAN network with DHCP (empty host → every lease), a no-op reconcile at that N, and the
 * teardown, for linuxbridge and openvswitch alternately (A B per N), beside the raw floor
 * (`raw.sh`: the same namespaces, veths and bridge by batched iproute2); then iperf3 between two
 * instances with each driver and over a bare veth pair, in interleaved rounds. Runs inside a
 * scratch host of its own (a network and a mount namespace, as `neutrino lab` makes them), so the
 * Open vSwitch bridges' devices never appear in the machine's namespace. Merges `drivers` into
 * bench/dataplane/results.json and prints a table.
 *
 *   npx tsx bench/dataplane/drivers.ts [--n 10,100,500] [--drivers linuxbridge,openvswitch]
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { Reconciler } from '../../src/agent/reconciler.js';
import { run } from '../../src/linux/exec.js';
import { addNamespace, deleteNamespace, ipBatch } from '../../src/linux/ip.js';
import { createHostMountNamespace, makePrivateMount, unmount } from '../../src/linux/lab-host.js';
import { iperf, median } from '../measure.js';
import { type AgentResult, leased, measure, snapshot } from './agent-run.js';
import { type RawResult, rawBuild } from './raw.js';

const args = process.argv.slice(2);
const arg = (name: string, fallback: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : fallback;
};
const SIZES = arg('n', '10,100,500').split(',').map(Number);
const DRIVERS = arg('drivers', 'linuxbridge,openvswitch').split(',');
const OUT = arg('out', 'bench/dataplane/results.json');
const IPERF_ROUNDS = 3;
const INSIDE = process.env.NEUTRINO_BENCH_HOST_RESULT;

interface Failed {
  n: number;
  error: string;
}

interface DriversResult {
  date: string;
  sizes: { n: number; raw: RawResult; agent: Record<string, AgentResult | Failed> }[];
  iperf3Gbps: { veth: number; rounds: Record<string, number[]> } & Record<string, unknown>;
}

/** Two instances converged with `driver`, kept until `close`. */
async function pair(
  driver: string,
): Promise<{ client: string; server: string; ip: string; close(): Promise<void> }> {
  const stateDir = mkdtempSync(join(tmpdir(), `neutrino-bench-${driver}-`));
  // dnsmasq rereads its files as nobody.
  chmodSync(stateDir, 0o755);
  const s = snapshot(2);
  const reconciler = new Reconciler({ stateDir, source: async () => s, driver });
  const first = await reconciler.reconcile();
  if (first.failures.length > 0) throw new Error(`${driver}: ${JSON.stringify(first.failures[0])}`);
  const deadline = Date.now() + 60_000;
  while (!(await leased(stateDir, s))) {
    if (Date.now() > deadline) {
      await reconciler.teardown();
      throw new Error(`${driver}: the two instances got no leases`);
    }
    await sleep(20);
  }
  const [a, b] = s.instances;
  return {
    client: `inst-${a.id}`,
    server: `inst-${b.id}`,
    ip: s.ports.find((p) => p.id === b.ports[0])!.fixed_ips[0].ip_address,
    async close() {
      await reconciler.teardown();
      await rm(stateDir, { recursive: true, force: true });
    },
  };
}

/** A bare veth pair between two namespaces: the physical limit. */
async function vethPair(): Promise<{ a: string; b: string; close(): Promise<void> }> {
  const r = randomBytes(3).toString('hex');
  const [a, b] = [`neutrino-ipa${r}`, `neutrino-ipb${r}`];
  await addNamespace(a);
  await addNamespace(b);
  await ipBatch([['link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', b]], { netns: a });
  for (const [netns, address] of [
    [a, '192.0.2.1/24'],
    [b, '192.0.2.2/24'],
  ])
    await ipBatch(
      [
        ['link', 'set', 'lo', 'up'],
        ['link', 'set', 'eth0', 'up'],
        ['addr', 'add', address, 'dev', 'eth0'],
      ],
      { netns },
    );
  return {
    a,
    b,
    close: async () => Promise.all([a, b].map((ns) => deleteNamespace(ns))).then(() => undefined),
  };
}

/** The measurements, in this (scratch host's) namespace. */
async function inside(out: string): Promise<void> {
  const sizes: DriversResult['sizes'] = [];
  for (const n of SIZES) {
    const raw = await rawBuild(n);
    const agent: Record<string, AgentResult | Failed> = {};
    // Alternate which driver goes first, so neither always runs on the warmer machine.
    const order = sizes.length % 2 === 0 ? DRIVERS : [...DRIVERS].reverse();
    for (const driver of order) {
      // A driver that does not converge at this N is recorded as such (and the run goes on).
      agent[driver] = await measure(n, driver, true).catch((err: Error) => ({ n, error: err.message }));
      console.error(`N=${n} ${driver}: ${JSON.stringify(agent[driver])}`);
    }
    sizes.push({ n, raw, agent });
  }
  const pairs = await Promise.all(DRIVERS.map((d) => pair(d)));
  const veth = await vethPair();
  const rounds: Record<string, number[]> = { veth: [] };
  try {
    for (let round = 0; round < IPERF_ROUNDS; round++) {
      for (const [i, driver] of DRIVERS.entries()) {
        const p = pairs[i];
        rounds[driver] = [...(rounds[driver] ?? []), await iperf(p.client, p.server, p.ip)];
      }
      rounds.veth.push(await iperf(veth.a, veth.b, '192.0.2.2'));
    }
  } finally {
    await veth.close();
    for (const p of pairs) await p.close();
  }
  const iperf3Gbps = {
    veth: median(rounds.veth),
    ...Object.fromEntries(DRIVERS.map((d) => [d, median(rounds[d])])),
    rounds,
  };
  const result: DriversResult = { date: new Date().toISOString(), sizes, iperf3Gbps };
  writeFileSync(out, `${JSON.stringify(result)}\n`);
}

/** Makes a scratch host (network + mount namespace), runs this script inside it, removes the host. */
async function outside(): Promise<DriversResult> {
  const dir = mkdtempSync(join(tmpdir(), 'neutrino-bench-host-'));
  const host = {
    netns: `neutrino-benchhost-${randomBytes(3).toString('hex')}`,
    mountFile: join(dir, 'mnt', 'host'),
    netnsDir: join(dir, 'netns'),
  };
  const resultFile = join(dir, 'result.json');
  mkdirSync(join(dir, 'mnt'), { recursive: true });
  mkdirSync(host.netnsDir, { recursive: true });
  try {
    await addNamespace(host.netns);
    await ipBatch([['link', 'set', 'lo', 'up']], { netns: host.netns });
    await makePrivateMount(join(dir, 'mnt'));
    await createHostMountNamespace(host);
    const argv = [
      `--mount=${host.mountFile}`,
      `--net=/run/netns/${host.netns}`,
      `--wd=${process.cwd()}`,
      '--',
    ];
    argv.push(process.execPath, '--import', 'tsx', fileURLToPath(import.meta.url), ...args);
    const code = await new Promise<number | null>((resolve, reject) => {
      const child = spawn('nsenter', argv, {
        stdio: 'inherit',
        env: { ...process.env, NEUTRINO_BENCH_HOST_RESULT: resultFile },
      });
      child.once('error', reject);
      child.once('close', resolve);
    });
    if (code !== 0) throw new Error(`the benchmark inside the scratch host exited with ${code}`);
    return JSON.parse(readFileSync(resultFile, 'utf8')) as DriversResult;
  } finally {
    await deleteNamespace(host.netns).catch(() => undefined);
    await unmount(host.mountFile).catch(() => undefined);
    await unmount(join(dir, 'mnt')).catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  }
}

if (INSIDE) {
  await inside(INSIDE);
} else {
  const drivers = await outside();
  const previous = JSON.parse(await readFile(OUT, 'utf8').catch(() => '{}')) as Record<string, unknown>;
  await writeFile(OUT, `${JSON.stringify({ ...previous, drivers }, null, 2)}\n`);
  const rows = [
    ['N', 'raw static', ...DRIVERS.flatMap((d) => [`${d}: all leases`, 'no-op', 'teardown'])],
    ...drivers.sizes.map((s) => [
      String(s.n),
      `${s.raw.totalMs} ms`,
      ...DRIVERS.flatMap((d) => {
        const r = s.agent[d];
        if ('error' in r) return ['did not converge', '—', '—'];
        const leases = r.allLeasesMs === null ? 'no leases in 120 s' : `${r.allLeasesMs} ms`;
        return [leases, `${r.noOpReconcileMs} ms`, `${r.teardownMs} ms`];
      }),
    ]),
  ];
  const widths = rows[0].map((_, c) => Math.max(...rows.map((row) => row[c].length)));
  for (const row of rows) console.log(row.map((cell, c) => cell.padEnd(widths[c])).join('  '));
  const g = drivers.iperf3Gbps;
  console.log(
    `iperf3 (medians of ${IPERF_ROUNDS} interleaved rounds): bare veth ${g.veth} Gbit/s; ${DRIVERS.map((d) => `${d} ${g[d]} Gbit/s (${Math.round(((g[d] as number) / g.veth) * 100)} %)`).join('; ')}`,
  );
  const { stdout } = await run('/work/shared/tools/leak-check', [], { allowFail: true });
  console.log(stdout.trim());
}
