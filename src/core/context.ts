/**
 * Who is asking: the identity behind a request's token, reduced to what policy needs.
 * Policy follows Neutron's defaults: admins see and change everything; members change their
 * project's resources; readers only read; another project's resource is "not found".
 */
import { HTTPBadRequest, PolicyNotAuthorized } from './errors.js';

export interface Context {
  userId: string;
  userName: string;
  /** The token's project scope; null for domain- or unscoped tokens. */
  projectId: string | null;
  projectName: string | null;
  roles: string[];
  isAdmin: boolean;
}

/** A context for internal work (bootstrap, the local agent): admin, no project. */
export const SYSTEM: Context = {
  userId: 'neutrino',
  userName: 'neutrino',
  projectId: null,
  projectName: null,
  roles: ['admin'],
  isAdmin: true,
};

export function canWrite(ctx: Context): boolean {
  return ctx.isAdmin || ctx.roles.includes('member');
}

/** Throws PolicyNotAuthorized unless the caller may write at all (readers may not). */
export function requireWriter(ctx: Context, action: string): void {
  if (!canWrite(ctx)) throw PolicyNotAuthorized({ action });
}

export function requireAdmin(ctx: Context, action: string): void {
  if (!ctx.isAdmin) throw PolicyNotAuthorized({ action });
}

/**
 * The caller's project, for filtering rows by owner. Every non-admin request has one (the API
 * refuses tokens without a project scope); without it an owner filter would match the rows
 * whose project is empty.
 */
export function callerProject(ctx: Context, action: string): string {
  if (ctx.projectId === null) throw PolicyNotAuthorized({ action });
  return ctx.projectId;
}

export function owns(ctx: Context, projectId: string): boolean {
  return ctx.isAdmin || ctx.projectId === projectId;
}

/**
 * The project a new resource belongs to: the caller's, or (admins only) the one named in the
 * body as project_id/tenant_id, which must agree when both are given.
 */
export function targetProject(
  ctx: Context,
  body: { project_id?: string; tenant_id?: string },
  action: string,
) {
  const { project_id, tenant_id } = body;
  if (project_id !== undefined && tenant_id !== undefined && project_id !== tenant_id) {
    throw HTTPBadRequest({ msg: "'project_id' and 'tenant_id' do not match" });
  }
  const wanted = project_id ?? tenant_id;
  if (wanted === undefined || wanted === ctx.projectId) {
    if (ctx.projectId === null && wanted === undefined) {
      throw PolicyNotAuthorized({ action });
    }
    return (wanted ?? ctx.projectId) as string;
  }
  if (!ctx.isAdmin) throw PolicyNotAuthorized({ action });
  return wanted;
}
