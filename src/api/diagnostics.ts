/**
 * `/neutrino/v1/hosts/{host}/diagnostics` (admins only): `POST` asks the host's agent to run a
 * diagnostic on its host and answers with the agent's result once it arrives; the agent `GET`s the
 * requests pending for its host and `PUT`s each answer to `…/diagnostics/{id}`. The rules (who,
 * how long to wait, what stays pending) live in `core/diagnostics.ts`.
 */
import type { FastifyInstance } from 'fastify';
import { Type } from 'typebox';
import type { HostDiagnostics } from '../core/diagnostics.js';
import { HostName } from '../model/agent.js';
import { Uuid } from '../model/common.js';
import { Diagnostic, DiagnosticAnswer, DiagnosticRequest, PendingDiagnostic } from '../model/diagnostics.js';
import { contextOf } from './auth.js';

const base = '/neutrino/v1/hosts/:host/diagnostics';
const params = Type.Object({ host: HostName }, { required: ['host'] });
const idParams = Type.Object({ host: HostName, id: Uuid }, { required: ['host', 'id'] });

export function registerDiagnostics(app: FastifyInstance, diagnostics: HostDiagnostics): void {
  app.post(
    base,
    {
      schema: { params, body: DiagnosticRequest, response: { 200: Type.Object({ diagnostic: Diagnostic }) } },
    },
    async (req) => {
      const { host } = req.params as { host: string };
      return { diagnostic: await diagnostics.ask(contextOf(req), host, req.body as DiagnosticRequest) };
    },
  );

  app.get(
    base,
    { schema: { params, response: { 200: Type.Object({ diagnostics: Type.Array(PendingDiagnostic) }) } } },
    async (req) => {
      const { host } = req.params as { host: string };
      return { diagnostics: await diagnostics.pending(contextOf(req), host) };
    },
  );

  app.put(`${base}/:id`, { schema: { params: idParams, body: DiagnosticAnswer } }, async (req, reply) => {
    const { host, id } = req.params as { host: string; id: string };
    await diagnostics.answer(contextOf(req), host, id, req.body as DiagnosticAnswer);
    return reply.code(204).send();
  });
}
