/**
 * An RBAC policy: opens one object (a network, security group, subnet pool, address scope or QoS
 * policy) to
 * one project or to every project (`*`), to use as if shared (`access_as_shared`) or as an
 * external network (`access_as_external`). Neutron calls the target attribute `target_tenant`.
 */
import { type Static, Type } from 'typebox';
import { Closed, ProjectId, Uuid } from './common.js';

/** The actions each object type accepts. */
export const RBAC_ACTIONS: Record<string, readonly string[]> = {
  network: ['access_as_shared', 'access_as_external'],
  security_group: ['access_as_shared'],
  subnetpool: ['access_as_shared'],
  address_scope: ['access_as_shared'],
  qos_policy: ['access_as_shared'],
};

const Target = Type.String({ maxLength: 255 });

export const RbacPolicy = Closed({
  id: Uuid,
  project_id: ProjectId,
  tenant_id: ProjectId,
  object_type: Type.String(),
  object_id: Uuid,
  action: Type.String(),
  target_tenant: Target,
});
export type RbacPolicy = Static<typeof RbacPolicy>;

export const RbacPolicyCreate = Closed({
  object_type: Type.String({ maxLength: 255 }),
  object_id: Type.String({ maxLength: 255 }),
  action: Type.String({ maxLength: 255 }),
  target_tenant: Target,
  project_id: Type.Optional(ProjectId),
  tenant_id: Type.Optional(ProjectId),
});
export type RbacPolicyCreate = Static<typeof RbacPolicyCreate>;

export const RbacPolicyUpdate = Closed({ target_tenant: Target });
export type RbacPolicyUpdate = Static<typeof RbacPolicyUpdate>;
