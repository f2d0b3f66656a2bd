/**
 * The addresses and CIDRs of a topology file, checked before anything is created: what the API
 * would refuse halfway through an apply (a bad gateway in the third subnet, after two were made)
 * is refused whole, every problem at once, each at its place in the file. Pure: the CIDRs it
 * compares with are the file's own (a subnet, network or router the file does not declare is the
 * planner's business, with the API's objects).
 */
import {
  bigIntToIp,
  type Cidr,
  cidrContains,
  cidrsOverlap,
  ipToBigInt,
  ipVersion,
  parseCidr,
} from '../../core/ipam.js';
import type { Located, Path } from '../../yaml-file.js';
import type { Project, Subnet } from './schema.js';

const cidrText = (c: Cidr) => `${bigIntToIp(c.network, c.version)}/${c.prefix}`;

/**
 * Why `value` is no network CIDR, or null. Host bits set (`10.99.0.1/24`) are refused with the
 * network to write instead: Neutron stores a subnet's CIDR with its host bits cleared and refuses
 * them in routes, so a file that kept them would never match what the API holds.
 */
export function cidrProblem(value: string): string | null {
  const parsed = parseCidr(value);
  if (!parsed) return `'${value}' is not a valid CIDR`;
  if (ipToBigInt(value.split('/')[0]) !== parsed.network) {
    return `'${value}' has host bits set: use '${cidrText(parsed)}'`;
  }
  return null;
}

/** Why `value` is no IP address (of `version`, when given), or null. */
export function addressProblem(value: string, version?: number): string | null {
  const v = ipVersion(value);
  if (v === null) return `'${value}' is not a valid IP address`;
  if (version !== undefined && v !== version) return `'${value}' is not an IPv${version} address`;
  return null;
}

interface FileSubnet {
  network: string;
  cidr: Cidr;
}

/** Every address and CIDR problem of the file's projects. */
export function addressProblems(projects: Record<string, Project>): Located[] {
  const out: Located[] = [];
  for (const [project, p] of Object.entries(projects)) {
    const at = (...rest: Path): Path => ['projects', project, ...rest];
    const report = (path: Path, message: string | null) => {
      if (message) out.push({ path, message });
    };
    const subnets = new Map<string, FileSubnet>();
    for (const [network, n] of Object.entries(p.networks ?? {})) {
      const own: [string, Cidr][] = [];
      for (const [name, s] of Object.entries(n.subnets ?? {})) {
        const cidr = checkSubnet(s, at('networks', network, 'subnets', name), report);
        if (!cidr) continue;
        const other = own.find(([, c]) => cidrsOverlap(cidrText(c), cidrText(cidr)));
        if (other)
          report(
            at('networks', network, 'subnets', name, 'cidr'),
            `${s.cidr} overlaps subnet ${other[0]} of network ${network}`,
          );
        own.push([name, cidr]);
        subnets.set(name, { network, cidr });
      }
    }
    const inNetwork = (network: string) => [...subnets.values()].filter((s) => s.network === network);
    for (const [name, r] of Object.entries(p.routers ?? {})) {
      const attached = (r.interfaces ?? []).flatMap((s) => subnets.get(s) ?? []);
      const known = attached.length === (r.interfaces ?? []).length;
      (r.routes ?? []).forEach((route, i) => {
        const path = at('routers', name, 'routes', i);
        report([...path, 'destination'], cidrProblem(route.destination));
        const problem = addressProblem(route.nexthop);
        report([...path, 'nexthop'], problem);
        if (!problem && known && !attached.some((s) => cidrContains(s.cidr, route.nexthop)))
          report(
            [...path, 'nexthop'],
            `${route.nexthop} is on none of router ${name}'s interface subnets: a next hop must be reachable through one`,
          );
      });
    }
    for (const [name, inst] of Object.entries(p.instances ?? {}))
      inst.networks.forEach((nic, i) => {
        if (typeof nic === 'string' || nic.fixed_ip === undefined) return;
        const path = at('instances', name, 'networks', i, 'fixed_ip');
        const problem = addressProblem(nic.fixed_ip);
        report(path, problem);
        const own = inNetwork(nic.network);
        if (!problem && own.length > 0 && !own.some((s) => cidrContains(s.cidr, nic.fixed_ip!)))
          report(path, `${nic.fixed_ip} is in no subnet of network ${nic.network}`);
      });
    (p.floating_ips ?? []).forEach((fip, i) => {
      if (fip.address === undefined) return;
      const path = at('floating_ips', i, 'address');
      const problem = addressProblem(fip.address);
      report(path, problem);
      const own = inNetwork(fip.network);
      if (!problem && own.length > 0 && !own.some((s) => cidrContains(s.cidr, fip.address!)))
        report(path, `${fip.address} is in no subnet of network ${fip.network}`);
    });
  }
  return out;
}

/** A subnet's CIDR (when it is one) after reporting its problems and those of its addresses. */
function checkSubnet(
  s: Subnet,
  path: Path,
  report: (path: Path, message: string | null) => void,
): Cidr | null {
  const problem = cidrProblem(s.cidr);
  report([...path, 'cidr'], problem);
  const cidr = parseCidr(s.cidr);
  if (!cidr) return null;
  if (s.ip_version !== undefined && s.ip_version !== cidr.version)
    report([...path, 'ip_version'], `cidr ${s.cidr} is not IPv${s.ip_version}`);
  const v = cidr.version;
  if (typeof s.gateway === 'string') {
    const bad = addressProblem(s.gateway, v);
    report([...path, 'gateway'], bad);
    const value = ipToBigInt(s.gateway);
    if (!bad && v === 4 && (value === cidr.network || value === cidr.network + cidr.size - 1n))
      report([...path, 'gateway'], `${s.gateway} is the network or broadcast address of ${s.cidr}`);
  }
  (s.dns_nameservers ?? []).forEach((ip, i) => {
    report([...path, 'dns_nameservers', i], addressProblem(ip, v));
  });
  (s.allocation_pools ?? []).forEach((pool, i) => {
    for (const end of ['start', 'end'] as const) {
      const bad = addressProblem(pool[end], v);
      report([...path, 'allocation_pools', i, end], bad);
      if (!bad && !problem && !cidrContains(cidr, pool[end]))
        report([...path, 'allocation_pools', i, end], `${pool[end]} is outside ${s.cidr}`);
    }
    const [start, end] = [ipToBigInt(pool.start), ipToBigInt(pool.end)];
    if (start !== null && end !== null && start > end)
      report([...path, 'allocation_pools', i], `the pool starts (${pool.start}) after it ends (${pool.end})`);
  });
  (s.host_routes ?? []).forEach((route, i) => {
    report([...path, 'host_routes', i, 'destination'], cidrProblem(route.destination));
    report([...path, 'host_routes', i, 'nexthop'], addressProblem(route.nexthop, v));
  });
  return problem ? null : cidr;
}
