/**
 * Port mirroring (Tap-as-a-Service) through a real `neutrino up` (root, real packets): two
 * instances ping each other while a third, the monitoring instance (its port without port
 * security, as TaaS's guides make it), listens with tcpdump. A tap flow on the first instance's
 * port copies what it sends (OUT) and receives (IN) to the monitoring instance — both the echo
 * requests and the replies, which are not addressed to it — even when the monitoring port's
 * security groups allow nothing in, since the copies never cross the bridge; an `OUT` flow copies
 * the requests only; a table deleted behind the agent's back is loaded again; with the flow
 * deleted nothing arrives there; `neutrino down` leaves no mirroring table.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ownerTag } from '../../src/agent/state/host-state.js';
import { runInNamespace } from '../../src/linux/exec.js';
import { nftApply, nftListTable } from '../../src/linux/nft.js';
import { NeutrinoUp } from '../helpers/neutrino-up.js';
import { until } from '../helpers/until.js';

const isRoot = process.getuid?.() === 0;
const INSTANCES = '/neutrino/v1/instances';

interface Instance {
  id: string;
  status: string;
  ports: { id: string; fixed_ips: { ip_address: string }[] }[];
}

describe('port mirroring with tap flows (real kernel)', { skip: !isRoot && 'needs root' }, () => {
  const up = new NeutrinoUp({ resyncIntervalS: 2 });
  let a: Instance;
  let b: Instance;
  let monitor: Instance;
  let serviceId: string;
  let monitorPortId: string;
  const table = () => `neutrino-taas-${ownerTag(up.agentDir)}`;
  const mirroring = () => nftListTable('netdev', table());

  /** ICMP echo lines between a and b that the monitoring instance sees while a pings b `count` times. */
  const capture = async (count: number) => {
    const [ipA, ipB] = [a.ports[0].fixed_ips[0].ip_address, b.ports[0].fixed_ips[0].ip_address];
    const filter = ['icmp', 'and', 'host', ipA, 'and', 'host', ipB];
    const dump = runInNamespace(
      `inst-${monitor.id}`,
      'timeout',
      ['4', 'tcpdump', '-l', '-n', '-p', '-i', 'any', ...filter],
      { allowFail: true, timeoutMs: 10_000 },
    );
    await new Promise((r) => setTimeout(r, 1000)); // tcpdump is listening
    await runInNamespace(`inst-${a.id}`, 'ping', ['-c', String(count), '-i', '0.2', '-W', '1', ipB]);
    const { stdout } = await dump;
    const lines = stdout.split('\n').filter((l) => l.includes('ICMP echo'));
    return {
      requests: lines.filter((l) => l.includes(`${ipA} > ${ipB}: ICMP echo request`)).length,
      replies: lines.filter((l) => l.includes(`${ipB} > ${ipA}: ICMP echo reply`)).length,
    };
  };
  const flow = async (direction: string) => {
    const { tap_flow } = await up.session.post<{ tap_flow: { id: string } }>('/v2.0/taas/tap_flows', {
      tap_flow: { tap_service_id: serviceId, source_port: a.ports[0].id, direction },
    });
    return tap_flow.id;
  };

  before(async () => {
    await up.start();
    const api = up.session;
    const { network } = await api.post<{ network: { id: string } }>('/v2.0/networks', {
      network: { name: 'taas' },
    });
    await api.post('/v2.0/subnets', {
      subnet: { network_id: network.id, ip_version: 4, cidr: '10.64.0.0/24' },
    });
    const { port } = await api.post<{ port: { id: string } }>('/v2.0/ports', {
      port: { network_id: network.id, port_security_enabled: false, name: 'monitor' },
    });
    const create = async (name: string, nic: Record<string, string>) =>
      (await api.post<{ instance: Instance }>(INSTANCES, { instance: { name, networks: [nic] } })).instance
        .id;
    const ids = [
      await create('taas-a', { network_id: network.id }),
      await create('taas-b', { network_id: network.id }),
      await create('taas-monitor', { port_id: port.id }),
    ];
    [a, b, monitor] = await Promise.all(
      ids.map((id) =>
        until(
          `instance ${id} ACTIVE`,
          async () => {
            const { instance } = await api.get<{ instance: Instance }>(`${INSTANCES}/${id}`);
            return instance.status === 'ACTIVE' ? instance : undefined;
          },
          60_000,
        ),
      ),
    );
    const { tap_service } = await api.post<{ tap_service: { id: string } }>('/v2.0/taas/tap_services', {
      tap_service: { name: 'monitor', port_id: port.id },
    });
    serviceId = tap_service.id;
    monitorPortId = port.id;
  });
  after(async () => {
    await up.cleanup();
    assert.equal(await mirroring(), undefined, 'neutrino down leaves no mirroring table');
  });

  it('copies what a port sends and receives to the monitoring instance, and stops with the flow', async () => {
    assert.deepEqual(await capture(3), { requests: 0, replies: 0 }, 'nothing is mirrored yet');
    const id = await flow('BOTH');
    const listing = await until('the mirroring table', mirroring, 20_000);
    const tap = `tap${a.ports[0].id.slice(0, 11)}`;
    assert.match(listing, new RegExp(`hook ingress device "${tap}"`));
    assert.match(listing, new RegExp(`hook egress device "${tap}"`));
    // Deleted behind the agent's back, the table is back after its next verification.
    await nftApply(`delete table netdev ${table()}`);
    await until('the mirroring table back', mirroring, 30_000);
    assert.deepEqual(await capture(3), { requests: 3, replies: 3 });
    await up.session.delete(`/v2.0/taas/tap_flows/${id}`);
    await until(
      'the mirroring table gone',
      async () => ((await mirroring()) === undefined ? true : undefined),
      20_000,
    );
    assert.deepEqual(await capture(3), { requests: 0, replies: 0 }, 'no copies once the flow is gone');
  });

  it('reaches a monitoring port whose security groups allow nothing: the copies do not cross the bridge', async () => {
    const monitorPort = monitorPortId;
    await up.session.put(`/v2.0/ports/${monitorPort}`, {
      port: { port_security_enabled: true, security_groups: [] },
    });
    const table = await until(
      'the monitoring port filtered',
      async () => {
        const listing = await nftListTable('bridge', `neutrino-sg-${ownerTag(up.agentDir)}`);
        return listing?.includes(`chain to-${monitorPort}`) ? listing : undefined;
      },
      20_000,
    );
    assert.ok(table);
    const id = await flow('BOTH');
    await until('the mirroring table', mirroring, 20_000);
    assert.deepEqual(await capture(3), { requests: 3, replies: 3 });
    await up.session.delete(`/v2.0/taas/tap_flows/${id}`);
    await until(
      'the mirroring table gone',
      async () => ((await mirroring()) === undefined ? true : undefined),
      20_000,
    );
  });

  it('neutrino tap service / tap flow: list, create, show, delete', async () => {
    const services = await up.cli(['tap', 'service', 'list', '-f', 'json']);
    assert.equal(services.code, 0, services.stderr);
    assert.deepEqual(
      JSON.parse(services.stdout).map((r: { ID: string }) => r.ID),
      [serviceId],
    );
    const created = await up.cli([
      ...['tap', 'flow', 'create', '--port', a.ports[0].id, '--tap-service', 'monitor'],
      ...['--direction', 'in', '-f', 'json', 'cli-flow'],
    ]);
    assert.equal(created.code, 0, created.stderr);
    const flowRow = JSON.parse(created.stdout) as { id: string; direction: string; source_port: string };
    assert.equal(flowRow.direction, 'IN');
    assert.equal(flowRow.source_port, a.ports[0].id);
    const shown = await up.cli(['tap', 'flow', 'show', 'cli-flow', '-f', 'json']);
    assert.equal(JSON.parse(shown.stdout).id, flowRow.id);
    const deleted = await up.cli(['tap', 'flow', 'delete', 'cli-flow']);
    assert.equal(deleted.code, 0, deleted.stderr);
    const flows = await up.cli(['tap', 'flow', 'list', '-f', 'json']);
    assert.deepEqual(JSON.parse(flows.stdout), []);
  });

  it('copies only what the instance sends for direction OUT', async () => {
    const id = await flow('OUT');
    // The previous test's flow (both ways) may still be loaded: wait for the ingress hook alone.
    await until(
      'the mirroring table with the ingress hook only',
      async () => {
        const listing = await mirroring();
        return listing?.includes('hook ingress') && !listing.includes('hook egress') ? true : undefined;
      },
      20_000,
    );
    assert.deepEqual(await capture(3), { requests: 3, replies: 0 });
    await up.session.delete(`/v2.0/taas/tap_flows/${id}`);
  });
});
