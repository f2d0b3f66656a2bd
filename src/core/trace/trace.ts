/**
 * Packet tracing over the model (pure): where a packet from an instance, a port or an outside
 * address goes, hop by hop in Neutron's terms, and whether it arrives. It follows what the data
 * plane builds: the source port's anti-spoofing and egress security-group rules (stateful: a
 * reply needs no rule, unless the group is stateless), L2 delivery within a network, the
 * instance's routes (its subnet's gateway and host routes, as DHCP hands them out), the router
 * owning that gateway (connected subnets, extra routes, the default route by its external
 * gateway), its NAT (SNAT to the gateway address or a floating IP; floating-IP DNAT, hairpin
 * masquerading to the router's own address), and the destination port's ingress rules, with the
 * source address as the destination sees it. Anything administratively down on the way makes
 * the destination unreachable.
 *
 * A member's trace reads only what it may see (`scope.ts`): where the path meets an object
 * of another project, the trace ends with a hop saying only that the path leaves its project.
 */

import {
  hybridBridgeEnd,
  hybridBridgeName,
  INTEGRATION_BRIDGE,
  integrationEnd,
  networkBridgeName,
  TUNNEL_BRIDGE,
  tapName,
  tunnelPortName,
  vxlanName,
} from '../../model/device-names.js';
import { DeviceOwner } from '../../model/device-owners.js';
import type { TraceRequest, TraceResult } from '../../model/trace.js';
import { Conflict, InvalidInput, NotFound } from '../errors.js';
import { type IpVersion, ipVersion, normalizeIp } from '../ipam.js';
import { contains, isRouterPort, prefixOf, protocolText, short } from './match.js';
import type {
  Packet,
  RouteEntry,
  TFloatingIp,
  TInstance,
  TNetwork,
  TPort,
  TRouter,
  TraceModel,
  TSubnet,
} from './model.js';
import { SecuritySteps } from './security.js';
import { Stop } from './walk.js';

/** Routers forward between at most this many routers before a trace calls it a loop. */
const MAX_ROUTERS = 8;

class Tracer extends SecuritySteps {
  /**
   * The devices an instance's port crosses on its host, for an admin's trace: `tap` on the
   * network's `brq` (linuxbridge), or `tap` → `qbr` → `qvb`/`qvo` → `br-int` with the network's
   * local VLAN tag (openvswitch, hybrid plug); '' when unknown.
   */
  wired(port: TPort): string {
    const host = this.instanceOf.get(port.id)?.instance.host;
    const wiring = host ? this.model.wiring?.[host] : undefined;
    if (!host || !wiring) return '';
    if (wiring.driver === 'linuxbridge')
      return `; on ${host}: ${tapName(port.id)} on Linux bridge ${networkBridgeName(port.network_id)}`;
    const tag = wiring.tags[port.network_id];
    const devices = [
      tapName(port.id),
      hybridBridgeName(port.id),
      `${hybridBridgeEnd(port.id)}/${integrationEnd(port.id)}`,
    ];
    return `; on ${host}: ${devices.join(' → ')} → ${INTEGRATION_BRIDGE}${tag === undefined ? '' : ` (local VLAN tag ${tag})`}`;
  }

  /**
   * For an admin's trace of a packet that stays on one vxlan network from an instance on one host
   * to an instance on another: the tunnel it crosses, named as the source host's driver names it
   * (the VXLAN device `vxlan-<VNI>`, or `br-tun`'s port towards the other host's endpoint);
   * '' otherwise.
   */
  tunnelled(network: TNetwork, port: TPort): string {
    const to = this.instanceOf.get(port.id)?.instance.host;
    const from = this.sourceHost;
    const vni = this.model.vxlans?.[network.id];
    if (this.routed || !from || !to || from === to || vni === undefined) return '';
    const source = this.model.wiring?.[from];
    const target = this.model.wiring?.[to];
    if (!source || !target) return '';
    const out =
      source.driver === 'linuxbridge'
        ? `${vxlanName(vni)} on ${from}`
        : target.tunnelIp
          ? `${TUNNEL_BRIDGE} port ${tunnelPortName(target.tunnelIp)} on ${from}`
          : `${TUNNEL_BRIDGE} on ${from}`;
    const endpoints = source.tunnelIp && target.tunnelIp ? ` ${source.tunnelIp} → ${target.tunnelIp}` : '';
    return `; across hosts ${from} → ${to} over VXLAN (VNI ${vni}${endpoints}), out of ${out}`;
  }

