/**
 * Load balancing as Octavia's v2 API shapes it (`/load-balancer/v2/lbaas/…`): load balancers
 * (a VIP on a subnet or network), their listeners (a protocol and port on the VIP), pools of
 * members behind them, a health monitor per pool, and L7 policies with their rules on a
 * listener. Octavia's objects carry `provisioning_status` (PENDING_* while a change is under
 * way, ACTIVE, ERROR) and `operating_status` (ONLINE, OFFLINE, DEGRADED, ERROR, NO_MONITOR).
 * The request schemas reject unknown attributes as Octavia's do; values Octavia checks beyond
 * their type (enumerations, ranges) are checked by `core/load-balancers.ts` in its words.
 */
import { type Static, Type } from 'typebox';
import { Closed, Nullable } from './common.js';

export const LB_PROTOCOLS = ['HTTP', 'HTTPS', 'TCP'] as const;
export const LB_ALGORITHMS = ['ROUND_ROBIN', 'LEAST_CONNECTIONS', 'SOURCE_IP'] as const;
export const PERSISTENCE_TYPES = ['SOURCE_IP', 'HTTP_COOKIE', 'APP_COOKIE'] as const;
export const MONITOR_TYPES = ['HTTP', 'TCP', 'PING'] as const;
export const HTTP_METHODS = [
  'GET',
  'HEAD',
  'POST',
  'PUT',
  'DELETE',
  'TRACE',
  'OPTIONS',
  'PATCH',
  'CONNECT',
] as const;
export const L7_ACTIONS = ['REDIRECT_TO_URL', 'REDIRECT_TO_POOL', 'REJECT'] as const;
export const L7_RULE_TYPES = ['PATH', 'HOST_NAME', 'HEADER', 'COOKIE', 'FILE_TYPE'] as const;
export const L7_COMPARE_TYPES = ['REGEX', 'STARTS_WITH', 'ENDS_WITH', 'CONTAINS', 'EQUAL_TO'] as const;

export type LbProtocol = (typeof LB_PROTOCOLS)[number];
export type LbAlgorithm = (typeof LB_ALGORITHMS)[number];
export type MonitorType = (typeof MONITOR_TYPES)[number];
export type L7Action = (typeof L7_ACTIONS)[number];
export type L7RuleType = (typeof L7_RULE_TYPES)[number];
export type L7CompareType = (typeof L7_COMPARE_TYPES)[number];

export type ProvisioningStatus = 'ACTIVE' | 'PENDING_CREATE' | 'PENDING_UPDATE' | 'PENDING_DELETE' | 'ERROR';
export type OperatingStatus = 'ONLINE' | 'OFFLINE' | 'DEGRADED' | 'ERROR' | 'NO_MONITOR' | 'DRAINING';

const Id = Type.String({ maxLength: 64 });
const Text = Type.String({ maxLength: 255 });
const Project = Type.String({ maxLength: 36 });
const Tags = Type.Array(Type.String({ maxLength: 255 }), { maxItems: 50 });
const Ref = Closed({ id: Id });
const Refs = Type.Array(Ref);
const Port = Type.Integer();
/**
 * An integer in a request: python-octaviaclient sends some as strings (`"connection_limit": "500"`),
 * which Octavia's types accept; `core/load-balancers.ts` turns them into numbers.
 */
const Int = Type.Union([Type.Integer(), Type.String({ pattern: '^-?[0-9]{1,10}$' })]);

const Status = {
  provisioning_status: Type.String(),
  operating_status: Type.String(),
};
const Dated = {
  created_at: Type.String(),
  updated_at: Nullable(Type.String()),
};

export const LoadBalancer = Closed({
  id: Id,
  name: Text,
  description: Text,
  admin_state_up: Type.Boolean(),
  project_id: Type.String(),
  ...Status,
  ...Dated,
  vip_address: Type.String(),
  vip_port_id: Id,
  vip_subnet_id: Id,
  vip_network_id: Id,
  vip_qos_policy_id: Nullable(Id),
  listeners: Refs,
  pools: Refs,
  provider: Type.String(),
  flavor_id: Nullable(Id),
  availability_zone: Nullable(Type.String()),
  tags: Tags,
  additional_vips: Type.Array(Type.Unknown()),
  vip_vnic_type: Type.String(),
});
export type LoadBalancer = Static<typeof LoadBalancer>;

