/**
 * The `neutrino` command: server, up/down/agent, config, and the client commands (resources,
 * apply, exec). Heavy modules (the server, the agent) are imported by the actions that need them,
 * so client commands start quickly. A usage error (unknown option, missing argument) is one line
 * and exit code 2; a failed command is one line and exit code 1.
 */
import { readFileSync } from 'node:fs';
import { Command, CommanderError } from 'commander';
import type { Flags } from '../config.js';
import { registerClientCommands } from './client-commands.js';
import { registerConfigCommands } from './config.js';
import { registerExecCommand } from './exec.js';

/** Exit code of a usage error, as getopt-style tools have it. */
const USAGE_ERROR = 2;

/** The version in package.json (two levels up from both src/cli and dist/cli). */
const DRIVER_HELP = 'the L2 driver: linuxbridge (default) or openvswitch (config mechanism_driver)';

function version(): string {
  const file = new URL('../../package.json', import.meta.url);
  return (JSON.parse(readFileSync(file, 'utf8')) as { version: string }).version;
}

/**
 * The options given on the command line, without commander's defaults (`--no-external-network`
 * defaults `externalNetwork` to true), so they override the configuration file only when given.
 */
function given(cmd: Command): Flags {
  const options = cmd.opts();
  return Object.fromEntries(
    Object.keys(options)
      .filter((k) => cmd.getOptionValueSource(k) === 'cli')
      .map((k) => [k, options[k]]),
  );
}

/** Every command's usage errors as one line naming its help: `neutrino: … (see 'neutrino x --help')`. */
function oneLineUsageErrors(cmd: Command, path: string): void {
  const oneLine = (text: string) =>
    text
      .replace(/^error: /, '')
      .trim()
      .replace(/\s*\n\s*/g, ' ');
  cmd.configureOutput({
    outputError: (text, write) => write(`neutrino: ${oneLine(text)} (see '${path} --help')\n`),
  });
  for (const sub of cmd.commands) oneLineUsageErrors(sub, `${path} ${sub.name()}`);
}

const LOG_FORMAT_HELP = 'json or pretty (default: pretty on a terminal, else json; NEUTRINO_LOG_FORMAT)';

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
    .option('--log-level <level>', 'pino log level (default info)')
    .option('--log-format <format>', LOG_FORMAT_HELP);
}

