/**
 * `/v2.0/fwaas/firewall_rules`, `/v2.0/fwaas/firewall_policies` and `/v2.0/fwaas/firewall_groups`
 * (neutron-fwaas's `fwaas_v2`), plus the policy actions `insert_rule` and `remove_rule`, which
 * answer with the policy itself (not wrapped in `firewall_policy`, as neutron-fwaas answers).
 */
import type { FastifyInstance } from 'fastify';
import type { FirewallPolicies } from '../core/fwaas.js';
import {
  FirewallGroup,
  FirewallGroupCreate,
  FirewallGroupUpdate,
  FirewallPolicy,
  FirewallPolicyCreate,
  FirewallPolicyUpdate,
  FirewallRule,
  FirewallRuleCreate,
  FirewallRuleUpdate,
  RuleInfo,
} from '../model/fwaas.js';
import { contextOf } from './auth.js';
import type { CollectionSpec } from './resource-routes.js';
import type { Services } from './services.js';

export const firewallRules = (s: Services): CollectionSpec => ({
  path: 'fwaas/firewall_rules',
  collection: 'firewall_rules',
  member: 'firewall_rule',
  resource: FirewallRule,
  create: FirewallRuleCreate,
  update: FirewallRuleUpdate,
  service: s.firewallRules,
});

export const firewallPolicies = (s: Services): CollectionSpec => ({
  path: 'fwaas/firewall_policies',
  collection: 'firewall_policies',
  member: 'firewall_policy',
  resource: FirewallPolicy,
  create: FirewallPolicyCreate,
  update: FirewallPolicyUpdate,
  service: s.firewallPolicies,
});

export const firewallGroups = (s: Services): CollectionSpec => ({
  path: 'fwaas/firewall_groups',
  collection: 'firewall_groups',
  member: 'firewall_group',
  resource: FirewallGroup,
  create: FirewallGroupCreate,
  update: FirewallGroupUpdate,
  service: s.firewallGroups,
});

export function registerFirewallPolicyActions(app: FastifyInstance, service: FirewallPolicies): void {
  const base = '/v2.0/fwaas/firewall_policies/:id';
  const id = (params: unknown) => (params as { id: string }).id;
  const schema = { body: RuleInfo };
  app.put(`${base}/insert_rule`, { schema }, async (req) =>
    service.insertRule(contextOf(req), id(req.params), req.body as RuleInfo | undefined),
  );
  app.put(`${base}/remove_rule`, { schema }, async (req) =>
    service.removeRule(contextOf(req), id(req.params), req.body as RuleInfo | undefined),
  );
}
