/**
 * Network IP availability (admin only): per network and per subnet, how many addresses the
 * allocation pools hold (`total_ips`) and how many are allocated (`used_ips`, every allocation
 * in the subnet, as Neutron counts). A subnet without pools counts its whole CIDR. IPv6 pools
 * easily pass 2^53, so totals are bigints where a JSON number would lose precision.
 */
import { inChunks } from '../store/chunks.js';
import { fromRow, type Stored } from '../store/resources.js';
import type { ResourceRow } from '../store/schema.js';
import type { Store } from '../store/store.js';
import type { Context } from './context.js';
import { HiddenByPolicy, NetworkNotFound } from './errors.js';
import { type Pool, parseCidr, poolSize } from './ipam.js';

/** A count as exact as JSON allows: a number while safe, else a bigint for the serializer. */
export type Count = number | bigint;

export interface SubnetAvailability {
  subnet_id: string;
  subnet_name: string;
  cidr: string;
  ip_version: number;
  total_ips: Count;
  used_ips: number;
}

export interface NetworkAvailability {
  network_id: string;
  network_name: string;
  project_id: string;
  tenant_id: string;
  total_ips: Count;
  used_ips: number;
  subnet_ip_availability: SubnetAvailability[];
}

export interface AvailabilityFilters {
  network_id?: string[];
  ip_version?: string[];
}

function exact(n: bigint): Count {
  return n <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(n) : n;
}

function totalOf(cidr: string, pools: Pool[]): bigint {
  if (pools.length > 0) return poolSize(pools);
  return parseCidr(cidr)?.size ?? 0n;
}

export class IpAvailability {
  readonly #store: Store;

  constructor(store: Store) {
    this.#store = store;
  }

  /**
   * Every network's availability; empty for non-admins (Neutron's policy hides the collection).
   * An `ip_version` filter keeps only subnets of that version and networks that have one.
   */
  async list(ctx: Context, filters: AvailabilityFilters = {}): Promise<NetworkAvailability[]> {
    if (!ctx.isAdmin) return [];
    const db = this.#store.db;
    const networksQuery = db.selectFrom('networks').selectAll();
    const networkRows = filters.network_id
      ? await inChunks([...new Set(filters.network_id)], (chunk) =>
          networksQuery.where('id', 'in', chunk).execute(),
        )
      : await networksQuery.execute();
    const networks = networkRows.map((r) => fromRow(r as ResourceRow));
    if (networks.length === 0) return [];
    const ids = networks.map((n) => n.id);
    const subnetRows = await inChunks(ids, (chunk) =>
      db.selectFrom('subnets').selectAll().where('network_id', 'in', chunk).execute(),
    );
    const subnets: Stored[] = subnetRows.map((r) => ({
      ...fromRow(r as ResourceRow),
      network_id: r.network_id,
    }));
    const counts = await inChunks(ids, (chunk) =>
      db
        .selectFrom('ip_allocations')
        .select(['subnet_id', (eb) => eb.fn.countAll().as('n')])
        .where('network_id', 'in', chunk)
        .groupBy('subnet_id')
        .execute(),
    );
    const used = new Map(counts.map((c) => [c.subnet_id, Number(c.n)]));
    const versions = filters.ip_version?.map(Number);

    const out: NetworkAvailability[] = [];
    for (const net of networks) {
      let totalIps = 0n;
      let usedIps = 0;
      const perSubnet: SubnetAvailability[] = [];
      for (const s of subnets) {
        if (s.network_id !== net.id || (versions && !versions.includes(Number(s.ip_version)))) continue;
        const total = totalOf(String(s.cidr), (s.allocation_pools as Pool[] | undefined) ?? []);
        const usedHere = used.get(s.id) ?? 0;
        totalIps += total;
        usedIps += usedHere;
        perSubnet.push({
          subnet_id: s.id,
          subnet_name: String(s.name ?? ''),
          cidr: String(s.cidr),
          ip_version: Number(s.ip_version),
          total_ips: exact(total),
          used_ips: usedHere,
        });
      }
      if (versions && perSubnet.length === 0) continue;
      out.push({
        network_id: net.id,
        network_name: String(net.name ?? ''),
        project_id: net.project_id,
        tenant_id: net.project_id,
        total_ips: exact(totalIps),
        used_ips: usedIps,
        subnet_ip_availability: perSubnet,
      });
    }
    return out;
  }

  /** One network's availability (NetworkNotFound); hidden from non-admins as Neutron's policy hides it. */
  async show(ctx: Context, networkId: string): Promise<NetworkAvailability> {
    if (!ctx.isAdmin) throw HiddenByPolicy('GET');
    const [found] = await this.list(ctx, { network_id: [networkId] });
    if (!found) throw NetworkNotFound({ net_id: networkId });
    return found;
  }
}
