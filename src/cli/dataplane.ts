/**
 * The commands that run or remove a data plane: `neutrino up` (server + identity + a local agent in
 * one process, and the external network: see `external-network.ts`), `neutrino agent` (an agent for
 * one host, talking HTTP to a server) and `neutrino down` (stops a running `up`/`agent` of a state
 * dir and removes every kernel object, file and process it created). A running `up`/`agent` is
 * recorded in `<state-dir>/neutrino.pid`; the agent's own state lives in `<state-dir>/agent`.
 */
import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { readlink } from 'node:fs/promises';
import { hostname } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import ipaddr from 'ipaddr.js';
import type pino from 'pino';
import type { TunnelEndpoint } from '../agent/drivers/driver.js';
import { Reconciler, type Summary } from '../agent/reconciler.js';
import { AGENT_ROLES, AgentRunner } from '../agent/runner.js';
import { FailoverSession, serverUrls } from '../agent/servers.js';
import { AgentThread } from '../agent/thread.js';
import { ApiError, type Auth, credentialsFromEnvironment, Session } from '../client/session.js';
import { type Config, databaseUrl, type Flags, loadConfig } from '../config.js';
import { interfaceWithAddress } from '../linux/ip.js';
import { has8021q } from '../linux/kernel.js';
import { ovsDir } from '../linux/ovs.js';
import { isAlive, readCmdline, readPidFile, stopProcess } from '../linux/process.js';
import {
  chooseExternalNetwork,
  DEFAULT_EXTERNAL_BRIDGE,
  EXTERNAL_CIDR_CANDIDATES,
  EXTERNAL_PHYSNET,
  ensureExternalBridge,
  ensureExternalNetwork,
  externalNetwork,
  removeExternalBridges,
} from './external-network.js';
import { createLogger, logFormat } from './logger.js';
import { type Running, startServer, writeCloudsYaml } from './server.js';

const PID_FILE = 'neutrino.pid';
/** How long `down` gives a running `up` to stop before SIGKILL. */
const STOP_TIMEOUT_MS = 20_000;

export interface DataplaneFlags {
  hostName?: string;
  resyncInterval?: string | number;
  cleanupOnExit?: boolean;
  /** false with `--no-external-network`. */
  externalNetwork?: boolean;
  externalCidr?: string;
  externalBridge?: string;
  /** `--log-format json|pretty` (default: pretty on a terminal). */
  logFormat?: string;
}

/** The agent's state dir inside Neutrino's. */
export function agentStateDir(stateDir: string): string {
  return join(stateDir, 'agent');
}

/** Host names as the server accepts them (`binding:host_id`, `/neutrino/v1/hosts/{host}`). */
function checkHostName(host: string, flag: string): string {
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,254}$/.test(host))
    throw new Error(
      `invalid host name ${JSON.stringify(host)}: use letters, digits, '.', '_', '-' (${flag})`,
    );
  return host;
}

function resyncMs(seconds: number): number {
  return Math.round(seconds * 1000);
}

/**
 * Creates the state dir (if needed) so that dnsmasq, which drops to `nobody`, can reach the agent's
 * files: the state dir gets search permission for others (not read: its listing stays private), the
 * agent dir is 0755; a parent that others cannot search is an error (DHCP would silently fail).
 */
function prepareStateDirs(stateDir: string): string {
  mkdirSync(stateDir, { recursive: true, mode: 0o711 });
  const mode = statSync(stateDir).mode & 0o7777;
  if ((mode & 0o011) !== 0o011) chmodSync(stateDir, mode | 0o011);
  for (let dir = dirname(resolve(stateDir)); ; dir = dirname(dir)) {
    if ((statSync(dir).mode & 0o001) === 0)
      throw new Error(
        `${dir} is not searchable by others, so dnsmasq (running as nobody) could not read its files under ${stateDir}: chmod o+x ${dir} or choose another --state-dir`,
      );
    if (dir === dirname(dir)) break;
  }
  const agentDir = agentStateDir(stateDir);
  mkdirSync(agentDir, { recursive: true, mode: 0o755 });
  chmodSync(agentDir, 0o755);
  return agentDir;
}

