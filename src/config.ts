/**
 * Configuration of `neutrino up`, `server` and `agent`: its schema and how it is loaded, in layers —
 * defaults, then a YAML file (`--config`, `NEUTRINO_CONFIG`, or `/etc/neutrino/neutrino.yaml` when
 * present), then `NEUTRINO_<KEY>` environment variables, then command-line flags. The file's keys
 * are snake_case (as Neutron's configuration); the code sees them camelCase (`state_dir` →
 * `config.stateDir`). Every layer is checked against `ConfigFile`: a file's problems are located
 * (`neutrino.yaml:3:1: stat_dir: unknown key`), an environment variable's or flag's name theirs.
 * The schema is published as `docs/config.schema.json` (`neutrino config schema`).
 *
 * Adding a key is one line in `ConfigFile` (or `SettingsFile` for a setting of the Neutron model);
 * it is then read from the file, from `NEUTRINO_<KEY>` (scalars and lists) and, if the command
 * declares `--<key>`, from that flag, and reaches the code as `config.<camelKey>`. A default, when
 * it has one, goes in `DEFAULTS`.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { type Static, type TSchema, Type } from 'typebox';
import { Value } from 'typebox/value';
import { DEFAULT_SETTINGS, type Settings } from './core/settings.js';
import { type Path, readYamlFile, schemaProblems, YamlFileError } from './yaml-file.js';

const closed = { additionalProperties: false } as const;
const Seconds = (description: string) => Type.Number({ exclusiveMinimum: 0, description });
const Count = (description: string) => Type.Integer({ minimum: 0, description });
const Range = (min: number, max: number, description: string) =>
  Type.Array(Type.Integer({ minimum: min, maximum: max }), { minItems: 2, maxItems: 2, description });
const MAPPING = '[A-Za-z0-9_.-]+:[A-Za-z0-9_.@-]+';

/** The `settings` block: the Neutron model's rules (`core/settings.ts`), snake_case. */
export const SettingsFile = Type.Object(
  {
    tenant_network_type: Type.Optional(
      Type.Enum(['local', 'vxlan', 'vlan'], { description: 'default local' }),
    ),
    vni_range: Type.Optional(Range(1, 16_777_215, 'VXLAN ids for tenant networks, [first, last]')),
    vlan_range: Type.Optional(Range(1, 4094, 'VLAN ids per physical network, [first, last]')),
    vlan_supported: Type.Optional(
      Type.Boolean({ description: 'allow vlan networks whatever the agents say' }),
    ),
    physical_mtu: Type.Optional(Type.Integer({ minimum: 68, maximum: 65_535, description: 'default 1500' })),
    mac_prefix: Type.Optional(
      Type.String({ pattern: '^[0-9a-f]{2}(:[0-9a-f]{2}){2}$', description: 'three octets, e.g. fa:16:3e' }),
    ),
    dns_domain: Type.Optional(Type.String({ minLength: 1, maxLength: 253 })),
    quotas: Type.Optional(
      Type.Record(Type.String(), Type.Integer({ minimum: -1 }), {
        description: "per resource (network, subnet, port, …); -1 unlimited; default Neutron's",
      }),
    ),
    agent_down_time: Type.Optional(
      Seconds('seconds without a heartbeat before an agent is dead and its work moves; default 30'),
    ),
    diagnostics_timeout: Type.Optional(
      Seconds('seconds an admin’s host diagnostic (check, trace --probe) waits for the agent; default 15'),
    ),
    dhcp_agents_per_network: Type.Optional(
      Type.Integer({
        minimum: 1,
        maximum: 16,
        description: 'DHCP servers (network hosts) per network; default 1',
      }),
    ),
    l3_ha: Type.Optional(
      Type.Boolean({ description: 'new routers are HA unless ha is given; default false' }),
    ),
    max_l3_agents_per_router: Type.Optional(
      Type.Integer({
        minimum: 2,
        maximum: 8,
        description: 'network hosts of an HA router, at most; default 3',
      }),
    ),
    l3_ha_net_cidr: Type.Optional(
      Type.String({
        pattern: '^169\\.254\\.[0-9]{1,3}\\.[0-9]{1,3}/(1[6-9]|2[0-8])$',
        description: 'CIDR of the HA networks, link-local; default 169.254.192.0/18',
      }),
    ),
    ha_vrrp_advert_int: Type.Optional(
      Type.Integer({
        minimum: 1,
        maximum: 255,
        description: 'seconds between VRRP advertisements; default 2',
      }),
    ),
    default_host: Type.Optional(Type.String({ minLength: 1, description: 'host of new instances' })),
    metrics_per_port: Type.Optional(
      Type.Boolean({ description: '/metrics carries per-port traffic series (cardinality!); default false' }),
    ),
    lockout_failure_attempts: Type.Optional(Count('failed logins before a user is locked; 0 never')),
    lockout_duration: Type.Optional(Count('seconds a user stays locked; 0 until re-enabled')),
    login_failures_per_address: Type.Optional(Count('failed logins per address and window; 0 no limit')),
    login_failure_window: Type.Optional(Seconds('seconds of login_failures_per_address')),
    max_fixed_ips_per_port: Type.Optional(Count('addresses per port, network: owners exempt; default 5')),
    max_allowed_address_pairs: Type.Optional(Count('allowed address pairs per port; default 10')),
    max_dns_nameservers: Type.Optional(Count('DNS nameservers per subnet; default 5')),
    max_subnet_host_routes: Type.Optional(Count('host routes per subnet; default 20')),
    max_routes: Type.Optional(Count('extra routes per router; default 30')),
    project_write_concurrency: Type.Optional(
      Count("one project's writes in progress at once, more queue; 0 no limit; default 2"),
    ),
    network_log_rate_limit: Type.Optional(
      Type.Integer({
        minimum: 100,
        description: "network log records per second and port (Neutron's rate_limit); default 100",
      }),
    ),
    network_log_burst_limit: Type.Optional(
      Type.Integer({
        minimum: 25,
        description: "network log records in a burst per port (Neutron's burst_limit); default 25",
      }),
    ),
    network_log_records_kept: Type.Optional(
      Type.Integer({
        minimum: 1,
        description: 'newest records the server keeps per network log; default 10000',
      }),
    ),
  },
  { ...closed, description: 'rules of the Neutron model (server)' },
);

