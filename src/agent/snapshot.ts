/**
 * What an agent needs to know about the model for one host, as plain data: the networks it
 * serves, their subnets, the ports bound to it (instance ports and DHCP ports), its instances and
 * routers, and the security groups of its ports with the members of the groups they refer to.
 * The server assembles it (`POST /neutrino/v1/hosts/{host}/sync`); the agent's desired-state
 * compiler turns it into a `HostState`.
 */

export interface SnapshotNetwork {
  id: string;
  project_id: string;
  admin_state_up: boolean;
  mtu: number;
  network_type: 'local' | 'flat' | 'vxlan' | 'vlan';
  physical_network: string | null;
  segmentation_id: number | null;
}

export interface SnapshotSubnet {
  id: string;
  network_id: string;
  ip_version: 4 | 6;
  cidr: string;
  gateway_ip: string | null;
  enable_dhcp: boolean;
  dns_nameservers: string[];
  host_routes: { destination: string; nexthop: string }[];
  /**
   * IPv6 only: who advertises the subnet (a Neutron router's radvd when set) and how instances get
   * addresses (`slaac`, `dhcpv6-stateful`, `dhcpv6-stateless`); null or absent = not set.
   */
  ipv6_ra_mode?: Ipv6Mode | null;
  ipv6_address_mode?: Ipv6Mode | null;
}

export type Ipv6Mode = 'slaac' | 'dhcpv6-stateful' | 'dhcpv6-stateless';

export interface SnapshotPort {
  id: string;
  network_id: string;
  mac_address: string;
  fixed_ips: { subnet_id: string; ip_address: string }[];
  device_owner: string;
  device_id: string;
  admin_state_up: boolean;
  /** `dns_name` or '' (the DHCP hostname becomes `host-<ip>` then, as in Neutron). */
  dns_name: string;
  extra_dhcp_opts: { opt_name: string; opt_value: string; ip_version?: number }[];
  /** `binding:host_id`: the host that realises the port ('' when unbound). */
  binding_host_id?: string;
  /** Security groups and anti-spoofing apply (absent: an older server; treated as off). */
  port_security_enabled?: boolean;
  /** Security group ids; their rules are in `Snapshot.security_groups`. */
  security_groups?: string[];
  /** More (MAC, IP or CIDR) pairs the port may send from (Neutron's allowed_address_pairs). */
  allowed_address_pairs?: { ip_address: string; mac_address: string }[];
  /**
   * The port's effective QoS: its own policy's rules, else (for a compute port) its network's;
   * null or absent = none.
   */
  qos?: SnapshotQos | null;
}

/**
 * What a QoS policy asks of the data plane. Directions are Neutron's, seen from the instance (or,
 * for a floating IP or router gateway, from inside the cloud): `egress` is what it sends,
 * `ingress` what it receives. Minimum-bandwidth rules cannot be enforced here and are not sent.
 */
export interface SnapshotQos {
  /** The policy it comes from. */
  policy_id: string;
  /** At most one per direction. */
  bandwidth_limits: { direction: 'egress' | 'ingress'; max_kbps: number; max_burst_kbps: number }[];
  /** The DSCP value set on what the port sends (ports only); null = none. */
  dscp_mark: number | null;
}

/** A security group rule as the data plane needs it (Neutron's attributes, normalised). */
export interface SnapshotSecurityGroupRule {
  id: string;
  direction: 'ingress' | 'egress';
  ethertype: 'IPv4' | 'IPv6';
  /** A protocol name or number (`tcp`, `icmp`, `ipv6-icmp`, `132`…); null = any. */
  protocol: string | null;
  /** Ports for port protocols; ICMP type (min) and code (max) for ICMP. */
  port_range_min: number | null;
  port_range_max: number | null;
  /** The remote CIDR (host bits cleared); null = anywhere. */
  remote_ip_prefix: string | null;
  /** The group whose members' addresses are the remote end; null = none. */
  remote_group_id: string | null;
  /** The address group whose CIDRs are the remote end (`Snapshot.address_groups`); null = none. */
  remote_address_group_id?: string | null;
}

