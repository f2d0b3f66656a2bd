import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  availableCount,
  bigIntToIp,
  cidrContains,
  cidrsOverlap,
  defaultGateway,
  defaultPools,
  eui64,
  generateMac,
  ipToBigInt,
  ipVersion,
  isValidIp,
  isValidMac,
  normalizeCidr,
  normalizeIp,
  normalizeMac,
  type Pool,
  parseCidr,
  pickAddress,
  poolSize,
  usableRange,
  validatePools,
} from '../../src/core/ipam.js';

const pool = (start: string, end: string): Pool => ({ start, end });

/** A small deterministic PRNG so property runs replay from fast-check's seed. */
function seeded(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
}

function inPools(ip: string, pools: Pool[]): boolean {
  const n = ipToBigInt(ip)!;
  return pools.some(
    (p) => ipVersion(p.start) === ipVersion(ip) && ipToBigInt(p.start)! <= n && n <= ipToBigInt(p.end)!,
  );
}

/** Small subnets: IPv4 /26-/30 and IPv6 /120-/126, at a random place in the address space. */
const smallCidr = fc.oneof(
  fc
    .tuple(fc.bigInt({ min: 0n, max: 2n ** 32n - 1n }), fc.integer({ min: 26, max: 30 }))
    .map(([n, prefix]) => normalizeCidr(`${bigIntToIp(n, 4)}/${prefix}`)!),
  fc
    .tuple(fc.bigInt({ min: 0n, max: 2n ** 128n - 1n }), fc.integer({ min: 120, max: 126 }))
    .map(([n, prefix]) => normalizeCidr(`${bigIntToIp(n, 6)}/${prefix}`)!),
);

describe('addresses', () => {
  it('validates and normalises IPv4', () => {
    assert.equal(normalizeIp('10.0.0.1'), '10.0.0.1');
    assert.equal(ipVersion('192.168.1.254'), 4);
    assert.equal(ipToBigInt('10.0.0.1'), 0x0a000001n);
    for (const bad of ['10.0.0', '010.0.0.1', '0x0a.0.0.1', '1.2.3.256', ' 1.2.3.4', '10.0.0.1/32', '']) {
      assert.equal(isValidIp(bad), false, bad);
      assert.equal(normalizeIp(bad), null, bad);
      assert.equal(ipVersion(bad), null, bad);
    }
  });

  it('validates and normalises IPv6 to compressed lowercase', () => {
    assert.equal(normalizeIp('2001:DB8:0:0:0:0:0:1'), '2001:db8::1');
    assert.equal(normalizeIp('2001:0db8:0000:0000:0001:0000:0000:0001'), '2001:db8::1:0:0:1');
    assert.equal(normalizeIp('::'), '::');
    assert.equal(ipVersion('::1'), 6);
    assert.equal(ipToBigInt('::ff'), 255n);
    for (const bad of ['1::2::3', 'fe80::1%eth0', '2001:db8::g', ':::'])
      assert.equal(isValidIp(bad), false, bad);
  });

  it('converts between bigints and text', () => {
    assert.equal(bigIntToIp(0xc0a80001n, 4), '192.168.0.1');
    assert.equal(bigIntToIp(2n ** 128n - 1n, 6), 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff');
    assert.throws(() => bigIntToIp(2n ** 32n, 4), RangeError);
    assert.throws(() => bigIntToIp(-1n, 6), RangeError);
  });

  it('round-trips every address (property)', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: 2n ** 32n - 1n }), (n) => ipToBigInt(bigIntToIp(n, 4)) === n),
    );
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: 2n ** 128n - 1n }), (n) => ipToBigInt(bigIntToIp(n, 6)) === n),
    );
  });

  it('accepts generated addresses and normalises idempotently (property)', () => {
    fc.assert(
      fc.property(fc.oneof(fc.ipV4(), fc.ipV6()), (ip) => {
        const canonical = normalizeIp(ip);
        assert.ok(canonical !== null, ip);
        assert.equal(normalizeIp(canonical), canonical);
        assert.equal(ipToBigInt(canonical), ipToBigInt(ip));
      }),
    );
  });
});

