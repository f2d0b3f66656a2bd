/**
 * IPv6 end to end through a real `neutrino up` (root, real packets): three IPv6-only networks on
 * one router — SLAAC, stateful DHCPv6 and stateless DHCPv6. radvd in the router namespace
 * advertises them; an instance on the SLAAC subnet configures exactly its port's EUI-64 fixed IP
 * with a default route via the router's link-local address; an instance on the stateful subnet
 * gets exactly its port's fixed IP from dnsmasq through the DHCPv6 client the agent runs and
 * supervises in it (ISC dhclient -6: Debian's busybox has no udhcpc6), is ACTIVE only once that
 * lease is in, and takes the router's default route from the Managed advertisement; the stateless
 * one makes its own address and its agent-run `dhclient -6 -S` gets only the DNS server. Neither
 * touches the host's /etc/resolv.conf; a killed client is started again and leases the same
 * address, a deleted instance's ends, and `neutrino down` ends the rest. A dual-stack instance runs
 * udhcpc and dhclient -6 side by side and holds exactly both fixed IPs. Instances ping
 * each other across the router. Security groups hold for IPv6 (no ingress into a group without
 * rules until an ICMPv6 rule), a spoofed IPv6 source is dropped at its port, and a rogue radvd in an
 * instance is dropped at its port (counted as an `ra` drop): its prefix never reaches the instance
 * next to it.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { linkLocal } from '../../src/agent/firewall/security-groups.js';
import { run, runInNamespace } from '../../src/linux/exec.js';
import { ipJson } from '../../src/linux/ip.js';
import { isAlive } from '../../src/linux/process.js';
import { NeutrinoUp } from '../helpers/neutrino-up.js';
import { until as waitUntil } from '../helpers/until.js';

const isRoot = process.getuid?.() === 0;
const INSTANCES = '/neutrino/v1/instances';
const DHCLIENT = '/usr/sbin/dhclient';
const RADVD = '/usr/sbin/radvd';

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

const ns = (i: Instance) => `inst-${i.id}`;
const ipOf = (i: Instance) => i.ports[0].fixed_ips[0].ip_address;
/** Router advertisements come at most every 100 s, but at once on a solicitation or a start. */
const until = <T>(what: string, check: () => Promise<T | undefined | false>, timeoutMs = 60_000) =>
  waitUntil(what, check, timeoutMs, 250);

interface AddrInfo {
  family: string;
  local: string;
  prefixlen: number;
  scope: string;
  tentative?: boolean;
}

async function globalAddresses(i: Instance): Promise<string[]> {
  const links = await ipJson<{ addr_info: AddrInfo[] }[]>(['-6', 'addr', 'show', 'dev', 'eth0'], {
    netns: ns(i),
  }).catch(() => []);
  return links.flatMap((l) => l.addr_info.filter((a) => a.scope === 'global').map((a) => a.local));
}

/** Whether eth0's link-local address has passed duplicate address detection. */
async function linkLocalReady(i: Instance): Promise<boolean> {
  const links = await ipJson<{ addr_info: AddrInfo[] }[]>(['-6', 'addr', 'show', 'dev', 'eth0'], {
    netns: ns(i),
  }).catch(() => []);
  return links.some((l) => l.addr_info.some((a) => a.scope === 'link' && !a.tentative));
}

async function defaultRoutes(i: Instance): Promise<{ gateway?: string; dev?: string; protocol?: string }[]> {
  return ipJson<{ gateway?: string; dev?: string; protocol?: string }[]>(['-6', 'route', 'show', 'default'], {
    netns: ns(i),
  }).catch(() => []);
}

async function ping6(from: Instance, to: string): Promise<boolean> {
  const { code } = await runInNamespace(ns(from), 'ping', ['-6', '-c', '1', '-W', '1', to], {
    allowFail: true,
  });
  return code === 0;
}