/**
 * Others may reach files in the state dir by name (see above), so the SQLite database is made 0600
 * before the server opens it; SQLite gives its -wal and -shm files the database's mode. The password
 * and clouds.yaml files are 0600 already.
 */
function protectDatabase(config: Config): void {
  if (config.db) return;
  const db = databaseUrl(config);
  for (const file of [db, `${db}-wal`, `${db}-shm`]) if (existsSync(file)) chmodSync(file, 0o600);
  if (!existsSync(db)) writeFileSync(db, '', { mode: 0o600 });
}

/**
 * Whether `argv` (a /proc cmdline) is a `neutrino up` or `neutrino agent` of `stateDir`; a relative
 * `--state-dir` is taken from the process's working directory `cwd`.
 */
export function isNeutrinoDataplane(argv: string[], stateDir: string, cwd = '/'): boolean {
  const script = argv.findIndex((a) => /(^|\/)(neutrino(\.js)?|main\.[jt]s)$/.test(a));
  if (script < 0) return false;
  const rest = argv.slice(script + 1);
  if (!rest.includes('up') && !rest.includes('agent')) return false;
  const flag = rest.findIndex((a) => a === '--state-dir' || a.startsWith('--state-dir='));
  if (flag < 0) return true;
  const dir = rest[flag].includes('=') ? rest[flag].slice('--state-dir='.length) : rest[flag + 1];
  return dir !== undefined && resolve(cwd, dir) === resolve(stateDir);
}

/** The pid of a live `up`/`agent` recorded in the state dir's pid file, if its cmdline is ours. */
export async function runningDataplane(stateDir: string): Promise<number | undefined> {
  const pid = await readPidFile(join(stateDir, PID_FILE));
  if (pid === undefined || pid === process.pid || !(await isAlive(pid))) return undefined;
  const argv = await readCmdline(pid);
  const cwd = await readlink(`/proc/${pid}/cwd`).catch(() => '/');
  return argv && isNeutrinoDataplane(argv, stateDir, cwd) ? pid : undefined;
}

async function claimPidFile(stateDir: string): Promise<() => void> {
  const other = await runningDataplane(stateDir);
  if (other !== undefined)
    throw new Error(`neutrino is already running for ${stateDir} (pid ${other}); stop it with neutrino down`);
  const file = join(stateDir, PID_FILE);
  writeFileSync(file, `${process.pid}\n`, { mode: 0o644 });
  return () => {
    try {
      if (readFileSync(file, 'utf8').trim() === String(process.pid)) rmSync(file);
    } catch {
      // already gone
    }
  };
}

