/**
 * Traffic counters end to end (real kernel): two instances of a `neutrino up` exchange a known
 * number of pings; within a report interval the server's stats of the sender's port, instance and
 * the CLI's `port stats` show what the kernel counts on its tap (`ip -s link`), read the owner's
 * way round (tx: what the instance sent).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { runInNamespace } from '../../src/linux/exec.js';
import { ipJson } from '../../src/linux/ip.js';
import { activeInstance } from '../helpers/lab.js';
import { NeutrinoUp } from '../helpers/neutrino-up.js';
import { until } from '../helpers/until.js';

const isRoot = process.getuid?.() === 0;
const INSTANCES = '/neutrino/v1/instances';

interface Instance {
  id: string;
  status: string;
  ports: { id: string; fixed_ips: { ip_address: string }[] }[];
}

interface Stats {
  host: string | null;
  rx_bytes: number;
  rx_packets: number;
  tx_bytes: number;
  tx_packets: number;
}

describe('traffic counters (real kernel)', { skip: !isRoot && 'needs root' }, () => {
  const up = new NeutrinoUp();
  let a: Instance;
  let b: Instance;

  before(async () => {
    await up.start();
    const api = up.session;
    const { network } = await api.post<{ network: { id: string } }>('/v2.0/networks', {
      network: { name: 'traffic' },
    });
    await api.post('/v2.0/subnets', {
      subnet: { network_id: network.id, ip_version: 4, cidr: '10.63.0.0/24' },
    });
    [a, b] = await Promise.all(
      ['tr-a', 'tr-b'].map((name) =>
        activeInstance<Instance>(api, { name, networks: [{ network_id: network.id }] }),
      ),
    );
  });
  after(() => up.cleanup());

  it("reports each port's counters as the kernel counts them, the owner's way round", async () => {
    const port = a.ports[0].id;
    const tap = `tap${port.slice(0, 11)}`;
    await runInNamespace(`inst-${a.id}`, 'ping', [
      ...['-c', '20', '-i', '0.05', '-s', '1000', '-W', '1'],
      b.ports[0].fixed_ips[0].ip_address,
    ]);
    const kernel = async () => {
      const [link] = await ipJson<{ stats64: { rx: { bytes: number; packets: number } } }[]>([
        '-s',
        'link',
        'show',
        'dev',
        tap,
      ]);
      return link.stats64.rx;
    };
    const sent = await kernel();
    assert.ok(
      sent.packets >= 20 && sent.bytes >= 20 * 1028,
      `the tap received the pings: ${JSON.stringify(sent)}`,
    );
    // Within a report interval (5 s) the server has what the kernel had after the pings, or more
    // (ARP, IPv6 neighbour discovery may add a few packets).
    const stats = await until(
      'port stats caught up',
      async () => {
        const { port_stats } = await up.session.get<{ port_stats: Stats }>(
          `/neutrino/v1/ports/${port}/stats`,
        );
        return port_stats.tx_packets >= sent.packets ? port_stats : undefined;
      },
      15_000,
    );
    const now = await kernel();
    assert.ok(stats.tx_bytes >= sent.bytes && stats.tx_bytes <= now.bytes, `tx_bytes ${stats.tx_bytes}`);
    assert.ok(stats.tx_packets <= now.packets);
    assert.ok(stats.rx_packets >= 20, 'and what it received: the replies');
    assert.equal(stats.host, up.host);

    const { instance_stats } = await up.session.get<{ instance_stats: Stats & { ports: Stats[] } }>(
      `${INSTANCES}/${a.id}/stats`,
    );
    assert.equal(instance_stats.ports.length, 1);
    assert.ok(instance_stats.tx_bytes >= stats.tx_bytes);

    const cli = await up.cli(['port', 'stats', port, '-f', 'json']);
    assert.equal(cli.code, 0, cli.stderr);
    const [row] = JSON.parse(cli.stdout) as Record<string, unknown>[];
    assert.ok(Number(row['TX Packets']) >= sent.packets, cli.stdout);
  });
});
