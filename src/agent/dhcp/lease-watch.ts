/**
 * Watches for the DHCP leases instance ports wait for, so their status can be reported as soon as a
 * lease arrives instead of at the next reconcile: one `fs.watch` (inotify) per instance directory
 * with a waiting port, where the DHCP client script records its lease. Events only say "look": the
 * lease files of that directory are read, and the ports whose lease now holds one of their
 * addresses are handed to the callback, coalesced over a few milliseconds and removed from the wait.
 */
import { type FSWatcher, watch } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { parseLease } from '../instances/instances.js';
import type { LeaseWait } from '../port-status.js';

/** How long events are gathered before the lease files are read (a burst of leases → one report). */
const COALESCE_MS = 10;

async function leaseAddress(file: string): Promise<string | undefined> {
  try {
    return parseLease(await readFile(file, 'utf8')).ip || undefined;
  } catch {
    return undefined;
  }
}

export class LeaseWatch {
  readonly #onLeases: (ports: string[]) => void;
  readonly #coalesceMs: number;
  /** Waiting ports by instance directory. */
  #waits = new Map<string, LeaseWait[]>();
  readonly #watchers = new Map<string, FSWatcher>();
  readonly #dirty = new Set<string>();
  #timer: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(onLeases: (ports: string[]) => void, options: { coalesceMs?: number } = {}) {
    this.#onLeases = onLeases;
    this.#coalesceMs = options.coalesceMs ?? COALESCE_MS;
  }

  /** The directories watched now (for tests and logs). */
  get watching(): string[] {
    return [...this.#watchers.keys()];
  }

  /**
   * Replaces what is waited for (after each reconcile). Every directory is looked at once right
   * away too, since a lease may have arrived between the observation and the watch.
   */
  wait(waits: readonly LeaseWait[]): void {
    if (this.#closed) return;
    const next = new Map<string, LeaseWait[]>();
    for (const w of waits) {
      const dir = dirname(w.leaseFile);
      next.set(dir, [...(next.get(dir) ?? []), w]);
    }
    this.#waits = next;
    for (const dir of [...this.#watchers.keys()]) if (!next.has(dir)) this.#unwatch(dir);
    for (const dir of next.keys()) {
      if (!this.#watchers.has(dir)) this.#watch(dir);
      this.#dirty.add(dir);
    }
    if (next.size > 0) this.#schedule();
  }

  /** Stops watching; no callback is made afterwards. */
  close(): void {
    this.#closed = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    for (const dir of [...this.#watchers.keys()]) this.#unwatch(dir);
    this.#waits.clear();
  }

  #watch(dir: string): void {
    try {
      const watcher = watch(dir, { persistent: false }, () => {
        this.#dirty.add(dir);
        this.#schedule();
      });
      // The directory went away (the instance was deleted): nothing to wait for there any more.
      watcher.on('error', () => this.#unwatch(dir));
      this.#watchers.set(dir, watcher);
    } catch {
      // No directory (yet): the reconciler's follow-up looks again.
    }
  }

  #unwatch(dir: string): void {
    this.#watchers.get(dir)?.close();
    this.#watchers.delete(dir);
  }

  #schedule(): void {
    if (this.#timer || this.#closed) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      void this.#check();
    }, this.#coalesceMs);
    this.#timer.unref();
  }

  async #check(): Promise<void> {
    const dirs = [...this.#dirty];
    this.#dirty.clear();
    const waits = this.#waits;
    const found = await Promise.all(
      dirs.flatMap((dir) =>
        (waits.get(dir) ?? []).map(async (w) => {
          const address = await leaseAddress(w.leaseFile);
          return address !== undefined && w.addresses.includes(address) ? w : undefined;
        }),
      ),
    );
    // A `wait()` during the reads replaced what is waited for: its own look covers these dirs.
    if (this.#closed || waits !== this.#waits) return;
    const arrived: string[] = [];
    for (const w of found) {
      if (w === undefined) continue;
      const dir = dirname(w.leaseFile);
      const waiting = waits.get(dir) ?? [];
      // Another look that overlapped this one may have taken it already.
      if (!waiting.includes(w)) continue;
      arrived.push(w.port);
      const left = waiting.filter((x) => x !== w);
      if (left.length > 0) waits.set(dir, left);
      else {
        waits.delete(dir);
        this.#unwatch(dir);
      }
    }
    if (arrived.length > 0) this.#onLeases(arrived);
  }
}
