/** Version documents: `GET /` (no token; clients discover the API here) and `GET /v2.0`. */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { publicBase } from './resource-routes.js';

/** Collections listed by `GET /v2.0`, kept by the route table as resources register. */
export const COLLECTIONS: { name: string; collection: string; path: string }[] = [];

export function registerVersions(app: FastifyInstance, publicUrl?: string): void {
  app.get('/', async (req) => {
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
