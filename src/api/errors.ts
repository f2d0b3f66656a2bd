/**
 * Turns anything thrown while serving a request into the body clients expect: NeutronError
 * for the networking API, Keystone's `{"error": …}` under /identity. Validation failures from
 * the compiled schemas become 400s in Neutron's words.
 */
import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import {
  HTTPBadRequest,
  InvalidContentType,
  NeutronError,
  NotFound,
  RequestEntityTooLarge,
  RequestHeaderFieldsTooLarge,
  RequestURITooLong,
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

function isIdentity(url: string): boolean {
  return url.startsWith('/identity');
}

/** The body of `error` in the format of the API that `url` belongs to. */
function bodyFor(url: string, error: NeutronError) {
  if (url.startsWith('/load-balancer')) {
    return {
      faultcode: error.status < 500 ? 'Client' : 'Server',
      faultstring: error.message,
      debuginfo: null,
    };
  }
  if (!isIdentity(url)) return error.toBody();
  const title = STATUS_CODES[error.status] ?? 'Error';
  return { error: { code: error.status, message: error.message, title } };
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
    else if (f.code === 'FST_ERR_BAD_URL') neutron = HTTPBadRequest({ msg: 'Malformed URL encoding' });
    else if (f.code === 'FST_ERR_MAX_PARAM_LENGTH') neutron = RequestURITooLong();
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
  return reply.code(neutron.status).send(bodyFor(req.url, neutron));
}

/**
 * Errors Node's HTTP parser meets before Fastify sees a request (headers too large, a malformed
 * request line): answered in the format of the API the request line names, when it can be read.
 */
export function clientErrorHandler(err: Error & { code?: string; rawPacket?: unknown }, socket: Socket) {
  if (err.code === 'ECONNRESET' || socket.destroyed) return;
  if (!socket.writable) {
    socket.destroy(err);
    return;
  }
  const raw = Buffer.isBuffer(err.rawPacket) ? err.rawPacket : Buffer.alloc(0);
  const requestLine = raw.subarray(0, 2048).toString('latin1').split('\r\n', 1)[0];
  const url = requestLine.split(' ')[1] ?? '';
  const error =
    err.code === 'HPE_HEADER_OVERFLOW'
      ? RequestHeaderFieldsTooLarge()
      : err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? new NeutronError('HTTPRequestTimeout', 408, 'Request timed out.')
        : HTTPBadRequest({ msg: 'Malformed HTTP request' });
  const body = JSON.stringify(bodyFor(url, error));
  socket.end(
    `HTTP/1.1 ${error.status} ${STATUS_CODES[error.status]}\r\nConnection: close\r\n` +
      `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
}

/** Fastify's own routing errors (bad URL encoding, a path parameter too long), in the API's format. */
export function frameworkErrorHandler(err: FastifyError, req: FastifyRequest, reply: FastifyReply) {
  return errorHandler(err, req, reply);
}

export function notFoundHandler(req: FastifyRequest, reply: FastifyReply) {
  return errorHandler(NotFound({ msg: 'The resource could not be found.' }), req, reply);
}
