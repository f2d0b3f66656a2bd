/**
 * The src/linux wrappers: dnsmasq's command line and files (pure), then, as root, against the real
 * kernel: namespaces, veths on a bridge and a ping across it, `ip -batch` failure reporting,
 * nftables round trip, sysctl, kernel probes, and dnsmasq handing a static address to
 * `busybox udhcpc`, then SIGHUP and `dhcp_release`.
 *
 * The bridge lives in a namespace of its own, so nothing is created in the root namespace.
 * udhcpc is given its own `-s` script (Debian ships no default script): it applies the lease with
 * `ip` and prints one `lease ip=… mask=… mtu=…` line, which the test reads.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  addnHostsLine,
  dhcpRelease,
  dnsmasqArgs,
  dnsmasqFiles,
  hostsFileLine,
  optsFileLines,
  reloadDnsmasq,
  startDnsmasq,
} from '../../src/linux/dnsmasq.js';
import { CommandError, run, runInNamespace } from '../../src/linux/exec.js';
import {
  addNamespace,
  deleteNamespace,
  IpBatchError,
  ipBatch,
  ipJson,
  listNamespaces,
} from '../../src/linux/ip.js';
import { has8021q, hasBridgeConntrack, hasVxlan } from '../../src/linux/kernel.js';
import { nftApply, nftJson } from '../../src/linux/nft.js';
import {
  isAlive,
  readCmdline,
  readPidFile,
  signal,
  startDaemon,
  stopProcess,
} from '../../src/linux/process.js';
import { readSysctl, setSysctlInNamespace } from '../../src/linux/sysctl.js';

const isRoot = process.getuid?.() === 0;
const r = randomBytes(3).toString('hex');
const ns = {
  host: `neutrino-h${r}`,
  a: `qinst-a${r}`,
  b: `qinst-b${r}`,
  client: `qinst-c${r}`,
  dhcp: `qdhcp-t${r}`,
};
const bridge = `brq${r}`;
const dhcpDev = `ns-d${r}`;
const clientMac = `fa:16:3e:${r.slice(0, 2)}:${r.slice(2, 4)}:${r.slice(4, 6)}`;
const subnet = { id: `s${r}`, cidr: '10.0.0.0/24', enableDhcp: true };

const UDHCPC_SCRIPT = `#!/bin/sh
# udhcpc runs this with $1 = deconfig|bound|renew|leasefail|nak and the lease in the environment.
case "$1" in
  bound|renew)
    ip addr flush dev "$interface"
    ip addr add "$ip/$mask" dev "$interface"
    if [ -n "$mtu" ]; then ip link set dev "$interface" mtu "$mtu"; fi
    echo "lease ip=$ip mask=$mask mtu=$mtu router=$router hostname=$hostname domain=$domain"
    ;;
esac
`;

/** Runs udhcpc once in the client namespace and returns the fields of the script's lease line. */
async function dhcpLease(script: string): Promise<Record<string, string>> {
  const { stdout } = await runInNamespace(
    ns.client,
    'busybox',
    ['udhcpc', '-i', 'eth0', '-n', '-q', '-f', '-t', '5', '-T', '1', '-s', script],
    { timeoutMs: 15_000 },
  );
  const line = stdout.split('\n').find((l) => l.startsWith('lease '));
  assert.ok(line, `udhcpc printed no lease:\n${stdout}`);
  return Object.fromEntries(
    line
      .slice('lease '.length)
      .split(' ')
      .map((kv) => kv.split('=', 2) as [string, string]),
  );
}

async function addresses(netns: string, dev: string): Promise<string[]> {
  const links = await ipJson<{ addr_info: { family: string; local: string; prefixlen: number }[] }[]>(
    ['addr', 'show', 'dev', dev],
    { netns },
  );
  return links.flatMap((l) =>
    l.addr_info.filter((a) => a.family === 'inet').map((a) => `${a.local}/${a.prefixlen}`),
  );
}

async function timed<T>(work: () => Promise<T>): Promise<[T, number]> {
  const start = performance.now();
  const value = await work();
  return [value, Math.round((performance.now() - start) * 10) / 10];
}

