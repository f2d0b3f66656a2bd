/**
 * A subnet pool (Neutron's `subnet_allocation`): prefixes subnets take their CIDRs from, with the
 * prefix lengths allowed and a per-project quota in address units, optionally inside an address
 * scope. `ip_version` follows from the prefixes. Neutron answers the three prefix lengths as
 * strings (`"24"`) from create, show and list, and as numbers from update.
 */
import { type Static, Type } from 'typebox';
import { Closed, Nullable, Standard, StandardCreate, StandardUpdate, Uuid } from './common.js';

const Prefixes = Type.Array(Type.String({ maxLength: 64 }), { maxItems: 1000 });
/** Neutron converts these with `convert_to_int`: a number or a numeric string. */
const IntLike = Type.Union([Type.Integer(), Type.String({ maxLength: 32 })]);
const PrefixLen = Type.Union([Type.String(), Type.Integer()]);

export const SubnetPool = Closed({
  ...Standard,
  prefixes: Type.Array(Type.String()),
  default_quota: Nullable(Type.Integer()),
  ip_version: Type.Integer(),
  default_prefixlen: PrefixLen,
  min_prefixlen: PrefixLen,
  max_prefixlen: PrefixLen,
  is_default: Type.Boolean(),
  shared: Type.Boolean(),
  address_scope_id: Nullable(Type.String()),
});
export type SubnetPool = Static<typeof SubnetPool>;

const Writable = {
  prefixes: Type.Optional(Prefixes),
  default_quota: Type.Optional(IntLike),
  default_prefixlen: Type.Optional(IntLike),
  min_prefixlen: Type.Optional(IntLike),
  max_prefixlen: Type.Optional(IntLike),
  is_default: Type.Optional(Type.Boolean()),
  address_scope_id: Type.Optional(Nullable(Uuid)),
};

export const SubnetPoolCreate = Type.Object(
  {
    ...StandardCreate,
    ...Writable,
    name: Standard.name,
    prefixes: Prefixes,
    shared: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false, required: ['name', 'prefixes'] },
);
export type SubnetPoolCreate = Static<typeof SubnetPoolCreate>;

export const SubnetPoolUpdate = Closed({ ...StandardUpdate, ...Writable });
export type SubnetPoolUpdate = Static<typeof SubnetPoolUpdate>;

/** The body of `PUT /v2.0/subnetpools/{id}/add_prefixes` and `…/remove_prefixes`. */
export const PrefixesChange = Type.Object({ prefixes: Type.Optional(Type.Unknown()) });
export type PrefixesChange = Static<typeof PrefixesChange>;
