/**
 * Floating IP port forwardings (Neutron's `floating-ip-port-forwarding`, `-description`,
 * `-port-ranges`): a floating IP that is not associated 1:1 forwards a protocol's external port
 * (or range) to a port (or equally long range; one port for a whole range too, as Neutron's 1-N)
 * of an IPv4 address of an internal port. The router joining that address's subnet to the
 * floating IP's external network realises them and becomes the floating IP's `router_id` while
 * it has any; every forwarding of one floating IP goes through that router. Overlapping external
 * ports on one floating IP, or internal ports on one address, are refused under the floating IP's
 * and the internal port's row locks. The internal port's delete (or its losing the address)
 * takes its forwardings along; so does the floating IP's delete (floating-ips.ts).
 */
import { randomUUID } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { FixedIp } from '../model/port.js';
import {
  type FloatingIpPortForwarding,
  FORWARDED_PROTOCOLS,
  type ForwardedProtocol,
  type PortForwarding,
  type PortForwardingCreate,
  type PortForwardingUpdate,
} from '../model/port-forwarding.js';
import { getResource, listResources, type Stored, updateResource } from '../store/resources.js';
import type { Database } from '../store/schema.js';
import type { Store, Tx } from '../store/store.js';
import { now } from '../store/store.js';
import { type Context, requireWriter } from './context.js';
import {
  BadRequest,
  FloatingIPPortAlreadyAssociated,
  InvalidAttribute,
  NeutronError,
  PortForwardingNotFound,
  PortHasBindingFloatingIP,
  PortNotFound,
} from './errors.js';
import type { FloatingIps } from './floating-ips.js';
import { ipVersion, normalizeIp } from './ipam.js';
import type { Ports } from './ports.js';
import { lockRows } from './routers.js';

type Row = Database['port_forwardings'];

/** A port range as first and last port (equal for one port). */
interface Range {
  start: number;
  end: number;
}

const badForwarding = (msg: string) => BadRequest({ resource: 'port_forwarding', msg });

/** Neutron's protocol converter: names in any case, or the IANA numbers of the names. */
const PROTOCOL_NUMBERS: Record<string, ForwardedProtocol> = {
  '6': 'tcp',
  '17': 'udp',
  '132': 'sctp',
  '33': 'dccp',
};

function checkProtocol(raw: string): ForwardedProtocol {
  const name = PROTOCOL_NUMBERS[raw] ?? raw.toLowerCase();
  if (!(FORWARDED_PROTOCOLS as readonly string[]).includes(name)) {
    const valid = FORWARDED_PROTOCOLS.map((p) => `'${p}'`).join(', ');
    throw InvalidAttribute({ attr: 'protocol', reason: `'${raw}' is not in [${valid}]` });
  }
  return name as ForwardedProtocol;
}

function portNumber(attr: string, raw: number | string): number {
  const n = typeof raw === 'number' ? raw : /^\d{1,5}$/.test(raw.trim()) ? Number(raw) : Number.NaN;
  if (!Number.isInteger(n) || n < 1 || n > 65535) {
    throw InvalidAttribute({ attr, reason: `Invalid port value '${raw}': it must be between 1 and 65535` });
  }
  return n;
}

/** `"N:M"` (N ≤ M), `"N"` or a number. */
function parseRange(attr: string, raw: number | string): Range {
  const parts = typeof raw === 'number' ? [raw] : raw.split(':');
  if (parts.length > 2) throw InvalidAttribute({ attr, reason: `'${raw}' is not a port range (N or N:M)` });
  const [start, end = start] = parts.map((p) => portNumber(attr, p));
  if (start > end)
    throw InvalidAttribute({ attr, reason: `'${raw}' is not a port range: ${start} > ${end}` });
  return { start, end };
}

/**
 * The range a body asks for on one side: `<side>_port_range` or `<side>_port` (which must agree
 * when both are given); undefined when neither is.
 */
