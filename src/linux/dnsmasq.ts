/**
 * dnsmasq as Neutron runs it, one per network inside `qdhcp-<network>`: the command line and the
 * lines of its host/opts files (pure), plus start, reload (SIGHUP) and `dhcp_release`.
 *
 * DNS stays on (port 53) so instances resolve each other's `host-<ip>.<domain>` names from
 * `addn_hosts`, as with Neutron. dnsmasq listens only on the DHCP port's device (`--interface`,
 * `--except-interface=lo`) and uses `--bind-dynamic` rather than `--bind-interfaces` or
 * `--listen-address`: those bind the addresses present at start, so a DHCP port gaining an address
 * (a new subnet) would need a restart, while Neutrino only ever sends SIGHUP.
 *
 * dnsmasq drops root after start (to user `dnsmasq` on Debian) and rereads the host and opts
 * files as that user on SIGHUP, so `confDir` and its files must be readable by it (0755/0644).
 */
import { join } from 'node:path';
import ipaddr from 'ipaddr.js';
import { runInNamespace } from './exec.js';
import { signal, startDaemon } from './process.js';

export interface DnsmasqSubnet {
  id: string;
  cidr: string;
  enableDhcp: boolean;
  /** IPv6: the subnet's `ipv6_address_mode` and `ipv6_ra_mode` (null or absent: not set). */
  ipv6AddressMode?: string | null;
  ipv6RaMode?: string | null;
}

/**
 * Whether dnsmasq hands out addresses on an IPv6 subnet (a `static` range), as Neutron's DHCP agent
 * decides: for `dhcpv6-stateful` and `dhcpv6-stateless` address modes (stateless clients only ask
 * for options, which need the range too), and for a subnet with neither mode set; not for SLAAC,
 * nor for a subnet whose addresses come from someone else's advertisements. dnsmasq never
 * advertises itself (no `--enable-ra`): the router does.
 */
export function servesDhcpv6(subnet: Pick<DnsmasqSubnet, 'ipv6AddressMode' | 'ipv6RaMode'>): boolean {
  const address = subnet.ipv6AddressMode ?? null;
  return (
    address === 'dhcpv6-stateful' ||
    address === 'dhcpv6-stateless' ||
    (address === null && (subnet.ipv6RaMode ?? null) === null)
  );
}

export interface DnsmasqConfig {
  /** This network's directory for dnsmasq's files (see `dnsmasqFiles`). */
  confDir: string;
  /** The DHCP port's device inside the namespace (`ns-<port11>`). */
  interfaceName: string;
  subnets: readonly DnsmasqSubnet[];
  /** Default `openstacklocal`, Neutron's `dns_domain`. */
  domain?: string;
  /** Sent as DHCP option 26 whether or not the client asks (VXLAN networks need 1450). */
  mtu?: number;
  /** Default 86400, Neutron's `dhcp_lease_duration`. */
  leaseSeconds?: number;
  /** Default: the number of addresses in the DHCP subnets, at most 2^24 (Neutron's rule). */
  leaseMax?: number;
  /** Upstream DNS servers names outside the network are forwarded to; none means no forwarding. */
  dnsServers?: readonly string[];
}

const MAX_LEASES = 2 ** 24;

/** Where dnsmasq's files for one network live inside its `confDir` (Neutron's names). */
export function dnsmasqFiles(confDir: string) {
  return {
    pid: join(confDir, 'pid'),
    hosts: join(confDir, 'host'),
    addnHosts: join(confDir, 'addn_hosts'),
    opts: join(confDir, 'opts'),
    leases: join(confDir, 'leases'),
  };
}

/** The tag dnsmasq sets on a client served from a subnet's range, used by the opts file. */
export function subnetTag(subnetId: string): string {
  return `subnet-${subnetId}`;
}

