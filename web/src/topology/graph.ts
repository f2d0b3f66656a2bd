/**
 * The topology as boxes and lines, computed from the collections (pure): a card per network
 * (its subnets, DHCP addresses, and a chip per instance interface or other port on it; floating
 * IPs as chips of their external network; load balancers on their VIP's network), a box per router, lines for router gateways and
 * interfaces labelled with their addresses. Sizes are fixed here so the layout can place the
 * boxes before they are drawn; `nodes.tsx` draws them at these sizes. Names are never cut off:
 * they wrap, and the boxes are as tall as the wrapped text (estimated from the fonts' widest
 * average character widths), with status and flags on a line of their own below the name. The
 * host of each instance, router and DHCP server (its ports' `binding:host_id`) is shown.
 */

import { DeviceOwner } from '../../../src/model/device-owners.js';
import type { CollectionKey, Collections, FixedIp, Instance, Port } from '../api/resources.js';

export interface Selection {
  kind: CollectionKey;
  id: string;
}

export interface Chip {
  key: string;
  select: Selection;
  title: string;
  /** Addresses, or what the chip points at. */
  detail: string;
  status: string;
  /** Short warnings shown on the chip: `admin down`, `port DOWN`. */
  flags: string[];
  /** The floating IPs of an instance interface or port. */
  floating?: string[];
  /** The host an instance runs on. */
  host?: string;
}

export interface NetworkCard {
  kind: 'network';
  id: string;
  name: string;
  external: boolean;
  shared: boolean;
  status: string;
  adminDown: boolean;
  project: string | null;
  /** `external · shared · project`, or empty (then the header is one line). */
  meta: string;
  subnets: { id: string; label: string; lines: number }[];
  /** DHCP servers' addresses, with their host when bound: `10.0.0.2 (host1)`. */
  dhcp: string[];
  chips: Chip[];
  /** Chips are laid out in `cols` columns of `chipW` by `chipH` pixels. */
  cols: number;
  chipW: number;
  chipH: number;
  headerH: number;
  /** Lines of the card's (wrapped) name and of its meta line. */
  nameLines: number;
  dhcpLines: number;
  width: number;
  height: number;
}

export interface RouterBox {
  kind: 'router';
  id: string;
  name: string;
  status: string;
  adminDown: boolean;
  gateway: string | null;
  project: string | null;
  /** Hosts holding the router (its ports' `binding:host_id`): one, or two for HA. */
  hosts: string[];
  /** `gw … · project · on host`. */
  meta: string;
  width: number;
  height: number;
}

export interface TopoEdge {
  id: string;
  source: string;
  target: string;
  label: string;
  kind: 'gateway' | 'interface';
  /** The router port the line stands for (its traffic sets the line's width). */
  port: string;
}

export interface Topology {
  cards: NetworkCard[];
  routers: RouterBox[];
  edges: TopoEdge[];
  /**
   * Edges only the layout sees: under a router with many networks, each network hangs below
   * the one a row before it, so they form a block of short rows instead of one endless row.
   */
  spacers: { source: string; target: string }[];
  /** Networks, subnets, routers, instances, other ports, floating IPs drawn. */
  objects: number;
  /** Changes only when the layout must: boxes, their sizes, or lines changed. */
  layoutKey: string;
}

export const SIZES = {
  chipW: 170,
  /** Chips of (or showing) a floating IP. */
  wideChipW: 210,
  chipH: 46,
  gap: 6,
  pad: 10,
  headerH: 26,
  metaH: 16,
  lineH: 18,
  cardMinW: 290,
  routerW: 210,
  routerH: 64,
  /** Widest average character widths (px) of the fonts: bold 15 px names, 14 px chip names, 12 px text. */
  nameCharW: 10,
  chipNameCharW: 9.2,
  smallCharW: 7.4,
  chipLineH: 16,
  statusH: 18,
};

/**
 * How many lines `text` takes in `width` pixels at `charW` pixels a character, breaking between
 * words as the browser does (a word longer than a line breaks inside, `overflow-wrap: anywhere`).
 */
export function wrappedLines(text: string, width: number, charW: number): number {
  const perLine = Math.max(1, Math.floor(width / charW));
  let lines = 1;
  let used = 0;
  for (const word of text.split(/\s+/).filter(Boolean)) {
    const need = used === 0 ? word.length : used + 1 + word.length;
    if (need <= perLine) {
      used = need;
      continue;
    }
    if (used > 0) lines++;
    lines += Math.ceil(word.length / perLine) - 1;
    used = word.length % perLine || perLine;
  }
  return lines;
}

