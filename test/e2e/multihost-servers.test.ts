/**
 * Two API servers on one PostgreSQL (`neutrino lab up --servers 2 --database postgres://…`): the
 * change feed of the second server carries a write made through the first (PostgreSQL NOTIFY), and
 * stopping the server the agents follow (by its pid) does not stop changes from reaching them: an
 * instance created through the surviving server comes up ACTIVE with its address. A fresh database
 * for the run, dropped afterwards; skipped without root or without PostgreSQL
 * (NEUTRINO_TEST_PG_URL, default the local cluster of `scripts/postgres.sh`).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { parseSse } from '../../src/agent/runner.js';
import { type LabState, readLab } from '../../src/cli/lab.js';
import { Session } from '../../src/client/session.js';
import { runInHostNamespace } from '../../src/linux/lab-host.js';
import { BIN, type CliResult } from '../helpers/neutrino-up.js';
import { createPgDatabase } from '../helpers/server.js';
import { until } from '../helpers/until.js';

const isRoot = process.getuid?.() === 0;
const PG_URL = process.env.NEUTRINO_TEST_PG_URL ?? 'postgres://neutrino:neutrino@127.0.0.1:5432/postgres';

async function postgresAvailable(): Promise<boolean> {
  const client = new pg.Client({ connectionString: PG_URL, connectionTimeoutMillis: 2_000 });
  try {
    await client.connect();
    await client.end();
    return true;
  } catch {
    return false;
  }
}

const skip = !isRoot
  ? 'needs root'
  : !(await postgresAvailable())
    ? `needs PostgreSQL at ${PG_URL} (bash scripts/postgres.sh, or set NEUTRINO_TEST_PG_URL)`
    : false;

interface Instance {
  id: string;
  status: string;
  host: string | null;
  ports: { fixed_ips: { ip_address: string }[] }[];
}

function neutrino(args: string[], timeoutMs = 180_000): Promise<CliResult> {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env))
    if (!k.startsWith('NEUTRINO_') && !k.startsWith('OS_')) env[k] = v;
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [BIN, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => {
      stdout += c;
    });
    child.stderr.on('data', (c: Buffer) => {
      stderr += c;
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

describe('multi-host: two API servers on one PostgreSQL', { skip }, () => {
  const stateDir = mkdtempSync(join(tmpdir(), 'neutrino-lab-servers-'));
  let database: { url: string; drop: () => Promise<void> } | undefined;
  let lab: LabState;
  const sessionOf = (url: string) =>
    new Session({
      auth: {
        type: 'password',
        credentials: {
          authUrl: `${url}/identity/v3`,
          username: 'admin',
          password: readFileSync(join(stateDir, 'admin-password'), 'utf8').trim(),
          projectName: 'admin',
          userDomainName: 'Default',
          projectDomainName: 'Default',
        },
      },
      endpoint: url,
    });

  before(async () => {
    database = await createPgDatabase();
    const up = await neutrino([
      ...['lab', 'up', '--hosts', '2', '--network-hosts', '1', '--servers', '2'],
      ...['--database', database.url, '--state-dir', stateDir],
    ]);
    assert.equal(up.code, 0, `lab up failed: ${up.stderr}`);
    lab = readLab(stateDir)!;
    assert.equal(lab.servers?.length, 2);
    assert.notEqual(new URL(lab.servers[0].url).hostname, new URL(lab.servers[1].url).hostname);
  });

  after(async () => {
    const down = await neutrino(['lab', 'down', '--state-dir', stateDir]);
    rmSync(stateDir, { recursive: true, force: true });
    await database?.drop();
    assert.equal(down.code, 0, `lab down failed: ${down.stderr}`);
  });

  it("the second server's change feed carries a write made through the first", async () => {
    const [first, second] = lab.servers!.map((s) => sessionOf(s.url));
    const stop = new AbortController();
    // Every change id the second server's feed carries, whenever it arrives: its event may come
    // before the first server's answer to the write does.
    const changed = new Set<string>();
    let arrived = () => {};
    const res = await second.stream('/neutrino/v1/events', stop.signal);
    const reading = (async () => {
      for await (const event of parseSse(res.body!)) {
        if (event.event !== 'change') continue;
        changed.add(JSON.parse(event.data).resource_id);
        arrived();
      }
    })().catch(() => undefined);
    const { network } = await first.post<{ network: { id: string } }>('/v2.0/networks', {
      network: { name: 'feed-probe' },
    });
    const deadline = Date.now() + 30_000;
    while (!changed.has(network.id) && Date.now() < deadline)
      await new Promise<void>((resolve) => {
        arrived = resolve;
        setTimeout(resolve, 250);
      });
    stop.abort();
    await reading;
    assert.ok(changed.has(network.id), 'the change reached the other server');
    await first.delete(`/v2.0/networks/${network.id}`);
  });

  it('stopping the server the agents follow does not stop changes from reaching them', async () => {
    const [followed, survivor] = lab.servers!;
    const session = sessionOf(survivor.url);
    const { network } = await session.post<{ network: { id: string } }>('/v2.0/networks', {
      network: { name: 'failover', 'provider:network_type': 'vxlan' },
    });
    await session.post('/v2.0/subnets', {
      subnet: { network_id: network.id, ip_version: 4, cidr: '10.97.0.0/24' },
    });
    process.kill(followed.pid, 'SIGTERM');
    await until('the first server gone', async () => {
      try {
        process.kill(followed.pid, 0);
        return false;
      } catch {
        return true;
      }
    });
    const { instance } = await session.post<{ instance: Instance }>('/neutrino/v1/instances', {
      instance: { name: 'after-failover', host: 'host2', networks: [{ network_id: network.id }] },
    });
    const active = await until(
      'the instance ACTIVE',
      async () => {
        const { instance: now } = await session.get<{ instance: Instance }>(
          `/neutrino/v1/instances/${instance.id}`,
        );
        assert.notEqual(now.status, 'ERROR');
        return now.status === 'ACTIVE' ? now : undefined;
      },
      60_000,
    );
    const address = active.ports[0].fixed_ips[0].ip_address;
    const host2 = lab.hosts.find((h) => h.name === 'host2')!;
    const { stdout } = await runInHostNamespace(host2, `inst-${instance.id}`, 'ip', [
      '-4',
      '-o',
      'addr',
      'show',
      'dev',
      'eth0',
    ]);
    assert.match(stdout, new RegExp(`inet ${address.replaceAll('.', '\\.')}/24`));
    const agentLog = readFileSync(join(host2.stateDir, 'agent.log'), 'utf8');
    assert.match(agentLog, /API server unavailable/, 'the agent saw the first server go');
  });
});
