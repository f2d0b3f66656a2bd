/**
 * `neutrino check`, `neutrino trace` and `trace --probe` against a real `neutrino up` (root, real
 * packets). A topology applied with the CLI has deliberate security-group denials (web1 takes
 * only HTTP and pings, db1 only SSH from the web group, web2 only its own group), an isolated
 * network without a router, a router without a gateway and a floating IP; `check` must measure
 * exactly the expected matrix and agree with the model on every probe. `trace` explains an
 * allowed path, a security-group denial, a subnet without a router, a router without a route, an
 * instance without a floating IP seen from outside and a spoofed source, with exit codes 0 and 2.
 * `trace --probe` then names a DHCP server killed by the pid in its pid file and a tap link
 * deleted by hand, from the agent's desired state against the kernel; `check` then disagrees with
 * the model (exit 2) and names the missing tap link too.
 *
 * As in l3.test.ts the deployment runs with `--no-external-network`: the external network is made
 * through the API on a bridge of the test's own, whose "outside" namespace holds its gateway. The
 * agent's periodic resync is long, so that the drift made by hand is still there when probed.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ipBatch } from '../../src/linux/ip.js';
import { NeutrinoUp } from '../helpers/neutrino-up.js';
import { Outside } from '../helpers/outside.js';
import { until as waitUntil } from '../helpers/until.js';

const isRoot = process.getuid?.() === 0;

interface Instance {
  id: string;
  name: string;
  status: string;
  ports: { id: string; network_id: string; fixed_ips: { ip_address: string }[] }[];
}

interface CheckResult {
  from: string;
  to: string;
  protocol: string;
  port?: number;
  model: string;
  probe: string;
  agrees: boolean | null;
  reason?: string;
}

const topology = (outside: string) => `
name: trace-check
projects:
  tc:
    networks:
      front:
        subnets:
          front-v4: { cidr: 10.40.1.0/24 }
      back:
        subnets:
          back-v4: { cidr: 10.40.2.0/24 }
      iso:
        subnets:
          iso-v4: { cidr: 10.40.3.0/24 }
      side:
        subnets:
          side-v4: { cidr: 10.40.4.0/24 }
    routers:
      edge:
        external_gateway: public
        interfaces: [front-v4, back-v4]
      inner:
        interfaces: [side-v4]
    security_groups:
      web:
        rules:
          - { protocol: tcp, port: 80, remote_ip: 0.0.0.0/0 }
          - { protocol: icmp, remote_ip: 0.0.0.0/0 }
      db:
        rules:
          - { protocol: tcp, port: 22, remote_group: web }
    instances:
      web1: { networks: [front], security_groups: [web] }
      web2: { networks: [front] }
      db1: { networks: [back], security_groups: [db] }
      lone: { networks: [iso] }
      side1: { networks: [side] }
    floating_ips:
      - { instance: web1, network: public }
check:
  tcp: [22, 80]
  outside: ${outside}
`;

/**
 * What should be reachable, as `from to` → the protocols that get through (icmp, 22, 80); every
 * other pair and protocol must not. The outside reaches only web1, through its floating IP.
 */
const REACHABLE: Record<string, string[]> = {
  'web1 db1': ['tcp/22'],
  'web1 outside': ['icmp', 'tcp/22', 'tcp/80'],
  'web2 web1': ['icmp', 'tcp/80'],
  'web2 outside': ['icmp', 'tcp/22', 'tcp/80'],
  'db1 web1': ['icmp', 'tcp/80'],
  'db1 outside': ['icmp', 'tcp/22', 'tcp/80'],
  'outside web1': ['icmp', 'tcp/80'],
};

const until = <T>(what: string, check: () => Promise<T | undefined | false>, timeoutMs = 30000) =>
  waitUntil(what, check, timeoutMs, 200);

