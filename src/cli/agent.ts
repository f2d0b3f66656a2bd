/**
 * `neutrino network agent list|show|set|delete` (admin): the agents hosts run, as the openstack
 * CLI's `network agent` commands show them (`:-)` alive, `XXX` dead). (`neutrino agent` itself
 * runs an agent.)
 */
import type { Command } from 'commander';
import { KINDS } from './resolve.js';
import { column, either, pair, registerResource } from './resource-command.js';

export function registerAgentCommands(network: Command): void {
  registerResource(network, {
    noun: 'agent',
    kind: KINDS.agent,
    description: 'agents (admin): the per-host processes that realise the model',
    columns: [
      column('ID', 'id'),
      column('Agent Type', 'agent_type'),
      column('Host', 'host'),
      column('Availability Zone', 'availability_zone'),
      column('Alive', (a) => (a.alive ? ':-)' : 'XXX')),
      column('State', (a) => (a.admin_state_up ? 'UP' : 'DOWN')),
      column('Binary', 'binary'),
      column('Heartbeat', 'heartbeat_timestamp', true),
      column('Description', 'description', true),
    ],
    listOptions: (cmd) => {
      cmd
        .option('--agent-type <type>', 'only agents of this type, e.g. "DHCP agent"')
        .option('--host <host>', 'only agents of this host');
    },
    listFilters: async (_, flags) => ({
      agent_type: flags.agentType as string | undefined,
      host: flags.host as string | undefined,
    }),
    set: {
      options: (cmd) => {
        cmd.option('--description <text>', 'description');
        pair(cmd, 'enable', 'admin state up', 'disable', 'admin state down');
      },
      body: async (_, flags) => ({
        description: flags.description,
        admin_state_up: either(flags, 'enable', 'disable'),
      }),
    },
  });
}
