/**
 * The whole data plane through a real `neutrino up` process (root, real kernel and packets), driven
 * through the HTTP API and the CLI: instances get exactly their fixed IPs by DHCP, ping and talk
 * TCP; VXLAN delivers MTU 1450; networks are isolated, two projects share 10.0.0.0/24; deletes remove
 * exactly their kernel objects; drift is repaired within the resync interval; bad input leaves
 * nothing half-created; a `kill -9` in the middle of building 50 instances converges after restart
 * with no duplicates and no leaks; a restart with everything in place loses no packet; `neutrino
 * down` leaves nothing behind.
 *
 * The deployment is a temporary state dir with a unique host name and VNI range, so parallel runs
 * never meet; assertions look only at objects of this state dir (owner tag, state-dir paths).
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { ApiError, Session } from '../../src/client/session.js';
import { run, runInNamespace } from '../../src/linux/exec.js';
import { ipBatch, ipJson, listNamespaces } from '../../src/linux/ip.js';
import { isAlive, readPidFile } from '../../src/linux/process.js';
import { NeutrinoUp, type Owned, ownedObjects } from '../helpers/neutrino-up.js';
import { until } from '../helpers/until.js';

const isRoot = process.getuid?.() === 0;
const LEAK_CHECK = '/work/shared/tools/leak-check';
const INSTANCES = '/neutrino/v1/instances';

interface Port {
  id: string;
  network_id: string;
  mac_address: string;
  fixed_ips: { subnet_id: string; ip_address: string }[];
}
interface Instance {
  id: string;
  name: string;
  status: string;
  host: string | null;
  ports: Port[];
  fault?: unknown;
}
interface Network {
  id: string;
  name: string;
  mtu: number;
  'provider:network_type': string;
  'provider:segmentation_id': number | null;
}

const ns = (i: Instance) => `inst-${i.id}`;
const tap = (portId: string) => `tap${portId.slice(0, 11)}`;
const ipOf = (i: Instance, nic = 0) => i.ports[nic].fixed_ips[0].ip_address;

async function ping(from: Instance, to: string, args: string[] = []): Promise<boolean> {
  const { code } = await runInNamespace(ns(from), 'ping', ['-c', '1', '-W', '1', ...args, to], {
    allowFail: true,
  });
  return code === 0;
}

/** The IPv4 addresses of every interface in an instance's namespace but lo. */
async function addresses(i: Instance): Promise<Record<string, string[]>> {
  const links = await ipJson<{ ifname: string; addr_info: { family: string; local: string }[] }[]>(
    ['addr', 'show'],
    { netns: ns(i) },
  );
  return Object.fromEntries(
    links
      .filter((l) => l.ifname !== 'lo')
      .map((l) => [l.ifname, l.addr_info.filter((a) => a.family === 'inet').map((a) => a.local)]),
  );
}

function minus(a: Owned, b: Owned): Owned {
  const pids = (list: string[]) => new Set(list.map((p) => p.split(' ')[0]));
  const bPids = pids(b.processes);
  return {
    namespaces: a.namespaces.filter((x) => !b.namespaces.includes(x)),
    links: a.links.filter((x) => !b.links.includes(x)),
    processes: a.processes.filter((p) => !bPids.has(p.split(' ')[0])),
  };
}

