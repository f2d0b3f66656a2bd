/**
 * The configuration file of up, server and agent: checked against its schema with every problem
 * located (`file:line:col`), snake_case keys (a camelCase one is told its spelling), the layers
 * (file < NEUTRINO_* < flags), and the published docs/config.schema.json.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { loadConfig, publishedConfigSchemaText, readConfigFile } from '../../src/config.js';

const dir = mkdtempSync(join(tmpdir(), 'neutrino-config-'));
let n = 0;
function file(text: string): string {
  const path = join(dir, `c${n++}.yaml`);
  writeFileSync(path, text);
  return path;
}

/** The problem lines of a file that must be refused. */
function problems(path: string): string[] {
  try {
    readConfigFile(path);
  } catch (err) {
    const lines = (err as Error).message.split('\n');
    return lines.length === 1 ? lines : lines.slice(1);
  }
  assert.fail(`${path} was accepted`);
}

describe('configuration file', () => {
  it('accepts a good file, every key snake_case', () => {
    const path = file(
      [
        'host: 0.0.0.0',
        'port: 9696',
        'state_dir: /srv/neutrino',
        'db: postgres://neutrino:secret@db/neutrino',
        'log_level: debug',
        'physical_interface_mappings: { public: br-ex }',
        'external_cidr: 198.51.100.0/24',
        'roles: [compute]',
        'settings:',
        '  tenant_network_type: vxlan',
        '  vni_range: [1001, 4000]',
        '  quotas: { network: 20 }',
        '',
      ].join('\n'),
    );
    assert.doesNotThrow(() => readConfigFile(path));
    const config = loadConfig({ config: path }, {});
    assert.equal(config.stateDir, '/srv/neutrino');
    assert.equal(config.port, 9696);
    assert.deepEqual(config.roles, ['compute']);
    assert.deepEqual(config.physicalInterfaceMappings, { public: 'br-ex' });
    assert.equal(config.settings.tenantNetworkType, 'vxlan');
    assert.deepEqual(config.settings.vniRange, [1001, 4000]);
    assert.equal(config.settings.quotas.network, 20);
    assert.equal(config.settings.quotas.port, 500, "other quotas keep Neutron's defaults");
    assert.deepEqual(config.settings.physicalNetworks, ['public']);
  });

  it('refuses an unknown key at the key, telling a camelCase key its spelling', () => {
    assert.deepEqual(problems(file('port: 9696\nstat_dir: /x\n')), [
      `${dir}/c${n - 1}.yaml:2:1: stat_dir: unknown key`,
    ]);
    assert.deepEqual(problems(file('host: ::1\nsettings:\n  vniRange: [1, 2]\nlogLevel: info\n')), [
      `${dir}/c${n - 1}.yaml:3:3: settings.vniRange: unknown key; it is spelled vni_range`,
      `${dir}/c${n - 1}.yaml:4:1: logLevel: unknown key; it is spelled log_level`,
    ]);
  });

  it('refuses a wrong type at the value', () => {
    const path = file('port: "http"\nsettings:\n  physical_mtu: 20\nroles: [storage]\n');
    const lines = problems(path);
    assert.equal(lines.length, 3, lines.join('\n'));
    assert.match(lines[0], new RegExp(`^${path}:1:7: port: must be integer$`));
    assert.match(lines[1], new RegExp(`^${path}:3:17: settings.physical_mtu: must be >= 68$`));
    assert.match(lines[2], new RegExp(`^${path}:4:9: roles.0: `));
  });

  it('reports YAML syntax errors with their place', () => {
    assert.match(problems(file('port: [1\n'))[0], /c\d+\.yaml:\d+:\d+: /);
  });

  it('layers: file < NEUTRINO_* < flags, each checked and named', () => {
    const path = file('port: 1000\nlog_level: warn\nexternal_network: false\n');
    const config = loadConfig(
      { config: path, port: '3000' },
      { NEUTRINO_PORT: '2000', NEUTRINO_LOG_LEVEL: 'error' },
    );
    assert.equal(config.port, 3000);
    assert.equal(config.logLevel, 'error');
    assert.equal(config.externalNetwork, false);
    assert.equal(loadConfig({ config: path }, { NEUTRINO_PORT: '2000' }).port, 2000);
    assert.deepEqual(loadConfig({ config: path, roles: 'network, compute' }, {}).roles, [
      'network',
      'compute',
    ]);
    assert.throws(() => loadConfig({ config: path, port: 'x' }, {}), /^Error: --port "x": must be integer$/);
    assert.throws(
      () => loadConfig({ config: path }, { NEUTRINO_PORT: '70000' }),
      /NEUTRINO_PORT "70000": must be <= 65535/,
    );
    assert.equal(loadConfig({ config: path, noauth: true }, {}).auth, 'noauth');
    assert.deepEqual(
      loadConfig({ config: path }, { NEUTRINO_PHYSICAL_INTERFACE_MAPPINGS: 'physnet1:eth1,public:br-ex' })
        .physicalInterfaceMappings,
      { physnet1: 'eth1', public: 'br-ex' },
    );
  });

  it('defaults without a file', () => {
    const config = loadConfig({ config: file('') }, {});
    assert.equal(config.host, '127.0.0.1');
    assert.equal(config.port, 9696);
    assert.equal(config.stateDir, '/var/lib/neutrino');
    assert.equal(config.resyncInterval, 60);
    assert.equal(config.externalNetwork, true);
  });

  it('is published as docs/config.schema.json (regenerate: neutrino config schema > docs/config.schema.json)', () => {
    const published = readFileSync(
      join(import.meta.dirname, '..', '..', 'docs', 'config.schema.json'),
      'utf8',
    );
    assert.equal(published, publishedConfigSchemaText());
  });
});
