/**
 * radvd as Neutron's L3 agent runs it, one per `qrouter-` namespace: router advertisements on
 * each internal device with an IPv6 subnet, the flags and prefixes per the subnets'
 * `ipv6_ra_mode` (pure), and the command line; the agent starts, reloads (SIGHUP: radvd rereads
 * its configuration and advertises at once) and stops it as a namespace daemon.
 *
 * Per device: `slaac` and `dhcpv6-stateless` prefixes are advertised autonomous (hosts make their
 * EUI-64 address), `dhcpv6-stateful` ones on-link but not autonomous with the Managed flag (hosts
 * ask DHCPv6 for their address), `dhcpv6-stateless` sets the Other flag (hosts ask DHCPv6 for the
 * rest); a subnet without `ipv6_ra_mode` contributes no prefix, but the router still advertises
 * itself as the default router there, as Neutron does. SLAAC subnets' DNS servers go out as RDNSS
 * (at most 3). Neutron's `route fe80::a9fe:a9fe/128` (IPv6 metadata) is left out: Neutrino serves
 * metadata over IPv4 only.
 */
import { join } from 'node:path';
import ipaddr from 'ipaddr.js';
import { Ipv6Modes } from '../model/subnet.js';

type Ipv6Mode = (typeof Ipv6Modes)[number];

export const RADVD = '/usr/sbin/radvd';

/** Neutron's `min_rtr_adv_interval` and `max_rtr_adv_interval` defaults (seconds). */
export const MIN_RTR_ADV_INTERVAL = 30;
export const MAX_RTR_ADV_INTERVAL = 100;
/** radvd takes at most 3 addresses in an RDNSS line (as Neutron's MAX_RDNSS_ENTRIES). */
const MAX_RDNSS = 3;
/** The IPv6 minimum link MTU: a smaller one is not advertised. */
const IPV6_MIN_MTU = 1280;

/** Files of one router's radvd inside its directory. */
export function radvdFiles(dir: string) {
  return { config: join(dir, 'radvd.conf'), pid: join(dir, 'radvd.pid') };
}

/** One IPv6 subnet on a router device. */
export interface RadvdSubnet {
  cidr: string;
  /** null: the router advertises itself, but not the prefix. */
  raMode: Ipv6Mode | null;
  dnsServers: readonly string[];
}

export interface RadvdInterface {
  /** The router's internal device (`qr-<port11>`). */
  device: string;
  /** The network's MTU. */
  mtu: number;
  subnets: readonly RadvdSubnet[];
}

const DEVICE = /^[A-Za-z0-9_.-]{1,15}$/;

function canonicalPrefix(cidr: string): string {
  const [, length] = ipaddr.parseCIDR(cidr);
  return `${ipaddr.IPv6.networkAddressFromCIDR(cidr).toString()}/${length}`;
}

/** radvd.conf for one router's devices. Refuses values that could break out of their line. */
export function radvdConfig(interfaces: readonly RadvdInterface[]): string {
  const out: string[] = [];
  for (const { device, mtu, subnets } of interfaces) {
    if (!DEVICE.test(device)) throw new Error(`invalid device ${device}`);
    if (!Number.isInteger(mtu) || mtu < 0) throw new Error(`invalid mtu ${mtu}`);
    for (const s of subnets) {
      if (!ipaddr.isValidCIDR(s.cidr) || ipaddr.parseCIDR(s.cidr)[0].kind() !== 'ipv6')
        throw new Error(`invalid IPv6 prefix ${s.cidr}`);
      if (s.raMode !== null && !(Ipv6Modes as readonly string[]).includes(s.raMode))
        throw new Error(`invalid ipv6_ra_mode ${s.raMode}`);
      for (const dns of s.dnsServers) if (!ipaddr.isValid(dns)) throw new Error(`invalid DNS server ${dns}`);
    }
    const modes = new Set(subnets.map((s) => s.raMode));
    const autonomous = subnets.filter((s) => s.raMode === 'slaac' || s.raMode === 'dhcpv6-stateless');
    const stateful = subnets.filter((s) => s.raMode === 'dhcpv6-stateful');
    const rdnss = subnets
      .filter((s) => s.raMode === 'slaac')
      .flatMap((s) => s.dnsServers.filter((d) => ipaddr.parse(d).kind() === 'ipv6'))
      .slice(0, MAX_RDNSS);
    out.push(
      `interface ${device}`,
      '{',
      '    AdvSendAdvert on;',
      `    MinRtrAdvInterval ${MIN_RTR_ADV_INTERVAL};`,
      `    MaxRtrAdvInterval ${MAX_RTR_ADV_INTERVAL};`,
    );
    if (mtu >= IPV6_MIN_MTU) out.push(`    AdvLinkMTU ${mtu};`);
    if (modes.has('dhcpv6-stateless')) out.push('    AdvOtherConfigFlag on;');
    if (modes.has('dhcpv6-stateful')) out.push('    AdvManagedFlag on;');
    if (rdnss.length > 0) out.push(`    RDNSS ${rdnss.map((d) => ipaddr.parse(d).toString()).join(' ')} {};`);
    for (const [list, auto] of [
      [autonomous, 'on'],
      [stateful, 'off'],
    ] as const)
      for (const s of list)
        out.push(
          `    prefix ${canonicalPrefix(s.cidr)}`,
          '    {',
          '        AdvOnLink on;',
          `        AdvAutonomous ${auto};`,
          '    };',
        );
    out.push('};');
  }
  return out.length > 0 ? `${out.join('\n')}\n` : '';
}

/** The command line (without radvd itself): our configuration and pid file, logging to syslog. */
export function radvdArgs(dir: string): string[] {
  const files = radvdFiles(dir);
  return ['-C', files.config, '-p', files.pid, '-m', 'syslog'];
}
