/**
 * The agent's reconciler (controller-runtime style): each run reads the host's snapshot, compiles
 * the desired state, observes the actual one, diffs and applies. Requests say only "look again":
 * runs are serialised, and requests that arrive during a run coalesce into exactly one more run.
 * Failed runs are retried with backoff; a periodic resync repairs drift; restart is a full run.
 * The first run and each periodic resync also verify what runs in between trust from records
 * (routers' NAT tables).
 */
import { existsSync } from 'node:fs';
import { mkdir, readFile, stat } from 'node:fs/promises';
import { has8021q, hasKernelEsp } from '../linux/kernel.js';
import type { Ovs } from '../linux/ovs.js';
import type { IpsecDataPlane } from '../linux/strongswan.js';
import type { Snapshot } from '../model/host-snapshot.js';
import type { L2Driver, TunnelEndpoint } from './drivers/driver.js';
import { l2Driver } from './drivers/index.js';
import { tagsFile } from './drivers/openvswitch/names.js';
import { OvsSwitch, type SwitchInfo } from './drivers/openvswitch/switch.js';
import { firewallAllocations } from './firewall/observe.js';
import { awaitingLease, type LeaseWait, type PortStatus, portStatus } from './port-status.js';
import { type ActionFailure, type ApplyResult, apply } from './reconcile/apply.js';
import { compile } from './reconcile/compile.js';
import { diff } from './reconcile/diff.js';
import { hostBridges, observe } from './reconcile/observe.js';
import { type Action, subjectOf } from './state/actions.js';
import { emptyHostState, type HostState, type Problem } from './state/host-state.js';

/** The part of a pino logger the reconciler uses. */
export interface Logger {
  debug(fields: object, message: string): void;
  info(fields: object, message: string): void;
  warn(fields: object, message: string): void;
  error(fields: object, message: string): void;
}

export interface ReconcilerOptions {
  stateDir: string;
  source: () => Promise<Snapshot>;
  log?: Logger;
  /** Periodic full resync while started. Default 60 s. */
  resyncIntervalMs?: number;
  /** The L2 driver's name (`drivers/index.ts`). Default: the registry's default (linuxbridge). */
  driver?: string;
  /** This host's tunnel endpoint (multi-host vxlan with l2population); absent: none. */
  tunnel?: TunnelEndpoint;
  /** Called with the summary of every reconcile (not teardowns), e.g. to report port status. */
  onReconciled?: (summary: Summary) => void;
}

export interface Summary {
  /** The snapshot's store revision; null for a teardown. */
  revision: number | null;
  /** Actions the diff asked for (0: the host already matched). */
  actions: number;
  /** How many of each kind, e.g. `{ 'veth.add': 3, 'dnsmasq.reload': 1 }`. */
  ops: ApplyResult['ops'];
  applied: number;
  failures: { op: Action['op']; object: string; message: string }[];
  problems: Problem[];
  /** Every port of the snapshot; ACTIVE when wired and served (see `portStatus`). */
  ports: Record<string, PortStatus>;
  /** The instance ports of `ports` that are DOWN only until their DHCP lease arrives. */
  awaitingLease: LeaseWait[];
  durationMs: number;
}

const SILENT: Logger = { debug() {}, info() {}, warn() {}, error() {} };
const MIN_RETRY_MS = 1_000;
const MAX_RETRY_MS = 60_000;

export class Reconciler {
  readonly #stateDir: string;
  readonly #source: () => Promise<Snapshot>;
  readonly #log: Logger;
  readonly #resyncIntervalMs: number;
  readonly #driver: L2Driver;
  /** The openvswitch driver's switch; undefined for linuxbridge. */
  readonly #switch: OvsSwitch | undefined;
  readonly #tunnel: TunnelEndpoint | undefined;
  readonly #onReconciled: ((summary: Summary) => void) | undefined;
  /** The run in progress, and the one run queued behind it (what it will do can still change). */
  #current: Promise<Summary> | undefined;
  #next: Promise<Summary> | undefined;
  #nextRun: (() => Promise<Summary>) | undefined;
  #timer: NodeJS.Timeout | undefined;
  #retry: NodeJS.Timeout | undefined;
  #retryMs = MIN_RETRY_MS;
  #lastProblems = '[]';
  #stateDirChecked = false;
  #verifyNext = true;

