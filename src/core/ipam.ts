/**
 * IP address management as pure functions: address and CIDR parsing, default gateways and pools,
 * pool validation, Neutron-style address picking, MACs and EUI-64. Parsers and predicates answer
 * null/false for bad input; the rest expect input that has already been validated and throw.
 */
import ipaddr from 'ipaddr.js';

export type IpVersion = 4 | 6;

export interface Cidr {
  version: IpVersion;
  network: bigint;
  prefix: number;
  /** Number of addresses in the CIDR. */
  size: bigint;
}

/** An allocation pool: an inclusive range of addresses. */
export interface Pool {
  start: string;
  end: string;
}

export type PoolProblem =
  | { kind: 'invalid'; pool: Pool }
  | { kind: 'outOfBounds'; pool: Pool }
  | { kind: 'overlap'; pool1: Pool; pool2: Pool }
  | { kind: 'gatewayConflict'; pool: Pool };

const BITS = { 4: 32, 6: 128 } as const;
const MAC_RE = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i;

interface Ip {
  version: IpVersion;
  value: bigint;
}

/** An inclusive address range of one family. */
interface Range {
  version: IpVersion;
  first: bigint;
  last: bigint;
}

/** Dotted-quad IPv4 (no leading zeros, hex or short forms) or IPv6 without a zone. */
function parseIp(s: string): Ip | null {
  let addr: ipaddr.IPv4 | ipaddr.IPv6;
  if (ipaddr.IPv4.isValidFourPartDecimal(s)) addr = ipaddr.IPv4.parse(s);
  else if (ipaddr.IPv6.isValid(s) && !s.includes('%')) addr = ipaddr.IPv6.parse(s);
  else return null;
  const value = addr.toByteArray().reduce((acc, byte) => (acc << 8n) | BigInt(byte), 0n);
  return { version: addr.kind() === 'ipv4' ? 4 : 6, value };
}

function mustIp(s: string): Ip {
  const ip = parseIp(s);
  if (!ip) throw new TypeError(`invalid IP address: ${s}`);
  return ip;
}

function mustCidr(s: string): Cidr {
  const cidr = parseCidr(s);
  if (!cidr) throw new TypeError(`invalid CIDR: ${s}`);
  return cidr;
}

/** A pool's range; null when an end is unparsable, the families differ or start > end. */
function poolRange(pool: Pool): Range | null {
  const start = parseIp(pool.start);
  const end = parseIp(pool.end);
  if (!start || !end || start.version !== end.version || start.value > end.value) return null;
  return { version: start.version, first: start.value, last: end.value };
}

function mustRange(pool: Pool): Range {
  const range = poolRange(pool);
  if (!range) throw new TypeError(`invalid pool: ${pool.start}-${pool.end}`);
  return range;
}

function inRange(ip: Ip, range: Range): boolean {
  return ip.version === range.version && ip.value >= range.first && ip.value <= range.last;
}

function toPool(range: Range): Pool {
  return { start: bigIntToIp(range.first, range.version), end: bigIntToIp(range.last, range.version) };
}

function sumSizes(ranges: Range[]): bigint {
  return ranges.reduce((sum, range) => sum + range.last - range.first + 1n, 0n);
}

/** IPv4 /31 and /32 and IPv6 /128: every address is usable and there is no gateway. */
function allUsable(cidr: Cidr): boolean {
  return cidr.size === 1n || (cidr.version === 4 && cidr.size === 2n);
}

function usable(cidr: Cidr): Range {
  const last = cidr.network + cidr.size - 1n;
  if (allUsable(cidr)) return { version: cidr.version, first: cidr.network, last };
  return { version: cidr.version, first: cidr.network + 1n, last: cidr.version === 4 ? last - 1n : last };
}

export function parseCidr(cidr: string): Cidr | null {
  const match = /^([^/]+)\/(0|[1-9]\d{0,2})$/.exec(cidr);
  if (!match) return null;
  const ip = parseIp(match[1]);
  const prefix = Number(match[2]);
  if (!ip || prefix > BITS[ip.version]) return null;
  const size = 1n << BigInt(BITS[ip.version] - prefix);
  return { version: ip.version, network: ip.value - (ip.value % size), prefix, size };
}

