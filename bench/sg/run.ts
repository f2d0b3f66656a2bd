/**
 * Security-group benchmark through the API (root), on an all-in-one (server + local agent in this
 * process, as `neutrino up` runs them): 500 ports bound to the host in one group with 20 rules
 * (bound without instances: their chains are laid out all the same), plus two real instances for
 * the probe. Measured, from the API call until a probe flow starts to pass (`ping -i 0.002 -D`, the
 * first reply's timestamp): a new rule (ICMP allowed) taking effect, and a remote-group membership
 * change (the probe client joining the group a rule names); each with the agent's reconcile time
 * and the size of the nft transaction. Also the time to build the 500 ports' filters, and iperf3
 * between two instances with security groups on (the same group as the 500) and between two with
 * port security off, interleaved in one run. Merges into bench/sg/results.json and prints a table.
 *
 *   npx tsx bench/sg/run.ts [--ports 500] [--out bench/sg/results.json]
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import pino from 'pino';
import { stringify } from 'yaml';
import { type AllInOne, startAllInOne } from '../../src/cli/dataplane.js';
import { Session } from '../../src/client/session.js';
import { loadConfig } from '../../src/config.js';
import { runInNamespace } from '../../src/linux/exec.js';
import { iperf, median } from '../measure.js';

const args = process.argv.slice(2);
const arg = (name: string, fallback: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : fallback;
};
const PORTS = Number(arg('ports', '500'));
const OUT = arg('out', 'bench/sg/results.json');
const RULES = 20;
const RUNS = 7;
const IPERF_ROUNDS = 5;
const TIMEOUT_MS = 300_000;
const PASSWORD = `bench-${randomBytes(6).toString('hex')}`;

interface Port {
  id: string;
  fixed_ips: { ip_address: string }[];
}
interface Instance {
  id: string;
  status: string;
  ports: Port[];
}

/** The agent's `reconciled` log lines (revision, ops, ms), collected as they come. */
class AgentLog {
  readonly lines: { time: number; ops: Record<string, number>; ms: number }[] = [];
  readonly stream = new Writable({
    write: (chunk: Buffer, _encoding, done) => {
      for (const text of chunk.toString().split('\n')) {
        if (!text.includes('"msg":"reconciled"')) continue;
        const entry = JSON.parse(text) as { time: number; ops: Record<string, number>; ms: number };
        this.lines.push({ time: entry.time, ops: entry.ops, ms: entry.ms });
      }
      done();
    },
  });

  /** The reconciles that applied a security-group change since `since` (ms epoch). */
  firewallRuns(since: number): { ms: number; ops: Record<string, number> }[] {
    return this.lines.filter((l) => l.time >= since && l.ops['firewall.apply']);
  }
}

class Deployment {
  readonly r = randomBytes(2).toString('hex');
  readonly log = new AgentLog();
  stateDir = '';
  allInOne!: AllInOne;
  api!: Session;

  async start(): Promise<void> {
    this.stateDir = await mkdtemp(join(tmpdir(), 'neutrino-bench-sg-'));
    const configFile = join(this.stateDir, 'neutrino.yaml');
    const quotas = {
      network: 100,
      subnet: 100,
      port: 10_000,
      security_group: 100,
      security_group_rule: 1000,
    };
    await writeFile(configFile, stringify({ settings: { quotas } }));
    process.env.NEUTRINO_ADMIN_PASSWORD = PASSWORD;
    const config = loadConfig(
      { config: configFile, stateDir: this.stateDir, host: '127.0.0.1', port: 0, logLevel: 'info' },
      { NEUTRINO_ADMIN_PASSWORD: PASSWORD },
    );
    // The periodic resync would only add noise to the timings; the agent reacts to the change feed.
    this.allInOne = await startAllInOne(config, {
      host: `bench-${this.r}`,
      resyncIntervalMs: 600_000,
      log: pino({ level: 'info' }, this.log.stream),
    });
    this.api = new Session({
      auth: {
        type: 'password',
        credentials: {
          authUrl: `${this.allInOne.url}/identity/v3`,
          username: 'admin',
          password: PASSWORD,
          projectName: 'admin',
          userDomainName: 'Default',
          projectDomainName: 'Default',
        },
      },
    });
  }

  async stop(): Promise<void> {
    const down = await this.allInOne?.close({ cleanup: true });
    if (down && down.failures.length > 0) console.error('teardown failures', down.failures);
    if (this.stateDir) await rm(this.stateDir, { recursive: true, force: true });
  }

  async group(name: string): Promise<string> {
    const { security_group } = await this.api.post<{ security_group: { id: string } }>(
      '/v2.0/security-groups',
      { security_group: { name } },
    );
    return security_group.id;
  }

  async rule(group: string, body: Record<string, unknown>): Promise<string> {
    const { security_group_rule } = await this.api.post<{ security_group_rule: { id: string } }>(
      '/v2.0/security-group-rules',
      { security_group_rule: { security_group_id: group, direction: 'ingress', ...body } },
    );
    return security_group_rule.id;
  }