/** dnsmasq's command line (without `dnsmasq` itself) for one network. */
export function dnsmasqArgs(config: DnsmasqConfig): string[] {
  const files = dnsmasqFiles(config.confDir);
  const lease = `${config.leaseSeconds ?? 86400}s`;
  const args = [
    '--no-hosts',
    '--no-resolv',
    '--conf-file=/dev/null',
    `--pid-file=${files.pid}`,
    `--dhcp-hostsfile=${files.hosts}`,
    `--addn-hosts=${files.addnHosts}`,
    `--dhcp-optsfile=${files.opts}`,
    `--dhcp-leasefile=${files.leases}`,
    `--interface=${config.interfaceName}`,
    '--except-interface=lo',
    '--bind-dynamic',
  ];
  let possibleLeases = 0;
  for (const subnet of config.subnets) {
    if (!subnet.enableDhcp) continue;
    const [address, prefix] = ipaddr.parseCIDR(subnet.cidr);
    const tag = `set:${subnetTag(subnet.id)}`;
    if (address.kind() === 'ipv4') {
      const network = ipaddr.IPv4.networkAddressFromCIDR(subnet.cidr).toString();
      const mask = ipaddr.IPv4.subnetMaskFromPrefixLength(prefix).toString();
      args.push(`--dhcp-range=${tag},${network},static,${mask},${lease}`);
    } else {
      // dnsmasq cannot serve a range wider than a /64 (Neutron skips those too).
      if (!servesDhcpv6(subnet) || prefix < 64) continue;
      const network = ipaddr.IPv6.networkAddressFromCIDR(subnet.cidr).toString();
      args.push(`--dhcp-range=${tag},${network},static,${prefix},${lease}`);
    }
    possibleLeases += 2 ** Math.min((address.kind() === 'ipv4' ? 32 : 128) - prefix, 24);
  }
  if (config.mtu !== undefined) args.push(`--dhcp-option-force=option:mtu,${config.mtu}`);
  if (possibleLeases > 0) {
    args.push(`--dhcp-lease-max=${config.leaseMax ?? Math.min(possibleLeases, MAX_LEASES)}`);
  }
  const domain = config.domain ?? 'openstacklocal';
  for (const server of config.dnsServers ?? []) args.push(`--server=${server}`);
  // Names in the network's own domain are answered from local data only: unknown ones get
  // NXDOMAIN (not REFUSED, which resolvers treat as a broken server) and never leave the network.
  args.push(`--domain=${domain}`, `--local=/${domain}/`);
  return args;
}

export interface DhcpHost {
  mac: string;
  ip: string;
  /** Default `host-<ip with dashes>`, Neutron's name for a port without `dns_name`. */
  hostname?: string;
  /** Default `openstacklocal`. */
  domain?: string;
  /** The tag its extra DHCP options are given by (`portTag`), for a port that has some. */
  tag?: string;
}

function hostNames(host: DhcpHost): { hostname: string; fqdn: string } {
  const hostname = host.hostname ?? `host-${host.ip.replace(/[.:]/g, '-')}`;
  return { hostname, fqdn: `${hostname}.${host.domain ?? 'openstacklocal'}` };
}

/**
 * One `--dhcp-hostsfile` line: `mac,host-10-0-0-5.openstacklocal,10.0.0.5` (IPv6 in brackets),
 * with Neutron's `set:port-<id>` tag only for a port with extra DHCP options: dnsmasq 2.90
 * segfaults on a SIGHUP when a line carrying a `set:` tag has an active lease (measured here), so
 * a server with tagged lines is restarted instead (see `isTagged`).
 */
export function hostsFileLine(host: DhcpHost): string {
  const ip = host.ip.includes(':') ? `[${host.ip}]` : host.ip;
  return `${host.mac},${hostNames(host).fqdn},${ip}${host.tag ? `,set:${host.tag}` : ''}`;
}

/** Whether a hosts file has tagged lines (its dnsmasq must not get a SIGHUP; see `hostsFileLine`). */
export function isTagged(hostsFile: string): boolean {
  return hostsFile.includes(',set:');
}

/** The tag a port's extra DHCP options are given by. */
export function portTag(portId: string): string {
  return `port-${portId}`;
}

export interface ExtraDhcpOption {
  opt_name: string;
  opt_value: string;
  /** 4 (the default) or 6. */
  ip_version?: number;
}

/** Option names dnsmasq knows by name (`option:ntp-server`), or option numbers. */
const OPTION_NAME = /^([0-9]{1,3}|[a-z][a-z0-9-]*)$/;

