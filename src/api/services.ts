/** The Neutron model's services, built once per server over one store and one set of settings. */
import { AddressGroups } from '../core/address-groups.js';
import { AddressScopes } from '../core/address-scopes.js';
import { Agents } from '../core/agents.js';
import { HostDiagnostics } from '../core/diagnostics.js';
import { FloatingIps } from '../core/floating-ips.js';
import { FirewallGroups, FirewallPolicies, FirewallRules } from '../core/fwaas.js';
import { HostSync } from '../core/host-sync/host-sync.js';
import { Instances } from '../core/instances.js';
import { IpAvailability } from '../core/ip-availability.js';
import { L3Ha } from '../core/l3-ha.js';
import { LoadBalancers } from '../core/load-balancers.js';
import { MeteringLabelRules, MeteringLabels } from '../core/metering.js';
import { NetworkLogs } from '../core/network-logs.js';
import { Networks } from '../core/networks.js';
import { PortDrops } from '../core/port-drops.js';
import { PortForwardings } from '../core/port-forwardings.js';
import { PortStats } from '../core/port-stats.js';
import { Ports } from '../core/ports.js';
import { QosPolicies } from '../core/qos.js';
import { Quotas } from '../core/quotas.js';
import { RbacPolicies } from '../core/rbac-policies.js';
import { Routers } from '../core/routers.js';
import { Scheduler } from '../core/scheduler.js';
import { SecurityGroupRules } from '../core/security-group-rules.js';
import { SecurityGroups } from '../core/security-groups.js';
import type { Settings } from '../core/settings.js';
import { SubnetPools } from '../core/subnet-pools.js';
import { Subnets } from '../core/subnets.js';
import { TapFlows, TapServices } from '../core/taas.js';
import { Trunks } from '../core/trunks.js';
import {
  EndpointGroups,
  IkePolicies,
  IpsecPolicies,
  IpsecSiteConnections,
  VpnServices,
} from '../core/vpnaas.js';
import { Identity } from '../identity/identity.js';
import type { Store } from '../store/store.js';

export interface Services {
  store: Store;
  settings: Settings;
  identity: Identity;
  networks: Networks;
  subnets: Subnets;
  subnetPools: SubnetPools;
  addressScopes: AddressScopes;
  ports: Ports;
  routers: Routers;
  floatingIps: FloatingIps;
  portForwardings: PortForwardings;
  loadBalancers: LoadBalancers;
  rbacPolicies: RbacPolicies;
  qosPolicies: QosPolicies;
  tapServices: TapServices;
  tapFlows: TapFlows;
  meteringLabels: MeteringLabels;
  meteringLabelRules: MeteringLabelRules;
  quotas: Quotas;
  ipAvailability: IpAvailability;
  securityGroups: SecurityGroups;
  securityGroupRules: SecurityGroupRules;
  addressGroups: AddressGroups;
  firewallRules: FirewallRules;
  firewallPolicies: FirewallPolicies;
  firewallGroups: FirewallGroups;
  networkLogs: NetworkLogs;
  ikePolicies: IkePolicies;
  ipsecPolicies: IpsecPolicies;
  vpnServices: VpnServices;
  endpointGroups: EndpointGroups;
  ipsecSiteConnections: IpsecSiteConnections;
  trunks: Trunks;
  agents: Agents;
  instances: Instances;
  hostSync: HostSync;
  scheduler: Scheduler;
  portDrops: PortDrops;
  portStats: PortStats;
  diagnostics: HostDiagnostics;
}

