/**
 * What an agent needs to know about the model for one host, as plain data: the networks it
 * serves, their subnets, the ports bound to it (instance ports and DHCP ports), its instances and
 * routers, and the security groups of its ports with the members of the groups they refer to.
 * The server assembles it (`POST /neutrino/v1/hosts/{host}/sync`, `core/host-sync/`); the
 * agent's desired-state compiler (`agent/reconcile/compile.ts`) turns it into a `HostState`,
 * checking each object against these schemas before its id or MAC becomes part of a kernel name,
 * a path or an `ip -batch` line. Objects are open (an agent ignores what a newer server adds).
 */
import { type Static, type TSchema, Type } from 'typebox';
import { Nullable } from './common.js';

/** Ids become parts of kernel names, paths and `ip -batch` tokens. */
export const KernelSafeId = Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$' });
export const MacAddress = Type.String({ pattern: '^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$' });
/** A DNS name: dot-separated labels of letters, digits and inner hyphens. */
export const DnsName = Type.String({
  pattern: '^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$',
});
const Id = Type.String();
/** A UUID as Neutron writes it (FWaaS chain names are parsed back into them). */
export const LowerUuid = Type.String({
  pattern: '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$',
});
const Route = Type.Object({ destination: Type.String(), nexthop: Type.String() });
const Optional = <T extends TSchema>(t: T) => Type.Optional(t);

export const Ipv6Mode = Type.Union([
  Type.Literal('slaac'),
  Type.Literal('dhcpv6-stateful'),
  Type.Literal('dhcpv6-stateless'),
]);
export type Ipv6Mode = Static<typeof Ipv6Mode>;

export const SnapshotNetwork = Type.Object({
  id: KernelSafeId,
  project_id: Type.String(),
  admin_state_up: Type.Boolean(),
  mtu: Type.Integer({ minimum: 68, maximum: 65535 }),
  network_type: Type.Union([
    Type.Literal('local'),
    Type.Literal('flat'),
    Type.Literal('vxlan'),
    Type.Literal('vlan'),
  ]),
  physical_network: Nullable(Type.String()),
  segmentation_id: Nullable(Type.Integer()),
});
export type SnapshotNetwork = Static<typeof SnapshotNetwork>;

export const SnapshotSubnet = Type.Object({
  id: Id,
  network_id: Id,
  ip_version: Type.Union([Type.Literal(4), Type.Literal(6)]),
  cidr: Type.String(),
  gateway_ip: Nullable(Type.String()),
  enable_dhcp: Type.Boolean(),
  dns_nameservers: Type.Array(Type.String()),
  host_routes: Type.Array(Route),
  /**
   * IPv6 only: who advertises the subnet (a Neutron router's radvd when set) and how instances get
   * addresses (`slaac`, `dhcpv6-stateful`, `dhcpv6-stateless`); null or absent = not set.
   */
  ipv6_ra_mode: Optional(Nullable(Ipv6Mode)),
  ipv6_address_mode: Optional(Nullable(Ipv6Mode)),
});
export type SnapshotSubnet = Static<typeof SnapshotSubnet>;

/**
 * What a QoS policy asks of the data plane. Directions are Neutron's, seen from the instance (or,
 * for a floating IP or router gateway, from inside the cloud): `egress` is what it sends,
 * `ingress` what it receives. Minimum-bandwidth rules cannot be enforced here and are not sent.
 */
export const SnapshotQos = Type.Object({
  /** The policy it comes from. */
  policy_id: Id,
  /** At most one per direction. */
  bandwidth_limits: Type.Array(
    Type.Object({
      direction: Type.Union([Type.Literal('egress'), Type.Literal('ingress')]),
      max_kbps: Type.Integer(),
      max_burst_kbps: Type.Integer(),
    }),
  ),
  /** The DSCP value set on what the port sends (ports only); null = none. */
  dscp_mark: Nullable(Type.Integer()),
});
export type SnapshotQos = Static<typeof SnapshotQos>;

