/**
 * Fairness between projects: at most `limit` writes (POST, PUT, DELETE under `/v2.0`) of one
 * project are in progress at once; its further writes wait in that project's own queue. The
 * store runs one write transaction at a time on SQLite (a few on PostgreSQL) and serves them in
 * arrival order, so a project firing many concurrent writes would otherwise put all of them
 * ahead of everyone else's next request.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { contextOf } from './auth.js';

const WRITES = new Set(['POST', 'PUT', 'DELETE', 'PATCH']);
const HELD = Symbol('neutrino.writeSlot');

/** One project's writes: how many run, and who waits for a turn. */
interface Lane {
  running: number;
  waiting: (() => void)[];
}

export function registerFairness(app: FastifyInstance, limit: number): void {
  if (limit <= 0) return;
  const lanes = new Map<string, Lane>();

  const release = (req: FastifyRequest) => {
    const project = (req as unknown as Record<symbol, string | undefined>)[HELD];
    if (project === undefined) return;
    (req as unknown as Record<symbol, string | undefined>)[HELD] = undefined;
    const lane = lanes.get(project)!;
    const next = lane.waiting.shift();
    if (next) next();
    else if (--lane.running === 0) lanes.delete(project);
  };

  // Registered after authentication, whose hook sets the request's context.
  app.addHook('onRequest', async (req) => {
    if (!WRITES.has(req.method) || !req.url.startsWith('/v2.0/')) return;
    const project = contextOf(req).projectId ?? '';
    let lane = lanes.get(project);
    if (!lane) {
      lane = { running: 0, waiting: [] };
      lanes.set(project, lane);
    }
    if (lane.running < limit) lane.running++;
    // A finishing write hands its slot over directly (`running` stays as it is).
    else await new Promise<void>((resolve) => lane.waiting.push(resolve));
    (req as unknown as Record<symbol, string | undefined>)[HELD] = project;
  });
  app.addHook('onResponse', async (req) => release(req));
  app.addHook('onRequestAbort', async (req) => release(req));
}
