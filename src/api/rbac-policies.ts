/** `/v2.0/rbac-policies`. */
import { RbacPolicy, RbacPolicyCreate, RbacPolicyUpdate } from '../model/rbac-policy.js';
import type { CollectionSpec } from './resource-routes.js';
import type { Services } from './services.js';

export const rbacPolicies = (s: Services): CollectionSpec => ({
  path: 'rbac-policies',
  collection: 'rbac_policies',
  member: 'rbac_policy',
  resource: RbacPolicy,
  create: RbacPolicyCreate,
  update: RbacPolicyUpdate,
  service: s.rbacPolicies,
});
