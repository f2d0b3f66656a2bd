/**
 * The agent's picture of one host as plain data: the kernel objects, files and processes that
 * Neutrino owns there. `compile` produces the desired one, `observe` the actual one, `diff` turns
 * the pair into actions. Maps are keyed by kernel name (or path); an object absent from a map does
 * not exist, and a process appears only while it is alive.
 *
 * Fields marked "observed only" are facts the kernel reports that diff never compares.
 */
import { createHash } from 'node:crypto';
import { resolve } from 'node:path';
import type { Ovs } from '../../linux/ovs.js';
import type { ShaperSpec } from '../../linux/tc.js';

export interface Namespace {
  kind: 'dhcp' | 'instance' | 'router' | 'lb';
  /**
   * Routes Neutrino keeps in a namespace that is not a router's (a load balancer's default route
   * through its VIP subnet's gateway), `proto static`; absent: none managed. Routers keep theirs
   * in `Router`.
   */
  routes?: Route[];
}

export interface Bridge {
  mtu: number;
  alias: string;
  up: boolean;
  /**
   * Bridged IPv4/IPv6 passes the `inet` hooks (bridge netfilter, for this bridge only): desired
   * true where security groups need it, else undefined (left as it is).
   */
  nfCall?: boolean;
}

export interface Vxlan {
  vni: number;
  dstport: number;
  /** The tunnel endpoint it sends from (`local`); null: unbound (a single host). */
  local: string | null;
  /** The interface holding `local` (`dev`); null when unbound. */
  dev: string | null;
  /** Answers ARP and ND from its neighbour entries (l2population) instead of sending them. */
  proxy: boolean;
  mtu: number;
  master: string | null;
  alias: string;
  up: boolean;
}

/** An 802.1Q device on a mapped host interface (`parent`), carrying one VLAN onto a bridge. */
export interface Vlan {
  vid: number;
  parent: string;
  mtu: number;
  master: string | null;
  alias: string;
  up: boolean;
}

/** The MAC of a VXLAN device's flood entries (broadcast, unknown unicast, multicast). */
export const FLOOD_MAC = '00:00:00:00:00:00';

/**
 * A static forwarding entry of a VXLAN device (`bridge fdb … self permanent`): frames for `mac`
 * go to the tunnel endpoint `dst`; flood entries (`FLOOD_MAC`) send a copy to each of theirs.
 */
export interface FdbEntry {
  dev: string;
  mac: string;
  dst: string;
}

/** A permanent neighbour entry on a VXLAN device, which it answers ARP/ND from (`proxy`). */
export interface Neighbour {
  dev: string;
  ip: string;
  mac: string;
}

export function fdbKey(entry: FdbEntry): string {
  return `${entry.dev} ${entry.mac} ${entry.dst}`;
}

export function neighbourKey(entry: { dev: string; ip: string }): string {
  return `${entry.dev} ${entry.ip}`;
}

/** A host interface of a flat network's provider mapping: never ours, only enslaved to a bridge. */
export interface Uplink {
  master: string | null;
}

export interface VethPeer {
  /**
   * The namespace the peer lives in: '' for the host's own (a pair of host devices, as the
   * openvswitch driver's `qvb`/`qvo`); null when observed in a namespace that has no name.
   */
  netns: string | null;
  /** Unknown (undefined) when observed from the root namespace. */
  name?: string;
  /** As `Veth.txOffload`, for the peer. */
  txOffload?: false;
  mac?: string;
}

/** A veth whose host end (`tap…`) sits on a bridge and whose peer was created in a namespace. */
export interface Veth {
  mtu: number;
  master: string | null;
  alias: string;
  up: boolean;
  peer: VethPeer;
  /** Observed only: the link is up and so is its peer (operstate UP). */
  lowerUp?: boolean;
  /**
   * false: this end computes checksums and segments itself (`ethtool -K tx off`), set once when it
   * is created, for what it sends into a switch that cannot tunnel offloaded packets (Open vSwitch
   * 3.1's userspace datapath). Absent: left as the kernel made it.
   */
  txOffload?: false;
}

