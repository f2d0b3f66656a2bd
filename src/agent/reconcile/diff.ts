/**
 * The diff (pure): desired and actual `HostState` in, the ordered actions that make actual equal to
 * desired out; `[]` when they already are. Existing objects that match are never touched, so
 * traffic through them is never disturbed.
 *
 * Objects that cannot be changed in place are recreated: a veth whose peer is in the wrong (or a
 * vanished) namespace, a VXLAN device with another VNI, port or tunnel endpoint, a process whose command line
 * changed. A process whose namespace or device is (re)created in the same diff is restarted, since
 * it is bound to the old one. dnsmasq gets one SIGHUP when any of its files changes, and
 * `dhcp_release` for every lease it holds that is no longer desired. A router's NAT table is
 * replaced whole when its hash differs; a floating IP that no longer maps where it did loses its
 * connections, and one that is new to the router is announced by gratuitous ARP. Security groups
 * are `firewall.ts`'s.
 */

import { dnsmasqFiles, isTagged } from '../../linux/dnsmasq.js';
import { dhcpConfigFiles } from '../dhcp/dhcp.js';
import { ovsActions } from '../drivers/openvswitch/diff.js';
import { firewallActions } from '../firewall/diff.js';
import { connectionFilterOf, fwaasRecordFile } from '../l3/fwaas.js';
import { namespaceRecordFile, natRecordFile } from '../l3/router.js';
import { type Action, type LinkKind, namespaceOf, sortActions } from '../state/actions.js';
import type { FileState, HostState, NamespaceLink, Router, Vxlan } from '../state/host-state.js';
import { namespaceLinkKey } from '../state/host-state.js';
import { tableActions } from '../tables/diff.js';

interface LinkAttributes {
  mtu: number;
  alias: string;
  up: boolean;
}

function linkSet(kind: LinkKind, name: string, want: LinkAttributes, have: LinkAttributes): Action[] {
  const change = {
    ...(want.mtu !== have.mtu ? { mtu: want.mtu } : {}),
    ...(want.alias !== have.alias ? { alias: want.alias } : {}),
    ...(want.up !== have.up ? { up: want.up } : {}),
  };
  return Object.keys(change).length > 0 ? [{ op: 'link.set', kind, name, ...change }] : [];
}

