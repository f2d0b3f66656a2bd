/**
 * `/neutrino/v1/hosts/{host}/…`: what a host's agent calls (admins only). `heartbeat` registers
 * one of its roles and keeps it alive, `sync` schedules DHCP and returns the host's snapshot,
 * `status` reports port status and problems after a reconcile (and security groups' drop counters,
 * which `GET /neutrino/v1/ports/{id}/drops` serves to whoever may see the port, and the ports'
 * traffic counters, which `GET /neutrino/v1/{ports,instances,routers}/{id}/stats` serve).
 */
import type { FastifyInstance } from 'fastify';
import { Type } from 'typebox';
import type { Agents } from '../core/agents.js';
import { AGENT_CONFIGURATION_LIMITS, checkFreeForm } from '../core/free-form.js';
import type { HostSync } from '../core/host-sync/host-sync.js';
import type { LoadBalancers } from '../core/load-balancers.js';
import type { PortDrops } from '../core/port-drops.js';
import type { PortStats } from '../core/port-stats.js';
import type { IpsecSiteConnections } from '../core/vpnaas.js';
import {
  DeviceStats,
  Heartbeat,
  HostName,
  PortDrops as PortDropsView,
  PortStats as PortStatsView,
  StatusReport,
} from '../model/agent.js';
import { contextOf } from './auth.js';
import type { Metrics } from './metrics.js';

const base = '/neutrino/v1/hosts/:host';
const params = Type.Object({ host: HostName }, { required: ['host'] });
const HeartbeatBody = Type.Object({ agent: Heartbeat }, { additionalProperties: false, required: ['agent'] });

export function registerHosts(
  app: FastifyInstance,
  agents: Agents,
  hostSync: HostSync,
  portDrops: PortDrops,
  portStats: PortStats,
  loadBalancers: LoadBalancers,
  vpnConnections: IpsecSiteConnections,
  metrics?: Metrics,
): void {
  app.post(`${base}/heartbeat`, { schema: { params, body: HeartbeatBody } }, async (req) => {
    const { host } = req.params as { host: string };
    const { agent } = req.body as { agent: Heartbeat };
    checkFreeForm('configurations', agent.configurations, AGENT_CONFIGURATION_LIMITS);
    return { agent: await agents.heartbeat(contextOf(req), host, agent) };
  });

  app.post(`${base}/sync`, { schema: { params } }, async (req) => {
    const { host } = req.params as { host: string };
    return { snapshot: await hostSync.sync(contextOf(req), host) };
  });

  app.post(`${base}/status`, { schema: { params, body: StatusReport } }, async (req, reply) => {
    const { host } = req.params as { host: string };
    const report = req.body as StatusReport;
    await hostSync.report(contextOf(req), host, report);
    if (report.drops) await portDrops.report(contextOf(req), host, report.drops);
    if (report.counters) await portStats.report(contextOf(req), host, report.counters);
    if (report.load_balancers) await loadBalancers.report(host, report.load_balancers);
    if (report.vpn) await vpnConnections.report(report.vpn.services, report.vpn.connections);
    // Only once the report was taken (an admin's): the host's agent health on /metrics.
    if (report.agent_health) metrics?.agentHealth(host, report.agent_health);
    return reply.code(204).send();
  });

  const portParams = Type.Object({ id: Type.String({ maxLength: 64 }) }, { required: ['id'] });
  const response = { 200: Type.Object({ port_drops: PortDropsView }) };
  app.get('/neutrino/v1/ports/:id/drops', { schema: { params: portParams, response } }, async (req) => {
    const { id } = req.params as { id: string };
    return { port_drops: await portDrops.get(contextOf(req), id) };
  });

  const stats = { 200: Type.Object({ port_stats: PortStatsView }) };
  app.get(
    '/neutrino/v1/ports/:id/stats',
    { schema: { params: portParams, response: stats } },
    async (req) => {
      const { id } = req.params as { id: string };
      return { port_stats: await portStats.get(contextOf(req), id) };
    },
  );
  const instanceStats = { 200: Type.Object({ instance_stats: DeviceStats }) };
  app.get(
    '/neutrino/v1/instances/:id/stats',
    { schema: { params: portParams, response: instanceStats } },
    async (req) => {
      const { id } = req.params as { id: string };
      return { instance_stats: await portStats.instance(contextOf(req), id) };
    },
  );
  const routerStats = { 200: Type.Object({ router_stats: DeviceStats }) };
  app.get(
    '/neutrino/v1/routers/:id/stats',
    { schema: { params: portParams, response: routerStats } },
    async (req) => {
      const { id } = req.params as { id: string };
      return { router_stats: await portStats.router(contextOf(req), id) };
    },
  );
  const rateList = Type.Array(
    Type.Object({
      port_id: Type.String(),
      rx_bps: Type.Union([Type.Number(), Type.Null()]),
      tx_bps: Type.Union([Type.Number(), Type.Null()]),
    }),
  );
  app.get(
    '/neutrino/v1/port-rates',
    { schema: { response: { 200: Type.Object({ port_rates: rateList }) } } },
    async (req) => ({
      port_rates: await portStats.rates(contextOf(req)),
    }),
  );
}
