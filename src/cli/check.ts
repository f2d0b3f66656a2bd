/**
 * `neutrino check [FILE | --project P] [--tcp 22,80]`: a reachability matrix between instances,
 * and between them and the outside (instances reaching the external network through SNAT, the
 * outside reaching floating IPs), measured by real probes from inside the instances' namespaces
 * — a ping, and a TCP connect per port to a listener started in the destination for the run —
 * beside what the model says (the trace verdict of each pair). Run it as root on the instances'
 * host. Disagreements are marked and explained; the exit code is 2 when there is any (1 on errors).
 *
 * The instances are a topology file's (its `check:` section names TCP ports, whether to ping and
 * the outside), a project's, or every one the caller sees. The outside is the external network of
 * the instances' routers: its subnet's gateway address, held by the namespace found holding it
 * (the root one when `neutrino up` made the network; no listener is ever started there, so TCP to
 * it is not probed) or named by `--outside`.
 */
import { type Command, Option } from 'commander';
import type { TraceRequest, TraceResult } from '../model/trace.js';
import { type Session, sessionFromEnvironment } from './client.js';
import { FORMATS, type Format, print, renderTable } from './output.js';
import type { Netns } from './probe.js';
import { find, KINDS, list, type Row } from './resolve.js';
import { integer } from './resource-command.js';
import { DEFAULT_STATE_DIR, runTrace } from './trace.js';

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
  format: Format;
}

interface Instance {
  id: string;
  name: string;
  project_id: string;
  host: string;
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

/** What to check: the endpoints (with their namespaces on this host), the protocols. */
async function plan(session: Session, file: string | undefined, flags: CheckFlags): Promise<Plan> {
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
  if (instances.length === 0) throw new Error('no instances to check');
  const tcp = [...new Set([...base.tcp, ...parsePorts(flags.tcp)])].sort((a, b) => a - b);
  const icmp = flags.icmp !== false && base.icmp;
  const outside =
    flags.outside === false ? false : typeof flags.outside === 'string' ? flags.outside : base.outside;
  const probe = await import('./probe.js');
  const here = await probe.namespacesHere();
  const names = labels(instances, await projectNames(session));
  const endpoints: Endpoint[] = instances.map((instance, i) => ({
    label: names[i],
    instance,
    netns: probe.instanceHere(here, instance.id),
  }));
  const external = outside === false ? undefined : await externalOf(session, instances);
  if (external) {
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

export async function check(file: string | undefined, flags: CheckFlags): Promise<number> {
  const session = sessionFromEnvironment();
  const p = await plan(session, file, flags);
  const probe = await import('./probe.js');
  const { cidrContains, parseCidr } = await import('../core/ipam.js');
  const pairs: Pair[] = [];
  const protocols: { protocol: 'icmp' | 'tcp'; port?: number }[] = [
    ...(p.icmp ? [{ protocol: 'icmp' as const }] : []),
    ...p.tcp.map((port) => ({ protocol: 'tcp' as const, port })),
  ];
  for (const from of p.endpoints)
    for (const to of p.endpoints)
      if (from !== to) for (const proto of protocols) pairs.push({ from, to, ...proto });
  const traces = await probe.bounded(pairs, TRACE_CONCURRENCY, (pair) => runTrace(session, request(pair)));

  const onExternal = (ip: string) =>
    p.externalCidrs.some((cidr) => {
      const parsed = parseCidr(cidr);
      return parsed !== null && cidrContains(parsed, ip);
    });

  const listenIn = p.endpoints.flatMap((e) => (typeof e.netns === 'string' ? [e.netns] : []));
  const listening = await probe.listeners(listenIn, p.tcp);
  let results: CheckResult[];
  try {
    results = await probe.bounded(pairs, flags.concurrency, async (pair, i) => {
      const result = traces[i];
      const base = {
        from: pair.from.label,
        to: pair.to.label,
        protocol: pair.protocol,
        ...(pair.port !== undefined ? { port: pair.port } : {}),
        ...(result.destination_ip ? { address: result.destination_ip } : {}),
        model: result.verdict,
        ...(result.reason ? { reason: result.reason } : {}),
      };
      const why = unprobed(pair, result, onExternal);
      if (why) return { ...base, probe: 'not probed', why, agrees: null } satisfies CheckResult;
      const reached = await probe.send({
        from: pair.from.netns ?? null,
        to: result.destination_ip!,
        protocol: pair.protocol,
        port: pair.port,
      });
      return {
        ...base,
        probe: reached ? 'reached' : 'not reached',
        agrees: reached === (result.verdict === 'allowed'),
      } satisfies CheckResult;
    });
  } finally {
    await listening.stop();
  }

  const mismatched = results.filter((r) => r.agrees === false);
  let drift: string[] = [];
  let driftError: string | undefined;
  const host = p.endpoints.find((e) => e.instance && e.netns !== undefined)?.instance?.host;
  if (mismatched.length > 0 && host) {
    const stateDir = flags.stateDir ?? process.env.NEUTRINO_STATE_DIR ?? DEFAULT_STATE_DIR;
    const found = await probe.hostDrift(session, host, stateDir).catch((err: Error) => err);
    if (found instanceof Error) {
      driftError = found.message;
    } else {
      const hops = traces.flatMap((trace, i) => (results[i].agrees === false ? trace.hops : []));
      const instances = pairs.flatMap((pair, i) =>
        results[i].agrees === false
          ? [pair.from.instance?.id, pair.to.instance?.id].flatMap((id) => id ?? [])
          : [],
      );
      const onPath = probe.pathIds(hops, found.snapshot, instances);
      drift = found.findings.filter((f) => f.ids.some((id) => onPath.has(id))).map((f) => f.text);
    }
  }

  const endpoints = p.endpoints.map((e) => e.label);
  if (flags.format === 'json' || flags.format === 'yaml') {
    const body = {
      endpoints,
      results,
      mismatches: mismatched.length,
      drift,
      ...(driftError ? { driftError } : {}),
    };
    const { stringify } = await import('yaml');
    print(flags.format === 'json' ? `${JSON.stringify(body, null, 2)}\n` : stringify(body));
  } else if (flags.format === 'value') {
    for (const r of results)
      print(
        `${r.from} ${r.to} ${r.protocol}${r.port ? `/${r.port}` : ''} ${r.model} ${r.probe.replace(' ', '-')}\n`,
      );
  } else {
    print(matrixText(endpoints, results, { host, lines: drift, error: driftError }));
  }
  return mismatched.length > 0 ? EXIT_MISMATCH : 0;
}

export function registerCheckCommand(root: Command): void {
  root
    .command('check [file]')
    .description('probe reachability between instances and the outside, beside what the model says (root)')
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
      '--state-dir <dir>',
      'the deployment’s state dir, to read kernel drift (default /var/lib/neutrino)',
    )
    .addOption(new Option('-f, --format <format>', 'output format').choices(FORMATS).default('table'))
    .action(async (file: string | undefined, flags: CheckFlags) => {
      process.exitCode = await check(file, flags);
    });
}
