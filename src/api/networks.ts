/** `/v2.0/networks`. */
import { Network, NetworkCreate, NetworkUpdate } from '../model/network.js';
import type { CollectionSpec } from './resource-routes.js';
import type { Services } from './services.js';

export const networks = (s: Services): CollectionSpec => ({
  path: 'networks',
  collection: 'networks',
  member: 'network',
  resource: Network,
  create: NetworkCreate,
  update: NetworkUpdate,
  service: s.networks,
});