/** The canonical network form, host bits cleared: '10.0.0.5/24' -> '10.0.0.0/24'. */
export function normalizeCidr(cidr: string): string | null {
  const parsed = parseCidr(cidr);
  return parsed && `${bigIntToIp(parsed.network, parsed.version)}/${parsed.prefix}`;
}

export function isValidIp(s: string): boolean {
  return parseIp(s) !== null;
}

export function ipVersion(s: string): IpVersion | null {
  return parseIp(s)?.version ?? null;
}

export function ipToBigInt(s: string): bigint | null {
  return parseIp(s)?.value ?? null;
}

/** Canonical text: dotted quad for IPv4, RFC 5952 (compressed, lowercase) for IPv6. */
export function bigIntToIp(n: bigint, version: IpVersion): string {
  if (n < 0n || n >> BigInt(BITS[version]) !== 0n) throw new RangeError(`not an IPv${version} address: ${n}`);
  const bytes: number[] = [];
  for (let rest = n, i = 0; i < BITS[version] / 8; i++, rest >>= 8n) bytes.unshift(Number(rest & 0xffn));
  return ipaddr.fromByteArray(bytes).toString();
}

export function normalizeIp(s: string): string | null {
  const ip = parseIp(s);
  return ip && bigIntToIp(ip.value, ip.version);
}

export function cidrContains(cidr: Cidr, ip: string): boolean {
  const addr = parseIp(ip);
  return (
    addr !== null &&
    inRange(addr, { version: cidr.version, first: cidr.network, last: cidr.network + cidr.size - 1n })
  );
}

export function cidrsOverlap(a: string, b: string): boolean {
  const x = parseCidr(a);
  const y = parseCidr(b);
  return (
    !!x && !!y && x.version === y.version && x.network < y.network + y.size && y.network < x.network + x.size
  );
}

/** The first address after the network address; none for IPv4 /31 and /32 or IPv6 /128. */
export function defaultGateway(cidr: string): string | null {
  const parsed = mustCidr(cidr);
  return allUsable(parsed) ? null : bigIntToIp(parsed.network + 1n, parsed.version);
}

/**
 * Addresses ports may get: IPv4 excludes the network and broadcast addresses (except in /31 and
 * /32); IPv6 excludes only the subnet-router anycast address (the network address).
 */
export function usableRange(cidr: string): Pool {
  return toPool(usable(mustCidr(cidr)));
}

/** The usable range minus the gateway, split around it when it falls inside. */
export function defaultPools(cidr: string, gateway: string | null): Pool[] {
  const range = usable(mustCidr(cidr));
  const gw = gateway === null ? null : mustIp(gateway);
  if (!gw || !inRange(gw, range)) return [toPool(range)];
  const parts = [
    { ...range, last: gw.value - 1n },
    { ...range, first: gw.value + 1n },
  ];
  return parts.filter((part) => part.first <= part.last).map(toPool);
}

/** The first problem with a subnet's allocation pools, checked in Neutron's order, or null. */
export function validatePools(cidr: string, pools: Pool[], gateway: string | null): PoolProblem | null {
  const bounds = usable(mustCidr(cidr));
  const ranges: { pool: Pool; range: Range }[] = [];
  for (const pool of pools) {
    const range = poolRange(pool);
    if (!range || range.version !== bounds.version) return { kind: 'invalid', pool };
    ranges.push({ pool, range });
  }
  const outside = ranges.find(({ range }) => range.first < bounds.first || range.last > bounds.last);
  if (outside) return { kind: 'outOfBounds', pool: outside.pool };
  ranges.sort((a, b) => Number(a.range.first - b.range.first));
  for (let i = 1; i < ranges.length; i++) {
    if (ranges[i].range.first <= ranges[i - 1].range.last) {
      return { kind: 'overlap', pool1: ranges[i - 1].pool, pool2: ranges[i].pool };
    }
  }
  const gw = gateway === null ? null : mustIp(gateway);
  const conflict = gw && ranges.find(({ range }) => inRange(gw, range));
  return conflict ? { kind: 'gatewayConflict', pool: conflict.pool } : null;
}

