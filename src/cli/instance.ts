/**
 * `neutrino instance list|show|create|delete`: instances (network namespaces standing in for VMs)
 * through `/neutrino/v1/instances`. `create NAME --network N|--port P …` makes one interface per
 * option in command-line order (`eth0` first), `--wait` returns once the instance is ACTIVE.
 * Instances cannot be changed after create (replace them).
 */
import type { Command } from 'commander';
import type { Session } from './client.js';
import { collect } from './output.js';
import { find, findId, KINDS, list, type Row } from './resolve.js';
import { column, type Flags, projectId, registerResource } from './resource-command.js';

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

/** `net1=10.0.0.5, 10.0.0.6; net2=…`, like `openstack server list`. */
async function withAddresses(session: Session, rows: Row[]): Promise<Row[]> {
  const networks = await list(session, KINDS.network, { fields: ['id', 'name'] });
  const names = new Map(networks.map((n) => [n.id, (n.name as string) || n.id]));
  return rows.map((row) => ({
    ...row,
    addresses: (row.ports as InstancePort[])
      .map(
        (p) =>
          `${names.get(p.network_id) ?? p.network_id}=${p.fixed_ips.map((ip) => ip.ip_address).join(', ')}`,
      )
      .join('; '),
  }));
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
  registerResource(root, {
    noun: 'instance',
    kind: KINDS.instance,
    description: 'instances: network namespaces standing in for VMs, one interface per port',
    columns: [
      column('ID', 'id'),
      column('Name', 'name'),
      column('Status', 'status'),
      column('Host', 'host'),
      column('Networks', 'addresses'),
      column('Project', 'project_id', true),
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
    listRows: withAddresses,
    view: async (session, row) => (await withAddresses(session, [row]))[0],
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
        return { networks, security_groups: flags.securityGroup, host: flags.host };
      },
      after: async (session, created, flags) => (flags.wait ? waitForInstance(session, created.id) : created),
    },
  });
}
