/**
 * `neutrino lab`'s plan, pure: the underlay ranges avoid every range the host routes or holds, the
 * names carry the state dir's tag (parallel labs never meet) and fit the kernel's limits, and roles
 * go to the first M hosts.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { chooseRanges, planLab } from '../../src/cli/lab.js';

describe('lab plan', () => {
  it('chooses two unused /24s in 100.64.0.0/10, skipping routed and held ranges', () => {
    const none = { routes: [], links: [] };
    assert.deepEqual(chooseRanges(none, 0), { management: '100.64.0.0/24', tunnel: '100.64.1.0/24' });
    const used = {
      routes: [
        { dst: 'default', gateway: '192.0.2.1', dev: 'eth0' },
        { dst: '100.64.0.0/23', dev: 'eth1' },
        { dst: '10.0.0.0/8', dev: 'eth1' },
      ],
      links: [{ ifname: 'eth2', addr_info: [{ local: '100.64.2.7', prefixlen: 24 }] }],
    };
    assert.deepEqual(chooseRanges(used, 0), { management: '100.64.3.0/24', tunnel: '100.64.4.0/24' });
    assert.deepEqual(chooseRanges(none, 2 ** 14 - 1), {
      management: '100.127.255.0/24',
      tunnel: '100.64.0.0/24',
    });
    const full = { routes: [{ dst: '100.0.0.0/8', dev: 'eth1' }], links: [] };
    assert.throws(() => chooseRanges(full, 5), /no two \/24s/);
  });

  it('names and addresses every host, network hosts first', () => {
    const lab = planLab('/tmp/lab-a', { management: '100.70.1.0/24', tunnel: '100.70.2.0/24' }, 3, 1);
    assert.equal(lab.management.gateway, '100.70.1.1');
    assert.deepEqual(
      lab.hosts.map((h) => [h.name, h.roles.join('+'), h.managementIp, h.tunnelIp]),
      [
        ['host1', 'compute+network', '100.70.1.11', '100.70.2.11'],
        ['host2', 'compute', '100.70.1.12', '100.70.2.12'],
        ['host3', 'compute', '100.70.1.13', '100.70.2.13'],
      ],
    );
    assert.ok(lab.rootLink.length <= 15);
    assert.ok(lab.hosts.every((h) => h.netns.startsWith(`neutrino-lab-${lab.tag}-`)));
    const other = planLab('/tmp/lab-b', { management: '100.70.1.0/24', tunnel: '100.70.2.0/24' }, 3, 1);
    assert.notEqual(other.tag, lab.tag);
    assert.equal(new Set(lab.hosts.map((h) => h.tunnelMac)).size, 3);
  });
});