export interface SnapshotSecurityGroup {
  id: string;
  /** false: rules apply to every packet both ways, no connection tracking. */
  stateful: boolean;
  rules: SnapshotSecurityGroupRule[];
}

export interface SnapshotInstance {
  id: string;
  name: string;
  /** Port ids in interface order: the first becomes eth0. */
  ports: string[];
}

/** One router port: an internal interface (`qr-`) or the external gateway (`qg-`). */
export interface SnapshotRouterPort {
  port_id: string;
  network_id: string;
  mac_address: string;
  /**
   * Addresses with their subnet's prefix length, e.g. `10.0.0.1/24`, and the address scope of the
   * subnet's pool when it has one (traffic within a scope is routed without NAT).
   */
  addresses: {
    subnet_id: string;
    ip_address: string;
    prefixlen: number;
    address_scope_id?: string;
    /** IPv6: the subnet's `ipv6_ra_mode` (the router advertises the subnet when set). */
    ipv6_ra_mode?: Ipv6Mode | null;
    /** IPv6: the subnet's `dns_nameservers`, advertised as RDNSS on SLAAC subnets. */
    dns_nameservers?: string[];
  }[];
}

export interface SnapshotFloatingIp {
  id: string;
  floating_ip_address: string;
  /** The instance port's address it maps to; null while unassociated (no NAT then). */
  fixed_ip_address: string | null;
  port_id: string | null;
  /** What an unassociated floating IP forwards (floating-ip-port-forwarding); none when absent. */
  port_forwardings?: SnapshotPortForwarding[];
  /** The floating IP's QoS policy (qos-fip): its bandwidth limits; null or absent = none. */
  qos?: SnapshotQos | null;
}

/** One forwarding: `protocol` to the external ports, DNATed to the internal address and ports. */
export interface SnapshotPortForwarding {
  protocol: string;
  internal_ip_address: string;
  /** First and last port; equal for one port. */
  internal_port_start: number;
  internal_port_end: number;
  external_port_start: number;
  external_port_end: number;
}

/**
 * A router scheduled to this host: a `qrouter-<id>` namespace with forwarding on, its
 * interfaces holding each attached subnet's gateway address, and NAT towards the gateway.
 */
export interface SnapshotRouter {
  id: string;
  project_id: string;
  admin_state_up: boolean;
  /** The gateway port on the external network, or null when the router has none. */
  gateway:
    | (SnapshotRouterPort & {
        enable_snat: boolean;
        external_gateway_ips: string[];
        /** `external_gateway_info.qos_policy_id`'s limits (qos-gateway-ip), on the gateway's addresses. */
        qos?: SnapshotQos | null;
      })
    | null;
  interfaces: SnapshotRouterPort[];
  routes: { destination: string; nexthop: string }[];
  floating_ips: SnapshotFloatingIp[];
  /** An HA router's VRRP (see `SnapshotRouterHa`); null for a router on one host. */
  ha?: SnapshotRouterHa | null;
  /** Metering labels counting at this router's gateway (its project's and the shared ones). */
  metering?: SnapshotMeteringLabel[];
  /** FWaaS: the interfaces in a firewall group with a policy (`core/fwaas.ts`), by port id. */
  firewall_groups?: SnapshotPortFirewall[];
  /** VPNaaS: the router's VPN services and IPsec site connections (`core/vpnaas.ts`). */
  vpn?: SnapshotVpn;
}

/** A router's VPN: its services (whose status the agent reports) and their connections. */
export interface SnapshotVpn {
  services: { id: string; admin_state_up: boolean }[];
  connections: SnapshotVpnConnection[];
}

