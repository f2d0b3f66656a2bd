/**
 * Open vSwitch for the openvswitch driver. When the host runs no Open vSwitch of its own, Neutrino
 * runs its own `ovsdb-server` and `ovs-vswitchd`: database, sockets, pid and log files all under
 * `<state>/ovs` (`OVS_RUNDIR`, `OVS_DBDIR`, `OVS_LOGDIR` point there, so `<bridge>.mgmt` sockets
 * land there too and nothing is written to /var/run/openvswitch), started detached with pid files
 * and stopped by them, so nothing depends on systemd and two deployments never share a daemon.
 * The datapath is the kernel's when its `openvswitch` module loads, else the userspace `netdev`
 * one (this machine's kernel has no such module). `ovs-vsctl` and `ovs-ofctl` run against it here.
 */
import { existsSync } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { type RunResult, run, runMaybeInNamespace } from './exec.js';
import { ipJson } from './ip.js';
import { isAlive, readPidFile, startDaemon, stopProcess } from './process.js';

export const OVS_SCHEMA = '/usr/share/openvswitch/vswitch.ovsschema';
/** Where Debian's own Open vSwitch keeps its database socket. */
export const SYSTEM_DB_SOCKET = '/var/run/openvswitch/db.sock';

export type Datapath = 'system' | 'netdev';
/** The userspace datapath's own device (a tap), which outlives its switch. */
const NETDEV_DATAPATH = 'ovs-netdev';

/** One Open vSwitch: the database it is reached through, the environment its tools need, its namespace. */
export interface Ovs {
  /** `unix:<path>` of ovsdb-server's socket. */
  db: string;
  /** The directory of its sockets, pid and log files (ours), or null for the host's own. */
  dir: string | null;
  /** The network namespace its daemons run in (a lab host's); absent: the root namespace. */
  netns?: string;
  env: Record<string, string>;
}

export function ovsDir(stateDir: string): string {
  return join(stateDir, 'ovs');
}

function ownOvs(stateDir: string, netns: string | undefined): Ovs {
  const dir = ovsDir(stateDir);
  return {
    db: `unix:${join(dir, 'db.sock')}`,
    dir,
    ...(netns === undefined ? {} : { netns }),
    env: { OVS_RUNDIR: dir, OVS_DBDIR: dir, OVS_LOGDIR: dir },
  };
}

const DAEMONS = ['ovsdb-server', 'ovs-vswitchd'] as const;
const pidFile = (dir: string, daemon: string) => join(dir, `${daemon}.pid`);

/**
 * `ovs-vsctl` against `ovs` (one transaction for all its commands, `--` between them). It waits
 * until ovs-vswitchd has applied the change, up to `timeoutS` (default 10 s; opening hundreds of
 * ports takes longer), unless `noWait` (a change of the database alone, such as `external_ids`).
 */
export function vsctl(
  ovs: Ovs,
  args: readonly string[],
  options: { timeoutS?: number; noWait?: boolean } = {},
): Promise<RunResult> {
  const { timeoutS = 10, noWait = false } = options;
  const flags = [`--db=${ovs.db}`, `--timeout=${timeoutS}`, ...(noWait ? ['--no-wait'] : [])];
  return runMaybeInNamespace(ovs.netns, 'ovs-vsctl', [...flags, ...args], {
    env: ovs.env,
    timeoutMs: (timeoutS + 5) * 1000,
  });
}

/** `ovs-ofctl` against a bridge of `ovs`. */
export function ofctl(ovs: Ovs, args: readonly string[], input?: string): Promise<RunResult> {
  return runMaybeInNamespace(ovs.netns, 'ovs-ofctl', [...args], {
    env: ovs.env,
    ...(input === undefined ? {} : { input }),
  });
}

/** The kernel's datapath when its `openvswitch` module is (or can be) loaded, else userspace `netdev`. */
export async function probeDatapath(): Promise<Datapath> {
  if (existsSync('/sys/module/openvswitch')) return 'system';
  const loaded = await run('modprobe', ['openvswitch'], { allowFail: true }).catch(() => undefined);
  return loaded?.code === 0 && existsSync('/sys/module/openvswitch') ? 'system' : 'netdev';
}

/** Whether the host runs an Open vSwitch of its own (Debian's service) that answers. */
export async function hostOvsRuns(): Promise<boolean> {
  if (!existsSync(SYSTEM_DB_SOCKET)) return false;
  const r = await run('ovs-vsctl', [`--db=unix:${SYSTEM_DB_SOCKET}`, '--timeout=2', 'show'], {
    allowFail: true,
  }).catch(() => undefined);
  return r?.code === 0;
}

/**
 * Neutrino's own Open vSwitch under `stateDir`, started if it is not running (a database created
 * on first use; an existing one is kept, so bridges and ports survive an agent restart). In a lab
 * host's namespace when `netns` is given.
 */