/** A link inside a namespace Neutrino configures in detail (the DHCP namespaces). */
export interface NamespaceLink {
  netns: string;
  name: string;
  up: boolean;
  /**
   * `ip/prefix` of the global addresses, sorted; undefined = not managed (loopback, and an HA
   * router's devices, whose addresses keepalived moves).
   */
  addresses?: string[];
  /**
   * Desired: no IPv6 link-local address (`addrgenmode none`), so an HA router's standby sends no
   * frame from the router's MACs; absent = left as it is. Actual: whether addrgenmode is none.
   */
  silent?: boolean;
}

/**
 * A daemon of ours in a namespace, beside dnsmasq: an HA router's keepalived (`linux/keepalived.ts`),
 * a router's IPv6 router advertisements (radvd, `linux/radvd.ts`) or a network's metadata proxy
 * (haproxy, `linux/haproxy.ts`), a load balancer's haproxy (`lb`, `linux/haproxy-lb.ts`) or a
 * router's strongSwan (`charon`, `linux/strongswan.ts`).
 */
export interface Daemon {
  kind: 'keepalived' | 'haproxy' | 'radvd' | 'lb' | 'charon';
  netns: string;
  /**
   * Its configuration file (in `files`): keepalived and radvd reread it on SIGHUP, so does a
   * load balancer's haproxy (master-worker: new workers, the old ones finish their connections);
   * the metadata haproxy is restarted.
   */
  config: string;
  pidFile: string;
  argv: string[];
  /**
   * A daemon that stays in the foreground and is told its configuration by its environment
   * (charon): started by `startDaemons`, which writes its pid file.
   */
  env?: Record<string, string>;
  /**
   * A command that makes it take its configuration (`swanctl --load-all`, a client of its control
   * socket, run in the root namespace) instead of a SIGHUP, and once after it starts.
   */
  reload?: string[];
  /** Observed only. */
  pid?: number;
}

/** Daemons are keyed by kind and namespace. */
export function daemonKey(daemon: Pick<Daemon, 'kind' | 'netns'>): string {
  return `${daemon.kind} ${daemon.netns}`;
}

/** Adds `daemon` to `state` with its configuration file, whose text is `config`. */
export function addDaemon(state: HostState, daemon: Daemon, config: string): void {
  state.files[daemon.config] = { content: config, mode: 0o644 };
  state.daemons[daemonKey(daemon)] = daemon;
}

export type FileState = { content: string; mode: number } | { symlink: string };

/** dnsmasq serving one network from its `qdhcp-` namespace. */
export interface DhcpServer {
  netns: string;
  device: string;
  /** Its configuration directory (see `dnsmasqFiles`). */
  dir: string;
  argv: string[];
  /** Desired: the (mac, ip) pairs it serves. Actual: the leases in its lease file. */
  leases: { mac: string; ip: string }[];
  /** Observed only. */
  pid?: number;
}

/**
 * busybox udhcpc (DHCPv4) or ISC `dhclient -6` (`dhcpv6` set) configuring one interface of an
 * instance namespace.
 */
export interface DhcpClient {
  netns: string;
  device: string;
  argv: string[];
  pidFile: string;
  /** Where the client script records the lease it holds (`ip=…` lines). */
  leaseFile: string;
  /** DHCPv6: `stateful` leases an address, `stateless` asks for options only (`-S`). */
  dhcpv6?: 'stateful' | 'stateless';
  /** dhclient's own lease database (`-lf`), removed with the lease file before a start. */
  leaseDb?: string;
  /** Observed only. */
  pid?: number;
  /** Observed only: the address in the lease file. */
  lease?: string;
  /**
   * Observed only: just started, not yet running its program (see `startDaemons`): its command
   * line is not known yet, and it is taken to be the one it was started with.
   */
  starting?: true;
}

/** A route Neutrino installs in a router namespace (`proto static`, so it can tell its own apart). */
export interface Route {
  /** Canonical CIDR: `0.0.0.0/0`, `10.1.0.0/24`, `2001:db8::/64`. */
  destination: string;
  nexthop: string;
  /** The device it leaves by: the one on the next hop's subnet. */
  dev: string;
}

/**
 * An nftables table changed by one `nft -f` transaction whenever its text changes, recorded in
 * `record` (metering in a router namespace, `l3/metering.ts`; port mirroring and instance ports'
 * firewall groups in the root namespace, `services/taas.ts`, `firewall/firewall-groups.ts`).
 */
