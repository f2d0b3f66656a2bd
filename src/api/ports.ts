/** `/v2.0/ports`. */
import { Port, PortCreate, PortUpdate } from '../model/port.js';
import type { CollectionSpec } from './resource-routes.js';
import type { Services } from './services.js';

export const ports = (s: Services): CollectionSpec => ({
  path: 'ports',
  collection: 'ports',
  member: 'port',
  resource: Port,
  create: PortCreate,
  update: PortUpdate,
  service: s.ports,
});
