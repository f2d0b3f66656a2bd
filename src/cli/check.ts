/**
 * `neutrino check [FILE | --project P] [--tcp 22,80]`: a reachability matrix between instances,
 * and between them and the outside (instances reaching the external network through SNAT, the
 * outside reaching floating IPs), measured by real probes from inside the instances' namespaces
 * — a ping, and a TCP connect per port to a listener started in the destination for the run —
 * beside what the model says (the trace verdict of each pair). Disagreements are marked and
 * explained.
 *
 * By default the hosts' agents do the work at the API's request (`POST /neutrino/v1/hosts/{host}/
 * diagnostics`, admin), so it works across hosts and from any machine with a clouds.yaml: each
 * probe is sent by the agent of its source instance's host (TCP to a listener the destination's
 * agent starts for the run), and every host with a live agent (or `--host H`) reports its kernel
 * drift — what a reconcile would change there, in model terms. The exit code is 2 on any
 * disagreement or drift, 1 on errors (a host whose drift could not be read). With `--state-dir`
 * (root, on the instances' host) this machine probes from its own namespaces, may also probe
 * from the outside, and reads its own drift on the paths of disagreements only; exit code 2 on any
 * disagreement.
 *
 * The instances are a topology file's (its `check:` section names TCP ports, whether to ping and
 * the outside), a project's, or every one the caller sees. The outside is the external network of
 * the instances' routers: its subnet's gateway address, held by the namespace found holding it
 * (the root one when `neutrino up` made the network; no listener is ever started there, so TCP to
 * it is not probed) or named by `--outside`.
 */
import { type Command, Option } from 'commander';
import { type Session, sessionFromEnvironment } from '../client/session.js';
import { driverOfAgentType, L2_AGENT_TYPES } from '../model/agent.js';
import type { TraceRequest, TraceResult } from '../model/trace.js';
import { FORMATS, type Format, print, renderTable } from './output.js';
import type { Netns } from './probe.js';
import { find, KINDS, list, type Row } from './resolve.js';
import { integer } from './resource-command.js';
import { runTrace } from './trace.js';

export const EXIT_MISMATCH = 2;
const TRACE_CONCURRENCY = 8;

interface CheckFlags {
  project?: string;
  tcp?: string;
  icmp?: boolean;
  /** A namespace (`--outside NS`), or false (`--no-outside`). */
  outside?: string | boolean;
  concurrency: number;
  stateDir?: string;
  host?: string;
  format: Format;
}

interface Instance {
  id: string;
  name: string;
  project_id: string;
  host: string | null;
  ports: { id: string; network_id: string; fixed_ips: { subnet_id: string; ip_address: string }[] }[];
}

/** A row or column of the matrix: an instance, or the outside. */
interface Endpoint {
  label: string;
  instance?: Instance;
  /** Where its probes start and its listeners run; undefined when not on this host. */
  netns?: Netns;
  /** The outside's address (the external subnet's gateway). */
  address?: string;
}

export interface CheckResult {
  from: string;
  to: string;
  protocol: 'icmp' | 'tcp';
  port?: number;
  /** The address probed (an instance's fixed IP, a floating IP, the external gateway). */
  address?: string;
  model: TraceResult['verdict'];
  reason?: string;
  probe: 'reached' | 'not reached' | 'not probed';
  /** Why not probed. */
  why?: string;
  /** null when not probed. */
  agrees: boolean | null;
}

interface Plan {
  endpoints: Endpoint[];
  tcp: number[];
  icmp: boolean;
  /** The external network's CIDRs: the only addresses probed from outside. */
  externalCidrs: string[];
  /** The outside's namespace as the file or flag names it (undefined: look for it; false: none). */
  outside?: string | false;
}

function parsePorts(text: string | undefined): number[] {
  if (!text) return [];
  return text.split(',').map((p) => {
    const port = Number(p.trim());
    if (!Number.isInteger(port) || port < 1 || port > 65535) throw new Error(`--tcp: not a port: ${p}`);
    return port;
  });
}

