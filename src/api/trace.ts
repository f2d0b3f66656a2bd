/**
 * `POST /neutrino/v1/trace`: traces a packet through the model (`core/trace/trace.ts`) and answers
 * with the verdict and its hops. Admins' traces read the whole model; a member's read only what
 * its own listings show it (the GET endpoints' visibility rules), cut out of the whole by
 * `core/trace/scope.ts`: its path ends where it would meet another project's object. Firewall
 * groups on router interfaces come with the whole model (a member keeps those of its routers).
 */
import type { FastifyInstance } from 'fastify';
import { type Context, SYSTEM } from '../core/context.js';
import { traceFirewalls } from '../core/fwaas.js';
import type { HostWiring, TraceModel } from '../core/trace/model.js';
import { scopeTraceModel } from '../core/trace/scope.js';
import { trace } from '../core/trace/trace.js';
import { driverOfAgentType, L2_AGENT_TYPES } from '../model/agent.js';
import { TraceRequest, TraceResult } from '../model/trace.js';
import { contextOf } from './auth.js';
import type { Services } from './services.js';

const ALL = { filters: {} };

async function readModel(s: Services, ctx: Context): Promise<TraceModel> {
  const [networks, subnets, ports, routers, floatingIps, securityGroups, instances] = await Promise.all([
    s.networks.list(ctx, ALL),
    s.subnets.list(ctx, ALL),
    s.ports.list(ctx, ALL),
    s.routers.list(ctx, ALL),
    s.floatingIps.list(ctx, ALL),
    s.securityGroups.list(ctx, ALL),
    s.instances.list(ctx),
  ]);
  return {
    networks,
    subnets,
    ports,
    routers,
    floatingIps,
    securityGroups,
    instances,
  } as unknown as TraceModel;
}

/** Each host's L2 driver as its agent reports it (and the openvswitch driver's local VLAN tags). */
async function hostWiring(s: Services): Promise<Record<string, HostWiring>> {
  const rows = await s.store.db
    .selectFrom('agents')
    .select(['host', 'agent_type', 'configurations'])
    .where('agent_type', 'in', L2_AGENT_TYPES)
    .execute();
  const wiring: Record<string, HostWiring> = {};
  for (const row of rows) {
    const driver = driverOfAgentType(row.agent_type);
    const ovs = driver === 'openvswitch';
    let tags: Record<string, number> = {};
    let tunnelIp: string | undefined;
    try {
      const reported = JSON.parse(row.configurations) as {
        local_vlan_tags?: unknown;
        tunneling_ip?: unknown;
      };
      const local = reported.local_vlan_tags;
      if (ovs && typeof local === 'object' && local !== null) tags = local as Record<string, number>;
      if (typeof reported.tunneling_ip === 'string') tunnelIp = reported.tunneling_ip;
    } catch {
      // A configuration that is not JSON names no tags and no endpoint.
    }
    wiring[row.host] = {
      driver,
      tags,
      ...(tunnelIp === undefined ? {} : { tunnelIp }),
    };
  }
  return wiring;
}

/** Each vxlan network's VNI. */
async function vxlanSegments(s: Services): Promise<Record<string, number>> {
  const rows = await s.store.db
    .selectFrom('network_segments')
    .select(['network_id', 'segmentation_id'])
    .where('network_type', '=', 'vxlan')
    .execute();
  return Object.fromEntries(rows.map((r) => [r.network_id, Number(r.segmentation_id)]));
}

/** The ids of every object `ctx` may see; undefined for admins (everything). */
async function visibleTo(s: Services, ctx: Context): Promise<Set<string> | undefined> {
  if (ctx.isAdmin) return undefined;
  const own = await readModel(s, ctx);
  return new Set(Object.values(own).flatMap((items: { id: string }[]) => items.map((i) => i.id)));
}

export function registerTrace(app: FastifyInstance, services: Services): void {
  app.post(
    '/neutrino/v1/trace',
    { schema: { body: TraceRequest, response: { 200: TraceResult } } },
    async (req) => {
      const ctx = contextOf(req);
      const [whole, visible, firewalls, wiring, vxlans] = await Promise.all([
        readModel(services, SYSTEM),
        visibleTo(services, ctx),
        traceFirewalls(services.store.db),
        hostWiring(services),
        vxlanSegments(services),
      ]);
      const model = { ...whole, firewalls, wiring, vxlans };
      return trace(visible ? scopeTraceModel(model, visible) : model, req.body as TraceRequest);
    },
  );
}
