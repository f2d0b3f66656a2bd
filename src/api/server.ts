/**
 * Builds the HTTP server: one Fastify instance serving the Neutron v2.0 API, the Keystone v3
 * subset at /identity, the change feed, metrics and health. Validation is compiled from the
 * model's schemas with unknown attributes rejected (never silently dropped).
 */
import { randomUUID } from 'node:crypto';
import Fastify, { type FastifyBaseLogger, type FastifyInstance, LogController } from 'fastify';
import { SYSTEM } from '../core/context.js';
import { HTTPBadRequest } from '../core/errors.js';
import type { Settings } from '../core/settings.js';
import type { Store } from '../store/store.js';
import { addressGroups, registerAddressGroupActions } from './address-groups.js';
import { addressScopes } from './address-scopes.js';
import { registerAgents } from './agents.js';
import { registerAuth } from './auth.js';
import { registerDashboard } from './dashboard.js';
import { registerDiagnostics } from './diagnostics.js';
import { clientErrorHandler, errorHandler, frameworkErrorHandler, notFoundHandler } from './errors.js';
import { registerEvents } from './events.js';
import { registerExtensions } from './extensions.js';
import { registerFairness } from './fairness.js';
import { floatingIps, registerFloatingIpPools } from './floating-ips.js';
import { firewallGroups, firewallPolicies, firewallRules, registerFirewallPolicyActions } from './fwaas.js';
import { type HealthSources, registerHealth } from './health.js';
import { registerHosts } from './hosts.js';
import { registerIdentity } from './identity.js';
import { registerInstances } from './instances.js';
import { registerIpAvailability } from './ip-availability.js';
import { registerLoadBalancers } from './load-balancers.js';
import { registerMetadata } from './metadata.js';
import { meteringLabelRules, meteringLabels, registerMeteringStats } from './metering.js';
import type { Metrics } from './metrics.js';
import { networkLogs, registerNetworkLogs } from './network-logs.js';
import { networks } from './networks.js';
import { registerPortForwardings } from './port-forwardings.js';
import { ports } from './ports.js';
import { qosPolicies, registerQos } from './qos.js';
import { registerQuotas } from './quotas.js';
import { rbacPolicies } from './rbac-policies.js';
import { registerRequestLog } from './request-log.js';
import { type CollectionSpec, registerCollection } from './resource-routes.js';
import { registerRouterActions, routers } from './routers.js';
import { registerScheduler } from './scheduler.js';
import { securityGroupRules } from './security-group-rules.js';
import { securityGroups } from './security-groups.js';
import { buildServices, type Services } from './services.js';
import { registerSubnetPoolActions, subnetPools } from './subnet-pools.js';
import { subnets } from './subnets.js';
import { tapFlows, tapServices } from './taas.js';
import { registerTrace } from './trace.js';
import { registerTrunkActions, trunks } from './trunks.js';
import { COLLECTIONS, registerVersions } from './versions.js';
import { endpointGroups, ikePolicies, ipsecPolicies, ipsecSiteConnections, vpnServices } from './vpnaas.js';

export interface ServerOptions {
  store: Store;
  settings: Settings;
  metrics: Metrics;
  auth: 'keystone' | 'noauth';
  /** Base URL put in the catalog and links; by default the Host the client used. */
  publicUrl?: string;
  tokenLifetimeSeconds?: number;
  /** A pino logger for request and error logs; none by default (tests). */
  logger?: FastifyBaseLogger;
  /** What `/healthz` checks besides the database (`up`'s agent thread), and its clock. */
  health?: HealthSources;
  bodyLimit?: number;
  /** The built dashboard (`index.html`, `assets/`); `dist/web` of this package by default. */
  webRoot?: string;
}

export interface Server {
  app: FastifyInstance;
  services: Services;
  /** Every route served, as registered (`/v2.0/networks/:id`): what the fuzz tests drive. */
  routes: { method: string; url: string }[];
}

const COLLECTION_SPECS: ((s: Services) => CollectionSpec)[] = [
  networks,
  rbacPolicies,
  securityGroups,
  securityGroupRules,
  subnets,
  ports,
  routers,
  floatingIps,
  addressGroups,
  trunks,
  subnetPools,
  addressScopes,
  qosPolicies,
  tapServices,
  tapFlows,
  meteringLabels,
  meteringLabelRules,
  firewallRules,
  firewallPolicies,
  firewallGroups,
  networkLogs,
  ikePolicies,
  ipsecPolicies,
  vpnServices,
  endpointGroups,
  ipsecSiteConnections,
];

const NUL_MESSAGE = 'Invalid input: NUL characters are not allowed';

/** Does any string in `value` (JSON data, bounded by the body limit) contain a NUL character? */
function holdsNul(value: unknown): boolean {
  if (typeof value === 'string') return value.includes('\u0000');
  if (value === null || typeof value !== 'object') return false;
  for (const [key, item] of Object.entries(value)) if (key.includes('\u0000') || holdsNul(item)) return true;
  return false;
}

