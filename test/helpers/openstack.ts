/**
 * The real `openstack` CLI (python3-openstackclient and its plugins) for the compatibility tests:
 * found on PATH, run with `--debug` so a failure message carries the HTTP exchange, against a
 * clouds.yaml written for a `neutrino server` child process, in an environment with none of the
 * caller's OS_* (or Python path) variables.
 *
 * Why commands run in one Python process: a new `openstack` process spends 2-4 s importing
 * openstackclient/openstacksdk before it sends a request, and the compat files run hundreds of
 * commands (6-8 minutes of start-up). So `openstack()` hands each command to a long-lived worker per
 * environment (openstack-worker.py, run by the interpreter of the `openstack` script, started
 * with that same environment and working directory), which calls `openstackclient.shell.main`
 * (what the script calls) with the same argv. What stays the same as one process per command:
 * the real argument parsing, openstacksdk/keystoneauth requests to the server, output
 * formatting, exit status (sys.exit semantics) and stdout/stderr of each command, captured
 * apart; the worker puts back the process-wide state the CLI changes (logging handlers and
 * levels, warnings filters, os.environ, cwd, the clients osc_lib caches on its ClientManager
 * class) after every command, and closes leftover sockets. Not the same: stdin is /dev/null
 * (a spawned command gets a pipe nobody writes to), and the commands of one worker share one
 * hash seed (so e.g. the key order of a request body is the same for all of them).
 * A command past its timeout resolves with code -1 and a message saying so (plus what it printed
 * and where it hung), and its worker is killed; a worker that dies resolves its command the same
 * way; either way the next command gets a new worker. Workers are stopped by `stopOpenstack`
 * (the files' after() hooks) and killed when this process exits, and they exit by themselves
 * when this process is gone. NEUTRINO_OSC_SPAWN=1 runs every command as its own process instead.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { accessSync, constants, readFileSync, writeFileSync } from 'node:fs';
import { delimiter, dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import type { ServerProcess } from './process.js';

function findOnPath(command: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    try {
      accessSync(join(dir, command), constants.X_OK);
      return join(dir, command);
    } catch {
      // not here
    }
  }
  return undefined;
}

export const OPENSTACK = findOnPath('openstack');
/** A test's `skip` option: false when the CLI is installed. */
export const skipWithoutOpenstack = OPENSTACK ? false : 'the openstack CLI is not installed';

export interface OpenstackRun {
  code: number;
  stdout: string;
  stderr: string;
}

/** The HTTP requests and responses in `--debug` output, for failure messages. */
export function exchange(stderr: string): string {
  return stderr
    .split('\n')
    .filter((l) =>
      /^(REQ: |RESP: |RESP BODY: |Request returned failure status)|^\S+ "(GET|POST|PUT|DELETE|HEAD|PATCH) /.test(
        l,
      ),
    )
    .map((l) => l.replace(/-H "User-Agent: [^"]*" /g, ''))
    .join('\n');
}

/**
 * Writes `<dir>/clouds.yaml` with the cloud `neutrino` (admin of `server`) and any `extra` clouds
 * built from the same credentials, and returns the CLI's environment for it.
 */
export function openstackEnv(
  dir: string,
  server: ServerProcess,
  extra: Record<string, Record<string, unknown>> = {},
): NodeJS.ProcessEnv {
  const cloudsFile = join(dir, 'clouds.yaml');
  const auth = {
    auth_url: `${server.url}/identity/v3`,
    username: 'admin',
    password: server.adminPassword,
    project_name: 'admin',
    user_domain_name: 'Default',
    project_domain_name: 'Default',
  };
  const cloud = { auth, region_name: 'RegionOne', interface: 'public', identity_api_version: 3 };
  const clouds: Record<string, unknown> = { neutrino: cloud };
  for (const [name, more] of Object.entries(extra)) clouds[name] = { ...cloud, ...more };
  writeFileSync(cloudsFile, stringify({ clouds }), { mode: 0o600 });
  return cliEnv(dir, { OS_CLIENT_CONFIG_FILE: cloudsFile, OS_CLOUD: 'neutrino' });
}

