/**
 * Errors raised before a handler runs — by Node's HTTP parser (headers too large), by Fastify
 * (bad URL encoding, a path parameter too long, a body too large, a media type it cannot read) —
 * are answered with the right status in the format of the path's API: NeutronError under /v2.0
 * and /neutrino, Keystone's `{"error": …}` under /identity. Driven over a real socket, since
 * some of them never reach Fastify's request object.
 */
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { dialects, startTestServer, type TestServer } from '../helpers/server.js';

interface ErrorBody {
  NeutronError: { type: string; message: string };
  error: { code: number; title: string; message: string };
}
type Answer = { status: number; body: ErrorBody };

/** Sends `raw` to the server and returns the status and the parsed JSON body. */
async function send(port: number, raw: string | Buffer): Promise<Answer> {
  const text = await new Promise<string>((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    socket.on('data', (c) => chunks.push(c));
    // A server that answers before reading the whole body (413) closes while we still write.
    socket.on('error', (err: NodeJS.ErrnoException) =>
      chunks.length && ['EPIPE', 'ECONNRESET'].includes(String(err.code)) ? undefined : reject(err),
    );
    socket.on('close', () => resolve(Buffer.concat(chunks).toString('utf8')));
    socket.end(raw);
  });
  const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1]);
  const body = text.slice(text.indexOf('\r\n\r\n') + 4);
  return { status, body: body ? JSON.parse(body) : undefined };
}

const request = (method: string, path: string, headers: Record<string, string> = {}, body = '') =>
  `${method} ${path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n${Object.entries(headers)
    .map(([k, v]) => `${k}: ${v}\r\n`)
    .join('')}${body ? `Content-Length: ${Buffer.byteLength(body)}\r\n` : ''}\r\n${body}`;

function assertNeutron(r: Answer, status: number, type?: string) {
  assert.equal(r.status, status, JSON.stringify(r.body));
  assert.equal(typeof r.body.NeutronError.message, 'string', JSON.stringify(r.body));
  if (type) assert.equal(r.body.NeutronError.type, type);
}

function assertKeystone(r: Answer, status: number) {
  assert.equal(r.status, status, JSON.stringify(r.body));
  assert.equal(r.body.error.code, status, JSON.stringify(r.body));
  assert.equal(typeof r.body.error.title, 'string');
}

for (const dialect of dialects().slice(0, 1)) {
  describe('errors before the handler, in the API’s format', () => {
    let t: TestServer;
    let port: number;
    before(async () => {
      t = await startTestServer(dialect);
      await t.server.app.listen({ host: '127.0.0.1', port: 0 });
      const address = t.server.app.server.address();
      port = typeof address === 'object' && address ? address.port : 0;
    });
    after(() => t.close());

    const token = () => ({ 'X-Auth-Token': t.adminToken });

    it('headers too large: 431', async () => {
      const big = { 'X-Padding': 'x'.repeat(20_000) };
      assertNeutron(await send(port, request('GET', '/v2.0/networks', big)), 431);
      assertKeystone(await send(port, request('GET', '/identity/v3/users', big)), 431);
    });

    it('a request line too long: 431, like any header overflow', async () => {
      const long = `?name=${'x'.repeat(20_000)}`;
      assertNeutron(await send(port, request('GET', `/v2.0/networks${long}`)), 431);
      assertKeystone(await send(port, request('GET', `/identity/v3/users${long}`)), 431);
    });

    it('bad URL encoding: 400', async () => {
      assertNeutron(await send(port, request('GET', '/v2.0/networks/%zz', token())), 400, 'HTTPBadRequest');
      assertKeystone(await send(port, request('GET', '/identity/v3/users/%E0%A4%A', token())), 400);
    });

    it('a path parameter too long: 414', async () => {
      const id = 'a'.repeat(400);
      assertNeutron(await send(port, request('GET', `/v2.0/networks/${id}`, token())), 414);
      assertKeystone(await send(port, request('GET', `/identity/v3/users/${id}`, token())), 414);
    });

    it('a body too large: 413', async () => {
      const body = JSON.stringify({ network: { name: 'x'.repeat(5 * 1024 * 1024) } });
      const json = { ...token(), 'Content-Type': 'application/json' };
      assertNeutron(
        await send(port, request('POST', '/v2.0/networks', json, body)),
        413,
        'RequestEntityTooLarge',
      );
      assertKeystone(await send(port, request('POST', '/identity/v3/auth/tokens', json, body)), 413);
    });

    it('a media type it cannot read: 415', async () => {
      const xml = { ...token(), 'Content-Type': 'application/xml' };
      assertNeutron(
        await send(port, request('POST', '/v2.0/networks', xml, '<network/>')),
        415,
        'InvalidContentType',
      );
      assertKeystone(await send(port, request('POST', '/identity/v3/auth/tokens', xml, '<auth/>')), 415);
    });

    it('a NUL character in a path, query or body: 400, never a database error', async () => {
      const json = { ...token(), 'Content-Type': 'application/json' };
      assertNeutron(await send(port, request('GET', '/v2.0/networks/a%00b', token())), 400);
      assertNeutron(await send(port, request('GET', '/v2.0/networks?name=a%00b', token())), 400);
      const body = JSON.stringify({ network: { name: 'a\u0000b' } });
      assertNeutron(await send(port, request('POST', '/v2.0/networks', json, body)), 400);
      assertKeystone(await send(port, request('GET', '/identity/v3/users/a%00b', token())), 400);
    });

    it('a malformed request: 400, and the server keeps serving', async () => {
      const r = await send(port, 'NOT-HTTP\r\n\r\n');
      assert.equal(r.status, 400);
      assertNeutron(
        await send(port, request('GET', '/v2.0/networks/nothing', token())),
        404,
        'NetworkNotFound',
      );
    });
  });
}
