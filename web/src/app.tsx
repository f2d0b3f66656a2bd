/**
 * The dashboard's shell: login, then a header (views, project switcher, liveness, logout), the
 * current view (`#/topology`, `#/networks`…, `#/trace`), the details of the selected object and
 * the dead-agents banner for admins.
 */
import { useCallback, useEffect, useMemo, useRef, useState } from 'react';
import { Api } from './api/client.js';
import type { CollectionKey } from './api/resources.js';
import {
  isAdmin,
  logout,
  type Ref,
  rescope,
  type Session,
  savedSession,
  saveSession,
  userProjects,
} from './api/session.js';
import { Cloud, useCloud } from './state/cloud.js';
import type { Selection } from './topology/graph.js';
import { projectView } from './topology/project-view.js';
import { TopologyView } from './topology/topology-view.js';
import { AppContext, type AppCtx } from './views/app-context.js';
import { DetailsPanel } from './views/details-panel.js';
import { ResourcePage, TITLES } from './views/lists.js';
import { LoginView } from './views/login-view.js';
import { TraceView } from './views/trace-view.js';
import { usePortRates } from './views/traffic.js';

const PAGES: CollectionKey[] = [
  'networks',
  'subnets',
  'ports',
  'routers',
  'floatingips',
  'security_groups',
  'instances',
  'loadbalancers',
];

