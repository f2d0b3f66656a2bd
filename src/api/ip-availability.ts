/**
 * `/v2.0/network-ip-availabilities` (the network-ip-availability extension): filters on
 * network_id, network_name, project_id/tenant_id and ip_version, and `fields`. Counts beyond
 * 2^53 are written as exact JSON integers, as Neutron writes them.
 */
import { randomUUID } from 'node:crypto';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { HTTPBadRequest } from '../core/errors.js';
import type { IpAvailability, NetworkAvailability } from '../core/ip-availability.js';
import { contextOf } from './auth.js';
import { type Query, selectFields } from './list-query.js';

const EQUALITY_FILTERS = ['network_id', 'network_name', 'project_id', 'tenant_id'] as const;

function values(v: string | string[] | undefined): string[] | undefined {
  return v === undefined ? undefined : Array.isArray(v) ? v : [v];
}

function fieldsOf(q: Query): string[] {
  return (values(q.fields) ?? []).filter((f) => f !== '');
}

function filtered(all: NetworkAvailability[], q: Query): Record<string, unknown>[] {
  for (const key of Object.keys(q)) {
    if (key !== 'fields' && key !== 'ip_version' && !(EQUALITY_FILTERS as readonly string[]).includes(key)) {
      throw HTTPBadRequest({ msg: `[${key}] is invalid attribute for filtering` });
    }
  }
  let items = all;
  for (const key of EQUALITY_FILTERS) {
    const wanted = values(q[key]);
    if (wanted) items = items.filter((n) => wanted.includes(n[key]));
  }
  const fields = fieldsOf(q);
  return fields.length ? items.map((n) => selectFields({ ...n }, fields)) : items.map((n) => ({ ...n }));
}

/** JSON.stringify, but bigints become exact integer literals instead of throwing. */
function sendExact(reply: FastifyReply, body: unknown) {
  const marker = `bigint-${randomUUID()}-`;
  const text = JSON.stringify(body, (_key, v) => (typeof v === 'bigint' ? `${marker}${v}` : v));
  return reply
    .type('application/json; charset=utf-8')
    .send(text.replace(new RegExp(`"${marker}(\\d+)"`, 'g'), '$1'));
}

export function registerIpAvailability(app: FastifyInstance, availability: IpAvailability): void {
  const base = '/v2.0/network-ip-availabilities';

  app.get(base, async (req, reply) => {
    const q = req.query as Query;
    const all = await availability.list(contextOf(req), {
      network_id: values(q.network_id),
      ip_version: values(q.ip_version),
    });
    return sendExact(reply, { network_ip_availabilities: filtered(all, q) });
  });

  app.get(`${base}/:network_id`, async (req, reply) => {
    const { network_id } = req.params as { network_id: string };
    const found = await availability.show(contextOf(req), network_id);
    const fields = fieldsOf(req.query as Query);
    return sendExact(reply, {
      network_ip_availability: fields.length ? selectFields({ ...found }, fields) : found,
    });
  });
}
