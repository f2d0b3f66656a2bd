/**
 * How the client commands print what they get, as the openstack CLI does: `-f table` (boxes; a
 * Field/Value table for one object), `-f json`, `-f yaml`, `-f value` (bare values, one row per
 * line), and `-c COLUMN` (repeatable) to keep only some columns. Tables show values formatted for
 * people (lists joined, dicts as `key='value'`, `UP`/`DOWN`); json and yaml keep them raw.
 */
import { type Command, Option } from 'commander';
import { stringify } from 'yaml';

export const FORMATS = ['table', 'json', 'yaml', 'value'] as const;
export type Format = (typeof FORMATS)[number];

export interface OutputFlags {
  format: Format;
  column?: string[];
}

/** Collects a repeatable option's values: `--tag a --tag b` → `['a', 'b']`. */
export const collect = (value: string, previous: string[] | undefined): string[] => [
  ...(previous ?? []),
  value,
];

/** Adds `-f/--format` and `-c/--column` to a command that prints objects. */
export function outputOptions(cmd: Command): Command {
  return cmd
    .addOption(new Option('-f, --format <format>', 'output format').choices(FORMATS).default('table'))
    .option('-c, --column <column>', 'show only this column (repeatable)', collect);
}

function dictText(value: Record<string, unknown>): string {
  return Object.keys(value)
    .sort()
    .map((k) => `${k}='${scalarText(value[k])}'`)
    .join(', ');
}

function scalarText(value: unknown): string {
  if (value === null || value === undefined) return 'None';
  if (typeof value === 'boolean') return value ? 'True' : 'False';
  if (typeof value === 'object') return JSON.stringify(value);
  return String(value);
}

/** One value as a table cell: `None`, `True`, `a, b`, one `key='value', …` line per dict. */
export function cellText(value: unknown, empty = 'None'): string {
  if (value === null || value === undefined) return empty;
  if (Array.isArray(value)) {
    if (value.every((v) => v !== null && typeof v === 'object' && !Array.isArray(v)))
      return value.map((v) => dictText(v as Record<string, unknown>)).join('\n');
    return value.map((v) => scalarText(v)).join(', ');
  }
  if (typeof value === 'object') return dictText(value as Record<string, unknown>);
  return scalarText(value);
}

/** A table like the openstack CLI's (`+---+` borders, multi-line cells). */
export function renderTable(headers: string[], rows: string[][]): string {
  const lines = rows.map((row) => row.map((cell) => cell.split('\n')));
  const widths = headers.map((h, c) =>
    Math.max(h.length, ...lines.flatMap((row) => row[c].map((l) => l.length))),
  );
  const rule = `+${widths.map((w) => '-'.repeat(w + 2)).join('+')}+`;
  const line = (cells: string[]) => `| ${cells.map((cell, c) => cell.padEnd(widths[c])).join(' | ')} |`;
  const out = [rule, line(headers), rule];
  for (const row of lines) {
    const height = Math.max(1, ...row.map((cell) => cell.length));
    for (let i = 0; i < height; i++) out.push(line(row.map((cell) => cell[i] ?? '')));
  }
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
      return picked
        .map((row) => `${row.map((v) => cellText(v, '').replaceAll('\n', ' ')).join(' ')}\n`)
        .join('');
    default:
      return renderTable(
        names,
        picked.map((row) => row.map((v) => cellText(v, ''))),
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
      return keep.map((f) => `${cellText(record[f], '').replaceAll('\n', ' ')}\n`).join('');
    default:
      return renderTable(
        ['Field', 'Value'],
        keep.map((f) => [f, (DISPLAY[f] ?? cellText)(record[f])]),
      );
  }
}

/** Writes to stdout. */
export function print(text: string): void {
  process.stdout.write(text);
}
