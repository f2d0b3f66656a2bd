/**
 * Firewall-group benchmark (FWaaS v2, issue 14) through the API (root), on an all-in-one (server +
 * local agent in this process, as `neutrino up` runs them): one router with 20 interfaces (20
 * networks of one /24 each; DHCP only on the two with instances), a firewall group on all 20
 * interface ports whose ingress and egress policy is one policy of 20 rules (TCP and UDP allows,
 * no ICMP: ICMP falls to the group's default drop), and two real instances on two of the networks
 * (client on the first, server on the second; the probe crosses the router). Measured, 7 runs:
 *
 * - an ICMP allow rule inserted into the policy (`PUT …/insert_rule`, as `openstack firewall group
 *   policy add rule` does) → the probe passes: from the API call until the first reply of
 *   `ping -i 0.002 -D` (its own timestamp), as bench/sg does;
 * - the rule removed again (`PUT …/remove_rule`) → the probe stops passing: from the API call until
 *   the last reply of `icmp-probe.py` (an echo request every 2 ms, each with an identifier of its
 *   own: a new flow, since the firewall keeps established ones). Beside it a `ping` started before
 *   the removal (one established flow) shows whether the change cut what it had allowed;
 *
 * and, interleaved in the same run (A B A B, as the machine's speed varies), the same two
 * measurements for a security-group rule (ICMP ingress) added to and deleted from the server's
 * group (20 rules). Each with the agent's reconcile time and its `ops`, and (in an untimed
 * warm-up pass under `nft monitor`) the size of the nft transaction. Merges into
 * bench/services/results.json under `fwaas` and prints a table.
 *
 *   npx tsx bench/services/fwaas.ts [--runs 7] [--out bench/services/results.json]
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { Writable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import pino from 'pino';
import { stringify } from 'yaml';
import { type AllInOne, startAllInOne } from '../../src/cli/dataplane.js';
import { Session } from '../../src/client/session.js';
import { loadConfig } from '../../src/config.js';
import { runInNamespace } from '../../src/linux/exec.js';
import { median } from '../measure.js';

const args = process.argv.slice(2);
const arg = (name: string, fallback: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : fallback;
};
const RUNS = Number(arg('runs', '7'));
const OUT = arg('out', 'bench/services/results.json');
const INTERFACES = 20;
const RULES = 20;
const TIMEOUT_MS = 120_000;
/** How long the probe must stay silent before a removal counts as effective. */
const QUIET_MS = 1_000;
const PROBE = join(dirname(fileURLToPath(import.meta.url)), 'icmp-probe.py');
const FW = '/v2.0/fwaas';
const PASSWORD = `bench-${randomBytes(6).toString('hex')}`;

interface Instance {
  id: string;
  status: string;
  ports: { id: string; fixed_ips: { ip_address: string }[] }[];
}

interface Reconcile {
  time: number;
  ops: Record<string, number>;
  ms: number;
  /** Its stages (observe, the apply stages, reobserve), ms. */
  stages: Record<string, number>;
}

/** The agent's `reconciled` log lines (ops, ms), collected as they come. */
class AgentLog {
  readonly lines: Reconcile[] = [];
  readonly stream = new Writable({
    write: (chunk: Buffer, _encoding, done) => {
      for (const text of chunk.toString().split('\n')) {
        if (!text.includes('"msg":"reconciled"')) continue;
        const entry = JSON.parse(text) as Reconcile;
        this.lines.push({ time: entry.time, ops: entry.ops, ms: entry.ms, stages: entry.stages });
      }
      done();
    },
  });

  /** The reconciles since `since` (ms epoch) that gave an action `op`. */
  runs(since: number, op: string): Reconcile[] {
    return this.lines.filter((l) => l.time >= since && l.ops[op]);
  }
}

const ns = (i: Instance) => `inst-${i.id}`;
const ipOf = (i: Instance) => i.ports[0].fixed_ips[0].ip_address;
const tenth = (n: number) => Math.round(n * 10) / 10;

async function until<T>(what: string, check: () => Promise<T | undefined | false>): Promise<T> {
  const start = performance.now();
  for (;;) {
    const value = await check();
    if (value) return value;
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

/**
 * A child in `netns` (or the root namespace) whose stdout is collected; killed (SIGKILL, by its
 * pid) by `stop`.
 */
function collect(netns: string | undefined, command: string[]): { out: () => string; stop: () => void } {
  const argv = netns ? ['ip', 'netns', 'exec', netns, ...command] : command;
  const child: ChildProcess = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'ignore'] });
  let out = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
  return {
    out: () => out,
    stop: () => {
      if (child.pid !== undefined && child.exitCode === null) process.kill(child.pid, 'SIGKILL');
    },
  };
}