  /** The host of the instance a trace starts from (an admin's trace names the tunnel it crosses). */
  protected sourceHost: string | undefined;
  /** Whether the packet went through a router (then it is no longer the source's L2 frame). */
  protected routed = false;

  // --- the walk ----------------------------------------------------------------------------

  /** From an instance's (or any) port: the source, its checks, then wherever the packet goes. */
  fromPort(port: TPort, packet: Packet): void {
    this.sourceHost = this.instanceOf.get(port.id)?.instance.host ?? undefined;
    const network = this.networks.get(port.network_id);
    if (!network && this.scoped) this.leave();
    const owner = this.instanceOf.get(port.id);
    const down = port.status === 'DOWN' && owner ? ' (status DOWN: its host has not wired it yet)' : '';
    this.pass(
      'source',
      this.object('port', port),
      `${this.portLabel(port)} sends from ${packet.src} on ${this.network(port.network_id)}${down}${this.wired(port)}`,
    );
    if (!port.admin_state_up)
      this.fail(
        'source',
        this.object('port', port),
        `${this.portLabel(port)} is administratively down`,
        'unreachable',
      );
    if (network && !network.admin_state_up)
      this.fail(
        'network',
        this.object('network', network),
        `${this.network(network.id)} is administratively down`,
        'unreachable',
      );
    if (!owner && !isRouterPort(port) && port.device_owner !== DeviceOwner.dhcp)
      this.fail(
        'source',
        this.object('port', port),
        `nothing is plugged into ${this.portLabel(port)} (no instance uses it): nothing sends from it`,
        'unreachable',
      );
    const subnet = this.subnetOf(port, packet.family, packet.src);
    if (!subnet)
      this.fail(
        'subnet',
        this.object('port', port),
        `${this.portLabel(port)} has no IPv${packet.family} address`,
        'unreachable',
      );
    this.pass(
      'subnet',
      this.object('subnet', subnet),
      `${this.subnetLabel(subnet)}, gateway ${subnet.gateway_ip ?? 'none'}`,
    );
    this.antiSpoofing(port, packet);
    this.filter(port, packet, 'egress');
    this.firewall(port, 'egress', packet);
    this.fromSubnet(port, subnet, packet);
  }

  /** From outside, an instance's port is reached by its floating IP only: the address to send to. */
  floatingIpFor(target: TPort, src: string): string {
    const fixed = firstAddress(target, 4);
    const fip = fixed ? this.floatingIpOf(target, fixed) : undefined;
    if (fip) return fip.floating_ip_address;
    const network = this.externalNetworkOf(src) ?? this.anyExternalNetwork();
    this.pass('source', this.object('network', network), `outside host ${src}`);
    this.fail(
      'floating_ip',
      this.object('port', target),
      `no floating IP for ${this.portLabel(target)}: it cannot be reached from outside`,
      'unreachable',
    );
  }

  /** From an outside host on (or beyond) an external network. */
  fromOutside(packet: Packet, network: TNetwork | undefined): void {
    if (!network)
      this.fail(
        'source',
        { type: 'network', id: '', name: '' },
        `${packet.src} is on no external network`,
        'unreachable',
      );
    this.pass(
      'source',
      this.object('network', network),
      `outside host ${packet.src} on the external ${this.network(network.id)}`,
    );
    if (this.isPrivate(packet.dst) && this.floatingIpsAt(packet.dst).length === 0)
      this.fail(
        'route',
        this.object('network', network),
        `${packet.dst} is a tenant address: the external ${this.network(network.id)} has no route to it (reach an instance by its floating IP)`,
        'unreachable',
      );
    this.onExternal(network, packet, 0);
  }

