/**
 * "The outside world" for L3 tests: a bridge of the test's own (`br-ex<hex>`, no address in the
 * root namespace) standing in for the external network, a namespace `neutrino-out<hex>` plugged
 * into it by a veth, and TCP helpers built from busybox `nc` and `ss` that show the peer address a
 * server sees (`tcpPeer`) or keep a connection open to see whether it survives (`Flow`). Every
 * process is started here and ended by its pid.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Session } from '../../src/client/session.js';
import { runInNamespace } from '../../src/linux/exec.js';
import { addNamespace, deleteNamespace, ipBatch } from '../../src/linux/ip.js';

const running = (child: ChildProcess) => child.exitCode === null && child.signalCode === null;

function inNamespace(netns: string, argv: string[]): ChildProcess {
  return spawn('ip', ['netns', 'exec', netns, ...argv], { stdio: ['pipe', 'pipe', 'pipe'] });
}

function stop(child: ChildProcess): void {
  if (child.pid !== undefined && running(child)) process.kill(child.pid, 'SIGKILL');
}

/** The address of `a.b.c.d:port` or `[::ffff:a.b.c.d]:port`. */
function addressOf(endpoint: string): string {
  return endpoint.replace(/^\[(::ffff:)?/, '').replace(/\]?:\d+$/, '');
}

export class Outside {
  readonly bridge: string;
  readonly netns: string;
  readonly #uplink: string;
  readonly #ownBridge: boolean;
  readonly #children = new Set<ChildProcess>();

  /** `bridge`: an existing bridge to plug into (else one of its own is made). */
  constructor(
    readonly address: string,
    bridge?: string,
  ) {
    const r = randomBytes(2).toString('hex');
    this.bridge = bridge ?? `br-ex${r}`;
    this.#ownBridge = bridge === undefined;
    this.netns = `neutrino-out${r}`;
    this.#uplink = `tapout${r}`;
  }

