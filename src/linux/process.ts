/**
 * Long-running helper processes (dnsmasq and the like): start one and wait until it is really up,
 * read pid files, check liveness, send signals, stop it. Only ever acts on pids Neutrino started.
 */
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { type NetnsOption, runMaybeInNamespace } from './exec.js';

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

/** The pid in `path`, or undefined when the file is missing, empty or holds no number. */
export async function readPidFile(path: string): Promise<number | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
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
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
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
    const args = (await readFile(`/proc/${pid}/cmdline`, 'utf8')).split('\0');
    if (args.at(-1) === '') args.pop();
    return args;
  } catch {
    return undefined;
  }
}

/** Sends `sig` to `pid`; false when no such process exists. */
export function signal(pid: number, sig: NodeJS.Signals): boolean {
  if (!Number.isInteger(pid) || pid <= 1) throw new Error(`refusing to signal pid ${pid}`);
  try {
    process.kill(pid, sig);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ESRCH') return false;
    throw err;
  }
}

/** Sends SIGTERM, waits up to `timeoutMs` (default 2 s) for `pid` to exit, then SIGKILL. */
export async function stopProcess(pid: number, timeoutMs = 2_000): Promise<void> {
  if (!signal(pid, 'SIGTERM')) return;
  const deadline = Date.now() + timeoutMs;
  while (await isAlive(pid)) {
    if (Date.now() > deadline) {
      signal(pid, 'SIGKILL');
      return;
    }
    await sleep(POLL_MS);
  }
}
