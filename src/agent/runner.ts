/**
 * The agent process around the reconciler (`neutrino agent`, and the agent inside `neutrino up`):
 * it reads this host's snapshot from the server (`POST /neutrino/v1/hosts/{host}/sync`), follows
 * the change feed (`GET /neutrino/v1/events`, SSE) and asks for a reconcile on any network, subnet,
 * port, instance, router, floating IP, security group or rule change, or a tunnel endpoint that
 * appears or moves (the snapshot decides what
 * matters here), does a full reconcile on every (re)connect and `resync`, heartbeats once per role,
 * and after each reconcile reports port status and problems (`POST …/status`). While instances
 * wait for their DHCP lease it watches their lease files and reports each arrival within
 * milliseconds (`dhcp/lease-watch.ts`), and looks again by a full reconcile after a second in case a
 * lease slipped past the watch. Every few seconds it reads the security groups' drop counters and
 * reports them when they changed. An admin's host diagnostic (drift, probe) is run when the feed
 * says one was asked for, and on every (re)connect (`diagnostics.ts`). `stop()` leaves the data plane in place; `teardown()` removes it.
 */
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { ApiError } from '../client/session.js';
import { has8021q } from '../linux/kernel.js';
import { describeDataPlane, type IpsecDataPlane } from '../linux/strongswan.js';
import { LINUXBRIDGE_AGENT_TYPE, OVS_AGENT_TYPE } from '../model/agent.js';
import { DeviceOwner } from '../model/device-owners.js';
import type { Snapshot } from '../model/host-snapshot.js';
import { LeaseWatch } from './dhcp/lease-watch.js';
import { MetadataRelay } from './dhcp/metadata-relay.js';
import { Diagnostics, isDiagnosticRequest } from './diagnostics.js';
import type { TunnelEndpoint } from './drivers/driver.js';
import { DEFAULT_L2_DRIVER } from './drivers/index.js';
import { providerBridgeName, tagsFile } from './drivers/openvswitch/names.js';
import { readDrops } from './firewall/observe.js';
import { isFiltered } from './firewall/security-groups.js';
import { type HaStates, HaWatch } from './l3/ha-watch.js';
import { routerDir } from './l3/router.js';
import { NetworkLogger } from './logging/logger.js';
import { AgentHealthTotals, ReconcileReports } from './reconcile-report.js';
import { ipsecDataPlane, type Logger, Reconciler, type Summary } from './reconciler.js';
import type { AgentSession } from './servers.js';
import { VpnSupervisor } from './services/vpn-status.js';
import { ownerTag } from './state/host-state.js';
import { readMetering } from './tables/observe.js';
import { counterSources, readCounters, readLoadBalancers } from './traffic.js';

/** The roles this agent heartbeats as (`GET /v2.0/agents` lists one row per role and host). */
export const AGENT_TYPES = [LINUXBRIDGE_AGENT_TYPE, OVS_AGENT_TYPE, 'DHCP agent', 'L3 agent'] as const;
export type AgentType = (typeof AGENT_TYPES)[number];

export interface AgentRunnerOptions {
  /** API access with an admin token: one server's `Session`, or a `FailoverSession` over several. */
  session: AgentSession;
  /** This host's name, as ports are bound to it (`binding:host_id`). */
  host: string;
  /** The agent's state dir (files, pid files, ownership of namespaces). */
  stateDir: string;
  /** Periodic full resync. Default 60 s. */
  resyncIntervalMs?: number;
  /** Default 10 s (`report_interval`; the server's `agent_down_time` is 30 s by default). */
  heartbeatIntervalMs?: number;
  /** How often traffic and drop counters are read (and reported when they changed). Default 5 s. */
  trafficIntervalMs?: number;
  /** The agent's own `physnet → interface` mappings; when given they replace the server's. */
  physicalInterfaceMappings?: Record<string, string>;
  /** This host's tunnel endpoint (`--tunnel-ip`): vxlan networks reach other hosts through it. */
  tunnel?: TunnelEndpoint;
  /** The L2 driver (`--driver`, `mechanism_driver`): linuxbridge (default) or openvswitch. */
  driver?: string;
  /** What this host does: `compute` (instances) and/or `network` (DHCP, routers). Default both. */
  roles?: readonly AgentRole[];
  log?: Logger;
  /** Called with the summary of every reconcile (`up`'s agent thread makes metrics of them). */
  onReconciled?: (summary: Summary) => void;
}