/** ping every 2 ms with receive timestamps (one flow: one identifier for all its requests). */
const pingFlow = (from: Instance, to: Instance) =>
  collect(ns(from), ['ping', '-D', '-n', '-i', '0.002', '-W', '1', '-w', '30', ipOf(to)]);
/** The epoch ms of ping's replies so far. */
const pingReplies = (out: string) =>
  [...out.matchAll(/^\[(\d+\.\d+)\] \d+ bytes from/gm)].map((m) => Number(m[1]) * 1000);
/** An echo request every 2 ms, each a new flow (`icmp-probe.py`). */
const newFlows = (from: Instance, to: Instance) => collect(ns(from), ['python3', PROBE, ipOf(to), '2', '60']);
const probeReplies = (out: string) => [...out.matchAll(/^(\d+\.\d+) \d+$/gm)].map((m) => Number(m[1]));

/** ms from the start of `change` (the API call) until the first reply of a ping. */
async function opensAfter(from: Instance, to: Instance, change: () => Promise<void>): Promise<number> {
  const ping = pingFlow(from, to);
  try {
    await sleep(300);
    if (pingReplies(ping.out()).length > 0) throw new Error('the probe passes before the change');
    const started = Date.now();
    await change();
    for (;;) {
      const [first] = pingReplies(ping.out());
      if (first !== undefined) return tenth(first - started);
      if (Date.now() - started > 20_000) throw new Error('the probe never passed');
      await sleep(5);
    }
  } finally {
    ping.stop();
  }
}

/**
 * ms from the start of `change` until the last reply to a new flow, and until the last reply of
 * a ping established before (null: it still passed when the new flows had stopped).
 */
async function closesAfter(
  from: Instance,
  to: Instance,
  change: () => Promise<void>,
): Promise<{ ms: number; establishedCutMs: number | null }> {
  const probe = newFlows(from, to);
  const ping = pingFlow(from, to);
  try {
    await until('probe and ping passing before the change', async () => {
      return probeReplies(probe.out()).length > 0 && pingReplies(ping.out()).length > 0;
    });
    await sleep(100);
    const started = Date.now();
    await change();
    const last = await until('the probe stopped', async () => {
      const replies = probeReplies(probe.out());
      const at = replies[replies.length - 1] ?? 0;
      if (Date.now() - started > 20_000) throw new Error('the probe never stopped');
      return Date.now() - at > QUIET_MS ? at : undefined;
    });
    const established = pingReplies(ping.out());
    const lastPing = established[established.length - 1] ?? 0;
    return {
      ms: tenth(last - started),
      establishedCutMs: Date.now() - lastPing > QUIET_MS / 2 ? tenth(lastPing - started) : null,
    };
  } finally {
    probe.stop();
    ping.stop();
  }
}

/** `nft monitor`'s lines (in `netns`, or the root namespace) that `keep` keeps, while `action` runs. */
async function monitored(
  netns: string | undefined,
  keep: (line: string) => boolean,
  action: () => Promise<void>,
): Promise<string[]> {
  const monitor = collect(netns, ['nft', 'monitor']);
  try {
    await sleep(200);
    await action();
    await sleep(500);
  } finally {
    monitor.stop();
  }
  return monitor
    .out()
    .split('\n')
    .filter((l) => l.trim() !== '' && !l.startsWith('#') && keep(l) && !/ __set\d+/.test(l));
}

/** A transaction's size: its lines, and how many of each kind (`add rule`, `delete table`…). */
function transaction(lines: string[]): { lines: number; kinds: Record<string, number> } {
  const kinds: Record<string, number> = {};
  for (const line of lines) {
    const kind = line.split(' ').slice(0, 2).join(' ');
    kinds[kind] = (kinds[kind] ?? 0) + 1;
  }
  return { lines: lines.length, kinds };
}

