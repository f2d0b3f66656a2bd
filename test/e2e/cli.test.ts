/**
 * The `neutrino` CLI end to end against a real `neutrino up` (root, real kernel), as a user runs
 * it: every resource noun's create/list/show/set/unset/delete by name and by id, `-f json|value`
 * and `-c`, one-line errors with exit code 1, shell completion; then every example topology:
 * `apply --plan` changes nothing, `apply` converges (instances ACTIVE), a second apply has no
 * changes, `destroy` removes exactly what the file owns (the instances' and routers' namespaces
 * too) and leaves objects the file does not own alone.
 *
 * The deployment has its own state dir, host name, VNI range and external network (`public` on a
 * bridge of its own with a random /28 of the upper half of 198.51.100.0/24; l3.test.ts takes the
 * lower half), so parallel runs never meet. Never 203.0.113.0/24: a root-namespace bridge holding
 * it cuts these machines off from their package registries.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { listNamespaces } from '../../src/linux/ip.js';
import { NeutrinoUp } from '../helpers/neutrino-up.js';
import { until as waitUntil } from '../helpers/until.js';

const isRoot = process.getuid?.() === 0;
const EXAMPLES = join(import.meta.dirname, '..', '..', 'examples');
type Obj = Record<string, unknown> & { id: string };

const r = randomBytes(2);
const up = new NeutrinoUp({
  resyncIntervalS: 2,
  external: { bridge: `br-ex${r.toString('hex')}`, cidr: `198.51.100.${128 + 16 * (r[0] % 8)}/28` },
});

/** Runs the CLI; asserts exit 0 and nothing on stderr; returns stdout. */
async function ok(...args: string[]): Promise<string> {
  const result = await up.cli(args);
  assert.equal(result.code, 0, `neutrino ${args.join(' ')}\n${result.stderr}`);
  assert.equal(result.stderr, '', `neutrino ${args.join(' ')}`);
  return result.stdout;
}

const json = async <T = Obj>(...args: string[]): Promise<T> =>
  JSON.parse(await ok(...args, '-f', 'json')) as T;

/** Runs the CLI expecting failure: exit 1 (2 for a usage error), stdout empty; returns stderr's lines. */
async function fails(...args: string[]): Promise<string[]> {
  return failsWith(1, args);
}

async function failsWith(code: number, args: string[]): Promise<string[]> {
  const result = await up.cli(args);
  assert.equal(result.code, code, `neutrino ${args.join(' ')} should fail\n${result.stdout}`);
  assert.equal(result.stdout, '');
  return result.stderr.trimEnd().split('\n');
}

const until = <T>(what: string, check: () => Promise<T | undefined | false>, timeoutMs = 20000) =>
  waitUntil(what, check, timeoutMs, 200);

/** The projects each example creates. */
const PROJECTS: Record<string, string[]> = {
  'two-tier': ['shop'],
  'overlapping-tenants': ['tenant-a', 'tenant-b'],
  'routed-lab': ['lab'],
};

