/**
 * `neutrino lab up|down`: several hosts on one machine, for tests and for learners. Each simulated
 * host is a network namespace with a mount namespace of its own (`linux/lab-host.ts`: its own
 * /run/netns and /sys, so its agent sees only its own objects, as on a separate machine), three
 * interfaces on bridges of an underlay namespace — `eth0` management (the API), `eth1` tunnels
 * (VXLAN), `eth2` the physnet `physnet1` for flat networks — and one `neutrino agent` inside. The
 * server runs beside them in the root namespace (SQLite in the state dir), reached over one veth
 * whose address is the only thing the lab puts in the root namespace, on a range the host routes
 * nowhere (checked against its routing table and addresses). With `--database postgres://…
 * --servers N` N servers share that database, each on its own address of the veth, and every agent
 * is given all their URLs (it moves on when one is down). The lab's first M hosts are
 * network+compute hosts, the others compute hosts. `lab.json` in the state dir records everything
 * the lab made, so `lab down` removes it all even when agents were killed.
 */
import { chmodSync, copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import ipaddr from 'ipaddr.js';
import { parse, stringify } from 'yaml';
import { DEFAULT_L2_DRIVER, L2_DRIVERS } from '../agent/drivers/index.js';
import type { AgentRole } from '../agent/runner.js';
import { ownerTag } from '../agent/state/host-state.js';
import { Session } from '../client/session.js';
import { loadConfig, readConfigFile } from '../config.js';
import { firstFreeRange, type HostRouting } from '../core/route-conflict.js';
import { disableTxOffload } from '../linux/ethtool.js';
import { readHostRouting } from '../linux/host-routes.js';
import { addNamespace, deleteNamespace, ipBatch, ipJson, listNamespaces } from '../linux/ip.js';
import {
  createHostMountNamespace,
  isMountPoint,
  type LabHostNamespaces,
  makePrivateMount,
  processesInMountNamespace,
  runOnHost,
  startDetached,
  unmount,
} from '../linux/lab-host.js';
import { isAlive, readCmdline, stopProcess } from '../linux/process.js';
import { L2_AGENT_TYPES } from '../model/agent.js';
import { writeCloudsYaml } from './server.js';

const LAB_FILE = 'lab.json';
const DEFAULT_STATE_DIR = '/var/lib/neutrino-lab';
/** Where the lab looks for unused /24s: shared address space (RFC 6598), never a documentation range. */
const POOL = '100.64.0.0/10';
export const LAB_PHYSNET = 'physnet1';
const BIN = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', 'bin', 'neutrino.js');
const START_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 20_000;

export interface LabHost extends LabHostNamespaces {
  name: string;
  roles: AgentRole[];
  stateDir: string;
  managementIp: string;
  tunnelIp: string;
  tunnelMac: string;
  /** Its agent's L2 driver (absent in a lab written before drivers: linuxbridge). */
  driver?: string;
  /** The agent's pid once started. */
  pid?: number;
}

/** What `lab up` made (written before it makes it, so `lab down` can undo a half-done `up`). */
export interface LabState {
  stateDir: string;
  tag: string;
  /** The namespace holding the underlay bridges. */
  underlayNetns: string;
  /** The root namespace's end of the management network, which holds `gateway`. */
  rootLink: string;
  management: { cidr: string; gateway: string };
  tunnel: { cidr: string };
  /** The first of `servers` (what clients are pointed at). */
  server?: { pid: number; url: string };
  /** Every API server, in the order agents try them. */
  servers?: { pid: number; url: string }[];
  /** The database the servers share; SQLite in the state dir when absent. */
  database?: string;
  hosts: LabHost[];
}

export interface LabFlags {
  stateDir?: string;
  hosts?: string;
  networkHosts?: string;
  resyncInterval?: string;
  /** The servers' `agent_down_time` and the agents' `report_interval` (short ones make failover quick). */
  agentDownTime?: string;
  reportInterval?: string;
  logLevel?: string;
  /** `postgres://…` for several servers. */
  database?: string;
  servers?: string;
  /** `KEY=VALUE` server settings (`settings:` keys of the configuration file, values in YAML). */
  setting?: string[];
  /** The hosts' L2 driver, or several comma-separated, given out to the hosts in turn (mixed hosts). */
  driver?: string;
}

/** The L2 driver of each of `hosts` hosts from `--driver` (`a,b`: hosts 1, 3, … get a, 2, 4, … b). */
export function hostDrivers(flag: string | undefined, hosts: number): string[] {
  const names = (flag ?? DEFAULT_L2_DRIVER).split(',').map((n) => n.trim());
  for (const name of names)
    if (!Object.hasOwn(L2_DRIVERS, name))
      throw new Error(`--driver ${JSON.stringify(name)}: one of ${Object.keys(L2_DRIVERS).join(', ')}`);
  return Array.from({ length: hosts }, (_, i) => names[i % names.length]);
}

function stateDirOf(flags: LabFlags): string {
  return resolve(flags.stateDir ?? DEFAULT_STATE_DIR);
}

function count(value: string | undefined, fallback: number, flag: string, min: number, max: number): number {
  const n = value === undefined ? fallback : Number(value);
  if (!Number.isInteger(n) || n < min || n > max)
    throw new Error(`${flag} must be a whole number from ${min} to ${max}`);
  return n;
}

/** The /24s of the pool, starting at a place derived from `seed` so parallel labs rarely meet. */
function poolCandidates(seed: number): string[] {
  const [base] = ipaddr.parseCIDR(POOL);
  const start = base.toByteArray();
  const total = 2 ** (24 - 10);
  return Array.from({ length: total }, (_, i) => {
    const n = (seed + i) % total;
    return `${start[0]}.${start[1] + (n >> 8)}.${n & 0xff}.0/24`;
  });
}

/**
 * Two /24s of the pool that the host neither routes (default routes aside) nor holds an address
 * in (`core/route-conflict.ts`, the check `neutrino up`'s external bridge passes too).
 */
export function chooseRanges(routing: HostRouting, seed: number): { management: string; tunnel: string } {
  const candidates = poolCandidates(seed);
  const management = firstFreeRange(routing, candidates).cidr;
  const tunnel = firstFreeRange(
    routing,
    candidates.filter((c) => c !== management),
  ).cidr;
  if (management === undefined || tunnel === undefined)
    throw new Error(`no two /24s of ${POOL} are free of the host's routes and addresses`);
  return { management, tunnel };
}

function hostAddress(cidr: string, index: number): string {
  const bytes = ipaddr.parseCIDR(cidr)[0].toByteArray();
  bytes[3] = index;
  return ipaddr.fromByteArray(bytes).toString();
}

/** The address of the lab's `index`th API server (0-based): .1, .2, … of the management network. */
export function serverAddress(lab: Pick<LabState, 'management'>, index: number): string {
  return hostAddress(lab.management.cidr, index + 1);
}

/** The lab's plan for `stateDir`: names (with the state dir's tag, so parallel labs never meet) and addresses. */
export function planLab(
  stateDir: string,
  ranges: { management: string; tunnel: string },
  hosts: number,
  networkHosts: number,
): LabState {
  const tag = ownerTag(stateDir);
  const prefix = `neutrino-lab-${tag}`;
  return {
    stateDir,
    tag,
    underlayNetns: prefix,
    rootLink: `nlab-${tag}`,
    management: { cidr: ranges.management, gateway: hostAddress(ranges.management, 1) },
    tunnel: { cidr: ranges.tunnel },
    hosts: Array.from({ length: hosts }, (_, i) => {
      const name = `host${i + 1}`;
      return {
        name,
        roles: i < networkHosts ? ['compute', 'network'] : ['compute'],
        netns: `${prefix}-${name}`,
        mountFile: join(stateDir, 'mnt', name),
        netnsDir: join(stateDir, 'netns', name),
        stateDir: join(stateDir, 'hosts', name),
        managementIp: hostAddress(ranges.management, 10 + i + 1),
        tunnelIp: hostAddress(ranges.tunnel, 10 + i + 1),
        tunnelMac: `02:6e:6c:00:${(i + 1).toString(16).padStart(2, '0')}:01`,
      };
    }),
  };
}

function labFile(stateDir: string): string {
  return join(stateDir, LAB_FILE);
}

export function readLab(stateDir: string): LabState | undefined {
  const file = labFile(stateDir);
  return existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as LabState) : undefined;
}

