/**
 * Typed wrappers of iproute2's `ip`: batched changes (`ip -batch`), JSON reads (`ip -json`) and
 * network namespace add/list/delete.
 */
import { assertNamespaceName, CommandError, type NetnsOption, run } from './exec.js';

export interface IpBatchOptions extends NetnsOption {
  /** Keep going after a failing line (`ip -force`). Default true. */
  force?: boolean;
}

/** One line of a batch that `ip` reported as failed. */
export interface IpBatchFailure {
  /** Index into the `lines` given to `ipBatch`. */
  index: number;
  command: readonly string[];
  /** What `ip` printed for it, e.g. `RTNETLINK answers: File exists`. */
  message: string;
}

/** A batch in which some lines failed; with `force` every other line was still applied. */
export class IpBatchError extends Error {
  readonly failures: readonly IpBatchFailure[];
  readonly stderr: string;

  constructor(failures: IpBatchFailure[], stderr: string) {
    const first = failures[0];
    super(
      first
        ? `ip -batch: ${failures.length} failed, first line ${first.index + 1} (${first.command.join(' ')}): ${first.message}`
        : `ip -batch failed: ${stderr.trim()}`,
    );
    this.name = 'IpBatchError';
    this.failures = failures;
    this.stderr = stderr;
  }
}

function netnsArgs(netns: string | undefined): string[] {
  if (netns === undefined) return [];
  assertNamespaceName(netns);
  return ['-n', netns];
}

/**
 * `ip -batch` splits each line on whitespace, treats `#` as the start of a comment, a leading quote
 * as a quoted word and a trailing backslash as a line continuation; a token containing any of
 * these would silently change the command, so it is refused here.
 */
export function assertBatchToken(token: string): void {
  if (token === '' || /[\s#'"\\\p{Cc}]/u.test(token)) {
    throw new Error(`unsafe token for ip -batch: ${JSON.stringify(token)}`);
  }
}

/**
 * Applies `lines` (each one `ip` command without the leading `ip`, e.g.
 * `['link', 'add', 'brq1', 'type', 'bridge']`) with one `ip [-n NS] [-force] -batch -` process.
 *
 * Measured (iproute2 6.1): without `-force`, ip stops at the first failing line (lines before it
 * stay applied; a batch is not a transaction); with `-force` it runs every line. Either way it exits
 * 1 and prints, for each failing line, the error message followed by `Command failed -:<line>`
 * (1-based) on stderr; that is how the failures below are attributed to lines. The reconciler wants
 * `-force`: independent actions still converge and each failed one is reported (and retried by the
 * next reconcile). Rejects with IpBatchError when any line fails.
 */
export async function ipBatch(
  lines: readonly (readonly string[])[],
  options: IpBatchOptions = {},
): Promise<void> {
  return toolBatch('ip', lines, options);
}

/**
 * `ipBatch` for another iproute2 tool with the same batch mode and failure lines (`bridge`; see
 * `bridge.ts`).
 */
export async function toolBatch(
  tool: 'ip' | 'bridge',
  lines: readonly (readonly string[])[],
  options: IpBatchOptions = {},
): Promise<void> {
  const { netns, force = true } = options;
  if (lines.length === 0) return;
  for (const line of lines) {
    if (line.length === 0) throw new Error(`empty command in ${tool} -batch`);
    line.forEach(assertBatchToken);
  }
  const input = lines.map((line) => `${line.join(' ')}\n`).join('');
  const args = [...netnsArgs(netns), ...(force ? ['-force'] : []), '-batch', '-'];
  const { code, stderr } = await run(tool, args, { input, allowFail: true });
  if (code === 0) return;
  throw new IpBatchError(batchFailures(lines, stderr), stderr);
}

function batchFailures(lines: readonly (readonly string[])[], stderr: string): IpBatchFailure[] {
  const failures: IpBatchFailure[] = [];
  let message: string[] = [];
  for (const text of stderr.split('\n')) {
    const failed = /^Command failed -:(\d+)$/.exec(text);
    if (!failed) {
      if (text.trim() !== '') message.push(text);
      continue;
    }
    const index = Number(failed[1]) - 1;
    failures.push({ index, command: lines[index] ?? [], message: message.join('\n') });
    message = [];
  }
  return failures;
}

/**
 * Runs `ip [-n NS] -json ARGS` and returns the parsed output, e.g. `ipJson(['-d', 'link', 'show'])`,
 * `ipJson(['addr', 'show'])`, `ipJson(['route', 'show'])`. Empty output (nothing to list) is `[]`.
 */
export async function ipJson<T = Record<string, unknown>[]>(
  args: readonly string[],
  options: NetnsOption = {},
): Promise<T> {
  const { stdout } = await run('ip', [...netnsArgs(options.netns), '-json', ...args]);
  return (stdout.trim() === '' ? [] : JSON.parse(stdout)) as T;
}

/**
 * Runs several read-only commands in one `ip [-n NS] -json -batch -` process, e.g.
 * `[['addr', 'show'], ['route', 'show', 'table', 'all']]`, and returns each one's parsed output in
 * order: ip prints one single-line JSON document per command.
 */
export async function ipJsonBatch(
  commands: readonly (readonly string[])[],
  options: NetnsOption = {},
): Promise<unknown[]> {
  for (const command of commands) command.forEach(assertBatchToken);
  const input = commands.map((command) => `${command.join(' ')}\n`).join('');
  const { stdout } = await run('ip', [...netnsArgs(options.netns), '-json', '-batch', '-'], { input });
  const documents = stdout
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line) as unknown);
  if (documents.length !== commands.length)
    throw new Error(`ip -json -batch: ${documents.length} outputs for ${commands.length} commands`);
  return documents;
}

