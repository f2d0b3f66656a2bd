/**
 * What the dashboard knows of the cloud: every collection the token may list, reread (debounced)
 * whenever the change feed says something in it changed — event payloads only say where to look.
 * Collections the server does not offer (404) are marked unavailable, not failed. Without the
 * feed (an older server) it polls. React reads it through `useCloud`.
 */
import { useSyncExternalStore } from 'react';
import { followChanges } from '../api/change-feed.js';
import { type Api, ApiError, messageOf } from '../api/client.js';
import {
  type Agent,
  affectedBy,
  COLLECTION_KEYS,
  COLLECTION_PATHS,
  type CollectionKey,
  type Collections,
} from '../api/resources.js';
import { isAdmin, type Session, userProjects } from '../api/session.js';
import { mark } from '../perf.js';

export type Liveness = 'connecting' | 'live' | 'polling';

export interface CloudState {
  /** A collection is undefined until it has been read once. */
  data: Partial<Collections>;
  unavailable: ReadonlySet<CollectionKey>;
  errors: Partial<Record<CollectionKey, string>>;
  /** Every collection has answered at least once. */
  loaded: boolean;
  live: Liveness;
  /** Project names by id, as far as the token may know them. */
  projects: ReadonlyMap<string, string>;
  /** Admins only: the agents, polled. */
  agents: Agent[] | null;
}

const DEBOUNCE_MS = 120;
const POLL_MS = 5000;
const AGENTS_POLL_MS = 10_000;

export class Cloud {
  readonly api: Api;
  readonly session: Session;
  #state: CloudState = {
    data: {},
    unavailable: new Set(),
    errors: {},
    loaded: false,
    live: 'connecting',
    projects: new Map(),
    agents: null,
  };
  #listeners = new Set<() => void>();
  #pending = new Set<CollectionKey>();
  /** Per collection: the last read started and the last one published (an older answer loses). */
  #started = new Map<CollectionKey, number>();
  #published = new Map<CollectionKey, number>();
  #timer: ReturnType<typeof setTimeout> | undefined;
  #stops: (() => void)[] = [];

  constructor(api: Api, session: Session) {
    this.api = api;
    this.session = session;
  }

  subscribe = (listener: () => void): (() => void) => {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  };

  getState = (): CloudState => this.#state;

  #set(patch: Partial<CloudState>): void {
    this.#state = { ...this.#state, ...patch };
    for (const l of this.#listeners) l();
  }

  /** Opens the change feed; everything is (re)read each time it (re)connects. */
  start(): void {
    mark('neutrino:cloud-start');
    const stopFeed = followChanges(this.api.token, {
      onOpen: () => {
        this.#set({ live: 'live' });
        void this.reload(COLLECTION_KEYS);
      },
      onChange: (c) => this.invalidate(affectedBy(c.resource)),
      onResync: () => this.invalidate(COLLECTION_KEYS),
      onUnavailable: () => {
        this.#set({ live: 'polling' });
        void this.reload(COLLECTION_KEYS);
        const poll = setInterval(() => void this.reload(COLLECTION_KEYS), POLL_MS);
        this.#stops.push(() => clearInterval(poll));
      },
      onUnauthorized: () => this.api.expired(),
    });
    this.#stops.push(stopFeed);
    void this.#loadProjects();
    if (isAdmin(this.session)) {
      void this.#loadAgents();
      const poll = setInterval(() => void this.#loadAgents(), AGENTS_POLL_MS);
      this.#stops.push(() => clearInterval(poll));
    }
  }

  stop(): void {
    for (const stop of this.#stops.splice(0)) stop();
    clearTimeout(this.#timer);
  }

  /** Rereads `keys` shortly (changes come in bursts: one reread per burst). */
  invalidate(keys: CollectionKey[]): void {
    for (const k of keys) this.#pending.add(k);
    if (this.#timer !== undefined) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      const due = [...this.#pending];
      this.#pending.clear();
      void this.reload(due);
    }, DEBOUNCE_MS);
  }

  /** Rereads `keys` now, in parallel, and publishes them together. */
  async reload(keys: CollectionKey[]): Promise<void> {
    const wanted = keys.filter((k) => !this.#state.unavailable.has(k));
    const results = await Promise.all(
      wanted.map(async (key) => {
        const seq = (this.#started.get(key) ?? 0) + 1;
        this.#started.set(key, seq);
        try {
          const body = await this.api.get<Record<string, unknown>>(COLLECTION_PATHS[key]);
          return { key, seq, rows: body[key] as unknown[] };
        } catch (err) {
          return { key, seq, err };
        }
      }),
    );
    const data: Record<string, unknown> = { ...this.#state.data };
    const errors: Partial<Record<CollectionKey, string>> = { ...this.#state.errors };
    const unavailable = new Set(this.#state.unavailable);
    for (const r of results) {
      if (r.seq < (this.#published.get(r.key) ?? 0)) continue;
      this.#published.set(r.key, r.seq);
      if ('rows' in r) {
        data[r.key] = r.rows;
        delete errors[r.key];
      } else if (r.err instanceof ApiError && r.err.status === 404) {
        unavailable.add(r.key);
        data[r.key] = [];
      } else {
        errors[r.key] = messageOf(r.err);
      }
    }
    const loaded = COLLECTION_KEYS.every((k) => data[k] !== undefined || unavailable.has(k));
    if (loaded && !this.#state.loaded) mark('neutrino:data');
    this.#set({ data: data as Partial<Collections>, errors, unavailable, loaded });
  }

  /** Runs a change and rereads what it touched without waiting for the feed. */
  async mutate<T>(change: () => Promise<T>, keys: CollectionKey[]): Promise<T> {
    try {
      return await change();
    } finally {
      this.invalidate(keys);
    }
  }

  async #loadProjects(): Promise<void> {
    try {
      const projects = isAdmin(this.session)
        ? (await this.api.get<{ projects: { id: string; name: string }[] }>('/identity/v3/projects')).projects
        : await userProjects(this.api.token);
      this.#set({ projects: new Map(projects.map((p) => [p.id, p.name])) });
    } catch {
      // names are a nicety: ids are shown instead
    }
  }

  async #loadAgents(): Promise<void> {
    try {
      this.#set({ agents: (await this.api.get<{ agents: Agent[] }>('/v2.0/agents')).agents });
    } catch {
      this.#set({ agents: null });
    }
  }
}

export function useCloud(cloud: Cloud): CloudState {
  return useSyncExternalStore(cloud.subscribe, cloud.getState);
}
