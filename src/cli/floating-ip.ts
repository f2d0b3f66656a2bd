/**
 * `neutrino floating-ip list|show|create|set|unset|delete`: `create EXT_NET [--port P]
 * [--fixed-ip-address IP] [--floating-ip-address IP] [--subnet S]`, `set FIP --port P`, `unset FIP
 * --port`, and `port-forwarding …` (port-forwarding.ts). A floating IP is named by its id or its
 * address.
 */
import type { Command } from 'commander';
import type { Session } from '../client/session.js';
import { registerPortForwardingCommands } from './port-forwarding.js';
import { findId, KINDS } from './resolve.js';
import { column, type Flags, idColumn, registerResource } from './resource-command.js';

async function association(session: Session, flags: Flags) {
  if (flags.fixedIpAddress && !flags.port) throw new Error('--fixed-ip-address needs --port');
  return {
    port_id: flags.port ? await findId(session, KINDS.port, flags.port as string) : undefined,
    fixed_ip_address: flags.fixedIpAddress,
  };
}

function associationOptions(cmd: Command): void {
  cmd
    .option('--port <port>', 'associate with this port (name or id)')
    .option('--fixed-ip-address <ip>', "which of the port's fixed IPs (when it has several)");
}

export function registerFloatingIpCommands(root: Command): void {
  const noun = registerResource(root, {
    noun: 'floating-ip',
    kind: KINDS.floatingIp,
    description: 'floating IPs: addresses of an external network mapped to ports',
    standard: true,
    named: false,
    tags: true,
    columns: [
      column('ID', 'id'),
      column('Floating IP Address', 'floating_ip_address'),
      column('Fixed IP Address', 'fixed_ip_address'),
      idColumn('Port', 'port_id', KINDS.port),
      idColumn('Floating Network', 'floating_network_id', KINDS.network),
      idColumn('Project', 'project_id', KINDS.project),
      idColumn('Router', 'router_id', KINDS.router, true),
      column('Status', 'status', true),
      column('Description', 'description', true),
      column('Tags', 'tags', true),
    ],
    listOptions: (cmd) => {
      cmd
        .option('--network <network>', 'only floating IPs of this external network (name or id)')
        .option('--port <port>', 'only the floating IP of this port (name or id)')
        .option('--router <router>', 'only floating IPs behind this router (name or id)')
        .option('--fixed-ip-address <ip>', 'only the floating IP of this fixed address')
        .option('--floating-ip-address <ip>', 'only the floating IP of this address')
        .option('--status <status>', 'only floating IPs in this status (ACTIVE, DOWN)');
    },
    listFilters: async (session, flags) => ({
      floating_network_id: flags.network
        ? await findId(session, KINDS.network, flags.network as string)
        : undefined,
      port_id: flags.port ? await findId(session, KINDS.port, flags.port as string) : undefined,
      router_id: flags.router ? await findId(session, KINDS.router, flags.router as string) : undefined,
      fixed_ip_address: flags.fixedIpAddress as string | undefined,
      floating_ip_address: flags.floatingIpAddress as string | undefined,
      status: flags.status as string | undefined,
    }),
    create: {
      argument: '<network>',
      argumentBody: async (session, network) => ({
        floating_network_id: await findId(session, KINDS.network, network),
      }),
      options: (cmd) => {
        associationOptions(cmd);
        cmd
          .option('--floating-ip-address <ip>', 'this address of the external network')
          .option('--subnet <subnet>', 'from this subnet of the external network (name or id)');
      },
      body: async (session, flags) => ({
        ...(await association(session, flags)),
        floating_ip_address: flags.floatingIpAddress,
        subnet_id: flags.subnet ? await findId(session, KINDS.subnet, flags.subnet as string) : undefined,
      }),
    },
    set: { options: associationOptions, body: association },
    unset: {
      options: (cmd) => {
        cmd.option('--port', 'disassociate from its port');
      },
      body: async (_, flags) => ({ port_id: flags.port ? null : undefined }),
    },
  });
  registerPortForwardingCommands(noun);
}