/** The configuration file of `neutrino up`, `server` and `agent`. */
export const ConfigFile = Type.Object(
  {
    host: Type.Optional(Type.String({ minLength: 1, description: 'address the API listens on' })),
    port: Type.Optional(Type.Integer({ minimum: 0, maximum: 65_535, description: 'API port' })),
    state_dir: Type.Optional(Type.String({ minLength: 1, description: 'state directory' })),
    db: Type.Optional(Type.String({ minLength: 1, description: 'SQLite file or postgres:// URL' })),
    public_url: Type.Optional(Type.String({ pattern: '^https?://', description: 'an http(s) URL' })),
    auth: Type.Optional(Type.Enum(['keystone', 'noauth'])),
    token_lifetime_seconds: Type.Optional(Seconds('how long a token lasts')),
    log_level: Type.Optional(Type.Enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'])),
    log_format: Type.Optional(
      Type.Enum(['json', 'pretty'], {
        description: 'log lines as JSON or pretty (default: pretty on a terminal)',
      }),
    ),
    physical_interface_mappings: Type.Optional(
      Type.Union(
        [
          Type.Record(Type.String({ minLength: 1 }), Type.String({ minLength: 1 })),
          Type.String({ pattern: `^(${MAPPING}(,${MAPPING})*)?$` }),
        ],
        { description: '{physnet: interface-or-bridge} or "physnet:interface,…"' },
      ),
    ),
    mechanism_driver: Type.Optional(
      Type.Enum(['linuxbridge', 'openvswitch'], {
        description: "the agent's L2 driver (--driver): Linux bridges, or Open vSwitch with hybrid plug",
      }),
    ),
    host_name: Type.Optional(
      Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9._-]{0,254}$', description: "this host's name" }),
    ),
    resync_interval: Type.Optional(Seconds("the agent's full resync period")),
    report_interval: Type.Optional(Seconds("agent: seconds between heartbeats (Neutron's report_interval)")),
    cleanup_on_exit: Type.Optional(Type.Boolean({ description: 'remove the data plane when stopped' })),
    external_network: Type.Optional(Type.Boolean({ description: 'up: make the external network public' })),
    external_cidr: Type.Optional(Type.String({ minLength: 1, description: 'up: its CIDR' })),
    external_bridge: Type.Optional(
      Type.String({ minLength: 1, maxLength: 15, description: 'up: its bridge' }),
    ),
    server_url: Type.Optional(
      Type.Union(
        [
          Type.Array(Type.String({ pattern: '^https?://' }), { minItems: 1 }),
          Type.String({ pattern: '^https?://[^,]+(,\\s*https?://[^,]+)*$' }),
        ],
        {
          description:
            "agent: the server's URL, or several (a list or comma-separated): it moves on when one is down",
        },
      ),
    ),
    local_ip: Type.Optional(Type.String({ minLength: 1, description: "agent: this host's tunnel endpoint" })),
    roles: Type.Optional(Type.Array(Type.Enum(['compute', 'network']), { minItems: 1, uniqueItems: true })),
    settings: Type.Optional(SettingsFile),
  },
  {
    ...closed,
    $id: 'https://neutrino.invalid/config.schema.json',
    title: 'Neutrino configuration',
    description: 'The YAML file of neutrino up, server and agent (--config FILE).',
  },
);

