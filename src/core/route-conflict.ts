/**
 * Whether a range may go on a host bridge: pure decisions over the host's routing table and
 * addresses (as `ip -json route show table all` and `ip -json addr show` print them; reading them
 * is `linux/host-routes.ts`). A range the host already reaches through another device (its uplink's
 * subnet, a VPN route, a lab underlay) must not be taken: an address on a bridge adds a connected
 * route that wins over a shorter one, and the host would lose whatever lived there.
 */
import ipaddr from 'ipaddr.js';

/** The fields of a route of `ip -json route show table all` read here. */
export interface HostRoute {
  dst: string;
  dev?: string;
  gateway?: string;
  type?: string;
  table?: string;
  protocol?: string;
  /** Multipath routes carry their devices here instead of `dev`. */
  nexthops?: { dev?: string; gateway?: string }[];
}

/** The fields of a link of `ip -json addr show` read here. */
export interface HostLinkAddresses {
  ifname: string;
  addr_info?: { family?: string; local?: string; prefixlen?: number }[];
}

export interface HostRouting {
  routes: HostRoute[];
  links: HostLinkAddresses[];
}

/** What stands in a range's way, told as `ip` would show it. */
export interface RouteConflict {
  /** The range asked for. */
  cidr: string;
  kind: 'route' | 'address' | 'gateway';
  /** e.g. `route 198.51.100.0/24 dev eth1 proto kernel`, `address 198.51.100.7/24 on eth1`. */
  what: string;
}

/**
 * The ranges `neutrino up` takes its external network from, in order: the three documentation
 * ranges (RFC 5737), then the benchmarking range (RFC 2544), one /24 at a time.
 */
export const DOCUMENTATION_RANGES: readonly string[] = [
  '198.51.100.0/24',
  '203.0.113.0/24',
  '192.0.2.0/24',
  '198.18.0.0/24',
  '198.18.1.0/24',
  '198.19.0.0/24',
  '198.19.1.0/24',
];

type Cidr = [ipaddr.IPv4 | ipaddr.IPv6, number];

function parseCidr(text: string): Cidr | undefined {
  try {
    if (text.includes('/')) return ipaddr.parseCIDR(text);
    const address = ipaddr.parse(text);
    return [address, address.kind() === 'ipv4' ? 32 : 128];
  } catch {
    return undefined;
  }
}

/** Whether two ranges share an address (one holds the other). */
export function overlaps(a: string, b: string): boolean {
  const x = parseCidr(a);
  const y = parseCidr(b);
  if (!x || !y || x[0].kind() !== y[0].kind()) return false;
  const shorter = Math.min(x[1], y[1]);
  return (x[0] as ipaddr.IPv4).match(y[0] as ipaddr.IPv4, shorter);
}

function contains(cidr: string, address: string): boolean {
  const range = parseCidr(cidr);
  const ip = parseCidr(address);
  return !!range && !!ip && ip[1] === (ip[0].kind() === 'ipv4' ? 32 : 128) && overlaps(cidr, address);
}

function routeDevices(route: HostRoute): (string | undefined)[] {
  if (route.dev !== undefined) return [route.dev];
  if (route.nexthops?.length) return route.nexthops.map((n) => n.dev);
  return [undefined]; // blackhole, unreachable, prohibit: a route all the same
}

function describeRoute(route: HostRoute): string {
  const parts = ['route'];
  if (route.type && route.type !== 'unicast') parts.push(route.type);
  parts.push(route.dst);
  if (route.gateway) parts.push('via', route.gateway);
  const devices = routeDevices(route).filter((d) => d !== undefined);
  if (devices.length > 0) parts.push('dev', devices.join(','));
  if (route.table && route.table !== 'main') parts.push('table', route.table);
  if (route.protocol) parts.push('proto', route.protocol);
  return parts.join(' ');
}

/**
 * The first thing of `routing` that `cidr` would collide with, through a device not in `exempt`
 * (the bridge the range is meant for, or an earlier bridge of the same deployment): a route whose
 * destination overlaps it (default routes aside: every range overlaps them), a gateway inside it, or
 * an address whose subnet overlaps it. Undefined when the range is free.
 */
export function routeConflict(
  routing: HostRouting,
  cidr: string,
  exempt: Iterable<string> = [],
): RouteConflict | undefined {
  if (!parseCidr(cidr)) throw new Error(`not a CIDR: ${cidr}`);
  const skip = new Set(exempt);
  const foreign = (dev: string | undefined) => dev === undefined || !skip.has(dev);
  const routes = routing.routes.filter((route) => routeDevices(route).some(foreign));
  for (const route of routes)
    if (route.dst !== 'default' && overlaps(cidr, route.dst))
      return { cidr, kind: 'route', what: describeRoute(route) };
  for (const route of routes) {
    const gateways = [route.gateway, ...(route.nexthops ?? []).map((n) => n.gateway)];
    const gateway = gateways.find((g) => g !== undefined && contains(cidr, g));
    if (gateway) return { cidr, kind: 'gateway', what: `gateway ${gateway} (${describeRoute(route)})` };
  }
  for (const link of routing.links) {
    if (skip.has(link.ifname)) continue;
    for (const a of link.addr_info ?? []) {
      if (a.local === undefined || a.prefixlen === undefined) continue;
      if (overlaps(cidr, `${a.local}/${a.prefixlen}`))
        return { cidr, kind: 'address', what: `address ${a.local}/${a.prefixlen} on ${link.ifname}` };
    }
  }
  return undefined;
}

/** The first of `candidates` free of conflicts, and why each one before it was passed over. */
export function firstFreeRange(
  routing: HostRouting,
  candidates: readonly string[],
  exempt: Iterable<string> = [],
): { cidr: string | undefined; passedOver: RouteConflict[] } {
  const devices = [...exempt];
  const passedOver: RouteConflict[] = [];
  for (const candidate of candidates) {
    const conflict = routeConflict(routing, candidate, devices);
    if (!conflict) return { cidr: candidate, passedOver };
    passedOver.push(conflict);
  }
  return { cidr: undefined, passedOver };
}

/** The one line an operator reads: what collides, and the flag that chooses another range. */
export function conflictMessage(conflict: RouteConflict, flag: string): string {
  return `${conflict.cidr} overlaps the host's ${conflict.what}; choose another range with ${flag}`;
}
