/**
 * What DHCP and L3 scheduling share (`dhcp.ts`, `l3.ts`): agent types, the PostgreSQL advisory
 * locks that serialise scheduling writes across hosts and servers, which hosts may serve, and the
 * service ports (DHCP, HA) they bind there.
 */
import { randomUUID } from 'node:crypto';
import type { FixedIp } from '../../model/port.js';
import { insertResource, type Stored, updateResource } from '../../store/resources.js';
import type { ResourceTable } from '../../store/schema.js';
import type { Store, Tx } from '../../store/store.js';
import type { Agents } from '../agents.js';
import { portBinding } from '../binding.js';
import { NeutronError, RevisionNumberConstraintFailed } from '../errors.js';
import { type Addressee, allocate, requestsFor, type UsedAddresses } from '../fixed-ips.js';
import { generateMac } from '../ipam.js';
import type { Settings } from '../settings.js';

export const L3_AGENT_TYPE = 'L3 agent';
export const DHCP_AGENT_TYPE = 'DHCP agent';
/**
 * PostgreSQL advisory locks serialising scheduling writes (DHCP, L3) across hosts and servers:
 * how many hosts serve a network and which host has the fewest routers are questions about every
 * host at once. Writes are rare (a sync that finds nothing to change takes no lock).
 */
export const SCHEDULER_LOCK = 0x73636864;
export const DHCP_LOCK = 1;
export const L3_LOCK = 2;

export interface ServicePort {
  network: Stored;
  subnets: Stored[];
  host: string;
  deviceId: string;
  deviceOwner: string;
  name: string;
  used: UsedAddresses;
}

export function groupBy<T>(items: T[], key: (item: T) => string): Map<string, T[]> {
  const groups = new Map<string, T[]>();
  for (const item of items) groups.set(key(item), [...(groups.get(key(item)) ?? []), item]);
  return groups;
}

export function oldestFirst(a: Stored, b: Stored): number {
  return a.created_at.localeCompare(b.created_at) || a.id.localeCompare(b.id);
}

/** Applies an update unless the row changed since it was read: then what was reported about it is stale. */
export async function updateIfCurrent(
  tx: Tx,
  table: ResourceTable,
  current: Stored,
  next: Record<string, unknown>,
): Promise<boolean> {
  try {
    await updateResource(tx, table, current, next);
    return true;
  } catch (err) {
    if (err instanceof NeutronError && err.type === RevisionNumberConstraintFailed.type) return false;
    throw err;
  }
}

/** What every part of host sync reads: the store, the settings, the agents. */
export class HostSyncPart {
  protected readonly store: Store;
  protected readonly settings: Settings;
  protected readonly agents: Agents;

  constructor(store: Store, settings: Settings, agents: Agents) {
    this.store = store;
    this.settings = settings;
    this.agents = agents;
  }
}

/** What DHCP and L3 scheduling share: which hosts may serve, and the service ports they bind there. */
export class Scheduling extends HostSyncPart {
  /**
   * A port of the network's service (DHCP, HA) bound to `host`: the network's project's, no port
   * security, an address on each of `subnets` that has one free.
   */
  protected async createServicePort(tx: Tx, port: ServicePort): Promise<void> {
    const { network, host, used } = port;
    const id = randomUUID();
    const mac = generateMac(Math.random, this.settings.macPrefix);
    const addressee = { networkId: network.id, deviceOwner: port.deviceOwner, mac };
    const fixedIps = await this.addresses(tx, id, port.subnets, addressee, used);
    const columns = {
      network_id: network.id,
      mac_address: mac,
      device_id: port.deviceId,
      device_owner: port.deviceOwner,
    };
    await insertResource(
      tx,
      'ports',
      {
        id,
        project_id: network.project_id,
        name: port.name,
        description: '',
        ...columns,
        admin_state_up: true,
        fixed_ips: fixedIps,
        status: 'DOWN',
        ...(await portBinding(tx, host)),
        'binding:vnic_type': 'normal',
        'binding:profile': {},
        allowed_address_pairs: [],
        port_security_enabled: false,
        security_groups: [],
        extra_dhcp_opts: [],
        dns_name: '',
        ip_allocation: 'immediate',
        propagate_uplink_status: false,
        resource_request: null,
        qos_policy_id: null,
        tags: [],
      },
      columns,
    );
  }

  /**
   * Whether `host` may take new DHCP or router work (`agentType`): when it runs a live agent of
   * that type, or when none is alive anywhere (one host, or agents that do not report the role) and
   * its L2 agent does not say it is a compute host only.
   */
  protected async servesNetwork(host: string, agentType: string): Promise<boolean> {
    const live = await this.agents.liveHosts([agentType]);
    if (live.length > 0) return live.includes(host);
    return !(await this.agents.isComputeOnly(host));
  }

  /**
   * An address on each subnet. A subnet that refuses one (it is full) is left out: dnsmasq serves
   * the others, and a later sync tries again.
   */
  protected async addresses(
    tx: Tx,
    portId: string,
    subnets: Stored[],
    port: Addressee,
    used: UsedAddresses,
  ): Promise<FixedIp[]> {
    const out: FixedIp[] = [];
    for (const subnet of subnets) {
      try {
        const requests = await requestsFor(tx, [{ subnet_id: subnet.id }], [subnet], port);
        out.push(...(await allocate(tx, portId, requests, port, used)));
      } catch (err) {
        if (!(err instanceof NeutronError)) throw err;
      }
    }
    return out;
  }
}