export interface RecordedTable {
  family: string;
  name: string;
  /** sha256 of the transaction; '' for no table. Actual: as recorded; 'unknown' when drifted. */
  hash: string;
  /** Desired only: the text of the `nft -f` transaction. */
  transaction?: string;
  /** Desired only: devices the table hooks; one made anew needs the table loaded again. */
  devices?: string[];
  /**
   * What its rules decide, one key per rule (firewall groups: `instanceRuleKeys`); actual: as
   * recorded. The connections of keys that appear or go are deleted once a change is in place.
   */
  rules?: string[];
  record: string;
}

/** A router's nftables table (see `l3/nat.ts`), replaced whole whenever its text changes. */
export interface NatTable {
  /**
   * sha256 of the ruleset. Actual: recorded in the router's directory by the last apply; '' when
   * unknown, or when verification found the table missing or changed since.
   */
  hash: string;
  /** Desired only: the text of the `nft -f` transaction. */
  ruleset?: string;
  /**
   * Floating IP → the fixed IP it maps to, or its port forwardings as text (actual: as of the last
   * apply), for gratuitous ARP and conntrack flushes.
   */
  floatingIps: Record<string, string>;
}

/** A router's FWaaS table (see `l3/fwaas.ts`), replaced whole whenever its text changes. */
export interface FwaasTable {
  /** sha256 of the ruleset. Actual: as the last apply recorded it; '' when unknown or drifted. */
  hash: string;
  /** Desired only: the text of the `nft -f` transaction. */
  ruleset?: string;
  /** What its rules decide (`fwaasRuleKeys`); actual: as the last apply recorded it. */
  rules?: string[];
}

/** What a router namespace holds beyond its links (see `l3/router.ts`). */
export interface Router {
  /** The router's directory in the state dir, which holds the record of its NAT table. */
  dir: string;
  /** Desired only: the gateway device (`qg-…`) where floating IPs live; null without a gateway. */
  gatewayDevice: string | null;
  /** sysctl → value inside the namespace (forwarding); actual: what `ip netconf` reports. */
  sysctls: Record<string, string>;
  /** Sorted by destination. */
  routes: Route[];
  nat: NatTable;
  /** Its metering labels' counters; a router state without one (built by hand) has none. */
  metering?: RecordedTable;
  /** Its firewall groups' table; a router state without one (built by hand) leaves it alone. */
  fwaas?: FwaasTable;
  /** Observed only: whether the namespace's record (see `NamespaceRecord` in l3.ts) exists. */
  recorded?: boolean;
}

export type FirewallFamily = 'bridge' | 'inet';

/** A regular chain of the security-group tables (see `firewall/render.ts`), refilled whole on change. */
export interface FirewallChain {
  family: FirewallFamily;
  name: string;
  /** sha256 of the rules. Actual: as recorded; '' when verification found the chain changed. */
  hash: string;
  /** Desired only. */
  rules?: string[];
}

/** A set or map of the security-group tables, changed element by element. */
export interface FirewallSet {
  family: FirewallFamily;
  kind: 'set' | 'map';
  name: string;
  /** Its declaration, e.g. `type ipv4_addr;`. */
  type: string;
  /** In nft's syntax, sorted; a map's are `key : value`. Actual: as recorded. */
  elements: string[];
  /** Actual only: verification found other elements than recorded (they are rewritten whole). */
  drift?: boolean;
}

/** What deleting a port's connections needs (recorded, so a later run knows what applied). */
export interface FirewallPort {
  /** The conntrack zone of its network. */
  zone: number;
  /** Its fixed IPs and single-address allowed address pairs. */
  addresses: string[];
  groups: string[];
}

/** A security group rule as far as deleting the connections it allowed needs it. */
export interface FirewallRule {
  id: string;
  direction: 'ingress' | 'egress';
  ethertype: 'IPv4' | 'IPv6';
  /** conntrack's protocol name or number; null = any. */
  protocol: string | null;
  /** A CIDR; null = anywhere. */
  remote: string | null;
  /** Remote group; null = none. */
  remoteGroup: string | null;
}

/**
 * The security-group tables of this deployment (`bridge` and `inet` `neutrino-sg-<owner>`), as the
 * objects in them. Keys are `<family> <kind> <name>` (see `objectKey`).
 */