/** Networks per row under a router with `n` of them: rows about as wide as they are deep. */
const rowLength = (n: number) => Math.max(3, Math.ceil(Math.sqrt(n * 1.5)));

const INFRA_OWNERS =
  /^network:(router_interface|router_gateway|floatingip|ha_router|router_centralized|dhcp)/;
const ROUTER_INTERFACE = /^network:(router_interface|ha_router_replicated_interface|router_centralized)/;

const byName = <T extends { name: string; id: string }>(a: T, b: T) =>
  a.name.localeCompare(b.name) || a.id.localeCompare(b.id);
const ips = (fixed: FixedIp[]) => fixed.map((f) => f.ip_address).join(', ');
export const shortId = (id: string) => id.slice(0, 8);
export const label = (o: { name?: string; id: string }) => (o.name ? o.name : shortId(o.id));

/** A chip's height: its title (wrapped), the status line, its detail and floating IPs (wrapped). */
function chipHeight(chip: Chip, chipW: number): number {
  const s = SIZES;
  const inner = chipW - 22;
  const title = wrappedLines(chip.title, inner, s.chipNameCharW);
  const status = wrappedLines(
    [chip.status, ...chip.flags, chip.host ? `on ${chip.host}` : ''].join(' '),
    inner,
    s.smallCharW,
  );
  const detail = wrappedLines(
    `${chip.detail}${chip.floating ? ` ⇄ ${chip.floating.join(', ')}` : ''}`,
    inner,
    s.smallCharW,
  );
  return Math.max(s.chipH, 8 + (title + status + detail) * s.chipLineH);
}

function cardLayout(name: string, chips: Chip[], lines: string[], meta: string) {
  const s = SIZES;
  const cols = Math.min(6, Math.ceil(Math.sqrt(chips.length)));
  const rows = chips.length === 0 ? 0 : Math.ceil(chips.length / cols);
  const chipW = chips.some((c) => c.floating || c.select.kind === 'floatingips') ? s.wideChipW : s.chipW;
  const chipH = Math.max(s.chipH, ...chips.map((c) => chipHeight(c, chipW)));
  const width = Math.max(s.cardMinW, 2 * s.pad + cols * chipW + Math.max(0, cols - 1) * s.gap);
  const inner = width - 2 * s.pad - 5;
  const nameLines = wrappedLines(name, inner, s.nameCharW);
  const metaLines = meta ? wrappedLines(meta, inner, s.smallCharW) : 0;
  const headerH = nameLines * (s.headerH - 4) + s.statusH + metaLines * s.metaH;
  const textLines = lines.map((l) => wrappedLines(l, inner, s.smallCharW));
  const chipsH = rows === 0 ? 0 : s.pad / 2 + rows * chipH + (rows - 1) * s.gap;
  const linesH =
    Math.max(
      1,
      textLines.reduce((a, b) => a + b, 0),
    ) * s.lineH;
  return {
    cols,
    chipW,
    chipH,
    headerH,
    nameLines,
    textLines,
    width,
    height: 2 * s.pad + headerH + linesH + chipsH,
  };
}

export interface TopologyOptions {
  /** Show each object's project (admins looking at several projects). */
  projects?: ReadonlyMap<string, string> | null;
}

