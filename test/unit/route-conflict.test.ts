/** The pure decision whether a range may go on a host bridge (`core/route-conflict.ts`). */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  conflictMessage,
  DOCUMENTATION_RANGES,
  firstFreeRange,
  type HostRouting,
  overlaps,
  routeConflict,
} from '../../src/core/route-conflict.js';

/** This development machine, roughly: an uplink on 192.0.2.0/24 and a default route through it. */
const HOST: HostRouting = {
  routes: [
    { dst: 'default', gateway: '192.0.2.1', dev: 'eth0' },
    { dst: '192.0.2.0/24', dev: 'eth0', protocol: 'kernel' },
    { dst: '192.0.2.2', dev: 'eth0', type: 'local', table: 'local', protocol: 'kernel' },
    { dst: 'fd00::/64', dev: 'eth0', protocol: 'kernel' },
    { dst: 'ff00::/8', dev: 'eth0', type: 'multicast', table: 'local' },
  ],
  links: [
    { ifname: 'lo', addr_info: [{ family: 'inet', local: '127.0.0.1', prefixlen: 8 }] },
    {
      ifname: 'eth0',
      addr_info: [
        { family: 'inet', local: '192.0.2.2', prefixlen: 24 },
        { family: 'inet6', local: 'fd00::2', prefixlen: 64 },
      ],
    },
  ],
};

function withRoute(routing: HostRouting, route: HostRouting['routes'][number]): HostRouting {
  return { ...routing, routes: [...routing.routes, route] };
}

describe('overlaps', () => {
  it('is true when one range holds the other, either way, and false across families', () => {
    assert.equal(overlaps('198.51.100.0/24', '198.51.100.16/28'), true);
    assert.equal(overlaps('198.51.100.16/28', '198.51.100.0/24'), true);
    assert.equal(overlaps('198.51.100.0/24', '198.51.100.7'), true);
    assert.equal(overlaps('198.51.100.0/25', '198.51.100.128/25'), false);
    assert.equal(overlaps('198.51.100.0/24', '203.0.113.0/24'), false);
    assert.equal(overlaps('198.51.100.0/24', 'fd00::/64'), false);
    assert.equal(overlaps('10.0.0.0/8', 'not-an-address'), false);
  });
});

