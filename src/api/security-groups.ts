/** `/v2.0/security-groups`. */
import { SecurityGroup, SecurityGroupCreate, SecurityGroupUpdate } from '../model/security-group.js';
import type { CollectionSpec } from './resource-routes.js';
import type { Services } from './services.js';

export const securityGroups = (s: Services): CollectionSpec => ({
  path: 'security-groups',
  collection: 'security_groups',
  member: 'security_group',
  resource: SecurityGroup,
  create: SecurityGroupCreate,
  update: SecurityGroupUpdate,
  service: s.securityGroups,
});
