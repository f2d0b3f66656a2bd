/**
 * How the client commands print what they get, as the openstack CLI does: `-f table` (boxes; a
 * Field/Value table for one object), `-f json`, `-f yaml`, `-f value` (bare values, one row per
 * line), and `-c COLUMN` (repeatable) to keep only some columns. Tables show values formatted for
 * people (one list item or dict per line, dicts as `key='value'`, `UP`/`DOWN`) and fit the
 * terminal (`--max-width N`, `--fit-width`): columns are measured in display width
 * (`display-width.ts`) and long cells wrap. json and yaml keep values raw.
 */
import { type Command, InvalidArgumentError, Option } from 'commander';
import { stringify } from 'yaml';
import { clusterWidth, displayWidth, graphemes, padEnd } from './display-width.js';

export const FORMATS = ['table', 'json', 'yaml', 'value'] as const;
export type Format = (typeof FORMATS)[number];

export interface OutputFlags {
  format: Format;
  column?: string[];
  /** Tables at most this wide (0: no limit). */
  maxWidth?: number;
  /** Fit tables to the terminal's width even when the output is not a terminal. */
  fitWidth?: boolean;
}

/** Collects a repeatable option's values: `--tag a --tag b` → `['a', 'b']`. */
export const collect = (value: string, previous: string[] | undefined): string[] => [
  ...(previous ?? []),
  value,
];

function width(value: string): number {
  if (!/^\d+$/.test(value)) throw new InvalidArgumentError('not a number of columns');
  return Number(value);
}

/** Adds `-f/--format`, `-c/--column`, `--max-width` and `--fit-width` to a command that prints objects. */
export function outputOptions(cmd: Command): Command {
  return cmd
    .addOption(new Option('-f, --format <format>', 'output format').choices(FORMATS).default('table'))
    .option('-c, --column <column>', 'show only this column (repeatable)', collect)
    .option('--max-width <n>', 'tables at most N columns wide, wrapping cells (0: no limit)', width)
    .option('--fit-width', "fit tables to the terminal's width even when not printing to one");
}

interface Terminal {
  isTTY?: boolean;
  columns?: number;
}

/**
 * How wide tables may be: `--max-width`, else on a terminal (or with `--fit-width`) `$COLUMNS` or
 * the terminal's width (80 when `--fit-width` finds neither); else no limit, so piped output keeps
 * whole lines.
 */
export function tableWidth(
  flags: Pick<OutputFlags, 'maxWidth' | 'fitWidth'>,
  env: NodeJS.ProcessEnv = process.env,
  stdout: Terminal = process.stdout,
): number | undefined {
  if (flags.maxWidth !== undefined) return flags.maxWidth > 0 ? flags.maxWidth : undefined;
  if (!stdout.isTTY && !flags.fitWidth) return undefined;
  const columns = Number(env.COLUMNS);
  if (Number.isInteger(columns) && columns > 0) return columns;
  return stdout.isTTY && stdout.columns ? stdout.columns : flags.fitWidth ? 80 : undefined;
}

function dictText(value: Record<string, unknown>): string {
  return Object.keys(value)
    .sort()
    .map((k) => `${k}='${listText(value[k]) ?? scalarText(value[k])}'`)
    .join(', ');
}

/** A list of scalars as `a, b`; undefined for anything else. */
function listText(value: unknown): string | undefined {
  if (!Array.isArray(value) || value.some((v) => v !== null && typeof v === 'object')) return undefined;
  return value.map((v) => scalarText(v)).join(', ');
}

function scalarText(value: unknown): string {
  if (value === null || value === undefined) return 'None';
  if (typeof value === 'boolean') return value ? 'True' : 'False';
  if (typeof value === 'object') return JSON.stringify(value);
  return String(value);
}

/**
 * One value as a table cell: `None`, `True`, one list item per line (`items` joins them otherwise),
 * one `key='value', …` line per dict.
 */
export function cellText(value: unknown, empty = 'None', items = '\n'): string {
  if (value === null || value === undefined) return empty;
  if (Array.isArray(value)) {
    if (value.every((v) => v !== null && typeof v === 'object' && !Array.isArray(v)))
      return value.map((v) => dictText(v as Record<string, unknown>)).join('\n');
    return value.map((v) => scalarText(v)).join(items);
  }
  if (typeof value === 'object') return dictText(value as Record<string, unknown>);
  return scalarText(value);
}

/** Where a line may break: after these (and before a space, which the break swallows). */
const BREAK_AFTER = new Set([',', ';', '/', '-', ':', '=', '|']);
/** Columns never shrink below this (or their natural width, if smaller). */
const MIN_COLUMN = 6;

/**
 * One line as lines of at most `width` display columns: broken at a space or after punctuation
 * where there is one, else inside a word; never inside a grapheme cluster.
 */
export function wrapLine(line: string, width: number): string[] {
  if (displayWidth(line) <= width) return [line];
  const out: string[] = [];
  let rest = graphemes(line);
  let restWidth = displayWidth(line);
  while (restWidth > width) {
    let end = 0;
    for (let w = 0; end < rest.length && w + clusterWidth(rest[end]) <= width; end++)
      w += clusterWidth(rest[end]);
    let cut = Math.max(1, end);
    for (let i = end; 2 * i > end; i--)
      if (rest[i] === ' ' || BREAK_AFTER.has(rest[i - 1])) {
        cut = i;
        break;
      }
    out.push(rest.slice(0, cut).join('').trimEnd());
    rest = rest.slice(cut);
    while (rest[0] === ' ') rest = rest.slice(1);
    restWidth = displayWidth(rest.join(''));
  }
  if (rest.length > 0) out.push(rest.join(''));
  return out;
}