describe('CIDRs', () => {
  it('parses IPv4 and clears host bits', () => {
    assert.deepEqual(parseCidr('10.0.0.5/24'), { version: 4, network: 0x0a000000n, prefix: 24, size: 256n });
    assert.equal(normalizeCidr('10.0.0.5/24'), '10.0.0.0/24');
    assert.equal(normalizeCidr('192.168.1.1/32'), '192.168.1.1/32');
    assert.equal(normalizeCidr('1.2.3.4/0'), '0.0.0.0/0');
  });

  it('parses IPv6 into compressed lowercase network form', () => {
    assert.deepEqual(parseCidr('2001:db8::/64'), {
      version: 6,
      network: 0x20010db8n << 96n,
      prefix: 64,
      size: 2n ** 64n,
    });
    assert.equal(normalizeCidr('2001:DB8:0:0:1::5/64'), '2001:db8::/64');
    assert.equal(normalizeCidr('2001:db8::1/128'), '2001:db8::1/128');
    assert.equal(normalizeCidr('ffff::/0'), '::/0');
  });

  it('rejects malformed CIDRs', () => {
    const bad = ['10.0.0.0', '10.0.0.0/33', '10.0.0.0/024', '10.0.0.0/-1', '10.0.0/24', '10.0.0.0/24/1'];
    for (const cidr of [...bad, '2001:db8::/129', 'fe80::1%eth0/64', '/24', '']) {
      assert.equal(parseCidr(cidr), null, cidr);
      assert.equal(normalizeCidr(cidr), null, cidr);
    }
  });

  it('normalisation is idempotent and keeps the address inside (property)', () => {
    const cidr = fc.oneof(
      fc.tuple(fc.ipV4(), fc.integer({ min: 0, max: 32 })),
      fc.tuple(fc.ipV6(), fc.integer({ min: 0, max: 128 })),
    );
    fc.assert(
      fc.property(cidr, ([ip, prefix]) => {
        const normal = normalizeCidr(`${ip}/${prefix}`)!;
        assert.equal(normalizeCidr(normal), normal);
        assert.ok(cidrContains(parseCidr(normal)!, ip));
      }),
    );
  });

  it('tests containment', () => {
    const cidr = parseCidr('10.0.0.0/24')!;
    assert.ok(cidrContains(cidr, '10.0.0.0'));
    assert.ok(cidrContains(cidr, '10.0.0.255'));
    assert.ok(!cidrContains(cidr, '10.0.1.0'));
    assert.ok(!cidrContains(cidr, '::a00:1'));
    assert.ok(!cidrContains(cidr, 'junk'));
    assert.ok(cidrContains(parseCidr('2001:db8::/64')!, '2001:db8::ffff:ffff:ffff:ffff'));
  });

  it('detects overlap', () => {
    assert.ok(cidrsOverlap('10.0.0.0/24', '10.0.0.128/25'));
    assert.ok(cidrsOverlap('10.0.0.0/8', '10.200.0.0/16'));
    assert.ok(!cidrsOverlap('10.0.0.0/25', '10.0.0.128/25'));
    assert.ok(cidrsOverlap('2001:db8::/32', '2001:db8:1::/48'));
    assert.ok(!cidrsOverlap('2001:db8::/64', '2001:db8:0:1::/64'));
    assert.ok(!cidrsOverlap('0.0.0.0/0', '::/0'));
    assert.ok(!cidrsOverlap('10.0.0.0/24', 'junk'));
  });
});

