/** The model a packet trace reads (`trace.ts`), and what a packet is as it travels. */
import type { FloatingIp } from '../../model/floating-ip.js';
import type { Instance } from '../../model/instance.js';
import type { Network } from '../../model/network.js';
import type { Port } from '../../model/port.js';
import type { Router } from '../../model/router.js';
import type { SecurityGroup, SecurityGroupRule } from '../../model/security-group.js';
import type { Subnet } from '../../model/subnet.js';
import type { TraceRequest } from '../../model/trace.js';
import type { IpVersion } from '../ipam.js';

export type TraceRule = Pick<
  SecurityGroupRule,
  | 'id'
  | 'direction'
  | 'ethertype'
  | 'protocol'
  | 'port_range_min'
  | 'port_range_max'
  | 'remote_ip_prefix'
  | 'remote_group_id'
  | 'normalized_cidr'
>;

/** The model a trace reads: every object of the deployment, or what a member sees of it. */
export interface TraceModel {
  networks: Pick<Network, 'id' | 'name' | 'project_id' | 'admin_state_up' | 'router:external'>[];
  subnets: Pick<
    Subnet,
    'id' | 'name' | 'project_id' | 'network_id' | 'ip_version' | 'cidr' | 'gateway_ip' | 'host_routes'
  >[];
  ports: Pick<
    Port,
    | 'id'
    | 'name'
    | 'project_id'
    | 'network_id'
    | 'admin_state_up'
    | 'status'
    | 'mac_address'
    | 'fixed_ips'
    | 'device_id'
    | 'device_owner'
    | 'allowed_address_pairs'
    | 'port_security_enabled'
    | 'security_groups'
  >[];
  routers: Pick<
    Router,
    'id' | 'name' | 'project_id' | 'admin_state_up' | 'external_gateway_info' | 'routes'
  >[];
  floatingIps: Pick<
    FloatingIp,
    | 'id'
    | 'project_id'
    | 'floating_ip_address'
    | 'floating_network_id'
    | 'router_id'
    | 'port_id'
    | 'fixed_ip_address'
  >[];
  securityGroups: (Pick<SecurityGroup, 'id' | 'name' | 'project_id' | 'stateful'> & {
    security_group_rules: TraceRule[];
  })[];
  instances: (Pick<Instance, 'id' | 'name' | 'project_id' | 'host'> & { ports: { id: string }[] })[];
  /**
   * Set for a member's trace (`scopeTraceModel`): where the objects it may not see sit, by
   * address alone — held on a network it sees (`network_id`), or a subnet of a network it does
   * not see (`network_id` null). Absent for admins: the model is whole.
   */
  beyond?: { network_id: string | null; cidr: string }[];
  /** FWaaS: the router interfaces in a firewall group with a policy (`core/fwaas.ts`). */
  firewalls?: TraceFirewall[];
  /**
   * Host → how its L2 agent wires ports (an admin's trace names the devices a packet crosses);
   * absent for members, who are not told hosts.
   */
  wiring?: Record<string, HostWiring>;
  /** vxlan network id → its VNI (an admin's trace names the tunnel a packet crosses); absent for members. */
  vxlans?: Record<string, number>;
}

/** A host's L2 driver, and (openvswitch) the local VLAN tag of each network on its `br-int`. */
export interface HostWiring {
  driver: 'linuxbridge' | 'openvswitch';
  tags: Record<string, number>;
  /** The agent's tunnel endpoint (`configurations.tunneling_ip`), if it has one. */
  tunnelIp?: string;
}

/** A router interface's firewall group, its policies' enabled rules in order (`core/fwaas.ts`). */
export interface TraceFirewall {
  port_id: string;
  group: { id: string; name: string };
  admin_state_up: boolean;
  ingress: TraceFirewallRule[];
  egress: TraceFirewallRule[];
}

export interface TraceFirewallRule {
  id: string;
  name: string;
  protocol: string | null;
  ip_version: 4 | 6;
  source_ip_address: string | null;
  destination_ip_address: string | null;
  source_port: string | null;
  destination_port: string | null;
  action: 'allow' | 'deny' | 'reject';
}

export type TNetwork = TraceModel['networks'][number];
export type TSubnet = TraceModel['subnets'][number];
export type TPort = TraceModel['ports'][number];
export type TRouter = TraceModel['routers'][number];
export type TFloatingIp = TraceModel['floatingIps'][number];
export type TGroup = TraceModel['securityGroups'][number];
export type TInstance = TraceModel['instances'][number];
export type Protocol = TraceRequest['protocol'];

/** A packet as it travels: addresses change at NAT. */
export interface Packet {
  family: IpVersion;
  protocol: Protocol;
  port?: number;
  src: string;
  dst: string;
  /** Set once a router DNATed it. */
  dnat?: boolean;
}

/** A route in a router or an instance: the prefix, and what it leads to. */
export interface RouteEntry {
  prefix: number;
  cidr: string;
  kind: 'connected' | 'external' | 'extra' | 'default' | 'host';
  subnet?: TSubnet;
  nexthop?: string;
}
