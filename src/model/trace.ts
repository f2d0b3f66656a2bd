/**
 * A packet trace (`POST /neutrino/v1/trace`): what to send — from an instance, a port or an
 * address, to an instance, a port or an address (a fixed IP, a floating IP, an outside host),
 * by which protocol and port — and the model's answer: a verdict and the hops that explain it,
 * each naming the Neutron object it is about.
 */
import { type Static, Type } from 'typebox';
import { Closed } from './common.js';

export const TraceProtocols = ['tcp', 'udp', 'icmp'] as const;
/**
 * `leaves_project`: a member's trace met an object of another project it may not see and ends
 * there; what happens beyond is not the caller's to know.
 */
export const TraceVerdicts = ['allowed', 'denied', 'unreachable', 'leaves_project'] as const;

/** An instance (name or id), a port (id), or an IP address. */
const Endpoint = Type.String({ minLength: 1, maxLength: 255 });

export const TraceRequest = Closed({
  source: Endpoint,
  destination: Endpoint,
  protocol: Type.Enum([...TraceProtocols]),
  /** The destination port (tcp and udp only). */
  port: Type.Optional(Type.Integer({ minimum: 1, maximum: 65535 })),
  /** The address the source sends from, when not its own (to see what anti-spoofing makes of it). */
  source_ip: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
});
export type TraceRequest = Static<typeof TraceRequest>;

export const TraceObject = Closed({
  /** `network`, `subnet`, `port`, `instance`, `router`, `floating_ip`, `security_group_rule`, … */
  type: Type.String(),
  /** '' for none (the `project` a member's path leaves to names none). */
  id: Type.String(),
  name: Type.String(),
});
export type TraceObject = Static<typeof TraceObject>;

export const TraceHop = Closed({
  /**
   * What the hop checks: `source`, `anti-spoofing`, `egress`, `l2`, `gateway`, `route`, `nat`, …;
   * `boundary`: a member's path leaves its project (the hop names nothing).
   */
  step: Type.String(),
  object: TraceObject,
  detail: Type.String(),
  ok: Type.Boolean(),
});
export type TraceHop = Static<typeof TraceHop>;

export const TraceResult = Closed({
  verdict: Type.Enum([...TraceVerdicts]),
  hops: Type.Array(TraceHop),
  /** Why the packet does not arrive (absent when it is allowed). */
  reason: Type.Optional(Type.String()),
  /** The addresses the trace settled on: the source's, and the one the packet is sent to. */
  source_ip: Type.Optional(Type.String()),
  destination_ip: Type.Optional(Type.String()),
});
export type TraceResult = Static<typeof TraceResult>;
export type TraceVerdict = TraceResult['verdict'];
