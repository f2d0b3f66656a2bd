/**
 * Applies a diff's actions stage by stage: all root-namespace `ip` commands of a stage in one
 * `ip -batch` (VXLAN forwarding entries in one `bridge -batch`), one batch per namespace for commands inside namespaces, files and processes through
 * `fs` and `src/linux/` (dnsmasq; a run's DHCP clients all at once; in routers: sysctl, one
 * `nft -f` transaction per NAT change, conntrack, gratuitous ARP; one `nft -f` transaction per
 * security-group change, see `firewall.ts`). Failures are reported per action (never thrown), so the
 * reconciler can retry; an action whose prerequisite failed earlier in the run is skipped and
 * reported as failed too.
 */

import { existsSync } from 'node:fs';
import { chmod, mkdir, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { announceAddress, announceThroughVxlan } from '../../linux/arp.js';
import { type ConnectionFilter, deleteConnections, deleteConnectionsOf } from '../../linux/conntrack.js';
import { dhcpRelease, dnsmasqFiles, reloadDnsmasq, startDnsmasq } from '../../linux/dnsmasq.js';
import { disableTxOffload } from '../../linux/ethtool.js';
import { run } from '../../linux/exec.js';
import { IpBatchError, ipBatch, namespacePids, toolBatch } from '../../linux/ip.js';
import { nftApply, nftListTable } from '../../linux/nft.js';
import { signal, startDaemon, startDaemons, stopProcess } from '../../linux/process.js';
import { setSysctlsInNamespace } from '../../linux/sysctl.js';
import { applyOvs, moveTunnelEndpoint } from '../drivers/openvswitch/apply.js';
import { applyFirewall } from '../firewall/apply.js';
import { canonicalFwaasListing, FWAAS_FAMILY, FWAAS_TABLE, type FwaasRecord } from '../l3/fwaas.js';
import { NAT_FAMILY, NAT_TABLE } from '../l3/nat.js';
import { type NatRecord, sha256 } from '../l3/router.js';
import { applyShaper, removeShaper } from '../qos/apply.js';
import { type Action, namespaceOf, type Op, rankOf, STAGES, type Stage } from '../state/actions.js';
import { type FileState, FLOOD_MAC, type FwaasTable, type NatTable } from '../state/host-state.js';
import { applyTable } from '../tables/apply.js';

export interface ActionFailure {
  action: Action;
  message: string;
}

export interface ApplyResult {
  /** How many actions of each kind were given, e.g. `{ 'veth.add': 3, 'dnsmasq.reload': 1 }`. */
  ops: Partial<Record<Op, number>>;
  applied: number;
  failures: ActionFailure[];
  /** How long each stage that had work took, and the wait for work finishing after them (ms). */
  stageMs: Partial<Record<Stage | 'finishing', number>>;
}

/** Where iproute2 keeps the named namespaces. */
const NETNS_DIR = '/var/run/netns';
/** How long the kernel may take to unregister the devices of deleted namespaces. */
const VANISH_TIMEOUT_MS = 5_000;
/** How many processes are started or stopped at once. */
const PROCESS_CONCURRENCY = 32;

type Line = readonly string[];

/** The `ip` commands of a kernel action (empty for files and processes). */
function ipLines(action: Action): Line[] {
  switch (action.op) {
    case 'netns.add':
      return [['netns', 'add', action.name]];
    case 'netns.del':
      return [['netns', 'del', action.name]];
    case 'veth.del':
    case 'vxlan.del':
    case 'vlan.del':
    case 'bridge.del':
      return [['link', 'del', action.name]];
    case 'bridge.add': {
      const { name, bridge } = action;
      return [
        ['link', 'add', name, 'mtu', String(bridge.mtu), 'type', 'bridge', ...nfCallArgs(bridge.nfCall)],
        ...labelAndUp(name, bridge.alias, bridge.up),
      ];
    }
    case 'vxlan.add': {
      const { name, vxlan } = action;
      const master = vxlan.master ? ['master', vxlan.master] : [];
      const kind = [
        ...['type', 'vxlan', 'id', String(vxlan.vni), 'dstport', String(vxlan.dstport)],
        ...(vxlan.local ? ['local', vxlan.local] : []),
        ...(vxlan.dev ? ['dev', vxlan.dev] : []),
        'nolearning',
        ...(vxlan.proxy ? ['proxy'] : []),
      ];
      return [
        ['link', 'add', name, 'mtu', String(vxlan.mtu), ...master, ...kind],
        ...labelAndUp(name, vxlan.alias, vxlan.up),
      ];
    }
    case 'vlan.add': {
      const { name, vlan } = action;
      const master = vlan.master ? ['master', vlan.master] : [];
      const kind = ['type', 'vlan', 'id', String(vlan.vid)];
      return [
        ['link', 'add', name, 'link', vlan.parent, 'mtu', String(vlan.mtu), ...master, ...kind],
        ...labelAndUp(name, vlan.alias, vlan.up),
      ];
    }
    case 'veth.add': {
      const { name, veth } = action;
      const master = veth.master ? ['master', veth.master] : [];
      const { netns, name: peerName, mac } = veth.peer;
      // A pair of host devices ('' namespace): the peer stays here, up, with no IPv6 address.
      const here = netns === '';
      const peer = [
        'peer',
        'name',
        peerName ?? '',
        ...(mac ? ['address', mac] : []),
        ...(here ? [] : ['netns', netns ?? '']),
      ];
      return [
        ['link', 'add', name, 'mtu', String(veth.mtu), ...master, 'type', 'veth', ...peer],
        ...labelAndUp(name, veth.alias, veth.up),
        ...(here ? [['link', 'set', peerName ?? '', 'addrgenmode', 'none', 'up']] : []),
      ];
    }
    case 'link.set': {
      const { name, mtu, alias, up, nfCall } = action;
      const mtuArgs = mtu !== undefined ? ['mtu', String(mtu)] : [];
      const aliasArgs = alias !== undefined ? ['alias', alias] : [];
      const upArgs = up !== undefined ? [up ? 'up' : 'down'] : [];
      const rest = [...mtuArgs, ...aliasArgs, ...upArgs];
      return [
        ...(rest.length > 0 ? [['link', 'set', name, ...rest]] : []),
        ...(nfCall !== undefined ? [['link', 'set', name, 'type', 'bridge', ...nfCallArgs(nfCall)]] : []),
      ];
    }
    case 'link.master': {
      const { name, master, kind } = action;
      if (master === null) return [['link', 'set', name, 'nomaster']];
      return [['link', 'set', name, 'master', master, ...(kind === 'uplink' ? ['up'] : [])]];
    }
    case 'nslink.set':
      return action.silent
        ? [
            ['link', 'set', action.name, 'addrgenmode', 'none', action.up ? 'up' : 'down'],
            ['addr', 'flush', 'dev', action.name, 'scope', 'link'],
          ]
        : [['link', 'set', action.name, action.up ? 'up' : 'down']];
    case 'addr.add':
    case 'addr.del':
      return [['addr', action.op === 'addr.add' ? 'add' : 'del', action.cidr, 'dev', action.dev]];
    case 'route.replace': {
      const { destination, nexthop } = action.route;
      return [['route', 'replace', destination, 'via', nexthop, 'proto', 'static']];
    }
    case 'route.del':
      return [['route', 'del', action.route.destination, 'proto', 'static']];
    case 'neigh.replace': {
      const { ip, mac, dev } = action.entry;
      return [['neigh', 'replace', ip, 'lladdr', mac, 'dev', dev, 'nud', 'permanent']];
    }
    case 'neigh.del':
      return [['neigh', 'del', action.entry.ip, 'dev', action.entry.dev]];
    default:
      return [];
  }
}

/**
 * The `bridge` commands of a forwarding-entry action. Flood entries are appended (one per
 * endpoint); a MAC's entry is replaced, so a MAC that moves keeps exactly one endpoint.
 */
function bridgeLines(action: Action): Line[] {
  if (action.op !== 'fdb.add' && action.op !== 'fdb.del') return [];
  const { mac, dev, dst } = action.entry;
  if (action.op === 'fdb.del') return [['fdb', 'del', mac, 'dev', dev, 'dst', dst, 'self']];
  const verb = mac === FLOOD_MAC ? 'append' : 'replace';
  return [['fdb', verb, mac, 'dev', dev, 'dst', dst, 'self', 'permanent']];
}

/** A bridge's bridge-netfilter options: its IPv4 and IPv6 traffic through the `inet` hooks, or not. */
function nfCallArgs(nfCall: boolean | undefined): string[] {
  if (nfCall === undefined) return [];
  const on = nfCall ? '1' : '0';
  return ['nf_call_iptables', on, 'nf_call_ip6tables', on];
}

/**
 * The alias is set after `link add` (the kernel ignores it at creation), and IPv6 address
 * generation is switched off before the link goes up: a link in the root namespace must not give
 * the host an address on a tenant network.
 */
function labelAndUp(name: string, alias: string, up: boolean): Line[] {
  return [
    ['link', 'set', name, 'alias', alias, 'addrgenmode', 'none'],
    ...(up ? [['link', 'set', name, 'up']] : []),
  ];
}

/** Objects an action creates (`kind:name`), so that what depends on them can be skipped if it fails. */
function provides(action: Action): string[] {
  switch (action.op) {
    case 'netns.add':
      return [`netns:${action.name}`];
    case 'bridge.add':
    case 'vxlan.add':
    case 'vlan.add':
      return [`link:${action.name}`];
    case 'veth.add':
      return [`link:${action.name}`, `device:${action.veth.peer.netns}/${action.veth.peer.name}`];
    case 'nat.apply':
      return [`nat:${action.netns}`];
    case 'firewall.apply':
      return ['firewall'];
    default:
      return [];
  }
}

/** What a failed action leaves in doubt besides what it creates: the contents of its namespace. */
function spoils(action: Action): string[] {
  const netns = namespaceOf(action);
  return [...provides(action), ...(netns === undefined ? [] : [`contents:${netns}`])];
}

function needs(action: Action): string[] {
  switch (action.op) {
    case 'vxlan.add':
      return action.vxlan.master ? [`link:${action.vxlan.master}`] : [];
    case 'vlan.add':
      return action.vlan.master ? [`link:${action.vlan.master}`] : [];
    case 'veth.add':
      return [
        `netns:${action.veth.peer.netns}`,
        ...(action.veth.master ? [`link:${action.veth.master}`] : []),
      ];
    case 'link.master':
      return action.master ? [`link:${action.master}`] : [];
    case 'fdb.add':
    case 'neigh.replace':
    case 'neigh.announce':
      return [`link:${action.entry.dev}`];
    case 'nslink.set':
      return [`netns:${action.netns}`, `device:${action.netns}/${action.name}`];
    case 'addr.add':
    case 'addr.del':
      return [`netns:${action.netns}`, `device:${action.netns}/${action.dev}`];
    case 'route.replace':
    case 'route.del':
    case 'sysctl.set':
    case 'nat.apply':
    case 'fwaas.apply':
      return [`netns:${action.netns}`];
    case 'conntrack.flush':
      return [`netns:${action.netns}`, `nat:${action.netns}`];
    case 'table.apply':
      return action.netns === undefined
        ? (action.table.devices ?? []).map((dev) => `link:${dev}`)
        : [`netns:${action.netns}`];
    case 'arp.announce':
      return [`netns:${action.netns}`, `device:${action.netns}/${action.dev}`, `nat:${action.netns}`];
    case 'router.record':
      return [`netns:${action.netns}`, `contents:${action.netns}`];
    case 'firewall.conntrack':
      return ['firewall'];
    case 'link.offload':
      return action.netns === '' ? [`link:${action.name}`] : [`device:${action.netns}/${action.name}`];
    case 'dnsmasq.start':
      return [`netns:${action.server.netns}`, `device:${action.server.netns}/${action.server.device}`];
    case 'daemon.start':
      return [`netns:${action.daemon.netns}`, `contents:${action.daemon.netns}`];
    case 'udhcpc.start':
      return [`netns:${action.client.netns}`, `device:${action.client.netns}/${action.client.device}`];
    case 'qos.apply': {
      const { netns, dev } = action.shaper;
      return netns === null ? [`link:${dev}`] : [`netns:${netns}`, `device:${netns}/${dev}`];
    }
    default:
      return [];
  }
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/**
 * Runs `lines` of `actions` as one batch and returns the failed actions. `ip` reports a failing
 * line with `Command failed -:N`, but exits at once, naming no line, on an argument it cannot
 * resolve (`master X` for a missing X); every line after the last one it reported is then in doubt.
 */
async function runBatch(
  actions: Action[],
  netns?: string,
  tool: 'ip' | 'bridge' = 'ip',
): Promise<ActionFailure[]> {
  const lines: Line[] = [];
  const owner: number[] = [];
  actions.forEach((action, i) => {
    for (const line of tool === 'ip' ? ipLines(action) : bridgeLines(action)) {
      lines.push(line);
      owner.push(i);
    }
  });
  try {
    await toolBatch(tool, lines, netns === undefined ? {} : { netns });
    return [];
  } catch (err) {
    if (!(err instanceof IpBatchError)) return actions.map((action) => ({ action, message: messageOf(err) }));
    const failed = new Map<number, string>();
    for (const f of err.failures) if (!failed.has(owner[f.index])) failed.set(owner[f.index], f.message);
    const trailer =
      err.stderr
        .split(/Command failed -:\d+\n?/)
        .at(-1)
        ?.trim() ?? '';
    if (trailer !== '') {
      const from = err.failures.length > 0 ? owner[err.failures.at(-1)!.index] + 1 : 0;
      for (let i = from; i < actions.length; i++) if (!failed.has(i)) failed.set(i, `ip aborted: ${trailer}`);
    }
    return [...failed].map(([i, message]) => ({ action: actions[i], message }));
  }
}

/**
 * Waits until the root-namespace links that go with deleted namespaces are gone: the kernel
 * unregisters them asynchronously, and the next observation must not find them. A namespace
 * something still holds open (a process inside) keeps them, which is reported as a failure.
 */
/** Ends every process inside namespace `name` (SIGTERM, then SIGKILL), by pid. */
async function endProcessesIn(name: string): Promise<void> {
  const pids = await namespacePids(name).catch(() => []);
  await Promise.all(pids.map((pid) => stopProcess(pid, 500)));
}

async function awaitLinksGone(deleted: Action[]): Promise<ActionFailure[]> {
  const present = (action: Action) =>
    action.op === 'netns.del' ? action.links.filter((link) => existsSync(join('/sys/class/net', link))) : [];
  const deadline = Date.now() + VANISH_TIMEOUT_MS;
  let waiting = deleted.filter((action) => present(action).length > 0);
  while (waiting.length > 0 && Date.now() < deadline) {
    await sleep(10);
    waiting = waiting.filter((action) => present(action).length > 0);
  }
  return waiting.map((action) => ({ action, message: `still present: ${present(action).join(' ')}` }));
}

async function writeFileState(path: string, file: FileState): Promise<void> {
  await mkdir(dirname(path), { recursive: true, mode: 0o755 });
  const tmp = `${path}.tmp`;
  await rm(tmp, { force: true });
  if ('symlink' in file) {
    await symlink(file.symlink, tmp);
  } else {
    await writeFile(tmp, file.content, { mode: file.mode });
    await chmod(tmp, file.mode);
  }
  // rename is atomic: dnsmasq rereading on SIGHUP never sees a half-written file.
  await rename(tmp, path);
}

/**
 * Replaces a router's NAT table (one `nft -f` transaction), then records the ruleset's hash, the
 * hash of nft's listing of the result (what verification compares later) and the floating IPs.
 */
async function applyNat(netns: string, record: string, nat: NatTable): Promise<void> {
  await rm(record, { force: true });
  await nftApply(nat.ruleset ?? '', { netns });
  const listing = await nftListTable(NAT_FAMILY, NAT_TABLE, { netns });
  if (listing === undefined) throw new Error(`table ${NAT_FAMILY} ${NAT_TABLE} vanished`);
  const content: NatRecord = { hash: nat.hash, listing: sha256(listing), floatingIps: nat.floatingIps };
  await writeFileState(record, { content: `${JSON.stringify(content)}\n`, mode: 0o644 });
}

/**
 * Replaces (or removes) a router's FWaaS table in one `nft -f` transaction, then records the
 * ruleset's hash and the hash of nft's listing of the result without counter values ('' when the
 * table is gone), which verification compares later.
 */
async function applyFwaas(
  netns: string,
  record: string,
  table: FwaasTable,
  flush: readonly ConnectionFilter[],
): Promise<void> {
  await rm(record, { force: true });
  await nftApply(table.ruleset ?? '', { netns });
  const listing = await nftListTable(FWAAS_FAMILY, FWAAS_TABLE, { netns });
  const content: FwaasRecord = {
    hash: table.hash,
    listing: listing === undefined ? '' : sha256(canonicalFwaasListing(listing)),
    rules: table.rules ?? [],
  };
  await writeFileState(record, { content: `${JSON.stringify(content)}\n`, mode: 0o644 });
  await deleteConnections(flush, netns);
}

/**
 * The part of an action that may finish while the run goes on (see `applyFirewall`); apply awaits
 * it before it returns and reports its failure as the action's.
 */
type Finish = (action: Action, rest: () => Promise<void>) => void;

/**
 * Runs a just-started daemon's reload command (charon's `swanctl --load-all`) as soon as the daemon
 * answers it: its control socket appears some 0.1-1 s after the start; 5 s at most.
 */
async function reloadOnceUp(command: string[]): Promise<void> {
  const deadline = Date.now() + 5_000;
  for (;;) {
    const { code, stderr } = await run(command[0], command.slice(1), { allowFail: true });
    if (code === 0) return;
    if (Date.now() > deadline) throw new Error(`${command[0]}: ${stderr.trim() || `exit code ${code}`}`);
    await sleep(50);
  }
}

/** Performs one file or process action; throws on failure. */
async function perform(action: Action, finish: Finish): Promise<void> {
  switch (action.op) {
    case 'udhcpc.stop':
    case 'dnsmasq.stop':
    case 'daemon.stop':
      if (action.pid !== undefined) await stopProcess(action.pid);
      return;
    case 'dir.create':
      await mkdir(action.path, { recursive: true, mode: 0o755 });
      return;
    case 'file.write':
      return writeFileState(action.path, action.file);
    case 'file.remove':
      return rm(action.path, { force: true });
    case 'dir.remove':
      // The directory is what marks the namespace as ours: never drop it while the namespace exists.
      if (existsSync(join(NETNS_DIR, action.netns)))
        throw new Error(`namespace ${action.netns} still exists`);
      return rm(action.path, { recursive: true, force: true });
    case 'dnsmasq.start': {
      const { server } = action;
      await rm(dnsmasqFiles(server.dir).pid, { force: true });
      await startDnsmasq(server.netns, server.argv.slice(1));
      return;
    }
    case 'dnsmasq.reload':
      if (action.pid === undefined || !reloadDnsmasq(action.pid)) throw new Error('dnsmasq is not running');
      return;
    case 'dhcp.release':
      return dhcpRelease(action.netns, action.device, action.ip, action.mac);
    case 'daemon.start': {
      const { daemon } = action;
      await rm(daemon.pidFile, { force: true });
      if (daemon.env) {
        await startDaemons([
          { netns: daemon.netns, argv: daemon.argv, env: daemon.env, pidFile: daemon.pidFile },
        ]);
        if (daemon.reload) await reloadOnceUp(daemon.reload);
        return;
      }
      await startDaemon(daemon.argv[0], daemon.argv.slice(1), {
        netns: daemon.netns,
        pidFile: daemon.pidFile,
      });
      return;
    }
    case 'daemon.reload':
      if (action.command) {
        await run(action.command[0], action.command.slice(1));
        return;
      }
      if (action.pid === undefined || !signal(action.pid, 'SIGHUP'))
        throw new Error(`${action.key} is not running`);
      return;
    case 'sysctl.set':
      return setSysctlsInNamespace(action.netns, action.values);
    case 'nat.apply':
      return applyNat(action.netns, action.record, action.nat);
    case 'fwaas.apply':
      return applyFwaas(action.netns, action.record, action.table, action.flush);
    case 'conntrack.flush':
      return deleteConnectionsOf(action.netns, action.ip);
    case 'addr.del':
      // Only floating IPs come here (see rankOf); other addresses go in the namespace's batch.
      return ipBatch([['addr', 'del', action.cidr, 'dev', action.dev]], { netns: action.netns });
    case 'arp.announce':
      return announceAddress(action.netns, action.dev, action.ip);
    case 'router.forget':
      return rm(action.path, { force: true });
    case 'router.record':
      return writeFileState(action.path, { content: `${JSON.stringify(action.record)}\n`, mode: 0o644 });
    case 'firewall.apply':
      finish(action, await applyFirewall(action.transaction, action.list, action.firewall));
      return;
    case 'firewall.conntrack':
      await deleteConnections(action.filters);
      return;
    case 'table.apply':
      return applyTable(action.netns, action.table, action.flush);
    case 'qos.apply':
      return applyShaper(action.shaper, action.have);
    case 'qos.remove':
      return removeShaper(action.shaper);
    case 'ovs.apply':
      return applyOvs(action);
    case 'ovs.underlay':
      return moveTunnelEndpoint(action.underlay, action.take);
    case 'link.offload':
      return disableTxOffload(action.name, action.netns === '' ? {} : { netns: action.netns });
    default:
      throw new Error(`${action.op} is not a file or process action`);
  }
}

async function performAll(actions: Action[], finish: Finish): Promise<ActionFailure[]> {
  const failures: ActionFailure[] = [];
  let next = 0;
  const worker = async () => {
    while (next < actions.length) {
      const action = actions[next++];
      try {
        await perform(action, finish);
      } catch (err) {
        failures.push({ action, message: messageOf(err) });
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(PROCESS_CONCURRENCY, actions.length) }, worker));
  return failures;
}

function groupBy<K>(actions: Action[], key: (action: Action) => K): Map<K, Action[]> {
  const groups = new Map<K, Action[]>();
  for (const action of actions) {
    const group = groups.get(key(action));
    if (group) group.push(action);
    else groups.set(key(action), [action]);
  }
  return groups;
}

/**
 * Starts the DHCP clients of `actions` all at once (`startDaemons`, which records each one's pid
 * in its pid file at once, so that observe finds it running), each after removing the pid and
 * lease files of an earlier one.
 */
async function startClients(actions: Action[]): Promise<ActionFailure[]> {
  const failures: ActionFailure[] = [];
  const ready: Extract<Action, { op: 'udhcpc.start' }>[] = [];
  await Promise.all(
    actions.map(async (action) => {
      if (action.op !== 'udhcpc.start') {
        failures.push({ action, message: `${action.op} is not a DHCP client start` });
        return;
      }
      const { pidFile, leaseFile, leaseDb } = action.client;
      try {
        const files = [pidFile, leaseFile, ...(leaseDb === undefined ? [] : [leaseDb])];
        await Promise.all(files.map((file) => rm(file, { force: true })));
        ready.push(action);
      } catch (err) {
        failures.push({ action, message: messageOf(err) });
      }
    }),
  );
  try {
    await startDaemons(
      ready.map(({ client }) => ({
        netns: client.netns,
        argv: client.argv,
        env: { NEUTRINO_LEASE_FILE: client.leaseFile },
        pidFile: client.pidFile,
      })),
    );
  } catch (err) {
    failures.push(...ready.map((action) => ({ action, message: messageOf(err) })));
  }
  return failures;
}

/** Sends the announcements of `actions` whose neighbour entry did not fail to be set. */
async function announce(actions: Action[], failures: ActionFailure[]): Promise<ActionFailure[]> {
  const key = (a: Action) => ('entry' in a && 'ip' in a.entry ? `${a.entry.dev} ${a.entry.ip}` : '');
  const failed = new Set(failures.map((f) => key(f.action)));
  const ready = actions.flatMap((a) => (a.op === 'neigh.announce' && !failed.has(key(a)) ? [a] : []));
  if (ready.length === 0) return [];
  try {
    await announceThroughVxlan(
      ready.map(({ entry, vni, dstport, local }) => ({ local, dstport, vni, mac: entry.mac, ip: entry.ip })),
    );
    return [];
  } catch (err) {
    return ready.map((action) => ({ action, message: messageOf(err) }));
  }
}

async function runStage(stage: Stage, actions: Action[], finish: Finish): Promise<ActionFailure[]> {
  switch (stage) {
    case 'links': {
      // A process left in a namespace (a shell someone ran in an instance, a server in it) keeps
      // the namespace and its devices alive after `netns del`: it goes with the namespace, as a
      // VM's processes go with the VM.
      await Promise.all(actions.map((a) => (a.op === 'netns.del' ? endProcessesIn(a.name) : undefined)));
      const failures = await runBatch(actions);
      const failed = new Set(failures.map((f) => f.action));
      const deleted = actions.filter((a) => a.op === 'netns.del' && !failed.has(a));
      return [...failures, ...(await awaitLinksGone(deleted))];
    }
    case 'plug':
      return runBatch(actions);
    case 'l2pop': {
      const isFdb = (a: Action) => a.op === 'fdb.add' || a.op === 'fdb.del';
      const isAnnounce = (a: Action) => a.op === 'neigh.announce';
      const results = await Promise.all([
        runBatch(actions.filter(isFdb), undefined, 'bridge'),
        runBatch(actions.filter((a) => !isFdb(a) && !isAnnounce(a))),
      ]);
      const failures = results.flat();
      // Only once the entries are in place: an instance told the new MAC sends to it at once.
      return [...failures, ...(await announce(actions.filter(isAnnounce), failures))];
    }
    case 'clients':
      return startClients(actions);
    case 'inside': {
      const byNamespace = groupBy(actions, (a) => ('netns' in a ? a.netns : ''));
      const results = await Promise.all([...byNamespace].map(([netns, group]) => runBatch(group, netns)));
      return results.flat();
    }
    default: {
      // Within a stage, actions of a lower order finish first (udhcpc stops before dnsmasq stops,
      // a SIGHUP precedes the dhcp_release of a removed host).
      const failures: ActionFailure[] = [];
      for (const group of groupBy(actions, (a) => rankOf(a).order).values())
        failures.push(...(await performAll(group, finish)));
      return failures;
    }
  }
}

/** Applies `actions` (in diff order) and reports what failed. */
export async function apply(actions: readonly Action[]): Promise<ApplyResult> {
  const failures: ActionFailure[] = [];
  const failedObjects = new Set<string>();
  const fail = (list: ActionFailure[]) => {
    failures.push(...list);
    for (const { action } of list) for (const object of spoils(action)) failedObjects.add(object);
  };
  const stageMs: ApplyResult['stageMs'] = {};
  const finishing: Promise<ActionFailure | undefined>[] = [];
  const finish: Finish = (action, rest) =>
    finishing.push(
      rest().then(
        () => undefined,
        (err: unknown) => ({ action, message: messageOf(err) }),
      ),
    );
  for (const stage of STAGES) {
    const ready: Action[] = [];
    const skipped: ActionFailure[] = [];
    for (const action of actions) {
      if (rankOf(action).stage !== stage) continue;
      const missing = needs(action).find((object) => failedObjects.has(object));
      if (missing) skipped.push({ action, message: `skipped: ${missing} was not created` });
      else ready.push(action);
    }
    fail(skipped);
    if (ready.length === 0) continue;
    const started = performance.now();
    fail(await runStage(stage, ready, finish));
    stageMs[stage] = Math.round(performance.now() - started);
  }
  const started = performance.now();
  fail((await Promise.all(finishing)).filter((f) => f !== undefined));
  if (finishing.length > 0) stageMs.finishing = Math.round(performance.now() - started);
  const ops: ApplyResult['ops'] = {};
  for (const { op } of actions) ops[op] = (ops[op] ?? 0) + 1;
  return { ops, applied: actions.length - failures.length, failures, stageMs };
}
