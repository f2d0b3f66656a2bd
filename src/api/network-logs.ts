/**
 * Network logging under `/v2.0/log` (Neutron's `logging`): `logs` as a collection like any other
 * (no tags, as Neutron's), and `loggable-resources`, the types a log may name. Beside them,
 * Neutrino's own: agents post what they recorded to `/neutrino/v1/hosts/{host}/log-records`
 * (admins only), and `GET /neutrino/v1/logs/{id}/events?since=SEQ` serves a log's records to its
 * project, oldest first.
 */
import type { FastifyInstance } from 'fastify';
import { Type } from 'typebox';
import type { NetworkLogs } from '../core/network-logs.js';
import { HostName } from '../model/agent.js';
import {
  HostLogRecords,
  LoggableResource,
  LogRecord,
  NetworkLog,
  NetworkLogCreate,
  NetworkLogUpdate,
} from '../model/network-log.js';
import { contextOf } from './auth.js';
import type { CollectionSpec } from './resource-routes.js';
import type { Services } from './services.js';

export const networkLogs = (s: Services): CollectionSpec => ({
  path: 'log/logs',
  collection: 'logs',
  member: 'log',
  resource: NetworkLog,
  create: NetworkLogCreate,
  update: NetworkLogUpdate,
  service: s.networkLogs,
  taggable: false,
});

const Count = Type.String({ pattern: '^[0-9]{1,15}$' });

export function registerNetworkLogs(app: FastifyInstance, logs: NetworkLogs): void {
  const loggable = { 200: Type.Object({ loggable_resources: Type.Array(LoggableResource) }) };
  app.get('/v2.0/log/loggable-resources', { schema: { response: loggable } }, async (req) => {
    contextOf(req);
    return { loggable_resources: logs.loggableResources() };
  });

  const hostParams = Type.Object({ host: HostName }, { required: ['host'] });
  app.post(
    '/neutrino/v1/hosts/:host/log-records',
    { schema: { params: hostParams, body: HostLogRecords } },
    async (req, reply) => {
      const { host } = req.params as { host: string };
      await logs.report(contextOf(req), host, (req.body as HostLogRecords).records);
      return reply.code(204).send();
    },
  );

  const params = Type.Object({ id: Type.String({ maxLength: 64 }) }, { required: ['id'] });
  const querystring = Type.Object(
    { since: Type.Optional(Count), limit: Type.Optional(Count) },
    { additionalProperties: false },
  );
  const response = { 200: Type.Object({ log_records: Type.Array(LogRecord) }) };
  app.get('/neutrino/v1/logs/:id/events', { schema: { params, querystring, response } }, async (req) => {
    const { id } = req.params as { id: string };
    const q = req.query as { since?: string; limit?: string };
    const since = q.since === undefined ? 0 : Number(q.since);
    const limit = q.limit === undefined ? undefined : Number(q.limit);
    return { log_records: await logs.records(contextOf(req), id, since, limit) };
  });
}
