/**
 * `neutrino trace SRC DST [--proto P --port N] [--source-ip IP] [--probe]`: asks the server how
 * a packet from an instance, port or address gets to another (`POST /neutrino/v1/trace`) and
 * prints the hops and the verdict. Exit codes: 0 allowed, 2 denied, unreachable or leaving the
 * caller's project, 3 when `--probe` finds reality disagreeing with the model, 1 on errors.
 *
 * `--probe` also sends the packet for real from inside the source instance's namespace — a ping,
 * or a TCP connect to a listener started in the destination instance's namespace — and reads the
 * kernel drift on the path: what a reconcile would change there, in model terms. By default the
 * agents of the hosts involved do it at the API's request (`POST /neutrino/v1/hosts/{host}/
 * diagnostics`, admin), so it works across hosts and from any machine with a clouds.yaml; with
 * `--state-dir` (root, on the source's host) this machine does it itself, and may then also send
 * from an outside host's namespace here.
 */
import { type Command, Option } from 'commander';
import { type Session, sessionFromEnvironment } from '../client/session.js';
import type { TraceHop, TraceRequest, TraceResult } from '../model/trace.js';
import { FORMATS, type Format, print } from './output.js';
import { KINDS, list } from './resolve.js';
import { integer } from './resource-command.js';

export const EXIT_DENIED = 2;
export const EXIT_DISAGREES = 3;

interface TraceFlags {
  proto?: string;
  port?: number;
  sourceIp?: string;
  probe?: boolean;
  stateDir?: string;
  format: Format;
}

/** What `--probe` found. */
export interface ProbeReport {
  /** undefined: not probed (`why` says why). */
  reached?: boolean;
  agrees?: boolean;
  why?: string;
  host?: string;
  /** The hosts whose drift was read (the source's, the destination's). */
  hosts?: string[];
  /** Kernel drift on the path, then how many more findings the host has elsewhere. */
  drift: string[];
  otherDrift: number;
  /** Why the drift could not be read. */
  driftError?: string;
}

/** The request a command line asks for: icmp by default, tcp when only a port is given. */
export function traceRequest(source: string, destination: string, flags: Partial<TraceFlags>): TraceRequest {
  const protocol = (flags.proto ?? (flags.port !== undefined ? 'tcp' : 'icmp')).toLowerCase();
  if (protocol !== 'tcp' && protocol !== 'udp' && protocol !== 'icmp')
    throw new Error(`--proto: tcp, udp or icmp, not ${flags.proto}`);
  if (protocol !== 'icmp' && flags.port === undefined) throw new Error(`--proto ${protocol} needs --port`);
  return {
    source,
    destination,
    protocol,
    ...(protocol !== 'icmp' ? { port: flags.port } : {}),
    ...(flags.sourceIp ? { source_ip: flags.sourceIp } : {}),
  };
}

export function traceText(request: TraceRequest, result: TraceResult, probe?: ProbeReport): string {
  const what = request.protocol === 'icmp' ? 'icmp' : `${request.protocol} port ${request.port}`;
  const from = result.source_ip ? `${request.source} (${result.source_ip})` : request.source;
  const to =
    result.destination_ip && result.destination_ip !== request.destination
      ? `${request.destination} (${result.destination_ip})`
      : request.destination;
  const width = Math.max(...result.hops.map((h) => h.step.length));
  const lines = [
    `trace ${from} → ${to}, ${what}`,
    '',
    ...result.hops.map((h: TraceHop) => `  ${h.ok ? '✓' : '✗'} ${h.step.padEnd(width)}  ${h.detail}`),
    '',
    `verdict: ${result.verdict}${result.reason ? ` — ${result.reason}` : ''}`,
  ];
  if (probe) {
    if (probe.reached === undefined) lines.push(`probe: not sent (${probe.why})`);
    else
      lines.push(
        `probe: ${probe.reached ? 'reached' : 'not reached'}${probe.host ? ` from host ${probe.host}` : ''} — ${
          probe.agrees ? 'reality agrees with the model' : 'REALITY DISAGREES with the model'
        }`,
      );
    const hosts = `host${(probe.hosts?.length ?? 1) > 1 ? 's' : ''} ${probe.hosts?.join(', ') ?? probe.host}`;
    if (probe.driftError) {
      lines.push(`kernel drift not read: ${probe.driftError}`);
    } else if (probe.drift.length > 0) {
      lines.push(`kernel drift on this path (${hosts}):`);
      lines.push(...probe.drift.map((d) => `  - ${d}`));
    } else if (probe.host && probe.reached !== undefined) {
      lines.push(`no kernel drift on this path (${hosts})`);
    }
    if (probe.otherDrift > 0)
      lines.push(`(${probe.otherDrift} more pending change(s) on ${hosts}, off this path)`);
  }
  return `${lines.join('\n')}\n`;
}

/** The exit code of a trace: 0 allowed, 2 otherwise, 3 when the probe disagrees. */
export function traceExitCode(result: TraceResult, probe?: ProbeReport): number {
  if (probe?.agrees === false) return EXIT_DISAGREES;
  return result.verdict === 'allowed' ? 0 : EXIT_DENIED;
}

