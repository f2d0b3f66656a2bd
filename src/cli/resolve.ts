/**
 * Names or ids → objects, as the openstack CLI resolves them: `GET <collection>/<ref>` first, then
 * `GET <collection>?name=<ref>`; exactly one match, else "No network found for x" or "More than
 * one network exists with the name 'x'". `KINDS` lists every collection the CLI talks to.
 */
import { ApiError, type Session } from '../client/session.js';

export interface Kind {
  /** The resource in messages: `network`, `security group`. */
  label: string;
  /** The collection's URL path: `/v2.0/networks`, `/identity/v3/projects`. */
  path: string;
  member: string;
  collection: string;
  /** The attribute a reference may name instead of an id (`name` by default); null: ids only. */
  nameField?: string | null;
  /** How the collection is updated (Keystone: PATCH); false when it cannot be. */
  update?: 'PUT' | 'PATCH' | false;
}

const neutron = (label: string, path: string, member: string, extra: Partial<Kind> = {}): Kind => ({
  label,
  path: `/v2.0/${path}`,
  member,
  collection: `${member}s`,
  update: 'PUT',
  ...extra,
});

const keystone = (label: string, member: string): Kind => ({
  label,
  path: `/identity/v3/${member}s`,
  member,
  collection: `${member}s`,
  update: 'PATCH',
});

export const KINDS = {
  network: neutron('network', 'networks', 'network'),
  subnet: neutron('subnet', 'subnets', 'subnet'),
  subnetPool: neutron('subnet pool', 'subnetpools', 'subnetpool'),
  addressScope: neutron('address scope', 'address-scopes', 'address_scope'),
  port: neutron('port', 'ports', 'port'),
  router: neutron('router', 'routers', 'router'),
  floatingIp: neutron('floating IP', 'floatingips', 'floatingip', { nameField: 'floating_ip_address' }),
  securityGroup: neutron('security group', 'security-groups', 'security_group'),
  securityGroupRule: neutron('security group rule', 'security-group-rules', 'security_group_rule', {
    nameField: null,
    update: false,
  }),
  agent: neutron('agent', 'agents', 'agent', { nameField: null }),
  qosPolicy: neutron('QoS policy', 'qos/policies', 'policy', { collection: 'policies' }),
  instance: {
    label: 'instance',
    path: '/neutrino/v1/instances',
    member: 'instance',
    collection: 'instances',
    update: false,
  } satisfies Kind,
  project: keystone('project', 'project'),
  user: keystone('user', 'user'),
  role: { ...keystone('role', 'role'), update: false } satisfies Kind,
};

export type Row = Record<string, unknown> & { id: string };

function query(params: Record<string, string | string[] | undefined>): string {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params))
    for (const v of value === undefined ? [] : [value].flat()) search.append(key, v);
  const text = search.toString();
  return text ? `?${text}` : '';
}

/** Lists a collection with filters (a repeated value is an OR, as Neutron reads it). */
export async function list(
  session: Session,
  kind: Kind,
  filters: Record<string, string | string[] | undefined> = {},
): Promise<Row[]> {
  const body = await session.get<Record<string, Row[]>>(`${kind.path}${query(filters)}`);
  return body[kind.collection] ?? [];
}

/**
 * The object `ref` names: by id, else by name (or `nameField`) among those matching `filters`
 * (e.g. `{project_id}` to tell two projects' `default` groups apart).
 */
export async function find(
  session: Session,
  kind: Kind,
  ref: string,
  filters: Record<string, string | undefined> = {},
): Promise<Row> {
  const direct = await session.request('GET', `${kind.path}/${encodeURIComponent(ref)}`, undefined, {
    allow: [400, 404],
  });
  if (direct.status === 200) return (direct.body as Record<string, Row>)[kind.member];
  const field = kind.nameField === undefined ? 'name' : kind.nameField;
  if (field === null) throw new ApiError(404, 'NotFound', `No ${kind.label} found for ${ref}`);
  const matches = (await list(session, kind, { ...filters, [field]: ref })).filter((r) => r[field] === ref);
  if (matches.length === 0) throw new ApiError(404, 'NotFound', `No ${kind.label} found for ${ref}`);
  if (matches.length > 1)
    throw new ApiError(409, 'Conflict', `More than one ${kind.label} exists with the name '${ref}'`);
  return matches[0];
}

/**
 * Every visible object of `kind` by id → name, in one list call (for showing names beside ids);
 * empty when the caller may not list the collection. A member lists its own projects instead.
 */
export async function nameMap(session: Session, kind: Kind): Promise<Map<string, string>> {
  const field = kind.nameField === undefined ? 'name' : kind.nameField;
  if (field === null) return new Map();
  const neutron = kind.path.startsWith('/v2.0/');
  let rows: Row[];
  try {
    rows = await list(session, kind, neutron ? { fields: ['id', field] } : {});
  } catch (err) {
    if (!(err instanceof ApiError) || kind !== KINDS.project) return new Map();
    rows = (
      await session.get<{ projects: Row[] }>('/identity/v3/auth/projects').catch(() => ({ projects: [] }))
    ).projects;
  }
  return new Map(rows.map((r) => [r.id, String(r[field] ?? '')]));
}

export async function findId(
  session: Session,
  kind: Kind,
  ref: string,
  filters: Record<string, string | undefined> = {},
): Promise<string> {
  return (await find(session, kind, ref, filters)).id;
}

/** Like `findId` for an optional reference. */
export async function maybeId(
  session: Session,
  kind: Kind,
  ref: string | undefined,
  filters: Record<string, string | undefined> = {},
): Promise<string | undefined> {
  return ref === undefined ? undefined : findId(session, kind, ref, filters);
}
