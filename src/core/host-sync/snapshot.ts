/**
 * The host's share of the model as its agent needs it (`model/host-snapshot.ts`): its instances
 * and ports, its routers, the networks those are on and those whose DHCP it serves, security
 * groups (`security-group-snapshot.ts`), QoS, firewalls, load balancers, tap flows and
 * l2population.
 */
import type { Kysely } from 'kysely';
import { DeviceOwner, isComputeOwner, ROUTER_OWNERS } from '../../model/device-owners.js';
import type {
  Ipv6Mode,
  Snapshot,
  SnapshotNetwork,
  SnapshotPort,
  SnapshotRemotePort,
  SnapshotRouter,
  SnapshotRouterPort,
  SnapshotSubnet,
  SnapshotTunnelPeer,
} from '../../model/host-snapshot.js';
import type { AddressPair, FixedIp } from '../../model/port.js';
import type { Route } from '../../model/router.js';
import { inChunks } from '../../store/chunks.js';
import { listResources, type Stored } from '../../store/resources.js';
import type { Database } from '../../store/schema.js';
import { firewallsOf, instanceFirewalls, portFirewalls } from '../fwaas.js';
import { interfacesOf } from '../instances.js';
import { haPorts, vrrpIds } from '../l3-ha.js';
import { snapshotLoadBalancers } from '../load-balancers.js';
import { snapshotMetering } from '../metering.js';
import { snapshotNetworkLogging } from '../network-logs.js';
import { snapshotQos } from '../qos.js';
import { routerPorts } from '../routers.js';
import { portsBoundTo, securityGroupsOf } from '../security-group-snapshot.js';
import { poolScopes } from '../subnet-pools.js';
import { snapshotTapFlows } from '../taas.js';
import { routerVpns } from '../vpnaas.js';
import { HostSyncPart } from './common.js';

/** Ports the router code plumbs itself, kept out of the snapshot's `ports`. */
const L3_OWNERS = [...ROUTER_OWNERS, DeviceOwner.routerHaInterface, DeviceOwner.floatingIp];

function snapshotNetwork(network: Stored, segment?: Database['network_segments']): SnapshotNetwork {
  const type = (segment?.network_type ?? network['provider:network_type']) as SnapshotNetwork['network_type'];
  return {
    id: network.id,
    project_id: network.project_id,
    admin_state_up: network.admin_state_up === true,
    mtu: Number(network.mtu),
    network_type: type,
    physical_network: segment?.physical_network || null,
    segmentation_id:
      segment && (type === 'vxlan' || type === 'vlan') ? Number(segment.segmentation_id) : null,
  };
}

function snapshotSubnet(subnet: Stored): SnapshotSubnet {
  return {
    id: subnet.id,
    network_id: String(subnet.network_id),
    ip_version: subnet.ip_version as 4 | 6,
    cidr: String(subnet.cidr),
    gateway_ip: subnet.gateway_ip as string | null,
    enable_dhcp: subnet.enable_dhcp === true,
    dns_nameservers: subnet.dns_nameservers as string[],
    host_routes: subnet.host_routes as SnapshotSubnet['host_routes'],
    ipv6_ra_mode: (subnet.ipv6_ra_mode ?? null) as Ipv6Mode | null,
    ipv6_address_mode: (subnet.ipv6_address_mode ?? null) as Ipv6Mode | null,
  };
}

function snapshotPort(port: Stored): SnapshotPort {
  return {
    id: port.id,
    network_id: String(port.network_id),
    mac_address: String(port.mac_address),
    fixed_ips: port.fixed_ips as FixedIp[],
    device_owner: String(port.device_owner),
    device_id: String(port.device_id),
    admin_state_up: port.admin_state_up === true,
    dns_name: String(port.dns_name ?? ''),
    extra_dhcp_opts: port.extra_dhcp_opts as SnapshotPort['extra_dhcp_opts'],
    binding_host_id: String(port['binding:host_id'] ?? ''),
    port_security_enabled: port.port_security_enabled === true,
    security_groups: (port.security_groups ?? []) as string[],
    allowed_address_pairs: (port.allowed_address_pairs ?? []) as AddressPair[],
  };
}

