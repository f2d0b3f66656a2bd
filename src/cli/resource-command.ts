/**
 * Builds a resource's `list`, `show`, `create`, `set`, `unset` and `delete` commands from a
 * declarative spec, so every resource behaves the same: names or ids wherever ids go, openstack
 * option names, `-f`/`-c` output, tags (`--tag`, `--no-tag`, `--all-tag`, `--tags` filters) and
 * the standard `--project`, `--name` and `--description`. Resource files declare only their own
 * options, list columns and how flags become a request body.
 */
import { type Command, InvalidArgumentError, Option } from 'commander';
import { type Session, sessionFromEnvironment } from '../client/session.js';
import { collect, formatList, formatShow, type OutputFlags, outputOptions, print } from './output.js';
import { find, KINDS, type Kind, list, nameMap, type Row } from './resolve.js';

export type Flags = Record<string, unknown> & OutputFlags;
export type Body = Record<string, unknown>;
type Filters = Record<string, string | string[] | undefined>;

export interface Column {
  header: string;
  /** The raw value (json and yaml keep it as is; tables format it). */
  value: (row: Row) => unknown;
  /** Shown only with `--long`. */
  long?: boolean;
  /** The value is an id (or ids) of this collection: tables show each beside its name. */
  ref?: Kind;
  /** How tables and `-f value` show the value (default: `cellText`). */
  text?: (value: unknown) => string;
}

/** A column of one attribute, or of a computed value. */
export function column(
  header: string,
  value: string | ((row: Row) => unknown),
  long = false,
  more: Pick<Column, 'ref' | 'text'> = {},
): Column {
  return { header, value: typeof value === 'string' ? (row) => row[value] : value, long, ...more };
}

/** A column of ids of `kind` (`network_id`, `security_groups`): tables show `name (id)`. */
export function idColumn(header: string, attribute: string, kind: Kind, long = false): Column {
  return column(header, attribute, long, { ref: kind });
}

/**
 * The values of a listing as tables show them: ids of `ref` columns as `name (id)` (one list call
 * per collection referenced, not one per row), `text` columns as text. json and yaml keep raw values.
 */
async function displayed(session: Session, columns: Column[], values: unknown[][]): Promise<unknown[][]> {
  const ids = (v: unknown): string[] =>
    [v].flat().filter((id): id is string => typeof id === 'string' && id !== '');
  const kinds = [
    ...new Set(
      columns
        .filter((c, i) => c.ref && values.some((row) => ids(row[i]).length > 0))
        .map((c) => c.ref as Kind),
    ),
  ];
  const names = new Map(await Promise.all(kinds.map(async (k) => [k, await nameMap(session, k)] as const)));
  const label = (kind: Kind, id: string) => {
    const name = names.get(kind)?.get(id);
    return name && name !== id ? `${name} (${id})` : id;
  };
  return values.map((row) =>
    row.map((value, i) => {
      const { ref, text } = columns[i];
      if (ref)
        return Array.isArray(value)
          ? value.map((id) => label(ref, String(id)))
          : value
            ? label(ref, String(value))
            : value;
      return text ? text(value) : value;
    }),
  );
}

interface Verb {
  /** The verb's own options. */
  options?: (cmd: Command) => void;
  /** The request body from the flags; for set/unset also from the current object. */
  body: (session: Session, flags: Flags, subject: Row) => Promise<Body>;
}

export interface ResourceSpec {
  /** The command noun: `network`, `security-group`. */
  noun: string;
  kind: Kind;
  description: string;
  columns: Column[];
  /**
   * Neutron's standard attributes: `--project`/`--description` on create, `--name`/`--description`
   * on set, `--project`/`--name` list filters, and tags when `tags` is set.
   */
  standard?: boolean;
  /** False for resources without a name (floating IPs): no `--name` options. */
  named?: boolean;
  tags?: boolean;
  listOptions?: (cmd: Command) => void;
  /** An optional positional of `list`, e.g. `[group]`, passed to `listFilters`. */
  listArgument?: string;
  listFilters?: (session: Session, flags: Flags, argument?: string) => Promise<Filters>;
  /** Makes a listing's rows ready for its columns (e.g. looks up names once). */
  listRows?: (session: Session, rows: Row[]) => Promise<Row[]>;
  /** What `show` (and create) print for an object; by default the object itself. */
  view?: (session: Session, row: Row) => Promise<Record<string, unknown>>;
  /** `create <arg>`: the positional (default `<name>`, put in the body as `name`). */
  create?: Verb & {
    argument?: string;
    argumentBody?: (session: Session, arg: string, flags: Flags) => Promise<Body>;
    /** Runs on the created object before it is shown (e.g. waits for it). */
    after?: (session: Session, created: Row, flags: Flags) => Promise<Row>;
  };
  set?: Verb;
  unset?: Verb;
}

/** `--no-X` as a flag of its own (`flags.noX`), not commander's negation of `--X`. */
export function flag(flags: string, description: string): Option {
  const option = new Option(flags, description);
  option.negate = false;
  return option;
}