  /** Creates the bridge and the outside namespace, holding `address` (e.g. `203.0.113.254/24`). */
  async create(): Promise<void> {
    await addNamespace(this.netns);
    await ipBatch([
      ...(this.#ownBridge
        ? [
            ['link', 'add', this.bridge, 'type', 'bridge'],
            ['link', 'set', this.bridge, 'addrgenmode', 'none', 'up'],
          ]
        : []),
      [
        'link',
        'add',
        this.#uplink,
        'master',
        this.bridge,
        'type',
        'veth',
        'peer',
        'name',
        'eth0',
        'netns',
        this.netns,
      ],
      ['link', 'set', this.#uplink, 'up'],
    ]);
    await ipBatch(
      [
        ['link', 'set', 'lo', 'up'],
        ['link', 'set', 'eth0', 'up'],
        ['addr', 'add', this.address, 'dev', 'eth0'],
      ],
      { netns: this.netns },
    );
  }

  /**
   * Makes, through `api`, the external network `public` on physnet `public` (this bridge, which
   * the test's `neutrino up` maps so): a flat network whose subnet is this namespace's, with it as
   * the gateway and .10–.100 to give out. Returns the network's id.
   */
  async publicNetwork(api: Session): Promise<string> {
    const [gateway, length] = this.address.split('/');
    const prefix = gateway.split('.').slice(0, 3).join('.');
    const { network } = await api.post<{ network: { id: string } }>('/v2.0/networks', {
      network: {
        name: 'public',
        'router:external': true,
        'provider:network_type': 'flat',
        'provider:physical_network': 'public',
      },
    });
    await api.post('/v2.0/subnets', {
      subnet: {
        network_id: network.id,
        ip_version: 4,
        cidr: `${prefix}.0/${length}`,
        gateway_ip: gateway,
        allocation_pools: [{ start: `${prefix}.10`, end: `${prefix}.100` }],
        enable_dhcp: false,
      },
    });
    return network.id;
  }

  /** Ends the processes started here, removes the namespace and the bridge if it made it. */
  async remove(): Promise<void> {
    for (const child of this.#children) stop(child);
    await deleteNamespace(this.netns).catch((err) => console.error(this.netns, err));
    if (this.#ownBridge) await ipBatch([['link', 'del', this.bridge]]).catch(() => undefined);
  }

  /**
   * Starts a one-shot TCP server in `netns` on `listenPort` (default `port`) that answers with its
   * own view of the connection (`ss`: the local and the peer address), connects from `from` to
   * `ip:port`, and returns the address the server saw as the peer, or undefined when no
   * connection was made.
   */
  async tcpPeer(
    from: string,
    netns: string,
    ip: string,
    port: number,
    listenPort = port,
  ): Promise<string | undefined> {
    const server = await this.#listen(netns, listenPort, ['-e', 'ss', '-Htn', 'state', 'established']);
    try {
      const reply = await this.#request(from, ip, port);
      const line = reply.split('\n').find((l) => l.includes(`:${listenPort} `));
      return line ? addressOf(line.trim().split(/\s+/)[3]) : undefined;
    } finally {
      stop(server);
    }
  }

  /** Starts `busybox nc -l -p PORT …` in `netns` and waits until it listens. */
  async #listen(netns: string, port: number, args: string[] = []): Promise<ChildProcess> {
    const server = this.#track(inNamespace(netns, ['busybox', 'nc', '-l', '-p', String(port), ...args]));
    for (let i = 0; i < 100; i++) {
      const { stdout } = await runInNamespace(netns, 'ss', ['-Htln', 'sport', '=', `:${port}`]);
      if (stdout.trim() !== '') return server;
      await sleep(20);
    }
    stop(server);
    throw new Error(`nothing listens on port ${port} in ${netns}`);
  }

  /** Connects from `from` to `ip:port` and returns what the server sent before closing (1.5 s at most). */
  #request(from: string, ip: string, port: number): Promise<string> {
    // nc leaves as soon as its stdin ends, so stdin stays open until the server closes.
    const client = this.#track(inNamespace(from, ['busybox', 'nc', '-w', '1', ip, String(port)]));
    let out = '';
    client.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
    return new Promise((resolve) => {
      const timer = setTimeout(() => stop(client), 1_500);
      client.once('close', () => {
        clearTimeout(timer);
        resolve(out);
      });
    });
  }

  /** Opens a long-lived TCP connection from `from` to a server listening in `netns` on `ip:port`. */
  async flow(from: string, netns: string, ip: string, port: number): Promise<Flow> {
    const server = await this.#listen(netns, port);
    const client = this.#track(inNamespace(from, ['busybox', 'nc', ip, String(port)]));
    return new Flow(server, client, async () => {
      // A cut flow's sockets would linger as orphans retransmitting their FIN to a peer they can no
      // longer reach, holding their namespace (and its devices) alive: destroy them.
      await runInNamespace(netns, 'ss', ['-K', '-tn', 'sport', '=', `:${port}`], { allowFail: true });
      await runInNamespace(from, 'ss', ['-K', '-tn', 'dport', '=', `:${port}`], { allowFail: true });
    });
  }

  #track(child: ChildProcess): ChildProcess {
    this.#children.add(child);
    child.once('close', () => this.#children.delete(child));
    return child;
  }
}

/** A TCP connection between two nc processes: lines sent by the client show up at the server. */
export class Flow {
  #received = '';

  constructor(
    readonly server: ChildProcess,
    readonly client: ChildProcess,
    readonly destroySockets: () => Promise<void>,
  ) {
    server.stdout!.setEncoding('utf8').on('data', (d: string) => (this.#received += d));
  }

  /** Sends `line` and reports whether the server got it within `timeoutMs`. */
  async carries(line: string, timeoutMs = 1_500): Promise<boolean> {
    this.client.stdin!.write(`${line}\n`);
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (this.#received.includes(`${line}\n`)) return true;
      await sleep(50);
    }
    return false;
  }

  async close(): Promise<void> {
    stop(this.client);
    stop(this.server);
    await this.destroySockets();
  }
}
