/**
 * Registers `neutrino apply FILE [--plan]` and `neutrino destroy FILE [--plan]`: make the API hold
 * what a topology file says (idempotent: a second apply prints "no changes"), waiting until its
 * instances are ACTIVE; or remove everything the file owns and nothing else. The work is in
 * `run.ts`, loaded only when these commands run (the schema and planner take a while to load).
 */
import type { Command } from 'commander';
import { integer } from '../resource-command.js';

export function registerTopologyCommands(root: Command): void {
  root
    .command('apply <file>')
    .description('create or change what a topology file describes (see docs/cli.md)')
    .option('--plan', 'only print what would be created, changed or deleted')
    .option('--timeout <seconds>', 'how long to wait for instances to become ACTIVE (default 300)', integer)
    .action(async (file: string, flags: { plan?: boolean; timeout?: number }) =>
      (await import('./run.js')).apply(file, flags),
    );

  root
    .command('destroy <file>')
    .description('delete everything a topology file created, and nothing else')
    .option('--plan', 'only print what would be deleted')
    .action(async (file: string, flags: { plan?: boolean }) =>
      (await import('./run.js')).destroy(file, flags),
    );
}
