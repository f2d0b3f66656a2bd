/**
 * Plans a file's projects, networks and subnets. A project that exists is used as it is (and
 * changed only if the file created it); networks and subnets are created, or their changeable
 * attributes brought in line — the rest (provider attributes, CIDR) is fixed once created.
 */
import type { Path } from './load.js';
import { isMarked, markedDescription, type Planner, same, sameSet } from './planner.js';
import type { Project, Subnet } from './schema.js';

export function planProject(planner: Planner, name: string, p: Project): void {
  const description = markedDescription(p.description, planner.owner);
  const row = planner.current.projects.find((r) => r.name === name);
  if (!row) {
    planner.ids.set(`project:${name}`, planner.create('project', name, name, { name, description }));
    return;
  }
  planner.ids.set(`project:${name}`, row.id);
  if (!isMarked(row, planner.owner)) return;
  planner.kept.add(row.id);
  planner.update('project', name, row, { description });
}

/** Attributes a network is created with when the file does not say, left out of create bodies. */
const NETWORK_DEFAULTS = {
  description: '',
  admin_state_up: true,
  shared: false,
  'router:external': false,
  port_security_enabled: true,
};

export function planNetworks(planner: Planner, project: string, p: Project): void {
  const pid = planner.projectId(project);
  for (const [name, n] of Object.entries(p.networks ?? {})) {
    const path = ['projects', project, 'networks', name];
    const provider = {
      'provider:network_type': n.provider?.network_type,
      'provider:physical_network': n.provider?.physical_network,
      'provider:segmentation_id': n.provider?.segmentation_id,
    };
    const wanted: Record<string, unknown> = {
      description: n.description ?? '',
      admin_state_up: n.admin_state_up ?? true,
      shared: n.shared ?? false,
      'router:external': n.external ?? false,
      port_security_enabled: n.port_security ?? true,
      mtu: n.mtu,
    };
    const row = planner.match(planner.current.networks, 'network', project, name, path);
    if (row) {
      planner.ids.set(`network:${project}/${name}`, row.id);
      for (const [key, value] of Object.entries(provider))
        planner.fixed([...path, 'provider'], key, row[key], value);
      planner.update('network', `${project}/${name}`, row, wanted);
    } else {
      // Defaults are left out, so a project member may create what needs no admin.
      for (const [key, value] of Object.entries(NETWORK_DEFAULTS))
        if (same(wanted[key], value)) delete wanted[key];
      planner.create('network', project, name, {
        name,
        project_id: pid,
        tags: [planner.owner],
        ...provider,
        ...wanted,
      });
    }
    for (const [subnet, s] of Object.entries(n.subnets ?? {}))
      planSubnet(planner, project, name, subnet, s, [...path, 'subnets', subnet]);
  }
}

function planSubnet(
  planner: Planner,
  project: string,
  network: string,
  name: string,
  s: Subnet,
  path: Path,
): void {
  const networkId = planner.ids.get(`network:${project}/${network}`)!;
  const wanted = {
    description: s.description ?? '',
    enable_dhcp: s.dhcp ?? true,
    dns_nameservers: s.dns_nameservers ?? [],
    host_routes: s.host_routes ?? [],
    allocation_pools: s.allocation_pools,
    gateway_ip: s.gateway,
  };
  const row = planner.match(planner.current.subnets, 'subnet', project, name, path);
  if (!row) {
    planner.create('subnet', project, name, {
      name,
      network_id: networkId,
      cidr: s.cidr,
      ip_version: s.ip_version ?? (s.cidr.includes(':') ? 6 : 4),
      project_id: planner.projectId(project),
      tags: [planner.owner],
      ipv6_ra_mode: s.ipv6_ra_mode,
      ipv6_address_mode: s.ipv6_address_mode,
      ...wanted,
    });
    return;
  }
  planner.ids.set(`subnet:${project}/${name}`, row.id);
  planner.fixed([...path, 'cidr'], 'cidr', row.cidr, s.cidr.toLowerCase());
  planner.fixed(path, 'network', row.network_id, networkId);
  planner.fixed([...path, 'ipv6_ra_mode'], 'ipv6_ra_mode', row.ipv6_ra_mode, s.ipv6_ra_mode);
  planner.fixed(
    [...path, 'ipv6_address_mode'],
    'ipv6_address_mode',
    row.ipv6_address_mode,
    s.ipv6_address_mode,
  );
  // Host routes are a set: the same routes in another order are no change.
  const routes = sameSet(row.host_routes as unknown[], wanted.host_routes)
    ? wanted.host_routes
    : row.host_routes;
  planner.update('subnet', `${project}/${name}`, { ...row, host_routes: routes }, wanted);
}
