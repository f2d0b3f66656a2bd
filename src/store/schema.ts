/**
 * The tables as Kysely sees them. Resources keep their standard attributes in columns and
 * everything else in `doc` (the resource as defined in `model/`, serialised as JSON); a few
 * more columns exist only where SQL must index, join or enforce uniqueness.
 */
import type { Generated } from 'kysely';

/** Columns every Neutron resource table has. */
export interface ResourceRow {
  id: string;
  project_id: string;
  revision_number: number;
  created_at: string;
  updated_at: string;
  doc: string;
}

export interface Database {
  networks: ResourceRow;
  network_segments: {
    network_id: string;
    network_type: string;
    physical_network: string;
    segmentation_id: number;
  };
  /** `subnetpool_id`: the pool the subnet's prefix was allocated from (NULL: none). */
  subnets: ResourceRow & { network_id: string; subnetpool_id: Generated<string | null> };
  /** `admin_doc` and `derived_doc`: see `SPLITS` in resources.ts. */
  ports: ResourceRow & {
    network_id: string;
    mac_address: string;
    device_id: string;
    device_owner: string;
    admin_doc: Generated<string>;
    derived_doc: string | null;
  };
  ip_allocations: { subnet_id: string; ip_address: string; port_id: string; network_id: string };
  security_groups: ResourceRow;
  address_groups: ResourceRow;
  address_scopes: ResourceRow;
  /** `default_ip_version`: the pool's IP version while it is the default pool, else NULL (unique). */
  subnetpools: ResourceRow & { address_scope_id: string | null; default_ip_version: number | null };
  trunks: ResourceRow & { port_id: string };
  trunk_subports: { port_id: string; trunk_id: string; segmentation_type: string; segmentation_id: number };
  security_group_rules: ResourceRow & { security_group_id: string };
  /** One row per project: its `default` group (a key, so concurrent first uses create one). */
  default_security_groups: { project_id: string; security_group_id: string };
  firewall_rules: ResourceRow;
  vpn_ikepolicies: ResourceRow;
  vpn_ipsecpolicies: ResourceRow;
  vpnservices: ResourceRow;
  vpn_endpoint_groups: ResourceRow;
  ipsec_site_connections: ResourceRow;
  firewall_policies: ResourceRow;
  firewall_groups: ResourceRow;
  /** A port's firewall group (a key: one group per port, as neutron-fwaas's association). */
  firewall_group_ports: { port_id: string; firewall_group_id: string };
  /** One row per project: its `default` firewall group, created on first use. */
  default_firewall_groups: { project_id: string; firewall_group_id: string };
  network_logs: ResourceRow;
  /** What agents recorded for a log (`record`: a `LogRecord` without `seq` and `host`, as JSON). */
  network_log_records: { seq: Generated<number>; log_id: string; host: string; record: string };
  rbac_policies: ResourceRow & { object_type: string; object_id: string };
  quotas: { project_id: string; resource: string; hard_limit: number };
  revisions: {
    revision: Generated<number>;
    resource: string;
    resource_id: string;
    op: string;
    project_id: string;
    created_at: string;
    status_only: Generated<number>;
  };
  domains: { id: string; name: string; enabled: number; description: string };
  projects: {
    id: string;
    name: string;
    domain_id: string;
    enabled: number;
    description: string;
    is_domain: number;
  };
  users: {
    id: string;
    name: string;
    domain_id: string;
    enabled: number;
    password_hash: string;
    default_project_id: string | null;
    description: string;
    /** Failed password logins since the last success (Keystone's lockout counter). */
    failed_auth_count: Generated<number>;
    failed_auth_at: string | null;
  };
  roles: { id: string; name: string; domain_id: string | null };
  /** `target_type` is project, domain or system (`target_id` 'all'). */
  role_assignments: { role_id: string; actor_id: string; target_id: string; target_type: string };
  /** Role inference rules: a grant of the prior role carries the implied one too. */
  implied_roles: { prior_role_id: string; implied_role_id: string };
  /** One row per (host, agent_type): what each host's agent reported in its last heartbeat. */
  agents: {
    id: string;
    host: string;
    agent_type: string;
    binary: string;
    topic: string;
    admin_state_up: number;
    availability_zone: string | null;
    configurations: string;
    description: string | null;
    created_at: string;
    started_at: string;
    heartbeat_timestamp: string;
  };
  /** The host serving each network's DHCP (a key, so concurrent schedulers pick one). */
  dhcp_bindings: { network_id: string; host: string };
  instances: ResourceRow & { host: string };
  routers: ResourceRow;
  floatingips: ResourceRow;
  /** The fixed address each associated floating IP maps to (one per address and external network). */
  floatingip_associations: {
    floatingip_id: string;
    floating_network_id: string;
    port_id: string;
    fixed_ip_address: string;
    router_id: string;
  };
  /**
   * Port forwardings of floating IPs that are not associated 1:1 (`router_id`: the floating IP's,
   * which realises them); port ranges as first and last port, equal for a single port.
   */
  port_forwardings: {
    id: string;
    floatingip_id: string;
    router_id: string;
    internal_port_id: string;
    internal_ip_address: string;
    protocol: string;
    internal_port_start: number;
    internal_port_end: number;
    external_port_start: number;
    external_port_end: number;
    description: string;
    created_at: string;
  };
  qos_policies: ResourceRow;
  /** Tap-as-a-Service: tap services by monitoring port, tap flows by service and source port. */
  tap_services: ResourceRow & { port_id: string };
  tap_flows: ResourceRow & { tap_service_id: string; source_port: string };
  metering_labels: ResourceRow;
  metering_label_rules: ResourceRow & { metering_label_id: string };
  /** Metering counts per label, router and host as last reported, and what reset counters had. */
  metering_counts: {
    label_id: string;
    router_id: string;
    host: string;
    bytes: number | string;
    packets: number | string;
    base_bytes: number | string;
    base_packets: number | string;
    updated_at: string;
  };
  /**
   * The rules of QoS policies: one per policy, type and direction (`''` for DSCP marking, which
   * has none); the parameters of the rule's type set, the others NULL.
   */
  qos_rules: {
    id: string;
    qos_policy_id: string;
    type: string;
    direction: string;
    max_kbps: number | null;
    max_burst_kbps: number | null;
    min_kbps: number | null;
    dscp_mark: number | null;
    created_at: string;
  };
  /** Each project's default QoS policy (`qos-default`; a key, so a project has one). */
  qos_default_policies: { project_id: string; qos_policy_id: string };
  /**
   * The hosts serving each router: one, or several for an HA router, with the VRRP state each
   * host's agent last reported (`active`, `standby`; null when not HA or not yet reported).
   */
  l3_bindings: { router_id: string; host: string; ha_state: string | null };
  /** Each project's HA network (the VRRP link between the hosts of its HA routers). */
  ha_router_networks: { project_id: string; network_id: string };
  /** The VRRP id of each HA router, unique on its project's HA network. */
  ha_router_vrids: { network_id: string; vr_id: number; router_id: string };
  /** Each port's security-group drop counters as its host's agent last reported them (JSON). */
  port_drops: { port_id: string; host: string; drops: string; updated_at: string };
  port_counters: {
    port_id: string;
    host: string;
    counters: string;
    updated_at: string;
    previous: string | null;
    previous_at: string | null;
  };
  /**
   * Every object of a load balancer (Octavia's), by `kind`: `parent_id` is the load balancer's
   * own id for itself, its listeners and pools; the pool for members and a health monitor; the
   * listener for L7 policies; the policy for rules. `unique_key` is unique per kind and parent.
   */
  lb_quotas: { project_id: string; resource: string; hard_limit: number };
  lb_objects: {
    id: string;
    kind: string;
    project_id: string;
    loadbalancer_id: string;
    parent_id: string;
    unique_key: string | null;
    created_at: string;
    updated_at: string | null;
    doc: string;
  };
  /** What the agent running a load balancer last reported of it (an `LbReport`, JSON). */
  lb_reports: { loadbalancer_id: string; host: string; report: string; updated_at: string };
  host_diagnostics: { id: string; host: string; request: string; answer: string | null; created_at: string };
  tokens: {
    token_hash: string;
    user_id: string;
    scope_type: string;
    scope_id: string | null;
    methods: string;
    issued_at: string;
    expires_at: string;
    audit_id: string;
    revoked: number;
  };
}

/** Names of the tables that hold Neutron resources (a `ResourceRow` each). */
export type ResourceTable =
  | 'networks'
  | 'subnets'
  | 'ports'
  | 'security_groups'
  | 'security_group_rules'
  | 'rbac_policies'
  | 'instances'
  | 'routers'
  | 'floatingips'
  | 'address_groups'
  | 'address_scopes'
  | 'tap_services'
  | 'tap_flows'
  | 'metering_labels'
  | 'metering_label_rules'
  | 'subnetpools'
  | 'trunks'
  | 'qos_policies'
  | 'firewall_rules'
  | 'firewall_policies'
  | 'firewall_groups'
  | 'network_logs'
  | 'vpn_ikepolicies'
  | 'vpn_ipsecpolicies'
  | 'vpnservices'
  | 'vpn_endpoint_groups'
  | 'ipsec_site_connections';
