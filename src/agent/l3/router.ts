/**
 * A router as Neutron's L3 agent lays it out: namespace `qrouter-<router>` with forwarding on
 * inside it (never in the root namespace), one `qr-<port11>` device per internal interface holding
 * the subnets' gateway addresses, a `qg-<port11>` device on the external network holding the
 * gateway and floating IP addresses (associated or forwarding ports), the default and extra
 * routes, one nftables table for NAT (`nat.ts`) and one for its firewall groups (`fwaas.ts`), and radvd advertising the internal IPv6 subnets;
 * the records of what was applied live in `<stateDir>/routers/<router>/`.
 */
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import ipaddr from 'ipaddr.js';
import {
  KEEPALIVED,
  keepalivedArgs,
  keepalivedConfig,
  keepalivedFiles,
  notifyScript,
} from '../../linux/keepalived.js';
import { RADVD, type RadvdInterface, radvdArgs, radvdConfig, radvdFiles } from '../../linux/radvd.js';
import {
  type SnapshotNetwork,
  type SnapshotNetworkLogging,
  type SnapshotPortForwarding,
  type SnapshotRouter,
  SnapshotRouterPort,
} from '../../model/host-snapshot.js';
import { FORWARDED_PROTOCOLS } from '../../model/port-forwarding.js';
import type { L2Driver, NetworkContext } from '../drivers/driver.js';
import { linkLocal } from '../firewall/security-groups.js';
import { nflogGroup } from '../logging/rules.js';
import { addDaemon, type HostState, namespaceLinkKey, type Route } from '../state/host-state.js';
import { unusable } from '../state/usable.js';
import { fwaasRuleKeys, renderFwaasRuleset } from './fwaas.js';
import { natFloatingIps, natPortForwardings, renderRouterRuleset } from './nat.js';

const ID_CHARS = 11;
export const IPV4_FORWARDING = 'net.ipv4.ip_forward';
export const IPV6_FORWARDING = 'net.ipv6.conf.all.forwarding';
/** Matches every internal device of a router (nftables wildcard). */
export const INTERNAL_DEVICES = 'qr-*';

export function routerNamespace(routerId: string): string {
  return `qrouter-${routerId}`;
}

export function routerDir(stateDir: string, routerId: string): string {
  return join(stateDir, 'routers', routerId);
}

/** What the last NAT apply recorded (`nat.json` in the router's directory). */
export interface NatRecord {
  /** sha256 of the ruleset applied. */
  hash: string;
  /** sha256 of nft's listing of the table right after: a later listing that differs means drift. */
  listing: string;
  floatingIps: Record<string, string>;
}

export function natRecordFile(dir: string): string {
  return join(dir, 'nat.json');
}

/**
 * What a router namespace held after the last run that changed it without a failure: its links,
 * routes and sysctls (`namespace.json` in the router's directory). Runs between full resyncs trust
 * it instead of entering the namespace; a run about to change the namespace removes it first.
 */
export interface NamespaceRecord {
  links: Record<string, { up: boolean; addresses?: string[]; silent?: boolean }>;
  routes: Route[];
  sysctls: Record<string, string>;
}

export function namespaceRecordFile(dir: string): string {
  return join(dir, 'namespace.json');
}

export function internalDeviceName(portId: string): string {
  return `qr-${portId.slice(0, ID_CHARS)}`;
}

export function gatewayDeviceName(portId: string): string {
  return `qg-${portId.slice(0, ID_CHARS)}`;
}

export function haDeviceName(portId: string): string {
  return `ha-${portId.slice(0, ID_CHARS)}`;
}

export function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

export interface RouterInput {
  router: SnapshotRouter;
  /** The host's valid networks. */
  networks: Map<string, SnapshotNetwork>;
  stateDir: string;
  driver: L2Driver;
  context: NetworkContext;
  /** What this host logs (its firewall groups' part is rendered here). */
  logging?: SnapshotNetworkLogging;
}

function isIp(text: string): boolean {
  return ipaddr.isValid(text);
}

