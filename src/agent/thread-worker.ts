/**
 * The agent thread's entry (see `thread.ts`): runs an `AgentRunner` with the options it was given
 * and answers the main thread's requests.
 */
import { parentPort, workerData } from 'node:worker_threads';
import pino from 'pino';
import { Session } from '../client/session.js';
import { ReconcileReports } from './reconcile-report.js';
import type { Summary } from './reconciler.js';
import { AgentRunner } from './runner.js';
import type { AgentMessage, AgentRequest, AgentThreadOptions } from './thread.js';

const options = workerData as AgentThreadOptions;
const port = parentPort!;
const reports = new ReconcileReports();
const runner = new AgentRunner({
  session: new Session({ auth: options.auth, endpoint: options.endpoint }),
  host: options.host,
  stateDir: options.stateDir,
  resyncIntervalMs: options.resyncIntervalMs,
  physicalInterfaceMappings: options.physicalInterfaceMappings,
  ...(options.tunnel ? { tunnel: options.tunnel } : {}),
  ...(options.driver ? { driver: options.driver } : {}),
  heartbeatIntervalMs: options.heartbeatIntervalMs,
  // Each reconcile's numbers go to the main thread, for /healthz and /metrics.
  onReconciled: (summary) => port.postMessage({ reconciled: reports.next(summary) } satisfies AgentMessage),
  // Log lines go to the main thread, which writes them where the server's go.
  log: pino({ level: options.logLevel }, { write: (line: string) => port.postMessage({ log: line }) }).child({
    component: 'agent',
  }),
});

async function answer(op: AgentRequest['op']): Promise<Summary | undefined> {
  switch (op) {
    case 'reconcile':
      return runner.reconciler.reconcile();
    case 'stop':
      await runner.stop();
      return undefined;
    case 'teardown':
      return runner.teardown();
  }
}

port.on('message', ({ id, op }: AgentRequest) => {
  answer(op).then(
    (result) => {
      port.postMessage({ id, result } satisfies AgentMessage);
      // Stopped: the thread ends once what is still under way (a kernel probe, say) has finished,
      // so that its cleanup runs; the main thread waits for that.
      if (op !== 'reconcile') port.unref();
    },
    (err: unknown) =>
      port.postMessage({
        id,
        error: err instanceof Error ? err.message : String(err),
      } satisfies AgentMessage),
  );
});
runner.start();
