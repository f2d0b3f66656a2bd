/**
 * The linuxbridge driver's layout: one Linux bridge per network, a VXLAN device on it for vxlan
 * networks, the mapped host interface on it for flat networks (or, when the mapping names an
 * existing bridge, that bridge instead of one of ours), an 802.1Q device `<interface>.<vid>` on the
 * mapped interface for vlan networks (where the kernel has 8021q) — with a tunnel endpoint, the
 * VXLAN device is bound to it and gets l2population's entries (`l2population.ts`) — and one veth per port whose
 * host end (`tap…`) is on the bridge and whose peer is created directly inside the port's namespace.
 */

import type { SnapshotNetwork } from '../../../model/host-snapshot.js';
import { type HostState, linkAlias } from '../../state/host-state.js';
import type { L2Driver, NetworkContext, Plug } from '../driver.js';
import { addVxlanSegment, vxlanSegment } from '../vxlan.js';
import { bridgeName, namespaceDeviceName, tapName, vlanName } from './names.js';

const MAX_VID = 4094;
const INTERFACE = /^[A-Za-z0-9_.-]{1,15}$/;

/** The physnet's mapped bridge when a flat network uses an existing host bridge, else undefined. */
function hostBridgeOf(network: SnapshotNetwork, context: NetworkContext): string | undefined {
  if (network.network_type !== 'flat') return undefined;
  const mapped = context.physicalInterfaceMappings[network.physical_network ?? ''];
  return mapped !== undefined && context.hostBridges.has(mapped) ? mapped : undefined;
}

/** The bridge a network's ports are plugged into. */
function networkBridge(network: SnapshotNetwork, context: NetworkContext): string {
  return hostBridgeOf(network, context) ?? bridgeName(network.id);
}

function layoutNetwork(
  state: HostState,
  network: SnapshotNetwork,
  context: NetworkContext,
): string | undefined {
  const bridge = bridgeName(network.id);
  const alias = linkAlias('network', network.id, context.owner);
  if (state.bridges[bridge])
    return `bridge name ${bridge} is taken by another network with the same id prefix`;
  switch (network.network_type) {
    case 'vlan': {
      if (!context.vlanCapable)
        return 'vlan networks need 802.1Q devices and this kernel has no 8021q support: use vxlan, flat or local networks';
      const vid = network.segmentation_id;
      if (vid === null || !Number.isInteger(vid) || vid < 1 || vid > MAX_VID)
        return `vlan network without a valid segmentation id (${vid})`;
      const iface = context.physicalInterfaceMappings[network.physical_network ?? ''];
      if (!iface) return `no interface mapped for physical network ${network.physical_network}`;
      if (!INTERFACE.test(iface)) return `unusable interface name ${JSON.stringify(iface)}`;
      const name = vlanName(iface, vid);
      if (state.vlans[name]) return `VLAN ${vid} on ${iface} is used by another network`;
      state.vlans[name] = { vid, parent: iface, mtu: network.mtu, master: bridge, alias, up: true };
      break;
    }
    case 'vxlan': {
      const segment = vxlanSegment(state, network);
      if ('why' in segment) return segment.why;
      addVxlanSegment(state, segment.name, network, context, bridge);
      break;
    }
    case 'flat': {
      if (hostBridgeOf(network, context)) return undefined;
      const iface = context.physicalInterfaceMappings[network.physical_network ?? ''];
      if (!iface) return `no interface mapped for physical network ${network.physical_network}`;
      if (!INTERFACE.test(iface)) return `unusable interface name ${JSON.stringify(iface)}`;
      if (state.uplinks[iface]) return `interface ${iface} already carries another flat network`;
      state.uplinks[iface] = { master: bridge };
      break;
    }
    case 'local':
      break;
  }
  state.bridges[bridge] = { mtu: network.mtu, alias, up: true };
  return undefined;
}

function plugPort(state: HostState, plug: Plug, context: NetworkContext): string | undefined {
  const name = tapName(plug.portId);
  if (state.veths[name]) return `device name ${name} is taken by another port with the same id prefix`;
  state.veths[name] = {
    mtu: plug.network.mtu,
    master: networkBridge(plug.network, context),
    alias: linkAlias('port', plug.portId, context.owner),
    up: plug.up,
    peer: { netns: plug.netns, name: plug.device, mac: plug.mac },
  };
  return undefined;
}

export const linuxbridge: L2Driver = {
  layoutNetwork,
  plugPort,
  serviceDeviceName: namespaceDeviceName,
  portDeviceName: tapName,
  networkBridgeName: networkBridge,
};
