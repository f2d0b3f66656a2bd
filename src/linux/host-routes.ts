/**
 * The host's routing, read for the check before an address goes on a host bridge: routes of every
 * table, addresses and link aliases in one `ip -json -batch` process (of the root namespace, or of
 * `netns`). The decision itself is pure: `core/route-conflict.ts`.
 */
import {
  conflictMessage,
  firstFreeRange,
  type HostLinkAddresses,
  type HostRoute,
  type HostRouting,
  routeConflict,
} from '../core/route-conflict.js';
import type { NetnsOption } from './exec.js';
import { ipJsonBatch } from './ip.js';

export interface HostRoutingRead extends HostRouting {
  /** Every link's name and `ifalias` (how a deployment finds bridges it made earlier). */
  aliases: { ifname: string; ifalias?: string }[];
}

/** Routes (`table all`), addresses and link aliases of the namespace. */
export async function readHostRouting(options: NetnsOption = {}): Promise<HostRoutingRead> {
  const [routes, links, aliases] = await ipJsonBatch(
    [
      ['route', 'show', 'table', 'all'],
      ['addr', 'show'],
      ['link', 'show'],
    ],
    options,
  );
  return {
    routes: routes as HostRoute[],
    links: links as HostLinkAddresses[],
    aliases: aliases as HostRoutingRead['aliases'],
  };
}

/** A range the host already routes elsewhere; the message is one line naming what and the flag. */
export class RouteConflictError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RouteConflictError';
  }
}

export interface RangeCheckOptions extends NetnsOption {
  /** The flag (or setting) an operator uses to choose another range, named in the message. */
  flag: string;
  /** Devices whose routes and addresses do not count: the bridge meant for the range, our own. */
  exemptDevices?: readonly string[];
}

/**
 * Rejects with `RouteConflictError` when the host (or `netns`) already routes `cidr`, or part of
 * it, through a device other than `exemptDevices`, or holds an address in it: to be called before
 * an address of `cidr` goes on a host bridge (`neutrino up`'s external bridge, a lab's underlay).
 */
export async function checkHostRange(cidr: string, options: RangeCheckOptions): Promise<void> {
  const routing = await readHostRouting(options);
  const conflict = routeConflict(routing, cidr, options.exemptDevices ?? []);
  if (conflict) throw new RouteConflictError(conflictMessage(conflict, options.flag));
}

/**
 * The first of `candidates` the host (or `netns`) does not route elsewhere; rejects with
 * `RouteConflictError` naming the last one's conflict when none is free.
 */
export async function pickFreeRange(
  candidates: readonly string[],
  options: RangeCheckOptions,
): Promise<string> {
  const routing = await readHostRouting(options);
  const { cidr, passedOver } = firstFreeRange(routing, candidates, options.exemptDevices ?? []);
  if (cidr !== undefined) return cidr;
  const last = passedOver.at(-1);
  throw new RouteConflictError(
    last
      ? `no free range among ${candidates.join(', ')} (${conflictMessage(last, options.flag)})`
      : `no candidate range; choose one with ${options.flag}`,
  );
}
