/**
 * Runs one external command from an argument array (never a shell string) and collects its output;
 * every process Neutrino starts goes through `run`, or `execInNamespace` when the command gets the
 * caller's terminal instead (`neutrino exec`).
 */
import { spawn } from 'node:child_process';
import { constants } from 'node:os';

export interface RunOptions {
  /** Written to the command's stdin, which is then closed. */
  input?: string;
  /** Kill the command (SIGKILL) and reject after this long. Default 30 s. */
  timeoutMs?: number;
  /** Resolve with the exit code instead of rejecting when the command exits non-zero. */
  allowFail?: boolean;
  /** Extra environment variables for the command. */
  env?: Record<string, string>;
}

export interface RunResult {
  stdout: string;
  stderr: string;
  /** Exit code; null when the command was ended by a signal. */
  code: number | null;
}

/** A command that exited non-zero, was killed, timed out or could not be started. */
export class CommandError extends Error {
  readonly cmd: string;
  readonly args: readonly string[];
  readonly code: number | null;
  readonly stderr: string;
  readonly stdout: string;

  constructor(
    cmd: string,
    args: readonly string[],
    code: number | null,
    stderr: string,
    stdout = '',
    why = '',
  ) {
    const detail = why || stderr.trim() || `exit code ${code}`;
    super(`${cmd} ${args.join(' ')}: ${detail}`);
    this.name = 'CommandError';
    this.cmd = cmd;
    this.args = args;
    this.code = code;
    this.stderr = stderr;
    this.stdout = stdout;
  }
}

const DEFAULT_TIMEOUT_MS = 30_000;

/**
 * Runs `cmd args...` with a C locale (so error messages are stable enough to match) and resolves
 * with its output. A timeout or a failure to start always rejects, even with `allowFail`.
 */
export function run(cmd: string, args: readonly string[], options: RunOptions = {}): Promise<RunResult> {
  const { input, timeoutMs = DEFAULT_TIMEOUT_MS, allowFail = false, env } = options;
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, {
      env: { ...process.env, ...env, LC_ALL: 'C' },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk;
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk;
    });
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(new CommandError(cmd, args, null, stderr, stdout, err.message));
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      if (timedOut)
        reject(new CommandError(cmd, args, code, stderr, stdout, `timed out after ${timeoutMs} ms`));
      else if (code !== 0 && !allowFail) reject(new CommandError(cmd, args, code, stderr, stdout));
      else resolve({ stdout, stderr, code });
    });
    // The command may exit without reading its input; its failure is reported by 'close'.
    child.stdin.on('error', () => {});
    child.stdin.end(input);
  });
}

/** Namespace names Neutrino uses: no slashes, no dot-dot, nothing `ip netns` would refuse. */
export function assertNamespaceName(ns: string): void {
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,254}$/.test(ns))
    throw new Error(`invalid namespace name ${JSON.stringify(ns)}`);
}

/** Runs `cmd args...` inside network namespace `ns` (`ip netns exec NS cmd ...`). */
export function runInNamespace(
  ns: string,
  cmd: string,
  args: readonly string[],
  options: RunOptions = {},
): Promise<RunResult> {
  assertNamespaceName(ns);
  return run('ip', ['netns', 'exec', ns, cmd, ...args], options);
}

export interface NetnsOption {
  /** Act inside this network namespace; the root namespace when absent. */
  netns?: string;
}

/** Runs `cmd` in `netns` when one is given, else in the current (root) namespace. */
export function runMaybeInNamespace(
  netns: string | undefined,
  cmd: string,
  args: readonly string[],
  options: RunOptions = {},
): Promise<RunResult> {
  return netns === undefined ? run(cmd, args, options) : runInNamespace(netns, cmd, args, options);
}

/**
 * Runs `cmd args...` inside network namespace `ns` with the caller's stdin, stdout and stderr
 * (`neutrino exec`), and resolves with its exit code; a command ended by a signal gives 128 + the
 * signal's number, as a shell reports it.
 */
export function execInNamespace(ns: string, cmd: string, args: readonly string[]): Promise<number> {
  assertNamespaceName(ns);
  return new Promise((resolve, reject) => {
    const child = spawn('ip', ['netns', 'exec', ns, cmd, ...args], { stdio: 'inherit' });
    child.once('error', (err) =>
      reject(new CommandError('ip', ['netns', 'exec', ns, cmd, ...args], null, '', '', err.message)),
    );
    child.once('close', (code, signal) =>
      resolve(code ?? 128 + (signal ? (constants.signals[signal] ?? 0) : 0)),
    );
  });
}
