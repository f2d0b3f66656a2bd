/**
 * The HTTP client of the dashboard: same-origin requests with the session's `X-Auth-Token`,
 * JSON in and out, and every failure turned into an `ApiError` carrying the server's own
 * message (Neutron's `NeutronError` or Keystone's `error` body).
 */

export class ApiError extends Error {
  readonly status: number;
  /** Neutron's exception type (`InvalidInput`, `OverQuota`…) or Keystone's title. */
  readonly type: string;

  constructor(status: number, type: string, message: string) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.type = type;
  }
}

/** The message of an error body from either API, or a generic one for the status. */
export async function errorFrom(res: Response): Promise<ApiError> {
  let body: unknown;
  try {
    body = await res.json();
  } catch {
    body = undefined;
  }
  const neutron = (body as { NeutronError?: { type?: string; message?: string } } | undefined)?.NeutronError;
  if (neutron?.message) return new ApiError(res.status, neutron.type ?? 'NeutronError', neutron.message);
  const keystone = (body as { error?: { title?: string; message?: string } } | undefined)?.error;
  if (keystone?.message) return new ApiError(res.status, keystone.title ?? 'Error', keystone.message);
  return new ApiError(res.status, 'HTTPError', `${res.status} ${res.statusText || 'request failed'}`);
}

/** A message for anything a request may throw (network errors included). */
export function messageOf(err: unknown): string {
  if (err instanceof ApiError) return err.message;
  if (err instanceof Error) return err.message;
  return String(err);
}

export type Method = 'GET' | 'POST' | 'PUT' | 'DELETE';

export class Api {
  #token: string;
  /** Called when the server says the token is no longer valid (401). */
  #onUnauthorized: () => void;

  constructor(token: string, onUnauthorized: () => void) {
    this.#token = token;
    this.#onUnauthorized = onUnauthorized;
  }

  get token(): string {
    return this.#token;
  }

  /** Reports a token the server refused outside `request` (the change feed). */
  expired(): void {
    this.#onUnauthorized();
  }

  async request<T>(method: Method, path: string, body?: unknown, signal?: AbortSignal): Promise<T> {
    const headers: Record<string, string> = { accept: 'application/json', 'x-auth-token': this.#token };
    if (body !== undefined) headers['content-type'] = 'application/json';
    const res = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      signal,
    });
    if (res.status === 401) this.#onUnauthorized();
    if (!res.ok) throw await errorFrom(res);
    if (res.status === 204) return undefined as T;
    const text = await res.text();
    return (text === '' ? undefined : JSON.parse(text)) as T;
  }

  get<T>(path: string, signal?: AbortSignal): Promise<T> {
    return this.request<T>('GET', path, undefined, signal);
  }
  post<T>(path: string, body: unknown): Promise<T> {
    return this.request<T>('POST', path, body);
  }
  put<T>(path: string, body: unknown): Promise<T> {
    return this.request<T>('PUT', path, body);
  }
  del(path: string): Promise<void> {
    return this.request<void>('DELETE', path);
  }
}
