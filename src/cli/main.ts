/**
 * The `neutrino` command: server, up/down/agent, and the client commands (resources, apply,
 * exec). Heavy modules (the server, the agent) are imported by the actions that need them, so
 * client commands start quickly.
 */
import { Command } from 'commander';
import type { Flags } from '../config.js';
import { registerClientCommands } from './client-commands.js';
import { registerExecCommand } from './exec.js';

function serverOptions(cmd: Command): Command {
  return cmd
    .option('--config <file>', 'YAML configuration file')
    .option('--host <address>', 'address to listen on (default 127.0.0.1)')
    .option('--port <port>', 'port to listen on (default 9696)')
    .option('--state-dir <dir>', 'state directory (default /var/lib/neutrino)')
    .option(
      '--db <url>',
      'database URL: a SQLite file path or postgres://… (default: SQLite in the state dir)',
    )
    .option('--public-url <url>', 'base URL clients use, for the catalog and links')
    .option('--noauth', 'no authentication: every caller is admin (auth_strategy=noauth)')
    .option('--log-level <level>', 'pino log level (default info)');
}

/** `agent` and `down`; their code (server, agent, kernel) loads only when they run. */
function registerDataplaneCommands(root: Command): void {
  root
    .command('agent')
    .description('run the agent for one host: realises what the server binds to it')
    .requiredOption('--server <url>', "the server's base URL, e.g. http://controller:9696")
    .requiredOption('--host <name>', "this host's name (ports are bound to it)")
    .option(
      '--tunnel-ip <address>',
      "this host's VXLAN tunnel endpoint, one of its addresses (config local_ip)",
    )
    .option(
      '--roles <roles>',
      'what this host does: compute (instances), network (DHCP, routers); default both',
    )
    .option('--state-dir <dir>', 'state directory (default /var/lib/neutrino); the agent uses <dir>/agent')
    .option('--resync-interval <seconds>', 'full resync period (default 60)')
    .option('--cleanup-on-exit', 'remove the data plane when stopped (default: leave it running)')
    .option('--config <file>', 'YAML configuration file (physical_interface_mappings, logLevel)')
    .option('--log-level <level>', 'pino log level (default info)')
    .action(async (flags) => (await import('./dataplane.js')).agent(flags));
  root
    .command('down')
    .description('stop a running neutrino up/agent and remove every kernel object and process it created')
    .option('--state-dir <dir>', 'state directory (default /var/lib/neutrino)')
    .option('--config <file>', 'YAML configuration file')
    .action(async (flags) => (await import('./dataplane.js')).down(flags));
}

export function program(): Command {
  const root = new Command('neutrino')
    .description('OpenStack Networking for Linux hosts')
    .showHelpAfterError();
  serverOptions(root.command('server').description('run the API server (Neutron v2.0 + identity)')).action(
    async (flags: Flags) => {
      const { loadConfig } = await import('../config.js');
      const { startServer } = await import('./server.js');
      const running = await startServer(loadConfig(flags));
      process.stdout.write(`neutrino server listening on ${running.url}\n`);
      process.stdout.write(
        `  networking API: ${running.url}/v2.0\n  identity:       ${running.url}/identity/v3\n`,
      );
      const stop = async () => {
        await running.close();
        process.exit(0);
      };
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    },
  );
  serverOptions(
    root.command('up').description('all-in-one: API server, identity and the local agent, with SQLite'),
  )
    .option('--host-name <name>', "this host's name for the agent (default: the system's hostname)")
    .option('--resync-interval <seconds>', "the agent's full resync period (default 60)")
    .option('--cleanup-on-exit', 'remove the data plane on Ctrl-C/SIGTERM (default: leave it running)')
    .option('--external-cidr <cidr>', 'the external network `public` (default 203.0.113.0/24)')
    .option('--external-bridge <name>', 'the host bridge carrying it, created if absent (default br-ex)')
    .option('--no-external-network', 'create neither the external bridge nor the network')
    .action(async (flags) => (await import('./dataplane.js')).up(flags));
  registerDataplaneCommands(root);
  registerClientCommands(root);
  registerExecCommand(root);
  return root;
}

export async function main(argv: string[]): Promise<void> {
  try {
    await program().parseAsync(argv);
  } catch (err) {
    process.stderr.write(`neutrino: ${(err as Error).message}\n`);
    process.exitCode = 1;
  }
}
