/**
 * The steps that take a host from its actual state to its desired one (diff's output, apply's
 * input), each carrying everything needed to perform it, and the stage each belongs to: stages run
 * in order, and the actions of one stage are batched together.
 */

import type { ConnectionFilter } from '../../linux/conntrack.js';
import type { Ovs } from '../../linux/ovs.js';
import type { ShaperSpec } from '../../linux/tc.js';
import type { NamespaceRecord } from '../l3/router.js';
import {
  type Bridge,
  type Daemon,
  type DhcpClient,
  type DhcpServer,
  daemonKey,
  type FdbEntry,
  type FileState,
  type Firewall,
  type FwaasTable,
  type Namespace,
  type NatTable,
  type Neighbour,
  type OvsUnderlay,
  type RecordedTable,
  type Route,
  type Shaper,
  shaperKey,
  type Veth,
  type Vlan,
  type Vxlan,
} from './host-state.js';

export type LinkKind = 'bridge' | 'vxlan' | 'vlan' | 'veth' | 'uplink';

export type Action =
  // A pid is absent only when the actual state did not come from `observe` (pure tests).
  | { op: 'udhcpc.stop'; key: string; pid?: number }
  | { op: 'dnsmasq.stop'; network: string; pid?: number }
  | { op: 'daemon.stop'; key: string; pid?: number }
  | { op: 'dir.create'; path: string; netns: string }
  | { op: 'veth.del'; name: string }
  | { op: 'vxlan.del'; name: string }
  | { op: 'vlan.del'; name: string }
  | { op: 'link.master'; kind: Exclude<LinkKind, 'bridge'>; name: string; master: string | null }
  | { op: 'bridge.del'; name: string }
  /** `links`: our root-namespace veths whose peers are inside, which the kernel deletes with it. */
  | { op: 'netns.del'; name: string; links: string[] }
  | { op: 'netns.add'; name: string; namespace: Namespace }
  | { op: 'bridge.add'; name: string; bridge: Bridge }
  | {
      op: 'link.set';
      kind: LinkKind;
      name: string;
      mtu?: number;
      alias?: string;
      up?: boolean;
      /** Bridges only: bridge netfilter for IPv4 and IPv6 on (true) or off. */
      nfCall?: boolean;
    }
  | { op: 'vxlan.add'; name: string; vxlan: Vxlan }
  | { op: 'vlan.add'; name: string; vlan: Vlan }
  | { op: 'veth.add'; name: string; veth: Veth }
  /** l2population: a VXLAN device's forwarding and neighbour entries, changed one by one. */
  | { op: 'fdb.add'; entry: FdbEntry }
  | { op: 'fdb.del'; entry: FdbEntry }
  | { op: 'neigh.replace'; entry: Neighbour }
  | { op: 'neigh.del'; entry: Neighbour }
  /**
   * A remote address new to this host, or at a new MAC, announced to the ports on the device's
   * bridge by a gratuitous ARP handed to the device itself (its proxy keeps the remote instance's
   * own announcement from crossing the tunnel). Without it, an instance that knew the address at
   * the MAC of a deleted port keeps sending there for up to 45 s (its REACHABLE time).
   */
  | { op: 'neigh.announce'; entry: Neighbour; vni: number; dstport: number; local: string }
  /** `silent`: no IPv6 link-local address from now on (`addrgenmode none`, the present one flushed). */
  | { op: 'nslink.set'; netns: string; name: string; up: boolean; silent?: boolean }
  | { op: 'addr.add'; netns: string; dev: string; cidr: string }
  | { op: 'addr.del'; netns: string; dev: string; cidr: string }
  | { op: 'route.replace'; netns: string; route: Route }
  | { op: 'route.del'; netns: string; route: Route }
  | { op: 'sysctl.set'; netns: string; values: Record<string, string> }
  /** Replaces the router's NAT table and records what was applied in file `record`. */
  | { op: 'nat.apply'; netns: string; record: string; nat: NatTable }
  /** Replaces the router's FWaaS table and records what was applied in file `record`. */
  | {
      op: 'fwaas.apply';
      netns: string;
      record: string;
      table: FwaasTable;
      /** Connections of the rules that changed, deleted once the new table is in place. */
      flush: ConnectionFilter[];
    }
  /**
   * Changes a recorded table (metering, port mirroring, instance ports' firewall groups) by one
   * transaction, records it, then deletes the connections `flush` names (in the root namespace).
   */
  | { op: 'table.apply'; netns?: string; table: RecordedTable; flush?: ConnectionFilter[] }
  /** Deletes the connections of a floating IP that no longer maps where it did. */
  | { op: 'conntrack.flush'; netns: string; ip: string }
  /** Announces a floating IP's new home (gratuitous ARP). */
  | { op: 'arp.announce'; netns: string; dev: string; ip: string }
  /** Removes a router namespace's record before the namespace changes. */
  | { op: 'router.forget'; netns: string; path: string }
  /** Records what a router namespace holds, once everything that changed it succeeded. */
  | { op: 'router.record'; netns: string; path: string; record: NamespaceRecord }
  | { op: 'file.write'; path: string; file: FileState }
  | { op: 'file.remove'; path: string }
  | { op: 'dir.remove'; path: string; netns: string }
  | { op: 'dnsmasq.start'; network: string; server: DhcpServer }
  | { op: 'dnsmasq.reload'; network: string; pid?: number }
  | { op: 'daemon.start'; daemon: Daemon }
  /** SIGHUP: keepalived or radvd rereads its configuration. */
  | { op: 'daemon.reload'; key: string; pid?: number; command?: string[] }
  | { op: 'dhcp.release'; network: string; netns: string; device: string; mac: string; ip: string }
  | { op: 'udhcpc.start'; key: string; client: DhcpClient }
  /**
   * Changes the security-group tables by one `nft -f` transaction, then records `firewall` (plus
   * the listings of the objects in `list`, nft `list` commands) in `firewall.record`.
   */
  | { op: 'firewall.apply'; transaction: string; list: string[]; firewall: Firewall }
  /** Deletes the connections security groups no longer allow (root namespace). */
  | { op: 'firewall.conntrack'; filters: ConnectionFilter[] }
  /**
   * Takes a device's bandwidth limits from `have` (null: unknown, cleared first) to `shaper.spec`
   * in place, then records them in `shaper.record`.
   */
  | { op: 'qos.apply'; shaper: Shaper; have: ShaperSpec | null }
  /** Removes a device's limits and IFB device (whatever is still there), then their record. */
  | { op: 'qos.remove'; shaper: Shaper }
  /**
   * Changes Open vSwitch (the openvswitch driver): one `ovs-vsctl` transaction of `commands`, then
   * each bridge's rules replaced by one `ovs-ofctl --bundle` and recorded by their hash and count.
   */
  /**
   * Moves the tunnel endpoint address(es) from the tunnel interface to the underlay bridge's
   * internal port and brings it up (`take`), or back before the bridge goes (with the routes
   * through it, either way).
   */
  | { op: 'ovs.underlay'; take: boolean; underlay: OvsUnderlay }
  /** Turns off a new veth end's transmit checksum offload (and so segmentation offload): `ethtool -K`. */
  | { op: 'link.offload'; netns: string; name: string }
  | {
      op: 'ovs.apply';
      handle: Ovs;
      commands: string[][];
      flows: { bridge: string; flows: string[]; hash: string }[];
    };