function requestedRange(
  body: PortForwardingCreate | PortForwardingUpdate,
  side: 'internal' | 'external',
): Range | undefined {
  const single = body[`${side}_port`];
  const range = body[`${side}_port_range`];
  const fromSingle = single == null ? undefined : parseRange(`${side}_port`, single);
  const fromRange = range == null ? undefined : parseRange(`${side}_port_range`, range);
  if (
    fromSingle &&
    fromRange &&
    (fromSingle.start !== fromRange.start || fromRange.end !== fromRange.start)
  ) {
    throw badForwarding(`${side}_port and ${side}_port_range disagree`);
  }
  return fromRange ?? fromSingle;
}

/** Neutron's relation between the sides: one internal port (1-N), or ranges as long as each other (N-N). */
function checkRelation(internal: Range, external: Range): void {
  const span = (r: Range) => r.end - r.start;
  if (span(internal) > 0 && span(internal) !== span(external)) {
    throw badForwarding(
      'Invalid ranges of internal and/or external ports. The relation between internal and external ports must be N-N or 1-N',
    );
  }
}

const rangeText = (r: Range) => `${r.start}:${r.end}`;
const overlaps = (a: Range, b: Range) => Math.max(a.start, b.start) <= Math.min(a.end, b.end);
const internalOf = (row: Row): Range => ({ start: row.internal_port_start, end: row.internal_port_end });
const externalOf = (row: Row): Range => ({ start: row.external_port_start, end: row.external_port_end });

/** A port forwarding as the API shows it. */
export function viewOf(row: Row): PortForwarding {
  const single = (r: Range) => (r.start === r.end ? r.start : null);
  return {
    id: row.id,
    protocol: row.protocol,
    internal_ip_address: row.internal_ip_address,
    internal_port: single(internalOf(row)),
    internal_port_id: row.internal_port_id,
    external_port: single(externalOf(row)),
    description: row.description,
    internal_port_range: rangeText(internalOf(row)),
    external_port_range: rangeText(externalOf(row)),
  };
}

/** The floating IPs' port forwardings, as each floating IP shows them (oldest first). */
export async function forwardingsOf(
  db: Kysely<Database>,
  floatingIpIds: string[],
): Promise<Map<string, FloatingIpPortForwarding[]>> {
  const out = new Map<string, FloatingIpPortForwarding[]>();
  if (floatingIpIds.length === 0) return out;
  const rows = await db
    .selectFrom('port_forwardings')
    .selectAll()
    .where('floatingip_id', 'in', floatingIpIds)
    .orderBy('created_at')
    .orderBy('id')
    .execute();
  for (const row of rows) {
    const { id, protocol, internal_ip_address, internal_port, internal_port_id, external_port } = viewOf(row);
    const list = out.get(row.floatingip_id) ?? [];
    list.push({ id, protocol, internal_ip_address, internal_port, internal_port_id, external_port });
    out.set(row.floatingip_id, list);
  }
  return out;
}

/** Python's repr of Neutron's conflict parameters, as its duplicate message shows them. */
function pythonDict(values: Record<string, string | number>): string {
  const repr = (v: string | number) => (typeof v === 'number' ? String(v) : `'${v}'`);
  return `{${Object.entries(values)
    .map(([k, v]) => `'${k}': ${repr(v)}`)
    .join(', ')}}`;
}

function duplicate(values: Record<string, string | number>): NeutronError {
  return badForwarding(
    `A duplicate port forwarding entry with same attributes already exists, conflicting values are ${pythonDict(values)}`,
  );
}

/** One side's conflicting value: the port when the stored forwarding has one, else its range. */
function sideValue(side: 'internal' | 'external', r: Range): Record<string, string | number> {
  return r.start === r.end ? { [`${side}_port`]: r.start } : { [`${side}_port_range`]: rangeText(r) };
}

export class PortForwardings {
  readonly #store: Store;
  readonly #floatingIps: FloatingIps;
  readonly #ports: Ports;

