/**
 * Reads what the API holds for a plan (`Current`): every visible project, network, subnet,
 * security group, router and instance, router interface ports, and the ports and floating IPs that
 * carry the topology's owner tag. Collections the server does not serve (404) read as empty.
 */
import { ApiError, type Session } from '../../client/session.js';
import { DeviceOwner } from '../../model/device-owners.js';
import { KINDS, type Kind, list, type Row } from '../resolve.js';
import type { Current } from './plan.js';

async function optional(session: Session, kind: Kind, filters: Record<string, string> = {}): Promise<Row[]> {
  try {
    return await list(session, kind, filters);
  } catch (err) {
    if (err instanceof ApiError && err.status === 404) return [];
    throw err;
  }
}

/** All projects for admins; for others, their own (Keystone answers 403 to the listing). */
async function projects(session: Session): Promise<Row[]> {
  try {
    return await list(session, KINDS.project);
  } catch (err) {
    if (!(err instanceof ApiError) || err.status !== 403) throw err;
    return (await session.get<{ projects: Row[] }>('/identity/v3/auth/projects')).projects;
  }
}

export async function fetchCurrent(session: Session, owner: string): Promise<Current> {
  const [p, networks, subnets, securityGroups, routers, routerPorts, instances, ports, floatingIps] =
    await Promise.all([
      projects(session),
      list(session, KINDS.network),
      list(session, KINDS.subnet),
      list(session, KINDS.securityGroup),
      optional(session, KINDS.router),
      list(session, KINDS.port, { device_owner: DeviceOwner.routerInterface }),
      list(session, KINDS.instance),
      list(session, KINDS.port, { tags: owner }),
      optional(session, KINDS.floatingIp, { tags: owner }),
    ]);
  return {
    projects: p,
    networks,
    subnets,
    securityGroups,
    routers,
    routerPorts,
    instances,
    ports,
    floatingIps,
  };
}