/** The instances a topology file declares, as the API holds them; with its `check:` section. */
async function fromFile(
  session: Session,
  file: string,
): Promise<Omit<Plan, 'endpoints' | 'externalCidrs'> & { instances: Instance[] }> {
  const { loadTopology } = await import('./topology/load.js');
  const { topology } = loadTopology(file);
  const all = (await list(session, KINDS.instance)) as unknown as Instance[];
  const instances: Instance[] = [];
  for (const [projectName, project] of Object.entries(topology.projects)) {
    const names = Object.keys(project.instances ?? {});
    if (names.length === 0) continue;
    const projectId = (await find(session, KINDS.project, projectName).catch(() => undefined))?.id;
    for (const name of names) {
      const found = all.find(
        (i) => i.name === name && (projectId === undefined || i.project_id === projectId),
      );
      if (!found)
        throw new Error(
          `${file}: instance ${name} of project ${projectName} does not exist: apply the file first`,
        );
      instances.push(found);
    }
  }
  const check = topology.check ?? {};
  return {
    instances,
    tcp: check.tcp ?? [],
    icmp: check.icmp ?? true,
    outside: check.outside === false ? false : typeof check.outside === 'string' ? check.outside : undefined,
  };
}

/** The external network the instances' projects' routers use (the first found): its IPv4 gateway and CIDRs. */
async function externalOf(
  session: Session,
  instances: Instance[],
): Promise<{ address: string; cidrs: string[] } | undefined> {
  const projects = new Set(instances.map((i) => i.project_id));
  const routers = (await list(session, KINDS.router)).filter((r) => projects.has(String(r.project_id)));
  const external = routers.flatMap((r) => {
    const info = r.external_gateway_info as { network_id: string } | null;
    return info ? [info.network_id] : [];
  })[0];
  if (!external) return undefined;
  const subnets = await list(session, KINDS.subnet, { network_id: external });
  const address = subnets.map((s) => s.gateway_ip as string | null).find((ip) => ip && !ip.includes(':'));
  return address ? { address, cidrs: subnets.map((s) => String(s.cidr)) } : undefined;
}

/** Labels: instance names, with the project where two instances share a name. */
function labels(instances: Instance[], projectNames: Map<string, string>): string[] {
  const count = new Map<string, number>();
  for (const i of instances) count.set(i.name, (count.get(i.name) ?? 0) + 1);
  return instances.map((i) =>
    (count.get(i.name) ?? 0) > 1
      ? `${projectNames.get(i.project_id) ?? i.project_id.slice(0, 8)}/${i.name}`
      : i.name,
  );
}

async function projectNames(session: Session): Promise<Map<string, string>> {
  const rows: Row[] = await list(session, KINDS.project).catch(
    async () => (await session.get<{ projects: Row[] }>('/identity/v3/auth/projects')).projects,
  );
  return new Map(rows.map((p) => [p.id, String(p.name)]));
}

/**
 * What to check: the endpoints (with their namespaces on this host when `local`), the protocols.
 * By the agents, there may be no instances: then only the hosts' drift is read.
 */
async function plan(
  session: Session,
  file: string | undefined,
  flags: CheckFlags,
  local: boolean,
): Promise<Plan> {
  let instances: Instance[];
  let base: Omit<Plan, 'endpoints' | 'externalCidrs'> = { tcp: [], icmp: true };
  if (file) {
    if (flags.project) throw new Error('give a FILE or --project, not both');
    const loaded = await fromFile(session, file);
    instances = loaded.instances;
    base = loaded;
  } else {
    const filters = flags.project
      ? { project_id: (await find(session, KINDS.project, flags.project)).id }
      : {};
    instances = ((await list(session, KINDS.instance, filters)) as unknown as Instance[]).sort((a, b) =>
      a.name.localeCompare(b.name),
    );
  }
  if (instances.length === 0 && local) throw new Error('no instances to check');
  const tcp = [...new Set([...base.tcp, ...parsePorts(flags.tcp)])].sort((a, b) => a - b);
  const icmp = flags.icmp !== false && base.icmp;
  const outside =
    flags.outside === false ? false : typeof flags.outside === 'string' ? flags.outside : base.outside;
  if (instances.length === 0) return { ...base, endpoints: [], tcp, icmp, externalCidrs: [], outside };
  const probe = await import('./probe.js');
  const here = local ? await probe.namespacesHere() : new Set<string>();
  const names = labels(instances, await projectNames(session));
  const endpoints: Endpoint[] = instances.map((instance, i) => ({
    label: names[i],
    instance,
    netns: probe.instanceHere(here, instance.id),
  }));
  const external = outside === false ? undefined : await externalOf(session, instances);
  if (external && !local) {
    endpoints.push({ label: 'outside', address: external.address });
  } else if (external) {
    const { address } = external;
    let netns: Netns | undefined;
    if (typeof outside === 'string') {
      if (!here.has(outside)) throw new Error(`--outside: no namespace ${outside} on this host`);
      netns = outside;
    } else {
      netns = await probe.outsideHolding(address, here);
    }
    endpoints.push({ label: 'outside', netns, address });
  }
  return { ...base, endpoints, tcp, icmp, externalCidrs: external?.cidrs ?? [], outside };
}