export async function buildServer(opts: ServerOptions): Promise<Server> {
  const app = Fastify({
    ...(opts.logger ? { loggerInstance: opts.logger } : { logger: false }),
    // One line per request, from `request-log.ts`, instead of Fastify's two.
    logController: new LogController({ disableRequestLogging: true }),
    genReqId: () => `req-${randomUUID()}`,
    bodyLimit: opts.bodyLimit ?? 4 * 1024 * 1024,
    ajv: {
      customOptions: { removeAdditional: false, coerceTypes: false, useDefaults: false, allErrors: true },
    },
    routerOptions: { ignoreTrailingSlash: true, maxParamLength: 300 },
    exposeHeadRoutes: false,
    frameworkErrors: frameworkErrorHandler,
    clientErrorHandler,
  });
  const services = buildServices(opts.store, opts.settings, opts.tokenLifetimeSeconds);
  const routes: Server['routes'] = [];
  app.addHook('onRoute', (r) => {
    for (const method of [r.method].flat()) routes.push({ method, url: r.url });
  });

  // An empty JSON body is no body (clients send Content-Type on DELETE too); anything else
  // must parse.
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (_req, text, done) => {
    if (text === '') return done(null, undefined);
    let body: unknown;
    try {
      body = JSON.parse(text as string);
    } catch {
      return done(HTTPBadRequest({ msg: 'Malformed request body' }), undefined);
    }
    try {
      if ((text as string).includes('\\u0000') && holdsNul(body))
        return done(HTTPBadRequest({ msg: NUL_MESSAGE }), undefined);
    } catch {
      // nested deeper than the stack: no attribute is
      return done(HTTPBadRequest({ msg: 'Malformed request body' }), undefined);
    }
    done(null, body);
  });
  // PostgreSQL cannot store a NUL character and no attribute needs one: refused in paths and
  // queries too, before any handler reads them.
  app.addHook('onRequest', async (req) => {
    if (holdsNul(req.params) || holdsNul(req.query)) throw HTTPBadRequest({ msg: NUL_MESSAGE });
  });
  app.setErrorHandler(errorHandler);
  app.setNotFoundHandler(notFoundHandler);
  registerRequestLog(app);
  opts.metrics.register(app);
  opts.metrics.countAgents(async () => {
    const counts: Record<string, number> = {};
    for (const agent of await services.agents.list(SYSTEM))
      if (agent.alive) counts[agent.agent_type] = (counts[agent.agent_type] ?? 0) + 1;
    return counts;
  });
  if (opts.settings.metricsPerPort) opts.metrics.portCounters(() => services.portStats.series());
  registerHealth(app, opts.store, opts.health);

  const adminProject = async () =>
    (await services.identity.listProjects({ name: 'admin', domain_id: 'default' }))[0]?.id ?? null;
  registerAuth(app, services.identity, opts.auth, adminProject);
  registerFairness(app, opts.settings.projectWriteConcurrency);
  registerVersions(app, opts.publicUrl, registerDashboard(app, opts.webRoot));
  registerIdentity(app, services.identity, opts.publicUrl);
  registerEvents(app, opts.store, services.networks);
  registerExtensions(app);
  registerQuotas(app, services.quotas);
  registerIpAvailability(app, services.ipAvailability);
  registerAgents(app, services.agents);
  registerScheduler(app, services.scheduler);
  registerHosts(
    app,
    services.agents,
    services.hostSync,
    services.portDrops,
    services.portStats,
    services.loadBalancers,
    services.ipsecSiteConnections,
    opts.metrics,
  );
  registerDiagnostics(app, services.diagnostics);
  registerInstances(app, services.instances);
  registerRouterActions(app, services.routers);
  registerAddressGroupActions(app, services.addressGroups);
  registerFirewallPolicyActions(app, services.firewallPolicies);
  registerTrunkActions(app, services.trunks);
  registerSubnetPoolActions(app, services.subnetPools);
  registerFloatingIpPools(app, services.floatingIps);
  registerPortForwardings(app, services.portForwardings);
  registerLoadBalancers(app, services.loadBalancers);
  registerQos(app, services.qosPolicies);
  registerMeteringStats(app, services.meteringLabels);
  registerNetworkLogs(app, services.networkLogs);
  registerTrace(app, services);
  registerMetadata(app, opts.store, opts.settings);

  COLLECTIONS.length = 0;
  for (const build of COLLECTION_SPECS) {
    const spec = build(services);
    registerCollection(app, opts.store, spec);
    COLLECTIONS.push({ name: spec.member, collection: spec.collection, path: spec.path });
  }
  await app.ready();
  return { app, services, routes };
}