/** Exactly one of two opposite flags, as a value: `--enable/--disable` → true/false/undefined. */
export function either(flags: Flags, yes: string, no: string): boolean | undefined {
  if (flags[yes] && flags[no]) throw new Error(`--${kebab(yes)} and --${kebab(no)} exclude each other`);
  return flags[yes] ? true : flags[no] ? false : undefined;
}

const kebab = (name: string) => name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);

/** Adds `--X`/`--Y` (e.g. `--enable`/`--disable`) as two plain flags. */
export function pair(cmd: Command, yes: string, yesText: string, no: string, noText: string): void {
  cmd.option(`--${yes}`, yesText).option(`--${no}`, noText);
}

/**
 * Parses `key=value,key=value` (the openstack CLI's multi-value options) keeping `keys`;
 * `required` must be present. Keys come back as given.
 */
export function keyValues(text: string, option: string, keys: string[], required: string[] = []) {
  const out: Record<string, string> = {};
  for (const part of text.split(',')) {
    const eq = part.indexOf('=');
    const key = eq < 0 ? part : part.slice(0, eq);
    if (eq < 0 || !keys.includes(key))
      throw new Error(`--${option} ${text}: expected ${keys.map((k) => `${k}=…`).join(',')}`);
    out[key] = part.slice(eq + 1);
  }
  const missing = required.filter((k) => out[k] === undefined);
  if (missing.length > 0) throw new Error(`--${option} ${text}: missing ${missing.join(', ')}`);
  return out;
}

/** Parses an integer option value (commander reports the error with the option's name). */
export function integer(value: string): number {
  if (!/^-?\d+$/.test(value)) throw new InvalidArgumentError('not an integer');
  return Number(value);
}

/** Drops undefined values (so a body names only what was asked for). */
export function defined(body: Body): Body {
  return Object.fromEntries(Object.entries(body).filter(([, v]) => v !== undefined));
}

export async function projectId(session: Session, ref: unknown): Promise<string | undefined> {
  return typeof ref === 'string' ? (await find(session, KINDS.project, ref)).id : undefined;
}

/** Registers the noun and its verbs; returns the noun's command for extra subcommands. */
export function registerResource(root: Command, spec: ResourceSpec): Command {
  const noun = root.command(spec.noun).description(spec.description);
  registerList(noun, spec);
  registerShow(noun, spec);
  if (spec.create) registerCreate(noun, spec, spec.create);
  if (spec.set || (spec.standard && spec.kind.update)) registerUpdate(noun, spec, 'set', spec.set);
  if (spec.unset || spec.tags) registerUpdate(noun, spec, 'unset', spec.unset);
  registerDelete(noun, spec);
  return noun;
}

function registerList(noun: Command, spec: ResourceSpec): void {
  const cmd = noun.command('list').description(`list ${spec.kind.label}s`);
  if (spec.listArgument) cmd.argument(spec.listArgument);
  spec.listOptions?.(cmd);
  if (spec.standard) {
    if (spec.named !== false) cmd.option('--name <name>', `only ${spec.kind.label}s of this name`);
    cmd.option('--project <project>', 'only those of this project (name or id)');
  }
  if (spec.tags) {
    cmd
      .option('--tags <tag,…>', 'only those with all of these tags')
      .option('--any-tags <tag,…>', 'only those with any of these tags')
      .option('--not-tags <tag,…>', 'exclude those with all of these tags')
      .option('--not-any-tags <tag,…>', 'exclude those with any of these tags');
  }
  if (spec.columns.some((c) => c.long)) cmd.option('--long', 'show more columns');
  outputOptions(cmd).action(async (...args: unknown[]) => {
    const flags = args.at(-2) as Flags;
    const argument = spec.listArgument ? (args[0] as string | undefined) : undefined;
    const session = sessionFromEnvironment();
    const filters: Filters = { ...(await spec.listFilters?.(session, flags, argument)) };
    if (spec.standard) {
      filters.name = flags.name as string | undefined;
      filters.project_id = await projectId(session, flags.project);
    }
    if (spec.tags) {
      filters.tags = flags.tags as string | undefined;
      filters['tags-any'] = flags.anyTags as string | undefined;
      filters['not-tags'] = flags.notTags as string | undefined;
      filters['not-tags-any'] = flags.notAnyTags as string | undefined;
    }
    let rows = await list(session, spec.kind, filters);
    if (spec.listRows) rows = await spec.listRows(session, rows);
    const columns = spec.columns.filter((c) => !c.long || flags.long);
    let values = rows.map((row) => columns.map((c) => c.value(row)));
    if (flags.format === 'table') values = await displayed(session, columns, values);
    else if (flags.format === 'value')
      values = values.map((row) => row.map((v, i) => (columns[i].text ? columns[i].text(v) : v)));
    print(
      formatList(
        columns.map((c) => c.header),
        values,
        flags,
      ),
    );
  });
}

