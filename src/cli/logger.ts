/**
 * The processes' logger (`up`, `server`, `agent`): pino, writing JSON lines (`--log-format json`,
 * the default when stdout is not a terminal, for collectors) or one readable line per record
 * (`pretty`, the default on a terminal): `14:03:07.412 INFO  [agent] reconciled revision=12 ms=40`.
 * The pretty form is made here from pino's own JSON line, so everything that writes JSON lines to
 * the logger's stream (the agent thread of `up` does) is formatted the same way.
 */
import pino from 'pino';

export const LOG_FORMATS = ['json', 'pretty'] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

/** `--log-format` (or NEUTRINO_LOG_FORMAT); by default pretty on a terminal, JSON otherwise. */
export function logFormat(
  value: string | undefined = process.env.NEUTRINO_LOG_FORMAT,
  terminal = process.stdout.isTTY === true,
): LogFormat {
  if (value === undefined || value === '') return terminal ? 'pretty' : 'json';
  if (!(LOG_FORMATS as readonly string[]).includes(value))
    throw new Error(`invalid log format ${JSON.stringify(value)}: use ${LOG_FORMATS.join(' or ')}`);
  return value as LogFormat;
}

const LEVELS: Record<number, string> = {
  10: 'TRACE',
  20: 'DEBUG',
  30: 'INFO',
  40: 'WARN',
  50: 'ERROR',
  60: 'FATAL',
};
/** Fields every line has, or that the pretty form shows in its own place. */
const OMITTED = new Set(['level', 'time', 'pid', 'hostname', 'msg', 'component']);

function value(v: unknown): string {
  if (typeof v === 'string') return /^[^\s"=]+$/.test(v) ? v : JSON.stringify(v);
  if (v !== null && typeof v === 'object' && 'message' in v && typeof v.message === 'string')
    return JSON.stringify(v.message); // an error: its message (the JSON form keeps the stack)
  return JSON.stringify(v) ?? String(v);
}

/** One pino JSON line as one readable line (a line that is not JSON is passed through). */
export function prettyLine(json: string): string {
  let record: Record<string, unknown>;
  try {
    record = JSON.parse(json) as Record<string, unknown>;
  } catch {
    return json.endsWith('\n') ? json : `${json}\n`;
  }
  const time = typeof record.time === 'number' ? new Date(record.time).toISOString().slice(11, 23) : '';
  const level = (LEVELS[record.level as number] ?? String(record.level)).padEnd(5);
  const parts = [time, level];
  if (typeof record.component === 'string') parts.push(`[${record.component}]`);
  if (record.msg !== undefined) parts.push(String(record.msg));
  for (const [k, v] of Object.entries(record))
    if (!OMITTED.has(k) && v !== undefined) parts.push(`${k}=${value(v)}`);
  return `${parts.join(' ')}\n`;
}

/** A stream that writes each pino line to `out` in the pretty form. */
export function prettyStream(out: { write(text: string): unknown } = process.stdout): {
  write(line: string): void;
} {
  return { write: (line: string) => void out.write(prettyLine(line)) };
}

/** The logger of a process, at `level`, in `format`, on stdout (or `out`). */
export function createLogger(
  level: string,
  format: LogFormat,
  out?: { write(text: string): unknown },
): pino.Logger {
  if (format === 'pretty') return pino({ level }, prettyStream(out));
  return out ? pino({ level }, out) : pino({ level });
}
