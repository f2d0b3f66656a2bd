/**
 * An address scope (Neutron's `address-scope`): a family's address space in which subnet pools'
 * prefixes are unique, so subnets of one scope are routed to each other (and to a gateway in the
 * scope) without NAT. Neutron gives address scopes no standard attributes: no description,
 * timestamps, revision or tags.
 */
import { type Static, Type } from 'typebox';
import { Closed, Name, ProjectId, Standard, StandardCreate, Uuid } from './common.js';

export const AddressScope = Closed({
  id: Uuid,
  name: Name,
  project_id: ProjectId,
  tenant_id: ProjectId,
  shared: Type.Boolean(),
  ip_version: Type.Integer(),
});
export type AddressScope = Static<typeof AddressScope>;

export const AddressScopeCreate = Type.Object(
  {
    name: Type.Optional(Name),
    project_id: StandardCreate.project_id,
    tenant_id: StandardCreate.tenant_id,
    shared: Type.Optional(Type.Boolean()),
    ip_version: Type.Union([Type.Literal(4), Type.Literal(6)]),
  },
  { additionalProperties: false, required: ['ip_version'] },
);
export type AddressScopeCreate = Static<typeof AddressScopeCreate>;

export const AddressScopeUpdate = Closed({
  name: Type.Optional(Standard.name),
  shared: Type.Optional(Type.Boolean()),
});
export type AddressScopeUpdate = Static<typeof AddressScopeUpdate>;