async function show(session: Session, spec: ResourceSpec, row: Row, flags: Flags): Promise<void> {
  print(formatShow(spec.view ? await spec.view(session, row) : row, flags));
}

function registerShow(noun: Command, spec: ResourceSpec): void {
  outputOptions(
    noun.command(`show <${spec.noun}>`).description(`show a ${spec.kind.label} (name or id)`),
  ).action(async (ref: string, flags: Flags) => {
    const session = sessionFromEnvironment();
    await show(session, spec, await find(session, spec.kind, ref), flags);
  });
}

function tagOptions(cmd: Command, verb: 'create' | 'set' | 'unset'): void {
  if (verb === 'unset') {
    cmd.option('--tag <tag>', 'remove this tag (repeatable)', collect);
    cmd.option('--all-tag', 'remove every tag');
    return;
  }
  cmd.option('--tag <tag>', 'add this tag (repeatable)', collect);
  cmd.addOption(flag('--no-tag', verb === 'create' ? 'no tags' : 'remove every tag before adding --tag'));
}

function registerCreate(noun: Command, spec: ResourceSpec, verb: NonNullable<ResourceSpec['create']>): void {
  const argument = verb.argument ?? '<name>';
  const cmd = noun.command(`create ${argument}`).description(`create a ${spec.kind.label}`);
  verb.options?.(cmd);
  if (spec.standard) {
    cmd.option('--description <text>', `the ${spec.kind.label}'s description`);
    cmd.option('--project <project>', 'owner project (admin; name or id)');
  }
  if (spec.tags) tagOptions(cmd, 'create');
  outputOptions(cmd).action(async (arg: string, flags: Flags) => {
    const session = sessionFromEnvironment();
    const body: Body = {
      ...(verb.argumentBody ? await verb.argumentBody(session, arg, flags) : { name: arg }),
      ...defined(await verb.body(session, flags, { id: '' })),
    };
    if (spec.standard) {
      body.description = flags.description;
      body.project_id = await projectId(session, flags.project);
    }
    if (spec.tags && (flags.tag || flags.noTag)) body.tags = flags.tag ?? [];
    const created = (
      await session.post<Record<string, Row>>(spec.kind.path, { [spec.kind.member]: defined(body) })
    )[spec.kind.member];
    await show(session, spec, verb.after ? await verb.after(session, created, flags) : created, flags);
  });
}

function registerUpdate(
  noun: Command,
  spec: ResourceSpec,
  name: 'set' | 'unset',
  verb: Verb | undefined,
): void {
  const cmd = noun
    .command(`${name} <${spec.noun}>`)
    .description(`${name === 'set' ? 'change' : 'clear'} properties of a ${spec.kind.label}`);
  verb?.options?.(cmd);
  if (spec.standard && name === 'set') {
    if (spec.named !== false) cmd.option('--name <name>', 'new name');
    cmd.option('--description <text>', 'new description');
  }
  if (spec.tags) tagOptions(cmd, name);
  cmd.action(async (ref: string, flags: Flags) => {
    const session = sessionFromEnvironment();
    const current = await find(session, spec.kind, ref);
    const body = defined({
      ...(spec.standard && name === 'set' ? { name: flags.name, description: flags.description } : {}),
      ...(await verb?.body(session, flags, current)),
    });
    const path = `${spec.kind.path}/${current.id}`;
    if (Object.keys(body).length > 0) {
      if (!spec.kind.update) throw new Error(`a ${spec.kind.label} cannot be changed`);
      await session.request(spec.kind.update, path, { [spec.kind.member]: body });
    }
    if (spec.tags) await updateTags(session, path, current, flags, name);
  });
}

async function updateTags(
  session: Session,
  path: string,
  current: Row,
  flags: Flags,
  verb: 'set' | 'unset',
): Promise<void> {
  const had = (current.tags as string[] | undefined) ?? [];
  const given = (flags.tag as string[] | undefined) ?? [];
  let tags: string[];
  if (verb === 'set') tags = [...new Set([...(flags.noTag ? [] : had), ...given])];
  else tags = flags.allTag ? [] : had.filter((t) => !given.includes(t));
  if (tags.length !== had.length || tags.some((t, i) => t !== had[i]))
    await session.put(`${path}/tags`, { tags });
}

function registerDelete(noun: Command, spec: ResourceSpec): void {
  noun
    .command(`delete <${spec.noun}...>`)
    .description(`delete ${spec.kind.label}s (names or ids)`)
    .action(async (refs: string[]) => {
      const session = sessionFromEnvironment();
      let failed = 0;
      for (const ref of refs) {
        try {
          const found = await find(session, spec.kind, ref);
          await session.delete(`${spec.kind.path}/${found.id}`);
        } catch (err) {
          failed++;
          process.stderr.write(
            `Failed to delete ${spec.kind.label} with name or ID '${ref}': ${(err as Error).message}\n`,
          );
        }
      }
      if (failed > 0) throw new Error(`${failed} of ${refs.length} ${spec.kind.label}s failed to delete`);
    });
}
