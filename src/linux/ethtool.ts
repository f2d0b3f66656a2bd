/**
 * `ethtool` where Neutrino needs it: a device that computes its checksums and cuts its segments
 * itself instead of leaving them to offload (a veth feeding Open vSwitch 3.1's userspace datapath,
 * which cannot tunnel offloaded packets; a lab wire standing for a NIC).
 */
import { type NetnsOption, runMaybeInNamespace } from './exec.js';

/** `ethtool -K DEV tx off` (segmentation offload goes with it), in `netns` if given. */
export async function disableTxOffload(device: string, options: NetnsOption = {}): Promise<void> {
  await runMaybeInNamespace(options.netns, 'ethtool', ['-K', device, 'tx', 'off']);
}