  /** The instance's own routing: on-link within its subnet, else its host routes and gateway. */
  protected fromSubnet(port: TPort, subnet: TSubnet, packet: Packet): void {
    const network = this.networks.get(port.network_id) ?? this.leave();
    if (contains(subnet.cidr, packet.dst)) {
      this.pass(
        'l2',
        this.object('network', network),
        `${packet.dst} is on ${this.subnetLabel(subnet)}: delivered on ${this.network(network.id)} (L2)`,
      );
      this.deliver(network, packet);
      return;
    }
    const routes: RouteEntry[] = subnet.host_routes
      .filter((r) => contains(r.destination, packet.dst))
      .map((r) => ({
        prefix: prefixOf(r.destination),
        cidr: r.destination,
        kind: 'host',
        nexthop: r.nexthop,
      }));
    if (subnet.gateway_ip && ipVersion(subnet.gateway_ip) === packet.family)
      routes.push({
        prefix: 0,
        cidr: packet.family === 4 ? '0.0.0.0/0' : '::/0',
        kind: 'default',
        nexthop: subnet.gateway_ip,
      });
    const route = routes.sort((a, b) => b.prefix - a.prefix)[0];
    if (!route)
      this.fail(
        'gateway',
        this.object('subnet', subnet),
        `${this.subnetLabel(subnet)} has no gateway and no host route to ${packet.dst}`,
        'unreachable',
      );
    const nexthop = route.nexthop!;
    const via =
      route.kind === 'default' ? `its gateway ${nexthop}` : `host route ${route.cidr} via ${nexthop}`;
    const holder = this.holders(nexthop, network.id)[0];
    if (!holder && this.beyond(nexthop, network.id)) this.leave();
    if (!holder)
      this.fail(
        'gateway',
        this.object('subnet', subnet),
        route.kind === 'default'
          ? `${this.subnetLabel(subnet)} has no router interface: no port holds its gateway ${nexthop}`
          : `no port holds ${nexthop}, the next hop of ${this.subnetLabel(subnet)}'s host route ${route.cidr}`,
        'unreachable',
      );
    const router = this.routerOf(holder);
    if (!router)
      this.fail(
        'gateway',
        this.object('port', holder),
        `${nexthop} (${via}) is ${this.portLabel(holder)}, not a router: the trace cannot follow the packet through it`,
        'unreachable',
      );
    this.pass(
      'gateway',
      this.object('router', router),
      `${packet.dst} is off-link: via ${via}, an interface of ${this.named('router', router)}`,
    );
    this.inRouter(router, packet, 'inside', 0, holder);
  }

  /** The addresses the router holds itself (interfaces and gateway). */
  protected ownAddresses(router: TRouter): string[] {
    return (this.routerPorts.get(router.id) ?? []).flatMap((p) => p.fixed_ips.map((f) => f.ip_address));
  }

  /** Floating IPs the router NATs: associated, IPv4, and the router has a gateway (as nat.ts). */
  protected natFloatingIps(router: TRouter): TFloatingIp[] {
    if (!router.external_gateway_info) return [];
    return this.model.floatingIps.filter(
      (f) =>
        f.router_id === router.id &&
        f.port_id !== null &&
        f.fixed_ip_address !== null &&
        ipVersion(f.floating_ip_address) === 4 &&
        ipVersion(f.fixed_ip_address) === 4,
    );
  }

