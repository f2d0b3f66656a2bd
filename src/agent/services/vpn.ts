/**
 * A router's IPsec site connections (VPNaaS, `core/vpnaas.ts`) as this host runs them: one
 * strongSwan `charon-systemd` in the router's namespace, supervised like its keepalived and radvd
 * (a `charon` daemon: started by the launcher with `STRONGSWAN_CONF` naming its own
 * `strongswan.conf`, its connections loaded by `swanctl --load-all` after a start and whenever
 * `swanctl.conf` changes), its files in the router's directory (`linux/strongswan.ts`). A router
 * with no connection administratively up runs no charon. The router's NAT table leaves the
 * connections' traffic alone (`nat.ts`).
 */
import ipaddr from 'ipaddr.js';
import {
  CHARON,
  type IpsecDataPlane,
  loadAllArgv,
  strongswanConf,
  strongswanFiles,
  swanctlConf,
} from '../../linux/strongswan.js';
import type { SnapshotRouter, SnapshotVpnConnection } from '../../model/host-snapshot.js';
import { routerDir, routerNamespace } from '../l3/router.js';
import { addDaemon, type HostState } from '../state/host-state.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export interface VpnInput {
  router: SnapshotRouter;
  stateDir: string;
  plane: IpsecDataPlane;
}

/** The connections of `router` that run: administratively up (with their service). */
export function runningConnections(router: SnapshotRouter): SnapshotVpnConnection[] {
  return (router.vpn?.connections ?? []).filter((c) => c.admin_state_up);
}

function invalidConnection(c: SnapshotVpnConnection): string | undefined {
  if (!UUID.test(c.id)) return 'unusable id';
  if (!ipaddr.isValid(c.peer_address)) return `invalid peer address ${c.peer_address}`;
  const cidrs = [...c.local_cidrs, ...c.peer_cidrs];
  if (c.local_cidrs.length === 0 || c.peer_cidrs.length === 0) return 'no local subnet or no peer CIDR';
  if (!cidrs.every((cidr) => ipaddr.isValidCIDR(cidr))) return 'invalid CIDR';
  return undefined;
}

/** Adds the router's charon and its configuration to `state`; returns the problems. */
export function addVpn(state: HostState, input: VpnInput): string[] {
  const { router, stateDir, plane } = input;
  const netns = routerNamespace(router.id);
  const problems: string[] = [];
  const connections = runningConnections(router).filter((c) => {
    const why = invalidConnection(c);
    if (why) problems.push(`ipsec site connection ${c.id}: ${why}`);
    return !why;
  });
  if (connections.length === 0 || !state.routers[netns] || !router.admin_state_up) return problems;
  if (router.ha) return [...problems, 'IPsec site connections on HA routers are not supported'];
  const local = router.gateway?.addresses.map((a) => a.ip_address).find((ip) => !ip.includes(':'));
  if (!local) return [...problems, 'IPsec site connections need an IPv4 address on the router gateway'];
  const files = strongswanFiles(routerDir(stateDir, router.id));
  let config: string;
  try {
    config = swanctlConf(connections, local, plane);
  } catch (err) {
    return [...problems, `no strongSwan configuration: ${(err as Error).message}`];
  }
  state.files[files.conf] = { content: strongswanConf(files, plane), mode: 0o644 };
  addDaemon(
    state,
    {
      kind: 'charon',
      netns,
      config: files.swanctl,
      pidFile: files.pid,
      argv: [CHARON],
      env: { STRONGSWAN_CONF: files.conf },
      reload: loadAllArgv(files),
    },
    config,
  );
  // It holds the pre-shared keys.
  state.files[files.swanctl] = { content: config, mode: 0o600 };
  return problems;
}