interface Pair {
  from: Endpoint;
  to: Endpoint;
  protocol: 'icmp' | 'tcp';
  port?: number;
}

function request(pair: Pair): TraceRequest {
  const ref = (e: Endpoint) => e.instance?.id ?? e.address!;
  return {
    source: ref(pair.from),
    destination: ref(pair.to),
    protocol: pair.protocol,
    ...(pair.port !== undefined ? { port: pair.port } : {}),
  };
}

/** Why a pair cannot be probed from here, if it cannot. */
function unprobed(pair: Pair, result: TraceResult, onExternal: (ip: string) => boolean): string | undefined {
  const { from, to } = pair;
  const nowhere = 'no namespace on this host holds the outside address';
  if (result.verdict === 'leaves_project')
    return 'the path leaves your project: the model says nothing to compare with';
  if (from.netns === undefined) return from.instance ? `${from.label} is not on this host` : nowhere;
  if (to.instance && to.netns === undefined) return `${to.label} is not on this host`;
  if (!result.destination_ip) return 'no destination address';
  // From outside, only addresses on the external network (floating IPs) are probed.
  if (!from.instance && !onExternal(result.destination_ip)) return 'no floating IP to probe';
  if (pair.protocol === 'tcp' && !to.instance && typeof to.netns !== 'string')
    return to.netns === null ? 'no listener is started in the root namespace' : nowhere;
  return undefined;
}

/** Why a pair cannot be probed by the agents, if it cannot. */
function unprobedByAgents(pair: Pair, result: TraceResult): string | undefined {
  const { from, to } = pair;
  if (result.verdict === 'leaves_project')
    return 'the path leaves your project: the model says nothing to compare with';
  if (!from.instance) return 'the outside is probed from only with --state-dir, on the host holding it';
  if (!from.instance.host) return `${from.label} is on no host`;
  if (to.instance && !to.instance.host) return `${to.label} is on no host`;
  if (!result.destination_ip) return 'no destination address';
  if (pair.protocol === 'tcp' && !to.instance) return 'no listener is started on the outside';
  return undefined;
}

/** What a host's agent said of its drift: the findings, or why they could not be read. */
export interface HostDriftReport {
  host: string;
  findings: string[];
  error?: string;
  /** Its L2 driver (`linuxbridge`, `openvswitch`), as its agent reports. */
  driver?: string;
}

/** Every host's drift, as `check` without a state dir prints it under the matrix. */
export function hostsText(reports: readonly HostDriftReport[]): string {
  const drivers = reports.filter((r) => r.driver).map((r) => `${r.host} ${r.driver}`);
  const lines = (drivers.length > 0 ? [`L2 drivers: ${drivers.join(', ')}`] : []).concat(
    reports.flatMap((r) => {
      if (r.error) return [`host ${r.host}: drift not read: ${r.error}`];
      if (r.findings.length === 0) return [`host ${r.host}: no kernel drift`];
      return [
        `host ${r.host}: ${r.findings.length} kernel drift finding(s):`,
        ...r.findings.map((f) => `  - ${f}`),
      ];
    }),
  );
  return lines.length > 0 ? `${lines.join('\n')}\n` : '';
}

function symbol(result: CheckResult): { model: string; probe: string } {
  return {
    model: result.model === 'allowed' ? '✓' : result.model === 'leaves_project' ? '?' : '✗',
    probe: result.probe === 'reached' ? '✓' : result.probe === 'not reached' ? '✗' : '·',
  };
}