export async function startOwnOvs(stateDir: string, netns?: string): Promise<Ovs> {
  const ovs = ownOvs(stateDir, netns);
  const dir = ovs.dir as string;
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const dbFile = join(dir, 'conf.db');
  if (!existsSync(dbFile)) await run('ovsdb-tool', ['create', dbFile, OVS_SCHEMA]);
  const detached = ['--detach', '--no-chdir'];
  const where = netns === undefined ? {} : { netns };
  const running = async (daemon: string) => {
    const pid = await readPidFile(pidFile(dir, daemon));
    return pid !== undefined && (await isAlive(pid));
  };
  if (!(await running('ovsdb-server'))) {
    await startDaemon(
      'ovsdb-server',
      [
        dbFile,
        `--remote=punix:${join(dir, 'db.sock')}`,
        `--pidfile=${pidFile(dir, 'ovsdb-server')}`,
        `--unixctl=${join(dir, 'ovsdb-server.ctl')}`,
        ...detached,
        `--log-file=${join(dir, 'ovsdb-server.log')}`,
      ],
      { pidFile: pidFile(dir, 'ovsdb-server'), env: ovs.env, ...where },
    );
    // The userspace datapath reads and writes a veth through AF_PACKET: without the virtio-net
    // header it negotiates for TSO, a packet whose checksum the sender left to offload arrives
    // with a bad one (measured: no TCP, no UDP at all across a netdev bridge; with it, TCP at
    // 5-10 Gbit/s). The kernel datapath ignores the setting.
    await vsctl(ovs, [
      '--no-wait',
      'init',
      '--',
      'set',
      'Open_vSwitch',
      '.',
      'other_config:userspace-tso-enable=true',
    ]);
  }
  if (!(await running('ovs-vswitchd'))) {
    await startDaemon(
      'ovs-vswitchd',
      [
        ovs.db,
        `--pidfile=${pidFile(dir, 'ovs-vswitchd')}`,
        `--unixctl=${join(dir, 'ovs-vswitchd.ctl')}`,
        ...detached,
        `--log-file=${join(dir, 'ovs-vswitchd.log')}`,
      ],
      { pidFile: pidFile(dir, 'ovs-vswitchd'), env: ovs.env, timeoutMs: 10_000, ...where },
    );
  }
  return ovs;
}

/** The Open vSwitch under `stateDir` as a handle, whether or not it runs (to stop it, or to read it). */
export function ownOvsAt(stateDir: string, netns?: string): Ovs {
  return ownOvs(stateDir, netns);
}

/**
 * Stops Neutrino's own Open vSwitch under `stateDir` (by its pid files: only ours), switch first.
 * The userspace datapath keeps its devices (the bridges' internal ports, `ovs-netdev`: persistent
 * taps) across a restart, as the kernel datapath keeps its flows; with `cleanup` (`neutrino down`)
 * the switch is asked to exit with `--cleanup`, removing them and its datapath, and the database
 * goes too.
 */
export async function stopOwnOvs(
  stateDir: string,
  options: { cleanup?: boolean; netns?: string } = {},
): Promise<void> {
  const dir = ovsDir(stateDir);
  const ovs = ownOvs(stateDir, options.netns);
  const switchPid = await readPidFile(pidFile(dir, 'ovs-vswitchd'));
  let bridges: string[] = [];
  if (options.cleanup && switchPid !== undefined && (await isAlive(switchPid))) {
    bridges = (await vsctl(ovs, ['list-br']).catch(() => ({ stdout: '' }))).stdout
      .split('\n')
      .filter(Boolean);
    // With hundreds of ports the clean-up outlasts any sensible wait (measured: over 10 s at 500
    // ports on the userspace datapath); the switch is then ended by its pid below, and what it
    // left is removed after it.
    await run('ovs-appctl', ['-t', join(dir, 'ovs-vswitchd.ctl'), 'exit', '--cleanup'], {
      allowFail: true,
      timeoutMs: 30_000,
    }).catch(() => undefined);
    for (let i = 0; i < 100 && (await isAlive(switchPid)); i++) await sleep(50);
  }
  for (const daemon of [...DAEMONS].reverse()) {
    const pid = await readPidFile(pidFile(dir, daemon));
    if (pid !== undefined) await stopProcess(pid, 5_000);
  }
  if (!options.cleanup) return;
  // What the userspace datapath may leave: its own tap and a bridge's internal port whose removal
  // `--cleanup` did not finish (persistent taps, ours by name in this Open vSwitch's namespace).
  for (const name of [...bridges, NETDEV_DATAPATH]) {
    const link = await ipJson<{ linkinfo?: { info_kind?: string } }[]>(['-d', 'link', 'show', 'dev', name], {
      ...(options.netns === undefined ? {} : { netns: options.netns }),
    }).catch(() => []);
    if (link[0]?.linkinfo?.info_kind === 'tun')
      await runMaybeInNamespace(options.netns, 'ip', ['link', 'del', name], { allowFail: true });
  }
  await rm(dir, { recursive: true, force: true });
}
