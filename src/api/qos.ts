/**
 * QoS under `/v2.0/qos` (Neutron's `qos` and companions): `policies` as a collection like any
 * other (with tags), each rule type as a sub-collection of a policy
 * (`policies/{policy_id}/bandwidth_limit_rules`, `dscp_marking_rules`,
 * `minimum_bandwidth_rules`), the same rules by id alone under `alias-<type>-rules`
 * (`qos-rules-alias`: show, update, delete), and `rule-types` with their details.
 */
import type { FastifyInstance } from 'fastify';
import type { QosPolicies } from '../core/qos.js';
import { toBoolean } from '../core/qos.js';
import { updateEnvelope } from '../model/common.js';
import {
  QosPolicy,
  QosPolicyCreate,
  QosPolicyUpdate,
  QosRule,
  QosRuleBody,
  type RuleType,
} from '../model/qos.js';
import { contextOf } from './auth.js';
import { checkFilters } from './filters.js';
import { applyListQuery, type Query, selectFields } from './list-query.js';
import { type CollectionSpec, publicBase } from './resource-routes.js';
import type { Services } from './services.js';

export const qosPolicies = (s: Services): CollectionSpec => ({
  path: 'qos/policies',
  collection: 'policies',
  member: 'policy',
  resource: QosPolicy,
  create: QosPolicyCreate,
  update: QosPolicyUpdate,
  service: s.qosPolicies,
});

/** Each rule type's URL segment (`<type>_rules`) and alias segment (`alias-<type>-rules`). */
const RULE_PATHS: { type: RuleType; collection: string; alias: string }[] = [
  { type: 'bandwidth_limit', collection: 'bandwidth_limit_rules', alias: 'alias-bandwidth-limit-rules' },
  { type: 'dscp_marking', collection: 'dscp_marking_rules', alias: 'alias-dscp-marking-rules' },
  {
    type: 'minimum_bandwidth',
    collection: 'minimum_bandwidth_rules',
    alias: 'alias-minimum-bandwidth-rules',
  },
];

const fieldsOf = (q: Query) =>
  [q.fields ?? []].flat().filter((f): f is string => typeof f === 'string' && f !== '');

export function registerQos(app: FastifyInstance, service: QosPolicies): void {
  const attributes = new Set(Object.keys(QosRule.properties));
  for (const { type, collection, alias } of RULE_PATHS) {
    const member = `${type}_rule`;
    const base = `/v2.0/qos/policies/:policy_id/${collection}`;
    type Params = { policy_id: string; id: string };

    app.get(base, async (req) => {
      const { policy_id } = req.params as Params;
      const q = checkFilters(collection, req.query as Query);
      const all = await service.listRules(contextOf(req), policy_id, type);
      const linkBase = `${publicBase(req)}/v2.0/qos/policies/${policy_id}/${collection}`;
      const { items, links } = applyListQuery(all, q, attributes, linkBase);
      return links.length > 0
        ? { [collection]: items, [`${collection}_links`]: links }
        : { [collection]: items };
    });

    app.get(`${base}/:id`, async (req) => {
      const { policy_id, id } = req.params as Params;
      const view = await service.showRule(contextOf(req), policy_id, type, id);
      const fields = fieldsOf(req.query as Query);
      return { [member]: fields.length > 0 ? selectFields(view, fields) : view };
    });

    app.post(base, { schema: { body: updateEnvelope(member, QosRuleBody) } }, async (req, reply) => {
      const { policy_id } = req.params as Params;
      const body = (req.body as Record<string, QosRuleBody>)[member];
      reply.code(201);
      return { [member]: await service.createRule(contextOf(req), policy_id, type, body) };
    });

    app.put(`${base}/:id`, { schema: { body: updateEnvelope(member, QosRuleBody) } }, async (req) => {
      const { policy_id, id } = req.params as Params;
      const body = (req.body as Record<string, QosRuleBody>)[member];
      return { [member]: await service.updateRule(contextOf(req), policy_id, type, id, body) };
    });

    app.delete(`${base}/:id`, async (req, reply) => {
      const { policy_id, id } = req.params as Params;
      await service.removeRule(contextOf(req), policy_id, type, id);
      return reply.code(204).send();
    });

    // qos-rules-alias: the same rule by id alone, under the member name `alias_<type>_rule`.
    const aliasBase = `/v2.0/qos/${alias}/:id`;
    const aliasMember = `alias_${member}`;
    app.get(aliasBase, async (req) => {
      const { id } = req.params as Params;
      const policyId = await service.policyOfRule(type, id);
      const view = await service.showRule(contextOf(req), policyId, type, id);
      const fields = fieldsOf(req.query as Query);
      return { [aliasMember]: fields.length > 0 ? selectFields(view, fields) : view };
    });
    app.put(aliasBase, { schema: { body: updateEnvelope(aliasMember, QosRuleBody) } }, async (req) => {
      const { id } = req.params as Params;
      const body = (req.body as Record<string, QosRuleBody>)[aliasMember];
      const policyId = await service.policyOfRule(type, id);
      return { [aliasMember]: await service.updateRule(contextOf(req), policyId, type, id, body) };
    });
    app.delete(aliasBase, async (req, reply) => {
      const { id } = req.params as Params;
      const policyId = await service.policyOfRule(type, id);
      await service.removeRule(contextOf(req), policyId, type, id);
      return reply.code(204).send();
    });
  }

  app.get('/v2.0/qos/rule-types', async (req) => {
    const q = req.query as Query;
    const flag = (name: string) => {
      const v = [q[name] ?? []].flat()[0];
      return typeof v === 'string' ? toBoolean(v) : undefined;
    };
    const types = service.ruleTypes({ all_rules: flag('all_rules'), all_supported: flag('all_supported') });
    const fields = fieldsOf(q);
    return { rule_types: fields.length > 0 ? types.map((t) => selectFields(t, fields)) : types };
  });

  app.get('/v2.0/qos/rule-types/:type', async (req) => {
    const { type } = req.params as { type: string };
    const view = service.ruleType(contextOf(req), type);
    const fields = fieldsOf(req.query as Query);
    return { rule_type: fields.length > 0 ? selectFields(view, fields) : view };
  });
}