/** The matrix, the disagreements (with the kernel drift on their paths, if read) and a summary. */
export function matrixText(
  endpoints: string[],
  results: CheckResult[],
  drift: { host?: string; lines: string[]; error?: string } = { lines: [] },
): string {
  const what = (r: CheckResult) => (r.protocol === 'icmp' ? 'icmp' : `tcp/${r.port}`);
  const width = Math.max(4, ...results.map((r) => what(r).length));
  const rows = endpoints.map((from) => [
    from,
    ...endpoints.map((to) => {
      if (from === to) return '—';
      const cell = results.filter((r) => r.from === from && r.to === to);
      if (cell.length === 0) return '';
      return cell
        .map((r) => {
          const s = symbol(r);
          return `${what(r).padEnd(width)} ${s.model} ${s.probe}${r.agrees === false ? ' ◀' : ''}`;
        })
        .join('\n');
    }),
  ]);
  const mismatches = results.filter((r) => r.agrees === false);
  const probed = results.filter((r) => r.agrees !== null).length;
  const lines = [
    renderTable(['from \\ to', ...endpoints], rows).trimEnd(),
    `each entry: protocol, what the model says (trace), what the probe saw; ✓ reached, ✗ not, · not probed; ◀ they disagree${
      results.some((r) => r.model === 'leaves_project') ? '; ? the path leaves your project' : ''
    }`,
  ];
  if (mismatches.length > 0) {
    lines.push('', 'disagreements:');
    for (const r of mismatches)
      lines.push(
        `  ${r.from} → ${r.to} ${what(r)}${r.address ? ` (${r.address})` : ''}: the probe ${r.probe === 'reached' ? 'got through' : 'did not get through'}, but the model says ${r.model}${r.reason ? `: ${r.reason}` : ''}`,
      );
  }
  if (drift.error) lines.push(`kernel drift not read: ${drift.error}`);
  else if (drift.lines.length > 0)
    lines.push(`kernel drift on host ${drift.host} on these paths:`, ...drift.lines.map((d) => `  - ${d}`));
  lines.push('', `${probed} probes, ${mismatches.length} disagreement(s) with the model`);
  return `${lines.join('\n')}\n`;
}

/** The hosts with a live agent (an L2 agent: every host's agent process has one), with its driver. */
async function liveHosts(session: Session): Promise<Map<string, string>> {
  const { agents } = await session.get<{ agents: { host: string; agent_type: string; alive: boolean }[] }>(
    '/v2.0/agents',
  );
  const l2 = agents
    .filter((a) => a.alive && L2_AGENT_TYPES.includes(a.agent_type))
    .sort((a, b) => (a.host < b.host ? -1 : a.host > b.host ? 1 : 0));
  return new Map(l2.map((a) => [a.host, driverOfAgentType(a.agent_type)]));
}

/** How long the agents keep the TCP listeners of a run: the probes' time, with room (120 s at most). */
function listenSeconds(probes: number, concurrency: number): number {
  return Math.min(120, 20 + Math.ceil(probes / Math.max(1, concurrency)) * 3);
}

