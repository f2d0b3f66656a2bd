/**
 * Kernel drift in model terms (pure): the actions a reconcile would take on a host — the diff
 * of what the agent wants there and what the kernel holds — told as what is wrong with which
 * Neutron object ("port P's tap device tap1234 is missing on host h1 (veth.add pending)"), each
 * with the ids of the objects it concerns so a caller can keep those on a packet's path.
 * Bookkeeping actions (records, announcements that follow a NAT change) are not faults and are
 * left out. `namesFor` names objects from a host's snapshot; `pathIds` widens a packet's path to
 * what realises it on a host, to keep the findings about that path.
 */

import { DeviceOwner } from '../model/device-owners.js';
import type { Snapshot } from '../model/host-snapshot.js';
import { type Action, type LinkKind, subjectOf } from './state/actions.js';
import type { HostState } from './state/host-state.js';

export interface Finding {
  op: Action['op'];
  text: string;
  /** The model objects it concerns: port, network, router and instance ids. */
  ids: string[];
}

/** How the caller names model objects (e.g. `port 1234abcd (instance vm1 eth0)`, `network web`). */
export interface Names {
  port(id: string): string;
  network(id: string): string;
  router(id: string): string;
  instance(id: string): string;
}

export interface DriftContext {
  host: string;
  desired: HostState;
  actual: HostState;
  names: Names;
}

const ALIAS = /^neutrino:(port|network):(.+)@[^@]+$/;
const UUID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g;
/** Actions that only keep records or follow another action: never the fault itself. */
const BOOKKEEPING = new Set<Action['op']>([
  'router.record',
  'router.forget',
  'conntrack.flush',
  'arp.announce',
  'neigh.announce',
  'file.remove',
  'firewall.conntrack',
]);

/** The resource a link realises, from its ownership alias (desired, else actual). */
function aliasOf(ctx: DriftContext, kind: LinkKind, name: string): { kind: string; id: string } | undefined {
  const table = (state: HostState) =>
    ({ bridge: state.bridges, vxlan: state.vxlans, vlan: state.vlans, veth: state.veths, uplink: {} })[
      kind
    ] as Record<string, { alias?: string }>;
  const alias = table(ctx.desired)[name]?.alias ?? table(ctx.actual)[name]?.alias;
  const match = alias ? ALIAS.exec(alias) : null;
  return match ? { kind: match[1], id: match[2] } : undefined;
}

/** Who a namespace belongs to: an instance, a router, or a network's DHCP. */
function ownerOf(ctx: DriftContext, netns: string): { text: string; id?: string } {
  const { names } = ctx;
  const id = (prefix: string) => (netns.startsWith(prefix) ? netns.slice(prefix.length) : undefined);
  const instance = id('inst-');
  if (instance) return { text: names.instance(instance), id: instance };
  const router = id('qrouter-');
  if (router) return { text: names.router(router), id: router };
  const network = id('qdhcp-');
  if (network) return { text: `the DHCP service of ${names.network(network)}`, id: network };
  return { text: `namespace ${netns}` };
}

function linkSubject(ctx: DriftContext, kind: LinkKind, name: string): { text: string; ids: string[] } {
  const owner = aliasOf(ctx, kind, name);
  if (!owner) return { text: `device ${name}`, ids: [] };
  if (owner.kind === 'port')
    return { text: `${ctx.names.port(owner.id)}'s tap device ${name}`, ids: [owner.id] };
  const what = kind === 'bridge' ? 'bridge' : kind === 'vxlan' ? 'VXLAN device' : 'VLAN device';
  return { text: `${ctx.names.network(owner.id)}'s ${what} ${name}`, ids: [owner.id] };
}

/** Ids an action of a kind this module does not know mentions: its tap devices' ports and any UUIDs. */
function mentioned(ctx: DriftContext, action: Action): string[] {
  const text = JSON.stringify(action);
  const ports = Object.entries(ctx.desired.veths)
    .filter(([name]) => text.includes(`"${name}"`))
    .flatMap(([name]) => aliasOf(ctx, 'veth', name)?.id ?? []);
  return [...new Set([...ports, ...(text.match(UUID) ?? [])])];
}

