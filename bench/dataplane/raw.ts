/**
 * The physical limit the reconciler is compared with: the same layout as the agent's (one bridge,
 * one VXLAN device, N namespaces each with a veth whose peer is created inside it) built with
 * batched iproute2 and static addresses, no DHCP, no observation, no diff. One root `ip -batch`
 * for all links, then one `ip -n NS -batch` per namespace (addresses cannot be set from outside).
 *
 *   npx tsx bench/dataplane/raw.ts [--n 10,100]
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { pathToFileURL } from 'node:url';
import { deleteNamespace, ipBatch } from '../../src/linux/ip.js';

export interface RawResult {
  n: number;
  /** Root batch: namespaces, bridge, VXLAN device, veths. */
  linksMs: number;
  /** The per-namespace batches (lo and eth0 up, the address). */
  addressesMs: number;
  totalMs: number;
  teardownMs: number;
}

const CONCURRENCY = 8;

async function inParallel<T>(items: T[], work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await work(items[next++]);
  };
  await Promise.all(Array.from({ length: Math.min(CONCURRENCY, items.length) }, worker));
}

/** Builds N instances' worth of kernel objects with static addresses, times it, removes them. */
export async function rawBuild(n: number): Promise<RawResult> {
  const r = randomBytes(3).toString('hex');
  const bridge = `brqraw${r}`;
  const vxlan = `vxlan-${1_000_000 + (randomBytes(2).readUInt16BE() << 4)}`;
  const vni = vxlan.slice('vxlan-'.length);
  const namespaces = Array.from({ length: n }, (_, i) => `neutrino-raw${r}-${i}`);
  const tap = (i: number) => `tapr${r}${i.toString(36)}`;
  const build = async () => {
    const start = performance.now();
    await ipBatch([
      ['link', 'add', bridge, 'mtu', '1450', 'type', 'bridge'],
      ['link', 'set', bridge, 'addrgenmode', 'none'],
      ['link', 'set', bridge, 'up'],
      ['link', 'add', vxlan, 'mtu', '1450', 'master', bridge, 'type', 'vxlan', 'id', vni, 'dstport', '4789'],
      ['link', 'set', vxlan, 'up'],
      ...namespaces.map((ns) => ['netns', 'add', ns]),
      ...namespaces.flatMap((ns, i) => [
        [
          'link',
          'add',
          tap(i),
          'mtu',
          '1450',
          'master',
          bridge,
          'type',
          'veth',
          'peer',
          'name',
          'eth0',
          'netns',
          ns,
        ],
        ['link', 'set', tap(i), 'addrgenmode', 'none'],
        ['link', 'set', tap(i), 'up'],
      ]),
    ]);
    const linksDone = performance.now();
    await inParallel(
      namespaces.map((ns, i) => ({ ns, ip: i + 10 })),
      ({ ns, ip }) =>
        ipBatch(
          [
            ['link', 'set', 'lo', 'up'],
            ['link', 'set', 'eth0', 'mtu', '1450', 'up'],
            ['addr', 'add', `10.9.${ip >> 8}.${ip & 255}/16`, 'dev', 'eth0'],
          ],
          { netns: ns },
        ),
    );
    const done = performance.now();
    return {
      linksMs: Math.round(linksDone - start),
      addressesMs: Math.round(done - linksDone),
      totalMs: Math.round(done - start),
    };
  };
  const teardown = async () => {
    const start = performance.now();
    // Deleting the namespaces takes their veths along, unregistered by the kernel in one batch.
    await ipBatch([
      ...namespaces.map((ns) => ['netns', 'del', ns]),
      ['link', 'del', vxlan],
      ['link', 'del', bridge],
    ]).catch(() => inParallel(namespaces, deleteNamespace));
    while (namespaces.some((_, i) => existsSync(`/sys/class/net/${tap(i)}`))) await sleep(10);
    return Math.round(performance.now() - start);
  };
  let built: Awaited<ReturnType<typeof build>> | undefined;
  let teardownMs = 0;
  try {
    built = await build();
  } finally {
    teardownMs = await teardown();
  }
  return { n, ...built, teardownMs };
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  const i = process.argv.indexOf('--n');
  const sizes = (i >= 0 ? process.argv[i + 1] : '10,100').split(',').map(Number);
  for (const n of sizes) console.log(JSON.stringify(await rawBuild(n)));
}
