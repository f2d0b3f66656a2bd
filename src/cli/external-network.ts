/**
 * The all-in-one's external network (`neutrino up`): a bridge of its own in the root namespace
 * (default `br-ex`, no uplink) holding the CIDR's first address so the host reaches floating IPs,
 * physnet `public` mapped to it, and through the API a flat `router:external` network `public`
 * with a DHCP-less subnet on the CIDR whose gateway is that host address. Never forwarding or NAT
 * in the root namespace: the host is one more neighbour on the external network. The bridge is
 * marked as the deployment's by its ifalias, so `neutrino down` removes it and nothing else. Before
 * anything is made, the range is checked against the host's routes and addresses (`chooseExternalNetwork`):
 * a range the host reaches through another device is refused, and without `--external-cidr` the
 * first documentation range the host does not route is taken.
 */
import ipaddr from 'ipaddr.js';
import { ownerTag } from '../agent/state/host-state.js';
import type { Session } from '../client/session.js';
import { DOCUMENTATION_RANGES } from '../core/route-conflict.js';
import type { NetnsOption } from '../linux/exec.js';
import { checkHostRange, pickFreeRange, readHostRouting } from '../linux/host-routes.js';
import { ipBatch, ipJson } from '../linux/ip.js';

export const EXTERNAL_PHYSNET = 'public';
/** Where `--external-cidr`'s default comes from: the first the host does not route elsewhere. */
export const EXTERNAL_CIDR_CANDIDATES = DOCUMENTATION_RANGES;
export const DEFAULT_EXTERNAL_BRIDGE = 'br-ex';

export interface ExternalNetwork {
  /** The network's CIDR in canonical form, e.g. `203.0.113.0/24`. */
  cidr: string;
  /** Its first address: the host's, and the subnet's gateway. */
  gateway: string;
  prefixLength: number;
}

/** Parses `--external-cidr`: an IPv4 CIDR with room for a gateway and at least one more address. */
export function externalNetwork(cidr: string): ExternalNetwork {
  if (!ipaddr.IPv4.isValidCIDR(cidr)) throw new Error(`--external-cidr: not an IPv4 CIDR: ${cidr}`);
  const [, prefixLength] = ipaddr.IPv4.parseCIDR(cidr);
  if (prefixLength > 29) throw new Error(`--external-cidr: /${prefixLength} is too small (at most /29)`);
  const network = ipaddr.IPv4.networkAddressFromCIDR(cidr);
  const bytes = network.toByteArray();
  bytes[3] += 1;
  return {
    cidr: `${network.toString()}/${prefixLength}`,
    gateway: ipaddr.fromByteArray(bytes).toString(),
    prefixLength,
  };
}

/** The ifalias that marks a bridge as created by the deployment of `stateDir`. */
function bridgeAlias(stateDir: string): string {
  // Not `neutrino:…@<agent owner>`: the agent must not take the bridge for one of its own.
  return `neutrino-external@${ownerTag(stateDir)}`;
}

interface Link {
  ifname: string;
  ifalias?: string;
  linkinfo?: { info_kind?: string };
}

/**
 * `up`'s pre-flight, before anything is created: `cidr` (`--external-cidr`) if the host does not
 * already route it, or part of it, through another device (nor hold an address in it), else a
 * `RouteConflictError` of one line; without `cidr`, the first of `EXTERNAL_CIDR_CANDIDATES` that is
 * free (`picked`). Routes and addresses of `bridge` itself (an existing bridge is used as it is, so
 * nothing is added to it) and of this deployment's earlier external bridges do not count.
 */
export async function chooseExternalNetwork(
  options: { cidr?: string; bridge: string; stateDir: string } & NetnsOption,
): Promise<{ network: ExternalNetwork; picked: boolean }> {
  if (options.cidr !== undefined) externalNetwork(options.cidr);
  const alias = bridgeAlias(options.stateDir);
  const links = (await readHostRouting(options)).aliases;
  const exemptDevices = links
    .filter((l) => l.ifname === options.bridge || l.ifalias === alias)
    .map((l) => l.ifname);
  const check = {
    flag: '--external-cidr',
    exemptDevices,
    ...(options.netns ? { netns: options.netns } : {}),
  };
  if (options.cidr !== undefined) {
    await checkHostRange(options.cidr, check);
    return { network: externalNetwork(options.cidr), picked: false };
  }
  return { network: externalNetwork(await pickFreeRange(EXTERNAL_CIDR_CANDIDATES, check)), picked: true };
}

/**
 * Creates bridge `name` with the gateway address unless it exists; an existing bridge (ours from
 * an earlier start, or the operator's) is used as it is. Returns whether it was created.
 */
export async function ensureExternalBridge(
  name: string,
  network: ExternalNetwork,
  stateDir: string,
): Promise<boolean> {
  if (!/^[A-Za-z0-9_.-]{1,15}$/.test(name))
    throw new Error(`--external-bridge: invalid name ${JSON.stringify(name)}`);
  const existing = (await ipJson<Link[]>(['-d', 'link', 'show'])).find((l) => l.ifname === name);
  if (existing) {
    if (existing.linkinfo?.info_kind !== 'bridge')
      throw new Error(`--external-bridge: ${name} exists and is not a bridge; choose another name`);
    return false;
  }
  await ipBatch([
    ['link', 'add', name, 'type', 'bridge'],
    ['link', 'set', name, 'alias', bridgeAlias(stateDir), 'addrgenmode', 'none'],
    ['addr', 'add', `${network.gateway}/${network.prefixLength}`, 'dev', name],
    ['link', 'set', name, 'up'],
  ]);
  return true;
}

/** Deletes the external bridges the deployment of `stateDir` created; returns their names. */
export async function removeExternalBridges(stateDir: string): Promise<string[]> {
  const alias = bridgeAlias(stateDir);
  const ours = (await ipJson<Link[]>(['link', 'show', 'type', 'bridge'])).filter((l) => l.ifalias === alias);
  if (ours.length > 0) await ipBatch(ours.map((l) => ['link', 'del', l.ifname]));
  return ours.map((l) => l.ifname);
}

interface Network {
  id: string;
  'provider:physical_network': string | null;
  subnets: string[];
}

/**
 * Creates, unless there is one, the external network on physnet `public` and its subnet on
 * `network.cidr` (no DHCP, the gateway the host's address, the rest the allocation pool). Returns
 * the network's id.
 */
export async function ensureExternalNetwork(api: Session, network: ExternalNetwork): Promise<string> {
  const { networks } = await api.get<{ networks: Network[] }>('/v2.0/networks?router:external=true');
  let external = networks.find((n) => n['provider:physical_network'] === EXTERNAL_PHYSNET);
  if (!external) {
    ({ network: external } = await api.post<{ network: Network }>('/v2.0/networks', {
      network: {
        name: 'public',
        'router:external': true,
        'provider:network_type': 'flat',
        'provider:physical_network': EXTERNAL_PHYSNET,
      },
    }));
  }
  if (external.subnets.length === 0) {
    await api.post('/v2.0/subnets', {
      subnet: {
        network_id: external.id,
        name: 'public-subnet',
        ip_version: 4,
        cidr: network.cidr,
        gateway_ip: network.gateway,
        enable_dhcp: false,
      },
    });
  }
  return external.id;
}