  constructor(options: ReconcilerOptions) {
    this.#stateDir = options.stateDir;
    this.#source = options.source;
    this.#log = options.log ?? SILENT;
    this.#resyncIntervalMs = options.resyncIntervalMs ?? 60_000;
    this.#driver = l2Driver(options.driver);
    this.#tunnel = options.tunnel;
    this.#switch =
      options.driver === 'openvswitch' ? new OvsSwitch(this.#stateDir, this.#log, this.#tunnel) : undefined;
    this.#onReconciled = options.onReconciled;
  }

  /**
   * Runs a full reconcile. Serialised: while a run is in progress, every call returns the same one
   * queued run, which starts when the current one ends and sees the state as of then.
   */
  reconcile(): Promise<Summary> {
    return this.#enqueue(() => this.#reconcileOnce(), false);
  }

  /** Asks for a reconcile without waiting for it; errors and failures are logged and retried. */
  requestReconcile(): void {
    this.reconcile().then(
      (summary) => this.#scheduleRetry(summary.failures.length > 0),
      (err: unknown) => {
        this.#log.error({ err }, 'reconcile failed');
        this.#scheduleRetry(true);
      },
    );
  }

  /** Starts the periodic resync, beginning with a full reconcile now. */
  start(): void {
    if (this.#timer) return;
    this.#timer = setInterval(() => {
      this.#verifyNext = true;
      this.requestReconcile();
    }, this.#resyncIntervalMs).unref();
    this.requestReconcile();
  }

  /** Stops the periodic resync and pending retries; a run in progress finishes. */
  stop(): void {
    clearInterval(this.#timer);
    clearTimeout(this.#retry);
    this.#timer = undefined;
    this.#retry = undefined;
  }

  /**
   * What the agent wants on the host for `snapshot` and what the kernel holds of it (NAT tables
   * read, not trusted), changing nothing: a host diagnostic's drift. Read after the run in
   * progress, so as not to catch it half-way.
   */
  async inspect(snapshot: Snapshot): Promise<{ desired: HostState; actual: HostState }> {
    await this.#current?.catch(() => undefined);
    const desired = await this.#desired(snapshot);
    return {
      desired,
      actual: await actualState(desired, this.#stateDir, true, desired.ovs.handle ?? undefined),
    };
  }

  /**
   * Removes every kernel object, file and process this deployment owns on the host (`neutrino
   * down`): the desired state becomes empty. Runs after the run in progress, and replaces a
   * queued one (whose callers get the teardown's summary).
   */
  async teardown(): Promise<Summary> {
    this.stop();
    this.#verifyNext = false; // everything goes: nothing to verify
    return this.#enqueue(async () => {
      const empty = emptyHostState();
      if (this.#switch) empty.ovs.handle = (await this.#switch.ready()).handle;
      const summary = await this.#converge(null, empty, []);
      await this.#switch?.stop();
      return summary;
    }, true);
  }

  async #desired(snapshot: Snapshot): Promise<HostState> {
    const ovs = await this.#switch?.ready();
    return desiredState(snapshot, this.#stateDir, {
      driver: this.#driver,
      ...(this.#tunnel ? { tunnel: this.#tunnel } : {}),
      ...(ovs ? { ovs } : {}),
    });
  }

  #enqueue(run: () => Promise<Summary>, replaceQueued: boolean): Promise<Summary> {
    if (!this.#current) return this.#start(run);
    if (!this.#next || replaceQueued) this.#nextRun = run;
    this.#next ??= this.#current
      .catch(() => undefined)
      .then(() => {
        const queued = this.#nextRun!;
        this.#next = undefined;
        this.#nextRun = undefined;
        return this.#start(queued);
      });
    return this.#next;
  }

  #start(run: () => Promise<Summary>): Promise<Summary> {
    const current = run().finally(() => {
      if (this.#current === current) this.#current = undefined;
    });
    this.#current = current;
    return current;
  }

  async #ensureStateDir(): Promise<void> {
    if (this.#stateDirChecked) return;
    await mkdir(this.#stateDir, { recursive: true, mode: 0o755 });
    if (!isOpenToOthers((await stat(this.#stateDir)).mode))
      this.#log.warn(
        { stateDir: this.#stateDir },
        'state dir is not world-readable: dnsmasq cannot reread its files',
      );
    this.#stateDirChecked = true;
  }

  #scheduleRetry(failed: boolean): void {
    if (!failed) {
      this.#retryMs = MIN_RETRY_MS;
      return;
    }
    if (!this.#timer || this.#retry) return;
    this.#retry = setTimeout(() => {
      this.#retry = undefined;
      this.requestReconcile();
    }, this.#retryMs).unref();
    this.#retryMs = Math.min(this.#retryMs * 2, MAX_RETRY_MS);
  }

  async #reconcileOnce(): Promise<Summary> {
    const snapshot = await this.#source();
    const desired = await this.#desired(snapshot);
    const problems = JSON.stringify(desired.problems);
    if (problems !== this.#lastProblems) {
      for (const problem of desired.problems) this.#log.warn(problem, 'cannot realise');
      this.#lastProblems = problems;
    }
    const summary = await this.#converge(snapshot, desired, desired.problems);
    try {
      this.#onReconciled?.(summary);
    } catch (err) {
      this.#log.error({ err }, 'onReconciled failed');
    }
    return summary;
  }

  async #converge(snapshot: Snapshot | null, desired: HostState, problems: Problem[]): Promise<Summary> {
    const started = performance.now();
    await this.#ensureStateDir();
    const handle = desired.ovs.handle ?? undefined;
    let actual = await actualState(desired, this.#stateDir, this.#verifyNext, handle);
    const observed = performance.now();
    this.#verifyNext = false;
    for (const name of Object.keys(desired.uplinks))
      if (!actual.uplinks[name]) this.#log.warn({ interface: name }, 'mapped interface does not exist');
    const actions = diff(desired, actual);
    const { ops, applied, failures, stageMs } = await apply(actions);
    const reobserved = performance.now();
    if (actions.length > 0) actual = await actualState(desired, this.#stateDir, false, handle);
    const ms = {
      observe: Math.round(observed - started),
      ...stageMs,
      reobserve: Math.round(performance.now() - reobserved),
    };
    const summary: Summary = {
      revision: snapshot?.revision ?? null,
      actions: actions.length,
      ops,
      applied,
      failures: failures.map(describe),
      problems,
      ports: snapshot ? portStatus(snapshot, desired, actual, this.#driver) : {},
      awaitingLease: snapshot ? awaitingLease(snapshot, desired, actual, this.#driver) : [],
      durationMs: Math.round(performance.now() - started),
    };
    for (const failure of summary.failures) this.#log.warn(failure, 'action failed');
    const fields = { revision: summary.revision, ops, applied, ms: summary.durationMs, stages: ms };
    if (actions.length > 0) this.#log.info(fields, 'reconciled');
    else this.#log.debug(fields, 'host matches');
    return summary;
  }
}

/**
 * The state `snapshot` asks of this host: its compile, given the host's facts it needs (which
 * mapped names are existing bridges, whether the kernel makes 802.1Q devices, which port marks and
 * conntrack zones security groups gave out).
 */
export async function desiredState(
  snapshot: Snapshot,
  stateDir: string,
  options: { driver?: L2Driver; tunnel?: TunnelEndpoint; ovs?: SwitchInfo } = {},
): Promise<HostState> {
  const { driver = l2Driver(), tunnel, ovs } = options;
  const bridges = await hostBridges(Object.values(snapshot.physicalInterfaceMappings));
  return compile(snapshot, {
    stateDir,
    driver,
    ...(tunnel ? { tunnel } : {}),
    ...(ovs ? { ovs: { ...ovs, previousTags: await previousTags(stateDir) } } : {}),
    hostBridges: bridges,
    missingInterfaces: missingInterfaces(Object.values(snapshot.physicalInterfaceMappings)),
    vlanCapable: await vlanCapable(snapshot),
    firewall: await firewallAllocations(stateDir),
    ipsec: await ipsecDataPlane(snapshot),
  });
}

/** Who processes IPsec packets: the kernel where it has ESP, else strongSwan (probed once, when needed). */
export async function ipsecDataPlane(snapshot: Snapshot): Promise<IpsecDataPlane> {
  if (!(snapshot.routers ?? []).some((r) => (r.vpn?.connections.length ?? 0) > 0)) return 'userspace';
  return (await hasKernelEsp().catch(() => false)) ? 'kernel' : 'userspace';
}

/**
 * What the kernel holds of what Neutrino owns (`verify`: read NAT tables rather than trust records),
 * and what Open vSwitch holds of it when there is one (`ovs`).
 */
export function actualState(
  desired: HostState,
  stateDir: string,
  verify: boolean,
  ovs?: Ovs,
): Promise<HostState> {
  return observe({ stateDir, uplinks: Object.keys(desired.uplinks), verify, ...(ovs ? { ovs } : {}) });
}

/** The local VLAN tags the last run gave out on `br-int` (none when unreadable). */
async function previousTags(stateDir: string): Promise<Record<string, number>> {
  try {
    const tags: unknown = JSON.parse(await readFile(tagsFile(stateDir), 'utf8'));
    if (typeof tags !== 'object' || tags === null) return {};
    return Object.fromEntries(Object.entries(tags).filter(([, t]) => Number.isInteger(t)));
  } catch {
    return {};
  }
}

/** Which of the mapped `names` are no interface of this host. */
function missingInterfaces(names: readonly string[]): string[] {
  return names.filter((name) => /^[A-Za-z0-9_.-]{1,15}$/.test(name) && !existsSync(`/sys/class/net/${name}`));
}

/** Whether the kernel can build the snapshot's vlan networks (probed once, and only if it has some). */
async function vlanCapable(snapshot: Snapshot): Promise<boolean> {
  if (!snapshot.networks.some((n) => n.network_type === 'vlan')) return false;
  return has8021q().catch(() => false);
}

/** Whether others may traverse and read a directory (dnsmasq rereads its files as `nobody`). */
function isOpenToOthers(mode: number): boolean {
  return (mode & 0o005) === 0o005;
}

function describe({ action, message }: ActionFailure): Summary['failures'][number] {
  return { op: action.op, object: subjectOf(action), message };
}
