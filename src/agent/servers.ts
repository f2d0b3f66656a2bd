/**
 * The API servers an agent talks to (`--server URL1,URL2`, `server_url`): several servers on one
 * PostgreSQL are interchangeable (stateless over the store, whose change feed every one of them
 * follows), so the agent keeps to the one that answers and moves on when it stops answering.
 * `ServerList` decides which server to ask (pure: give it the clock); `FailoverSession` is the API
 * session the agent's heartbeats, syncs, status reports and change-feed follower share, one
 * `Session` (own login) per server.
 */
import { ApiError, type RequestOptions, type Session } from '../client/session.js';
import type { Logger } from './reconciler.js';

/** The server URLs a flag, variable or configuration key names: a list, or one string with commas. */
export function serverUrls(value: string | readonly string[]): string[] {
  const urls = (typeof value === 'string' ? value.split(',') : value)
    .map((url) => url.trim().replace(/\/+$/, ''))
    .filter((url) => url !== '');
  return [...new Set(urls)];
}

export interface ServerListOptions {
  /** How long a server that failed once is left alone. Default 0.5 s. */
  minBackoffMs?: number;
  /** The longest it is left alone after failing again and again. Default 30 s. */
  maxBackoffMs?: number;
}

/**
 * Which server to ask. The current server is asked while it answers; one that fails (connection
 * refused or reset, a timeout, 502/503/504) is left alone for a backoff that doubles with each
 * failure in a row (0.5 s … 30 s), and the next server in the list that is not backing off becomes
 * current. A server whose backoff is over is a candidate again (that is how a restarted server
 * comes back); an answer resets its backoff. When every server is backing off, the one free soonest
 * is the only candidate: a request is never refused without trying one.
 */
export class ServerList {
  readonly urls: readonly string[];
  readonly #min: number;
  readonly #max: number;
  #current = 0;
  readonly #failures: number[];
  readonly #retryAt: number[];

  constructor(urls: readonly string[], options: ServerListOptions = {}) {
    if (urls.length === 0) throw new Error('no server URL');
    this.urls = [...urls];
    this.#min = options.minBackoffMs ?? 500;
    this.#max = options.maxBackoffMs ?? 30_000;
    this.#failures = urls.map(() => 0);
    this.#retryAt = urls.map(() => 0);
  }

  /** The server asked first. */
  get current(): string {
    return this.urls[this.#current];
  }

  /**
   * The servers to ask for one request, in order: those not backing off, from the current one on
   * round the list; or, when all are backing off, the one free soonest.
   */
  candidates(now: number): string[] {
    const n = this.urls.length;
    const rotated = Array.from({ length: n }, (_, i) => (this.#current + i) % n);
    const ready = rotated.filter((i) => this.#retryAt[i] <= now);
    if (ready.length > 0) return ready.map((i) => this.urls[i]);
    const soonest = rotated.reduce((a, b) => (this.#retryAt[b] < this.#retryAt[a] ? b : a));
    return [this.urls[soonest]];
  }

  /** How long until some server is not backing off (0: one is ready now). */
  waitMs(now: number): number {
    return Math.max(0, Math.min(...this.#retryAt) - now);
  }

  /** `url` answered: it is current, and its backoff starts again from the shortest. */
  succeeded(url: string): void {
    const i = this.#index(url);
    this.#current = i;
    this.#failures[i] = 0;
    this.#retryAt[i] = 0;
  }

  /** `url` did not answer: it backs off, and if it was current the next one that is ready is. */
  failed(url: string, now: number): void {
    const i = this.#index(url);
    this.#failures[i]++;
    this.#retryAt[i] = now + Math.min(this.#min * 2 ** (this.#failures[i] - 1), this.#max);
    if (i !== this.#current) return;
    const next = this.candidates(now)[0];
    this.#current = this.#index(next);
  }

  #index(url: string): number {
    const i = this.urls.indexOf(url);
    if (i < 0) throw new Error(`unknown server ${url}`);
    return i;
  }
}

/**
 * Whether `err` says the server is down or unreachable rather than that the request was wrong:
 * no connection, a timeout, or a gateway's 502/503/504. A request the agent itself aborted
 * (stopping) is not the server's fault.
 */
export function isServerDown(err: unknown): boolean {
  if (err instanceof ApiError) return err.status === 0 || [502, 503, 504].includes(err.status);
  return (err as Error | undefined)?.name === 'TimeoutError';
}

/** What the agent needs of an API session (a `Session`, or a `FailoverSession` over several). */
export type AgentSession = Pick<Session, 'get' | 'post' | 'put' | 'stream' | 'raw'>;

/**
 * An API session over several servers: each request goes to the candidates of its `ServerList` in
 * turn until one answers (a request that reached a server that then died may reach the next one
 * too: the agent's requests — heartbeats, syncs, status reports — say the whole state each time,
 * so a repeat is harmless, and a diagnostic's answer repeated is refused as already answered). A request whose own signal ended (its timeout) is not retried; the next
 * request goes elsewhere.
 */
export class FailoverSession implements AgentSession {
  readonly servers: ServerList;
  readonly #sessions: Map<string, Session>;
  readonly #log: Logger | undefined;
  readonly #now: () => number;

  constructor(
    sessions: ReadonlyMap<string, Session>,
    options: ServerListOptions & { log?: Logger; now?: () => number } = {},
  ) {
    this.#sessions = new Map(sessions);
    this.servers = new ServerList([...sessions.keys()], options);
    this.#log = options.log;
    this.#now = options.now ?? Date.now;
  }

  async post<T>(path: string, body?: unknown, options?: RequestOptions): Promise<T> {
    return this.#attempt(options?.signal, (session) => session.post<T>(path, body, options));
  }

  async get<T>(path: string, options?: RequestOptions): Promise<T> {
    return this.#attempt(options?.signal, (session) => session.get<T>(path, options));
  }

  async put<T>(path: string, body?: unknown, options?: RequestOptions): Promise<T> {
    return this.#attempt(options?.signal, (session) => session.put<T>(path, body, options));
  }

  async stream(path: string, signal: AbortSignal): Promise<Response> {
    return this.#attempt(signal, (session) => session.stream(path, signal));
  }

  async raw(path: string, headers: Record<string, string>, signal?: AbortSignal) {
    return this.#attempt(signal, (session) => session.raw(path, headers, signal));
  }

  async #attempt<T>(signal: AbortSignal | undefined, call: (session: Session) => Promise<T>): Promise<T> {
    const candidates = this.servers.candidates(this.#now());
    let lastError: unknown;
    for (const url of candidates) {
      const before = this.servers.current;
      try {
        const result = await call(this.#sessions.get(url)!);
        this.servers.succeeded(url);
        if (url !== before) this.#log?.info({ server: url }, 'talking to another API server');
        return result;
      } catch (err) {
        if (!isServerDown(err)) throw err;
        lastError = err;
        this.servers.failed(url, this.#now());
        this.#log?.warn({ server: url, err: String(err) }, 'API server unavailable');
        if (signal?.aborted) break;
      }
    }
    throw lastError;
  }
}
