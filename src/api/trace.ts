/**
 * `POST /neutrino/v1/trace`: traces a packet through the model (`core/trace.ts`) and answers
 * with the verdict and its hops. The whole model is read as the system sees it (a path crosses
 * other projects' routers and external networks); the caller's own listing decides which of those
 * objects the answer may name.
 */
import type { FastifyInstance } from 'fastify';
import { type Context, SYSTEM } from '../core/context.js';
import { type TraceModel, type TraceViewer, trace } from '../core/trace.js';
import { TraceRequest, TraceResult } from '../model/trace.js';
import { contextOf } from './auth.js';
import type { Services } from './services.js';

const ALL = { filters: {} };

async function readModel(s: Services, ctx: Context): Promise<TraceModel> {
  const [networks, subnets, ports, routers, floatingIps, securityGroups, instances] = await Promise.all([
    s.networks.list(ctx, ALL),
    s.subnets.list(ctx, ALL),
    s.ports.list(ctx, ALL),
    s.routers.list(ctx, ALL),
    s.floatingIps.list(ctx, ALL),
    s.securityGroups.list(ctx, ALL),
    s.instances.list(ctx),
  ]);
  return {
    networks,
    subnets,
    ports,
    routers,
    floatingIps,
    securityGroups,
    instances,
  } as unknown as TraceModel;
}

/** The ids of every object `ctx` may see; undefined for admins (everything). */
async function viewerOf(s: Services, ctx: Context): Promise<TraceViewer> {
  if (ctx.isAdmin) return {};
  const own = await readModel(s, ctx);
  return {
    visible: new Set(Object.values(own).flatMap((items: { id: string }[]) => items.map((i) => i.id))),
  };
}

export function registerTrace(app: FastifyInstance, services: Services): void {
  app.post(
    '/neutrino/v1/trace',
    { schema: { body: TraceRequest, response: { 200: TraceResult } } },
    async (req) => {
      const ctx = contextOf(req);
      const [model, viewer] = await Promise.all([readModel(services, SYSTEM), viewerOf(services, ctx)]);
      return trace(model, req.body as TraceRequest, viewer);
    },
  );
}
