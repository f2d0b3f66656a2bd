/**
 * A vxlan network's segment on this host, as both L2 drivers make it: a kernel VXLAN device
 * `vxlan-<vni>` (bound to the tunnel endpoint, answering ARP/ND from l2population's entries when
 * there is one), on the linuxbridge driver's network bridge or on the openvswitch driver's `br-tun`.
 */
import type { SnapshotNetwork } from '../../model/host-snapshot.js';
import { type HostState, linkAlias } from '../state/host-state.js';
import type { NetworkContext } from './driver.js';
import { addL2Population } from './linuxbridge/l2population.js';
import { vxlanName } from './linuxbridge/names.js';

/** The UDP port of VXLAN (IANA's), which both drivers' tunnels use. */
export const VXLAN_PORT = 4789;
const MAX_VNI = 2 ** 24 - 1;

/** Why `vni` cannot be a vxlan network's segment, if it cannot. */
export function invalidVni(vni: number | null): string | undefined {
  if (vni === null || !Number.isInteger(vni) || vni < 1 || vni > MAX_VNI)
    return `vxlan network without a valid segmentation id (${vni})`;
  return undefined;
}

/** The VXLAN device's name for `network`, or why it cannot have one. */
export function vxlanSegment(state: HostState, network: SnapshotNetwork): { name: string } | { why: string } {
  const vni = network.segmentation_id;
  const invalid = invalidVni(vni);
  if (invalid) return { why: invalid };
  const name = vxlanName(vni!);
  return state.vxlans[name] ? { why: `VNI ${vni} is used by another network` } : { name };
}

/** Adds the VXLAN device `name` of `network` (enslaved to `master`, if any) and its l2population entries. */
export function addVxlanSegment(
  state: HostState,
  name: string,
  network: SnapshotNetwork,
  context: NetworkContext,
  master: string | null,
): void {
  const { tunnel } = context;
  state.vxlans[name] = {
    vni: network.segmentation_id!,
    dstport: VXLAN_PORT,
    local: tunnel?.localIp ?? null,
    dev: tunnel?.device ?? null,
    proxy: tunnel !== undefined,
    mtu: network.mtu,
    master,
    alias: linkAlias('network', network.id, context.owner),
    up: true,
  };
  if (tunnel)
    for (const why of addL2Population(state, name, context.peers[network.id] ?? [], tunnel.localIp))
      state.problems.push({ object: `network ${network.id}`, message: `l2population: ${why}` });
}