export const SnapshotPort = Type.Object({
  id: KernelSafeId,
  network_id: Id,
  mac_address: MacAddress,
  fixed_ips: Type.Array(Type.Object({ subnet_id: Id, ip_address: Type.String() })),
  device_owner: Type.String(),
  device_id: Type.String(),
  admin_state_up: Type.Boolean(),
  /** `dns_name` or '' (the DHCP hostname becomes `host-<ip>` then, as in Neutron). */
  dns_name: Type.Union([Type.Literal(''), DnsName]),
  extra_dhcp_opts: Type.Array(
    Type.Object({ opt_name: Type.String(), opt_value: Type.String(), ip_version: Optional(Type.Integer()) }),
  ),
  /** `binding:host_id`: the host that realises the port ('' when unbound). */
  binding_host_id: Optional(Type.String()),
  /** Security groups and anti-spoofing apply (absent: an older server; treated as off). */
  port_security_enabled: Optional(Type.Boolean()),
  /** Security group ids; their rules are in `Snapshot.security_groups`. */
  security_groups: Optional(Type.Array(Id)),
  /** More (MAC, IP or CIDR) pairs the port may send from (Neutron's allowed_address_pairs). */
  allowed_address_pairs: Optional(
    Type.Array(
      Type.Object({ ip_address: Type.String(), mac_address: Type.Union([Type.Literal(''), MacAddress]) }),
    ),
  ),
  /**
   * The port's effective QoS: its own policy's rules, else (for a compute port) its network's;
   * null or absent = none.
   */
  qos: Optional(Nullable(SnapshotQos)),
});
export type SnapshotPort = Static<typeof SnapshotPort>;

/** A security group rule as the data plane needs it (Neutron's attributes, normalised). */
export const SnapshotSecurityGroupRule = Type.Object({
  id: KernelSafeId,
  direction: Type.Union([Type.Literal('ingress'), Type.Literal('egress')]),
  ethertype: Type.Union([Type.Literal('IPv4'), Type.Literal('IPv6')]),
  /** A protocol name or number (`tcp`, `icmp`, `ipv6-icmp`, `132`…); null = any. */
  protocol: Nullable(Type.String()),
  /** Ports for port protocols; ICMP type (min) and code (max) for ICMP. */
  port_range_min: Nullable(Type.Integer()),
  port_range_max: Nullable(Type.Integer()),
  /** The remote CIDR (host bits cleared); null = anywhere. */
  remote_ip_prefix: Nullable(Type.String()),
  /** The group whose members' addresses are the remote end; null = none. */
  remote_group_id: Nullable(KernelSafeId),
  /** The address group whose CIDRs are the remote end (`Snapshot.address_groups`); null = none. */
  remote_address_group_id: Optional(Nullable(KernelSafeId)),
});
export type SnapshotSecurityGroupRule = Static<typeof SnapshotSecurityGroupRule>;

export const SnapshotSecurityGroup = Type.Object({
  id: KernelSafeId,
  /** false: rules apply to every packet both ways, no connection tracking. */
  stateful: Type.Boolean(),
  rules: Type.Array(SnapshotSecurityGroupRule),
});
export type SnapshotSecurityGroup = Static<typeof SnapshotSecurityGroup>;

export const SnapshotInstance = Type.Object({
  id: KernelSafeId,
  name: Type.String(),
  /** Port ids in interface order: the first becomes eth0. */
  ports: Type.Array(Id),
});
export type SnapshotInstance = Static<typeof SnapshotInstance>;

/** One router port: an internal interface (`qr-`) or the external gateway (`qg-`). */
const routerPortProperties = {
  port_id: KernelSafeId,
  network_id: Id,
  mac_address: MacAddress,
  /**
   * Addresses with their subnet's prefix length, e.g. `10.0.0.1/24`, and the address scope of the
   * subnet's pool when it has one (traffic within a scope is routed without NAT).
   */
  addresses: Type.Array(
    Type.Object({
      subnet_id: Id,
      ip_address: Type.String(),
      prefixlen: Type.Integer(),
      address_scope_id: Optional(Id),
      /** IPv6: the subnet's `ipv6_ra_mode` (the router advertises the subnet when set). */
      ipv6_ra_mode: Optional(Nullable(Ipv6Mode)),
      /** IPv6: the subnet's `dns_nameservers`, advertised as RDNSS on SLAAC subnets. */
      dns_nameservers: Optional(Type.Array(Type.String())),
    }),
  ),
};
export const SnapshotRouterPort = Type.Object(routerPortProperties);
export type SnapshotRouterPort = Static<typeof SnapshotRouterPort>;

