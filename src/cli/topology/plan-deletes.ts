/**
 * Plans the deletion of everything the file owns but no longer wants (for `destroy`: everything
 * it owns): floating IPs, instances with their ports (and ports left over by an interrupted
 * apply), routers with their routes and interfaces, subnets, networks, security groups, and the
 * projects it created.
 */
import type { Row } from './plan.js';
import { deleteInstance, ownedInstances } from './plan-instances.js';
import { planRoutes, routerSubnets, subnetName } from './plan-routers.js';
import { isMarked, type Planner } from './planner.js';

export function planDeletes(planner: Planner): void {
  const { current } = planner;
  const gone = (r: Row) => planner.owned(r) && !planner.kept.has(r.id);
  const label = (r: Row, name = r.name) => `${planner.projectName(r.project_id)}/${name ?? r.id}`;
  for (const f of current.floatingIps.filter(gone))
    planner.remove('floating_ip', label(f, f.floating_ip_address), f.id);
  const deleting = new Set(
    planner.steps.filter((s) => s.op === 'delete' && s.kind === 'instance').map((s) => s.id),
  );
  const instances = ownedInstances(planner);
  for (const i of instances)
    if (!planner.kept.has(i.id) && !deleting.has(i.id)) deleteInstance(planner, i, label(i));
  const attached = new Set(instances.flatMap((i) => (i.ports as Row[]).map((p) => p.id)));
  for (const p of current.ports.filter((port) => planner.owned(port) && !attached.has(port.id)))
    planner.remove('instance', `${label(p)} (leftover port)`, undefined, { extra: { ports: [p.id] } });
  for (const r of current.routers.filter(gone)) {
    planRoutes(planner, label(r), r.id, (r.routes as { destination: string; nexthop: string }[]) ?? [], []);
    for (const subnet of routerSubnets(planner, r.id))
      planner.remove('router_interface', `${label(r)} ↔ ${subnetName(planner, subnet)}`, undefined, {
        body: { router: r.id, subnet },
      });
    planner.remove('router', label(r), r.id);
  }
  for (const s of current.subnets.filter(gone)) planner.remove('subnet', label(s), s.id);
  for (const n of current.networks.filter(gone)) planner.remove('network', label(n), n.id);
  for (const g of current.securityGroups.filter(gone)) planner.remove('security_group', label(g), g.id);
  for (const p of current.projects)
    if (isMarked(p, planner.owner) && !planner.kept.has(p.id))
      planner.remove('project', String(p.name), p.id);
}
