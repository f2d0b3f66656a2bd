/**
 * `neutrino trace SRC DST [--proto P --port N] [--source-ip IP] [--probe]`: asks the server how
 * a packet from an instance, port or address gets to another (`POST /neutrino/v1/trace`) and
 * prints the hops and the verdict. Exit codes: 0 allowed, 2 denied, unreachable or leaving the
 * caller's project, 3 when `--probe` finds reality disagreeing with the model, 1 on errors.
 *
 * `--probe` (root, on the source instance's host) also sends the packet for real from inside the
 * source's namespace — a ping, or a TCP connect to a listener it starts in the destination
 * instance's namespace — and reads the host's kernel drift on the path: what a reconcile would
 * change there, in model terms.
 */
import { type Command, Option } from 'commander';
import type { TraceHop, TraceRequest, TraceResult } from '../model/trace.js';
import { type Session, sessionFromEnvironment } from './client.js';
import { FORMATS, type Format, print } from './output.js';
import { KINDS, list } from './resolve.js';
import { integer } from './resource-command.js';

/** `neutrino up`'s and the agent's default state dir (the agent's own files are in `<dir>/agent`). */
export const DEFAULT_STATE_DIR = '/var/lib/neutrino';

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
    if (probe.driftError) {
      lines.push(`kernel drift not read: ${probe.driftError}`);
    } else if (probe.drift.length > 0) {
      lines.push(`kernel drift on this path (host ${probe.host}):`);
      lines.push(...probe.drift.map((d) => `  - ${d}`));
    } else if (probe.host && probe.reached !== undefined) {
      lines.push(`no kernel drift on this path (host ${probe.host})`);
    }
    if (probe.otherDrift > 0)
      lines.push(`(${probe.otherDrift} more pending change(s) on host ${probe.host}, off this path)`);
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
  host: string;
  ports: { id: string; fixed_ips: { ip_address: string }[] }[];
}

/** Sends the traced packet for real and reads the drift on its path (see the module's comment). */
async function probeTrace(
  session: Session,
  request: TraceRequest,
  result: TraceResult,
  stateDir: string,
): Promise<ProbeReport> {
  const report: ProbeReport = { drift: [], otherDrift: 0 };
  // A member's path into another project: the model has no expectation to hold reality to.
  if (result.verdict === 'leaves_project')
    return { ...report, why: 'the path leaves your project: the model says nothing to compare with' };
  const probe = await import('./probe.js');
  const [instances, fips] = await Promise.all([
    list(session, KINDS.instance) as unknown as Promise<Instance[]>,
    list(session, KINDS.floatingIp),
  ]);
  const here = await probe.namespacesHere();
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

  // From: the source instance's namespace, or the outside host holding the source address.
  let from: string | null | undefined;
  if (source) {
    report.host = source.host;
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
  const known =
    fip !== undefined ||
    target !== undefined ||
    (await list(session, KINDS.port, { fixed_ips: `ip_address=${dst}` })).length > 0;
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
  report.host ??= target?.host;
  if (report.host) {
    const drift = await probe.hostDrift(session, report.host, stateDir).catch((err: Error) => err);
    if (drift instanceof Error) return { ...report, driftError: drift.message };
    const onPath = probe.pathIds(result.hops, drift.snapshot, [
      ...(source ? [source.id] : []),
      ...(target ? [target.id] : []),
    ]);
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
      'also send the packet for real and compare with the kernel (root, on the source’s host)',
    )
    .option('--state-dir <dir>', 'the deployment’s state dir, for --probe (default /var/lib/neutrino)')
    .addOption(new Option('-f, --format <format>', 'output format').choices(FORMATS).default('table'))
    .action(async (source: string, destination: string, flags: TraceFlags) => {
      const request = traceRequest(source, destination, flags);
      const session = sessionFromEnvironment();
      const result = await runTrace(session, request);
      const probe = flags.probe
        ? await probeTrace(
            session,
            request,
            result,
            flags.stateDir ?? process.env.NEUTRINO_STATE_DIR ?? DEFAULT_STATE_DIR,
          )
        : undefined;
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