/** One forwarding: `protocol` to the external ports, DNATed to the internal address and ports. */
export const SnapshotPortForwarding = Type.Object({
  protocol: Type.String(),
  internal_ip_address: Type.String(),
  /** First and last port; equal for one port. */
  internal_port_start: Type.Integer(),
  internal_port_end: Type.Integer(),
  external_port_start: Type.Integer(),
  external_port_end: Type.Integer(),
});
export type SnapshotPortForwarding = Static<typeof SnapshotPortForwarding>;

export const SnapshotFloatingIp = Type.Object({
  id: Id,
  floating_ip_address: Type.String(),
  /** The instance port's address it maps to; null while unassociated (no NAT then). */
  fixed_ip_address: Nullable(Type.String()),
  port_id: Nullable(Id),
  /** What an unassociated floating IP forwards (floating-ip-port-forwarding); none when absent. */
  port_forwardings: Optional(Type.Array(SnapshotPortForwarding)),
  /** The floating IP's QoS policy (qos-fip): its bandwidth limits; null or absent = none. */
  qos: Optional(Nullable(SnapshotQos)),
});
export type SnapshotFloatingIp = Static<typeof SnapshotFloatingIp>;

export const SnapshotFirewallRule = Type.Object({
  id: LowerUuid,
  /** A protocol name (tcp, udp, icmp, ipv6-icmp, sctp, dccp) or null for any. */
  protocol: Nullable(Type.String()),
  ip_version: Type.Union([Type.Literal(4), Type.Literal(6)]),
  source_ip_address: Nullable(Type.String()),
  destination_ip_address: Nullable(Type.String()),
  /** `N` or `N:M` (tcp and udp only). */
  source_port: Nullable(Type.String()),
  destination_port: Nullable(Type.String()),
  action: Type.Union([Type.Literal('allow'), Type.Literal('deny'), Type.Literal('reject')]),
});
export type SnapshotFirewallRule = Static<typeof SnapshotFirewallRule>;

/**
 * A router interface in a firewall group (FWaaS v2): its policies' enabled rules, resolved in
 * order by the server. Directions are the port's network's, as neutron-fwaas's L3 driver has
 * them: `ingress` is what the router sends into the network, `egress` what it receives from it.
 * A direction without a policy has no rules (its new connections are dropped, as neutron-fwaas
 * drops them once the group has a policy).
 */
export const SnapshotPortFirewall = Type.Object({
  port_id: LowerUuid,
  firewall_group_id: Id,
  /** False: the group is administratively down and the port passes nothing. */
  admin_state_up: Type.Boolean(),
  ingress: Type.Array(SnapshotFirewallRule),
  egress: Type.Array(SnapshotFirewallRule),
});
export type SnapshotPortFirewall = Static<typeof SnapshotPortFirewall>;

/** A metering label on a router: its rules in creation order (`core/metering.ts`). */
export const SnapshotMeteringLabel = Type.Object({
  id: Type.String({ pattern: '^[0-9a-f-]{1,64}$' }),
  rules: Type.Array(
    Type.Object({
      id: Id,
      /** At the gateway device: `ingress` enters the router from it, `egress` leaves through it. */
      direction: Type.Union([Type.Literal('ingress'), Type.Literal('egress')]),
      excluded: Type.Boolean(),
      remote_ip_prefix: Nullable(Type.String()),
      source_ip_prefix: Nullable(Type.String()),
      destination_ip_prefix: Nullable(Type.String()),
    }),
  ),
});
export type SnapshotMeteringLabel = Static<typeof SnapshotMeteringLabel>;

/**
 * An HA router lives on several hosts; keepalived in each one's namespace elects the master by
 * VRRP over the project's HA network, and only the master holds the router's addresses and routes.
 */
