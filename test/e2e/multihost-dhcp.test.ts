/**
 * `dhcp_agents_per_network = 2` on `neutrino lab` (root): three hosts, host1 and host2 network+
 * compute, host3 compute. A vxlan network gets a dnsmasq on each network host, each with a DHCP
 * port of its own (its own address, bound to its host), both offered as DNS servers; an instance
 * on host3 gets its lease across the tunnels, and when one of the two DHCP hosts is cut off its
 * DHCP requests are still answered at once by the other: nothing waits for a failover.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { runInHostNamespace, runOnHost } from '../../src/linux/lab-host.js';
import { hostLinks, type Lab, labUp } from '../helpers/lab.js';
import { until } from '../helpers/until.js';

const isRoot = process.getuid?.() === 0;

interface Port {
  fixed_ips: { ip_address: string }[];
  'binding:host_id': string;
}

describe('multi-host: two DHCP servers per network', { skip: !isRoot && 'needs root' }, () => {
  let lab: Lab | undefined;
  let netId = '';
  let vmId = '';

  const dhcpAnswered = async () =>
    (
      await runInHostNamespace(
        lab!.host('host3'),
        `inst-${vmId}`,
        'busybox',
        ['udhcpc', '-i', 'eth0', '-n', '-q', '-t', '3', '-T', '1', '-s', '/bin/true'],
        { allowFail: true, timeoutMs: 10_000 },
      )
    ).code === 0;

  before(async () => {
    lab = await labUp(['--hosts', '3', '--network-hosts', '2', '--setting', 'dhcp_agents_per_network=2']);
    const api = lab.session;
    const { network } = await api.post<{ network: { id: string } }>('/v2.0/networks', {
      network: { name: 'two-dhcp', 'provider:network_type': 'vxlan' },
    });
    netId = network.id;
    await api.post('/v2.0/subnets', { subnet: { network_id: netId, ip_version: 4, cidr: '10.98.0.0/24' } });
    const { instance } = await api.post<{ instance: { id: string } }>('/neutrino/v1/instances', {
      instance: { name: 'dhcp-vm', host: 'host3', networks: [{ network_id: netId }] },
    });
    vmId = instance.id;
    await until(
      'the instance ACTIVE',
      async () => {
        const { instance: now } = await api.get<{ instance: { status: string } }>(
          `/neutrino/v1/instances/${vmId}`,
        );
        assert.notEqual(now.status, 'ERROR', JSON.stringify(now));
        return now.status === 'ACTIVE';
      },
      60_000,
    );
  });

  after(async () => {
    await lab?.down();
  });

  it('runs a dnsmasq with a port of its own on each network host', async () => {
    const api = lab!.session;
    const { agents } = await api.get<{ agents: { host: string }[] }>(`/v2.0/networks/${netId}/dhcp-agents`);
    assert.deepEqual(agents.map((a) => a.host).sort(), ['host1', 'host2']);
    const { ports } = await api.get<{ ports: Port[] }>(
      `/v2.0/ports?network_id=${netId}&device_owner=network:dhcp`,
    );
    assert.deepEqual(ports.map((p) => p['binding:host_id']).sort(), ['host1', 'host2']);
    const addresses = ports.map((p) => p.fixed_ips[0].ip_address);
    assert.equal(new Set(addresses).size, 2, 'two addresses');
    for (const name of ['host1', 'host2']) {
      const pids = await until(`dnsmasq on ${name}`, async () => {
        const r = await runOnHost(lab!.host(name), 'ip', ['netns', 'pids', `qdhcp-${netId}`], {
          allowFail: true,
        });
        return r.stdout.trim() || undefined;
      });
      assert.ok(pids.length > 0);
    }
    // Each offer names both as DNS servers (a udhcpc script of the test's own prints them).
    const script = join(lab!.stateDir, 'print-dns.sh');
    writeFileSync(script, '#!/bin/sh\n[ "$1" = bound ] && echo "dns=$dns"\nexit 0\n', { mode: 0o755 });
    // A dnsmasq started before the other host's DHCP port existed names it once its agent has
    // reloaded it with the new snapshot: ask again until that has happened.
    const want = JSON.stringify([...addresses].sort());
    let last = '';
    await until(
      'an offer naming both DHCP servers',
      async () => {
        const bound = await runInHostNamespace(lab!.host('host3'), `inst-${vmId}`, 'busybox', [
          'udhcpc',
          ...['-i', 'eth0', '-n', '-q', '-t', '3', '-T', '1', '-s', script],
        ]);
        last = bound.stdout;
        const dns = /dns=(.*)/.exec(bound.stdout)?.[1].trim().split(/\s+/).sort();
        return JSON.stringify(dns) === want;
      },
      30_000,
      500,
    ).catch((err: unknown) => assert.fail(`${String(err)}\n${last}`));
    assert.ok(await dhcpAnswered());
  });

  it('keeps answering DHCP when one of the two hosts is cut off, without a failover', async () => {
    await hostLinks(lab!.state, lab!.host('host1'), 'down');
    try {
      assert.ok(await dhcpAnswered(), 'answered by host2');
      const { agents } = await lab!.session.get<{ agents: { host: string }[] }>(
        `/v2.0/networks/${netId}/dhcp-agents`,
      );
      assert.ok(
        agents.some((a) => a.host === 'host1'),
        'still scheduled on host1: nothing was moved',
      );
    } finally {
      await hostLinks(lab!.state, lab!.host('host1'), 'up');
    }
  });
});
