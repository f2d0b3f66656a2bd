/**
 * `neutrino check` and `trace --probe` across hosts, from a clouds.yaml only (no state dir): on a
 * two-host lab, vm-a and vm-closed (a security group without ingress rules) on host1, vm-b on
 * host2, one VXLAN network. Each host's own agent, asked through the API, reads its drift and sends
 * the probes from its namespaces: `check` finds every host clean and reality agreeing with the
 * model; `trace --probe` from vm-b reaches vm-a by ping and by TCP (the listener started by host1's
 * agent) and does not reach vm-closed, as the model says (the drop by its security group); a tap
 * device deleted by hand on host1 is then reported missing on host1 and on host1 only. The agents'
 * periodic resync is long, so that the drift made by hand is still there when read.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ipBatch } from '../../src/linux/ip.js';
import { type Lab, labCli, labUp } from '../helpers/lab.js';
import { until } from '../helpers/until.js';

const isRoot = process.getuid?.() === 0;
const INSTANCES = '/neutrino/v1/instances';

interface Instance {
  id: string;
  name: string;
  status: string;
  host: string | null;
  ports: { id: string; fixed_ips: { ip_address: string }[] }[];
}

interface CheckJson {
  endpoints: string[];
  results: {
    from: string;
    to: string;
    protocol: string;
    probe: string;
    model: string;
    agrees: boolean | null;
  }[];
  mismatches: number;
  hosts: { host: string; findings: string[]; error?: string }[];
}

describe('check and trace --probe by the hosts’ agents, on a two-host lab', {
  skip: !isRoot && 'needs root',
}, () => {
  let lab: Lab | undefined;
  let vmA: Instance;
  let vmB: Instance;

  const cli = (...args: string[]) => labCli(lab!.stateDir, ...args);

  before(async () => {
    lab = await labUp(['--hosts', '2', '--network-hosts', '1', '--resync-interval', '3600']);
    const { session } = lab;
    const { network } = await session.post<{ network: { id: string } }>('/v2.0/networks', {
      network: { name: 'diag', 'provider:network_type': 'vxlan' },
    });
    await session.post('/v2.0/subnets', {
      subnet: { network_id: network.id, ip_version: 4, cidr: '10.93.0.0/24' },
    });
    await session.post('/v2.0/security-groups', {
      security_group: { name: 'closed', description: 'no ingress at all' },
    });
    const instance = async (name: string, host: string, groups?: string[]): Promise<Instance> => {
      const { instance } = await session.post<{ instance: Instance }>(INSTANCES, {
        instance: {
          name,
          host,
          networks: [{ network_id: network.id }],
          ...(groups ? { security_groups: groups } : {}),
        },
      });
      return until(
        `${name} ACTIVE`,
        async () => {
          const { instance: now } = await session.get<{ instance: Instance }>(`${INSTANCES}/${instance.id}`);
          assert.notEqual(now.status, 'ERROR', JSON.stringify(now));
          return now.status === 'ACTIVE' ? now : undefined;
        },
        60_000,
      );
    };
    vmA = await instance('vm-a', 'host1');
    await instance('vm-closed', 'host1', ['closed']);
    vmB = await instance('vm-b', 'host2');
    assert.equal(vmB.host, 'host2');
  });

  after(async () => {
    await lab?.down();
  });

  it('check: every host clean, every probe agreeing with the model, sent by the source’s agent', async () => {
    const r = await cli('check', '-f', 'json');
    assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
    const body = JSON.parse(r.stdout) as CheckJson;
    assert.deepEqual(
      body.hosts.map((h) => [h.host, h.findings, h.error]),
      [
        ['host1', [], undefined],
        ['host2', [], undefined],
      ],
    );
    assert.equal(body.mismatches, 0);
    const cell = (from: string, to: string) =>
      body.results.find((x) => x.from === from && x.to === to && x.protocol === 'icmp')!;
    assert.deepEqual(
      [cell('vm-b', 'vm-a').model, cell('vm-b', 'vm-a').probe],
      ['allowed', 'reached'],
      'across hosts',
    );
    assert.deepEqual(
      [cell('vm-a', 'vm-b').probe, cell('vm-a', 'vm-closed').probe],
      ['reached', 'not reached'],
    );
    assert.deepEqual(
      [cell('vm-b', 'vm-closed').model, cell('vm-b', 'vm-closed').probe],
      ['denied', 'not reached'],
    );
    assert.ok(
      body.results.every((x) => x.agrees === true),
      JSON.stringify(body.results),
    );
  });

  it('trace --probe from host2: vm-a reached by ping and by TCP, vm-closed dropped as the model says', async () => {
    const ping = await cli('trace', 'vm-b', 'vm-a', '--probe');
    assert.equal(ping.code, 0, `${ping.stdout}\n${ping.stderr}`);
    assert.match(ping.stdout, /probe: reached from host host2 — reality agrees with the model/);
    assert.match(ping.stdout, /no kernel drift on this path \(hosts host2, host1\)/);

    const tcp = await cli('trace', 'vm-b', 'vm-a', '--port', '8080', '--probe', '-f', 'json');
    assert.equal(tcp.code, 0, `${tcp.stdout}\n${tcp.stderr}`);
    const { verdict, probe } = JSON.parse(tcp.stdout);
    assert.equal(verdict, 'allowed');
    assert.deepEqual([probe.reached, probe.agrees, probe.drift], [true, true, []]);

    const closed = await cli('trace', 'vm-b', 'vm-closed', '--probe');
    assert.equal(closed.code, 2, `${closed.stdout}\n${closed.stderr}`);
    assert.match(closed.stdout, /verdict: denied — .*security group/i);
    assert.match(closed.stdout, /probe: not reached from host host2 — reality agrees with the model/);
  });

  it('a tap device deleted on host1 is reported missing on host1 only', async () => {
    const tap = `tap${vmA.ports[0].id.slice(0, 11)}`;
    await ipBatch([['link', 'del', tap]], { netns: lab!.host('host1').netns });
    const r = await cli('check', '-f', 'json');
    assert.equal(r.code, 2, `${r.stdout}\n${r.stderr}`);
    const body = JSON.parse(r.stdout) as CheckJson;
    const host1 = body.hosts.find((h) => h.host === 'host1')!;
    const host2 = body.hosts.find((h) => h.host === 'host2')!;
    assert.ok(
      host1.findings.some((f) => f.includes(`tap device ${tap} is missing on host host1`)),
      JSON.stringify(host1),
    );
    assert.deepEqual(host2.findings, []);
    assert.ok(body.mismatches > 0, 'vm-a no longer answers though the model says it would');

    const text = await cli('check', '--host', 'host1');
    assert.equal(text.code, 2, text.stderr);
    assert.match(
      text.stdout,
      new RegExp(`host host1: \\d+ kernel drift finding\\(s\\):\\n(.*\\n)*  - .*${tap} is missing`),
    );
    assert.doesNotMatch(text.stdout, /host host2/);

    const unknown = await cli('check', '--host', 'host9');
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /Host host9 could not be found/);
    assert.equal(unknown.stderr.trim().split('\n').length, 1, unknown.stderr);
  });
});
