/**
 * `neutrino server`: opens the store (running migrations), bootstraps identity on first
 * start, and serves the API until SIGINT/SIGTERM.
 */
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type pino from 'pino';
import { stringify } from 'yaml';
import type { HealthSources } from '../api/health.js';
import { Metrics } from '../api/metrics.js';
import { buildServer, type Server } from '../api/server.js';
import { type Config, databaseUrl } from '../config.js';
import type { Scheduler } from '../core/scheduler.js';
import { generatePassword } from '../identity/passwords.js';
import { Store } from '../store/store.js';
import { createLogger, logFormat } from './logger.js';

export interface Running {
  server: Server;
  store: Store;
  metrics: Metrics;
  /** What `/healthz` checks besides the database: `up` adds its agent thread. */
  health: HealthSources;
  url: string;
  close: () => Promise<void>;
}

const REVISIONS_KEPT = 100_000;

/**
 * What the server's log never shows: tokens in request headers and passwords or token ids in
 * request bodies, wherever a line carries them (Fastify's own request lines carry neither).
 */
export const LOG_REDACT = {
  paths: [
    'req.headers["x-auth-token"]',
    'req.headers["x-subject-token"]',
    'headers["x-auth-token"]',
    'headers["x-subject-token"]',
    'res.headers["x-subject-token"]',
    'body.auth.identity.password.user.password',
    'body.auth.identity.token.id',
    'body.user.password',
    'req.body.auth.identity.password.user.password',
    'req.body.auth.identity.token.id',
    'req.body.user.password',
    'password',
    '*.password',
  ],
  censor: '[REDACTED]',
};

/** The server's logger: `log` with the secrets of LOG_REDACT censored. */
export function serverLogger(log: pino.Logger): pino.Logger {
  return log.child({}, { redact: LOG_REDACT });
}
const SHUTDOWN_GRACE_MS = 2000;

export async function startServer(
  config: Config,
  log = createLogger(config.logLevel, logFormat(config.logFormat)),
): Promise<Running> {
  if (!config.db) mkdirSync(config.stateDir, { recursive: true, mode: 0o700 });
  const metrics = new Metrics();
  const health: HealthSources = {};
  const store = await Store.open(databaseUrl(config), metrics.observeQuery);
  const server = await buildServer({
    store,
    settings: config.settings,
    metrics,
    health,
    auth: config.auth,
    publicUrl: config.publicUrl,
    tokenLifetimeSeconds: config.tokenLifetimeSeconds,
    logger: serverLogger(log),
  });
  await bootstrapAdmin(server, config, log);
  const address = await server.app.listen({ host: config.host, port: config.port });
  const url = config.publicUrl ?? address;
  const housekeeping = setInterval(() => {
    void server.services.identity.pruneTokens().catch((err) => log.warn({ err }, 'token pruning failed'));
    void store.pruneRevisions(REVISIONS_KEPT).catch((err) => log.warn({ err }, 'revision pruning failed'));
  }, 3600_000);
  housekeeping.unref();
  const failover = startFailoverChecks(server.services.scheduler, config.settings.agentDownTime, log);
  return {
    server,
    store,
    metrics,
    health,
    url,
    close: async () => {
      clearInterval(housekeeping);
      failover.stop();
      // close() waits for open connections; one that never sends a request (a preconnect, a
      // stalled client) would hold shutdown until its timeout, so cut them after a grace period.
      const force = setTimeout(() => server.app.server.closeAllConnections(), SHUTDOWN_GRACE_MS);
      await server.app.close();
      clearTimeout(force);
      await store.close();
    },
  };
}

/**
 * Neutron's automatic DHCP and L3 failover: every `agent_down_time / 2` seconds, work moves off
 * hosts whose agent is dead. The first check waits a whole `agent_down_time` after start, so that
 * agents had their chance to report to a server that just (re)started: otherwise after an outage
 * of the control plane every agent would look dead, and the first to report would get everything.
 * Every server runs it; the checks serialise on the store (`core/scheduler.ts`).
 */
function startFailoverChecks(
  scheduler: Scheduler,
  agentDownTime: number,
  log: pino.Logger,
): { stop(): void } {
  let timer: NodeJS.Timeout | undefined;
  const check = async () => {
    try {
      const moved = await scheduler.rescheduleFromDeadAgents();
      for (const m of moved.networks) log.warn(m, 'DHCP of a network moved off a host whose agent is dead');
      for (const m of moved.routers) log.warn(m, 'router moved off a host whose agent is dead');
    } catch (err) {
      log.warn({ err }, 'failover check failed');
    }
  };
  const first = setTimeout(() => {
    void check();
    timer = setInterval(() => void check(), (agentDownTime * 1000) / 2).unref();
  }, agentDownTime * 1000).unref();
  return {
    stop() {
      clearTimeout(first);
      clearInterval(timer);
    },
  };
}

/** Creates the admin user on first start; the password comes from the environment or a new 0600 file. */
async function bootstrapAdmin(server: Server, config: Config, log: pino.Logger) {
  const fromEnv = process.env.NEUTRINO_ADMIN_PASSWORD;
  const passwordFile = join(config.stateDir, 'admin-password');
  const password = fromEnv ?? generatePassword();
  const { created } = await server.services.identity.bootstrap(password);
  if (!created) return;
  if (fromEnv) {
    log.info('bootstrap: created user admin with the password from NEUTRINO_ADMIN_PASSWORD');
    return;
  }
  mkdirSync(config.stateDir, { recursive: true, mode: 0o700 });
  // Overwrite: a file left from an earlier database would name a password that no longer works.
  writeFileSync(passwordFile, `${password}\n`, { mode: 0o600 });
  chmodSync(passwordFile, 0o600);
  log.info({ passwordFile }, `bootstrap: created user admin; its password is in ${passwordFile}`);
}

/**
 * Writes `clouds.yaml` with a `neutrino` cloud (admin, password auth) into the state dir; the
 * password comes from the environment or the bootstrap file.
 */
export function writeCloudsYaml(config: Config, url: string): string {
  const file = join(config.stateDir, 'clouds.yaml');
  const passwordFile = join(config.stateDir, 'admin-password');
  const password =
    process.env.NEUTRINO_ADMIN_PASSWORD ??
    (existsSync(passwordFile) ? readFileSync(passwordFile, 'utf8').trim() : '');
  const cloud = {
    clouds: {
      neutrino: {
        auth: {
          auth_url: `${url}/identity/v3`,
          username: 'admin',
          password,
          project_name: 'admin',
          user_domain_name: 'Default',
          project_domain_name: 'Default',
        },
        region_name: 'RegionOne',
        interface: 'public',
        identity_api_version: 3,
      },
    },
  };
  mkdirSync(config.stateDir, { recursive: true, mode: 0o700 });
  writeFileSync(file, stringify(cloud), { mode: 0o600 });
  chmodSync(file, 0o600);
  return file;
}
