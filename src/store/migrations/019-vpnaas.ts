/**
 * VPN as a service (neutron-vpnaas's `vpnaas` and `vpn-endpoint-groups`): IKE policies, IPsec
 * policies, VPN services, endpoint groups and IPsec site connections are resource tables like any
 * other (a connection's peer CIDRs and a group's endpoints live in its doc).
 */
import type { Kysely } from 'kysely';
import { resourceTable } from './resource-table.js';

export async function up(db: Kysely<unknown>): Promise<void> {
  for (const table of [
    'vpn_ikepolicies',
    'vpn_ipsecpolicies',
    'vpnservices',
    'vpn_endpoint_groups',
    'ipsec_site_connections',
  ]) {
    await resourceTable(db, table).execute();
    await db.schema.createIndex(`${table}_project`).on(table).column('project_id').execute();
  }
}