/** `agent` and `down`; their code (server, agent, kernel) loads only when they run. */
function registerDataplaneCommands(root: Command): void {
  root
    .command('agent')
    .description('run the agent for one host: realises what the server binds to it')
    .option(
      '--server <urls>',
      "the server's base URL, e.g. http://controller:9696, or several comma-separated (config server_url)",
    )
    .option('--host <name>', "this host's name, as ports are bound to it (config host_name)")
    .option(
      '--tunnel-ip <address>',
      "this host's VXLAN tunnel endpoint, one of its addresses (config local_ip)",
    )
    .option(
      '--roles <roles>',
      'what this host does: compute (instances), network (DHCP, routers); default both',
    )
    .option('--driver <name>', DRIVER_HELP)
    .option('--state-dir <dir>', 'state directory (default /var/lib/neutrino); the agent uses <dir>/agent')
    .option('--resync-interval <seconds>', 'full resync period (default 60)')
    .option('--cleanup-on-exit', 'remove the data plane when stopped (default: leave it running)')
    .option('--config <file>', 'YAML configuration file (see neutrino config schema)')
    .option('--log-level <level>', 'pino log level (default info)')
    .option('--log-format <format>', LOG_FORMAT_HELP)
    .action(async (_, cmd: Command) => (await import('./dataplane.js')).agent(given(cmd)));
  const lab = root
    .command('lab')
    .description(
      'several simulated hosts on this machine (namespaces), an agent in each, a server beside them',
    );
  lab
    .command('up')
    .description('create the lab: hosts, underlay, server, agents; writes <state-dir>/clouds.yaml')
    .option('--hosts <n>', 'how many hosts (default 3)')
    .option(
      '--network-hosts <m>',
      'how many of them are network+compute hosts; the others are compute (default 1)',
    )
    .option('--state-dir <dir>', 'state directory (default /var/lib/neutrino-lab)')
    .option('--resync-interval <seconds>', "the agents' full resync period (default 60)")
    .option('--agent-down-time <seconds>', 'seconds without a heartbeat before an agent is dead (default 30)')
    .option('--report-interval <seconds>', "the agents' heartbeat period (default 10)")
    .option('--log-level <level>', 'pino log level of the server and agents (default info)')
    .option('--database <url>', "the servers' database, postgres://… (default: SQLite in the state dir)")
    .option('--servers <n>', 'how many API servers, on one --database postgres://… (default 1)')
    .option(
      '--driver <name>',
      "the hosts' L2 driver: linuxbridge (default) or openvswitch; a,b gives them out in turn (mixed hosts)",
    )
    .option(
      '--setting <key=value>',
      "a server setting (a key of the configuration file's settings), e.g. dhcp_agents_per_network=2; repeatable",
      (value: string, previous: string[] = []) => [...previous, value],
    )
    .action(async (flags) => (await import('./lab.js')).labUp(flags));
  lab
    .command('down')
    .description('remove the lab: agents, their data planes, the server, every namespace and link it made')
    .option('--state-dir <dir>', 'state directory (default /var/lib/neutrino-lab)')
    .action(async (flags) => (await import('./lab.js')).labDown(flags));
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
    .version(version(), '-V, --version', 'print the version')
    .exitOverride();
  serverOptions(root.command('server').description('run the API server (Neutron v2.0 + identity)')).action(
    async (_, cmd: Command) => {
      const { loadConfig } = await import('../config.js');
      const { startServer } = await import('./server.js');
      const { createLogger, logFormat } = await import('./logger.js');
      const flags = given(cmd);
      const config = loadConfig(flags);
      const log = createLogger(config.logLevel, logFormat(config.logFormat));
      const running = await startServer(config, log);
      // The banner goes to stderr: stdout carries only log lines.
      process.stderr.write(`neutrino server listening on ${running.url}\n`);
      process.stderr.write(
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
    .option(
      '--tunnel-ip <address>',
      "this host's VXLAN tunnel endpoint, for agents of other hosts to join (config local_ip)",
    )
    .option('--resync-interval <seconds>', "the agent's full resync period (default 60)")
    .option('--driver <name>', DRIVER_HELP)
    .option('--cleanup-on-exit', 'remove the data plane on Ctrl-C/SIGTERM (default: leave it running)')
    .option(
      '--external-cidr <cidr>',
      'the external network `public` (default: the first of 198.51.100.0/24, 203.0.113.0/24, 192.0.2.0/24, 198.18.0.0/24… the host does not route)',
    )
    .option('--external-bridge <name>', 'the host bridge carrying it, created if absent (default br-ex)')
    .option('--no-external-network', 'create neither the external bridge nor the network')
    .action(async (_, cmd: Command) => (await import('./dataplane.js')).up(given(cmd)));
  registerDataplaneCommands(root);
  registerConfigCommands(root);
  registerClientCommands(root);
  registerExecCommand(root);
  oneLineUsageErrors(root, 'neutrino');
  return root;
}

export async function main(argv: string[]): Promise<void> {
  try {
    await program().parseAsync(argv);
  } catch (err) {
    if (err instanceof CommanderError) {
      // Already written by commander: help or the version (0), or a usage error.
      const done = ['commander.helpDisplayed', 'commander.version'].includes(err.code);
      process.exitCode = done ? 0 : USAGE_ERROR;
      return;
    }
    process.stderr.write(`neutrino: ${(err as Error).message}\n`);
    process.exitCode = 1;
  }
}
