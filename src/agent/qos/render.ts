/**
 * QoS bandwidth limits laid out for one host (pure): a shaper (`linux/tc.ts`) on the host end of
 * every instance port bound here whose policy limits it, and one on each router's gateway device
 * for the floating IPs and gateway addresses whose policy limits them. DSCP marks are the
 * security-group tables' (`firewall/security-groups.ts`).
 *
 * Neutron's directions are the instance's (or, for a floating IP or gateway, the cloud's): `egress`
 * is what it sends, `ingress` what it receives. On a port's host end those are the other way round
 * (what the instance sends, the host end receives), on a gateway device they are the same.
 */
import { join } from 'node:path';
import { FIRST_ADDRESS_CLASS, type ShapeClass, type ShaperSpec } from '../../linux/tc.js';
import type { Snapshot, SnapshotPort, SnapshotQos } from '../../model/host-snapshot.js';
import type { L2Driver, NetworkContext } from '../drivers/driver.js';
import { gatewayDeviceName, routerNamespace } from '../l3/router.js';
import { type HostState, linkAlias, type Problem, type Shaper, shaperKey } from '../state/host-state.js';

export interface QosInput {
  snapshot: Snapshot;
  /** The host's valid ports. */
  ports: Map<string, SnapshotPort>;
  driver: L2Driver;
  context: NetworkContext;
  stateDir: string;
}

/** neutron-lib's largest `max_kbps` (2^31 - 1); HTB takes it in kbit. */
const MAX_KBPS = 2 ** 31 - 1;
const IPV4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

export function qosRecordDir(stateDir: string): string {
  return join(stateDir, 'qos');
}

/** The IFB device beside `dev`: `tap…`/`qg-…` becomes `ifb…`/`ifb-…` (15 characters at most). */
export function ifbName(dev: string): string {
  return `ifb${dev.replace(/^(tap|qg)/, '')}`.slice(0, 15);
}

function limitOf(qos: SnapshotQos | null | undefined, direction: 'egress' | 'ingress') {
  const limit = qos?.bandwidth_limits.find((l) => l.direction === direction);
  if (!limit) return undefined;
  const { max_kbps: rate, max_burst_kbps: burst } = limit;
  const valid =
    Number.isInteger(rate) && rate > 0 && rate <= MAX_KBPS && Number.isInteger(burst) && burst >= 0;
  return valid ? { rateKbit: rate, burstKbit: Math.min(burst, MAX_KBPS) } : null;
}

function addShaper(
  state: HostState,
  input: QosInput,
  at: { netns: string | null; dev: string; kind: 'network' | 'port'; id: string },
  spec: ShaperSpec,
): void {
  if (spec.transmit.length === 0 && spec.receive.length === 0) return;
  const key = shaperKey(at);
  const file = `${(at.netns ?? 'host').replace(/[^A-Za-z0-9_.-]/g, '_')}--${at.dev}.json`;
  const shaper: Shaper = {
    netns: at.netns,
    dev: at.dev,
    ifb: ifbName(at.dev),
    alias: linkAlias(at.kind, at.id, input.context.owner),
    spec,
    record: join(qosRecordDir(input.stateDir), file),
  };
  state.shapers[key] = shaper;
}

/** Adds the shapers `input.snapshot` asks for to `state`; returns what it left out and why. */
export function addQos(state: HostState, input: QosInput): Problem[] {
  const problems: Problem[] = [];
  const { snapshot, driver } = input;
  for (const port of input.ports.values()) {
    if (port.binding_host_id !== snapshot.host || !port.qos) continue;
    const dev = driver.portDeviceName(port.id);
    if (!state.veths[dev]) continue; // only ports this host plugs (instances)
    const toInstance = limitOf(port.qos, 'ingress');
    const fromInstance = limitOf(port.qos, 'egress');
    if (toInstance === null || fromInstance === null) {
      problems.push({
        object: `port ${port.id}`,
        message: `invalid bandwidth limit in QoS policy ${port.qos.policy_id}`,
      });
      continue;
    }
    const whole = (l: { rateKbit: number; burstKbit: number }): ShapeClass[] => [
      { id: 1, match: null, ...l },
    ];
    addShaper(
      state,
      input,
      { netns: null, dev, kind: 'port', id: port.id },
      {
        transmit: toInstance ? whole(toInstance) : [],
        receive: fromInstance ? whole(fromInstance) : [],
      },
    );
  }
  for (const router of snapshot.routers ?? []) {
    const netns = routerNamespace(router.id);
    const gateway = router.gateway;
    if (!gateway || !state.routers[netns]) continue;
    const dev = gatewayDeviceName(gateway.port_id);
    if (!state.namespaceLinks[`${netns}/${dev}`]) continue;
    // Each address shaped on its own: the floating IPs, then the gateway's own addresses.
    const limited: { address: string; qos: SnapshotQos; what: string }[] = [];
    for (const fip of [...router.floating_ips].sort((a, b) => (a.id < b.id ? -1 : 1)))
      if (fip.qos)
        limited.push({ address: fip.floating_ip_address, qos: fip.qos, what: `floating IP ${fip.id}` });
    if (gateway.qos)
      for (const a of gateway.addresses)
        if (IPV4.test(a.ip_address))
          limited.push({ address: a.ip_address, qos: gateway.qos, what: `router ${router.id} gateway` });
    const spec: ShaperSpec = { transmit: [], receive: [] };
    let id = FIRST_ADDRESS_CLASS;
    for (const { address, qos, what } of limited) {
      if (!IPV4.test(address)) continue;
      const out = limitOf(qos, 'egress');
      const into = limitOf(qos, 'ingress');
      if (out === null || into === null) {
        problems.push({ object: what, message: `invalid bandwidth limit in QoS policy ${qos.policy_id}` });
        continue;
      }
      if (out) spec.transmit.push({ id, match: { field: 'src', address }, ...out });
      if (into) spec.receive.push({ id, match: { field: 'dst', address }, ...into });
      id++;
    }
    addShaper(state, input, { netns, dev, kind: 'port', id: gateway.port_id }, spec);
  }
  return problems;
}