interface Change {
  /** API call → probe passing (insert) or stopped (remove), per run. */
  runsMs: number[];
  medianMs: number;
  worstMs: number;
  /** The agent's reconcile that applied the change (sync, compile, observe, diff, nft, record). */
  reconcileRunsMs: number[];
  reconcileMs: number;
  reconcileWorstMs: number;
  /** The stages of the median reconcile. */
  reconcileStagesMs: Record<string, number>;
  /** The agent's actions in that reconcile (its log's `ops`), of the first timed run. */
  ops: Record<string, number>;
  /** The nft transaction of the warm-up run, as `nft monitor` shows it. */
  nft: { lines: number; kinds: Record<string, number> };
  /** Removals: when a ping established before stopped passing (null: it never did). */
  establishedCutMs?: (number | null)[];
}

class Series {
  readonly runsMs: number[] = [];
  readonly reconciles: number[] = [];
  readonly cuts: (number | null)[] = [];
  ops: Record<string, number> = {};
  nft = transaction([]);

  constructor(readonly op: string) {}

  readonly stages: Record<string, number>[] = [];

  /** A run's time, and the agent's reconcile that applied it (logged once it has finished). */
  async add(log: AgentLog, since: number, ms: number): Promise<void> {
    this.runsMs.push(ms);
    const first = await until(`the reconcile of ${this.op}`, async () => log.runs(since, this.op)[0]);
    this.reconciles.push(first.ms);
    this.stages.push(first.stages);
    if (Object.keys(this.ops).length === 0) this.ops = first.ops;
  }

  result(removal: boolean): Change {
    return {
      runsMs: this.runsMs,
      medianMs: median(this.runsMs),
      worstMs: Math.max(...this.runsMs),
      reconcileRunsMs: this.reconciles,
      reconcileMs: median(this.reconciles),
      reconcileWorstMs: Math.max(...this.reconciles),
      reconcileStagesMs: this.stages[this.reconciles.indexOf(median(this.reconciles))] ?? {},
      ops: this.ops,
      nft: this.nft,
      ...(removal ? { establishedCutMs: this.cuts } : {}),
    };
  }
}

class Deployment {
  readonly r = randomBytes(2).toString('hex');
  readonly log = new AgentLog();
  stateDir = '';
  allInOne!: AllInOne;
  api!: Session;

