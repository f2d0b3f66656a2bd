/**
 * A network's DHCP service as Neutron runs it: namespace `qdhcp-<network>` holding the DHCP port's
 * device with the port's addresses, and one dnsmasq serving a static hosts file built from the
 * network's ports, with its files in `<stateDir>/dhcp/<network>/`. A port's extra DHCP options
 * (`extra_dhcp_opts`) are given to it by a tag on its hosts line, as Neutron does.
 */
import { join } from 'node:path';
import ipaddr from 'ipaddr.js';
import {
  addnHostsLine,
  type DhcpHost,
  dnsmasqArgs,
  dnsmasqFiles,
  hostsFileLine,
  optsFileLines,
  portOptsFileLines,
  portTag,
} from '../../linux/dnsmasq.js';
import {
  HAPROXY,
  haproxyArgs,
  haproxyFiles,
  METADATA_ADDRESS,
  metadataProxyConfig,
} from '../../linux/haproxy.js';
import { DeviceOwner } from '../../model/device-owners.js';
import type { SnapshotNetwork, SnapshotPort, SnapshotSubnet } from '../../model/host-snapshot.js';
import type { L2Driver, NetworkContext } from '../drivers/driver.js';
import { addDaemon, type HostState, namespaceLinkKey } from '../state/host-state.js';
import { metadataSocket } from './metadata-relay.js';

export function dhcpNamespace(networkId: string): string {
  return `qdhcp-${networkId}`;
}

export function dhcpDir(stateDir: string, networkId: string): string {
  return join(stateDir, 'dhcp', networkId);
}

/** The files of a DHCP server that dnsmasq rereads on SIGHUP. */
export function dhcpConfigFiles(dir: string): string[] {
  const files = dnsmasqFiles(dir);
  return [files.hosts, files.addnHosts, files.opts];
}

export interface DhcpServiceInput {
  /** This host: of the network's DHCP ports (one per DHCP host), it plumbs the one bound here. */
  host: string;
  network: SnapshotNetwork;
  /** The network's subnets. */
  subnets: SnapshotSubnet[];
  /** The network's ports, sorted by id. */
  ports: SnapshotPort[];
  domain: string;
  stateDir: string;
  driver: L2Driver;
  context: NetworkContext;
}

function text(lines: string[]): string {
  return lines.map((line) => `${line}\n`).join('');
}

function prefixLength(cidr: string): number {
  return ipaddr.parseCIDR(cidr)[1];
}

/**
 * The DNS servers DHCP offers on `subnet`: its own `dns_nameservers`; else, when the network has
 * several DHCP servers, each one's address on the subnet (this host's first), as Neutron offers
 * them; else none (dnsmasq then offers itself).
 */
function dnsServers(subnet: SnapshotSubnet, own: SnapshotPort, dhcpPorts: SnapshotPort[]): string[] {
  if (subnet.dns_nameservers.length > 0 || dhcpPorts.length < 2) return subnet.dns_nameservers;
  return [own, ...dhcpPorts.filter((p) => p !== own)].flatMap((p) =>
    p.fixed_ips.filter((ip) => ip.subnet_id === subnet.id).map((ip) => ip.ip_address),
  );
}

/**
 * Adds the DHCP service of `input.network` to `state` when the network has a DHCP-enabled subnet
 * and a DHCP port bound to this host (the first by id, if several; an unbound one counts as
 * this host's); it serves the subnets the port has an address on. Returns why it cannot,
 * if it cannot.
 */
