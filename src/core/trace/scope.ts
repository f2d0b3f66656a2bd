/**
 * What a project member's packet trace may read (pure): the model (`trace.ts`) cut down to
 * the objects the caller sees by the GET endpoints' rules — its own, networks shared with it or
 * external, their subnets, security groups shared with it — together with the ports that are
 * parts of its routers and floating IPs (a router's gateway port belongs to no project). Of
 * everything else only *where* it sits is kept, without id or name: the addresses other
 * projects' ports and floating IPs hold on the networks the caller sees, and the CIDRs of the
 * subnets it does not see. The tracer stops where a path meets one of those, saying only that
 * the path leaves the caller's project; with nothing else of theirs in hand it cannot name them.
 */
import type { TraceModel } from './model.js';

type Beyond = NonNullable<TraceModel['beyond']>;

/** `ip` as a one-address CIDR. */
const host = (ip: string) => (ip.includes(':') ? `${ip}/128` : `${ip}/32`);

/** The model as seen by a caller who may see the objects with ids in `visible`. */
export function scopeTraceModel(model: TraceModel, visible: ReadonlySet<string>): TraceModel {
  const seen = <T extends { id: string }>(items: T[]) => items.filter((i) => visible.has(i.id));
  const networks = seen(model.networks);
  // An external network's subnets are hidden from other projects' listings (as in Neutron), yet
  // the caller's gateways and floating IPs are on them: its traces keep them.
  const external = new Set(networks.filter((n) => n['router:external'] === true).map((n) => n.id));
  const subnets = model.subnets.filter((s) => visible.has(s.id) || external.has(s.network_id));
  const routers = seen(model.routers);
  const floatingIps = seen(model.floatingIps);
  const instances = seen(model.instances);
  const networkIds = new Set(networks.map((n) => n.id));
  const subnetIds = new Set(subnets.map((s) => s.id));
  // A router's or floating IP's own ports are part of it; another project's instance's port,
  // though visible on the caller's network, leads to that instance and its groups.
  const owners = new Set([...routers, ...floatingIps].map((o) => o.id));
  const hiddenInstancePorts = new Set(
    model.instances.filter((i) => !visible.has(i.id)).flatMap((i) => i.ports.map((p) => p.id)),
  );
  const beyond: Beyond = [];
  const hold = (networkId: string, cidr: string) => {
    if (networkIds.has(networkId)) beyond.push({ network_id: networkId, cidr });
  };

  const ports: TraceModel['ports'] = [];
  for (const port of model.ports) {
    const kept = owners.has(port.device_id) || (visible.has(port.id) && !hiddenInstancePorts.has(port.id));
    if (!kept) {
      for (const f of port.fixed_ips) hold(port.network_id, host(f.ip_address));
      for (const pair of port.allowed_address_pairs)
        hold(port.network_id, pair.ip_address.includes('/') ? pair.ip_address : host(pair.ip_address));
      continue;
    }
    const fixed = port.fixed_ips.filter((f) => subnetIds.has(f.subnet_id));
    for (const f of port.fixed_ips)
      if (!subnetIds.has(f.subnet_id)) hold(port.network_id, host(f.ip_address));
    ports.push(fixed.length === port.fixed_ips.length ? port : { ...port, fixed_ips: fixed });
  }
  for (const fip of model.floatingIps)
    if (!visible.has(fip.id)) hold(fip.floating_network_id, host(fip.floating_ip_address));
  for (const subnet of model.subnets)
    if (!subnetIds.has(subnet.id)) beyond.push({ network_id: null, cidr: subnet.cidr });

  const securityGroups = seen(model.securityGroups);
  // A firewall group on a router interface the caller sees is its router's project's.
  const kept = new Set(ports.map((p) => p.id));
  const firewalls = (model.firewalls ?? []).filter((f) => kept.has(f.port_id));
  return { networks, subnets, ports, routers, floatingIps, securityGroups, instances, beyond, firewalls };
}