  /** The router's routing table, as `l3/router.ts` lays it out, best match for `ip` first. */
  protected routes(router: TRouter, ip: string, family: IpVersion): RouteEntry[] {
    const routes: RouteEntry[] = [];
    const ports = this.routerPorts.get(router.id) ?? [];
    for (const port of ports)
      for (const fixed of port.fixed_ips) {
        const subnet = this.subnets.get(fixed.subnet_id);
        if (!subnet || !contains(subnet.cidr, ip)) continue;
        const kind = port.device_owner === DeviceOwner.routerGateway ? 'external' : 'connected';
        routes.push({ prefix: prefixOf(subnet.cidr), cidr: subnet.cidr, kind, subnet });
      }
    for (const r of router.routes)
      if (contains(r.destination, ip))
        routes.push({
          prefix: prefixOf(r.destination),
          cidr: r.destination,
          kind: 'extra',
          nexthop: r.nexthop,
        });
    const gatewayIp = this.externalGatewayIp(router, family);
    if (gatewayIp)
      routes.push({
        prefix: 0,
        cidr: family === 4 ? '0.0.0.0/0' : '::/0',
        kind: 'default',
        nexthop: gatewayIp,
      });
    const rank = { connected: 0, external: 0, extra: 1, default: 2, host: 1 };
    return routes.sort((a, b) => b.prefix - a.prefix || rank[a.kind] - rank[b.kind]);
  }

  /** The default route's next hop: the gateway of the first external subnet of the family. */
  protected externalGatewayIp(router: TRouter, family: IpVersion): string | undefined {
    for (const fixed of router.external_gateway_info?.external_fixed_ips ?? []) {
      const gateway = this.subnets.get(fixed.subnet_id)?.gateway_ip;
      if (gateway && ipVersion(gateway) === family) return gateway;
    }
    return undefined;
  }

  protected inRouter(
    router: TRouter,
    packet: Packet,
    entered: 'inside' | 'outside',
    depth: number,
    entry?: TPort,
  ): void {
    this.routed = true;
    const object = this.object('router', router);
    const name = this.named('router', router);
    if (depth >= MAX_ROUTERS)
      this.fail(
        'route',
        object,
        `the packet went through ${MAX_ROUTERS} routers: a routing loop`,
        'unreachable',
      );
    if (!router.admin_state_up)
      this.fail('router', object, `${name} is administratively down`, 'unreachable');
    if (entry) this.firewall(entry, 'egress', packet);
    const fip = this.natFloatingIps(router).find((f) => f.floating_ip_address === packet.dst);
    if (fip) {
      const target = fip.port_id ? this.ports.get(fip.port_id) : undefined;
      this.pass(
        'nat',
        this.object('floating_ip', fip),
        `${name} DNATs floating IP ${fip.floating_ip_address} to ${fip.fixed_ip_address}${target ? ` (${this.portLabel(target)})` : ''}`,
      );
      packet.dst = fip.fixed_ip_address!;
      packet.dnat = true;
    } else if (this.ownAddresses(router).includes(packet.dst)) {
      this.atRouter(router, packet);
      return;
    }
    const route = this.routes(router, packet.dst, packet.family)[0];
    if (!route)
      this.fail(
        'route',
        object,
        router.external_gateway_info
          ? `${name} has no route to ${packet.dst}`
          : `${name} has no route to ${packet.dst}: no interface on its subnet, no extra route to it, and no external gateway`,
        'unreachable',
      );
    switch (route.kind) {
      case 'connected': {
        const subnet = route.subnet!;
        const network = this.networks.get(subnet.network_id) ?? this.leave();
        this.pass(
          'route',
          this.object('subnet', subnet),
          `${name}: ${packet.dst} is on its connected ${this.subnetLabel(subnet)}`,
        );
        const exit = this.interfaceOn(router, subnet);
        if (exit) this.firewall(exit, 'ingress', packet);
        if (packet.dnat && entered === 'inside') {
          const own = this.interfaceAddress(router, subnet);
          this.pass(
            'nat',
            object,
            `hairpin: ${name} masquerades the source ${packet.src} to its own address ${own} on ${this.subnetLabel(subnet)}`,
          );
          packet.src = own;
        }
        this.deliver(network, packet);
        return;
      }
      case 'extra':
        this.viaExtraRoute(router, route, packet, depth);
        return;
      default:
        this.outOfGateway(router, route, packet, entered, depth);
    }
  }

