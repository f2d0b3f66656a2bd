/**
 * A real `neutrino up` child process for data-plane tests: a temporary state dir (its own
 * deployment: every kernel object carries its owner tag), a free port, a unique host name, a
 * config file with a random high VNI range (so parallel runs never share a `vxlan-<vni>` name)
 * and raised quotas, the admin password from NEUTRINO_ADMIN_PASSWORD, and a short resync
 * interval. The process can be killed (-9), restarted on the same state dir, and stopped; the
 * CLI can be run against it. Also lists the kernel objects and processes of one state dir.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { ownerTag } from '../../src/agent/state/host-state.js';
import { Session } from '../../src/client/session.js';
import { ipJson, listNamespaces } from '../../src/linux/ip.js';

export const BIN = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'bin', 'neutrino.js');

export interface UpOptions {
  resyncIntervalS?: number;
  /** Extra `settings` for the config file (snake_case keys, as in the file). */
  settings?: Record<string, unknown>;
  physicalInterfaceMappings?: Record<string, string>;
  logLevel?: string;
  /** Extra flags for `neutrino up`, e.g. `--cleanup-on-exit`. */
  args?: string[];
  /**
   * The external network `up` makes: its bridge and CIDR. Without it, `--no-external-network`: a
   * shared host's root namespace gets no bridge or address from a test unless the test asks.
   */
  external?: { bridge: string; cidr: string };
}

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

const running = (child: ChildProcess) => child.exitCode === null && child.signalCode === null;

function exited(child: ChildProcess): Promise<void> {
  if (!running(child)) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

/** The environment without the caller's NEUTRINO_* and OS_* variables. */
function cleanEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env))
    if (!k.startsWith('NEUTRINO_') && !k.startsWith('OS_')) env[k] = v;
  return env;
}

export class NeutrinoUp {
  readonly stateDir: string;
  readonly agentDir: string;
  readonly host: string;
  readonly adminPassword: string;
  readonly configFile: string;
  readonly resyncIntervalS: number;
  /** The first VNI of this run's range. */
  readonly vniBase: number;
  url = '';
  session!: Session;
  #child: ChildProcess | undefined;
  #output = '';
  #logLevel: string;
  #args: string[];

