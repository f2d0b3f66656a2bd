/**
 * The HTTP client of Neutrino's API, authenticated like the `openstack` CLI: credentials from
 * `OS_CLOUD` and a `clouds.yaml` (searched in `OS_CLIENT_CONFIG_FILE`, `./clouds.yaml`,
 * `~/.config/openstack/clouds.yaml`, `/etc/openstack/clouds.yaml`) or from `OS_AUTH_URL`,
 * `OS_USERNAME`, `OS_PASSWORD`, `OS_PROJECT_NAME`, `OS_USER_DOMAIN_NAME`, `OS_PROJECT_DOMAIN_NAME`;
 * a Keystone v3 password login whose token is renewed before it expires and on a 401; requests to
 * the catalog's `network` endpoint. Failures become `ApiError`s whose message is the one line of the
 * server's `NeutronError` (or Keystone `error`). The CLI and the agent both use it.
 */
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';

export interface Credentials {
  /** Keystone's URL, with or without the trailing `/v3`. */
  authUrl: string;
  username: string;
  password: string;
  projectName: string;
  /** Scope to this project id instead of `projectName` (see `Session.forProject`). */
  projectId?: string;
  userDomainName: string;
  projectDomainName: string;
  /** Which catalog endpoint to use (default public) and of which region (default any). */
  interface?: string;
  region?: string;
}

/**
 * How a `Session` authenticates: a Keystone password login, or none (`--noauth` servers; the
 * project, if any, goes in `X-Project-Id`).
 */
export type Auth = { type: 'password'; credentials: Credentials } | { type: 'none'; projectId?: string };

export interface SessionOptions {
  auth: Auth;
  /**
   * The networking API's base URL; by default the catalog's `network` endpoint. Required without
   * authentication.
   */
  endpoint?: string;
  /** Per request. Default 30 s; streams have none. */
  timeoutMs?: number;
}

/** A failed API call: `message` is one line fit for a terminal. */
export class ApiError extends Error {
  readonly status: number;
  /** The NeutronError type (e.g. `NetworkNotFound`), or `''`. */
  readonly type: string;

  constructor(status: number, type: string, message: string) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.type = type;
  }
}

/** Credentials are missing or inconsistent (no request was made). */
export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

/** Where `clouds.yaml` is looked for, first match wins (openstacksdk's order). */
export function cloudsYamlPaths(env: NodeJS.ProcessEnv = process.env, cwd = process.cwd()): string[] {
  return [
    ...(env.OS_CLIENT_CONFIG_FILE ? [env.OS_CLIENT_CONFIG_FILE] : []),
    join(cwd, 'clouds.yaml'),
    join(env.HOME ?? homedir(), '.config', 'openstack', 'clouds.yaml'),
    '/etc/openstack/clouds.yaml',
  ];
}

interface CloudEntry {
  auth?: Record<string, string | undefined>;
  region_name?: string;
  interface?: string;
  auth_type?: string;
}

const text = (value: unknown): string | undefined =>
  typeof value === 'string' && value !== '' ? value : typeof value === 'number' ? String(value) : undefined;

/**
 * The credentials the environment names: the cloud `OS_CLOUD` in the first `clouds.yaml` that
 * defines it (with `OS_PASSWORD` filling a missing password), else the `OS_*` variables.
 */
export function credentialsFromEnvironment(
  env: NodeJS.ProcessEnv = process.env,
  cwd = process.cwd(),
): Credentials {
  const cloudName = env.OS_CLOUD;
  if (cloudName) {
    for (const path of cloudsYamlPaths(env, cwd)) {
      if (!existsSync(path)) continue;
      const doc = (parse(readFileSync(path, 'utf8')) ?? {}) as { clouds?: Record<string, CloudEntry> };
      const cloud = doc.clouds?.[cloudName];
      if (!cloud) continue;
      if (cloud.auth_type && cloud.auth_type !== 'password')
        throw new ConfigError(`cloud ${cloudName} in ${path}: auth_type ${cloud.auth_type} is not supported`);
      const auth = cloud.auth ?? {};
      return complete(
        {
          authUrl: text(auth.auth_url),
          username: text(auth.username),
          password: text(auth.password) ?? env.OS_PASSWORD,
          projectName: text(auth.project_name),
          userDomainName: text(auth.user_domain_name) ?? text(auth.user_domain_id),
          projectDomainName: text(auth.project_domain_name) ?? text(auth.project_domain_id),
          interface: text(cloud.interface),
          region: text(cloud.region_name),
        },
        `cloud ${cloudName} in ${path}`,
      );
    }
    throw new ConfigError(
      `cloud ${cloudName} not found in any clouds.yaml (looked in ${cloudsYamlPaths(env, cwd).join(', ')})`,
    );
  }
  return complete(
    {
      authUrl: env.OS_AUTH_URL,
      username: env.OS_USERNAME,
      password: env.OS_PASSWORD,
      projectName: env.OS_PROJECT_NAME ?? env.OS_TENANT_NAME,
      userDomainName: env.OS_USER_DOMAIN_NAME ?? env.OS_USER_DOMAIN_ID,
      projectDomainName: env.OS_PROJECT_DOMAIN_NAME ?? env.OS_PROJECT_DOMAIN_ID,
      interface: env.OS_INTERFACE,
      region: env.OS_REGION_NAME,
    },
    'the environment',
  );
}

