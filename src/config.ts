/**
 * Configuration for the server and the agent, in layers: defaults, then a YAML file
 * (`--config`, or `/etc/neutrino/neutrino.yaml` when present), then `NEUTRINO_*` environment
 * variables, then command-line flags. The result is one plain object.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { DEFAULT_SETTINGS, type Settings } from './core/settings.js';

export interface Config {
  host: string;
  port: number;
  stateDir: string;
  /** Database URL; default: SQLite file `neutrino.db` in the state dir. */
  db?: string;
  publicUrl?: string;
  auth: 'keystone' | 'noauth';
  tokenLifetimeSeconds: number;
  logLevel: string;
  /** `physnet:interface-or-bridge` pairs. */
  physicalInterfaceMappings: Record<string, string>;
  /** The agent's tunnel endpoint (YAML `local_ip`, as Neutron's), an address of its host. */
  localIp?: string;
  settings: Settings;
}

export const DEFAULT_CONFIG: Config = {
  host: '127.0.0.1',
  port: 9696,
  stateDir: '/var/lib/neutrino',
  auth: 'keystone',
  tokenLifetimeSeconds: 12 * 3600,
  logLevel: 'info',
  physicalInterfaceMappings: {},
  settings: DEFAULT_SETTINGS,
};

const DEFAULT_FILE = '/etc/neutrino/neutrino.yaml';

/** Flags as commander hands them over (all optional, strings where typed on a command line). */
export interface Flags {
  config?: string;
  host?: string;
  port?: string | number;
  stateDir?: string;
  db?: string;
  publicUrl?: string;
  noauth?: boolean;
  logLevel?: string;
}

function envLayer(env: NodeJS.ProcessEnv): Partial<Config> {
  const out: Partial<Config> = {};
  if (env.NEUTRINO_HOST) out.host = env.NEUTRINO_HOST;
  if (env.NEUTRINO_PORT) out.port = Number(env.NEUTRINO_PORT);
  if (env.NEUTRINO_STATE_DIR) out.stateDir = env.NEUTRINO_STATE_DIR;
  if (env.NEUTRINO_DB) out.db = env.NEUTRINO_DB;
  if (env.NEUTRINO_PUBLIC_URL) out.publicUrl = env.NEUTRINO_PUBLIC_URL;
  if (env.NEUTRINO_AUTH === 'noauth' || env.NEUTRINO_AUTH === 'keystone') out.auth = env.NEUTRINO_AUTH;
  if (env.NEUTRINO_LOG_LEVEL) out.logLevel = env.NEUTRINO_LOG_LEVEL;
  return out;
}

function parseMappings(value: unknown): Record<string, string> {
  if (value && typeof value === 'object' && !Array.isArray(value)) return value as Record<string, string>;
  const out: Record<string, string> = {};
  const list = typeof value === 'string' ? value.split(',') : Array.isArray(value) ? value.map(String) : [];
  for (const pair of list) {
    const [physnet, iface] = pair.split(':');
    if (physnet && iface) out[physnet.trim()] = iface.trim();
  }
  return out;
}

export function loadConfig(flags: Flags = {}, env: NodeJS.ProcessEnv = process.env): Config {
  const file = flags.config ?? env.NEUTRINO_CONFIG ?? (existsSync(DEFAULT_FILE) ? DEFAULT_FILE : undefined);
  const fromFile = file ? ((parse(readFileSync(file, 'utf8')) ?? {}) as Record<string, unknown>) : {};
  const {
    settings: fileSettings,
    physical_interface_mappings,
    local_ip,
    ...rest
  } = fromFile as {
    settings?: Partial<Settings>;
    physical_interface_mappings?: unknown;
    local_ip?: unknown;
  } & Record<string, unknown>;
  const config: Config = {
    ...DEFAULT_CONFIG,
    ...(rest as Partial<Config>),
    ...envLayer(env),
    settings: { ...DEFAULT_SETTINGS, ...(fileSettings ?? {}) },
  };
  config.physicalInterfaceMappings = parseMappings(
    physical_interface_mappings ?? env.NEUTRINO_PHYSICAL_INTERFACE_MAPPINGS,
  );
  if (typeof local_ip === 'string' && local_ip !== '') config.localIp = local_ip;
  if (flags.host) config.host = flags.host;
  if (flags.port !== undefined) config.port = Number(flags.port);
  if (flags.stateDir) config.stateDir = flags.stateDir;
  if (flags.db) config.db = flags.db;
  if (flags.publicUrl) config.publicUrl = flags.publicUrl;
  if (flags.noauth) config.auth = 'noauth';
  if (flags.logLevel) config.logLevel = flags.logLevel;
  if (!Number.isInteger(config.port) || config.port < 0 || config.port > 65535) {
    throw new Error(`invalid port: ${String(flags.port ?? config.port)}`);
  }
  config.settings.physicalNetworks = Object.keys(config.physicalInterfaceMappings);
  config.settings.physicalInterfaceMappings = config.physicalInterfaceMappings;
  return config;
}

export function databaseUrl(config: Config): string {
  return config.db ?? join(config.stateDir, 'neutrino.db');
}
