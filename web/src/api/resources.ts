/**
 * The resources the dashboard shows: their shapes (the attributes it reads, as the API returns
 * them), where each collection lives, and which collections a change-feed event invalidates.
 */

export interface FixedIp {
  subnet_id: string;
  ip_address: string;
}

interface Owned {
  id: string;
  name: string;
  project_id: string;
}

export interface Network extends Owned {
  status: string;
  admin_state_up: boolean;
  shared: boolean;
  'router:external'?: boolean;
  subnets: string[];
  mtu?: number;
  'provider:network_type'?: string;
}

export interface Subnet extends Owned {
  network_id: string;
  cidr: string;
  ip_version: number;
  gateway_ip: string | null;
  enable_dhcp: boolean;
}

export interface Port extends Owned {
  network_id: string;
  status: string;
  admin_state_up: boolean;
  mac_address: string;
  fixed_ips: FixedIp[];
  device_id: string;
  device_owner: string;
  security_groups?: string[];
  port_security_enabled?: boolean;
  'binding:host_id'?: string;
  /** Its own QoS policy; `qos_network_policy_id` is its network's. */
  qos_policy_id?: string | null;
  qos_network_policy_id?: string | null;
}

export interface Router extends Owned {
  status: string;
  admin_state_up: boolean;
  external_gateway_info: {
    network_id: string;
    enable_snat?: boolean;
    external_fixed_ips?: FixedIp[];
  } | null;
}

export interface FloatingIp {
  id: string;
  project_id: string;
  status: string;
  floating_ip_address: string;
  floating_network_id: string;
  router_id: string | null;
  port_id: string | null;
  fixed_ip_address: string | null;
  description?: string;
}

export interface SecurityGroup extends Owned {
  description: string;
  security_group_rules?: SecurityGroupRule[];
}

export interface SecurityGroupRule {
  id: string;
  project_id: string;
  security_group_id: string;
  direction: 'ingress' | 'egress';
  ethertype: string;
  protocol: string | null;
  port_range_min: number | null;
  port_range_max: number | null;
  remote_ip_prefix: string | null;
  remote_group_id: string | null;
  description?: string;
}

export interface InstancePort {
  id: string;
  network_id: string;
  mac_address: string;
  fixed_ips: FixedIp[];
}

export interface Instance extends Owned {
  status: 'BUILD' | 'ACTIVE' | 'ERROR';
  host: string;
  ports: InstancePort[];
  fault: { message: string } | null;
}

/** An Octavia load balancer (`/load-balancer/v2/lbaas/loadbalancers`). */
export interface LoadBalancer {
  id: string;
  name: string;
  project_id: string;
  vip_address: string;
  vip_subnet_id: string;
  vip_network_id: string;
  vip_port_id: string;
  provisioning_status: string;
  operating_status: string;
  admin_state_up: boolean;
  listeners: { id: string }[];
  pools: { id: string }[];
}

export interface Agent {
  id: string;
  agent_type: string;
  host: string;
  alive: boolean;
  admin_state_up: boolean;
  heartbeat_timestamp: string;
}

export interface Collections {
  networks: Network[];
  subnets: Subnet[];
  ports: Port[];
  routers: Router[];
  floatingips: FloatingIp[];
  security_groups: SecurityGroup[];
  security_group_rules: SecurityGroupRule[];
  instances: Instance[];
  loadbalancers: LoadBalancer[];
}

export type CollectionKey = keyof Collections;

/** Where each collection is listed (the response's key is the collection key). */
export const COLLECTION_PATHS: Record<CollectionKey, string> = {
  networks: '/v2.0/networks',
  subnets: '/v2.0/subnets',
  ports: '/v2.0/ports',
  routers: '/v2.0/routers',
  floatingips: '/v2.0/floatingips',
  security_groups: '/v2.0/security-groups',
  security_group_rules: '/v2.0/security-group-rules',
  instances: '/neutrino/v1/instances',
  loadbalancers: '/load-balancer/v2/lbaas/loadbalancers',
};

export const COLLECTION_KEYS = Object.keys(COLLECTION_PATHS) as CollectionKey[];

/** The path of one object of a collection. */
export const memberPath = (key: CollectionKey, id: string) => `${COLLECTION_PATHS[key]}/${id}`;

/**
 * The collections to reread after a change to `resource` (a table name of the change feed).
 * Ports carry instances' addresses, router interfaces and floating-IP targets; unknown
 * resources reread everything.
 */
export function affectedBy(resource: string): CollectionKey[] {
  const r = resource.replace(/-/g, '_');
  if (r === 'networks' || r === 'rbac_policies') return ['networks'];
  if (r === 'subnets') return ['subnets', 'networks'];
  if (r === 'ports') return ['ports', 'instances', 'floatingips'];
  if (r === 'instances') return ['instances', 'ports'];
  if (r === 'loadbalancer' || r === 'loadbalancers') return ['loadbalancers', 'ports'];
  if (r.startsWith('security_group')) return ['security_groups', 'security_group_rules'];
  if (r.startsWith('router')) return ['routers', 'ports'];
  if (r.startsWith('floating')) return ['floatingips'];
  return COLLECTION_KEYS;
}
