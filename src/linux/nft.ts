/**
 * Typed wrappers of `nft`: apply a ruleset as one atomic transaction, read rules back as JSON or as
 * nft's own text (one table, or several objects at once).
 */
import { CommandError, type NetnsOption, runMaybeInNamespace } from './exec.js';

/** One element of `nft -j` output: `{metainfo: …}`, `{table: …}`, `{chain: …}`, `{rule: …}`, … */
export type NftJsonEntry = Record<string, Record<string, unknown>>;

/**
 * Applies `ruleset` (nft's own syntax, e.g. `table inet neutrino-x { … }` or `delete table …`) with
 * `nft -f -`. nft loads the whole text as one transaction: on any error nothing changes and the
 * promise rejects with nft's message (which quotes the offending line).
 */
export async function nftApply(ruleset: string, options: NetnsOption = {}): Promise<void> {
  await runMaybeInNamespace(options.netns, 'nft', ['-f', '-'], { input: ruleset });
}

/**
 * Runs `nft -j ARGS` (e.g. `['list', 'ruleset']`, `['list', 'table', 'inet', 'neutrino-x']`) and
 * returns the `nftables` array of its output, the leading `metainfo` entry included.
 */
export async function nftJson(args: readonly string[], options: NetnsOption = {}): Promise<NftJsonEntry[]> {
  const { stdout } = await runMaybeInNamespace(options.netns, 'nft', ['-j', ...args]);
  if (stdout.trim() === '') return [];
  return (JSON.parse(stdout) as { nftables: NftJsonEntry[] }).nftables;
}

/**
 * nft's listing of one table (`nft list table FAMILY NAME`, no handles, so the same rules always
 * list the same), or undefined when the table does not exist.
 */
export async function nftListTable(
  family: string,
  name: string,
  options: NetnsOption = {},
): Promise<string | undefined> {
  const args = ['list', 'table', family, name];
  const { code, stdout, stderr } = await runMaybeInNamespace(options.netns, 'nft', args, { allowFail: true });
  if (code === 0) return stdout;
  if (/No such file or directory/.test(stderr)) return undefined;
  throw new CommandError('nft', args, code, stderr, stdout);
}

/**
 * nft's text listings of several objects, concatenated in order: `commands` are nft `list` commands
 * (e.g. `list chain inet t c`, `list set inet t s`, `list counters table bridge t`), one process
 * each, run at once (nft 1.0.6 answers only the last of several `list` commands of one `-f` file).
 * Rejects when any of them fails (e.g. a table that does not exist).
 */
export async function nftList(commands: readonly string[], options: NetnsOption = {}): Promise<string> {
  for (const command of commands)
    if (!/^list [a-z]+( [A-Za-z0-9_.-]+){1,4}$/.test(command))
      throw new Error(`not an nft list command: ${command}`);
  const outputs = await Promise.all(
    commands.map((c) => runMaybeInNamespace(options.netns, 'nft', c.split(' '))),
  );
  return outputs.map((o) => o.stdout).join('');
}
