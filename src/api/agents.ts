/**
 * `/v2.0/agents` (the agent extension): list with Neutron's filters, fields, sorting and paging,
 * show, update (`admin_state_up`, `description`) and delete; admins only. Agents register
 * themselves through `hosts.ts`; the rules live in `core/agents.ts`.
 */
import type { FastifyInstance } from 'fastify';
import type { Agents } from '../core/agents.js';
import { Agent, AgentUpdate } from '../model/agent.js';
import { updateEnvelope } from '../model/common.js';
import { contextOf } from './auth.js';
import { checkFilters } from './filters.js';
import { applyListQuery, type Query, selectFields } from './list-query.js';
import { publicBase } from './resource-routes.js';

const base = '/v2.0/agents';
const attributes = new Set(Object.keys(Agent.properties));

export function registerAgents(app: FastifyInstance, agents: Agents): void {
  app.get(base, async (req) => {
    const all = await agents.list(contextOf(req));
    const q = checkFilters('agents', req.query as Query);
    const { items, links } = applyListQuery(all, q, attributes, `${publicBase(req)}${base}`);
    return links.length > 0 ? { agents: items, agents_links: links } : { agents: items };
  });

  app.get(`${base}/:id`, async (req) => {
    const { id } = req.params as { id: string };
    const { fields } = req.query as Query;
    const view = await agents.show(contextOf(req), id);
    const wanted = (fields === undefined ? [] : [fields].flat()).filter((f) => f !== '');
    return { agent: wanted.length > 0 ? selectFields(view, wanted) : view };
  });

  app.put(`${base}/:id`, { schema: { body: updateEnvelope('agent', AgentUpdate) } }, async (req) => {
    const { id } = req.params as { id: string };
    const { agent } = req.body as { agent: AgentUpdate };
    return { agent: await agents.update(contextOf(req), id, agent) };
  });

  app.delete(`${base}/:id`, async (req, reply) => {
    const { id } = req.params as { id: string };
    await agents.remove(contextOf(req), id);
    return reply.code(204).send();
  });
}
