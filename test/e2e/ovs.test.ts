/**
 * Neutrino's own Open vSwitch (`src/linux/ovs.ts`), against the real daemons, in a namespace of
 * its own standing for a host (nothing in the root namespace): ovsdb-server and ovs-vswitchd start
 * with everything under the state directory; on this kernel (no `openvswitch` module) the
 * datapath is userspace `netdev`; an integration bridge's ports with one VLAN tag reach each other
 * and a port with another tag is isolated (real pings); a restart keeps the bridge and its ports
 * (the database stays); stopping with clean-up leaves no daemon, no OVS device and no file.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { run, runInNamespace } from '../../src/linux/exec.js';
import { addNamespace, deleteNamespace, ipBatch, ipJson } from '../../src/linux/ip.js';
import {
  hostOvsRuns,
  ovsDir,
  probeDatapath,
  SYSTEM_DB_SOCKET,
  startOwnOvs,
  stopOwnOvs,
  vsctl,
} from '../../src/linux/ovs.js';
import { isAlive, readPidFile } from '../../src/linux/process.js';

const isRoot = process.getuid?.() === 0;
const hasOvs = existsSync('/usr/sbin/ovs-vswitchd') || existsSync('/usr/bin/ovs-vswitchd');

describe('Open vSwitch, Neutrino-run (real daemons)', { skip: !isRoot || !hasOvs }, () => {
  const tag = randomBytes(3).toString('hex');
  const host = `neutrino-ovs-${tag}`;
  const vms = [1, 2, 3].map((i) => `neutrino-ovs-${tag}-${i}`);
  let stateDir = '';

  const ping = (from: string, to: string) =>
    runInNamespace(from, 'ping', ['-c', '2', '-i', '0.2', '-W', '1', to], { allowFail: true });
  const daemonsAlive = async () => {
    const out: boolean[] = [];
    for (const d of ['ovsdb-server', 'ovs-vswitchd']) {
      const pid = await readPidFile(join(ovsDir(stateDir), `${d}.pid`));
      out.push(pid !== undefined && (await isAlive(pid)));
    }
    return out;
  };

  before(async () => {
    stateDir = await mkdtemp(join(tmpdir(), 'neutrino-ovs-'));
    for (const ns of [host, ...vms]) await addNamespace(ns);
  });

  after(async () => {
    await stopOwnOvs(stateDir, { cleanup: true, netns: host }).catch(() => {});
    for (const ns of [host, ...vms]) await deleteNamespace(ns).catch(() => {});
    await rm(stateDir, { recursive: true, force: true });
  });

  it('uses the userspace datapath where the kernel has no openvswitch module, and tells whether the host runs an Open vSwitch of its own', async () => {
    assert.equal(existsSync('/sys/module/openvswitch') ? 'system' : 'netdev', await probeDatapath());
    // Without Debian's service socket there is no host Open vSwitch (where the package's service
    // was started, it answers there and Neutrino would use it instead).
    if (!existsSync(SYSTEM_DB_SOCKET)) assert.equal(await hostOvsRuns(), false);
  });

  it('starts its daemons with everything under the state directory and switches by VLAN tag', async () => {
    const ovs = await startOwnOvs(stateDir, host);
    assert.deepEqual(await daemonsAlive(), [true, true]);
    const files = await readdir(ovsDir(stateDir));
    for (const f of ['conf.db', 'db.sock', 'ovsdb-server.pid', 'ovs-vswitchd.pid', 'ovs-vswitchd.ctl'])
      assert.ok(files.includes(f), `${f} in ${files.join(' ')}`);
    assert.ok(!existsSync('/var/run/openvswitch/db.sock'), 'nothing in the system run directory');

    await vsctl(ovs, [
      '--may-exist',
      'add-br',
      'br-int',
      '--',
      'set',
      'Bridge',
      'br-int',
      'datapath_type=netdev',
    ]);
    const tags = [1, 1, 2];
    for (const [i, vm] of vms.entries()) {
      await ipBatch(
        [
          ['link', 'add', `qvo${i}`, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', vm],
          ['link', 'set', `qvo${i}`, 'up'],
        ],
        { netns: host },
      );
      await ipBatch(
        [
          ['addr', 'add', `10.88.0.${i + 1}/24`, 'dev', 'eth0'],
          ['link', 'set', 'eth0', 'up'],
        ],
        { netns: vm },
      );
      await vsctl(ovs, ['add-port', 'br-int', `qvo${i}`, `tag=${tags[i]}`]);
    }
    assert.equal((await ping(vms[0], '10.88.0.2')).code, 0, 'same tag: reachable');
    assert.notEqual((await ping(vms[0], '10.88.0.3')).code, 0, 'another tag: isolated');
    assert.equal((await vsctl(ovs, ['get', 'Port', 'qvo2', 'tag'])).stdout.trim(), '2');
    // TCP and UDP too: the sender leaves their checksums to offload (see startOwnOvs).
    const udp = runInNamespace(
      vms[1],
      'python3',
      [
        '-c',
        'import socket;s=socket.socket(2,2);s.bind(("10.88.0.2",9999));s.settimeout(6);print(s.recv(64).decode())',
      ],
      { allowFail: true },
    );
    // The receiver's Python may take a while to bind on a loaded machine: send for up to 4 s.
    await runInNamespace(vms[0], 'python3', [
      '-c',
      'import socket,time;s=socket.socket(2,2);[(s.sendto(b"over-ovs",("10.88.0.2",9999)),time.sleep(0.2)) for _ in range(20)]',
    ]);
    assert.equal((await udp).stdout.trim(), 'over-ovs', 'a UDP datagram crosses the userspace datapath');
    const tcp = runInNamespace(
      vms[1],
      'python3',
      [
        '-c',
        'import socket;s=socket.socket();s.bind(("10.88.0.2",9998));s.listen();s.settimeout(5);c,_=s.accept();print(c.recv(64).decode())',
      ],
      { allowFail: true },
    );
    // Until the listener is up (its Python may be slow to start), a connection is refused: retry.
    await runInNamespace(vms[0], 'python3', [
      '-c',
      [
        'import socket,time',
        'for _ in range(25):',
        '  try:',
        '    c=socket.create_connection(("10.88.0.2",9998),timeout=5);c.sendall(b"tcp-over-ovs");break',
        '  except ConnectionRefusedError:',
        '    time.sleep(0.2)',
      ].join('\n'),
    ]);
    assert.equal((await tcp).stdout.trim(), 'tcp-over-ovs', 'a TCP connection crosses it');
  });

  it('keeps the bridge and its ports across a restart of its daemons', async () => {
    await stopOwnOvs(stateDir);
    assert.deepEqual(await daemonsAlive(), [false, false]);
    const ovs = await startOwnOvs(stateDir, host);
    const ports = (await vsctl(ovs, ['list-ports', 'br-int'])).stdout.trim().split('\n');
    assert.deepEqual(ports.sort(), ['qvo0', 'qvo1', 'qvo2']);
    // The switch relearns: the same-tag pair talks again.
    let code = 1;
    for (let i = 0; i < 5 && code !== 0; i++) code = (await ping(vms[0], '10.88.0.2')).code ?? 1;
    assert.equal(code, 0);
  });

  it('stops leaving no daemon and, asked to clean up, none of its userspace devices nor its files', async () => {
    await stopOwnOvs(stateDir, { cleanup: true, netns: host });
    assert.deepEqual(await daemonsAlive(), [false, false]);
    const links = (await ipJson<{ ifname: string }[]>(['link', 'show'], { netns: host })).map(
      (l) => l.ifname,
    );
    assert.ok(!links.includes('br-int') && !links.includes('ovs-netdev'), links.join(' '));
    const ps = await run('ps', ['-e', '-o', 'args=']);
    assert.ok(!ps.stdout.includes(ovsDir(stateDir)), 'no process of this Open vSwitch');
    assert.ok(!existsSync(ovsDir(stateDir)), 'its directory is gone');
  });
});
