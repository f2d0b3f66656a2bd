/**
 * A real `neutrino server` child process for client-compatibility tests: a free port (the
 * server listens on port 0 and prints its URL), a temporary state dir, an empty config file
 * (so /etc/neutrino and NEUTRINO_* variables of the caller never leak in), the admin password
 * from NEUTRINO_ADMIN_PASSWORD. `stop()` signals the child by its PID and waits for it.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const BIN = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'bin', 'neutrino.js');

export interface ServerProcess {
  /** Base URL, e.g. `http://127.0.0.1:41234`. */
  url: string;
  pid: number;
  stateDir: string;
  adminPassword: string;
  /** Everything the child wrote so far (for failure messages). */
  output(): string;
  /** SIGTERM (SIGKILL after 5 s), then removes the state dir; resolves to how the child ended. */
  stop(): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export interface ServerProcessOptions {
  /** Database URL; default: SQLite in the state dir. */
  db?: string;
  adminPassword?: string;
  /** Extra command-line flags for `neutrino server`. */
  args?: string[];
  startTimeoutMs?: number;
}

const running = (child: ChildProcess) => child.exitCode === null && child.signalCode === null;

function exited(child: ChildProcess): Promise<void> {
  if (!running(child)) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

async function waitHealthy(url: string, child: ChildProcess, deadline: number): Promise<void> {
  for (;;) {
    if (!running(child)) throw new Error('neutrino server exited during start');
    try {
      const res = await fetch(`${url}/healthz`);
      if (res.status === 200) return;
    } catch {
      // not accepting connections yet
    }
    if (Date.now() > deadline) throw new Error('neutrino server did not become healthy in time');
    await new Promise((r) => setTimeout(r, 50));
  }
}

export async function startServerProcess(opts: ServerProcessOptions = {}): Promise<ServerProcess> {
  const stateDir = mkdtempSync(join(tmpdir(), 'neutrino-proc-'));
  const configFile = join(stateDir, 'neutrino.yaml');
  writeFileSync(configFile, '{}\n');
  const adminPassword = opts.adminPassword ?? `pw-${Math.random().toString(36).slice(2)}`;
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env))
    if (!k.startsWith('NEUTRINO_') && !k.startsWith('OS_')) env[k] = v;
  env.NEUTRINO_ADMIN_PASSWORD = adminPassword;

  const args = [
    BIN,
    'server',
    '--config',
    configFile,
    '--host',
    '127.0.0.1',
    '--port',
    '0',
    '--state-dir',
    stateDir,
  ];
  args.push('--log-level', 'warn');
  if (opts.db) args.push('--db', opts.db);
  args.push(...(opts.args ?? []));
  const child = spawn(process.execPath, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (output += d));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (output += d));

  const stop = async () => {
    if (child.pid !== undefined && running(child)) {
      const done = exited(child);
      process.kill(child.pid, 'SIGTERM');
      const timer = setTimeout(() => {
        if (running(child)) process.kill(child.pid!, 'SIGKILL');
      }, 5000);
      await done;
      clearTimeout(timer);
    }
    rmSync(stateDir, { recursive: true, force: true });
    return { code: child.exitCode, signal: child.signalCode };
  };

  const deadline = Date.now() + (opts.startTimeoutMs ?? 30_000);
  try {
    const url = await new Promise<string>((resolve, reject) => {
      const onData = () => {
        const m = /listening on (http:\/\/\S+)/.exec(output);
        if (m) {
          child.stderr!.off('data', onData);
          resolve(m[1]);
        }
      };
      // The banner is on stderr (stdout carries only log lines).
      child.stderr!.on('data', onData);
      child.once('exit', (code, signal) => reject(new Error(`neutrino server exited (${code ?? signal})`)));
      setTimeout(
        () => reject(new Error('neutrino server did not print its URL in time')),
        deadline - Date.now(),
      ).unref();
    });
    await waitHealthy(url, child, deadline);
    return { url, pid: child.pid!, stateDir, adminPassword, output: () => output, stop };
  } catch (err) {
    await stop();
    throw new Error(`${(err as Error).message}\n--- server output ---\n${output}`);
  }
}
