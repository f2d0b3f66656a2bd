/**
 * `neutrino vpn list|show|set|delete`: IPsec site connections (neutron-vpnaas's), each with its
 * status, peer, router (through its VPN service) and status description, which says the IPsec data
 * plane carrying it (the kernel's, or strongSwan's userspace IPsec) and why it is down. Policies,
 * services, endpoint groups and the connections themselves are made with `openstack vpn …`.
 */
import type { Command } from 'commander';
import type { Session } from '../client/session.js';
import { KINDS, type Kind, list, type Row } from './resolve.js';
import { column, either, type Flags, idColumn, pair, registerResource } from './resource-command.js';

const vpn = (label: string, path: string, member: string): Kind => ({
  label,
  path: `/v2.0/vpn/${path}`,
  member,
  collection: `${member}s`,
  update: 'PUT',
});

export const IPSEC_SITE_CONNECTION = vpn(
  'IPsec site connection',
  'ipsec-site-connections',
  'ipsec_site_connection',
);
export const VPN_SERVICE = vpn('VPN service', 'vpnservices', 'vpnservice');

/** Each connection with its service's `router_id` (one listing of the services for all of them). */
export function withRouters(connections: Row[], services: Row[]): Row[] {
  const routerOf = new Map(services.map((s) => [s.id, s.router_id]));
  return connections.map((c) => ({ ...c, router_id: routerOf.get(String(c.vpnservice_id)) ?? null }));
}

async function routersOf(session: Session, connections: Row[]): Promise<Row[]> {
  return connections.length === 0 ? connections : withRouters(connections, await list(session, VPN_SERVICE));
}

export function registerVpnCommands(root: Command): void {
  registerResource(root, {
    noun: 'vpn',
    kind: IPSEC_SITE_CONNECTION,
    description: 'site-to-site VPNs: IPsec site connections, their status and data plane',
    standard: true,
    columns: [
      column('ID', 'id'),
      column('Name', 'name'),
      column('Status', 'status'),
      column('Peer', 'peer_address'),
      idColumn('Router', 'router_id', KINDS.router),
      column('Description', 'status_description'),
      column('Peer CIDRs', 'peer_cidrs', true),
      idColumn('Project', 'project_id', KINDS.project, true),
    ],
    listRows: routersOf,
    view: async (session, row) => (await routersOf(session, [row]))[0],
    set: {
      options: (cmd) => {
        pair(cmd, 'enable', 'bring the connection up', 'disable', 'take the connection down');
        cmd.option('--psk <key>', 'a new pre-shared key');
      },
      body: async (_session, flags: Flags) => ({
        admin_state_up: either(flags, 'enable', 'disable'),
        psk: flags.psk,
      }),
    },
  });
}