describe('the neutrino CLI against neutrino up', { skip: !isRoot && 'needs root' }, () => {
  before(() => up.start());
  after(() => up.cleanup());

  it('networks and subnets: create, list, show, set, unset, delete by name and id', async () => {
    const net = await json(
      'network',
      'create',
      'cli-net',
      '--mtu',
      '1400',
      '--tag',
      'red',
      '--description',
      'd',
    );
    assert.equal(net.mtu, 1400);
    assert.deepEqual(net.tags, ['red']);
    assert.equal(await ok('network', 'show', net.id, '-c', 'name', '-f', 'value'), 'cli-net\n');
    assert.equal(await ok('network', 'list', '--tags', 'red', '-c', 'Name', '-f', 'value'), 'cli-net\n');
    await ok('network', 'set', 'cli-net', '--name', 'cli-net2', '--tag', 'blue', '--disable');
    await ok('network', 'unset', net.id, '--tag', 'red');
    const changed = await json(
      'network',
      'show',
      'cli-net2',
      '-c',
      'tags',
      '-c',
      'admin_state_up',
      '-c',
      'name',
    );
    assert.deepEqual(changed, { admin_state_up: false, name: 'cli-net2', tags: ['blue'] });

    const sub = await json(
      'subnet',
      'create',
      'cli-sub',
      '--network',
      'cli-net2',
      '--subnet-range',
      '10.50.0.0/24',
      '--gateway',
      '10.50.0.1',
      '--allocation-pool',
      'start=10.50.0.10,end=10.50.0.99',
      '--dns-nameserver',
      '10.50.0.2',
      '--host-route',
      'destination=10.60.0.0/24,gateway=10.50.0.254',
    );
    assert.deepEqual(sub.allocation_pools, [{ start: '10.50.0.10', end: '10.50.0.99' }]);
    assert.deepEqual(sub.host_routes, [{ destination: '10.60.0.0/24', nexthop: '10.50.0.254' }]);
    await ok('subnet', 'set', 'cli-sub', '--no-dhcp', '--dns-nameserver', '10.50.0.3');
    await ok(
      'subnet',
      'unset',
      sub.id,
      '--dns-nameserver',
      '10.50.0.2',
      '--host-route',
      'destination=10.60.0.0/24,gateway=10.50.0.254',
    );
    const after = await json('subnet', 'show', 'cli-sub');
    assert.equal(after.enable_dhcp, false);
    assert.deepEqual(after.dns_nameservers, ['10.50.0.3']);
    assert.deepEqual(after.host_routes, []);
    const listed = await json<Record<string, unknown>[]>('subnet', 'list', '--network', 'cli-net2', '--long');
    assert.deepEqual(
      listed.map((s) => [s.Name, s.Subnet, s.DHCP]),
      [['cli-sub', '10.50.0.0/24', false]],
    );
    await ok('subnet', 'set', 'cli-sub', '--dhcp');
    await ok('network', 'set', 'cli-net2', '--enable');
  });

  it('errors: one line from the server, exit code 1', async () => {
    const overlap = await fails(
      'subnet',
      'create',
      'cli-sub2',
      '--network',
      'cli-net2',
      '--subnet-range',
      '10.50.0.128/25',
    );
    assert.equal(overlap.length, 1);
    assert.match(overlap[0], /^neutrino: Invalid input for operation: .*overlaps with another subnet/);
    assert.deepEqual(await fails('network', 'show', 'no-such-net'), [
      'neutrino: No network found for no-such-net',
    ]);
    await ok('network', 'create', 'cli-twin');
    await ok('network', 'create', 'cli-twin');
    assert.deepEqual(await fails('network', 'show', 'cli-twin'), [
      "neutrino: More than one network exists with the name 'cli-twin'",
    ]);
    assert.deepEqual(await fails('network', 'delete', 'cli-twin', 'no-such-net'), [
      "Failed to delete network with name or ID 'cli-twin': More than one network exists with the name 'cli-twin'",
      "Failed to delete network with name or ID 'no-such-net': No network found for no-such-net",
      'neutrino: 2 of 2 networks failed to delete',
    ]);
    const twins = await json<{ ID: string }[]>('network', 'list', '--name', 'cli-twin');
    await ok('network', 'delete', ...twins.map((t) => t.ID));
    assert.match((await fails('network', 'list', '-c', 'Nope'))[0], /No recognized column names in 'Nope'/);
    assert.deepEqual(await failsWith(2, ['network', 'create']), [
      "neutrino: missing required argument 'name' (see 'neutrino network create --help')",
    ]);
    assert.deepEqual(await failsWith(2, ['network', 'list', '--bogus']), [
      "neutrino: unknown option '--bogus' (see 'neutrino network list --help')",
    ]);
    const outside = await fails(
      'port',
      'create',
      'p',
      '--network',
      'cli-net2',
      '--fixed-ip',
      'ip-address=10.99.0.5',
    );
    assert.equal(outside.length, 1);
    assert.match(outside[0], /^neutrino: /);
  });

  it('security groups, rules and ports', async () => {
    const sg = await json('security-group', 'create', 'cli-sg', '--description', 'web');
    const rule = await json(
      'security-group-rule',
      'create',
      'cli-sg',
      '--protocol',
      'tcp',
      '--dst-port',
      '8000:8080',
      '--remote-ip',
      '10.0.0.0/8',
    );
    assert.deepEqual(
      [rule.port_range_min, rule.port_range_max, rule.remote_ip_prefix],
      [8000, 8080, '10.0.0.0/8'],
    );
    const icmp = await json(
      'security-group-rule',
      'create',
      sg.id,
      '--egress',
      '--protocol',
      'icmp',
      '--icmp-type',
      '8',
      '--icmp-code',
      '0',
    );
    assert.deepEqual([icmp.direction, icmp.port_range_min, icmp.port_range_max], ['egress', 8, 0]);
    await ok(
      'security-group-rule',
      'create',
      'cli-sg',
      '--protocol',
      'tcp',
      '--dst-port',
      '22',
      '--remote-group',
      'cli-sg',
    );
    const dup = await fails(
      'security-group-rule',
      'create',
      'cli-sg',
      '--protocol',
      'tcp',
      '--dst-port',
      '22',
      '--remote-group',
      'cli-sg',
    );
    assert.match(dup[0], /^neutrino: Security group rule already exists/);
    const rules = await json<Record<string, unknown>[]>('security-group-rule', 'list', 'cli-sg');
    assert.equal(rules.length, 5, JSON.stringify(rules));
    assert.ok(rules.some((r) => r['Port Range'] === '8000:8080' && r['IP Range'] === '10.0.0.0/8'));
    await ok('security-group-rule', 'delete', rule.id);
    await ok('security-group', 'set', 'cli-sg', '--name', 'cli-sg2', '--description', 'changed');
    assert.equal(await ok('security-group', 'show', sg.id, '-c', 'description', '-f', 'value'), 'changed\n');

    const port = await json(
      'port',
      'create',
      'cli-port',
      '--network',
      'cli-net2',
      '--fixed-ip',
      'subnet=cli-sub,ip-address=10.50.0.15',
      '--security-group',
      'cli-sg2',
      '--allowed-address',
      'ip-address=10.50.0.200',
      '--tag',
      'x',
    );
    assert.deepEqual(port.fixed_ips, [
      { subnet_id: (await json('subnet', 'show', 'cli-sub')).id, ip_address: '10.50.0.15' },
    ]);
    assert.deepEqual(port.security_groups, [sg.id]);
    const ports = await json<Record<string, unknown>[]>('port', 'list', '--network', 'cli-net2', '--long');
    const row = ports.find((p) => p.Name === 'cli-port')!;
    assert.deepEqual(row['Security Groups'], [sg.id]);
    await ok('port', 'set', 'cli-port', '--no-security-group', '--fixed-ip', 'ip-address=10.50.0.16');
    await ok(
      'port',
      'unset',
      'cli-port',
      '--allowed-address',
      'ip-address=10.50.0.200',
      '--fixed-ip',
      'ip-address=10.50.0.15',
    );
    const changed = await json(
      'port',
      'show',
      port.id,
      '-c',
      'security_groups',
      '-c',
      'allowed_address_pairs',
      '-c',
      'fixed_ips',
    );
    assert.deepEqual(changed.security_groups, []);
    assert.deepEqual(changed.allowed_address_pairs, []);
    assert.deepEqual(
      (changed.fixed_ips as { ip_address: string }[]).map((f) => f.ip_address),
      ['10.50.0.16'],
    );
    await ok('port', 'delete', 'cli-port');
    await ok('security-group', 'delete', 'cli-sg2');
  });

  it('routers and floating IPs', async () => {
    const pub = await json('network', 'show', 'public');
    const router = await json('router', 'create', 'cli-router', '--external-gateway', 'public');
    assert.equal((router.external_gateway_info as { network_id: string }).network_id, pub.id);
    await ok('router', 'add', 'subnet', 'cli-router', 'cli-sub');
    const shown = await json<{ interfaces_info: { ip_address: string }[] }>(
      'router',
      'show',
      'cli-router',
      '-c',
      'interfaces_info',
    );
    assert.deepEqual(
      shown.interfaces_info.map((i) => i.ip_address),
      ['10.50.0.1'],
    );
    await ok(
      'router',
      'set',
      'cli-router',
      '--route',
      'destination=10.70.0.0/24,gateway=10.50.0.254',
      '--disable-snat',
    );
    const set = await json('router', 'show', router.id);
    assert.deepEqual(set.routes, [{ destination: '10.70.0.0/24', nexthop: '10.50.0.254' }]);
    assert.equal((set.external_gateway_info as { enable_snat: boolean }).enable_snat, false);
    await ok('router', 'unset', 'cli-router', '--route', 'destination=10.70.0.0/24,gateway=10.50.0.254');
    await ok('router', 'set', 'cli-router', '--enable-snat');

    await ok('port', 'create', 'cli-fip-port', '--network', 'cli-net2');
    const fip = await json('floating-ip', 'create', 'public', '--port', 'cli-fip-port');
    const address = fip.floating_ip_address as string;
    assert.ok(fip.fixed_ip_address);
    await ok('floating-ip', 'unset', address, '--port');
    assert.equal((await json('floating-ip', 'show', fip.id)).port_id, null);
    await ok('floating-ip', 'set', address, '--port', 'cli-fip-port', '--description', 'web');
    assert.equal(
      await ok('floating-ip', 'list', '--port', 'cli-fip-port', '-c', 'Floating IP Address', '-f', 'value'),
      `${address}\n`,
    );
    await ok('floating-ip', 'delete', address);
    await ok('port', 'delete', 'cli-fip-port');

    await ok('port', 'create', 'cli-pf-port', '--network', 'cli-net2');
    const spare = await json('floating-ip', 'create', 'public');
    const pf = await json(
      ...['floating-ip', 'port-forwarding', 'create', spare.floating_ip_address as string],
      ...['--port', 'cli-pf-port', '--internal-protocol-port', '8000:8001'],
      ...['--external-protocol-port', '9000:9001', '--protocol', 'udp'],
    );
    assert.deepEqual(
      [pf.internal_port_range, pf.external_port_range, pf.protocol],
      ['8000:8001', '9000:9001', 'udp'],
    );
    assert.equal(
      await ok('floating-ip', 'port-forwarding', 'list', spare.id as string, '-c', 'ID', '-f', 'value'),
      `${pf.id}\n`,
    );
    const pfShown = await json('floating-ip', 'port-forwarding', 'show', spare.id as string, pf.id as string);
    assert.equal(pfShown.internal_port_id, (await json('port', 'show', 'cli-pf-port')).id);
    await ok('floating-ip', 'port-forwarding', 'delete', spare.id as string, pf.id as string);
    assert.deepEqual((await json('floating-ip', 'show', spare.id as string)).port_forwardings, []);
    await ok('floating-ip', 'delete', spare.id as string);
    await ok('port', 'delete', 'cli-pf-port');

    await ok('router', 'remove', 'subnet', 'cli-router', 'cli-sub');
    await ok('router', 'unset', 'cli-router', '--external-gateway');
    assert.equal((await json('router', 'show', 'cli-router')).external_gateway_info, null);
    await ok('router', 'delete', 'cli-router');
  });

  it('instances', async () => {
    const vm = await json('instance', 'create', 'cli-vm', '--network', 'cli-net2', '--wait');
    assert.equal(vm.status, 'ACTIVE');
    const [fixed] = Object.values(vm.addresses as Record<string, string[]>);
    assert.deepEqual(vm.addresses, { 'cli-net2': fixed });
    assert.match(fixed[0], /^10\.50\.0\.\d+$/);
    assert.deepEqual(vm.security_groups, ['default']);
    assert.deepEqual(vm.floating_ips, []);
    const listed = await json<Record<string, unknown>[]>('instance', 'list', '--long');
    assert.deepEqual(
      listed.map((i) => [i.Name, i.Status, i.Host, i.Networks, i['Security Groups']]),
      [['cli-vm', 'ACTIVE', up.host, { 'cli-net2': fixed }, ['default']]],
    );
    const table = await ok('instance', 'list', '--max-width', '100');
    assert.match(table, new RegExp(`\\| cli-net2=${fixed[0].replaceAll('.', '\\.')} +\\| default +\\|`));
    assert.match(table, /\| Security Groups \|/);
    for (const line of table.trimEnd().split('\n')) assert.ok(line.length <= 100, line);
    const subnets = await ok('subnet', 'list', '--name', 'cli-sub', '--max-width', '200');
    assert.match(subnets, /\| cli-net2 \([0-9a-f-]{36}\) \|/, 'the network by name beside its id');
    const shell = await up.cli(['exec', 'cli-vm'], 'ip -4 -o addr show dev eth0\nexit 3\n');
    assert.equal(shell.code, 3, `exec without a command runs a shell\n${shell.stderr}`);
    assert.match(shell.stdout, new RegExp(`inet ${fixed[0].replaceAll('.', '\\.')}/`));
    await ok('instance', 'delete', vm.id);
    await ok('subnet', 'delete', 'cli-sub');
    await ok('network', 'delete', 'cli-net2');
  });

  it('QoS policies and rules, on networks and ports', async () => {
    const policy = await json(
      'qos',
      'policy',
      'create',
      'cli-qos',
      '--share',
      '--description',
      'ten megabits',
    );
    assert.equal(policy.shared, true);
    assert.equal(policy.is_default, false);
    const limit = await json(
      ...['qos', 'rule', 'create', 'cli-qos', '--type', 'bandwidth-limit'],
      ...['--max-kbps', '10000', '--max-burst-kbits', '800', '--ingress'],
    );
    assert.equal(limit.direction, 'ingress');
    assert.equal(limit.max_kbps, 10000);
    const dscp = await json(
      'qos',
      'rule',
      'create',
      'cli-qos',
      '--type',
      'dscp-marking',
      '--dscp-mark',
      '26',
    );
    assert.equal(dscp.dscp_mark, 26);
    const [bad] = await fails(
      'qos',
      'rule',
      'create',
      'cli-qos',
      '--type',
      'dscp-marking',
      '--dscp-mark',
      '7',
    );
    assert.match(bad, /Invalid input for dscp_mark/);
    const rules = await json<Record<string, unknown>[]>('qos', 'rule', 'list', 'cli-qos');
    assert.deepEqual(rules.map((r) => r.ID).sort(), [limit.id, dscp.id].sort());
    assert.equal((await json('qos', 'rule', 'show', 'cli-qos', dscp.id)).type, 'dscp_marking');
    await ok('qos', 'rule', 'delete', 'cli-qos', dscp.id);
    assert.equal((await json<unknown[]>('qos', 'rule', 'list', 'cli-qos')).length, 1);
    assert.deepEqual(
      (await json<Record<string, unknown>[]>('qos', 'policy', 'list')).map((p) => p.Name),
      ['cli-qos'],
    );

    await ok('network', 'create', 'cli-qos-net', '--qos-policy', 'cli-qos');
    assert.equal((await json('network', 'show', 'cli-qos-net')).qos_policy_id, policy.id);
    await ok('network', 'set', 'cli-qos-net', '--no-qos-policy');
    assert.equal((await json('network', 'show', 'cli-qos-net')).qos_policy_id, null);
    await ok('port', 'create', 'cli-qos-port', '--network', 'cli-qos-net');
    await ok('port', 'set', 'cli-qos-port', '--qos-policy', 'cli-qos');
    assert.equal((await json('port', 'show', 'cli-qos-port')).qos_policy_id, policy.id);
    const [inUse] = await fails('qos', 'policy', 'delete', 'cli-qos');
    assert.match(inUse, /is used by port/);
    await ok('port', 'unset', 'cli-qos-port', '--qos-policy');
    assert.equal((await json('port', 'show', 'cli-qos-port')).qos_policy_id, null);
    await ok('port', 'delete', 'cli-qos-port');
    await ok('network', 'delete', 'cli-qos-net');
    await ok('qos', 'policy', 'set', 'cli-qos', '--name', 'cli-qos2', '--default');
    assert.equal((await json('qos', 'policy', 'show', 'cli-qos2')).is_default, true);
    await ok('qos', 'policy', 'delete', 'cli-qos2');
  });

  it('projects, users, roles and network agents', async () => {
    const project = await json('project', 'create', 'cli-project', '--description', 'P');
    const user = await json('user', 'create', 'cli-user', '--password', 'secret', '--project', 'cli-project');
    assert.equal(user.default_project_id, project.id);
    await ok('role', 'add', '--user', 'cli-user', '--project', 'cli-project', 'member');
    const { roles } = await up.session.get<{ roles: { name: string }[] }>(
      `/identity/v3/projects/${project.id}/users/${user.id}/roles`,
    );
    assert.deepEqual(
      roles.map((r) => r.name),
      ['member'],
    );
    await ok('project', 'set', 'cli-project', '--disable', '--description', 'Q');
    assert.deepEqual(await json('project', 'show', project.id, '-c', 'enabled', '-c', 'description'), {
      description: 'Q',
      enabled: false,
    });
    assert.match(await ok('user', 'list', '-f', 'value', '-c', 'Name'), /^cli-user$/m);
    await ok('role', 'remove', '--user', 'cli-user', '--project', 'cli-project', 'member');
    await ok('user', 'delete', 'cli-user');
    await ok('project', 'delete', 'cli-project');
    assert.deepEqual(await fails('project', 'show', 'cli-project'), [
      'neutrino: No project found for cli-project',
    ]);

    const agents = await json<Record<string, unknown>[]>('network', 'agent', 'list', '--host', up.host);
    assert.ok(
      agents.some((a) => a['Agent Type'] === 'DHCP agent' && a.Alive === ':-)'),
      JSON.stringify(agents),
    );
    const id = agents[0].ID as string;
    await ok('network', 'agent', 'set', id, '--description', 'first');
    assert.equal(await ok('network', 'agent', 'show', id, '-c', 'description', '-f', 'value'), 'first\n');
  });

  it('prints a bash completion script from the command tree', async () => {
    const script = await ok('completion', 'bash');
    assert.match(script, /"floating-ip"\) echo "list show create set unset delete port-forwarding" ;;/);
    const file = join(up.stateDir, 'completion.bash');
    writeFileSync(file, script);
    execFileSync('bash', ['-n', file]);
    const words = execFileSync('bash', [
      '-c',
      `source ${file}; COMP_WORDS=(neutrino router add s); COMP_CWORD=3; _neutrino; echo "\${COMPREPLY[@]}"`,
    ]);
    assert.equal(words.toString(), 'subnet\n');
  });

  describe('example topologies (concurrently)', { concurrency: true }, () => {
    for (const example of Object.keys(PROJECTS))
      it(`apply, plan, apply again, destroy: examples/${example}.yaml`, (t) => exampleCycle(t, example));
  });
});

