/**
 * Watches the VRRP state of this host's HA routers, so a failover reaches the server at once (it
 * then binds the router's ports to the new master, and l2population on the other hosts follows):
 * keepalived's notify script writes each router's state file (see `linux/keepalived.ts`), and one
 * `fs.watch` (inotify) per router directory says "look". The files are read, and the states handed
 * to the callback when they differ from the last ones, coalesced over a few milliseconds.
 */
import { type FSWatcher, watch } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { haState, keepalivedFiles } from '../../linux/keepalived.js';

const COALESCE_MS = 10;

export type HaStates = Record<string, 'active' | 'standby'>;

export class HaWatch {
  readonly #onChange: (states: HaStates) => void;
  /** Router id → its directory. */
  #routers = new Map<string, string>();
  readonly #watchers = new Map<string, FSWatcher>();
  #states: HaStates = {};
  #timer: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(onChange: (states: HaStates) => void) {
    this.#onChange = onChange;
  }

  /** The states as last read. */
  get states(): HaStates {
    return this.#states;
  }

  /** Replaces the routers watched (after each reconcile: router id → its directory), and looks. */
  watch(routers: Map<string, string>): void {
    if (this.#closed) return;
    this.#routers = routers;
    for (const [dir, watcher] of this.#watchers)
      if (![...routers.values()].includes(dir)) {
        watcher.close();
        this.#watchers.delete(dir);
      }
    for (const dir of routers.values()) {
      if (this.#watchers.has(dir)) continue;
      try {
        const watcher = watch(dir, () => this.#look());
        watcher.on('error', () => {
          watcher.close();
          this.#watchers.delete(dir);
        });
        this.#watchers.set(dir, watcher);
      } catch {
        // Not there yet (the router was left out): the next reconcile tries again.
      }
    }
    this.#look();
  }

  close(): void {
    this.#closed = true;
    clearTimeout(this.#timer);
    for (const watcher of this.#watchers.values()) watcher.close();
    this.#watchers.clear();
  }

  #look(): void {
    if (this.#closed || this.#timer) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      void this.#read();
    }, COALESCE_MS);
  }

  async #read(): Promise<void> {
    const entries = await Promise.all(
      [...this.#routers].map(async ([id, dir]) => {
        const text = await readFile(keepalivedFiles(dir).state, 'utf8').catch(() => undefined);
        return [id, haState(text)] as const;
      }),
    );
    if (this.#closed) return;
    const states: HaStates = {};
    for (const [id, state] of entries.sort(([a], [b]) => a.localeCompare(b))) if (state) states[id] = state;
    if (JSON.stringify(states) === JSON.stringify(this.#states)) return;
    this.#states = states;
    this.#onChange(states);
  }
}
