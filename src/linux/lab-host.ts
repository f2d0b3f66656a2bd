/**
 * A simulated host of `neutrino lab`: a network namespace (its own links, routes, nftables) plus a
 * mount namespace of its own, kept by a bind mount on a file (`unshare --mount=FILE`), in which
 * `/run/netns` is a per-host directory and `/sys` shows the host's own links. Processes entered into
 * both (`nsenter --mount --net`) see only their host's named namespaces, exactly as on separate
 * machines: two hosts may each hold a `qrouter-<id>`. Everything here is spawned from argument
 * arrays, never through a shell.
 */
import { spawn } from 'node:child_process';
import {
  closeSync,
  openSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { constants } from 'node:os';
import { assertNamespaceName, CommandError, type RunOptions, type RunResult, run } from './exec.js';

/** Where one simulated host's namespaces are. */
export interface LabHostNamespaces {
  /** The host's network namespace, a name in the machine's /run/netns. */
  netns: string;
  /** The file its mount namespace is bound to. */
  mountFile: string;
  /** The directory that is `/run/netns` inside it. */
  netnsDir: string;
}

/** Whether `path` is a mount point in this process's mount namespace. */
export function isMountPoint(path: string): boolean {
  const mounts = readFileSync('/proc/self/mountinfo', 'utf8').split('\n');
  // Field 5 is the mount point, with spaces and the like octal-escaped.
  const escaped = path.replace(/[ \t\n\\]/g, (c) => `\\${c.charCodeAt(0).toString(8).padStart(3, '0')}`);
  return mounts.some((line) => line.split(' ')[4] === escaped);
}

/**
 * Makes `dir` a private mount of itself: a mount namespace can only be bound to a file on a mount
 * that does not propagate (else the namespace could end up inside itself).
 */
export async function makePrivateMount(dir: string): Promise<void> {
  if (!isMountPoint(dir)) await run('mount', ['--bind', dir, dir]);
  await run('mount', ['--make-private', dir]);
}

/** Unmounts `path` if it is mounted (a private directory, or a mount namespace's file). */
export async function unmount(path: string): Promise<void> {
  if (isMountPoint(path)) await run('umount', [path]);
}

function nsenterArgs(host: LabHostNamespaces, withNet = true): string[] {
  assertNamespaceName(host.netns);
  return [`--mount=${host.mountFile}`, ...(withNet ? [`--net=/run/netns/${host.netns}`] : []), '--'];
}

/**
 * Creates the host's mount namespace (its network namespace must exist): a private copy of this
 * one, with sysfs mounted from inside the host's network namespace and `netnsDir` over /run/netns.
 */
export async function createHostMountNamespace(host: LabHostNamespaces): Promise<void> {
  writeFileSync(host.mountFile, '', { flag: 'a' });
  await run('unshare', [`--mount=${host.mountFile}`, '--propagation', 'private', 'true']);
  await run('nsenter', [...nsenterArgs(host), 'mount', '-t', 'sysfs', 'sysfs', '/sys']);
  await run('nsenter', [...nsenterArgs(host, false), 'mount', '--bind', host.netnsDir, '/run/netns']);
}

/** Runs `cmd args...` on the simulated host (both its namespaces) and collects its output. */
export function runOnHost(
  host: LabHostNamespaces,
  cmd: string,
  args: readonly string[],
  options: RunOptions = {},
): Promise<RunResult> {
  return run('nsenter', [...nsenterArgs(host), cmd, ...args], options);
}

/**
 * nsenter's arguments to run `cmd args...` in network namespace `netns` of the simulated host (an
 * instance, say): for callers that spawn it themselves (a long-running ping).
 */
export function hostNamespaceArgv(
  host: LabHostNamespaces,
  netns: string,
  cmd: string,
  args: readonly string[],
): string[] {
  assertNamespaceName(netns);
  return [...nsenterArgs(host, false), 'ip', 'netns', 'exec', netns, cmd, ...args];
}

/** Runs `cmd args...` in network namespace `netns` of the simulated host (an instance, say). */
export function runInHostNamespace(
  host: LabHostNamespaces,
  netns: string,
  cmd: string,
  args: readonly string[],
  options: RunOptions = {},
): Promise<RunResult> {
  return run('nsenter', hostNamespaceArgv(host, netns, cmd, args), options);
}

/**
 * `runInHostNamespace` with the caller's stdin, stdout and stderr (`neutrino exec` on a lab host);
 * resolves with the exit code (128 + the signal's number when ended by a signal).
 */
export function execInHostNamespace(
  host: LabHostNamespaces,
  netns: string,
  cmd: string,
  args: readonly string[],
): Promise<number> {
  const argv = hostNamespaceArgv(host, netns, cmd, args);
  return new Promise((resolve, reject) => {
    const child = spawn('nsenter', argv, { stdio: 'inherit' });
    child.once('error', (err) => reject(new CommandError('nsenter', argv, null, '', '', err.message)));
    child.once('close', (code, signal) =>
      resolve(code ?? 128 + (signal ? (constants.signals[signal] ?? 0) : 0)),
    );
  });
}

/**
 * Starts `cmd args...` detached from this process (it outlives it), on the simulated host when
 * `host` is given, its output appended to `logFile`; resolves with its pid (nsenter execs the
 * command, so the pid is the command's).
 */
export function startDetached(
  cmd: string,
  args: readonly string[],
  options: { host?: LabHostNamespaces; logFile: string; env?: Record<string, string> },
): Promise<number> {
  const argv = options.host ? ['nsenter', ...nsenterArgs(options.host), cmd, ...args] : [cmd, ...args];
  const log = openSync(options.logFile, 'a', 0o600);
  try {
    const child = spawn(argv[0], argv.slice(1), {
      detached: true,
      stdio: ['ignore', log, log],
      env: { ...process.env, ...options.env },
    });
    return new Promise((resolve, reject) => {
      child.once('error', (err) =>
        reject(new CommandError(argv[0], argv.slice(1), null, '', '', err.message)),
      );
      child.once('spawn', () => {
        child.unref();
        resolve(child.pid!);
      });
    });
  } finally {
    closeSync(log);
  }
}

/**
 * The pids of every process in the mount namespace bound to `mountFile` (what is left on a host
 * whose agent was killed: its dnsmasq and DHCP clients), found by the namespace's inode.
 */
export function processesInMountNamespace(mountFile: string): number[] {
  const ns = `mnt:[${statSync(mountFile).ino}]`;
  return readdirSync('/proc')
    .filter((entry) => /^\d+$/.test(entry))
    .filter((pid) => {
      try {
        return readlinkSync(`/proc/${pid}/ns/mnt`) === ns;
      } catch {
        return false;
      }
    })
    .map(Number);
}