export type ConfigFile = Static<typeof ConfigFile>;
type SettingsFile = Static<typeof SettingsFile>;

type CamelCase<S extends string> = S extends `${infer H}_${infer T}` ? `${H}${Capitalize<CamelCase<T>>}` : S;
/** An object type with its snake_case keys camelCase (modifiers kept). */
type Camelized<T> = { [K in keyof T as K extends string ? CamelCase<K> : never]: T[K] };

/** Every setting of the file is one of the model's (a compile error otherwise). */
type Unknown<T, U> = Exclude<keyof T, keyof U>;
const settingsMatch: Unknown<Camelized<SettingsFile>, Settings> extends never ? true : never = true;
void settingsMatch;

const DEFAULTS = {
  host: '127.0.0.1',
  port: 9696,
  state_dir: '/var/lib/neutrino',
  auth: 'keystone',
  token_lifetime_seconds: 12 * 3600,
  log_level: 'info',
  resync_interval: 60,
  report_interval: 10,
  cleanup_on_exit: false,
  external_network: true,
  mechanism_driver: 'linuxbridge',
} as const satisfies ConfigFile;

type Defaulted = keyof typeof DEFAULTS;
export type Config = Camelized<
  Omit<ConfigFile, Defaulted | 'settings' | 'physical_interface_mappings'> & {
    [K in Defaulted]-?: NonNullable<ConfigFile[K]>;
  }
> & {
  /** `physnet` → interface or bridge. */
  physicalInterfaceMappings: Record<string, string>;
  settings: Settings;
};

const DEFAULT_FILE = '/etc/neutrino/neutrino.yaml';

/**
 * Flags as commander hands them over (camelCase, strings where typed on a command line): a flag
 * named as a key (`--state-dir` → `state_dir`) sets it; `--noauth` sets `auth: noauth`.
 */
export interface Flags {
  config?: string;
  noauth?: boolean;
  [flag: string]: unknown;
}

const snake = (name: string) => name.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
const camel = (name: string) => name.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());

const KEYS = ConfigFile.properties as Record<string, TSchema>;

/** What an unknown key is told: the snake_case spelling when that is a key (`stateDir`). */
function unknownKey(path: Path): string {
  const name = String(path.at(-1));
  const known = path.length === 1 ? KEYS : path[0] === 'settings' ? SettingsFile.properties : {};
  const spelled = snake(name);
  return spelled !== name && spelled in known ? `unknown key; it is spelled ${spelled}` : 'unknown key';
}

/** Orders `file:line:col: …` lines as they appear in the file. */
function byPlace(a: string, b: string): number {
  const place = (line: string) => (/:(\d+):(\d+): /.exec(line) ?? []).slice(1).map(Number);
  const [la = 0, ca = 0] = place(a);
  const [lb = 0, cb = 0] = place(b);
  return la - lb || ca - cb;
}