function writeLab(state: LabState): void {
  writeFileSync(labFile(state.stateDir), `${JSON.stringify(state, null, 2)}\n`, { mode: 0o644 });
}

/** The lab a client command means: `NEUTRINO_LAB_DIR`, else the directory of `OS_CLIENT_CONFIG_FILE`. */
export function labFromEnvironment(env: NodeJS.ProcessEnv = process.env): LabState | undefined {
  const dir =
    env.NEUTRINO_LAB_DIR ?? (env.OS_CLIENT_CONFIG_FILE ? dirname(env.OS_CLIENT_CONFIG_FILE) : undefined);
  return dir === undefined ? undefined : readLab(resolve(dir));
}

/** The underlay: bridges in their own namespace, the root veth, each host's three interfaces. */
async function buildUnderlay(lab: LabState, servers: number): Promise<void> {
  const { underlayNetns: ul, rootLink } = lab;
  await addNamespace(ul);
  for (const host of lab.hosts) await addNamespace(host.netns);
  const quiet = (name: string) => ['link', 'set', name, 'addrgenmode', 'none', 'up'];
  const prefix = ipaddr.parseCIDR(lab.management.cidr)[1];
  await ipBatch(
    [
      ['link', 'add', rootLink, 'type', 'veth', 'peer', 'name', 'root', 'netns', ul],
      ['link', 'set', rootLink, 'alias', `neutrino-lab@${lab.tag}`, 'addrgenmode', 'none'],
      ...Array.from({ length: servers }, (_, i) => [
        'addr',
        'add',
        `${serverAddress(lab, i)}/${prefix}`,
        'dev',
        rootLink,
      ]),
      ['link', 'set', rootLink, 'up'],
    ],
    { force: false },
  );
  const underlay: string[][] = [];
  for (const bridge of ['br-mgmt', 'br-tun', 'br-phys'])
    underlay.push(['link', 'add', bridge, 'type', 'bridge'], quiet(bridge));
  underlay.push(['link', 'set', 'root', 'master', 'br-mgmt'], quiet('root'));
  for (const host of lab.hosts) {
    const ends = [
      [`${host.name}-m`, 'eth0', 'br-mgmt', []],
      [`${host.name}-t`, 'eth1', 'br-tun', ['address', host.tunnelMac]],
      [`${host.name}-p`, 'eth2', 'br-phys', []],
    ] as const;
    for (const [end, inside, bridge, mac] of ends)
      underlay.push(
        ['link', 'add', end, 'type', 'veth', 'peer', 'name', inside, ...mac, 'netns', host.netns],
        ['link', 'set', end, 'master', bridge],
        quiet(end),
      );
  }
  await ipBatch(underlay, { netns: ul, force: false });
  // A physical NIC hands the host complete frames; a veth passes on a sender's checksum still to
  // be computed and its segments still to be cut. Open vSwitch's userspace datapath cannot take
  // tunnel packets so (it drops them when it pops the header), so the wire into each Open vSwitch
  // host's tunnel interface computes and cuts them, as a switch port would have.
  for (const host of lab.hosts)
    if (host.driver === 'openvswitch') await disableTxOffload(`${host.name}-t`, { netns: ul });
  const tunnelPrefix = ipaddr.parseCIDR(lab.tunnel.cidr)[1];
  for (const host of lab.hosts) {
    // Static neighbours between tunnel endpoints: no ARP broadcast ever crosses the tunnel network,
    // so what a host's eth1 receives is VXLAN traffic only.
    const peers = lab.hosts
      .filter((h) => h !== host)
      .map((h) => ['neigh', 'replace', h.tunnelIp, 'lladdr', h.tunnelMac, 'dev', 'eth1', 'nud', 'permanent']);
    await ipBatch(
      [
        ['link', 'set', 'lo', 'up'],
        quiet('eth0'),
        quiet('eth1'),
        quiet('eth2'),
        ['addr', 'add', `${host.managementIp}/${prefix}`, 'dev', 'eth0'],
        ['addr', 'add', `${host.tunnelIp}/${tunnelPrefix}`, 'dev', 'eth1'],
        ...peers,
      ],
      { netns: host.netns, force: false },
    );
  }
}