describe('data plane through neutrino up (real kernel)', { skip: !isRoot && 'needs root' }, () => {
  const up = new NeutrinoUp({ resyncIntervalS: 2 });
  let api: Session;
  let net1: { network: Network; subnet: string };
  let vm1: Instance;
  let vm2: Instance;

  async function createNetwork(
    name: string,
    cidr: string,
    body: Record<string, unknown> = {},
    options: { session?: Session; dhcp?: boolean } = {},
  ): Promise<{ network: Network; subnet: string }> {
    const session = options.session ?? api;
    const { network } = await session.post<{ network: Network }>('/v2.0/networks', {
      network: { name, ...body },
    });
    const { subnet } = await session.post<{ subnet: { id: string } }>('/v2.0/subnets', {
      subnet: {
        network_id: network.id,
        ip_version: 4,
        cidr,
        name: `${name}-sub`,
        enable_dhcp: options.dhcp ?? true,
      },
    });
    return { network, subnet: subnet.id };
  }

  async function createInstance(
    name: string,
    networks: ({ network_id: string } | { port_id: string })[],
    session = api,
  ): Promise<Instance> {
    return (await session.post<{ instance: Instance }>(INSTANCES, { instance: { name, networks } })).instance;
  }

  /** Waits until every instance is ACTIVE (failing fast on ERROR) and returns them fresh. */
  async function active(ids: string[], timeoutMs = 30_000): Promise<Instance[]> {
    return until(
      `${ids.length} instances ACTIVE`,
      async () => {
        const { instances } = await api.get<{ instances: Instance[] }>(INSTANCES);
        const mine = instances.filter((i) => ids.includes(i.id));
        const failed = mine.find((i) => i.status === 'ERROR');
        assert.ok(!failed, `instance ${failed?.name} in ERROR: ${JSON.stringify(failed?.fault)}`);
        return mine.length === ids.length && mine.every((i) => i.status === 'ACTIVE')
          ? ids.map((id) => mine.find((i) => i.id === id)!)
          : undefined;
      },
      timeoutMs,
    );
  }

  async function expectNeutronError(
    promise: Promise<unknown>,
    status: number,
    pattern: RegExp,
  ): Promise<void> {
    await assert.rejects(promise, (err: unknown) => {
      assert.ok(err instanceof ApiError, String(err));
      assert.equal(err.status, status, err.message);
      assert.match(err.message, pattern);
      assert.ok(!err.message.includes('\n'));
      return true;
    });
  }

  /** Starts `up` again (after a kill) on the same state dir; it listens on a new port. */
  async function restart(): Promise<void> {
    await up.start();
    api = up.session;
  }

  before(restart);

  after(async () => {
    await up.cleanup();
  });

  it('gives two instances exactly their fixed IPs by DHCP; they ping and talk TCP (API, CLI, agents)', async (t) => {
    net1 = await createNetwork('net1', '10.0.0.0/24');
    vm1 = await createInstance('vm1', [{ network_id: net1.network.id }]);
    assert.equal(vm1.status, 'BUILD');
    assert.equal(vm1.host, up.host, 'up makes its own host the default');
    const started = Date.now();
    await api.post('/v2.0/ports', { port: { network_id: net1.network.id, name: 'vm2-port' } });
    const created = await up.cli(['instance', 'create', 'vm2', '--port', 'vm2-port', '--wait', '-f', 'json']);
    assert.equal(created.code, 0, created.stderr);
    const fromCli = JSON.parse(created.stdout) as Instance;
    assert.equal(fromCli.status, 'ACTIVE');
    [vm1, vm2] = await active([vm1.id, fromCli.id]);
    t.diagnostic(`vm2 ACTIVE ${Date.now() - started} ms after the CLI started`);

    for (const vm of [vm1, vm2]) {
      assert.equal(vm.ports.length, 1);
      assert.deepEqual(await addresses(vm), { eth0: vm.ports[0].fixed_ips.map((f) => f.ip_address) });
      const [eth0] = await ipJson<{ address: string }[]>(['link', 'show', 'eth0'], { netns: ns(vm) });
      assert.equal(eth0.address, vm.ports[0].mac_address);
    }
    assert.ok(await ping(vm1, ipOf(vm2)));
    assert.ok(await ping(vm2, ipOf(vm1)));

    const server = runInNamespace(ns(vm2), 'busybox', ['nc', '-l', '-p', '5000'], { timeoutMs: 15_000 });
    await sleep(200);
    const client = await up.cli(
      ['exec', 'vm1', '--', 'busybox', 'nc', ipOf(vm2), '5000'],
      'hello over tcp\n',
    );
    assert.equal(client.code, 0, client.stderr);
    assert.equal((await server).stdout, 'hello over tcp\n');
    const failing = await up.cli(['exec', vm1.id, '--', 'ping', '-c', '1', '-W', '1', '10.0.0.254']);
    assert.equal(failing.code, 1, "exec exits with the command's code");

    const { agents } = await api.get<{ agents: { agent_type: string; host: string; alive: boolean }[] }>(
      `/v2.0/agents?host=${up.host}`,
    );
    assert.deepEqual(agents.map((a) => `${a.agent_type} ${a.alive}`).sort(), [
      'DHCP agent true',
      'L3 agent true',
      'Linux bridge agent true',
    ]);

    const list = await up.cli(['instance', 'list', '-f', 'json']);
    const rows = JSON.parse(list.stdout) as {
      ID: string;
      Status: string;
      Networks: Record<string, string[]>;
    }[];
    assert.deepEqual(rows.map((r) => r.ID).sort(), [vm1.id, vm2.id].sort());
    assert.ok(rows.every((r) => r.Status === 'ACTIVE' && Object.keys(r.Networks).join() === 'net1'));
    const show = await up.cli(['instance', 'show', 'vm1']);
    assert.match(show.stdout, new RegExp(`\\| id +\\| ${vm1.id} +\\|`));
    const missing = await up.cli(['instance', 'show', 'no-such-vm']);
    assert.equal(missing.code, 1);
    assert.equal(missing.stderr, 'neutrino: No instance found for no-such-vm\n');
  });

  it('delivers MTU 1450 on a vxlan network: 1422-byte pings pass, 1423-byte ones do not', async () => {
    const vx = await createNetwork('vx', '10.5.0.0/24', { 'provider:network_type': 'vxlan' });
    assert.equal(vx.network.mtu, 1450);
    const vni = vx.network['provider:segmentation_id']!;
    assert.ok(vni >= up.vniBase && vni < up.vniBase + 10_000, `VNI ${vni} from this run's range`);
    const [a, b] = await active([
      (await createInstance('vx-a', [{ network_id: vx.network.id }])).id,
      (await createInstance('vx-b', [{ network_id: vx.network.id }])).id,
    ]);
    const [eth0] = await ipJson<{ mtu: number }[]>(['link', 'show', 'eth0'], { netns: ns(a) });
    assert.equal(eth0.mtu, 1450, 'MTU from DHCP option 26');
    const [vxlan] = await ipJson<{ master?: string }[]>(['link', 'show', `vxlan-${vni}`]);
    assert.equal(vxlan.master, `brq${vx.network.id.slice(0, 11)}`);
    assert.ok(await ping(a, ipOf(b), ['-M', 'do', '-s', '1422']), '1450-byte packets pass');
    assert.ok(!(await ping(a, ipOf(b), ['-M', 'do', '-s', '1423'])), '1451-byte packets do not');
  });

  let net2: { network: Network; subnet: string };
  let vm3: Instance;

  it('isolates two networks of one project without a router, even with a route', async () => {
    net2 = await createNetwork('net2', '10.0.1.0/24');
    [vm3] = await active([(await createInstance('vm3', [{ network_id: net2.network.id }])).id]);
    assert.ok(!(await ping(vm1, ipOf(vm3))));
    await ipBatch([['route', 'add', '10.0.1.0/24', 'dev', 'eth0']], { netns: ns(vm1) });
    try {
      assert.ok(!(await ping(vm1, ipOf(vm3))), 'no layer-2 path either');
    } finally {
      await ipBatch([['route', 'del', '10.0.1.0/24', 'dev', 'eth0']], { netns: ns(vm1) });
    }
  });

  it('runs two projects with 10.0.0.0/24 at once', async () => {
    const suffix = randomBytes(3).toString('hex');
    const { project } = await api.post<{ project: { id: string } }>('/identity/v3/projects', {
      project: { name: `proj-${suffix}`, domain_id: 'default' },
    });
    const { user } = await api.post<{ user: { id: string } }>('/identity/v3/users', {
      user: {
        name: `user-${suffix}`,
        password: 'pw-b',
        domain_id: 'default',
        default_project_id: project.id,
      },
    });
    const { roles } = await api.get<{ roles: { id: string }[] }>('/identity/v3/roles?name=member');
    await api.put(`/identity/v3/projects/${project.id}/users/${user.id}/roles/${roles[0].id}`);
    const tenant = new Session({
      auth: {
        type: 'password',
        credentials: {
          authUrl: `${up.url}/identity/v3`,
          username: `user-${suffix}`,
          password: 'pw-b',
          projectName: `proj-${suffix}`,
          userDomainName: 'Default',
          projectDomainName: 'Default',
        },
      },
    });
    const netB = await createNetwork('netB', '10.0.0.0/24', {}, { session: tenant });
    const [b1, b2] = await active([
      (await createInstance('b1', [{ network_id: netB.network.id }], tenant)).id,
      (await createInstance('b2', [{ network_id: netB.network.id }], tenant)).id,
    ]);
    assert.ok(await ping(b1, ipOf(b2)), 'the second project works');
    assert.ok(await ping(vm1, ipOf(vm2)), 'and the first still does');
    const [neighbour] = await ipJson<{ lladdr?: string }[]>(['neigh', 'show', ipOf(b2)], { netns: ns(b1) });
    assert.equal(neighbour?.lladdr, b2.ports[0].mac_address, 'b1 reached its own project’s b2');
    const net1Ips = new Set([ipOf(vm1), ipOf(vm2), ...(await dhcpIps(net1.network.id))]);
    if (!net1Ips.has(ipOf(b2))) assert.ok(!(await ping(vm1, ipOf(b2))), 'b2 is not reachable from net1');
  });

  async function dhcpIps(networkId: string): Promise<string[]> {
    const { ports } = await api.get<{ ports: Port[] }>(
      `/v2.0/ports?network_id=${networkId}&device_owner=network:dhcp`,
    );
    return ports.flatMap((p) => p.fixed_ips.map((f) => f.ip_address));
  }

  it('removes exactly the kernel objects of a deleted port, instance and network', async () => {
    const [vm4] = await active([
      (await createInstance('vm4', [{ network_id: net1.network.id }, { network_id: net2.network.id }])).id,
    ]);
    assert.deepEqual(Object.keys(await addresses(vm4)).sort(), ['eth0', 'eth1']);
    const second = vm4.ports[1];

    let before = await ownedObjects(up.stateDir);
    await api.delete(`/v2.0/ports/${second.id}`);
    let gone = await until('the port unplugged', async () => {
      const now = await ownedObjects(up.stateDir);
      return now.links.includes(tap(second.id)) ? undefined : now;
    });
    let removed = minus(before, gone);
    assert.deepEqual(removed.namespaces, []);
    assert.deepEqual(removed.links, [tap(second.id)]);
    assert.deepEqual(minus(gone, before), { namespaces: [], links: [], processes: [] }, 'nothing new');
    assert.deepEqual(Object.keys(await addresses(vm4)), ['eth0']);

    before = gone;
    await api.delete(`${INSTANCES}/${vm4.id}`);
    gone = await until('the instance removed', async () => {
      const now = await ownedObjects(up.stateDir);
      return now.namespaces.includes(ns(vm4)) ? undefined : now;
    });
    removed = minus(before, gone);
    assert.deepEqual(removed.namespaces, [ns(vm4)]);
    assert.deepEqual(removed.links, [tap(vm4.ports[0].id)]);
    assert.ok(removed.processes.every((p) => p.includes('udhcpc')));
    assert.deepEqual(minus(gone, before), { namespaces: [], links: [], processes: [] });

    await api.delete(`${INSTANCES}/${vm3.id}`);
    await until('vm3 removed', async () => !(await ownedObjects(up.stateDir)).namespaces.includes(ns(vm3)));
    before = await ownedObjects(up.stateDir);
    const [dhcpPort] = (
      await api.get<{ ports: Port[] }>(`/v2.0/ports?network_id=${net2.network.id}&device_owner=network:dhcp`)
    ).ports;
    const dnsmasq = await readPidFile(join(up.agentDir, 'dhcp', net2.network.id, 'pid'));
    const proxy = await readPidFile(join(up.agentDir, 'dhcp', net2.network.id, 'haproxy.pid'));
    await api.delete(`/v2.0/networks/${net2.network.id}`);
    gone = await until('the network removed', async () => {
      const now = await ownedObjects(up.stateDir);
      return now.namespaces.includes(`qdhcp-${net2.network.id}`) ? undefined : now;
    });
    removed = minus(before, gone);
    assert.deepEqual(removed.namespaces, [`qdhcp-${net2.network.id}`]);
    assert.deepEqual(removed.links, [`brq${net2.network.id.slice(0, 11)}`, tap(dhcpPort.id)].sort());
    assert.deepEqual(
      removed.processes.map((p) => Number(p.split(' ')[0])).sort(),
      [dnsmasq, proxy].sort(),
      'its dnsmasq and its metadata proxy',
    );
    assert.deepEqual(minus(gone, before), { namespaces: [], links: [], processes: [] });
    assert.ok(await ping(vm1, ipOf(vm2)), 'the rest still works');
  });

  it('repairs drift within the resync interval: a deleted tap and a killed dnsmasq', async (t) => {
    const pidFile = join(up.agentDir, 'dhcp', net1.network.id, 'pid');
    const dnsmasq = (await readPidFile(pidFile))!;
    assert.ok(await isAlive(dnsmasq));
    const started = Date.now();
    await ipBatch([['link', 'del', tap(vm1.ports[0].id)]]);
    process.kill(dnsmasq, 'SIGKILL');
    const limitMs = up.resyncIntervalS * 1000 + 2_000;
    await until(
      'the tap and dnsmasq back',
      async () => {
        const owned = await ownedObjects(up.stateDir);
        const pid = await readPidFile(pidFile);
        return owned.links.includes(tap(vm1.ports[0].id)) && pid !== dnsmasq && pid && (await isAlive(pid));
      },
      limitMs,
    );
    t.diagnostic(`repaired after ${Date.now() - started} ms (resync interval ${up.resyncIntervalS} s)`);
    await until('vm1 reachable again', () => ping(vm2, ipOf(vm1)), 15_000);
    assert.deepEqual(await addresses(vm1), { eth0: [ipOf(vm1)] });
  });

  it('rejects bad input with a clear NeutronError and creates nothing', async () => {
    const count = async () => {
      const [n, s, p, i] = await Promise.all([
        api.get<{ networks: unknown[] }>('/v2.0/networks'),
        api.get<{ subnets: unknown[] }>('/v2.0/subnets'),
        api.get<{ ports: unknown[] }>('/v2.0/ports'),
        api.get<{ instances: unknown[] }>(INSTANCES),
      ]);
      return [n.networks.length, s.subnets.length, p.ports.length, i.instances.length];
    };
    const counted = await count();
    const owned = await ownedObjects(up.stateDir);
    const network = (body: Record<string, unknown>) =>
      api.post('/v2.0/networks', { network: { name: 'bad', ...body } });
    await expectNeutronError(network({ 'provider:network_type': 'gre' }), 400, /gre/);
    await expectNeutronError(network({ 'provider:network_type': 'vlan' }), 400, /vlan/i);
    await expectNeutronError(
      network({ 'provider:network_type': 'flat', 'provider:physical_network': 'nowhere' }),
      400,
      /nowhere/,
    );
    assert.deepEqual(await count(), counted);

    const noDhcp = await createNetwork('no-dhcp', '10.9.9.0/24', {}, { dhcp: false });
    const counted2 = await count();
    await expectNeutronError(createInstance('vm-bad', [{ network_id: noDhcp.network.id }]), 400, /DHCP/i);
    await expectNeutronError(
      createInstance('vm-bad2', [{ network_id: net1.network.id }, { network_id: noDhcp.network.id }]),
      400,
      /DHCP/i,
    );
    assert.deepEqual(await count(), counted2, 'no port or instance left behind');
    await api.delete(`/v2.0/networks/${noDhcp.network.id}`);
    assert.deepEqual(await count(), counted);
    await sleep(up.resyncIntervalS * 1000 + 500);
    assert.deepEqual(minus(await ownedObjects(up.stateDir), owned), {
      namespaces: [],
      links: [],
      processes: [],
    });
  });

  /** What this deployment should own per the API: every bound port's tap, networks' bridges, … */
  async function expectedObjects(): Promise<{ namespaces: string[]; links: string[]; clients: number }> {
    const [{ instances }, { ports }, { networks }] = await Promise.all([
      api.get<{ instances: Instance[] }>(INSTANCES),
      api.get<{ ports: (Port & { device_owner: string })[] }>(`/v2.0/ports?binding:host_id=${up.host}`),
      api.get<{ networks: Network[] }>('/v2.0/networks'),
    ]);
    const dhcp = ports.filter((p) => p.device_owner === 'network:dhcp');
    const used = new Set(ports.map((p) => p.network_id));
    const vxlans = networks
      .filter((n) => used.has(n.id) && n['provider:network_type'] === 'vxlan')
      .map((n) => `vxlan-${n['provider:segmentation_id']}`);
    return {
      namespaces: [...instances.map(ns), ...dhcp.map((p) => `qdhcp-${p.network_id}`)].sort(),
      links: [
        ...ports.map((p) => tap(p.id)),
        ...[...used].map((n) => `brq${n.slice(0, 11)}`),
        ...vxlans,
      ].sort(),
      clients: instances.reduce((sum, i) => sum + i.ports.length, 0),
    };
  }

  it('converges after kill -9 in the middle of building 50 instances: no duplicates, no leaks', async (t) => {
    const net = await createNetwork('crash', '10.7.0.0/24');
    const ids: string[] = [];
    let next = 0;
    await Promise.all(
      Array.from({ length: 8 }, async () => {
        while (next < 50) {
          const n = next++;
          ids.push((await createInstance(`crash-${n}`, [{ network_id: net.network.id }])).id);
        }
      }),
    );
    const wanted = new Set(ids.map((id) => `inst-${id}`));
    await until(
      'the agent building',
      async () => (await listNamespaces()).some((n) => wanted.has(n)),
      10_000,
    );
    await up.kill('SIGKILL');
    const atKill = await ownedObjects(up.stateDir);
    t.diagnostic(
      `kill -9 mid-build: ${atKill.namespaces.filter((n) => wanted.has(n)).length} of 50 namespaces, ` +
        `${atKill.links.length} links, ${atKill.processes.length} processes of this deployment existed`,
    );

    await restart();
    const started = Date.now();
    const instances = await active(ids, 60_000);
    t.diagnostic(`all 50 ACTIVE ${Date.now() - started} ms after the restart`);
    for (const i of instances) assert.deepEqual(await addresses(i), { eth0: [ipOf(i)] });

    const expected = await expectedObjects();
    const owned = await ownedObjects(up.stateDir);
    assert.deepEqual(owned.namespaces, expected.namespaces, 'exactly the namespaces the API implies');
    assert.deepEqual(owned.links, expected.links, 'exactly the links the API implies');
    const udhcpc = owned.processes.filter((p) => p.endsWith(' udhcpc') || p.includes('/udhcpc'));
    const dnsmasqs = owned.processes.filter((p) => p.includes('dnsmasq'));
    assert.equal(udhcpc.length, expected.clients, 'one DHCP client per instance interface');
    const proxies = owned.processes.filter((p) => p.includes('haproxy'));
    const dhcpNamespaces = expected.namespaces.filter((n) => n.startsWith('qdhcp-')).length;
    assert.equal(dnsmasqs.length, dhcpNamespaces);
    assert.equal(proxies.length, dhcpNamespaces, 'one metadata proxy per DHCP namespace');
    assert.equal(
      owned.processes.length,
      udhcpc.length + dnsmasqs.length + proxies.length,
      owned.processes.join('\n'),
    );
  });

  it('restarts with everything in place without touching the kernel: a running ping loses nothing', async () => {
    const pinging = runInNamespace(ns(vm1), 'ping', ['-i', '0.05', '-c', '160', '-W', '1', ipOf(vm2)], {
      allowFail: true,
    });
    await sleep(500);
    const before = await ownedObjects(up.stateDir);
    await up.kill('SIGTERM');
    const mark = up.output().length;
    await restart();
    const { stdout } = await pinging;
    assert.match(stdout, /160 packets transmitted, 160 received, 0% packet loss/);
    assert.deepEqual(await ownedObjects(up.stateDir), before, 'same objects, same processes');
    const log = up.outputSince(mark);
    assert.match(log, /following the change feed/);
    assert.doesNotMatch(log, /"msg":"reconciled"/, 'no reconcile after the restart had anything to do');
  });

  it('neutrino down stops up and leaves no namespace, link or process of the state dir', async () => {
    const before = await ownedObjects(up.stateDir);
    assert.ok(before.namespaces.length > 50);
    const pid = up.pid!;
    const result = await up.down();
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, new RegExp(`stopped neutrino \\(pid ${pid}\\)`));
    assert.equal(await isAlive(pid), false);
    assert.deepEqual(await ownedObjects(up.stateDir), { namespaces: [], links: [], processes: [] });
    assert.equal(await readFile(join(up.stateDir, 'neutrino.pid'), 'utf8').catch(() => 'gone'), 'gone');
    const again = await up.down();
    assert.match(again.stdout, /nothing left to remove/);
  });

  it('neutrino up again restores the data plane from the database', async () => {
    await restart();
    const expected = await expectedObjects();
    await until('the data plane rebuilt', async () => {
      const owned = await ownedObjects(up.stateDir);
      return (
        JSON.stringify(owned.namespaces) === JSON.stringify(expected.namespaces) &&
        JSON.stringify(owned.links) === JSON.stringify(expected.links)
      );
    });
    await until('vm1 reaches vm2 again', () => ping(vm1, ipOf(vm2)), 15_000);
    assert.deepEqual(await addresses(vm2), { eth0: [ipOf(vm2)] });
  });

  it('neutrino up --cleanup-on-exit removes its data plane on Ctrl-C', async () => {
    const other = new NeutrinoUp({ resyncIntervalS: 2, args: ['--cleanup-on-exit'] });
    try {
      await other.start();
      const session = other.session;
      const { network } = await session.post<{ network: Network }>('/v2.0/networks', {
        network: { name: 'n' },
      });
      await session.post('/v2.0/subnets', {
        subnet: { network_id: network.id, ip_version: 4, cidr: '10.0.0.0/24' },
      });
      const { instance } = await session.post<{ instance: Instance }>(INSTANCES, {
        instance: { name: 'c1', networks: [{ network_id: network.id }] },
      });
      await until('c1 ACTIVE', async () => {
        const { instance: now } = await session.get<{ instance: Instance }>(`${INSTANCES}/${instance.id}`);
        return now.status === 'ACTIVE';
      });
      assert.ok((await ownedObjects(other.stateDir)).namespaces.includes(`inst-${instance.id}`));
      assert.equal(await other.kill('SIGINT'), 0);
      assert.deepEqual(await ownedObjects(other.stateDir), { namespaces: [], links: [], processes: [] });
    } finally {
      await other.cleanup();
    }
  });

  it('leaves nothing behind after the last neutrino down (leak-check)', async (t) => {
    const before = await ownedObjects(up.stateDir);
    const result = await up.down();
    assert.equal(result.code, 0, result.stderr);
    assert.deepEqual(await ownedObjects(up.stateDir), { namespaces: [], links: [], processes: [] });
    // Stopped DHCP clients linger as zombies (empty command line) until init reaps them.
    let { code, stdout } = await run(LEAK_CHECK, [], { allowFail: true });
    for (let i = 0; i < 30 && /^process +pid \d+: *$/m.test(stdout); i++) {
      await sleep(100);
      ({ code, stdout } = await run(LEAK_CHECK, [], { allowFail: true }));
    }
    const ours = [...before.namespaces, ...before.links, up.stateDir];
    assert.deepEqual(
      stdout.split('\n').filter((line) => ours.some((name) => line.includes(name))),
      [],
      stdout,
    );
    if (code !== 0) t.diagnostic(`leak-check lists objects of other runs:\n${stdout}`);
  });
});