  protected interfaceOn(router: TRouter, subnet: TSubnet): TPort | undefined {
    return (this.routerPorts.get(router.id) ?? []).find((p) =>
      p.fixed_ips.some((f) => f.subnet_id === subnet.id),
    );
  }

  protected interfaceAddress(router: TRouter, subnet: TSubnet): string {
    for (const port of this.routerPorts.get(router.id) ?? [])
      for (const fixed of port.fixed_ips) if (fixed.subnet_id === subnet.id) return fixed.ip_address;
    return subnet.gateway_ip ?? '';
  }

  protected viaExtraRoute(router: TRouter, route: RouteEntry, packet: Packet, depth: number): void {
    const name = this.named('router', router);
    const nexthop = route.nexthop!;
    const connected = this.routes(router, nexthop, packet.family).find(
      (r) => r.kind === 'connected' || r.kind === 'external',
    );
    const holder = connected && this.holders(nexthop, connected.subnet!.network_id)[0];
    if (connected && !holder && this.beyond(nexthop, connected.subnet!.network_id)) this.leave();
    if (!holder)
      this.fail(
        'route',
        this.object('router', router),
        `${name}: extra route ${route.cidr} via ${nexthop}, but no port on its subnets holds ${nexthop}`,
        'unreachable',
      );
    const next = this.routerOf(holder);
    if (!next)
      this.fail(
        'route',
        this.object('port', holder),
        `${name}: extra route ${route.cidr} via ${nexthop}, which is ${this.portLabel(holder)}, not a router: the trace cannot follow the packet through it`,
        'unreachable',
      );
    this.pass(
      'route',
      this.object('router', router),
      `${name}: extra route ${route.cidr} via ${nexthop}, an interface of ${this.named('router', next)}`,
    );
    this.inRouter(
      next,
      packet,
      holder.device_owner === DeviceOwner.routerGateway ? 'outside' : 'inside',
      depth + 1,
      holder,
    );
  }

  /** Out by the gateway: SNAT (to the source's floating IP or the gateway address), then the external network. */
  protected outOfGateway(
    router: TRouter,
    route: RouteEntry,
    packet: Packet,
    entered: 'inside' | 'outside',
    depth: number,
  ): void {
    const name = this.named('router', router);
    const info = router.external_gateway_info!;
    const network = this.networks.get(info.network_id);
    if (!network && this.scoped) this.leave();
    if (!network)
      this.fail('route', this.object('router', router), `${name}'s external network is gone`, 'unreachable');
    this.pass(
      'route',
      this.object('network', network),
      route.kind === 'default'
        ? `${name}: ${packet.dst} leaves by its external gateway on ${this.network(network.id)} (default route via ${route.nexthop})`
        : `${name}: ${packet.dst} is on the external ${this.network(network.id)} (${route.cidr})`,
    );
    if (!network.admin_state_up)
      this.fail(
        'network',
        this.object('network', network),
        `${this.network(network.id)} is administratively down`,
        'unreachable',
      );
    if (entered === 'inside' && !packet.dnat) {
      const own = this.natFloatingIps(router).find((f) => f.fixed_ip_address === packet.src);
      const gatewayAddress = info.external_fixed_ips
        .map((f) => f.ip_address)
        .find((ip) => ipVersion(ip) === 4);
      if (own) {
        this.pass(
          'nat',
          this.object('floating_ip', own),
          `${name} SNATs ${packet.src} to its floating IP ${own.floating_ip_address}`,
        );
        packet.src = own.floating_ip_address;
      } else if (packet.family === 4 && info.enable_snat && gatewayAddress) {
        this.pass(
          'nat',
          this.object('router', router),
          `${name} SNATs ${packet.src} to its gateway address ${gatewayAddress}`,
        );
        packet.src = gatewayAddress;
      } else if (this.isPrivate(packet.src)) {
        this.fail(
          'nat',
          this.object('router', router),
          `${name} does not SNAT (${packet.family === 4 ? 'enable_snat is off' : 'no NAT for IPv6'}) and ${packet.src} has no floating IP: replies to a tenant address cannot come back from the external ${this.network(network.id)}`,
          'unreachable',
        );
      }
    }
    this.onExternal(network, packet, depth);
  }

