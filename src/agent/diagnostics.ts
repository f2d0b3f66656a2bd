/**
 * The agent's side of host diagnostics: an admin's request (`neutrino check`, `trace --probe`)
 * waits in the API for this host; the change feed says one arrived (`host_diagnostics`), the agent
 * lists its host's pending requests, runs each on its own host and puts back the answer:
 * - `check`: the kernel drift — the diff of what the agent wants here and what the kernel holds —
 *   in model terms (`diagnose.ts`), all of it or only what concerns a packet's path;
 * - `probe`: one ping or TCP connect from inside an instance's namespace here (`linux/probe.ts`);
 * - `listen`: a TCP listener in an instance's namespace here, stopped after the seconds asked, for
 *   a probe from another host to connect to.
 */
import { listNamespaces } from '../linux/ip.js';
import { type Listener, listenTcp, ping, tcpConnect } from '../linux/probe.js';
import type {
  CheckRequest,
  CheckResult,
  DiagnosticAnswer,
  ListenRequest,
  ListenResult,
  PendingDiagnostic,
  ProbeRequest,
  ProbeResult,
} from '../model/diagnostics.js';
import type { Snapshot } from '../model/host-snapshot.js';
import { describeDrift, namesFor, pathIds } from './diagnose.js';
import { instanceNamespace } from './instances/instances.js';
import { diff } from './reconcile/diff.js';
import type { Logger } from './reconciler.js';
import type { AgentSession } from './servers.js';
import type { HostState } from './state/host-state.js';

/** How long a probe waits for its answer, in seconds. */
const PROBE_WAIT_S = 1;
const LISTEN_DEFAULT_S = 20;
const REQUEST_TIMEOUT_MS = 30_000;

export interface DiagnosticsOptions {
  session: AgentSession;
  host: string;
  /** A fresh snapshot of this host (`POST …/sync`). */
  snapshot: () => Promise<Snapshot>;
  /** What the agent wants on this host for a snapshot, and what the kernel holds (`Reconciler.inspect`). */
  inspect: (snapshot: Snapshot) => Promise<{ desired: HostState; actual: HostState }>;
  log: Logger;
}

/** Whether a change-feed event's data says a diagnostic request was made (for some host). */
export function isDiagnosticRequest(data: string): boolean {
  try {
    const { resource, op } = JSON.parse(data) as { resource?: unknown; op?: unknown };
    return resource === 'host_diagnostics' && op === 'create';
  } catch {
    return false;
  }
}

export class Diagnostics {
  readonly #session: AgentSession;
  readonly #path: string;
  readonly #host: string;
  readonly #snapshot: DiagnosticsOptions['snapshot'];
  readonly #inspect: DiagnosticsOptions['inspect'];
  readonly #log: Logger;
  /** Requests being run: a second look at the pending list must not run them again. */
  readonly #running = new Set<string>();
  readonly #listeners = new Set<{ listener: Listener; timer: NodeJS.Timeout }>();
  #looking: Promise<void> | undefined;
  #again = false;
  #closed = false;

  constructor(options: DiagnosticsOptions) {
    this.#session = options.session;
    this.#path = `/neutrino/v1/hosts/${encodeURIComponent(options.host)}/diagnostics`;
    this.#host = options.host;
    this.#snapshot = options.snapshot;
    this.#inspect = options.inspect;
    this.#log = options.log;
  }