function complete(found: Partial<Record<keyof Credentials, string>>, where: string): Credentials {
  const missing = (['authUrl', 'username', 'password', 'projectName'] as const).filter((k) => !found[k]);
  if (missing.length > 0) {
    const names: Record<string, string> = {
      authUrl: 'OS_AUTH_URL',
      username: 'OS_USERNAME',
      password: 'OS_PASSWORD',
      projectName: 'OS_PROJECT_NAME',
    };
    const hint = where === 'the environment' ? ' (or set OS_CLOUD and OS_CLIENT_CONFIG_FILE)' : '';
    throw new ConfigError(
      `missing credentials in ${where}: ${missing.map((k) => names[k]).join(', ')}${hint}`,
    );
  }
  return {
    authUrl: found.authUrl!,
    username: found.username!,
    password: found.password!,
    projectName: found.projectName!,
    userDomainName: found.userDomainName ?? 'Default',
    projectDomainName: found.projectDomainName ?? 'Default',
    ...(found.interface ? { interface: found.interface } : {}),
    ...(found.region ? { region: found.region } : {}),
  };
}

/** The one-line message of an error response body (NeutronError, Keystone error, or text). */
export function errorMessage(status: number, body: string): { type: string; message: string } {
  try {
    const parsed = JSON.parse(body) as {
      NeutronError?: { type?: string; message?: string };
      error?: { message?: string; title?: string };
      type?: unknown;
      message?: unknown;
    };
    if (parsed.NeutronError?.message)
      return { type: parsed.NeutronError.type ?? '', message: oneLine(parsed.NeutronError.message) };
    // Neutron's policy hook answers a GET of a hidden object with the fields unwrapped.
    if (typeof parsed.type === 'string' && typeof parsed.message === 'string')
      return { type: parsed.type, message: oneLine(parsed.message) };
    if (parsed.error?.message)
      return { type: parsed.error.title ?? '', message: oneLine(parsed.error.message) };
  } catch {
    // not JSON
  }
  const trimmed = oneLine(body);
  return { type: '', message: trimmed ? `HTTP ${status}: ${trimmed.slice(0, 200)}` : `HTTP ${status}` };
}

function oneLine(message: string): string {
  return message.replace(/\s+/g, ' ').trim();
}

/** A domain given by name, or by id when it looks like one (`default`, hex ids). */
function domainRef(value: string): { name: string } | { id: string } {
  return value === 'default' || /^[0-9a-f]{32}$/.test(value) ? { id: value } : { name: value };
}

interface CatalogEntry {
  type: string;
  endpoints: { interface: string; region?: string; region_id?: string; url: string }[];
}

/** Renew a token this long before Keystone says it expires. */
const EXPIRY_MARGIN_MS = 60_000;
const DEFAULT_TIMEOUT_MS = 30_000;
const DEFAULT_STATE_DIR = '/var/lib/neutrino';

export interface RequestOptions {
  /** Statuses returned as they are instead of thrown (e.g. 404 when probing a name). */
  allow?: number[];
  signal?: AbortSignal;
}

/**
 * One authenticated conversation with the API. Logins are shared by concurrent requests; a 401 on
 * a request logs in again once and repeats the request.
 */
export class Session {
  readonly #auth: Auth;
  readonly #timeoutMs: number;
  #endpoint: string | undefined;
  #token: { value: string; expiresAt: number } | undefined;
  #userId: string | undefined;
  #login: Promise<void> | undefined;

