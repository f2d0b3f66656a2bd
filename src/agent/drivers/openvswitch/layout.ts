/**
 * The openvswitch driver's layout, as the source documents draw Neutron's: one integration bridge
 * `br-int` where every port of a network carries the network's local VLAN tag (ports with the same
 * tag talk, others are isolated); per physical network a provider bridge `br-<physnet>` holding the
 * mapped host interface, joined to `br-int` by a veth pair (`int-br-<physnet>` / `phy-br-<physnet>`,
 * the "virtual cable"), with flows translating between the provider's VLAN id (or no tag, for a
 * flat network) and the local tag; an instance's port plugged through a Linux bridge of its own
 * (hybrid plug: `tap` → `qbr` where security groups filter → `qvb`/`qvo` → `br-int`); DHCP, router
 * and load-balancer ports straight on `br-int` by a veth (`tap` on `br-int`, the other end in the
 * service's namespace). Tunnels go through `br-tun`, joined to `br-int` by patch ports: a vxlan
 * network's segment is a kernel VXLAN device on `br-tun` (the same wire as the linuxbridge driver's,
 * and its l2population entries, which flood only to hosts with ports on the network), with flows
 * translating the local tag to it and back (the userspace datapath's own VXLAN ports would need the
 * host's tunnel address on an Open vSwitch bridge).
 *
 * Tags are kept across runs (recorded in a file of the desired state); a new network takes the
 * lowest tag no other network holds or held in the last run.
 */

import { namespaceDeviceName, tapName } from '../../../model/device-names.js';
import type { SnapshotNetwork } from '../../../model/host-snapshot.js';
import { type HostState, linkAlias, OVS_COOKIE, type OvsBridge } from '../../state/host-state.js';
import type { L2Driver, NetworkContext, OvsContext, Plug } from '../driver.js';
import { addVxlanSegment, vxlanSegment } from '../vxlan.js';
import {
  hybridBridgeEnd,
  hybridBridgeName,
  INTEGRATION_BRIDGE,
  INTEGRATION_PATCH,
  integrationEnd,
  integrationPatchName,
  providerBridgeName,
  providerPatchName,
  TUNNEL_BRIDGE,
  TUNNEL_PATCH,
} from './names.js';

const MAX_VID = 4094;
const INTERFACE = /^[A-Za-z0-9_.-]{1,15}$/;
/** The MTU of the veth between `br-int` and a provider bridge: the largest any network may use. */
const PATCH_MTU = 9000;

/** A rule of ours: the cookie first, so each rule can be told from others'. */
function flow(rule: string): string {
  return `cookie=${OVS_COOKIE},${rule}`;
}

/**
 * The bridge `name`, with a rule for what no other rule takes: normal L2 switching, or (the tunnel
 * bridge, which only translates) a drop.
 */
function ensureBridge(state: HostState, name: string, ovs: OvsContext, otherwise = 'NORMAL'): OvsBridge {
  state.ovs.handle = ovs.handle;
  state.ovs.bridges[name] ??= {
    datapath: ovs.datapath,
    flows: [flow(`table=0,priority=0,actions=${otherwise}`)],
  };
  return state.ovs.bridges[name];
}

/** `br-tun`, joined to `br-int` by the patch ports `patch-tun` / `patch-int`. */
function ensureTunnelBridge(state: HostState, ovs: OvsContext): OvsBridge {
  const existing = state.ovs.bridges[TUNNEL_BRIDGE];
  if (existing) return existing;
  const tunnel = ensureBridge(state, TUNNEL_BRIDGE, ovs, 'drop');
  state.ovs.ports[INTEGRATION_PATCH] = {
    bridge: INTEGRATION_BRIDGE,
    tag: null,
    type: 'patch',
    options: { peer: TUNNEL_PATCH },
    ids: {},
  };
  state.ovs.ports[TUNNEL_PATCH] = {
    bridge: TUNNEL_BRIDGE,
    tag: null,
    type: 'patch',
    options: { peer: INTEGRATION_PATCH },
    ids: {},
  };
  return tunnel;
}

/** The local VLAN tag of `network`: the one it had, else the lowest free one. */
function tagOf(network: SnapshotNetwork, ovs: OvsContext): number | undefined {
  const taken = new Set(Object.values(ovs.tags));
  const held = new Set(Object.entries(ovs.previousTags).flatMap(([id, t]) => (id in ovs.tags ? [] : [t])));
  const previous = ovs.previousTags[network.id];
  if (Number.isInteger(previous) && previous >= 1 && previous <= MAX_VID && !taken.has(previous))
    return previous;
  for (let tag = 1; tag <= MAX_VID; tag++) if (!taken.has(tag) && !held.has(tag)) return tag;
  return undefined;
}

/**
 * The provider bridge of `physnet` with its mapped interface, and the veth pair joining it to
 * `br-int` (each end dropping what no translation rule takes).
 */
function ensureProvider(state: HostState, physnet: string, iface: string, context: NetworkContext): void {
  const ovs = context.ovs!;
  const bridge = providerBridgeName(physnet);
  if (state.ovs.bridges[bridge]) return;
  const provider = ensureBridge(state, bridge, ovs);
  const integration = ensureBridge(state, INTEGRATION_BRIDGE, ovs);
  const intEnd = integrationPatchName(physnet);
  const phyEnd = providerPatchName(physnet);
  state.veths[intEnd] = {
    mtu: PATCH_MTU,
    master: null,
    alias: linkAlias('network', `physnet:${physnet}`, context.owner),
    up: true,
    peer: { netns: '', name: phyEnd },
  };
  const ids = { 'neutrino-physnet': physnet };
  state.ovs.ports[intEnd] = { bridge: INTEGRATION_BRIDGE, tag: null, type: '', ids };
  state.ovs.ports[phyEnd] = { bridge, tag: null, type: '', ids };
  state.ovs.ports[iface] = { bridge, tag: null, type: '', ids };
  integration.flows!.push(flow(`table=0,priority=2,in_port=${intEnd},actions=drop`));
  provider.flows!.push(flow(`table=0,priority=2,in_port=${phyEnd},actions=drop`));
}