/** One IPsec site connection, its policies and endpoints resolved by the server. */
export interface SnapshotVpnConnection {
  id: string;
  vpnservice_id: string;
  /** The connection's and its service's administrative state together. */
  admin_state_up: boolean;
  peer_address: string;
  peer_id: string;
  /** Empty: the router's gateway address. */
  local_id: string;
  psk: string;
  mtu: number;
  initiator: 'bi-directional' | 'response-only';
  dpd: { action: string; interval: number; timeout: number };
  local_cidrs: string[];
  peer_cidrs: string[];
  ike: {
    version: 1 | 2;
    auth_algorithm: string;
    encryption_algorithm: string;
    pfs: string;
    /** Seconds. */
    lifetime: number;
    aggressive: boolean;
  };
  ipsec: {
    transform_protocol: 'esp' | 'ah';
    auth_algorithm: string;
    encryption_algorithm: string;
    encapsulation_mode: 'tunnel' | 'transport';
    pfs: string;
    lifetime: number;
  };
}

/**
 * A router interface in a firewall group (FWaaS v2): its policies' enabled rules, resolved in
 * order by the server. Directions are the port's network's, as neutron-fwaas's L3 driver has
 * them: `ingress` is what the router sends into the network, `egress` what it receives from it.
 * A direction without a policy has no rules (its new connections are dropped, as neutron-fwaas
 * drops them once the group has a policy).
 */
export interface SnapshotPortFirewall {
  port_id: string;
  firewall_group_id: string;
  /** False: the group is administratively down and the port passes nothing. */
  admin_state_up: boolean;
  ingress: SnapshotFirewallRule[];
  egress: SnapshotFirewallRule[];
}

export interface SnapshotFirewallRule {
  id: string;
  /** A protocol name (tcp, udp, icmp, ipv6-icmp, sctp, dccp) or null for any. */
  protocol: string | null;
  ip_version: 4 | 6;
  source_ip_address: string | null;
  destination_ip_address: string | null;
  /** `N` or `N:M` (tcp and udp only). */
  source_port: string | null;
  destination_port: string | null;
  action: 'allow' | 'deny' | 'reject';
}

/** A metering label on a router: its rules in creation order (`core/metering.ts`). */
export interface SnapshotMeteringLabel {
  id: string;
  rules: {
    id: string;
    /** At the gateway device: `ingress` enters the router from it, `egress` leaves through it. */
    direction: 'ingress' | 'egress';
    excluded: boolean;
    remote_ip_prefix: string | null;
    source_ip_prefix: string | null;
    destination_ip_prefix: string | null;
  }[];
}

/**
 * A tap flow whose source port is on this host (Tap-as-a-Service): copies of the source port's
 * traffic go to the monitoring port, on this host too. `direction` is seen from the source's
 * instance: `IN` what it receives, `OUT` what it sends.
 */
export interface SnapshotTapFlow {
  id: string;
  source_port: string;
  monitor_port: string;
  direction: 'IN' | 'OUT' | 'BOTH';
}

/**
 * An HA router lives on several hosts; keepalived in each one's namespace elects the master by
 * VRRP over the project's HA network, and only the master holds the router's addresses and routes.
 */
export interface SnapshotRouterHa {
  /** The VRRP id, unique on the HA network. */
  vrid: number;
  /** Seconds between VRRP advertisements. */
  advert_int: number;
  /** This host's port on the HA network (`ha-<port>`); null while it has none (no VRRP yet). */
  port: SnapshotRouterPort | null;
}

/** A port bound to another host, as l2population needs it: its MAC and the addresses behind it. */
export interface SnapshotRemotePort {
  mac_address: string;
  /** Its fixed IPs and single-address allowed address pairs with this MAC. */
  ip_addresses: string[];
}

/**
 * Another host with ports on one of this host's vxlan networks (Neutron's l2population): its tunnel
 * endpoint and those ports, so this host floods only towards hosts that need the traffic and knows
 * every remote MAC and address without asking the underlay.
 */
export interface SnapshotTunnelPeer {
  host: string;
  /** The peer agent's `configurations.tunneling_ip`. */
  tunnel_ip: string;
  ports: SnapshotRemotePort[];
}

