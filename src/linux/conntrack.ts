/**
 * Connection tracking inside a namespace (`conntrack`): deleting the entries of an address, so that
 * established flows through NAT that no longer applies are cut at once instead of living on.
 */
import { CommandError, runInNamespace } from './exec.js';

/**
 * Deletes, in namespace `netns`, the IPv4 connections addressed to `ip` (original destination: flows
 * DNATed from it) and those whose replies go to it (reply destination: flows SNATed to it).
 */
export async function deleteConnectionsOf(netns: string, ip: string): Promise<void> {
  for (const filter of ['--orig-dst', '--reply-dst']) {
    const args = ['-D', filter, ip];
    const { code, stdout, stderr } = await runInNamespace(netns, 'conntrack', args, { allowFail: true });
    // conntrack exits 1 when nothing matched.
    if (code !== 0 && !/0 flow entries have been deleted/.test(stderr))
      throw new CommandError('conntrack', args, code, stderr, stdout);
  }
}
