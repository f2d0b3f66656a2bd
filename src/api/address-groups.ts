/**
 * `/v2.0/address-groups` (Neutron's `address-group`), plus the member actions `add_addresses` and
 * `remove_addresses` (`{"addresses": [CIDR, …]}`; the answer is `{"address_group": …}`).
 */
import type { FastifyInstance } from 'fastify';
import type { AddressGroups } from '../core/address-groups.js';
import {
  AddressesChange,
  AddressGroup,
  AddressGroupCreate,
  AddressGroupUpdate,
} from '../model/address-group.js';
import { contextOf } from './auth.js';
import type { CollectionSpec } from './resource-routes.js';
import type { Services } from './services.js';

export const addressGroups = (s: Services): CollectionSpec => ({
  path: 'address-groups',
  collection: 'address_groups',
  member: 'address_group',
  resource: AddressGroup,
  create: AddressGroupCreate,
  update: AddressGroupUpdate,
  service: s.addressGroups,
  taggable: false,
});

export function registerAddressGroupActions(app: FastifyInstance, service: AddressGroups): void {
  const base = '/v2.0/address-groups/:id';
  const id = (params: unknown) => (params as { id: string }).id;
  app.put(`${base}/add_addresses`, { schema: { body: AddressesChange } }, async (req) => ({
    address_group: await service.addAddresses(
      contextOf(req),
      id(req.params),
      (req.body as AddressesChange).addresses,
    ),
  }));
  app.put(`${base}/remove_addresses`, { schema: { body: AddressesChange } }, async (req) => ({
    address_group: await service.removeAddresses(
      contextOf(req),
      id(req.params),
      (req.body as AddressesChange).addresses,
    ),
  }));
}
