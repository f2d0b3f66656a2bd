/**
 * `neutrino up --tunnel-ip` (root): the all-in-one host as the first of several, its agent with a
 * tunnel endpoint as `neutrino agent --tunnel-ip` has. On loopback here (an address of every host,
 * so nothing leaves it): the agent reports it as Neutron does, and a vxlan network's device is
 * bound to it. An address the host does not hold is refused in one line before anything starts.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { ipJson } from '../../src/linux/ip.js';
import { NeutrinoUp } from '../helpers/neutrino-up.js';
import { until } from '../helpers/until.js';

const isRoot = process.getuid?.() === 0;

describe('neutrino up --tunnel-ip', { skip: !isRoot && 'needs root' }, () => {
  const up = new NeutrinoUp({ args: ['--tunnel-ip', '127.0.0.1'] });
  before(() => up.start());
  after(() => up.cleanup());

  it('reports the tunnel endpoint and binds vxlan devices to it', async () => {
    const agent = await until('the L2 agent', async () => {
      const { agents } = await up.session.get<{
        agents: { agent_type: string; host: string; configurations: Record<string, unknown> }[];
      }>(`/v2.0/agents?host=${up.host}`);
      return agents.find((a) => a.agent_type === 'Linux bridge agent');
    });
    assert.equal(agent.configurations.tunneling_ip, '127.0.0.1');
    assert.deepEqual(agent.configurations.tunnel_types, ['vxlan']);
    assert.equal(agent.configurations.l2_population, true);

    const { network } = await up.session.post<{
      network: { id: string; 'provider:segmentation_id': number };
    }>(`/v2.0/networks`, { network: { name: 'tun', 'provider:network_type': 'vxlan' } });
    await up.session.post(`/v2.0/subnets`, {
      subnet: { network_id: network.id, ip_version: 4, cidr: '10.61.0.0/24' },
    });
    const device = `vxlan-${network['provider:segmentation_id']}`;
    const [link] = await until('the vxlan device', async () =>
      existsSync(`/sys/class/net/${device}`)
        ? ipJson<{ linkinfo: { info_data: { local?: string } } }[]>(['-d', 'link', 'show', 'dev', device])
        : undefined,
    );
    assert.equal(link.linkinfo.info_data.local, '127.0.0.1');
  });

  it('refuses an address that is not the host’s, in one line, before starting anything', async () => {
    const other = new NeutrinoUp({ args: ['--tunnel-ip', '198.51.100.250'] });
    try {
      await assert.rejects(other.start(), /exited during start/);
      const lines = other.output().trim().split('\n');
      assert.deepEqual(lines, [
        'neutrino: --tunnel-ip 198.51.100.250 is not an address of this host (see ip addr)',
      ]);
      assert.ok(!existsSync(`${other.stateDir}/neutrino.pid`), 'no pid file');
    } finally {
      await other.cleanup();
    }
  });
});
