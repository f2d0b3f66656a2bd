/**
 * What an agent needs to know about the model for one host, as plain data: the networks it
 * serves, their subnets, the ports bound to it (instance ports and DHCP ports) and its
 * instances. The server assembles it (`POST /neutrino/v1/hosts/{host}/sync`); the agent's
 * desired-state compiler turns it into a `HostState`.
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
}

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
  /** Addresses with their subnet's prefix length, e.g. `10.0.0.1/24`. */
  addresses: { subnet_id: string; ip_address: string; prefixlen: number }[];
}

export interface SnapshotFloatingIp {
  id: string;
  floating_ip_address: string;
  /** The instance port's address it maps to; null while unassociated (no NAT then). */
  fixed_ip_address: string | null;
  port_id: string | null;
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
  gateway: (SnapshotRouterPort & { enable_snat: boolean; external_gateway_ips: string[] }) | null;
  interfaces: SnapshotRouterPort[];
  routes: { destination: string; nexthop: string }[];
  floating_ips: SnapshotFloatingIp[];
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
}