export const SnapshotRouterHa = Type.Object({
  /** The VRRP id, unique on the HA network. */
  vrid: Type.Integer(),
  /** Seconds between VRRP advertisements. */
  advert_int: Type.Integer(),
  /** This host's port on the HA network (`ha-<port>`); null while it has none (no VRRP yet). */
  port: Nullable(SnapshotRouterPort),
});
export type SnapshotRouterHa = Static<typeof SnapshotRouterHa>;

/** One IPsec site connection, its policies and endpoints resolved by the server. */
export const SnapshotVpnConnection = Type.Object({
  id: KernelSafeId,
  vpnservice_id: Id,
  /** The connection's and its service's administrative state together. */
  admin_state_up: Type.Boolean(),
  peer_address: Type.String(),
  peer_id: Type.String(),
  /** Empty: the router's gateway address. */
  local_id: Type.String(),
  psk: Type.String(),
  mtu: Type.Integer(),
  initiator: Type.Union([Type.Literal('bi-directional'), Type.Literal('response-only')]),
  dpd: Type.Object({ action: Type.String(), interval: Type.Integer(), timeout: Type.Integer() }),
  local_cidrs: Type.Array(Type.String()),
  peer_cidrs: Type.Array(Type.String()),
  ike: Type.Object({
    version: Type.Union([Type.Literal(1), Type.Literal(2)]),
    auth_algorithm: Type.String(),
    encryption_algorithm: Type.String(),
    pfs: Type.String(),
    /** Seconds. */
    lifetime: Type.Integer(),
    aggressive: Type.Boolean(),
  }),
  ipsec: Type.Object({
    transform_protocol: Type.Union([Type.Literal('esp'), Type.Literal('ah')]),
    auth_algorithm: Type.String(),
    encryption_algorithm: Type.String(),
    encapsulation_mode: Type.Union([Type.Literal('tunnel'), Type.Literal('transport')]),
    pfs: Type.String(),
    lifetime: Type.Integer(),
  }),
});
export type SnapshotVpnConnection = Static<typeof SnapshotVpnConnection>;

/** A router's VPN: its services (whose status the agent reports) and their connections. */
export const SnapshotVpn = Type.Object({
  services: Type.Array(Type.Object({ id: Id, admin_state_up: Type.Boolean() })),
  connections: Type.Array(SnapshotVpnConnection),
});
export type SnapshotVpn = Static<typeof SnapshotVpn>;

/**
 * A router scheduled to this host: a `qrouter-<id>` namespace with forwarding on, its
 * interfaces holding each attached subnet's gateway address, and NAT towards the gateway.
 */
export const SnapshotRouter = Type.Object({
  id: KernelSafeId,
  project_id: Type.String(),
  admin_state_up: Type.Boolean(),
  /** The gateway port on the external network, or null when the router has none. */
  gateway: Nullable(
    Type.Object({
      ...routerPortProperties,
      enable_snat: Type.Boolean(),
      external_gateway_ips: Type.Array(Type.String()),
      /** `external_gateway_info.qos_policy_id`'s limits (qos-gateway-ip), on the gateway's addresses. */
      qos: Optional(Nullable(SnapshotQos)),
    }),
  ),
  interfaces: Type.Array(SnapshotRouterPort),
  routes: Type.Array(Route),
  floating_ips: Type.Array(SnapshotFloatingIp),
  /** An HA router's VRRP (see `SnapshotRouterHa`); null for a router on one host. */
  ha: Optional(Nullable(SnapshotRouterHa)),
  /** Metering labels counting at this router's gateway (its project's and the shared ones). */
  metering: Optional(Type.Array(SnapshotMeteringLabel)),
  /** FWaaS: the interfaces in a firewall group with a policy (`core/fwaas.ts`), by port id. */
  firewall_groups: Optional(Type.Array(SnapshotPortFirewall)),
  /** VPNaaS: the router's VPN services and IPsec site connections (`core/vpnaas.ts`). */
  vpn: Optional(SnapshotVpn),
});
export type SnapshotRouter = Static<typeof SnapshotRouter>;

/**
 * A tap flow whose source port is on this host (Tap-as-a-Service): copies of the source port's
 * traffic go to the monitoring port, on this host too. `direction` is seen from the source's
 * instance: `IN` what it receives, `OUT` what it sends.
 */
