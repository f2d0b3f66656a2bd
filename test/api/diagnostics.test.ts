/**
 * Host diagnostics (`/neutrino/v1/hosts/{host}/diagnostics`): admins only (the ask, the agent's
 * list and its answer); an unknown host is a 404 and a host whose agent is dead a 409, with nothing
 * left pending; an agent that does not answer in time is a 504 and its request is gone; an agent
 * following the change feed — the agent's own `Diagnostics` over HTTP, with the host's states
 * given — is woken by the request, answers it, and the asking admin gets the answer (its drift
 * findings, a probe that could not be sent and why); an agent's failure comes back as a 502 with
 * its message. On PostgreSQL a request made at one server reaches an agent following another.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Diagnostics, isDiagnosticRequest } from '../../src/agent/diagnostics.js';
import { parseSse } from '../../src/agent/runner.js';
import { emptyHostState, type HostState } from '../../src/agent/state/host-state.js';
import { Metrics } from '../../src/api/metrics.js';
import { buildServer } from '../../src/api/server.js';
import { Session } from '../../src/client/session.js';
import { DEFAULT_SETTINGS } from '../../src/core/settings.js';
import type { Snapshot } from '../../src/model/host-snapshot.js';
import { Store } from '../../src/store/store.js';
import { client, createPgDatabase, dialects, startTestServer, type TestServer } from '../helpers/server.js';
import { PORT_A, snapshotNetwork, snapshotPort } from '../helpers/snapshot.js';

type Client = ReturnType<typeof client>;
const PATH = (host: string) => `/neutrino/v1/hosts/${host}/diagnostics`;
const INSTANCE = '33333333-cccc-4ccc-8ccc-cccccccccccc';
const SILENT = { debug() {}, info() {}, warn() {}, error() {} };

/** An admin session on a listening server (the one an agent or the CLI has). */
function adminSession(base: string): Session {
  return new Session({
    auth: {
      type: 'password',
      credentials: {
        authUrl: `${base}/identity/v3`,
        username: 'admin',
        password: 'secret',
        projectName: 'admin',
        userDomainName: 'Default',
        projectDomainName: 'Default',
      },
    },
    endpoint: base,
  });
}

/** A host snapshot with one port, and what the agent wants there: the port's tap device. */
function hostWithOnePort(host: string): { snapshot: Snapshot; desired: HostState } {
  const snapshot = {
    host,
    revision: 7,
    dnsDomain: 'openstacklocal',
    networks: [snapshotNetwork()],
    subnets: [],
    ports: [snapshotPort(PORT_A, '10.0.0.5', 'fa:16:3e:00:00:0a')],
    instances: [],
    routers: [],
    physicalInterfaceMappings: {},
  } as unknown as Snapshot;
  const desired = emptyHostState();
  desired.veths['tapaaaaaaaa-22'] = {
    mtu: 1450,
    master: 'brq6f1b2c3d-4e',
    alias: `neutrino:port:${PORT_A}@test`,
    up: true,
    peer: { netns: `inst-${INSTANCE}`, name: 'eth0' },
  };
  return { snapshot, desired };
}

/**
 * The agent's side as `AgentRunner` wires it: follows `base`'s change feed and, when a diagnostic
 * is asked for (and once connected), lets `Diagnostics` look for the host's pending requests.
 * The kernel's state is given: `actual` (default: nothing).
 */
function followingAgent(base: string, host: string, actual: () => HostState = emptyHostState) {
  const session = adminSession(base);
  const { snapshot, desired } = hostWithOnePort(host);
  const diagnostics = new Diagnostics({
    session,
    host,
    snapshot: async () => snapshot,
    inspect: async () => ({ desired, actual: actual() }),
    log: SILENT,
  });
  const abort = new AbortController();
  let connected!: () => void;
  const ready = new Promise<void>((resolve) => {
    connected = resolve;
  });
  const following = (async () => {
    const res = await session.stream('/neutrino/v1/events', abort.signal);
    connected();
    diagnostics.look();
    for await (const event of parseSse(res.body!))
      if (event.event === 'change' && isDiagnosticRequest(event.data)) diagnostics.look();
  })().catch(() => undefined);
  return {
    ready,
    stop: async () => {
      abort.abort();
      await following;
      await diagnostics.close();
    },
  };
}