/** The URL of a listening server as seen from this host (a wildcard address becomes loopback). */
function loopbackUrl(config: Config, running: Running): string {
  const address = running.server.app.server.address();
  const port = typeof address === 'object' && address ? address.port : config.port;
  const host = ['0.0.0.0', '::', ''].includes(config.host) ? '127.0.0.1' : config.host;
  return `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
}

/** The bootstrap admin password: NEUTRINO_ADMIN_PASSWORD, else the file the first start wrote. */
function adminPassword(stateDir: string): string {
  const fromEnv = process.env.NEUTRINO_ADMIN_PASSWORD;
  if (fromEnv) return fromEnv;
  const file = join(stateDir, 'admin-password');
  if (existsSync(file)) return readFileSync(file, 'utf8').trim();
  throw new Error(`no admin password: set NEUTRINO_ADMIN_PASSWORD or restore ${file}`);
}

function adminAuth(url: string, password: string): Auth {
  return {
    type: 'password',
    credentials: {
      authUrl: `${url}/identity/v3`,
      username: 'admin',
      password,
      projectName: 'admin',
      userDomainName: 'Default',
      projectDomainName: 'Default',
    },
  };
}

/** A running all-in-one: the server and the local agent (on a thread of its own). */
export interface AllInOne {
  running: Running;
  agent: AgentThread;
  /** The agent's API session (admin). */
  session: Session;
  host: string;
  /** The server's URL on loopback (what the agent uses). */
  url: string;
  /** Stops the agent (tearing the data plane down if asked) and then the server. */
  close(options?: { cleanup?: boolean }): Promise<Summary | undefined>;
}

/**
 * Starts the server with `host` as the default host of new instances, and vlan networks allowed
 * exactly when this kernel can build them (8021q, probed), then a local agent for `host` on a
 * thread of its own (`agent/thread.ts`), talking to it over loopback with the bootstrap admin
 * password.
 */
export async function startAllInOne(
  config: Config,
  options: { host: string; resyncIntervalMs?: number; tunnel?: TunnelEndpoint; log?: pino.Logger },
): Promise<AllInOne> {
  const log = options.log ?? createLogger(config.logLevel, logFormat(config.logFormat));
  const agentDir = prepareStateDirs(config.stateDir);
  protectDatabase(config);
  // Open vSwitch tags VLANs itself (its userspace datapath needs no 8021q).
  const ovs = config.mechanismDriver === 'openvswitch';
  const vlanSupported =
    ovs ||
    (await has8021q().catch((err: unknown) => {
      log.warn({ err: String(err) }, 'cannot probe for 802.1Q VLAN support; vlan networks are refused');
      return false;
    }));
  if (!vlanSupported) log.info('this kernel has no 802.1Q VLAN support (8021q): vlan networks are refused');
  config.settings = { ...config.settings, defaultHost: options.host, vlanSupported };
  const running = await startServer(config, log);
  const url = loopbackUrl(config, running);
  try {
    const auth: Auth =
      config.auth === 'noauth' ? { type: 'none' } : adminAuth(url, adminPassword(config.stateDir));
    const session = new Session({ auth, endpoint: url });
    const agent = new AgentThread(
      {
        endpoint: url,
        auth,
        host: options.host,
        stateDir: agentDir,
        resyncIntervalMs: options.resyncIntervalMs,
        physicalInterfaceMappings: config.physicalInterfaceMappings,
        ...(options.tunnel ? { tunnel: options.tunnel } : {}),
        driver: config.mechanismDriver,
        heartbeatIntervalMs: config.reportInterval * 1000,
        logLevel: log.level,
      },
      log,
      running.metrics.observeReconcile,
    );
    running.health.agent = () => agent.health();
    return {
      running,
      agent,
      session,
      host: options.host,
      url,
      async close({ cleanup = false } = {}) {
        let summary: Summary | undefined;
        if (cleanup) summary = await agent.teardown();
        else await agent.stop();
        await running.close();
        return summary;
      },
    };
  } catch (err) {
    await running.close();
    throw err;
  }
}

/** Runs until SIGINT/SIGTERM, then `stop()` once and exits 0 (1 if stopping failed). */
function untilSignalled(stop: () => Promise<void>, log: pino.Logger): void {
  let stopping = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'stopping');
    stop().then(
      () => process.exit(0),
      (err: unknown) => {
        log.error({ err }, 'stopping failed');
        process.exit(1);
      },
    );
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
}

/** Maps `physnet` to `name` for the server (which physnets exist) and the agent (what to plug). */
function mapPhysnet(config: Config, physnet: string, name: string): void {
  config.physicalInterfaceMappings = { ...config.physicalInterfaceMappings, [physnet]: name };
  config.settings.physicalNetworks = Object.keys(config.physicalInterfaceMappings);
  config.settings.physicalInterfaceMappings = config.physicalInterfaceMappings;
}

/** `neutrino up`. */
export async function up(flags: Flags & DataplaneFlags & { tunnelIp?: string }): Promise<void> {
  const { tunnelIp: localIp, ...rest } = flags;
  const config = loadConfig({ ...rest, localIp });
  const host = checkHostName(config.hostName ?? hostname(), '--host-name');
  const tunnel = await tunnelEndpoint(config.localIp);
  const resyncIntervalMs = resyncMs(config.resyncInterval);
  const bridge = config.externalBridge ?? DEFAULT_EXTERNAL_BRIDGE;
  // A `public` mapping in the configuration (a real uplink) is the operator's: then no bridge here,
  // and nothing of the range goes on the host. Otherwise the range is checked before anything exists.
  const ownBridge = config.externalNetwork !== false && !config.physicalInterfaceMappings[EXTERNAL_PHYSNET];
  const external =
    config.externalNetwork === false
      ? undefined
      : ownBridge
        ? await chooseExternalNetwork({ cidr: config.externalCidr, bridge, stateDir: config.stateDir })
        : { network: externalNetwork(config.externalCidr ?? EXTERNAL_CIDR_CANDIDATES[0]), picked: false };
  const log = createLogger(config.logLevel, logFormat(config.logFormat));
  prepareStateDirs(config.stateDir);
  const releasePidFile = await claimPidFile(config.stateDir);
  let allInOne: AllInOne;
  try {
    if (external && ownBridge) {
      const { network } = external;
      if (await ensureExternalBridge(bridge, network, config.stateDir))
        log.info(
          { bridge, address: `${network.gateway}/${network.prefixLength}` },
          'external bridge created',
        );
      mapPhysnet(config, EXTERNAL_PHYSNET, bridge);
    }
    allInOne = await startAllInOne(config, { host, resyncIntervalMs, ...(tunnel ? { tunnel } : {}), log });
  } catch (err) {
    releasePidFile();
    throw err;
  }
  const { running } = allInOne;
  let externalLine: string[] = [];
  if (external) {
    const { cidr, gateway } = external.network;
    try {
      const network = await ensureExternalNetwork(allInOne.session, external.network);
      const on = config.physicalInterfaceMappings[EXTERNAL_PHYSNET];
      const picked = external.picked
        ? ' (the first range the host does not route; --external-cidr to choose)'
        : '';
      externalLine = [`  external:       network public ${cidr} on ${on}, gateway ${gateway}${picked}`];
      log.info({ network, cidr, picked: external.picked }, 'external network ready');
    } catch (err) {
      log.error({ err: String(err), cidr }, 'could not create the external network');
    }
  }
  const cloudsFile = writeCloudsYaml(config, running.url);
  process.stderr.write(
    [
      `neutrino is up (host ${host}, pid ${process.pid})`,
      `  networking API: ${running.url}/v2.0`,
      `  identity:       ${running.url}/identity/v3`,
      `  clouds.yaml:    ${cloudsFile}`,
      ...externalLine,
      ...(tunnel ? [`  tunnels:        VXLAN from ${tunnel.localIp} on ${tunnel.device}`] : []),
      `use it with:  export OS_CLIENT_CONFIG_FILE=${cloudsFile} OS_CLOUD=neutrino`,
      `stop it with: neutrino down${config.stateDir === '/var/lib/neutrino' ? '' : ` --state-dir ${config.stateDir}`}`,
      '',
    ].join('\n'),
  );
  untilSignalled(async () => {
    const summary = await allInOne.close({ cleanup: config.cleanupOnExit });
    if (summary) {
      await removeExternalBridges(config.stateDir);
      log.info({ applied: summary.applied, failures: summary.failures.length }, 'data plane removed');
    }
    releasePidFile();
  }, log);
}

/**
 * The tunnel endpoint `--tunnel-ip` (or `local_ip`) names, with the interface holding it: it must be
 * an address of this host, or tunnels would point at someone else.
 */
async function tunnelEndpoint(address: string | undefined): Promise<TunnelEndpoint | undefined> {
  if (address === undefined) return undefined;
  if (!ipaddr.isValid(address)) throw new Error(`--tunnel-ip ${address} is not an IP address`);
  const localIp = ipaddr.parse(address).toString();
  const device = await interfaceWithAddress(localIp);
  if (device === undefined)
    throw new Error(`--tunnel-ip ${address} is not an address of this host (see ip addr)`);
  return { localIp, device };
}

/**
 * `neutrino agent --server URL --host NAME [--tunnel-ip ADDR] [--roles compute,network]`, or their
 * configuration keys `server_url`, `host_name`, `local_ip`, `roles`.
 */
export async function agent(
  flags: Flags & DataplaneFlags & { server?: string; host?: string; tunnelIp?: string; roles?: string },
): Promise<void> {
  const { server: serverUrl, host: hostName, tunnelIp: localIp, ...rest } = flags;
  const config = loadConfig({ ...rest, serverUrl, hostName, localIp });
  if (config.serverUrl === undefined) throw new Error('the agent needs --server URL (or server_url)');
  if (config.hostName === undefined) throw new Error('the agent needs --host NAME (or host_name)');
  const host = checkHostName(config.hostName, '--host');
  const roles = config.roles ?? [...AGENT_ROLES];
  const tunnel = await tunnelEndpoint(config.localIp);
  const log = createLogger(config.logLevel, logFormat(config.logFormat));
  const servers = serverUrls(config.serverUrl);
  const env = process.env;
  const password = env.OS_CLOUD || env.OS_AUTH_URL ? undefined : adminPassword(config.stateDir);
  // One login per server: each is asked for a token only when the agent turns to it.
  const sessions = new Map(
    servers.map((url) => {
      const auth: Auth =
        password === undefined
          ? { type: 'password', credentials: credentialsFromEnvironment(env) }
          : adminAuth(url, password);
      return [url, new Session({ auth, endpoint: url })] as const;
    }),
  );
  const server = servers.join(', ');
  const agentDir = prepareStateDirs(config.stateDir);
  const releasePidFile = await claimPidFile(config.stateDir);
  const mappings = config.physicalInterfaceMappings;
  const agentLog = log.child({ component: 'agent' });
  const runner = new AgentRunner({
    session:
      sessions.size === 1 ? sessions.get(servers[0])! : new FailoverSession(sessions, { log: agentLog }),
    host,
    stateDir: agentDir,
    resyncIntervalMs: resyncMs(config.resyncInterval),
    heartbeatIntervalMs: config.reportInterval * 1000,
    ...(Object.keys(mappings).length > 0 ? { physicalInterfaceMappings: mappings } : {}),
    ...(tunnel ? { tunnel } : {}),
    driver: config.mechanismDriver,
    roles,
    log: agentLog,
  });
  try {
    await runner.register();
  } catch (err) {
    releasePidFile();
    if (err instanceof ApiError && err.status === 409) throw new Error(err.message);
    throw new Error(`cannot register with ${server}: ${(err as Error).message}`);
  }
  runner.start();
  const endpoint = tunnel ? `, tunnel endpoint ${tunnel.localIp} on ${tunnel.device}` : '';
  process.stderr.write(
    `neutrino agent for host ${host} (${roles.join(', ')}${endpoint}) following ${server} (pid ${process.pid})\n`,
  );
  untilSignalled(async () => {
    if (config.cleanupOnExit) await runner.teardown();
    else await runner.stop();
    releasePidFile();
  }, log);
}

/** `neutrino down`: stop the running `up`/`agent` of the state dir, then remove its data plane. */
export async function down(flags: Pick<Flags, 'config' | 'stateDir'>): Promise<void> {
  const config = loadConfig({ config: flags.config, stateDir: flags.stateDir });
  const { stateDir } = config;
  const pid = await runningDataplane(stateDir);
  if (pid !== undefined) {
    await stopProcess(pid, STOP_TIMEOUT_MS);
    if (await isAlive(pid)) throw new Error(`neutrino (pid ${pid}) did not stop`);
    process.stdout.write(`stopped neutrino (pid ${pid})\n`);
  }
  if (!existsSync(stateDir)) {
    process.stdout.write(`nothing to remove: ${stateDir} does not exist\n`);
    return;
  }
  const agentDir = agentStateDir(stateDir);
  const reconciler = new Reconciler({
    stateDir: agentDir,
    // Neutrino's own Open vSwitch, if the openvswitch driver ran here: its bridges go, then it.
    ...(existsSync(ovsDir(agentDir)) ? { driver: 'openvswitch' } : {}),
    source: () => Promise.reject(new Error('neutrino down only tears down')),
  });
  const summary = await reconciler.teardown();
  const bridges = summary.failures.length === 0 ? await removeExternalBridges(stateDir) : [];
  rmSync(join(stateDir, PID_FILE), { force: true });
  if (summary.failures.length > 0) {
    const first = summary.failures[0];
    throw new Error(
      `${summary.failures.length} of ${summary.actions} removals failed, first: ${first.op} ${first.object}: ${first.message}`,
    );
  }
  const removed = [`${summary.applied} actions`, ...bridges.map((bridge) => `bridge ${bridge}`)];
  process.stdout.write(
    summary.actions === 0 && bridges.length === 0
      ? `nothing left to remove for ${stateDir}\n`
      : `removed the data plane of ${stateDir} (${removed.join(', ')})\n`,
  );
}

/** Registers `agent` and `down` (`up` shares the server's options and is registered with them). */
