/**
 * A router's IPv4 NAT as one nftables table, rendered as the text of one `nft -f` transaction that
 * replaces the table whole (pure). Neutron's L3 recipe: SNAT of what leaves by the gateway to the
 * gateway address, none for traffic that stays inside or was DNATed; floating IPs as DNAT (in
 * prerouting and output) plus SNAT ahead of the default one; hairpin masquerading so an instance
 * reaches another's floating IP; no SNAT for internal subnets in the gateway's address scope
 * (Neutron routes traffic within an address scope as it is). A floating IP that forwards ports
 * DNATs each forwarding's protocol and external port(s) to its internal address and port(s), in
 * prerouting and output as well; replies go back by conntrack, new connections from inside leave
 * by the default SNAT.
 */
import ipaddr from 'ipaddr.js';
import type { SnapshotPortForwarding, SnapshotRouter } from '../../model/host-snapshot.js';

export const NAT_FAMILY = 'ip';
export const NAT_TABLE = 'neutrino-router';
/**
 * Marks connections that enter by an internal interface. `iifname` means nothing in postrouting,
 * so this is how the hairpin rule tells an instance's flow to a floating IP (masqueraded, or the
 * reply would bypass the router) from an outside one (whose source the instance must see).
 */
const FROM_INSIDE = '0x1';

export interface RouterDeviceNames {
  /** The gateway device (`qg-…`); null when the router has no gateway. */
  gateway: string | null;
  /** A pattern matching every internal device, e.g. `qr-*`. */
  internal: string;
}

/** The floating IPs that get NAT: IPv4, associated, on a router with a gateway; sorted. */
export function natFloatingIps(router: SnapshotRouter): { floating: string; fixed: string }[] {
  if (!router.gateway) return [];
  return router.floating_ips
    .flatMap((f) =>
      f.fixed_ip_address !== null && isIpv4(f.floating_ip_address) && isIpv4(f.fixed_ip_address)
        ? [{ floating: f.floating_ip_address, fixed: f.fixed_ip_address }]
        : [],
    )
    .sort((a, b) => compare(a.floating, b.floating));
}

/** The floating IPs that forward ports: IPv4, unassociated, on a router with a gateway; sorted. */
export function natPortForwardings(
  router: SnapshotRouter,
): { floating: string; forwardings: SnapshotPortForwarding[] }[] {
  if (!router.gateway) return [];
  return router.floating_ips
    .flatMap((f) => {
      const forwardings = (f.port_forwardings ?? []).filter((pf) => isIpv4(pf.internal_ip_address));
      return f.fixed_ip_address === null && forwardings.length > 0 && isIpv4(f.floating_ip_address)
        ? [{ floating: f.floating_ip_address, forwardings }]
        : [];
    })
    .sort((a, b) => compare(a.floating, b.floating));
}

/**
 * One forwarding's DNAT rule. The same ports inside keep the port; one internal port takes every
 * external one (Neutron's 1-N); a shifted range maps port by port, since this nft has no shifted
 * port ranges (`dnat to A:8000-8010` picks any port of the range, not the matching one).
 */
export function forwardingRule(floating: string, pf: SnapshotPortForwarding): string {
  const span = (start: number, end: number) => (start === end ? `${start}` : `${start}-${end}`);
  const match = `ip daddr ${floating} ${pf.protocol} dport ${span(pf.external_port_start, pf.external_port_end)}`;
  const to = pf.internal_ip_address;
  if (pf.internal_port_start === pf.internal_port_end)
    return `${match} dnat to ${to}:${pf.internal_port_start}`;
  if (pf.internal_port_start === pf.external_port_start) return `${match} dnat to ${to}`;
  const pairs = Array.from(
    { length: pf.external_port_end - pf.external_port_start + 1 },
    (_, i) => `${pf.external_port_start + i} : ${pf.internal_port_start + i}`,
  );
  return `${match} dnat to ${to} : ${pf.protocol} dport map { ${pairs.join(', ')} }`;
}

/**
 * The internal IPv4 subnets (`network/prefix`, sorted) in the address scope of the gateway's IPv4
 * subnet: their traffic leaves by the gateway with its own source addresses.
 */
