/** `/v2.0/address-scopes` (Neutron's `address-scope`): no tags, as address scopes have no standard attributes. */
import { AddressScope, AddressScopeCreate, AddressScopeUpdate } from '../model/address-scope.js';
import type { CollectionSpec } from './resource-routes.js';
import type { Services } from './services.js';

export const addressScopes = (s: Services): CollectionSpec => ({
  path: 'address-scopes',
  collection: 'address_scopes',
  member: 'address_scope',
  resource: AddressScope,
  create: AddressScopeCreate,
  update: AddressScopeUpdate,
  service: s.addressScopes,
  taggable: false,
});