  /** On an external network: a floating IP (to its router), a router's gateway, or an outside host. */
  protected onExternal(network: TNetwork, packet: Packet, depth: number): void {
    const fip = this.floatingIpsAt(packet.dst).find((f) => f.floating_network_id === network.id);
    if (fip) {
      const router = fip.router_id ? this.routers.get(fip.router_id) : undefined;
      if (fip.router_id && !router && this.scoped) this.leave();
      if (!fip.port_id || !router)
        this.fail(
          'floating_ip',
          this.object('floating_ip', fip),
          `floating IP ${fip.floating_ip_address} is not associated with a port`,
          'unreachable',
        );
      this.pass(
        'floating_ip',
        this.object('floating_ip', fip),
        `floating IP ${fip.floating_ip_address} is mapped by ${this.named('router', router)} to ${fip.fixed_ip_address}`,
      );
      this.inRouter(router, packet, 'outside', depth + 1);
      return;
    }
    const holder = this.holders(packet.dst, network.id)[0];
    if (!holder && this.beyond(packet.dst, network.id)) this.leave();
    const router = holder && this.routerOf(holder);
    if (router) {
      this.atRouter(router, packet);
      return;
    }
    if (holder && this.instanceOf.has(holder.id)) {
      this.pass(
        'l2',
        this.object('network', network),
        `${packet.dst} is on the external ${this.network(network.id)}: delivered there (L2)`,
      );
      this.deliver(network, packet);
      return;
    }
    if (this.isPrivate(packet.dst))
      this.fail(
        'route',
        this.object('network', network),
        `${packet.dst} is a tenant address, which is not routed on the external ${this.network(network.id)}`,
        'unreachable',
      );
    if (this.beyond(packet.dst, null)) this.leave();
    const subnet = (this.subnetsOf.get(network.id) ?? []).find((s) => contains(s.cidr, packet.dst));
    this.pass(
      'destination',
      this.object('network', network),
      subnet
        ? `${packet.dst} is an outside host on the external ${this.network(network.id)}`
        : `${packet.dst} is beyond the external ${this.network(network.id)}`,
    );
  }

  /** The packet is for a router's own address: routers answer pings and accept nothing else. */
  protected atRouter(router: TRouter, packet: Packet): void {
    const object = this.object('router', router);
    const name = this.named('router', router);
    if (!router.admin_state_up)
      this.fail('router', object, `${name} is administratively down`, 'unreachable');
    if (packet.protocol !== 'icmp')
      this.fail(
        'destination',
        object,
        `${name} (${packet.dst}) accepts no ${protocolText(packet)} connections`,
        'unreachable',
      );
    this.pass('destination', object, `${packet.dst} is ${name}'s own address: it answers`);
  }