/** Names of the named network namespaces (`ip -json netns list`); [] when there are none. */
export async function listNamespaces(): Promise<string[]> {
  const entries = await ipJson<{ name: string }[]>(['netns', 'list']);
  return entries.map((entry) => entry.name);
}

/** Creates network namespace `name`; rejects if it exists. */
export async function addNamespace(name: string): Promise<void> {
  assertNamespaceName(name);
  await run('ip', ['netns', 'add', name]);
}

/**
 * Deletes network namespace `name` and with it every interface inside (a veth's peer outside goes
 * too). Already absent is success, so cleanup can run twice.
 */
/** The processes inside namespace `name` (`ip netns pids`); none when it does not exist. */
export async function namespacePids(name: string): Promise<number[]> {
  assertNamespaceName(name);
  const { stdout } = await run('ip', ['netns', 'pids', name], { allowFail: true });
  return stdout
    .split('\n')
    .map((line) => Number(line.trim()))
    .filter((pid) => Number.isInteger(pid) && pid > 1);
}

export async function deleteNamespace(name: string): Promise<void> {
  assertNamespaceName(name);
  try {
    await run('ip', ['netns', 'delete', name]);
  } catch (err) {
    if (!(err instanceof CommandError && /No such file or directory/.test(err.stderr))) throw err;
  }
}

/** The interface of the current network namespace that holds address `ip`, if one does. */
export async function interfaceWithAddress(ip: string): Promise<string | undefined> {
  const links = await ipJson<{ ifname: string; addr_info?: { local: string }[] }[]>(['addr', 'show']);
  return links.find((link) => (link.addr_info ?? []).some((a) => a.local === ip))?.ifname;
}

interface RouteEntry {
  dst: string;
  gateway?: string;
  protocol?: string;
  metric?: number;
}

/**
 * Moves the addresses `cidrs` from device `from` to device `to` (brought up first when `up`), with
 * the routes through `from` that someone made (via a gateway; not the kernel's own prefix routes),
 * in one `ip -batch`. An address `from` no longer holds is only added to `to`.
 */
export async function moveAddresses(
  from: string,
  to: string,
  cidrs: readonly string[],
  options: { up?: boolean } = {},
): Promise<void> {
  const routes = (await ipJson<RouteEntry[]>(['route', 'show', 'dev', from]).catch(() => [])).filter(
    (r) => r.protocol !== 'kernel' && r.gateway !== undefined,
  );
  const [link] = await ipJson<{ addr_info?: { local: string; prefixlen: number }[] }[]>([
    'addr',
    'show',
    'dev',
    from,
  ]).catch(() => []);
  const present = new Set((link?.addr_info ?? []).map((a) => `${a.local}/${a.prefixlen}`));
  await ipBatch([
    ...(options.up ? [['link', 'set', to, 'up']] : []),
    ...cidrs.flatMap((cidr) => [
      ...(present.has(cidr) ? [['addr', 'del', cidr, 'dev', from]] : []),
      ['addr', 'replace', cidr, 'dev', to],
    ]),
    ...routes.map((r) => [
      ...['route', 'replace', r.dst, 'via', r.gateway!, 'dev', to],
      ...(r.metric === undefined ? [] : ['metric', String(r.metric)]),
    ]),
  ]);
}
