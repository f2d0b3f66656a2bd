/**
 * Plans a file's security groups and their rules. Rules cannot change, so a group's rules are
 * compared as a set (normalised as the server does, through `normalizeRule`): missing ones are
 * created, others deleted. Neutron's allow-all egress rules count as wanted unless the group says
 * `default_egress: false`.
 */
import { normalizeRule } from '../../core/security-group-rules.js';
import type { Path } from './load.js';
import type { Id, Row } from './plan.js';
import { idText, type Planner } from './planner.js';
import type { Project, Rule } from './schema.js';

interface NormalRule {
  direction: string;
  ethertype: string;
  protocol: string | null;
  port_range_min: number | null;
  port_range_max: number | null;
  remote_ip_prefix: string | null;
  normalized_cidr: string | null;
  remote_group_id: Id | null;
  description: string;
}

/** What makes two rules the same (as the server's duplicate check, plus the description). */
function ruleKey(r: NormalRule): string {
  const cidr = r.normalized_cidr === '0.0.0.0/0' || r.normalized_cidr === '::/0' ? null : r.normalized_cidr;
  const group = r.remote_group_id === null ? null : idText(r.remote_group_id);
  return JSON.stringify([
    r.direction,
    r.ethertype,
    r.protocol,
    r.port_range_min,
    r.port_range_max,
    cidr,
    group,
    r.description,
  ]);
}

/** `ingress IPv4 tcp 5432 from group shop/web`. */
function describeRule(r: NormalRule, groupName: (id: Id) => string): string {
  const { port_range_min: min, port_range_max: max } = r;
  const ports = min === null ? '' : max === null || max === min ? ` ${min}` : ` ${min}-${max}`;
  const toFrom = r.direction === 'egress' ? 'to' : 'from';
  const remote = r.remote_group_id
    ? ` ${toFrom} group ${groupName(r.remote_group_id)}`
    : r.remote_ip_prefix
      ? ` ${toFrom} ${r.remote_ip_prefix}`
      : '';
  return `${r.direction} ${r.ethertype} ${r.protocol ?? 'any'}${ports}${remote}`;
}

const DEFAULT_EGRESS: NormalRule[] = (['IPv4', 'IPv6'] as const).map((ethertype) => ({
  direction: 'egress',
  ethertype,
  protocol: null,
  port_range_min: null,
  port_range_max: null,
  remote_ip_prefix: null,
  normalized_cidr: null,
  remote_group_id: null,
  description: '',
}));

function portRange(rule: Rule): [number | null, number | null] {
  if (rule.port === undefined) return [rule.icmp_type ?? null, rule.icmp_code ?? null];
  if (typeof rule.port === 'number') return [rule.port, rule.port];
  const [min, max] = rule.port.split(/[-:]/).map(Number);
  return [min, max];
}

function normalRule(planner: Planner, project: string, rule: Rule, path: Path): NormalRule | undefined {
  const [min, max] = portRange(rule);
  const remoteGroup =
    rule.remote_group === undefined
      ? null
      : (planner.group(project, rule.remote_group, [...path, 'remote_group']) ?? null);
  const protocol = rule.protocol === undefined ? null : String(rule.protocol);
  const ipv6 =
    rule.remote_ip?.includes(':') || ['ipv6-icmp', 'icmpv6', '58'].includes(protocol?.toLowerCase() ?? '');
  try {
    const normal = normalizeRule({
      security_group_id: '',
      direction: rule.direction ?? 'ingress',
      ethertype: rule.ethertype ?? (ipv6 ? 'IPv6' : 'IPv4'),
      protocol,
      port_range_min: min,
      port_range_max: max,
      remote_ip_prefix: rule.remote_ip ?? null,
    });
    return { ...normal, remote_group_id: remoteGroup, description: rule.description ?? '' };
  } catch (err) {
    planner.problem(path, (err as Error).message);
    return undefined;
  }
}

export function planSecurityGroups(planner: Planner, project: string, p: Project): void {
  const pid = planner.projectId(project);
  const groups = Object.entries(p.security_groups ?? {});
  const rows = new Map<string, Row | undefined>();
  for (const [name, g] of groups) {
    const path = ['projects', project, 'security_groups', name];
    const row = planner.match(planner.current.securityGroups, 'security group', project, name, path);
    rows.set(name, row);
    const description = g.description ?? '';
    if (row) {
      planner.ids.set(`security_group:${project}/${name}`, row.id);
      planner.update('security_group', `${project}/${name}`, row, { description });
    } else {
      const body = { name, description, project_id: pid, tags: [planner.owner] };
      planner.create('security_group', project, name, body, {
        ...(g.default_egress === false ? { extra: { withoutDefaultEgress: true } } : {}),
      });
    }
  }
  const groupName = (id: Id) =>
    typeof id === 'string'
      ? String(planner.current.securityGroups.find((g) => g.id === id)?.name ?? id)
      : id.$ref.replace(/^security_group:/, '');
  for (const [name, g] of groups) {
    const path = ['projects', project, 'security_groups', name];
    const wanted = new Map<string, NormalRule>();
    if (g.default_egress !== false) for (const r of DEFAULT_EGRESS) wanted.set(ruleKey(r), r);
    (g.rules ?? []).forEach((rule, i) => {
      const normal = normalRule(planner, project, rule, [...path, 'rules', i]);
      if (normal) wanted.set(ruleKey(normal), normal);
    });
    const row = rows.get(name);
    // A new group starts with Neutron's egress rules (the executor drops them if unwanted).
    const had = row
      ? (row.security_group_rules as Row[]).map((r) => ({ id: r.id, rule: r as unknown as NormalRule }))
      : DEFAULT_EGRESS.map((rule) => ({ id: '', rule }));
    for (const { id, rule } of had) {
      const key = ruleKey({ ...rule, description: String(rule.description ?? '') });
      if (wanted.delete(key) || !id) continue;
      planner.remove('security_group_rule', `${project}/${name} ${describeRule(rule, groupName)}`, id);
    }
    let n = 0;
    for (const rule of wanted.values()) {
      const body = Object.fromEntries(
        Object.entries(rule).filter(
          ([k, v]) => v !== null && k !== 'normalized_cidr' && !(k === 'description' && v === ''),
        ),
      );
      planner.create(
        'security_group_rule',
        project,
        `${name}#${n++}`,
        {
          ...body,
          security_group_id: planner.ids.get(`security_group:${project}/${name}`)!,
          project_id: pid,
        },
        { display: `${project}/${name} ${describeRule(rule, groupName)}` },
      );
    }
  }
}
