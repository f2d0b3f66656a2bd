/** Port binding: what the server records when it binds a port to a host. */

import { OVS_AGENT_TYPE } from '../model/agent.js';
import type { Tx } from '../store/store.js';

/**
 * A port's binding attributes once the server binds it to `host` ('' = unbound), as the host's L2
 * agent plugs it: `ovs` with hybrid plug where an Open vSwitch agent runs, else `bridge`.
 */
export async function portBinding(tx: Tx, host: string): Promise<Record<string, unknown>> {
  if (host === '') return { 'binding:host_id': '', 'binding:vif_type': 'unbound', 'binding:vif_details': {} };
  const ovs = await tx
    .selectFrom('agents')
    .select('id')
    .where('host', '=', host)
    .where('agent_type', '=', OVS_AGENT_TYPE)
    .executeTakeFirst();
  const details = { connectivity: 'l2', port_filter: true };
  return ovs
    ? {
        'binding:host_id': host,
        'binding:vif_type': 'ovs',
        'binding:vif_details': { ...details, ovs_hybrid_plug: true, bridge_name: 'br-int' },
      }
    : { 'binding:host_id': host, 'binding:vif_type': 'bridge', 'binding:vif_details': details };
}