describe('IPv6: router advertisements, SLAAC, DHCPv6, routing and RA guard (real kernel)', {
  skip: !isRoot && 'needs root',
}, () => {
  const up = new NeutrinoUp({ resyncIntervalS: 2 });
  const children: ChildProcess[] = [];
  const stderr = new Map<ChildProcess, string>();
  let scratch = '';
  let hostResolvConf = '';
  let routerLla: Record<string, string> = {};
  let routerId = '';
  let radvdPid = 0;
  const radvdPidFile = () => join(up.agentDir, 'routers', routerId, 'radvd.pid');
  let slaacVm: Instance;
  let statefulVm: Instance;
  let statelessVm: Instance;
  let rogueVm: Instance;
  let closedVm: Instance;
  let closedGroup = '';
  let statefulNet = '';
  /** A stateful instance left running for `neutrino down` to end. */
  let survivor: Instance | undefined;
  const subnets: Record<string, string> = {};

  /** Starts `argv` in instance `i`'s namespace; killed (by its pid) after the tests. */
  function startIn(i: Instance, argv: string[]): ChildProcess {
    const child = spawn('ip', ['netns', 'exec', ns(i), ...argv], { stdio: ['ignore', 'ignore', 'pipe'] });
    stderr.set(child, '');
    child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
      stderr.set(child, (stderr.get(child) ?? '') + chunk);
    });
    children.push(child);
    return child;
  }

  /** A network with one IPv6 subnet in `mode`, whose id goes into `subnets[key]`. */
  async function network(
    name: string,
    cidr: string,
    mode: string,
    dns: string[] = [],
    key = mode,
  ): Promise<string> {
    const api = up.session;
    const { network } = await api.post<{ network: { id: string } }>('/v2.0/networks', { network: { name } });
    const { subnet } = await api.post<{ subnet: { id: string } }>('/v2.0/subnets', {
      subnet: {
        network_id: network.id,
        ip_version: 6,
        cidr,
        ipv6_ra_mode: mode,
        ipv6_address_mode: mode,
        dns_nameservers: dns,
      },
    });
    subnets[key] = subnet.id;
    return network.id;
  }

  async function instances(
    ...networks: (string | { network: string; group: string })[]
  ): Promise<Instance[]> {
    const api = up.session;
    const ids: string[] = [];
    for (const spec of networks) {
      const { network, group } = typeof spec === 'string' ? { network: spec, group: undefined } : spec;
      const { instance } = await api.post<{ instance: Instance }>(INSTANCES, {
        instance: {
          name: `v6-${ids.length}`,
          networks: [{ network_id: network }],
          ...(group ? { security_groups: [group] } : {}),
        },
      });
      ids.push(instance.id);
    }
    return until(`${ids.length} instances ACTIVE`, async () => {
      const all = await Promise.all(
        ids.map((id) => api.get<{ instance: Instance }>(`${INSTANCES}/${id}`).then((r) => r.instance)),
      );
      const failed = all.find((i) => i.status === 'ERROR');
      assert.ok(!failed, `instance in ERROR: ${JSON.stringify(failed?.fault)}`);
      return all.every((i) => i.status === 'ACTIVE') ? all : undefined;
    });
  }

  /** The agent's dhclient -6 of `i`'s eth0: its pid (from its pid file) and the lease it recorded. */
  async function agentDhcp6(i: Instance): Promise<{ pid: number; lease: Record<string, string> }> {
    const dir = join(up.agentDir, 'instances', i.id);
    const pid = Number((await readFile(join(dir, 'dhclient6-eth0.pid'), 'utf8').catch(() => '')).trim());
    const text = await readFile(join(dir, 'eth0.lease6'), 'utf8').catch(() => '');
    const lease = Object.fromEntries(
      text
        .split('\n')
        .filter(Boolean)
        .map((line) => line.split(/=(.*)/s, 2)),
    );
    return { pid, lease };
  }

  /** The command line of process `pid` and the network namespace it runs in (its inode). */
  async function processOf(pid: number): Promise<{ argv: string[]; netns: string }> {
    const argv = (await readFile(`/proc/${pid}/cmdline`, 'utf8')).split('\0').filter(Boolean);
    const { stdout } = await run('readlink', [`/proc/${pid}/ns/net`]);
    return { argv, netns: stdout.trim() };
  }

  /** Instance `i`'s network namespace as /proc shows it (`net:[inode]`). */
  async function namespaceInode(i: Instance): Promise<string> {
    const { stdout } = await run('stat', ['-L', '-c', '%i', `/run/netns/${ns(i)}`]);
    return `net:[${stdout.trim()}]`;
  }

  before(async () => {
    scratch = await mkdtemp(join(tmpdir(), 'neutrino-ipv6-e2e-'));
    hostResolvConf = await readFile('/etc/resolv.conf', 'utf8').catch(() => '');
    await up.start();
    const api = up.session;
    const slaac = await network('v6-slaac', '2001:db8:61::/64', 'slaac');
    const stateful = await network('v6-stateful', '2001:db8:62::/64', 'dhcpv6-stateful');
    statefulNet = stateful;
    const stateless = await network('v6-stateless', '2001:db8:63::/64', 'dhcpv6-stateless', ['2001:db8::53']);
    const { router } = await api.post<{ router: { id: string } }>('/v2.0/routers', {
      router: { name: 'r6' },
    });
    routerId = router.id;
    for (const subnet_id of Object.values(subnets))
      await api.put(`/v2.0/routers/${router.id}/add_router_interface`, { subnet_id });
    const { ports } = await api.get<{ ports: Port[] }>(`/v2.0/ports?device_id=${router.id}`);
    routerLla = Object.fromEntries(
      ports.map((p) => [p.fixed_ips[0].subnet_id, linkLocal(p.mac_address.toLowerCase())]),
    );
    const { security_group } = await api.post<{ security_group: { id: string } }>('/v2.0/security-groups', {
      security_group: { name: 'v6-closed' },
    });
    closedGroup = security_group.id;
    [slaacVm, statefulVm, statelessVm, rogueVm, closedVm] = await instances(
      slaac,
      stateful,
      stateless,
      slaac,
      {
        network: slaac,
        group: closedGroup,
      },
    );
  });

  after(async () => {
    for (const child of children)
      if (child.exitCode === null && child.pid) process.kill(child.pid, 'SIGTERM');
    // `neutrino down` ends the instances' dhclients too (the last test leaves one running).
    const running = survivor ? (await agentDhcp6(survivor)).pid : 0;
    await up.cleanup();
    await rm(scratch, { recursive: true, force: true });
    if (running > 1)
      assert.equal(await isAlive(running), false, `dhclient ${running} left after neutrino down`);
  });

  it("SLAAC: the instance makes exactly its port's EUI-64 address, default route via the router's link-local", async (t) => {
    const router = routerLla[subnets.slaac];
    await until('a SLAAC address and a default route from the router', async () => {
      const routes = await defaultRoutes(slaacVm);
      return (await globalAddresses(slaacVm)).length > 0 && routes.some((r) => r.gateway === router);
    });
    assert.deepEqual(await globalAddresses(slaacVm), [ipOf(slaacVm)], "the port's fixed IP, nothing else");
    assert.deepEqual(
      (await defaultRoutes(slaacVm)).map((r) => [r.gateway, r.dev, r.protocol]),
      [[router, 'eth0', 'ra']],
    );
    t.diagnostic(`${ipOf(slaacVm)} via ${router}`);
  });

  it("stateful DHCPv6: the agent's dhclient -6 leases exactly the port's fixed IP; the Managed RA gives the default route", async (t) => {
    // The instance was reported ACTIVE only once this lease arrived (an IPv6-only stateful port).
    const { pid, lease } = await until(
      'the DHCPv6 lease recorded',
      async () => {
        const got = await agentDhcp6(statefulVm);
        return got.lease.ip ? got : undefined;
      },
      30_000,
    );
    assert.equal(lease.ip, ipOf(statefulVm));
    await until(
      "the port's fixed IP on eth0",
      async () => (await globalAddresses(statefulVm)).length > 0,
      30_000,
    );
    assert.deepEqual(
      await globalAddresses(statefulVm),
      [ipOf(statefulVm)],
      'exactly the fixed IP, no SLAAC address',
    );
    await until('the default route from the Managed advertisement', async () =>
      (await defaultRoutes(statefulVm)).some((r) => r.gateway === routerLla[subnets['dhcpv6-stateful']]),
    );
    // Supervised: the client runs in the instance namespace, in the foreground under our pid file.
    const proc = await processOf(pid);
    assert.equal(proc.argv[0], DHCLIENT);
    assert.ok(proc.argv.includes('-d') && !proc.argv.includes('-S'), proc.argv.join(' '));
    assert.equal(
      proc.argv[proc.argv.indexOf('-pf') + 1],
      join(up.agentDir, 'instances', statefulVm.id, 'dhclient6-eth0.pid'),
    );
    assert.equal(proc.netns, await namespaceInode(statefulVm));
    assert.equal(
      await readFile('/etc/resolv.conf', 'utf8').catch(() => ''),
      hostResolvConf,
      "the host's resolv.conf untouched",
    );
    t.diagnostic(`leased ${lease.ip}/${lease.prefixlen} (dhclient pid ${pid})`);
  });

  it("stateless DHCPv6: an EUI-64 address from the RA, the DNS server from the agent's dhclient -6 -S, asked once", async () => {
    await until('a SLAAC address', async () => (await globalAddresses(statelessVm)).length > 0);
    assert.deepEqual(await globalAddresses(statelessVm), [ipOf(statelessVm)]);
    const { pid, lease } = await until(
      'the DHCPv6 information recorded',
      async () => {
        const got = await agentDhcp6(statelessVm);
        return got.lease.dns ? got : undefined;
      },
      30_000,
    );
    assert.equal(lease.dns.trim(), '2001:db8::53');
    assert.equal(lease.ip, '', 'information only: no address leased');
    // dhclient -6 -S exits once answered; the agent takes the recorded reply as that client done
    // and does not start it again (several resyncs, every 2 s here).
    await new Promise((resolve) => setTimeout(resolve, 6_000));
    const later = await agentDhcp6(statelessVm);
    assert.equal(later.pid, pid, 'not started again');
    assert.equal(later.lease.dns, lease.dns);
    assert.deepEqual(await globalAddresses(statelessVm), [ipOf(statelessVm)], 'still only the SLAAC address');
    assert.equal(await readFile('/etc/resolv.conf', 'utf8').catch(() => ''), hostResolvConf);
  });

  it('dual stack: udhcpc and dhclient -6 side by side give eth0 both fixed IPs; ACTIVE on the IPv4 lease', async () => {
    const api = up.session;
    const { network } = await api.post<{ network: { id: string } }>('/v2.0/networks', {
      network: { name: 'v6-dual' },
    });
    await api.post('/v2.0/subnets', {
      subnet: { network_id: network.id, ip_version: 4, cidr: '10.66.0.0/24' },
    });
    await api.post('/v2.0/subnets', {
      subnet: {
        network_id: network.id,
        ip_version: 6,
        cidr: '2001:db8:65::/64',
        ipv6_ra_mode: 'dhcpv6-stateful',
        ipv6_address_mode: 'dhcpv6-stateful',
      },
    });
    const [vm] = await instances(network.id);
    const v4 = vm.ports[0].fixed_ips.find((ip) => !ip.ip_address.includes(':'))?.ip_address;
    const v6 = vm.ports[0].fixed_ips.find((ip) => ip.ip_address.includes(':'))?.ip_address;
    assert.ok(v4 && v6, JSON.stringify(vm.ports[0].fixed_ips));
    const { lease } = await until(
      'the DHCPv6 lease recorded',
      async () => {
        const got = await agentDhcp6(vm);
        return got.lease.ip ? got : undefined;
      },
      30_000,
    );
    assert.equal(lease.ip, v6);
    await until('the IPv6 address on eth0', async () => (await globalAddresses(vm)).length > 0, 30_000);
    assert.deepEqual(await globalAddresses(vm), [v6], 'exactly its fixed IPv6 address (no router: no SLAAC)');
    const links = await ipJson<{ addr_info: AddrInfo[] }[]>(['-4', 'addr', 'show', 'dev', 'eth0'], {
      netns: ns(vm),
    });
    assert.deepEqual(
      links.flatMap((l) => l.addr_info.map((a) => a.local)),
      [v4],
    );
  });

  it('runs one radvd in the router namespace', async () => {
    radvdPid = Number((await readFile(radvdPidFile(), 'utf8')).trim());
    assert.ok(await isAlive(radvdPid));
    // radvd forks a privilege-separated helper; nothing but the two of them runs there.
    const pids = (await run('ip', ['netns', 'pids', `qrouter-${routerId}`])).stdout
      .split('\n')
      .filter(Boolean);
    assert.ok(pids.includes(String(radvdPid)), pids.join(' '));
    for (const pid of pids)
      assert.equal((await readFile(`/proc/${pid}/cmdline`, 'utf8')).split('\0')[0], RADVD, `pid ${pid}`);
  });

  it('routes between the IPv6 subnets through the router, both ways', async () => {
    await until('SLAAC instance reaches the stateful one', () => ping6(slaacVm, ipOf(statefulVm)), 20_000);
    assert.ok(await ping6(statefulVm, ipOf(slaacVm)));
    assert.ok(await ping6(statelessVm, ipOf(statefulVm)));
  });

  it('holds security groups for IPv6: no ingress until a rule allows ICMPv6 from anywhere', async () => {
    await until('the closed instance configured', async () => (await globalAddresses(closedVm)).length > 0);
    assert.equal(await ping6(statefulVm, ipOf(closedVm)), false, 'a group without ingress rules');
    await up.session.post('/v2.0/security-group-rules', {
      security_group_rule: {
        security_group_id: closedGroup,
        direction: 'ingress',
        ethertype: 'IPv6',
        protocol: 'ipv6-icmp',
        remote_ip_prefix: '::/0',
      },
    });
    await until('ICMPv6 allowed in', () => ping6(statefulVm, ipOf(closedVm)), 20_000);
  });

  it("drops IPv6 from an address that is not the port's (anti-spoofing), counted as spoof", async () => {
    const spoofed = '2001:db8:61::bad';
    const drops = async () => {
      const { port_drops } = await up.session.get<{
        port_drops: { drops: Record<string, { packets: number }> };
      }>(`/neutrino/v1/ports/${slaacVm.ports[0].id}/drops`);
      return port_drops.drops.spoof?.packets ?? 0;
    };
    const before = await drops();
    await runInNamespace(ns(slaacVm), 'ip', ['-6', 'addr', 'add', `${spoofed}/64`, 'dev', 'eth0', 'nodad']);
    try {
      const { code } = await runInNamespace(
        ns(slaacVm),
        'ping',
        ['-6', '-c', '2', '-W', '1', '-I', spoofed, ipOf(statefulVm)],
        { allowFail: true },
      );
      assert.notEqual(code, 0, 'no reply to a spoofed source');
      await until('spoofed packets counted', async () => (await drops()) > before, 20_000);
    } finally {
      await runInNamespace(ns(slaacVm), 'ip', ['-6', 'addr', 'del', `${spoofed}/64`, 'dev', 'eth0']);
    }
    assert.ok(await ping6(slaacVm, ipOf(statefulVm)), 'its own address still goes through');
  });

  it("drops a rogue instance's router advertisements at its port: its prefix never reaches its neighbour", async (t) => {
    const conf = join(scratch, 'rogue-radvd.conf');
    await writeFile(
      conf,
      [
        'interface eth0 {',
        '    AdvSendAdvert on;',
        '    MinRtrAdvInterval 3;',
        '    MaxRtrAdvInterval 4;',
        '    prefix 2001:db8:bad::/64 { AdvOnLink on; AdvAutonomous on; };',
        '};',
        '',
      ].join('\n'),
      { mode: 0o644 },
    );
    await until('the rogue link-local address past DAD', () => linkLocalReady(rogueVm));
    const rogue = startIn(rogueVm, [
      RADVD,
      '-n',
      '-C',
      conf,
      '-p',
      join(scratch, 'rogue.pid'),
      '-m',
      'stderr',
    ]);
    const port = rogueVm.ports[0].id;
    const drops = await until('router advertisements dropped at the rogue port', async () => {
      const { port_drops } = await up.session.get<{
        port_drops: { drops: Record<string, { packets: number }> };
      }>(`/neutrino/v1/ports/${port}/drops`);
      const n = port_drops.drops.ra?.packets ?? 0;
      return n >= 2 ? n : undefined;
    });
    assert.equal(rogue.exitCode, null, 'the rogue radvd kept running');
    assert.deepEqual(await globalAddresses(slaacVm), [ipOf(slaacVm)], 'no address in the rogue prefix');
    assert.deepEqual(
      (await defaultRoutes(slaacVm)).map((r) => r.gateway),
      [routerLla[subnets.slaac]],
      'no default route via the rogue',
    );
    t.diagnostic(`${drops} rogue advertisements dropped`);
  });
  it('advertises a newly attached subnet with radvd reloaded (SIGHUP), never restarted', async () => {
    const later = await network('v6-later', '2001:db8:64::/64', 'slaac', [], 'slaac_later');
    await up.session.put(`/v2.0/routers/${routerId}/add_router_interface`, {
      subnet_id: subnets.slaac_later,
    });
    const [vm] = await instances(later);
    await until('a SLAAC address on the new subnet', async () => (await globalAddresses(vm)).length > 0);
    assert.deepEqual(await globalAddresses(vm), [ipOf(vm)]);
    await until('routed to the other subnets', () => ping6(vm, ipOf(statefulVm)), 20_000);
    assert.equal(
      Number((await readFile(radvdPidFile(), 'utf8')).trim()),
      radvdPid,
      'the same radvd throughout',
    );
  });

  it('supervises dhclient -6: killed, it is started again and leases the same fixed IP (DUID from the MAC)', async () => {
    const { pid } = await agentDhcp6(statefulVm);
    assert.ok(pid > 1 && (await isAlive(pid)));
    process.kill(pid, 'SIGKILL');
    const again = await until(
      'a new dhclient with the lease again',
      async () => {
        const got = await agentDhcp6(statefulVm);
        return got.pid !== pid && got.pid > 1 && got.lease.ip && (await isAlive(got.pid)) ? got : undefined;
      },
      30_000,
    );
    assert.equal(again.lease.ip, ipOf(statefulVm));
    assert.deepEqual(await globalAddresses(statefulVm), [ipOf(statefulVm)]);
  });

  it("ends an instance's dhclient -6 (by its pid) when the instance is deleted, not its neighbour's", async () => {
    const { pid } = await agentDhcp6(statefulVm);
    assert.ok(pid > 1 && (await isAlive(pid)));
    [survivor] = await instances(statefulNet);
    const other = await until(
      'the second instance leased',
      async () => {
        const got = await agentDhcp6(survivor as Instance);
        return got.lease.ip ? got : undefined;
      },
      30_000,
    );
    assert.equal(other.lease.ip, ipOf(survivor));
    await up.session.delete(`${INSTANCES}/${statefulVm.id}`);
    await until('the dhclient gone', async () => !(await isAlive(pid)), 30_000);
    assert.ok(await isAlive(other.pid), "the other instance's dhclient runs on");
  });
});
