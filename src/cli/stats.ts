/**
 * `neutrino port|instance|router stats NAME`: traffic as the hosts last reported it, per port (an
 * instance's or a router's ports, then their sum): bytes and packets each way from the owner's
 * view (TX: what it sent), and the rates over the last report interval.
 */
import type { Command } from 'commander';
import { sessionFromEnvironment } from '../client/session.js';
import { formatList, outputOptions, print } from './output.js';
import { findId, KINDS } from './resolve.js';
import type { Flags } from './resource-command.js';

interface PortStats {
  port_id: string;
  host: string | null;
  rx_bytes: number;
  rx_packets: number;
  tx_bytes: number;
  tx_packets: number;
  rx_bps: number | null;
  tx_bps: number | null;
}

const HEADERS = ['Port', 'Host', 'RX Bytes', 'RX Packets', 'TX Bytes', 'TX Packets', 'RX Rate', 'TX Rate'];

/** A rate in bit/s as people read it: `12.3 Mbit/s`; `-` when unknown. */
export function formatRate(bps: number | null): string {
  if (bps === null) return '-';
  const units = ['bit/s', 'kbit/s', 'Mbit/s', 'Gbit/s'];
  let value = bps;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit++;
  }
  return `${unit === 0 ? value : value.toFixed(1)} ${units[unit]}`;
}

const row = (p: PortStats, label = p.port_id) => [
  label,
  p.host ?? '-',
  p.rx_bytes,
  p.rx_packets,
  p.tx_bytes,
  p.tx_packets,
  formatRate(p.rx_bps),
  formatRate(p.tx_bps),
];

const KIND = {
  port: { kind: KINDS.port, path: 'ports', key: 'port_stats' },
  instance: { kind: KINDS.instance, path: 'instances', key: 'instance_stats' },
  router: { kind: KINDS.router, path: 'routers', key: 'router_stats' },
} as const;

/** Adds `stats <name>` to the `port`, `instance` or `router` command. */
export function statsCommand(noun: Command, of: keyof typeof KIND): void {
  const { kind, path, key } = KIND[of];
  outputOptions(
    noun
      .command(`stats <${of}>`)
      .description(
        `show the traffic of a${of === 'instance' ? 'n' : ''} ${of}'s ports (bytes, packets, rates)`,
      ),
  ).action(async (ref: string, flags: Flags) => {
    const session = sessionFromEnvironment();
    const id = await findId(session, kind, ref);
    const body = await session.get<Record<string, PortStats & { ports?: PortStats[] }>>(
      `/neutrino/v1/${path}/${id}/stats`,
    );
    const stats = body[key];
    const rows = stats.ports
      ? [...stats.ports.map((p) => row(p)), row({ ...stats, host: null }, 'total')]
      : [row(stats)];
    print(formatList(HEADERS, rows, flags));
  });
}
