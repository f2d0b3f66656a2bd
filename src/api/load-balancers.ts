/**
 * Octavia's v2 API under `/load-balancer/v2/lbaas` (and `/load-balancer/v2.0/lbaas`, where
 * python-octaviaclient sends it): load balancers (with `/status`, `/stats` and
 * `DELETE ?cascade=true`), listeners (with `/stats`), pools and their members
 * (`pools/{id}/members`), health monitors, L7 policies and their rules
 * (`l7policies/{id}/rules`). Lists take Octavia's filters, `fields`, sorting and paging and
 * always carry `<collection>_links`. Errors are Octavia's `{faultcode, faultstring, debuginfo}`
 * (see `errors.ts`).
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { type TObject, Type } from 'typebox';
import type { LbKind, LoadBalancers } from '../core/load-balancers.js';
import { updateEnvelope } from '../model/common.js';
import {
  HealthMonitor,
  HealthMonitorCreate,
  HealthMonitorUpdate,
  L7Policy,
  L7PolicyCreate,
  L7PolicyUpdate,
  L7Rule,
  L7RuleCreate,
  L7RuleUpdate,
  Listener,
  ListenerCreate,
  ListenerUpdate,
  LoadBalancer,
  LoadBalancerCreate,
  LoadBalancerUpdate,
  Member,
  MemberCreate,
  MemberUpdate,
  Pool,
  PoolCreate,
  PoolUpdate,
} from '../model/load-balancer.js';
import { contextOf } from './auth.js';
import { applyListQuery, type Query, selectFields } from './list-query.js';
import { publicBase } from './resource-routes.js';

export const LB_PREFIXES = ['/load-balancer/v2', '/load-balancer/v2.0'];

type Params = Record<string, string>;
type Body = Record<string, unknown>;

const fieldsOf = (q: Query) =>
  [q.fields ?? []].flat().filter((f): f is string => typeof f === 'string' && f !== '');

/** One collection's routes: its kind, URL, envelope names, schemas and how to create/update. */
interface Spec {
  kind: LbKind;
  /** Below `/lbaas`; `:parent` is the parent's id for sub-collections. */
  path: string;
  collection: string;
  member: string;
  view: TObject;
  create: TObject;
  update: TObject;
  parent?: LbKind;
  doCreate: (req: FastifyRequest, body: Body) => Promise<Body>;
  doUpdate: (req: FastifyRequest, id: string, body: Body) => Promise<Body>;
}

