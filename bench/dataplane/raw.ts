/**
 * The physical limits the reconciler is compared with: the same layout as the agent's (one bridge,
 * one VXLAN device, N namespaces each with a veth whose peer is created inside it) built with
 * batched iproute2, no API, no observation, no diff —
 *
 * - `rawBuild`: static addresses by the plain shell script `raw.sh` — one root `ip -batch` for all
 *   links, then one `ip -n NS -batch` per namespace (addresses cannot be set from outside);
 * - `rawDhcpBuild`: the same links, a DHCP namespace with one dnsmasq that knows every MAC (the
 *   agent's command line), and in each namespace busybox `udhcpc` with the agent's own client
 *   script and options, all started at once by the agent's launcher; timed until every namespace
 *   has written its lease. This is the floor for "every instance holds its DHCP address".
 *
 *   npx tsx bench/dataplane/raw.ts [--n 10,100] [--dhcp]
 */
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { CLIENT_SCRIPT, clientOptions } from '../../src/agent/instances/instances.js';
import { dnsmasqArgs, dnsmasqFiles, startDnsmasq } from '../../src/linux/dnsmasq.js';
import { run } from '../../src/linux/exec.js';
import { deleteNamespace, ipBatch } from '../../src/linux/ip.js';
import { readPidFile, startDaemons, stopProcess } from '../../src/linux/process.js';

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

const RAW_SCRIPT = fileURLToPath(new URL('./raw.sh', import.meta.url));

/**
 * Builds N instances' worth of kernel objects with static addresses by the plain shell script
 * `raw.sh` (the issue's "plain shell script"), takes its own timings, removes the objects.
 */
export async function rawBuild(n: number): Promise<RawResult> {
  const tag = randomBytes(3).toString('hex');
  const vni = String(1_000_000 + (randomBytes(2).readUInt16BE() << 4));
  const namespaces = Array.from({ length: n }, (_, i) => `neutrino-raw${tag}-${i}`);
  const teardown = async () => {
    const start = performance.now();
    await run('bash', [RAW_SCRIPT, 'teardown', String(n), tag, vni]);
    await inParallel(
      namespaces.filter((ns) => existsSync(`/var/run/netns/${ns}`)),
      deleteNamespace,
    );
    while (namespaces.some((_, i) => existsSync(`/sys/class/net/tapr${tag}${i}`))) await sleep(10);
    return Math.round(performance.now() - start);
  };
  let built: Omit<RawResult, 'n' | 'teardownMs'>;
  let teardownMs: number;
  try {
    const { stdout } = await run('bash', [RAW_SCRIPT, 'build', String(n), tag, vni]);
    const m = /links=(\d+) addresses=(\d+) total=(\d+)/.exec(stdout);
    if (!m) throw new Error(`raw.sh: unexpected output ${stdout}`);
    built = { linksMs: Number(m[1]), addressesMs: Number(m[2]), totalMs: Number(m[3]) };
  } finally {
    teardownMs = await teardown();
  }
  return { n, ...built, teardownMs };
}

/** A veth on `bridge` whose peer (`peer` arguments) is made in `netns`, and its host end up. */
function plugLines(bridge: string, tap: string, netns: string, peer: string[]): string[][] {
  return [
    ['link', 'add', tap, 'mtu', '1450', 'master', bridge, 'type', 'veth', 'peer', ...peer, 'netns', netns],
    ['link', 'set', tap, 'addrgenmode', 'none'],
    ['link', 'set', tap, 'up'],
  ];
}

export interface RawDhcpResult {
  n: number;
  /** Root batch: namespaces, bridge, VXLAN device, veths (with their MACs), the DHCP port. */
  linksMs: number;
  /** From the start until every namespace holds its lease (dnsmasq start included). */
  totalMs: number;
}

