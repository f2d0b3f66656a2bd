/**
 * The actions for the recorded tables (`apply/tables.ts`): a router's metering table when its
 * text changed or verification found it changed (a namespace made anew has none), the port
 * mirroring table likewise and whenever a device it hooks is made anew (the kernel bound its
 * chains to the old one), the instance ports' firewall groups table when its text changed (with
 * the connections of the rules that appeared, went or changed, deleted after). A
 * desired state without a root table (a teardown) removes it.
 */

import { instanceConnections, renderFirewallGroupsRemoval } from '../firewall/firewall-groups.js';
import { renderTaas, TAAS_FAMILY } from '../services/taas.js';
import type { Action } from '../state/actions.js';
import type { HostState, RecordedTable } from '../state/host-state.js';

export function tableActions(
  desired: HostState,
  actual: HostState,
  recreated: ReadonlySet<string>,
  freshNamespaces: ReadonlySet<string>,
): Action[] {
  const actions: Action[] = [];
  for (const [netns, router] of Object.entries(desired.routers)) {
    if (!router.metering) continue;
    const have = freshNamespaces.has(netns) ? '' : (actual.routers[netns]?.metering?.hash ?? '');
    if (have !== router.metering.hash) actions.push({ op: 'table.apply', netns, table: router.metering });
  }
  const taas = rootTable(desired.taas, actual.taas, (name) => renderTaas(name, []));
  if (taas && taas.family === TAAS_FAMILY) {
    const moved = (taas.devices ?? []).some((dev) => recreated.has(dev));
    if ((actual.taas?.hash ?? '') !== taas.hash || (moved && taas.hash !== ''))
      actions.push({ op: 'table.apply', table: taas });
  }
  const groups = rootTable(desired.firewallGroups, actual.firewallGroups, renderFirewallGroupsRemoval);
  if (groups && (actual.firewallGroups?.hash ?? '') !== groups.hash) {
    const before = new Set(actual.firewallGroups?.rules ?? []);
    const after = new Set(groups.rules ?? []);
    const changed = [...before, ...after].filter((k) => before.has(k) !== after.has(k));
    const unique = new Map(changed.flatMap(instanceConnections).map((f) => [JSON.stringify(f), f]));
    const flush = [...unique.values()];
    actions.push({ op: 'table.apply', table: groups, ...(flush.length > 0 ? { flush } : {}) });
  }
  return actions;
}

/**
 * The root namespace table to reach: the desired one, else (a teardown) the removal of the one
 * recorded, else none.
 */
function rootTable(
  desired: RecordedTable | undefined,
  have: RecordedTable | undefined,
  removal: (name: string) => string,
): RecordedTable | undefined {
  if (desired) return desired;
  if (!have || have.hash === '') return undefined;
  return { ...have, hash: '', transaction: removal(have.name), devices: [], rules: [] };
}