  /** L2 delivery on `network` to the port holding the destination address. */
  protected deliver(network: TNetwork, packet: Packet): void {
    if (!network.admin_state_up)
      this.fail(
        'network',
        this.object('network', network),
        `${this.network(network.id)} is administratively down`,
        'unreachable',
      );
    const port =
      this.holders(packet.dst, network.id).find((p) => p.device_owner !== DeviceOwner.floatingIp) ??
      this.pairHolders(packet.dst, network.id)[0];
    if (!port && this.beyond(packet.dst, network.id)) this.leave();
    if (!port)
      this.fail(
        'destination',
        this.object('network', network),
        `no port on ${this.network(network.id)} holds ${packet.dst}`,
        'unreachable',
      );
    const router = this.routerOf(port);
    if (router) {
      this.atRouter(router, packet);
      return;
    }
    const object = this.object('port', port);
    if (!port.admin_state_up)
      this.fail('destination', object, `${this.portLabel(port)} is administratively down`, 'unreachable');
    if (port.device_owner === DeviceOwner.dhcp) {
      const served =
        packet.protocol === 'icmp' ||
        (packet.protocol === 'udp' && (packet.port === 53 || packet.port === 67)) ||
        (packet.protocol === 'tcp' && packet.port === 53);
      if (!served)
        this.fail(
          'destination',
          object,
          `${packet.dst} is the DHCP server of ${this.network(network.id)}: it serves only DHCP and DNS`,
          'unreachable',
        );
      this.pass(
        'destination',
        object,
        `${packet.dst} is the DHCP server of ${this.network(network.id)}: it answers`,
      );
      return;
    }
    const owner = this.instanceOf.get(port.id);
    if (!owner)
      this.fail(
        'destination',
        object,
        `nothing is plugged into ${this.portLabel(port)} (no instance uses it)`,
        'unreachable',
      );
    this.filter(port, packet, 'ingress');
    this.firewall(port, 'ingress', packet);
    const down = port.status === 'DOWN' ? ' (status DOWN: its host has not wired it yet)' : '';
    this.pass(
      'destination',
      this.object('instance', owner.instance),
      `delivered to instance ${owner.instance.name} (eth${owner.nic}, port ${short(port.id)}) at ${packet.dst}${down}${this.wired(port)}${this.tunnelled(network, port)}`,
    );
  }
}

type Endpoint =
  | { kind: 'instance'; instance: TInstance }
  | { kind: 'port'; port: TPort }
  | { kind: 'ip'; ip: string };

/**
 * An instance or port by id, else an instance by name, else an address. A member's model holds
 * only what it may see: another project's instance or port is not found, as an unknown one.
 */
function resolve(tracer: Tracer, model: TraceModel, ref: string, role: string): Endpoint {
  const byId = tracer.instance(ref);
  if (byId) return { kind: 'instance', instance: byId };
  const port = tracer.port(ref);
  if (port) return { kind: 'port', port };
  const named = model.instances.filter((i) => i.name === ref);
  if (named.length > 1) throw Conflict({ msg: `More than one instance exists with the name '${ref}'` });
  if (named.length === 1) return { kind: 'instance', instance: named[0] };
  const ip = normalizeIp(ref);
  if (ip) return { kind: 'ip', ip };
  throw NotFound({ msg: `No instance, port or IP address found for ${role} ${ref}` });
}

function firstAddress(port: TPort, family: IpVersion | undefined): string | undefined {
  const of = (v: IpVersion) => port.fixed_ips.find((f) => ipVersion(f.ip_address) === v)?.ip_address;
  return family ? of(family) : (of(4) ?? of(6));
}