export function sameScopeSubnets(router: SnapshotRouter): string[] {
  const scope = router.gateway?.addresses.find((a) => isIpv4(a.ip_address))?.address_scope_id;
  if (!scope) return [];
  const cidrs = router.interfaces
    .flatMap((i) => i.addresses)
    .filter((a) => a.address_scope_id === scope && isIpv4(a.ip_address))
    .map((a) => `${ipaddr.IPv4.networkAddressFromCIDR(`${a.ip_address}/${a.prefixlen}`)}/${a.prefixlen}`);
  return [...new Set(cidrs)].sort((a, b) => compare(a.split('/')[0], b.split('/')[0]) || a.localeCompare(b));
}

/** The `nft -f` text that makes the router's table exactly this (addresses must be valid IPs). */
export function renderRouterRuleset(router: SnapshotRouter, names: RouterDeviceNames): string {
  const table = `${NAT_FAMILY} ${NAT_TABLE}`;
  const internal = JSON.stringify(names.internal);
  const floatingIps = names.gateway ? natFloatingIps(router) : [];
  const dnat = floatingIps.map((f) => `ip daddr ${f.floating} dnat to ${f.fixed}`);
  if (names.gateway) {
    for (const { floating, forwardings } of natPortForwardings(router))
      dnat.push(...forwardings.map((pf) => forwardingRule(floating, pf)));
  }
  const postrouting = [
    `oifname ${internal} meta mark ${FROM_INSIDE} ct status dnat masquerade`,
    ...vpnExemptions(router),
  ];
  if (names.gateway) {
    const gateway = JSON.stringify(names.gateway);
    postrouting.push(
      ...floatingIps.map((f) => `ip saddr ${f.fixed} oifname ${gateway} snat to ${f.floating}`),
    );
    postrouting.push('ct status dnat accept');
    const scoped = sameScopeSubnets(router);
    if (scoped.length) postrouting.push(`oifname ${gateway} ip saddr { ${scoped.join(', ')} } accept`);
    const address = router.gateway?.addresses.map((a) => a.ip_address).find(isIpv4);
    if (router.gateway?.enable_snat && address) postrouting.push(`oifname ${gateway} snat to ${address}`);
  }
  const chain = (name: string, hook: string, priority: string, rules: string[]) =>
    [
      `\tchain ${name} {`,
      `\t\ttype nat hook ${hook} priority ${priority}; policy accept;`,
      ...rules.map((rule) => `\t\t${rule}`),
      '\t}',
    ].join('\n');
  // Declaring the table first makes the delete valid when it does not exist yet; all three
  // commands are one transaction, so the table is never seen empty or half-written.
  return [
    `table ${table} {}`,
    `delete table ${table}`,
    `table ${table} {`,
    chain('prerouting', 'prerouting', 'dstnat', [
      `iifname ${internal} meta mark set ${FROM_INSIDE}`,
      ...dnat,
    ]),
    chain('output', 'output', '-100', dnat),
    chain('postrouting', 'postrouting', 'srcnat', postrouting),
    '}',
    '',
  ].join('\n');
}

/**
 * What the router's running IPsec site connections carry, from their local subnets to their peer
 * CIDRs (IPv4): left alone by SNAT and floating IPs, as neutron-vpnaas's drivers exempt it, so it
 * reaches the peer with its own addresses (the tunnel carries it; userspace IPsec sends it out by
 * its TUN device, kernel IPsec by the gateway).
 */
export function vpnExemptions(router: SnapshotRouter): string[] {
  return (router.vpn?.connections ?? [])
    .filter((c) => c.admin_state_up)
    .flatMap((c) => {
      const local = c.local_cidrs.filter((cidr) => ipaddr.isValidCIDR(cidr) && isIpv4(cidr));
      const peer = c.peer_cidrs.filter((cidr) => ipaddr.isValidCIDR(cidr) && isIpv4(cidr));
      return local.length > 0 && peer.length > 0
        ? [`ip saddr { ${local.join(', ')} } ip daddr { ${peer.join(', ')} } accept`]
        : [];
    });
}

function isIpv4(address: string): boolean {
  return !address.includes(':');
}

/** Orders IPv4 addresses numerically. */
function compare(a: string, b: string): number {
  const key = (ip: string) => ip.split('.').reduce((n, octet) => n * 256 + Number(octet), 0);
  return key(a) - key(b);
}