export interface Firewall {
  /** The tables' name (both families); '' when there are none. */
  table: string;
  /** The file recording what the last change applied (see `firewall/observe.ts`). */
  record: string;
  /** sha256 of the tables' fixed part (base chains, declarations); '' = no tables. */
  skeleton: string;
  /** Actual only: the tables may exist but nothing is known of them (an interrupted change). */
  unknown?: boolean;
  chains: Record<string, FirewallChain>;
  sets: Record<string, FirewallSet>;
  /** Named counters (drops by port and reason). */
  counters: Record<string, { family: FirewallFamily; name: string }>;
  /** Port id → its number in packet marks (stable while the port is here). */
  marks: Record<string, number>;
  /** Bridge → conntrack zone (stable while the network is here). */
  zones: Record<string, number>;
  /** Port id → what its connections need. */
  ports: Record<string, FirewallPort>;
  /** Group id → its rules. */
  rules: Record<string, FirewallRule[]>;
  /** Actual only: sha256 of nft's listing of each object right after it was changed. */
  listings?: Record<string, string>;
}

export function emptyFirewall(): Firewall {
  return {
    table: '',
    record: '',
    skeleton: '',
    chains: {},
    sets: {},
    counters: {},
    marks: {},
    zones: {},
    ports: {},
    rules: {},
  };
}

/**
 * Bandwidth limits (QoS) on one device of ours, by tc (`linux/tc.ts`): an HTB tree on what it
 * transmits, and what it receives redirected to the IFB device `ifb` (same namespace) with a tree
 * of its own. Keyed by `shaperKey`.
 */
export interface Shaper {
  /** null: the host's own namespace. */
  netns: string | null;
  dev: string;
  ifb: string;
  /** The IFB device's alias (`linkAlias`), which marks it as ours. */
  alias: string;
  spec: ShaperSpec;
  /** Where the last apply recorded `spec` (what observe reads back). */
  record: string;
  /** Actual only: the qdiscs are not (all) there, or an apply was interrupted: build from nothing. */
  lost?: boolean;
}

export function shaperKey(shaper: Pick<Shaper, 'netns' | 'dev'>): string {
  return `${shaper.netns ?? ''}/${shaper.dev}`;
}

/**
 * An Open vSwitch bridge of ours (the openvswitch driver: `br-int`, `br-<physnet>`), marked by
 * `external_ids:neutrino-owner`.
 */
export interface OvsBridge {
  datapath: 'system' | 'netdev';
  /** Desired only: the MAC its internal port takes at creation (`other_config:hwaddr`); absent: Open vSwitch's pick. */
  mac?: string;
  /** Desired only: its OpenFlow rules in `ovs-ofctl` syntax, each with the cookie `OVS_COOKIE`. */
  flows?: string[];
  /**
   * Actual only: sha256 of the rules as recorded in `external_ids:neutrino-flows` by the last
   * apply; '' when verification counted other rules of ours than recorded (one removed by hand).
   */
  flowsHash?: string;
}

/** A port of ours on an Open vSwitch bridge (its one interface has the port's name). */
export interface OvsPort {
  bridge: string;
  /** The local VLAN tag of an access port; null: a trunk. */
  tag: number | null;
  /** The interface type: '' for a host device (a veth end), `patch` between two bridges. */
  type: string;
  /** The interface's options (a patch port's `peer`). */
  options?: Record<string, string>;
  /** What it carries, in `external_ids` (`neutrino-port`, `neutrino-network`). */
  ids: Record<string, string>;
  /** Observed only: Open vSwitch could not open the device (it was missing when the port was added). */
  error?: string;
}

/** The cookie of every OpenFlow rule Neutrino installs (`NTRN`), which tells ours from others. */
export const OVS_COOKIE = '0x4e54524e';

/**
 * The host's tunnel interface handed to Open vSwitch's userspace datapath, which sends and receives
 * VXLAN only through a bridge of its own: the interface is a port of `bridge`, and the tunnel
 * endpoint address moves from it to the bridge's internal port (and back when the bridge goes).
 */
export interface OvsUnderlay {
  bridge: string;
  /** The tunnel interface; '' when observed with none of ours on the bridge. */
  device: string;
  /** The tunnel endpoint address(es), with prefix length, that the bridge's internal port holds. */
  addresses: string[];
  /**
   * The `netdev` table whose ingress chain drops whatever reaches the kernel on the interface
   * (the switch has read it by then), so the host sees that wire only through the bridge, as a
   * bridge port's traffic.
   */
  fence: string;
  /** Observed only: the bridge's internal port is up. */
  up?: boolean;
  /** Observed only: the fence is in place on the interface. */
  fenced?: boolean;
}