export const SnapshotTapFlow = Type.Object({
  id: Id,
  source_port: Id,
  monitor_port: Id,
  direction: Type.Union([Type.Literal('IN'), Type.Literal('OUT'), Type.Literal('BOTH')]),
});
export type SnapshotTapFlow = Static<typeof SnapshotTapFlow>;

/** A port bound to another host, as l2population needs it: its MAC and the addresses behind it. */
export const SnapshotRemotePort = Type.Object({
  mac_address: MacAddress,
  /** Its fixed IPs and single-address allowed address pairs with this MAC. */
  ip_addresses: Type.Array(Type.String()),
});
export type SnapshotRemotePort = Static<typeof SnapshotRemotePort>;

/**
 * Another host with ports on one of this host's vxlan networks (Neutron's l2population): its tunnel
 * endpoint and those ports, so this host floods only towards hosts that need the traffic and knows
 * every remote MAC and address without asking the underlay.
 */
export const SnapshotTunnelPeer = Type.Object({
  host: Type.String(),
  /** The peer agent's `configurations.tunneling_ip`. */
  tunnel_ip: Type.String(),
  ports: Type.Array(SnapshotRemotePort),
});
export type SnapshotTunnelPeer = Static<typeof SnapshotTunnelPeer>;

export const SnapshotLbListener = Type.Object({
  id: Id,
  protocol: Type.String(),
  protocol_port: Type.Integer(),
  admin_state_up: Type.Boolean(),
  /** -1: unlimited. */
  connection_limit: Type.Integer(),
  default_pool_id: Nullable(Id),
  /** Milliseconds. */
  timeout_client_data: Type.Integer(),
  timeout_member_connect: Type.Integer(),
  timeout_member_data: Type.Integer(),
  timeout_tcp_inspect: Type.Integer(),
  insert_headers: Type.Record(Type.String(), Type.String()),
  /** Ordered by position. */
  l7policies: Type.Array(
    Type.Object({
      id: Id,
      action: Type.String(),
      admin_state_up: Type.Boolean(),
      redirect_pool_id: Nullable(Id),
      redirect_url: Nullable(Type.String()),
      redirect_http_code: Nullable(Type.Integer()),
      rules: Type.Array(
        Type.Object({
          id: Id,
          type: Type.String(),
          compare_type: Type.String(),
          key: Nullable(Type.String()),
          value: Type.String(),
          invert: Type.Boolean(),
          admin_state_up: Type.Boolean(),
        }),
      ),
    }),
  ),
});
export type SnapshotLbListener = Static<typeof SnapshotLbListener>;
export type SnapshotLbL7Policy = SnapshotLbListener['l7policies'][number];

export const SnapshotLbPool = Type.Object({
  id: Id,
  protocol: Type.String(),
  lb_algorithm: Type.String(),
  admin_state_up: Type.Boolean(),
  session_persistence: Nullable(Type.Object({ type: Type.String(), cookie_name: Nullable(Type.String()) })),
  monitor: Nullable(
    Type.Object({
      type: Type.String(),
      /** Seconds. */
      delay: Type.Integer(),
      timeout: Type.Integer(),
      max_retries: Type.Integer(),
      max_retries_down: Type.Integer(),
      http_method: Nullable(Type.String()),
      url_path: Nullable(Type.String()),
      expected_codes: Nullable(Type.String()),
      admin_state_up: Type.Boolean(),
    }),
  ),
  members: Type.Array(
    Type.Object({
      id: Id,
      address: Type.String(),
      protocol_port: Type.Integer(),
      weight: Type.Integer(),
      backup: Type.Boolean(),
      admin_state_up: Type.Boolean(),
      monitor_address: Nullable(Type.String()),
      monitor_port: Nullable(Type.Integer()),
    }),
  ),
});
export type SnapshotLbPool = Static<typeof SnapshotLbPool>;

/**
 * A load balancer this host runs (Octavia's, see `core/load-balancers.ts`): a `qlbaas-<id>`
 * namespace holding the VIP port, and an haproxy serving its listeners from its pools.
 */
