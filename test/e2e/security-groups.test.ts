/**
 * Security groups and port security through a real `neutrino up` (root, real packets), driven by
 * the API: an allowed TCP port and a blocked one; ICMP opened and closed by a rule; replies of an
 * allowed egress flow pass although ingress denies; a rule removal cuts an established flow while
 * an unrelated change leaves it alone; remote groups (member allowed, non-member blocked, joining
 * opens it by one set element); address groups (a CIDR list as the remote, changed in place); egress closed by removing the egress rules; spoofed IP, MAC and ARP
 * dropped; a rogue DHCP server and router advertisements from an instance unheard; an allowed
 * address pair; port security off; two projects with the same addresses and conflicting rules each
 * with their own verdicts (their conntrack zones apart); drift repaired; IPv6 link-local neighbour
 * discovery; drop counters by reason through the API and the CLI; and nothing left behind.
 *
 * Each process a test starts (busybox nc, udhcpd, nft monitor, python capture) is ended by its pid.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { ownerTag } from '../../src/agent/state/host-state.js';
import { Session } from '../../src/client/session.js';
import { run, runInNamespace } from '../../src/linux/exec.js';
import { ipBatch, ipJson } from '../../src/linux/ip.js';
import { NeutrinoUp, ownedObjects } from '../helpers/neutrino-up.js';

const isRoot = process.getuid?.() === 0;
const LEAK_CHECK = '/work/shared/tools/leak-check';
const INSTANCES = '/neutrino/v1/instances';

interface Port {
  id: string;
  mac_address: string;
  fixed_ips: { subnet_id: string; ip_address: string }[];
}
interface Instance {
  id: string;
  status: string;
  ports: Port[];
  fault?: unknown;
}
interface Rule {
  id: string;
}

const ns = (i: Instance) => `inst-${i.id}`;
const ipOf = (i: Instance) => i.ports[0].fixed_ips[0].ip_address;
const portOf = (i: Instance) => i.ports[0].id;
const running = (child: ChildProcess) => child.exitCode === null && child.signalCode === null;

const until = <T>(what: string, check: () => Promise<T | undefined | false>, timeoutMs = 15000) =>
  waitUntil(what, check, timeoutMs, 100);

/** Processes started in namespaces, ended by pid when done. */
class Processes {
  readonly #children = new Set<ChildProcess>();