/** A CIDR in the kernel's canonical form (host bits cleared), as `ip route` reports it. */
function canonicalCidr(cidr: string): string {
  const [address, length] = ipaddr.parseCIDR(cidr);
  const network =
    address.kind() === 'ipv4'
      ? ipaddr.IPv4.networkAddressFromCIDR(cidr)
      : ipaddr.IPv6.networkAddressFromCIDR(cidr);
  return `${network.toString()}/${length}`;
}

function invalidPort(port: SnapshotRouterPort): string | undefined {
  const why = unusable(SnapshotRouterPort, port);
  if (why) return `port ${port.port_id}: ${why}`;
  for (const a of port.addresses) {
    const max = isIp(a.ip_address) && ipaddr.parse(a.ip_address).kind() === 'ipv4' ? 32 : 128;
    if (!isIp(a.ip_address) || !Number.isInteger(a.prefixlen) || a.prefixlen < 1 || a.prefixlen > max)
      return `invalid address ${a.ip_address}/${a.prefixlen}`;
  }
  return undefined;
}

function invalidRouter(router: SnapshotRouter): string | undefined {
  const ha = router.ha?.port ? [router.ha.port] : [];
  for (const port of [...(router.gateway ? [router.gateway] : []), ...router.interfaces, ...ha]) {
    const why = invalidPort(port);
    if (why) return `port ${port.port_id}: ${why}`;
  }
  if (!(router.gateway?.external_gateway_ips ?? []).every(isIp)) return 'invalid external_gateway_ips';
  if (!router.routes.every((r) => ipaddr.isValidCIDR(r.destination) && isIp(r.nexthop)))
    return 'invalid routes';
  const fips = router.floating_ips;
  if (
    !fips.every(
      (f) => isIp(f.floating_ip_address) && (f.fixed_ip_address === null || isIp(f.fixed_ip_address)),
    )
  )
    return 'invalid floating IP';
  if (!fips.every((f) => (f.port_forwardings ?? []).every(validForwarding))) return 'invalid port forwarding';
  return undefined;
}

const validPort = (n: number) => Number.isInteger(n) && n >= 1 && n <= 65535;

/** Every value goes into nft's text: a known protocol, an address, ports in order (ranges 1-N or N-N). */
function validForwarding(pf: SnapshotPortForwarding): boolean {
  const ports = [pf.internal_port_start, pf.internal_port_end, pf.external_port_start, pf.external_port_end];
  const internal = pf.internal_port_end - pf.internal_port_start;
  return (
    (FORWARDED_PROTOCOLS as readonly string[]).includes(pf.protocol) &&
    isIp(pf.internal_ip_address) &&
    ports.every(validPort) &&
    internal >= 0 &&
    pf.external_port_end >= pf.external_port_start &&
    (internal === 0 || internal === pf.external_port_end - pf.external_port_start)
  );
}

/**
 * The floating IPs the router holds on its gateway, each with what it maps to: the fixed address
 * (1:1) or its forwardings as text, so any change of either flushes its connections.
 */
function mappedFloatingIps(router: SnapshotRouter): Record<string, string> {
  const forwarded = natPortForwardings(router).map(({ floating, forwardings }) => {
    const text = forwardings.map(
      (pf) =>
        `${pf.protocol} ${pf.external_port_start}-${pf.external_port_end}>${pf.internal_ip_address}:${pf.internal_port_start}-${pf.internal_port_end}`,
    );
    return [floating, text.join(',')];
  });
  return Object.fromEntries([...natFloatingIps(router).map((f) => [f.floating, f.fixed]), ...forwarded]);
}

/** A port's addresses as `ip addr` reports them (IPv6 in its canonical short form). */
function cidrs(port: SnapshotRouterPort): string[] {
  return port.addresses.map((a) => `${ipaddr.parse(a.ip_address).toString()}/${a.prefixlen}`);
}

/** A subnet a router's device is on. */
interface OnLink {
  cidr: string;
  dev: string;
}

