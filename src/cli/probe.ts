/**
 * What `neutrino trace --probe` and `neutrino check` need besides the API's trace. By default they
 * ask the hosts' agents (`hostDiagnostic`: `POST /neutrino/v1/hosts/{host}/diagnostics`), which
 * probe from their own namespaces and read their own drift (`agent/diagnostics.ts`). With
 * `--state-dir` this machine is the host: find the namespaces that send and answer (an instance's
 * `inst-<id>`, and the namespace holding an address of the external network — the root one when
 * `neutrino up` put it on its bridge), send real packets between them (`linux/probe.ts`), and,
 * where reality and the model disagree, read the host's drift: the agent's desired state for the
 * host (from the server's snapshot) against what the kernel holds, told in model terms
 * (`agent/diagnose.ts`).
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describeDrift, type Finding, namesFor } from '../agent/diagnose.js';
import type { TunnelEndpoint } from '../agent/drivers/driver.js';
import { instanceNamespace } from '../agent/instances/instances.js';
import { diff } from '../agent/reconcile/diff.js';
import { actualState, desiredState } from '../agent/reconciler.js';
import type { Session } from '../client/session.js';
import { interfaceWithAddress, ipJson, listNamespaces } from '../linux/ip.js';
import { type Listener, listenTcp, ping, tcpConnect } from '../linux/probe.js';
import { L2_AGENT_TYPES } from '../model/agent.js';
import type {
  CheckRequest,
  CheckResult,
  Diagnostic,
  DiagnosticRequest,
  ListenResult,
  ProbeRequest,
  ProbeResult,
} from '../model/diagnostics.js';
import type { Snapshot } from '../model/host-snapshot.js';
import { KINDS, list } from './resolve.js';

/** Namespaces Neutrino makes: never taken for an outside host's. */
const OURS = /^(qdhcp|qrouter|inst|snat|fip)-/;
const WAIT_S = 1;

/** The root namespace (null) or a named one. */
export type Netns = string | null;

/** The named namespaces on this host; probing from them takes root. */
export async function namespacesHere(): Promise<Set<string>> {
  if (process.getuid?.() !== 0) throw new Error('probes are sent from inside namespaces: run this as root');
  return new Set(await listNamespaces());
}

/** The namespace an instance lives in, when it is on this host. */
export function instanceHere(here: Set<string>, instanceId: string): string | undefined {
  const netns = instanceNamespace(instanceId);
  return here.has(netns) ? netns : undefined;
}

/**
 * The namespace on this host that holds `ip` and is not Neutrino's own (an outside host on the
 * external network): the root namespace (null), a named one, or undefined when none does.
 */
export async function outsideHolding(ip: string, here: Set<string>): Promise<Netns | undefined> {
  type Link = { addr_info?: { local: string }[] };
  const holds = (links: Link[]) => links.some((l) => (l.addr_info ?? []).some((a) => a.local === ip));
  if (holds(await ipJson<Link[]>(['addr', 'show']))) return null;
  for (const netns of [...here].filter((n) => !OURS.test(n)).sort())
    if (holds(await ipJson<Link[]>(['addr', 'show'], { netns }).catch(() => []))) return netns;
  return undefined;
}

export interface Probe {
  from: Netns;
  to: string;
  protocol: 'tcp' | 'udp' | 'icmp';
  port?: number;
}

/** Sends one packet (a ping, a TCP connect); undefined when the protocol cannot be probed (udp). */
export async function send(probe: Probe): Promise<boolean | undefined> {
  const netns = probe.from ?? undefined;
  if (probe.protocol === 'icmp') return ping(netns, probe.to, WAIT_S);
  if (probe.protocol === 'tcp') return tcpConnect(netns, probe.to, probe.port!, WAIT_S);
  return undefined;
}

/**
 * Listeners for `ports` in each of `namespaces` (never the root one), started together; `stop`
 * ends those started here.
 */