export function buildServices(store: Store, settings: Settings, tokenLifetimeSeconds?: number): Services {
  const networks = new Networks(store, settings);
  const securityGroups = new SecurityGroups(store, settings);
  // A network delete runs onDelete hooks in construction order: subnets, DHCP ports, DHCP binding.
  const addressScopes = new AddressScopes(store);
  const subnetPools = new SubnetPools(store, addressScopes);
  const subnets = new Subnets(store, settings, networks, subnetPools);
  const ports = new Ports(store, settings, networks);
  const agents = new Agents(store, settings);
  const addressGroups = new AddressGroups(store);
  networks.vlanCapable = () => agents.vlanCapable();
  const ha = new L3Ha(settings, networks, subnets);
  const routers = new Routers(store, settings, { networks, subnets, ports, ha });
  routers.deadNetworkHosts = (tx) => agents.deadNetworkHosts(tx);
  const floatingIps = new FloatingIps(store, settings, { networks, ports });
  const qosPolicies = new QosPolicies(store);
  const portDrops = new PortDrops(store, ports);
  const instances = new Instances(store, settings, { networks, ports, securityGroups, agents });
  const tapServices = new TapServices(store, ports);
  const meteringLabels = new MeteringLabels(store);
  const firewallRules = new FirewallRules(store);
  const firewallPolicies = new FirewallPolicies(store, firewallRules);
  const firewallGroups = new FirewallGroups(store, firewallPolicies, ports);
  const networkLogs = new NetworkLogs(store, settings, {
    securityGroup: (ctx, id, db) => securityGroups.get(ctx, id, db),
    firewallGroup: (ctx, id, db) => firewallGroups.get(ctx, id, db),
  });
  securityGroups.onDelete.push((tx, group) => networkLogs.forget(tx, 'resource_id', group.id));
  firewallGroups.onDelete.push((tx, group) => networkLogs.forget(tx, 'resource_id', group.id));
  ports.onDelete.push((tx, port) => networkLogs.forget(tx, 'target_id', port.id));
  const vpn = vpnServicesOf(store);
  // neutron-vpnaas's callbacks: what a VPN uses stays (routers and subnets stay free of VPN imports).
  routers.onGatewayRemove.push((tx, router) => vpn.vpnServices.requireRouterUnused(tx, router.id));
  routers.onInterfaceRemove.push((tx, router, subnet) =>
    vpn.vpnServices.requireSubnetUnused(tx, router.id, subnet.id),
  );
  subnets.onDelete.push((tx, subnet) => vpn.endpointGroups.requireSubnetUnused(tx, subnet.id));
  return {
    store,
    settings,
    identity: new Identity(store, tokenLifetimeSeconds, settings),
    networks,
    subnets,
    subnetPools,
    addressScopes,
    ports,
    routers,
    floatingIps,
    portForwardings: new PortForwardings(store, { floatingIps, ports }),
    loadBalancers: new LoadBalancers(store, { networks, subnets, ports }),
    rbacPolicies: new RbacPolicies(store, settings, {
      network: (ctx, id, db) => networks.get(ctx, id, db),
      security_group: (ctx, id, db) => securityGroups.get(ctx, id, db),
      subnetpool: (ctx, id, db) => subnetPools.get(ctx, id, db),
      address_scope: (ctx, id, db) => addressScopes.get(ctx, id, db),
      qos_policy: (ctx, id, db) => qosPolicies.get(ctx, id, db),
    }),
    qosPolicies,
    tapServices,
    tapFlows: new TapFlows(store, ports, tapServices),
    meteringLabels,
    meteringLabelRules: new MeteringLabelRules(store, meteringLabels),
    quotas: new Quotas(store, settings.quotas),
    ipAvailability: new IpAvailability(store),
    securityGroups,
    securityGroupRules: new SecurityGroupRules(store, settings, securityGroups, addressGroups),
    addressGroups,
    firewallRules,
    firewallPolicies,
    firewallGroups,
    networkLogs,
    ...vpn,
    trunks: new Trunks(store, { ports, networks, agents }),
    agents,
    instances,
    hostSync: new HostSync(store, settings, networks, agents),
    scheduler: new Scheduler(store, agents, {
      network: (ctx, id) => networks.show(ctx, id),
      router: (ctx, id) => routers.show(ctx, id),
    }),
    portDrops,
    portStats: new PortStats(store, {
      ports,
      instance: (ctx, id) => instances.show(ctx, id),
      router: (ctx, id) => routers.get(ctx, id),
    }),
    diagnostics: new HostDiagnostics(store, settings, agents),
  };
}

/** VPNaaS's services: the connections' service checks the other four. */
function vpnServicesOf(store: Store) {
  const ikePolicies = new IkePolicies(store);
  const ipsecPolicies = new IpsecPolicies(store);
  const vpnServices = new VpnServices(store);
  const endpointGroups = new EndpointGroups(store);
  const ipsecSiteConnections = new IpsecSiteConnections(
    store,
    vpnServices,
    ikePolicies,
    ipsecPolicies,
    endpointGroups,
  );
  return { ikePolicies, ipsecPolicies, vpnServices, endpointGroups, ipsecSiteConnections };
}
