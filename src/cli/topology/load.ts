/**
 * Reads a topology file: YAML → checked against the schema → checked for references the schema
 * cannot see (duplicate subnet names, floating IPs of unknown instances, …). Every problem names
 * the file, line, column and field (`two-tier.yaml:12:7: projects.shop.networks.web.mtu: must be
 * >= 68`), found from the YAML document's node ranges.
 */
import { readFileSync } from 'node:fs';
import { basename, extname } from 'node:path';
import { Value } from 'typebox/value';
import { isMap, LineCounter, type Node, parseDocument } from 'yaml';
import { Topology, type Topology as TopologyType } from './schema.js';

export type Path = (string | number)[];

export interface LoadedTopology {
  topology: TopologyType;
  /** The topology's name: its `name:`, else the file's base name without extension. */
  name: string;
  file: string;
  /** `file:line:col` of the value at `path` (or of its nearest ancestor present in the file). */
  locate(path: Path): string;
}

/** One problem as its line; several as a count and a line each. */
export function problemsMessage(problems: string[]): string {
  return problems.length === 1 ? problems[0] : `${problems.length} problems:\n${problems.join('\n')}`;
}

/** A topology file is wrong: `problems` are one line each, located. */
export class TopologyError extends Error {
  readonly problems: string[];

  constructor(problems: string[]) {
    super(problemsMessage(problems));
    this.name = 'TopologyError';
    this.problems = problems;
  }
}

const dotted = (path: Path) => (path.length === 0 ? '(top)' : path.join('.'));

function pointerPath(pointer: string): Path {
  if (pointer === '') return [];
  return pointer
    .slice(1)
    .split('/')
    .map((p) => p.replaceAll('~1', '/').replaceAll('~0', '~'));
}