/**
 * The router's routes: with a gateway, a default route per family via the first external gateway IP
 * of that family; then the extra routes. Every next hop must be on one of the router's subnets,
 * whose device the route leaves by.
 */
function routesOf(router: SnapshotRouter, gateway: boolean, onLink: OnLink[], problems: string[]): Route[] {
  const wanted: Omit<Route, 'dev'>[] = [];
  for (const ip of gateway ? (router.gateway?.external_gateway_ips ?? []) : []) {
    const nexthop = ipaddr.parse(ip);
    const destination = nexthop.kind() === 'ipv4' ? '0.0.0.0/0' : '::/0';
    if (!wanted.some((r) => r.destination === destination))
      wanted.push({ destination, nexthop: nexthop.toString() });
  }
  for (const r of router.routes)
    wanted.push({ destination: canonicalCidr(r.destination), nexthop: ipaddr.parse(r.nexthop).toString() });
  const deviceTo = (ip: string) =>
    onLink.find(({ cidr }) => {
      const [network, length] = ipaddr.parseCIDR(cidr);
      const address = ipaddr.parse(ip);
      return address.kind() === network.kind() && address.match(network, length);
    })?.dev;
  const routes = new Map<string, Route>();
  for (const { destination, nexthop } of wanted) {
    const dev = deviceTo(nexthop);
    if (!dev) problems.push(`route to ${destination}: next hop ${nexthop} is not on a subnet of the router`);
    else if (routes.has(destination)) problems.push(`more than one route to ${destination}`);
    else routes.set(destination, { destination, nexthop, dev });
  }
  return [...routes.values()].sort((a, b) => a.destination.localeCompare(b.destination));
}

/**
 * Adds router `input.router` to `state`: its namespace and directory, its plugged devices with
 * their addresses, forwarding, routes and NAT table. Returns the problems of what it left out (an
 * interface on a network this host cannot realise, a route it cannot install); a router that is
 * unusable as a whole is left out entirely.
 */