export const AGENT_ROLES = ['compute', 'network'] as const;
export type AgentRole = (typeof AGENT_ROLES)[number];

/** The L2 agent type of a driver, as Neutron names its agents. */
export function l2AgentType(driver = DEFAULT_L2_DRIVER): AgentType {
  return driver === 'openvswitch' ? OVS_AGENT_TYPE : LINUXBRIDGE_AGENT_TYPE;
}

/** The agent types a host heartbeats as for its roles: every host wires ports (L2, by its driver). */
export function agentTypesOf(roles: readonly AgentRole[], driver?: string): AgentType[] {
  const l2 = l2AgentType(driver);
  return roles.includes('network') ? [l2, 'DHCP agent', 'L3 agent'] : [l2];
}

const SILENT: Logger = { debug() {}, info() {}, warn() {}, error() {} };
/** Change-feed resources whose changes may alter this host's snapshot. */
const RELEVANT =
  /^(network|subnet|port|instance|segment|network_segment|router|floatingip|security_group|security_group_rule|address_group|tunnel_endpoint|firewall_(?:rules|policies|groups)|qos_policies|loadbalancer|tap_service|tap_flow|metering_label|metering_label_rule|network_log|vpnservice|ipsec_site_connection|vpn_(?:ikepolicies|ipsecpolicies|endpoint_groups))s?$/;
/** How often the IPsec site connections' SAs are read (one `swanctl` per router that has some). */
const VPN_INTERVAL_MS = 1_000;
const RECONNECT_MIN_MS = 500;
const RECONNECT_MAX_MS = 30_000;
/** The server sends a keepalive comment every 15 s; silence for longer means a dead connection. */
const FEED_IDLE_MS = 45_000;
/**
 * How soon to look again while ports wait: a lease takes ~0.1 s, so first after a quarter second,
 * then every second while leases keep arriving; after a second at first when the lease watch
 * covers every waiting port (the look is then only a fallback).
 */
const FIRST_FOLLOW_UP_MS = 250;
const FOLLOW_UP_MS = 1_000;
const REQUEST_TIMEOUT_MS = 30_000;

/** One server-sent event. */
export interface SseEvent {
  event: string;
  data: string;
  id?: string;
}

/**
 * Parses a `text/event-stream` body into events (the WHATWG rules that matter here: `event`, `data`
 * (joined by newlines), `id`, comments, CRLF); `onChunk` is called for every chunk received,
 * keepalive comments included.
 */
export async function* parseSse(
  body: AsyncIterable<Uint8Array>,
  onChunk: () => void = () => {},
): AsyncGenerator<SseEvent> {
  const decoder = new TextDecoder();
  let buffer = '';
  let event = 'message';
  let data: string[] = [];
  let id: string | undefined;
  for await (const chunk of body) {
    onChunk();
    buffer += decoder.decode(chunk, { stream: true });
    for (let nl = buffer.indexOf('\n'); nl >= 0; nl = buffer.indexOf('\n')) {
      const line = buffer.slice(0, nl).replace(/\r$/, '');
      buffer = buffer.slice(nl + 1);
      if (line === '') {
        if (data.length > 0) yield { event, data: data.join('\n'), ...(id !== undefined ? { id } : {}) };
        event = 'message';
        data = [];
        continue;
      }
      if (line.startsWith(':')) continue;
      const colon = line.indexOf(':');
      const field = colon < 0 ? line : line.slice(0, colon);
      const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
      if (field === 'event') event = value;
      else if (field === 'data') data.push(value);
      else if (field === 'id') id = value;
    }
  }
}

/** Whether a change-feed event's data names a resource that can matter to a host's snapshot. */
export function isRelevantChange(data: string): boolean {
  try {
    const { resource, status_only } = JSON.parse(data) as { resource?: unknown; status_only?: unknown };
    // A status report (this agent's own, mostly) changes nothing a host builds.
    return typeof resource === 'string' && RELEVANT.test(resource) && status_only !== true;
  } catch {
    return true;
  }
}