/** The schema node a JSON pointer (`#/properties/a/anyOf/1`) names, for its description. */
function schemaAt(pointer: string): Record<string, unknown> | undefined {
  let node: unknown = Topology;
  for (const part of pointerPath(pointer.replace(/^#/, ''))) {
    if (node === null || typeof node !== 'object') return undefined;
    node = (node as Record<string, unknown>)[part];
  }
  return node as Record<string, unknown> | undefined;
}

interface Located {
  path: Path;
  /** Point at the key rather than the value (unknown properties). */
  key?: boolean;
  message: string;
}

/** Schema errors as located problems: one per field, with readable messages. */
function schemaProblems(value: unknown): Located[] {
  const out: Located[] = [];
  const seen = new Set<string>();
  const errors = [...Value.Errors(Topology, value)];
  const unions = new Set(errors.filter((e) => e.keyword === 'anyOf').map((e) => e.instancePath));
  for (const e of errors) {
    if (e.keyword === 'boolean') continue;
    const path = pointerPath(e.instancePath);
    if (e.keyword === 'additionalProperties') {
      for (const extra of (e.params as { additionalProperties?: string[] }).additionalProperties ?? [])
        out.push({ path: [...path, extra], key: true, message: 'unknown property' });
      continue;
    }
    if (e.keyword === 'required') {
      for (const missing of (e.params as { requiredProperties?: string[] }).requiredProperties ?? [])
        out.push({ path, message: `missing required property ${missing}` });
      continue;
    }
    if (unions.has(e.instancePath) && e.keyword !== 'anyOf') continue;
    if (seen.has(e.instancePath)) continue;
    seen.add(e.instancePath);
    const description = schemaAt(e.schemaPath)?.description;
    const described = (e.keyword === 'anyOf' || e.keyword === 'pattern') && typeof description === 'string';
    out.push({ path, message: described ? `must be ${description}` : e.message });
  }
  return out;
}

/** Problems the schema cannot express: names that must be unique or must exist. */
function referenceProblems(topology: TopologyType): Located[] {
  const out: Located[] = [];
  for (const [project, p] of Object.entries(topology.projects)) {
    const at = (...rest: Path): Path => ['projects', project, ...rest];
    const subnets = new Map<string, string>();
    for (const [network, n] of Object.entries(p.networks ?? {}))
      for (const subnet of Object.keys(n.subnets ?? {})) {
        const other = subnets.get(subnet);
        if (other !== undefined)
          out.push({
            path: at('networks', network, 'subnets', subnet),
            key: true,
            message: `subnet ${subnet} is also declared on network ${other}: subnet names must be unique in a project`,
          });
        subnets.set(subnet, network);
      }
    if (p.security_groups?.default)
      out.push({
        path: at('security_groups', 'default'),
        key: true,
        message: "the default group is Neutron's own: refer to it, do not declare it",
      });
    for (const [name, group] of Object.entries(p.security_groups ?? {}))
      (group.rules ?? []).forEach((rule, i) => {
        if (rule.remote_ip !== undefined && rule.remote_group !== undefined)
          out.push({
            path: at('security_groups', name, 'rules', i),
            message: 'remote_ip and remote_group exclude each other',
          });
        if (rule.port !== undefined && (rule.icmp_type !== undefined || rule.icmp_code !== undefined))
          out.push({
            path: at('security_groups', name, 'rules', i),
            message: 'port and icmp_type/icmp_code exclude each other',
          });
      });
    (p.floating_ips ?? []).forEach((fip, i) => {
      const instance = p.instances?.[fip.instance];
      if (!instance) {
        out.push({
          path: at('floating_ips', i, 'instance'),
          message: `no instance ${fip.instance} in project ${project}`,
        });
        return;
      }
      const networks = instance.networks.map((n) => (typeof n === 'string' ? n : n.network));
      if (fip.interface !== undefined && !networks.includes(fip.interface))
        out.push({
          path: at('floating_ips', i, 'interface'),
          message: `instance ${fip.instance} has no interface on network ${fip.interface}`,
        });
    });
  }
  return out;
}

/** Parses and checks `text` (the contents of `file`); throws TopologyError listing every problem. */
export function parseTopology(file: string, text: string): LoadedTopology {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  const where = (offset: number) => {
    const { line, col } = lineCounter.linePos(offset);
    return `${file}:${line}:${col}`;
  };
  if (doc.errors.length > 0)
    throw new TopologyError(doc.errors.map((e) => `${where(e.pos[0])}: ${e.message.split('\n')[0]}`));

  const locate = (path: Path, key = false): string => {
    for (let n = path.length; n >= 0; n--) {
      const prefix = path.slice(0, n);
      if (key && n === path.length && n > 0) {
        const parent = prefix.length === 1 ? doc.contents : doc.getIn(prefix.slice(0, -1), true);
        if (isMap(parent)) {
          const pair = parent.items.find((p) => (p.key as { value?: unknown })?.value === prefix.at(-1));
          const range = (pair?.key as Node | undefined)?.range;
          if (range) return where(range[0]);
        }
        continue;
      }
      const node = (n === 0 ? doc.contents : doc.getIn(prefix, true)) as Node | undefined;
      if (node?.range) return where(node.range[0]);
    }
    return `${file}:1:1`;
  };
  const value = doc.toJS() ?? {};
  const format = (p: Located) => `${locate(p.path, p.key)}: ${dotted(p.path)}: ${p.message}`;
  const schema = schemaProblems(value);
  if (schema.length > 0) throw new TopologyError(schema.map(format));
  const topology = value as TopologyType;
  const references = referenceProblems(topology);
  if (references.length > 0) throw new TopologyError(references.map(format));
  const name = topology.name ?? basename(file, extname(file));
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,41}$/.test(name))
    throw new TopologyError([
      `${file}:1:1: name: the file name ${name} cannot name a topology (1-42 letters, digits, ".", "_", "-"); add a name:`,
    ]);
  return { topology, name, file, locate: (path) => locate(path) };
}

export function loadTopology(file: string): LoadedTopology {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new Error(`cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  return parseTopology(file, text);
}
