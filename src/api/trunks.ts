/**
 * `/v2.0/trunks` (Neutron's `trunk`), plus the member actions `add_subports` / `remove_subports`
 * (`{"sub_ports": […]}`, answered with the trunk itself, unwrapped, as Neutron does) and
 * `GET …/get_subports` (`{"sub_ports": […]}`).
 */
import type { FastifyInstance } from 'fastify';
import type { Trunks } from '../core/trunks.js';
import { SubPortsChange, Trunk, TrunkCreate, TrunkUpdate } from '../model/trunk.js';
import { contextOf } from './auth.js';
import type { CollectionSpec } from './resource-routes.js';
import type { Services } from './services.js';

export const trunks = (s: Services): CollectionSpec => ({
  path: 'trunks',
  collection: 'trunks',
  member: 'trunk',
  resource: Trunk,
  create: TrunkCreate,
  update: TrunkUpdate,
  service: s.trunks,
});

export function registerTrunkActions(app: FastifyInstance, service: Trunks): void {
  const base = '/v2.0/trunks/:id';
  const id = (params: unknown) => (params as { id: string }).id;
  app.put(`${base}/add_subports`, { schema: { body: SubPortsChange } }, async (req) =>
    service.addSubports(contextOf(req), id(req.params), (req.body as SubPortsChange).sub_ports),
  );
  app.put(`${base}/remove_subports`, { schema: { body: SubPortsChange } }, async (req) =>
    service.removeSubports(contextOf(req), id(req.params), (req.body as SubPortsChange).sub_ports),
  );
  app.get(`${base}/get_subports`, async (req) => ({
    sub_ports: await service.subports(contextOf(req), id(req.params)),
  }));
}