async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined>,
  timeoutMs = START_TIMEOUT_MS,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

function logTail(file: string): string {
  try {
    return readFileSync(file, 'utf8').trim().split('\n').slice(-5).join('\n');
  } catch {
    return '';
  }
}

/** `KEY=VALUE` pairs as settings, each value read as YAML (`2`, `true`, `[a, b]`). */
export function parseSettings(pairs: readonly string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const pair of pairs) {
    const at = pair.indexOf('=');
    if (at <= 0) throw new Error(`--setting ${pair}: expected KEY=VALUE, e.g. dhcp_agents_per_network=2`);
    out[pair.slice(0, at)] = parse(pair.slice(at + 1));
  }
  return out;
}

/** Writes the servers' configuration file and checks it (an unknown or bad setting stops `lab up`). */
function writeServerConfig(stateDir: string, flags: LabFlags): void {
  const configFile = join(stateDir, 'neutrino.yaml');
  writeFileSync(
    configFile,
    stringify({
      physical_interface_mappings: { [LAB_PHYSNET]: 'eth2' },
      settings: {
        tenant_network_type: 'vxlan',
        ...(flags.agentDownTime
          ? { agent_down_time: seconds(flags.agentDownTime, '--agent-down-time') }
          : {}),
        ...parseSettings(flags.setting ?? []),
      },
    }),
  );
  try {
    readConfigFile(configFile);
  } catch (err) {
    rmSync(configFile, { force: true });
    throw new Error(`--setting: ${(err as Error).message.replace(/\s*\n\s*/g, '; ')}`);
  }
}