export function addDhcpService(state: HostState, input: DhcpServiceInput): string | undefined {
  const { network, ports, stateDir, domain } = input;
  const dhcpPorts = ports.filter((p) => p.device_owner === DeviceOwner.dhcp);
  const port = dhcpPorts.find((p) => !p.binding_host_id || p.binding_host_id === input.host);
  const enabled = input.subnets.filter((s) => s.enable_dhcp);
  if (!port || enabled.length === 0) return undefined;
  const served = enabled.filter((s) => port.fixed_ips.some((ip) => ip.subnet_id === s.id));
  if (served.length === 0) return `DHCP port ${port.id} has no address on a DHCP-enabled subnet`;

  const netns = dhcpNamespace(network.id);
  const dir = dhcpDir(stateDir, network.id);
  const device = input.driver.serviceDeviceName(port.id);
  const up = port.admin_state_up && network.admin_state_up;
  const why = input.driver.plugPort(
    state,
    { portId: port.id, network, netns, device, mac: port.mac_address, up },
    input.context,
  );
  if (why) return why;
  state.namespaces[netns] = { kind: 'dhcp' };
  state.dirs[dir] = { netns };

  const cidrOf = new Map(served.map((s) => [s.id, s.cidr]));
  const addresses = port.fixed_ips
    .filter((ip) => cidrOf.has(ip.subnet_id))
    .map((ip) => `${ip.ip_address}/${prefixLength(cidrOf.get(ip.subnet_id)!)}`)
    .sort();
  // The metadata service (Neutron's isolated metadata, for every network with IPv4 DHCP): the
  // proxy listens on 169.254.169.254 on the DHCP device, and DHCP routes that address to it.
  const metadataVia = new Map(
    served.flatMap((s) => {
      const ip = port.fixed_ips.find((f) => f.subnet_id === s.id && !f.ip_address.includes(':'));
      return ip ? [[s.id, ip.ip_address] as const] : [];
    }),
  );
  let proxyConfig: string | undefined;
  try {
    if (metadataVia.size > 0)
      proxyConfig = metadataProxyConfig({ dir, networkId: network.id, socket: metadataSocket(stateDir) });
  } catch (err) {
    state.problems.push({ object: `network ${network.id}`, message: `no metadata proxy: ${String(err)}` });
    metadataVia.clear();
  }
  const metadata = proxyConfig !== undefined;
  state.namespaceLinks[namespaceLinkKey(netns, 'lo')] = { netns, name: 'lo', up: true };
  state.namespaceLinks[namespaceLinkKey(netns, device)] = {
    netns,
    name: device,
    up,
    addresses: metadata ? [...addresses, `${METADATA_ADDRESS}/32`].sort() : addresses,
  };
  if (proxyConfig !== undefined) {
    const { config, pid } = haproxyFiles(dir);
    const argv = [HAPROXY, ...haproxyArgs(dir)];
    addDaemon(state, { kind: 'haproxy', netns, config, pidFile: pid, argv }, proxyConfig);
  }

  const optionsOf = (p: SnapshotPort) => p.extra_dhcp_opts ?? [];
  // IPv6 subnets whose addresses hosts make themselves (SLAAC, DHCPv6 stateless): their addresses
  // are names in DNS, but no DHCP host entries (as Neutron's DHCP agent).
  const selfAddressed = new Set(
    served
      .filter((s) => s.ip_version === 6 && ['slaac', 'dhcpv6-stateless'].includes(s.ipv6_address_mode ?? ''))
      .map((s) => s.id),
  );
  const hosts: (DhcpHost & { subnet: string })[] = ports.flatMap((p) =>
    p.fixed_ips
      .filter((ip) => cidrOf.has(ip.subnet_id))
      .map((ip) => ({
        subnet: ip.subnet_id,
        mac: p.mac_address,
        ip: ip.ip_address,
        domain,
        ...(p.dns_name ? { hostname: p.dns_name } : {}),
        ...(optionsOf(p).length > 0 ? { tag: portTag(p.id) } : {}),
      })),
  );
  const files = dnsmasqFiles(dir);
  const file = (lines: string[]) => ({ content: text(lines), mode: 0o644 });
  const leased = hosts.filter((h) => !selfAddressed.has(h.subnet));
  state.files[files.hosts] = file(leased.map(hostsFileLine));
  state.files[files.addnHosts] = file(hosts.map(addnHostsLine));
  state.files[files.opts] = file([
    // SLAAC clients never ask DHCP, so their subnets get no options (as Neutron).
    ...served
      .filter((s) => !(s.ip_version === 6 && s.ipv6_address_mode === 'slaac'))
      .flatMap((s) =>
        optsFileLines({
          subnetId: s.id,
          cidr: s.cidr,
          gatewayIp: s.gateway_ip,
          dnsServers: dnsServers(s, port, dhcpPorts),
          hostRoutes: metadataVia.has(s.id)
            ? [
                ...s.host_routes.filter((r) => r.destination !== `${METADATA_ADDRESS}/32`),
                { destination: `${METADATA_ADDRESS}/32`, nexthop: metadataVia.get(s.id)! },
              ]
            : s.host_routes,
        }),
      ),
    ...ports.flatMap((p) =>
      optionsOf(p).length > 0 && p.device_owner !== DeviceOwner.dhcp
        ? portOptsFileLines(p.id, optionsOf(p))
        : [],
    ),
  ]);
  const argv = dnsmasqArgs({
    confDir: dir,
    interfaceName: device,
    subnets: served.map((s) => ({
      id: s.id,
      cidr: s.cidr,
      enableDhcp: true,
      ipv6AddressMode: s.ipv6_address_mode ?? null,
      ipv6RaMode: s.ipv6_ra_mode ?? null,
    })),
    domain,
    mtu: network.mtu,
  });
  state.dhcpServers[network.id] = {
    netns,
    device,
    dir,
    argv: ['dnsmasq', ...argv],
    // dhcp_release speaks DHCPv4 only; IPv6 leases expire on their own.
    leases: leased.filter((h) => !h.ip.includes(':')).map((h) => ({ mac: h.mac, ip: h.ip })),
  };
  return undefined;
}