const readRoute = () => window.location.hash.replace(/^#\/?/, '') || 'topology';

function useHashRoute(): string {
  const [route, setRoute] = useState(readRoute);
  useEffect(() => {
    const onChange = () => setRoute(readRoute());
    window.addEventListener('hashchange', onChange);
    return () => window.removeEventListener('hashchange', onChange);
  }, []);
  return route;
}

export function App() {
  const [session, setSession] = useState<Session | null>(savedSession);
  const [notice, setNotice] = useState<string | null>(null);
  const signIn = useCallback((s: Session | null, message: string | null = null) => {
    saveSession(s);
    setSession(s);
    setNotice(message);
  }, []);
  if (!session) return <LoginView onLogin={(s) => signIn(s)} notice={notice} />;
  return <Dashboard key={session.token} session={session} onSession={signIn} />;
}

function Dashboard({
  session,
  onSession,
}: {
  session: Session;
  onSession(s: Session | null, message?: string | null): void;
}) {
  const expired = useCallback(() => onSession(null, 'Your session ended; please log in again.'), [onSession]);
  const cloud = useMemo(() => new Cloud(new Api(session.token, expired), session), [session, expired]);
  useEffect(() => {
    cloud.start();
    return () => cloud.stop();
  }, [cloud]);
  const state = useCloud(cloud);
  const rates = usePortRates(cloud.api);
  const admin = isAdmin(session);
  const route = useHashRoute();

  const [selection, setSelection] = useState<Selection | null>(null);
  const opener = useRef<HTMLElement | null>(null);
  const select = useCallback((s: Selection | null, from?: HTMLElement | null) => {
    if (s) opener.current = from ?? (document.activeElement as HTMLElement | null);
    else if (opener.current?.isConnected) opener.current.focus();
    setSelection(s);
  }, []);
  useEffect(() => {
    if (!selection) return;
    const onKey = (e: KeyboardEvent) => {
      if (e.key === 'Escape') select(null);
    };
    document.addEventListener('keydown', onKey);
    return () => document.removeEventListener('keydown', onKey);
  }, [selection, select]);

  const [projects, setProjects] = useState<Ref[]>([]);
  useEffect(() => {
    userProjects(session.token).then(setProjects, () => setProjects([]));
  }, [session.token]);
  const switchProject = async (id: string) => {
    try {
      onSession(await rescope(session.token, id));
    } catch (err) {
      setSwitchError(String((err as Error).message));
    }
  };
  const [switchError, setSwitchError] = useState<string | null>(null);

  // Admins see every project's objects; they may narrow the topology (and the trace page's
  // reachability matrix) to one.
  const [projectFilter, setProjectFilter] = useState('');
  const topologyData = useMemo(
    () => (projectFilter ? projectView(state.data, projectFilter) : state.data),
    [state.data, projectFilter],
  );
  const ownersShown = useMemo(() => {
    const ids = new Set((topologyData.networks ?? []).map((n) => n.project_id));
    return admin && ids.size > 1 ? state.projects : null;
  }, [admin, topologyData, state.projects]);

  const ctx: AppCtx = useMemo(() => ({ cloud, state, admin, select }), [cloud, state, admin, select]);
  const dead = (state.agents ?? []).filter((a) => !a.alive);
  // Each host's L2 driver, from its L2 agent (admins only: agents are not shown to members).
  const l2Hosts = (state.agents ?? [])
    .filter((a) => a.agent_type === 'Linux bridge agent' || a.agent_type === 'Open vSwitch agent')
    .sort((a, b) => a.host.localeCompare(b.host))
    .map((a) => `${a.host} (${a.agent_type === 'Open vSwitch agent' ? 'Open vSwitch' : 'Linux bridge'})`);

  let view: React.ReactNode;
  if (route === 'trace') view = <TraceView projectFilter={admin ? projectFilter : ''} />;
  else if ((PAGES as string[]).includes(route))
    view = <ResourcePage key={route} kind={route as CollectionKey} />;
  else
    view = (
      <TopologyView
        data={topologyData}
        loaded={state.loaded}
        projects={ownersShown}
        selected={selection}
        onSelect={select}
        rates={rates}
      />
    );

  return (
    <AppContext.Provider value={ctx}>
      <div className="shell">
        <header className="topbar">
          <a className="brand" href="#/topology">
            Neutrino
          </a>
          <nav aria-label="Views">
            <ul>
              {['topology', ...PAGES, 'trace'].map((r) => (
                <li key={r}>
                  <a
                    href={`#/${r}`}
                    aria-current={
                      route === r ||
                      (r === 'topology' && !PAGES.includes(route as CollectionKey) && route !== 'trace')
                        ? 'page'
                        : undefined
                    }
                  >
                    {r === 'topology' ? 'Topology' : r === 'trace' ? 'Trace' : TITLES[r as CollectionKey]}
                  </a>
                </li>
              ))}
            </ul>
          </nav>
          <div className="session">
            <span className={`live live-${state.live}`} role="status" title="change feed">
              {state.live === 'live' ? 'live' : state.live === 'polling' ? 'polling' : 'connecting…'}
            </span>
            {projects.length > 1 ? (
              <label className="project-switch">
                <span>Project</span>
                <select
                  value={session.project?.id ?? ''}
                  onChange={(e) => void switchProject(e.target.value)}
                >
                  {projects.map((p) => (
                    <option key={p.id} value={p.id}>
                      {p.name}
                    </option>
                  ))}
                </select>
              </label>
            ) : (
              <span className="project">project {session.project?.name}</span>
            )}
            <span className="user">
              {session.user.name}
              {admin ? ' (admin)' : ''}
            </span>
            <button
              type="button"
              onClick={() => {
                void logout(session.token);
                onSession(null);
              }}
            >
              Log out
            </button>
          </div>
        </header>
        {switchError ? (
          <p className="error" role="alert">
            {switchError}
          </p>
        ) : null}
        {dead.length > 0 ? (
          <p className="banner" role="alert">
            {dead.length === 1 ? 'An agent is' : `${dead.length} agents are`} not reporting:{' '}
            {dead
              .map((a) => `${a.agent_type} on ${a.host} (last heartbeat ${a.heartbeat_timestamp})`)
              .join('; ')}
          </p>
        ) : null}
        {admin && (route === 'topology' || route === 'trace') && state.projects.size > 1 ? (
          <div className="toolbar">
            <label htmlFor="topology-project">Show project</label>
            <select
              id="topology-project"
              value={projectFilter}
              onChange={(e) => setProjectFilter(e.target.value)}
            >
              <option value="">all projects</option>
              {[...state.projects].map(([id, name]) => (
                <option key={id} value={id}>
                  {name}
                </option>
              ))}
            </select>
          </div>
        ) : null}
        {admin && route === 'topology' && l2Hosts.length > 0 ? (
          <p className="hosts" data-testid="hosts">
            Hosts: {l2Hosts.join(', ')}
          </p>
        ) : null}
        <div className="workspace">
          <main className="main">{view}</main>
          {selection ? (
            <DetailsPanel key={`${selection.kind}:${selection.id}`} selection={selection} />
          ) : null}
        </div>
      </div>
    </AppContext.Provider>
  );
}
