/**
 * `/v2.0/routers`, plus its member actions: `add_router_interface` / `remove_router_interface`
 * (flat bodies, `{"subnet_id": …}` or `{"port_id": …}`, as the openstack CLI sends them) and
 * `add_extraroutes` / `remove_extraroutes` (extraroute-atomic).
 */
import type { FastifyInstance } from 'fastify';
import type { Routers } from '../core/routers.js';
import { ExtraRoutesRequest, InterfaceRequest, Router, RouterCreate, RouterUpdate } from '../model/router.js';
import { contextOf } from './auth.js';
import type { CollectionSpec } from './resource-routes.js';
import type { Services } from './services.js';

export const routers = (s: Services): CollectionSpec => ({
  path: 'routers',
  collection: 'routers',
  member: 'router',
  resource: Router,
  create: RouterCreate,
  update: RouterUpdate,
  service: s.routers,
});

export function registerRouterActions(app: FastifyInstance, service: Routers): void {
  const base = '/v2.0/routers/:id';
  const id = (params: unknown) => (params as { id: string }).id;

  app.put(`${base}/add_router_interface`, { schema: { body: InterfaceRequest } }, async (req) =>
    service.addInterface(contextOf(req), id(req.params), req.body as InterfaceRequest),
  );
  app.put(`${base}/remove_router_interface`, { schema: { body: InterfaceRequest } }, async (req) =>
    service.removeInterface(contextOf(req), id(req.params), req.body as InterfaceRequest),
  );
  app.put(`${base}/add_extraroutes`, { schema: { body: ExtraRoutesRequest } }, async (req) => {
    const { routes } = (req.body as ExtraRoutesRequest).router;
    return { router: await service.addExtraRoutes(contextOf(req), id(req.params), routes) };
  });
  app.put(`${base}/remove_extraroutes`, { schema: { body: ExtraRoutesRequest } }, async (req) => {
    const { routes } = (req.body as ExtraRoutesRequest).router;
    return { router: await service.removeExtraRoutes(contextOf(req), id(req.params), routes) };
  });
}
