/**
 * `/neutrino/v1/instances`: create, list (Neutron's filters, fields, sorting and paging), show
 * and delete. The rules live in `core/instances.ts`.
 */
import type { FastifyInstance } from 'fastify';
import { Type } from 'typebox';
import type { Instances } from '../core/instances.js';
import { Instance, InstanceCreate } from '../model/instance.js';
import { contextOf } from './auth.js';
import { applyListQuery, type Query, selectFields } from './list-query.js';
import { publicBase } from './resource-routes.js';

const base = '/neutrino/v1/instances';
const CreateBody = Type.Object(
  { instance: InstanceCreate },
  { additionalProperties: false, required: ['instance'] },
);
const attributes = new Set(Object.keys(Instance.properties));

export function registerInstances(app: FastifyInstance, instances: Instances): void {
  app.get(base, async (req) => {
    const all = await instances.list(contextOf(req));
    const { items, links } = applyListQuery(all, req.query as Query, attributes, `${publicBase(req)}${base}`);
    return links.length > 0 ? { instances: items, instances_links: links } : { instances: items };
  });

  app.get(`${base}/:id`, async (req) => {
    const { id } = req.params as { id: string };
    const { fields } = req.query as Query;
    const view = await instances.show(contextOf(req), id);
    const wanted = (fields === undefined ? [] : [fields].flat()).filter((f) => f !== '');
    return { instance: wanted.length > 0 ? selectFields(view, wanted) : view };
  });

  app.post(base, { schema: { body: CreateBody } }, async (req, reply) => {
    const { instance } = req.body as { instance: InstanceCreate };
    const created = await instances.create(contextOf(req), instance);
    return reply.code(201).send({ instance: created });
  });

  app.delete(`${base}/:id`, async (req, reply) => {
    const { id } = req.params as { id: string };
    await instances.remove(contextOf(req), id);
    return reply.code(204).send();
  });
}