export const LoadBalancerCreate = Closed({
  name: Type.Optional(Nullable(Text)),
  description: Type.Optional(Nullable(Text)),
  admin_state_up: Type.Optional(Type.Boolean()),
  vip_address: Type.Optional(Nullable(Type.String({ maxLength: 64 }))),
  vip_subnet_id: Type.Optional(Nullable(Id)),
  vip_network_id: Type.Optional(Nullable(Id)),
  vip_port_id: Type.Optional(Nullable(Id)),
  vip_qos_policy_id: Type.Optional(Nullable(Id)),
  provider: Type.Optional(Nullable(Type.String({ maxLength: 64 }))),
  flavor_id: Type.Optional(Nullable(Id)),
  availability_zone: Type.Optional(Nullable(Type.String({ maxLength: 255 }))),
  project_id: Type.Optional(Project),
  tenant_id: Type.Optional(Project),
  tags: Type.Optional(Tags),
});
export type LoadBalancerCreate = Static<typeof LoadBalancerCreate>;

export const LoadBalancerUpdate = Closed({
  name: Type.Optional(Nullable(Text)),
  description: Type.Optional(Nullable(Text)),
  admin_state_up: Type.Optional(Type.Boolean()),
  vip_qos_policy_id: Type.Optional(Nullable(Id)),
  tags: Type.Optional(Tags),
});
export type LoadBalancerUpdate = Static<typeof LoadBalancerUpdate>;

const Timeouts = {
  timeout_client_data: Type.Integer(),
  timeout_member_connect: Type.Integer(),
  timeout_member_data: Type.Integer(),
  timeout_tcp_inspect: Type.Integer(),
};
const OptionalTimeouts = {
  timeout_client_data: Type.Optional(Nullable(Int)),
  timeout_member_connect: Type.Optional(Nullable(Int)),
  timeout_member_data: Type.Optional(Nullable(Int)),
  timeout_tcp_inspect: Type.Optional(Nullable(Int)),
};

export const Listener = Closed({
  id: Id,
  name: Text,
  description: Text,
  admin_state_up: Type.Boolean(),
  project_id: Type.String(),
  ...Status,
  ...Dated,
  protocol: Type.String(),
  protocol_port: Port,
  connection_limit: Type.Integer(),
  default_pool_id: Nullable(Id),
  default_tls_container_ref: Nullable(Type.String()),
  sni_container_refs: Type.Array(Type.String()),
  insert_headers: Type.Record(Type.String(), Type.String()),
  l7policies: Refs,
  loadbalancers: Refs,
  ...Timeouts,
  client_ca_tls_container_ref: Nullable(Type.String()),
  client_authentication: Type.String(),
  client_crl_container_ref: Nullable(Type.String()),
  allowed_cidrs: Nullable(Type.Array(Type.String())),
  tls_ciphers: Nullable(Type.String()),
  tls_versions: Nullable(Type.Array(Type.String())),
  alpn_protocols: Nullable(Type.Array(Type.String())),
  tags: Tags,
});
export type Listener = Static<typeof Listener>;

export const ListenerCreate = Closed({
  loadbalancer_id: Id,
  protocol: Type.String({ maxLength: 32 }),
  protocol_port: Int,
  name: Type.Optional(Nullable(Text)),
  description: Type.Optional(Nullable(Text)),
  admin_state_up: Type.Optional(Type.Boolean()),
  connection_limit: Type.Optional(Nullable(Int)),
  default_pool_id: Type.Optional(Nullable(Id)),
  insert_headers: Type.Optional(Nullable(Type.Record(Type.String(), Type.String()))),
  ...OptionalTimeouts,
  project_id: Type.Optional(Project),
  tenant_id: Type.Optional(Project),
  tags: Type.Optional(Tags),
});
export type ListenerCreate = Static<typeof ListenerCreate>;

export const ListenerUpdate = Closed({
  name: Type.Optional(Nullable(Text)),
  description: Type.Optional(Nullable(Text)),
  admin_state_up: Type.Optional(Type.Boolean()),
  connection_limit: Type.Optional(Nullable(Int)),
  default_pool_id: Type.Optional(Nullable(Id)),
  insert_headers: Type.Optional(Nullable(Type.Record(Type.String(), Type.String()))),
  ...OptionalTimeouts,
  tags: Type.Optional(Tags),
});
export type ListenerUpdate = Static<typeof ListenerUpdate>;

const SessionPersistence = Closed({
  type: Type.String({ maxLength: 32 }),
  cookie_name: Type.Optional(Nullable(Type.String({ maxLength: 255 }))),
  persistence_timeout: Type.Optional(Nullable(Int)),
  persistence_granularity: Type.Optional(Nullable(Type.String({ maxLength: 64 }))),
});
export type SessionPersistence = Static<typeof SessionPersistence>;

