/**
 * `/v2.0/floatingips/{floatingip_id}/port_forwardings` (Neutron's `floating-ip-port-forwarding`):
 * a sub-collection of a floating IP with list (Neutron's filters, fields, sorting and paging),
 * show, create, update and delete. The floating IP must be visible to the caller, else 404.
 */
import type { FastifyInstance } from 'fastify';
import type { PortForwardings } from '../core/port-forwardings.js';
import { updateEnvelope } from '../model/common.js';
import { PortForwarding, PortForwardingCreate, PortForwardingUpdate } from '../model/port-forwarding.js';
import { contextOf } from './auth.js';
import { checkFilters } from './filters.js';
import { applyListQuery, type Query, selectFields } from './list-query.js';
import { publicBase } from './resource-routes.js';

const COLLECTION = 'port_forwardings';
const MEMBER = 'port_forwarding';

export function registerPortForwardings(app: FastifyInstance, service: PortForwardings): void {
  const base = '/v2.0/floatingips/:floatingip_id/port_forwardings';
  const attributes = new Set(Object.keys(PortForwarding.properties));
  type Params = { floatingip_id: string; id: string };
  const fieldsOf = (q: Query) =>
    [q.fields ?? []].flat().filter((f): f is string => typeof f === 'string' && f !== '');

  app.get(base, async (req) => {
    const { floatingip_id } = req.params as Params;
    const q = checkFilters(COLLECTION, req.query as Query);
    const all = await service.list(contextOf(req), floatingip_id);
    const linkBase = `${publicBase(req)}/v2.0/floatingips/${floatingip_id}/${COLLECTION}`;
    const { items, links } = applyListQuery(all, q, attributes, linkBase);
    return links.length > 0
      ? { [COLLECTION]: items, [`${COLLECTION}_links`]: links }
      : { [COLLECTION]: items };
  });

  app.get(`${base}/:id`, async (req) => {
    const { floatingip_id, id } = req.params as Params;
    const view = await service.show(contextOf(req), floatingip_id, id);
    const fields = fieldsOf(req.query as Query);
    return { [MEMBER]: fields.length > 0 ? selectFields(view, fields) : view };
  });

  app.post(base, { schema: { body: updateEnvelope(MEMBER, PortForwardingCreate) } }, async (req, reply) => {
    const { floatingip_id } = req.params as Params;
    const body = (req.body as { [MEMBER]: PortForwardingCreate })[MEMBER];
    reply.code(201);
    return { [MEMBER]: await service.create(contextOf(req), floatingip_id, body) };
  });

  app.put(`${base}/:id`, { schema: { body: updateEnvelope(MEMBER, PortForwardingUpdate) } }, async (req) => {
    const { floatingip_id, id } = req.params as Params;
    const body = (req.body as { [MEMBER]: PortForwardingUpdate })[MEMBER];
    return { [MEMBER]: await service.update(contextOf(req), floatingip_id, id, body) };
  });

  app.delete(`${base}/:id`, async (req, reply) => {
    const { floatingip_id, id } = req.params as Params;
    await service.remove(contextOf(req), floatingip_id, id);
    return reply.code(204).send();
  });
}
