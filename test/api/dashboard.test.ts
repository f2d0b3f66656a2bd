import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { prefersHtml } from '../../src/api/dashboard.js';
import { Metrics } from '../../src/api/metrics.js';
import { buildServer, type Server } from '../../src/api/server.js';
import { DEFAULT_SETTINGS } from '../../src/core/settings.js';
import { Store } from '../../src/store/store.js';

const BROWSER = 'text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,*/*;q=0.8';

describe('prefersHtml', () => {
  it('is true for browsers and false for API clients', () => {
    assert.equal(prefersHtml(BROWSER), true);
    assert.equal(prefersHtml('text/html'), true);
    assert.equal(prefersHtml('text/*'), true);
    for (const accept of [
      undefined,
      '',
      '*/*',
      'application/json',
      'application/json, text/html',
      'text/html;q=0.5, application/json',
      'application/json;q=0.9, text/html;q=0.9',
      'text/html;q=0',
    ]) {
      assert.equal(prefersHtml(accept), false, String(accept));
    }
  });
});

describe('dashboard files', () => {
  let dir: string;
  let store: Store;
  const servers: Server[] = [];
  const start = async (webRoot: string) => {
    const server = await buildServer({
      store,
      settings: DEFAULT_SETTINGS,
      metrics: new Metrics(),
      auth: 'keystone',
      webRoot,
    });
    servers.push(server);
    return server.app;
  };

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'neutrino-web-'));
    mkdirSync(join(dir, 'web', 'assets'), { recursive: true });
    writeFileSync(join(dir, 'web', 'index.html'), '<!doctype html><title>dashboard</title>');
    writeFileSync(join(dir, 'web', 'assets', 'app-1234.js'), 'console.log(1);');
    writeFileSync(join(dir, 'secret.txt'), 'no');
    store = await Store.open(join(dir, 'neutrino.db'));
  });
  after(async () => {
    for (const s of servers) await s.app.close();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('serves the page at / to browsers only, and the version document to everyone else', async () => {
    const app = await start(join(dir, 'web'));
    const page = await app.inject({ url: '/', headers: { accept: BROWSER } });
    assert.equal(page.statusCode, 200);
    assert.match(String(page.headers['content-type']), /^text\/html/);
    assert.equal(page.body, '<!doctype html><title>dashboard</title>');
    assert.match(String(page.headers['content-security-policy']), /default-src 'self'/);
    assert.equal(page.headers.vary, 'Accept');
    for (const accept of ['application/json', '*/*', undefined]) {
      const doc = await app.inject({ url: '/', headers: accept ? { accept } : {} });
      assert.equal(doc.statusCode, 200, String(accept));
      assert.equal(doc.json().versions[0].id, 'v2.0', String(accept));
      assert.equal(doc.headers.vary, 'Accept');
    }
    const ui = await app.inject({ url: '/ui/', headers: { accept: 'application/json' } });
    assert.equal(ui.statusCode, 200);
    assert.match(String(ui.headers['content-type']), /^text\/html/);
    assert.equal((await app.inject({ url: '/ui/topology' })).statusCode, 200);
  });

  it('serves assets without a token, cacheable for ever, and nothing outside them', async () => {
    const app = await start(join(dir, 'web'));
    const js = await app.inject({ url: '/assets/app-1234.js' });
    assert.equal(js.statusCode, 200);
    assert.equal(js.body, 'console.log(1);');
    assert.match(String(js.headers['content-type']), /^text\/javascript/);
    assert.match(String(js.headers['cache-control']), /immutable/);
    for (const url of ['/assets/nope.js', '/assets/']) {
      assert.equal((await app.inject({ url })).statusCode, 404, url);
    }
    // Dot segments are resolved before routing: outside /assets/ a token is needed, and then
    // there is no such route.
    for (const url of ['/assets/../index.html', '/assets/%2e%2e/%2e%2e/secret.txt']) {
      const r = await app.inject({ url });
      assert.ok([401, 404].includes(r.statusCode), `${url}: ${r.statusCode}`);
      assert.ok(!r.body.includes('dashboard') && r.body !== 'no', url);
    }
  });

  it('says how to build the dashboard when it is missing, and the API still works', async () => {
    const app = await start(join(dir, 'nothing-here'));
    const page = await app.inject({ url: '/', headers: { accept: BROWSER } });
    assert.equal(page.statusCode, 200);
    assert.match(page.body, /npm run build/);
    const doc = await app.inject({ url: '/', headers: { accept: 'application/json' } });
    assert.equal(doc.json().versions[0].status, 'CURRENT');
    assert.equal((await app.inject({ url: '/assets/app-1234.js' })).statusCode, 404);
  });
});
