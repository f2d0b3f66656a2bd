/**
 * The collections an admin's topology shows when narrowed to one project (pure): that project's
 * objects, and the external networks its routers and floating IPs use — with their subnets, whoever
 * owns them (an external network's subnet is the admin's, and a network card without its CIDR says
 * nothing of where addresses come from).
 */
import type { Collections } from '../api/resources.js';

export function projectView(data: Partial<Collections>, project: string): Partial<Collections> {
  const own = <T extends { project_id: string }>(list: T[] | undefined) =>
    list?.filter((o) => o.project_id === project);
  const networks = data.networks?.filter((n) => n.project_id === project || n['router:external'] === true);
  const shown = new Set((networks ?? []).map((n) => n.id));
  return {
    ...data,
    networks,
    subnets: data.subnets?.filter((s) => s.project_id === project || shown.has(s.network_id)),
    ports: own(data.ports),
    routers: own(data.routers),
    floatingips: own(data.floatingips),
    instances: own(data.instances),
    loadbalancers: own(data.loadbalancers),
  };
}
