/**
 * Reads what Neutrino owns on this host into a `HostState`, cheaply: one `ip -json -d link show`
 * and one `ip -json netns list` for the root namespace (a veth's peer namespace comes from its
 * `link_netnsid`, so instance namespaces are never entered), one `ip -json addr show` per DHCP
 * namespace, and files plus `/proc` for the rest (no process per instance). A router namespace is
 * known from the records the last run that changed it left (its links, routes and sysctls; its NAT
 * table); only with `verify`, or without a record, is it entered: one `ip -json -batch` (addresses,
 * routes, forwarding) and one `nft list table` per router.
 *
 * Ownership: a link is ours when its alias carries this deployment's owner tag; a namespace when
 * its directory exists in the state dir; a process when its pid file there names a live process
 * whose command line names that pid file. Everything else is invisible, so never collected; the
 * one exception is a host interface (flat network uplink) that is named by the desired state or
 * enslaved to one of our bridges.
 */
import { lstatSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { lstat } from 'node:fs/promises';
import { join } from 'node:path';
import { listFdb } from '../../linux/bridge.js';
import { dnsmasqFiles } from '../../linux/dnsmasq.js';
import { HAPROXY, haproxyFiles } from '../../linux/haproxy.js';
import { lbFiles } from '../../linux/haproxy-lb.js';
import { ipJson, ipJsonBatch } from '../../linux/ip.js';
import { KEEPALIVED, keepalivedFiles } from '../../linux/keepalived.js';
import { nftListTable } from '../../linux/nft.js';
import type { Ovs } from '../../linux/ovs.js';
import {
  isAlive,
  isLauncher,
  readCmdline,
  readEnvironmentVariable,
  readPidFile,
} from '../../linux/process.js';
import { RADVD, radvdFiles } from '../../linux/radvd.js';
import { CHARON, strongswanFiles } from '../../linux/strongswan.js';
import { dhcpConfigFiles, dhcpDir, dhcpNamespace } from '../dhcp/dhcp.js';
import { tagsFile } from '../drivers/openvswitch/names.js';
import { observeOvs } from '../drivers/openvswitch/observe.js';
import { observeFirewall } from '../firewall/observe.js';
import {
  clientFiles,
  clientKey,
  clientProgramFiles,
  DHCLIENT,
  dhcp6ClientFiles,
  dhcp6ClientKey,
  dhcp6ClientOptions,
  dhcp6ProgramFiles,
  instanceDir,
  instanceNamespace,
  parseLease,
} from '../instances/instances.js';
import {
  canonicalFwaasListing,
  FWAAS_FAMILY,
  FWAAS_TABLE,
  type FwaasRecord,
  fwaasRecordFile,
} from '../l3/fwaas.js';
import { NAT_FAMILY, NAT_TABLE } from '../l3/nat.js';
import {
  IPV4_FORWARDING,
  IPV6_FORWARDING,
  type NamespaceRecord,
  type NatRecord,
  namespaceRecordFile,
  natRecordFile,
  routerDir,
  routerNamespace,
  sha256,
} from '../l3/router.js';
import { observeShapers } from '../qos/observe.js';
import { lbDir, lbNamespace } from '../services/load-balancer.js';
import {
  type Daemon,
  type DhcpClient,
  type DhcpServer,
  daemonKey,
  emptyHostState,
  type FileState,
  fdbKey,
  type HostState,
  isOwnedAlias,
  type Namespace,
  type NatTable,
  namespaceLinkKey,
  neighbourKey,
  ownerTag,
  type Route,
} from '../state/host-state.js';
import { observeTables } from '../tables/observe.js';

export interface ObserveOptions {
  stateDir: string;
  /** Host interfaces the desired state enslaves (flat networks), observed although not ours. */
  uplinks?: readonly string[];
  /** List every router's NAT table and compare it with its record (else the record is trusted). */
  verify?: boolean;
  /** The Open vSwitch of the openvswitch driver, whose bridges and ports of ours are read too. */
  ovs?: Ovs;
}

interface IpLink {
  ifname: string;
  flags: string[];
  mtu: number;
  master?: string;
  operstate?: string;
  ifalias?: string;
  link_netnsid?: number;
  /** The lower device of a VLAN device (its name, in the same namespace). */
  link?: string;
  linkinfo?: {
    info_kind?: string;
    info_data?: {
      id?: number;
      port?: number;
      nf_call_iptables?: number;
      nf_call_ip6tables?: number;
      local?: string;
      link?: string;
      proxy?: boolean;
    };
  };
  addr_info?: { family?: string; local: string; prefixlen: number; scope: string }[];
}

// Reads are synchronous: small files by the thousand (see `linux/process.ts`), on the agent's own
// thread (or process).
async function readdirOrEmpty(path: string): Promise<string[]> {
  try {
    return readdirSync(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
}

async function readText(path: string): Promise<string | undefined> {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

async function readFileState(path: string): Promise<FileState | undefined> {
  try {
    const stat = lstatSync(path);
    if (stat.isSymbolicLink()) return { symlink: readlinkSync(path) };
    return { content: readFileSync(path, 'utf8'), mode: stat.mode & 0o777 };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/** The live process named by `pidFile`, if its command line passes `isOurs`. */
async function liveProcess(
  pidFile: string,
  isOurs: (argv: string[]) => boolean,
): Promise<{ pid: number; argv: string[] } | undefined> {
  const pid = await readPidFile(pidFile);
  if (pid === undefined || !(await isAlive(pid))) return undefined;
  const argv = await readCmdline(pid);
  return argv && isOurs(argv) ? { pid, argv } : undefined;
}

/** A daemon of `kind` found by its pid file, when alive and started by us with that file. */
async function observeDaemon(
  state: HostState,
  kind: Daemon['kind'],
  netns: string,
  config: string,
  pidFile: string,
  binary: string,
): Promise<void> {
  const found = await liveProcess(pidFile, (argv) => argv[0] === binary && argv.includes(config));
  if (found) state.daemons[daemonKey({ kind, netns })] = { kind, netns, config, pidFile, ...found };
}

/** `expiry mac ip hostname client-id` lines of a dnsmasq lease file. */
function parseLeases(text: string | undefined): { mac: string; ip: string }[] {
  return (text ?? '')
    .split('\n')
    .map((line) => line.split(' '))
    .filter((fields) => fields.length >= 3 && !fields[2].includes(':'))
    .map((fields) => ({ mac: fields[1].toLowerCase(), ip: fields[2] }));
}

/** The actual state of everything Neutrino owns on this host, per the state dir `stateDir`. */
export async function observe(options: ObserveOptions): Promise<HostState> {
  const { stateDir } = options;
  const state = emptyHostState();
  const owner = ownerTag(stateDir);
  const [links, namespaces, dhcpIds, instanceIds, routerIds, lbIds] = await Promise.all([
    ipJson<IpLink[]>(['-d', 'link', 'show']),
    ipJson<{ name: string; id?: number }[]>(['netns', 'list']),
    readdirOrEmpty(join(stateDir, 'dhcp')),
    readdirOrEmpty(join(stateDir, 'instances')),
    readdirOrEmpty(join(stateDir, 'routers')),
    readdirOrEmpty(join(stateDir, 'lbaas')),
  ]);

  const kernelNamespaces = new Set(namespaces.map((n) => n.name));
  const namespaceById = new Map(
    namespaces.flatMap((n) => (n.id === undefined ? [] : [[n.id, n.name] as const])),
  );
  const claim = (dir: string, netns: string, kind: Namespace['kind']) => {
    state.dirs[dir] = { netns };
    if (kernelNamespaces.has(netns)) state.namespaces[netns] = { kind };
  };
  for (const id of dhcpIds) claim(dhcpDir(stateDir, id), dhcpNamespace(id), 'dhcp');
  for (const id of instanceIds) claim(instanceDir(stateDir, id), instanceNamespace(id), 'instance');
  for (const id of routerIds) claim(routerDir(stateDir, id), routerNamespace(id), 'router');
  for (const id of lbIds) claim(lbDir(stateDir, id), lbNamespace(id), 'lb');

  observeLinks(state, links, owner, new Set(options.uplinks ?? []), namespaceById);
  const l2population = Object.values(state.vxlans).some((v) => v.proxy)
    ? observeL2Population(state)
    : undefined;

  const { script, program } = clientProgramFiles(stateDir);
  const keepalived = routerIds.map((id) => keepalivedFiles(routerDir(stateDir, id)));
  const dhcp6 = dhcp6ProgramFiles(stateDir);
  const files = [
    tagsFile(stateDir),
    script,
    program,
    dhcp6.script,
    dhcp6.config,
    ...dhcpIds.flatMap((id) => dhcpConfigFiles(dhcpDir(stateDir, id))),
    ...keepalived.flatMap((k) => [k.config, k.notify]),
    ...routerIds.map((id) => radvdFiles(routerDir(stateDir, id)).config),
    ...routerIds.flatMap((id) => {
      const files = strongswanFiles(routerDir(stateDir, id));
      return [files.conf, files.swanctl];
    }),
    ...dhcpIds.map((id) => haproxyFiles(dhcpDir(stateDir, id)).config),
    ...lbIds.map((id) => lbFiles(lbDir(stateDir, id)).config),
  ];
  await Promise.all([
    ...files.map(async (path) => {
      const file = await readFileState(path);
      if (file) state.files[path] = file;
    }),
    ...dhcpIds.map(async (id) => {
      const netns = dhcpNamespace(id);
      if (state.namespaces[netns]) await observeNamespaceLinks(state, netns);
      const server = await observeServer(dhcpDir(stateDir, id), netns);
      if (server) state.dhcpServers[id] = server;
    }),
    ...instanceIds.map((id) => observeClients(state, stateDir, id)),
    ...routerIds
      .filter((id) => state.namespaces[routerNamespace(id)])
      .map((id) =>
        observeRouter(state, routerDir(stateDir, id), routerNamespace(id), options.verify === true),
      ),
    ...routerIds.map((id) => {
      const files = keepalivedFiles(routerDir(stateDir, id));
      return observeDaemon(state, 'keepalived', routerNamespace(id), files.config, files.pid, KEEPALIVED);
    }),
    ...routerIds.map((id) => {
      const files = radvdFiles(routerDir(stateDir, id));
      return observeDaemon(state, 'radvd', routerNamespace(id), files.config, files.pid, RADVD);
    }),
    ...routerIds.map(async (id) => {
      const netns = routerNamespace(id);
      const files = strongswanFiles(routerDir(stateDir, id));
      // charon's command line is bare: its configuration is named by its environment.
      const found = await liveProcess(files.pid, (argv) => argv[0] === CHARON);
      if (found && readEnvironmentVariable(found.pid, 'STRONGSWAN_CONF') === files.conf)
        state.daemons[daemonKey({ kind: 'charon', netns })] = {
          kind: 'charon',
          netns,
          config: files.swanctl,
          pidFile: files.pid,
          ...found,
        };
    }),
    ...dhcpIds.map((id) => {
      const files = haproxyFiles(dhcpDir(stateDir, id));
      return observeDaemon(state, 'haproxy', dhcpNamespace(id), files.config, files.pid, HAPROXY);
    }),
    ...lbIds.map(async (id) => {
      const netns = lbNamespace(id);
      if (state.namespaces[netns]) {
        await observeNamespaceLinks(state, netns);
        const routes = await ipJson<IpRoute[]>(['route', 'show', 'proto', 'static'], { netns });
        state.namespaces[netns] = { kind: 'lb', routes: routes.flatMap((r) => routeOf(r) ?? []) };
      }
      const files = lbFiles(lbDir(stateDir, id));
      return observeDaemon(state, 'lb', netns, files.config, files.pid, HAPROXY);
    }),
    observeFirewall(stateDir, options.verify === true).then((firewall) => {
      state.firewall = firewall;
    }),
    observeShapers(stateDir).then((shapers) => {
      state.shapers = shapers;
    }),
    observeOvs(options.ovs ?? null, owner, options.verify === true).then((ovs) => {
      state.ovs = ovs;
    }),
    l2population,
  ]);
  await observeTables(state, stateDir, options.verify === true);
  return state;
}

/** Which of `names` are existing bridges on this host (mapped names: a flat network may use one). */
export async function hostBridges(names: readonly string[]): Promise<string[]> {
  const valid = names.filter((name) => /^[A-Za-z0-9_.-]{1,15}$/.test(name) && name !== '.' && name !== '..');
  const found = await Promise.all(
    valid.map((name) =>
      lstat(`/sys/class/net/${name}/bridge`).then(
        () => true,
        () => false,
      ),
    ),
  );
  return valid.filter((_, i) => found[i]);
}

function observeLinks(
  state: HostState,
  links: IpLink[],
  owner: string,
  uplinks: Set<string>,
  namespaceById: Map<number, string>,
): void {
  for (const link of links) {
    if (!isOwnedAlias(link.ifalias, owner)) continue;
    const { ifname: name, mtu } = link;
    const alias = link.ifalias!;
    const up = link.flags.includes('UP');
    const master = link.master ?? null;
    switch (link.linkinfo?.info_kind) {
      case 'bridge': {
        const data = link.linkinfo.info_data ?? {};
        const nfCall = data.nf_call_iptables === 1 && data.nf_call_ip6tables === 1;
        state.bridges[name] = { mtu, alias, up, nfCall };
        break;
      }
      case 'vxlan': {
        const data = link.linkinfo.info_data ?? {};
        state.vxlans[name] = {
          vni: data.id ?? 0,
          dstport: data.port ?? 0,
          local: data.local ?? null,
          dev: data.link ?? null,
          proxy: data.proxy === true,
          mtu,
          master,
          alias,
          up,
        };
        break;
      }
      case 'vlan': {
        const vid = link.linkinfo.info_data?.id ?? 0;
        state.vlans[name] = { vid, parent: link.link ?? '', mtu, master, alias, up };
        break;
      }
      case 'veth': {
        // No link_netnsid: the peer is in this namespace too (the openvswitch driver's qvb/qvo).
        const netns = link.link_netnsid === undefined ? '' : (namespaceById.get(link.link_netnsid) ?? null);
        state.veths[name] = { mtu, master, alias, up, peer: { netns }, lowerUp: link.operstate === 'UP' };
        break;
      }
    }
  }
  for (const link of links) {
    const onOurBridge = link.master !== undefined && Object.hasOwn(state.bridges, link.master);
    if (isOwnedAlias(link.ifalias, owner) || !(onOurBridge || uplinks.has(link.ifname))) continue;
    state.uplinks[link.ifname] = { master: link.master ?? null };
  }
}

/**
 * The static entries on our VXLAN devices (l2population's): forwarding entries with a remote
 * endpoint, and permanent neighbours. One `bridge` and one `ip` process for all devices.
 */
async function observeL2Population(state: HostState): Promise<void> {
  const [fdb, neighbours] = await Promise.all([
    listFdb(),
    ipJson<{ dst: string; dev: string; lladdr?: string }[]>(['neigh', 'show', 'nud', 'permanent']),
  ]);
  const ours = (dev: string) => Object.hasOwn(state.vxlans, dev);
  for (const record of fdb) {
    if (!ours(record.ifname) || record.dst === undefined || record.master !== undefined) continue;
    const entry = { dev: record.ifname, mac: record.mac.toLowerCase(), dst: record.dst };
    state.fdb[fdbKey(entry)] = entry;
  }
  for (const n of neighbours) {
    if (!ours(n.dev) || n.lladdr === undefined) continue;
    const entry = { dev: n.dev, ip: n.dst, mac: n.lladdr.toLowerCase() };
    state.neighbours[neighbourKey(entry)] = entry;
  }
}

async function observeNamespaceLinks(state: HostState, netns: string): Promise<void> {
  recordNamespaceLinks(state, netns, await ipJson<IpLink[]>(['addr', 'show'], { netns }));
}

function recordNamespaceLinks(state: HostState, netns: string, links: IpLink[]): void {
  for (const link of links) {
    const addresses = (link.addr_info ?? [])
      .filter((a) => a.scope === 'global')
      .map((a) => `${a.local}/${a.prefixlen}`)
      .sort();
    const linkLocal = (link.addr_info ?? []).some((a) => a.family === 'inet6' && a.scope === 'link');
    state.namespaceLinks[namespaceLinkKey(netns, link.ifname)] = {
      netns,
      name: link.ifname,
      up: link.flags.includes('UP'),
      ...(link.ifname === 'lo' ? {} : { addresses, silent: !linkLocal }),
    };
  }
}

interface IpRoute {
  dst: string;
  gateway?: string;
  dev?: string;
}

/** A route as `Route`: `default` and bare host addresses become CIDRs. */
function routeOf(route: IpRoute): Route | undefined {
  if (route.gateway === undefined || route.dev === undefined) return undefined;
  const v6 = route.gateway.includes(':');
  const host = `${route.dst}/${v6 ? 128 : 32}`;
  const destination =
    route.dst === 'default' ? (v6 ? '::/0' : '0.0.0.0/0') : route.dst.includes('/') ? route.dst : host;
  return { destination, nexthop: route.gateway, dev: route.dev };
}

async function readJson<T>(path: string): Promise<T | undefined> {
  try {
    return JSON.parse((await readText(path)) ?? '') as T;
  } catch {
    return undefined;
  }
}

/** Reads a router namespace's links into `state` and returns its routes and forwarding: one `ip`. */
async function readRouterNamespace(state: HostState, netns: string): Promise<Omit<NamespaceRecord, 'links'>> {
  type Netconf = { family: string; interface: string; forwarding?: boolean }[];
  const [links, routes, netconf] = (await ipJsonBatch(
    [
      ['addr', 'show'],
      ['route', 'show', 'table', 'all', 'proto', 'static'],
      ['netconf', 'show'],
    ],
    { netns },
  )) as [IpLink[], IpRoute[], Netconf];
  const forwarding = (family: string) =>
    netconf.find((c) => c.family === family && c.interface === 'all')?.forwarding ? '1' : '0';
  recordNamespaceLinks(state, netns, links);
  return {
    routes: routes.flatMap((r) => routeOf(r) ?? []),
    sysctls: { [IPV4_FORWARDING]: forwarding('inet'), [IPV6_FORWARDING]: forwarding('inet6') },
  };
}

/**
 * A router namespace: its links, routes and forwarding from its record, or read from the kernel
 * (one `ip` process) when verifying or without a record; its NAT and FWaaS tables from their
 * records, compared with nft's listings (one `nft` process each) when verifying.
 */
async function observeRouter(state: HostState, dir: string, netns: string, verify: boolean): Promise<void> {
  const [record, natRecord, fwaasRecord] = await Promise.all([
    readJson<NamespaceRecord>(namespaceRecordFile(dir)),
    readJson<NatRecord>(natRecordFile(dir)),
    readJson<FwaasRecord>(fwaasRecordFile(dir)),
  ]);
  const trusted = record && !verify;
  const [listing, fwaasListing, inside] = await Promise.all([
    verify && natRecord ? nftListTable(NAT_FAMILY, NAT_TABLE, { netns }) : undefined,
    verify && fwaasRecord ? nftListTable(FWAAS_FAMILY, FWAAS_TABLE, { netns }) : undefined,
    trusted ? record : readRouterNamespace(state, netns),
  ]);
  if (trusted)
    for (const [name, link] of Object.entries(record.links))
      state.namespaceLinks[namespaceLinkKey(netns, name)] = { netns, name, ...link };
  const nat: NatTable = { hash: natRecord?.hash ?? '', floatingIps: natRecord?.floatingIps ?? {} };
  if (verify && (listing === undefined || sha256(listing) !== natRecord?.listing)) nat.hash = '';
  const fwaas = { hash: fwaasRecord?.hash ?? '', rules: fwaasRecord?.rules ?? [] };
  const fwaasSeen = fwaasListing === undefined ? '' : sha256(canonicalFwaasListing(fwaasListing));
  if (verify && fwaasSeen !== fwaasRecord?.listing) fwaas.hash = '';
  state.routers[netns] = {
    dir,
    gatewayDevice: null,
    sysctls: inside.sysctls,
    routes: inside.routes,
    nat,
    fwaas,
    recorded: record !== undefined,
  };
}

async function observeServer(dir: string, netns: string): Promise<DhcpServer | undefined> {
  const files = dnsmasqFiles(dir);
  const process = await liveProcess(
    files.pid,
    (argv) => argv[0] === 'dnsmasq' && argv.includes(`--pid-file=${files.pid}`),
  );
  if (!process) return undefined;
  const device = process.argv.find((a) => a.startsWith('--interface='))?.slice('--interface='.length) ?? '';
  const leases = parseLeases(await readText(files.leases));
  return { netns, device, dir, argv: process.argv, leases, pid: process.pid };
}

async function observeClients(state: HostState, stateDir: string, instanceId: string): Promise<void> {
  const dir = instanceDir(stateDir, instanceId);
  const entries = await readdirOrEmpty(dir);
  const devices = entries.flatMap((f) => /^udhcpc-(.+)\.pid$/.exec(f)?.[1] ?? []);
  for (const device of devices) {
    const { pidFile, leaseFile } = clientFiles(dir, device);
    // The pid is the launcher's subshell until it has run `exec` (see `startDaemons`).
    const process = await liveProcess(
      pidFile,
      (argv) => isLauncher(argv) || argv[argv.indexOf('-p') + 1] === pidFile,
    );
    if (!process) continue;
    const lease = parseLease((await readText(leaseFile)) ?? '').ip;
    const starting = isLauncher(process.argv);
    // Between nsenter's start and its `exec`, the client's command line follows nsenter's `--`.
    const argv =
      process.argv[0] === 'nsenter' ? process.argv.slice(process.argv.indexOf('--') + 1) : process.argv;
    const client: DhcpClient = {
      netns: instanceNamespace(instanceId),
      device,
      argv,
      ...(starting ? { starting: true as const } : {}),
      pidFile,
      leaseFile,
      pid: process.pid,
      ...(lease ? { lease } : {}),
    };
    state.dhcpClients[clientKey(instanceId, device)] = client;
  }
  // dhclient -6 (DHCPv6), observed the same way by its own pid file.
  const devices6 = entries.flatMap((f) => /^dhclient6-(.+)\.pid$/.exec(f)?.[1] ?? []);
  for (const device of devices6) {
    const { pidFile, leaseFile, leaseDb } = dhcp6ClientFiles(dir, device);
    const process = await liveProcess(
      pidFile,
      (argv) => isLauncher(argv) || argv[argv.indexOf('-pf') + 1] === pidFile,
    );
    if (!process) {
      // `dhclient -6 -S` exits once its information request is answered: a lease file recording
      // a reply without an address is that client done, not one to start again.
      const text = (await readText(leaseFile)) ?? '';
      if (text === '' || parseLease(text).ip) continue;
      const { script, config } = dhcp6ProgramFiles(stateDir);
      const options = { device, script, config, pidFile, leaseFile, leaseDb, stateless: true };
      state.dhcpClients[dhcp6ClientKey(instanceId, device)] = {
        netns: instanceNamespace(instanceId),
        device,
        argv: [DHCLIENT, ...dhcp6ClientOptions(options)],
        pidFile,
        leaseFile,
        leaseDb,
        dhcpv6: 'stateless',
      };
      continue;
    }
    const starting = isLauncher(process.argv);
    const argv =
      process.argv[0] === 'nsenter' ? process.argv.slice(process.argv.indexOf('--') + 1) : process.argv;
    const lease = parseLease((await readText(leaseFile)) ?? '').ip;
    state.dhcpClients[dhcp6ClientKey(instanceId, device)] = {
      netns: instanceNamespace(instanceId),
      device,
      argv,
      ...(starting ? { starting: true as const } : {}),
      pidFile,
      leaseFile,
      leaseDb,
      dhcpv6: argv.includes('-S') ? 'stateless' : 'stateful',
      pid: process.pid,
      ...(lease ? { lease } : {}),
    };
  }
}
