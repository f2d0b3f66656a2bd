/**
 * Performs an `ovs.apply` action: the `ovs-vsctl` transaction first (a failure changes nothing),
 * then each bridge's rules replaced atomically (`ovs-ofctl --bundle replace-flows`), then their
 * hash and count recorded on the bridges (one more transaction), which observe compares.
 */
import { moveAddresses } from '../../../linux/ip.js';
import { nftApply } from '../../../linux/nft.js';
import { ofctl, vsctl } from '../../../linux/ovs.js';
import type { Action } from '../../state/actions.js';
import type { OvsUnderlay } from '../../state/host-state.js';
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

/**
 * Moves the tunnel endpoint address(es) of `underlay` from its tunnel interface to its bridge's
 * internal port, which comes up, and fences the interface off from the host's stack (`take`), or
 * back; the routes the operator made through the one follow the addresses. The fence is an ingress
 * chain dropping everything: the switch's packet socket has read each frame before that hook, so
 * only the host's own stack stops seeing the wire directly (it answered tunnel packets to the
 * endpoint with ICMP port unreachable, and ARP twice).
 */
export async function moveTunnelEndpoint(underlay: OvsUnderlay, take: boolean): Promise<void> {
  const { bridge, device, addresses, fence } = underlay;
  const reset = `table netdev ${fence} {}\ndelete table netdev ${fence}\n`;
  if (!take) {
    // Fence first: the interface answers again once it holds the address.
    await nftApply(reset);
    await moveAddresses(bridge, device, addresses);
    return;
  }
  await moveAddresses(device, bridge, addresses, { up: true });
  await nftApply(
    `${reset}table netdev ${fence} {\n  chain ingress {\n    type filter hook ingress device "${device}" priority 0; policy accept;\n    counter drop\n  }\n}\n`,
  );
}
