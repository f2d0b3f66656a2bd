/**
 * The steps that take a host from its actual state to its desired one (diff's output, apply's
 * input), each carrying everything needed to perform it, and the stage each belongs to: stages run
 * in order, and the actions of one stage are batched together.
 */
import type { Bridge, DhcpClient, DhcpServer, FileState, Namespace, Veth, Vxlan } from './host-state.js';

export type LinkKind = 'bridge' | 'vxlan' | 'veth' | 'uplink';

export type Action =
  // A pid is absent only when the actual state did not come from `observe` (pure tests).
  | { op: 'udhcpc.stop'; key: string; pid?: number }
  | { op: 'dnsmasq.stop'; network: string; pid?: number }
  | { op: 'dir.create'; path: string; netns: string }
  | { op: 'veth.del'; name: string }
  | { op: 'vxlan.del'; name: string }
  | { op: 'link.master'; kind: Exclude<LinkKind, 'bridge'>; name: string; master: string | null }
  | { op: 'bridge.del'; name: string }
  /** `links`: our root-namespace veths whose peers are inside, which the kernel deletes with it. */
  | { op: 'netns.del'; name: string; links: string[] }
  | { op: 'netns.add'; name: string; namespace: Namespace }
  | { op: 'bridge.add'; name: string; bridge: Bridge }
  | { op: 'link.set'; kind: LinkKind; name: string; mtu?: number; alias?: string; up?: boolean }
  | { op: 'vxlan.add'; name: string; vxlan: Vxlan }
  | { op: 'veth.add'; name: string; veth: Veth }
  | { op: 'nslink.set'; netns: string; name: string; up: boolean }
  | { op: 'addr.add'; netns: string; dev: string; cidr: string }
  | { op: 'addr.del'; netns: string; dev: string; cidr: string }
  | { op: 'file.write'; path: string; file: FileState }
  | { op: 'file.remove'; path: string }
  | { op: 'dir.remove'; path: string; netns: string }
  | { op: 'dnsmasq.start'; network: string; server: DhcpServer }
  | { op: 'dnsmasq.reload'; network: string; pid?: number }
  | { op: 'dhcp.release'; network: string; netns: string; device: string; mac: string; ip: string }
  | { op: 'udhcpc.start'; key: string; client: DhcpClient };

export type Op = Action['op'];

/**
 * Stages in execution order. Deletions come first (so a recreated object's name is free), in
 * reverse dependency order; creations follow in dependency order. Links that name another object
 * (`master X`, `netns X`) get a stage of their own because `ip` aborts a whole batch when such a
 * name does not resolve: they run only once what they name was created.
 */
export const STAGES = [
  'stop', // processes: udhcpc, then dnsmasq
  'mkdir', // namespace directories, which mark a namespace as ours before it exists
  'links', // root ip batch: veth/vxlan/uplink/bridge/namespace deletes, then namespace and bridge adds
  'plug', // root ip batch: vxlan and veth adds, enslaving
  'inside', // one ip batch per namespace: link up, addresses
  'files', // dnsmasq configuration, the udhcpc script; removals
  'dhcp', // dnsmasq start / SIGHUP / dhcp_release
  'clients', // udhcpc start
] as const;

export type Stage = (typeof STAGES)[number];

/** Where `action` runs and its position in the stage (the diff's sort key). */
export function rankOf(action: Action): { stage: Stage; order: number } {
  switch (action.op) {
    case 'udhcpc.stop':
      return { stage: 'stop', order: 0 };
    case 'dnsmasq.stop':
      return { stage: 'stop', order: 1 };
    case 'dir.create':
      return { stage: 'mkdir', order: 0 };
    case 'veth.del':
      return { stage: 'links', order: 0 };
    case 'vxlan.del':
      return { stage: 'links', order: 1 };
    case 'link.master':
      return action.master === null ? { stage: 'links', order: 2 } : { stage: 'plug', order: 2 };
    case 'bridge.del':
      return { stage: 'links', order: 3 };
    case 'netns.del':
      return { stage: 'links', order: 4 };
    case 'netns.add':
      return { stage: 'links', order: 5 };
    case 'bridge.add':
      return { stage: 'links', order: 6 };
    case 'link.set':
      return { stage: 'links', order: 7 };
    case 'vxlan.add':
      return { stage: 'plug', order: 0 };
    case 'veth.add':
      return { stage: 'plug', order: 1 };
    case 'nslink.set':
      return { stage: 'inside', order: 0 };
    case 'addr.del':
      return { stage: 'inside', order: 1 };
    case 'addr.add':
      return { stage: 'inside', order: 2 };
    case 'file.write':
      return { stage: 'files', order: 0 };
    case 'file.remove':
      return { stage: 'files', order: 1 };
    case 'dir.remove':
      return { stage: 'files', order: 2 };
    case 'dnsmasq.start':
      return { stage: 'dhcp', order: 0 };
    case 'dnsmasq.reload':
      return { stage: 'dhcp', order: 1 };
    case 'dhcp.release':
      return { stage: 'dhcp', order: 2 };
    case 'udhcpc.start':
      return { stage: 'clients', order: 0 };
  }
}

/** Sorts actions by stage, then by their order within it; stable otherwise. */
export function sortActions(actions: Action[]): Action[] {
  const key = (a: Action) => {
    const { stage, order } = rankOf(a);
    return STAGES.indexOf(stage) * 100 + order;
  };
  return actions
    .map((action, i) => ({ action, i, k: key(action) }))
    .sort((a, b) => a.k - b.k || a.i - b.i)
    .map((e) => e.action);
}

/** A short human name for the object an action is about, for logs and failure reports. */
export function subjectOf(action: Action): string {
  switch (action.op) {
    case 'udhcpc.stop':
    case 'udhcpc.start':
      return `udhcpc ${action.key}`;
    case 'dnsmasq.stop':
    case 'dnsmasq.start':
    case 'dnsmasq.reload':
      return `dnsmasq ${action.network}`;
    case 'dhcp.release':
      return `lease ${action.ip} ${action.mac}`;
    case 'dir.create':
    case 'dir.remove':
    case 'file.write':
    case 'file.remove':
      return action.path;
    case 'nslink.set':
      return `${action.netns}/${action.name}`;
    case 'addr.add':
    case 'addr.del':
      return `${action.netns}/${action.dev} ${action.cidr}`;
    default:
      return action.name;
  }
}
