/** `/v2.0/subnets`. */
import { Subnet, SubnetCreate, SubnetUpdate } from '../model/subnet.js';
import type { CollectionSpec } from './resource-routes.js';
import type { Services } from './services.js';

export const subnets = (s: Services): CollectionSpec => ({
  path: 'subnets',
  collection: 'subnets',
  member: 'subnet',
  resource: Subnet,
  create: SubnetCreate,
  update: SubnetUpdate,
  service: s.subnets,
});
