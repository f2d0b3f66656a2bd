/**
 * `neutrino instance list|show|create|delete`: instances (network namespaces standing in for VMs)
 * through `/neutrino/v1/instances`. `create NAME --network N|--port P …` makes one interface per
 * option in command-line order (`eth0` first), `--wait` returns once the instance is ACTIVE.
 * Instances cannot be changed after create (replace them).
 */
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import type { Session } from '../client/session.js';
import { DeviceOwner } from '../model/device-owners.js';
import { collect } from './output.js';
import { find, findId, KINDS, list, nameMap, type Row } from './resolve.js';
import { column, type Flags, idColumn, projectId, registerResource } from './resource-command.js';
import { statsCommand } from './stats.js';

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

const WAIT_TIMEOUT_MS = 300_000;
const WAIT_POLL_MS = 250;

export async function findInstance(session: Session, ref: string): Promise<Instance> {
  return (await find(session, KINDS.instance, ref)) as unknown as Instance;
}

/** The owner of instance ports (Nova's, as Neutron sees them). */

/**
 * Adds to each instance, as `openstack server list|show` has them: `addresses` (network name →
 * fixed IPs, then floating IPs), `floating_ips` and `security_groups` (names): one list call per
 * collection, whatever the number of instances.
 */
async function withDetails(session: Session, rows: Row[]): Promise<Row[]> {
  const many = rows.length > 1;
  const ports = (rows as Instance[]).flatMap((r) => r.ports);
  const [networks, floatingIps, portGroups, groups] = await Promise.all([
    nameMap(session, KINDS.network),
    ports.length === 0
      ? []
      : list(session, KINDS.floatingIp, {
          fields: ['port_id', 'floating_ip_address'],
          ...(many ? {} : { port_id: ports.map((p) => p.id) }),
        }),
    ports.length === 0
      ? []
      : list(session, KINDS.port, {
          fields: ['id', 'security_groups'],
          ...(many ? { device_owner: DeviceOwner.compute } : { device_id: rows[0].id }),
        }),
    nameMap(session, KINDS.securityGroup),
  ]);
  const floating = new Map<string, string[]>();
  for (const f of floatingIps)
    if (typeof f.port_id === 'string')
      floating.set(f.port_id, [...(floating.get(f.port_id) ?? []), String(f.floating_ip_address)]);
  const groupsOf = new Map(portGroups.map((p) => [p.id, (p.security_groups as string[] | undefined) ?? []]));
  return rows.map((row) => {
    const addresses: Record<string, string[]> = {};
    const own = (row as Instance).ports;
    for (const p of own) {
      const network = networks.get(p.network_id) || p.network_id;
      addresses[network] = [
        ...(addresses[network] ?? []),
        ...p.fixed_ips.map((ip) => ip.ip_address),
        ...(floating.get(p.id) ?? []),
      ];
    }
    const groupIds = [...new Set(own.flatMap((p) => groupsOf.get(p.id) ?? []))];
    return {
      ...row,
      addresses,
      floating_ips: own.flatMap((p) => floating.get(p.id) ?? []),
      security_groups: groupIds.map((id) => groups.get(id) || id),
    };
  });
}

/** `net1=10.0.0.5, 203.0.113.7; net2=…`, as `openstack server list` shows addresses. */
function addressesText(value: unknown): string {
  return Object.entries((value ?? {}) as Record<string, string[]>)
    .map(([network, ips]) => `${network}=${ips.join(', ')}`)
    .join('\n');
}