  start(netns: string, argv: string[]): ChildProcess {
    const child = spawn('ip', ['netns', 'exec', netns, ...argv], { stdio: ['pipe', 'pipe', 'pipe'] });
    this.#children.add(child);
    child.once('close', () => this.#children.delete(child));
    return child;
  }

  stop(child: ChildProcess): void {
    if (child.pid !== undefined && running(child)) process.kill(child.pid, 'SIGKILL');
  }

  stopAll(): void {
    for (const child of this.#children) this.stop(child);
  }
}

const procs = new Processes();

async function ping(from: Instance, to: string, args: string[] = []): Promise<boolean> {
  const { code } = await runInNamespace(ns(from), 'ping', ['-c', '1', '-W', '1', ...args, to], {
    allowFail: true,
  });
  return code === 0;
}

async function listening(netns: string, port: number): Promise<void> {
  for (let i = 0; i < 100; i++) {
    const { stdout } = await runInNamespace(netns, 'ss', ['-Htln', 'sport', '=', `:${port}`]);
    if (stdout.trim() !== '') return;
    await sleep(20);
  }
  throw new Error(`nothing listens on ${port} in ${netns}`);
}

/** Whether a TCP connection from `from` to `to`:`port` gets through (a line arrives within 1.5 s). */
async function tcp(from: Instance, to: Instance, port: number, options: { sourcePort?: number } = {}) {
  const server = procs.start(ns(to), ['busybox', 'nc', '-l', '-p', String(port)]);
  let received = '';
  server.stdout!.setEncoding('utf8').on('data', (d: string) => (received += d));
  try {
    await listening(ns(to), port);
    const source = options.sourcePort ? ['-p', String(options.sourcePort)] : [];
    const client = procs.start(ns(from), ['busybox', 'nc', '-w', '1', ...source, ipOf(to), String(port)]);
    client.stdin!.write('hello\n');
    const deadline = Date.now() + 1_500;
    while (Date.now() < deadline && !received.includes('hello')) await sleep(30);
    procs.stop(client);
    return received.includes('hello');
  } finally {
    procs.stop(server);
    await runInNamespace(ns(to), 'ss', ['-K', '-tn', 'sport', '=', `:${port}`], { allowFail: true });
  }
}

/** A long-lived TCP connection; `carries` says whether a new line still gets through. */
class Flow {
  #received = '';
  constructor(
    readonly server: ChildProcess,
    readonly client: ChildProcess,
    readonly from: Instance,
    readonly to: Instance,
    readonly port: number,
  ) {
    server.stdout!.setEncoding('utf8').on('data', (d: string) => (this.#received += d));
  }

  static async open(from: Instance, to: Instance, port: number, sourcePort?: number): Promise<Flow> {
    const server = procs.start(ns(to), ['busybox', 'nc', '-l', '-p', String(port)]);
    await listening(ns(to), port);
    const source = sourcePort ? ['-p', String(sourcePort)] : [];
    const client = procs.start(ns(from), ['busybox', 'nc', ...source, ipOf(to), String(port)]);
    const flow = new Flow(server, client, from, to, port);
    assert.ok(await flow.carries('open'), 'the flow opens');
    return flow;
  }

  async carries(line: string, timeoutMs = 1_500): Promise<boolean> {
    this.client.stdin!.write(`${line}\n`);
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (this.#received.includes(`${line}\n`)) return true;
      await sleep(30);
    }
    return false;
  }

  async close(): Promise<void> {
    procs.stop(this.client);
    procs.stop(this.server);
    // A cut flow's sockets would linger retransmitting and keep their namespace busy.
    await runInNamespace(ns(this.to), 'ss', ['-K', '-tn', 'sport', '=', `:${this.port}`], {
      allowFail: true,
    });
    await runInNamespace(ns(this.from), 'ss', ['-K', '-tn', 'dport', '=', `:${this.port}`], {
      allowFail: true,
    });
  }
}

/** Records `nft monitor` while `action` runs; returns the lines about table `table`, by transaction. */
async function monitored(table: string, action: () => Promise<void>): Promise<string[][]> {
  const monitor = spawn('nft', ['monitor'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let text = '';
  monitor.stdout.setEncoding('utf8').on('data', (d: string) => (text += d));
  try {
    await sleep(200);
    await action();
    await sleep(300);
  } finally {
    if (monitor.pid !== undefined && running(monitor)) process.kill(monitor.pid, 'SIGKILL');
  }
  const transactions: string[][] = [[]];
  for (const line of text.split('\n')) {
    if (line.startsWith('# new generation')) transactions.push([]);
    else if (line.includes(` ${table} `)) transactions.at(-1)!.push(line);
  }
  return transactions.filter((t) => t.length > 0);
}

/** Source MACs of frames with UDP source port 67 (DHCP server replies) seen on eth0 of `netns`. */
const CAPTURE = `
import socket, sys, time
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0800))
s.bind(('eth0', 0))
s.settimeout(0.2)
end = time.time() + float(sys.argv[1])
seen = set()
while time.time() < end:
    try:
        f = s.recv(4096)
    except socket.timeout:
        continue
    ihl = (f[14] & 0x0f) * 4
    if len(f) > 14 + ihl + 2 and f[23] == 17 and int.from_bytes(f[14 + ihl:16 + ihl], 'big') == 67:
        seen.add(f[6:12].hex(':'))
print(' '.join(sorted(seen)))
`;

/** Sends one ICMPv6 router advertisement (a default router for 30 minutes) to all nodes on eth0. */
const RA = `
import socket
s = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, 255)
s.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, b'eth0')
ra = bytes([134, 0, 0, 0, 64, 0, 0x07, 0x08, 0, 0, 0, 0, 0, 0, 0, 0])
s.sendto(ra, ('ff02::1', 0, 0, socket.if_nametoindex('eth0')))
`;

import { until as waitUntil } from '../helpers/until.js';

describe('security groups and port security through neutrino up (real kernel)', {
  skip: !isRoot && 'needs root',
}, () => {
  const up = new NeutrinoUp({ resyncIntervalS: 2 });
  let api: Session;
  let table = '';
  let network = '';
  let subnet = '';
  const groups: Record<string, string> = {};
  let client: Instance;
  let server: Instance;
  let db: Instance;
  let open: Instance;
  const scratch = mkdtempSync(join(tmpdir(), 'neutrino-sg-e2e-'));

  async function group(name: string): Promise<string> {
    const { security_group } = await api.post<{ security_group: { id: string } }>('/v2.0/security-groups', {
      security_group: { name },
    });
    groups[name] = security_group.id;
    return security_group.id;
  }

  async function rule(groupName: string, body: Record<string, unknown>, session = api): Promise<string> {
    const { security_group_rule } = await session.post<{ security_group_rule: Rule }>(
      '/v2.0/security-group-rules',
      { security_group_rule: { security_group_id: groups[groupName], direction: 'ingress', ...body } },
    );
    return security_group_rule.id;
  }

  async function instances(
    specs: { name: string; groups?: string[]; port?: string }[],
    session = api,
    net = network,
  ): Promise<Instance[]> {
    const ids: string[] = [];
    for (const spec of specs) {
      const { instance } = await session.post<{ instance: Instance }>(INSTANCES, {
        instance: {
          name: spec.name,
          networks: [spec.port ? { port_id: spec.port } : { network_id: net }],
          ...(spec.groups ? { security_groups: spec.groups } : {}),
        },
      });
      ids.push(instance.id);
    }
    return until(
      `${ids.length} instances ACTIVE`,
      async () => {
        const all = await Promise.all(
          ids.map((id) => session.get<{ instance: Instance }>(`${INSTANCES}/${id}`).then((r) => r.instance)),
        );
        const failed = all.find((i) => i.status === 'ERROR');
        assert.ok(!failed, `instance in ERROR: ${JSON.stringify(failed?.fault)}`);
        return all.every((i) => i.status === 'ACTIVE') ? all : undefined;
      },
      40_000,
    );
  }

  async function drops(port: string): Promise<Record<string, { packets: number; bytes: number }>> {
    const { port_drops } = await api.get<{
      port_drops: { drops: Record<string, { packets: number; bytes: number }> };
    }>(`/neutrino/v1/ports/${port}/drops`);
    return port_drops.drops;
  }

  /** Waits until the reported counter of `reason` exceeds `above`, within ~2 report intervals. */
  async function dropped(port: string, reason: string, above = 0): Promise<number> {
    return until(
      `${reason} drops of ${port} reported`,
      async () => {
        const n = (await drops(port))[reason]?.packets ?? 0;
        return n > above ? n : undefined;
      },
      15_000,
    );
  }

  before(async () => {
    await up.start();
    api = up.session;
    table = `neutrino-sg-${ownerTag(up.agentDir)}`;
    const { network: n } = await api.post<{ network: { id: string } }>('/v2.0/networks', {
      network: { name: 'sg-net' },
    });
    network = n.id;
    const { subnet: s } = await api.post<{ subnet: { id: string } }>('/v2.0/subnets', {
      subnet: { network_id: network, ip_version: 4, cidr: '10.40.0.0/24' },
    });
    subnet = s.id;
    await group('clients');
    await group('web');
    await group('db');
    await group('open');
    await rule('web', { protocol: 'tcp', port_range_min: 5001, port_range_max: 5001 });
    await rule('db', {
      protocol: 'tcp',
      port_range_min: 5432,
      port_range_max: 5432,
      remote_group_id: groups.web,
    });
    await rule('open', {});
    await rule('open', { ethertype: 'IPv6' });
    [client, server, db, open] = await instances([
      { name: 'client', groups: ['clients'] },
      { name: 'server', groups: ['web'] },
      { name: 'db', groups: ['db'] },
      { name: 'open', groups: ['open'] },
    ]);
  });

  after(async () => {
    procs.stopAll();
    await up.cleanup();
    rmSync(scratch, { recursive: true, force: true });
  });

  it('lets through what the rules allow: one TCP port, not another; replies though ingress denies', async () => {
    assert.ok(await tcp(client, server, 5001), 'tcp 5001 is allowed (and the reply reaches the client)');
    assert.ok(!(await tcp(client, server, 5002)), 'tcp 5002 is not');
    assert.ok(!(await tcp(server, client, 5001)), 'the client group allows no ingress at all');
    const { stdout } = await run('nft', ['list', 'tables']);
    assert.match(stdout, new RegExp(`table bridge ${table}\n`));
    assert.match(stdout, new RegExp(`table inet ${table}\n`));
    const [bridge] = await ipJson<{ linkinfo: { info_data: Record<string, number> } }[]>([
      '-d',
      'link',
      'show',
      `brq${network.slice(0, 11)}`,
    ]);
    assert.equal(bridge.linkinfo.info_data.nf_call_iptables, 1, 'bridge netfilter on our bridge');
    await dropped(portOf(server), 'ingress');
  });

  it('opens and closes ICMP with a rule, at once', async (t) => {
    assert.ok(!(await ping(client, ipOf(server))));
    const started = Date.now();
    const icmp = await rule('web', { protocol: 'icmp' });
    const quick = async () => {
      const probe = ['-c', '1', '-W', '0.05', ipOf(server)];
      return (await runInNamespace(ns(client), 'ping', probe, { allowFail: true })).code === 0;
    };
    await until('ping allowed', quick);
    t.diagnostic(`ICMP rule effective ${Date.now() - started} ms after the API call`);
    await api.delete(`/v2.0/security-group-rules/${icmp}`);
    await until('ping blocked again', async () => !(await ping(client, ipOf(server))));
  });

  it('cuts an established flow when its rule goes; an unrelated change leaves it alone', async () => {
    const extra = await rule('web', { protocol: 'tcp', port_range_min: 6001, port_range_max: 6001 });
    const flow = await Flow.open(client, server, 6001);
    try {
      await rule('web', { protocol: 'udp', port_range_min: 53, port_range_max: 53 });
      await sleep(1_000);
      assert.ok(await flow.carries('after an unrelated rule'), 'established flows survive other changes');
      await api.delete(`/v2.0/security-group-rules/${extra}`);
      await until('the flow cut', async () => !(await flow.carries(`probe-${Date.now()}`, 500)));
    } finally {
      await flow.close();
    }
    assert.ok(!(await tcp(client, server, 6001)), 'and no new one');
  });

  it('matches remote groups by members; joining the group opens it by one set element', async () => {
    assert.ok(await tcp(server, db, 5432), 'a member of web reaches db');
    assert.ok(!(await tcp(client, db, 5432)), 'a non-member does not');
    // A port of the web group bound elsewhere: the only change here is one set element.
    const transactions = await monitored(table, async () => {
      await api.post('/v2.0/ports', {
        port: {
          network_id: network,
          fixed_ips: [{ subnet_id: subnet, ip_address: '10.40.0.250' }],
          security_groups: [groups.web],
          'binding:host_id': 'elsewhere',
        },
      });
      await sleep(1_000);
    });
    assert.deepEqual(transactions, [[`add element inet ${table} sg-${groups.web}-v4 { 10.40.0.250 }`]]);
    // The client joins web: its own chains change, and web's member set; nobody else's rules.
    const joined = await monitored(table, async () => {
      await api.put(`/v2.0/ports/${portOf(client)}`, {
        port: { security_groups: [groups.clients, groups.web] },
      });
      await until('the client reaches db', () => tcp(client, db, 5432));
    });
    // Anonymous sets (`__setN`) come and go with the rules of the refilled chains.
    const lines = joined.flat().filter((l) => !/ __set\d+/.test(l));
    assert.ok(
      lines.includes(`add element inet ${table} sg-${groups.web}-v4 { ${ipOf(client)} }`),
      lines.join('\n'),
    );
    for (const line of lines)
      assert.ok(line.includes(portOf(client)) || line.includes(`sg-${groups.web}-v4`), `unexpected: ${line}`);
    await api.put(`/v2.0/ports/${portOf(client)}`, { port: { security_groups: [groups.clients] } });
    await until('the client out of web again', async () => !(await tcp(client, db, 5432)));
  });

  it('matches address groups; adding and removing an address changes one set element', async () => {
    const { address_group: ag } = await api.post<{ address_group: { id: string } }>('/v2.0/address-groups', {
      address_group: { name: 'trusted', addresses: [`${ipOf(server)}/32`, '192.0.2.0/24'] },
    });
    const ruleId = await rule('db', {
      protocol: 'tcp',
      port_range_min: 6000,
      port_range_max: 6000,
      remote_address_group_id: ag.id,
    });
    const set = `ag-${ag.id}-v4`;
    await until('the address group rule in force', () => tcp(server, db, 6000));
    assert.ok(!(await tcp(client, db, 6000)), 'an address outside the group is refused');
    const added = await monitored(table, async () => {
      await api.put(`/v2.0/address-groups/${ag.id}/add_addresses`, { addresses: [`${ipOf(client)}/32`] });
      await until('the client reaches db on 6000', () => tcp(client, db, 6000));
    });
    const lines = added.flat().filter((l) => !/ __set\d+/.test(l));
    assert.deepEqual(lines, [`add element inet ${table} ${set} { ${ipOf(client)} }`]);
    await api.put(`/v2.0/address-groups/${ag.id}/remove_addresses`, { addresses: [`${ipOf(server)}/32`] });
    await until('the server refused on 6000', async () => !(await tcp(server, db, 6000)));
    assert.ok(await tcp(client, db, 6000), 'the remaining address still reaches it');
    await api.delete(`/v2.0/security-group-rules/${ruleId}`);
    await api.delete(`/v2.0/address-groups/${ag.id}`);
    await until('the set gone', async () => {
      const { stdout } = await run('nft', ['list', 'table', 'inet', table]);
      return !stdout.includes(set);
    });
  });

  it('restricts egress once the egress rules are gone', async () => {
    const { security_group_rules } = await api.get<{
      security_group_rules: { id: string; direction: string }[];
    }>(`/v2.0/security-group-rules?security_group_id=${groups.clients}`);
    assert.ok(await ping(client, ipOf(open)));
    for (const r of security_group_rules.filter((r) => r.direction === 'egress'))
      await api.delete(`/v2.0/security-group-rules/${r.id}`);
    await until('egress closed', async () => !(await ping(client, ipOf(open))));
    assert.ok(!(await tcp(client, server, 5001)));
    await dropped(portOf(client), 'egress');
    await rule('clients', {
      direction: 'egress',
      protocol: 'tcp',
      port_range_min: 5001,
      port_range_max: 5001,
    });
    await until('tcp 5001 out again', () => tcp(client, server, 5001));
    assert.ok(!(await ping(client, ipOf(open))), 'still no ICMP out');
    await rule('clients', { direction: 'egress' });
    await rule('clients', { direction: 'egress', ethertype: 'IPv6' });
    await until('egress open again', () => ping(client, ipOf(open)));
  });

  it('drops spoofed source addresses, MACs and ARP, and counts them', async () => {
    const spoofed = '10.40.0.251';
    const before = (await drops(portOf(client))).spoof?.packets ?? 0;
    assert.ok(await ping(client, ipOf(open)), 'the real address gets through');
    await ipBatch([['addr', 'add', `${spoofed}/32`, 'dev', 'eth0']], { netns: ns(client) });
    try {
      assert.ok(!(await ping(client, ipOf(open), ['-I', spoofed])), 'a foreign source address does not');
      const arp = await runInNamespace(
        ns(client),
        'busybox',
        ['arping', '-c', '2', '-w', '2', '-I', 'eth0', '-s', spoofed, ipOf(open)],
        { allowFail: true },
      );
      assert.notEqual(arp.code, 0, 'no ARP reply for a foreign sender address');
      const neighbours = await ipJson<{ dst: string }[]>(['neigh', 'show', spoofed], { netns: ns(open) });
      assert.deepEqual(neighbours, [], 'the neighbour never learnt the spoofed sender');
    } finally {
      await ipBatch([['addr', 'del', `${spoofed}/32`, 'dev', 'eth0']], { netns: ns(client) });
    }
    const arp = await runInNamespace(
      ns(client),
      'busybox',
      ['arping', '-c', '1', '-w', '2', '-I', 'eth0', ipOf(open)],
      {
        allowFail: true,
      },
    );
    assert.equal(arp.code, 0, 'ARP from the real address is answered');
    const mac = client.ports[0].mac_address;
    await ipBatch([['link', 'set', 'eth0', 'address', '02:00:00:00:00:99']], { netns: ns(client) });
    try {
      await ipBatch([['neigh', 'flush', 'dev', 'eth0']], { netns: ns(open) });
      assert.ok(!(await ping(client, ipOf(open))), 'a foreign MAC does not get through');
    } finally {
      await ipBatch([['link', 'set', 'eth0', 'address', mac]], { netns: ns(client) });
    }
    await until('the real MAC through again', () => ping(client, ipOf(open)));
    await dropped(portOf(client), 'spoof', before + 2);
  });

  it('keeps a rogue DHCP server in an instance from answering its neighbours', async () => {
    const dir = join(scratch, 'udhcpd');
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir);
    writeFileSync(
      join(dir, 'udhcpd.conf'),
      [
        'interface eth0',
        'start 10.40.0.200',
        'end 10.40.0.210',
        `lease_file ${join(dir, 'leases')}`,
        `pidfile ${join(dir, 'pid')}`,
        'opt router 10.40.0.254',
        '',
      ].join('\n'),
    );
    writeFileSync(join(dir, 'leases'), '');
    writeFileSync(join(dir, 'capture.py'), CAPTURE);
    // The rogue must hear DHCP discovers to answer them: its group lets them in.
    const discover = await rule('clients', { protocol: 'udp', port_range_min: 67, port_range_max: 67 });
    const rogue = procs.start(ns(client), ['busybox', 'udhcpd', '-f', join(dir, 'udhcpd.conf')]);
    try {
      await sleep(300);
      assert.ok(running(rogue), 'udhcpd runs in the instance');
      // Generous on a loaded machine: the capture must be listening before the first discover.
      const capture = runInNamespace(ns(open), 'python3', [join(dir, 'capture.py'), '8']);
      await sleep(1000);
      for (let i = 0; i < 3; i++)
        await runInNamespace(
          ns(open),
          'busybox',
          ['udhcpc', '-i', 'eth0', '-n', '-q', '-t', '2', '-T', '1', '-s', '/bin/true'],
          { allowFail: true },
        );
      const seen = (await capture).stdout.trim().split(' ');
      const { ports } = await api.get<{ ports: Port[] }>(
        `/v2.0/ports?network_id=${network}&device_owner=network:dhcp`,
      );
      assert.ok(
        seen.includes(ports[0].mac_address),
        `the real DHCP server's offers arrive (${seen.join(' ')})`,
      );
      assert.ok(!seen.includes(client.ports[0].mac_address), 'the rogue server is never heard');
    } finally {
      procs.stop(rogue);
      await api.delete(`/v2.0/security-group-rules/${discover}`);
    }
    await dropped(portOf(client), 'dhcp');
    const cli = await up.cli(['port', 'drops', portOf(client), '-f', 'json']);
    assert.equal(cli.code, 0, cli.stderr);
    const rows = JSON.parse(cli.stdout) as { Reason: string; Packets: number }[];
    assert.ok((rows.find((r) => r.Reason === 'dhcp')?.Packets ?? 0) > 0, cli.stdout);
    assert.ok(readFileSync(join(dir, 'udhcpd.conf'), 'utf8').includes('eth0'));
  });

  it('drops router advertisements from an instance', async () => {
    const script = join(scratch, 'ra.py');
    writeFileSync(script, RA);
    const before = (await drops(portOf(client))).ra?.packets ?? 0;
    for (let i = 0; i < 3; i++) await runInNamespace(ns(client), 'python3', [script]);
    await sleep(500);
    const routes = await ipJson<unknown[]>(['-6', 'route', 'show', 'default'], { netns: ns(open) });
    assert.deepEqual(routes, [], 'the neighbour took no default route from it');
    await dropped(portOf(client), 'ra', before);
  });

  it('lets an allowed address pair (a VIP) through', async () => {
    const vip = '10.40.0.240';
    await ipBatch([['addr', 'add', `${vip}/32`, 'dev', 'eth0']], { netns: ns(client) });
    try {
      assert.ok(!(await ping(client, ipOf(open), ['-I', vip])), 'not before it is allowed');
      await api.put(`/v2.0/ports/${portOf(client)}`, {
        port: { allowed_address_pairs: [{ ip_address: vip }] },
      });
      await until('the VIP through', () => ping(client, ipOf(open), ['-I', vip]));
      await api.put(`/v2.0/ports/${portOf(client)}`, { port: { allowed_address_pairs: [] } });
      await until('the VIP dropped again', async () => !(await ping(client, ipOf(open), ['-I', vip])));
    } finally {
      await ipBatch([['addr', 'del', `${vip}/32`, 'dev', 'eth0']], { netns: ns(client) });
    }
  });

  it('lets everything through a port without port security', async () => {
    const { port } = await api.post<{ port: Port }>('/v2.0/ports', {
      port: { network_id: network, port_security_enabled: false },
    });
    const [free] = await instances([{ name: 'free', port: port.id }]);
    assert.ok(await ping(client, ipOf(free)), 'ingress unfiltered');
    await ipBatch([['addr', 'add', '10.40.0.252/32', 'dev', 'eth0']], { netns: ns(free) });
    assert.ok(await ping(free, ipOf(open), ['-I', '10.40.0.252']), 'no spoofing check');
    assert.ok((await tcp(free, server, 5002)) === false, 'the neighbour’s own rules still apply');
    await api.delete(`${INSTANCES}/${free.id}`);
  });

  it('keeps two projects with the same addresses and conflicting rules apart (conntrack zones)', async () => {
    const suffix = randomBytes(3).toString('hex');
    const { project } = await api.post<{ project: { id: string } }>('/identity/v3/projects', {
      project: { name: `sg-${suffix}`, domain_id: 'default' },
    });
    const { user } = await api.post<{ user: { id: string } }>('/identity/v3/users', {
      user: { name: `sg-${suffix}`, password: 'pw-sg', domain_id: 'default', default_project_id: project.id },
    });
    const { roles } = await api.get<{ roles: { id: string }[] }>('/identity/v3/roles?name=member');
    await api.put(`/identity/v3/projects/${project.id}/users/${user.id}/roles/${roles[0].id}`);
    const tenant = new Session({
      auth: {
        type: 'password',
        credentials: {
          authUrl: `${up.url}/identity/v3`,
          username: `sg-${suffix}`,
          password: 'pw-sg',
          projectName: `sg-${suffix}`,
          userDomainName: 'Default',
          projectDomainName: 'Default',
        },
      },
    });
    const { network: n } = await tenant.post<{ network: { id: string } }>('/v2.0/networks', {
      network: { name: 'sg-net' },
    });
    // B's own ports (DHCP) stay out of the addresses copied from A below.
    const { subnet: s } = await tenant.post<{ subnet: { id: string } }>('/v2.0/subnets', {
      subnet: {
        network_id: n.id,
        ip_version: 4,
        cidr: '10.40.0.0/24',
        allocation_pools: [{ start: '10.40.0.150', end: '10.40.0.200' }],
      },
    });
    const { security_group: bWeb } = await tenant.post<{ security_group: { id: string } }>(
      '/v2.0/security-groups',
      { security_group: { name: 'web' } },
    );
    await tenant.post('/v2.0/security-group-rules', {
      security_group_rule: {
        security_group_id: bWeb.id,
        direction: 'ingress',
        protocol: 'tcp',
        port_range_min: 7000,
        port_range_max: 7000,
      },
    });
    const port = async (ip: string, group: string | null) =>
      (
        await tenant.post<{ port: Port }>('/v2.0/ports', {
          port: {
            network_id: n.id,
            fixed_ips: [{ subnet_id: s.id, ip_address: ip }],
            ...(group ? { security_groups: [group] } : {}),
          },
        })
      ).port.id;
    const [bClient, bServer] = await instances(
      [
        { name: 'b-client', port: await port(ipOf(client), null) },
        { name: 'b-server', port: await port(ipOf(server), bWeb.id) },
      ],
      tenant,
    );
    assert.equal(ipOf(bClient), ipOf(client));
    assert.equal(ipOf(bServer), ipOf(server));
    assert.ok(await tcp(bClient, bServer, 7000), 'B allows 7000');
    assert.ok(!(await tcp(bClient, bServer, 5001)), 'B does not allow 5001');
    assert.ok(await tcp(client, server, 5001), 'A allows 5001');
    assert.ok(!(await tcp(client, server, 7000)), 'A does not allow 7000');
    // The same 5-tuple in both projects: A's established flow must not open B's.
    const flow = await Flow.open(client, server, 5001, 40001);
    try {
      assert.ok(
        !(await tcp(bClient, bServer, 5001, { sourcePort: 40001 })),
        'B’s identical tuple is refused',
      );
      assert.ok(await flow.carries('A still flows'));
    } finally {
      await flow.close();
    }
    const zones = JSON.parse(readFileSync(join(up.agentDir, 'security-groups.json'), 'utf8')).zones as Record<
      string,
      number
    >;
    assert.notEqual(zones[`brq${network.slice(0, 11)}`], zones[`brq${n.id.slice(0, 11)}`]);
    for (const i of [bClient, bServer]) await tenant.delete(`${INSTANCES}/${i.id}`);
  });

  it('restores flushed rules and a deleted table within the resync interval', async (t) => {
    await run('nft', ['flush', 'chain', 'inet', table, `ingress-${portOf(server)}`]);
    assert.ok(await tcp(client, server, 5002), 'flushed: the port is open');
    const started = Date.now();
    await until('the ingress chain restored', async () => !(await tcp(client, server, 5002)), 10_000);
    t.diagnostic(`flushed chain restored after ${Date.now() - started} ms (resync ${up.resyncIntervalS} s)`);
    await run('nft', ['delete', 'table', 'bridge', table]);
    await until(
      'the bridge table back',
      async () => (await run('nft', ['list', 'tables'])).stdout.includes(`bridge ${table}`),
      10_000,
    );
    await ipBatch([['addr', 'add', '10.40.0.253/32', 'dev', 'eth0']], { netns: ns(client) });
    try {
      await until(
        'spoofing dropped again',
        async () => !(await ping(client, ipOf(open), ['-I', '10.40.0.253'])),
      );
    } finally {
      await ipBatch([['addr', 'del', '10.40.0.253/32', 'dev', 'eth0']], { netns: ns(client) });
    }
    assert.ok(await tcp(client, server, 5001));
  });

  it('lets IPv6 link-local neighbour discovery through', async () => {
    const [eth0] = await ipJson<{ addr_info: { family: string; local: string; scope: string }[] }[]>(
      ['addr', 'show', 'eth0'],
      { netns: ns(open) },
    );
    const lla = eth0.addr_info.find((a) => a.family === 'inet6' && a.scope === 'link')?.local;
    assert.ok(lla, 'open has a link-local address');
    assert.ok(await ping(client, `${lla}%eth0`, ['-6']), 'ND and ICMPv6 between link-local addresses');
  });

  it('neutrino down removes the tables; leak-check finds nothing of this deployment', async () => {
    const owned = await ownedObjects(up.stateDir);
    const result = await up.down();
    assert.equal(result.code, 0, result.stderr);
    const { stdout } = await run('nft', ['list', 'tables']);
    assert.doesNotMatch(stdout, new RegExp(table));
    const check = await run(LEAK_CHECK, [], { allowFail: true });
    const ours = [...owned.namespaces, ...owned.links, table, up.stateDir];
    assert.deepEqual(
      check.stdout.split('\n').filter((line) => ours.some((name) => line.includes(name))),
      [],
      check.stdout,
    );
  });
});