export function registerLoadBalancers(app: FastifyInstance, service: LoadBalancers): void {
  const ctx = contextOf;
  const parentOf = (req: FastifyRequest) => (req.params as Params).parent;
  // biome-ignore lint/suspicious/noExplicitAny: each spec's body is its own model type
  const as = (b: Body) => b as any;
  const specs: Spec[] = [
    {
      kind: 'loadbalancer',
      path: 'loadbalancers',
      collection: 'loadbalancers',
      member: 'loadbalancer',
      view: LoadBalancer,
      create: LoadBalancerCreate,
      update: LoadBalancerUpdate,
      doCreate: (req, b) => service.createLoadBalancer(ctx(req), as(b)),
      doUpdate: (req, id, b) => service.updateLoadBalancer(ctx(req), id, as(b)),
    },
    {
      kind: 'listener',
      path: 'listeners',
      collection: 'listeners',
      member: 'listener',
      view: Listener,
      create: ListenerCreate,
      update: ListenerUpdate,
      doCreate: (req, b) => service.createListener(ctx(req), as(b)),
      doUpdate: (req, id, b) => service.updateListener(ctx(req), id, as(b)),
    },
    {
      kind: 'pool',
      path: 'pools',
      collection: 'pools',
      member: 'pool',
      view: Pool,
      create: PoolCreate,
      update: PoolUpdate,
      doCreate: (req, b) => service.createPool(ctx(req), as(b)),
      doUpdate: (req, id, b) => service.updatePool(ctx(req), id, as(b)),
    },
    {
      kind: 'member',
      path: 'pools/:parent/members',
      collection: 'members',
      member: 'member',
      view: Member,
      create: MemberCreate,
      update: MemberUpdate,
      parent: 'pool',
      doCreate: (req, b) => service.createMember(ctx(req), parentOf(req), as(b)),
      doUpdate: (req, id, b) => service.updateMember(ctx(req), parentOf(req), id, as(b)),
    },
    {
      kind: 'healthmonitor',
      path: 'healthmonitors',
      collection: 'healthmonitors',
      member: 'healthmonitor',
      view: HealthMonitor,
      create: HealthMonitorCreate,
      update: HealthMonitorUpdate,
      doCreate: (req, b) => service.createHealthMonitor(ctx(req), as(b)),
      doUpdate: (req, id, b) => service.updateHealthMonitor(ctx(req), id, as(b)),
    },
    {
      kind: 'l7policy',
      path: 'l7policies',
      collection: 'l7policies',
      member: 'l7policy',
      view: L7Policy,
      create: L7PolicyCreate,
      update: L7PolicyUpdate,
      doCreate: (req, b) => service.createL7Policy(ctx(req), as(b)),
      doUpdate: (req, id, b) => service.updateL7Policy(ctx(req), id, as(b)),
    },
    {
      kind: 'l7rule',
      path: 'l7policies/:parent/rules',
      collection: 'rules',
      member: 'rule',
      view: L7Rule,
      create: L7RuleCreate,
      update: L7RuleUpdate,
      parent: 'l7policy',
      doCreate: (req, b) => service.createL7Rule(ctx(req), parentOf(req), as(b)),
      doUpdate: (req, id, b) => service.updateL7Rule(ctx(req), parentOf(req), id, as(b)),
    },
  ];

  for (const prefix of LB_PREFIXES) {
    for (const spec of specs) {
      const base = `${prefix}/lbaas/${spec.path}`;
      const attributes = new Set(Object.keys(spec.view.properties));
      const parent = (req: FastifyRequest) =>
        spec.parent ? { kind: spec.parent, id: parentOf(req) } : undefined;

      app.get(base, async (req) => {
        const q = req.query as Query;
        const all = await service.list(ctx(req), spec.kind, parent(req));
        const linkBase = `${publicBase(req)}${req.url.split('?')[0]}`;
        const { items, links } = applyListQuery(all, q, attributes, linkBase);
        return { [spec.collection]: items, [`${spec.collection}_links`]: links };
      });

      app.get(`${base}/:id`, async (req) => {
        const view = await service.show(ctx(req), spec.kind, (req.params as Params).id, parent(req));
        const fields = fieldsOf(req.query as Query);
        return { [spec.member]: fields.length > 0 ? selectFields(view, fields) : view };
      });

      app.post(base, { schema: { body: updateEnvelope(spec.member, spec.create) } }, async (req, reply) => {
        const body = (req.body as Record<string, Body>)[spec.member];
        reply.code(201);
        return { [spec.member]: await spec.doCreate(req, body) };
      });

      app.put(
        `${base}/:id`,
        { schema: { body: updateEnvelope(spec.member, spec.update) } },
        async (req, reply) => {
          const body = (req.body as Record<string, Body>)[spec.member];
          reply.code(200);
          return { [spec.member]: await spec.doUpdate(req, (req.params as Params).id, body) };
        },
      );

      app.delete(`${base}/:id`, async (req, reply) => {
        const { id } = req.params as Params;
        if (spec.kind === 'loadbalancer') {
          const cascade = String((req.query as Query).cascade ?? 'false').toLowerCase() === 'true';
          await service.deleteLoadBalancer(ctx(req), id, cascade);
        } else {
          await service.remove(ctx(req), spec.kind, id, parent(req));
        }
        return reply.code(204).send();
      });
    }

    app.get(`${prefix}/lbaas/loadbalancers/:id/status`, async (req) =>
      service.statusTree(ctx(req), (req.params as Params).id),
    );
    app.get(`${prefix}/lbaas/loadbalancers/:id/stats`, async (req) =>
      service.stats(ctx(req), 'loadbalancer', (req.params as Params).id),
    );
    app.get(`${prefix}/lbaas/listeners/:id/stats`, async (req) =>
      service.stats(ctx(req), 'listener', (req.params as Params).id),
    );

    // Quotas: Octavia's `/lbaas/quotas` (list, defaults, a project's; set and reset by admins).
    app.get(`${prefix}/lbaas/quotas`, async (req) => ({
      quotas: await service.quotas(ctx(req)),
      quotas_links: [],
    }));
    app.get(`${prefix}/lbaas/quotas/defaults`, async () => ({ quota: service.quotaDefaults() }));
    const project = { params: Type.Object({ project_id: Type.String({ maxLength: 64 }) }) };
    app.get(`${prefix}/lbaas/quotas/:project_id`, { schema: project }, async (req) => ({
      quota: await service.quota(ctx(req), (req.params as Params).project_id),
    }));
    app.put(
      `${prefix}/lbaas/quotas/:project_id`,
      { schema: { ...project, body: Type.Object({ quota: QuotaPut }, { additionalProperties: false }) } },
      async (req, reply) => {
        const { quota } = req.body as { quota: Record<string, number> };
        const done = await service.setQuota(ctx(req), (req.params as Params).project_id, quota);
        return reply.code(202).send({ quota: done });
      },
    );
    app.delete(`${prefix}/lbaas/quotas/:project_id`, { schema: project }, async (req, reply) => {
      await service.resetQuota(ctx(req), (req.params as Params).project_id);
      return reply.code(202).send();
    });
  }
}

/** Octavia's quota body: each resource (and its old spelling) from -1 (unlimited) to 2,000,000,000. */
const Limit = Type.Optional(Type.Union([Type.Integer({ minimum: -1, maximum: 2_000_000_000 }), Type.Null()]));
const QuotaPut = Type.Object(
  {
    loadbalancer: Limit,
    load_balancer: Limit,
    listener: Limit,
    member: Limit,
    pool: Limit,
    healthmonitor: Limit,
    health_monitor: Limit,
    l7policy: Limit,
    l7rule: Limit,
  },
  { additionalProperties: false },
);
