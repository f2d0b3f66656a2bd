/**
 * What an L2 driver does for the desired-state compiler: lay out the kernel objects that carry a
 * network on this host, and plug a port into a namespace as a named device. Each driver folder
 * (`linuxbridge/`, `openvswitch/`) holds the same files: `names.ts` and `layout.ts`; `index.ts`
 * names them.
 */

import type { Ovs } from '../../linux/ovs.js';
import type { SnapshotNetwork, SnapshotTunnelPeer } from '../../model/host-snapshot.js';
import type { HostState } from '../state/host-state.js';

/** This host's tunnel endpoint: its address and the interface holding it. */
export interface TunnelEndpoint {
  localIp: string;
  device: string;
}

export interface NetworkContext {
  /** The deployment's owner tag, carried in every link alias. */
  owner: string;
  /** physnet → host interface or bridge (flat networks). */
  physicalInterfaceMappings: Record<string, string>;
  /**
   * Mapped names that are existing bridges on this host (not ours): a flat network on such a
   * physnet uses that bridge itself, as with Neutron's `bridge_mappings`.
   */
  hostBridges: ReadonlySet<string>;
  /** Mapped names that are no interface of this host (observed beforehand). */
  missingInterfaces?: ReadonlySet<string>;
  /** Whether this host's kernel can make 802.1Q devices (`vlan` networks need them). */
  vlanCapable: boolean;
  /** This host's tunnel endpoint; absent: vxlan networks stay on this host (no l2population). */
  tunnel?: TunnelEndpoint;
  /** vxlan network id → the other hosts with ports on it (the snapshot's `l2population`). */
  peers: Record<string, SnapshotTunnelPeer[]>;
  /** The openvswitch driver's switch and local VLAN tags; absent for linuxbridge. */
  ovs?: OvsContext;
}

export interface OvsContext {
  /** Who forwards: the kernel's datapath or Open vSwitch's userspace one (see `probeDatapath`). */
  datapath: 'system' | 'netdev';
  /** How to reach the switch. */
  handle: Ovs;
  /** Network id → the local VLAN tag the last run gave it on `br-int` (kept while it is here). */
  previousTags: Readonly<Record<string, number>>;
  /** Network id → its tag in this compile (filled by the driver). */
  tags: Record<string, number>;
  /** The provider segments laid out in this compile (`<physnet> <vid>` or `<physnet> flat`). */
  segments: Set<string>;
  /** Where the tags are recorded (a file of the desired state). */
  tagsFile: string;
  /**
   * The userspace datapath with tunnels: the host's tunnel interface and its MAC, and the endpoint
   * address with its prefix length (`10.0.0.1/24`), which move onto `br-phy`.
   */
  underlay?: { device: string; mac: string; cidr: string };
}

export interface Plug {
  portId: string;
  network: SnapshotNetwork;
  /** The namespace the port's device is created in. */
  netns: string;
  /** The device's name inside `netns`. */
  device: string;
  mac: string;
  up: boolean;
  /**
   * An instance's port (a VM's interface), which the openvswitch driver plugs through a Linux
   * bridge of its own (hybrid plug); service ports (DHCP, routers, load balancers) go straight on.
   */
  instance?: boolean;
}

export interface L2Driver {
  /** Adds what carries `network` on this host to `state`; returns why it cannot, if it cannot. */
  layoutNetwork(state: HostState, network: SnapshotNetwork, context: NetworkContext): string | undefined;
  /** Adds the objects that plug a port into `plug.netns`; returns why it cannot, if it cannot. */
  plugPort(state: HostState, plug: Plug, context: NetworkContext): string | undefined;
  /** The device name of a port plugged into a service namespace (DHCP), e.g. `ns-<port11>`. */
  serviceDeviceName(portId: string): string;
  /** The host-side device of a port, whose state says whether the port is wired. */
  portDeviceName(portId: string): string;
  /** The bridge a network's ports are plugged into (security groups key conntrack zones by it). */
  networkBridgeName(network: SnapshotNetwork, context: NetworkContext): string;
}