  async instances(specs: { network: string; groups?: string[]; port?: string }[]): Promise<Instance[]> {
    const ids: string[] = [];
    for (const spec of specs) {
      const { instance } = await this.api.post<{ instance: Instance }>('/neutrino/v1/instances', {
        instance: {
          name: `bench-${ids.length}`,
          networks: [spec.port ? { port_id: spec.port } : { network_id: spec.network }],
          ...(spec.groups ? { security_groups: spec.groups } : {}),
        },
      });
      ids.push(instance.id);
    }
    const start = performance.now();
    for (;;) {
      const all = await Promise.all(
        ids.map(
          async (id) => (await this.api.get<{ instance: Instance }>(`/neutrino/v1/instances/${id}`)).instance,
        ),
      );
      if (all.every((i) => i.status === 'ACTIVE')) return all;
      if (all.some((i) => i.status === 'ERROR')) throw new Error('instance in ERROR');
      if (performance.now() - start > TIMEOUT_MS) throw new Error('instances not ACTIVE in time');
      await sleep(50);
    }
  }

  /** How many ports the security-group record holds (what the last change applied). */
  async filteredPorts(): Promise<number> {
    const text = await readFile(join(this.stateDir, 'agent', 'security-groups.json'), 'utf8').catch(
      () => '{}',
    );
    try {
      return Object.keys((JSON.parse(text) as { ports?: object }).ports ?? {}).length;
    } catch {
      return 0;
    }
  }
}

const ns = (i: Instance) => `inst-${i.id}`;
const ipOf = (i: Instance) => i.ports[0].fixed_ips[0].ip_address;

/**
 * Pings `to` from `from` every 2 ms while `change` runs and returns the ms from the start of the
 * API call until the first reply (ping's own timestamp of it, `-D`).
 */
async function effectiveAfter(from: Instance, to: Instance, change: () => Promise<void>): Promise<number> {
  const ping: ChildProcess = spawn(
    'ip',
    ['netns', 'exec', ns(from), 'ping', '-D', '-n', '-i', '0.002', '-W', '1', '-w', '20', ipOf(to)],
    { stdio: ['ignore', 'pipe', 'ignore'] },
  );
  let out = '';
  ping.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
  try {
    await sleep(300);
    if (/bytes from/.test(out)) throw new Error('the probe passes before the change');
    const started = Date.now();
    await change();
    for (;;) {
      const m = /^\[(\d+\.\d+)\] \d+ bytes from/m.exec(out);
      if (m) return Math.round((Number(m[1]) * 1000 - started) * 10) / 10;
      if (Date.now() - started > 20_000) throw new Error('the probe never passed');
      await sleep(5);
    }
  } finally {
    if (ping.pid !== undefined && ping.exitCode === null) process.kill(ping.pid, 'SIGKILL');
  }
}

async function until(what: string, check: () => Promise<boolean>): Promise<void> {
  const start = performance.now();
  while (!(await check())) {
    if (performance.now() - start > TIMEOUT_MS) throw new Error(`timed out: ${what}`);
    await sleep(20);
  }
}

async function pings(from: Instance, to: Instance): Promise<boolean> {
  const { code } = await runInNamespace(ns(from), 'ping', ['-c', '1', '-W', '0.3', ipOf(to)], {
    allowFail: true,
  });
  return code === 0;
}

interface Change {
  /** API call → first probe reply, per run, and the median. */
  runsMs: number[];
  medianMs: number;
  /** The agent's reconcile (sync, compile, observe, diff, nft, record) of each change, median. */
  reconcileMs: number;
  /** What the first change did to the security-group tables, as `nft monitor` shows it. */
  nftChanges: string[];
}

/** The lines `nft monitor` prints about the security-group tables while `action` runs. */
async function monitored(action: () => Promise<void>): Promise<string[]> {
  const monitor = spawn('nft', ['monitor'], { stdio: ['ignore', 'pipe', 'ignore'] });
  let text = '';
  monitor.stdout.setEncoding('utf8').on('data', (t: string) => (text += t));
  try {
    await sleep(200);
    await action();
    await sleep(300);
  } finally {
    if (monitor.pid !== undefined && monitor.exitCode === null) process.kill(monitor.pid, 'SIGKILL');
  }
  return text.split('\n').filter((l) => l.includes(' neutrino-sg-') && !/ __set\d+/.test(l));
}

async function measure(
  d: Deployment,
  run: () => Promise<number>,
  undo: () => Promise<void>,
): Promise<Change> {
  const runsMs: number[] = [];
  const reconciles: number[] = [];
  let nftChanges: string[] = [];
  for (let i = 0; i < RUNS; i++) {
    const since = Date.now();
    if (i === 0)
      nftChanges = await monitored(async () => {
        runsMs.push(await run());
      });
    else runsMs.push(await run());
    await sleep(200);
    const [first] = d.log.firewallRuns(since);
    if (first) reconciles.push(first.ms);
    await undo();
    // Each run measures one change on an agent with nothing else to do.
    await sleep(500);
  }
  return { runsMs, medianMs: median(runsMs), reconcileMs: median(reconciles), nftChanges };
}

