/**
 * The Open vSwitch the openvswitch driver works with: the host's own when one answers on Debian's
 * socket, else Neutrino's own under the state dir (started on first use, kept running when the
 * agent stops so traffic goes on through the userspace datapath, stopped with clean-up by a
 * teardown). The datapath is probed once and said in the log.
 */
import {
  type Datapath,
  hostOvsRuns,
  type Ovs,
  ownOvsAt,
  probeDatapath,
  SYSTEM_DB_SOCKET,
  startOwnOvs,
  stopOwnOvs,
} from '../../../linux/ovs.js';

export interface SwitchInfo {
  handle: Ovs;
  datapath: Datapath;
}

interface Log {
  info(fields: object, message: string): void;
}

export class OvsSwitch {
  readonly #stateDir: string;
  readonly #log: Log;
  #ready: Promise<SwitchInfo> | undefined;
  #own = false;

  constructor(stateDir: string, log: Log) {
    this.#stateDir = stateDir;
    this.#log = log;
  }

  /** The switch, started if it is ours and not running (a failed start is tried again next time). */
  ready(): Promise<SwitchInfo> {
    this.#ready ??= this.#start().catch((err: unknown) => {
      this.#ready = undefined;
      throw err;
    });
    return this.#ready;
  }

  async #start(): Promise<SwitchInfo> {
    const datapath = await probeDatapath();
    const host = await hostOvsRuns();
    const handle: Ovs = host
      ? { db: `unix:${SYSTEM_DB_SOCKET}`, dir: null, env: {} }
      : await startOwnOvs(this.#stateDir);
    this.#own = !host;
    this.#log.info(
      { datapath, switch: host ? 'the host Open vSwitch' : handle.dir },
      datapath === 'netdev'
        ? 'Open vSwitch datapath: netdev (userspace; the kernel has no openvswitch module)'
        : 'Open vSwitch datapath: system (the kernel module)',
    );
    return { handle, datapath };
  }

  /** After a teardown: our own switch exits, removing its datapath devices and database. */
  async stop(): Promise<void> {
    await this.#ready?.catch(() => undefined);
    if (this.#own || this.#ready === undefined) await stopOwnOvs(this.#stateDir, { cleanup: true });
    this.#ready = undefined;
  }

  /** Our own switch's handle, whether or not it runs. */
  get ownHandle(): Ovs {
    return ownOvsAt(this.#stateDir);
  }
}
