/**
 * Performs an `ovs.apply` action: the `ovs-vsctl` transaction first (a failure changes nothing),
 * then each bridge's rules replaced atomically (`ovs-ofctl --bundle replace-flows`), then their
 * hash and count recorded on the bridges (one more transaction), which observe compares.
 */
import { ipBatch, ipJson } from '../../../linux/ip.js';
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

interface RouteEntry {
  dst: string;
  gateway?: string;
  protocol?: string;
  metric?: number;
}

/**
 * Moves the tunnel endpoint address(es) of `underlay` from its tunnel interface to its bridge's
 * internal port, which comes up, and fences the interface off from the host's stack (`take`), or
 * back; the routes the operator made through the one (not the kernel's own prefix routes) follow
 * the addresses. The fence is an ingress chain dropping everything: the switch's packet socket
 * has read each frame before that hook, so only the host's own stack stops seeing the wire
 * directly (it answered tunnel packets to the endpoint with ICMP port unreachable, and ARP twice).
 */
export async function moveTunnelEndpoint(underlay: OvsUnderlay, take: boolean): Promise<void> {
  const [from, to] = take ? [underlay.device, underlay.bridge] : [underlay.bridge, underlay.device];
  const routes = (await ipJson<RouteEntry[]>(['route', 'show', 'dev', from]).catch(() => [])).filter(
    (r) => r.protocol !== 'kernel' && r.gateway !== undefined,
  );
  const [link] = await ipJson<{ addr_info?: { local: string; prefixlen: number }[] }[]>([
    'addr',
    'show',
    'dev',
    from,
  ]).catch(() => []);
  const present = new Set((link?.addr_info ?? []).map((a) => `${a.local}/${a.prefixlen}`));
  const commands = [
    ...(take ? [['link', 'set', to, 'up']] : []),
    ...underlay.addresses.flatMap((cidr) => [
      ...(present.has(cidr) ? [['addr', 'del', cidr, 'dev', from]] : []),
      ['addr', 'replace', cidr, 'dev', to],
    ]),
    ...routes.map((r) => [
      'route',
      'replace',
      r.dst,
      'via',
      r.gateway!,
      'dev',
      to,
      ...(r.metric === undefined ? [] : ['metric', String(r.metric)]),
    ]),
  ];
  // Fence first when giving back (the interface answers again once it holds the address), last
  // when taking (the address is on the bridge by then).
  const fence = take
    ? `table netdev ${underlay.fence} {}\ndelete table netdev ${underlay.fence}\ntable netdev ${underlay.fence} {\n  chain ingress {\n    type filter hook ingress device "${underlay.device}" priority 0; policy accept;\n    counter drop\n  }\n}\n`
    : `table netdev ${underlay.fence} {}\ndelete table netdev ${underlay.fence}\n`;
  if (!take) await nftApply(fence);
  await ipBatch(commands);
  if (take) await nftApply(fence);
}
