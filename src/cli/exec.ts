/**
 * `neutrino exec INSTANCE -- CMD [ARG…]`: runs a command inside an instance's network namespace,
 * with the terminal's stdin, stdout and stderr, and exits with the command's exit code. The
 * instance is named by name or id and resolved through the API; it runs on this host, or — in a
 * `neutrino lab` (`NEUTRINO_LAB_DIR`, or the lab whose clouds.yaml `OS_CLIENT_CONFIG_FILE` names)
 * — on the simulated host the instance is on. The command is an argument array handed to
 * `ip netns exec`, never a shell string.
 */
import type { Command } from 'commander';
import { instanceNamespace } from '../agent/services/instances.js';
import { execInNamespace } from '../linux/exec.js';
import { listNamespaces } from '../linux/ip.js';
import { execInHostNamespace } from '../linux/lab-host.js';
import { sessionFromEnvironment } from './client.js';
import { findInstance } from './instance.js';
import { labFromEnvironment } from './lab.js';

export function registerExecCommand(root: Command): void {
  root
    .command('exec <instance> [command...]')
    .description('run a command inside an instance: neutrino exec vm1 -- ping -c 1 10.0.0.5')
    .allowUnknownOption()
    .allowExcessArguments()
    .action(async (nameOrId: string, command: string[]) => {
      if (command.length === 0) throw new Error('no command given: neutrino exec INSTANCE -- CMD [ARG…]');
      const instance = await findInstance(sessionFromEnvironment(), nameOrId);
      const netns = instanceNamespace(instance.id);
      const labHost = labFromEnvironment()?.hosts.find((h) => h.name === instance.host);
      if (labHost) {
        process.exitCode = await execInHostNamespace(labHost, netns, command[0], command.slice(1));
        return;
      }
      if (!(await listNamespaces()).includes(netns))
        throw new Error(
          `instance ${instance.name} (${instance.id}) has no namespace on this host` +
            (instance.host ? `; it is on host ${instance.host}` : ''),
        );
      process.exitCode = await execInNamespace(netns, command[0], command.slice(1));
    });
}