const d = new Deployment();
const ruleIds: string[] = [];
let results: Record<string, unknown>;
try {
  await d.start();
  const { network } = await d.api.post<{ network: { id: string } }>('/v2.0/networks', {
    network: { name: 'bench', 'provider:network_type': 'local' },
  });
  await d.api.post('/v2.0/subnets', {
    subnet: { network_id: network.id, ip_version: 4, cidr: '10.60.0.0/21' },
  });
  const bench = await d.group('bench');
  const probe = await d.group('probe');
  const members = await d.group('members');
  // 20 rules: the 2 egress rules every group starts with and 18 ingress ones.
  for (let i = 0; i < RULES - 2; i++)
    await d.rule(bench, {
      protocol: i % 2 === 0 ? 'tcp' : 'udp',
      port_range_min: 2000 + i,
      port_range_max: 2000 + i,
      remote_ip_prefix: `192.0.${i}.0/24`,
    });
  await d.rule(bench, { protocol: 'tcp', port_range_min: 5201, port_range_max: 5201 });
  const [server, client] = await d.instances([
    { network: network.id, groups: [bench] },
    { network: network.id, groups: [probe] },
  ]);
  const host = d.allInOne.host;
  const buildStart = performance.now();
  for (let i = 0; i < PORTS; i += 100) {
    const ports = Array.from({ length: Math.min(100, PORTS - i) }, () => ({
      network_id: network.id,
      security_groups: [bench],
      'binding:host_id': host,
      device_owner: 'compute:bench',
    }));
    await d.api.post('/v2.0/ports', { ports });
  }
  await until('every port filtered', async () => (await d.filteredPorts()) >= PORTS + 2);
  const buildMs = Math.round(performance.now() - buildStart);
  console.error(`${PORTS} ports filtered ${buildMs} ms after the first of ${PORTS / 100} bulk creates`);

  const ruleChange = await measure(
    d,
    () =>
      effectiveAfter(client, server, async () => {
        const id = await d.rule(bench, { protocol: 'icmp' });
        ruleIds.push(id);
      }),
    async () => {
      await d.api.delete(`/v2.0/security-group-rules/${ruleIds.pop()}`);
      await until('ICMP blocked again', async () => !(await pings(client, server)));
    },
  );
  console.error(`rule change: ${JSON.stringify(ruleChange)}`);

  await d.rule(bench, { protocol: 'icmp', remote_group_id: members });
  const membership = await measure(
    d,
    () =>
      effectiveAfter(client, server, async () => {
        await d.api.put(`/v2.0/ports/${client.ports[0].id}`, { port: { security_groups: [probe, members] } });
      }),
    async () => {
      await d.api.put(`/v2.0/ports/${client.ports[0].id}`, { port: { security_groups: [probe] } });
      await until('ICMP blocked again', async () => !(await pings(client, server)));
    },
  );
  console.error(`membership change: ${JSON.stringify(membership)}`);

  const open = async () =>
    (
      await d.api.post<{ port: Port }>('/v2.0/ports', {
        port: { network_id: network.id, port_security_enabled: false },
      })
    ).port.id;
  const [offServer, offClient] = await d.instances([
    { network: network.id, port: await open() },
    { network: network.id, port: await open() },
  ]);
  await d.rule(probe, { protocol: 'tcp', port_range_min: 5201, port_range_max: 5201 });
  const on: number[] = [];
  const off: number[] = [];
  for (let round = 0; round < IPERF_ROUNDS; round++) {
    on.push(await iperf(ns(client), ns(server), ipOf(server)));
    off.push(await iperf(ns(offClient), ns(offServer), ipOf(offServer)));
  }
  const iperf3 = {
    securityGroupsGbps: median(on),
    portSecurityOffGbps: median(off),
    ratio: Math.round((median(on) / median(off)) * 100) / 100,
    rounds: { on, off },
  };
  console.error(`iperf3: ${JSON.stringify(iperf3)}`);
  results = {
    date: new Date().toISOString(),
    source: 'API (neutrino up in-process), 2 vCPU',
    ports: PORTS + 2,
    rulesPerGroup: RULES,
    buildMs,
    ruleChange,
    membershipChange: membership,
    iperf3,
  };
} finally {
  await d.stop();
}

const previous = JSON.parse(await readFile(OUT, 'utf8').catch(() => '{}')) as Record<string, unknown>;
await writeFile(OUT, `${JSON.stringify({ ...previous, sg: results }, null, 2)}\n`);
const r = results as {
  ruleChange: Change;
  membershipChange: Change;
  iperf3: { securityGroupsGbps: number; portSecurityOffGbps: number; ratio: number };
  buildMs: number;
};
console.log(
  `${PORTS + 2} ports, ${RULES} rules: new rule effective ${r.ruleChange.medianMs} ms (reconcile ${r.ruleChange.reconcileMs} ms), ` +
    `membership change ${r.membershipChange.medianMs} ms (reconcile ${r.membershipChange.reconcileMs} ms), ` +
    `build ${r.buildMs} ms; iperf3 ${r.iperf3.securityGroupsGbps} vs ${r.iperf3.portSecurityOffGbps} Gbit/s (${Math.round(r.iperf3.ratio * 100)}%)`,
);