export const Pool = Closed({
  id: Id,
  name: Text,
  description: Text,
  admin_state_up: Type.Boolean(),
  project_id: Type.String(),
  ...Status,
  ...Dated,
  protocol: Type.String(),
  lb_algorithm: Type.String(),
  session_persistence: Nullable(SessionPersistence),
  loadbalancers: Refs,
  listeners: Refs,
  members: Refs,
  healthmonitor_id: Nullable(Id),
  tls_enabled: Type.Boolean(),
  tls_container_ref: Nullable(Type.String()),
  ca_tls_container_ref: Nullable(Type.String()),
  crl_container_ref: Nullable(Type.String()),
  tls_ciphers: Nullable(Type.String()),
  tls_versions: Nullable(Type.Array(Type.String())),
  alpn_protocols: Nullable(Type.Array(Type.String())),
  tags: Tags,
});
export type Pool = Static<typeof Pool>;

export const PoolCreate = Closed({
  protocol: Type.String({ maxLength: 32 }),
  lb_algorithm: Type.String({ maxLength: 32 }),
  loadbalancer_id: Type.Optional(Nullable(Id)),
  listener_id: Type.Optional(Nullable(Id)),
  name: Type.Optional(Nullable(Text)),
  description: Type.Optional(Nullable(Text)),
  admin_state_up: Type.Optional(Type.Boolean()),
  session_persistence: Type.Optional(Nullable(SessionPersistence)),
  project_id: Type.Optional(Project),
  tenant_id: Type.Optional(Project),
  tags: Type.Optional(Tags),
});
export type PoolCreate = Static<typeof PoolCreate>;

export const PoolUpdate = Closed({
  name: Type.Optional(Nullable(Text)),
  description: Type.Optional(Nullable(Text)),
  admin_state_up: Type.Optional(Type.Boolean()),
  lb_algorithm: Type.Optional(Type.String({ maxLength: 32 })),
  session_persistence: Type.Optional(Nullable(SessionPersistence)),
  tags: Type.Optional(Tags),
});
export type PoolUpdate = Static<typeof PoolUpdate>;

export const Member = Closed({
  id: Id,
  name: Text,
  admin_state_up: Type.Boolean(),
  project_id: Type.String(),
  ...Status,
  ...Dated,
  address: Type.String(),
  protocol_port: Port,
  weight: Type.Integer(),
  backup: Type.Boolean(),
  subnet_id: Nullable(Id),
  monitor_address: Nullable(Type.String()),
  monitor_port: Nullable(Port),
  vnic_type: Type.String(),
  tags: Tags,
});
export type Member = Static<typeof Member>;

export const MemberCreate = Closed({
  address: Type.String({ maxLength: 64 }),
  protocol_port: Int,
  name: Type.Optional(Nullable(Text)),
  admin_state_up: Type.Optional(Type.Boolean()),
  weight: Type.Optional(Nullable(Int)),
  backup: Type.Optional(Type.Boolean()),
  subnet_id: Type.Optional(Nullable(Id)),
  monitor_address: Type.Optional(Nullable(Type.String({ maxLength: 64 }))),
  monitor_port: Type.Optional(Nullable(Int)),
  project_id: Type.Optional(Project),
  tenant_id: Type.Optional(Project),
  tags: Type.Optional(Tags),
});
export type MemberCreate = Static<typeof MemberCreate>;

export const MemberUpdate = Closed({
  name: Type.Optional(Nullable(Text)),
  admin_state_up: Type.Optional(Type.Boolean()),
  weight: Type.Optional(Nullable(Int)),
  backup: Type.Optional(Type.Boolean()),
  monitor_address: Type.Optional(Nullable(Type.String({ maxLength: 64 }))),
  monitor_port: Type.Optional(Nullable(Int)),
  tags: Type.Optional(Tags),
});
export type MemberUpdate = Static<typeof MemberUpdate>;

export const HealthMonitor = Closed({
  id: Id,
  name: Text,
  admin_state_up: Type.Boolean(),
  project_id: Type.String(),
  ...Status,
  ...Dated,
  type: Type.String(),
  delay: Int,
  timeout: Int,
  max_retries: Int,
  max_retries_down: Type.Integer(),
  http_method: Nullable(Type.String()),
  url_path: Nullable(Type.String()),
  expected_codes: Nullable(Type.String()),
  http_version: Nullable(Type.Number()),
  domain_name: Nullable(Type.String()),
  pools: Refs,
  tags: Tags,
});
export type HealthMonitor = Static<typeof HealthMonitor>;

const MonitorSettings = {
  name: Type.Optional(Nullable(Text)),
  admin_state_up: Type.Optional(Type.Boolean()),
  delay: Int,
  timeout: Int,
  max_retries: Int,
  max_retries_down: Type.Optional(Nullable(Int)),
  http_method: Type.Optional(Nullable(Type.String({ maxLength: 16 }))),
  url_path: Type.Optional(Nullable(Type.String({ maxLength: 2048 }))),
  expected_codes: Type.Optional(Nullable(Type.String({ maxLength: 64 }))),
  http_version: Type.Optional(Nullable(Type.Number())),
  domain_name: Type.Optional(Nullable(Type.String({ maxLength: 255 }))),
  tags: Type.Optional(Tags),
};

