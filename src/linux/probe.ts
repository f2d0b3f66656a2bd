/**
 * Reachability probes from inside a network namespace (or the root one): one ICMP echo (`ping -c
 * 1`), one TCP connect (`busybox nc`, which exits 0 once connected), and TCP listeners to connect
 * to (`busybox nc -ll … -e /bin/true`: accepts and closes every connection until it is stopped, by
 * its pid). Each probe waits one second by default.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { isValidIp } from '../core/ipam.js';
import { assertNamespaceName, runMaybeInNamespace } from './exec.js';
import { isAlive, readCmdline, startDaemon, stopProcess } from './process.js';

const BUSYBOX = '/bin/busybox';

function check(ip: string, port?: number): void {
  if (!isValidIp(ip)) throw new Error(`not an IP address: ${ip}`);
  if (port !== undefined && !(Number.isInteger(port) && port >= 1 && port <= 65535))
    throw new Error(`not a port: ${port}`);
}

/** Whether one ICMP echo from `netns` to `ip` is answered within `timeoutS` seconds. */
export async function ping(netns: string | undefined, ip: string, timeoutS = 1): Promise<boolean> {
  check(ip);
  const args = ['-n', '-q', '-c', '1', '-W', String(timeoutS), ip];
  const { code } = await runMaybeInNamespace(netns, 'ping', args, {
    allowFail: true,
    timeoutMs: (timeoutS + 5) * 1000,
  });
  return code === 0;
}

/** Whether a TCP connection from `netns` to `ip`:`port` is made within `timeoutS` seconds. */
export async function tcpConnect(
  netns: string | undefined,
  ip: string,
  port: number,
  timeoutS = 1,
): Promise<boolean> {
  check(ip, port);
  const { code } = await runMaybeInNamespace(
    netns,
    BUSYBOX,
    ['nc', '-w', String(timeoutS), ip, String(port)],
    {
      allowFail: true,
      input: '',
      timeoutMs: (timeoutS + 5) * 1000,
    },
  );
  return code === 0;
}

/** Whether something in `netns` listens on TCP `port` (any address). */
export async function listensTcp(netns: string | undefined, port: number): Promise<boolean> {
  const { stdout } = await runMaybeInNamespace(netns, 'ss', ['-Htln', 'sport', '=', `:${port}`], {
    allowFail: true,
  });
  return stdout.trim() !== '';
}

/** A TCP listener started here: `pid` is undefined when something else already listened. */
export interface Listener {
  netns: string;
  port: number;
  pid?: number;
  stop(): Promise<void>;
}

/**
 * Makes sure something in namespace `netns` accepts TCP connections on `port`: starts a listener
 * unless one is there already. `stop()` ends the listener started here (by its pid, once its
 * command line is still ours), and nothing else.
 */
export async function listenTcp(netns: string, port: number, timeoutMs = 2_000): Promise<Listener> {
  assertNamespaceName(netns);
  check('127.0.0.1', port);
  const none: Listener = { netns, port, stop: async () => {} };
  if (await listensTcp(netns, port)) return none;
  const argv = ['nc', '-ll', '-p', String(port), '-e', '/bin/true'];
  const pid = await startDaemon(BUSYBOX, argv, { netns });
  const stop = async () => {
    const cmdline = await readCmdline(pid);
    if (cmdline?.[0] === BUSYBOX && cmdline.slice(1).join(' ') === argv.join(' '))
      await stopProcess(pid, 500);
  };
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await listensTcp(netns, port)) break;
    if (!(await isAlive(pid)) || Date.now() > deadline) {
      await stop();
      throw new Error(`cannot listen on tcp port ${port} in ${netns}`);
    }
    await sleep(20);
  }
  return { netns, port, pid, stop };
}
