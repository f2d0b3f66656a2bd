/**
 * `/v2.0/quotas`: list projects with limits of their own, show, set and reset a project's
 * limits, its defaults and its usage details (the quotas, quota_details and
 * quota-check-limit extensions). Policy and rules live in `core/quotas.ts`.
 */
import type { FastifyInstance } from 'fastify';
import { Type } from 'typebox';
import { QUOTA_RESOURCES, type QuotaChange, type Quotas } from '../core/quotas.js';
import { Closed, ProjectId } from '../model/common.js';
import { contextOf } from './auth.js';

/** A limit: -1 (unlimited) up to the database's integer maximum, as Neutron allows. */
const Limit = Type.Integer({ minimum: -1, maximum: 2147483647 });

const QuotaBody = Type.Object(
  {
    quota: Closed({
      ...Object.fromEntries(QUOTA_RESOURCES.map((r) => [r, Type.Optional(Limit)])),
      check_limit: Type.Optional(Type.Boolean()),
      force: Type.Optional(Type.Boolean()),
      project_id: Type.Optional(ProjectId),
      tenant_id: Type.Optional(ProjectId),
    }),
  },
  { additionalProperties: false, required: ['quota'] },
);

type Params = { project_id: string };

export function registerQuotas(app: FastifyInstance, quotas: Quotas): void {
  const base = '/v2.0/quotas';

  app.get(base, async (req) => ({ quotas: await quotas.list(contextOf(req)) }));

  app.get(`${base}/:project_id`, async (req) => {
    const { project_id } = req.params as Params;
    return { quota: await quotas.show(contextOf(req), project_id) };
  });

  app.get(`${base}/:project_id/default`, async (req) => {
    const { project_id } = req.params as Params;
    return { quota: await quotas.defaults(contextOf(req), project_id) };
  });

  // The api-ref names the `.json` form; gophercloud calls it.
  for (const details of ['details', 'details.json']) {
    app.get(`${base}/:project_id/${details}`, async (req) => {
      const { project_id } = req.params as Params;
      return { quota: await quotas.details(contextOf(req), project_id) };
    });
  }

  app.put(`${base}/:project_id`, { schema: { body: QuotaBody } }, async (req) => {
    const { project_id } = req.params as Params;
    const { quota } = req.body as { quota: QuotaChange };
    return { quota: await quotas.update(contextOf(req), project_id, quota) };
  });

  app.delete(`${base}/:project_id`, async (req, reply) => {
    const { project_id } = req.params as Params;
    await quotas.reset(contextOf(req), project_id);
    return reply.code(204).send();
  });
}