export const HealthMonitorCreate = Closed({
  pool_id: Id,
  type: Type.String({ maxLength: 32 }),
  ...MonitorSettings,
  project_id: Type.Optional(Project),
  tenant_id: Type.Optional(Project),
});
export type HealthMonitorCreate = Static<typeof HealthMonitorCreate>;

export const HealthMonitorUpdate = Closed({
  ...MonitorSettings,
  delay: Type.Optional(Int),
  timeout: Type.Optional(Int),
  max_retries: Type.Optional(Int),
});
export type HealthMonitorUpdate = Static<typeof HealthMonitorUpdate>;

export const L7Policy = Closed({
  id: Id,
  name: Text,
  description: Text,
  admin_state_up: Type.Boolean(),
  project_id: Type.String(),
  ...Status,
  ...Dated,
  listener_id: Id,
  action: Type.String(),
  position: Type.Integer(),
  redirect_pool_id: Nullable(Id),
  redirect_url: Nullable(Type.String()),
  redirect_prefix: Nullable(Type.String()),
  redirect_http_code: Nullable(Type.Integer()),
  rules: Refs,
  tags: Tags,
});
export type L7Policy = Static<typeof L7Policy>;

const PolicySettings = {
  name: Type.Optional(Nullable(Text)),
  description: Type.Optional(Nullable(Text)),
  admin_state_up: Type.Optional(Type.Boolean()),
  position: Type.Optional(Nullable(Int)),
  redirect_pool_id: Type.Optional(Nullable(Id)),
  redirect_url: Type.Optional(Nullable(Type.String({ maxLength: 2048 }))),
  redirect_prefix: Type.Optional(Nullable(Type.String({ maxLength: 2048 }))),
  redirect_http_code: Type.Optional(Nullable(Int)),
  tags: Type.Optional(Tags),
};

export const L7PolicyCreate = Closed({
  listener_id: Id,
  action: Type.String({ maxLength: 32 }),
  ...PolicySettings,
  project_id: Type.Optional(Project),
  tenant_id: Type.Optional(Project),
});
export type L7PolicyCreate = Static<typeof L7PolicyCreate>;

export const L7PolicyUpdate = Closed({
  action: Type.Optional(Type.String({ maxLength: 32 })),
  ...PolicySettings,
});
export type L7PolicyUpdate = Static<typeof L7PolicyUpdate>;

export const L7Rule = Closed({
  id: Id,
  admin_state_up: Type.Boolean(),
  project_id: Type.String(),
  ...Status,
  ...Dated,
  type: Type.String(),
  compare_type: Type.String(),
  key: Nullable(Type.String()),
  value: Type.String(),
  invert: Type.Boolean(),
  tags: Tags,
});
export type L7Rule = Static<typeof L7Rule>;

export const L7RuleCreate = Closed({
  type: Type.String({ maxLength: 32 }),
  compare_type: Type.String({ maxLength: 32 }),
  value: Type.String({ maxLength: 255 }),
  key: Type.Optional(Nullable(Type.String({ maxLength: 255 }))),
  invert: Type.Optional(Type.Boolean()),
  admin_state_up: Type.Optional(Type.Boolean()),
  project_id: Type.Optional(Project),
  tenant_id: Type.Optional(Project),
  tags: Type.Optional(Tags),
});
export type L7RuleCreate = Static<typeof L7RuleCreate>;

export const L7RuleUpdate = Closed({
  type: Type.Optional(Type.String({ maxLength: 32 })),
  compare_type: Type.Optional(Type.String({ maxLength: 32 })),
  value: Type.Optional(Type.String({ maxLength: 255 })),
  key: Type.Optional(Nullable(Type.String({ maxLength: 255 }))),
  invert: Type.Optional(Type.Boolean()),
  admin_state_up: Type.Optional(Type.Boolean()),
  tags: Type.Optional(Tags),
});
export type L7RuleUpdate = Static<typeof L7RuleUpdate>;

/** Octavia's statistics of a load balancer or listener (haproxy's counters). */
export interface LbStats {
  bytes_in: number;
  bytes_out: number;
  active_connections: number;
  total_connections: number;
  request_errors: number;
}

/**
 * What the agent reports of one load balancer it runs: haproxy's view of each member's health
 * (by member id: UP, DOWN, or NO_CHECK without a monitor) and the counters per listener.
 */
export const LbReport = Type.Object({
  loadbalancer_id: Id,
  members: Type.Record(Type.String(), Type.String()),
  listeners: Type.Record(
    Type.String(),
    Type.Object({
      bytes_in: Type.Number(),
      bytes_out: Type.Number(),
      active_connections: Type.Number(),
      total_connections: Type.Number(),
      request_errors: Type.Number(),
    }),
  ),
});
export type LbReport = Static<typeof LbReport>;