export type Op = Action['op'];

/**
 * Stages in execution order. Deletions come first (so a recreated object's name is free), in
 * reverse dependency order; creations follow in dependency order. Links that name another object
 * (`master X`, `netns X`) get a stage of their own because `ip` aborts a whole batch when such a
 * name does not resolve: they run only once what they name was created.
 */
export const STAGES = [
  'stop', // processes: udhcpc, then dnsmasq, keepalived, radvd and haproxy
  'mkdir', // namespace directories, which mark a namespace as ours before it exists; stale records go
  'firewall', // security groups: one nft transaction (before ports are plugged), then conntrack deletions
  'links', // root ip batch: veth/vxlan/vlan/uplink/bridge/namespace deletes, then namespace and bridge adds
  'plug', // root ip batch: vxlan, vlan and veth adds, enslaving
  'switch', // Open vSwitch: tunnel address given back; one ovs-vsctl transaction (bridges, ports on the devices just made), then rules; tunnel address taken; offloads off
  'l2pop', // VXLAN forwarding entries (one bridge batch) and neighbour entries (one ip batch), then their announcements
  'inside', // one ip batch per namespace: link up, addresses, routes
  'router', // in router namespaces: forwarding, the NAT table, then conntrack flushes and ARP
  'qos', // tc: bandwidth limits removed, then changed or added (devices exist by now)
  'files', // dnsmasq configuration, the udhcpc script; removals; router records
  'dhcp', // dnsmasq start / SIGHUP / dhcp_release; keepalived, radvd and haproxy start, keepalived and radvd SIGHUP
  'clients', // udhcpc start
] as const;

