/**
 * The agent on its own thread (as `neutrino up` runs it): requests cross to the thread and their
 * answers (or errors) come back; its log lines are written where the caller's logger writes; stop
 * ends it once what it was doing has finished (no probe namespace left behind). The server here is a port nobody listens on, so the agent's calls fail, as they would
 * while a server restarts.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import pino from 'pino';
import { AgentThread } from '../../src/agent/thread.js';
import { listNamespaces } from '../../src/linux/ip.js';
import { until } from '../helpers/until.js';

describe('AgentThread', () => {
  it('answers across the thread, forwards its log lines, and stops', async () => {
    const stateDir = await mkdtemp(join(tmpdir(), 'neutrino-agent-thread-'));
    // A port that was free a moment ago: nothing listens there.
    const probe = createServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    const { port } = probe.address() as { port: number };
    await new Promise((resolve) => probe.close(resolve));
    const lines: string[] = [];
    const log = pino({ level: 'info' }, { write: (line: string) => void lines.push(line) });
    const agent = new AgentThread(
      {
        endpoint: `http://127.0.0.1:${port}`,
        auth: { type: 'none' },
        host: 'thread-test',
        stateDir,
        logLevel: 'info',
      },
      log,
    );
    try {
      await assert.rejects(agent.reconcile(), /cannot reach/);
      const entry = await until('a log line of the agent', async () =>
        lines
          .map((l) => JSON.parse(l) as { component?: string; msg: string })
          .find((l) => l.component === 'agent'),
      );
      assert.equal(entry.msg, 'agent starting', "the runner's first line, through the caller's logger");
    } finally {
      await agent.stop();
      await rm(stateDir, { recursive: true, force: true });
    }
    // The thread probed the kernel in a throwaway namespace as it started (as root); stopping it
    // let that probe finish and delete the namespace (ending the thread at once used to leave it).
    if (process.getuid?.() === 0)
      assert.ok(!(await listNamespaces()).some((ns) => ns.startsWith(`neutrino-probe-${process.pid}-`)));
  });
});
