/**
 * `/v2.0/floatingips`, and `/v2.0/floatingip-pools` (the IPv4 subnets of the external networks
 * the caller may take floating IPs from, with Neutron's list conventions).
 */
import type { FastifyInstance } from 'fastify';
import type { FloatingIps } from '../core/floating-ips.js';
import { FloatingIp, FloatingIpCreate, FloatingIpPool, FloatingIpUpdate } from '../model/floating-ip.js';
import { contextOf } from './auth.js';
import { applyListQuery, type Query } from './list-query.js';
import { type CollectionSpec, publicBase } from './resource-routes.js';
import type { Services } from './services.js';

export const floatingIps = (s: Services): CollectionSpec => ({
  path: 'floatingips',
  collection: 'floatingips',
  member: 'floatingip',
  resource: FloatingIp,
  create: FloatingIpCreate,
  update: FloatingIpUpdate,
  service: s.floatingIps,
});

export function registerFloatingIpPools(app: FastifyInstance, service: FloatingIps): void {
  const base = '/v2.0/floatingip-pools';
  const attributes = new Set(Object.keys(FloatingIpPool.properties));
  app.get(base, async (req) => {
    // Pools have no id of their own: paging markers are subnet ids, as in Neutron.
    const all = (await service.pools(contextOf(req))).map((pool) => ({ id: pool.subnet_id, ...pool }));
    const { items, links } = applyListQuery(all, req.query as Query, attributes, `${publicBase(req)}${base}`);
    const pools = items.map(({ id: _, ...pool }) => pool);
    return links.length > 0
      ? { floatingip_pools: pools, floatingip_pools_links: links }
      : { floatingip_pools: pools };
  });
}
