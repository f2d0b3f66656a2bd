import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { startServerProcess } from '../helpers/process.js';
import { client, dialects, startTestServer, type TestServer } from '../helpers/server.js';
import { openFeed, type SseEvent } from '../helpers/sse.js';

const FEED = '/neutrino/v1/events';

const changesFor = (evs: SseEvent[], id: string) =>
  evs.filter((e) => e.event === 'change' && JSON.parse(e.data).resource_id === id);

for (const dialect of dialects()) {
  describe(`change feed (${dialect})`, () => {
    let t: TestServer;
    let admin: ReturnType<typeof client>;
    let base: string;
    before(async () => {
      t = await startTestServer(dialect);
      admin = client(t, t.adminToken);
      base = await t.server.app.listen({ host: '127.0.0.1', port: 0 });
    });
    after(async () => {
      // Node's fetch reconnects after an abort and leaves that socket idle without a request;
      // close() would wait for undici's keep-alive timeout. Shutdown itself is tested below.
      t.server.app.server.closeAllConnections();
      await t.close();
    });

    it('writes one revision row per change, in order, with resource, id, op and project', async () => {
      const since = await t.store.latestRevision();
      const n = (await admin.post('/v2.0/networks', { network: { name: 'rev-a' } })).body.network;
      await admin.put(`/v2.0/networks/${n.id}`, { network: { name: 'rev-b' } });
      await admin.del(`/v2.0/networks/${n.id}`);
      const rows = await t.store.revisionsSince(since);
      assert.deepEqual(
        rows.map((r) => [r.resource, r.resource_id, r.op, r.project_id]),
        [
          ['networks', n.id, 'create', t.adminProjectId],
          ['networks', n.id, 'update', t.adminProjectId],
          ['networks', n.id, 'delete', t.adminProjectId],
        ],
      );
      assert.ok(rows[0].revision < rows[1].revision && rows[1].revision < rows[2].revision);
      assert.equal(await t.store.latestRevision(), rows[2].revision);
      assert.match(rows[0].created_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    });

    it('writes no revision for a failed (rolled back) bulk create', async () => {
      const since = await t.store.latestRevision();
      const bad = await admin.post('/v2.0/networks', {
        networks: [{ name: 'bulk-ok' }, { name: 'bulk-bad', 'provider:network_type': 'vlan' }],
      });
      assert.equal(bad.status, 400);
      assert.deepEqual(await t.store.revisionsSince(since), []);
      assert.equal((await admin.get('/v2.0/networks?name=bulk-ok')).body.networks.length, 0);
      const bulk = await admin.post('/v2.0/networks', { networks: [{ name: 'bulk-1' }, { name: 'bulk-2' }] });
      assert.equal(bulk.status, 201);
      const rows = await t.store.revisionsSince(since);
      assert.deepEqual(
        rows.map((r) => r.resource_id),
        bulk.body.networks.map((n: { id: string }) => n.id),
      );
    });

    it('writes no revision for a refused request', async () => {
      const since = await t.store.latestRevision();
      const reader = await t.newProjectUser('reader');
      assert.equal((await client(t, reader.token).post('/v2.0/networks', { network: {} })).status, 403);
      assert.equal((await admin.put('/v2.0/networks/nope', { network: { name: 'x' } })).status, 404);
      assert.deepEqual(await t.store.revisionsSince(since), []);
    });

    it('streams past changes as SSE, then new ones live', async () => {
      const a = (await admin.post('/v2.0/networks', { network: { name: 'feed-a' } })).body.network;
      const b = (await admin.post('/v2.0/networks', { network: { name: 'feed-b' } })).body.network;
      const feed = await openFeed(base, `${FEED}?since=0`, { 'x-auth-token': t.adminToken });
      try {
        assert.equal(feed.status, 200);
        assert.match(feed.headers.get('content-type') ?? '', /^text\/event-stream/);
        const evs = await feed.until((e) => changesFor(e, b.id).length > 0);
        const first = changesFor(evs, a.id)[0];
        assert.ok(first, 'the earlier create is replayed');
        const data = JSON.parse(first.data);
        assert.equal(first.event, 'change');
        assert.equal(first.id, String(data.revision));
        assert.deepEqual(
          {
            resource: data.resource,
            resource_id: data.resource_id,
            op: data.op,
            project_id: data.project_id,
          },
          { resource: 'networks', resource_id: a.id, op: 'create', project_id: t.adminProjectId },
        );
        const ids = evs.filter((e) => e.event === 'change').map((e) => Number(e.id));
        assert.deepEqual(
          ids,
          [...ids].sort((x, y) => x - y),
          'revisions arrive in order',
        );
        assert.equal(new Set(ids).size, ids.length, 'no revision twice');

        const c = (await admin.post('/v2.0/networks', { network: { name: 'feed-live' } })).body.network;
        const live = await feed.until((e) => changesFor(e, c.id).length > 0);
        assert.equal(JSON.parse(changesFor(live, c.id)[0].data).op, 'create');
        await admin.del(`/v2.0/networks/${c.id}`);
        const gone = await feed.until((e) => changesFor(e, c.id).length > 1);
        assert.equal(JSON.parse(changesFor(gone, c.id)[1].data).op, 'delete');
      } finally {
        feed.close();
      }
    });

    it('resumes after Last-Event-ID', async () => {
      const a = (await admin.post('/v2.0/networks', { network: { name: 'resume-a' } })).body.network;
      const rev = await t.store.latestRevision();
      const b = (await admin.post('/v2.0/networks', { network: { name: 'resume-b' } })).body.network;
      const feed = await openFeed(base, FEED, { 'x-auth-token': t.adminToken, 'last-event-id': String(rev) });
      try {
        const evs = await feed.until((e) => changesFor(e, b.id).length > 0);
        assert.equal(changesFor(evs, a.id).length, 0);
        assert.equal(evs[0].id, String(rev + 1));
      } finally {
        feed.close();
      }
    });

    it("shows a project's follower its own changes and the shared networks it sees, nothing else", async () => {
      const m = await t.newProjectUser('member');
      const member = client(t, m.token);
      const hidden = (await admin.post('/v2.0/networks', { network: { name: 'feed-hidden' } })).body.network;
      const shared = (await admin.post('/v2.0/networks', { network: { name: 'feed-shared', shared: true } }))
        .body.network;
      const feed = await openFeed(base, `${FEED}?since=0`, { 'x-auth-token': m.token });
      try {
        assert.equal(feed.status, 200);
        const own = (await member.post('/v2.0/networks', { network: { name: 'feed-own' } })).body.network;
        await admin.put(`/v2.0/networks/${hidden.id}`, { network: { name: 'feed-hidden-2' } });
        await admin.put(`/v2.0/networks/${shared.id}`, { network: { shared: false } });
        await admin.del(`/v2.0/networks/${shared.id}`);
        await member.del(`/v2.0/networks/${own.id}`);
        const evs = await feed.until((e) => changesFor(e, own.id).length >= 2);
        const seen = evs
          .filter((e) => e.event === 'change')
          .map((e) => JSON.parse(e.data))
          .map((d) => [d.resource_id, d.op]);
        assert.deepEqual(seen, [
          [shared.id, 'create'],
          [own.id, 'create'],
          [shared.id, 'update'],
          [own.id, 'delete'],
        ]);
        for (const e of evs.filter((x) => x.event === 'change')) {
          const { resource_id, project_id } = JSON.parse(e.data);
          assert.ok(resource_id !== hidden.id && (project_id === m.projectId || resource_id === shared.id));
        }
      } finally {
        feed.close();
      }
    });

    it('refuses unscoped tokens (403) and callers without a token (401)', async () => {
      await t.server.services.identity.createUser({ name: 'feed-unscoped', password: 'pw' });
      const login = await t.request('POST', '/identity/v3/auth/tokens', {
        auth: {
          identity: {
            methods: ['password'],
            password: { user: { name: 'feed-unscoped', domain: { id: 'default' }, password: 'pw' } },
          },
        },
      });
      assert.equal(login.status, 201);
      const forbidden = await client(t, String(login.headers['x-subject-token'])).get(`${FEED}?since=0`);
      assert.equal(forbidden.status, 403);
      assert.equal(forbidden.body.NeutronError.type, 'PolicyNotAuthorized');
      const anonymous = await t.request('GET', `${FEED}?since=0`);
      assert.equal(anonymous.status, 401);
      const bogus = await t.request('GET', `${FEED}?since=0`, undefined, { 'x-auth-token': 'bogus' });
      assert.equal(bogus.status, 401);
    });

    it('tells a follower whose revision was pruned to resync', async () => {
      for (const name of ['prune-1', 'prune-2', 'prune-3'])
        await admin.post('/v2.0/networks', { network: { name } });
      await t.store.pruneRevisions(2);
      const oldest = await t.store.oldestRevision();
      assert.ok(oldest > 2);
      const feed = await openFeed(base, `${FEED}?since=1`, { 'x-auth-token': t.adminToken });
      try {
        const evs = await feed.until((e) => e.filter((x) => x.event === 'change').length >= 2);
        assert.equal(evs[0].event, 'resync');
        assert.equal(JSON.parse(evs[0].data).oldest, oldest);
        assert.deepEqual(
          evs.slice(1).map((e) => Number(e.id)),
          [oldest, oldest + 1],
        );
      } finally {
        feed.close();
      }
      const current = await openFeed(base, `${FEED}?since=${oldest}`, { 'x-auth-token': t.adminToken });
      try {
        const evs = await current.until((e) => e.length >= 1);
        assert.equal(evs[0].event, 'change', 'a follower within the kept range needs no resync');
        assert.equal(evs[0].id, String(oldest + 1));
      } finally {
        current.close();
      }
    });
  });

  describe(`server endpoints (${dialect})`, () => {
    let t: TestServer;
    let admin: ReturnType<typeof client>;
    before(async () => {
      t = await startTestServer(dialect);
      admin = client(t, t.adminToken);
    });
    after(() => t.close());

    it('GET /healthz answers 200 without a token', async () => {
      const r = await t.request('GET', '/healthz');
      assert.equal(r.status, 200);
      assert.equal(r.body.status, 'ok');
    });

    it('GET / is the version document, without a token', async () => {
      const r = await t.request('GET', '/', undefined, {
        host: 'neutrino.test:9696',
        accept: 'application/json',
      });
      assert.equal(r.status, 200);
      assert.deepEqual(r.body, {
        versions: [
          {
            id: 'v2.0',
            status: 'CURRENT',
            links: [{ href: 'http://neutrino.test:9696/v2.0/', rel: 'self' }],
          },
        ],
      });
    });

    it('GET /v2.0 lists the resources', async () => {
      const r = await admin.get('/v2.0');
      assert.equal(r.status, 200);
      const networks = r.body.resources.find((x: { collection: string }) => x.collection === 'networks');
      assert.equal(networks.name, 'network');
      assert.match(networks.links[0].href, /\/v2\.0\/networks$/);
      assert.equal((await admin.get('/v2.0/')).status, 200);
    });

    it('answers unknown URLs with 404 NeutronError', async () => {
      for (const url of ['/v2.0/no-such-collection', '/v2.0/networks/x/y/z', '/nothing-here']) {
        const r = await admin.get(url);
        assert.equal(r.status, 404, url);
        assert.equal(r.body.NeutronError.type, 'HTTPNotFound', url);
        assert.equal(typeof r.body.NeutronError.message, 'string');
      }
    });

    it('GET /metrics counts requests by route and times database queries', async () => {
      await admin.post('/v2.0/networks', { network: { name: 'metered' } });
      await admin.get('/v2.0/networks');
      await admin.get('/v2.0/networks');
      await admin.get('/v2.0/unknown-thing-4711');
      const r = await t.request('GET', '/metrics');
      assert.equal(r.status, 200);
      assert.match(String(r.headers['content-type']), /^text\/plain/);
      const text = String(r.body);
      assert.match(text, /^# TYPE neutrino_http_requests_total counter$/m);
      const listed =
        /^neutrino_http_requests_total\{method="GET",route="\/v2\.0\/networks",status="200"\} (\d+)$/m.exec(
          text,
        );
      assert.ok(listed, text);
      assert.ok(Number(listed[1]) >= 2);
      assert.match(
        text,
        /^neutrino_http_requests_total\{method="POST",route="\/v2\.0\/networks",status="201"\} 1$/m,
      );
      assert.ok(!text.includes('unknown-thing-4711'), 'unmatched URLs do not become label values');
      assert.match(text, /^# TYPE neutrino_http_request_duration_seconds histogram$/m);
      assert.match(text, /^# TYPE neutrino_db_query_duration_seconds histogram$/m);
      const selects = /^neutrino_db_query_duration_seconds_count\{kind="select"\} (\d+)$/m.exec(text);
      assert.ok(selects && Number(selects[1]) > 0, 'database queries are timed');
      assert.match(text, /^neutrino_db_query_duration_seconds_count\{kind="insert"\} \d+$/m);
    });
  });

  describe(`shutdown with open streams (${dialect})`, () => {
    it('closing the server ends open event streams instead of hanging', async () => {
      const t = await startTestServer(dialect);
      const base = await t.server.app.listen({ host: '127.0.0.1', port: 0 });
      const feed = await openFeed(base, `${FEED}?since=0`, { 'x-auth-token': t.adminToken });
      assert.equal(feed.status, 200);
      const closing = t.close().then(() => 'closed' as const);
      const winner = await Promise.race([closing, sleep(3000).then(() => 'timeout' as const)]);
      feed.close();
      await closing;
      assert.equal(winner, 'closed', 'close() must not wait for followers to disconnect');
    });
  });
}

describe('neutrino server process: SIGTERM', () => {
  it('exits promptly and cleanly while a follower is connected', async () => {
    const proc = await startServerProcess();
    let stopped = false;
    try {
      const login = await fetch(`${proc.url}/identity/v3/auth/tokens`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          auth: {
            identity: {
              methods: ['password'],
              password: { user: { name: 'admin', domain: { id: 'default' }, password: proc.adminPassword } },
            },
          },
        }),
      });
      assert.equal(login.status, 201);
      const token = login.headers.get('x-subject-token')!;
      const feed = await openFeed(proc.url, `${FEED}?since=0`, { 'x-auth-token': token });
      assert.equal(feed.status, 200);
      const started = Date.now();
      const end = await proc.stop();
      stopped = true;
      feed.close();
      assert.deepEqual(end, { code: 0, signal: null }, proc.output());
      assert.ok(Date.now() - started < 1500, 'the stream was ended, not cut after the grace period');
    } finally {
      if (!stopped) await proc.stop();
    }
  });

  it('exits on SIGTERM even when a client holds a connection without sending a request', async () => {
    const proc = await startServerProcess();
    const url = new URL(proc.url);
    const socket = connect(Number(url.port), url.hostname);
    socket.on('error', () => undefined);
    try {
      await new Promise((resolve) => socket.once('connect', resolve));
      const started = Date.now();
      const end = await proc.stop();
      assert.deepEqual(end, { code: 0, signal: null }, proc.output());
      assert.ok(Date.now() - started < 4500, 'no SIGKILL was needed');
    } finally {
      socket.destroy();
      await proc.stop();
    }
  });
});