  constructor(store: Store, services: { floatingIps: FloatingIps; ports: Ports }) {
    this.#store = store;
    this.#floatingIps = services.floatingIps;
    this.#ports = services.ports;
    services.ports.onDelete.push((tx, port) => this.#forgetPort(tx, port.id, () => true));
    services.ports.onWrite.push(async (tx, port, current) => {
      if (!current) return;
      const kept = new Set((port.fixed_ips as FixedIp[]).map((ip) => ip.ip_address));
      await this.#forgetPort(tx, current.id, (row) => !kept.has(row.internal_ip_address));
    });
  }

  /** The floating IP's forwardings (the API filters, sorts and pages them). */
  async list(ctx: Context, floatingIpId: string): Promise<PortForwarding[]> {
    const fip = await this.#floatingIps.get(ctx, floatingIpId);
    const rows = await this.#store.db
      .selectFrom('port_forwardings')
      .selectAll()
      .where('floatingip_id', '=', fip.id)
      .orderBy('created_at')
      .orderBy('id')
      .execute();
    return rows.map(viewOf);
  }

  async show(ctx: Context, floatingIpId: string, id: string): Promise<PortForwarding> {
    const fip = await this.#floatingIps.get(ctx, floatingIpId);
    return viewOf(await this.#row(this.#store.db, fip.id, id));
  }

  async #row(db: Kysely<Database>, floatingIpId: string, id: string): Promise<Row> {
    const row = await db
      .selectFrom('port_forwardings')
      .selectAll()
      .where('id', '=', id)
      .where('floatingip_id', '=', floatingIpId)
      .executeTakeFirst();
    if (!row) throw PortForwardingNotFound({ id });
    return row;
  }

  async create(ctx: Context, floatingIpId: string, body: PortForwardingCreate): Promise<PortForwarding> {
    requireWriter(ctx, 'create_floatingip_port_forwarding');
    const protocol = checkProtocol(body.protocol);
    const internal = requestedRange(body, 'internal');
    const external = requestedRange(body, 'external');
    if (!internal) throw badForwarding('internal_port or internal_port_range is required');
    if (!external) throw badForwarding('external_port or external_port_range is required');
    checkRelation(internal, external);
    const row = await this.#store.retrying(() =>
      this.#store.transaction(async (tx) => {
        // The internal port first, then the floating IP: the order the port's delete takes them in.
        await lockRows(this.#store, tx, 'ports', [body.internal_port_id], 'update');
        await lockRows(this.#store, tx, 'floatingips', [floatingIpId], 'update');
        const fip = await this.#floatingIps.get(ctx, floatingIpId, tx);
        const target = await this.#target(tx, ctx, fip, body.internal_port_id, body.internal_ip_address);
        if (typeof fip.port_id === 'string') {
          throw FloatingIPPortAlreadyAssociated({
            port_id: body.internal_port_id,
            fip_id: fip.id,
            floating_ip_address: String(fip.floating_ip_address),
            fixed_ip: target.address,
            net_id: String(fip.floating_network_id),
          });
        }
        const next: Row = {
          id: randomUUID(),
          floatingip_id: fip.id,
          router_id: target.routerId,
          internal_port_id: body.internal_port_id,
          internal_ip_address: target.address,
          protocol,
          internal_port_start: internal.start,
          internal_port_end: internal.end,
          external_port_start: external.start,
          external_port_end: external.end,
          description: body.description ?? '',
          created_at: now(),
        };
        await this.#requireNoOverlap(tx, next);
        await tx.insertInto('port_forwardings').values(next).execute();
        await this.#touch(tx, fip, target.routerId);
        return next;
      }),
    );
    return viewOf(row);
  }

