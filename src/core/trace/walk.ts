/** The bookkeeping of a packet trace: the model indexed, objects named, hops recorded. */
import type { TraceHop, TraceObject, TraceVerdict } from '../../model/trace.js';
import { type IpVersion, ipVersion } from '../ipam.js';
import { contains, covers, groupBy, isRouterPort, short, singleAddress } from './match.js';
import type {
  TFloatingIp,
  TGroup,
  TInstance,
  TNetwork,
  TPort,
  TRouter,
  TraceFirewall,
  TraceModel,
  TSubnet,
} from './model.js';

/** The last hop of a member's trace that meets another project's object: no address, id or name. */
export const LEAVES_PROJECT = 'the path leaves your project: what lies beyond is not yours to see';

/** Ends the walk: the hop that failed is already recorded. */
export class Stop extends Error {
  constructor(readonly verdict: Exclude<TraceVerdict, 'allowed'>) {
    super(verdict);
  }
}

/** What a trace walks with: the model indexed, naming, the hops recorded, lookups. */
export abstract class TraceWalk {
  readonly hops: TraceHop[] = [];
  protected readonly model: TraceModel;
  /** A member's model: what it does not hold lies in another project. */
  protected readonly scoped: boolean;
  protected readonly networks: Map<string, TNetwork>;
  protected readonly subnets: Map<string, TSubnet>;
  protected readonly subnetsOf: Map<string, TSubnet[]>;
  protected readonly ports: Map<string, TPort>;
  protected readonly portsOf: Map<string, TPort[]>;
  protected readonly routers: Map<string, TRouter>;
  protected readonly routerPorts: Map<string, TPort[]>;
  protected readonly groups: Map<string, TGroup>;
  protected readonly firewalls: Map<string, TraceFirewall>;
  protected readonly instanceOf: Map<string, { instance: TInstance; nic: number }>;

  constructor(model: TraceModel) {
    this.model = model;
    this.scoped = model.beyond !== undefined;
    this.networks = new Map(model.networks.map((n) => [n.id, n]));
    this.subnets = new Map(model.subnets.map((s) => [s.id, s]));
    this.subnetsOf = groupBy(model.subnets, (s) => s.network_id);
    this.ports = new Map(model.ports.map((p) => [p.id, p]));
    this.portsOf = groupBy(model.ports, (p) => p.network_id);
    this.routers = new Map(model.routers.map((r) => [r.id, r]));
    this.routerPorts = groupBy(
      model.ports.filter((p) => isRouterPort(p)),
      (p) => p.device_id,
    );
    this.groups = new Map(model.securityGroups.map((g) => [g.id, g]));
    this.firewalls = new Map((model.firewalls ?? []).map((f) => [f.port_id, f]));
    this.instanceOf = new Map(
      model.instances.flatMap((instance) =>
        instance.ports.map((p, nic) => [p.id, { instance, nic }] as const),
      ),
    );
  }

  // --- naming ------------------------------------------------------------------------------

  protected object(type: string, thing: { id: string; name?: string } | undefined): TraceObject {
    if (!thing) return { type, id: '', name: '' };
    return { type, id: thing.id, name: thing.name ?? '' };
  }

  protected named(kind: string, thing: { id: string; name?: string }): string {
    return `${kind} ${thing.name || short(thing.id)}`;
  }

  portLabel(port: TPort): string {
    const owner = this.instanceOf.get(port.id);
    if (owner) return `port ${short(port.id)} (instance ${owner.instance.name} eth${owner.nic})`;
    return `port ${port.name || short(port.id)}`;
  }

  protected network(id: string): string {
    const network = this.networks.get(id);
    return network ? this.named('network', network) : `network ${short(id)}`;
  }

  protected subnetLabel(subnet: TSubnet): string {
    return `${this.named('subnet', subnet)} (${subnet.cidr})`;
  }

  protected groupName = (id: string): string => {
    const group = this.groups.get(id);
    if (!group) return this.scoped ? "another project's group" : short(id);
    return group.name || short(group.id);
  };

  // --- recording ---------------------------------------------------------------------------

  pass(step: string, object: TraceObject, detail: string): void {
    this.hops.push({ step, object, detail, ok: true });
  }

  fail(step: string, object: TraceObject, detail: string, verdict: 'denied' | 'unreachable'): never {
    this.hops.push({ step, object, detail, ok: false });
    throw new Stop(verdict);
  }

