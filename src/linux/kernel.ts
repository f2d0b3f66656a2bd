/**
 * What this host's kernel can do, found by trying it once in a throwaway namespace
 * (`neutrino-probe-<pid>-<what>`) rather than by reading /proc/modules, since features may be
 * built in; each answer is cached for the life of the process.
 */
import { CommandError, run } from './exec.js';
import { addNamespace, deleteNamespace, ipBatch } from './ip.js';
import { nftApply } from './nft.js';

/** Runs `probe` once; a probe that throws (e.g. not root) is not cached and may be retried. */
function cachedProbe(probe: () => Promise<boolean>): () => Promise<boolean> {
  let answer: Promise<boolean> | undefined;
  return () => {
    answer ??= probe().catch((err: unknown) => {
      answer = undefined;
      throw err;
    });
    return answer;
  };
}

/** Runs `attempt` in a fresh namespace that is always deleted afterwards. */
async function inProbeNamespace(what: string, attempt: (ns: string) => Promise<boolean>): Promise<boolean> {
  const ns = `neutrino-probe-${process.pid}-${what}`;
  await deleteNamespace(ns);
  await addNamespace(ns);
  try {
    return await attempt(ns);
  } finally {
    await deleteNamespace(ns);
  }
}

/** True when `ip -n NS <command>` succeeds, false when the kernel refuses it. */
async function ipSucceeds(netns: string, command: string): Promise<boolean> {
  const { code } = await run('ip', ['-n', netns, ...command.split(' ')], { allowFail: true });
  return code === 0;
}

/**
 * 802.1Q VLAN devices (needed by the linuxbridge driver for `vlan` networks). Probed on a veth:
 * the `dummy` link type may be missing too (it is on the 6.18 test machine).
 */
export const has8021q = cachedProbe(() =>
  inProbeNamespace('vlan', async (netns) => {
    await ipBatch([['link', 'add', 'probe0', 'type', 'veth', 'peer', 'name', 'probe1']], { netns });
    return ipSucceeds(netns, 'link add link probe0 name probe0.7 type vlan id 7');
  }),
);

/** VXLAN devices (the overlay for `vxlan` networks). */
export const hasVxlan = cachedProbe(() =>
  inProbeNamespace('vxlan', (netns) =>
    ipSucceeds(netns, 'link add vxlan-7 type vxlan id 7 dstport 4789 nolearning'),
  ),
);

const BRIDGE_CONNTRACK_PROBE = `table bridge neutrino-probe {
  chain probe {
    type filter hook forward priority 0; policy accept;
    ct state established,related accept
  }
}
`;

/**
 * Connection tracking in the nftables `bridge` family (`nf_conntrack_bridge`): with it, stateful
 * security groups can live entirely in a bridge-family table; without it they need bridge netfilter
 * and an `inet` table. nft answers "Could not process rule: Protocol error" when it is missing.
 */
export const hasBridgeConntrack = cachedProbe(() =>
  inProbeNamespace('brct', async (netns) => {
    try {
      await nftApply(BRIDGE_CONNTRACK_PROBE, { netns });
      return true;
    } catch (err) {
      if (err instanceof CommandError) return false;
      throw err;
    }
  }),
);

/**
 * Kernel IPsec: an ESP security association (AES-CBC, HMAC-SHA256) in the XFRM state table. Without
 * it (no `esp4`/XFRM, as on the 6.18 test machine) strongSwan runs IPsec in userspace
 * (`kernel-libipsec`, see `linux/strongswan.ts`).
 */
export const hasKernelEsp = cachedProbe(() =>
  inProbeNamespace('esp', (netns) =>
    ipSucceeds(
      netns,
      `xfrm state add src 192.0.2.1 dst 192.0.2.2 proto esp spi 0x100 mode tunnel enc cbc(aes) 0x${'11'.repeat(16)} auth-trunc hmac(sha256) 0x${'22'.repeat(32)} 128`,
    ),
  ),
);
