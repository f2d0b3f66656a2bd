/**
 * Typed wrappers of `nft`: apply a ruleset as one atomic transaction, read rules back as JSON.
 */
import { type NetnsOption, runMaybeInNamespace } from './exec.js';

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