/**
 * Column widths within `available` columns of text: those narrower than a fair share keep their
 * width, the others share what is left (none below its `minimum`, MIN_COLUMN by default).
 */
export function columnWidths(natural: number[], available: number, minimum: number[] = []): number[] {
  if (natural.reduce((a, b) => a + b, 0) <= available) return natural;
  const widths = natural.map(() => 0);
  const order = natural.map((_, i) => i).sort((a, b) => natural[a] - natural[b]);
  let budget = available;
  order.forEach((column, k) => {
    const share = Math.floor(budget / (order.length - k));
    widths[column] = Math.min(natural[column], Math.max(share, minimum[column] ?? MIN_COLUMN));
    budget -= widths[column];
  });
  return widths;
}

/**
 * A table like the openstack CLI's (`+---+` borders, multi-line cells), aligned by display width;
 * with `maxWidth`, at most that wide (as far as MIN_COLUMN allows), long lines wrapped.
 */
export function renderTable(headers: string[], rows: string[][], maxWidth?: number): string {
  const split = (cell: string) => cell.split('\n');
  const natural = headers.map((h, c) =>
    Math.max(displayWidth(h), ...rows.flatMap((row) => split(row[c]).map(displayWidth))),
  );
  // A header's words stay whole: `Security Groups` wraps between its words, not inside one.
  const minimum = headers.map((h) => Math.max(MIN_COLUMN, ...h.split(' ').map(displayWidth)));
  const widths =
    maxWidth === undefined ? natural : columnWidths(natural, maxWidth - (3 * headers.length + 1), minimum);
  const cellLines = (cell: string, c: number) => split(cell).flatMap((l) => wrapLine(l, widths[c]));
  const rule = `+${widths.map((w) => '-'.repeat(w + 2)).join('+')}+`;
  const line = (cells: string[]) => `| ${cells.map((cell, c) => padEnd(cell, widths[c])).join(' | ')} |`;
  const block = (row: string[]) => {
    const cells = row.map(cellLines);
    const height = Math.max(1, ...cells.map((cell) => cell.length));
    return Array.from({ length: height }, (_, i) => line(cells.map((cell) => cell[i] ?? '')));
  };
  const out = [rule, ...block(headers), rule, ...rows.flatMap(block)];
  if (rows.length > 0) out.push(rule);
  return `${out.join('\n')}\n`;
}

/** The indexes of the columns `-c` keeps (all without `-c`); an unknown name is an error. */
function selectColumns(names: string[], wanted: string[] | undefined): number[] {
  if (!wanted || wanted.length === 0) return names.map((_, i) => i);
  const unknown = wanted.filter((w) => !names.includes(w));
  if (unknown.length > 0)
    throw new Error(
      `No recognized column names in ${unknown.map((u) => `'${u}'`).join(', ')}; ` +
        `columns: ${names.join(', ')}`,
    );
  return wanted.map((w) => names.indexOf(w));
}

/** A value of `-f value` output: on one line, list items joined by `, `. */
function valueText(value: unknown): string {
  return cellText(value, '', ', ').replaceAll('\n', ' ');
}

function structured(value: unknown, format: 'json' | 'yaml'): string {
  return format === 'json' ? `${JSON.stringify(value, null, 2)}\n` : stringify(value);
}

/**
 * A list: `headers` name the columns, `rows` hold raw values (formatted here for table and
 * value output; json/yaml give one object per row keyed by header).
 */
export function formatList(headers: string[], rows: unknown[][], flags: OutputFlags): string {
  const keep = selectColumns(headers, flags.column);
  const picked = rows.map((row) => keep.map((i) => row[i]));
  const names = keep.map((i) => headers[i]);
  switch (flags.format) {
    case 'json':
    case 'yaml':
      return structured(
        picked.map((row) => Object.fromEntries(names.map((n, i) => [n, row[i] ?? null]))),
        flags.format,
      );
    case 'value':
      return picked.map((row) => `${row.map((v) => valueText(v)).join(' ')}\n`).join('');
    default:
      return renderTable(
        names,
        picked.map((row) => row.map((v) => cellText(v, ''))),
        tableWidth(flags),
      );
  }
}

/** How a few attributes read in a table (raw in json/yaml), as the openstack CLI shows them. */
const DISPLAY: Record<string, (value: unknown) => string> = {
  admin_state_up: (v) => (v === true ? 'UP' : v === false ? 'DOWN' : cellText(v)),
};

/** One object as a Field/Value table (fields sorted, as the openstack CLI does), or json/yaml/value. */
export function formatShow(record: Record<string, unknown>, flags: OutputFlags): string {
  const fields = Object.keys(record).sort();
  const keep = selectColumns(fields, flags.column).map((i) => fields[i]);
  switch (flags.format) {
    case 'json':
    case 'yaml':
      return structured(Object.fromEntries(keep.map((f) => [f, record[f] ?? null])), flags.format);
    case 'value':
      return keep.map((f) => `${valueText(record[f])}\n`).join('');
    default:
      return renderTable(
        ['Field', 'Value'],
        keep.map((f) => [f, (DISPLAY[f] ?? cellText)(record[f])]),
        tableWidth(flags),
      );
  }
}

/** Writes to stdout. */
export function print(text: string): void {
  process.stdout.write(text);
}
