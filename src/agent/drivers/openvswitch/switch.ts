/**
 * The Open vSwitch the openvswitch driver works with: the host's own when one answers on Debian's
 * socket, else Neutrino's own under the state dir (started on first use, kept running when the
 * agent stops so traffic goes on through the userspace datapath, stopped with clean-up by a
 * teardown). The datapath is probed once and said in the log; on the userspace one, so is the
 * tunnel interface that will join `br-phy`.
 */
import { ipJson } from '../../../linux/ip.js';
import {
  type Datapath,
  hostOvsRuns,
  type Ovs,
  ownOvsAt,
  probeDatapath,
  SYSTEM_DB_SOCKET,
  startOwnOvs,
  stopOwnOvs,
  vsctl,
} from '../../../linux/ovs.js';
import type { TunnelEndpoint } from '../driver.js';
import { UNDERLAY_BRIDGE, UNDERLAY_ROLE } from './names.js';

export interface SwitchInfo {
  handle: Ovs;
  datapath: Datapath;
  /** The userspace datapath with a tunnel endpoint: the tunnel interface and the endpoint's address. */
  underlay?: { device: string; mac: string; cidr: string };
}

/**
 * The interface holding the tunnel endpoint and its address with prefix length. Once `br-phy`
 * holds the address (an earlier run moved it), the interface is `br-phy`'s port marked as the
 * tunnel's.
 */
async function underlayOf(
  handle: Ovs,
  tunnel: TunnelEndpoint,
): Promise<{ device: string; mac: string; cidr: string }> {
  const links = await ipJson<
    { ifname: string; address: string; addr_info?: { local: string; prefixlen: number }[] }[]
  >(['addr', 'show']);
  for (const link of links) {
    const address = (link.addr_info ?? []).find((a) => a.local === tunnel.localIp);
    if (!address) continue;
    const cidr = `${tunnel.localIp}/${address.prefixlen}`;
    // br-phy was given the interface's MAC, so the endpoint keeps its MAC either way.
    const mac = link.address;
    if (link.ifname !== UNDERLAY_BRIDGE) return { device: link.ifname, mac, cidr };
    const { stdout } = await vsctl(handle, [
      '--bare',
      '--columns=name',
      'find',
      'Port',
      `external_ids:${UNDERLAY_ROLE}=tunnel`,
    ]);
    const device = stdout.trim().split('\n')[0];
    if (!device) throw new Error(`${UNDERLAY_BRIDGE} holds ${tunnel.localIp} but no tunnel interface`);
    return { device, mac, cidr };
  }
  throw new Error(`the tunnel endpoint ${tunnel.localIp} is no address of this host`);
}

interface Log {
  info(fields: object, message: string): void;
}

export class OvsSwitch {
  readonly #stateDir: string;
  readonly #log: Log;
  #ready: Promise<SwitchInfo> | undefined;
  #own = false;
  readonly #tunnel: TunnelEndpoint | undefined;

  constructor(stateDir: string, log: Log, tunnel?: TunnelEndpoint) {
    this.#stateDir = stateDir;
    this.#log = log;
    this.#tunnel = tunnel;
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
    if (datapath !== 'netdev' || this.#tunnel === undefined) return { handle, datapath };
    const underlay = await underlayOf(handle, this.#tunnel);
    this.#log.info(
      underlay,
      `tunnels: ${underlay.device} joins ${UNDERLAY_BRIDGE}, which takes the tunnel endpoint ${underlay.cidr} (the userspace datapath tunnels only through a bridge of its own)`,
    );
    return { handle, datapath, underlay };
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
