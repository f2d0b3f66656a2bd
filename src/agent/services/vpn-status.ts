/**
 * The IPsec site connections this host runs, as the agent sees and drives them between reconciles:
 * each router charon's security associations read by `swanctl --list-sas` give each connection's
 * status (ACTIVE once its IKE SA is established and its CHILD SA installed, else DOWN, with the
 * reason: administratively down, waiting for the peer, or what the last negotiation failed on, e.g.
 * a pre-shared key the peer does not share) and its service's, for the server
 * (`IpsecSiteConnections.report`). A bi-directional connection that is down is initiated again
 * (`swanctl --initiate`, in the background, a few seconds apart); SAs of connections that are gone
 * are terminated, so a deleted connection carries nothing more. Every description starts with the
 * IPsec data plane in use (kernel or strongSwan's userspace).
 */
import { describeDataPlane, type IpsecDataPlane, strongswanFiles } from '../../linux/strongswan.js';
import { initiate, listSas, type SecurityAssociation, terminateIke } from '../../linux/swanctl.js';
import type { Snapshot, SnapshotVpnConnection } from '../../model/host-snapshot.js';
import type { VpnConnectionReport } from '../../model/vpnaas.js';
import { routerDir } from '../l3/router.js';
import { runningConnections } from './vpn.js';

/** How long an initiation may take before the agent stops waiting (charon goes on). */
const INITIATE_TIMEOUT_S = 10;
/** The least time between two initiations of one connection. */
const RETRY_MS = 5_000;

export interface VpnReport {
  services: { id: string; status: 'ACTIVE' | 'DOWN' }[];
  connections: VpnConnectionReport[];
}

/** The reason an initiation failed, from what charon logged during it (pure). */
export function failureReason(log: string, peer: string): string {
  const lines = log.split('\n').map((l) => l.trim());
  const find = (re: RegExp) => lines.find((l) => re.test(l));
  const auth = find(/AUTHENTICATION_FAILED|MAC mismatched|could not decrypt payloads|invalid HASH/i);
  if (auth) return `IKE authentication failed, the pre-shared keys differ (${auth})`;
  const proposal = find(/NO_PROPOSAL_CHOSEN|no acceptable proposal|no matching proposal/i);
  if (proposal) return `no proposal acceptable to both sides (${proposal})`;
  const ts = find(/TS_UNACCEPTABLE|traffic selectors.*unacceptable/i);
  if (ts) return `the peer refuses the subnets (${ts})`;
  const other = [...lines].reverse().find((l) => /failed|error|giving up|timeout/i.test(l));
  return other ? `IKE negotiation with ${peer} failed (${other})` : `no answer from ${peer}`;
}

/** A connection's status from its charon's SAs (pure). */
export function connectionStatus(
  c: SnapshotVpnConnection,
  sas: SecurityAssociation[] | undefined,
  failure: string | undefined,
  plane: IpsecDataPlane,
): VpnConnectionReport {
  const prefix = describeDataPlane(plane);
  const report = (status: 'ACTIVE' | 'DOWN', why: string) => ({
    id: c.id,
    status,
    status_description: `${prefix}: ${why}`,
  });
  if (!c.admin_state_up) return report('DOWN', 'administratively down');
  if (!sas) return report('DOWN', 'strongSwan is not running');
  const sa = sas.find((s) => s.name === c.id);
  if (sa?.state === 'ESTABLISHED' && sa.installed.includes(c.id))
    return report('ACTIVE', `IKE SA established with ${c.peer_address}, CHILD SA installed`);
  if (failure) return report('DOWN', failure);
  if (sa) return report('DOWN', `IKE SA ${sa.state.toLowerCase()} with ${c.peer_address}`);
  return report(
    'DOWN',
    c.initiator === 'response-only'
      ? `waiting for ${c.peer_address} to initiate`
      : `negotiating with ${c.peer_address}`,
  );
}

export class VpnSupervisor {
  readonly #stateDir: string;
  /** The last failed initiation's reason, by connection. */
  readonly #failures = new Map<string, string>();
  /** When each connection was last initiated (ms), and which are being initiated. */
  readonly #initiated = new Map<string, number>();
  readonly #initiating = new Set<string>();
  /** Each running connection's configuration when last seen: a changed one is negotiated anew. */
  readonly #configs = new Map<string, string>();

  constructor(stateDir: string) {
    this.#stateDir = stateDir;
  }

  /** Reads every router's SAs, starts what should be up and ends what should not; the report. */
  async check(snapshot: Snapshot, plane: IpsecDataPlane): Promise<VpnReport | undefined> {
    const routers = (snapshot.routers ?? []).filter((r) => r.vpn && r.vpn.services.length > 0);
    if (routers.length === 0) return undefined;
    const report: VpnReport = { services: [], connections: [] };
    const known = new Set<string>();
    await Promise.all(
      routers.map(async (router) => {
        const vpn = router.vpn!;
        for (const s of vpn.services)
          report.services.push({
            id: s.id,
            status: s.admin_state_up && router.admin_state_up ? 'ACTIVE' : 'DOWN',
          });
        const files = strongswanFiles(routerDir(this.#stateDir, router.id));
        const running = runningConnections(router);
        const sas = running.length > 0 ? await listSas(files).catch(() => undefined) : undefined;
        const wanted = new Set(running.map((c) => c.id));
        for (const sa of sas ?? []) if (!wanted.has(sa.name)) await terminateIke(files, sa.name);
        // swanctl --load-all replaces a changed connection's configuration (a new pre-shared key)
        // but leaves its SAs up: they end, and the connection is negotiated with the new one.
        for (const c of running) {
          const config = JSON.stringify(c);
          const before = this.#configs.get(c.id);
          this.#configs.set(c.id, config);
          if (before === undefined || before === config || !sas) continue;
          this.#failures.delete(c.id);
          this.#initiated.delete(c.id);
          if (sas.some((sa) => sa.name === c.id)) {
            await terminateIke(files, c.id);
            sas.splice(0, sas.length, ...sas.filter((sa) => sa.name !== c.id));
          }
        }
        for (const c of vpn.connections) {
          known.add(c.id);
          const status = connectionStatus(c, sas, this.#failures.get(c.id), plane);
          report.connections.push(status);
          // Not while an IKE SA of it is negotiating (charon retransmits by itself).
          const negotiating = sas?.some((sa) => sa.name === c.id);
          if (status.status === 'ACTIVE') this.#failures.delete(c.id);
          else if (sas && !negotiating && c.admin_state_up && c.initiator === 'bi-directional')
            this.#initiate(files, c);
        }
      }),
    );
    for (const id of [...this.#failures.keys()]) if (!known.has(id)) this.#failures.delete(id);
    for (const id of [...this.#configs.keys()]) if (!known.has(id)) this.#configs.delete(id);
    report.services.sort((a, b) => a.id.localeCompare(b.id));
    report.connections.sort((a, b) => a.id.localeCompare(b.id));
    return report;
  }

  #initiate(files: ReturnType<typeof strongswanFiles>, c: SnapshotVpnConnection): void {
    const last = this.#initiated.get(c.id) ?? 0;
    if (this.#initiating.has(c.id) || Date.now() - last < RETRY_MS) return;
    this.#initiating.add(c.id);
    this.#initiated.set(c.id, Date.now());
    void initiate(files, c.id, INITIATE_TIMEOUT_S)
      .then(({ ok, log }) => {
        if (ok) this.#failures.delete(c.id);
        else this.#failures.set(c.id, failureReason(log, c.peer_address));
      })
      .catch(() => undefined)
      .finally(() => this.#initiating.delete(c.id));
  }
}