describe('gateways and pools', () => {
  it('defaults an IPv4 /24', () => {
    assert.equal(defaultGateway('10.0.0.0/24'), '10.0.0.1');
    assert.deepEqual(usableRange('10.0.0.0/24'), pool('10.0.0.1', '10.0.0.254'));
    assert.deepEqual(defaultPools('10.0.0.0/24', '10.0.0.1'), [pool('10.0.0.2', '10.0.0.254')]);
  });

  it('defaults an IPv6 /64', () => {
    assert.equal(defaultGateway('2001:db8::/64'), '2001:db8::1');
    assert.deepEqual(usableRange('2001:db8::/64'), pool('2001:db8::1', '2001:db8::ffff:ffff:ffff:ffff'));
    assert.deepEqual(defaultPools('2001:db8::/64', '2001:db8::1'), [
      pool('2001:db8::2', '2001:db8::ffff:ffff:ffff:ffff'),
    ]);
  });

  it('splits pools around the gateway', () => {
    assert.deepEqual(defaultPools('10.0.0.0/24', '10.0.0.100'), [
      pool('10.0.0.1', '10.0.0.99'),
      pool('10.0.0.101', '10.0.0.254'),
    ]);
    assert.deepEqual(defaultPools('10.0.0.0/24', '10.0.0.254'), [pool('10.0.0.1', '10.0.0.253')]);
    assert.deepEqual(defaultPools('10.0.0.0/24', null), [pool('10.0.0.1', '10.0.0.254')]);
    assert.deepEqual(defaultPools('10.0.0.0/24', '10.0.1.1'), [pool('10.0.0.1', '10.0.0.254')]);
    assert.deepEqual(defaultPools('10.0.0.0/24', '10.0.0.255'), [pool('10.0.0.1', '10.0.0.254')]);
  });

  it('handles tiny subnets', () => {
    assert.equal(defaultGateway('10.0.0.0/30'), '10.0.0.1');
    assert.deepEqual(defaultPools('10.0.0.0/30', '10.0.0.1'), [pool('10.0.0.2', '10.0.0.2')]);
    assert.equal(defaultGateway('10.0.0.0/31'), null);
    assert.deepEqual(defaultPools('10.0.0.0/31', null), [pool('10.0.0.0', '10.0.0.1')]);
    assert.equal(defaultGateway('10.0.0.7/32'), null);
    assert.deepEqual(defaultPools('10.0.0.7/32', null), [pool('10.0.0.7', '10.0.0.7')]);
    assert.equal(defaultGateway('2001:db8::/127'), '2001:db8::1');
    assert.deepEqual(defaultPools('2001:db8::/127', '2001:db8::1'), []);
    assert.equal(defaultGateway('2001:db8::5/128'), null);
    assert.deepEqual(defaultPools('2001:db8::5/128', null), [pool('2001:db8::5', '2001:db8::5')]);
  });

  it('throws on unvalidated input', () => {
    assert.throws(() => defaultGateway('10.0.0.0'), TypeError);
    assert.throws(() => defaultPools('10.0.0.0/24', 'junk'), TypeError);
    assert.throws(() => poolSize([pool('10.0.0.9', '10.0.0.1')]), TypeError);
  });

  it('sizes pools', () => {
    assert.equal(poolSize([]), 0n);
    assert.equal(poolSize(defaultPools('10.0.0.0/24', '10.0.0.1')), 253n);
    assert.equal(poolSize(defaultPools('2001:db8::/64', '2001:db8::1')), 2n ** 64n - 2n);
  });
});

