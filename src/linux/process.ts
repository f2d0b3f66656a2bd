/**
 * Long-running helper processes (dnsmasq and the like): start one and wait until it is really up,
 * start many at once (DHCP clients), read pid files, check liveness, send signals, stop them. Only
 * ever acts on pids Neutrino started. Pid files and `/proc` entries are read synchronously: they are
 * a few bytes each, read by the thousand per observation, and a read through the thread pool
 * cost ten times the CPU of the read itself.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { rename, writeFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { assertNamespaceName, type NetnsOption, runMaybeInNamespace } from './exec.js';

export interface StartDaemonOptions extends NetnsOption {
  /**
   * For commands that daemonise themselves and write a pid file (dnsmasq): the command is run to
   * completion, then this file is awaited until it names a live process. Without it the command is
   * started detached and its own pid is returned.
   */
  pidFile?: string;
  /** How long to wait for the pid file. Default 5 s. */
  timeoutMs?: number;
  /** Extra environment variables for the command (and so for the daemon). */
  env?: Record<string, string>;
}

const POLL_MS = 10;

/** Starts `cmd args...` (in `netns` if given) and resolves with the pid of the running daemon. */
export async function startDaemon(
  cmd: string,
  args: readonly string[],
  options: StartDaemonOptions = {},
): Promise<number> {
  const { netns, pidFile, timeoutMs = 5_000, env } = options;
  if (pidFile === undefined)
    return spawnDetached(
      netns === undefined ? [cmd, ...args] : ['ip', 'netns', 'exec', netns, cmd, ...args],
      env,
    );
  // A daemonising command's foreground part exits once the daemon is set up (dnsmasq reports its
  // startup errors, e.g. a busy port, through this exit code). The daemon must close its stdout and
  // stderr, as dnsmasq does, or this waits for it to exit.
  await runMaybeInNamespace(netns, cmd, args, { timeoutMs, env });
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const pid = await readPidFile(pidFile);
    if (pid !== undefined && (await isAlive(pid))) return pid;
    if (Date.now() > deadline) throw new Error(`${cmd}: no live pid in ${pidFile} after ${timeoutMs} ms`);
    await sleep(POLL_MS);
  }
}

function spawnDetached(argv: string[], env: Record<string, string> = {}): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0], argv.slice(1), {
      detached: true,
      stdio: 'ignore',
      env: { ...process.env, ...env, LC_ALL: 'C' },
    });
    child.once('error', reject);
    child.once('spawn', () => {
      child.unref();
      resolve(child.pid!);
    });
  });
}

export interface DaemonCommand extends NetnsOption {
  argv: readonly string[];
  /** Extra environment variables for the command. */
  env?: Record<string, string>;
  /** The pid file the command writes once it runs (any older one must be gone). */
  pidFile: string;
}

/**
 * The shell that starts many commands at once (see `startDaemons`). It reads records from stdin —
 * a namespace (empty for the root one), how many of the lines that follow are `NAME=value`
 * variables, how many lines follow in all, then those lines (the variables, then the command's
 * arguments) — and starts each command in the background without stdio, in a subshell that exports
 * its variables, printing the subshell's pid: the subshell `exec`s the command (through `nsenter
 * --net`, which `exec`s it in turn), so that pid is the command's. `nsenter --net` enters only the
 * network namespace: `ip netns exec` would also give every long-lived command a mount namespace of
 * its own, at half as much again in CPU. The script is a constant: data only ever arrives as lines
 * on stdin, never as shell text.
 */
const LAUNCHER_NAME = 'neutrino-launcher';
const LAUNCHER = `while IFS= read -r netns && IFS= read -r vars && IFS= read -r count; do
  set --
  while [ "$count" -gt 0 ]; do IFS= read -r line; set -- "$@" "$line"; count=$((count - 1)); done
  (
    while [ "$vars" -gt 0 ]; do export "$1"; shift; vars=$((vars - 1)); done
    if [ -n "$netns" ]; then exec nsenter "--net=/var/run/netns/$netns" -- "$@"; fi
    exec "$@"
  ) </dev/null >/dev/null 2>&1 &
  echo "$!"
done
`;

/**
 * Whether a command line is the launcher's (a subshell of it has this command line for the moment
 * between its fork and its `exec`): the pid `startDaemons` recorded is then still on its way to
 * becoming the command.
 */
export function isLauncher(argv: readonly string[]): boolean {
  return argv[0] === 'sh' && argv[1] === '-c' && argv[3] === LAUNCHER_NAME;
}

async function writePidFile(path: string, pid: number): Promise<void> {
  const tmp = `${path}.${process.pid}.tmp`;
  await writeFile(tmp, `${pid}\n`, { mode: 0o644 });
  await rename(tmp, path);
}

/**
 * Starts long-running commands that write their own pid files (DHCP clients), all through one
 * shell in a session of its own (so a Ctrl-C to Neutrino never reaches them): a spawn from Node
 * blocks its thread for a fork of the whole process, ~3 ms each, which hundreds of clients would
 * spend; the shell forks cheaply. Resolves, in order, with each command's pid as soon as the shell
 * has started it, having written it to the command's pid file (the command writes the same pid
 * there itself once it runs): an observer finds it at once (see `isLauncher` for the moment before
 * the command runs) and never starts it twice, and nobody waits for hundreds of `exec`s on a busy
 * machine. A command that then fails is found dead by the next observation.
 */