/** The environment for the CLI: ours, minus every OS_* (and Python path) variable of the caller. */
export function cliEnv(home: string, extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env))
    if (!k.startsWith('OS_') && k !== 'PYTHONPATH' && k !== 'PYTHONHOME' && k !== 'VIRTUAL_ENV') env[k] = v;
  return {
    ...env,
    HOME: home,
    XDG_CACHE_HOME: join(home, 'cache'),
    PYTHONWARNINGS: 'ignore',
    PYTHONDONTWRITEBYTECODE: '1',
    ...extra,
  };
}

/** Runs `openstack --debug ARGS` and resolves with its exit code and output, whatever they are. */
export function openstack(env: NodeJS.ProcessEnv, args: string[], timeoutMs = 90_000): Promise<OpenstackRun> {
  const argv = ['--debug', ...args];
  if (process.env.NEUTRINO_OSC_SPAWN === '1' || !INTERPRETER) return spawnOpenstack(env, argv, timeoutMs);
  const key = envKey(env);
  let worker = workers.get(key);
  if (!worker) {
    worker = new OpenstackWorker(env);
    workers.set(key, worker);
  }
  return worker.run(argv, timeoutMs);
}

/** Stops the worker running commands for `env` (if any) and waits until its process is gone. */
export async function stopOpenstack(env: NodeJS.ProcessEnv): Promise<void> {
  const key = envKey(env);
  const worker = workers.get(key);
  workers.delete(key);
  await worker?.stop();
}

function spawnOpenstack(env: NodeJS.ProcessEnv, argv: string[], timeoutMs: number): Promise<OpenstackRun> {
  return new Promise((resolve) => {
    execFile(
      OPENSTACK!,
      argv,
      { env, timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 },
      (err, stdout, stderr) => {
        resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr });
      },
    );
  });
}

const WORKER_SCRIPT = join(dirname(fileURLToPath(import.meta.url)), 'openstack-worker.py');

/** The `#!` line of the openstack script (its interpreter and arguments), if it has one. */
const INTERPRETER: string[] | undefined = (() => {
  if (!OPENSTACK) return undefined;
  try {
    const first = readFileSync(OPENSTACK, 'latin1').split('\n', 1)[0];
    if (!first.startsWith('#!')) return undefined;
    const words = first.slice(2).trim().split(/\s+/);
    return words[0] ? words : undefined;
  } catch {
    return undefined;
  }
})();

const workers = new Map<string, OpenstackWorker>();
process.on('exit', () => {
  for (const w of workers.values()) w.kill();
});

