/**
 * Metering through a real `neutrino up` (root, real packets): a label with an egress rule for the
 * external prefix 198.51.100.0/24 and an excluded rule for one address in it counts exactly the
 * IP bytes an instance sends through the router to that prefix (pings of a known size: 1028-byte
 * IP packets), not those to the excluded address; the router's counter keeps its count when the
 * label's rules change (the table is changed in place), the server's stats show the same
 * totals within a report interval, and keep growing when the router's counters start again from
 * zero (the table deleted behind the agent's back and loaded again).
 *
 * The external network is a bridge of the test's own (`Outside`), mapped as physnet `public`:
 * no address or packet reaches the host's root namespace.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { runInNamespace } from '../../src/linux/exec.js';
import { ipBatch } from '../../src/linux/ip.js';
import { nftApply, nftJson, nftListTable } from '../../src/linux/nft.js';
import { activeInstance } from '../helpers/lab.js';
import { NeutrinoUp } from '../helpers/neutrino-up.js';
import { Outside } from '../helpers/outside.js';
import { until } from '../helpers/until.js';

const isRoot = process.getuid?.() === 0;
const OUTSIDE_IP = '198.51.100.254';
const EXCLUDED_IP = '198.51.100.7';

interface Instance {
  id: string;
  status: string;
  fault?: unknown;
}

interface Stats {
  bytes: number;
  packets: number;
  routers: { router_id: string; bytes: number; packets: number }[];
}

describe('metering labels count at the router gateway (real kernel)', {
  skip: !isRoot && 'needs root',
}, () => {
  const outside = new Outside(`${OUTSIDE_IP}/24`);
  const up = new NeutrinoUp({ resyncIntervalS: 2, physicalInterfaceMappings: { public: outside.bridge } });
  let routerId: string;
  let vm: Instance;
  let labelId: string;

  const netns = () => `qrouter-${routerId}`;
  /** The label's counter in the router namespace, as nft counts it. */
  const counter = async () => {
    const entries = await nftJson(['list', 'counters', 'table', 'inet', 'neutrino-metering'], {
      netns: netns(),
    });
    const found = entries.find((e) => (e.counter as { name?: string } | undefined)?.name === `l-${labelId}`);
    return found ? (found.counter as { bytes: number; packets: number }) : undefined;
  };
  const ping = (ip: string, count: number) =>
    runInNamespace(`inst-${vm.id}`, 'ping', ['-c', String(count), '-i', '0.1', '-s', '1000', '-W', '2', ip]);
  const rule = (body: Record<string, unknown>) =>
    up.session.post<{ metering_label_rule: { id: string } }>('/v2.0/metering/metering-label-rules', {
      metering_label_rule: { metering_label_id: labelId, ...body },
    });

  before(async () => {
    await outside.create();
    await ipBatch([['addr', 'add', `${EXCLUDED_IP}/32`, 'dev', 'eth0']], { netns: outside.netns });
    await up.start();
    const api = up.session;
    const ext = { id: await outside.publicNetwork(api) };
    const { network } = await api.post<{ network: { id: string } }>('/v2.0/networks', {
      network: { name: 'metered' },
    });
    const { subnet } = await api.post<{ subnet: { id: string } }>('/v2.0/subnets', {
      subnet: { network_id: network.id, ip_version: 4, cidr: '10.31.1.0/24' },
    });
    const { router } = await api.post<{ router: { id: string } }>('/v2.0/routers', {
      router: { name: 'metered', external_gateway_info: { network_id: ext.id } },
    });
    routerId = router.id;
    await api.put(`/v2.0/routers/${router.id}/add_router_interface`, { subnet_id: subnet.id });
    vm = await activeInstance<Instance>(api, { name: 'metered-vm', networks: [{ network_id: network.id }] });
    await until('the external network reachable', () =>
      ping(OUTSIDE_IP, 1).then(
        () => true,
        () => undefined,
      ),
    );
    const { metering_label } = await api.post<{ metering_label: { id: string } }>(
      '/v2.0/metering/metering-labels',
      { metering_label: { name: 'to-outside' } },
    );
    labelId = metering_label.id;
  });

  after(async () => {
    await up.cleanup();
    await outside.remove();
  });

  it('counts exactly the IP bytes sent to the prefix, not those to the excluded address', async () => {
    await rule({ direction: 'egress', remote_ip_prefix: '198.51.100.0/24' });
    await rule({ direction: 'egress', remote_ip_prefix: `${EXCLUDED_IP}/32`, excluded: true });
    await until('the label counting in the router', async () => {
      const listing = await nftListTable('inet', 'neutrino-metering', { netns: netns() });
      return listing?.includes(`ip daddr ${EXCLUDED_IP} return`) ? true : undefined;
    });
    assert.deepEqual(await counter(), { ...(await counter()), packets: 0, bytes: 0 }, 'nothing counted yet');
    await ping(EXCLUDED_IP, 5);
    await ping(OUTSIDE_IP, 10);
    const counted = await counter();
    assert.equal(counted?.packets, 10, 'the echo requests to the prefix only');
    assert.equal(counted?.bytes, 10 * 1028, '1000 bytes of data + 8 of ICMP + 20 of IP each');

    const stats = await until(
      'the server has the count',
      async () => {
        const { metering_label_stats } = await up.session.get<{ metering_label_stats: Stats }>(
          `/neutrino/v1/metering-labels/${labelId}/stats`,
        );
        return metering_label_stats.packets === 10 ? metering_label_stats : undefined;
      },
      20_000,
    );
    assert.equal(stats.bytes, 10 * 1028);
    assert.deepEqual(
      stats.routers.map((r) => [r.router_id, r.bytes]),
      [[routerId, 10 * 1028]],
    );
    const cli = await up.cli(['meter', 'stats', 'to-outside', '-f', 'json']);
    assert.equal(cli.code, 0, cli.stderr);
    assert.equal(JSON.parse(cli.stdout).bytes, 10 * 1028);
    const rules = await up.cli(['meter', 'rule', 'list', '-f', 'json']);
    assert.equal(JSON.parse(rules.stdout).length, 2);
  });

  it("keeps the count when the label's rules change", async () => {
    await rule({ direction: 'ingress', remote_ip_prefix: '198.51.100.0/24' });
    await until('the ingress rule in the router', async () => {
      const listing = await nftListTable('inet', 'neutrino-metering', { netns: netns() });
      return listing?.includes('iifname') ? true : undefined;
    });
    assert.deepEqual(await counter(), { ...(await counter()), packets: 10, bytes: 10 * 1028 });
    await ping(OUTSIDE_IP, 2);
    // Now the replies count too (ingress from the prefix).
    const now = await counter();
    assert.equal(now?.packets, 14);
    assert.equal(now?.bytes, 14 * 1028);
  });

  it('keeps the totals growing when the counters start again from zero (table rebuilt)', async () => {
    const statsNow = async () =>
      (await up.session.get<{ metering_label_stats: Stats }>(`/neutrino/v1/metering-labels/${labelId}/stats`))
        .metering_label_stats;
    await until(
      'the server has the 14 packets',
      async () => ((await statsNow()).packets === 14 ? true : undefined),
      20_000,
    );
    await nftApply('delete table inet neutrino-metering', { netns: netns() });
    await until(
      'the metering table back',
      async () => ((await counter().catch(() => undefined)) ? true : undefined),
      30_000,
    );
    await ping(OUTSIDE_IP, 2);
    assert.equal((await counter())?.packets, 4, 'a new counter: two requests and two replies');
    const total = await until(
      'the server adds the new count',
      async () => {
        const stats = await statsNow();
        return stats.packets === 18 ? stats : undefined;
      },
      20_000,
    );
    assert.equal(total.bytes, 18 * 1028);
  });
});