/** Traces `request` through `model` (a member's: `scopeTraceModel`'s). */
export function trace(model: TraceModel, request: TraceRequest): TraceResult {
  const { protocol } = request;
  if (protocol !== 'icmp' && request.port === undefined)
    throw InvalidInput({ error_message: `a ${protocol} trace needs a port` });
  if (protocol === 'icmp' && request.port !== undefined)
    throw InvalidInput({ error_message: 'an icmp trace takes no port' });
  const sourceIp = request.source_ip === undefined ? undefined : normalizeIp(request.source_ip);
  if (sourceIp === null) throw InvalidInput({ error_message: `${request.source_ip} is not an IP address` });

  const tracer: Tracer = new Tracer(model);
  const source = resolve(tracer, model, request.source, 'source');
  const destination = resolve(tracer, model, request.destination, 'destination');
  let family: IpVersion | undefined =
    destination.kind === 'ip'
      ? (ipVersion(destination.ip) ?? undefined)
      : (sourceIp && ipVersion(sourceIp)) || undefined;

  // The source: a port (an instance's chosen below), or an outside host.
  let from: TPort | null = null;
  let src: string | undefined = sourceIp;
  let candidates: TPort[] = [];
  if (source.kind === 'instance') {
    candidates = tracer.instancePorts(source.instance);
    if (candidates.length === 0)
      throw InvalidInput({ error_message: `instance ${source.instance.name} has no port` });
  } else if (source.kind === 'port') {
    candidates = [source.port];
  } else {
    const held = tracer.holders(source.ip).filter((p) => !isRouterPort(p));
    const viaFip = tracer
      .floatingIpsAt(source.ip)
      .flatMap((f) => (f.port_id ? (tracer.port(f.port_id) ?? []) : []));
    const paired = tracer.pairHolders(source.ip);
    const ports = held.length > 0 ? held : viaFip.length > 0 ? viaFip : paired;
    if (ports.length > 1)
      throw Conflict({
        msg: `address ${source.ip} is held by ${ports.length} ports (${ports.map((p) => p.id).join(', ')}): name the instance or port`,
      });
    if (ports.length === 1) {
      candidates = ports;
      if (held.length === 0 && viaFip.length > 0)
        src ??= tracer.floatingIpsAt(source.ip)[0].fixed_ip_address ?? undefined;
      else src ??= source.ip;
    } else if (tracer.isPrivate(source.ip) || tracer.beyond(source.ip, null)) {
      throw NotFound({ msg: `No port holds the source address ${source.ip}` });
    } else {
      src = source.ip;
    }
    family ??= ipVersion(source.ip) ?? undefined;
  }

  // The destination: an address, or a port's (an instance's) address.
  let dst: string;
  let target: TPort | undefined;
  if (destination.kind === 'ip') {
    dst = destination.ip;
  } else {
    const ports =
      destination.kind === 'instance' ? tracer.instancePorts(destination.instance) : [destination.port];
    target = ports.find((p) => candidates.some((c) => c.network_id === p.network_id)) ?? ports[0];
    if (!target) throw InvalidInput({ error_message: `the destination has no port` });
    const address = firstAddress(target, family);
    if (!address)
      throw InvalidInput({
        error_message: `${tracer.portLabel(target)} has no IPv${family ?? 4} address`,
      });
    dst = address;
    family ??= ipVersion(address) ?? 4;
  }
  family ??= 4;

  if (candidates.length > 0) {
    from =
      (target && candidates.find((c) => c.network_id === target.network_id)) ??
      candidates.find((c) => {
        const subnet = tracer.subnetOf(c, family, src);
        return subnet !== undefined && contains(subnet.cidr, dst);
      }) ??
      candidates.find((c) => tracer.subnetOf(c, family, src)?.gateway_ip) ??
      candidates[0];
    src ??= firstAddress(from, family);
  }

  const packet: Packet = {
    family,
    protocol,
    ...(request.port !== undefined ? { port: request.port } : {}),
    src: src ?? '',
    dst,
  };
  try {
    if (from) {
      if (!src) {
        tracer.fail(
          'source',
          { type: 'port', id: from.id, name: from.name },
          `${tracer.portLabel(from)} has no IPv${family} address`,
          'unreachable',
        );
      }
      tracer.fromPort(from, packet);
    } else {
      if (target) packet.dst = dst = tracer.floatingIpFor(target, packet.src);
      tracer.fromOutside(
        packet,
        tracer.externalNetworkOf(packet.src) ?? tracer.externalNetworkOf(packet.dst),
      );
    }
  } catch (err) {
    if (!(err instanceof Stop)) throw err;
    return {
      verdict: err.verdict,
      hops: tracer.hops,
      reason: tracer.hops.at(-1)?.detail ?? err.verdict,
      ...(src ? { source_ip: src } : {}),
      destination_ip: dst,
    };
  }
  return { verdict: 'allowed', hops: tracer.hops, ...(src ? { source_ip: src } : {}), destination_ip: dst };
}
