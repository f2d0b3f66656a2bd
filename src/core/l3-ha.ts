/**
 * HA routers (Neutron's `l3-ha`), the server's part. An HA router lives on several network hosts
 * (`max_l3_agents_per_router`), whose keepalived instances elect one master by VRRP; only the
 * master holds the router's addresses. VRRP runs over the project's HA network: a network of no
 * project (hidden from the project's members, as in Neutron), with one subnet in `l3_ha_net_cidr`
 * and no DHCP, created with the project's first HA router and deleted with its last. Each host of
 * the router has a port there (`network:router_ha_interface`, device the router), and each HA
 * router a VRRP id unique on the network. Scheduling the hosts and their HA ports is host-sync's
 * work (`host-sync/l3.ts`); this module keeps the network, the VRRP ids and the ports' lifetime.
 */
import type { Kysely } from 'kysely';
import { DeviceOwner } from '../model/device-owners.js';
import { inChunks } from '../store/chunks.js';
import { listResources, type Stored } from '../store/resources.js';
import type { Database } from '../store/schema.js';
import type { Tx } from '../store/store.js';
import { SYSTEM } from './context.js';
import { InvalidInput } from './errors.js';
import type { Networks } from './networks.js';
import { removePort } from './ports.js';
import type { Settings } from './settings.js';
import type { Subnets } from './subnets.js';

/** VRRP ids are 1..255; Neutron leaves 255 out. */
const MAX_VRID = 254;

/** The project that owns HA networks and ports: none, as in Neutron (`tenant_id` ''). */
export const HA_PROJECT = '';

export function haNetworkName(project: string): string {
  return `HA network tenant ${project}`;
}

export function haPortName(project: string): string {
  return `HA port tenant ${project}`;
}

/** The HA ports of `routerIds`, oldest first. */
export async function haPorts(db: Kysely<Database>, routerIds: string[]): Promise<Stored[]> {
  const ports = await listResources(db, 'ports', { column: 'device_id', values: routerIds });
  return ports
    .filter((p) => p.device_owner === DeviceOwner.routerHaInterface)
    .sort((a, b) => a.created_at.localeCompare(b.created_at) || a.id.localeCompare(b.id));
}

/** Each HA router's HA network and VRRP id. */
export async function vrrpIds(
  db: Kysely<Database>,
  routerIds: string[],
): Promise<Map<string, { network_id: string; vr_id: number }>> {
  const rows = await inChunks(routerIds, (chunk) =>
    db.selectFrom('ha_router_vrids').selectAll().where('router_id', 'in', chunk).execute(),
  );
  return new Map(rows.map((r) => [r.router_id, { network_id: r.network_id, vr_id: Number(r.vr_id) }]));
}

export class L3Ha {
  readonly #settings: Settings;
  readonly #networks: Networks;
  readonly #subnets: Subnets;

  constructor(settings: Settings, networks: Networks, subnets: Subnets) {
    this.#settings = settings;
    this.#networks = networks;
    this.#subnets = subnets;
  }

  /**
   * Makes `router` HA in `tx`: its project's HA network (created on first use; `vlanSupported`
   * as for any network of the tenant type) and a VRRP id on it. Concurrent first routers of one
   * project collide on the HA network's key, and the store's retry runs the loser again.
   */
  async attach(tx: Tx, router: Stored, vlanSupported: boolean): Promise<void> {
    const networkId = await this.#haNetwork(tx, router.project_id, vlanSupported);
    const taken = await tx
      .selectFrom('ha_router_vrids')
      .select('vr_id')
      .where('network_id', '=', networkId)
      .execute();
    const used = new Set(taken.map((t) => Number(t.vr_id)));
    let vrid = 1;
    while (used.has(vrid)) vrid++;
    if (vrid > MAX_VRID)
      throw InvalidInput({
        error_message: `No more than ${MAX_VRID} HA routers per project: no VRRP id is free on its HA network`,
      });
    await tx
      .insertInto('ha_router_vrids')
      .values({ network_id: networkId, vr_id: vrid, router_id: router.id })
      .execute();
  }

  /**
   * Makes `router` not HA in `tx`: its HA ports and VRRP id go, and the project's HA network
   * with them when no HA router of the project remains.
   */
  async detach(tx: Tx, router: Stored): Promise<void> {
    for (const port of await haPorts(tx, [router.id])) await removePort(tx, port);
    const own = await tx
      .selectFrom('ha_router_vrids')
      .select('network_id')
      .where('router_id', '=', router.id)
      .executeTakeFirst();
    if (!own) return;
    await tx.deleteFrom('ha_router_vrids').where('router_id', '=', router.id).execute();
    const remaining = await tx
      .selectFrom('ha_router_vrids')
      .select('router_id')
      .where('network_id', '=', own.network_id)
      .executeTakeFirst();
    if (remaining) return;
    const [network] = await listResources(tx, 'networks', { column: 'id', values: [own.network_id] });
    await tx.deleteFrom('ha_router_networks').where('network_id', '=', own.network_id).execute();
    if (network) await this.#networks.delete(tx, network);
  }

  async #haNetwork(tx: Tx, project: string, vlanSupported: boolean): Promise<string> {
    const known = await tx
      .selectFrom('ha_router_networks')
      .select('network_id')
      .where('project_id', '=', project)
      .executeTakeFirst();
    if (known) return known.network_id;
    const network = await this.#networks.insert(
      tx,
      { name: haNetworkName(project), port_security_enabled: false },
      HA_PROJECT,
      vlanSupported,
    );
    await tx
      .insertInto('ha_router_networks')
      .values({ project_id: project, network_id: network.id })
      .execute();
    await this.#subnets.insert(
      tx,
      SYSTEM,
      {
        network_id: network.id,
        name: `HA subnet tenant ${project}`,
        ip_version: 4,
        cidr: this.#settings.l3HaNetCidr,
        enable_dhcp: false,
        gateway_ip: null,
      },
      HA_PROJECT,
    );
    return network.id;
  }
}
