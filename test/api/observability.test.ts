/**
 * What an operator reads of an in-process server: exactly one log line per request with its
 * fields (and the audit of writes, and no secret), `/healthz` failing with the reason when the
 * database is gone or the local agent has stopped syncing (a stale timestamp and a fake clock given
 * through the server's own `health` sources), and the agent's metrics on `/metrics`.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, beforeEach, describe, it } from 'node:test';
import pino from 'pino';
import { AgentHealthTotals } from '../../src/agent/reconcile-report.js';
import type { AgentHealth, HealthSources } from '../../src/api/health.js';
import { Metrics } from '../../src/api/metrics.js';
import { buildServer, type Server } from '../../src/api/server.js';
import { serverLogger } from '../../src/cli/server.js';
import { DEFAULT_SETTINGS } from '../../src/core/settings.js';
import { Store } from '../../src/store/store.js';

type Line = Record<string, unknown>;

describe('logs, health and metrics of the server', () => {
  const dir = mkdtempSync(join(tmpdir(), 'neutrino-obs-'));
  const lines: Line[] = [];
  const health: HealthSources = {};
  const metrics = new Metrics();
  let store: Store;
  let server: Server;
  let token = '';
  let projectId = '';
  let userId = '';

  const request = async (
    method: string,
    url: string,
    body?: unknown,
    headers: Record<string, string> = {},
  ) => {
    const res = await server.app.inject({
      method: method as 'GET',
      url,
      headers: { ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...headers },
      payload: body === undefined ? undefined : JSON.stringify(body),
    });
    const json = (res.headers['content-type'] ?? '').toString().startsWith('application/json');
    return { status: res.statusCode, headers: res.headers, body: json ? JSON.parse(res.body) : res.body };
  };
  const asAdmin = (method: string, url: string, body?: unknown) =>
    request(method, url, body, { 'x-auth-token': token });

  before(async () => {
    const log = pino({ level: 'debug' }, { write: (line: string) => lines.push(JSON.parse(line) as Line) });
    store = await Store.open(join(dir, 'neutrino.db'), metrics.observeQuery);
    server = await buildServer({
      store,
      settings: DEFAULT_SETTINGS,
      metrics,
      auth: 'keystone',
      logger: serverLogger(log),
      health,
    });
    await server.services.identity.bootstrap('secret-password');
    projectId = (await server.services.identity.listProjects({ name: 'admin' }))[0].id;
    const login = await request('POST', '/identity/v3/auth/tokens', {
      auth: {
        identity: {
          methods: ['password'],
          password: { user: { name: 'admin', domain: { id: 'default' }, password: 'secret-password' } },
        },
        scope: { project: { id: projectId } },
      },
    });
    assert.equal(login.status, 201);
    token = String(login.headers['x-subject-token']);
    userId = login.body.token.user.id;
  });
  after(async () => {
    await server.app.close();
    await store.close().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  });
  beforeEach(() => {
    lines.length = 0;
  });

  it('logs one line per request: method, route, status, duration, user, project, request id', async () => {
    const res = await asAdmin('GET', '/v2.0/networks?name=x');
    assert.equal(res.status, 200);
    assert.equal(lines.length, 1, JSON.stringify(lines));
    const [line] = lines;
    assert.equal(line.level, 30);
    assert.equal(line.msg, 'GET /v2.0/networks?name=x 200');
    assert.equal(line.method, 'GET');
    assert.equal(line.url, '/v2.0/networks?name=x');
    assert.equal(line.route, '/v2.0/networks');
    assert.equal(line.status, 200);
    assert.equal(typeof line.ms, 'number');
    assert.equal(line.user, userId);
    assert.equal(line.project, projectId);
    assert.match(String(line.reqId), /^req-[0-9a-f-]{36}$/);
    assert.equal(res.headers['x-openstack-request-id'], line.reqId, 'the client sees the same id');
    assert.equal(line.error, undefined);
    assert.equal(line.audit, undefined);
  });

  it('names the NeutronError type of a failed request', async () => {
    const res = await asAdmin('GET', '/v2.0/networks/00000000-0000-0000-0000-000000000000');
    assert.equal(res.status, 404);
    assert.equal(lines.length, 1);
    assert.equal(lines[0].status, 404);
    assert.equal(lines[0].error, 'NetworkNotFound');
    assert.equal(lines[0].route, '/v2.0/networks/:id');
    const unauthorized = await request('GET', '/v2.0/ports');
    assert.equal(unauthorized.status, 401);
    assert.equal(lines.length, 2);
    assert.equal(lines[1].user, undefined, 'no caller');
    assert.equal(typeof lines[1].error, 'string');
  });

  it('audits every successful write in its one line: who, which resource, which id', async () => {
    const created = await asAdmin('POST', '/v2.0/networks', { network: { name: 'audited' } });
    assert.equal(created.status, 201);
    const id = created.body.network.id;
    assert.equal(
      (await asAdmin('PUT', `/v2.0/networks/${id}`, { network: { name: 'renamed' } })).status,
      200,
    );
    assert.equal((await asAdmin('PUT', `/v2.0/networks/${id}/tags/blue`)).status, 201);
    assert.equal((await asAdmin('DELETE', `/v2.0/networks/${id}`)).status, 204);
    assert.equal(lines.length, 4, JSON.stringify(lines));
    const audit = lines.map((l) => [
      l.audit,
      l.resource,
      l.resource_id,
      l.action,
      l.user,
      l.project,
      l.level,
    ]);
    assert.deepEqual(audit, [
      ['create', 'network', id, undefined, userId, projectId, 30],
      ['update', 'network', id, undefined, userId, projectId, 30],
      ['update', 'network', id, 'tags/blue', userId, projectId, 30],
      ['delete', 'network', id, undefined, userId, projectId, 30],
    ]);
  });

  it('audits identity writes with their caller, and never logs a password or token', async () => {
    const res = await asAdmin('POST', '/identity/v3/users', {
      user: { name: 'audited-user', password: 'never-in-a-log', domain_id: 'default' },
    });
    assert.equal(res.status, 201);
    assert.equal(lines.length, 1);
    assert.deepEqual(
      [lines[0].audit, lines[0].resource, lines[0].resource_id, lines[0].user],
      ['create', 'user', res.body.user.id, userId],
    );
    const text = JSON.stringify(lines);
    assert.doesNotMatch(text, /never-in-a-log|secret-password/);
    assert.ok(!text.includes(token), 'no token');
  });

  it('logs the agents’ own traffic, health checks and scrapes at debug unless they fail', async () => {
    await request('GET', '/healthz');
    await request('GET', '/metrics');
    assert.deepEqual(
      lines.map((l) => [l.route, l.level]),
      [
        ['/healthz', 20],
        ['/metrics', 20],
      ],
    );
  });

  it('/healthz is 200 with its checks while the database answers and the agent syncs', async () => {
    const agent: AgentHealth = {
      running: true,
      lastSyncAt: 1_000_000,
      startedAt: 0,
      resyncIntervalMs: 60_000,
    };
    health.agent = () => agent;
    health.now = () => 1_000_000 + 170_000;
    const res = await request('GET', '/healthz');
    assert.equal(res.status, 200);
    assert.deepEqual(res.body, { status: 'ok', checks: { database: 'ok', agent: 'ok' } });
  });

  it('/healthz is 503 saying which when the agent has not synced within 3 resync intervals', async () => {
    health.now = () => 1_000_000 + 195_000;
    const res = await request('GET', '/healthz');
    assert.equal(res.status, 503);
    assert.deepEqual(res.body, { status: 'failing', checks: { database: 'ok', agent: 'no sync for 195 s' } });
    health.agent = () => ({ running: false, lastSyncAt: 1_000_000, startedAt: 0, resyncIntervalMs: 60_000 });
    assert.deepEqual((await request('GET', '/healthz')).body.checks.agent, 'agent thread is not running');
    health.agent = () => ({
      running: true,
      lastSyncAt: undefined,
      startedAt: 1_000_000,
      resyncIntervalMs: 60_000,
    });
    assert.deepEqual((await request('GET', '/healthz')).body.checks.agent, 'no sync in 195 s since start');
    assert.ok(
      lines.filter((l) => l.route === '/healthz').every((l) => l.level === 50),
      'a failing health check is an error line',
    );
    delete health.agent;
    delete health.now;
  });

  it('/metrics has the agent’s reconcile numbers and the live agents', async () => {
    metrics.observeReconcile({
      at: 1_700_000_000_000,
      durationMs: 42,
      ops: { 'veth.add': 2, 'dnsmasq.reload': 1 },
      failures: 1,
      drift: 2,
      ports: { ACTIVE: 3, DOWN: 1 },
    });
    await asAdmin('POST', '/neutrino/v1/hosts/obs-host/heartbeat', {
      agent: { agent_type: 'L3 agent', binary: 'neutrino-agent', configurations: {} },
    });
    const text = (await server.app.inject({ method: 'GET', url: '/metrics' })).body;
    for (const expected of [
      'neutrino_agent_reconcile_duration_seconds_count 1',
      'neutrino_agent_actions_total{kind="veth.add"} 2',
      'neutrino_agent_action_failures_total 1',
      'neutrino_agent_drift_repaired_total 2',
      'neutrino_agent_last_sync_timestamp_seconds 1700000000',
      'neutrino_agent_ports{status="ACTIVE"} 3',
      'neutrino_agents_alive{agent_type="L3 agent"} 1',
    ])
      assert.ok(text.includes(expected), `${expected} in\n${text.slice(0, 400)}`);
  });

  it('/metrics has every host agent’s health as its status reports say it', async () => {
    const totals = new AgentHealthTotals();
    totals.add({
      at: 1_700_000_100_000,
      durationMs: 250,
      ops: { 'veth.add': 3 },
      failures: 0,
      drift: 0,
      ports: {},
    });
    totals.add({
      at: 1_700_000_160_000,
      durationMs: 50,
      ops: { 'veth.add': 1, 'fdb.add': 2 },
      failures: 1,
      drift: 3,
      ports: {},
    });
    const report = await asAdmin('POST', '/neutrino/v1/hosts/far-host/status', {
      revision: 0,
      ports: {},
      agent_health: totals.current,
    });
    assert.equal(report.status, 204, JSON.stringify(report.body));
    const text = (await server.app.inject({ method: 'GET', url: '/metrics' })).body;
    for (const expected of [
      'neutrino_host_agent_reconciles_total{host="far-host"} 2',
      'neutrino_host_agent_reconcile_seconds_total{host="far-host"} 0.3',
      'neutrino_host_agent_last_reconcile_seconds{host="far-host"} 0.05',
      'neutrino_host_agent_actions_total{host="far-host",kind="veth.add"} 4',
      'neutrino_host_agent_actions_total{host="far-host",kind="fdb.add"} 2',
      'neutrino_host_agent_action_failures_total{host="far-host"} 1',
      'neutrino_host_agent_drift_repaired_total{host="far-host"} 3',
      'neutrino_host_agent_last_sync_timestamp_seconds{host="far-host"} 1700000160',
    ])
      assert.ok(text.includes(expected), `${expected} in /metrics`);
  });

  it('/healthz is 503 when the database is unreachable', async () => {
    await store.close();
    const res = await request('GET', '/healthz');
    assert.equal(res.status, 503);
    assert.equal(res.body.status, 'failing');
    assert.match(res.body.checks.database, /^unreachable: /);
    assert.equal(lines.at(-1)?.level, 50, 'a failing health check is an error line');
  });
});
