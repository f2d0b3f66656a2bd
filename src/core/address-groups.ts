/**
 * Address groups (Neutron's `address-group`): a project's named CIDR list that security-group
 * rules use as their remote (`remote_address_group_id`). Visible to its project and admins.
 * Addresses are stored normalised (`network/prefix`, host bits cleared, as Neutron stores them)
 * and change only through `add_addresses` / `remove_addresses`, which refuse an address already
 * there or not there (Neutron's errors); a group some rule names cannot be deleted. Every change
 * is a revision, so the agents of hosts whose ports use such rules rewrite the group's nftables
 * sets in place.
 */
import { randomUUID } from 'node:crypto';
import ipaddr from 'ipaddr.js';
import type { Kysely } from 'kysely';
import type { AddressGroupCreate, AddressGroupUpdate } from '../model/address-group.js';
import {
  deleteResource,
  getResource,
  insertResource,
  listResources,
  type Stored,
  updateResource,
} from '../store/resources.js';
import type { Database } from '../store/schema.js';
import type { Store, Tx } from '../store/store.js';
import { type Context, owns, requireWriter, targetProject } from './context.js';
import {
  AddressesAlreadyExist,
  AddressesNotFound,
  AddressGroupInUse,
  AddressGroupNotFound,
  InvalidAttribute,
  PolicyNotAuthorized,
  RevisionNumberConstraintFailed,
} from './errors.js';
import type { ListHint, ResourceService, View } from './resource.js';

/**
 * One address as Neutron's `type:subnet_list` validator takes it (a CIDR; host bits allowed) and
 * stores it (`network/prefix`).
 */
export function normaliseAddress(text: string): string {
  if (!text.includes('/')) {
    const recommended = ipaddr.isValid(text)
      ? `${ipaddr.parse(text).toString()}/${ipaddr.parse(text).kind() === 'ipv4' ? 32 : 128}`
      : undefined;
    throw InvalidAttribute({
      attr: 'addresses',
      reason: recommended
        ? `'${text}' isn't a recognized IP subnet cidr, '${recommended}' is recommended`
        : `'${text}' is not a valid IP subnet`,
    });
  }
  if (!ipaddr.isValidCIDR(text))
    throw InvalidAttribute({ attr: 'addresses', reason: `'${text}' is not a valid IP subnet` });
  const [address, prefix] = ipaddr.parseCIDR(text);
  const network =
    address.kind() === 'ipv4'
      ? ipaddr.IPv4.networkAddressFromCIDR(text)
      : ipaddr.IPv6.networkAddressFromCIDR(text);
  return `${network.toString()}/${prefix}`;
}

/** The distinct normalised addresses of a request, in the order given. */
function normalised(addresses: readonly string[]): string[] {
  return [...new Set(addresses.map(normaliseAddress))];
}

const listed = (values: string[]) => `[${values.map((v) => `'${v}'`).join(', ')}]`;

export class AddressGroups implements ResourceService<AddressGroupCreate, AddressGroupUpdate> {
  readonly table = 'address_groups' as const;
  readonly #store: Store;

  constructor(store: Store) {
    this.#store = store;
  }

  #visible(ctx: Context, row: Stored): boolean {
    return ctx.isAdmin || row.project_id === ctx.projectId;
  }

  async list(ctx: Context, hint: ListHint): Promise<View[]> {
    const ids = hint.filters.id;
    const rows = await listResources(
      this.#store.db,
      'address_groups',
      ids ? { column: 'id', values: ids } : undefined,
    );
    return rows.filter((r) => this.#visible(ctx, r));
  }

  /** The stored group if `ctx` may see it, else AddressGroupNotFound (never 403). */
  async get(ctx: Context, id: string, db: Kysely<Database> = this.#store.db): Promise<Stored> {
    const row = await getResource(db, 'address_groups', id);
    if (!row || !this.#visible(ctx, row)) throw AddressGroupNotFound({ address_group_id: id });
    return row;
  }

  async #owned(ctx: Context, id: string, action: string, tx: Tx): Promise<Stored> {
    requireWriter(ctx, action);
    const row = await this.get(ctx, id, tx);
    if (!owns(ctx, row.project_id)) throw PolicyNotAuthorized({ action });
    return row;
  }

  async show(ctx: Context, id: string): Promise<View> {
    return this.get(ctx, id);
  }

  async create(ctx: Context, bodies: AddressGroupCreate[]): Promise<View[]> {
    requireWriter(ctx, 'create_address_group');
    const prepared = bodies.map((body) => ({
      body,
      project: targetProject(ctx, body, 'create_address_group'),
      addresses: normalised(body.addresses ?? []),
    }));
    return this.#store.transaction(async (tx) => {
      const out: Stored[] = [];
      for (const { body, project, addresses } of prepared)
        out.push(
          await insertResource(tx, 'address_groups', {
            id: randomUUID(),
            project_id: project,
            name: body.name ?? '',
            description: body.description ?? '',
            addresses,
          }),
        );
      return out;
    });
  }

  async update(ctx: Context, id: string, body: AddressGroupUpdate, ifRevision?: number): Promise<View> {
    return this.#store.transaction(async (tx) => {
      const current = await this.#owned(ctx, id, 'update_address_group', tx);
      return updateResource(tx, 'address_groups', current, { ...current, ...body }, {}, ifRevision);
    });
  }

  /** `PUT …/add_addresses`: every address new to the group (AddressesAlreadyExist otherwise). */
  async addAddresses(ctx: Context, id: string, addresses: string[]): Promise<View> {
    const wanted = normalised(addresses);
    return this.#store.retrying(() =>
      this.#store.transaction(async (tx) => {
        const current = await this.#owned(ctx, id, 'add_addresses', tx);
        const have = new Set(current.addresses as string[]);
        const already = wanted.filter((a) => have.has(a));
        if (already.length > 0)
          throw AddressesAlreadyExist({ addresses: listed(already), address_group_id: id });
        const next = [...(current.addresses as string[]), ...wanted];
        return updateResource(tx, 'address_groups', current, { ...current, addresses: next });
      }),
    );
  }

  /** `PUT …/remove_addresses`: every address must be in the group (AddressesNotFound otherwise). */
  async removeAddresses(ctx: Context, id: string, addresses: string[]): Promise<View> {
    const unwanted = normalised(addresses);
    return this.#store.retrying(() =>
      this.#store.transaction(async (tx) => {
        const current = await this.#owned(ctx, id, 'remove_addresses', tx);
        const have = current.addresses as string[];
        const missing = unwanted.filter((a) => !have.includes(a));
        if (missing.length > 0) throw AddressesNotFound({ addresses: listed(missing), address_group_id: id });
        const next = have.filter((a) => !unwanted.includes(a));
        return updateResource(tx, 'address_groups', current, { ...current, addresses: next });
      }),
    );
  }

  async remove(ctx: Context, id: string, ifRevision?: number): Promise<void> {
    await this.#store.transaction(async (tx) => {
      const current = await this.#owned(ctx, id, 'delete_address_group', tx);
      if (ifRevision !== undefined && ifRevision !== current.revision_number) {
        throw RevisionNumberConstraintFailed({ expected: ifRevision, current: current.revision_number });
      }
      // Rule docs name their remote address group (ids are UUIDs: safe inside LIKE).
      const used = await tx
        .selectFrom('security_group_rules')
        .select('id')
        .where('doc', 'like', `%"remote_address_group_id":"${id}"%`)
        .executeTakeFirst();
      if (used) throw AddressGroupInUse({ address_group_id: id });
      await deleteResource(tx, 'address_groups', current);
    });
  }
}
