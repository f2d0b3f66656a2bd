/**
 * Request generators for fuzzing the API (the security tests and `bench/fuzz`): a route the
 * server registers, path parameters that are real ids or junk, query strings with known and
 * unknown keys (repeated too), a body shaped like the route's resource or any JSON at all, and a
 * caller. Plus the check that an error body is in the format of the path's API.
 */
import fc from 'fast-check';

export interface FuzzTarget {
  /** Routes to drive, as the server registered them (`/v2.0/ports/:id`). */
  routes: { method: string; url: string }[];
  /** Tokens to call with ('' = none). */
  tokens: string[];
  /** Tokens to name as `X-Subject-Token` (not the callers': revoking those would end the run). */
  subjects: string[];
  /** Ids of objects that exist, so that paths reach past "not found". */
  ids: string[];
  /** Addresses and CIDRs that fit the objects that exist. */
  addresses: string[];
}

export interface FuzzRequest {
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE' | 'HEAD';
  url: string;
  headers: Record<string, string>;
  payload?: string;
}

const QUERY_KEYS = [
  'fields',
  'sort_key',
  'sort_dir',
  'limit',
  'marker',
  'page_reverse',
  'name',
  'id',
  'fixed_ips',
  'tags',
  'tags-any',
  'not-tags',
  'network_id',
  'project_id',
  'tenant_id',
  'device_owner',
  'device_id',
  'shared',
  'admin_state_up',
  'router:external',
  'ip_version',
  'cidr',
  'since',
  'nocatalog',
  'domain_id',
  'mac_address',
  'status',
  'description',
  'enabled',
  'user.id',
  'scope.project.id',
];

const ATTRIBUTES = [
  'name',
  'description',
  'network_id',
  'subnet_id',
  'port_id',
  'fixed_ips',
  'ip_address',
  'cidr',
  'ip_version',
  'allocation_pools',
  'gateway_ip',
  'host_routes',
  'dns_nameservers',
  'enable_dhcp',
  'ipv6_ra_mode',
  'ipv6_address_mode',
  'security_groups',
  'allowed_address_pairs',
  'extra_dhcp_opts',
  'binding:host_id',
  'binding:profile',
  'device_id',
  'device_owner',
  'mac_address',
  'admin_state_up',
  'port_security_enabled',
  'external_gateway_info',
  'routes',
  'floating_network_id',
  'floating_ip_address',
  'remote_group_id',
  'remote_ip_prefix',
  'protocol',
  'port_range_min',
  'port_range_max',
  'direction',
  'ethertype',
  'security_group_id',
  'object_type',
  'object_id',
  'action',
  'target_tenant',
  'shared',
  'router:external',
  'provider:network_type',
  'provider:physical_network',
  'provider:segmentation_id',
  'mtu',
  'tags',
  'project_id',
  'tenant_id',
  'source',
  'destination',
  'networks',
  'auth',
  'identity',
  'methods',
  'password',
  'user',
  'id',
  'domain',
  'scope',
  'project',
  'token',
  'enabled',
  'default_project_id',
];

/** `/v2.0/security-groups/:id` → `security_group`; `/identity/v3/users` → `user`. */
function memberOf(url: string): string {
  const parts = url.split('/').filter((p) => p && !p.startsWith(':'));
  const last = parts[parts.length - 1] ?? '';
  return last.replace(/-/g, '_').replace(/ies$/, 'y').replace(/s$/, '');
}

function jsonValue(target: FuzzTarget): fc.Arbitrary<unknown> {
  const plausible = fc.constantFrom<unknown>(
    ...target.ids,
    ...target.addresses,
    4,
    6,
    0,
    -1,
    65536,
    true,
    false,
    null,
    '',
    [],
    {},
    'tcp',
    'icmp',
    'ingress',
    'IPv4',
    'vxlan',
    'flat',
    ['password'],
    [{ ip_address: target.addresses[0] }],
    [{ subnet_id: target.ids[1] }],
    { network_id: target.ids[0] },
    { id: target.ids[0] },
  );
  return fc.oneof(
    { weight: 3, arbitrary: plausible },
    { weight: 2, arbitrary: fc.jsonValue({ maxDepth: 3 }) },
    { weight: 1, arbitrary: fc.string({ maxLength: 300 }) },
    // Any code point: NUL, lone surrogates, control characters.
    { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 20 }) },
    { weight: 1, arbitrary: fc.array(plausible, { maxLength: 8 }) },
  );
}