  /** Looks for requests pending for this host and runs each (a look already under way looks again). */
  look(): void {
    if (this.#closed) return;
    if (this.#looking) {
      this.#again = true;
      return;
    }
    this.#looking = (async () => {
      do {
        this.#again = false;
        try {
          const { diagnostics } = await this.#session.get<{ diagnostics: PendingDiagnostic[] }>(this.#path, {
            signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
          });
          for (const pending of diagnostics) if (!this.#running.has(pending.id)) void this.#run(pending);
        } catch (err) {
          this.#log.warn({ err: String(err) }, 'cannot list pending diagnostics');
        }
      } while (this.#again && !this.#closed);
      this.#looking = undefined;
    })();
  }

  /** Stops the listeners started here; requests still running answer if they can. */
  async close(): Promise<void> {
    this.#closed = true;
    const listeners = [...this.#listeners];
    this.#listeners.clear();
    for (const { timer } of listeners) clearTimeout(timer);
    await Promise.all(listeners.map(({ listener }) => listener.stop().catch(() => undefined)));
    await this.#looking;
  }

  async #run(pending: PendingDiagnostic): Promise<void> {
    this.#running.add(pending.id);
    const { request } = pending;
    let answer: DiagnosticAnswer;
    try {
      const result =
        request.kind === 'check'
          ? await this.#checkHost(request)
          : request.kind === 'probe'
            ? await this.#probe(request)
            : await this.#listen(request);
      answer = { result };
    } catch (err) {
      this.#log.warn({ err: String(err), diagnostic: pending.id, kind: request.kind }, 'diagnostic failed');
      answer = { error: (err as Error).message.slice(0, 4096) || 'failed' };
    }
    try {
      await this.#session.put(`${this.#path}/${pending.id}`, answer, {
        signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
      });
      this.#log.info({ diagnostic: pending.id, kind: request.kind }, 'diagnostic answered');
    } catch (err) {
      // Given up by the asking server (404), or the server is gone: nobody waits for it any more.
      this.#log.warn({ err: String(err), diagnostic: pending.id }, 'diagnostic answer not taken');
    } finally {
      this.#running.delete(pending.id);
    }
  }

  /** The drift of this host, in model terms; only the findings about `path` and what realises it when given. */
  async #checkHost(request: CheckRequest): Promise<CheckResult> {
    const snapshot = await this.#snapshot();
    const { desired, actual } = await this.#inspect(snapshot);
    const names = namesFor(snapshot, await this.#names());
    const findings = describeDrift(diff(desired, actual), { host: this.#host, desired, actual, names });
    if (!request.path) return { findings, other: 0, revision: snapshot.revision };
    const onPath = pathIds(request.path, snapshot);
    const kept = findings.filter((f) => f.ids.some((id) => onPath.has(id)));
    return { findings: kept, other: findings.length - kept.length, revision: snapshot.revision };
  }

  /** The names of networks and routers (a snapshot has none); ids stand in when they cannot be read. */
  async #names(): Promise<Map<string, string>> {
    const names = new Map<string, string>();
    for (const collection of ['networks', 'routers'] as const) {
      const body = await this.#session
        .get<Record<string, { id: string; name: string }[]>>(`/v2.0/${collection}?fields=id&fields=name`, {
          signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
        })
        .catch(() => ({}) as Record<string, { id: string; name: string }[]>);
      for (const o of body[collection] ?? []) names.set(o.id, o.name);
    }
    return names;
  }

  /** The instance's namespace when it is on this host. */
  async #namespaceOf(instance: string): Promise<string | undefined> {
    const netns = instanceNamespace(instance);
    return (await listNamespaces()).includes(netns) ? netns : undefined;
  }

  async #probe(request: ProbeRequest): Promise<ProbeResult> {
    const netns = await this.#namespaceOf(request.instance);
    if (!netns) return { reached: null, why: `instance ${request.instance} has no namespace on this host` };
    if (request.protocol === 'icmp') return { reached: await ping(netns, request.address, PROBE_WAIT_S) };
    if (request.port === undefined) throw new Error('a tcp probe needs a port');
    return { reached: await tcpConnect(netns, request.address, request.port, PROBE_WAIT_S) };
  }

  async #listen(request: ListenRequest): Promise<ListenResult> {
    const netns = await this.#namespaceOf(request.instance);
    if (!netns) return { started: false, why: `instance ${request.instance} has no namespace on this host` };
    const listener = await listenTcp(netns, request.port);
    if (listener.pid === undefined) return { started: false };
    const entry = {
      listener,
      timer: setTimeout(
        () => {
          this.#listeners.delete(entry);
          void listener.stop();
        },
        (request.seconds ?? LISTEN_DEFAULT_S) * 1000,
      ).unref(),
    };
    this.#listeners.add(entry);
    return { started: true };
  }
}