/** Sends each probable pair's probe by its source's agent, after the destinations' agents listen. */
async function probeByAgents(
  session: Session,
  pairs: Pair[],
  traces: TraceResult[],
  concurrency: number,
): Promise<{ results: Omit<CheckResult, 'from' | 'to' | 'protocol' | 'model'>[] }> {
  const probe = await import('./probe.js');
  const why = pairs.map((pair, i) => unprobedByAgents(pair, traces[i]));
  const tcpProbes = pairs.filter((pair, i) => pair.protocol === 'tcp' && !why[i]);
  // One listener per destination instance and port, started by the agent of its host.
  const wanted = new Map(tcpProbes.map((pair) => [`${pair.to.instance!.id}/${pair.port}`, pair] as const));
  const seconds = listenSeconds(pairs.length, concurrency);
  const cannotListen = new Map<string, string>();
  await probe.bounded([...wanted], concurrency, async ([key, pair]) => {
    const listening = await probe.hostDiagnostic(session, pair.to.instance!.host!, {
      kind: 'listen',
      instance: pair.to.instance!.id,
      port: pair.port!,
      seconds,
    });
    if (listening.why) cannotListen.set(key, listening.why);
  });
  const results = await probe.bounded(pairs, concurrency, async (pair, i) => {
    const reason =
      why[i] ??
      (pair.protocol === 'tcp' ? cannotListen.get(`${pair.to.instance!.id}/${pair.port}`) : undefined);
    if (reason) return { probe: 'not probed' as const, why: reason, agrees: null };
    const sent = await probe.hostDiagnostic(session, pair.from.instance!.host!, {
      kind: 'probe',
      instance: pair.from.instance!.id,
      address: traces[i].destination_ip!,
      protocol: pair.protocol,
      ...(pair.port !== undefined ? { port: pair.port } : {}),
    });
    if (sent.reached === null)
      return { probe: 'not probed' as const, why: sent.why ?? 'not sent', agrees: null };
    return {
      probe: sent.reached ? ('reached' as const) : ('not reached' as const),
      agrees: sent.reached === (traces[i].verdict === 'allowed'),
    };
  });
  return { results };
}

/** Sends each probable pair's probe from this machine's namespaces (`--state-dir`). */
async function probeHere(
  p: Plan,
  pairs: Pair[],
  traces: TraceResult[],
  concurrency: number,
): Promise<{ results: Omit<CheckResult, 'from' | 'to' | 'protocol' | 'model'>[] }> {
  const probe = await import('./probe.js');
  const { cidrContains, parseCidr } = await import('../core/ipam.js');
  const onExternal = (ip: string) =>
    p.externalCidrs.some((cidr) => {
      const parsed = parseCidr(cidr);
      return parsed !== null && cidrContains(parsed, ip);
    });
  const listenIn = p.endpoints.flatMap((e) => (typeof e.netns === 'string' ? [e.netns] : []));
  const listening = await probe.listeners(listenIn, p.tcp);
  try {
    const results = await probe.bounded(pairs, concurrency, async (pair, i) => {
      const why = unprobed(pair, traces[i], onExternal);
      if (why) return { probe: 'not probed' as const, why, agrees: null };
      const reached = await probe.send({
        from: pair.from.netns ?? null,
        to: traces[i].destination_ip!,
        protocol: pair.protocol,
        port: pair.port,
      });
      return {
        probe: reached ? ('reached' as const) : ('not reached' as const),
        agrees: reached === (traces[i].verdict === 'allowed'),
      };
    });
    return { results };
  } finally {
    await listening.stop();
  }
}

/** The drift of `hosts`, each read by its own agent; an explicit `--host` that fails fails the run. */
async function driftByAgents(
  session: Session,
  hosts: string[],
  explicit: boolean,
): Promise<HostDriftReport[]> {
  const probe = await import('./probe.js');
  return probe.bounded(hosts, 8, async (host) => {
    try {
      const { findings } = await probe.hostDiagnostic(session, host, { kind: 'check' });
      return { host, findings: findings.map((f) => f.text) };
    } catch (err) {
      if (explicit) throw err;
      return { host, findings: [], error: (err as Error).message };
    }
  });
}