function body(target: FuzzTarget, url: string): fc.Arbitrary<string | undefined> {
  const value = jsonValue(target);
  const attributes = fc.dictionary(
    fc.oneof({ weight: 4, arbitrary: fc.constantFrom(...ATTRIBUTES) }, fc.string({ maxLength: 20 })),
    value,
    { maxKeys: 6 },
  );
  const member = memberOf(url);
  return fc.oneof(
    { weight: 5, arbitrary: attributes.map((a) => JSON.stringify({ [member]: a })) },
    {
      weight: 1,
      arbitrary: fc.array(attributes, { maxLength: 3 }).map((a) => JSON.stringify({ [`${member}s`]: a })),
    },
    { weight: 1, arbitrary: attributes.map((a) => JSON.stringify({ auth: { identity: a, scope: a } })) },
    { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 4 }).map((v) => JSON.stringify(v)) },
    { weight: 1, arbitrary: fc.string({ maxLength: 200 }) },
    { weight: 1, arbitrary: fc.constant(undefined) },
  );
}

function pathParameter(target: FuzzTarget): fc.Arbitrary<string> {
  return fc.oneof(
    { weight: 4, arbitrary: fc.constantFrom(...target.ids) },
    { weight: 1, arbitrary: fc.uuid() },
    { weight: 1, arbitrary: fc.string({ maxLength: 80 }).map(encodeURIComponent) },
    { weight: 1, arbitrary: fc.constantFrom('%', '%zz', '..', 'a'.repeat(400), '%00', 'default', 'admin') },
  );
}

function query(target: FuzzTarget): fc.Arbitrary<string> {
  const key = fc.oneof(
    {
      weight: 4,
      arbitrary: fc.constantFrom('name', 'id', 'fields', 'limit', 'marker', 'sort_key', 'domain_id'),
    },
    { weight: 4, arbitrary: fc.constantFrom(...QUERY_KEYS) },
    { weight: 1, arbitrary: fc.string({ maxLength: 12 }) },
  );
  const value = fc.oneof(
    fc.constantFrom(...target.ids, ...target.addresses),
    fc.constantFrom('true', 'false', '1', '-1', '0', 'asc', 'desc', 'null', '', 'ip_address_substr=10.9'),
    fc.string({ maxLength: 40 }),
    fc.string({ unit: 'binary', maxLength: 10 }),
    fc.integer().map(String),
  );
  // Repeated keys (`?name=a&name=b`) are common in the output: they are a classic cause of 500s.
  return fc
    .tuple(fc.array(fc.tuple(key, value), { maxLength: 6 }), fc.boolean(), value)
    .map(([pairs, repeat, again]) => (repeat ? [...pairs, ...pairs.map(([k]) => [k, again])] : pairs))
    .map((pairs) => pairs.map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).join('&'));
}

/** One arbitrary request against one of `target`'s routes (`route`, or any). */
export function fuzzRequest(
  target: FuzzTarget,
  route?: FuzzTarget['routes'][number],
): fc.Arbitrary<FuzzRequest> {
  const routes = route ? fc.constant(route) : fc.constantFrom(...target.routes);
  return routes.chain((route) =>
    fc
      .record({
        params: fc.array(pathParameter(target), { minLength: 4, maxLength: 4 }),
        query: query(target),
        payload: body(target, route.url),
        // The first token (the admin's) reaches the most code: drawn as often as the others together.
        token: fc.oneof(fc.constant(target.tokens[0]), fc.constantFrom(...target.tokens)),
        subject: fc.constantFrom(...target.subjects),
        contentType: fc.constantFrom(
          'application/json',
          'application/json',
          'application/json',
          'text/plain',
          '',
        ),
      })
      .map(({ params, query: q, payload, token, subject, contentType }) => {
        let i = 0;
        const path = route.url.replace(/:[a-z_]+|\*/g, () => params[i++ % params.length]);
        const headers: Record<string, string> = {};
        if (token) headers['x-auth-token'] = token;
        headers['x-subject-token'] = subject;
        if (payload !== undefined && contentType) headers['content-type'] = contentType;
        return {
          method: route.method as FuzzRequest['method'],
          url: q ? `${path}?${q}` : path,
          headers,
          payload,
        };
      }),
  );
}

/** Is `body` an error in the format of the API `url` belongs to (Octavia's under /load-balancer, or the auth layer's 401)? */
export function isApiFormatted(url: string, status: number, body: string): boolean {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    return false;
  }
  const keystone = (parsed as { error?: { code?: unknown; message?: unknown } }).error;
  const isKeystone = keystone?.code === status && typeof keystone.message === 'string';
  const neutron = (parsed as { NeutronError?: { type?: unknown; message?: unknown } }).NeutronError;
  const isNeutron = typeof neutron?.type === 'string' && typeof neutron.message === 'string';
  // keystonemiddleware answers a missing or bad token in Keystone's format on every API.
  if (url.startsWith('/identity') || status === 401) return isKeystone;
  if (url.startsWith('/load-balancer')) {
    const octavia = parsed as { faultcode?: unknown; faultstring?: unknown; debuginfo?: unknown };
    return typeof octavia.faultcode === 'string' && typeof octavia.faultstring === 'string';
  }
  // Neutron's policy hook answers a GET of an object hidden by policy with the fields unwrapped.
  const hidden = (parsed as { type?: unknown }).type === 'HTTPNotFound' && status === 404;
  return isNeutron || hidden;
}
