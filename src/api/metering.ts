/**
 * Metering under `/v2.0/metering`: `metering_labels` and `metering_label_rules` (collections
 * without tags or updates), `POST /neutrino/v1/hosts/{host}/metering` where agents report their
 * counts, and `GET /neutrino/v1/metering-labels/{id}/stats`, the counts agents
 * report (Neutron sends them only as notifications to its telemetry service).
 */
import type { FastifyInstance } from 'fastify';
import { Type } from 'typebox';
import type { MeteringLabels } from '../core/metering.js';
import { HostName } from '../model/agent.js';
import {
  MeteringCount,
  MeteringLabel,
  MeteringLabelCreate,
  MeteringLabelRule,
  MeteringLabelRuleCreate,
  MeteringLabelStats,
  Unchangeable,
} from '../model/metering.js';
import { contextOf } from './auth.js';
import type { CollectionSpec } from './resource-routes.js';
import type { Services } from './services.js';

export const meteringLabels = (s: Services): CollectionSpec => ({
  path: 'metering/metering-labels',
  collection: 'metering_labels',
  member: 'metering_label',
  resource: MeteringLabel,
  create: MeteringLabelCreate,
  update: Unchangeable,
  service: s.meteringLabels,
  taggable: false,
});

export const meteringLabelRules = (s: Services): CollectionSpec => ({
  path: 'metering/metering-label-rules',
  collection: 'metering_label_rules',
  member: 'metering_label_rule',
  resource: MeteringLabelRule,
  create: MeteringLabelRuleCreate,
  update: Unchangeable,
  service: s.meteringLabelRules,
  taggable: false,
});

export function registerMeteringStats(app: FastifyInstance, labels: MeteringLabels): void {
  // What an agent counted at its routers' gateways (admins only: agents), beside its status report.
  const hostParams = Type.Object({ host: HostName }, { required: ['host'] });
  const body = Type.Object(
    { metering: Type.Array(MeteringCount, { maxItems: 100000 }) },
    { additionalProperties: false, required: ['metering'] },
  );
  app.post(
    '/neutrino/v1/hosts/:host/metering',
    { schema: { params: hostParams, body } },
    async (req, reply) => {
      const { host } = req.params as { host: string };
      await labels.report(contextOf(req), host, (req.body as { metering: MeteringCount[] }).metering);
      return reply.code(204).send();
    },
  );

  const params = Type.Object({ id: Type.String({ maxLength: 64 }) }, { required: ['id'] });
  const response = { 200: Type.Object({ metering_label_stats: MeteringLabelStats }) };
  app.get('/neutrino/v1/metering-labels/:id/stats', { schema: { params, response } }, async (req) => {
    const { id } = req.params as { id: string };
    return { metering_label_stats: await labels.stats(contextOf(req), id) };
  });
}
