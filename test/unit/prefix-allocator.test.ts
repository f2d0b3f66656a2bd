/**
 * The subnet-pool prefix allocator (pure): compaction as Neutron stores prefix lists, Neutron's
 * choice of the tightest free block, specific requests, and the property that allocations never
 * overlap one another and always lie inside the pool.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { bigIntToIp, cidrsOverlap, normalizeCidr, parseCidr } from '../../src/core/ipam.js';
import {
  allocateAny,
  availableBlocks,
  compactPrefixes,
  coversAll,
  isFree,
  overlaps,
  quotaUnits,
  removePrefixes,
} from '../../src/core/prefix-allocator.js';

describe('prefix lists', () => {
  it('compacts as netaddr.IPSet does: merged, host bits cleared, address order', () => {
    assert.deepEqual(compactPrefixes(['10.10.1.0/24', '10.10.0.0/24']), ['10.10.0.0/23']);
    assert.deepEqual(compactPrefixes(['10.0.0.5/24', '10.0.0.0/25', '192.0.2.0/24']), [
      '10.0.0.0/24',
      '192.0.2.0/24',
    ]);
    assert.deepEqual(compactPrefixes(['10.0.1.0/24', '10.0.2.0/24']), ['10.0.1.0/24', '10.0.2.0/24']);
    assert.deepEqual(compactPrefixes(['2001:db8::/64', '2001:db8:0:1::/64']), ['2001:db8::/63']);
  });

  it('removes prefixes, splitting a block into the fewest CIDRs', () => {
    assert.deepEqual(removePrefixes(['10.0.0.0/24'], ['10.0.0.0/26']), ['10.0.0.64/26', '10.0.0.128/25']);
    assert.deepEqual(removePrefixes(['10.0.0.0/24'], ['10.0.0.0/24']), []);
    assert.ok(coversAll(['10.0.0.0/16'], ['10.0.3.0/24', '10.0.0.0/16']));
    assert.ok(!coversAll(['10.0.0.0/24'], ['10.0.0.0/23']));
    assert.ok(overlaps(['10.0.0.0/16'], ['10.0.200.0/24']));
    assert.ok(!overlaps(['10.0.0.0/24'], ['10.0.1.0/24']));
  });

  it('counts quota in /32s for IPv4 and /64s for IPv6', () => {
    assert.equal(quotaUnits(4, 24), 256);
    assert.equal(quotaUnits(6, 64), 1);
    assert.equal(quotaUnits(6, 60), 16);
  });
});

describe('allocation', () => {
  it('takes the next prefix of the tightest free block, as Neutron does', () => {
    const pool = ['10.10.0.0/16'];
    assert.equal(allocateAny(pool, [], 24), '10.10.0.0/24');
    assert.equal(allocateAny(pool, ['10.10.0.0/24'], 24), '10.10.1.0/24');
    assert.equal(allocateAny(pool, ['10.10.0.0/24'], 26), '10.10.1.0/26');
    // A hole left by a deleted subnet is the tightest block: it is reused first.
    assert.equal(allocateAny(pool, ['10.10.0.0/24', '10.10.2.0/24'], 24), '10.10.1.0/24');
    assert.equal(allocateAny(['10.0.0.0/30', '10.1.0.0/16'], [], 30), '10.0.0.0/30');
    assert.equal(allocateAny(['10.0.0.0/24'], ['10.0.0.0/24'], 28), null);
    assert.equal(allocateAny(['10.0.0.0/24'], [], 23), null);
    assert.equal(allocateAny(['2001:db8::/48'], ['2001:db8::/64'], 64), '2001:db8:0:1::/64');
  });

  it('lists free blocks longest prefix first', () => {
    const blocks = availableBlocks(['10.0.0.0/24'], ['10.0.0.0/26']).map((b) => b.prefix);
    assert.deepEqual(blocks, [26, 25]);
  });

  it('accepts a specific CIDR only when it lies wholly in the free part', () => {
    const pool = ['10.10.0.0/16'];
    assert.ok(isFree(pool, [], '10.10.5.0/24'));
    assert.ok(!isFree(pool, ['10.10.5.128/25'], '10.10.5.0/24'));
    assert.ok(!isFree(pool, [], '10.11.0.0/24'));
    assert.ok(!isFree(pool, [], '10.0.0.0/8'));
  });

  it('never hands out overlapping prefixes, and every one lies inside the pool (property)', () => {
    const v4Pool = fc
      .array(
        fc
          .tuple(fc.integer({ min: 0, max: 2 ** 20 - 1 }), fc.integer({ min: 16, max: 22 }))
          .map(([n, prefix]) => normalizeCidr(`${bigIntToIp(BigInt(n) << 12n, 4)}/${prefix}`)!),
        { minLength: 1, maxLength: 4 },
      )
      .map(compactPrefixes);
    const requests = fc.array(fc.integer({ min: 16, max: 30 }), { minLength: 1, maxLength: 40 });
    fc.assert(
      fc.property(v4Pool, requests, fc.array(fc.nat(), { maxLength: 10 }), (pool, lengths, releases) => {
        const allocated: string[] = [];
        for (const [i, prefixlen] of lengths.entries()) {
          // Now and then release an earlier allocation, as a subnet delete does.
          if (releases[i] !== undefined && allocated.length > 0)
            allocated.splice(releases[i] % allocated.length, 1);
          const cidr = allocateAny(pool, allocated, prefixlen);
          if (cidr === null) {
            assert.ok(
              !availableBlocks(pool, allocated).some((b) => b.prefix <= prefixlen),
              'null only when no free block is large enough',
            );
            continue;
          }
          assert.equal(parseCidr(cidr)!.prefix, prefixlen);
          assert.ok(coversAll(pool, [cidr]), `${cidr} inside ${pool}`);
          assert.ok(!allocated.some((a) => cidrsOverlap(a, cidr)), `${cidr} overlaps ${allocated}`);
          assert.ok(!isFree(pool, [...allocated, cidr], cidr));
          allocated.push(cidr);
        }
      }),
    );
  });
});