describe('validatePools', () => {
  const cidr = '10.0.0.0/24';
  const gw = '10.0.0.1';

  it('accepts valid pools', () => {
    assert.equal(
      validatePools(cidr, [pool('10.0.0.2', '10.0.0.100'), pool('10.0.0.101', '10.0.0.254')], gw),
      null,
    );
    assert.equal(validatePools(cidr, [pool('10.0.0.1', '10.0.0.254')], null), null);
    assert.equal(validatePools(cidr, [], gw), null);
    assert.equal(
      validatePools('2001:db8::/64', [pool('2001:db8::2', '2001:db8::ffff:ffff:ffff:ffff')], null),
      null,
    );
  });

  it('reports invalid pools', () => {
    for (const bad of [
      pool('junk', '10.0.0.9'),
      pool('10.0.0.9', '10.0.0.2'),
      pool('10.0.0.2', '::a00:9'),
      pool('2001:db8::2', '2001:db8::9'),
    ]) {
      assert.deepEqual(validatePools(cidr, [bad], gw), { kind: 'invalid', pool: bad });
    }
  });

  it('reports pools outside the usable range', () => {
    for (const bad of [
      pool('10.0.0.0', '10.0.0.9'),
      pool('10.0.0.250', '10.0.0.255'),
      pool('10.0.1.2', '10.0.1.9'),
    ]) {
      assert.deepEqual(validatePools(cidr, [bad], gw), { kind: 'outOfBounds', pool: bad });
    }
    const v6 = pool('2001:db8::', '2001:db8::9');
    assert.deepEqual(validatePools('2001:db8::/64', [v6], null), { kind: 'outOfBounds', pool: v6 });
  });

  it('reports overlapping pools', () => {
    const a = pool('10.0.0.2', '10.0.0.100');
    const b = pool('10.0.0.50', '10.0.0.60');
    assert.deepEqual(validatePools(cidr, [b, a], gw), { kind: 'overlap', pool1: a, pool2: b });
    const c = pool('10.0.0.100', '10.0.0.200');
    assert.deepEqual(validatePools(cidr, [c, a], gw), { kind: 'overlap', pool1: a, pool2: c });
  });

  it('reports a gateway inside a pool', () => {
    const a = pool('10.0.0.1', '10.0.0.10');
    assert.deepEqual(validatePools(cidr, [pool('10.0.0.20', '10.0.0.30'), a], gw), {
      kind: 'gatewayConflict',
      pool: a,
    });
  });

  it('checks in order: invalid, out of bounds, overlap, gateway', () => {
    const invalid = pool('10.0.0.9', '10.0.0.2');
    const outside = pool('10.0.0.0', '10.0.0.1');
    assert.equal(validatePools(cidr, [outside, invalid], gw)?.kind, 'invalid');
    assert.equal(
      validatePools(cidr, [pool('10.0.0.1', '10.0.0.5'), pool('10.0.0.3', '10.0.0.4'), outside], gw)?.kind,
      'outOfBounds',
    );
    assert.equal(
      validatePools(cidr, [pool('10.0.0.1', '10.0.0.5'), pool('10.0.0.3', '10.0.0.4')], gw)?.kind,
      'overlap',
    );
  });

  it('accepts default pools (property)', () => {
    fc.assert(
      fc.property(smallCidr, (c) => {
        const gateway = defaultGateway(c);
        assert.equal(validatePools(c, defaultPools(c, gateway), gateway), null);
      }),
    );
  });
});