for (const dialect of dialects()) {
  describe(`host diagnostics (${dialect})`, () => {
    let t: TestServer;
    let admin: Client;
    let member: Client;
    let base: string;
    before(async () => {
      t = await startTestServer(dialect, { diagnosticsTimeout: 2 });
      admin = client(t, t.adminToken);
      member = client(t, (await t.newProjectUser()).token);
      base = await t.server.app.listen({ host: '127.0.0.1', port: 0 });
      for (const host of ['h1', 'h2', 'h-dead'])
        await admin.post(`/neutrino/v1/hosts/${host}/heartbeat`, {
          agent: { agent_type: 'Linux bridge agent', binary: 'neutrino-agent', configurations: {} },
        });
      await t.store.db
        .updateTable('agents')
        .set({ heartbeat_timestamp: new Date(Date.now() - 3600_000).toISOString() })
        .where('host', '=', 'h-dead')
        .execute();
    });
    after(async () => {
      t.server.app.server.closeAllConnections();
      await t.close();
    });

    const pendingRows = async () =>
      (await t.store.db.selectFrom('host_diagnostics').selectAll().execute()).length;
    const errorOf = (r: { body: { NeutronError?: { type: string; message: string } } }) =>
      r.body.NeutronError;

    it('is for admins only: asking, listing and answering', async () => {
      const ask = await member.post(PATH('h1'), { kind: 'check' });
      assert.equal(ask.status, 403, JSON.stringify(ask.body));
      assert.equal((await member.get(PATH('h1'))).status, 403);
      const answer = await member.put(`${PATH('h1')}/${INSTANCE}`, { error: 'x' });
      assert.equal(answer.status, 403);
      assert.equal(await pendingRows(), 0);
    });

    it('refuses an unknown host (404), a dead agent (409) and a bad request (400), leaving nothing pending', async () => {
      const unknown = await admin.post(PATH('nowhere'), { kind: 'check' });
      assert.equal(unknown.status, 404);
      assert.equal(errorOf(unknown)?.type, 'HostNotFound');
      assert.match(errorOf(unknown)!.message, /Host nowhere could not be found/);
      const dead = await admin.post(PATH('h-dead'), { kind: 'check' });
      assert.equal(dead.status, 409);
      assert.equal(errorOf(dead)?.type, 'HostAgentDown');
      const bad = await admin.post(PATH('h1'), { kind: 'reboot' });
      assert.equal(bad.status, 400);
      const noAddress = await admin.post(PATH('h1'), { kind: 'probe', instance: INSTANCE, protocol: 'icmp' });
      assert.equal(noAddress.status, 400);
      assert.equal(await pendingRows(), 0);
    });

    it('gives up after the timeout with a 504 when the agent does not answer, and forgets the request', async () => {
      const since = await t.store.latestRevision();
      const started = Date.now();
      const r = await admin.post(PATH('h1'), { kind: 'check' });
      const took = Date.now() - started;
      assert.equal(r.status, 504, JSON.stringify(r.body));
      assert.equal(errorOf(r)?.type, 'DiagnosticTimeout');
      assert.match(errorOf(r)!.message, /agent of host h1 did not answer within 2 s/);
      assert.ok(took >= 1900 && took < 5000, `waited ${took} ms`);
      const revisions = await t.store.revisionsSince(since);
      assert.deepEqual(
        revisions.map((x) => [x.resource, x.op, x.project_id]),
        [['host_diagnostics', 'create', '']],
        'the request wakes the agents through the change feed, visible to admins only',
      );
      assert.equal(await pendingRows(), 0);
      const late = await admin.put(`${PATH('h1')}/${revisions[0].resource_id}`, { error: 'too late' });
      assert.equal(late.status, 404);
      assert.equal(errorOf(late)?.type, 'DiagnosticNotFound');
    });

    it("reaches the host's agent through the change feed and answers with its drift", async () => {
      const agent = followingAgent(base, 'h1');
      const other = followingAgent(base, 'h2', () => hostWithOnePort('h2').desired);
      try {
        await Promise.all([agent.ready, other.ready]);
        const r = await admin.post(PATH('h1'), { kind: 'check' });
        assert.equal(r.status, 200, JSON.stringify(r.body));
        const { diagnostic } = r.body;
        assert.equal(diagnostic.host, 'h1');
        assert.equal(diagnostic.kind, 'check');
        assert.equal(diagnostic.result.revision, 7);
        assert.deepEqual(
          diagnostic.result.findings.map((f: { op: string; text: string; ids: string[] }) => [
            f.op,
            f.text,
            f.ids,
          ]),
          [
            [
              'veth.add',
              `port aaaaaaaa's tap device tapaaaaaaaa-22 is missing on host h1 (veth.add pending)`,
              [PORT_A],
            ],
          ],
        );
        // h2's kernel holds what its agent wants: its own answer, not h1's.
        const clean = await admin.post(PATH('h2'), { kind: 'check' });
        assert.equal(clean.status, 200, JSON.stringify(clean.body));
        assert.deepEqual(clean.body.diagnostic.result, { findings: [], other: 0, revision: 7 });
        // A path leaves out what is not on it.
        const offPath = await admin.post(PATH('h1'), { kind: 'check', path: [INSTANCE] });
        assert.deepEqual(offPath.body.diagnostic.result, { findings: [], other: 1, revision: 7 });
        const onPath = await admin.post(PATH('h1'), { kind: 'check', path: [PORT_A] });
        assert.equal(onPath.body.diagnostic.result.findings.length, 1);
        // A probe from an instance the host does not hold is not sent, and says why.
        const probe = await admin.post(PATH('h1'), {
          kind: 'probe',
          instance: INSTANCE,
          address: '10.0.0.5',
          protocol: 'icmp',
        });
        assert.equal(probe.status, 200, JSON.stringify(probe.body));
        assert.deepEqual(probe.body.diagnostic.result, {
          reached: null,
          why: `instance ${INSTANCE} has no namespace on this host`,
        });
        assert.equal(await pendingRows(), 0);
      } finally {
        await agent.stop();
        await other.stop();
      }
    });

    it("returns the agent's failure as a 502 with its message", async () => {
      const agent = followingAgent(base, 'h1', () => {
        throw new Error('cannot read the kernel: ip exited 1');
      });
      try {
        await agent.ready;
        const r = await admin.post(PATH('h1'), { kind: 'check' });
        assert.equal(r.status, 502, JSON.stringify(r.body));
        assert.equal(errorOf(r)?.type, 'DiagnosticFailed');
        assert.match(
          errorOf(r)!.message,
          /agent of host h1 could not run the diagnostic: cannot read the kernel/,
        );
        assert.equal(await pendingRows(), 0);
      } finally {
        await agent.stop();
      }
    });

    it('lists a host its own pending requests only, and takes one answer per request', async () => {
      const asked = admin.post(PATH('h2'), { kind: 'check' });
      let pending: { id: string; host: string; request: unknown }[] = [];
      for (let i = 0; i < 50 && pending.length === 0; i++) {
        pending = (await admin.get(PATH('h2'))).body.diagnostics;
        if (pending.length === 0) await new Promise((r) => setTimeout(r, 20));
      }
      assert.equal(pending.length, 1);
      assert.equal(pending[0].host, 'h2');
      assert.deepEqual(pending[0].request, { kind: 'check' });
      assert.deepEqual((await admin.get(PATH('h1'))).body.diagnostics, []);
      const wrongHost = await admin.put(`${PATH('h1')}/${pending[0].id}`, { error: 'not mine' });
      assert.equal(wrongHost.status, 404);
      const result = { findings: [], other: 0, revision: 1 };
      assert.equal((await admin.put(`${PATH('h2')}/${pending[0].id}`, { result })).status, 204);
      assert.equal((await admin.put(`${PATH('h2')}/${pending[0].id}`, { result })).status, 404);
      const r = await asked;
      assert.equal(r.status, 200);
      assert.deepEqual(r.body.diagnostic.result, result);
    });

    it('reaches an agent following another server on the same database', {
      skip: dialect !== 'postgres' && 'PostgreSQL only',
    }, async () => {
      const db = await createPgDatabase();
      const open = async () => {
        const store = await Store.open(db.url);
        const server = await buildServer({
          store,
          settings: { ...DEFAULT_SETTINGS, diagnosticsTimeout: 5 },
          metrics: new Metrics(),
          auth: 'keystone',
        });
        return { store, server };
      };
      const a = await open();
      const b = await open();
      await a.server.services.identity.bootstrap('secret');
      const baseA = await a.server.app.listen({ host: '127.0.0.1', port: 0 });
      const baseB = await b.server.app.listen({ host: '127.0.0.1', port: 0 });
      const agent = followingAgent(baseB, 'hb');
      try {
        const atB = adminSession(baseB);
        await atB.post('/neutrino/v1/hosts/hb/heartbeat', {
          agent: { agent_type: 'Linux bridge agent', binary: 'neutrino-agent', configurations: {} },
        });
        await agent.ready;
        const { diagnostic } = await adminSession(baseA).post<{
          diagnostic: { result: { findings: unknown[] } };
        }>(PATH('hb'), { kind: 'check' });
        assert.equal(diagnostic.result.findings.length, 1);
      } finally {
        await agent.stop();
        for (const s of [a, b]) {
          s.server.app.server.closeAllConnections();
          await s.server.app.close();
          await s.store.close();
        }
        await db.drop();
      }
    });
  });
}
