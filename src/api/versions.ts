/**
 * Version documents: `GET /` (no token; clients discover the API here) and `GET /v2.0`. A
 * browser asking for `/` (preferring HTML to JSON) gets the dashboard instead.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { type Dashboard, prefersHtml } from './dashboard.js';
import { publicBase } from './resource-routes.js';

/** Collections listed by `GET /v2.0`, kept by the route table as resources register. */
export const COLLECTIONS: { name: string; collection: string; path: string }[] = [];

export function registerVersions(app: FastifyInstance, publicUrl?: string, dashboard?: Dashboard): void {
  app.get('/', async (req, reply) => {
    reply.header('vary', 'Accept');
    if (dashboard && prefersHtml(req.headers.accept)) return dashboard.sendPage(reply);
    const base = publicUrl ?? publicBase(req);
    return { versions: [{ id: 'v2.0', status: 'CURRENT', links: [{ href: `${base}/v2.0/`, rel: 'self' }] }] };
  });
  const index = async (req: FastifyRequest) => {
    const base = publicUrl ?? publicBase(req);
    return {
      resources: COLLECTIONS.map((c) => ({
        name: c.name,
        collection: c.collection,
        links: [{ href: `${base}/v2.0/${c.path}`, rel: 'self' }],
      })),
    };
  };
  app.get('/v2.0', index);
}