async function startServerProcess(
  lab: LabState,
  flags: LabFlags,
  index: number,
): Promise<{ pid: number; url: string }> {
  const configFile = join(lab.stateDir, 'neutrino.yaml');
  const logFile = join(lab.stateDir, index === 0 ? 'server.log' : `server${index + 1}.log`);
  const args = [BIN, 'server', '--config', configFile, '--state-dir', lab.stateDir];
  args.push(
    '--host',
    serverAddress(lab, index),
    '--port',
    '0',
    ...(lab.database ? ['--db', lab.database] : []),
    ...(flags.logLevel ? ['--log-level', flags.logLevel] : []),
  );
  // The log keeps earlier runs: only what this one writes counts.
  const offset = existsSync(logFile) ? readFileSync(logFile).length : 0;
  const pid = await startDetached(process.execPath, args, { logFile });
  const url = await waitFor('the server', async () => {
    if (!(await isAlive(pid))) throw new Error(`the server exited:\n${logTail(logFile)}`);
    const output = readFileSync(logFile).subarray(offset).toString('utf8');
    return /neutrino server listening on (http\S+)/.exec(output)?.[1];
  });
  return { pid, url };
}

async function startAgent(lab: LabState, host: LabHost, urls: string[], flags: LabFlags): Promise<number> {
  mkdirSync(host.stateDir, { recursive: true, mode: 0o711 });
  chmodSync(host.stateDir, 0o711);
  copyFileSync(join(lab.stateDir, 'admin-password'), join(host.stateDir, 'admin-password'));
  chmodSync(join(host.stateDir, 'admin-password'), 0o600);
  const configFile = join(host.stateDir, 'neutrino.yaml');
  writeFileSync(
    configFile,
    stringify({
      physical_interface_mappings: { [LAB_PHYSNET]: 'eth2' },
      mechanism_driver: host.driver ?? DEFAULT_L2_DRIVER,
      ...(flags.reportInterval
        ? { report_interval: seconds(flags.reportInterval, '--report-interval') }
        : {}),
    }),
  );
  const args = [
    ...[BIN, 'agent', '--server', urls.join(','), '--host', host.name, '--tunnel-ip', host.tunnelIp],
    ...['--roles', host.roles.join(','), '--state-dir', host.stateDir, '--config', configFile],
    ...(flags.resyncInterval ? ['--resync-interval', flags.resyncInterval] : []),
    ...(flags.logLevel ? ['--log-level', flags.logLevel] : []),
  ];
  return startDetached(process.execPath, args, { host, logFile: join(host.stateDir, 'agent.log') });
}

/**
 * Starts `name`'s agent again (after it was killed, to see what a host that comes back does), with
 * the configuration it had; records its pid, so `lab down` stops it.
 */
export async function restartLabAgent(stateDir: string, name: string, flags: LabFlags = {}): Promise<number> {
  const lab = readLab(resolve(stateDir));
  const host = lab?.hosts.find((h) => h.name === name);
  if (!lab || !host) throw new Error(`no host ${name} in a lab in ${stateDir}`);
  if (await isOurs(host.pid, 'agent', host.stateDir)) throw new Error(`the agent of ${name} is running`);
  const urls = (lab.servers ?? (lab.server ? [lab.server] : [])).map((s) => s.url);
  const configFile = join(host.stateDir, 'neutrino.yaml');
  const reportInterval = readConfigFile(configFile).report_interval;
  host.pid = await startAgent(lab, host, urls, {
    ...flags,
    ...(reportInterval ? { reportInterval: String(reportInterval) } : {}),
  });
  writeLab(lab);
  return host.pid;
}

function seconds(value: string, flag: string): number {
  const n = Number(value);
  if (!(n > 0)) throw new Error(`${flag} must be a number of seconds above 0`);
  return n;
}