function describe(ctx: DriftContext, action: Action): { text: string; ids: string[] } | undefined {
  const on = `on host ${ctx.host}`;
  const { desired, actual, names } = ctx;
  switch (action.op) {
    case 'veth.add': {
      const subject = linkSubject(ctx, 'veth', action.name);
      const where = actual.veths[action.name] ? 'is in the wrong namespace' : 'is missing';
      return { text: `${subject.text} ${where} ${on}`, ids: subject.ids };
    }
    case 'veth.del':
    case 'vxlan.del':
    case 'vlan.del':
    case 'bridge.del': {
      if (action.op === 'veth.del' && desired.veths[action.name]) return undefined;
      if (action.op === 'vxlan.del' && desired.vxlans[action.name]) return undefined;
      if (action.op === 'vlan.del' && desired.vlans[action.name]) return undefined;
      const kind = action.op.split('.')[0] as LinkKind;
      const subject = linkSubject(ctx, kind, action.name);
      return { text: `${subject.text} is left over ${on}`, ids: subject.ids };
    }
    case 'bridge.add':
    case 'vxlan.add':
    case 'vlan.add': {
      const kind = action.op.split('.')[0] as LinkKind;
      const subject = linkSubject(ctx, kind, action.name);
      const had =
        kind === 'vxlan'
          ? actual.vxlans[action.name]
          : kind === 'vlan'
            ? actual.vlans[action.name]
            : undefined;
      return {
        text: `${subject.text} ${had ? 'has the wrong settings' : 'is missing'} ${on}`,
        ids: subject.ids,
      };
    }
    case 'link.set': {
      const subject = linkSubject(ctx, action.kind, action.name);
      const what = [
        ...(action.up === true ? ['is down'] : action.up === false ? ['is up but should be down'] : []),
        ...(action.mtu !== undefined ? [`should have MTU ${action.mtu}`] : []),
        ...(action.alias !== undefined ? ['lost its ownership alias'] : []),
      ];
      return { text: `${subject.text} ${what.join(' and ')} ${on}`, ids: subject.ids };
    }
    case 'link.master': {
      const subject = linkSubject(ctx, action.kind, action.name);
      const where = action.master === null ? 'should be on no bridge' : `is not on bridge ${action.master}`;
      return { text: `${subject.text} ${where} ${on}`, ids: subject.ids };
    }
    case 'netns.add': {
      const owner = ownerOf(ctx, action.name);
      return {
        text: `${owner.text}'s namespace ${action.name} is missing ${on}`,
        ids: owner.id ? [owner.id] : [],
      };
    }
    case 'netns.del': {
      const owner = ownerOf(ctx, action.name);
      return {
        text: `namespace ${action.name} (${owner.text}) is left over ${on}`,
        ids: owner.id ? [owner.id] : [],
      };
    }
    case 'nslink.set': {
      const owner = ownerOf(ctx, action.netns);
      const state = action.up ? 'is down' : 'is up but should be down';
      return { text: `${owner.text}: device ${action.name} ${state} ${on}`, ids: owner.id ? [owner.id] : [] };
    }
    case 'addr.add':
    case 'addr.del': {
      const owner = ownerOf(ctx, action.netns);
      const what = action.op === 'addr.add' ? 'is missing on' : 'should not be on';
      return {
        text: `${owner.text}: address ${action.cidr} ${what} ${action.dev} ${on}`,
        ids: owner.id ? [owner.id] : [],
      };
    }
    case 'route.replace':
    case 'route.del': {
      const owner = ownerOf(ctx, action.netns);
      const { destination, nexthop } = action.route;
      const what = action.op === 'route.replace' ? 'is missing' : 'should not be there';
      return {
        text: `${owner.text}: its route to ${destination} via ${nexthop} ${what} ${on}`,
        ids: owner.id ? [owner.id] : [],
      };
    }
    case 'sysctl.set': {
      const owner = ownerOf(ctx, action.netns);
      return {
        text: `${owner.text}: ${Object.keys(action.values).join(', ')} should be ${Object.values(action.values).join(', ')} in its namespace ${on}`,
        ids: owner.id ? [owner.id] : [],
      };
    }
    case 'nat.apply': {
      const owner = ownerOf(ctx, action.netns);
      return {
        text: `${owner.text}'s NAT table (nftables) is missing or differs from what the agent applied ${on}`,
        ids: owner.id ? [owner.id] : [],
      };
    }
    case 'dnsmasq.start': {
      const network = names.network(action.network);
      const have = actual.dhcpServers[action.network];
      const what = have ? 'runs with an outdated command line or on a recreated device' : 'is not running';
      return { text: `${network}'s DHCP server (dnsmasq) ${what} ${on}`, ids: [action.network] };
    }
    case 'dnsmasq.stop':
      if (desired.dhcpServers[action.network]) return undefined;
      return {
        text: `a DHCP server (dnsmasq) of ${names.network(action.network)} still runs ${on}, no longer wanted`,
        ids: [action.network],
      };
    case 'dnsmasq.reload':
      return {
        text: `${names.network(action.network)}'s DHCP server (dnsmasq) has not reread its host files ${on}`,
        ids: [action.network],
      };
    case 'dhcp.release':
      return {
        text: `${names.network(action.network)}'s DHCP server still leases ${action.ip} to ${action.mac} ${on}`,
        ids: [action.network],
      };
    case 'udhcpc.start':
    case 'udhcpc.stop': {
      if (action.op === 'udhcpc.stop' && desired.dhcpClients[action.key]) return undefined;
      // `<instance>/<device>` (udhcpc) or `<instance>/<device>/dhcpv6` (dhclient -6).
      const [instance, device, family] = action.key.split('/');
      const client = family === 'dhcpv6' ? 'DHCPv6 client (dhclient -6)' : 'DHCP client';
      const what =
        action.op === 'udhcpc.stop'
          ? 'still runs, no longer wanted'
          : actual.dhcpClients[action.key]
            ? 'must restart (outdated, or its device was recreated)'
            : 'is not running';
      return {
        text: `${names.instance(instance)}'s ${client} on ${device} ${what} ${on}`,
        ids: [instance],
      };
    }
    case 'file.write': {
      const network = Object.entries(desired.dhcpServers).find(([, s]) =>
        action.path.startsWith(`${s.dir}/`),
      );
      if (network)
        return {
          text: `${names.network(network[0])}'s DHCP file ${action.path} is missing or outdated ${on}`,
          ids: [network[0]],
        };
      return { text: `file ${action.path} is missing or outdated ${on}`, ids: [] };
    }
    case 'dir.create':
    case 'dir.remove': {
      const owner = ownerOf(ctx, action.netns);
      const what = action.op === 'dir.create' ? 'is missing' : 'is left over';
      return {
        text: `${owner.text}'s directory ${action.path} ${what} ${on}`,
        ids: owner.id ? [owner.id] : [],
      };
    }
    case 'firewall.apply': {
      const known = (id: string) =>
        Object.hasOwn(desired.firewall.ports, id) || Object.hasOwn(actual.firewall.ports, id);
      const named = new Set(action.transaction.match(UUID) ?? []);
      // A changed group chain concerns every port of the group.
      const users = Object.entries(desired.firewall.ports)
        .filter(([, port]) => port.groups.some((g) => named.has(g)))
        .map(([id]) => id);
      const ports = [...new Set([...[...named].filter(known), ...users])];
      const table = action.firewall.table || actual.firewall.table;
      if (actual.firewall.skeleton !== desired.firewall.skeleton || actual.firewall.unknown)
        return {
          text: `the security-group tables (nftables ${table}) are missing or not as the agent made them ${on}`,
          ids: Object.keys(desired.firewall.ports),
        };
      const shown = ports.slice(0, 3).map((id) => names.port(id));
      const more = ports.length > shown.length ? ` and ${ports.length - shown.length} more` : '';
      return {
        text:
          ports.length > 0
            ? `the security-group chains of ${shown.join(', ')}${more} are missing or differ from the rules ${on}`
            : `the security-group tables (nftables ${table}) differ from what the agent applied ${on}`,
        ids: ports,
      };
    }
    case 'ovs.apply': {
      const parts: string[] = [];
      const ids: string[] = [];
      for (const [name, port] of Object.entries(desired.ovs.ports)) {
        const have = actual.ovs.ports[name];
        if (have && !have.error && have.bridge === port.bridge && have.tag === port.tag) continue;
        const id = port.ids['neutrino-port'];
        if (id) ids.push(id);
        const whose = id ? `${names.port(id)}'s ` : '';
        parts.push(
          `${whose}Open vSwitch port ${name} ${have ? 'is not as the agent made it' : 'is missing'} on ${port.bridge}`,
        );
      }
      const stale = Object.keys(actual.ovs.ports).filter((name) => !Object.hasOwn(desired.ovs.ports, name));
      if (stale.length > 0) parts.push(`Open vSwitch port(s) ${stale.join(', ')} left over`);
      if (action.flows.length > 0)
        parts.push(
          `the OpenFlow rules of ${action.flows.map((f) => f.bridge).join(', ')} differ from what the agent applied`,
        );
      if (parts.length === 0) parts.push('Open vSwitch is not as the agent wants it');
      return { text: `${parts.join('; ')} ${on}`, ids };
    }
    default:
      return { text: `${subjectOf(action)} is not as the agent wants it ${on}`, ids: mentioned(ctx, action) };
  }
}