/**
 * The ports still expected to become ACTIVE by themselves: DOWN DHCP ports and instance ports,
 * administratively up on an administratively up network, not left out for a problem.
 */
export function pendingPorts(snapshot: Snapshot, summary: Summary): Set<string> {
  const networks = new Map(snapshot.networks.map((n) => [n.id, n]));
  const troubled = summary.problems.map((p) => p.object.split(' ').at(-1) ?? '');
  const instanceOf = new Map(snapshot.instances.flatMap((i) => i.ports.map((p) => [p, i.id] as const)));
  const pending = new Set<string>();
  for (const port of snapshot.ports) {
    if (summary.ports[port.id] !== 'DOWN' || !port.admin_state_up) continue;
    if (port.device_owner !== DeviceOwner.dhcp && !instanceOf.has(port.id)) continue;
    if (!networks.get(port.network_id)?.admin_state_up) continue;
    const related = [port.id, port.network_id, instanceOf.get(port.id)];
    if (troubled.some((object) => related.includes(object))) continue;
    pending.add(port.id);
  }
  return pending;
}

/** The status report of one reconcile, as `POST /neutrino/v1/hosts/{host}/status` takes it. */
export function statusReport(
  summary: Summary,
  haStates: HaStates = {},
): {
  revision: number;
  ports: Record<string, 'ACTIVE' | 'DOWN'>;
  problems: string[];
  ha_states?: HaStates;
} {
  const ports = Object.fromEntries(Object.entries(summary.ports).sort(([a], [b]) => (a < b ? -1 : 1)));
  const problems = summary.problems.map((p) => `${p.object}: ${p.message}`);
  const ha = Object.keys(haStates).length > 0 ? { ha_states: haStates } : {};
  return { revision: summary.revision ?? 0, ports, problems, ...ha };
}

