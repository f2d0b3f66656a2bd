/**
 * Authentication for the networking API: `X-Auth-Token` is validated against the built-in
 * identity and becomes the request's `Context`. Only project-scoped tokens reach the API: an
 * unscoped or domain-scoped token gets 403 (as Neutron's scope-enforcing policy answers it), a
 * token whose user has lost every role on its project 401. With `auth: noauth` (Neutron's
 * auth_strategy=noauth, for `--os-auth-type none` clients) every caller is admin, scoped to
 * `X-Project-Id` or the bootstrap admin project.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Context } from '../core/context.js';
import { PolicyNotAuthorized } from '../core/errors.js';
import { Unauthorized } from '../identity/errors.js';
import { Identity } from '../identity/identity.js';

const CONTEXT = Symbol('neutrino.context');

export function contextOf(req: FastifyRequest): Context {
  const ctx = (req as unknown as Record<symbol, Context | undefined>)[CONTEXT];
  if (!ctx) throw Unauthorized();
  return ctx;
}

/** Paths that answer without a token. */
function isPublic(url: string): boolean {
  const path = url.split('?')[0];
  return (
    path === '/' ||
    path === '/v2.0' ||
    path === '/v2.0/' ||
    path === '/healthz' ||
    path === '/metrics' ||
    path.startsWith('/identity') ||
    path.startsWith('/ui/') ||
    path.startsWith('/assets/')
  );
}

export function registerAuth(
  app: FastifyInstance,
  identity: Identity,
  mode: 'keystone' | 'noauth',
  adminProject: () => Promise<string | null>,
): void {
  app.addHook('onRequest', async (req) => {
    if (isPublic(req.url)) return;
    let ctx: Context;
    if (mode === 'noauth') {
      const project = (req.headers['x-project-id'] as string | undefined) ?? (await adminProject());
      ctx = {
        userId: 'noauth',
        userName: 'noauth',
        projectId: project,
        projectName: null,
        roles: ['admin'],
        isAdmin: true,
      };
    } else {
      const token = req.headers['x-auth-token'];
      if (typeof token !== 'string' || token === '') throw Unauthorized();
      const info = await identity.validate(token);
      if (!info) throw Unauthorized();
      ctx = Identity.context(info);
      // Never a request without a project: filters by `project_id` would then match the rows
      // that have none (router gateway and floating-IP ports). A system-scoped admin is the
      // exception (Neutron's new defaults): it acts as admin, which filters nothing by project.
      if (ctx.projectId === null && !(info.system && ctx.isAdmin))
        throw PolicyNotAuthorized({ action: 'project_scope_required' });
    }
    (req as unknown as Record<symbol, Context>)[CONTEXT] = ctx;
  });
}