describe('pickAddress', () => {
  const pools = [pool('10.0.0.2', '10.0.0.254')];

  it('picks among the first window of free addresses', () => {
    const used = new Set(['10.0.0.2', '10.0.0.4']);
    assert.equal(pickAddress(pools, used, { random: () => 0 }), '10.0.0.3');
    assert.equal(pickAddress(pools, used, { random: () => 0.999 }), '10.0.0.19');
    assert.equal(pickAddress(pools, used, { window: 3, random: () => 0.999 }), '10.0.0.6');
    assert.equal(pickAddress(pools, new Set(), { window: 1 }), '10.0.0.2');
  });

  it('walks pools in order and across them', () => {
    const two = [pool('10.0.0.10', '10.0.0.11'), pool('10.0.0.2', '10.0.0.3')];
    assert.equal(pickAddress(two, new Set(), { random: () => 0.999 }), '10.0.0.3');
    assert.equal(pickAddress(two, new Set(['10.0.0.10', '10.0.0.11']), { random: () => 0 }), '10.0.0.2');
  });

  it('is quick on a huge IPv6 pool', () => {
    const v6 = defaultPools('2001:db8::/64', '2001:db8::1');
    assert.equal(pickAddress(v6, new Set(['2001:db8::2']), { random: () => 0 }), '2001:db8::3');
    assert.equal(availableCount(v6, new Set(['2001:db8::2', '2001:db8::1', '10.0.0.2'])), 2n ** 64n - 3n);
  });

  it('finds the last free address of a nearly full /16', () => {
    const big = defaultPools('10.1.0.0/16', '10.1.0.1');
    const used = new Set<string>();
    for (let n = ipToBigInt('10.1.0.2')!; n <= ipToBigInt('10.1.255.254')!; n++) used.add(bigIntToIp(n, 4));
    used.delete('10.1.200.7');
    assert.equal(pickAddress(big, used), '10.1.200.7');
    assert.equal(availableCount(big, used), 1n);
    used.add('10.1.200.7');
    assert.equal(pickAddress(big, used), null);
    assert.equal(availableCount(big, used), 0n);
  });

  it('answers null for no pools', () => {
    assert.equal(pickAddress([], new Set()), null);
  });

  it('never returns a used address and always one inside a pool (property)', () => {
    fc.assert(
      fc.property(
        smallCidr,
        fc.array(fc.nat(), { maxLength: 300 }),
        fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
        (c, picks, r) => {
          const pools = defaultPools(c, defaultGateway(c));
          const first = ipToBigInt(pools[0].start)!;
          const version = ipVersion(pools[0].start)!;
          const size = poolSize(pools);
          const used = new Set(picks.map((i) => bigIntToIp(first + (BigInt(i) % size), version)));
          const ip = pickAddress(pools, used, { random: () => r });
          if (BigInt(used.size) === size) return ip === null;
          return ip !== null && !used.has(ip) && inPools(ip, pools);
        },
      ),
    );
  });

  it('allocates exactly the pool size, then nothing (property)', () => {
    fc.assert(
      fc.property(smallCidr, fc.integer(), (c, seed) => {
        const pools = defaultPools(c, defaultGateway(c));
        const size = poolSize(pools);
        const random = seeded(seed);
        const used = new Set<string>();
        for (
          let ip = pickAddress(pools, used, { random });
          ip !== null;
          ip = pickAddress(pools, used, { random })
        ) {
          assert.ok(!used.has(ip) && inPools(ip, pools), ip);
          used.add(ip);
          assert.equal(availableCount(pools, used), size - BigInt(used.size));
        }
        assert.equal(BigInt(used.size), size);
        assert.equal(availableCount(pools, used), 0n);
      }),
      { numRuns: 50 },
    );
  });
});

describe('MAC addresses', () => {
  it('validates format, rejecting zero, broadcast and multicast', () => {
    assert.ok(isValidMac('fa:16:3e:00:11:22'));
    assert.ok(isValidMac('FA:16:3E:AB:CD:EF'));
    for (const bad of [
      '00:00:00:00:00:00',
      'ff:ff:ff:ff:ff:ff',
      '01:00:5e:00:00:01',
      'fa-16-3e-00-11-22',
      'fa:16:3e:00:11',
      'fa:16:3e:00:11:2g',
      'fa163e001122',
    ]) {
      assert.equal(isValidMac(bad), false, bad);
    }
    assert.equal(normalizeMac('FA:16:3E:AB:CD:EF'), 'fa:16:3e:ab:cd:ef');
  });

  it('generates from the random source', () => {
    assert.equal(
      generateMac(() => 0),
      'fa:16:3e:00:00:00',
    );
    assert.equal(
      generateMac(() => 0.999, 'fa:16:3f'),
      'fa:16:3f:ff:ff:ff',
    );
  });

  it('generates valid fa:16:3e MACs (property)', () => {
    const unit = fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true });
    fc.assert(
      fc.property(fc.tuple(unit, unit, unit), (rs) => {
        let i = 0;
        const mac = generateMac(() => rs[i++]);
        return isValidMac(mac) && mac.startsWith('fa:16:3e:') && mac === normalizeMac(mac);
      }),
    );
  });

  it('derives EUI-64 SLAAC addresses', () => {
    assert.equal(eui64('2001:db8::/64', 'fa:16:3e:11:22:33'), '2001:db8::f816:3eff:fe11:2233');
    assert.equal(eui64('2001:db8:1:2::/64', '00:00:00:00:00:01'), '2001:db8:1:2:200:ff:fe00:1');
    assert.throws(() => eui64('10.0.0.0/24', 'fa:16:3e:11:22:33'), TypeError);
    assert.throws(() => eui64('2001:db8::/120', 'fa:16:3e:11:22:33'), TypeError);
    assert.throws(() => eui64('2001:db8::/64', 'junk'), TypeError);
  });
});
