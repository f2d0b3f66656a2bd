/**
 * The agent's metadata relay on a real unix socket (no kernel networking): what passes to the API
 * (the path, the network and the address the proxy stamped), what it refuses before the API, and
 * that an API failure is a 502, not a crash.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { MetadataRelay, metadataSocket } from '../../src/agent/dhcp/metadata-relay.js';

const dir = mkdtempSync(join(tmpdir(), 'neutrino-relay-'));
const NET = '6f1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d';
const asked: [string, string, string][] = [];

function get(path: string, headers: Record<string, string>, method = 'GET') {
  return new Promise<{ status: number; body: string }>((resolve, reject) => {
    const req = request({ socketPath: metadataSocket(dir), path, method, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('metadata relay', () => {
  const relay = new MetadataRelay(dir, async (path, networkId, address) => {
    asked.push([path, networkId, address]);
    if (path === '/boom') throw new Error('API down');
    return { status: 200, contentType: 'text/plain', body: Buffer.from(`for ${address}`) };
  });
  const stamped = { 'X-Neutrino-Network-ID': NET, 'X-Forwarded-For': '10.0.0.5' };
  before(() => relay.start());
  after(async () => {
    await relay.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('passes the path, network and source address on, and the answer back', async () => {
    assert.deepEqual(await get('/latest/meta-data/instance-id?x=1', stamped), {
      status: 200,
      body: 'for 10.0.0.5',
    });
    assert.deepEqual(asked.at(-1), ['/latest/meta-data/instance-id', NET, '10.0.0.5']);
  });

  it('refuses other methods, odd paths and unstamped requests before the API', async () => {
    const before = asked.length;
    assert.equal((await get('/latest', stamped, 'POST')).status, 405);
    assert.equal((await get('/latest/../x', stamped)).status, 400);
    assert.equal((await get('/latest', { 'X-Forwarded-For': '10.0.0.5' })).status, 400);
    assert.equal((await get('/latest', { 'X-Neutrino-Network-ID': 'a b' })).status, 400);
    assert.equal(asked.length, before);
  });

  it('answers 502 when the API cannot be asked', async () => {
    assert.equal((await get('/boom', stamped)).status, 502);
  });
});