/** Reads and checks a configuration file; throws YamlFileError with every problem located. */
export function readConfigFile(file: string): ConfigFile {
  const yaml = readYamlFile(file);
  const problems = schemaProblems(ConfigFile, yaml.value, unknownKey);
  if (problems.length > 0) throw new YamlFileError(problems.map(yaml.format).sort(byPlace));
  return yaml.value as ConfigFile;
}

/** `value` (a string from the environment or a command line) as `key`'s type; throws naming `source`. */
function convert(key: string, value: unknown, source: string): unknown {
  const schema = KEYS[key];
  let out = value;
  if (typeof value === 'string') {
    const isList = (schema as { type?: unknown }).type === 'array';
    out = isList ? value.split(',').map((v) => v.trim()) : Value.Convert(schema, value);
  }
  const problems = schemaProblems(schema, out);
  if (problems.length > 0) throw new Error(`${source} ${JSON.stringify(value)}: ${problems[0].message}`);
  return out;
}

/** The `NEUTRINO_<KEY>` variables that name a key, converted to its type. */
function envLayer(env: NodeJS.ProcessEnv): ConfigFile {
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(KEYS)) {
    const name = `NEUTRINO_${key.toUpperCase()}`;
    const value = env[name];
    if (key !== 'settings' && value !== undefined && value !== '') out[key] = convert(key, value, name);
  }
  return out as ConfigFile;
}

/** The flags that name a key, converted to its type. */
function flagLayer(flags: Flags): ConfigFile {
  const out: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(flags)) {
    const key = snake(name);
    if (value === undefined || key === 'settings' || !(key in KEYS)) continue;
    out[key] = convert(key, value, `--${key.replaceAll('_', '-')}`);
  }
  if (flags.noauth) out.auth = 'noauth';
  if (flags.driver !== undefined)
    out.mechanism_driver = convert('mechanism_driver', flags.driver, '--driver');
  return out as ConfigFile;
}

function parseMappings(value: ConfigFile['physical_interface_mappings']): Record<string, string> {
  if (typeof value === 'object') return { ...value };
  const out: Record<string, string> = {};
  for (const pair of (value ?? '').split(',').filter(Boolean)) {
    const at = pair.indexOf(':');
    out[pair.slice(0, at).trim()] = pair.slice(at + 1).trim();
  }
  return out;
}

function camelized<T extends object>(value: T): Camelized<T> {
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [camel(k), v])) as Camelized<T>;
}

/** The file a command reads: `--config`, `NEUTRINO_CONFIG`, else the default one when present. */
export function configFile(flags: Flags = {}, env: NodeJS.ProcessEnv = process.env): string | undefined {
  return flags.config ?? env.NEUTRINO_CONFIG ?? (existsSync(DEFAULT_FILE) ? DEFAULT_FILE : undefined);
}

export function loadConfig(flags: Flags = {}, env: NodeJS.ProcessEnv = process.env): Config {
  const file = configFile(flags, env);
  const fromFile = file ? readConfigFile(file) : {};
  const {
    settings: fileSettings,
    physical_interface_mappings,
    ...merged
  } = {
    ...DEFAULTS,
    ...fromFile,
    ...envLayer(env),
    ...flagLayer(flags),
  };
  const settings = camelized(fileSettings ?? {}) as Partial<Settings>;
  const mappings = parseMappings(physical_interface_mappings);
  return {
    ...(camelized(merged) as Omit<Config, 'settings' | 'physicalInterfaceMappings'>),
    physicalInterfaceMappings: mappings,
    settings: {
      ...DEFAULT_SETTINGS,
      ...settings,
      quotas: { ...DEFAULT_SETTINGS.quotas, ...settings.quotas },
      physicalNetworks: Object.keys(mappings),
      physicalInterfaceMappings: mappings,
    },
  };
}

export function databaseUrl(config: Config): string {
  return config.db ?? join(config.stateDir, 'neutrino.db');
}

/** The published JSON Schema (draft 2020-12), as `docs/config.schema.json` holds it. */
export function publishedConfigSchemaText(): string {
  const schema = {
    $schema: 'https://json-schema.org/draft/2020-12/schema',
    ...JSON.parse(JSON.stringify(ConfigFile)),
  };
  return `${JSON.stringify(schema, null, 2)}\n`;
}