export type Stage = (typeof STAGES)[number];

/** Where `action` runs and its position in the stage (the diff's sort key). */
export function rankOf(action: Action): { stage: Stage; order: number } {
  switch (action.op) {
    case 'udhcpc.stop':
      return { stage: 'stop', order: 0 };
    case 'dnsmasq.stop':
    case 'daemon.stop':
      return { stage: 'stop', order: 1 };
    case 'dir.create':
      return { stage: 'mkdir', order: 0 };
    case 'router.forget':
      return { stage: 'mkdir', order: 1 };
    case 'firewall.apply':
      return { stage: 'firewall', order: 0 };
    case 'firewall.conntrack':
      return { stage: 'firewall', order: 1 };
    case 'veth.del':
      return { stage: 'links', order: 0 };
    case 'vxlan.del':
    case 'vlan.del':
      return { stage: 'links', order: 1 };
    case 'link.master':
      return action.master === null ? { stage: 'links', order: 2 } : { stage: 'plug', order: 2 };
    case 'bridge.del':
      return { stage: 'links', order: 3 };
    case 'netns.del':
      return { stage: 'links', order: 4 };
    case 'netns.add':
      return { stage: 'links', order: 5 };
    case 'bridge.add':
      return { stage: 'links', order: 6 };
    case 'link.set':
      return { stage: 'links', order: 7 };
    case 'vxlan.add':
    case 'vlan.add':
      return { stage: 'plug', order: 0 };
    case 'veth.add':
      return { stage: 'plug', order: 1 };
    case 'fdb.del':
      return { stage: 'l2pop', order: 0 };
    case 'neigh.del':
      return { stage: 'l2pop', order: 1 };
    case 'fdb.add':
      return { stage: 'l2pop', order: 2 };
    case 'neigh.replace':
      return { stage: 'l2pop', order: 3 };
    case 'neigh.announce':
      return { stage: 'l2pop', order: 4 };
    case 'nslink.set':
      return { stage: 'inside', order: 0 };
    case 'addr.del':
      // A floating IP leaves its gateway only after the NAT table no longer maps it and its
      // conntrack entries are gone: once the address is off, its flows are cut too.
      return isFloatingIpAddress(action) ? { stage: 'router', order: 3 } : { stage: 'inside', order: 1 };
    case 'addr.add':
      return { stage: 'inside', order: 2 };
    case 'route.del':
      return { stage: 'inside', order: 3 };
    case 'route.replace':
      return { stage: 'inside', order: 4 };
    case 'sysctl.set':
      return { stage: 'router', order: 0 };
    case 'nat.apply':
    case 'fwaas.apply':
      return { stage: 'router', order: 1 };
    case 'conntrack.flush':
      return { stage: 'router', order: 2 };
    case 'table.apply':
      // Port mirroring hooks devices: in the root namespace, after they are plugged.
      return action.netns === undefined ? { stage: 'qos', order: 2 } : { stage: 'router', order: 1 };
    case 'arp.announce':
      return { stage: 'router', order: 4 };
    case 'file.write':
      return { stage: 'files', order: 0 };
    case 'file.remove':
      return { stage: 'files', order: 1 };
    case 'dir.remove':
      return { stage: 'files', order: 2 };
    case 'router.record':
      return { stage: 'files', order: 3 };
    case 'dnsmasq.start':
      return { stage: 'dhcp', order: 0 };
    case 'dnsmasq.reload':
      return { stage: 'dhcp', order: 1 };
    case 'dhcp.release':
      return { stage: 'dhcp', order: 2 };
    case 'daemon.start':
      return { stage: 'dhcp', order: 3 };
    case 'daemon.reload':
      return { stage: 'dhcp', order: 4 };
    case 'udhcpc.start':
      return { stage: 'clients', order: 0 };
    case 'qos.remove':
      return { stage: 'qos', order: 0 };
    case 'qos.apply':
      return { stage: 'qos', order: 1 };
    case 'ovs.underlay':
      return { stage: 'switch', order: action.take ? 2 : 0 };
    case 'ovs.apply':
      return { stage: 'switch', order: 1 };
    case 'link.offload':
      return { stage: 'switch', order: 3 };
  }
}