  constructor(options: SessionOptions) {
    this.#auth = options.auth;
    this.#timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.#endpoint = options.endpoint?.replace(/\/+$/, '');
    if (options.auth.type === 'none' && !this.#endpoint)
      throw new ConfigError('an endpoint is required without authentication');
  }

  /** The same login scoped to another project (by id), e.g. to create an instance there. */
  forProject(projectId: string): Session {
    const auth: Auth =
      this.#auth.type === 'none'
        ? { type: 'none', projectId }
        : { type: 'password', credentials: { ...this.#auth.credentials, projectId } };
    return new Session({ auth, endpoint: this.#endpoint, timeoutMs: this.#timeoutMs });
  }

  /** The id of the user logged in (undefined without authentication). */
  async userId(): Promise<string | undefined> {
    await this.#ensureToken();
    return this.#userId;
  }

  /** The networking API's base URL (after the first login when it comes from the catalog). */
  async endpoint(): Promise<string> {
    await this.#ensureToken();
    return this.#endpoint!;
  }

  async get<T>(path: string, options?: RequestOptions): Promise<T> {
    return (await this.request('GET', path, undefined, options)).body as T;
  }

  async post<T>(path: string, body?: unknown, options?: RequestOptions): Promise<T> {
    return (await this.request('POST', path, body, options)).body as T;
  }

  async put<T>(path: string, body?: unknown, options?: RequestOptions): Promise<T> {
    return (await this.request('PUT', path, body, options)).body as T;
  }

  async delete(path: string, options?: RequestOptions): Promise<void> {
    await this.request('DELETE', path, undefined, options);
  }

  /**
   * Sends one request to `<endpoint><path>` and parses the JSON answer (undefined for an empty
   * one). Throws ApiError for a status of 400 or more not listed in `options.allow`.
   */
  async request(
    method: string,
    path: string,
    body?: unknown,
    options: RequestOptions = {},
  ): Promise<{ status: number; body: unknown }> {
    const res = await this.#send(method, path, body, options.signal ?? AbortSignal.timeout(this.#timeoutMs));
    const raw = await res.text();
    if (res.status >= 400 && !options.allow?.includes(res.status)) {
      const { type, message } = errorMessage(res.status, raw);
      throw new ApiError(res.status, type, message);
    }
    return { status: res.status, body: raw === '' ? undefined : JSON.parse(raw) };
  }

  /**
   * A GET whose answer is passed on as it is (status, type, bytes), whatever its status: the
   * agent's metadata relay hands the API's answers to instances.
   */
  async raw(
    path: string,
    headers: Record<string, string>,
    signal?: AbortSignal,
  ): Promise<{ status: number; contentType: string; body: Buffer }> {
    const res = await this.#send('GET', path, undefined, signal ?? AbortSignal.timeout(this.#timeoutMs), {
      accept: '*/*',
      ...headers,
    });
    const body = Buffer.from(await res.arrayBuffer());
    if (res.status >= 500) throw new ApiError(res.status, 'ServerError', body.toString('utf8').slice(0, 200));
    return { status: res.status, contentType: res.headers.get('content-type') ?? 'text/plain', body };
  }

  /** Opens a long-lived GET (a server-sent event stream); the caller reads and cancels the body. */
  async stream(path: string, signal: AbortSignal): Promise<Response> {
    const res = await this.#send('GET', path, undefined, signal, { accept: 'text/event-stream' });
    if (res.status !== 200) {
      const { type, message } = errorMessage(res.status, await res.text());
      throw new ApiError(res.status, type, message);
    }
    return res;
  }

  async #send(
    method: string,
    path: string,
    body: unknown,
    signal: AbortSignal,
    headers: Record<string, string> = { accept: 'application/json' },
  ): Promise<Response> {
    for (let attempt = 0; ; attempt++) {
      const token = await this.#ensureToken();
      const res = await fetch(`${this.#endpoint}${path}`, {
        method,
        signal,
        headers: {
          ...headers,
          ...(token ? { 'x-auth-token': token } : {}),
          ...(this.#auth.type === 'none' && this.#auth.projectId
            ? { 'x-project-id': this.#auth.projectId }
            : {}),
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      }).catch((err: unknown) => {
        throw connectionError(err, this.#endpoint!);
      });
      if (res.status !== 401 || attempt > 0 || this.#auth.type === 'none') return res;
      await res.body?.cancel();
      if (this.#token?.value === token) this.#token = undefined;
    }
  }

  async #ensureToken(): Promise<string | undefined> {
    if (this.#auth.type === 'none') return undefined;
    while (!this.#token || this.#token.expiresAt - EXPIRY_MARGIN_MS < Date.now()) {
      this.#login ??= this.#passwordLogin(this.#auth.credentials).finally(() => {
        this.#login = undefined;
      });
      await this.#login;
    }
    return this.#token.value;
  }

  async #passwordLogin(c: Credentials): Promise<void> {
    const base = c.authUrl.replace(/\/+$/, '');
    const url = `${/\/v3$/.test(base) ? base : `${base}/v3`}/auth/tokens`;
    const res = await fetch(url, {
      method: 'POST',
      signal: AbortSignal.timeout(this.#timeoutMs),
      headers: { 'content-type': 'application/json', accept: 'application/json' },
      body: JSON.stringify({
        auth: {
          identity: {
            methods: ['password'],
            password: {
              user: { name: c.username, domain: domainRef(c.userDomainName), password: c.password },
            },
          },
          scope: {
            project: c.projectId
              ? { id: c.projectId }
              : { name: c.projectName, domain: domainRef(c.projectDomainName) },
          },
        },
      }),
    }).catch((err: unknown) => {
      throw connectionError(err, url);
    });
    const raw = await res.text();
    if (res.status !== 201 && res.status !== 200) {
      const { type, message } = errorMessage(res.status, raw);
      throw new ApiError(res.status, type, `authentication at ${url} failed: ${message}`);
    }
    const value = res.headers.get('x-subject-token');
    const token = (
      JSON.parse(raw) as { token?: { expires_at?: string; catalog?: CatalogEntry[]; user?: { id?: string } } }
    ).token;
    if (!value || !token)
      throw new ApiError(res.status, '', `authentication at ${url}: no token in the answer`);
    if (!this.#endpoint) this.#endpoint = networkEndpoint(token.catalog ?? [], c);
    this.#userId = token.user?.id;
    const expiresAt = token.expires_at ? Date.parse(token.expires_at) : Number.NaN;
    this.#token = { value, expiresAt: Number.isFinite(expiresAt) ? expiresAt : Date.now() + 3600_000 };
  }
}

function networkEndpoint(catalog: CatalogEntry[], c: Credentials): string {
  const wanted = (c.interface ?? 'public').replace(/URL$/, '');
  const endpoint = catalog
    .filter((entry) => entry.type === 'network')
    .flatMap((entry) => entry.endpoints)
    .find((e) => e.interface === wanted && (!c.region || (e.region_id ?? e.region) === c.region));
  if (!endpoint)
    throw new ApiError(
      0,
      'EndpointNotFound',
      `no ${wanted} network endpoint${c.region ? ` in region ${c.region}` : ''} in the service catalog`,
    );
  return endpoint.url.replace(/\/+$/, '').replace(/\/v2\.0$/, '');
}

function connectionError(err: unknown, url: string): Error {
  const cause = (err as { cause?: { code?: string; message?: string } }).cause;
  if ((err as Error).name === 'TimeoutError' || (err as Error).name === 'AbortError') return err as Error;
  return new ApiError(
    0,
    'ConnectionFailed',
    `cannot reach ${url}: ${cause?.code ?? cause?.message ?? (err as Error).message}`,
  );
}

/**
 * A session from the environment, as the CLI commands use: `OS_CLOUD` + clouds.yaml, or `OS_*`;
 * with neither, the `neutrino` cloud of the clouds.yaml that `neutrino up` wrote in its state dir
 * (`NEUTRINO_STATE_DIR`, default /var/lib/neutrino), so the CLI works on the `up` host as is.
 */
export function sessionFromEnvironment(env: NodeJS.ProcessEnv = process.env): Session {
  if (env.OS_AUTH_TYPE === 'none' || env.OS_AUTH_TYPE === 'noauth') {
    const endpoint = env.OS_ENDPOINT ?? env.OS_URL;
    if (!endpoint) throw new ConfigError('OS_AUTH_TYPE=none needs OS_ENDPOINT');
    return new Session({ auth: { type: 'none' }, endpoint });
  }
  const upClouds = join(env.NEUTRINO_STATE_DIR ?? DEFAULT_STATE_DIR, 'clouds.yaml');
  const effective =
    !env.OS_CLOUD && !env.OS_AUTH_URL && existsSync(upClouds)
      ? { ...env, OS_CLOUD: 'neutrino', OS_CLIENT_CONFIG_FILE: upClouds }
      : env;
  return new Session({ auth: { type: 'password', credentials: credentialsFromEnvironment(effective) } });
}