export async function runTrace(session: Session, request: TraceRequest): Promise<TraceResult> {
  return session.post<TraceResult>('/neutrino/v1/trace', request);
}

interface Instance {
  id: string;
  name: string;
  host: string | null;
  ports: { id: string; fixed_ips: { ip_address: string }[] }[];
}

/** The instances the trace starts from and delivers to, as the API lists them. */
async function traceEnds(
  session: Session,
  request: TraceRequest,
  result: TraceResult,
): Promise<{ source?: Instance; target?: Instance; fip: boolean }> {
  const [instances, fips] = await Promise.all([
    list(session, KINDS.instance) as unknown as Promise<Instance[]>,
    list(session, KINDS.floatingIp),
  ]);
  const first = result.hops[0]?.object;
  const source =
    first?.type === 'port' ? instances.find((i) => i.ports.some((p) => p.id === first.id)) : undefined;
  const dst = result.destination_ip;
  const fip = fips.find((f) => f.floating_ip_address === dst);
  // The destination instance: where the trace delivered, else as named, else by address.
  const delivered = result.hops.find((h) => h.step === 'destination' && h.object.type === 'instance')?.object
    .id;
  const named = instances.filter((i) => i.id === request.destination || i.name === request.destination);
  const byPort = (id: unknown) => instances.find((i) => i.ports.some((p) => p.id === id));
  const byAddress = (ip: unknown) =>
    instances.find((i) => i.ports.some((p) => p.fixed_ips.some((f) => f.ip_address === ip)));
  const target =
    instances.find((i) => i.id === delivered) ??
    (named.length === 1 ? named[0] : undefined) ??
    (fip ? byPort(fip.port_id) : byAddress(dst));
  return { source, target, fip: fip !== undefined };
}

/** How long a listener asked of another host's agent stays: the probe follows at once. */
const REMOTE_LISTEN_S = 20;

/**
 * What both probes start from: the probe module and the trace's ends; or why there is nothing to
 * probe (a member's path into another project: the model has no expectation to hold reality to).
 */
async function probeStart(session: Session, request: TraceRequest, result: TraceResult) {
  if (result.verdict === 'leaves_project')
    return { why: 'the path leaves your project: the model says nothing to compare with' };
  return { probe: await import('./probe.js'), ...(await traceEnds(session, request, result)) };
}

/** Whether `address` is one of this deployment's (`known`: the trace already found it so): a port's or a gateway's. */
async function isDeploymentAddress(session: Session, address: string, known: boolean): Promise<boolean> {
  return (
    known ||
    (await list(session, KINDS.port, { fixed_ips: `ip_address=${address}` })).length > 0 ||
    (await list(session, KINDS.subnet, { gateway_ip: address })).length > 0
  );
}

/**
 * `--probe` without a state dir: the source instance's agent sends the packet, the destination
 * instance's agent listens for a TCP probe, and each of their hosts' agents reads its drift on the
 * path.
 */
async function probeTraceByAgents(
  session: Session,
  request: TraceRequest,
  result: TraceResult,
): Promise<ProbeReport> {
  const report: ProbeReport = { drift: [], otherDrift: 0 };
  const start = await probeStart(session, request, result);
  if ('why' in start) return { ...report, why: start.why };
  const { probe, source, target, fip } = start;
  if (!source)
    return {
      ...report,
      why: 'only an instance is probed from by its agent (from an outside host: --state-dir, on its host)',
    };
  if (!source.host) return { ...report, why: `instance ${source.name} is on no host` };
  report.host = source.host;
  const dst = result.destination_ip;
  if (!dst) return { ...report, why: 'the trace settled on no destination address' };
  const known = await isDeploymentAddress(session, dst, fip || target !== undefined);
  if (!known) return { ...report, why: `${dst} is not an address of this deployment` };
  if (request.protocol === 'udp')
    return { ...report, why: 'udp is not probed (nothing answers to wait for)' };
  if (request.protocol === 'tcp') {
    if (!target?.host) return { ...report, why: `no listener can be started at ${dst}` };
    const listening = await probe.hostDiagnostic(session, target.host, {
      kind: 'listen',
      instance: target.id,
      port: request.port!,
      seconds: REMOTE_LISTEN_S,
    });
    if (listening.why) return { ...report, why: listening.why };
  }
  const sent = await probe.hostDiagnostic(session, source.host, {
    kind: 'probe',
    instance: source.id,
    address: dst,
    protocol: request.protocol,
    ...(request.port !== undefined ? { port: request.port } : {}),
  });
  if (sent.reached === null) return { ...report, why: sent.why ?? 'not sent' };
  report.reached = sent.reached;
  report.agrees = report.reached === (result.verdict === 'allowed');
  const hosts = [...new Set([source.host, ...(target?.host ? [target.host] : [])])];
  const path = [...result.hops.map((h) => h.object.id), source.id, ...(target ? [target.id] : [])];
  report.hosts = hosts;
  try {
    for (const host of hosts) {
      const found = await probe.hostDiagnostic(session, host, { kind: 'check', path });
      report.drift.push(...found.findings.map((f) => f.text));
      report.otherDrift += found.other;
    }
  } catch (err) {
    return { ...report, drift: [], otherDrift: 0, driftError: (err as Error).message };
  }
  return report;
}

