/**
 * `neutrino instance create|list|show|delete`: instances (network namespaces standing in for VMs)
 * through `/neutrino/v1/instances`. Instances, networks and ports are named by name or id, resolved
 * as the openstack CLI does (`GET …/<name-or-id>`, then a filter by name). Output is a table by
 * default, or `-f json` / `-f value`.
 */
import { type Command, Option } from 'commander';
import { ApiError, type Session, sessionFromEnvironment } from './client.js';

export interface InstancePort {
  id: string;
  network_id: string;
  mac_address: string;
  fixed_ips: { subnet_id: string; ip_address: string }[];
}

export interface Instance {
  id: string;
  name: string;
  status: string;
  host: string | null;
  ports: InstancePort[];
  fault?: unknown;
  [field: string]: unknown;
}

type Format = 'table' | 'json' | 'value';
const INSTANCES = '/neutrino/v1/instances';
const WAIT_TIMEOUT_MS = 300_000;
const WAIT_POLL_MS = 250;

/** Looks a resource up by id, else by name (exactly one must match). */
async function resolve<T extends { id: string; name: string }>(
  session: Session,
  kind: { label: string; path: string; member: string; collection: string },
  nameOrId: string,
): Promise<T> {
  const direct = await session.request('GET', `${kind.path}/${encodeURIComponent(nameOrId)}`, undefined, {
    allow: [400, 404],
  });
  if (direct.status === 200) return (direct.body as Record<string, T>)[kind.member];
  const list = await session.get<Record<string, T[]>>(`${kind.path}?name=${encodeURIComponent(nameOrId)}`);
  const matches = (list[kind.collection] ?? []).filter((item) => item.name === nameOrId);
  if (matches.length === 0) throw new ApiError(404, 'NotFound', `No ${kind.label} found for ${nameOrId}`);
  if (matches.length > 1)
    throw new ApiError(
      409,
      'Conflict',
      `More than one ${kind.label} exists with the name '${nameOrId}'; use its id`,
    );
  return matches[0];
}

export function findInstance(session: Session, nameOrId: string): Promise<Instance> {
  return resolve<Instance>(
    session,
    { label: 'Instance', path: INSTANCES, member: 'instance', collection: 'instances' },
    nameOrId,
  );
}

const findNetwork = (session: Session, nameOrId: string) =>
  resolve<{ id: string; name: string }>(
    session,
    { label: 'Network', path: '/v2.0/networks', member: 'network', collection: 'networks' },
    nameOrId,
  );

const findPort = (session: Session, nameOrId: string) =>
  resolve<{ id: string; name: string }>(
    session,
    { label: 'Port', path: '/v2.0/ports', member: 'port', collection: 'ports' },
    nameOrId,
  );

/** Network id → name, for showing `net1=10.0.0.5` like `openstack server list`. */
async function networkNames(session: Session): Promise<Map<string, string>> {
  const { networks } = await session.get<{ networks: { id: string; name: string }[] }>(
    '/v2.0/networks?fields=id&fields=name',
  );
  return new Map(networks.map((n) => [n.id, n.name || n.id]));
}

function addresses(instance: Instance, names: Map<string, string>): string {
  return instance.ports
    .map(
      (p) =>
        `${names.get(p.network_id) ?? p.network_id}=${p.fixed_ips.map((ip) => ip.ip_address).join(', ')}`,
    )
    .join('; ');
}

function faultText(fault: unknown): string {
  if (fault === null || fault === undefined || fault === '') return '';
  if (typeof fault === 'string') return fault;
  const message = (fault as { message?: unknown }).message;
  return typeof message === 'string' ? message : JSON.stringify(fault);
}

function cellText(value: unknown): string {
  if (value === null || value === undefined) return '';
  if (typeof value === 'string') return value;
  return JSON.stringify(value);
}

/** A table like the openstack CLI's (`+---+` borders, multi-line cells). */
export function renderTable(headers: string[], rows: string[][]): string {
  const lines = rows.map((row) => row.map((cell) => cell.split('\n')));
  const widths = headers.map((h, c) =>
    Math.max(h.length, ...lines.flatMap((row) => row[c].map((l) => l.length))),
  );
  const rule = `+${widths.map((w) => '-'.repeat(w + 2)).join('+')}+`;
  const line = (cells: string[]) => `| ${cells.map((cell, c) => cell.padEnd(widths[c])).join(' | ')} |`;
  const out = [rule, line(headers), rule];
  for (const row of lines) {
    const height = Math.max(1, ...row.map((cell) => cell.length));
    for (let i = 0; i < height; i++) out.push(line(row.map((cell) => cell[i] ?? '')));
  }
  if (rows.length > 0) out.push(rule);
  return `${out.join('\n')}\n`;
}