const api = <T = Obj[]>(path: string, collection: string) =>
  up.session.get<Record<string, T>>(path).then((body) => body[collection]);

/**
 * One example through the CLI (plan, apply, apply again, destroy), checked through the API: what
 * the file owns appears and converges, then goes; what it does not own stays.
 */
async function exampleCycle(t: { diagnostic: (message: string) => void }, example: string): Promise<void> {
  const file = join(EXAMPLES, `${example}.yaml`);
  const owner = `neutrino-topology:${example}`;
  const { network: bystander } = await up.session.post<{ network: Obj }>('/v2.0/networks', {
    network: { name: `${example}-bystander` },
  });
  const projectIds = async () =>
    (await api('/identity/v3/projects', 'projects')).filter((p) =>
      PROJECTS[example].includes(p.name as string),
    );

  const plan = await ok('apply', file, '--plan');
  assert.match(plan, /^\+ project /m);
  assert.match(plan, /\n\d+ to create, 0 to change, 0 to delete\n$/);
  assert.deepEqual(await projectIds(), [], '--plan created a project');

  const started = Date.now();
  const applied = await ok('apply', file);
  t.diagnostic(`${example}: applied in ${Date.now() - started} ms`);
  assert.match(applied, /^applied: \d+ created, 0 changed, 0 deleted$/m);
  const projects = (await projectIds()).map((p) => p.id);
  assert.equal(projects.length, PROJECTS[example].length);
  const instances = (await api('/neutrino/v1/instances', 'instances')).filter((i) =>
    projects.includes(i.project_id as string),
  );
  assert.ok(instances.length > 0);
  assert.ok(
    instances.every((i) => i.status === 'ACTIVE'),
    JSON.stringify(instances),
  );
  assert.match(applied, new RegExp(`instances: ${instances.length}/${instances.length} ACTIVE\\n$`));
  const routers = await api(`/v2.0/routers?tags=${owner}`, 'routers');
  const namespaces = [...instances.map((i) => `inst-${i.id}`), ...routers.map((r) => `qrouter-${r.id}`)];
  const present = await listNamespaces();
  for (const ns of namespaces) assert.ok(present.includes(ns), `${ns} missing`);
  if (example === 'two-tier') await checkTwoTier();

  assert.equal(await ok('apply', file), 'no changes\n');
  assert.equal(await ok('apply', file, '--plan'), 'no changes\n');

  // An object the file does not own in a project it created: destroy leaves both.
  const { network: intruder } = await up.session.post<{ network: Obj }>('/v2.0/networks', {
    network: { name: 'intruder', project_id: projects[0] },
  });
  const destroyed = await ok('destroy', file);
  assert.match(destroyed, /^destroyed: \d+ deleted$/m);
  assert.match(destroyed, /kept: it still holds 1 object this file does not own/);
  await up.session.delete(`/v2.0/networks/${intruder.id}`);
  assert.match(await ok('destroy', file), /^- project /m);
  assert.equal(await ok('destroy', file), 'nothing to destroy\n');

  for (const path of ['networks', 'subnets', 'ports', 'routers', 'security-groups', 'floatingips'])
    assert.deepEqual(await api(`/v2.0/${path}?tags=${owner}`, path.replace('-', '_')), [], `${path} left`);
  const ids = new Set(instances.map((i) => i.id));
  assert.deepEqual(
    (await api('/neutrino/v1/instances', 'instances')).filter((i) => ids.has(i.id)),
    [],
  );
  assert.deepEqual(await projectIds(), []);
  assert.equal(
    (await up.session.get<{ network: Obj }>(`/v2.0/networks/${bystander.id}`)).network.name,
    `${example}-bystander`,
  );
  await until('the namespaces of the destroyed instances and routers gone', async () => {
    const left = await listNamespaces();
    return namespaces.every((ns) => !left.includes(ns));
  });
  await up.session.delete(`/v2.0/networks/${bystander.id}`);
}

/** web1 has the floating IP; db1 reaches web1 (ICMP allowed on the web group) through the router. */
async function checkTwoTier(): Promise<void> {
  const fips = await json<Record<string, unknown>[]>('floating-ip', 'list');
  const web1 = await json('instance', 'show', 'web1');
  const [port] = web1.ports as { id: string; fixed_ips: { ip_address: string }[] }[];
  assert.deepEqual(
    fips.map((f) => f.Port),
    [port.id],
  );
  const ping = await up.cli([
    'exec',
    'db1',
    '--',
    'ping',
    '-c',
    '1',
    '-W',
    '2',
    port.fixed_ips[0].ip_address,
  ]);
  assert.equal(ping.code, 0, ping.stdout + ping.stderr);
}
