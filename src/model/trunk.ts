/**
 * Trunks (Neutron's `trunk`): a parent port carrying untagged traffic and subports, each another
 * port reached by a VLAN (`segmentation_type: vlan`, an id 1–4094) on the parent's device inside
 * the instance. Subports change only through `add_subports` / `remove_subports`.
 */
import { type Static, Type } from 'typebox';
import { Closed, Standard, StandardCreate, StandardUpdate, Uuid } from './common.js';

const { id, name, description, project_id, tenant_id, tags, created_at, updated_at, revision_number } =
  Standard;

/** A subport as requests give it: both segmentation attributes, or `inherit`, or (to remove) neither. */
export const SubPortRequest = Type.Object(
  {
    port_id: Uuid,
    segmentation_type: Type.Optional(Type.String({ maxLength: 32 })),
    segmentation_id: Type.Optional(Type.Union([Type.Integer(), Type.String({ maxLength: 16 })])),
  },
  { additionalProperties: false, required: ['port_id'] },
);
export type SubPortRequest = Static<typeof SubPortRequest>;

export const SubPort = Type.Object({
  port_id: Uuid,
  segmentation_type: Type.String(),
  segmentation_id: Type.Integer(),
});
export type SubPort = Static<typeof SubPort>;

export const Trunk = Closed({
  id,
  name,
  description,
  project_id,
  tenant_id,
  admin_state_up: Type.Boolean(),
  port_id: Uuid,
  status: Type.String(),
  sub_ports: Type.Array(SubPort),
  tags,
  created_at,
  updated_at,
  revision_number,
});
export type Trunk = Static<typeof Trunk>;

export const TrunkCreate = Closed({
  ...StandardCreate,
  admin_state_up: Type.Optional(Type.Boolean()),
  port_id: Uuid,
  sub_ports: Type.Optional(Type.Array(SubPortRequest, { maxItems: 4094 })),
});
export type TrunkCreate = Static<typeof TrunkCreate>;

export const TrunkUpdate = Closed({ ...StandardUpdate, admin_state_up: Type.Optional(Type.Boolean()) });
export type TrunkUpdate = Static<typeof TrunkUpdate>;

/** The body of `PUT /v2.0/trunks/{id}/add_subports` and `…/remove_subports`. */
export const SubPortsChange = Type.Object(
  { sub_ports: Type.Array(SubPortRequest, { maxItems: 4094 }) },
  { additionalProperties: false, required: ['sub_ports'] },
);
export type SubPortsChange = Static<typeof SubPortsChange>;