export class AgentRunner {
  readonly reconciler: Reconciler;
  readonly #session: AgentSession;
  readonly #host: string;
  readonly #hostPath: string;
  readonly #resyncIntervalMs: number;
  readonly #heartbeatIntervalMs: number;
  readonly #mappings: Record<string, string> | undefined;
  readonly #tunnel: TunnelEndpoint | undefined;
  readonly #roles: readonly AgentRole[];
  readonly #log: Logger;
  readonly #onReconciled: ((summary: Summary) => void) | undefined;
  readonly #abort = new AbortController();
  /** The snapshot of the run in progress (runs are serialised, so also that of its summary). */
  #snapshot: Snapshot | undefined;
  #started = false;
  #metadataStarted: Promise<void> = Promise.resolve();
  #heartbeat: NodeJS.Timeout | undefined;
  #heartbeatFailing = false;
  /** Whether this host's kernel can make VLAN devices, which the L2 heartbeat tells the server. */
  #vlanCapable: Promise<boolean> = Promise.resolve(false);
  readonly #heartbeatsSent = new Set<AgentType>();
  #following: Promise<void> | undefined;
  #reports: Promise<void> = Promise.resolve();
  #reported: { key: string; at: number } | undefined;
  /** The report to post next: set while one is queued or being posted (see `#report`). */
  #nextReport: ReturnType<typeof statusReport> | undefined;
  #followUp: NodeJS.Timeout | undefined;
  #followUpMs = FIRST_FOLLOW_UP_MS;
  #pending = '';
  /** The latest status: the last reconcile's, with the ports whose lease arrived since set ACTIVE. */
  #status: Summary | undefined;
  readonly #leases = new LeaseWatch((ports) => this.#leasesArrived(ports));
  /** HA routers' VRRP states: a change is reported at once (the server moves the router's ports). */
  /** The metadata proxies' way to the API (see `metadata-relay.ts`). */
  readonly #metadata: MetadataRelay;
  readonly #ha = new HaWatch(() => {
    if (this.#status && !this.#abort.signal.aborted) this.#report(this.#status);
  });
  readonly #stateDir: string;
  /** This agent's reconciles added up, sent with every status report (the server's `/metrics`). */
  readonly #health = new AgentHealthTotals();
  readonly #reconcileReports = new ReconcileReports();
  readonly #trafficIntervalMs: number;
  #trafficTimer: NodeJS.Timeout | undefined;
  #vpnTimer: NodeJS.Timeout | undefined;
  readonly #vpn: VpnSupervisor;
  #vpnReported = '';
  #vpnChecking = false;
  /** The snapshot the last reconcile applied: its connections' configurations are loaded. */
  #vpnSnapshot: Snapshot | undefined;
  #ipsecLogged: IpsecDataPlane | undefined;
  #trafficReported = '';
  #meteringReported = '';
  readonly #diagnostics: Diagnostics;
  readonly #networkLog: NetworkLogger;

  readonly #driver: string;

  constructor(options: AgentRunnerOptions) {
    this.#session = options.session;
    this.#host = options.host;
    this.#hostPath = `/neutrino/v1/hosts/${encodeURIComponent(options.host)}`;
    this.#resyncIntervalMs = options.resyncIntervalMs ?? 60_000;
    this.#heartbeatIntervalMs = options.heartbeatIntervalMs ?? 10_000;
    this.#stateDir = options.stateDir;
    this.#metadata = new MetadataRelay(options.stateDir, (path, networkId, address) =>
      this.#session.raw(`/neutrino/v1/metadata${path}`, {
        'x-neutrino-network-id': networkId,
        'x-forwarded-for': address,
      }),
    );
    this.#trafficIntervalMs = options.trafficIntervalMs ?? 5_000;
    this.#vpn = new VpnSupervisor(this.#stateDir);
    this.#mappings = options.physicalInterfaceMappings;
    this.#tunnel = options.tunnel;
    this.#roles = options.roles ?? AGENT_ROLES;
    this.#log = options.log ?? SILENT;
    this.#onReconciled = options.onReconciled;
    this.#driver = options.driver ?? DEFAULT_L2_DRIVER;
    this.reconciler = new Reconciler({
      stateDir: options.stateDir,
      driver: this.#driver,
      ...(options.tunnel ? { tunnel: options.tunnel } : {}),
      log: this.#log,
      resyncIntervalMs: this.#resyncIntervalMs,
      source: () => this.#sync(),
      onReconciled: (summary) => this.#reconciled(summary),
    });
    this.#networkLog = new NetworkLogger({
      stateDir: options.stateDir,
      owner: ownerTag(options.stateDir),
      post: (records) =>
        this.#session.post(
          `${this.#hostPath}/log-records`,
          { records },
          { signal: AbortSignal.any([this.#abort.signal, AbortSignal.timeout(REQUEST_TIMEOUT_MS)]) },
        ),
      log: this.#log,
    });
    this.#diagnostics = new Diagnostics({
      session: this.#session,
      host: this.#host,
      snapshot: () => this.#sync(),
      inspect: (snapshot) => this.reconciler.inspect(snapshot),
      log: this.#log,
    });
  }

  /** Starts heartbeats, the change-feed follower and the reconciler (a full reconcile first). */
  start(): void {
    if (this.#started) throw new Error('agent already started');
    this.#started = true;
    this.#log.info({ host: this.#host }, 'agent starting');
    if (this.#heartbeatsSent.size === 0) this.#vlanCapable = has8021q().catch(() => false);
    void this.#sendHeartbeats();
    this.#heartbeat = setInterval(() => void this.#sendHeartbeats(), this.#heartbeatIntervalMs).unref();
    this.#trafficTimer = setInterval(() => {
      void this.#reportTraffic();
      void this.#reportMetering();
    }, this.#trafficIntervalMs).unref();
    this.#vpnTimer = setInterval(() => void this.#reportVpn(), VPN_INTERVAL_MS).unref();
    this.reconciler.start();
    this.#following = this.#follow();
    this.#metadataStarted = this.#metadata
      .start()
      .catch((err: unknown) => this.#log.warn({ err: String(err) }, 'metadata relay not started'));
  }

  /**
   * Stops following, heartbeating and resyncing; the data plane stays as it is (a restarted agent
   * adopts it without touching it). A reconcile in progress is not waited for: whatever it leaves
   * half-done, the next start completes.
   */
  async stop(): Promise<void> {
    this.reconciler.stop();
    this.#abort.abort();
    clearInterval(this.#heartbeat);
    clearInterval(this.#trafficTimer);
    clearInterval(this.#vpnTimer);
    clearTimeout(this.#followUp);
    this.#leases.close();
    this.#ha.close();
    await this.#metadataStarted;
    await this.#metadata.stop();
    await this.#following;
    await this.#diagnostics.close();
    await this.#networkLog.close();
    await this.#reports;
  }

  /** Stops, then removes every kernel object, file and process of this agent's state dir. */
  async teardown(): Promise<Summary> {
    await this.stop();
    return this.reconciler.teardown();
  }

  async #sync(): Promise<Snapshot> {
    const { snapshot } = await this.#session.post<{ snapshot: Snapshot }>(`${this.#hostPath}/sync`);
    if (this.#mappings) snapshot.physicalInterfaceMappings = { ...this.#mappings };
    this.#snapshot = snapshot;
    // Readers first: the reconcile about to run may add log statements, and what they log before
    // a reader has bound the NFLOG group is lost (a router namespace made by that reconcile gets
    // its reader when the one after it ends, see #reconciled).
    this.#networkLog.update(snapshot);
    return snapshot;
  }

  #reconciled(summary: Summary): void {
    if (this.#abort.signal.aborted || summary.revision === null) return;
    this.#health.add(this.#reconcileReports.next(summary));
    this.#onReconciled?.(summary);
    this.#status = summary;
    this.#report(summary);
    this.#vpnSnapshot = this.#snapshot;
    void this.#reportVpn();
    this.#leases.wait(summary.awaitingLease);
    if (!this.#snapshot) return;
    this.#networkLog.update(this.#snapshot);
    this.#ha.watch(
      new Map(this.#snapshot.routers.filter((r) => r.ha).map((r) => [r.id, routerDir(this.#stateDir, r.id)])),
    );
    const pending = pendingPorts(this.#snapshot, summary);
    const watched = new Set(summary.awaitingLease.map((w) => w.port));
    this.#scheduleFollowUp(
      pending,
      [...pending].every((port) => watched.has(port)),
    );
  }

  /** Reports the ports whose lease arrived since the last reconcile as ACTIVE, at its revision. */
  #leasesArrived(ports: string[]): void {
    const last = this.#status;
    if (this.#abort.signal.aborted || !last) return;
    const now = { ...last.ports };
    for (const port of ports) if (now[port] !== undefined) now[port] = 'ACTIVE';
    this.#status = { ...last, ports: now };
    this.#log.debug({ ports: ports.length }, 'leases arrived');
    this.#report(this.#status);
  }

  /**
   * Posts the report unless it repeats the last one (within a resync interval). The revision is
   * part of it: the server skips ports changed after the reported revision, so a report at a later
   * revision may say more. A report that changes nothing writes nothing, so this settles. One POST
   * at a time, and a report waiting for its turn is replaced by a newer one: each says everything
   * the agent knows, so while leases pour in (hundreds at once) the server reads the host's ports
   * once per POST it can take, not once per lease batch.
   */
  #report(summary: Summary): void {
    const report = { ...statusReport(summary, this.#ha.states), agent_health: this.#health.current };
    const key = JSON.stringify([report.revision, report.ports, report.problems, report.ha_states]);
    const now = Date.now();
    if (this.#reported?.key === key && now - this.#reported.at < this.#resyncIntervalMs) return;
    this.#reported = { key, at: now };
    const sending = this.#nextReport !== undefined;
    this.#nextReport = report;
    if (sending) return;
    this.#reports = this.#reports.then(async () => {
      for (let next = this.#nextReport; next !== undefined; next = this.#nextReport) {
        try {
          await this.#session.post(`${this.#hostPath}/status`, next, {
            signal: AbortSignal.any([this.#abort.signal, AbortSignal.timeout(REQUEST_TIMEOUT_MS)]),
          });
          this.#log.debug({ revision: next.revision, problems: next.problems.length }, 'status reported');
        } catch (err) {
          if (this.#abort.signal.aborted) {
            this.#nextReport = undefined;
            return;
          }
          this.#reported = undefined;
          this.#log.warn({ err: String(err) }, 'status report failed');
        }
        if (this.#nextReport === next) this.#nextReport = undefined;
      }
    });
  }

  /**
   * Looks again soon while ports are pending (a lease on its way): after a quarter second for a
   * new wait (a second if the lease watch covers all of it), every second while the set of pending
   * ports changes, and twice as long after each look that brings no progress, up to the resync
   * interval.
   */
  #scheduleFollowUp(pending: Set<string>, watched: boolean): void {
    const key = [...pending].sort().join(',');
    if (pending.size === 0) {
      clearTimeout(this.#followUp);
      this.#followUp = undefined;
      this.#pending = '';
      return;
    }
    if (this.#pending === '') this.#followUpMs = watched ? FOLLOW_UP_MS : FIRST_FOLLOW_UP_MS;
    else if (key !== this.#pending) this.#followUpMs = FOLLOW_UP_MS;
    else this.#followUpMs = Math.min(Math.max(this.#followUpMs, FOLLOW_UP_MS) * 2, this.#resyncIntervalMs);
    this.#pending = key;
    if (this.#followUp) return;
    this.#followUp = setTimeout(() => {
      this.#followUp = undefined;
      this.reconciler.requestReconcile();
    }, this.#followUpMs).unref();
  }

  /**
   * Reads the traffic counters of the ports this host realises (one `ip` per namespace) and the
   * drop counters of those it filters and, when they changed since the last report that got
   * through, reports them with the latest status.
   */
  async #reportTraffic(): Promise<void> {
    const last = this.#status;
    const snapshot = this.#snapshot;
    if (this.#abort.signal.aborted || !last || !snapshot) return;
    const filtered = snapshot.ports.some((p) => isFiltered(p, this.#host));
    const [drops, counters, lbs] = await Promise.all([
      filtered ? readDrops(this.#stateDir).catch(() => undefined) : undefined,
      readCounters(counterSources(snapshot)).catch(() => undefined),
      readLoadBalancers(snapshot, this.#stateDir),
    ]);
    const loadBalancers = lbs.length > 0 ? lbs : undefined;
    if (!drops && !counters && !loadBalancers) return;
    const key = JSON.stringify([drops, counters, loadBalancers]);
    if (key === this.#trafficReported) return;
    this.#reports = this.#reports.then(async () => {
      try {
        await this.#session.post(
          `${this.#hostPath}/status`,
          {
            ...statusReport(last),
            agent_health: this.#health.current,
            ...(drops ? { drops } : {}),
            ...(counters ? { counters } : {}),
            ...(loadBalancers ? { load_balancers: loadBalancers } : {}),
          },
          { signal: AbortSignal.any([this.#abort.signal, AbortSignal.timeout(REQUEST_TIMEOUT_MS)]) },
        );
        this.#trafficReported = key;
      } catch (err) {
        if (!this.#abort.signal.aborted)
          this.#log.warn({ err: String(err) }, 'traffic counters report failed');
      }
    });
    await this.#reports;
  }

  /**
   * Reads the state of the IPsec site connections of this host's routers (`VpnSupervisor`, which
   * also initiates those that should be up) and, when it changed since the last report that got
   * through, reports it with the latest status.
   */
  async #reportVpn(): Promise<void> {
    const last = this.#status;
    const snapshot = this.#vpnSnapshot;
    if (this.#abort.signal.aborted || !last || !snapshot) return;
    if (this.#vpnChecking) return;
    this.#vpnChecking = true;
    const plane = await ipsecDataPlane(snapshot);
    const vpn = await this.#vpn
      .check(snapshot, plane)
      .catch((err: unknown) => {
        this.#log.warn({ err: String(err) }, 'VPN status not read');
        return undefined;
      })
      .finally(() => {
        this.#vpnChecking = false;
      });
    if (!vpn) return;
    if (this.#ipsecLogged !== plane) {
      this.#ipsecLogged = plane;
      this.#log.info({ ipsec: plane }, `IPsec site connections run on ${describeDataPlane(plane)}`);
    }
    const key = JSON.stringify(vpn);
    if (key === this.#vpnReported) return;
    try {
      await this.#session.post(
        `${this.#hostPath}/status`,
        { ...statusReport(last), agent_health: this.#health.current, vpn },
        { signal: AbortSignal.any([this.#abort.signal, AbortSignal.timeout(REQUEST_TIMEOUT_MS)]) },
      );
      this.#vpnReported = key;
    } catch (err) {
      if (!this.#abort.signal.aborted) this.#log.warn({ err: String(err) }, 'VPN status report failed');
    }
  }

  /**
   * Reads the metering counters of this host's routers (one `nft` per router with labels) and,
   * when they changed since the last report that got through, reports them (`POST
   * …/hosts/{host}/metering`; the server keeps totals monotonic across counters made anew).
   */
  async #reportMetering(): Promise<void> {
    const snapshot = this.#snapshot;
    if (this.#abort.signal.aborted || !snapshot) return;
    const metering = await readMetering(snapshot).catch(() => []);
    const key = JSON.stringify(metering);
    if (metering.length === 0 || key === this.#meteringReported) return;
    try {
      await this.#session.post(
        `${this.#hostPath}/metering`,
        { metering },
        {
          signal: AbortSignal.any([this.#abort.signal, AbortSignal.timeout(REQUEST_TIMEOUT_MS)]),
        },
      );
      this.#meteringReported = key;
    } catch (err) {
      if (!this.#abort.signal.aborted) this.#log.warn({ err: String(err) }, 'metering report failed');
    }
  }

  /**
   * Registers this agent by its first heartbeats, before `start`: rejects (an `ApiError` 409) when
   * another live agent already serves this host name from another tunnel endpoint.
   */
  async register(): Promise<void> {
    this.#vlanCapable = has8021q().catch(() => false);
    await this.#heartbeatOnce();
  }

  async #heartbeatOnce(): Promise<void> {
    const vlanCapable = await this.#vlanCapable;
    for (const agentType of agentTypesOf(this.#roles, this.#driver)) {
      const agent = {
        agent_type: agentType,
        binary: 'neutrino-agent',
        configurations: this.#configurations(agentType, vlanCapable),
        ...(this.#heartbeatsSent.has(agentType) ? {} : { start_flag: true }),
      };
      await this.#session.post(
        `${this.#hostPath}/heartbeat`,
        { agent },
        { signal: AbortSignal.any([this.#abort.signal, AbortSignal.timeout(this.#heartbeatIntervalMs)]) },
      );
      this.#heartbeatsSent.add(agentType);
    }
  }

  /** One heartbeat per role; the first after start carries `start_flag`, as Neutron's agents do. */
  async #sendHeartbeats(): Promise<void> {
    try {
      await this.#heartbeatOnce();
      if (this.#heartbeatFailing)
        this.#log.info({ host: this.#host }, 'heartbeats are getting through again');
      this.#heartbeatFailing = false;
    } catch (err) {
      if (this.#abort.signal.aborted || this.#heartbeatFailing) return;
      this.#heartbeatFailing = true;
      const taken = err instanceof ApiError && err.status === 409;
      this.#log[taken ? 'error' : 'warn']({ err: String(err), host: this.#host }, 'heartbeat failed');
    }
  }

  /** network id → its local VLAN tag on `br-int`, as the last reconcile recorded them. */
  #localVlanTags(): Record<string, number> {
    try {
      return JSON.parse(readFileSync(tagsFile(this.#stateDir), 'utf8')) as Record<string, number>;
    } catch {
      return {};
    }
  }

  /** physnet → its provider bridge (the openvswitch driver's `bridge_mappings`). */
  #bridgeMappings(): Record<string, string> {
    const physnets = Object.keys(this.#mappings ?? this.#snapshot?.physicalInterfaceMappings ?? {});
    return Object.fromEntries(physnets.map((p) => [p, providerBridgeName(p)]));
  }

  /** What `GET /v2.0/agents` shows under `configurations`, from the latest snapshot. */
  #configurations(agentType: AgentType, vlanCapable: boolean): Record<string, unknown> {
    const s = this.#snapshot;
    if (agentType === 'L3 agent') {
      const routers = s?.routers ?? [];
      return {
        agent_mode: 'legacy',
        interface_driver: this.#driver,
        routers: routers.length,
        ex_gw_ports: routers.filter((r) => r.gateway).length,
        interfaces: routers.reduce((n, r) => n + r.interfaces.length, 0),
        floating_ips: routers.reduce((n, r) => n + r.floating_ips.filter((f) => f.port_id).length, 0),
      };
    }
    if (agentType === 'DHCP agent') {
      const dhcpPorts = (s?.ports ?? []).filter((p) => p.device_owner === DeviceOwner.dhcp);
      return {
        dhcp_driver: 'dnsmasq',
        networks: new Set(dhcpPorts.map((p) => p.network_id)).size,
        subnets: (s?.subnets ?? []).filter((x) => x.enable_dhcp).length,
        ports: s?.ports.length ?? 0,
      };
    }
    return {
      ...(this.#driver === 'openvswitch'
        ? {
            bridge_mappings: this.#bridgeMappings(),
            integration_bridge: 'br-int',
            ovs_hybrid_plug: true,
            // Read by the server: a trace names the tag a port's network has on this host.
            local_vlan_tags: this.#localVlanTags(),
          }
        : { interface_mappings: this.#mappings ?? {} }),
      tunnel_types: ['vxlan'],
      ...(this.#tunnel ? { tunneling_ip: this.#tunnel.localIp } : {}),
      l2_population: this.#tunnel !== undefined,
      // Read by the server: instances go to hosts with the compute role.
      roles: [...this.#roles],
      // Read by the server: vlan networks are allowed only where a live L2 agent can build them.
      vlan_capable: vlanCapable || this.#driver === 'openvswitch',
      devices: s?.ports.length ?? 0,
    };
  }

  /**
   * Follows the change feed for ever: every (re)connect asks for a full reconcile (whatever
   * happened while disconnected is then seen), reconnecting with backoff; `since` resumes after
   * the last event received.
   */
  async #follow(): Promise<void> {
    const stopped = this.#abort.signal;
    let since: number | undefined;
    let backoff = RECONNECT_MIN_MS;
    while (!stopped.aborted) {
      const connection = new AbortController();
      let idle: NodeJS.Timeout | undefined;
      const alive = () => {
        clearTimeout(idle);
        idle = setTimeout(() => connection.abort(), FEED_IDLE_MS).unref();
      };
      try {
        const query = since === undefined ? '' : `?since=${since}`;
        const res = await this.#session.stream(
          `/neutrino/v1/events${query}`,
          AbortSignal.any([stopped, connection.signal]),
        );
        alive();
        this.#log.info({ since: since ?? null }, 'following the change feed');
        backoff = RECONNECT_MIN_MS;
        this.reconciler.requestReconcile();
        this.#diagnostics.look();
        if (!res.body) throw new Error('change feed: empty response');
        for await (const event of parseSse(res.body, alive)) {
          if (event.id !== undefined && /^\d+$/.test(event.id)) since = Number(event.id);
          if (event.event === 'resync') {
            this.#log.info({ data: event.data }, 'change feed says resync');
            this.reconciler.requestReconcile();
          } else if (event.event === 'change' && isRelevantChange(event.data)) {
            this.reconciler.requestReconcile();
          } else if (event.event === 'change' && isDiagnosticRequest(event.data)) {
            this.#diagnostics.look();
          }
        }
        if (!stopped.aborted) this.#log.warn({}, 'change feed ended; reconnecting');
      } catch (err) {
        if (stopped.aborted) break;
        this.#log.warn({ err: String(err), retryMs: backoff }, 'change feed unavailable');
      } finally {
        clearTimeout(idle);
      }
      await sleep(backoff, undefined, { signal: stopped }).catch(() => undefined);
      backoff = Math.min(backoff * 2, RECONNECT_MAX_MS);
    }
  }
}
