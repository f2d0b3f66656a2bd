/**
 * Host diagnostics (`/neutrino/v1/hosts/{host}/diagnostics`): what an admin asks a host's agent to
 * look at on its own host, and what the agent answers. `check`: the host's kernel drift in model
 * terms (optionally only what concerns the objects on a packet's path); `probe`: one real packet
 * sent from inside an instance's namespace there; `listen`: a TCP listener started for a while in
 * an instance's namespace there, for a probe from another host to connect to.
 */
import { type Static, Type } from 'typebox';
import { Closed, Uuid } from './common.js';

const Address = Type.String({ minLength: 1, maxLength: 64 });
const TcpPort = Type.Integer({ minimum: 1, maximum: 65535 });
const Ids = Type.Array(Uuid, { maxItems: 1000 });

export const DiagnosticKinds = ['check', 'probe', 'listen'] as const;

export const CheckRequest = Closed({
  kind: Type.Literal('check'),
  /** Keep only the findings about these objects (a trace's hops), widened to what realises them. */
  path: Type.Optional(Ids),
});
export const ProbeRequest = Closed({
  kind: Type.Literal('probe'),
  /** The instance whose namespace sends the packet. */
  instance: Uuid,
  address: Address,
  protocol: Type.Enum(['tcp', 'icmp']),
  port: Type.Optional(TcpPort),
});
export const ListenRequest = Closed({
  kind: Type.Literal('listen'),
  instance: Uuid,
  port: TcpPort,
  /** How long the listener stays (it is stopped by then). Default 20. */
  seconds: Type.Optional(Type.Integer({ minimum: 1, maximum: 120 })),
});
export const DiagnosticRequest = Type.Union([CheckRequest, ProbeRequest, ListenRequest]);
export type DiagnosticRequest = Static<typeof DiagnosticRequest>;
export type CheckRequest = Static<typeof CheckRequest>;
export type ProbeRequest = Static<typeof ProbeRequest>;
export type ListenRequest = Static<typeof ListenRequest>;

export const DriftFinding = Closed({
  /** The action a reconcile would take (`veth.add`, …). */
  op: Type.String(),
  text: Type.String(),
  /** The model objects it concerns. */
  ids: Type.Array(Type.String()),
});
export type DriftFinding = Static<typeof DriftFinding>;

export const CheckResult = Closed({
  findings: Type.Array(DriftFinding),
  /** Findings left out for being off the requested path. */
  other: Type.Integer({ minimum: 0 }),
  /** The model revision the host's snapshot was read at. */
  revision: Type.Integer({ minimum: 0 }),
});
export const ProbeResult = Closed({
  /** null: not sent (`why` says why). */
  reached: Type.Union([Type.Boolean(), Type.Null()]),
  why: Type.Optional(Type.String()),
});
export const ListenResult = Closed({
  /** false: something listened there already. */
  started: Type.Boolean(),
  /** Why no listener could be had (then nothing listens). */
  why: Type.Optional(Type.String()),
});
export type CheckResult = Static<typeof CheckResult>;
export type ProbeResult = Static<typeof ProbeResult>;
export type ListenResult = Static<typeof ListenResult>;

/** What the agent posts back: a result, or why it could not produce one. */
export const DiagnosticAnswer = Type.Union([
  Closed({ result: Type.Union([CheckResult, ProbeResult, ListenResult]) }),
  Closed({ error: Type.String({ minLength: 1, maxLength: 4096 }) }),
]);
export type DiagnosticAnswer = Static<typeof DiagnosticAnswer>;

/** A request waiting for its host's agent, as the agent lists them. */
export const PendingDiagnostic = Closed({
  id: Uuid,
  host: Type.String(),
  request: DiagnosticRequest,
  created_at: Type.String(),
});
export type PendingDiagnostic = Static<typeof PendingDiagnostic>;

/** What the asking admin gets: the host's answer to its request. */
export const Diagnostic = Closed({
  id: Uuid,
  host: Type.String(),
  kind: Type.Enum([...DiagnosticKinds]),
  result: Type.Union([CheckResult, ProbeResult, ListenResult]),
});
export type Diagnostic = Static<typeof Diagnostic>;