/** `rawBuild`'s layout, addresses by DHCP (see the head of this file); times it, removes it. */
export async function rawDhcpBuild(n: number): Promise<RawDhcpResult> {
  const r = randomBytes(3).toString('hex');
  const dir = await mkdtemp(join(tmpdir(), 'neutrino-raw-dhcp-'));
  await chmod(dir, 0o755); // dnsmasq reads its files as nobody
  const bridge = `brqraw${r}`;
  const vxlan = `vxlan-${1_000_000 + (randomBytes(2).readUInt16BE() << 4)}`;
  const vni = vxlan.slice('vxlan-'.length);
  const dhcpNs = `qdhcp-raw${r}`;
  const dhcpTap = `tapr${r}-d`;
  const namespaces = Array.from({ length: n }, (_, i) => `neutrino-raw${r}-${i}`);
  const tap = (i: number) => `tapr${r}${i.toString(36)}`;
  const mac = (i: number) =>
    `fa:16:3e:${r.slice(0, 2)}:${((i >> 8) & 255).toString(16).padStart(2, '0')}:${(i & 255).toString(16).padStart(2, '0')}`;
  const ip = (i: number) => `10.9.${(i + 10) >> 8}.${(i + 10) & 255}`;
  const leaseFile = (i: number) => join(dir, `lease-${i}`);
  const pidFile = (i: number) => join(dir, `udhcpc-${i}.pid`);
  const script = join(dir, 'udhcpc.sh');
  const dnsmasqDir = join(dir, 'dnsmasq');
  const plugged = (name: string, netns: string, peer: string[]) => plugLines(bridge, name, netns, peer);
  const argv = dnsmasqArgs({
    confDir: dnsmasqDir,
    interfaceName: 'ns-raw',
    subnets: [{ id: 'raw', cidr: '10.9.0.0/16', enableDhcp: true }],
    mtu: 1450,
  });
  const files = dnsmasqFiles(dnsmasqDir);
  let dnsmasq: number | undefined;
  const build = async () => {
    await writeFile(script, CLIENT_SCRIPT, { mode: 0o755 });
    await rm(dnsmasqDir, { recursive: true, force: true });
    await mkdir(dnsmasqDir, { recursive: true, mode: 0o755 });
    await writeFile(
      files.hosts,
      namespaces.map((_, i) => `${mac(i)},host-${i}.openstacklocal,${ip(i)}\n`).join(''),
    );
    await Promise.all([files.addnHosts, files.opts].map((f) => writeFile(f, '')));
    const start = performance.now();
    await ipBatch([
      ['link', 'add', bridge, 'mtu', '1450', 'type', 'bridge'],
      ['link', 'set', bridge, 'addrgenmode', 'none'],
      ['link', 'set', bridge, 'up'],
      ['link', 'add', vxlan, 'mtu', '1450', 'master', bridge, 'type', 'vxlan', 'id', vni, 'dstport', '4789'],
      ['link', 'set', vxlan, 'up'],
      ['netns', 'add', dhcpNs],
      ...plugged(dhcpTap, dhcpNs, ['name', 'ns-raw']),
      ...namespaces.map((ns) => ['netns', 'add', ns]),
      ...namespaces.flatMap((ns, i) => plugged(tap(i), ns, ['name', 'eth0', 'address', mac(i)])),
    ]);
    const linksDone = performance.now();
    await ipBatch(
      [
        ['link', 'set', 'lo', 'up'],
        ['link', 'set', 'ns-raw', 'up'],
        ['addr', 'add', '10.9.0.2/16', 'dev', 'ns-raw'],
      ],
      { netns: dhcpNs },
    );
    dnsmasq = await startDnsmasq(dhcpNs, argv);
    await startDaemons(
      namespaces.map((ns, i) => ({
        netns: ns,
        argv: ['/bin/busybox', 'udhcpc', ...clientOptions({ device: 'eth0', script, pidFile: pidFile(i) })],
        env: { NEUTRINO_LEASE_FILE: leaseFile(i) },
        pidFile: pidFile(i),
      })),
    );
    const held = (i: number) => {
      try {
        return readFileSync(leaseFile(i), 'utf8').includes(`ip=${ip(i)}\n`);
      } catch {
        return false;
      }
    };
    let waiting = namespaces.map((_, i) => i).filter((i) => !held(i));
    while (waiting.length > 0) {
      if (performance.now() - start > 120_000) throw new Error(`raw DHCP: ${waiting.length} leases missing`);
      await sleep(5);
      waiting = waiting.filter((i) => !held(i));
    }
    return { linksMs: Math.round(linksDone - start), totalMs: Math.round(performance.now() - start) };
  };
  try {
    return { n, ...(await build()) };
  } finally {
    const clients = await Promise.all(namespaces.map((_, i) => readPidFile(pidFile(i))));
    await inParallel(
      clients.filter((pid) => pid !== undefined),
      (pid) => stopProcess(pid),
    );
    if (dnsmasq !== undefined) await stopProcess(dnsmasq);
    await ipBatch([
      ...[dhcpNs, ...namespaces].map((ns) => ['netns', 'del', ns]),
      ['link', 'del', vxlan],
      ['link', 'del', bridge],
    ]).catch(() => inParallel([dhcpNs, ...namespaces], deleteNamespace));
    while (namespaces.some((_, i) => existsSync(`/sys/class/net/${tap(i)}`))) await sleep(10);
    await rm(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  const i = process.argv.indexOf('--n');
  const sizes = (i >= 0 ? process.argv[i + 1] : '10,100').split(',').map(Number);
  const dhcp = process.argv.includes('--dhcp');
  for (const n of sizes) console.log(JSON.stringify(dhcp ? await rawDhcpBuild(n) : await rawBuild(n)));
}
