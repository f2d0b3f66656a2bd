/**
 * `GET /neutrino/v1/metadata/<path>`: the metadata service's backend. Only the agents call it
 * (admin), for the proxy in a network's DHCP namespace, naming the network
 * (`X-Neutrino-Network-ID`) and the address the request came from (`X-Forwarded-For`, as the
 * proxy saw it, never as the instance sent it); the answer is what Nova would serve that
 * instance (`core/metadata.ts`), or 404 when no instance holds the address.
 */
import type { FastifyInstance } from 'fastify';
import ipaddr from 'ipaddr.js';
import { requireAdmin } from '../core/context.js';
import { BadRequest } from '../core/errors.js';
import { lookupInstance, respond } from '../core/metadata.js';
import type { Settings } from '../core/settings.js';
import type { Store } from '../store/store.js';
import { contextOf } from './auth.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export function registerMetadata(app: FastifyInstance, store: Store, settings: Settings): void {
  app.get('/neutrino/v1/metadata/*', async (req, reply) => {
    requireAdmin(contextOf(req), 'get_metadata');
    const network = req.headers['x-neutrino-network-id'];
    const forwarded = req.headers['x-forwarded-for'];
    if (typeof network !== 'string' || !UUID.test(network))
      throw BadRequest({ resource: 'metadata', msg: 'X-Neutrino-Network-ID must name a network' });
    const address = typeof forwarded === 'string' ? forwarded.split(',')[0].trim() : '';
    if (!ipaddr.isValid(address))
      throw BadRequest({
        resource: 'metadata',
        msg: 'X-Forwarded-For must be the address the request came from',
      });
    const source = await lookupInstance(
      store.db,
      network,
      ipaddr.parse(address).toString(),
      settings.dnsDomain,
    );
    if (!source) return reply.code(404).type('text/plain').send('Not Found');
    const path = (req.params as { '*': string })['*'];
    const answer = respond(source, path);
    return reply.code(answer.status).type(answer.type).send(answer.body);
  });
}
