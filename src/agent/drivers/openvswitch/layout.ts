/**
 * The openvswitch driver's layout, as the source documents draw Neutron's: one integration bridge
 * `br-int` where every port of a network carries the network's local VLAN tag (ports with the same
 * tag talk, others are isolated); per physical network a provider bridge `br-<physnet>` holding the
 * mapped host interface, joined to `br-int` by a veth pair (`int-br-<physnet>` / `phy-br-<physnet>`,
 * the "virtual cable"), with flows translating between the provider's VLAN id (or no tag, for a
 * flat network) and the local tag; an instance's port plugged through a Linux bridge of its own
 * (hybrid plug: `tap` → `qbr` where security groups filter → `qvb`/`qvo` → `br-int`); DHCP, router
 * and load-balancer ports straight on `br-int` by a veth (`tap` on `br-int`, the other end in the
 * service's namespace). Tunnels go through `br-tun`, joined to `br-int` by patch ports, as
 * Neutron's agent lays it out with l2population: one VXLAN port per other host that has ports on a
 * network of this host (`vxlan-<hex address>`), and rules in Neutron's tables — 0 sorts by where a
 * frame came in; 2 sends unicast to 20, ARP requests to 21, other broadcast and multicast to 22; 4
 * turns a network's VNI into its local tag; 20 sends each remote MAC down its host's tunnel; 21
 * answers ARP for remote addresses itself; 22 floods a network's frames only to the hosts with
 * ports on it. The userspace datapath sends and receives VXLAN only through a bridge of its own,
 * so there the host's tunnel interface joins `br-phy` and the tunnel endpoint address moves onto
 * `br-phy`'s internal port (given back when the bridge goes); and since Open vSwitch 3.1 cannot
 * tunnel a packet whose checksum was left to offload, the devices that send a tunnelled network's
 * frames into the switch compute checksums themselves.
 *
 * Tags are kept across runs (recorded in a file of the desired state); a new network takes the
 * lowest tag no other network holds or held in the last run.
 */

import { namespaceDeviceName, tapName } from '../../../model/device-names.js';
import type { SnapshotNetwork } from '../../../model/host-snapshot.js';
import { type HostState, linkAlias, OVS_COOKIE, type OvsBridge } from '../../state/host-state.js';
import type { L2Driver, NetworkContext, OvsContext, Plug } from '../driver.js';
import { type RemoteEndpoint, remoteEndpoints } from '../l2population.js';
import { invalidVni, VXLAN_PORT } from '../vxlan.js';
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
  tunnelPortName,
  UNDERLAY_BRIDGE,
  UNDERLAY_ROLE,
  underlayFence,
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

/**
 * `br-tun`, joined to `br-int` by the patch ports `patch-tun` / `patch-int`, with the rules every
 * network shares; on the userspace datapath also `br-phy` holding the tunnel interface.
 */
function ensureTunnelBridge(state: HostState, context: NetworkContext): OvsBridge {
  const existing = state.ovs.bridges[TUNNEL_BRIDGE];
  if (existing) return existing;
  const ovs = context.ovs!;
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
  tunnel.flows!.push(
    flow(`table=0,priority=1,in_port=${TUNNEL_PATCH},actions=resubmit(,2)`),
    flow('table=2,priority=0,dl_dst=00:00:00:00:00:00/01:00:00:00:00:00,actions=resubmit(,20)'),
    flow('table=2,priority=0,dl_dst=01:00:00:00:00:00/01:00:00:00:00:00,actions=resubmit(,22)'),
    flow('table=2,priority=1,arp,dl_dst=ff:ff:ff:ff:ff:ff,actions=resubmit(,21)'),
    flow('table=20,priority=0,actions=resubmit(,22)'),
    flow('table=21,priority=0,actions=resubmit(,22)'),
  );
  if (ovs.underlay) {
    const { device, mac, cidr } = ovs.underlay;
    ensureBridge(state, UNDERLAY_BRIDGE, ovs).mac = mac;
    state.ovs.ports[device] = {
      bridge: UNDERLAY_BRIDGE,
      tag: null,
      type: '',
      ids: { [UNDERLAY_ROLE]: 'tunnel' },
    };
    state.ovs.underlay = {
      bridge: UNDERLAY_BRIDGE,
      device,
      addresses: [cidr],
      fence: underlayFence(context.owner),
    };
  }
  return tunnel;
}

/** The VXLAN port on `br-tun` towards `endpoint` (one per host, whatever networks it carries). */
function ensureTunnelPort(state: HostState, endpoint: RemoteEndpoint, localIp: string): string {
  const name = tunnelPortName(endpoint.ip);
  if (state.ovs.ports[name]) return name;
  state.ovs.ports[name] = {
    bridge: TUNNEL_BRIDGE,
    tag: null,
    type: 'vxlan',
    options: {
      remote_ip: endpoint.ip,
      local_ip: localIp,
      key: 'flow',
      dst_port: String(VXLAN_PORT),
    },
    ids: { 'neutrino-host': endpoint.host },
  };
  state.ovs.bridges[TUNNEL_BRIDGE].flows!.push(
    flow(`table=0,priority=1,in_port=${name},actions=resubmit(,4)`),
  );
  return name;
}