/**
 * The `--dhcp-optsfile` lines of a port's extra DHCP options (Neutron's `extra_dhcp_opts`), as
 * Neutron's DHCP agent writes them: `tag:port-<id>,option:<name>,<value>` (`option6:` for IPv6; a
 * number stays a number for IPv4). An empty value (`router`, `classless-static-route`) withholds
 * the option. Names that are neither a number nor a name in dnsmasq's form are left out (dnsmasq
 * would reject the line); dnsmasq skips, and logs, names it does not know.
 */
export function portOptsFileLines(portId: string, options: readonly ExtraDhcpOption[]): string[] {
  const tag = `tag:${portTag(portId)}`;
  return options
    .filter((o) => OPTION_NAME.test(o.opt_name) && !/[\r\n]/.test(o.opt_value))
    .map((o) => {
      const v6 = o.ip_version === 6;
      const name =
        /^[0-9]+$/.test(o.opt_name) && !v6 ? o.opt_name : `${v6 ? 'option6' : 'option'}:${o.opt_name}`;
      return o.opt_value === '' ? `${tag},${name}` : `${tag},${name},${o.opt_value}`;
    });
}

/** One `--addn-hosts` line, which makes the name resolvable by DNS before any lease exists. */
export function addnHostsLine(host: DhcpHost): string {
  const { hostname, fqdn } = hostNames(host);
  return `${host.ip}\t${fqdn} ${hostname}`;
}

export interface SubnetDhcpOptions {
  subnetId: string;
  cidr: string;
  /** null or absent: no default route is offered. */
  gatewayIp?: string | null;
  /** Absent or empty: clients are told to use dnsmasq itself. */
  dnsServers?: readonly string[];
  hostRoutes?: readonly { destination: string; nexthop: string }[];
}

/** The `--dhcp-optsfile` lines for one subnet (router, DNS servers, classless static routes). */
export function optsFileLines(subnet: SubnetDhcpOptions): string[] {
  const tag = `tag:${subnetTag(subnet.subnetId)}`;
  const dns = subnet.dnsServers ?? [];
  if (ipaddr.parseCIDR(subnet.cidr)[0].kind() === 'ipv6') {
    return dns.length > 0 ? [`${tag},option6:dns-server,${dns.map((a) => `[${a}]`).join(',')}`] : [];
  }
  const lines: string[] = [];
  if (dns.length > 0) lines.push(`${tag},option:dns-server,${dns.join(',')}`);
  const routes = [...(subnet.hostRoutes ?? [])];
  if (routes.length > 0) {
    // A client that receives option 121 ignores option 3, so the default route must be repeated.
    if (subnet.gatewayIp) routes.push({ destination: '0.0.0.0/0', nexthop: subnet.gatewayIp });
    const list = routes.map((r) => `${r.destination},${r.nexthop}`).join(',');
    lines.push(`${tag},option:classless-static-route,${list}`, `${tag},249,${list}`);
  }
  // An empty option:router tells dnsmasq not to offer itself as the router.
  lines.push(subnet.gatewayIp ? `${tag},option:router,${subnet.gatewayIp}` : `${tag},option:router`);
  return lines;
}

/** Starts dnsmasq in namespace `ns` and resolves with its pid once its `--pid-file` names it. */
export async function startDnsmasq(ns: string, args: readonly string[]): Promise<number> {
  const pidFile = args.find((a) => a.startsWith('--pid-file='))?.slice('--pid-file='.length);
  if (!pidFile) throw new Error('dnsmasq args carry no --pid-file');
  return startDaemon('dnsmasq', args, { netns: ns, pidFile });
}

/** Makes dnsmasq reread its host, addn_hosts and opts files (SIGHUP); false if it is gone. */
export function reloadDnsmasq(pid: number): boolean {
  return signal(pid, 'SIGHUP');
}

/** Tells dnsmasq in `ns` to forget the lease of a deleted port (dnsmasq-utils' `dhcp_release`). */
export async function dhcpRelease(ns: string, iface: string, ip: string, mac: string): Promise<void> {
  await runInNamespace(ns, 'dhcp_release', [iface, ip, mac]);
}