describe('dnsmasq command line and files (pure)', () => {
  it("builds Neutron's dnsmasq arguments for one network", () => {
    const args = dnsmasqArgs({
      confDir: '/var/lib/neutrino/dhcp/n1',
      interfaceName: 'ns-1234567890a',
      subnets: [
        { id: 'v4', cidr: '10.0.0.0/24', enableDhcp: true },
        { id: 'off', cidr: '10.9.0.0/24', enableDhcp: false },
        { id: 'v6', cidr: '2001:db8::/64', enableDhcp: true },
      ],
      mtu: 1450,
      dnsServers: ['192.0.2.53'],
    });
    assert.deepEqual(args, [
      '--no-hosts',
      '--no-resolv',
      '--conf-file=/dev/null',
      '--pid-file=/var/lib/neutrino/dhcp/n1/pid',
      '--dhcp-hostsfile=/var/lib/neutrino/dhcp/n1/host',
      '--addn-hosts=/var/lib/neutrino/dhcp/n1/addn_hosts',
      '--dhcp-optsfile=/var/lib/neutrino/dhcp/n1/opts',
      '--dhcp-leasefile=/var/lib/neutrino/dhcp/n1/leases',
      '--interface=ns-1234567890a',
      '--except-interface=lo',
      '--bind-dynamic',
      '--dhcp-range=set:subnet-v4,10.0.0.0,static,255.255.255.0,86400s',
      '--dhcp-range=set:subnet-v6,2001:db8::,static,64,86400s',
      '--dhcp-option-force=option:mtu,1450',
      `--dhcp-lease-max=${2 ** 24}`, // 256 + 2^24 addresses, capped
      '--server=192.0.2.53',
      '--domain=openstacklocal',
      '--local=/openstacklocal/',
    ]);
  });

  it('writes host, addn_hosts and opts lines', () => {
    assert.equal(
      hostsFileLine({ mac: 'fa:16:3e:00:00:01', ip: '10.0.0.5' }),
      'fa:16:3e:00:00:01,host-10-0-0-5.openstacklocal,10.0.0.5',
    );
    assert.equal(
      hostsFileLine({ mac: 'fa:16:3e:00:00:01', ip: '2001:db8::5', hostname: 'vm1', domain: 'example.org' }),
      'fa:16:3e:00:00:01,vm1.example.org,[2001:db8::5]',
    );
    assert.equal(
      addnHostsLine({ mac: 'x', ip: '10.0.0.5' }),
      '10.0.0.5\thost-10-0-0-5.openstacklocal host-10-0-0-5',
    );
    assert.deepEqual(
      optsFileLines({
        subnetId: 's',
        cidr: '10.0.0.0/24',
        gatewayIp: '10.0.0.1',
        dnsServers: ['192.0.2.53'],
        hostRoutes: [{ destination: '192.168.0.0/16', nexthop: '10.0.0.254' }],
      }),
      [
        'tag:subnet-s,option:dns-server,192.0.2.53',
        'tag:subnet-s,option:classless-static-route,192.168.0.0/16,10.0.0.254,0.0.0.0/0,10.0.0.1',
        'tag:subnet-s,249,192.168.0.0/16,10.0.0.254,0.0.0.0/0,10.0.0.1',
        'tag:subnet-s,option:router,10.0.0.1',
      ],
    );
    assert.deepEqual(optsFileLines({ subnetId: 's', cidr: '10.0.0.0/24', gatewayIp: null }), [
      'tag:subnet-s,option:router',
    ]);
    assert.deepEqual(optsFileLines({ subnetId: 's6', cidr: '2001:db8::/64', dnsServers: ['2001:db8::53'] }), [
      'tag:subnet-s6,option6:dns-server,[2001:db8::53]',
    ]);
  });
});

