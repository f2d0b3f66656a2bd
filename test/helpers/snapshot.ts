/**
 * Building blocks of the snapshots the agent's unit tests compile: fixed ids, and a network and a
 * port with the attributes every test starts from.
 */

import { DeviceOwner } from '../../src/model/device-owners.js';
import type { SnapshotNetwork, SnapshotPort, SnapshotSubnet } from '../../src/model/host-snapshot.js';

export const NET = '6f1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d';
export const SUBNET = 'a1b2c3d4-0000-4000-8000-000000000001';
export const DHCP_PORT = 'd0d0d0d0-1111-4111-8111-111111111111';
export const PORT_A = 'aaaaaaaa-2222-4222-8222-222222222222';
export const PORT_B = 'bbbbbbbb-3333-4333-8333-333333333333';
export const INST_A = '11111111-aaaa-4aaa-8aaa-aaaaaaaaaaaa';
export const INST_B = '22222222-bbbb-4bbb-8bbb-bbbbbbbbbbbb';

/** Network `NET`: a VXLAN network of project `p1`, up, MTU 1450. */
export function snapshotNetwork(overrides: Partial<SnapshotNetwork> = {}): SnapshotNetwork {
  return {
    id: NET,
    project_id: 'p1',
    admin_state_up: true,
    mtu: 1450,
    network_type: 'vxlan',
    physical_network: null,
    segmentation_id: 1001,
    ...overrides,
  };
}

/** Subnet `SUBNET` of `NET`: 10.0.0.0/24, gateway 10.0.0.1, DHCP on. */
export function snapshotSubnet(overrides: Partial<SnapshotSubnet> = {}): SnapshotSubnet {
  return {
    id: SUBNET,
    network_id: NET,
    ip_version: 4,
    cidr: '10.0.0.0/24',
    gateway_ip: '10.0.0.1',
    enable_dhcp: true,
    dns_nameservers: [],
    host_routes: [],
    ...overrides,
  };
}

/** An instance port on `NET` with one address on `SUBNET`. */
export function snapshotPort(
  id: string,
  ip: string,
  mac: string,
  overrides: Partial<SnapshotPort> = {},
): SnapshotPort {
  return {
    id,
    network_id: NET,
    mac_address: mac,
    fixed_ips: [{ subnet_id: SUBNET, ip_address: ip }],
    device_owner: DeviceOwner.compute,
    device_id: '',
    admin_state_up: true,
    dns_name: '',
    extra_dhcp_opts: [],
    ...overrides,
  };
}