/** `neutrino lab up`. */
export async function labUp(flags: LabFlags): Promise<void> {
  const stateDir = stateDirOf(flags);
  const hosts = count(flags.hosts, 3, '--hosts', 1, 200);
  const networkHosts = count(flags.networkHosts, 1, '--network-hosts', 1, hosts);
  const servers = count(flags.servers, 1, '--servers', 1, 8);
  const drivers = hostDrivers(flags.driver, hosts);
  if (servers > 1 && !flags.database?.startsWith('postgres'))
    throw new Error('--servers 2 or more share one PostgreSQL: give --database postgres://…');
  mkdirSync(stateDir, { recursive: true, mode: 0o711 });
  chmodSync(stateDir, 0o711);
  const existing = readLab(stateDir);
  if (existing)
    throw new Error(`a lab is already up in ${stateDir}: neutrino lab down --state-dir ${stateDir}`);
  writeServerConfig(stateDir, flags);
  const tag = ownerTag(stateDir);
  const lab = planLab(
    stateDir,
    chooseRanges(await readHostRouting(), Number.parseInt(tag, 16)),
    hosts,
    networkHosts,
  );
  if (flags.database) lab.database = flags.database;
  lab.hosts.forEach((host, i) => {
    host.driver = drivers[i];
  });
  writeLab(lab);
  try {
    await buildUnderlay(lab, servers);
    for (const dir of ['mnt', 'netns']) mkdirSync(join(stateDir, dir), { recursive: true, mode: 0o700 });
    await makePrivateMount(join(stateDir, 'mnt'));
    for (const host of lab.hosts) {
      mkdirSync(host.netnsDir, { recursive: true, mode: 0o755 });
      await createHostMountNamespace(host);
    }
    // One after the other: the first runs the migrations and creates the admin user.
    lab.servers = [];
    for (let i = 0; i < servers; i++) {
      lab.servers.push(await startServerProcess(lab, flags, i));
      lab.server = lab.servers[0];
      writeLab(lab);
    }
    const urls = lab.servers.map((s) => s.url);
    for (const host of lab.hosts) {
      host.pid = await startAgent(lab, host, urls, flags);
      writeLab(lab);
    }
    await waitForAgents(lab);
  } catch (err) {
    await removeLab(lab).catch(() => undefined);
    throw err;
  }
  const clouds = writeCloudsYaml(loadConfig({ stateDir }, {}), lab.servers[0].url);
  const dirFlag = stateDir === DEFAULT_STATE_DIR ? '' : ` --state-dir ${stateDir}`;
  process.stdout.write(
    [
      `neutrino lab is up in ${stateDir}: ${lab.servers.map((s) => `server ${s.url} (pid ${s.pid})`).join(', ')}${lab.database ? ' on one PostgreSQL' : ''}`,
      ...lab.hosts.map(
        (h) =>
          `  ${h.name}  ${h.roles.join('+').padEnd(15)} tunnel ${h.tunnelIp}  namespace ${h.netns}  agent pid ${h.pid}`,
      ),
      `  underlay: management ${lab.management.cidr} (this machine: ${lab.management.gateway} on ${lab.rootLink}), tunnels ${lab.tunnel.cidr}, flat physnet ${LAB_PHYSNET} on each host's eth2`,
      `use it with:  export OS_CLIENT_CONFIG_FILE=${clouds} OS_CLOUD=neutrino`,
      '  neutrino network create net1; neutrino subnet create s1 --network net1 --subnet-range 10.0.0.0/24',
      `  neutrino instance create vm1 --network net1 --host ${lab.hosts.at(-1)?.name} --wait; neutrino exec vm1 -- ip addr`,
      `look inside a host: nsenter --mount=${lab.hosts[0].mountFile} --net=/run/netns/${lab.hosts[0].netns} -- ip netns`,
      `stop it with: neutrino lab down${dirFlag}`,
      '',
    ].join('\n'),
  );
}