export function poolSize(pools: Pool[]): bigint {
  return sumSizes(pools.map(mustRange));
}

/**
 * Picks a free address the way Neutron does: the first `window` free addresses of the pools, in
 * order, then one of those at random. `used` holds canonical addresses; null when all are used.
 * `skip` leading addresses of the pools are known used and not looked at (see `usedPrefix`).
 */
export function pickAddress(
  pools: Pool[],
  used: ReadonlySet<string>,
  opts: { window?: number; random?: () => number; skip?: bigint } = {},
): string | null {
  const { window = 16, random = Math.random } = opts;
  const free: string[] = [];
  let skip = opts.skip ?? 0n;
  for (const pool of pools) {
    const range = mustRange(pool);
    const size = range.last - range.first + 1n;
    if (skip >= size) {
      skip -= size;
      continue;
    }
    for (let n = range.first + skip; n <= range.last && free.length < window; n++) {
      const ip = bigIntToIp(n, range.version);
      if (!used.has(ip)) free.push(ip);
    }
    skip = 0n;
  }
  return free.length === 0 ? null : free[Math.floor(random() * free.length)];
}

/**
 * How many leading addresses of the pools are all in `used`, counting on from `from` (a count
 * found before: `used` only grows). Allocating many addresses from one subnet keeps this as
 * `pickAddress`'s `skip`, so each pick looks at the few addresses past the used prefix instead
 * of walking the whole prefix again: the walk made a bulk create's cost grow with the square
 * of its size.
 */
export function usedPrefix(pools: Pool[], used: ReadonlySet<string>, from = 0n): bigint {
  let offset = 0n;
  for (const pool of pools) {
    const range = mustRange(pool);
    const size = range.last - range.first + 1n;
    if (from >= offset + size) {
      offset += size;
      continue;
    }
    for (let n = range.first + (from > offset ? from - offset : 0n); n <= range.last; n++) {
      if (!used.has(bigIntToIp(n, range.version))) return offset + (n - range.first);
    }
    offset += size;
  }
  return offset;
}

/** Free addresses left in the pools; `used` entries outside every pool do not count. */
export function availableCount(pools: Pool[], used: ReadonlySet<string>): bigint {
  const ranges = pools.map(mustRange);
  let taken = 0n;
  for (const s of used) {
    const ip = parseIp(s);
    if (ip && ranges.some((range) => inRange(ip, range))) taken++;
  }
  return sumSizes(ranges) - taken;
}

/** `base` followed by three random octets, e.g. 'fa:16:3e:4b:0c:9a'. */
export function generateMac(random: () => number = Math.random, base = 'fa:16:3e'): string {
  const octet = () => (256 + Math.floor(random() * 256)).toString(16).slice(1);
  return [base, octet(), octet(), octet()].join(':');
}

/** Colon-separated hex, not all zeros, not multicast (which includes broadcast). */
export function isValidMac(s: string): boolean {
  return MAC_RE.test(s) && (Number.parseInt(s.slice(0, 2), 16) & 1) === 0 && !/^(00:){5}00$/.test(s);
}

export function normalizeMac(s: string): string {
  return s.toLowerCase();
}

/** The SLAAC address a port with `mac` takes in an IPv6 subnet (prefix /64 or shorter). */
export function eui64(prefixCidr: string, mac: string): string {
  const cidr = mustCidr(prefixCidr);
  if (cidr.version !== 6 || cidr.prefix > 64)
    throw new TypeError(`not an IPv6 /64 or shorter: ${prefixCidr}`);
  if (!MAC_RE.test(mac)) throw new TypeError(`invalid MAC address: ${mac}`);
  const bits = BigInt(`0x${mac.replaceAll(':', '')}`);
  // OUI, ff:fe, NIC part; then flip the universal/local bit.
  const interfaceId = ((bits >> 24n) << 40n) | (0xfffen << 24n) | (bits & 0xffffffn);
  return bigIntToIp(cidr.network | (interfaceId ^ (1n << 57n)), 6);
}
