/**
 * The `device_owner` values Neutrino gives or recognises (Neutron's constants in neutron-lib), in
 * one place: the server, the agent, the CLI and the dashboard import them from here.
 */
export const DeviceOwner = {
  dhcp: 'network:dhcp',
  routerInterface: 'network:router_interface',
  routerInterfaceDistributed: 'network:router_interface_distributed',
  haReplicatedInterface: 'network:ha_router_replicated_interface',
  routerCentralizedSnat: 'network:router_centralized_snat',
  routerGateway: 'network:router_gateway',
  routerHaInterface: 'network:router_ha_interface',
  floatingIp: 'network:floatingip',
  /** Instances' ports (Nova's owner for a VM in the default availability zone). */
  compute: 'compute:nova',
  /** A load balancer's VIP port (Octavia's). */
  loadBalancer: 'Octavia',
} as const;

/** neutron-lib's DEVICE_OWNER_COMPUTE_PREFIX: every instance port's owner starts with it. */
export const COMPUTE_PREFIX = 'compute:';

/** Whether `owner` names an instance's port (`compute:<availability zone>`). */
export function isComputeOwner(owner: string): boolean {
  return owner.startsWith(COMPUTE_PREFIX);
}

/** The owners of a router's interfaces on its internal networks. */
export const ROUTER_INTERFACE_OWNERS: readonly string[] = [
  DeviceOwner.routerInterface,
  DeviceOwner.routerInterfaceDistributed,
  DeviceOwner.haReplicatedInterface,
];

/** A router's own ports: its interfaces and its gateway. */
export const ROUTER_OWNERS: readonly string[] = [...ROUTER_INTERFACE_OWNERS, DeviceOwner.routerGateway];

/** Whether `owner` names a router interface (Neutron's `network:router_interface*`). */
export function isRouterInterfaceOwner(owner: string): boolean {
  return ROUTER_INTERFACE_OWNERS.includes(owner);
}
