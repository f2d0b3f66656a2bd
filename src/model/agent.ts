/**
 * An agent: one role of the per-host process (`Linux bridge agent`, `DHCP agent`, …) as it
 * registers by heartbeat and as Neutron's agents API shows it; plus what a host's agent sends
 * the server: its heartbeat and its status report.
 */
import { type Static, Type } from 'typebox';
import { Closed, Description, Nullable, Uuid } from './common.js';
import { LbReport } from './load-balancer.js';
import { VpnConnectionReport } from './vpnaas.js';

/** The agent type of each L2 driver, as Neutron's agents report it. */
export const LINUXBRIDGE_AGENT_TYPE = 'Linux bridge agent';
export const OVS_AGENT_TYPE = 'Open vSwitch agent';

/** Agent types that wire ports on their host: instances go where one of them is alive. */
export const L2_AGENT_TYPES: readonly string[] = [LINUXBRIDGE_AGENT_TYPE, OVS_AGENT_TYPE];

/** The L2 driver an agent of `agentType` runs. */
export function driverOfAgentType(agentType: string): 'linuxbridge' | 'openvswitch' {
  return agentType === OVS_AGENT_TYPE ? 'openvswitch' : 'linuxbridge';
}

/** A host name as agents register it and ports are bound to it (`binding:host_id`). */

export const HostName = Type.String({
  minLength: 1,
  maxLength: 255,
  pattern: '^[A-Za-z0-9][A-Za-z0-9._-]*$',
});

const Dict = Type.Record(Type.String(), Type.Unknown());
const Text = Type.String({ minLength: 1, maxLength: 255 });

export const Agent = Closed({
  id: Uuid,
  agent_type: Type.String(),
  binary: Type.String(),
  host: Type.String(),
  topic: Type.String(),
  admin_state_up: Type.Boolean(),
  alive: Type.Boolean(),
  availability_zone: Nullable(Type.String()),
  configurations: Dict,
  created_at: Type.String(),
  started_at: Type.String(),
  heartbeat_timestamp: Type.String(),
  description: Nullable(Type.String()),
  resources_synced: Nullable(Type.Boolean()),
});
export type Agent = Static<typeof Agent>;

export const AgentUpdate = Closed({
  admin_state_up: Type.Optional(Type.Boolean()),
  description: Type.Optional(Nullable(Description)),
});
export type AgentUpdate = Static<typeof AgentUpdate>;

/** A heartbeat: registers the agent on first use; `start_flag` says it has just (re)started. */
export const Heartbeat = Closed({
  agent_type: Text,
  binary: Text,
  topic: Type.Optional(Text),
  configurations: Type.Optional(Dict),
  availability_zone: Type.Optional(Nullable(Text)),
  start_flag: Type.Optional(Type.Boolean()),
});
export type Heartbeat = Static<typeof Heartbeat>;

/** Packets and bytes a port's security groups dropped, by reason (`spoof`, `ingress`, …). */
export const DropCounters = Type.Record(
  Type.String({ maxLength: 32 }),
  Closed({ packets: Type.Integer({ minimum: 0 }), bytes: Type.Integer({ minimum: 0 }) }),
);
export type DropCounters = Static<typeof DropCounters>;

/**
 * A port's traffic as its owner sees it (an instance, a router, a DHCP server): `tx` is what it
 * sent, `rx` what it received; kernel counters, so they restart from 0 with the device.
 */
export const PortCounters = Closed({
  rx_bytes: Type.Integer({ minimum: 0 }),
  rx_packets: Type.Integer({ minimum: 0 }),
  tx_bytes: Type.Integer({ minimum: 0 }),
  tx_packets: Type.Integer({ minimum: 0 }),
});
export type PortCounters = Static<typeof PortCounters>;

/**
 * An agent's own health since it started, cumulative (it restarts from zero with the agent): the
 * reconciles it ran and their time, the kernel actions applied by kind, those that failed, those
 * that repaired drift, and when the last reconcile finished. The server shows them on `/metrics`
 * per host.
 */
