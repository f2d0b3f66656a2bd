/**
 * `/v2.0/subnetpools` (Neutron's `subnet_allocation`), plus the member actions of
 * `subnetpool-prefix-ops`: `PUT …/add_prefixes` and `…/remove_prefixes` (`{"prefixes": [CIDR, …]}`,
 * answered with `{"prefixes": […]}`, the pool's compacted list).
 */
import type { FastifyInstance } from 'fastify';
import type { SubnetPools } from '../core/subnet-pools.js';
import { SubnetPool, SubnetPoolCreate, SubnetPoolUpdate } from '../model/subnet-pool.js';
import { contextOf } from './auth.js';
import type { CollectionSpec } from './resource-routes.js';
import type { Services } from './services.js';

export const subnetPools = (s: Services): CollectionSpec => ({
  path: 'subnetpools',
  collection: 'subnetpools',
  member: 'subnetpool',
  resource: SubnetPool,
  create: SubnetPoolCreate,
  update: SubnetPoolUpdate,
  service: s.subnetPools,
});

export function registerSubnetPoolActions(app: FastifyInstance, service: SubnetPools): void {
  const base = '/v2.0/subnetpools/:id';
  const id = (params: unknown) => (params as { id: string }).id;
  app.put(`${base}/add_prefixes`, async (req) =>
    service.addPrefixes(contextOf(req), id(req.params), req.body),
  );
  app.put(`${base}/remove_prefixes`, async (req) =>
    service.removePrefixes(contextOf(req), id(req.params), req.body),
  );
}