export function buildTopology(c: Partial<Collections>, options: TopologyOptions = {}): Topology {
  const networks = [...(c.networks ?? [])].sort(byName);
  const subnets = c.subnets ?? [];
  const ports = c.ports ?? [];
  const routers = [...(c.routers ?? [])].sort(byName);
  const fips = c.floatingips ?? [];
  const instances = c.instances ?? [];
  const balancers = c.loadbalancers ?? [];
  const projectOf = (id: string) => (options.projects ? (options.projects.get(id) ?? shortId(id)) : null);

  const portById = new Map(ports.map((p) => [p.id, p]));
  const instanceById = new Map(instances.map((i) => [i.id, i]));
  const networkIds = new Set(networks.map((n) => n.id));
  const fipsByPort = new Map<string, string[]>();
  for (const f of fips) {
    if (f.port_id) fipsByPort.set(f.port_id, [...(fipsByPort.get(f.port_id) ?? []), f.floating_ip_address]);
  }
  /** What a port is, for a floating IP's chip: `vm1 10.0.0.5`. */
  const portTarget = (portId: string, fixed: string | null) => {
    const port = portById.get(portId);
    const owner = port ? instanceById.get(port.device_id) : undefined;
    return `${owner ? owner.name : port ? label(port) : shortId(portId)} ${fixed ?? ''}`.trim();
  };

  const chipsByNetwork = new Map<string, Chip[]>();
  const addChip = (networkId: string, chip: Chip) =>
    chipsByNetwork.set(networkId, [...(chipsByNetwork.get(networkId) ?? []), chip]);

  const instancePorts = new Set<string>();
  for (const inst of [...instances].sort(byName)) {
    inst.ports.forEach((ip, n) => {
      instancePorts.add(ip.id);
      const port = portById.get(ip.id);
      addChip(ip.network_id, instanceChip(inst, n, ip.fixed_ips, port, fipsByPort.get(ip.id)));
    });
  }
  // A load balancer sits on its VIP's network (its VIP port is not drawn again): its operating
  // status says how its members are (ONLINE, DEGRADED when some are down, ERROR when all are).
  const vipPorts = new Set<string>();
  for (const lb of [...balancers].sort(byName)) {
    vipPorts.add(lb.vip_port_id);
    addChip(lb.vip_network_id, {
      key: lb.id,
      select: { kind: 'loadbalancers', id: lb.id },
      title: label(lb),
      detail: `LB ${lb.vip_address}`,
      status: lb.operating_status,
      flags: lb.admin_state_up ? [] : ['admin down'],
      ...(fipsByPort.get(lb.vip_port_id) ? { floating: fipsByPort.get(lb.vip_port_id) } : {}),
    });
  }
  const dhcp = new Map<string, string[]>();
  for (const p of [...ports].sort(byName)) {
    if (p.device_owner === DeviceOwner.dhcp) {
      const host = p['binding:host_id'];
      const text = `${ips(p.fixed_ips)}${host ? ` (${host})` : ''}`;
      dhcp.set(p.network_id, [...(dhcp.get(p.network_id) ?? []), text]);
      continue;
    }
    if (instancePorts.has(p.id) || vipPorts.has(p.id) || INFRA_OWNERS.test(p.device_owner)) continue;
    const fip = fipsByPort.get(p.id);
    addChip(p.network_id, {
      key: p.id,
      select: { kind: 'ports', id: p.id },
      title: label(p),
      detail: ips(p.fixed_ips) || 'no address',
      status: p.status,
      flags: p.admin_state_up ? [] : ['admin down'],
      ...(fip ? { floating: fip } : {}),
    });
  }
  for (const f of [...fips].sort((a, b) => a.floating_ip_address.localeCompare(b.floating_ip_address))) {
    addChip(f.floating_network_id, {
      key: f.id,
      select: { kind: 'floatingips', id: f.id },
      title: f.floating_ip_address,
      detail: f.port_id ? `FIP → ${portTarget(f.port_id, f.fixed_ip_address)}` : 'FIP, not associated',
      status: f.status,
      flags: [],
    });
  }

  const cards: NetworkCard[] = networks.map((n) => {
    const own = subnets
      .filter((s) => s.network_id === n.id)
      .sort((a, b) => a.cidr.localeCompare(b.cidr))
      .map((s) => ({
        id: s.id,
        label: `${s.name ? `${s.name} ` : ''}${s.cidr}${s.gateway_ip ? ` · gw ${s.gateway_ip}` : ''}`,
      }));
    const chips = chipsByNetwork.get(n.id) ?? [];
    const addresses = dhcp.get(n.id) ?? [];
    const project = projectOf(n.project_id);
    const external = n['router:external'] === true;
    const meta = [external ? 'external' : null, n.shared ? 'shared' : null, project]
      .filter(Boolean)
      .join(' · ');
    const texts = [
      ...own.map((l) => l.label),
      ...(addresses.length > 0 ? [`DHCP ${addresses.join(', ')}`] : []),
    ];
    const { textLines, ...sizes } = cardLayout(label(n), chips, texts, meta);
    return {
      kind: 'network',
      id: n.id,
      name: label(n),
      external,
      shared: n.shared,
      status: n.status,
      adminDown: !n.admin_state_up,
      project,
      meta,
      subnets: own.map((l, i) => ({ ...l, lines: textLines[i] })),
      dhcp: addresses,
      dhcpLines: addresses.length > 0 ? textLines[own.length] : 0,
      chips,
      ...sizes,
    };
  });
  cards.sort((a, b) => Number(b.external) - Number(a.external));

  const edges: TopoEdge[] = [];
  const spacers: { source: string; target: string }[] = [];
  const routerIds = new Set(routers.map((r) => r.id));
  const hostsOf = new Map<string, string[]>();
  for (const p of ports) {
    const host = p['binding:host_id'];
    if (!host || !routerIds.has(p.device_id)) continue;
    const hosts = hostsOf.get(p.device_id) ?? [];
    if (!hosts.includes(host)) hostsOf.set(p.device_id, [...hosts, host].sort());
  }
  const boxes: RouterBox[] = routers.map((r) => {
    const gw = r.external_gateway_info;
    const gwIps = gw?.external_fixed_ips ? ips(gw.external_fixed_ips) : '';
    if (gw && networkIds.has(gw.network_id)) {
      const port = ports.find((p) => p.device_id === r.id && p.device_owner === DeviceOwner.routerGateway);
      edges.push({
        id: `gw-${r.id}`,
        source: gw.network_id,
        target: r.id,
        label: gwIps,
        kind: 'gateway',
        port: port?.id ?? '',
      });
    }
    const gateway = gw ? gwIps || 'gateway set' : null;
    const project = projectOf(r.project_id);
    const hosts = hostsOf.get(r.id) ?? [];
    const meta = [
      gateway ? `gw ${gateway}` : 'no gateway',
      project,
      hosts.length > 0 ? `on ${hosts.join(', ')}` : null,
    ]
      .filter(Boolean)
      .join(' · ');
    const inner = SIZES.routerW - 2 * SIZES.pad - 24;
    const height =
      2 * SIZES.pad +
      wrappedLines(label(r), inner, SIZES.nameCharW) * (SIZES.headerH - 4) +
      SIZES.statusH +
      wrappedLines(meta, inner, SIZES.smallCharW) * SIZES.metaH;
    return {
      kind: 'router',
      id: r.id,
      name: label(r),
      status: r.status,
      adminDown: !r.admin_state_up,
      gateway,
      project,
      hosts,
      meta,
      width: SIZES.routerW,
      height: Math.max(SIZES.routerH, height),
    };
  });

  const placed = new Set<string>();
  const rows = new Map<string, string[]>();
  for (const p of [...ports].sort(byName)) {
    if (!ROUTER_INTERFACE.test(p.device_owner) || !routerIds.has(p.device_id)) continue;
    if (!networkIds.has(p.network_id)) continue;
    edges.push({
      id: `if-${p.id}`,
      source: p.device_id,
      target: p.network_id,
      label: ips(p.fixed_ips),
      kind: 'interface',
      port: p.id,
    });
    if (placed.has(p.network_id)) continue;
    placed.add(p.network_id);
    rows.set(p.device_id, [...(rows.get(p.device_id) ?? []), p.network_id]);
  }
  for (const nets of rows.values()) {
    const row = rowLength(nets.length);
    for (let i = row; i < nets.length; i++) spacers.push({ source: nets[i - row], target: nets[i] });
  }

  const chipCount = cards.reduce((n, card) => n + card.chips.length, 0);
  const objects = cards.length + subnets.length + boxes.length + chipCount;
  const layoutKey = JSON.stringify([
    cards.map((k) => [k.id, k.width, k.height]),
    boxes.map((b) => [b.id, b.height]),
    edges.map((e) => e.id),
    spacers.map((e) => `${e.source}>${e.target}`),
  ]);
  return { cards, routers: boxes, edges, spacers, objects, layoutKey };
}

function instanceChip(
  inst: Instance,
  n: number,
  fixed: FixedIp[],
  port: Port | undefined,
  fips: string[] | undefined,
): Chip {
  const flags: string[] = [];
  if (port && !port.admin_state_up) flags.push('admin down');
  else if (port && inst.status === 'ACTIVE' && port.status !== 'ACTIVE') flags.push(`port ${port.status}`);
  return {
    key: `${inst.id}-${n}`,
    select: { kind: 'instances', id: inst.id },
    title: inst.ports.length > 1 ? `${inst.name} · eth${n}` : inst.name,
    detail: ips(fixed) || 'no address',
    status: inst.status,
    flags,
    ...(fips ? { floating: fips } : {}),
    ...(inst.host ? { host: inst.host } : {}),
  };
}