  /** The path meets an object the caller may not see: the trace ends there, saying only that. */
  leave(): never {
    this.hops.push({
      step: 'boundary',
      object: { type: 'project', id: '', name: '' },
      detail: LEAVES_PROJECT,
      ok: false,
    });
    throw new Stop('leaves_project');
  }

  /**
   * Does an object the caller may not see hold `ip` on the network `networkId` — or, with null,
   * is `ip` in a subnet of another project's network? Always false for admins.
   */
  beyond(ip: string, networkId: string | null): boolean {
    return (this.model.beyond ?? []).some((b) => b.network_id === networkId && contains(b.cidr, ip));
  }

  /**
   * The router `port` belongs to (undefined if it is no router's port); a member's trace leaves
   * its project at a router it may not see.
   */
  protected routerOf(port: TPort): TRouter | undefined {
    if (!isRouterPort(port)) return undefined;
    const router = this.routers.get(port.device_id);
    if (!router && this.scoped) this.leave();
    return router;
  }

  // --- lookups -----------------------------------------------------------------------------

  instance(id: string): TInstance | undefined {
    return this.model.instances.find((i) => i.id === id);
  }

  port(id: string): TPort | undefined {
    return this.ports.get(id);
  }

  instancePorts(instance: TInstance): TPort[] {
    return instance.ports.flatMap((p) => this.ports.get(p.id) ?? []);
  }

  /** Ports holding `ip` as a fixed IP (on `networkId` when given). */
  holders(ip: string, networkId?: string): TPort[] {
    const ports = networkId === undefined ? this.model.ports : (this.portsOf.get(networkId) ?? []);
    return ports.filter((p) => p.fixed_ips.some((f) => f.ip_address === ip));
  }

  /** Ports of `networkId` (or any) whose allowed address pairs cover `ip`. */
  pairHolders(ip: string, networkId?: string): TPort[] {
    const ports = networkId === undefined ? this.model.ports : (this.portsOf.get(networkId) ?? []);
    return ports.filter((p) => p.allowed_address_pairs.some((pair) => covers(pair.ip_address, ip)));
  }

  floatingIpsAt(ip: string): TFloatingIp[] {
    return this.model.floatingIps.filter((f) => f.floating_ip_address === ip);
  }

  /** The floating IP mapped to the port's address, if any (its router maps it). */
  floatingIpOf(port: TPort, fixed: string): TFloatingIp | undefined {
    return this.model.floatingIps.find((f) => f.port_id === port.id && f.fixed_ip_address === fixed);
  }

  /** Whether `ip` lies in a subnet of a network that is not external (a tenant address). */
  isPrivate(ip: string): boolean {
    return this.model.subnets.some(
      (s) => this.networks.get(s.network_id)?.['router:external'] !== true && contains(s.cidr, ip),
    );
  }

  externalNetworkOf(ip: string): TNetwork | undefined {
    const subnet = this.model.subnets.find(
      (s) => this.networks.get(s.network_id)?.['router:external'] === true && contains(s.cidr, ip),
    );
    const viaFip = this.floatingIpsAt(ip)[0];
    const id = subnet?.network_id ?? viaFip?.floating_network_id;
    return id === undefined ? undefined : this.networks.get(id);
  }

  anyExternalNetwork(): TNetwork | undefined {
    return this.model.networks.find((n) => n['router:external'] === true);
  }

  /** The subnet of the port's address `ip`, else its first subnet of the family. */
  subnetOf(port: TPort, family: IpVersion, ip?: string): TSubnet | undefined {
    const fixed =
      port.fixed_ips.find((f) => f.ip_address === ip) ??
      port.fixed_ips.find((f) => ipVersion(f.ip_address) === family);
    return fixed && this.subnets.get(fixed.subnet_id);
  }

  /**
   * Does `ip` belong to a port in `group`: one of its fixed IPs, or an allowed address pair that
   * is a single address (the data plane's member sets hold addresses, not ranges)?
   */
  protected isMember = (group: string, ip: string): boolean =>
    this.model.ports.some(
      (p) =>
        p.security_groups.includes(group) &&
        (p.fixed_ips.some((f) => f.ip_address === ip) ||
          p.allowed_address_pairs.some((pair) => singleAddress(pair.ip_address) === ip)),
    );
}