export async function startDaemons(commands: readonly DaemonCommand[]): Promise<number[]> {
  const lines: string[] = [];
  for (const { netns, argv, env = {} } of commands) {
    if (netns !== undefined) assertNamespaceName(netns);
    for (const key of Object.keys(env))
      if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(key))
        throw new Error(`invalid variable name ${JSON.stringify(key)}`);
    const record = [...Object.entries(env).map(([key, value]) => `${key}=${value}`), ...argv];
    for (const line of record)
      if (/[\n\r\0]/.test(line)) throw new Error(`argument with a line break: ${JSON.stringify(line)}`);
    lines.push(netns ?? '', String(Object.keys(env).length), String(record.length), ...record);
  }
  if (lines.length === 0) return [];
  const stdout = await new Promise<string>((resolve, reject) => {
    const child = spawn('sh', ['-c', LAUNCHER, LAUNCHER_NAME], {
      detached: true,
      stdio: ['pipe', 'pipe', 'pipe'],
      env: { ...process.env, LC_ALL: 'C' },
    });
    let out = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      out += chunk;
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk;
    });
    child.once('error', reject);
    child.once('close', (code) =>
      code === 0
        ? resolve(out)
        : reject(new Error(`starting ${commands.length} commands: ${stderr.trim() || `exit code ${code}`}`)),
    );
    child.stdin.on('error', () => {});
    child.stdin.end(`${lines.join('\n')}\n`);
  });
  const pids = stdout
    .split('\n')
    .filter((line) => line !== '')
    .map(Number);
  if (pids.length !== commands.length || pids.some((pid) => !Number.isInteger(pid) || pid <= 1))
    throw new Error(`starting ${commands.length} commands: the launcher reported ${JSON.stringify(stdout)}`);
  await Promise.all(commands.map(({ pidFile }, i) => writePidFile(pidFile, pids[i])));
  return pids;
}

/** The pid in `path`, or undefined when the file is missing, empty or holds no number. */
export async function readPidFile(path: string): Promise<number | undefined> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  const match = /^\s*(\d+)\s*$/.exec(text);
  const pid = match ? Number(match[1]) : 0;
  return pid > 0 ? pid : undefined;
}

/**
 * Whether `pid` is a running process. A zombie counts as dead: a daemon that forked itself away
 * is re-parented to init and stays a zombie until init reaps it (seen here for a while after a
 * dnsmasq crash), so `kill(pid, 0)` alone would call it alive.
 */
export async function isAlive(pid: number): Promise<boolean> {
  return isRunning(pid);
}

function isRunning(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Format: "pid (comm) state ..."; comm may itself contain spaces and parentheses.
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

/**
 * The command line of `pid` as an argument array, or undefined when it is gone; lets a caller check
 * that a pid read from a pid file is still the process it started before signalling it.
 */
export async function readCmdline(pid: number): Promise<string[] | undefined> {
  try {
    const args = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    if (args.at(-1) === '') args.pop();
    return args;
  } catch {
    return undefined;
  }
}

/**
 * The value of the environment variable `name` of `pid` (which a daemon told its configuration by,
 * as charon by `STRONGSWAN_CONF`), or undefined when it has none or is gone.
 */
export function readEnvironmentVariable(pid: number, name: string): string | undefined {
  try {
    const prefix = `${name}=`;
    const entry = readFileSync(`/proc/${pid}/environ`, 'utf8')
      .split('\0')
      .find((e) => e.startsWith(prefix));
    return entry?.slice(prefix.length);
  } catch {
    return undefined;
  }
}

/**
 * Sends `sig` to `pid`; false when no such process runs (a zombie, which a signal cannot reach,
 * counts as gone: the parent that has yet to reap it may be Node itself).
 */
export function signal(pid: number, sig: NodeJS.Signals): boolean {
  if (!Number.isInteger(pid) || pid <= 1) throw new Error(`refusing to signal pid ${pid}`);
  if (!isRunning(pid)) return false;
  try {
    process.kill(pid, sig);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ESRCH') return false;
    throw err;
  }
}

/** Sends SIGTERM, waits up to `timeoutMs` (default 2 s) for `pid` to exit, then SIGKILL and waits as long again. */
export async function stopProcess(pid: number, timeoutMs = 2_000): Promise<void> {
  if (!signal(pid, 'SIGTERM')) return;
  let deadline = Date.now() + timeoutMs;
  let killed = false;
  while (await isAlive(pid)) {
    if (Date.now() > deadline) {
      // SIGKILL cannot be ignored, but a loaded machine takes a moment to deliver it: wait for
      // that too, so a caller never finds the process still there (bounded: a process stuck in
      // the kernel is left to its fate).
      if (killed) return;
      signal(pid, 'SIGKILL');
      killed = true;
      deadline = Date.now() + timeoutMs;
    }
    await sleep(POLL_MS);
  }
}