function envKey(env: NodeJS.ProcessEnv): string {
  return JSON.stringify(Object.entries(env).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

interface Pending {
  id: number;
  argv: string[];
  timeoutMs: number;
  resolve: (r: OpenstackRun) => void;
}

interface Answer {
  id: number;
  code?: number;
  stdout: string;
  stderr: string;
  timeout?: boolean;
  stack?: string;
}

/** One Python process at a time running commands in order; replaced when it hangs or dies. */
class OpenstackWorker {
  private child: ChildProcess | undefined;
  private queue: Pending[] = [];
  private current:
    | {
        job: Pending;
        child: ChildProcess;
        timer: NodeJS.Timeout;
        finish: (a?: Answer, death?: string) => void;
      }
    | undefined;
  private nextId = 1;
  /** The worker's own stderr (not the commands'), for the message when it dies. */
  private diag = '';

  constructor(private readonly env: NodeJS.ProcessEnv) {}

  run(argv: string[], timeoutMs: number): Promise<OpenstackRun> {
    return new Promise((resolve) => {
      this.queue.push({ id: this.nextId++, argv, timeoutMs, resolve });
      this.pump();
    });
  }

  private start(): ChildProcess {
    const [interpreter, ...flags] = INTERPRETER!;
    const child = spawn(interpreter, [...flags, WORKER_SCRIPT, OPENSTACK!], {
      env: this.env,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    this.diag = '';
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (d: string) => {
      this.diag = (this.diag + d).slice(-65536);
    });
    child.stdin!.on('error', () => {
      // the worker died; its 'exit' reports that
    });
    createInterface({ input: child.stdout! }).on('line', (line) => {
      let answer: Answer;
      try {
        answer = JSON.parse(line);
      } catch {
        this.diag += `\nopenstack worker: unreadable answer: ${line.slice(0, 500)}\n`;
        return;
      }
      if (this.current?.child === child && answer.id === this.current.job.id) this.current.finish(answer);
    });
    child.on('error', (err) => {
      this.diag += `\nopenstack worker: ${err.message}\n`;
    });
    child.on('exit', (code, signal) => {
      if (this.child === child) this.child = undefined;
      if (this.current?.child === child)
        this.current.finish(undefined, `exited (${signal ?? `code ${code}`})`);
    });
    return child;
  }

  private pump(): void {
    if (this.current) return;
    const job = this.queue.shift();
    if (!job) return;
    if (!this.child) this.child = this.start();
    const child = this.child;
    const what = `openstack ${job.argv.join(' ')}`;
    let timedOut = false;
    let graceTimer: NodeJS.Timeout | undefined;
    const finish = (answer?: Answer, death?: string) => {
      if (this.current?.job !== job) return;
      clearTimeout(this.current.timer);
      clearTimeout(graceTimer);
      this.current = undefined;
      if (timedOut || death) {
        // this worker is done for: the next command gets a new one
        if (this.child === child) this.child = undefined;
        child.kill('SIGKILL');
        const partial = answer
          ? `${answer.stderr}${answer.stack ? `\n--- where it was (worker stack) ---\n${answer.stack}` : ''}`
          : `${this.diag}`;
        const why = timedOut
          ? `did not finish within ${job.timeoutMs} ms; its openstack worker (pid ${child.pid}) was killed`
          : `was running when its openstack worker (pid ${child.pid}) ${death}`;
        job.resolve({
          code: -1,
          stdout: answer?.stdout ?? '',
          stderr: `${partial}\nopenstack worker: \`${what}\` ${why}; the next command starts a new worker\n`,
        });
      } else {
        job.resolve({ code: answer!.code!, stdout: answer!.stdout, stderr: answer!.stderr });
      }
      this.pump();
    };
    const timer = setTimeout(() => {
      timedOut = true;
      // ask for what the command printed so far and where it hangs, then kill it
      child.kill('SIGUSR1');
      graceTimer = setTimeout(() => finish(), 5000);
    }, job.timeoutMs);
    this.current = { job, child, timer, finish };
    child.stdin!.write(`${JSON.stringify({ id: job.id, argv: job.argv })}\n`);
  }

  /** Kills the process now (for process exit). */
  kill(): void {
    this.child?.kill('SIGKILL');
  }

  /** Ends the worker's input (it exits at end of input); SIGKILL if it is not gone in 5 s. */
  async stop(): Promise<void> {
    const child = this.child;
    this.child = undefined;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.stdin!.end();
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
    await gone;
    clearTimeout(timer);
  }
}

/** Runs a command that must succeed; returns its parsed `-f json` output (or the raw text). */
// biome-ignore lint/suspicious/noExplicitAny: parsed CLI output, asserted field by field
export async function succeed(env: NodeJS.ProcessEnv, args: string[]): Promise<any> {
  const r = await openstack(env, args);
  const what = `openstack ${args.join(' ')}`;
  assert.equal(
    r.code,
    0,
    `${what} failed (${r.code}):\n${r.stdout}\n${r.stderr.split('\n').slice(-4).join('\n')}\n--- HTTP ---\n${exchange(r.stderr)}`,
  );
  if (!args.includes('json')) return r.stdout;
  try {
    return JSON.parse(r.stdout);
  } catch {
    assert.fail(`${what} printed no JSON:\n${r.stdout}`);
  }
}
