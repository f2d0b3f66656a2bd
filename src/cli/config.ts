/**
 * `neutrino config check FILE` (prints `ok`, or every problem as `file:line:col: key: message` and
 * exits 1) and `neutrino config schema` (the configuration's JSON Schema, as
 * `docs/config.schema.json` publishes it). The schema itself is in `src/config.ts`.
 */
import type { Command } from 'commander';
import { publishedConfigSchemaText, readConfigFile } from '../config.js';

export function registerConfigCommands(root: Command): void {
  const config = root
    .command('config')
    .description('the configuration file of up, server and agent: check it, print its schema');
  config
    .command('check <file>')
    .description('check a configuration file against the schema: "ok", or each problem with its place')
    .action((file: string) => {
      readConfigFile(file);
      process.stdout.write('ok\n');
    });
  config
    .command('schema')
    .description('print the JSON Schema of configuration files (docs/config.schema.json)')
    .action(() => {
      process.stdout.write(publishedConfigSchemaText());
    });
}