/** `scopes`: the address scope of each subnet pool that has one. */
function snapshotRouterPort(
  port: Stored,
  subnets: Map<string, Stored>,
  scopes: Map<string, string>,
): SnapshotRouterPort {
  return {
    port_id: port.id,
    network_id: String(port.network_id),
    mac_address: String(port.mac_address),
    addresses: (port.fixed_ips as FixedIp[]).flatMap(({ subnet_id, ip_address }) => {
      const subnet = subnets.get(subnet_id);
      if (!subnet) return [];
      const scope = scopes.get(String(subnet.subnetpool_id));
      const prefixlen = Number(String(subnet.cidr).split('/')[1]);
      const v6 =
        subnet.ip_version === 6
          ? {
              ipv6_ra_mode: (subnet.ipv6_ra_mode ?? null) as Ipv6Mode | null,
              dns_nameservers: subnet.dns_nameservers as string[],
            }
          : {};
      return [{ subnet_id, ip_address, prefixlen, ...(scope ? { address_scope_id: scope } : {}), ...v6 }];
    }),
  };
}

/** A port as remote hosts resolve it: its MAC with its addresses, and each allowed pair's MAC with its. */
function remotePorts(port: Stored): SnapshotRemotePort[] {
  const mac = String(port.mac_address).toLowerCase();
  const byMac = new Map<string, string[]>([[mac, (port.fixed_ips as FixedIp[]).map((ip) => ip.ip_address)]]);
  for (const pair of (port.allowed_address_pairs ?? []) as AddressPair[]) {
    const [address, length] = pair.ip_address.split('/');
    const single = length === undefined || length === (address.includes(':') ? '128' : '32');
    if (!single) continue;
    const pairMac = (pair.mac_address || mac).toLowerCase();
    byMac.set(pairMac, [...(byMac.get(pairMac) ?? []), address]);
  }
  return [...byMac].map(([mac_address, ip_addresses]) => ({ mac_address, ip_addresses }));
}

