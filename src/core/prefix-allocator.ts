/**
 * Subnet prefix allocation from a subnet pool, as pure functions over CIDR text (the arithmetic
 * of Neutron's `SubnetAllocator` and `netaddr.IPSet`): prefix lists compacted to the fewest
 * CIDRs, the free part of a pool (its prefixes minus its subnets), the next prefix of a length,
 * whether a given CIDR is free, and the quota units a prefix costs. Input must already be valid
 * CIDRs of one IP version (`parseCidr` answers null for bad ones).
 */
import { bigIntToIp, type Cidr, type IpVersion, parseCidr } from './ipam.js';

/** An inclusive range of addresses. */
interface Range {
  first: bigint;
  last: bigint;
}

const BITS = { 4: 32, 6: 128 } as const;
/** Neutron's quota units: IPv4 pools count /32s, IPv6 pools /64s. */
const QUOTA_UNIT = { 4: 32, 6: 64 } as const;

function mustCidr(text: string): Cidr {
  const cidr = parseCidr(text);
  if (!cidr) throw new TypeError(`invalid CIDR: ${text}`);
  return cidr;
}

function cidrText(network: bigint, prefix: number, version: IpVersion): string {
  return `${bigIntToIp(network, version)}/${prefix}`;
}

/** The union of the CIDRs as sorted, disjoint, non-adjacent ranges. */
function union(cidrs: readonly string[]): Range[] {
  const ranges = cidrs
    .map(mustCidr)
    .map((c) => ({ first: c.network, last: c.network + c.size - 1n }))
    .sort((a, b) => (a.first < b.first ? -1 : a.first > b.first ? 1 : 0));
  const out: Range[] = [];
  for (const r of ranges) {
    const last = out[out.length - 1];
    if (last && r.first <= last.last + 1n) {
      if (r.last > last.last) last.last = r.last;
    } else out.push({ ...r });
  }
  return out;
}

/** `a` minus `b` (both sorted and disjoint). */
function subtract(a: Range[], b: Range[]): Range[] {
  const out: Range[] = [];
  for (const range of a) {
    let first = range.first;
    for (const cut of b) {
      if (cut.last < first || cut.first > range.last) continue;
      if (cut.first > first) out.push({ first, last: cut.first - 1n });
      first = cut.last + 1n;
      if (first > range.last) break;
    }
    if (first <= range.last) out.push({ first, last: range.last });
  }
  return out;
}

/** The fewest aligned CIDRs covering exactly one range, in address order (netaddr's iter_cidrs). */
function rangeCidrs(range: Range, version: IpVersion): { network: bigint; prefix: number }[] {
  const bits = BITS[version];
  const out: { network: bigint; prefix: number }[] = [];
  let start = range.first;
  while (start <= range.last) {
    let prefix = bits;
    // Grow the block while it stays aligned at `start` and inside the range.
    while (prefix > 0) {
      const size = 1n << BigInt(bits - prefix + 1);
      if (start % size !== 0n || start + size - 1n > range.last) break;
      prefix--;
    }
    out.push({ network: start, prefix });
    start += 1n << BigInt(bits - prefix);
  }
  return out;
}

function versionOf(cidrs: readonly string[]): IpVersion {
  return cidrs.length ? mustCidr(cidrs[0]).version : 4;
}

/** A prefix list as Neutron stores it: merged into the fewest CIDRs, in address order. */
export function compactPrefixes(cidrs: readonly string[]): string[] {
  const version = versionOf(cidrs);
  return union(cidrs).flatMap((r) =>
    rangeCidrs(r, version).map((c) => cidrText(c.network, c.prefix, version)),
  );
}

/** Is every address of `inner` in `outer`? */
export function coversAll(outer: readonly string[], inner: readonly string[]): boolean {
  return subtract(union(inner), union(outer)).length === 0;
}

/** Do the two lists share an address? */
export function overlaps(a: readonly string[], b: readonly string[]): boolean {
  const right = union(b);
  return union(a).some((x) => right.some((y) => x.first <= y.last && y.first <= x.last));
}

/** `prefixes` minus `removed`, compacted. */
export function removePrefixes(prefixes: readonly string[], removed: readonly string[]): string[] {
  const version = versionOf(prefixes);
  return subtract(union(prefixes), union(removed)).flatMap((r) =>
    rangeCidrs(r, version).map((c) => cidrText(c.network, c.prefix, version)),
  );
}

/**
 * The free blocks of a pool, as Neutron orders them: longest prefix (smallest block) first, in
 * address order among equals, so an allocation takes the tightest block that fits.
 */
export function availableBlocks(pool: readonly string[], allocated: readonly string[]): Cidr[] {
  const version = versionOf(pool);
  const blocks = subtract(union(pool), union(allocated)).flatMap((r) => rangeCidrs(r, version));
  return blocks
    .map((b) => ({
      version,
      network: b.network,
      prefix: b.prefix,
      size: 1n << BigInt(BITS[version] - b.prefix),
    }))
    .sort((a, b) => b.prefix - a.prefix);
}

/** The next free prefix of length `prefixlen` (the start of the tightest free block), or null. */
export function allocateAny(
  pool: readonly string[],
  allocated: readonly string[],
  prefixlen: number,
): string | null {
  const block = availableBlocks(pool, allocated).find((b) => b.prefix <= prefixlen);
  return block ? cidrText(block.network, prefixlen, block.version) : null;
}

/** May `cidr` be allocated: does it lie wholly in the free part of the pool? */
export function isFree(pool: readonly string[], allocated: readonly string[], cidr: string): boolean {
  return coversAll(removePrefixes(pool, allocated), [cidr]);
}

/** What a prefix of `prefixlen` costs of a pool's `default_quota` (2^(unit − prefixlen)). */
export function quotaUnits(version: IpVersion, prefixlen: number): number {
  return 2 ** (QUOTA_UNIT[version] - prefixlen);
}
