/**
 * The real `openstack` CLI (python3-openstackclient and its plugins) for the compatibility tests:
 * found on PATH, run with `--debug` so a failure message carries the HTTP exchange, against a
 * clouds.yaml written for a `neutrino server` child process, in an environment with none of the
 * caller's OS_* (or Python path) variables.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { accessSync, constants, writeFileSync } from 'node:fs';
import { delimiter, join } from 'node:path';
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
  return new Promise((resolve) => {
    execFile(
      OPENSTACK!,
      ['--debug', ...args],
      { env, timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 },
      (err, stdout, stderr) => {
        resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr });
      },
    );
  });
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
