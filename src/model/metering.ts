/**
 * Metering (Neutron's `metering` and `metering_source_and_destination_fields`): a label counts
 * the traffic its rules select on every router of its project (every router when shared); a rule
 * selects by direction at the router's external gateway (`ingress`: entering from it, `egress`:
 * leaving through it) and by a remote prefix, or by source and/or destination prefixes, and
 * `excluded` rules take traffic out of the count. Neither labels nor rules can be updated.
 */
import { type Static, Type } from 'typebox';
import { Closed, Description, Name, Nullable, ProjectId, Uuid } from './common.js';

export const MeteringLabel = Closed({
  id: Uuid,
  name: Name,
  description: Description,
  project_id: ProjectId,
  tenant_id: ProjectId,
  shared: Type.Boolean(),
});
export type MeteringLabel = Static<typeof MeteringLabel>;

const Owner = { project_id: Type.Optional(ProjectId), tenant_id: Type.Optional(ProjectId) };

export const MeteringLabelCreate = Closed({
  name: Type.Optional(Name),
  description: Type.Optional(Description),
  ...Owner,
  shared: Type.Optional(Type.Union([Type.Boolean(), Type.String({ maxLength: 8 })])),
});
export type MeteringLabelCreate = Static<typeof MeteringLabelCreate>;

/** Nothing of a label can change (Neutron allows no PUT attribute). */
export const Unchangeable = Closed({});
export type Unchangeable = Static<typeof Unchangeable>;

export const METERING_DIRECTIONS = ['ingress', 'egress'] as const;
export type MeteringDirection = (typeof METERING_DIRECTIONS)[number];
const Prefix = Type.String({ maxLength: 64 });

export const MeteringLabelRule = Closed({
  id: Uuid,
  project_id: ProjectId,
  tenant_id: ProjectId,
  metering_label_id: Uuid,
  direction: Type.String(),
  excluded: Type.Boolean(),
  remote_ip_prefix: Nullable(Type.String()),
  source_ip_prefix: Nullable(Type.String()),
  destination_ip_prefix: Nullable(Type.String()),
});
export type MeteringLabelRule = Static<typeof MeteringLabelRule>;

export const MeteringLabelRuleCreate = Type.Object(
  {
    ...Owner,
    metering_label_id: Uuid,
    direction: Type.Optional(Type.Union(METERING_DIRECTIONS.map((d) => Type.Literal(d)))),
    excluded: Type.Optional(Type.Union([Type.Boolean(), Type.String({ maxLength: 8 })])),
    remote_ip_prefix: Type.Optional(Nullable(Prefix)),
    source_ip_prefix: Type.Optional(Nullable(Prefix)),
    destination_ip_prefix: Type.Optional(Nullable(Prefix)),
  },
  { additionalProperties: false, required: ['metering_label_id'] },
);
export type MeteringLabelRuleCreate = Static<typeof MeteringLabelRuleCreate>;

/** What an agent reports per router and label: cumulative counts since the counter was made. */
export const MeteringCount = Closed({
  router_id: Uuid,
  label_id: Uuid,
  bytes: Type.Integer({ minimum: 0 }),
  packets: Type.Integer({ minimum: 0 }),
});
export type MeteringCount = Static<typeof MeteringCount>;

/** `GET /neutrino/v1/metering-labels/{id}/stats`: totals and per router. */
export const MeteringLabelStats = Closed({
  label_id: Uuid,
  bytes: Type.Integer(),
  packets: Type.Integer(),
  routers: Type.Array(
    Closed({
      router_id: Uuid,
      host: Type.String(),
      bytes: Type.Integer(),
      packets: Type.Integer(),
      updated_at: Type.String(),
    }),
  ),
});
export type MeteringLabelStats = Static<typeof MeteringLabelStats>;
