/**
 * A YAML file checked against a TypeBox schema, every problem on one line with its place:
 * `lab.yaml:6:14: projects.shop.networks.web.mtu: must be >= 68`. Positions come from the YAML
 * document's node ranges; an unknown key points at the key itself. Topology files
 * (`cli/topology/load.ts`) and the configuration file (`config-file.ts`) are read through it.
 */
import { readFileSync } from 'node:fs';
import type { TSchema } from 'typebox';
import { Value } from 'typebox/value';
import { type Document, isMap, LineCounter, type Node, parseDocument } from 'yaml';

export type Path = (string | number)[];

export interface Located {
  path: Path;
  /** Point at the key rather than the value (unknown properties). */
  key?: boolean;
  message: string;
}

/** One problem as its line; several as a count and a line each. */
export function problemsMessage(problems: string[]): string {
  return problems.length === 1 ? problems[0] : `${problems.length} problems:\n${problems.join('\n')}`;
}

/** A file is wrong: `problems` are one line each, located. */
export class YamlFileError extends Error {
  readonly problems: string[];

  constructor(problems: string[]) {
    super(problemsMessage(problems));
    this.name = 'YamlFileError';
    this.problems = problems;
  }
}

export const dotted = (path: Path): string => (path.length === 0 ? '(top)' : path.join('.'));

function pointerPath(pointer: string): Path {
  if (pointer === '') return [];
  return pointer
    .slice(1)
    .split('/')
    .map((p) => p.replaceAll('~1', '/').replaceAll('~0', '~'));
}

/** The schema node a JSON pointer (`#/properties/a/anyOf/1`) names, for its description. */
function schemaAt(schema: TSchema, pointer: string): Record<string, unknown> | undefined {
  let node: unknown = schema;
  for (const part of pointerPath(pointer.replace(/^#/, ''))) {
    if (node === null || typeof node !== 'object') return undefined;
    node = (node as Record<string, unknown>)[part];
  }
  return node as Record<string, unknown> | undefined;
}

/**
 * Schema errors as located problems, one per field with a readable message; `unknownKey` may
 * say more about an unknown property (e.g. what it was renamed to).
 */
export function schemaProblems(
  schema: TSchema,
  value: unknown,
  unknownKey: (path: Path) => string = () => 'unknown property',
): Located[] {
  const out: Located[] = [];
  const seen = new Set<string>();
  const errors = [...Value.Errors(schema, value)];
  const unions = new Set(errors.filter((e) => e.keyword === 'anyOf').map((e) => e.instancePath));
  for (const e of errors) {
    if (e.keyword === 'boolean') continue;
    const path = pointerPath(e.instancePath);
    if (e.keyword === 'additionalProperties') {
      for (const extra of (e.params as { additionalProperties?: string[] }).additionalProperties ?? [])
        out.push({ path: [...path, extra], key: true, message: unknownKey([...path, extra]) });
      continue;
    }
    if (e.keyword === 'required') {
      for (const missing of (e.params as { requiredProperties?: string[] }).requiredProperties ?? [])
        out.push({ path, message: `missing required property ${missing}` });
      continue;
    }
    if (unions.has(e.instancePath) && e.keyword !== 'anyOf') continue;
    if (seen.has(e.instancePath)) continue;
    seen.add(e.instancePath);
    const description = schemaAt(schema, e.schemaPath)?.description;
    const described = (e.keyword === 'anyOf' || e.keyword === 'pattern') && typeof description === 'string';
    const allowed = (e.params as { allowedValues?: unknown[] }).allowedValues;
    const message = described
      ? `must be ${description}`
      : e.keyword === 'enum' && allowed
        ? `must be one of ${allowed.map((v) => JSON.stringify(v)).join(', ')}`
        : e.message;
    out.push({ path, message });
  }
  return out;
}

export interface YamlFile {
  /** The document as plain data (`{}` for an empty file). */
  value: unknown;
  /** `file:line:col` of the value at `path` (or of its nearest ancestor present), or of its key. */
  locate(path: Path, key?: boolean): string;
  /** A located problem as its line: `file:line:col: a.b: message`. */
  format(problem: Located): string;
}

function locator(file: string, doc: Document, lineCounter: LineCounter) {
  const where = (offset: number) => {
    const { line, col } = lineCounter.linePos(offset);
    return `${file}:${line}:${col}`;
  };
  const locate = (path: Path, key = false): string => {
    for (let n = path.length; n >= 0; n--) {
      const prefix = path.slice(0, n);
      if (key && n === path.length && n > 0) {
        const parent = prefix.length === 1 ? doc.contents : doc.getIn(prefix.slice(0, -1), true);
        if (isMap(parent)) {
          const pair = parent.items.find((p) => (p.key as { value?: unknown })?.value === prefix.at(-1));
          const range = (pair?.key as Node | undefined)?.range;
          if (range) return where(range[0]);
        }
        continue;
      }
      const node = (n === 0 ? doc.contents : doc.getIn(prefix, true)) as Node | undefined;
      if (node?.range) return where(node.range[0]);
    }
    return `${file}:1:1`;
  };
  return { where, locate };
}

/** Parses `text` (the contents of `file`); throws YamlFileError on YAML syntax errors. */
export function parseYamlFile(file: string, text: string): YamlFile {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  const { where, locate } = locator(file, doc, lineCounter);
  if (doc.errors.length > 0)
    throw new YamlFileError(doc.errors.map((e) => `${where(e.pos[0])}: ${e.message.split('\n')[0]}`));
  return {
    value: doc.toJS() ?? {},
    locate,
    format: (p) => `${locate(p.path, p.key)}: ${dotted(p.path)}: ${p.message}`,
  };
}

/** Reads and parses `file`; a file that cannot be read is a one-line error naming it. */
export function readYamlFile(file: string): YamlFile {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new Error(`cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  return parseYamlFile(file, text);
}