describe('routeConflict', () => {
  it('lets a range the host reaches only by its default route go on a bridge', () => {
    assert.equal(routeConflict(HOST, '198.51.100.0/24'), undefined);
  });

  it("refuses the uplink's own subnet, naming the route as ip shows it", () => {
    assert.deepEqual(routeConflict(HOST, '192.0.2.0/28'), {
      cidr: '192.0.2.0/28',
      kind: 'route',
      what: 'route 192.0.2.0/24 dev eth0 proto kernel',
    });
  });

  it('refuses a range holding a route of the host, and one inside a route of the host', () => {
    const vpn = withRoute(HOST, { dst: '198.51.100.64/26', gateway: '192.0.2.9', dev: 'eth0' });
    assert.equal(
      routeConflict(vpn, '198.51.100.0/24')?.what,
      'route 198.51.100.64/26 via 192.0.2.9 dev eth0',
    );
    const wide = withRoute(HOST, { dst: '198.51.0.0/16', dev: 'tun0', protocol: 'static' });
    assert.equal(routeConflict(wide, '198.51.100.16/28')?.what, 'route 198.51.0.0/16 dev tun0 proto static');
  });

  it('looks in every table, and counts routes without a device (blackhole, unreachable)', () => {
    const policy = withRoute(HOST, { dst: '198.51.100.0/24', dev: 'wg0', table: '51820' });
    assert.equal(routeConflict(policy, '198.51.100.0/24')?.what, 'route 198.51.100.0/24 dev wg0 table 51820');
    const blackhole = withRoute(HOST, { dst: '198.51.100.0/24', type: 'blackhole' });
    assert.equal(routeConflict(blackhole, '198.51.100.0/24')?.what, 'route blackhole 198.51.100.0/24');
  });

  it('refuses a range holding a gateway of the host, even of its default route', () => {
    const odd = { ...HOST, routes: [{ dst: 'default', gateway: '198.51.100.1', dev: 'eth1' }] };
    assert.deepEqual(routeConflict(odd, '198.51.100.0/24'), {
      cidr: '198.51.100.0/24',
      kind: 'gateway',
      what: 'gateway 198.51.100.1 (route default via 198.51.100.1 dev eth1)',
    });
  });

  it('refuses a range overlapping an address without a route of its own', () => {
    const quiet: HostRouting = {
      routes: [],
      links: [{ ifname: 'dummy0', addr_info: [{ family: 'inet', local: '198.51.100.9', prefixlen: 32 }] }],
    };
    assert.equal(routeConflict(quiet, '198.51.100.0/24')?.what, 'address 198.51.100.9/32 on dummy0');
  });

  it("does not count the routes and addresses of exempt devices (the deployment's own bridge)", () => {
    const ours: HostRouting = {
      routes: [
        ...HOST.routes,
        { dst: '198.51.100.0/24', dev: 'br-ex', protocol: 'kernel' },
        { dst: '198.51.100.1', dev: 'br-ex', type: 'local', table: 'local' },
      ],
      links: [...HOST.links, { ifname: 'br-ex', addr_info: [{ local: '198.51.100.1', prefixlen: 24 }] }],
    };
    assert.equal(routeConflict(ours, '198.51.100.0/24', ['br-ex']), undefined);
    assert.equal(
      routeConflict(ours, '198.51.100.0/24')?.what,
      'route 198.51.100.0/24 dev br-ex proto kernel',
    );
  });

  it('counts a multipath route unless every one of its devices is exempt', () => {
    const multipath = withRoute(HOST, {
      dst: '198.51.100.0/24',
      nexthops: [
        { dev: 'br-ex', gateway: '192.0.2.5' },
        { dev: 'eth1', gateway: '192.0.2.6' },
      ],
    });
    assert.equal(routeConflict(multipath, '198.51.100.0/24', ['br-ex'])?.kind, 'route');
    assert.equal(routeConflict(multipath, '198.51.100.0/24', ['br-ex', 'eth1']), undefined);
  });

  it('rejects what is not a CIDR', () => {
    assert.throws(() => routeConflict(HOST, 'nonsense'), /not a CIDR/);
  });
});

describe('firstFreeRange', () => {
  it('takes the first documentation range the host does not route', () => {
    assert.deepEqual(firstFreeRange(HOST, DOCUMENTATION_RANGES), { cidr: '198.51.100.0/24', passedOver: [] });
  });

  it('passes over taken ranges and says why', () => {
    const taken = withRoute(HOST, { dst: '198.51.100.0/24', dev: 'veth0', protocol: 'kernel' });
    const { cidr, passedOver } = firstFreeRange(taken, DOCUMENTATION_RANGES);
    assert.equal(cidr, '203.0.113.0/24');
    assert.deepEqual(
      passedOver.map((c) => c.what),
      ['route 198.51.100.0/24 dev veth0 proto kernel'],
    );
    // 192.0.2.0/24 is the uplink's here: after 203.0.113.0/24 the next free one is the benchmark range.
    const more = withRoute(taken, { dst: '203.0.113.0/24', dev: 'veth1' });
    assert.equal(firstFreeRange(more, DOCUMENTATION_RANGES).cidr, '198.18.0.0/24');
  });

  it('gives no range when every candidate is taken', () => {
    const all = withRoute(HOST, { dst: '0.0.0.0/1', dev: 'tun0' });
    const both = withRoute(all, { dst: '128.0.0.0/1', dev: 'tun0' });
    const { cidr, passedOver } = firstFreeRange(both, DOCUMENTATION_RANGES);
    assert.equal(cidr, undefined);
    assert.equal(passedOver.length, DOCUMENTATION_RANGES.length);
  });
});

describe('conflictMessage', () => {
  it('is one line naming the range, what is in the way and the flag', () => {
    const conflict = routeConflict(HOST, '192.0.2.0/24');
    assert.ok(conflict);
    const message = conflictMessage(conflict, '--external-cidr');
    assert.equal(
      message,
      "192.0.2.0/24 overlaps the host's route 192.0.2.0/24 dev eth0 proto kernel; choose another range with --external-cidr",
    );
    assert.doesNotMatch(message, /\n/);
  });
});