  async update(
    ctx: Context,
    floatingIpId: string,
    id: string,
    body: PortForwardingUpdate,
  ): Promise<PortForwarding> {
    requireWriter(ctx, 'update_floatingip_port_forwarding');
    const protocol = body.protocol === undefined ? undefined : checkProtocol(body.protocol);
    const internal = requestedRange(body, 'internal');
    const external = requestedRange(body, 'external');
    const row = await this.#store.retrying(() =>
      this.#store.transaction(async (tx) => {
        const before = await this.#row(tx, floatingIpId, id);
        const portId = body.internal_port_id ?? before.internal_port_id;
        await lockRows(this.#store, tx, 'ports', [before.internal_port_id, portId], 'update');
        await lockRows(this.#store, tx, 'floatingips', [floatingIpId], 'update');
        const fip = await this.#floatingIps.get(ctx, floatingIpId, tx);
        const current = await this.#row(tx, fip.id, id);
        const retarget = portId !== current.internal_port_id || body.internal_ip_address != null;
        // Another address of the same port keeps the port's; another port takes its first IPv4 one.
        const wanted =
          body.internal_ip_address ??
          (portId === current.internal_port_id ? current.internal_ip_address : undefined);
        const target = retarget ? await this.#target(tx, ctx, fip, portId, wanted) : undefined;
        const next: Row = {
          ...current,
          internal_port_id: portId,
          internal_ip_address: target?.address ?? current.internal_ip_address,
          protocol: protocol ?? current.protocol,
          ...(internal ? { internal_port_start: internal.start, internal_port_end: internal.end } : {}),
          ...(external ? { external_port_start: external.start, external_port_end: external.end } : {}),
          description: body.description ?? current.description,
        };
        checkRelation(internalOf(next), externalOf(next));
        await this.#requireNoOverlap(tx, next);
        const { id: _, ...columns } = next;
        await tx.updateTable('port_forwardings').set(columns).where('id', '=', id).execute();
        await this.#touch(tx, fip, String(fip.router_id));
        return next;
      }),
    );
    return viewOf(row);
  }

  async remove(ctx: Context, floatingIpId: string, id: string): Promise<void> {
    requireWriter(ctx, 'delete_floatingip_port_forwarding');
    await this.#store.transaction(async (tx) => {
      await lockRows(this.#store, tx, 'floatingips', [floatingIpId], 'update');
      const fip = await this.#floatingIps.get(ctx, floatingIpId, tx);
      await this.#row(tx, fip.id, id);
      await tx.deleteFrom('port_forwardings').where('id', '=', id).execute();
      await this.#touch(tx, fip, await this.#routerOf(tx, fip.id));
    });
  }

  /**
   * Where a forwarding to `portId` goes: the port (the caller's, or any for admins), its IPv4
   * address asked for (else its first), and the router between that address's subnet and the
   * floating IP's external network, which must be the floating IP's when it already has one.
   */
  async #target(
    tx: Tx,
    ctx: Context,
    fip: Stored,
    portId: string,
    wanted: string | null | undefined,
  ): Promise<{ address: string; routerId: string }> {
    const port = await this.#ports.get(ctx, portId, tx);
    if (!ctx.isAdmin && port.project_id !== fip.project_id) throw PortNotFound({ port_id: portId });
    const v4 = (port.fixed_ips as FixedIp[]).filter((ip) => ipVersion(ip.ip_address) === 4);
    if (v4.length === 0)
      throw badForwarding(`Requested internal port ${portId} must allocate an IPv4 address at least`);
    let fixed = v4[0];
    if (wanted != null) {
      const address = normalizeIp(wanted);
      if (!address)
        throw InvalidAttribute({
          attr: 'internal_ip_address',
          reason: `'${wanted}' is not a valid IP address`,
        });
      const match = v4.find((ip) => ip.ip_address === address);
      if (!match) {
        const fixedIps = v4.map((ip) => `{'subnet_id': '${ip.subnet_id}', 'ip_address': '${ip.ip_address}'}`);
        throw badForwarding(
          `Requested internal IP address ${address} is not suitable for internal neutron port ${portId}, as its fixed_ips are [${fixedIps.join(', ')}]`,
        );
      }
      fixed = match;
    }
    const bound = await tx
      .selectFrom('floatingip_associations')
      .select('floatingip_id')
      .where('port_id', '=', portId)
      .executeTakeFirst();
    if (bound) {
      const other = await getResource(tx, 'floatingips', bound.floatingip_id);
      throw PortHasBindingFloatingIP({
        floating_ip_address: String(other?.floating_ip_address),
        fip_id: bound.floatingip_id,
        port_id: portId,
        fixed_ip: fixed.ip_address,
      });
    }
    let routerId: string;
    try {
      routerId = await this.#floatingIps.routerFor(
        tx,
        port,
        fixed.subnet_id,
        String(fip.floating_network_id),
      );
    } catch (err) {
      if (!(err instanceof NeutronError && err.type === 'ExternalGatewayForFloatingIPNotFound')) throw err;
      throw badForwarding(
        `External network ${fip.floating_network_id} is not reachable from subnet ${fixed.subnet_id}. Cannot set Port forwarding for port ${portId} with Floating IP ${fip.id}`,
      );
    }
    const others = await tx
      .selectFrom('port_forwardings')
      .select('router_id')
      .where('floatingip_id', '=', fip.id)
      .executeTakeFirst();
    if (others && others.router_id !== routerId) {
      throw badForwarding(
        `The Floating IP ${fip.id} had been set on router ${others.router_id}, the internal Neutron port ${portId} can not reach it`,
      );
    }
    return { address: fixed.ip_address, routerId };
  }

  /** Refuses `next` when another forwarding takes one of its external or internal ports. */
  async #requireNoOverlap(tx: Tx, next: Row): Promise<void> {
    const sameFip = await tx
      .selectFrom('port_forwardings')
      .selectAll()
      .where('floatingip_id', '=', next.floatingip_id)
      .where('protocol', '=', next.protocol)
      .where('id', '!=', next.id)
      .execute();
    const outside = sameFip.find((row) => overlaps(externalOf(row), externalOf(next)));
    if (outside) {
      throw duplicate({
        floatingip_id: next.floatingip_id,
        ...sideValue('external', externalOf(outside)),
        protocol: next.protocol,
      });
    }
    const sameAddress = await tx
      .selectFrom('port_forwardings')
      .selectAll()
      .where('internal_port_id', '=', next.internal_port_id)
      .where('internal_ip_address', '=', next.internal_ip_address)
      .where('protocol', '=', next.protocol)
      .where('id', '!=', next.id)
      .execute();
    const inside = sameAddress.find((row) => overlaps(internalOf(row), internalOf(next)));
    if (inside) {
      throw duplicate({
        internal_port_id: next.internal_port_id,
        internal_ip_address: next.internal_ip_address,
        ...sideValue('internal', internalOf(inside)),
        protocol: next.protocol,
      });
    }
  }

  /** The router of the floating IP's remaining forwardings; null when none remain. */
  async #routerOf(tx: Tx, floatingIpId: string): Promise<string | null> {
    const row = await tx
      .selectFrom('port_forwardings')
      .select('router_id')
      .where('floatingip_id', '=', floatingIpId)
      .executeTakeFirst();
    return row?.router_id ?? null;
  }

  /**
   * A new revision of the floating IP (its view lists its forwardings, and the change feed wakes
   * the router's hosts with it): routed by `routerId` and ACTIVE while it has forwardings.
   */
  async #touch(tx: Tx, fip: Stored, routerId: string | null): Promise<void> {
    await updateResource(tx, 'floatingips', fip, {
      ...fip,
      router_id: routerId,
      status: routerId ? 'ACTIVE' : 'DOWN',
    });
  }

  /** Deletes the port's forwardings that `gone` picks (the port or their address is going away). */
  async #forgetPort(tx: Tx, portId: string, gone: (row: Row) => boolean): Promise<void> {
    const find = () =>
      tx.selectFrom('port_forwardings').selectAll().where('internal_port_id', '=', portId).execute();
    const affected = (await find()).filter(gone);
    if (affected.length === 0) return;
    const fipIds = [...new Set(affected.map((row) => row.floatingip_id))];
    // Against a forwarding's create or the floating IP's delete in flight; then read again.
    await lockRows(this.#store, tx, 'floatingips', fipIds, 'update');
    const doomed = (await find()).filter(gone);
    if (doomed.length === 0) return;
    await tx
      .deleteFrom('port_forwardings')
      .where(
        'id',
        'in',
        doomed.map((row) => row.id),
      )
      .execute();
    const fips = await listResources(tx, 'floatingips', {
      column: 'id',
      values: [...new Set(doomed.map((row) => row.floatingip_id))],
    });
    for (const fip of fips) await this.#touch(tx, fip, await this.#routerOf(tx, fip.id));
  }
}
