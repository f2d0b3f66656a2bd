/**
 * Data-plane benchmark of the agent's reconciler (root): for N instances on one VXLAN network with
 * DHCP, the time from an empty host to every instance holding its lease, the time of a no-op
 * reconcile (and of the observation inside it) at that N, and the teardown; side by side with
 * `raw.ts`, the same namespaces, veths and bridge built with batched iproute2 and static addresses.
 * Cleans up after itself. Writes bench/dataplane/results.json and prints a table.
 *
 *   npx tsx bench/dataplane/reconcile.ts [--n 10,100] [--out bench/dataplane/results.json]
 */
import { readFile, writeFile } from 'node:fs/promises';
import { run } from '../../src/linux/exec.js';
import { type AgentResult, measure } from './agent-run.js';
import { type RawResult, rawBuild } from './raw.js';

const args = process.argv.slice(2);
const arg = (name: string, fallback: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : fallback;
};
const SIZES = arg('n', '10,100').split(',').map(Number);
const OUT = arg('out', 'bench/dataplane/results.json');

interface Result extends AgentResult {
  raw: RawResult;
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