export const SnapshotLoadBalancer = Type.Object({
  id: KernelSafeId,
  admin_state_up: Type.Boolean(),
  vip: Type.Object({
    port_id: KernelSafeId,
    network_id: Id,
    mac_address: MacAddress,
    ip_address: Type.String(),
    prefixlen: Type.Integer(),
    /** The VIP subnet's gateway, through which members on routed subnets are reached; null: none. */
    gateway_ip: Nullable(Type.String()),
  }),
  listeners: Type.Array(SnapshotLbListener),
  pools: Type.Array(SnapshotLbPool),
});
export type SnapshotLoadBalancer = Static<typeof SnapshotLoadBalancer>;

export const SnapshotNetworkLog = Type.Object({
  id: KernelSafeId,
  project_id: Type.String(),
  resource_type: Type.Union([Type.Literal('security_group'), Type.Literal('firewall_group')]),
  /** The one group whose accepts are logged; null: every group of the port. */
  resource_id: Nullable(Id),
  event: Type.Union([Type.Literal('ALL'), Type.Literal('ACCEPT'), Type.Literal('DROP')]),
  /** Filtered ports here (security groups) or router interfaces here (firewall groups), sorted. */
  ports: Type.Array(Id),
});
export type SnapshotNetworkLog = Static<typeof SnapshotNetworkLog>;

/**
 * Network logging on one host: the enabled logs that cover ports here, and how many records per
 * second (and in a burst) each port may write (Neutron's `rate_limit` and `burst_limit`).
 */
export const SnapshotNetworkLogging = Type.Object({
  rate_limit: Type.Integer(),
  burst_limit: Type.Integer(),
  logs: Type.Array(SnapshotNetworkLog),
});
export type SnapshotNetworkLogging = Static<typeof SnapshotNetworkLogging>;

export const Snapshot = Type.Object({
  host: Type.String(),
  /** The store revision this snapshot reflects. */
  revision: Type.Integer(),
  dnsDomain: Type.String(),
  networks: Type.Array(SnapshotNetwork),
  subnets: Type.Array(SnapshotSubnet),
  ports: Type.Array(SnapshotPort),
  instances: Type.Array(SnapshotInstance),
  /** Routers scheduled to this host (L3); their networks are in `networks` too. */
  routers: Type.Array(SnapshotRouter),
  /** physnet → host interface or bridge, for flat networks. */
  physicalInterfaceMappings: Type.Record(Type.String(), Type.String()),
  /** The groups of this host's ports and every group their rules name as a remote group. */
  security_groups: Optional(Type.Array(SnapshotSecurityGroup)),
  /**
   * For every group named as a remote group by a rule in `security_groups`: the addresses of all
   * its ports on any host (fixed IPs and allowed address pairs that are single addresses), which
   * remote-group rules match.
   */
  security_group_members: Optional(Type.Record(Type.String(), Type.Array(Type.String()))),
  /** The CIDRs of every address group a rule here names (`network/prefix`). */
  address_groups: Optional(Type.Record(Type.String(), Type.Array(Type.String()))),
  /**
   * vxlan network id → the other hosts with ports on it (sorted by host), each with a tunnel
   * endpoint; absent from an older server. Only hosts whose agent reports a `tunneling_ip` appear.
   */
  l2population: Optional(Type.Record(Type.String(), Type.Array(SnapshotTunnelPeer))),
  /** Networks of `networks` whose DHCP another host serves (its instances here still ask for leases). */
  dhcp_elsewhere: Optional(Type.Array(Id)),
  /** Load balancers this host runs; absent from an older server. */
  load_balancers: Optional(Type.Array(SnapshotLoadBalancer)),
  /** Tap flows mirroring ports of this host to a monitoring port here; absent from an older server. */
  tap_flows: Optional(Type.Array(SnapshotTapFlow)),
  /**
   * FWaaS on instance ports bound here: the ports in a firewall group with a policy
   * (`core/fwaas.ts`), by port id; ingress is what the instance receives. Absent when none.
   */
  firewall_groups: Optional(Type.Array(SnapshotPortFirewall)),
  /** What this host logs (`core/network-logs.ts`); absent when nothing. */
  network_logging: Optional(SnapshotNetworkLogging),
});
export type Snapshot = Static<typeof Snapshot>;
