/**
 * Settings the Neutron model's rules depend on (not how they are loaded: see `config.ts`).
 */
import { hostname } from 'node:os';

export interface Settings {
  /** Network type given to tenant networks that name none. */
  tenantNetworkType: 'local' | 'vxlan' | 'vlan';
  /** Physical networks an operator mapped to host interfaces or bridges (`physnet:iface`). */
  physicalNetworks: string[];
  /** VXLAN network identifiers handed to tenant networks, inclusive. */
  vniRange: [number, number];
  /** VLAN ids per physical network, inclusive. */
  vlanRange: [number, number];
  /**
   * Allows vlan networks whatever the agents say: `neutrino up` sets it from probing its own kernel
   * for 802.1Q (8021q). Otherwise vlan networks are allowed while a live L2 agent reports
   * `vlan_capable` in its configurations.
   */
  vlanSupported: boolean;
  /** MTU of the physical network; VXLAN networks get 50 bytes less. */
  physicalMtu: number;
  /** Base of generated MAC addresses. */
  macPrefix: string;
  /** DNS domain handed out by DHCP (`dns_domain`). */
  dnsDomain: string;
  quotas: Record<string, number>;
  /**
   * Seconds without a heartbeat after which an agent counts as dead (Neutron's `agent_down_time`):
   * its networks' DHCP and its routers then move to live network hosts.
   */
  agentDownTime: number;
  /** Seconds an admin's host diagnostic (`/neutrino/v1/hosts/{host}/diagnostics`) waits for the agent. */
  diagnosticsTimeout: number;
  /** DHCP servers (network hosts) per network (Neutron's `dhcp_agents_per_network`). */
  dhcpAgentsPerNetwork: number;
  /** New routers are HA when `ha` is not given (Neutron's `l3_ha`). */
  l3Ha: boolean;
  /** Network hosts an HA router lives on, at most (Neutron's `max_l3_agents_per_router`). */
  maxL3AgentsPerRouter: number;
  /** The CIDR of every project's HA network (Neutron's `l3_ha_net_cidr`). */
  l3HaNetCidr: string;
  /** Seconds between VRRP advertisements (Neutron's `ha_vrrp_advert_int`); a backup takes over after 3 missed. */
  haVrrpAdvertInt: number;
  /** Host that takes instances while no live L2 agent could (the all-in-one: this machine). */
  defaultHost: string;
  /**
   * `/metrics` carries a series per port (bytes and packets each way, as last reported): off by
   * default, since a cloud's ports make a label set Prometheus must hold.
   */
  metricsPerPort: boolean;
  /** physnet → host interface or bridge, sent to agents that report no mappings of their own. */
  physicalInterfaceMappings: Record<string, string>;
  /**
   * Failed password logins after which a user is locked out (Keystone's
   * `lockout_failure_attempts`); 0 never locks.
   */
  lockoutFailureAttempts: number;
  /** Seconds a locked user stays locked (`lockout_duration`); 0 until an admin re-enables it. */
  lockoutDuration: number;
  /**
   * Failed password logins one source address may make per `loginFailureWindow` seconds; more
   * are answered 429 before any password is checked. 0 never throttles.
   */
  loginFailuresPerAddress: number;
  loginFailureWindow: number;
  /**
   * Addresses a port may hold (Neutron's `max_fixed_ips_per_port`); ports of `network:` owners
   * (DHCP, routers) are exempt, as in Neutron, up to the schema's ceiling of 1000.
   */
  maxFixedIpsPerPort: number;
  /** Allowed address pairs per port (Neutron's `max_allowed_address_pair`). */
  maxAllowedAddressPairs: number;
  /** DNS nameservers per subnet (Neutron's `max_dns_nameservers`). */
  maxDnsNameservers: number;
  /** Host routes per subnet (Neutron's `max_subnet_host_routes`). */
  maxSubnetHostRoutes: number;
  /** Extra routes per router (Neutron's `max_routes`). */
  maxRoutes: number;
  /**
   * Writes (creates, updates, deletes) one project may have in progress at once; more wait their
   * turn, so one project's burst cannot keep the others from the store (8 concurrent port
   * creates of one project made another's requests 12x slower at p95 on SQLite; 1.7x with 2:
   * `bench/fuzz/bounds.ts`). 0: no limit.
   */
  projectWriteConcurrency: number;
  /**
   * Network logging (Neutron's `[network_log]` `rate_limit` and `burst_limit`, which it also floors
   * at 100 and 25): records per second and port, and in a burst, that agents write; sent to the
   * agents with their snapshots.
   */
  networkLogRateLimit: number;
  networkLogBurstLimit: number;
  /** The newest records the server keeps per log (older ones are pruned as new ones arrive). */
  networkLogRecordsKept: number;
}

/** Neutron's default quotas. */
export const DEFAULT_QUOTAS: Record<string, number> = {
  network: 100,
  subnet: 100,
  port: 500,
  router: 10,
  floatingip: 50,
  security_group: 10,
  security_group_rule: 100,
  rbac_policy: 10,
};

export const DEFAULT_SETTINGS: Settings = {
  tenantNetworkType: 'local',
  physicalNetworks: [],
  vniRange: [1001, 4000],
  vlanRange: [1, 4094],
  vlanSupported: false,
  physicalMtu: 1500,
  macPrefix: 'fa:16:3e',
  dnsDomain: 'openstacklocal',
  quotas: DEFAULT_QUOTAS,
  agentDownTime: 30,
  diagnosticsTimeout: 15,
  dhcpAgentsPerNetwork: 1,
  l3Ha: false,
  maxL3AgentsPerRouter: 3,
  l3HaNetCidr: '169.254.192.0/18',
  haVrrpAdvertInt: 2,
  defaultHost: hostname(),
  metricsPerPort: false,
  physicalInterfaceMappings: {},
  lockoutFailureAttempts: 6,
  lockoutDuration: 1800,
  loginFailuresPerAddress: 20,
  loginFailureWindow: 60,
  maxFixedIpsPerPort: 5,
  maxAllowedAddressPairs: 10,
  maxDnsNameservers: 5,
  maxSubnetHostRoutes: 20,
  maxRoutes: 30,
  projectWriteConcurrency: 2,
  networkLogRateLimit: 100,
  networkLogBurstLimit: 25,
  networkLogRecordsKept: 10_000,
};
