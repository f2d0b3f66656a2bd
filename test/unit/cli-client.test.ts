/**
 * The CLI's API client without a server: where credentials come from (clouds.yaml search order,
 * `OS_*` variables, the `up` state dir's clouds.yaml), one-line error messages, the openstack-style
 * table, and the check that a pid file names a `neutrino up`/`agent` of the right state dir.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { stringify } from 'yaml';
import { isNeutrinoDataplane } from '../../src/cli/dataplane.js';
import { renderTable } from '../../src/cli/output.js';
import {
  ConfigError,
  cloudsYamlPaths,
  credentialsFromEnvironment,
  errorMessage,
  sessionFromEnvironment,
} from '../../src/client/session.js';

const dir = mkdtempSync(join(tmpdir(), 'neutrino-client-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function cloudsFile(path: string, clouds: Record<string, unknown>): void {
  mkdirSync(join(path, '..'), { recursive: true });
  writeFileSync(path, stringify({ clouds }));
}

const cloud = (password: string) => ({
  auth: {
    auth_url: 'http://x/identity/v3',
    username: 'u',
    password,
    project_name: 'p',
    user_domain_name: 'Default',
    project_domain_name: 'Default',
  },
  region_name: 'RegionOne',
});

describe('credentials', () => {
  const home = join(dir, 'home');
  const cwd = join(dir, 'cwd');
  mkdirSync(cwd, { recursive: true });

  it('searches OS_CLIENT_CONFIG_FILE, ./clouds.yaml, ~/.config/openstack, /etc/openstack in order', () => {
    const explicit = join(dir, 'explicit.yaml');
    assert.deepEqual(cloudsYamlPaths({ OS_CLIENT_CONFIG_FILE: explicit, HOME: home }, cwd), [
      explicit,
      join(cwd, 'clouds.yaml'),
      join(home, '.config/openstack/clouds.yaml'),
      '/etc/openstack/clouds.yaml',
    ]);
    cloudsFile(join(home, '.config/openstack/clouds.yaml'), {
      c1: cloud('from-home'),
      c2: cloud('home-only'),
    });
    cloudsFile(join(cwd, 'clouds.yaml'), { c1: cloud('from-cwd') });
    const env = { OS_CLOUD: 'c1', HOME: home };
    assert.equal(credentialsFromEnvironment(env, cwd).password, 'from-cwd');
    cloudsFile(explicit, { c1: cloud('explicit') });
    assert.equal(
      credentialsFromEnvironment({ ...env, OS_CLIENT_CONFIG_FILE: explicit }, cwd).password,
      'explicit',
    );
    assert.equal(credentialsFromEnvironment({ OS_CLOUD: 'c2', HOME: home }, cwd).password, 'home-only');
    assert.throws(
      () => credentialsFromEnvironment({ OS_CLOUD: 'nope', HOME: home }, cwd),
      /cloud nope not found/,
    );
  });

  it('reads OS_* variables, with Default domains', () => {
    const c = credentialsFromEnvironment(
      { OS_AUTH_URL: 'http://k/v3', OS_USERNAME: 'u', OS_PASSWORD: 'p', OS_PROJECT_NAME: 'proj' },
      cwd,
    );
    assert.deepEqual(c, {
      authUrl: 'http://k/v3',
      username: 'u',
      password: 'p',
      projectName: 'proj',
      userDomainName: 'Default',
      projectDomainName: 'Default',
    });
    assert.throws(
      () => credentialsFromEnvironment({ OS_AUTH_URL: 'http://k/v3', HOME: home }, join(dir, 'empty')),
      (err: Error) =>
        err instanceof ConfigError && /OS_USERNAME, OS_PASSWORD, OS_PROJECT_NAME/.test(err.message),
    );
  });

  it("falls back to the clouds.yaml of neutrino up's state dir", () => {
    const stateDir = join(dir, 'state');
    cloudsFile(join(stateDir, 'clouds.yaml'), { neutrino: cloud('up') });
    assert.doesNotThrow(() => sessionFromEnvironment({ NEUTRINO_STATE_DIR: stateDir, HOME: home }));
    assert.throws(
      () => sessionFromEnvironment({ NEUTRINO_STATE_DIR: join(dir, 'none'), HOME: home }),
      ConfigError,
    );
  });
});

describe('errorMessage', () => {
  it('takes the NeutronError or Keystone message, on one line', () => {
    assert.deepEqual(
      errorMessage(
        404,
        JSON.stringify({
          NeutronError: { type: 'NetworkNotFound', message: 'Network x\ncould not be found.' },
        }),
      ),
      { type: 'NetworkNotFound', message: 'Network x could not be found.' },
    );
    assert.equal(
      errorMessage(401, JSON.stringify({ error: { code: 401, message: 'Bad creds', title: 'Unauthorized' } }))
        .message,
      'Bad creds',
    );
    assert.equal(
      errorMessage(502, '<html>\nbad gateway</html>').message,
      'HTTP 502: <html> bad gateway</html>',
    );
  });
});

describe('renderTable', () => {
  it('draws borders and multi-line cells like the openstack CLI', () => {
    assert.equal(
      renderTable(
        ['Field', 'Value'],
        [
          ['id', 'abc'],
          ['ports', 'p1\np2'],
        ],
      ),
      [
        '+-------+-------+',
        '| Field | Value |',
        '+-------+-------+',
        '| id    | abc   |',
        '| ports | p1    |',
        '|       | p2    |',
        '+-------+-------+',
        '',
      ].join('\n'),
    );
  });
});

describe('isNeutrinoDataplane', () => {
  const node = ['node', '--max-semi-space-size=2', '/opt/neutrino/bin/neutrino.js'];
  it('accepts up and agent of the same state dir', () => {
    assert.ok(isNeutrinoDataplane([...node, 'up', '--state-dir', '/tmp/s'], '/tmp/s'));
    assert.ok(isNeutrinoDataplane([...node, 'up', '--state-dir=/tmp/s/'], '/tmp/s'));
    assert.ok(isNeutrinoDataplane([...node, 'agent', '--server', 'http://x'], '/var/lib/neutrino'));
    assert.ok(
      isNeutrinoDataplane([...node, 'up', '--state-dir', 's'], '/tmp/s', '/tmp'),
      'relative to its cwd',
    );
  });
  it('refuses other processes and other state dirs', () => {
    assert.ok(!isNeutrinoDataplane([...node, 'up', '--state-dir', '/tmp/other'], '/tmp/s'));
    assert.ok(!isNeutrinoDataplane([...node, 'server'], '/tmp/s'));
    assert.ok(!isNeutrinoDataplane(['sleep', 'up'], '/tmp/s'));
  });
});