async function waitForAgents(lab: LabState): Promise<void> {
  const password = readFileSync(join(lab.stateDir, 'admin-password'), 'utf8').trim();
  const url = lab.server!.url;
  const session = new Session({
    auth: {
      type: 'password',
      credentials: {
        authUrl: `${url}/identity/v3`,
        username: 'admin',
        password,
        projectName: 'admin',
        userDomainName: 'Default',
        projectDomainName: 'Default',
      },
    },
    endpoint: url,
  });
  await waitFor('every agent to report', async () => {
    for (const host of lab.hosts)
      if (host.pid !== undefined && !(await isAlive(host.pid)))
        throw new Error(`the agent of ${host.name} exited:\n${logTail(join(host.stateDir, 'agent.log'))}`);
    const { agents } = await session.get<{ agents: { host: string; agent_type: string; alive: boolean }[] }>(
      '/v2.0/agents',
    );
    const up = new Set(
      agents.filter((a) => a.alive && L2_AGENT_TYPES.includes(a.agent_type)).map((a) => a.host),
    );
    return lab.hosts.every((h) => up.has(h.name)) ? true : undefined;
  });
}

/** Whether `pid` is still the process the lab started (its command line names `marker`). */
async function isOurs(pid: number | undefined, command: string, marker: string): Promise<boolean> {
  if (pid === undefined || !(await isAlive(pid))) return false;
  const argv = await readCmdline(pid);
  return argv?.includes(command) === true && argv.includes(marker);
}

/**
 * Removes everything `lab` made, whatever state it is in: stops the agents, tears each host's data
 * plane down from inside it (`neutrino down`), ends what still runs in a host's mount namespace,
 * stops the server, deletes the namespaces and the root veth, unmounts. Returns what failed.
 */
async function removeLab(lab: LabState): Promise<string[]> {
  const failures: string[] = [];
  const attempt = async (what: string, step: () => Promise<unknown>) => {
    try {
      await step();
    } catch (err) {
      failures.push(`${what}: ${(err as Error).message}`);
    }
  };
  const namespaces = new Set(await listNamespaces());
  for (const host of lab.hosts)
    if (await isOurs(host.pid, 'agent', host.stateDir))
      await attempt(`stop agent of ${host.name}`, () => stopProcess(host.pid!, STOP_TIMEOUT_MS));
  await Promise.all(
    lab.hosts.map(async (host) => {
      if (!namespaces.has(host.netns) || !isMountPoint(host.mountFile) || !existsSync(host.stateDir)) return;
      const args = [
        BIN,
        'down',
        '--state-dir',
        host.stateDir,
        '--config',
        join(host.stateDir, 'neutrino.yaml'),
      ];
      await attempt(`data plane of ${host.name}`, () =>
        runOnHost(host, process.execPath, args, { timeoutMs: 120_000 }),
      );
      for (const pid of processesInMountNamespace(host.mountFile))
        await attempt(`process ${pid} on ${host.name}`, () => stopProcess(pid));
    }),
  );
  for (const server of lab.servers ?? (lab.server ? [lab.server] : []))
    if (await isOurs(server.pid, 'server', lab.stateDir))
      await attempt(`stop server ${server.url}`, () => stopProcess(server.pid, STOP_TIMEOUT_MS));
  for (const host of lab.hosts) {
    await attempt(`mount namespace of ${host.name}`, () => unmount(host.mountFile));
    if (namespaces.has(host.netns))
      await attempt(`namespace ${host.netns}`, () => deleteNamespace(host.netns));
    rmSync(host.mountFile, { force: true });
    rmSync(host.netnsDir, { recursive: true, force: true });
  }
  // The root veth first (its peer goes with it), then the underlay namespace.
  const root = await ipJson<{ ifalias?: string }[]>(['link', 'show', 'dev', lab.rootLink]).catch(() => []);
  if (root[0]?.ifalias === `neutrino-lab@${lab.tag}`)
    await attempt(`link ${lab.rootLink}`, () => ipBatch([['link', 'del', lab.rootLink]]));
  if (namespaces.has(lab.underlayNetns))
    await attempt(`namespace ${lab.underlayNetns}`, () => deleteNamespace(lab.underlayNetns));
  await attempt('private mount', () => unmount(join(lab.stateDir, 'mnt')));
  if (failures.length === 0) rmSync(labFile(lab.stateDir), { force: true });
  return failures;
}

/** `neutrino lab down`. */
export async function labDown(flags: LabFlags): Promise<void> {
  const stateDir = stateDirOf(flags);
  const lab = readLab(stateDir);
  if (!lab) {
    process.stdout.write(`no lab in ${stateDir}\n`);
    return;
  }
  const failures = await removeLab(lab);
  if (failures.length > 0) throw new Error(`lab down left something behind: ${failures.join('; ')}`);
  rmSync(join(stateDir, 'clouds.yaml'), { force: true });
  process.stdout.write(
    `removed the lab in ${stateDir} (${lab.hosts.length} hosts, its namespaces and the server)\n`,
  );
}
