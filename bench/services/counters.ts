/**
 * The cost of traffic counter collection (issue 13's benchmark, third part): what one read of
 * every port's counters costs the agent at 50 and 500 ports, as `agent/traffic.ts` does it every
 * report interval (5 s): one `ip -s -json link show` per namespace, parsed, turned into the
 * owner's view. The ports are veth pairs in a namespace of the benchmark's own (1 000 links for 500
 * ports, the host side of each counted, as the root namespace of a compute host holds them).
 * Measured per read: wall time, the agent's own CPU (Node) and the `ip` child's CPU (from the
 * kernel's accounting of reaped children); and that CPU as a share of one core per interval.
 * Merges into bench/services/results.json and prints a table.
 *
 *   npx tsx bench/services/counters.ts [--reads 20] [--out bench/services/results.json]
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { cpus } from 'node:os';
import { type CounterSource, readCounters } from '../../src/agent/traffic.js';
import { addNamespace, deleteNamespace, ipBatch } from '../../src/linux/ip.js';
import { median } from '../measure.js';

const args = process.argv.slice(2);
const arg = (name: string, fallback: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : fallback;
};
const READS = Number(arg('reads', '20'));
const OUT = arg('out', 'bench/services/results.json');
const INTERVAL_MS = 5000;
const TICK_MS = 1000 / 100; // USER_HZ

/** CPU ms of this process's reaped children so far (cutime + cstime of /proc/self/stat). */
function childrenCpuMs(): number {
  const fields = readFileSync('/proc/self/stat', 'utf8').split(') ')[1].split(' ');
  return (Number(fields[13]) + Number(fields[14])) * TICK_MS;
}

async function measure(ports: number) {
  const netns = `nbench-ctr-${randomBytes(3).toString('hex')}`;
  await addNamespace(netns);
  try {
    const sources: CounterSource[] = [];
    const lines: string[][] = [];
    for (let i = 0; i < ports; i++) {
      const port = randomUUID();
      const tap = `tap${port.slice(0, 11)}`;
      lines.push(['link', 'add', tap, 'type', 'veth', 'peer', 'name', `p${i}`], ['link', 'set', tap, 'up']);
      sources.push({ port, netns, dev: tap, reversed: true });
    }
    await ipBatch(lines, { netns });
    const wall: number[] = [];
    const own: number[] = [];
    const child: number[] = [];
    for (let r = 0; r < READS + 2; r++) {
      const c0 = process.cpuUsage();
      const k0 = childrenCpuMs();
      const t0 = performance.now();
      const counters = await readCounters(sources);
      const t1 = performance.now();
      const c1 = process.cpuUsage(c0);
      if (Object.keys(counters).length !== ports)
        throw new Error(`read ${Object.keys(counters).length} of ${ports}`);
      if (r < 2) continue; // warm-up
      wall.push(t1 - t0);
      own.push((c1.user + c1.system) / 1000);
      child.push(childrenCpuMs() - k0);
    }
    const cpu = median(own) + median(child);
    return {
      ports,
      wallMs: median(wall),
      agentCpuMs: median(own),
      ipCpuMs: median(child),
      cpuPerIntervalPct: Math.round((cpu / INTERVAL_MS) * 1000) / 10,
    };
  } finally {
    await deleteNamespace(netns);
  }
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('run as root');
  const rows = [await measure(50), await measure(500)];
  const previous = JSON.parse(await readFile(OUT, 'utf8').catch(() => '{}')) as Record<string, unknown>;
  const results = {
    ...previous,
    counters: {
      date: new Date().toISOString(),
      node: process.version,
      cpus: cpus().length,
      reads: READS,
      rows,
    },
  };
  await writeFile(OUT, `${JSON.stringify(results, null, 2)}\n`);
  console.log('| ports | one read (wall) | agent CPU | ip CPU | CPU per 5 s interval |');
  console.log('| ---: | ---: | ---: | ---: | ---: |');
  for (const r of rows)
    console.log(
      `| ${r.ports} | ${r.wallMs} ms | ${r.agentCpuMs} ms | ${r.ipCpuMs} ms | ${r.cpuPerIntervalPct} % |`,
    );
}

await main();
