/**
 * VLAN networks through a real `neutrino up` (root): whether they are allowed follows the kernel's
 * real 802.1Q support (8021q, probed at start and reported in the agent's heartbeat). Without it the
 * API refuses them, naming 8021q. With it, a vlan network on a mapped interface gets the device
 * `<interface>.<vid>` on the network's bridge, and an instance reaches a host that sees the same
 * VLAN tagged on the other end of the wire (a namespace of this test's own).
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { ApiError } from '../../src/client/session.js';
import { runInNamespace } from '../../src/linux/exec.js';
import { addNamespace, deleteNamespace, ipBatch, ipJson } from '../../src/linux/ip.js';
import { has8021q } from '../../src/linux/kernel.js';
import { NeutrinoUp } from '../helpers/neutrino-up.js';

const isRoot = process.getuid?.() === 0;
const vlanKernel = isRoot && (await has8021q());
const VID = 100;

interface Instance {
  id: string;
  status: string;
  ports: { fixed_ips: { ip_address: string }[] }[];
}

describe('vlan networks through neutrino up (real kernel)', { skip: !isRoot && 'needs root' }, () => {
  const suffix = randomBytes(3).toString('hex');
  /** The host end of the "physical" wire the physnet is mapped to, and the far end's namespace. */
  const wire = `tapv${suffix}`;
  const far = `neutrino-vlan${suffix}`;
  let up: NeutrinoUp;

  before(async () => {
    if (vlanKernel) {
      await addNamespace(far);
      await ipBatch([
        ['link', 'add', wire, 'type', 'veth', 'peer', 'name', 'wire', 'netns', far],
        ['link', 'set', wire, 'addrgenmode', 'none'],
        ['link', 'set', wire, 'up'],
      ]);
      await ipBatch(
        [
          ['link', 'set', 'wire', 'up'],
          ['link', 'add', 'link', 'wire', 'name', `wire.${VID}`, 'type', 'vlan', 'id', String(VID)],
          ['addr', 'add', '10.60.0.250/24', 'dev', `wire.${VID}`],
          ['link', 'set', `wire.${VID}`, 'up'],
        ],
        { netns: far },
      );
    }
    up = new NeutrinoUp({ physicalInterfaceMappings: { physnet1: wire } });
    await up.start();
  });

  after(async () => {
    await up?.cleanup();
    if (vlanKernel) {
      await ipBatch([['link', 'del', wire]]).catch(() => undefined);
      await deleteNamespace(far);
    }
  });

  it("reports the kernel's 802.1Q support in the Linux bridge agent's heartbeat", async () => {
    let reported: unknown;
    for (let i = 0; i < 50 && reported === undefined; i++) {
      const { agents } = await up.session.get<{
        agents: { agent_type: string; configurations: Record<string, unknown> }[];
      }>(`/v2.0/agents?host=${up.host}`);
      reported = agents.find((a) => a.agent_type === 'Linux bridge agent')?.configurations.vlan_capable;
      if (reported === undefined) await sleep(100);
    }
    assert.equal(reported, vlanKernel);
  });

  it('refuses vlan networks, naming the missing 8021q support', {
    skip: vlanKernel && 'this kernel has 8021q',
  }, async (t) => {
    const { networks } = await up.session.get<{ networks: unknown[] }>('/v2.0/networks');
    await assert.rejects(
      up.session.post('/v2.0/networks', {
        network: { name: 'v', 'provider:network_type': 'vlan', 'provider:physical_network': 'physnet1' },
      }),
      (err: unknown) => {
        assert.ok(err instanceof ApiError, String(err));
        assert.equal(err.status, 400);
        assert.match(err.message, /802\.1Q/);
        assert.match(err.message, /8021q/);
        t.diagnostic(err.message);
        return true;
      },
    );
    const after = await up.session.get<{ networks: unknown[] }>('/v2.0/networks');
    assert.equal(after.networks.length, networks.length, 'nothing created');
  });

  it('builds <interface>.<vid> on the bridge; an instance reaches the far end of the VLAN', {
    skip: !vlanKernel && 'this kernel has no 8021q: vlan networks cannot be built here',
  }, async () => {
    const { network } = await up.session.post<{ network: { id: string } }>('/v2.0/networks', {
      network: {
        name: 'v100',
        'provider:network_type': 'vlan',
        'provider:physical_network': 'physnet1',
        'provider:segmentation_id': VID,
      },
    });
    await up.session.post('/v2.0/subnets', {
      subnet: {
        network_id: network.id,
        ip_version: 4,
        cidr: '10.60.0.0/24',
        allocation_pools: [{ start: '10.60.0.10', end: '10.60.0.100' }],
      },
    });
    const { instance } = await up.session.post<{ instance: Instance }>('/neutrino/v1/instances', {
      instance: { name: 'on-vlan', networks: [{ network_id: network.id }] },
    });
    for (let i = 0; i < 300; i++) {
      const now = await up.session.get<{ instance: Instance }>(`/neutrino/v1/instances/${instance.id}`);
      if (now.instance.status === 'ACTIVE') break;
      assert.notEqual(now.instance.status, 'ERROR');
      await sleep(100);
    }
    const [device] = await ipJson<
      { master?: string; link?: string; linkinfo?: { info_kind?: string; info_data?: { id?: number } } }[]
    >(['-d', 'link', 'show', `${wire}.${VID}`]);
    assert.equal(device.linkinfo?.info_kind, 'vlan');
    assert.equal(device.linkinfo?.info_data?.id, VID);
    assert.equal(device.link, wire);
    assert.equal(device.master, `brq${network.id.slice(0, 11)}`);
    const { code } = await runInNamespace(
      `inst-${instance.id}`,
      'ping',
      ['-c', '1', '-W', '2', '10.60.0.250'],
      {
        allowFail: true,
      },
    );
    assert.equal(code, 0, 'the instance reaches the far end through VLAN 100');
  });
});