function layoutNetwork(
  state: HostState,
  network: SnapshotNetwork,
  context: NetworkContext,
): string | undefined {
  const ovs = context.ovs;
  if (!ovs) return 'the openvswitch driver runs without an Open vSwitch';
  const tag = tagOf(network, ovs);
  if (tag === undefined) return `no local VLAN tag left on ${INTEGRATION_BRIDGE}`;
  let vxlan: string | undefined;
  switch (network.network_type) {
    case 'vlan':
    case 'flat': {
      const vid = network.segmentation_id;
      const vlan = network.network_type === 'vlan';
      if (vlan && (vid === null || !Number.isInteger(vid) || vid < 1 || vid > MAX_VID))
        return `vlan network without a valid segmentation id (${vid})`;
      const physnet = network.physical_network ?? '';
      const iface = context.physicalInterfaceMappings[physnet];
      if (!iface) return `no interface mapped for physical network ${physnet}`;
      if (!INTERFACE.test(iface)) return `unusable interface name ${JSON.stringify(iface)}`;
      if (context.missingInterfaces?.has(iface))
        return `interface ${iface} (mapped for physical network ${physnet}) does not exist on this host`;
      const bridge = providerBridgeName(physnet);
      const match = vlan ? `dl_vlan=${vid}` : 'vlan_tci=0x0000/0x1fff';
      const segment = `${physnet} ${vlan ? vid : 'flat'}`;
      if (ovs.segments.has(segment))
        return vlan
          ? `VLAN ${vid} on ${physnet} is used by another network`
          : `physical network ${physnet} already carries another flat network`;
      ovs.segments.add(segment);
      ensureProvider(state, physnet, iface, context);
      const intEnd = integrationPatchName(physnet);
      const phyEnd = providerPatchName(physnet);
      state.ovs.bridges[INTEGRATION_BRIDGE].flows!.push(
        flow(`table=0,priority=3,in_port=${intEnd},${match},actions=mod_vlan_vid:${tag},NORMAL`),
      );
      state.ovs.bridges[bridge].flows!.push(
        flow(
          `table=0,priority=4,in_port=${phyEnd},dl_vlan=${tag},actions=${vlan ? `mod_vlan_vid:${vid}` : 'strip_vlan'},NORMAL`,
        ),
      );
      break;
    }
    case 'vxlan': {
      const segment = vxlanSegment(state, network);
      if ('why' in segment) return segment.why;
      vxlan = segment.name;
      break;
    }
    case 'local':
      break;
  }
  ensureBridge(state, INTEGRATION_BRIDGE, ovs);
  ovs.tags[network.id] = tag;
  state.files[ovs.tagsFile] = { content: `${JSON.stringify(ovs.tags, null, 1)}\n`, mode: 0o644 };
  if (vxlan !== undefined) {
    addVxlanSegment(state, vxlan, network, context, null);
    // On br-tun: the local tag becomes the segment (the VXLAN device's VNI) and back.
    const tunBridge = ensureTunnelBridge(state, ovs);
    state.ovs.ports[vxlan] = {
      bridge: TUNNEL_BRIDGE,
      tag: null,
      type: '',
      ids: { 'neutrino-network': network.id },
    };
    tunBridge.flows!.push(
      flow(`table=0,priority=4,in_port=${TUNNEL_PATCH},dl_vlan=${tag},actions=strip_vlan,output:${vxlan}`),
      flow(`table=0,priority=4,in_port=${vxlan},actions=mod_vlan_vid:${tag},output:${TUNNEL_PATCH}`),
    );
  }
  return undefined;
}

function plugPort(state: HostState, plug: Plug, context: NetworkContext): string | undefined {
  const ovs = context.ovs;
  const tag = ovs?.tags[plug.network.id];
  if (!ovs || tag === undefined) return `network ${plug.network.id} is not laid out on ${INTEGRATION_BRIDGE}`;
  const tap = tapName(plug.portId);
  if (state.veths[tap]) return `device name ${tap} is taken by another port with the same id prefix`;
  const alias = linkAlias('port', plug.portId, context.owner);
  const { mtu } = plug.network;
  const ids = { 'neutrino-port': plug.portId, 'neutrino-network': plug.network.id };
  const namespaceEnd = { netns: plug.netns, name: plug.device, mac: plug.mac };
  if (!plug.instance) {
    state.veths[tap] = { mtu, master: null, alias, up: plug.up, peer: namespaceEnd };
    state.ovs.ports[tap] = { bridge: INTEGRATION_BRIDGE, tag, type: '', ids };
    return undefined;
  }
  const qbr = hybridBridgeName(plug.portId);
  const qvb = hybridBridgeEnd(plug.portId);
  const qvo = integrationEnd(plug.portId);
  state.bridges[qbr] = { mtu, alias, up: true };
  state.veths[tap] = { mtu, master: qbr, alias, up: plug.up, peer: namespaceEnd };
  state.veths[qvb] = { mtu, master: qbr, alias, up: true, peer: { netns: '', name: qvo } };
  state.ovs.ports[qvo] = { bridge: INTEGRATION_BRIDGE, tag, type: '', ids };
  return undefined;
}

export const openvswitch: L2Driver = {
  layoutNetwork,
  plugPort,
  serviceDeviceName: namespaceDeviceName,
  portDeviceName: tapName,
  networkBridgeName: () => INTEGRATION_BRIDGE,
};