  constructor(options: UpOptions = {}) {
    this.stateDir = mkdtempSync(join(tmpdir(), 'neutrino-up-'));
    chmodSync(this.stateDir, 0o711);
    this.agentDir = join(this.stateDir, 'agent');
    this.host = `e2e-${randomBytes(4).toString('hex')}`;
    this.adminPassword = `pw-${randomBytes(8).toString('hex')}`;
    this.resyncIntervalS = options.resyncIntervalS ?? 2;
    this.#logLevel = options.logLevel ?? 'info';
    this.#args = [
      ...(options.external
        ? ['--external-bridge', options.external.bridge, '--external-cidr', options.external.cidr]
        : ['--no-external-network']),
      ...(options.args ?? []),
    ];
    this.vniBase = 100_000 + (randomBytes(3).readUIntBE(0, 3) % 16_000_000);
    this.configFile = join(this.stateDir, 'neutrino.yaml');
    writeFileSync(
      this.configFile,
      stringify({
        physical_interface_mappings: options.physicalInterfaceMappings ?? {},
        settings: {
          vni_range: [this.vniBase, this.vniBase + 9_999],
          quotas: {
            network: 1000,
            subnet: 1000,
            port: 10_000,
            router: 10,
            floatingip: 50,
            security_group: 10,
            security_group_rule: 100,
            rbac_policy: 10,
          },
          ...options.settings,
        },
      }),
    );
  }

  get pid(): number | undefined {
    return this.#child?.pid;
  }

  /** Everything the current and earlier processes wrote. */
  output(): string {
    return this.#output;
  }

  /** Starts `neutrino up` and waits for its URLs and a healthy API. */
  async start(timeoutMs = 60_000): Promise<void> {
    if (this.#child && running(this.#child)) throw new Error('already running');
    const env = { ...cleanEnv(), NEUTRINO_ADMIN_PASSWORD: this.adminPassword };
    const args = [
      BIN,
      'up',
      '--config',
      this.configFile,
      '--host',
      '127.0.0.1',
      '--port',
      '0',
      '--state-dir',
      this.stateDir,
      '--host-name',
      this.host,
      '--resync-interval',
      String(this.resyncIntervalS),
      '--log-level',
      this.#logLevel,
      ...this.#args,
    ];
    const child = spawn(process.execPath, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    this.#child = child;
    const start = this.#output.length;
    child.stdout!.setEncoding('utf8').on('data', (d: string) => (this.#output += d));
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (this.#output += d));
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const m = /networking API: (http:\/\/\S+)\/v2\.0/.exec(this.#output.slice(start));
      if (m) {
        this.url = m[1];
        break;
      }
      if (!running(child)) throw new Error(`neutrino up exited during start:\n${this.#output.slice(start)}`);
      if (Date.now() > deadline) throw new Error(`neutrino up did not start:\n${this.#output.slice(start)}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    this.session = new Session({
      auth: {
        type: 'password',
        credentials: {
          authUrl: `${this.url}/identity/v3`,
          username: 'admin',
          password: this.adminPassword,
          projectName: 'admin',
          userDomainName: 'Default',
          projectDomainName: 'Default',
        },
      },
    });
  }

  /** Output since `mark` (a length of `output()`). */
  outputSince(mark: number): string {
    return this.#output.slice(mark);
  }

  /** Sends `signal` to the running process (by its pid), waits for it to exit, returns its exit code. */
  async kill(signal: NodeJS.Signals = 'SIGTERM', timeoutMs = 20_000): Promise<number | null> {
    const child = this.#child;
    if (!child?.pid || !running(child)) return child?.exitCode ?? null;
    const done = exited(child);
    process.kill(child.pid, signal);
    const timer = setTimeout(() => {
      if (running(child)) process.kill(child.pid!, 'SIGKILL');
    }, timeoutMs);
    await done;
    clearTimeout(timer);
    return child.exitCode;
  }

  /** Runs the neutrino CLI with this deployment's clouds.yaml. */
  cli(args: string[], input?: string, timeoutMs = 60_000): Promise<CliResult> {
    const env = {
      ...cleanEnv(),
      OS_CLIENT_CONFIG_FILE: join(this.stateDir, 'clouds.yaml'),
      OS_CLOUD: 'neutrino',
    };
    return new Promise((resolve, reject) => {
      const child = spawn(process.execPath, [BIN, ...args], { env, stdio: ['pipe', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
      child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
      const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
      child.once('error', reject);
      child.once('close', (code) => {
        clearTimeout(timer);
        resolve({ code, stdout, stderr });
      });
      child.stdin.end(input);
    });
  }

  /** `neutrino down --state-dir` (stops the process if running, removes the data plane). */
  down(): Promise<CliResult> {
    return this.cli(['down', '--state-dir', this.stateDir, '--config', this.configFile]);
  }

  /** Kills the process if still running, tears the data plane down, removes the state dir. */
  async cleanup(): Promise<void> {
    await this.kill('SIGTERM');
    const result = await this.down();
    if (result.code !== 0) console.error('neutrino down failed', result);
    rmSync(this.stateDir, { recursive: true, force: true });
  }
}

export interface Owned {
  namespaces: string[];
  links: string[];
  /** `pid command` of the live processes whose command line names the agent's state dir. */
  processes: string[];
}

/** Kernel objects and processes that belong to the deployment of `stateDir` (sorted). */
export async function ownedObjects(stateDir: string): Promise<Owned> {
  const agentDir = join(stateDir, 'agent');
  const owner = ownerTag(agentDir);
  const ids = (sub: string) => {
    try {
      return readdirSync(join(agentDir, sub));
    } catch {
      return [];
    }
  };
  const candidates = new Set([
    ...ids('dhcp').map((id) => `qdhcp-${id}`),
    ...ids('instances').map((id) => `inst-${id}`),
  ]);
  const namespaces = (await listNamespaces()).filter((ns) => candidates.has(ns)).sort();
  const links = (await ipJson<{ ifname: string; ifalias?: string }[]>(['link', 'show']))
    .filter((l) => l.ifalias?.endsWith(`@${owner}`))
    .map((l) => l.ifname)
    .sort();
  const processes: string[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let cmdline: string;
    let stat: string;
    try {
      cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8');
      if (!cmdline.includes(agentDir)) continue;
      stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
    } catch {
      continue; // gone meanwhile
    }
    if (stat.slice(stat.lastIndexOf(')') + 2)[0] === 'Z') continue;
    processes.push(`${entry} ${cmdline.split('\0')[0]}`);
  }
  return { namespaces, links, processes: processes.sort() };
}