describe('linux wrappers (real kernel)', { skip: !isRoot && 'needs root' }, () => {
  let dir = '';
  let dnsmasqPid: number | undefined;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'neutrino-linux-'));
    await chmod(dir, 0o755); // dnsmasq rereads its files as an unprivileged user on SIGHUP
    for (const name of Object.values(ns)) await addNamespace(name);
    const veth = (tap: string, peer: string, netns: string, mac?: string) => [
      `link add ${tap} type veth peer name ${peer}${mac ? ` address ${mac}` : ''} netns ${netns}`.split(' '),
      ['link', 'set', tap, 'master', bridge],
      ['link', 'set', tap, 'up'],
    ];
    await ipBatch(
      [
        ['link', 'add', bridge, 'type', 'bridge'],
        ['link', 'set', bridge, 'up'],
        ...veth(`tapa${r}`, 'eth0', ns.a),
        ...veth(`tapb${r}`, 'eth0', ns.b),
        ...veth(`tapc${r}`, 'eth0', ns.client, clientMac),
        ...veth(`tapd${r}`, dhcpDev, ns.dhcp),
      ],
      { netns: ns.host },
    );
    const inside = (netns: string, dev: string, cidr?: string) =>
      ipBatch(
        [
          ['link', 'set', 'lo', 'up'],
          ...(cidr ? [['addr', 'add', cidr, 'dev', dev]] : []),
          ['link', 'set', dev, 'up'],
        ],
        { netns },
      );
    await inside(ns.a, 'eth0', '10.0.0.11/24');
    await inside(ns.b, 'eth0', '10.0.0.12/24');
    await inside(ns.client, 'eth0');
    await inside(ns.dhcp, dhcpDev, '10.0.0.2/24');
  });

  after(async () => {
    const pid = dnsmasqPid ?? (dir ? await readPidFile(dnsmasqFiles(dir).pid) : undefined);
    if (pid !== undefined) await stopProcess(pid).catch((err) => console.error('stop dnsmasq', err));
    for (const name of Object.values(ns))
      await deleteNamespace(name).catch((err) => console.error(name, err));
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('lists the namespaces it created', async () => {
    const names = await listNamespaces();
    for (const name of Object.values(ns)) assert.ok(names.includes(name), name);
  });

  it('reads links, addresses and routes as JSON', async (t) => {
    const [links] = await ipJson<{ ifname: string; linkinfo?: { info_kind: string } }[]>(
      ['-d', 'link', 'show', 'dev', bridge],
      { netns: ns.host },
    );
    assert.equal(links.linkinfo?.info_kind, 'bridge');
    assert.deepEqual(await addresses(ns.a, 'eth0'), ['10.0.0.11/24']);
    const routes = await ipJson<{ dst: string; dev: string }[]>(['route', 'show'], { netns: ns.a });
    assert.ok(routes.some((route) => route.dst === '10.0.0.0/24' && route.dev === 'eth0'));
    const [, ms] = await timed(() => ipJson(['link', 'show'], { netns: ns.a }));
    t.diagnostic(`one ip -json link show: ${ms} ms`);
  });

  it('pings from one namespace to another across the bridge', async (t) => {
    const [result, ms] = await timed(() =>
      runInNamespace(ns.a, 'ping', ['-c1', '-W1', '10.0.0.12'], { allowFail: true }),
    );
    t.diagnostic(`first ping: exit ${result.code} in ${ms} ms`);
    assert.equal(result.code, 0, result.stdout + result.stderr);
    await runInNamespace(ns.b, 'ping', ['-c1', '-W1', '10.0.0.11']);
  });

  it('ip -batch: reports the failing line and, with force, applies the rest', async () => {
    const lines = [
      ['link', 'add', 'x1', 'type', 'bridge'],
      ['link', 'add', 'x1', 'type', 'bridge'],
      ['link', 'add', 'x2', 'type', 'bridge'],
    ];
    await assert.rejects(ipBatch(lines, { netns: ns.a }), (err: unknown) => {
      assert.ok(err instanceof IpBatchError);
      assert.deepEqual(
        err.failures.map((f) => f.index),
        [1],
      );
      assert.deepEqual(err.failures[0].command, lines[1]);
      assert.match(err.failures[0].message, /File exists/);
      return true;
    });
    assert.equal((await ipJson(['link', 'show', 'dev', 'x2'], { netns: ns.a })).length, 1);

    const stopAt = [
      ['link', 'add', 'y1', 'type', 'nosuchkind'],
      ['link', 'add', 'y2', 'type', 'bridge'],
    ];
    await assert.rejects(ipBatch(stopAt, { netns: ns.a, force: false }), (err: unknown) => {
      assert.ok(err instanceof IpBatchError);
      assert.deepEqual(
        err.failures.map((f) => f.index),
        [0],
      );
      return true;
    });
    const names = (await ipJson<{ ifname: string }[]>(['link', 'show'], { netns: ns.a })).map(
      (l) => l.ifname,
    );
    assert.ok(!names.includes('y2'), 'without force ip stops at the first failure');
  });

  it('ip -batch: refuses tokens its line parser would misread, before running anything', async () => {
    for (const token of ['a b', 'a\tb', 'a\nlink del eth0', '#x', '"x"', "'x'", 'x\\', '']) {
      await assert.rejects(
        ipBatch([['link', 'set', 'eth0', 'alias', token]], { netns: ns.a }),
        /unsafe token|empty/,
      );
    }
    await assert.rejects(ipBatch([[]], { netns: ns.a }), /empty command/);
    assert.deepEqual(await addresses(ns.a, 'eth0'), ['10.0.0.11/24']);
  });

  it('nft: applies a ruleset atomically and reads it back as JSON', async () => {
    const table = `neutrino-t${r}`;
    await nftApply(
      `table inet ${table} {\n  chain input {\n    type filter hook input priority 0; policy accept;\n    tcp dport 22 counter accept\n  }\n}\n`,
      { netns: ns.a },
    );
    const entries = await nftJson(['list', 'table', 'inet', table], { netns: ns.a });
    const rule = entries.find((e) => e.rule)?.rule;
    assert.ok(rule, JSON.stringify(entries));
    assert.equal(rule.chain, 'input');
    assert.match(JSON.stringify(rule.expr), /"dport"/);

    const broken = `table inet neutrino-u${r} {\n  chain c {\n    nosuchstatement\n  }\n}\n`;
    await assert.rejects(nftApply(`add table inet neutrino-v${r}\n${broken}`, { netns: ns.a }), CommandError);
    const tables = (await nftJson(['list', 'tables'], { netns: ns.a }))
      .filter((e) => e.table)
      .map((e) => e.table.name);
    assert.deepEqual(tables, [table], 'a failed nft -f changes nothing');
    await nftApply(`delete table inet ${table}\n`, { netns: ns.a });
  });

  it('sysctl: writes inside a namespace only', async () => {
    const rootBefore = await readSysctl('net.ipv4.ip_forward');
    await setSysctlInNamespace(ns.b, 'net.ipv4.ip_forward', 1);
    assert.equal(await readSysctl('net.ipv4.ip_forward', { netns: ns.b }), '1');
    assert.equal(await readSysctl('net.ipv4.ip_forward'), rootBefore);
    await assert.rejects(setSysctlInNamespace('', 'net.ipv4.ip_forward', 1), /without a namespace/);
    await assert.rejects(readSysctl('net/../../etc'), /invalid sysctl key/);
  });

  it('kernel probes answer booleans and cache them', async (t) => {
    const [answers, ms] = await timed(() => Promise.all([has8021q(), hasBridgeConntrack(), hasVxlan()]));
    t.diagnostic(`8021q=${answers[0]} bridgeConntrack=${answers[1]} vxlan=${answers[2]} (${ms} ms)`);
    for (const answer of answers) assert.equal(typeof answer, 'boolean');
    const [again, cachedMs] = await timed(() => has8021q());
    assert.equal(again, answers[0]);
    assert.ok(cachedMs < 5, `cached probe took ${cachedMs} ms`);
    const leftovers = (await listNamespaces()).filter((n) => n.startsWith(`neutrino-probe-${process.pid}`));
    assert.deepEqual(leftovers, []);
  });

  it('process helpers: pid files, liveness, signals', async () => {
    assert.equal(await readPidFile(join(dir, 'absent.pid')), undefined);
    await writeFile(join(dir, 'junk.pid'), 'not a pid\n');
    assert.equal(await readPidFile(join(dir, 'junk.pid')), undefined);
    assert.equal(await isAlive(process.pid), true);
    const pid = await startDaemon('sleep', ['30'], { netns: ns.b });
    try {
      assert.equal(await isAlive(pid), true);
      // `ip netns exec` execs the command after entering the namespace: until then (and for an
      // instant during exec) /proc shows another or an empty command line.
      let cmdline = await readCmdline(pid);
      for (let i = 0; i < 100 && cmdline?.slice(-2).join(' ') !== 'sleep 30'; i++) {
        await new Promise((r) => setTimeout(r, 10));
        cmdline = await readCmdline(pid);
      }
      assert.deepEqual(cmdline?.slice(-2), ['sleep', '30']);
    } finally {
      await stopProcess(pid);
    }
    assert.equal(await isAlive(pid), false);
    assert.equal(signal(pid, 'SIGHUP'), false);
    assert.throws(() => signal(1, 'SIGTERM'), /refusing/);
  });

  it('dnsmasq gives the client its static address, then follows SIGHUP and dhcp_release', async (t) => {
    const files = dnsmasqFiles(dir);
    const script = join(dir, 'udhcpc.sh');
    await writeFile(script, UDHCPC_SCRIPT, { mode: 0o755 });
    const write = (path: string, lines: string[]) =>
      writeFile(path, lines.map((l) => `${l}\n`).join(''), { mode: 0o644 });
    const host = { mac: clientMac, ip: '10.0.0.50' };
    await write(files.hosts, [hostsFileLine(host)]);
    await write(files.addnHosts, [addnHostsLine(host)]);
    await write(files.opts, optsFileLines({ subnetId: subnet.id, cidr: subnet.cidr, gatewayIp: '10.0.0.1' }));

    const args = dnsmasqArgs({ confDir: dir, interfaceName: dhcpDev, subnets: [subnet], mtu: 1450 });
    const [pid, startMs] = await timed(() => startDnsmasq(ns.dhcp, args));
    dnsmasqPid = pid;
    t.diagnostic(`dnsmasq start (until its pid file names a live pid): ${startMs} ms`);
    assert.ok((await readCmdline(pid))?.includes(`--pid-file=${files.pid}`));

    const [lease, leaseMs] = await timed(() => dhcpLease(script));
    t.diagnostic(`udhcpc lease: ${leaseMs} ms -> ${JSON.stringify(lease)}`);
    assert.equal(lease.ip, '10.0.0.50');
    assert.equal(lease.mask, '24');
    assert.equal(lease.mtu, '1450');
    assert.equal(lease.router, '10.0.0.1');
    assert.deepEqual(await addresses(ns.client, 'eth0'), ['10.0.0.50/24']);
    const [eth0] = await ipJson<{ mtu: number }[]>(['link', 'show', 'dev', 'eth0'], { netns: ns.client });
    assert.equal(eth0.mtu, 1450);
    assert.match(await readFile(files.leases, 'utf8'), new RegExp(`${clientMac} 10\\.0\\.0\\.50 `));

    const { stdout: answer } = await runInNamespace(ns.client, 'busybox', [
      'nslookup',
      'host-10-0-0-50.openstacklocal',
      '10.0.0.2',
    ]);
    assert.match(answer, /Address:\s*10\.0\.0\.50/);

    // The port moves to another address: rewrite the files, SIGHUP, release the old lease.
    const moved = { ...host, ip: '10.0.0.60' };
    await write(files.hosts, [hostsFileLine(moved)]);
    await write(files.addnHosts, [addnHostsLine(moved)]);
    assert.equal(reloadDnsmasq(pid), true);
    await dhcpRelease(ns.dhcp, dhcpDev, host.ip, host.mac);
    for (let i = 0; (await readFile(files.leases, 'utf8')).includes('10.0.0.50'); i++) {
      assert.ok(i < 100, 'dhcp_release did not remove the lease');
      await sleep(10);
    }
    const [again] = await timed(() => dhcpLease(script));
    assert.equal(again.ip, '10.0.0.60');
    assert.equal(await isAlive(pid), true, 'SIGHUP must not stop dnsmasq');
  });

  it('exec: rejects with the command, its exit code and stderr', async () => {
    await assert.rejects(run('ip', ['link', 'show', 'dev', 'nosuchdev0']), (err: unknown) => {
      assert.ok(err instanceof CommandError);
      assert.equal(err.cmd, 'ip');
      assert.deepEqual(err.args, ['link', 'show', 'dev', 'nosuchdev0']);
      assert.equal(err.code, 1);
      assert.match(err.stderr, /does not exist/);
      return true;
    });
    assert.equal((await run('ip', ['link', 'show', 'dev', 'nosuchdev0'], { allowFail: true })).code, 1);
    assert.equal((await run('cat', [], { input: 'hello' })).stdout, 'hello');
    await assert.rejects(run('sleep', ['5'], { timeoutMs: 50 }), /timed out/);
    await assert.rejects(run('/nonexistent/cmd', []), CommandError);
  });
});
