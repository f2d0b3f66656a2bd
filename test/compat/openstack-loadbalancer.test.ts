/**
 * The real `openstack loadbalancer …` commands (python3-octaviaclient's plugin of the openstack
 * CLI) against a real `neutrino server` child process, through clouds.yaml and the catalog's
 * `load-balancer` endpoint: create with `--wait` (which polls provisioning_status), listeners,
 * pools with session persistence, members, health monitors, L7 policies and rules, list, show,
 * status and stats, Octavia's refusals as the CLI prints them, and `delete --cascade`. Every
 * command runs with `--debug` so that a failure message carries the HTTP exchange.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  openstack,
  openstackEnv,
  skipWithoutOpenstack,
  stopOpenstack,
  succeed,
} from '../helpers/openstack.js';
import { type ServerProcess, startServerProcess } from '../helpers/process.js';

const skip = skipWithoutOpenstack;

describe('openstack loadbalancer (python3-octaviaclient) against neutrino server', { skip }, () => {
  let server: ServerProcess;
  let dir: string;
  let env: NodeJS.ProcessEnv;
  let subnet: { id: string };
  let other: { id: string };

  const run = (args: string[]) => openstack(env, args);
  const ok = (args: string[]) => succeed(env, args);

  before(async () => {
    server = await startServerProcess();
    dir = mkdtempSync(join(tmpdir(), 'neutrino-osc-lb-'));
    env = openstackEnv(dir, server);
    await ok(['network', 'create', '-f', 'json', 'lb-net']);
    subnet = await ok([
      'subnet',
      'create',
      '-f',
      'json',
      '--network',
      'lb-net',
      '--subnet-range',
      '10.61.0.0/24',
      'lb-sub',
    ]);
    await ok(['network', 'create', '-f', 'json', 'far-net']);
    other = await ok([
      'subnet',
      'create',
      '-f',
      'json',
      '--network',
      'far-net',
      '--subnet-range',
      '10.62.0.0/24',
      'far-sub',
    ]);
  });

  after(async () => {
    if (env) await stopOpenstack(env);
    await server?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('creates a load balancer, listener, pool, member and health monitor, waiting for each', async () => {
    const lb = await ok([
      'loadbalancer',
      'create',
      '-f',
      'json',
      '--name',
      'lb1',
      '--vip-subnet-id',
      subnet.id,
      '--wait',
    ]);
    assert.equal(lb.name, 'lb1');
    assert.equal(lb.vip_subnet_id, subnet.id);
    assert.match(lb.vip_address, /^10\.61\.0\.\d+$/);
    const shown = await ok(['loadbalancer', 'show', '-f', 'json', 'lb1']);
    assert.equal(shown.provisioning_status, 'ACTIVE');
    const port = await ok(['port', 'show', '-f', 'json', shown.vip_port_id]);
    assert.equal(port.device_owner, 'Octavia');

    const listener = await ok([
      ...['loadbalancer', 'listener', 'create', '-f', 'json', '--name', 'l1', '--protocol', 'HTTP'],
      ...[
        '--protocol-port',
        '80',
        '--connection-limit',
        '500',
        '--timeout-client-data',
        '30000',
        '--wait',
        'lb1',
      ],
    ]);
    assert.equal(listener.protocol_port, 80);
    assert.equal(listener.connection_limit, 500);
    assert.equal(listener.timeout_client_data, 30000);
    const dup = await run([
      'loadbalancer',
      'listener',
      'create',
      '--protocol',
      'TCP',
      '--protocol-port',
      '80',
      'lb1',
    ]);
    assert.notEqual(dup.code, 0);
    assert.match(dup.stderr, /already using protocol HTTP and protocol_port 80 \(HTTP 409\)/);

    const pool = await ok([
      ...[
        'loadbalancer',
        'pool',
        'create',
        '-f',
        'json',
        '--name',
        'p1',
        '--listener',
        'l1',
        '--protocol',
        'HTTP',
      ],
      ...['--lb-algorithm', 'ROUND_ROBIN', '--session-persistence', 'type=SOURCE_IP', '--wait'],
    ]);
    assert.equal(pool.lb_algorithm, 'ROUND_ROBIN');
    assert.match(JSON.stringify(pool.session_persistence), /SOURCE_IP/);

    const member = await ok([
      ...['loadbalancer', 'member', 'create', '-f', 'json', '--name', 'm1', '--address', '10.61.0.50'],
      ...['--protocol-port', '8080', '--weight', '3', '--subnet-id', subnet.id, '--wait', 'p1'],
    ]);
    assert.equal(member.address, '10.61.0.50');
    assert.equal(member.weight, 3);
    const far = await run([
      'loadbalancer',
      'member',
      'create',
      '--address',
      '10.62.0.50',
      '--protocol-port',
      '80',
      '--subnet-id',
      other.id,
      'p1',
    ]);
    assert.notEqual(far.code, 0);
    assert.match(far.stderr, /not reachable from load balancer .*\(HTTP 400\)/);

    const hm = await ok([
      ...[
        'loadbalancer',
        'healthmonitor',
        'create',
        '-f',
        'json',
        '--name',
        'hm1',
        '--type',
        'HTTP',
        '--delay',
        '5',
      ],
      ...[
        '--timeout',
        '3',
        '--max-retries',
        '2',
        '--url-path',
        '/health',
        '--expected-codes',
        '200-204',
        '--wait',
        'p1',
      ],
    ]);
    assert.equal(hm.url_path, '/health');
    assert.equal(hm.expected_codes, '200-204');
  });

  it('adds an L7 policy with a rule', async () => {
    await ok([
      'loadbalancer',
      'pool',
      'create',
      '-f',
      'json',
      '--name',
      'static',
      '--loadbalancer',
      'lb1',
      '--protocol',
      'HTTP',
      '--lb-algorithm',
      'LEAST_CONNECTIONS',
      '--wait',
    ]);
    const policy = await ok([
      ...[
        'loadbalancer',
        'l7policy',
        'create',
        '-f',
        'json',
        '--name',
        'to-static',
        '--action',
        'REDIRECT_TO_POOL',
      ],
      ...['--redirect-pool', 'static', '--wait', 'l1'],
    ]);
    assert.equal(policy.action, 'REDIRECT_TO_POOL');
    const rule = await ok([
      ...[
        'loadbalancer',
        'l7rule',
        'create',
        '-f',
        'json',
        '--type',
        'PATH',
        '--compare-type',
        'STARTS_WITH',
      ],
      // No --wait: octaviaclient 3.1 polls the rule with its ids swapped (a 404 on Octavia too).
      ...['--value', '/static', 'to-static'],
    ]);
    assert.equal(rule.value, '/static');
    const rules = await ok(['loadbalancer', 'l7rule', 'list', '-f', 'json', 'to-static']);
    assert.equal(rules.length, 1);
  });

  it('lists and shows, with the status tree and stats', async () => {
    const list = await ok(['loadbalancer', 'list', '-f', 'json']);
    assert.deepEqual(
      list.map((l: { name: string }) => l.name),
      ['lb1'],
    );
    assert.equal((await ok(['loadbalancer', 'listener', 'list', '-f', 'json'])).length, 1);
    assert.equal((await ok(['loadbalancer', 'pool', 'list', '-f', 'json'])).length, 2);
    assert.equal((await ok(['loadbalancer', 'member', 'list', '-f', 'json', 'p1'])).length, 1);
    assert.equal((await ok(['loadbalancer', 'healthmonitor', 'list', '-f', 'json'])).length, 1);
    const status = JSON.parse(await ok(['loadbalancer', 'status', 'show', 'lb1']));
    assert.equal(status.loadbalancer.name, 'lb1');
    assert.equal(status.loadbalancer.listeners[0].name, 'l1');
    const names = status.loadbalancer.listeners[0].pools.map((p: { name: string }) => p.name).sort();
    assert.deepEqual(names, ['p1', 'static']);
    const stats = await ok(['loadbalancer', 'stats', 'show', '-f', 'json', 'lb1']);
    assert.equal(stats.total_connections, 0);
  });

  it('refuses a plain delete of a load balancer with children, and deletes it with --cascade', async () => {
    const plain = await run(['loadbalancer', 'delete', 'lb1']);
    assert.notEqual(plain.code, 0);
    assert.match(plain.stderr, /it has children/);
    await ok(['loadbalancer', 'delete', '--cascade', '--wait', 'lb1']);
    assert.deepEqual(await ok(['loadbalancer', 'list', '-f', 'json']), []);
    assert.deepEqual(await ok(['loadbalancer', 'pool', 'list', '-f', 'json']), []);
    const ports = await ok(['port', 'list', '-f', 'json', '--device-owner', 'Octavia']);
    assert.deepEqual(ports, []);
  });

  it('sets, shows and resets a project’s load balancer quotas, and a create over quota is refused', async () => {
    await ok(['loadbalancer', 'quota', 'set', '--loadbalancer', '0', 'admin']);
    const shown = await ok(['loadbalancer', 'quota', 'show', '-f', 'json', 'admin']);
    assert.equal(shown.load_balancer ?? shown.loadbalancer, 0);
    const over = await run(['loadbalancer', 'create', '--name', 'over', '--vip-subnet-id', subnet.id]);
    assert.notEqual(over.code, 0);
    assert.match(over.stderr, /Quota has been met for resources: Load Balancer/);
    await ok(['loadbalancer', 'quota', 'reset', 'admin']);
    const reset = await ok(['loadbalancer', 'quota', 'show', '-f', 'json', 'admin']);
    assert.equal(reset.load_balancer ?? reset.loadbalancer, -1);
  });
});