/**
 * A vxlan network's rules on `br-tun` (its VNI and local tag both ways), and l2population's: its
 * remote MACs down their hosts' tunnels, ARP answered for its remote addresses, and its floods to
 * the hosts with ports on it only.
 */
function addTunnels(state: HostState, network: SnapshotNetwork, tag: number, context: NetworkContext): void {
  const tunnel = context.tunnel!;
  const vni = network.segmentation_id!;
  const bridge = ensureTunnelBridge(state, context);
  const { endpoints, problems } = remoteEndpoints(context.peers[network.id] ?? [], tunnel.localIp);
  for (const why of problems)
    state.problems.push({ object: `network ${network.id}`, message: `l2population: ${why}` });
  const rules = bridge.flows!;
  rules.push(flow(`table=4,priority=1,tun_id=${vni},actions=mod_vlan_vid:${tag},output:${TUNNEL_PATCH}`));
  const floods: string[] = [];
  for (const endpoint of endpoints) {
    const port = ensureTunnelPort(state, endpoint, tunnel.localIp);
    floods.push(`output:${port}`);
    for (const { mac, ips } of endpoint.ports) {
      rules.push(
        flow(
          `table=20,priority=2,dl_vlan=${tag},dl_dst=${mac},actions=strip_vlan,set_tunnel:${vni},output:${port}`,
        ),
      );
      for (const ip of ips.filter((a) => !a.includes(':')))
        rules.push(
          flow(
            `table=21,priority=1,dl_vlan=${tag},arp,arp_tpa=${ip},actions=${[
              'move:NXM_OF_ETH_SRC[]->NXM_OF_ETH_DST[]',
              `mod_dl_src:${mac}`,
              'load:0x2->NXM_OF_ARP_OP[]',
              'move:NXM_NX_ARP_SHA[]->NXM_NX_ARP_THA[]',
              'move:NXM_OF_ARP_SPA[]->NXM_OF_ARP_TPA[]',
              `set_field:${mac}->arp_sha`,
              `set_field:${ip}->arp_spa`,
              'in_port',
            ].join(',')}`,
          ),
        );
    }
  }
  if (floods.length > 0)
    rules.push(
      flow(`table=22,priority=1,dl_vlan=${tag},actions=strip_vlan,set_tunnel:${vni},${floods.join(',')}`),
    );
}

/** Whether `network`'s frames may cross a tunnel from this host. */
function tunnelled(network: SnapshotNetwork, context: NetworkContext): boolean {
  return network.network_type === 'vxlan' && context.tunnel !== undefined;
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
      if (bridge === UNDERLAY_BRIDGE && ovs.underlay)
        return `physical network ${physnet}'s bridge would be ${UNDERLAY_BRIDGE}, which holds the tunnel interface`;
      if (bridge === INTEGRATION_BRIDGE || (bridge === TUNNEL_BRIDGE && context.tunnel))
        return `physical network ${physnet}'s bridge would be ${bridge}, which the driver uses itself`;
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
      const why = invalidVni(network.segmentation_id);
      if (why) return why;
      const segment = `vxlan ${network.segmentation_id}`;
      if (ovs.segments.has(segment)) return `VNI ${network.segmentation_id} is used by another network`;
      ovs.segments.add(segment);
      break;
    }
    case 'local':
      break;
  }
  ensureBridge(state, INTEGRATION_BRIDGE, ovs);
  ovs.tags[network.id] = tag;
  state.files[ovs.tagsFile] = { content: `${JSON.stringify(ovs.tags, null, 1)}\n`, mode: 0o644 };
  if (tunnelled(network, context)) addTunnels(state, network, tag, context);
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
  // What the port sends into the switch: checksums computed before a tunnel can take it.
  const offload =
    ovs.datapath === 'netdev' && tunnelled(plug.network, context) ? { txOffload: false as const } : {};
  const namespaceEnd = { netns: plug.netns, name: plug.device, mac: plug.mac };
  if (!plug.instance) {
    state.veths[tap] = { mtu, master: null, alias, up: plug.up, peer: { ...namespaceEnd, ...offload } };
    state.ovs.ports[tap] = { bridge: INTEGRATION_BRIDGE, tag, type: '', ids };
    return undefined;
  }
  const qbr = hybridBridgeName(plug.portId);
  const qvb = hybridBridgeEnd(plug.portId);
  const qvo = integrationEnd(plug.portId);
  state.bridges[qbr] = { mtu, alias, up: true };
  state.veths[tap] = { mtu, master: qbr, alias, up: plug.up, peer: namespaceEnd };
  state.veths[qvb] = { mtu, master: qbr, alias, up: true, peer: { netns: '', name: qvo }, ...offload };
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
