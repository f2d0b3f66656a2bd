/**
 * The agent runner against a fake server speaking the host contract (login, sync, heartbeat,
 * status, the SSE change feed): heartbeats per role, a status report after reconciles and none
 * when nothing changed, reconciles on relevant changes, `resync` and reconnects, re-login on 401.
 * Snapshots are empty, so the reconciler only reads the kernel (no root needed, nothing created).
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Summary } from '../../src/agent/reconciler.js';
import {
  AgentRunner,
  isRelevantChange,
  parseSse,
  pendingPorts,
  statusReport,
} from '../../src/agent/runner.js';
import { Session } from '../../src/client/session.js';
import type { Snapshot } from '../../src/model/host-snapshot.js';

async function* chunks(...parts: string[]): AsyncGenerator<Uint8Array> {
  for (const part of parts) yield new TextEncoder().encode(part);
}

async function collect<T>(items: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of items) out.push(item);
  return out;
}

describe('parseSse', () => {
  it('parses events split across chunks, with ids, comments and CRLF', async () => {
    const events = await collect(
      parseSse(
        chunks(
          'retry: 1000\n\n: keepalive\n\nid: 7\nevent: change\nda',
          'ta: {"resource":"ports"}\n\r\nevent: resync\r\ndata: {"oldest":3}\r\n\r\n',
          'data: a\ndata: b\n\n',
        ),
      ),
    );
    assert.deepEqual(events, [
      { event: 'change', data: '{"resource":"ports"}', id: '7' },
      { event: 'resync', data: '{"oldest":3}', id: '7' },
      { event: 'message', data: 'a\nb', id: '7' },
    ]);
  });

  it('reports every chunk, keepalives included', async () => {
    let seen = 0;
    await collect(parseSse(chunks(': keepalive\n\n', ': keepalive\n\n'), () => seen++));
    assert.equal(seen, 2);
  });
});

describe('isRelevantChange', () => {
  it('looks at networks, subnets, ports, instances and security groups, not at agents or quotas', () => {
    const relevant = ['networks', 'subnets', 'ports', 'instances', 'port', 'network_segments'];
    // A QoS rule change is recorded as an update of its policy (`qos_policies`).
    for (const resource of [
      ...relevant,
      'security_groups',
      'security_group_rules',
      'tunnel_endpoints',
      'qos_policies',
      'loadbalancer',
      'tap_flows',
      'tap_services',
      'metering_labels',
      'metering_label_rules',
    ])
      assert.ok(isRelevantChange(JSON.stringify({ resource })), resource);
    for (const resource of ['agents', 'quotas', 'rbac_policies'])
      assert.ok(!isRelevantChange(JSON.stringify({ resource })), resource);
    assert.ok(isRelevantChange('not json'), 'unknown data: better look');
    assert.ok(
      !isRelevantChange(JSON.stringify({ resource: 'ports', op: 'update', status_only: true })),
      'a status report changes nothing a host builds',
    );
    assert.ok(isRelevantChange(JSON.stringify({ resource: 'ports', op: 'update', status_only: false })));
  });
});

const net = (id: string, admin = true) => ({
  id,
  project_id: 'p',
  admin_state_up: admin,
  mtu: 1500,
  network_type: 'local' as const,
  physical_network: null,
  segmentation_id: null,
});
const port = (id: string, network: string, owner = 'compute:nova', admin = true) => ({
  id,
  network_id: network,
  mac_address: 'fa:16:3e:00:00:01',
  fixed_ips: [],
  device_owner: owner,
  device_id: '',
  admin_state_up: admin,
  dns_name: '',
  extra_dhcp_opts: [],
});

function summary(ports: Summary['ports'], problems: Summary['problems'] = []): Summary {
  return { revision: 5, actions: 0, ops: {}, applied: 0, failures: [], problems, ports, durationMs: 1 };
}

describe('pendingPorts and statusReport', () => {
  const snapshot: Snapshot = {
    host: 'h',
    revision: 5,
    dnsDomain: 'openstacklocal',
    networks: [net('n1'), net('n2', false)],
    subnets: [],
    ports: [
      port('a', 'n1'),
      port('b', 'n1'),
      port('c', 'n1', 'compute:nova', false),
      port('d', 'n2'),
      port('e', 'n1'),
      port('dhcp', 'n1', 'network:dhcp'),
      port('loose', 'n1'),
    ],
    instances: [
      { id: 'i1', name: 'vm1', ports: ['a', 'b', 'c', 'd'] },
      { id: 'i2', name: 'vm2', ports: ['e'] },
    ],
    physicalInterfaceMappings: {},
  };

  it('counts DOWN ports that should come up by themselves', () => {
    const s = summary(
      { a: 'ACTIVE', b: 'DOWN', c: 'DOWN', d: 'DOWN', e: 'DOWN', dhcp: 'DOWN', loose: 'DOWN' },
      [{ object: 'instance i2', message: 'port e is not usable on this host' }],
    );
    assert.deepEqual([...pendingPorts(snapshot, s)].sort(), ['b', 'dhcp']);
  });

  it('renders problems as lines and sorts ports', () => {
    const report = statusReport(
      summary({ b: 'DOWN', a: 'ACTIVE' }, [{ object: 'network n9', message: 'vlan is not supported' }]),
    );
    assert.deepEqual(report, {
      revision: 5,
      ports: { a: 'ACTIVE', b: 'DOWN' },
      problems: ['network n9: vlan is not supported'],
    });
    assert.deepEqual(Object.keys(report.ports), ['a', 'b']);
  });
});

/** A fake server: the host contract with an empty snapshot, recording what the agent sends. */
class FakeServer {
  server: Server;
  url = '';
  logins = 0;
  syncs = 0;
  heartbeats: {
    agent_type: string;
    binary: string;
    configurations: Record<string, unknown>;
    start_flag?: boolean;
  }[] = [];
  statuses: unknown[] = [];
  feeds: { since: string | null; res: ServerResponse }[] = [];
  validTokens = new Set<string>();
  revision = 10;