function sameArray(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

function sameFile(a: FileState | undefined, b: FileState): boolean {
  if (a === undefined) return false;
  if ('symlink' in a || 'symlink' in b) return 'symlink' in a && 'symlink' in b && a.symlink === b.symlink;
  return a.content === b.content && a.mode === b.mode;
}

function missing<T>(have: Record<string, T>, want: Record<string, unknown>): [string, T][] {
  return Object.entries(have).filter(([key]) => !Object.hasOwn(want, key));
}

/**
 * What a router namespace needs beyond its links. `kept(dev)`: the device stays, up, so routes
 * through it are still there (the kernel drops those through a device that goes down or away).
 */
function routerActions(
  netns: string,
  router: Router,
  have: Router | undefined,
  kept: (dev: string) => boolean,
): Action[] {
  const actions: Action[] = [];
  const changed = Object.entries(router.sysctls).filter(([key, value]) => have?.sysctls[key] !== value);
  if (changed.length > 0) actions.push({ op: 'sysctl.set', netns, values: Object.fromEntries(changed) });

  const had = new Map((have?.routes ?? []).filter((r) => kept(r.dev ?? '')).map((r) => [r.destination, r]));
  const wanted = new Set(router.routes.map((r) => r.destination));
  for (const [destination, route] of had)
    if (!wanted.has(destination)) actions.push({ op: 'route.del', netns, route });
  for (const route of router.routes)
    if (had.get(route.destination)?.nexthop !== route.nexthop)
      actions.push({ op: 'route.replace', netns, route });

  const mapped = have?.nat.floatingIps ?? {};
  if (have?.nat.hash !== router.nat.hash) {
    actions.push({ op: 'nat.apply', netns, record: natRecordFile(router.dir), nat: router.nat });
    for (const [ip, fixed] of Object.entries(mapped))
      if (router.nat.floatingIps[ip] !== fixed) actions.push({ op: 'conntrack.flush', netns, ip });
  }
  if (router.fwaas && have?.fwaas?.hash !== router.fwaas.hash) {
    const before = new Set(have?.fwaas?.rules ?? []);
    const after = new Set(router.fwaas.rules ?? []);
    const changed = [...before, ...after].filter((k) => before.has(k) !== after.has(k));
    const flush = [...new Set(changed)].map(connectionFilterOf);
    actions.push({
      op: 'fwaas.apply',
      netns,
      record: fwaasRecordFile(router.dir),
      table: router.fwaas,
      flush,
    });
  }
  if (router.gatewayDevice)
    for (const ip of Object.keys(router.nat.floatingIps))
      if (!Object.hasOwn(mapped, ip))
        actions.push({ op: 'arp.announce', netns, dev: router.gatewayDevice, ip });
  return actions;
}

/** Whether an existing VXLAN device is the one wanted: these settings cannot change in place. */
function sameTunnel(have: Vxlan, want: Vxlan): boolean {
  return (
    have.vni === want.vni &&
    have.dstport === want.dstport &&
    have.local === want.local &&
    have.dev === want.dev &&
    have.proxy === want.proxy
  );
}

/**
 * l2population's entries, one by one: a port coming or going elsewhere adds or removes only its
 * own entries, and a remote address that is new or at a new MAC is announced on the bridge. A
 * (re)created device starts empty; a device that goes takes its entries with it.
 */
function l2populationActions(desired: HostState, actual: HostState, fresh: Set<string>): Action[] {
  const actions: Action[] = [];
  const kept = (dev: string) => Object.hasOwn(desired.vxlans, dev) && !fresh.has(dev);
  for (const [key, entry] of Object.entries(desired.fdb))
    if (!kept(entry.dev) || !actual.fdb[key]) actions.push({ op: 'fdb.add', entry });
  for (const [, entry] of missing(actual.fdb, desired.fdb))
    if (kept(entry.dev)) actions.push({ op: 'fdb.del', entry });
  for (const [key, entry] of Object.entries(desired.neighbours)) {
    if (kept(entry.dev) && actual.neighbours[key]?.mac === entry.mac) continue;
    actions.push({ op: 'neigh.replace', entry });
    // A fresh device's bridge has only fresh ports, which know no address yet. ND needs no help:
    // the proxy answers solicitations only, so an instance's unsolicited advertisements cross.
    const { vni, dstport, local } = desired.vxlans[entry.dev];
    if (kept(entry.dev) && local !== null && !entry.ip.includes(':'))
      actions.push({ op: 'neigh.announce', entry, vni, dstport, local });
  }
  for (const [, entry] of missing(actual.neighbours, desired.neighbours))
    if (kept(entry.dev)) actions.push({ op: 'neigh.del', entry });
  return actions;
}

/** The actions that take `actual` to `desired`, in execution order. */
export function diff(desired: HostState, actual: HostState): Action[] {
  const actions: Action[] = [];
  const add = (...more: Action[]) => actions.push(...more);

  for (const [path, dir] of Object.entries(desired.dirs))
    if (!actual.dirs[path]) add({ op: 'dir.create', path, netns: dir.netns });
  for (const [path, dir] of missing(actual.dirs, desired.dirs))
    add({ op: 'dir.remove', path, netns: dir.netns });

  const freshNamespaces = new Set<string>();
  for (const [name, namespace] of Object.entries(desired.namespaces)) {
    if (actual.namespaces[name]) continue;
    add({ op: 'netns.add', name, namespace });
    freshNamespaces.add(name);
  }
  // A veth goes with the namespace its peer is in: the kernel unregisters all of a deleted
  // namespace's devices at once, while deleting veths one by one costs ~20 ms each.
  const goneVeths = missing(actual.veths, desired.veths);
  const doomed = new Map(
    missing(actual.namespaces, desired.namespaces).map(([name]) => [name, [] as string[]]),
  );
  for (const [name, veth] of goneVeths) doomed.get(veth.peer.netns ?? '')?.push(name);
  for (const [name, links] of doomed) add({ op: 'netns.del', name, links });

  for (const [name, bridge] of Object.entries(desired.bridges)) {
    const have = actual.bridges[name];
    if (!have) add({ op: 'bridge.add', name, bridge });
    else add(...linkSet('bridge', name, bridge, have));
    if (have && bridge.nfCall !== undefined && bridge.nfCall !== have.nfCall)
      add({ op: 'link.set', kind: 'bridge', name, nfCall: bridge.nfCall });
  }
  for (const [name] of missing(actual.bridges, desired.bridges)) add({ op: 'bridge.del', name });

  const freshVxlans = new Set<string>();
  for (const [name, vxlan] of Object.entries(desired.vxlans)) {
    const have = actual.vxlans[name];
    if (!have || !sameTunnel(have, vxlan)) {
      if (have) add({ op: 'vxlan.del', name });
      add({ op: 'vxlan.add', name, vxlan });
      freshVxlans.add(name);
      continue;
    }
    add(...linkSet('vxlan', name, vxlan, have));
    if (have.master !== vxlan.master) add({ op: 'link.master', kind: 'vxlan', name, master: vxlan.master });
  }
  for (const [name] of missing(actual.vxlans, desired.vxlans)) add({ op: 'vxlan.del', name });
  add(...l2populationActions(desired, actual, freshVxlans));

  for (const [name, vlan] of Object.entries(desired.vlans)) {
    const have = actual.vlans[name];
    if (!have || have.vid !== vlan.vid || have.parent !== vlan.parent) {
      if (have) add({ op: 'vlan.del', name });
      add({ op: 'vlan.add', name, vlan });
      continue;
    }
    add(...linkSet('vlan', name, vlan, have));
    if (have.master !== vlan.master) add({ op: 'link.master', kind: 'vlan', name, master: vlan.master });
  }
  for (const [name] of missing(actual.vlans, desired.vlans)) add({ op: 'vlan.del', name });

  for (const [name, uplink] of Object.entries(desired.uplinks)) {
    const have = actual.uplinks[name];
    // A mapped interface that does not exist cannot be created here; it is attached once it appears.
    if (have && have.master !== uplink.master)
      add({ op: 'link.master', kind: 'uplink', name, master: uplink.master });
  }
  for (const [name, have] of missing(actual.uplinks, desired.uplinks))
    if (have.master !== null) add({ op: 'link.master', kind: 'uplink', name, master: null });

  const freshDevices = new Set<string>();
  for (const [name, veth] of Object.entries(desired.veths)) {
    const have = actual.veths[name];
    const peerNetns = veth.peer.netns ?? '';
    if (!have || have.peer.netns !== peerNetns || freshNamespaces.has(peerNetns)) {
      if (have) add({ op: 'veth.del', name });
      add({ op: 'veth.add', name, veth });
      if (veth.txOffload === false) add({ op: 'link.offload', netns: '', name });
      if (veth.peer.txOffload === false)
        add({ op: 'link.offload', netns: peerNetns, name: veth.peer.name ?? '' });
      freshDevices.add(namespaceLinkKey(peerNetns, veth.peer.name ?? ''));
      continue;
    }
    add(...linkSet('veth', name, veth, have));
    if (have.master !== veth.master) add({ op: 'link.master', kind: 'veth', name, master: veth.master });
  }
  for (const [name, veth] of goneVeths) if (!doomed.has(veth.peer.netns ?? '')) add({ op: 'veth.del', name });

  const isFresh = (netns: string, device: string) =>
    freshNamespaces.has(netns) || freshDevices.has(namespaceLinkKey(netns, device));

  // Instance namespaces are not read link by link (there are hundreds): an instance interface is
  // up when its veth has carrier, which needs both ends up.
  const instanceVeth = new Map<string, string>();
  for (const [name, veth] of Object.entries(desired.veths))
    if (desired.namespaces[veth.peer.netns ?? '']?.kind === 'instance')
      instanceVeth.set(namespaceLinkKey(veth.peer.netns ?? '', veth.peer.name ?? ''), name);
  const observed = (key: string, link: NamespaceLink): NamespaceLink | undefined => {
    const veth = instanceVeth.get(key);
    if (actual.namespaceLinks[key] || veth === undefined) return actual.namespaceLinks[key];
    return { netns: link.netns, name: link.name, up: actual.veths[veth]?.lowerUp === true };
  };
  for (const [key, link] of Object.entries(desired.namespaceLinks)) {
    const { netns, name } = link;
    const have = isFresh(netns, name) ? undefined : observed(key, link);
    const quiet = link.silent === true && have?.silent !== true;
    if (have?.up !== link.up || quiet)
      add({ op: 'nslink.set', netns, name, up: link.up, ...(link.silent ? { silent: true } : {}) });
    if (!link.addresses) continue;
    const had = have?.addresses ?? [];
    for (const cidr of had)
      if (!link.addresses.includes(cidr)) add({ op: 'addr.del', netns, dev: name, cidr });
    for (const cidr of link.addresses)
      if (!had.includes(cidr)) add({ op: 'addr.add', netns, dev: name, cidr });
  }

  // Routes of namespaces that are not routers' (a load balancer's default route).
  for (const [netns, namespace] of Object.entries(desired.namespaces)) {
    if (!namespace.routes) continue;
    const before = freshNamespaces.has(netns) ? [] : (actual.namespaces[netns]?.routes ?? []);
    const had = new Map(before.map((r) => [r.destination, r]));
    const wanted = new Set(namespace.routes.map((r) => r.destination));
    for (const [destination, route] of had)
      if (!wanted.has(destination)) add({ op: 'route.del', netns, route });
    for (const route of namespace.routes)
      if (had.get(route.destination)?.nexthop !== route.nexthop) add({ op: 'route.replace', netns, route });
  }
  for (const [netns, router] of Object.entries(desired.routers)) {
    const have = freshNamespaces.has(netns) ? undefined : actual.routers[netns];
    const kept = (dev: string) =>
      !isFresh(netns, dev) && desired.namespaceLinks[namespaceLinkKey(netns, dev)]?.up === true;
    add(...routerActions(netns, router, have, kept));
  }

  const written = new Set<string>();
  for (const [path, file] of Object.entries(desired.files)) {
    if (sameFile(actual.files[path], file)) continue;
    add({ op: 'file.write', path, file });
    written.add(path);
  }
  for (const [path] of missing(actual.files, desired.files)) add({ op: 'file.remove', path });

  for (const [network, server] of Object.entries(desired.dhcpServers)) {
    const have = actual.dhcpServers[network];
    if (!have || !sameArray(have.argv, server.argv) || isFresh(server.netns, server.device)) {
      if (have) add({ op: 'dnsmasq.stop', network, pid: have.pid });
      add({ op: 'dnsmasq.start', network, server });
      continue;
    }
    if (dhcpConfigFiles(server.dir).some((path) => written.has(path))) {
      // dnsmasq 2.90 may crash on a SIGHUP with tagged hosts lines (see `hostsFileLine`): then
      // it starts again on its files instead (its leases are in its lease file).
      const hosts = dnsmasqFiles(server.dir).hosts;
      const tagged = [desired.files[hosts], actual.files[hosts]].some(
        (f) => f !== undefined && 'content' in f && isTagged(f.content),
      );
      if (tagged) {
        add({ op: 'dnsmasq.stop', network, pid: have.pid });
        add({ op: 'dnsmasq.start', network, server });
      } else {
        add({ op: 'dnsmasq.reload', network, pid: have.pid });
      }
    }
    const wanted = new Set(server.leases.map((l) => `${l.mac} ${l.ip}`));
    for (const { mac, ip } of have.leases) {
      if (!wanted.has(`${mac} ${ip}`))
        add({ op: 'dhcp.release', network, netns: server.netns, device: server.device, mac, ip });
    }
  }
  for (const [network, have] of missing(actual.dhcpServers, desired.dhcpServers))
    add({ op: 'dnsmasq.stop', network, pid: have.pid });

  // keepalived (addresses, routes), radvd (prefixes, flags) and a load balancer's haproxy
  // (master-worker: new workers, the old ones finish their connections) reread their
  // configuration on SIGHUP; the metadata haproxy is started anew, as is anything in a namespace
  // made anew or with another command line.
  for (const [key, daemon] of Object.entries(desired.daemons)) {
    const have = actual.daemons[key];
    const changed = written.has(daemon.config);
    const restart =
      !have ||
      freshNamespaces.has(daemon.netns) ||
      have.argv.join('\0') !== daemon.argv.join('\0') ||
      (changed && daemon.kind === 'haproxy');
    if (restart) {
      if (have) add({ op: 'daemon.stop', key, pid: have.pid });
      add({ op: 'daemon.start', daemon });
    } else if (changed)
      add({
        op: 'daemon.reload',
        key,
        pid: have.pid,
        ...(daemon.reload ? { command: daemon.reload } : {}),
      });
  }
  for (const [key, have] of missing(actual.daemons, desired.daemons))
    add({ op: 'daemon.stop', key, pid: have.pid });

  for (const [key, client] of Object.entries(desired.dhcpClients)) {
    const have = actual.dhcpClients[key];
    const same = have && (have.starting === true || sameArray(have.argv, client.argv));
    if (same && !isFresh(client.netns, client.device)) continue;
    if (have) add({ op: 'udhcpc.stop', key, pid: have.pid });
    add({ op: 'udhcpc.start', key, client });
  }
  for (const [key, have] of missing(actual.dhcpClients, desired.dhcpClients))
    add({ op: 'udhcpc.stop', key, pid: have.pid });

  // A device made anew has no qdiscs; a namespace made anew has none of its devices' either.
  const recreated = new Set(actions.flatMap((a) => (a.op === 'veth.add' ? [a.name] : [])));
  for (const [key, shaper] of Object.entries(desired.shapers)) {
    const have = actual.shapers[key];
    const fresh = shaper.netns === null ? recreated.has(shaper.dev) : isFresh(shaper.netns, shaper.dev);
    const known = have && !have.lost && !fresh && have.ifb === shaper.ifb ? have.spec : null;
    if (known && JSON.stringify(known) === JSON.stringify(shaper.spec)) continue;
    add({ op: 'qos.apply', shaper, have: known });
  }
  for (const [, have] of missing(actual.shapers, desired.shapers)) add({ op: 'qos.remove', shaper: have });

  add(...tableActions(desired, actual, recreated, freshNamespaces));
  // Open vSwitch holds a device it was given: one made anew goes on its bridge again.
  const madeAnew = new Set(
    actions.flatMap((a) => {
      if (a.op === 'vxlan.add') return [a.name];
      if (a.op !== 'veth.add') return [];
      return a.veth.peer.netns === '' ? [a.name, a.veth.peer.name ?? ''] : [a.name];
    }),
  );
  add(...ovsActions(desired.ovs, actual.ovs, madeAnew));
  add(...firewallActions(desired.firewall, actual.firewall));
  add(...recordActions(desired, actual, actions));
  return sortActions(actions);
}

/**
 * Keeps router namespaces' records true: a namespace about to change loses its record, which is
 * written again, from the desired state, after everything that changed it succeeded; a namespace
 * found as desired without a record (read from the kernel) gets one.
 */
function recordActions(desired: HostState, actual: HostState, actions: Action[]): Action[] {
  const touched = new Set(
    actions.map((a) => (a.op === 'veth.del' ? actual.veths[a.name]?.peer.netns : namespaceOf(a))),
  );
  return Object.entries(desired.routers).flatMap(([netns, router]): Action[] => {
    const path = namespaceRecordFile(router.dir);
    const links = Object.values(desired.namespaceLinks)
      .filter((link) => link.netns === netns)
      .map(
        ({ name, up, addresses, silent }) =>
          [name, { up, ...(addresses ? { addresses } : {}), ...(silent ? { silent } : {}) }] as const,
      );
    const record = { links: Object.fromEntries(links), routes: router.routes, sysctls: router.sysctls };
    const write: Action = { op: 'router.record', netns, path, record };
    if (touched.has(netns)) return [{ op: 'router.forget', netns, path }, write];
    return actual.routers[netns]?.recorded ? [] : [write];
  });
}