/** Sends the traced packet for real from this machine and reads the drift on its path (`--state-dir`). */
async function probeTrace(
  session: Session,
  request: TraceRequest,
  result: TraceResult,
  stateDir: string,
): Promise<ProbeReport> {
  const report: ProbeReport = { drift: [], otherDrift: 0 };
  const start = await probeStart(session, request, result);
  if ('why' in start) return { ...report, why: start.why };
  const { probe, source, target, fip } = start;
  const here = await probe.namespacesHere();
  const first = result.hops[0]?.object;
  const dst = result.destination_ip;

  // From: the source instance's namespace, or the outside host holding the source address.
  let from: string | null | undefined;
  if (source) {
    report.host = source.host ?? undefined;
    from = probe.instanceHere(here, source.id);
    if (from === undefined)
      return { ...report, why: `instance ${source.name} is on host ${source.host}, not on this one` };
  } else if (first?.type === 'network' && result.source_ip) {
    from = await probe.outsideHolding(result.source_ip, here);
    if (from === undefined) return { ...report, why: `no namespace on this host holds ${result.source_ip}` };
  } else {
    return { ...report, why: 'the source is neither an instance nor an outside host' };
  }
  if (!dst) return { ...report, why: 'the trace settled on no destination address' };
  // To: only an address of this deployment (a port's, a floating IP) or of an outside host here.
  const known = await isDeploymentAddress(session, dst, fip || target !== undefined);
  const outside = known ? undefined : await probe.outsideHolding(dst, here);
  if (!known && outside === undefined)
    return { ...report, why: `${dst} is neither an address of this deployment nor of an outside host here` };
  if (request.protocol === 'udp')
    return { ...report, why: 'udp is not probed (nothing answers to wait for)' };
  const listenIn = target ? probe.instanceHere(here, target.id) : (outside ?? undefined);
  if (request.protocol === 'tcp' && listenIn === undefined && (target || outside === null))
    return {
      ...report,
      why: target
        ? `instance ${target.name} is on host ${target.host}: no listener can be started there from here`
        : 'no listener is started in the root namespace',
    };
  const listening =
    request.protocol === 'tcp' && listenIn ? await probe.listeners([listenIn], [request.port!]) : undefined;
  try {
    report.reached = await probe.send({ from, to: dst, protocol: request.protocol, port: request.port });
  } finally {
    await listening?.stop();
  }
  report.agrees = report.reached === (result.verdict === 'allowed');
  report.host ??= target?.host ?? undefined;
  if (report.host) {
    const drift = await probe.hostDrift(session, report.host, stateDir).catch((err: Error) => err);
    if (drift instanceof Error) return { ...report, driftError: drift.message };
    const { pathIds } = await import('../agent/diagnose.js');
    const onPath = pathIds(
      [
        ...result.hops.map((h) => h.object.id),
        ...(source ? [source.id] : []),
        ...(target ? [target.id] : []),
      ],
      drift.snapshot,
    );
    const relevant = drift.findings.filter((f) => f.ids.some((id) => onPath.has(id)));
    report.drift = relevant.map((f) => f.text);
    report.otherDrift = drift.findings.length - relevant.length;
  }
  return report;
}

export function registerTraceCommand(root: Command): void {
  root
    .command('trace <source> <destination>')
    .description(
      'explain hop by hop how a packet goes from an instance, port or address to another (see docs/cli.md)',
    )
    .option('--proto <protocol>', 'tcp, udp or icmp (default icmp; tcp when --port is given)')
    .option('--port <port>', 'destination port (tcp, udp)', integer)
    .option('--source-ip <address>', 'send from this address instead of the source port’s own')
    .option(
      '--probe',
      'also send the packet for real and compare with the kernel (by the hosts’ agents; admin)',
    )
    .option(
      '--state-dir <dir>',
      'probe from this machine instead (root, on the source’s host): the deployment’s state dir',
    )
    .addOption(new Option('-f, --format <format>', 'output format').choices(FORMATS).default('table'))
    .action(async (source: string, destination: string, flags: TraceFlags) => {
      const request = traceRequest(source, destination, flags);
      const session = sessionFromEnvironment();
      const result = await runTrace(session, request);
      const { stateDir } = flags;
      const probe = !flags.probe
        ? undefined
        : stateDir
          ? await probeTrace(session, request, result, stateDir)
          : await probeTraceByAgents(session, request, result);
      if (flags.format === 'json' || flags.format === 'yaml') {
        const body = { ...result, ...(probe ? { probe } : {}) };
        const { stringify } = await import('yaml');
        print(flags.format === 'json' ? `${JSON.stringify(body, null, 2)}\n` : stringify(body));
      } else if (flags.format === 'value') {
        print(`${result.verdict}\n`);
      } else {
        print(traceText(request, result, probe));
      }
      process.exitCode = traceExitCode(result, probe);
    });
}