/** A /32 on a router's gateway device: a floating IP. */
export function isFloatingIpAddress(action: { dev: string; cidr: string }): boolean {
  return action.dev.startsWith('qg-') && action.cidr.endsWith('/32');
}

/** Sorts actions by stage, then by their order within it; stable otherwise. */
export function sortActions(actions: Action[]): Action[] {
  const key = (a: Action) => {
    const { stage, order } = rankOf(a);
    return STAGES.indexOf(stage) * 100 + order;
  };
  return actions
    .map((action, i) => ({ action, i, k: key(action) }))
    .sort((a, b) => a.k - b.k || a.i - b.i)
    .map((e) => e.action);
}

/**
 * The namespace whose contents (links, addresses, routes, sysctls, NAT) `action` changes, if it is
 * known from the action alone (a veth deletion names only its host end).
 */
export function namespaceOf(action: Action): string | undefined {
  switch (action.op) {
    case 'netns.add':
      return action.name;
    case 'veth.add':
      return action.veth.peer.netns || undefined;
    case 'nslink.set':
    case 'addr.add':
    case 'addr.del':
    case 'route.replace':
    case 'route.del':
    case 'sysctl.set':
    case 'nat.apply':
    case 'fwaas.apply':
    case 'conntrack.flush':
    case 'arp.announce':
      return action.netns;
    default:
      return undefined;
  }
}

/** A short human name for the object an action is about, for logs and failure reports. */
export function subjectOf(action: Action): string {
  switch (action.op) {
    case 'udhcpc.stop':
    case 'udhcpc.start':
      return `udhcpc ${action.key}`;
    case 'dnsmasq.stop':
    case 'dnsmasq.start':
    case 'dnsmasq.reload':
      return `dnsmasq ${action.network}`;
    case 'daemon.stop':
    case 'daemon.reload':
      return action.key;
    case 'daemon.start':
      return daemonKey(action.daemon);
    case 'dhcp.release':
      return `lease ${action.ip} ${action.mac}`;
    case 'dir.create':
    case 'dir.remove':
    case 'file.write':
    case 'file.remove':
      return action.path;
    case 'nslink.set':
      return `${action.netns}/${action.name}`;
    case 'addr.add':
    case 'addr.del':
      return `${action.netns}/${action.dev} ${action.cidr}`;
    case 'route.replace':
    case 'route.del':
      return `${action.netns} route ${action.route.destination}`;
    case 'sysctl.set':
      return `${action.netns} ${Object.keys(action.values).join(' ')}`;
    case 'nat.apply':
      return `${action.netns} nat`;
    case 'table.apply':
      return `${action.netns ?? 'root'} table ${action.table.family} ${action.table.name}`;
    case 'fwaas.apply':
      return `${action.netns} firewall groups`;
    case 'conntrack.flush':
    case 'arp.announce':
      return `${action.netns} ${action.ip}`;
    case 'router.forget':
    case 'router.record':
      return action.path;
    case 'qos.apply':
    case 'qos.remove':
      return `qos ${shaperKey(action.shaper)}`;
    case 'firewall.apply':
      return `security groups ${action.firewall.table}${action.firewall.skeleton ? '' : ' (removal)'}`;
    case 'ovs.apply':
      return `open vswitch (${action.commands.length} changes, rules of ${action.flows.length} bridges)`;
    case 'ovs.underlay':
      return `tunnel endpoint ${action.underlay.addresses.join(' ')} ${action.take ? 'onto' : 'off'} ${action.underlay.bridge}`;
    case 'link.offload':
      return `${action.netns || 'root'}/${action.name} transmit offload`;
    case 'firewall.conntrack':
      return `security group connections (${action.filters.length} filters)`;
    case 'fdb.add':
    case 'fdb.del':
      return `fdb ${action.entry.dev} ${action.entry.mac} dst ${action.entry.dst}`;
    case 'neigh.replace':
    case 'neigh.del':
    case 'neigh.announce':
      return `neighbour ${action.entry.dev} ${action.entry.ip} ${action.entry.mac}`;
    default:
      return action.name;
  }
}
