/**
 * Reads a topology file: YAML → checked against the schema → checked for references the schema
 * cannot see (duplicate subnet names, floating IPs of unknown instances, …). Every problem names
 * the file, line, column and field (`two-tier.yaml:12:7: projects.shop.networks.web.mtu: must be
 * >= 68`), found from the YAML document's node ranges. Addresses and CIDRs are checked here too
 * (`check-addresses.ts`); `apply` takes these problems along to the plan, which adds those of
 * names the API must resolve, so one run lists every problem of a file.
 */
import { basename, extname } from 'node:path';
import {
  type Located,
  type Path,
  parseYamlFile,
  problemsMessage,
  readYamlFile,
  schemaProblems,
  type YamlFile,
  YamlFileError,
} from '../../yaml-file.js';
import { addressProblems } from './check-addresses.js';
import { Topology, type Topology as TopologyType } from './schema.js';

export type { Path };
export { problemsMessage };

export interface LoadedTopology {
  topology: TopologyType;
  /** The topology's name: its `name:`, else the file's base name without extension. */
  name: string;
  file: string;
  /** `file:line:col` of the value at `path` (or of its nearest ancestor present in the file). */
  locate(path: Path): string;
  /** With `collect`: the file's own problems (references, addresses), left for the plan to report. */
  problems?: string[];
}

export interface LoadOptions {
  /** Return the file's problems (beyond YAML and schema ones) in `problems` instead of throwing. */
  collect?: boolean;
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

/** Located problems once each, in the order of their places in the file (`file:line:col: …`). */
export function inFileOrder(problems: string[]): string[] {
  const place = (p: string) => /^.*?:(\d+):(\d+):/.exec(p)?.slice(1).map(Number) ?? [0, 0];
  return [...new Set(problems)]
    .map((p) => ({ p, at: place(p) }))
    .sort((a, b) => a.at[0] - b.at[0] || a.at[1] - b.at[1])
    .map(({ p }) => p);
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
export function parseTopology(file: string, text: string, options: LoadOptions = {}): LoadedTopology {
  return checkTopology(
    file,
    parsed(() => parseYamlFile(file, text)),
    options,
  );
}

export function loadTopology(file: string, options: LoadOptions = {}): LoadedTopology {
  return checkTopology(
    file,
    parsed(() => readYamlFile(file)),
    options,
  );
}

function parsed(read: () => YamlFile): YamlFile {
  try {
    return read();
  } catch (err) {
    if (err instanceof YamlFileError) throw new TopologyError(err.problems);
    throw err;
  }
}

function checkTopology(file: string, yaml: YamlFile, options: LoadOptions): LoadedTopology {
  const schema = schemaProblems(Topology, yaml.value);
  if (schema.length > 0) throw new TopologyError(schema.map(yaml.format));
  const topology = yaml.value as TopologyType;
  const problems = inFileOrder(
    [...referenceProblems(topology), ...addressProblems(topology.projects)].map(yaml.format),
  );
  if (problems.length > 0 && !options.collect) throw new TopologyError(problems);
  const name = topology.name ?? basename(file, extname(file));
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,41}$/.test(name))
    throw new TopologyError([
      `${file}:1:1: name: the file name ${name} cannot name a topology (1-42 letters, digits, ".", "_", "-"); add a name:`,
    ]);
  return {
    topology,
    name,
    file,
    locate: (path) => yaml.locate(path),
    ...(options.collect ? { problems } : {}),
  };
}