export async function check(file: string | undefined, flags: CheckFlags): Promise<number> {
  const session = sessionFromEnvironment();
  const { stateDir } = flags;
  const local = stateDir !== undefined;
  if (local && flags.host) throw new Error('--host reads drift by the agents: leave out --state-dir');
  const p = await plan(session, file, flags, local);
  const probe = await import('./probe.js');
  const pairs: Pair[] = [];
  const protocols: { protocol: 'icmp' | 'tcp'; port?: number }[] = [
    ...(p.icmp ? [{ protocol: 'icmp' as const }] : []),
    ...p.tcp.map((port) => ({ protocol: 'tcp' as const, port })),
  ];
  for (const from of p.endpoints)
    for (const to of p.endpoints)
      if (from !== to) for (const proto of protocols) pairs.push({ from, to, ...proto });
  const traces = await probe.bounded(pairs, TRACE_CONCURRENCY, (pair) => runTrace(session, request(pair)));

  const probed = local
    ? await probeHere(p, pairs, traces, flags.concurrency)
    : await probeByAgents(session, pairs, traces, flags.concurrency);
  const results: CheckResult[] = pairs.map((pair, i) => {
    const result = traces[i];
    return {
      from: pair.from.label,
      to: pair.to.label,
      protocol: pair.protocol,
      ...(pair.port !== undefined ? { port: pair.port } : {}),
      ...(result.destination_ip ? { address: result.destination_ip } : {}),
      model: result.verdict,
      ...(result.reason ? { reason: result.reason } : {}),
      ...probed.results[i],
    };
  });

  const mismatched = results.filter((r) => r.agrees === false);
  let drift: string[] = [];
  let driftError: string | undefined;
  let hosts: HostDriftReport[] = [];
  const host = p.endpoints.find((e) => e.instance && e.netns !== undefined)?.instance?.host ?? undefined;
  if (!local) {
    const live = await liveHosts(session);
    hosts = await driftByAgents(session, flags.host ? [flags.host] : [...live.keys()], !!flags.host);
    for (const report of hosts) {
      const driver = live.get(report.host);
      if (driver) report.driver = driver;
    }
  } else if (mismatched.length > 0 && host) {
    const found = await probe.hostDrift(session, host, stateDir).catch((err: Error) => err);
    if (found instanceof Error) {
      driftError = found.message;
    } else {
      const { pathIds } = await import('../agent/diagnose.js');
      const ids = pairs.flatMap((pair, i) =>
        results[i].agrees === false
          ? [
              ...traces[i].hops.map((h) => h.object.id),
              ...[pair.from.instance?.id, pair.to.instance?.id].flatMap((id) => id ?? []),
            ]
          : [],
      );
      const onPath = pathIds(ids, found.snapshot);
      drift = found.findings.filter((f) => f.ids.some((id) => onPath.has(id))).map((f) => f.text);
    }
  }

  const endpoints = p.endpoints.map((e) => e.label);
  if (flags.format === 'json' || flags.format === 'yaml') {
    const body = {
      endpoints,
      results,
      mismatches: mismatched.length,
      ...(local ? { drift, ...(driftError ? { driftError } : {}) } : { hosts }),
    };
    const { stringify } = await import('yaml');
    print(flags.format === 'json' ? `${JSON.stringify(body, null, 2)}\n` : stringify(body));
  } else if (flags.format === 'value') {
    for (const r of results)
      print(
        `${r.from} ${r.to} ${r.protocol}${r.port ? `/${r.port}` : ''} ${r.model} ${r.probe.replace(' ', '-')}\n`,
      );
    for (const h of hosts)
      print(`${h.host} ${h.error ? 'unread' : h.findings.length === 0 ? 'clean' : 'drift'}\n`);
  } else {
    if (results.length > 0 || local)
      print(matrixText(endpoints, results, { host, lines: drift, error: driftError }));
    print(hostsText(hosts));
  }
  if (hosts.some((h) => h.error)) return 1;
  return mismatched.length > 0 || hosts.some((h) => h.findings.length > 0) ? EXIT_MISMATCH : 0;
}

export function registerCheckCommand(root: Command): void {
  root
    .command('check [file]')
    .description(
      'probe reachability between instances, beside what the model says, and read every host’s kernel drift (admin)',
    )
    .option('--project <project>', "check a project's instances (name or id)")
    .option('--tcp <ports>', 'TCP ports to probe too, comma-separated (e.g. 22,80)')
    .option('--no-icmp', 'do not ping')
    .option(
      '--outside <netns>',
      'the namespace of the outside host (default: the one holding the external gateway)',
    )
    .option('--no-outside', 'leave the external network out')
    .option('--concurrency <n>', 'probes at a time', integer, 16)
    .option(
      '--host <host>',
      'read the kernel drift of this host only (default: every host with a live agent)',
    )
    .option(
      '--state-dir <dir>',
      'probe from this machine instead (root, on the instances’ host): the deployment’s state dir',
    )
    .addOption(new Option('-f, --format <format>', 'output format').choices(FORMATS).default('table'))
    .action(async (file: string | undefined, flags: CheckFlags) => {
      process.exitCode = await check(file, flags);
    });
}
