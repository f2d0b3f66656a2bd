/**
 * The agent's choice among several API servers: `serverUrls` (flag, variable or list), `ServerList`
 * (which server to ask, backoff and return, on a clock of the test's), and `FailoverSession` against
 * two small HTTP servers, one of which stops answering.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { FailoverSession, isServerDown, ServerList, serverUrls } from '../../src/agent/servers.js';
import { ApiError, Session } from '../../src/client/session.js';

const A = 'http://a:9696';
const B = 'http://b:9696';
const C = 'http://c:9696';

describe('serverUrls', () => {
  it('splits a comma-separated string, trims, drops trailing slashes and repeats', () => {
    assert.deepEqual(serverUrls(`${A}/, ${B} ,${A}`), [A, B]);
    assert.deepEqual(serverUrls([A, `${C}/`]), [A, C]);
    assert.deepEqual(serverUrls(A), [A]);
  });
});

describe('ServerList', () => {
  it('keeps asking the current server while it answers', () => {
    const list = new ServerList([A, B, C]);
    assert.equal(list.current, A);
    assert.deepEqual(list.candidates(0), [A, B, C]);
    list.succeeded(A);
    assert.deepEqual(list.candidates(1), [A, B, C]);
  });

  it('moves to the next server when the current one fails, and leaves the failed one alone for a while', () => {
    const list = new ServerList([A, B, C], { minBackoffMs: 500, maxBackoffMs: 4_000 });
    list.failed(A, 1_000);
    assert.equal(list.current, B);
    assert.deepEqual(list.candidates(1_000), [B, C], 'A backs off');
    assert.deepEqual(list.candidates(1_499), [B, C]);
    assert.deepEqual(list.candidates(1_500), [B, C, A], 'A comes back after its backoff, last in turn');
  });

  it('doubles the backoff of a server failing again and again, up to the maximum; an answer resets it', () => {
    const list = new ServerList([A, B], { minBackoffMs: 500, maxBackoffMs: 1_500 });
    list.failed(A, 0);
    assert.equal(list.waitMs(0), 0, 'B is ready');
    list.failed(B, 0);
    assert.equal(list.waitMs(0), 500);
    list.failed(A, 500);
    assert.deepEqual(list.candidates(600), [B], 'A waits 1 s now');
    list.failed(A, 1_500);
    list.failed(A, 3_000);
    assert.equal(list.waitMs(3_000), 0, 'B came back at 500');
    list.failed(B, 3_000);
    list.failed(B, 4_000);
    assert.equal(list.waitMs(4_000), 500, 'A: at most 1.5 s after its last failure');
    list.succeeded(A);
    list.failed(A, 10_000);
    assert.deepEqual(list.candidates(10_499), [B], 'after an answer, A backs off 0.5 s again');
    assert.deepEqual(list.candidates(10_500), [B, A]);
  });

  it('offers the server free soonest when every one is backing off (never none)', () => {
    const list = new ServerList([A, B], { minBackoffMs: 1_000 });
    list.failed(A, 0);
    list.failed(B, 100);
    assert.deepEqual(list.candidates(200), [A]);
    assert.equal(list.waitMs(200), 800);
  });

  it('a server that answers becomes current (a retry that reached another one)', () => {
    const list = new ServerList([A, B, C]);
    list.succeeded(C);
    assert.deepEqual(list.candidates(0), [C, A, B]);
  });
});

describe('isServerDown', () => {
  it('is a connection failure, a timeout or a gateway error; not a refused request', () => {
    assert.ok(isServerDown(new ApiError(0, 'ConnectionFailed', 'cannot reach')));
    assert.ok(isServerDown(new ApiError(503, '', 'HTTP 503')));
    assert.ok(isServerDown(Object.assign(new Error('timeout'), { name: 'TimeoutError' })));
    assert.ok(!isServerDown(new ApiError(409, 'Conflict', 'taken')));
    assert.ok(!isServerDown(new ApiError(500, '', 'bug')));
    assert.ok(!isServerDown(Object.assign(new Error('stopped'), { name: 'AbortError' })));
  });
});

describe('FailoverSession against two servers', () => {
  const hits: string[] = [];
  const servers: Server[] = [];
  const urls: string[] = [];

  before(async () => {
    for (const name of ['one', 'two']) {
      const server = createServer((req, res) => {
        hits.push(`${name} ${req.method} ${req.url}`);
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ from: name }));
      });
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      servers.push(server);
      urls.push(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
    }
  });

  after(async () => {
    for (const server of servers) {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    }
  });

  it('asks the first server, then the second once the first is gone, and stays there', async () => {
    const session = new FailoverSession(
      new Map(urls.map((url) => [url, new Session({ auth: { type: 'none' }, endpoint: url })])),
    );
    assert.deepEqual(await session.post('/x'), { from: 'one' });
    servers[0].closeAllConnections();
    await new Promise((r) => servers[0].close(r));
    assert.deepEqual(await session.post('/y'), { from: 'two' }, 'the same call moves on');
    assert.equal(session.servers.current, urls[1]);
    assert.deepEqual(await session.get('/z'), { from: 'two' });
    assert.deepEqual(hits, ['one POST /x', 'two POST /y', 'two GET /z']);
  });

  it('fails with the last error when no server answers', async () => {
    servers[1].closeAllConnections();
    await new Promise((r) => servers[1].close(r));
    const session = new FailoverSession(
      new Map(urls.map((url) => [url, new Session({ auth: { type: 'none' }, endpoint: url })])),
    );
    await assert.rejects(session.post('/w'), (err: unknown) => err instanceof ApiError && err.status === 0);
  });
});
