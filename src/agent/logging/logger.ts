/**
 * The agent's network logging: it reads what the data plane logs (`rules.ts`) and
 * turns it into records. One NFLOG reader (tcpdump, `linux/nflog.ts`) per namespace whose tables
 * log — this host's own for security groups, a router's for its firewall groups — started when the
 * latest snapshot has logs there, stopped when it has none left, restarted a second after it dies.
 * Each packet read becomes a record for every log it belongs to (by port, event and group), at most
 * `rate_limit` per second and port with bursts of `burst_limit` (a token bucket, as Neutron's
 * meters); records are appended as JSON lines to `<state>/log/<log id>.log` and posted to the
 * server (`POST …/hosts/{host}/log-records`) every 200 ms, the owner then reading them through the
 * API.
 */
import { appendFile, mkdir, rename, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { captureNflog, type NflogCapture } from '../../linux/nflog.js';
import type { Snapshot, SnapshotNetworkLogging } from '../../model/host-snapshot.js';
import type { HostLogRecord } from '../../model/network-log.js';
import { routerNamespace } from '../l3/router.js';
import type { Logger } from '../reconciler.js';
import { PcapNflogReader, summarise } from './nflog.js';
import { nflogGroup, parseLogPrefix } from './rules.js';

const FLUSH_MS = 200;
const RESTART_MS = 1_000;
/** Records waiting for the server, at most (the oldest go first when it stays away). */
const MAX_PENDING = 20_000;
/** A log file beyond this is renamed `<id>.log.1` (the previous one replaced) and started anew. */
const MAX_FILE_BYTES = 16 * 1024 * 1024;

export interface NetworkLoggerOptions {
  stateDir: string;
  /** The deployment's owner tag (`ownerTag`), which gives the NFLOG group. */
  owner: string;
  /** Sends records to the server. */
  post: (records: HostLogRecord[]) => Promise<void>;
  log: Logger;
}

/** Where an agent writes a log's records. */
export function logFile(stateDir: string, logId: string): string {
  return join(stateDir, 'log', `${logId}.log`);
}

/** The namespaces whose tables log for `logging` (undefined: the agent's own), by key. */
export function readerNamespaces(snapshot: Snapshot): Map<string, string | undefined> {
  const out = new Map<string, string | undefined>();
  const logs = snapshot.network_logging?.logs ?? [];
  if (logs.some((l) => l.resource_type === 'security_group')) out.set('', undefined);
  const logged = new Set(logs.filter((l) => l.resource_type === 'firewall_group').flatMap((l) => l.ports));
  for (const router of snapshot.routers)
    if ((router.firewall_groups ?? []).some((f) => logged.has(f.port_id))) {
      const ns = routerNamespace(router.id);
      out.set(ns, ns);
    }
  return out;
}

interface Reader {
  netns: string | undefined;
  capture?: NflogCapture;
  restart?: NodeJS.Timeout;
}

export class NetworkLogger {
  readonly #options: NetworkLoggerOptions;
  readonly #group: number;
  readonly #readers = new Map<string, Reader>();
  #logging: SnapshotNetworkLogging | undefined;
  readonly #buckets = new Map<string, { tokens: number; at: number }>();
  #pending: HostLogRecord[] = [];
  #lines = new Map<string, string[]>();
  #flushing: Promise<void> = Promise.resolve();
  #timer: NodeJS.Timeout | undefined;
  #closed = false;
  #dirMade = false;

  constructor(options: NetworkLoggerOptions) {
    this.#options = options;
    this.#group = nflogGroup(options.owner);
  }

  /** Follows the latest snapshot: readers where logs are, none elsewhere. */
  update(snapshot: Snapshot): void {
    if (this.#closed) return;
    this.#logging = snapshot.network_logging;
    const wanted = readerNamespaces(snapshot);
    for (const [key, reader] of this.#readers)
      if (!wanted.has(key)) {
        this.#stop(reader);
        this.#readers.delete(key);
      }
    for (const [key, netns] of wanted)
      if (!this.#readers.has(key)) {
        const reader: Reader = { netns };
        this.#readers.set(key, reader);
        this.#start(key, reader);
      }
    if (this.#readers.size > 0 && !this.#timer)
      this.#timer = setInterval(() => void this.flush(), FLUSH_MS).unref();
  }

  #start(key: string, reader: Reader): void {
    let capture: NflogCapture;
    try {
      capture = captureNflog(reader.netns, this.#group);
    } catch (err) {
      this.#options.log.warn(
        { err: String(err), netns: reader.netns ?? null },
        'network log reader not started',
      );
      return;
    }
    reader.capture = capture;
    const pcap = new PcapNflogReader();
    let stderr = '';
    capture.process.stdout?.on('data', (chunk: Buffer) => {
      try {
        for (const packet of pcap.push(chunk)) this.#packet(packet.prefix, packet.payload);
      } catch (err) {
        this.#options.log.warn(
          { err: String(err), netns: reader.netns ?? null },
          'network log stream unreadable',
        );
        capture.close();
      }
    });
    capture.process.stderr?.on('data', (chunk: Buffer) => {
      stderr = `${stderr}${chunk.toString()}`.slice(-2000);
    });
    capture.process.on('error', (err) =>
      this.#options.log.warn({ err: String(err), netns: reader.netns ?? null }, 'network log reader failed'),
    );
    capture.process.on('exit', (code, signal) => {
      if (reader.capture !== capture) return;
      reader.capture = undefined;
      if (this.#closed || this.#readers.get(key) !== reader) return;
      this.#options.log.warn(
        { netns: reader.netns ?? null, code, signal, stderr: stderr.trim() },
        'network log reader ended; restarting',
      );
      reader.restart = setTimeout(() => {
        reader.restart = undefined;
        if (!this.#closed && this.#readers.get(key) === reader) this.#start(key, reader);
      }, RESTART_MS).unref();
    });
  }

  #stop(reader: Reader): void {
    clearTimeout(reader.restart);
    const capture = reader.capture;
    reader.capture = undefined;
    capture?.close();
  }

  /** Whether a packet of `port` may be recorded now (its token bucket). */
  #allowed(port: string, logging: SnapshotNetworkLogging): boolean {
    const now = Date.now();
    const bucket = this.#buckets.get(port) ?? { tokens: logging.burst_limit, at: now };
    bucket.tokens = Math.min(
      logging.burst_limit,
      bucket.tokens + ((now - bucket.at) / 1000) * logging.rate_limit,
    );
    bucket.at = now;
    this.#buckets.set(port, bucket);
    if (bucket.tokens < 1) return false;
    bucket.tokens -= 1;
    return true;
  }

  #packet(prefix: string, payload: Buffer): void {
    const logging = this.#logging;
    const tag = parseLogPrefix(prefix);
    const summary = summarise(payload);
    if (!logging || !tag || !summary) return;
    const logs = logging.logs.filter(
      (l) =>
        l.ports.includes(tag.port) &&
        (l.event === 'ALL' || l.event === tag.event) &&
        (tag.event === 'DROP' || l.resource_id === null || l.resource_id === tag.group),
    );
    if (logs.length === 0 || !this.#allowed(tag.port, logging)) return;
    const time = new Date().toISOString();
    for (const log of logs) {
      const record: HostLogRecord = {
        log_id: log.id,
        time,
        event: tag.event,
        direction: tag.direction,
        port_id: tag.port,
        resource_id: tag.group,
        ...summary,
      };
      this.#pending.push(record);
      const lines = this.#lines.get(log.id) ?? [];
      lines.push(JSON.stringify(record));
      this.#lines.set(log.id, lines);
    }
    if (this.#pending.length > MAX_PENDING) this.#pending.splice(0, this.#pending.length - MAX_PENDING);
  }

  /** Writes and sends what was read since the last flush (one flush at a time). */
  flush(): Promise<void> {
    this.#flushing = this.#flushing.then(() => this.#flush());
    return this.#flushing;
  }

  async #flush(): Promise<void> {
    const lines = this.#lines;
    this.#lines = new Map();
    if (lines.size > 0)
      await this.#write(lines).catch((err: unknown) =>
        this.#options.log.warn({ err: String(err) }, 'network log not written'),
      );
    if (this.#pending.length === 0) return;
    const records = this.#pending.slice(0, 10_000);
    try {
      await this.#options.post(records);
      this.#pending.splice(0, records.length);
    } catch (err) {
      if (!this.#closed)
        this.#options.log.warn({ err: String(err), records: records.length }, 'network log records not sent');
    }
  }

  async #write(lines: Map<string, string[]>): Promise<void> {
    if (!this.#dirMade) {
      await mkdir(join(this.#options.stateDir, 'log'), { recursive: true, mode: 0o750 });
      this.#dirMade = true;
    }
    for (const [id, list] of lines) {
      const file = logFile(this.#options.stateDir, id);
      const size = await stat(file).then(
        (s) => s.size,
        () => 0,
      );
      if (size > MAX_FILE_BYTES) await rename(file, `${file}.1`);
      await appendFile(file, `${list.join('\n')}\n`, { mode: 0o640 });
    }
  }

  /** Stops the readers and sends what is left (once). */
  async close(): Promise<void> {
    if (this.#closed) return;
    for (const reader of this.#readers.values()) this.#stop(reader);
    this.#readers.clear();
    clearInterval(this.#timer);
    await this.flush();
    this.#closed = true;
  }
}
