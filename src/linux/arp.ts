/**
 * Gratuitous ARP (`busybox arping -U`): tells the neighbours on a link that an address now lives
 * behind this device, so their caches point at it at once rather than after they expire.
 */
import { runInNamespace } from './exec.js';

/** Sends one unsolicited ARP for `ip` out of `dev` in namespace `netns`. */
export async function announceAddress(netns: string, dev: string, ip: string): Promise<void> {
  await runInNamespace(netns, 'busybox', ['arping', '-U', '-c', '1', '-I', dev, ip]);
}