export async function listeners(
  namespaces: readonly string[],
  ports: readonly number[],
): Promise<{ stop: () => Promise<void> }> {
  const started: Listener[] = [];
  const stop = async () => {
    await Promise.all(started.map((l) => l.stop()));
  };
  try {
    const all = namespaces.flatMap((netns) => ports.map((port) => ({ netns, port })));
    for (const result of await Promise.allSettled(all.map(({ netns, port }) => listenTcp(netns, port)))) {
      if (result.status === 'fulfilled') started.push(result.value);
      else throw result.reason;
    }
  } catch (err) {
    await stop();
    throw err;
  }
  return { stop };
}

/** Runs `work` over `items` with at most `limit` at a time; results in order. */
export async function bounded<T, R>(
  items: readonly T[],
  limit: number,
  work: (item: T, index: number) => Promise<R>,
): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  const lane = async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await work(items[i], i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, lane));
  return results;
}

/**
 * The host's tunnel endpoint as its L2 agent reports it (`configurations.tunneling_ip`), with the
 * interface here that holds it: what the agent binds its VXLAN devices to.
 */
async function tunnelOf(session: Session, host: string): Promise<TunnelEndpoint | undefined> {
  const { agents } = await session.get<{
    agents: { agent_type: string; configurations: { tunneling_ip?: unknown } }[];
  }>(`/v2.0/agents?host=${encodeURIComponent(host)}`);
  const ip = agents.find((a) => L2_AGENT_TYPES.includes(a.agent_type))?.configurations.tunneling_ip;
  if (typeof ip !== 'string') return undefined;
  const device = await interfaceWithAddress(ip);
  return device === undefined ? undefined : { localIp: ip, device };
}

export interface Drift {
  host: string;
  snapshot: Snapshot;
  findings: Finding[];
}

/**
 * The drift of `host` read from here (the local mode: this machine is the host, `stateDir` the
 * deployment's `--state-dir`): its snapshot from the server (admin: `POST …/hosts/{host}/sync`,
 * which also makes sure its DHCP ports exist: idempotent), the agent's desired state from it, the
 * kernel's state as a verifying run observes it (NAT tables listed), and the findings of their
 * diff. Without a state dir the host's own agent reads it (`hostDiagnostic`).
 */
export async function hostDrift(session: Session, host: string, stateDir: string): Promise<Drift> {
  const { snapshot } = await session.post<{ snapshot: Snapshot }>(
    `/neutrino/v1/hosts/${encodeURIComponent(host)}/sync`,
  );
  const agentDir = join(stateDir, 'agent');
  if (!existsSync(join(agentDir, 'instances')) && !existsSync(join(agentDir, 'dhcp')))
    throw new Error(`no agent state in ${agentDir}: give the deployment's --state-dir`);
  const desired = await desiredState(snapshot, agentDir, { tunnel: await tunnelOf(session, host) });
  const actual = await actualState(desired, agentDir, true);
  const [networks, routers] = await Promise.all([
    list(session, KINDS.network, { fields: ['id', 'name'] }),
    list(session, KINDS.router, { fields: ['id', 'name'] }),
  ]);
  const names = namesFor(snapshot, new Map([...networks, ...routers].map((o) => [o.id, String(o.name)])));
  return { host, snapshot, findings: describeDrift(diff(desired, actual), { host, desired, actual, names }) };
}

/**
 * Asks `host`'s agent, through the API, for a diagnostic on its host (`POST
 * /neutrino/v1/hosts/{host}/diagnostics`, admin): what `check` and `trace --probe` do without a
 * state dir, from any machine.
 */
export async function hostDiagnostic<R extends DiagnosticRequest>(
  session: Session,
  host: string,
  request: R,
): Promise<R extends CheckRequest ? CheckResult : R extends ProbeRequest ? ProbeResult : ListenResult> {
  const { diagnostic } = await session.post<{ diagnostic: Diagnostic }>(
    `/neutrino/v1/hosts/${encodeURIComponent(host)}/diagnostics`,
    request,
  );
  return diagnostic.result as never;
}
