/**
 * Network logging (Neutron's `logging` extension, under `/v2.0/log/`): a log object asks for the
 * packets a security group or a firewall group accepts, drops or both (`event`) to be recorded,
 * for one group (`resource_id`), one port (`target_id`), both, or (neither) every group of the
 * project. `enabled: false` keeps the object and stops the recording. The records themselves
 * (one per connection accepted, one per packet dropped, rate-limited per port) are Neutrino's own:
 * `GET /neutrino/v1/logs/{id}/events` serves them to the log's project.
 */
import { type Static, Type } from 'typebox';
import { Closed, Description, Name, Nullable, Standard, StandardCreate, Uuid } from './common.js';

export const LOG_EVENTS = ['ALL', 'ACCEPT', 'DROP'] as const;
export type LogEvent = (typeof LOG_EVENTS)[number];
export const LOGGABLE_TYPES = ['security_group', 'firewall_group'] as const;
export type LoggableType = (typeof LOGGABLE_TYPES)[number];

const { id, name, description, project_id, tenant_id, created_at, updated_at, revision_number } = Standard;

/** neutron-lib's convert_to_boolean takes booleans and their spellings as strings or 0/1. */
const Bool = Type.Union([Type.Boolean(), Type.String({ maxLength: 8 }), Type.Integer()]);
const Loose = Type.Union([Type.String({ maxLength: 255 }), Type.Integer(), Type.Null()]);

export const NetworkLog = Closed({
  id,
  name,
  description,
  project_id,
  tenant_id,
  resource_type: Type.String(),
  resource_id: Nullable(Uuid),
  target_id: Nullable(Uuid),
  event: Type.String(),
  enabled: Type.Boolean(),
  created_at,
  updated_at,
  revision_number,
});
export type NetworkLog = Static<typeof NetworkLog>;

export const NetworkLogCreate = Type.Object(
  {
    name: Type.Optional(Name),
    description: Type.Optional(Description),
    project_id: StandardCreate.project_id,
    tenant_id: StandardCreate.tenant_id,
    resource_type: Loose,
    resource_id: Type.Optional(Loose),
    target_id: Type.Optional(Loose),
    event: Type.Optional(Loose),
    enabled: Type.Optional(Bool),
  },
  { additionalProperties: false, required: ['resource_type'] },
);
export type NetworkLogCreate = Static<typeof NetworkLogCreate>;

export const NetworkLogUpdate = Closed({
  name: Type.Optional(Name),
  description: Type.Optional(Description),
  enabled: Type.Optional(Bool),
});
export type NetworkLogUpdate = Static<typeof NetworkLogUpdate>;

export const LoggableResource = Closed({ type: Type.String() });

/**
 * One recorded packet: a connection accepted (its first packet) or a packet dropped, on a port, by
 * a security group or firewall group. `port_id` is the instance port (security groups) or the
 * router interface (firewall groups); `direction` is the port's: `ingress` into the instance or
 * the interface's network, `egress` out of it.
 */
const recordFields = {
  log_id: Uuid,
  /** When the agent read it (ISO 8601, UTC). */
  time: Type.String({ maxLength: 32 }),
  event: Type.Union([Type.Literal('ACCEPT'), Type.Literal('DROP')]),
  direction: Type.Union([Type.Literal('ingress'), Type.Literal('egress')]),
  port_id: Uuid,
  /** The security group or firewall group whose rule accepted it; null for a drop. */
  resource_id: Nullable(Uuid),
  ethertype: Type.Union([Type.Literal('IPv4'), Type.Literal('IPv6')]),
  protocol: Type.String({ maxLength: 16 }),
  src_ip: Type.String({ maxLength: 64 }),
  dst_ip: Type.String({ maxLength: 64 }),
  src_port: Nullable(Type.Integer()),
  dst_port: Nullable(Type.Integer()),
  /** ICMP type and code (ICMP and ICMPv6 only). */
  icmp_type: Type.Optional(Type.Integer()),
  icmp_code: Type.Optional(Type.Integer()),
};

export const LogRecord = Type.Object({
  /** The server's sequence number: `since` in the next request. */
  seq: Type.Integer(),
  /** The host whose agent recorded it. */
  host: Type.String(),
  ...recordFields,
});
export type LogRecord = Static<typeof LogRecord>;

/** One record as an agent sends it (the server adds `seq` and `host`). */
export const HostLogRecord = Type.Object(recordFields, { additionalProperties: false });
export type HostLogRecord = Static<typeof HostLogRecord>;

/** What an agent sends: `POST /neutrino/v1/hosts/{host}/log-records`. */
export const HostLogRecords = Type.Object(
  { records: Type.Array(HostLogRecord, { maxItems: 10_000 }) },
  { additionalProperties: false, required: ['records'] },
);
export type HostLogRecords = Static<typeof HostLogRecords>;
