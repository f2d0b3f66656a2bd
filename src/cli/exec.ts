/**
 * `neutrino exec INSTANCE -- CMD [ARG…]`: runs a command inside an instance's network namespace,
 * with the terminal's stdin, stdout and stderr, and exits with the command's exit code. The
 * instance is named by name or id and resolved through the API; it runs on this host, or — in a
 * `neutrino lab` (`NEUTRINO_LAB_DIR`, or the lab whose clouds.yaml `OS_CLIENT_CONFIG_FILE` names)
 * — on the simulated host the instance is on. The command is an argument array handed to
 * `ip netns exec`, never a shell string. Without a command, a shell: `sh`, interactive on a
 * terminal with the instance in its prompt. Ctrl-C goes to the command (the terminal sends it to
 * both), not to this process, which waits for the command's exit code.
 */
import type { Command } from 'commander';
import { instanceNamespace } from '../agent/instances/instances.js';
import { sessionFromEnvironment } from '../client/session.js';
import { execInNamespace } from '../linux/exec.js';
import { listNamespaces } from '../linux/ip.js';
import { execInHostNamespace } from '../linux/lab-host.js';
import { findInstance, type Instance } from './instance.js';
import { labFromEnvironment } from './lab.js';

export function registerExecCommand(root: Command): void {
  root
    .command('exec <instance> [command...]')
    .description('run a command inside an instance (neutrino exec vm1 -- ping -c 1 10.0.0.5), or a shell')
    .allowUnknownOption()
    .allowExcessArguments()
    .action(async (nameOrId: string, given: string[]) => {
      const instance = await findInstance(sessionFromEnvironment(), nameOrId);
      const command = given.length > 0 ? given : shell(instance.name || instance.id);
      const ignore = () => {};
      process.on('SIGINT', ignore);
      try {
        process.exitCode = await run(instance, command);
      } finally {
        process.off('SIGINT', ignore);
      }
    });
}

/** `sh`, interactive on a terminal with the instance in its prompt (`env` sets PS1: no shell string). */
function shell(name: string): string[] {
  return process.stdin.isTTY ? ['env', `PS1=${name}# `, 'sh', '-i'] : ['sh'];
}

/** Runs `command` in the instance's namespace, on the lab host it is on or on this one; its exit code. */
async function run(instance: Instance, command: string[]): Promise<number> {
  const netns = instanceNamespace(instance.id);
  const labHost = labFromEnvironment()?.hosts.find((h) => h.name === instance.host);
  if (labHost) return execInHostNamespace(labHost, netns, command[0], command.slice(1));
  if (!(await listNamespaces()).includes(netns))
    throw new Error(
      `instance ${instance.name} (${instance.id}) has no namespace on this host` +
        (instance.host ? `; it is on host ${instance.host}` : ''),
    );
  return execInNamespace(netns, command[0], command.slice(1));
}
