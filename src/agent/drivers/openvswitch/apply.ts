/**
 * Performs an `ovs.apply` action: the `ovs-vsctl` transaction first (a failure changes nothing),
 * then each bridge's rules replaced atomically (`ovs-ofctl --bundle replace-flows`), then their
 * hash and count recorded on the bridges (one more transaction), which observe compares.
 */
import { ofctl, vsctl } from '../../../linux/ovs.js';
import type { Action } from '../../state/actions.js';
import { FLOWS_COUNT_KEY, FLOWS_HASH_KEY } from './observe.js';

export async function applyOvs(action: Extract<Action, { op: 'ovs.apply' }>): Promise<void> {
  const { handle, commands, flows } = action;
  // ovs-vswitchd opens each new port before the transaction returns (~20 ms a port here).
  const timeoutS = 10 + Math.ceil(commands.length / 20);
  if (commands.length > 0)
    await vsctl(
      handle,
      commands.flatMap((c, i) => (i === 0 ? c : ['--', ...c])),
      { timeoutS },
    );
  if (flows.length === 0) return;
  await Promise.all(
    flows.map(({ bridge, flows: rules }) =>
      ofctl(handle, ['--bundle', 'replace-flows', bridge, '-'], `${rules.join('\n')}\n`),
    ),
  );
  await vsctl(
    handle,
    flows.flatMap(({ bridge, flows: rules, hash }, i) => [
      ...(i === 0 ? [] : ['--']),
      'set',
      'Bridge',
      bridge,
      `external_ids:${FLOWS_HASH_KEY}=${hash}`,
      `external_ids:${FLOWS_COUNT_KEY}=${rules.length}`,
    ]),
    { noWait: true },
  );
}