function showInstance(instance: Instance, names: Map<string, string>, format: Format): string {
  if (format === 'json') return `${JSON.stringify(instance, null, 2)}\n`;
  const ports = instance.ports
    .map(
      (p) =>
        `${p.id} ${names.get(p.network_id) ?? p.network_id}=${p.fixed_ips.map((ip) => ip.ip_address).join(',')} ${p.mac_address}`,
    )
    .join('\n');
  const fields: [string, string][] = [
    ['id', instance.id],
    ['name', instance.name],
    ['status', instance.status],
    ['host', cellText(instance.host)],
    ['addresses', addresses(instance, names)],
    ['ports', ports],
    ['fault', faultText(instance.fault)],
  ];
  for (const [key, value] of Object.entries(instance).sort(([a], [b]) => (a < b ? -1 : 1)))
    if (!fields.some(([f]) => f === key) && key !== 'fault') fields.push([key, cellText(value)]);
  if (format === 'value') return `${fields.map(([, v]) => v.replaceAll('\n', ' ')).join('\n')}\n`;
  return renderTable(
    ['Field', 'Value'],
    fields.map(([k, v]) => [k, v]),
  );
}

function listInstances(instances: Instance[], names: Map<string, string>, format: Format): string {
  const headers = ['ID', 'Name', 'Status', 'Host', 'Networks'];
  const rows = instances.map((i) => [i.id, i.name, i.status, cellText(i.host), addresses(i, names)]);
  if (format === 'json')
    return `${JSON.stringify(
      rows.map((row) => Object.fromEntries(headers.map((h, c) => [h, row[c]]))),
      null,
      2,
    )}\n`;
  if (format === 'value') return rows.map((row) => `${row.join(' ')}\n`).join('');
  return renderTable(headers, rows);
}

/** Polls until the instance leaves BUILD; throws with its fault when it ends in ERROR. */
async function waitForInstance(session: Session, id: string): Promise<Instance> {
  const deadline = Date.now() + WAIT_TIMEOUT_MS;
  for (;;) {
    const { instance } = await session.get<{ instance: Instance }>(`${INSTANCES}/${id}`);
    if (instance.status === 'ERROR')
      throw new Error(
        `instance ${instance.name} (${id}) is in ERROR: ${faultText(instance.fault) || 'no fault given'}`,
      );
    if (instance.status !== 'BUILD') return instance;
    if (Date.now() > deadline)
      throw new Error(`instance ${instance.name} (${id}) still in BUILD after ${WAIT_TIMEOUT_MS / 1000} s`);
    await new Promise((r) => setTimeout(r, WAIT_POLL_MS));
  }
}

const formatOption = () =>
  new Option('-f, --format <format>', 'output format').choices(['table', 'json', 'value']).default('table');

export function registerInstanceCommands(root: Command): void {
  const instance = root
    .command('instance')
    .description('instances: network namespaces standing in for VMs, one interface per port');

  /** NICs in command-line order: `--network a --port p --network b` gives eth0, eth1, eth2. */
  let nics: ({ network: string } | { port: string })[] = [];
  instance
    .command('create <name>')
    .description('create an instance with one interface per --network/--port, in order')
    .option('--network <network>', 'a network (name or id) to plug a new port into; repeatable', (v) => {
      nics.push({ network: v });
      return v;
    })
    .option('--port <port>', 'an existing port (name or id) to plug; repeatable', (v) => {
      nics.push({ port: v });
      return v;
    })
    .option('--wait', 'wait until the instance is ACTIVE (exit 1 if it ends in ERROR)')
    .addOption(formatOption())
    .action(async (name: string, flags: { wait?: boolean; format: Format }) => {
      const requested = nics;
      nics = [];
      if (requested.length === 0) throw new Error('give at least one --network or --port');
      const session = sessionFromEnvironment();
      const networks = [];
      for (const nic of requested)
        networks.push(
          'network' in nic
            ? { network_id: (await findNetwork(session, nic.network)).id }
            : { port_id: (await findPort(session, nic.port)).id },
        );
      let { instance: created } = await session.post<{ instance: Instance }>(INSTANCES, {
        instance: { name, networks },
      });
      if (flags.wait) created = await waitForInstance(session, created.id);
      process.stdout.write(showInstance(created, await networkNames(session), flags.format));
    });

  instance
    .command('list')
    .description('list instances')
    .addOption(formatOption())
    .action(async (flags: { format: Format }) => {
      const session = sessionFromEnvironment();
      const { instances } = await session.get<{ instances: Instance[] }>(INSTANCES);
      process.stdout.write(listInstances(instances, await networkNames(session), flags.format));
    });

  instance
    .command('show <instance>')
    .description('show an instance (name or id)')
    .addOption(formatOption())
    .action(async (nameOrId: string, flags: { format: Format }) => {
      const session = sessionFromEnvironment();
      const found = await findInstance(session, nameOrId);
      process.stdout.write(showInstance(found, await networkNames(session), flags.format));
    });

  instance
    .command('delete <instance...>')
    .description('delete instances (names or ids)')
    .action(async (namesOrIds: string[]) => {
      const session = sessionFromEnvironment();
      let failed = 0;
      for (const nameOrId of namesOrIds) {
        try {
          const found = await findInstance(session, nameOrId);
          await session.delete(`${INSTANCES}/${found.id}`);
        } catch (err) {
          failed++;
          process.stderr.write(
            `Failed to delete instance with name or ID '${nameOrId}': ${(err as Error).message}\n`,
          );
        }
      }
      if (failed > 0) throw new Error(`${failed} of ${namesOrIds.length} instances failed to delete`);
    });
}