/** The metadata-service flags as the API's attributes; unreadable files and bad pairs refused. */
function servedFlags(flags: Flags): Record<string, unknown> {
  const read = (flag: string, file: string) => {
    try {
      return readFileSync(file);
    } catch (e) {
      throw new Error(`${flag} ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
  };
  const out: Record<string, unknown> = {};
  if (typeof flags.userData === 'string')
    out.user_data = read('--user-data', flags.userData).toString('base64');
  if (typeof flags.key === 'string') out.public_key = read('--key', flags.key).toString('utf8').trim();
  if (typeof flags.keyName === 'string') out.key_name = flags.keyName;
  const properties = (flags.property as string[] | undefined) ?? [];
  if (properties.length > 0)
    out.metadata = Object.fromEntries(
      properties.map((pair) => {
        const at = pair.indexOf('=');
        if (at < 1) throw new Error(`--property ${pair}: expected KEY=VALUE`);
        return [pair.slice(0, at), pair.slice(at + 1)];
      }),
    );
  return out;
}

export function faultText(fault: unknown): string {
  if (fault === null || fault === undefined || fault === '') return '';
  if (typeof fault === 'string') return fault;
  const message = (fault as { message?: unknown }).message;
  return typeof message === 'string' ? message : JSON.stringify(fault);
}

/** Polls until the instance leaves BUILD; throws with its fault when it ends in ERROR. */
async function waitForInstance(session: Session, id: string): Promise<Row> {
  const deadline = Date.now() + WAIT_TIMEOUT_MS;
  for (;;) {
    const instance = await find(session, KINDS.instance, id);
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

export function registerInstanceCommands(root: Command): void {
  /** NICs in command-line order: `--network a --port p --network b` gives eth0, eth1, eth2. */
  let nics: ({ network: string } | { port: string })[] = [];
  const noun = registerResource(root, {
    noun: 'instance',
    kind: KINDS.instance,
    description: 'instances: network namespaces standing in for VMs, one interface per port',
    columns: [
      column('ID', 'id'),
      column('Name', 'name'),
      column('Status', 'status'),
      column('Host', 'host'),
      column('Networks', 'addresses', false, { text: addressesText }),
      column('Security Groups', 'security_groups'),
      idColumn('Project', 'project_id', KINDS.project, true),
    ],
    listOptions: (cmd) => {
      cmd
        .option('--name <name>', 'only instances of this name')
        .option('--host <host>', 'only instances on this host')
        .option('--status <status>', 'only instances in this status (BUILD, ACTIVE, ERROR)')
        .option('--project <project>', 'only instances of this project (name or id)');
    },
    listFilters: async (session, flags) => ({
      name: flags.name as string | undefined,
      host: flags.host as string | undefined,
      status: flags.status as string | undefined,
      project_id: await projectId(session, flags.project),
    }),
    listRows: withDetails,
    view: async (session, row) => (await withDetails(session, [row]))[0],
    create: {
      options: (cmd) => {
        cmd
          .option(
            '--network <network>',
            'a network (name or id) to plug a new port into; repeatable',
            (v) => {
              nics.push({ network: v });
              return v;
            },
          )
          .option('--port <port>', 'an existing port (name or id) to plug; repeatable', (v) => {
            nics.push({ port: v });
            return v;
          })
          .option('--security-group <group>', 'security group of the new ports (repeatable)', collect)
          .option('--host <host>', 'put the instance on this host (admin)')
          .option('--user-data <file>', 'a file served to the instance as its user data (cloud-init)')
          .option('--key <file>', "an OpenSSH public key file served as the instance's key")
          .option('--key-name <name>', 'the name the key is served under (default: default)')
          .option('--property <key=value>', 'metadata served in meta_data.json (repeatable)', collect)
          .option('--wait', 'wait until the instance is ACTIVE (exit 1 if it ends in ERROR)');
      },
      body: async (session: Session, flags: Flags) => {
        const requested = nics;
        nics = [];
        if (requested.length === 0) throw new Error('give at least one --network or --port');
        const networks = [];
        for (const nic of requested)
          networks.push(
            'network' in nic
              ? { network_id: await findId(session, KINDS.network, nic.network) }
              : { port_id: await findId(session, KINDS.port, nic.port) },
          );
        return {
          networks,
          security_groups: flags.securityGroup,
          host: flags.host,
          ...servedFlags(flags),
        };
      },
      after: async (session, created, flags) => (flags.wait ? waitForInstance(session, created.id) : created),
    },
  });
  statsCommand(noun, 'instance');
}
