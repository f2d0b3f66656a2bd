/**
 * A reader of an NFLOG group: tcpdump capturing `nflog:<group>` (in a namespace, or in the
 * caller's own) and writing the pcap stream to our pipe (`-U`: a packet as soon as it is read),
 * cut at `snap` bytes per packet (the prefix and the IP and transport headers fit in 512). Only
 * one reader can bind a group in a namespace. The caller stops it by `close()`; it also ends by
 * itself when our end of the pipe closes (the agent died: its next write fails).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { assertNamespaceName } from './exec.js';

export const TCPDUMP = 'tcpdump';

export interface NflogCapture {
  readonly process: ChildProcess;
  close(): void;
}

export function captureNflog(netns: string | undefined, group: number, snap = 512): NflogCapture {
  if (!Number.isInteger(group) || group < 0 || group > 0xffff)
    throw new Error(`invalid NFLOG group ${group}`);
  const tcpdump = [TCPDUMP, '-i', `nflog:${group}`, '-U', '-n', '-s', String(snap), '-w', '-'];
  if (netns !== undefined) assertNamespaceName(netns);
  const argv = netns === undefined ? tcpdump : ['ip', 'netns', 'exec', netns, ...tcpdump];
  const child = spawn(argv[0], argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
  return {
    process: child,
    close() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    },
  };
}