/**
 * A load balancer this host runs (Octavia's, see `core/load-balancers.ts`): a `qlbaas-<id>`
 * namespace holding the VIP port, and an haproxy serving its listeners from its pools.
 */
export interface SnapshotLoadBalancer {
  id: string;
  admin_state_up: boolean;
  vip: {
    port_id: string;
    network_id: string;
    mac_address: string;
    ip_address: string;
    prefixlen: number;
    /** The VIP subnet's gateway, through which members on routed subnets are reached; null: none. */
    gateway_ip: string | null;
  };
  listeners: SnapshotLbListener[];
  pools: SnapshotLbPool[];
}

export interface SnapshotLbListener {
  id: string;
  protocol: string;
  protocol_port: number;
  admin_state_up: boolean;
  /** -1: unlimited. */
  connection_limit: number;
  default_pool_id: string | null;
  /** Milliseconds. */
  timeout_client_data: number;
  timeout_member_connect: number;
  timeout_member_data: number;
  timeout_tcp_inspect: number;
  insert_headers: Record<string, string>;
  /** Ordered by position. */
  l7policies: SnapshotLbL7Policy[];
}

export interface SnapshotLbL7Policy {
  id: string;
  action: string;
  admin_state_up: boolean;
  redirect_pool_id: string | null;
  redirect_url: string | null;
  redirect_http_code: number | null;
  rules: {
    id: string;
    type: string;
    compare_type: string;
    key: string | null;
    value: string;
    invert: boolean;
    admin_state_up: boolean;
  }[];
}

export interface SnapshotLbPool {
  id: string;
  protocol: string;
  lb_algorithm: string;
  admin_state_up: boolean;
  session_persistence: { type: string; cookie_name: string | null } | null;
  monitor: {
    type: string;
    /** Seconds. */
    delay: number;
    timeout: number;
    max_retries: number;
    max_retries_down: number;
    http_method: string | null;
    url_path: string | null;
    expected_codes: string | null;
    admin_state_up: boolean;
  } | null;
  members: {
    id: string;
    address: string;
    protocol_port: number;
    weight: number;
    backup: boolean;
    admin_state_up: boolean;
    monitor_address: string | null;
    monitor_port: number | null;
  }[];
}

export interface Snapshot {
  host: string;
  /** The store revision this snapshot reflects. */
  revision: number;
  dnsDomain: string;
  networks: SnapshotNetwork[];
  subnets: SnapshotSubnet[];
  ports: SnapshotPort[];
  instances: SnapshotInstance[];
  /** Routers scheduled to this host (L3); their networks are in `networks` too. */
  routers: SnapshotRouter[];
  /** physnet → host interface or bridge, for flat networks. */
  physicalInterfaceMappings: Record<string, string>;
  /** The groups of this host's ports and every group their rules name as a remote group. */
  security_groups?: SnapshotSecurityGroup[];
  /**
   * For every group named as a remote group by a rule in `security_groups`: the addresses of all
   * its ports on any host (fixed IPs and allowed address pairs that are single addresses), which
   * remote-group rules match.
   */
  security_group_members?: Record<string, string[]>;
  /** The CIDRs of every address group a rule here names (`network/prefix`). */
  address_groups?: Record<string, string[]>;
  /**
   * vxlan network id → the other hosts with ports on it (sorted by host), each with a tunnel
   * endpoint; absent from an older server. Only hosts whose agent reports a `tunneling_ip` appear.
   */
  l2population?: Record<string, SnapshotTunnelPeer[]>;
  /** Networks of `networks` whose DHCP another host serves (its instances here still ask for leases). */
  dhcp_elsewhere?: string[];
  /** Load balancers this host runs; absent from an older server. */
  load_balancers?: SnapshotLoadBalancer[];
  /** Tap flows mirroring ports of this host to a monitoring port here; absent from an older server. */
  tap_flows?: SnapshotTapFlow[];
}
