/** `/v2.0/security-group-rules` (no update: PUT answers that every attribute is read-only). */
import {
  SecurityGroupRule,
  SecurityGroupRuleCreate,
  SecurityGroupRuleUpdate,
} from '../model/security-group.js';
import type { CollectionSpec } from './resource-routes.js';
import type { Services } from './services.js';

export const securityGroupRules = (s: Services): CollectionSpec => ({
  path: 'security-group-rules',
  collection: 'security_group_rules',
  member: 'security_group_rule',
  resource: SecurityGroupRule,
  create: SecurityGroupRuleCreate,
  update: SecurityGroupRuleUpdate,
  service: s.securityGroupRules,
});