  constructor() {
    this.server = createServer((req, res) => void this.#handle(req, res));
  }

  async start(): Promise<void> {
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async close(): Promise<void> {
    for (const feed of this.feeds) feed.res.destroy();
    this.server.closeAllConnections();
    await new Promise((r) => this.server.close(r));
  }

  /** Sends an event to every follower; a `change` is a new store revision. */
  send(event: string, data: unknown): void {
    if (event === 'change') this.revision++;
    for (const { res } of this.feeds)
      if (!res.writableEnded)
        res.write(`id: ${this.revision}\nevent: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    let body = '';
    for await (const chunk of req) body += chunk;
    const url = new URL(req.url ?? '/', this.url);
    const json = (status: number, value?: unknown, headers: Record<string, string> = {}) => {
      res.writeHead(status, { 'content-type': 'application/json', ...headers });
      res.end(value === undefined ? '' : JSON.stringify(value));
    };
    if (req.method === 'POST' && url.pathname === '/identity/v3/auth/tokens') {
      const auth = JSON.parse(body).auth;
      assert.equal(auth.identity.password.user.password, 'pw');
      const token = `t${++this.logins}`;
      this.validTokens.add(token);
      return json(
        201,
        { token: { expires_at: new Date(Date.now() + 3600_000).toISOString() } },
        {
          'x-subject-token': token,
        },
      );
    }
    if (!this.validTokens.has(String(req.headers['x-auth-token'])))
      return json(401, {
        error: { code: 401, message: 'The request you have made requires authentication.' },
      });
    if (req.method === 'POST' && url.pathname === '/neutrino/v1/hosts/h1/sync') {
      this.syncs++;
      const snapshot: Snapshot = {
        host: 'h1',
        revision: this.revision,
        dnsDomain: 'openstacklocal',
        networks: [],
        subnets: [],
        ports: [],
        instances: [],
        routers: [],
        physicalInterfaceMappings: {},
      };
      return json(200, { snapshot });
    }
    if (req.method === 'POST' && url.pathname === '/neutrino/v1/hosts/h1/heartbeat') {
      this.heartbeats.push(JSON.parse(body).agent);
      return json(200, { agent: {} });
    }
    if (req.method === 'POST' && url.pathname === '/neutrino/v1/hosts/h1/status') {
      this.statuses.push(JSON.parse(body));
      res.writeHead(204);
      return void res.end();
    }
    if (req.method === 'GET' && url.pathname === '/neutrino/v1/events') {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write('retry: 1000\n\n');
      this.feeds.push({ since: url.searchParams.get('since'), res });
      return;
    }
    json(404, { NeutronError: { type: 'HTTPNotFound', message: 'not here', detail: '' } });
  }
}

async function until(what: string, check: () => boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    assert.ok(Date.now() < deadline, `timed out waiting for ${what}`);
    await sleep(10);
  }
}

describe('AgentRunner against the host contract', () => {
  const fake = new FakeServer();
  let stateDir = '';
  let runner: AgentRunner;

  before(async () => {
    await fake.start();
    stateDir = await mkdtemp(join(tmpdir(), 'neutrino-runner-'));
    const session = new Session({
      auth: {
        type: 'password',
        credentials: {
          authUrl: `${fake.url}/identity/v3`,
          username: 'admin',
          password: 'pw',
          projectName: 'admin',
          userDomainName: 'Default',
          projectDomainName: 'Default',
        },
      },
      endpoint: fake.url,
    });
    runner = new AgentRunner({ session, host: 'h1', stateDir, resyncIntervalMs: 60_000 });
    runner.start();
  });

  after(async () => {
    await runner?.stop();
    await fake.close();
    await rm(stateDir, { recursive: true, force: true });
  });

  it('heartbeats once per role, reconciles, reports status and follows the feed', async () => {
    await until('heartbeats', () => fake.heartbeats.length >= 3);
    assert.deepEqual(fake.heartbeats.map((h) => h.agent_type).sort(), [
      'DHCP agent',
      'L3 agent',
      'Linux bridge agent',
    ]);
    assert.ok(fake.heartbeats.every((h) => h.binary === 'neutrino-agent'));
    assert.ok(
      fake.heartbeats.every((h) => h.start_flag === true),
      'the first ones say the agent started',
    );
    await until('a status report', () => fake.statuses.length === 1);
    const { agent_health: health, ...first } = fake.statuses[0] as Record<string, unknown> & {
      agent_health: { reconciles: number; last_sync: number };
    };
    assert.deepEqual(first, { revision: 10, ports: {}, problems: [] });
    assert.equal(health.reconciles, 1, 'the agent reports its own health with its status');
    assert.ok(health.last_sync > 0);
    await until('the change feed', () => fake.feeds.length === 1);
    assert.equal(fake.feeds[0].since, null, 'the first connection starts from now');
  });

  it('reconciles on a relevant change and on resync, not on an agent heartbeat; reports only news', async () => {
    await until('idle', () => fake.syncs >= 1);
    await sleep(100);
    const syncs = fake.syncs;
    fake.send('change', { revision: fake.revision + 1, resource: 'agents', resource_id: 'x', op: 'update' });
    await sleep(150);
    assert.equal(fake.syncs, syncs, 'agents do not matter');
    fake.send('change', { revision: fake.revision + 1, resource: 'ports', resource_id: 'p', op: 'create' });
    await until('a sync after the port change', () => fake.syncs === syncs + 1);
    await until('a report of the new revision', () => fake.statuses.length === 2);
    const { agent_health: _, ...second } = fake.statuses[1] as Record<string, unknown>;
    assert.deepEqual(second, { revision: fake.revision, ports: {}, problems: [] });
    fake.send('resync', { oldest: 1 });
    await until('a sync after resync', () => fake.syncs === syncs + 2);
    await sleep(100);
    assert.equal(fake.statuses.length, 2, 'a report that repeats the last one is not sent');
  });

  it('reconnects after the stream drops, resuming after the last event, with a full reconcile', async () => {
    const syncs = fake.syncs;
    const last = fake.revision;
    fake.feeds[0].res.destroy();
    await until('a reconnect', () => fake.feeds.length === 2);
    assert.equal(fake.feeds[1].since, String(last));
    await until('a full reconcile', () => fake.syncs > syncs);
  });

  it('logs in again when the token is rejected', async () => {
    const logins = fake.logins;
    fake.validTokens.clear();
    const syncs = fake.syncs;
    fake.send('change', {
      revision: fake.revision + 1,
      resource: 'networks',
      resource_id: 'n',
      op: 'update',
    });
    await until('a sync with a fresh token', () => fake.syncs > syncs);
    assert.equal(fake.logins, logins + 1);
  });
});