/** The findings behind `actions` (a diff's output), in the diff's order. */
export function describeDrift(actions: readonly Action[], ctx: DriftContext): Finding[] {
  return actions.flatMap((action) => {
    if (BOOKKEEPING.has(action.op)) return [];
    const found = describe(ctx, action);
    return found ? [{ op: action.op, text: `${found.text} (${action.op} pending)`, ids: found.ids }] : [];
  });
}

/**
 * How findings name objects on a host: by `nameOf` (id → name, e.g. from the API's listings) where
 * it knows them, else by the first 8 characters of their id; ports as what they belong to.
 */
export function namesFor(snapshot: Snapshot, nameOf: ReadonlyMap<string, string> = new Map()): Names {
  const instances = new Map(snapshot.instances.map((i) => [i.id, i]));
  const nic = new Map(snapshot.instances.flatMap((i) => i.ports.map((p, n) => [p, { i, n }] as const)));
  const ports = new Map(snapshot.ports.map((p) => [p.id, p]));
  const routerOf = new Map(
    snapshot.routers.flatMap((r) =>
      [...(r.gateway ? [r.gateway] : []), ...r.interfaces].map((p) => [p.port_id, r.id] as const),
    ),
  );
  const names: Names = {
    network: (id) => `network ${nameOf.get(id) || id.slice(0, 8)}`,
    router: (id) => `router ${nameOf.get(id) || id.slice(0, 8)}`,
    instance: (id) => `instance ${instances.get(id)?.name ?? id.slice(0, 8)}`,
    port: (id) => {
      const owner = nic.get(id);
      if (owner) return `port ${id.slice(0, 8)} (instance ${owner.i.name} eth${owner.n})`;
      const router = routerOf.get(id);
      if (router) return `port ${id.slice(0, 8)} of ${names.router(router)}`;
      const port = ports.get(id);
      if (port?.device_owner === DeviceOwner.dhcp)
        return `DHCP port ${id.slice(0, 8)} of ${names.network(port.network_id)}`;
      return `port ${id.slice(0, 8)}`;
    },
  };
  return names;
}

/**
 * The model objects a packet's path touches (`ids`: a trace's hops' objects, its instances),
 * widened to what realises them on a host: the instances' ports, the ports' and subnets' networks
 * (whose bridges and DHCP servers carry them), the routers' ports.
 */
export function pathIds(ids: readonly string[], snapshot: Snapshot): Set<string> {
  const path = new Set(ids.filter((id) => id !== ''));
  for (const instance of snapshot.instances)
    if (path.has(instance.id) || instance.ports.some((p) => path.has(p))) {
      path.add(instance.id);
      for (const p of instance.ports) path.add(p);
    }
  for (const port of snapshot.ports) if (path.has(port.id)) path.add(port.network_id);
  for (const subnet of snapshot.subnets) if (path.has(subnet.id)) path.add(subnet.network_id);
  for (const router of snapshot.routers)
    if (path.has(router.id))
      for (const p of [...(router.gateway ? [router.gateway] : []), ...router.interfaces])
        path.add(p.port_id);
  return path;
}