export function addRouter(state: HostState, input: RouterInput): string[] {
  const { router, networks, stateDir, driver, context } = input;
  const invalid = invalidRouter(router);
  if (invalid) return [invalid];
  const netns = routerNamespace(router.id);
  const dir = routerDir(stateDir, router.id);
  const up = router.admin_state_up;
  const problems: string[] = [];
  state.namespaces[netns] = { kind: 'router' };
  state.dirs[dir] = { netns };
  state.namespaceLinks[namespaceLinkKey(netns, 'lo')] = { netns, name: 'lo', up: true };

  // An HA router's addresses and routes are keepalived's to move (the master holds them), and its
  // devices keep no IPv6 link-local address, so a standby sends nothing from the router's MACs.
  const ha = router.ha ?? null;
  const plug = (port: SnapshotRouterPort, device: string, addresses: string[], own = false): boolean => {
    const network = networks.get(port.network_id);
    const why = network
      ? driver.plugPort(
          state,
          { portId: port.port_id, network, netns, device, mac: port.mac_address.toLowerCase(), up },
          context,
        )
      : `network ${port.network_id} is not usable on this host`;
    if (why) {
      problems.push(`port ${port.port_id}: ${why}`);
      return false;
    }
    state.namespaceLinks[namespaceLinkKey(netns, device)] =
      ha && !own
        ? { netns, name: device, up, silent: true }
        : { netns, name: device, up, addresses: addresses.sort() };
    if (ha && !own) vips.push(...addresses.map((cidr) => ({ cidr, dev: device })));
    return true;
  };
  const vips: { cidr: string; dev: string }[] = [];

  const onLink: OnLink[] = [];
  const advertised: RadvdInterface[] = [];
  for (const port of router.interfaces) {
    const dev = internalDeviceName(port.port_id);
    if (!plug(port, dev, cidrs(port))) continue;
    onLink.push(...cidrs(port).map((cidr) => ({ cidr, dev })));
    const v6 = port.addresses.filter((a) => ipaddr.parse(a.ip_address).kind() === 'ipv6');
    if (v6.length === 0) continue;
    advertised.push({
      device: dev,
      mtu: networks.get(port.network_id)?.mtu ?? 0,
      subnets: v6.map((a) => ({
        cidr: canonicalCidr(`${a.ip_address}/${a.prefixlen}`),
        raMode: a.ipv6_ra_mode ?? null,
        dnsServers: a.dns_nameservers ?? [],
      })),
    });
    // The master advertises from the router's link-local address, which keepalived moves with
    // the others (a standby's devices have none, so its radvd sends nothing).
    if (ha) vips.push({ cidr: `${linkLocal(port.mac_address.toLowerCase())}/64`, dev });
  }
  const { gateway } = router;
  let gatewayDevice: string | null = null;
  if (gateway) {
    const dev = gatewayDeviceName(gateway.port_id);
    const floating = Object.keys(mappedFloatingIps(router)).map((ip) => `${ip}/32`);
    if (plug(gateway, dev, [...new Set([...cidrs(gateway), ...floating])])) {
      gatewayDevice = dev;
      onLink.push(...cidrs(gateway).map((cidr) => ({ cidr, dev })));
    }
  }

  const ipv6 = onLink.some(({ cidr }) => cidr.includes(':'));
  // Routes through a device that is down are refused by the kernel (and it drops them itself).
  const routes = up ? routesOf(router, gatewayDevice !== null, onLink, problems) : [];
  if (ha) {
    const haPort = ha.port;
    const haDevice = haPort ? haDeviceName(haPort.port_id) : null;
    if (!haPort || !haDevice) problems.push(`router ${router.id}: no HA port on this host yet (VRRP waits)`);
    else if (haPort.addresses.length === 0)
      problems.push(`HA port ${haPort.port_id}: no address on the HA network`);
    else if (plug(haPort, haDevice, cidrs(haPort), true) && up) {
      const { config, notify, pid } = keepalivedFiles(dir);
      const text = keepalivedConfig({
        dir,
        vrid: ha.vrid,
        haDevice,
        advertInt: ha.advert_int,
        addresses: vips,
        routes,
      });
      const argv = [KEEPALIVED, ...keepalivedArgs(dir)];
      addDaemon(state, { kind: 'keepalived', netns, config, pidFile: pid, argv }, text);
      state.files[notify] = { content: notifyScript(dir), mode: 0o755 };
    }
  }
  // Neutron's L3 agent runs radvd on every router with an internal IPv6 subnet (see
  // `linux/radvd.ts`); on an HA router, on every replica (see the link-local address above).
  if (up && advertised.length > 0) {
    try {
      const text = radvdConfig(advertised);
      const { config, pid } = radvdFiles(dir);
      addDaemon(
        state,
        { kind: 'radvd', netns, config, pidFile: pid, argv: [RADVD, ...radvdArgs(dir)] },
        text,
      );
    } catch (err) {
      problems.push(`no router advertisements: ${(err as Error).message}`);
    }
  }
  const names = { gateway: gatewayDevice, internal: INTERNAL_DEVICES };
  const ruleset = renderRouterRuleset(router, names);
  const logging = input.logging && { config: input.logging, group: nflogGroup(context.owner) };
  const firewalls = renderFwaasRuleset(router.firewall_groups ?? [], internalDeviceName, problems, logging);
  const floatingIps = gatewayDevice ? mappedFloatingIps(router) : {};
  state.routers[netns] = {
    dir,
    gatewayDevice: ha ? null : gatewayDevice,
    sysctls: { [IPV4_FORWARDING]: '1', [IPV6_FORWARDING]: ipv6 ? '1' : '0' },
    routes: ha ? [] : routes,
    nat: { hash: sha256(ruleset), ruleset, floatingIps },
    fwaas: {
      hash: sha256(firewalls),
      ruleset: firewalls,
      rules: fwaasRuleKeys(router.firewall_groups ?? []),
    },
  };
  return problems;
}
