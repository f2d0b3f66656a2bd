/**
 * Turns anything thrown while serving a request into the body clients expect: NeutronError
 * for the networking API, Keystone's `{"error": …}` under /identity. Validation failures from
 * the compiled schemas become 400s in Neutron's words.
 */
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import {
  HTTPBadRequest,
  InvalidContentType,
  NeutronError,
  NotFound,
  RequestEntityTooLarge,
} from '../core/errors.js';
import { KeystoneError } from '../identity/errors.js';

interface AjvError {
  keyword: string;
  instancePath: string;
  params: Record<string, unknown>;
  message?: string;
}

/** Neutron's wording for a schema violation. */
export function validationMessage(errors: AjvError[]): string {
  const extra = errors
    .filter((e) => e.keyword === 'additionalProperties')
    .map((e) => String(e.params.additionalProperty));
  if (extra.length) return `Unrecognized attribute(s) '${[...new Set(extra)].join(', ')}'`;
  const e = errors.find((x) => x.keyword !== 'anyOf') ?? errors[0];
  if (!e) return 'Invalid input';
  const where = e.instancePath.split('/').filter(Boolean).pop() ?? 'body';
  if (e.keyword === 'minProperties' || e.keyword === 'maxProperties') return 'Resource body required';
  if (e.keyword === 'required')
    return `Failed to parse request. Required attribute '${String(e.params.missingProperty)}' not specified`;
  if (e.keyword === 'type')
    return `Invalid input for ${where}. Reason: '${where}' is not a ${String(e.params.type)}.`;
  if (e.keyword === 'maxLength')
    return `Invalid input for ${where}. Reason: value exceeds maximum length of ${String(e.params.limit)}.`;
  return `Invalid input for ${where}. Reason: ${e.message ?? e.keyword}.`;
}

function isIdentity(req: FastifyRequest): boolean {
  return req.url.startsWith('/identity');
}

export function errorHandler(err: FastifyError | Error, req: FastifyRequest, reply: FastifyReply) {
  if (err instanceof KeystoneError) return reply.code(err.status).send(err.toBody());
  let neutron: NeutronError;
  if (err instanceof NeutronError) {
    neutron = err;
  } else {
    const f = err as FastifyError & { validation?: AjvError[] };
    if (f.validation) neutron = HTTPBadRequest({ msg: validationMessage(f.validation) });
    else if (
      f.code === 'FST_ERR_CTP_INVALID_JSON_BODY' ||
      f.code === 'FST_ERR_CTP_EMPTY_JSON_BODY' ||
      f instanceof SyntaxError
    )
      neutron = HTTPBadRequest({ msg: 'Malformed request body' });
    else if (f.code === 'FST_ERR_CTP_BODY_TOO_LARGE') neutron = RequestEntityTooLarge();
    else if (f.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE')
      neutron = InvalidContentType({ content_type: String(req.headers['content-type']) });
    else if (f.statusCode && f.statusCode >= 400 && f.statusCode < 500)
      neutron = HTTPBadRequest({ msg: f.message });
    else {
      req.log.error({ err }, 'request failed');
      neutron = new NeutronError(
        'HTTPInternalServerError',
        500,
        'Request Failed: internal server error while processing your request.',
      );
    }
  }
  if (isIdentity(req)) {
    const title = neutron.status === 404 ? 'Not Found' : neutron.status === 400 ? 'Bad Request' : 'Error';
    return reply
      .code(neutron.status)
      .send({ error: { code: neutron.status, message: neutron.message, title } });
  }
  return reply.code(neutron.status).send(neutron.toBody());
}

export function notFoundHandler(req: FastifyRequest, reply: FastifyReply) {
  return errorHandler(NotFound({ msg: 'The resource could not be found.' }), req, reply);
}