  async start(): Promise<void> {
    this.stateDir = await mkdtemp(join(tmpdir(), 'neutrino-bench-fwaas-'));
    const configFile = join(this.stateDir, 'neutrino.yaml');
    const quotas = { network: 100, subnet: 100, port: 1000, router: 10, security_group_rule: 1000 };
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

  /** The name of this deployment's security-group tables (from the agent's record). */
  async sgTable(): Promise<string> {
    const text = await readFile(join(this.stateDir, 'agent', 'security-groups.json'), 'utf8');
    const table = (JSON.parse(text) as { table?: string }).table;
    if (!table) throw new Error('no security-group table recorded');
    return table;
  }

  async network(i: number): Promise<{ network: string; subnet: string }> {
    const { network } = await this.api.post<{ network: { id: string } }>('/v2.0/networks', {
      network: { name: `fw-bench-${i}` },
    });
    const { subnet } = await this.api.post<{ subnet: { id: string } }>('/v2.0/subnets', {
      subnet: { network_id: network.id, ip_version: 4, cidr: `10.60.${i}.0/24`, enable_dhcp: i < 2 },
    });
    return { network: network.id, subnet: subnet.id };
  }

  async group(name: string): Promise<string> {
    const { security_group } = await this.api.post<{ security_group: { id: string } }>(
      '/v2.0/security-groups',
      { security_group: { name } },
    );
    return security_group.id;
  }

  async sgRule(group: string, body: Record<string, unknown>): Promise<string> {
    const { security_group_rule } = await this.api.post<{ security_group_rule: { id: string } }>(
      '/v2.0/security-group-rules',
      { security_group_rule: { security_group_id: group, direction: 'ingress', ...body } },
    );
    return security_group_rule.id;
  }

  async fwRule(body: Record<string, unknown>): Promise<string> {
    const { firewall_rule } = await this.api.post<{ firewall_rule: { id: string } }>(`${FW}/firewall_rules`, {
      firewall_rule: { action: 'allow', ...body },
    });
    return firewall_rule.id;
  }

  async instance(name: string, network: string, groups: string[]): Promise<Instance> {
    const { instance } = await this.api.post<{ instance: Instance }>('/neutrino/v1/instances', {
      instance: { name, networks: [{ network_id: network }], security_groups: groups },
    });
    return until(`${name} ACTIVE`, async () => {
      const { instance: now } = await this.api.get<{ instance: Instance }>(
        `/neutrino/v1/instances/${instance.id}`,
      );
      if (now.status === 'ERROR') throw new Error(`${name} in ERROR`);
      return now.status === 'ACTIVE' ? now : undefined;
    });
  }

  /** Waits for the reconciles of a change touching `ops` (each at least once since `since`). */
  async settled(since: number, ops: string[]): Promise<void> {
    await until(`reconciled ${ops.join(', ')}`, async () =>
      ops.every((op) => this.log.runs(since, op).length > 0),
    );
    await sleep(300);
  }
}

const d = new Deployment();
let results: Record<string, unknown> | undefined;
try {
  if (process.getuid?.() !== 0) throw new Error('run as root');
  await d.start();
  const nets: { network: string; subnet: string }[] = [];
  for (let i = 0; i < INTERFACES; i++) nets.push(await d.network(i));
  const { router } = await d.api.post<{ router: { id: string } }>('/v2.0/routers', {
    router: { name: 'fw-bench' },
  });
  const interfaces: string[] = [];
  for (const { subnet } of nets) {
    const { port_id } = await d.api.put<{ port_id: string }>(
      `/v2.0/routers/${router.id}/add_router_interface`,
      { subnet_id: subnet },
    );
    interfaces.push(port_id);
  }
  // The server's group: 20 rules (the 2 egress ones every group starts with and 18 ingress ones).
  const bench = await d.group('bench');
  for (let i = 0; i < RULES - 2; i++)
    await d.sgRule(bench, {
      protocol: i % 2 === 0 ? 'tcp' : 'udp',
      port_range_min: 2000 + i,
      port_range_max: 2000 + i,
      remote_ip_prefix: `192.0.${i}.0/24`,
    });
  const probeGroup = await d.group('probe');
  const client = await d.instance('fw-client', nets[0]!.network, [probeGroup]);
  const server = await d.instance('fw-server', nets[1]!.network, [bench]);
  let sgIcmp: string | undefined = await d.sgRule(bench, { protocol: 'icmp' });
  await until('ping across the router', () => pings(client, server));
  const sgTable = await d.sgTable();

  // The policy: 20 allows, none of them ICMP, for ingress and egress alike.
  const policyRules: string[] = [];
  for (let i = 0; i < RULES; i++)
    policyRules.push(
      await d.fwRule({
        name: `allow-${i}`,
        protocol: i % 3 === 2 ? 'udp' : 'tcp',
        destination_port: i % 4 === 3 ? `${3000 + i * 10}:${3009 + i * 10}` : String(3000 + i * 10),
        ...(i % 2 === 1 ? { source_ip_address: `10.60.${i}.0/24` } : {}),
      }),
    );
  const { firewall_policy } = await d.api.post<{ firewall_policy: { id: string } }>(
    `${FW}/firewall_policies`,
    { firewall_policy: { name: 'fw-bench', firewall_rules: policyRules } },
  );
  const policy = firewall_policy.id;
  const { firewall_group } = await d.api.post<{ firewall_group: { id: string; status: string } }>(
    `${FW}/firewall_groups`,
    {
      firewall_group: {
        name: 'fw-bench',
        ingress_firewall_policy_id: policy,
        egress_firewall_policy_id: policy,
        ports: interfaces,
      },
    },
  );
  if (firewall_group.status !== 'ACTIVE') throw new Error(`firewall group ${firewall_group.status}`);
  await until('ICMP dropped by the firewall group', async () => !(await pings(client, server)));
  const fwIcmp = await d.fwRule({ name: 'allow-icmp', protocol: 'icmp' });

  // As `openstack firewall group policy add rule` / `remove rule` do (no position: on top).
  const insertFw = async () => {
    await d.api.put(`${FW}/firewall_policies/${policy}/insert_rule`, { firewall_rule_id: fwIcmp });
  };
  const removeFw = async () => {
    await d.api.put(`${FW}/firewall_policies/${policy}/remove_rule`, { firewall_rule_id: fwIcmp });
  };
  const addSg = async () => {
    sgIcmp = await d.sgRule(bench, { protocol: 'icmp' });
  };
  const deleteSg = async () => {
    await d.api.delete(`/v2.0/security-group-rules/${sgIcmp}`);
    sgIcmp = undefined;
  };
  const fw = { insert: new Series('fwaas.apply'), remove: new Series('fwaas.apply') };
  const sg = { insert: new Series('firewall.apply'), remove: new Series('firewall.apply') };
  const qrouter = `qrouter-${router.id}`;
  const inSgTable = (l: string) => l.includes(` ${sgTable} `);

  /** Only the firewall group between client and server lacks ICMP → only the security group does. */
  const toSgState = async () => {
    const since = Date.now();
    await insertFw();
    await deleteSg();
    await d.settled(since, ['fwaas.apply', 'firewall.apply']);
    await until('ICMP dropped by the security group', async () => !(await pings(client, server)));
  };
  const toFwState = async () => {
    const since = Date.now();
    await addSg();
    await removeFw();
    await d.settled(since, ['fwaas.apply', 'firewall.apply']);
    await until('ICMP dropped by the firewall group', async () => !(await pings(client, server)));
  };

  // Warm-up, untimed: each change once under `nft monitor`, for the transactions' sizes.
  const watched = (
    netns: string | undefined,
    keep: (l: string) => boolean,
    change: () => Promise<unknown>,
    op: string,
  ) => {
    const since = Date.now();
    return monitored(netns, keep, async () => {
      await change();
      await d.settled(since, [op]);
    });
  };
  fw.insert.nft = transaction(await watched(qrouter, () => true, insertFw, 'fwaas.apply'));
  fw.remove.nft = transaction(await watched(qrouter, () => true, removeFw, 'fwaas.apply'));
  await toSgState();
  sg.insert.nft = transaction(await watched(undefined, inSgTable, addSg, 'firewall.apply'));
  sg.remove.nft = transaction(await watched(undefined, inSgTable, deleteSg, 'firewall.apply'));
  await toFwState();
  await sleep(500);

  for (let run = 0; run < RUNS; run++) {
    let since = Date.now();
    await fw.insert.add(d.log, since, await opensAfter(client, server, insertFw));
    await sleep(300);
    since = Date.now();
    const fwCut = await closesAfter(client, server, removeFw);
    await fw.remove.add(d.log, since, fwCut.ms);
    fw.remove.cuts.push(fwCut.establishedCutMs);
    await sleep(500);
    await toSgState();
    await sleep(500);
    since = Date.now();
    await sg.insert.add(d.log, since, await opensAfter(client, server, addSg));
    await sleep(300);
    since = Date.now();
    const sgCut = await closesAfter(client, server, deleteSg);
    await sg.remove.add(d.log, since, sgCut.ms);
    sg.remove.cuts.push(sgCut.establishedCutMs);
    await sleep(500);
    await toFwState();
    await sleep(500);
    console.error(
      `run ${run + 1}: fwaas +${fw.insert.runsMs.at(-1)} -${fw.remove.runsMs.at(-1)} ms, ` +
        `sg +${sg.insert.runsMs.at(-1)} -${sg.remove.runsMs.at(-1)} ms`,
    );
  }
  const changes = {
    firewallRuleInsert: fw.insert.result(false),
    firewallRuleRemove: fw.remove.result(true),
    securityGroupRuleAdd: sg.insert.result(false),
    securityGroupRuleDelete: sg.remove.result(true),
  };
  const ratio = (a: Change, b: Change) => Math.round((a.medianMs / b.medianMs) * 100) / 100;
  results = {
    date: new Date().toISOString(),
    source: 'API (neutrino up in-process), shared machine',
    node: process.version,
    cpus: cpus().length,
    runs: RUNS,
    routerInterfaces: INTERFACES,
    groupPorts: interfaces.length,
    rulesPerPolicy: RULES,
    rulesPerSecurityGroup: RULES,
    ...changes,
    ratios: {
      insertVsSgAdd: ratio(changes.firewallRuleInsert, changes.securityGroupRuleAdd),
      removeVsSgDelete: ratio(changes.firewallRuleRemove, changes.securityGroupRuleDelete),
    },
  };
} finally {
  await d.stop();
}

const previous = JSON.parse(await readFile(OUT, 'utf8').catch(() => '{}')) as Record<string, unknown>;
await writeFile(OUT, `${JSON.stringify({ ...previous, fwaas: results }, null, 2)}\n`);
const table = results as Record<string, Change>;
console.log('| what | median | worst | reconcile (median, worst) | nft lines |');
for (const [what, c] of Object.entries(table).filter(([, v]) => typeof v === 'object' && v && 'runsMs' in v))
  console.log(
    `| ${what} | ${c.medianMs} ms | ${c.worstMs} ms | ${c.reconcileMs}, ${c.reconcileWorstMs} ms | ${c.nft.lines} |`,
  );
console.log(JSON.stringify((results as { ratios: unknown }).ratios));