describe('neutrino trace and check against neutrino up (real kernel)', {
  skip: !isRoot && 'needs root',
}, () => {
  const outside = new Outside('203.0.113.254/24');
  const up = new NeutrinoUp({ resyncIntervalS: 3600, physicalInterfaceMappings: { public: outside.bridge } });
  const file = join(up.stateDir, `trace-check-${randomBytes(2).toString('hex')}.yaml`);
  let instances: Map<string, Instance>;

  const cli = (...args: string[]) => up.cli(args, undefined, 120_000);

  before(async () => {
    await outside.create();
    await up.start();
    const { network } = await up.session.post<{ network: { id: string } }>('/v2.0/networks', {
      network: {
        name: 'public',
        'router:external': true,
        'provider:network_type': 'flat',
        'provider:physical_network': 'public',
      },
    });
    await up.session.post('/v2.0/subnets', {
      subnet: {
        network_id: network.id,
        ip_version: 4,
        cidr: '203.0.113.0/24',
        gateway_ip: '203.0.113.254',
        allocation_pools: [{ start: '203.0.113.10', end: '203.0.113.100' }],
        enable_dhcp: false,
      },
    });
    writeFileSync(file, topology(outside.netns));
    const applied = await cli('apply', file);
    assert.equal(applied.code, 0, applied.stderr + applied.stdout);
    const { instances: all } = await up.session.get<{ instances: Instance[] }>('/neutrino/v1/instances');
    instances = new Map(all.map((i) => [i.name, i]));
    assert.deepEqual([...instances.values()].map((i) => i.status).sort(), Array(5).fill('ACTIVE'));
    // The routers' ports come up on their own, after the instances.
    await until('every port ACTIVE', async () => {
      const { ports } = await up.session.get<{ ports: { status: string; device_owner: string }[] }>(
        '/v2.0/ports',
      );
      return ports.filter((p) => p.device_owner !== 'network:floatingip').every((p) => p.status === 'ACTIVE');
    });
  });

  after(async () => {
    await up.cleanup();
    await outside.remove();
  });

  it('check measures exactly the expected matrix, agreeing with the model everywhere', async (t) => {
    const started = Date.now();
    const result = await cli('check', file, '--state-dir', up.stateDir, '-f', 'json');
    t.diagnostic(`check took ${Date.now() - started} ms`);
    assert.equal(result.code, 0, result.stdout + result.stderr);
    const { endpoints, results, mismatches } = JSON.parse(result.stdout) as {
      endpoints: string[];
      results: CheckResult[];
      mismatches: number;
    };
    assert.deepEqual(endpoints, ['web1', 'web2', 'db1', 'lone', 'side1', 'outside']);
    assert.equal(mismatches, 0);
    assert.equal(results.length, 6 * 5 * 3);
    for (const r of results) {
      const what = r.protocol === 'icmp' ? 'icmp' : `tcp/${r.port}`;
      const expected = (REACHABLE[`${r.from} ${r.to}`] ?? []).includes(what);
      const label = `${r.from} → ${r.to} ${what}: ${JSON.stringify(r)}`;
      assert.equal(r.model, expected ? 'allowed' : r.model === 'allowed' ? 'denied' : r.model, label);
      if (r.from === 'outside' && r.to !== 'web1') {
        assert.equal(r.probe, 'not probed', label);
        continue;
      }
      assert.equal(r.probe, expected ? 'reached' : 'not reached', label);
      assert.equal(r.agrees, true, label);
    }
    const denied = results.find((r) => r.from === 'web1' && r.to === 'web2' && r.protocol === 'icmp')!;
    assert.equal(denied.model, 'denied');
    assert.match(denied.reason!, /no ingress rule of security group default/);
    const table = await cli('check', file, '--state-dir', up.stateDir);
    assert.equal(table.code, 0, table.stderr);
    assert.match(table.stdout, /from \\ to/);
    assert.match(table.stdout, /tcp\/22 ✗ ✗/);
    assert.match(table.stdout, /0 disagreement\(s\) with the model/);
  });

  it('trace explains an allowed path hop by hop, exit 0', async () => {
    const r = await cli('trace', 'web2', 'web1', '--proto', 'tcp', '--port', '80');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^trace web2 \(10\.40\.1\.\d+\) → web1 \(10\.40\.1\.\d+\), tcp port 80/);
    assert.match(r.stdout, /✓ egress +egress rule \w+ of security group default/);
    assert.match(
      r.stdout,
      /✓ ingress +ingress rule \w+ of security group web \(ingress IPv4 tcp port 80 from 0\.0\.0\.0\/0\)/,
    );
    assert.match(r.stdout, /verdict: allowed\n/);
    const routed = JSON.parse((await cli('trace', 'web1', 'db1', '--port', '22', '-f', 'json')).stdout);
    assert.equal(routed.verdict, 'allowed');
    assert.deepEqual(
      routed.hops
        .filter((h: { step: string }) => h.step === 'gateway')
        .map((h: { object: { name: string } }) => h.object.name),
      ['edge'],
    );
  });

  it('trace names the security group that denies, exit 2', async () => {
    const r = await cli('trace', 'web1', 'web2');
    assert.equal(r.code, 2, r.stderr);
    assert.match(
      r.stdout,
      /✗ ingress +no ingress rule of security group default on port \w+ \(instance web2 eth0\) allows icmp echo from 10\.40\.1\.\d+/,
    );
    assert.match(r.stdout, /verdict: denied — no ingress rule/);
  });

  it('trace finds no router and no route', async () => {
    const noRouter = await cli('trace', 'lone', 'web1');
    assert.equal(noRouter.code, 2);
    assert.match(
      noRouter.stdout,
      /subnet iso-v4 \(10\.40\.3\.0\/24\) has no router interface: no port holds its gateway 10\.40\.3\.1/,
    );
    assert.match(noRouter.stdout, /verdict: unreachable/);
    const noRoute = await cli('trace', 'side1', '203.0.113.254');
    assert.equal(noRoute.code, 2);
    assert.match(
      noRoute.stdout,
      /router inner has no route to 203\.0\.113\.254: no interface on its subnet, no extra route to it, and no external gateway/,
    );
  });

  it('trace reaches an instance from outside only by its floating IP', async () => {
    const none = await cli('trace', '203.0.113.254', 'web2');
    assert.equal(none.code, 2);
    assert.match(
      none.stdout,
      /no floating IP for port \w+ \(instance web2 eth0\): it cannot be reached from outside/,
    );
    const fip = await cli('trace', '203.0.113.254', 'web1', '--port', '80');
    assert.equal(fip.code, 0, fip.stdout);
    assert.match(fip.stdout, /router edge DNATs floating IP 203\.0\.113\.\d+ to 10\.40\.1\.\d+/);
  });

  it('trace drops a spoofed source at its port', async () => {
    const r = await cli('trace', 'web2', 'web1', '--source-ip', '10.40.1.250');
    assert.equal(r.code, 2);
    assert.match(
      r.stdout,
      /✗ anti-spoofing +anti-spoofing on port \w+ \(instance web2 eth0\) drops packets from 10\.40\.1\.250/,
    );
  });

  it('trace --probe agrees with the model, and names a killed DHCP server by its network', async () => {
    const ok = await cli('trace', 'web2', 'web1', '--probe', '--state-dir', up.stateDir);
    assert.equal(ok.code, 0, ok.stdout + ok.stderr);
    assert.match(ok.stdout, /probe: reached from host \S+ — reality agrees with the model/);
    assert.match(ok.stdout, /no kernel drift on this path/);
    const front = instances.get('web1')!.ports[0].network_id;
    const pidFile = join(up.agentDir, 'dhcp', front, 'pid');
    const pid = Number(readFileSync(pidFile, 'utf8').trim());
    assert.ok(pid > 1);
    process.kill(pid, 'SIGKILL');
    await until('dnsmasq gone', async () => {
      try {
        process.kill(pid, 0);
        return false;
      } catch {
        return true;
      }
    });
    const r = await cli('trace', 'web2', 'web1', '--probe', '--state-dir', up.stateDir);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /kernel drift on this path/);
    assert.match(
      r.stdout,
      new RegExp(
        `network front's DHCP server \\(dnsmasq\\) is not running on host ${up.host} \\(dnsmasq\\.start pending\\)`,
      ),
    );
  });

  it('trace --probe disagrees when a tap link is deleted by hand, and names it', async () => {
    const port = instances.get('web1')!.ports[0].id;
    const tap = `tap${port.slice(0, 11)}`;
    await ipBatch([['link', 'del', tap]]);
    const r = await cli('trace', 'web2', 'web1', '--probe', '--state-dir', up.stateDir, '-f', 'json');
    assert.equal(r.code, 3, r.stdout + r.stderr);
    const body = JSON.parse(r.stdout);
    assert.equal(body.verdict, 'allowed');
    assert.equal(body.probe.reached, false);
    assert.equal(body.probe.agrees, false);
    assert.ok(
      body.probe.drift.includes(
        `port ${port.slice(0, 8)} (instance web1 eth0)'s tap device ${tap} is missing on host ${up.host} (veth.add pending)`,
      ),
      JSON.stringify(body.probe.drift, null, 2),
    );
    const text = await cli('trace', 'web2', 'web1', '--probe', '--state-dir', up.stateDir);
    assert.equal(text.code, 3);
    assert.match(text.stdout, /probe: not reached from host \S+ — REALITY DISAGREES with the model/);
    const check = await cli('check', file, '--state-dir', up.stateDir);
    assert.equal(check.code, 2, check.stdout + check.stderr);
    assert.match(
      check.stdout,
      /web2 → web1 icmp \(10\.40\.1\.\d+\): the probe did not get through, but the model says allowed/,
    );
    assert.match(check.stdout, /icmp {3}✓ ✗ ◀/);
    assert.match(
      check.stdout,
      new RegExp(
        `kernel drift on host ${up.host} on these paths:\n(  - .*\n)*  - port \\w+ \\(instance web1 eth0\\)'s tap device ${tap} is missing`,
      ),
    );
    assert.doesNotMatch(check.stdout, / 0 disagreement/);
  });
});