export const AgentHealth = Closed({
  reconciles: Type.Integer({ minimum: 0 }),
  reconcile_seconds: Type.Number({ minimum: 0 }),
  last_reconcile_seconds: Type.Number({ minimum: 0 }),
  actions: Type.Record(Type.String({ maxLength: 64 }), Type.Integer({ minimum: 0 }), { maxProperties: 200 }),
  failures: Type.Integer({ minimum: 0 }),
  drift: Type.Integer({ minimum: 0 }),
  /** Unix time (s) the last reconcile finished. */
  last_sync: Type.Number({ minimum: 0 }),
});
export type AgentHealth = Static<typeof AgentHealth>;

/** An agent's view of the VPN services and IPsec site connections of its routers. */
const VpnReport = Type.Object(
  {
    services: Type.Array(
      Type.Object(
        { id: Type.String({ maxLength: 64 }), status: Type.Enum(['ACTIVE', 'DOWN', 'ERROR']) },
        { additionalProperties: false },
      ),
      { maxItems: 10000 },
    ),
    connections: Type.Array(VpnConnectionReport, { maxItems: 10000 }),
  },
  { additionalProperties: false },
);

/**
 * What a host's agent found after reconciling the snapshot of store revision `revision`: each
 * port's status and the problems its compile step reported (free text naming objects by id); and,
 * when they changed, the drop counters of every port it filters.
 */
export const StatusReport = Closed({
  revision: Type.Integer({ minimum: 0 }),
  ports: Type.Record(Type.String(), Type.Enum(['ACTIVE', 'DOWN'])),
  problems: Type.Optional(Type.Array(Type.String({ maxLength: 4096 }), { maxItems: 10000 })),
  drops: Type.Optional(Type.Record(Type.String({ maxLength: 64 }), DropCounters)),
  /** The traffic counters of every port it realises (when they changed since its last report). */
  counters: Type.Optional(Type.Record(Type.String({ maxLength: 64 }), PortCounters)),
  /** The agent's own health (see `AgentHealth`); absent from an older agent. */
  agent_health: Type.Optional(AgentHealth),
  /** The VRRP state of each HA router here, as its keepalived last announced it. */
  ha_states: Type.Optional(Type.Record(Type.String({ maxLength: 64 }), Type.Enum(['active', 'standby']))),
  /** haproxy's view of each load balancer it runs: member health and listener counters. */
  load_balancers: Type.Optional(Type.Array(LbReport, { maxItems: 10000 })),
  /** What strongSwan says of the VPN services and IPsec site connections it runs. */
  vpn: Type.Optional(VpnReport),
});
export type StatusReport = Static<typeof StatusReport>;

/** `GET /neutrino/v1/ports/{id}/drops`: the port's drop counters as its host last reported them. */
export const PortDrops = Closed({
  port_id: Type.String(),
  /** The reporting host; null before any report. */
  host: Nullable(Type.String()),
  updated_at: Nullable(Type.String()),
  drops: DropCounters,
});
export type PortDrops = Static<typeof PortDrops>;

/**
 * `GET /neutrino/v1/ports/{id}/stats`: the port's counters as its host last reported them, the
 * rates between its last two reports (bit/s and packets/s; null before the second), and its
 * security groups' drop counters.
 */
export const PortStats = Closed({
  port_id: Type.String(),
  /** The reporting host; null before any report. */
  host: Nullable(Type.String()),
  updated_at: Nullable(Type.String()),
  rx_bytes: Type.Integer({ minimum: 0 }),
  rx_packets: Type.Integer({ minimum: 0 }),
  tx_bytes: Type.Integer({ minimum: 0 }),
  tx_packets: Type.Integer({ minimum: 0 }),
  rx_bps: Nullable(Type.Number()),
  tx_bps: Nullable(Type.Number()),
  rx_pps: Nullable(Type.Number()),
  tx_pps: Nullable(Type.Number()),
  drops: DropCounters,
});
export type PortStats = Static<typeof PortStats>;

/** The stats of an instance's or a router's ports, and their sums (rates: null when none is known). */
export const DeviceStats = Closed({
  id: Type.String(),
  ports: Type.Array(PortStats),
  rx_bytes: Type.Integer({ minimum: 0 }),
  rx_packets: Type.Integer({ minimum: 0 }),
  tx_bytes: Type.Integer({ minimum: 0 }),
  tx_packets: Type.Integer({ minimum: 0 }),
  rx_bps: Nullable(Type.Number()),
  tx_bps: Nullable(Type.Number()),
});
export type DeviceStats = Static<typeof DeviceStats>;
