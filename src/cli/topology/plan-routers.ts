/**
 * Plans a file's routers: the router with its external gateway (and SNAT when the file says),
 * its interfaces (one per subnet named), and its static routes — which shrink before interfaces
 * go and grow after they come, so every next hop stays on an attached subnet.
 */
import type { Id, Row } from './plan.js';
import { idText, type Planner, sameSet } from './planner.js';
import type { Project } from './schema.js';

type Route = { destination: string; nexthop: string };
type GatewayInfo = { network_id?: string; enable_snat?: boolean } | null;

/** The subnets a router has interfaces on. */
export function routerSubnets(planner: Planner, routerId: string): string[] {
  return planner.current.routerPorts
    .filter((p) => p.device_id === routerId)
    .flatMap((p) => (p.fixed_ips as { subnet_id: string }[]).map((f) => f.subnet_id));
}

export function subnetName(planner: Planner, id: string): string {
  return String(planner.current.subnets.find((s) => s.id === id)?.name || id);
}

/** Route changes: a delete step for routes to drop, a create step for routes to add. */
export function planRoutes(
  planner: Planner,
  display: string,
  router: Id,
  had: Route[],
  wanted: Route[],
): void {
  const key = (r: Route) => `${r.destination} via ${r.nexthop}`;
  const keep = had.filter((r) => wanted.some((w) => key(w) === key(r)));
  if (keep.length < had.length && typeof router === 'string')
    planner.remove('router_routes', display, undefined, {
      body: { router, routes: keep },
      changes: had.filter((r) => !keep.includes(r)).map(key),
    });
  if (!sameSet(keep.map(key), wanted.map(key)))
    planner.steps.push({
      op: 'create',
      kind: 'router_routes',
      name: display,
      body: { router, routes: wanted },
      changes: wanted.filter((w) => !keep.some((k) => key(k) === key(w))).map(key),
    });
}

export function planRouters(planner: Planner, project: string, p: Project): void {
  for (const [name, r] of Object.entries(p.routers ?? {})) {
    const path = ['projects', project, 'routers', name];
    const display = `${project}/${name}`;
    const network = r.external_gateway
      ? planner.network(project, r.external_gateway, [...path, 'external_gateway'])
      : undefined;
    const snat = r.snat === undefined ? {} : { enable_snat: r.snat };
    const gateway = network ? { network_id: network, ...snat } : null;
    const row = planner.match(planner.current.routers, 'router', project, name, path);
    let router: Id;
    if (row) {
      router = row.id;
      const info = row.external_gateway_info as GatewayInfo;
      const had = info?.network_id
        ? { network_id: info.network_id, ...(r.snat === undefined ? {} : { enable_snat: info.enable_snat }) }
        : null;
      planner.update(
        'router',
        display,
        { ...row, external_gateway_info: had },
        {
          description: r.description ?? '',
          admin_state_up: r.admin_state_up ?? true,
          external_gateway_info: gateway ?? (had ? {} : null),
        },
      );
    } else {
      router = planner.create('router', project, name, {
        name,
        project_id: planner.projectId(project),
        tags: [planner.owner],
        description: r.description ?? '',
        ...(r.admin_state_up === false ? { admin_state_up: false } : {}),
        ...(gateway ? { external_gateway_info: gateway } : {}),
      });
    }
    const attached = row ? routerSubnets(planner, row.id) : [];
    const wanted = (r.interfaces ?? []).map((s, i) => ({
      name: s,
      id: planner.subnet(project, s, [...path, 'interfaces', i]),
    }));
    for (const { name: subnet, id } of wanted)
      if (id && !attached.includes(idText(id)))
        planner.steps.push({
          op: 'create',
          kind: 'router_interface',
          name: `${display} ↔ ${subnet}`,
          body: { router, subnet: id },
        });
    for (const subnet of attached)
      if (!wanted.some((w) => w.id && idText(w.id) === subnet))
        planner.remove('router_interface', `${display} ↔ ${subnetName(planner, subnet)}`, undefined, {
          body: { router, subnet },
        });
    planRoutes(
      planner,
      display,
      router,
      ((row as Row | undefined)?.routes as Route[] | undefined) ?? [],
      r.routes ?? [],
    );
  }
}
