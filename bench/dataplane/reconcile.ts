/**
 * Data-plane benchmark of the agent's reconciler (root): for N instances on one VXLAN network with
 * DHCP, the time from an empty host to every instance holding its lease, the time of a no-op
 * reconcile (and of the observation inside it) at that N, and the teardown; side by side with
 * `raw.ts`, the same namespaces, veths and bridge built with batched iproute2 and static addresses.
 * Cleans up after itself. Writes bench/dataplane/results.json and prints a table.
 *
 *   npx tsx bench/dataplane/reconcile.ts [--n 10,100] [--out bench/dataplane/results.json]
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { observe } from '../../src/agent/reconcile/observe.js';
import { Reconciler } from '../../src/agent/reconciler.js';
import { run } from '../../src/linux/exec.js';
import type { Snapshot, SnapshotPort } from '../../src/model/host-snapshot.js';
import { median } from '../measure.js';
import { type RawResult, rawBuild } from './raw.js';

const args = process.argv.slice(2);
const arg = (name: string, fallback: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : fallback;
};
const SIZES = arg('n', '10,100').split(',').map(Number);
const OUT = arg('out', 'bench/dataplane/results.json');
const NO_OP_RUNS = 7;
const LEASE_TIMEOUT_MS = 120_000;

interface Result {
  n: number;
  firstReconcileMs: number;
  allLeasesMs: number;
  noOpReconcileMs: number;
  noOpObserveMs: number;
  teardownMs: number;
  raw: RawResult;
}

const ip = (i: number) => `10.9.${i >> 8}.${i & 255}`;

function snapshot(n: number): Snapshot {
  const network = randomUUID();
  const subnet = randomUUID();
  const port = (i: number, owner: string): SnapshotPort => ({
    id: randomUUID(),
    network_id: network,
    mac_address: `fa:16:3e:${randomBytes(1).toString('hex')}:${(i >> 8).toString(16).padStart(2, '0')}:${(i & 255).toString(16).padStart(2, '0')}`,
    fixed_ips: [{ subnet_id: subnet, ip_address: ip(i) }],
    device_owner: owner,
    device_id: '',
    admin_state_up: true,
    dns_name: '',
    extra_dhcp_opts: [],
  });
  const ports = Array.from({ length: n }, (_, i) => port(i + 10, 'compute:nova'));
  return {
    host: 'bench',
    revision: 1,
    dnsDomain: 'openstacklocal',
    routers: [],
    networks: [
      {
        id: network,
        project_id: randomUUID(),
        admin_state_up: true,
        mtu: 1450,
        network_type: 'vxlan',
        physical_network: null,
        segmentation_id: 1_000_000 + (randomBytes(2).readUInt16BE() << 4) + 1,
      },
    ],
    subnets: [
      {
        id: subnet,
        network_id: network,
        ip_version: 4,
        cidr: '10.9.0.0/16',
        gateway_ip: '10.9.0.1',
        enable_dhcp: true,
        dns_nameservers: [],
        host_routes: [],
      },
    ],
    ports: [port(2, 'network:dhcp'), ...ports],
    instances: ports.map((p, i) => ({ id: randomUUID(), name: `bench-${i}`, ports: [p.id] })),
    physicalInterfaceMappings: {},
  };
}

async function leased(stateDir: string, s: Snapshot): Promise<boolean> {
  const ips = new Map(s.ports.map((p) => [p.id, p.fixed_ips[0].ip_address]));
  for (const instance of s.instances) {
    const lease = await readFile(join(stateDir, 'instances', instance.id, 'eth0.lease'), 'utf8').catch(
      () => '',
    );
    if (!lease.includes(`ip=${ips.get(instance.ports[0])}\n`)) return false;
  }
  return true;
}

async function measure(n: number): Promise<Omit<Result, 'raw'>> {
  const stateDir = await mkdtemp(join(tmpdir(), 'neutrino-bench-'));
  await chmod(stateDir, 0o755);
  const s = snapshot(n);
  const reconciler = new Reconciler({ stateDir, source: async () => s });
  try {
    const start = performance.now();
    const first = await reconciler.reconcile();
    if (first.failures.length > 0) throw new Error(`first reconcile: ${JSON.stringify(first.failures[0])}`);
    while (!(await leased(stateDir, s))) {
      if (performance.now() - start > LEASE_TIMEOUT_MS) throw new Error('instances did not get their leases');
      await sleep(10);
    }
    const allLeasesMs = Math.round(performance.now() - start);
    const noOps: number[] = [];
    for (let i = 0; i < NO_OP_RUNS; i++) {
      const t = performance.now();
      const summary = await reconciler.reconcile();
      noOps.push(performance.now() - t);
      if (summary.actions !== 0) throw new Error(`no-op reconcile planned ${summary.actions} actions`);
      const down = Object.values(summary.ports).filter((p) => p !== 'ACTIVE').length;
      if (down > 0) throw new Error(`${down} ports DOWN after convergence`);
    }
    const observes: number[] = [];
    for (let i = 0; i < NO_OP_RUNS; i++) {
      const t = performance.now();
      await observe({ stateDir });
      observes.push(performance.now() - t);
    }
    const t = performance.now();
    const down = await reconciler.teardown();
    if (down.failures.length > 0) throw new Error(`teardown: ${JSON.stringify(down.failures[0])}`);
    return {
      n,
      firstReconcileMs: first.durationMs,
      allLeasesMs,
      noOpReconcileMs: median(noOps),
      noOpObserveMs: median(observes),
      teardownMs: Math.round(performance.now() - t),
    };
  } finally {
    await reconciler.teardown();
    await rm(stateDir, { recursive: true, force: true });
  }
}

const results: Result[] = [];
for (const n of SIZES) {
  const agent = await measure(n);
  const raw = await rawBuild(n);
  results.push({ ...agent, raw });
  console.error(`N=${n}: ${JSON.stringify(results.at(-1))}`);
}
// Keep what other benchmarks (convergence.ts) wrote into the same file.
const previous = JSON.parse(await readFile(OUT, 'utf8').catch(() => '{}')) as Record<string, unknown>;
await writeFile(
  OUT,
  `${JSON.stringify({ ...previous, date: new Date().toISOString(), results }, null, 2)}\n`,
);

const rows = [
  [
    'N',
    'agent: empty→all leases',
    '(first reconcile)',
    'raw: static build',
    'no-op reconcile',
    '(observe)',
    'teardown agent/raw',
  ],
  ...results.map((r) => [
    String(r.n),
    `${r.allLeasesMs} ms`,
    `${r.firstReconcileMs} ms`,
    `${r.raw.totalMs} ms`,
    `${r.noOpReconcileMs} ms`,
    `${r.noOpObserveMs} ms`,
    `${r.teardownMs}/${r.raw.teardownMs} ms`,
  ]),
];
const widths = rows[0].map((_, c) => Math.max(...rows.map((row) => row[c].length)));
for (const row of rows) console.log(row.map((cell, c) => cell.padEnd(widths[c])).join('  '));
const { stdout } = await run('/work/shared/tools/leak-check', [], { allowFail: true });
console.log(stdout.trim());
