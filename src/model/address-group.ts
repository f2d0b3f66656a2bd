/**
 * Address groups: a project's named list of CIDRs that security-group rules name as their remote
 * (`remote_address_group_id`) instead of one prefix. Addresses change only through the
 * `add_addresses` / `remove_addresses` actions, as in Neutron.
 */
import { type Static, Type } from 'typebox';
import { Closed, Standard, StandardCreate, StandardUpdate } from './common.js';

const { id, name, description, project_id, tenant_id, created_at, updated_at, revision_number } = Standard;

/** CIDRs (or single addresses) as given; stored normalised to `network/prefix`. */
const Addresses = Type.Array(Type.String({ maxLength: 64 }), { maxItems: 10_000 });

export const AddressGroup = Closed({
  id,
  name,
  description,
  project_id,
  tenant_id,
  addresses: Addresses,
  created_at,
  updated_at,
  revision_number,
});
export type AddressGroup = Static<typeof AddressGroup>;

export const AddressGroupCreate = Closed({
  name: StandardCreate.name,
  description: StandardCreate.description,
  project_id: StandardCreate.project_id,
  tenant_id: StandardCreate.tenant_id,
  addresses: Type.Optional(Type.Union([Addresses, Type.Null()])),
});
export type AddressGroupCreate = Static<typeof AddressGroupCreate>;

export const AddressGroupUpdate = Closed({ ...StandardUpdate });
export type AddressGroupUpdate = Static<typeof AddressGroupUpdate>;

/** The body of `PUT /v2.0/address-groups/{id}/add_addresses` and `…/remove_addresses`. */
export const AddressesChange = Type.Object(
  { addresses: Addresses },
  { additionalProperties: false, required: ['addresses'] },
);
export type AddressesChange = Static<typeof AddressesChange>;
