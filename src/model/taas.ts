/**
 * Tap-as-a-Service (the `taas` extension of openstack/tap-as-a-service): a tap service names the
 * monitoring port that receives copies; a tap flow copies one source port's traffic to a tap
 * service, in a direction seen from the source port's instance (`IN`: what it receives, `OUT`:
 * what it sends, `BOTH`). `vlan_filter` (TaaS's `taas-vlan-filter`) is not supported: only null.
 */
import { type Static, Type } from 'typebox';
import { Closed, Description, Name, Nullable, ProjectId, Uuid } from './common.js';

export const TAP_DIRECTIONS = ['IN', 'OUT', 'BOTH'] as const;
export type TapDirection = (typeof TAP_DIRECTIONS)[number];

export const TapService = Closed({
  id: Uuid,
  name: Name,
  description: Description,
  project_id: ProjectId,
  tenant_id: ProjectId,
  port_id: Uuid,
  status: Type.String(),
});
export type TapService = Static<typeof TapService>;

const Owner = { project_id: Type.Optional(ProjectId), tenant_id: Type.Optional(ProjectId) };

export const TapServiceCreate = Type.Object(
  { name: Type.Optional(Name), description: Type.Optional(Description), ...Owner, port_id: Uuid },
  { additionalProperties: false, required: ['port_id'] },
);
export type TapServiceCreate = Static<typeof TapServiceCreate>;

export const TapServiceUpdate = Closed({
  name: Type.Optional(Name),
  description: Type.Optional(Description),
});
export type TapServiceUpdate = Static<typeof TapServiceUpdate>;

export const TapFlow = Closed({
  id: Uuid,
  name: Name,
  description: Description,
  project_id: ProjectId,
  tenant_id: ProjectId,
  tap_service_id: Uuid,
  source_port: Uuid,
  direction: Type.String(),
  status: Type.String(),
  vlan_filter: Nullable(Type.String()),
});
export type TapFlow = Static<typeof TapFlow>;

export const TapFlowCreate = Type.Object(
  {
    name: Type.Optional(Name),
    description: Type.Optional(Description),
    ...Owner,
    tap_service_id: Uuid,
    source_port: Uuid,
    direction: Type.Union(TAP_DIRECTIONS.map((d) => Type.Literal(d))),
    vlan_filter: Type.Optional(Nullable(Type.String({ maxLength: 1024 }))),
  },
  { additionalProperties: false, required: ['tap_service_id', 'source_port', 'direction'] },
);
export type TapFlowCreate = Static<typeof TapFlowCreate>;

export const TapFlowUpdate = TapServiceUpdate;
export type TapFlowUpdate = Static<typeof TapFlowUpdate>;