/** The host's snapshot, assembled from the store. */
export class SnapshotAssembly extends HostSyncPart {
  /**
   * The host's share of the model: its instances and the ports bound here, its routers, the
   * networks those are on and the networks whose DHCP it serves, with their subnets and — for
   * the DHCP servers' host files — every port of the served networks, wherever it is bound
   * (but routers' and floating IPs' ports: the router code plumbs those); the security groups of
   * the ports bound here, with the members of the groups their rules name.
   */
  async build(host: string, revision: number): Promise<Snapshot> {
    const db = this.store.db;
    const bound = await db
      .selectFrom('dhcp_bindings')
      .select('network_id')
      .where('host', '=', host)
      .execute();
    const dhcpNetworks = bound.map((b) => b.network_id);
    const instances = await listResources(db, 'instances', { column: 'host', values: [host] });
    const interfaces = await listResources(db, 'ports', {
      column: 'id',
      values: instances.flatMap((i) => interfacesOf(i).map((x) => x.port_id)),
    });
    const existing = new Set(interfaces.map((p) => p.id));
    // Ports bound here without an instance are filtered too (their chains wait for a device). A
    // DHCP port comes with the networks this host serves: one still bound here after its network
    // moved away (this host's agent was dead) is no longer this host's to plumb.
    const served = new Set(dhcpNetworks);
    const others = (await portsBoundTo(db, host)).filter(
      (p) =>
        !existing.has(p.id) &&
        !L3_OWNERS.includes(String(p.device_owner)) &&
        (p.device_owner !== DeviceOwner.dhcp || served.has(String(p.network_id))),
    );
    const boundHere = [...interfaces.filter((p) => p['binding:host_id'] === host), ...others];
    const dhcpClients = (
      await listResources(db, 'ports', { column: 'network_id', values: dhcpNetworks })
    ).filter((p) => !L3_OWNERS.includes(String(p.device_owner)));
    const ports = new Map([...boundHere, ...dhcpClients].map((p) => [p.id, p]));
    const routers = await this.#snapshotRouters(db, host);
    const routerNetworks = routers.flatMap((r) => [
      ...(r.gateway ? [r.gateway.network_id] : []),
      ...(r.ha?.port ? [r.ha.port.network_id] : []),
      ...r.interfaces.map((i) => i.network_id),
    ]);
    const networkIds = [
      ...new Set([...dhcpNetworks, ...boundHere.map((p) => String(p.network_id)), ...routerNetworks]),
    ];
    const networks = await listResources(db, 'networks', { column: 'id', values: networkIds });
    const segments = await inChunks(networkIds, (chunk) =>
      db.selectFrom('network_segments').selectAll().where('network_id', 'in', chunk).execute(),
    );
    const segmentOf = new Map(segments.map((s) => [s.network_id, s]));
    const subnets = await listResources(db, 'subnets', { column: 'network_id', values: networkIds });
    const security = await securityGroupsOf(db, boundHere);
    const snapshotPorts = await this.#withQos(db, [...ports.values()], networks);
    const vxlanNetworks = networks.filter(
      (n) => snapshotNetwork(n, segmentOf.get(n.id)).network_type === 'vxlan',
    );
    return {
      host,
      revision,
      dnsDomain: this.settings.dnsDomain,
      networks: networks.map((n) => snapshotNetwork(n, segmentOf.get(n.id))),
      subnets: subnets.map(snapshotSubnet),
      ports: snapshotPorts,
      routers,
      instances: instances.map((i) => ({
        id: i.id,
        name: String(i.name),
        ports: interfacesOf(i)
          .map((x) => x.port_id)
          .filter((id) => existing.has(id)),
      })),
      physicalInterfaceMappings:
        (await this.agents.interfaceMappings(host)) ?? this.settings.physicalInterfaceMappings,
      security_groups: security.groups,
      security_group_members: security.members,
      address_groups: security.addressGroups,
      l2population: await this.#l2population(
        host,
        vxlanNetworks.map((n) => n.id),
      ),
      dhcp_elsewhere: await this.#dhcpElsewhere(host, networkIds),
      load_balancers: await snapshotLoadBalancers(db, host, dhcpNetworks),
      tap_flows: await snapshotTapFlows(db, new Set(boundHere.map((p) => p.id))),
      ...(await instanceFirewalls(db, boundHere)),
      network_logging: await snapshotNetworkLogging(db, this.settings, {
        filtered: boundHere.filter(
          (p) => p.port_security_enabled === true && !String(p.device_owner).startsWith('network:'),
        ),
        routers,
      }),
    };
  }

  /**
   * The routers served by `host`: their gateway (with the external subnets' gateway addresses
   * for the default route), interfaces, routes, and floating IPs associated or forwarding ports.
   */
  async #snapshotRouters(db: Kysely<Database>, host: string): Promise<SnapshotRouter[]> {
    const bound = await db.selectFrom('l3_bindings').select('router_id').where('host', '=', host).execute();
    const routers = await listResources(db, 'routers', {
      column: 'id',
      values: bound.map((b) => b.router_id),
    });
    const ids = routers.map((r) => r.id);
    const ha = await vrrpIds(db, ids);
    const ownHa = (await haPorts(db, [...ha.keys()])).filter((p) => p['binding:host_id'] === host);
    const ports = [...(await routerPorts(db, ids)), ...ownHa];
    const subnetIds = new Set(ports.flatMap((p) => (p.fixed_ips as FixedIp[]).map((ip) => ip.subnet_id)));
    const subnets = new Map(
      (await listResources(db, 'subnets', { column: 'id', values: [...subnetIds] })).map((s) => [s.id, s]),
    );
    const pools = [...subnets.values()].flatMap((s) =>
      typeof s.subnetpool_id === 'string' ? [s.subnetpool_id] : [],
    );
    const scopes = await poolScopes(db, pools);
    const mapped = await inChunks(ids, (chunk) =>
      db
        .selectFrom('floatingip_associations')
        .select('floatingip_id')
        .where('router_id', 'in', chunk)
        .execute(),
    );
    const forwarded = await inChunks(ids, (chunk) =>
      db.selectFrom('port_forwardings').selectAll().where('router_id', 'in', chunk).execute(),
    );
    const floatingIps = await listResources(db, 'floatingips', {
      column: 'id',
      values: [...mapped.map((m) => m.floatingip_id), ...new Set(forwarded.map((f) => f.floatingip_id))],
    });
    const qos = await snapshotQos(
      db,
      [...routers.map((r) => r.qos_policy_id), ...floatingIps.map((f) => f.qos_policy_id)].filter(
        (id): id is string => typeof id === 'string',
      ),
    );
    // Floating IPs and gateways are shaped, not marked (the DSCP mark is for ports only).
    const limitsOf = (policyId: unknown) => {
      const found = typeof policyId === 'string' ? qos.get(policyId) : undefined;
      return found && found.bandwidth_limits.length > 0 ? { qos: { ...found, dscp_mark: null } } : {};
    };
    const forwardingsOf = (fipId: string) =>
      forwarded
        .filter((f) => f.floatingip_id === fipId)
        .sort((a, b) => a.protocol.localeCompare(b.protocol) || a.external_port_start - b.external_port_start)
        .map((f) => ({
          protocol: f.protocol,
          internal_ip_address: f.internal_ip_address,
          internal_port_start: f.internal_port_start,
          internal_port_end: f.internal_port_end,
          external_port_start: f.external_port_start,
          external_port_end: f.external_port_end,
        }));
    const meteringOf = await snapshotMetering(db);
    const firewalls = await portFirewalls(
      db,
      ports.map((p) => p.id),
    );
    const vpns = await routerVpns(db, ids);
    return routers.map((router) => {
      const own = ports.filter(
        (p) => p.device_id === router.id && p.device_owner !== DeviceOwner.routerHaInterface,
      );
      const vpn = vpns.get(router.id);
      const gateway = own.find((p) => p.device_owner === DeviceOwner.routerGateway);
      const vrrp = ha.get(router.id);
      const haPort = ownHa.find((p) => p.device_id === router.id);
      return {
        id: router.id,
        project_id: router.project_id,
        admin_state_up: router.admin_state_up === true,
        gateway: gateway
          ? {
              ...snapshotRouterPort(gateway, subnets, scopes),
              enable_snat: router.enable_snat === true,
              external_gateway_ips: (gateway.fixed_ips as FixedIp[]).flatMap((ip) => {
                const gatewayIp = subnets.get(ip.subnet_id)?.gateway_ip;
                return typeof gatewayIp === 'string' ? [gatewayIp] : [];
              }),
              ...limitsOf(router.qos_policy_id),
            }
          : null,
        interfaces: own.filter((p) => p !== gateway).map((p) => snapshotRouterPort(p, subnets, scopes)),
        routes: router.routes as Route[],
        floating_ips: floatingIps
          .filter((f) => f.router_id === router.id)
          .map((f) => ({
            id: f.id,
            floating_ip_address: String(f.floating_ip_address),
            fixed_ip_address: f.fixed_ip_address as string | null,
            port_id: f.port_id as string | null,
            port_forwardings: forwardingsOf(f.id),
            ...limitsOf(f.qos_policy_id),
          })),
        ...(vrrp
          ? {
              ha: {
                vrid: vrrp.vr_id,
                advert_int: this.settings.haVrrpAdvertInt,
                port: haPort ? snapshotRouterPort(haPort, subnets, scopes) : null,
              },
            }
          : {}),
        metering: meteringOf(router.project_id),
        ...firewallsOf(firewalls, own),
        ...(vpn ? { vpn } : {}),
      };
    });
  }

  /**
   * The ports as the snapshot has them, each with its effective QoS (absent when none): its own
   * policy's, else (a compute port) its network's, as Neutron's agents apply them.
   */
  async #withQos(db: Kysely<Database>, ports: Stored[], networks: Stored[]): Promise<SnapshotPort[]> {
    const networkPolicy = new Map(networks.map((n) => [n.id, n.qos_policy_id]));
    const policyOf = (port: Stored) => {
      if (typeof port.qos_policy_id === 'string') return port.qos_policy_id;
      const fromNetwork = networkPolicy.get(String(port.network_id));
      return isComputeOwner(String(port.device_owner)) && typeof fromNetwork === 'string'
        ? fromNetwork
        : null;
    };
    const qos = await snapshotQos(
      db,
      ports.map(policyOf).filter((id): id is string => id !== null),
    );
    return ports.map((port) => {
      const found = qos.get(policyOf(port) ?? '');
      return found ? { ...snapshotPort(port), qos: found } : snapshotPort(port);
    });
  }

  /** Which of `networkIds` another host serves DHCP for. */
  async #dhcpElsewhere(host: string, networkIds: string[]): Promise<string[]> {
    const rows = await inChunks(networkIds, (chunk) =>
      this.store.db
        .selectFrom('dhcp_bindings')
        .select('network_id')
        .where('network_id', 'in', chunk)
        .where('host', '!=', host)
        .execute(),
    );
    return rows.map((r) => r.network_id).sort();
  }

  /**
   * Neutron's l2population for `host`: per vxlan network, the other hosts that have ports bound
   * there and a tunnel endpoint, with those ports' MACs and addresses (fixed IPs and single-address
   * allowed pairs, which the VXLAN device answers ARP/ND for). Floating IP ports live on no device.
   */
  async #l2population(host: string, networkIds: string[]): Promise<Snapshot['l2population']> {
    if (networkIds.length === 0) return {};
    const endpoints = await this.agents.tunnelEndpoints();
    const ports = await listResources(this.store.db, 'ports', { column: 'network_id', values: networkIds });
    // The ports of an HA router that also lives here are not remote: were its addresses proxied
    // here, this host's VXLAN device would answer its own master's gratuitous ARPs, and the bridge
    // would learn the router's MAC behind the tunnel. They are reached by flooding instead.
    const ownRouters = new Set(
      (
        await this.store.db.selectFrom('l3_bindings').select('router_id').where('host', '=', host).execute()
      ).map((b) => b.router_id),
    );
    const peers = new Map<string, Map<string, SnapshotTunnelPeer>>();
    for (const port of ports.sort((a, b) => a.id.localeCompare(b.id))) {
      const at = String(port['binding:host_id'] ?? '');
      const tunnelIp = endpoints.get(at);
      if (at === '' || at === host || tunnelIp === undefined || port.device_owner === DeviceOwner.floatingIp)
        continue;
      if (ROUTER_OWNERS.includes(String(port.device_owner)) && ownRouters.has(String(port.device_id)))
        continue;
      const networkId = String(port.network_id);
      const byHost = peers.get(networkId) ?? new Map<string, SnapshotTunnelPeer>();
      peers.set(networkId, byHost);
      const peer = byHost.get(at) ?? { host: at, tunnel_ip: tunnelIp, ports: [] };
      byHost.set(at, peer);
      peer.ports.push(...remotePorts(port));
    }
    return Object.fromEntries(
      [...peers].map(([networkId, byHost]) => [
        networkId,
        [...byHost.values()].sort((a, b) => a.host.localeCompare(b.host)),
      ]),
    );
  }
}
