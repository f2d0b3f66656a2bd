/**
 * `neutrino lab` for tests and benchmarks: bring a lab up and down through the CLI, an admin
 * session on its API, an "outside" namespace of the caller's own on the lab's physnet bridge (the
 * far end of a flat external network on physnet1), and cutting or mending a host's links, which is
 * how a host "dies" for the network. Every object made here is removed by the `down` it returns.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { type LabHost, type LabState, readLab } from '../../src/cli/lab.js';
import { Session } from '../../src/client/session.js';
import { addNamespace, deleteNamespace, ipBatch, listNamespaces } from '../../src/linux/ip.js';
import { hostNamespaceArgv, runInHostNamespace } from '../../src/linux/lab-host.js';
import { BIN, type CliResult } from './neutrino-up.js';
import { until } from './until.js';

/** The environment without the caller's NEUTRINO_* and OS_* settings. */
function cleanEnv(): NodeJS.ProcessEnv {
  const out: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env))
    if (!k.startsWith('NEUTRINO_') && !k.startsWith('OS_')) out[k] = v;
  return out;
}

/** `neutrino ARGS` as a child process (killed after `timeoutMs`), with `env` besides a clean environment. */
export function neutrinoCli(
  args: string[],
  timeoutMs = 180_000,
  env: Record<string, string> = {},
): Promise<CliResult> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      env: { ...cleanEnv(), ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => {
      stdout += c;
    });
    child.stderr.on('data', (c: Buffer) => {
      stderr += c;
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** `neutrino ARGS` as a user elsewhere with the lab's clouds.yaml runs it: no state dir, no NEUTRINO_*. */
export function labCli(stateDir: string, ...args: string[]): Promise<CliResult> {
  return neutrinoCli(args, 120_000, {
    OS_CLIENT_CONFIG_FILE: join(stateDir, 'clouds.yaml'),
    OS_CLOUD: 'neutrino',
  });
}

/** An admin session on the lab's (first) API server. */
export function labSession(stateDir: string, lab: LabState): Session {
  return new Session({
    auth: {
      type: 'password',
      credentials: {
        authUrl: `${lab.server!.url}/identity/v3`,
        username: 'admin',
        password: readFileSync(join(stateDir, 'admin-password'), 'utf8').trim(),
        projectName: 'admin',
        userDomainName: 'Default',
        projectDomainName: 'Default',
      },
    },
    endpoint: lab.server!.url,
  });
}

export interface Lab {
  stateDir: string;
  state: LabState;
  session: Session;
  host: (name: string) => LabHost;
  /** `lab down`, then the state directory removed; throws with lab down's stderr if it failed. */
  down: () => Promise<void>;
}

/** `neutrino lab up ARGS` in a fresh state directory. */
export async function labUp(args: string[]): Promise<Lab> {
  const stateDir = mkdtempSync(join(tmpdir(), 'neutrino-lab-'));
  const down = async () => {
    const r = await neutrinoCli(['lab', 'down', '--state-dir', stateDir]);
    rmSync(stateDir, { recursive: true, force: true });
    if (r.code !== 0) throw new Error(`lab down failed: ${r.stderr}`);
  };
  const up = await neutrinoCli(['lab', 'up', ...args, '--state-dir', stateDir]);
  if (up.code !== 0) {
    await down().catch(() => undefined);
    throw new Error(`lab up failed: ${up.stderr}`);
  }
  const state = readLab(stateDir)!;
  return {
    stateDir,
    state,
    session: labSession(stateDir, state),
    host: (name) => state.hosts.find((h) => h.name === name)!,
    down,
  };
}

/** Cuts or mends a host's three links (their underlay ends): management, tunnels, physnet. */
export function hostLinks(lab: LabState, host: LabHost, state: 'up' | 'down'): Promise<void> {
  return ipBatch(
    ['m', 't', 'p'].map((end) => ['link', 'set', `${host.name}-${end}`, state]),
    { netns: lab.underlayNetns },
  );
}

/** A namespace of the caller's own on the lab's physnet bridge holding `address`/24. */
export class PhysnetOutside {
  readonly netns = `neutrino-out${randomBytes(2).toString('hex')}`;
  readonly #link = `${this.netns.slice(-4)}-ext`;

  constructor(
    readonly lab: LabState,
    readonly address: string,
  ) {}

  async create(): Promise<void> {
    await addNamespace(this.netns);
    await ipBatch(
      [
        [
          'link',
          'add',
          this.#link,
          'master',
          'br-phys',
          'type',
          'veth',
          'peer',
          'name',
          'eth0',
          'netns',
          this.netns,
        ],
        ['link', 'set', this.#link, 'up'],
      ],
      { netns: this.lab.underlayNetns },
    );
    await ipBatch(
      [
        ['link', 'set', 'lo', 'up'],
        ['link', 'set', 'eth0', 'up'],
        ['addr', 'add', `${this.address}/24`, 'dev', 'eth0'],
      ],
      { netns: this.netns },
    );
  }

  /** Removes the namespace (its veth goes with it). */
  async remove(): Promise<void> {
    if ((await listNamespaces()).includes(this.netns)) await deleteNamespace(this.netns);
  }
}

/**
 * A flat external network on physnet1 whose subnet (198.51.100.0/24, no DHCP) has the outside's
 * address as its gateway; returns its id.
 */
export async function physnetExternalNetwork(
  session: Session,
  gateway: string,
  name = 'public',
): Promise<string> {
  const { network } = await session.post<{ network: { id: string } }>('/v2.0/networks', {
    network: {
      name,
      'router:external': true,
      'provider:network_type': 'flat',
      'provider:physical_network': 'physnet1',
    },
  });
  await session.post('/v2.0/subnets', {
    subnet: {
      network_id: network.id,
      ip_version: 4,
      cidr: '198.51.100.0/24',
      gateway_ip: gateway,
      enable_dhcp: false,
      allocation_pools: [{ start: '198.51.100.10', end: '198.51.100.99' }],
    },
  });
  return network.id;
}

/**
 * `ping -D -i INTERVAL` from an instance's namespace on a lab host, running until `stop()`: every
 * reply's own timestamp (ms since the epoch), to count replies lost and find gaps.
 */
export class Pinger {
  readonly replies: number[] = [];
  readonly #child: ChildProcess;
  readonly #closed: Promise<void>;

  constructor(
    host: LabHost,
    netns: string,
    target: string,
    readonly intervalS = 0.2,
  ) {
    const argv = hostNamespaceArgv(host, netns, 'ping', ['-D', '-n', '-i', String(intervalS), target]);
    this.#child = spawn('nsenter', argv, { stdio: ['ignore', 'pipe', 'ignore'] });
    let rest = '';
    this.#child.stdout!.on('data', (chunk: Buffer) => {
      const lines = (rest + chunk).split('\n');
      rest = lines.pop() ?? '';
      for (const line of lines) {
        const m = /^\[(\d+\.\d+)\] .*bytes from/.exec(line);
        if (m) this.replies.push(Number(m[1]) * 1000);
      }
    });
    this.#closed = new Promise((resolve) => this.#child.once('close', () => resolve()));
  }

  /** The first reply at or after `at` (ms since the epoch). */
  firstReplyAfter(at: number): number | undefined {
    return this.replies.find((t) => t >= at);
  }

  /** The longest time between consecutive replies after `at` (the outage), and replies lost in it. */
  longestGap(after: number): { ms: number; lost: number } {
    const times = this.replies.filter((t) => t >= after);
    let ms = 0;
    for (let i = 1; i < times.length; i++) ms = Math.max(ms, times[i] - times[i - 1]);
    return { ms, lost: Math.max(0, Math.round(ms / (this.intervalS * 1000)) - 1) };
  }

  async stop(): Promise<void> {
    if (this.#child.pid !== undefined && this.#child.exitCode === null)
      process.kill(this.#child.pid, 'SIGINT');
    await this.#closed;
  }
}

/**
 * A TCP connection between two namespaces of lab hosts carrying one line: a busybox listener in
 * `to`'s namespace on `port`, a client in `from`'s; fails unless the line arrives within 5 s.
 */
export async function labTcp(
  from: { host: LabHost; netns: string },
  to: { host: LabHost; netns: string; ip: string },
  port: number,
): Promise<void> {
  const argv = hostNamespaceArgv(to.host, to.netns, 'busybox', ['nc', '-l', '-p', String(port)]);
  const listener = spawn('nsenter', argv, { stdio: ['ignore', 'pipe', 'ignore'] });
  let got = '';
  listener.stdout!.on('data', (c: Buffer) => {
    got += c;
  });
  try {
    await sleep(300);
    const line = `across-${port}`;
    await runInHostNamespace(
      from.host,
      from.netns,
      'sh',
      ['-c', `echo ${line} | busybox nc -w 2 ${to.ip} ${port}`],
      {
        allowFail: true,
      },
    );
    await until(`a TCP line on port ${port}`, async () => got.includes(line), 5_000);
  } finally {
    listener.kill();
  }
}

/** Creates an instance through `session` and waits until it is ACTIVE (failing on ERROR). */
export async function activeInstance<T extends { id: string; status: string }>(
  session: Session,
  instance: Record<string, unknown>,
  timeoutMs = 60_000,
): Promise<T> {
  const { instance: created } = await session.post<{ instance: T }>('/neutrino/v1/instances', { instance });
  return until(
    `instance ${created.id} ACTIVE`,
    async () => {
      const { instance: now } = await session.get<{ instance: T }>(`/neutrino/v1/instances/${created.id}`);
      assert.notEqual(now.status, 'ERROR', JSON.stringify(now));
      return now.status === 'ACTIVE' ? now : undefined;
    },
    timeoutMs,
  );
}