/** What Neutrino owns in Open vSwitch (the openvswitch driver), and the switch that holds it. */
export interface OvsState {
  /** How to reach the switch (`linux/ovs.ts`); null when this host runs no Open vSwitch for us. */
  handle: Ovs | null;
  /** The deployment's owner tag, in the `external_ids:neutrino-owner` of its bridges and ports. */
  owner: string;
  bridges: Record<string, OvsBridge>;
  ports: Record<string, OvsPort>;
  /** The tunnel interface and endpoint on the underlay bridge (userspace datapath with tunnels). */
  underlay?: OvsUnderlay;
}

/** Something the snapshot asks for that this host cannot realise; the object is left out. */
export interface Problem {
  object: string;
  message: string;
}

export interface HostState {
  /** Network namespaces; each is Neutrino's because its directory (below) exists. */
  namespaces: Record<string, Namespace>;
  /** Namespace directories in the state dir: path → the namespace it marks as owned. */
  dirs: Record<string, { netns: string }>;
  bridges: Record<string, Bridge>;
  vxlans: Record<string, Vxlan>;
  /** l2population's forwarding entries on our VXLAN devices, keyed by `fdbKey`. */
  fdb: Record<string, FdbEntry>;
  /** l2population's neighbour entries on our VXLAN devices, keyed by `neighbourKey`. */
  neighbours: Record<string, Neighbour>;
  vlans: Record<string, Vlan>;
  uplinks: Record<string, Uplink>;
  veths: Record<string, Veth>;
  /** Keyed `netns/name`. */
  namespaceLinks: Record<string, NamespaceLink>;
  files: Record<string, FileState>;
  /** Keyed by network id. */
  dhcpServers: Record<string, DhcpServer>;
  /** Keyed `instance id/device`. */
  dhcpClients: Record<string, DhcpClient>;
  /** Keyed by namespace (`qrouter-<id>`). */
  routers: Record<string, Router>;
  /** keepalived, radvd and haproxy, keyed by `daemonKey`. */
  daemons: Record<string, Daemon>;
  /** Security groups and port security (`firewall/security-groups.ts`). */
  firewall: Firewall;
  /** QoS bandwidth limits (`qos/render.ts`), keyed by `shaperKey`. */
  shapers: Record<string, Shaper>;
  /** Port mirroring (`services/taas.ts`); absent: no table. */
  taas?: RecordedTable;
  /** Firewall groups on instance ports (`firewall/firewall-groups.ts`); absent: no table. */
  firewallGroups?: RecordedTable;
  /** Open vSwitch bridges and ports (the openvswitch driver). */
  ovs: OvsState;
  /** Desired only. */
  problems: Problem[];
}

export function emptyHostState(): HostState {
  return {
    namespaces: {},
    dirs: {},
    bridges: {},
    vxlans: {},
    fdb: {},
    neighbours: {},
    vlans: {},
    uplinks: {},
    veths: {},
    namespaceLinks: {},
    files: {},
    dhcpServers: {},
    dhcpClients: {},
    routers: {},
    daemons: {},
    firewall: emptyFirewall(),
    shapers: {},
    ovs: { handle: null, owner: '', bridges: {}, ports: {} },
    problems: [],
  };
}

export function namespaceLinkKey(netns: string, name: string): string {
  return `${netns}/${name}`;
}

/**
 * A short tag naming the deployment that owns a kernel object: several deployments (one per state
 * dir, e.g. parallel test runs) can share a host, and each garbage-collects only its own links.
 */
export function ownerTag(stateDir: string): string {
  return createHash('sha256').update(resolve(stateDir)).digest('hex').slice(0, 8);
}

/** The `ifalias` of a link realising a resource: `neutrino:<kind>:<id>@<owner>`. */
export function linkAlias(kind: 'network' | 'port', id: string, owner: string): string {
  return `neutrino:${kind}:${id}@${owner}`;
}

/** Whether `alias` marks a link as owned by the deployment with tag `owner`. */
export function isOwnedAlias(alias: string | undefined, owner: string): boolean {
  return typeof alias === 'string' && alias.startsWith('neutrino:') && alias.endsWith(`@${owner}`);
}
