/**
 * Logging in with the built-in identity (Keystone v3): password auth scoped to a project,
 * rescoping to another project with the token method, the projects a user may switch to, and
 * keeping the session in sessionStorage (this tab only; gone when the tab closes).
 */
import { errorFrom } from './client.js';

export interface Ref {
  id: string;
  name: string;
}

export interface Session {
  token: string;
  expiresAt: string;
  user: Ref;
  project: Ref | null;
  roles: string[];
}

export const isAdmin = (s: Session) => s.roles.includes('admin');

const STORAGE_KEY = 'neutrino.session';
const TOKENS = '/identity/v3/auth/tokens';

interface TokenBody {
  token: {
    expires_at: string;
    user: Ref;
    project?: Ref;
    roles?: Ref[];
  };
}

async function issue(auth: unknown): Promise<Session> {
  const res = await fetch(`${TOKENS}?nocatalog`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json' },
    body: JSON.stringify({ auth }),
  });
  if (!res.ok) throw await errorFrom(res);
  const token = res.headers.get('x-subject-token');
  const { token: t } = (await res.json()) as TokenBody;
  if (!token) throw new Error('the identity service returned no token');
  return {
    token,
    expiresAt: t.expires_at,
    user: { id: t.user.id, name: t.user.name },
    project: t.project ? { id: t.project.id, name: t.project.name } : null,
    roles: (t.roles ?? []).map((r) => r.name),
  };
}

/** The projects the token's user has a role on. */
export async function userProjects(token: string): Promise<Ref[]> {
  const res = await fetch('/identity/v3/auth/projects', {
    headers: { 'x-auth-token': token, accept: 'application/json' },
  });
  if (!res.ok) throw await errorFrom(res);
  const { projects } = (await res.json()) as { projects: (Ref & { enabled: boolean })[] };
  return projects.filter((p) => p.enabled).map((p) => ({ id: p.id, name: p.name }));
}

/** A token for `project` (by id) from an existing token of the same user. */
export function rescope(token: string, projectId: string): Promise<Session> {
  return issue({
    identity: { methods: ['token'], token: { id: token } },
    scope: { project: { id: projectId } },
  });
}

/**
 * Logs in; without a project name, to the user's default project, or else the first project
 * the user has a role on.
 */
export async function login(username: string, password: string, project: string): Promise<Session> {
  const domain = { name: 'Default' };
  const identity = { methods: ['password'], password: { user: { name: username, domain, password } } };
  const session = await issue(
    project.trim() === '' ? { identity } : { identity, scope: { project: { name: project.trim(), domain } } },
  );
  if (session.project) return session;
  const [first] = await userProjects(session.token);
  if (!first) throw new Error(`user ${username} has no role on any project`);
  return rescope(session.token, first.id);
}

export function saveSession(s: Session | null): void {
  if (s) sessionStorage.setItem(STORAGE_KEY, JSON.stringify(s));
  else sessionStorage.removeItem(STORAGE_KEY);
}

/** The session saved in this tab, if it has not expired. */
export function savedSession(): Session | null {
  try {
    const s = JSON.parse(sessionStorage.getItem(STORAGE_KEY) ?? 'null') as Session | null;
    return s && new Date(s.expiresAt).getTime() > Date.now() ? s : null;
  } catch {
    return null;
  }
}

/** Revokes the token (best effort: logging out must work even if the server is gone). */
export async function logout(token: string): Promise<void> {
  await fetch(TOKENS, {
    method: 'DELETE',
    headers: { 'x-auth-token': token, 'x-subject-token': token },
  }).catch(() => undefined);
}
