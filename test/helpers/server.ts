/**
 * In-process test servers, one per dialect named in DIALECTS (default: sqlite). PostgreSQL
 * tests each get a fresh database on NEUTRINO_TEST_PG_URL's server, dropped afterwards.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { Metrics } from '../../src/api/metrics.js';
import { buildServer, type Server } from '../../src/api/server.js';
import { DEFAULT_SETTINGS, type Settings } from '../../src/core/settings.js';
import { Store } from '../../src/store/store.js';

export type Dialect = 'sqlite' | 'postgres';

export function dialects(): Dialect[] {
  return (process.env.DIALECTS ?? 'sqlite').split(',').map((d) => d.trim()) as Dialect[];
}

const PG_URL = process.env.NEUTRINO_TEST_PG_URL ?? 'postgres://neutrino:neutrino@127.0.0.1:5432/postgres';

/** A fresh database on NEUTRINO_TEST_PG_URL's server, and how to drop it. */
export async function createPgDatabase(): Promise<{ url: string; drop: () => Promise<void> }> {
  const name = `neutrino_test_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: PG_URL });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = new URL(PG_URL);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    drop: async () => {
      const c = new pg.Client({ connectionString: PG_URL });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await c.end();
    },
  };
}

export interface Response {
  status: number;
  body: any;
  headers: Record<string, string | string[] | number | undefined>;
}

export interface TestServer {
  dialect: Dialect;
  server: Server;
  store: Store;
  adminToken: string;
  adminProjectId: string;
  request(method: string, url: string, body?: unknown, headers?: Record<string, string>): Promise<Response>;
  /** A token for a new user with `role` on a new project (member by default). */
  newProjectUser(role?: string): Promise<{ token: string; projectId: string; userId: string }>;
  close(): Promise<void>;
}

export async function startTestServer(
  dialect: Dialect,
  settings: Partial<Settings> = {},
): Promise<TestServer> {
  let url: string;
  let cleanup: () => Promise<void>;
  if (dialect === 'postgres') {
    const db = await createPgDatabase();
    url = db.url;
    cleanup = db.drop;
  } else {
    const dir = mkdtempSync(join(tmpdir(), 'neutrino-test-'));
    url = join(dir, 'neutrino.db');
    cleanup = async () => rmSync(dir, { recursive: true, force: true });
  }
  const metrics = new Metrics();
  const store = await Store.open(url, metrics.observeQuery);
  const server = await buildServer({
    store,
    settings: { ...DEFAULT_SETTINGS, ...settings },
    metrics,
    auth: 'keystone',
  });
  const identity = server.services.identity;
  await identity.bootstrap('secret');

  const request: TestServer['request'] = async (method, path, body, headers = {}) => {
    const res = await server.app.inject({
      method: method as 'GET',
      url: path,
      headers: {
        ...(body !== undefined && typeof body !== 'string' ? { 'content-type': 'application/json' } : {}),
        ...headers,
      },
      payload: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    });
    let parsed: unknown = res.body;
    try {
      parsed = res.body ? JSON.parse(res.body) : undefined;
    } catch {
      // not JSON: keep the text
    }
    return { status: res.statusCode, body: parsed, headers: res.headers };
  };

  const login = async (user: string, password: string, projectId: string) => {
    const res = await request('POST', '/identity/v3/auth/tokens', {
      auth: {
        identity: {
          methods: ['password'],
          password: { user: { name: user, domain: { id: 'default' }, password } },
        },
        scope: { project: { id: projectId } },
      },
    });
    if (res.status !== 201) throw new Error(`login failed: ${JSON.stringify(res.body)}`);
    return String(res.headers['x-subject-token']);
  };

  const adminProjectId = (await identity.listProjects({ name: 'admin' }))[0].id;
  const adminToken = await login('admin', 'secret', adminProjectId);

  return {
    dialect,
    server,
    store,
    adminToken,
    adminProjectId,
    request,
    async newProjectUser(role = 'member') {
      const suffix = randomBytes(4).toString('hex');
      const project = await identity.createProject({ name: `p-${suffix}` });
      const user = await identity.createUser({
        name: `u-${suffix}`,
        password: 'pw',
        default_project_id: project.id,
      });
      const roleRow = (await identity.listRoles({ name: role }))[0];
      await identity.grant('project', project.id, user.id, roleRow.id);
      return { token: await login(user.name, 'pw', project.id), projectId: project.id, userId: user.id };
    },
    async close() {
      await server.app.close();
      await store.close();
      await cleanup();
    },
  };
}

/** Shorthand for requests with a token. */
export function client(t: TestServer, token: string) {
  const h = (extra?: Record<string, string>) => ({ 'x-auth-token': token, ...(extra ?? {}) });
  return {
    get: (url: string, headers?: Record<string, string>) => t.request('GET', url, undefined, h(headers)),
    post: (url: string, body: unknown, headers?: Record<string, string>) =>
      t.request('POST', url, body, h(headers)),
    put: (url: string, body?: unknown, headers?: Record<string, string>) =>
      t.request('PUT', url, body, h(headers)),
    del: (url: string, headers?: Record<string, string>) => t.request('DELETE', url, undefined, h(headers)),
  };
}
