/**
 * The actions for the recorded tables (`apply/tables.ts`): a router's metering table when its
 * text changed or verification found it changed (a namespace made anew has none), the port
 * mirroring table likewise and whenever a device it hooks is made anew (the kernel bound its
 * chains to the old one). A desired state without a mirroring table (a teardown) removes it.
 */

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
  const have = actual.taas;
  const want: RecordedTable | undefined =
    desired.taas ??
    (have && have.hash !== ''
      ? { ...have, hash: '', transaction: renderTaas(have.name, []), devices: [] }
      : undefined);
  if (want && want.family === TAAS_FAMILY) {
    const moved = (want.devices ?? []).some((dev) => recreated.has(dev));
    if ((have?.hash ?? '') !== want.hash || (moved && want.hash !== ''))
      actions.push({ op: 'table.apply', table: want });
  }
  return actions;
}
