/**
 * `neutrino exec INSTANCE -- CMD [ARG…]`: runs a command inside an instance's network namespace on
 * this host, with the terminal's stdin, stdout and stderr, and exits with the command's exit code.
 * The instance is named by name or id and resolved through the API; the command is an argument
 * array handed to `ip netns exec`, never a shell string.
 */
import type { Command } from 'commander';
import { instanceNamespace } from '../agent/services/instances.js';
import { execInNamespace } from '../linux/exec.js';
import { listNamespaces } from '../linux/ip.js';
import { sessionFromEnvironment } from './client.js';
import { findInstance } from './instance.js';

export function registerExecCommand(root: Command): void {
  root
    .command('exec <instance> [command...]')
    .description('run a command inside an instance on this host: neutrino exec vm1 -- ping -c 1 10.0.0.5')
    .allowUnknownOption()
    .allowExcessArguments()
    .action(async (nameOrId: string, command: string[]) => {
      if (command.length === 0) throw new Error('no command given: neutrino exec INSTANCE -- CMD [ARG…]');
      const instance = await findInstance(sessionFromEnvironment(), nameOrId);
      const netns = instanceNamespace(instance.id);
      if (!(await listNamespaces()).includes(netns))
        throw new Error(
          `instance ${instance.name} (${instance.id}) has no namespace on this host` +
            (instance.host ? `; it is on host ${instance.host}` : ''),
        );
      process.exitCode = await execInNamespace(netns, command[0], command.slice(1));
    });
}
