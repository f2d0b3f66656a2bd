/**
 * Neutron's agent scheduler routes (the `dhcp_agent_scheduler` and `l3_agent_scheduler`
 * extensions, admins only): a DHCP agent's networks and a network's DHCP agents, an L3 agent's
 * routers and a router's L3 agents, adding and removing them. The rules live in `core/scheduler.ts`.
 */
import type { FastifyInstance, FastifyReply } from 'fastify';
import type { Scheduler } from '../core/scheduler.js';
import { Closed, Uuid } from '../model/common.js';
import { contextOf } from './auth.js';

const NetworkId = Closed({ network_id: Uuid });
const RouterId = Closed({ router_id: Uuid });

/** Neutron answers an add with 201 and a JSON `null` body. */
function created(reply: FastifyReply) {
  return reply.code(201).type('application/json').send('null');
}

export function registerScheduler(app: FastifyInstance, scheduler: Scheduler): void {
  app.get('/v2.0/agents/:id/dhcp-networks', async (req) => {
    const { id } = req.params as { id: string };
    return { networks: await scheduler.networksOnDhcpAgent(contextOf(req), id) };
  });
  app.post('/v2.0/agents/:id/dhcp-networks', { schema: { body: NetworkId } }, async (req, reply) => {
    const { id } = req.params as { id: string };
    const { network_id } = req.body as { network_id: string };
    await scheduler.addNetworkToDhcpAgent(contextOf(req), id, network_id);
    return created(reply);
  });
  app.delete('/v2.0/agents/:id/dhcp-networks/:networkId', async (req, reply) => {
    const { id, networkId } = req.params as { id: string; networkId: string };
    await scheduler.removeNetworkFromDhcpAgent(contextOf(req), id, networkId);
    return reply.code(204).send();
  });
  app.get('/v2.0/networks/:id/dhcp-agents', async (req) => {
    const { id } = req.params as { id: string };
    return { agents: await scheduler.dhcpAgentsHostingNetwork(contextOf(req), id) };
  });

  app.get('/v2.0/agents/:id/l3-routers', async (req) => {
    const { id } = req.params as { id: string };
    return { routers: await scheduler.routersOnL3Agent(contextOf(req), id) };
  });
  app.post('/v2.0/agents/:id/l3-routers', { schema: { body: RouterId } }, async (req, reply) => {
    const { id } = req.params as { id: string };
    const { router_id } = req.body as { router_id: string };
    await scheduler.addRouterToL3Agent(contextOf(req), id, router_id);
    return created(reply);
  });
  app.delete('/v2.0/agents/:id/l3-routers/:routerId', async (req, reply) => {
    const { id, routerId } = req.params as { id: string; routerId: string };
    await scheduler.removeRouterFromL3Agent(contextOf(req), id, routerId);
    return reply.code(204).send();
  });
  app.get('/v2.0/routers/:id/l3-agents', async (req) => {
    const { id } = req.params as { id: string };
    return { agents: await scheduler.l3AgentsHostingRouter(contextOf(req), id) };
  });
}
