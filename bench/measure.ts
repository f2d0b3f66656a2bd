/**
 * What the benchmarks measure with: iperf3 between two namespaces, and medians.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { runInNamespace } from '../src/linux/exec.js';

/** The middle value, to a tenth. */
export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return Math.round(sorted[sorted.length >> 1] * 10) / 10;
}

/**
 * TCP throughput in Gbit/s (`iperf3 -t 3`) from namespace `client` to a one-shot server in
 * namespace `server` listening on `bind`; the client connects to `target` (another address that
 * leads there, a floating IP say), retrying until the server listens.
 */
export async function iperf(client: string, server: string, bind: string, target = bind): Promise<number> {
  const listening = runInNamespace(server, 'iperf3', ['-s', '-1', '-B', bind], { timeoutMs: 30_000 });
  let result: { end?: { sum_received?: { bits_per_second: number } } } = {};
  for (let attempt = 0; attempt < 50; attempt++) {
    await sleep(100);
    const { code, stdout } = await runInNamespace(client, 'iperf3', ['-c', target, '-t', '3', '-J'], {
      allowFail: true,
      timeoutMs: 30_000,
    });
    if (code === 0) {
      result = JSON.parse(stdout);
      break;
    }
  }
  await listening;
  const bps = result.end?.sum_received?.bits_per_second;
  if (!bps) throw new Error('iperf3 gave no result');
  return Math.round(bps / 1e7) / 100;
}
