/**
 * `startDaemons` with real processes (root): commands start in their namespace with their
 * variables and their arguments exactly as given (spaces, empty ones), in a session of their own
 * (a Ctrl-C to Neutrino never reaches them); each pid is returned at once and recorded in the
 * command's pid file, and is the command's own once it runs (observe takes the launcher's
 * subshell for it meanwhile); line breaks are refused.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { addNamespace, deleteNamespace } from '../../src/linux/ip.js';
import { isAlive, isLauncher, readCmdline, startDaemons, stopProcess } from '../../src/linux/process.js';
import { until } from '../helpers/until.js';

const isRoot = process.getuid?.() === 0;
/** Records its namespace, variable and arguments, writes its pid file (`$1`), then waits. */
const DAEMON = [
  'sh',
  '-c',
  'readlink /proc/self/ns/net > "$1.ns"; printf "%s\\n" "$GREETING" "$@" > "$1.args"; echo $$ > "$1"; exec sleep 60',
  'daemon',
];

describe('startDaemons (real processes)', { skip: !isRoot && 'needs root' }, () => {
  const netns = `neutrino-sd${randomBytes(3).toString('hex')}`;
  let dir: string;
  const started: number[] = [];

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'neutrino-start-daemons-'));
    await addNamespace(netns);
  });
  after(async () => {
    for (const pid of started) await stopProcess(pid);
    await deleteNamespace(netns);
    await rm(dir, { recursive: true, force: true });
  });

  it('starts each command in its namespace with its variables and arguments, in its own session', async () => {
    const [a, b] = [join(dir, 'a.pid'), join(dir, 'b.pid')];
    const pids = await startDaemons([
      { netns, argv: [...DAEMON, a, 'two words', '', 'x'], env: { GREETING: 'hello there' }, pidFile: a },
      { argv: [...DAEMON, b], pidFile: b },
    ]);
    assert.ok(
      pids.every((p) => typeof p === 'number'),
      String(pids),
    );
    started.push(...pids);
    const [pa, pb] = pids;
    assert.ok((await isAlive(pa)) && (await isAlive(pb)));
    for (const pid of pids)
      await until(
        `pid ${pid} runs sleep`,
        async () => (await readCmdline(pid))?.join(' ') === 'sleep 60',
        5_000,
        10,
      );
    assert.equal(
      (await readFile(`${a}.args`, 'utf8')).split('\n').slice(0, 5).join('|'),
      `hello there|${a}|two words||x`,
    );
    const { ino } = await stat(`/run/netns/${netns}`);
    assert.equal((await readFile(`${a}.ns`, 'utf8')).trim(), `net:[${ino}]`, 'inside the namespace');
    assert.notEqual((await readFile(`${b}.ns`, 'utf8')).trim(), `net:[${ino}]`, 'the root namespace');
    const sid = async (pid: number) =>
      (await readFile(`/proc/${pid}/stat`, 'utf8')).split(') ')[1].split(' ')[3];
    assert.notEqual(await sid(pa), await sid(process.pid), 'not in our session');
  });

  it('records each pid in its pid file at once, whether or not the command writes one', async () => {
    const quiet = join(dir, 'quiet.pid');
    const [pid] = await startDaemons([{ argv: ['sleep', '30'], pidFile: quiet }]);
    started.push(pid);
    assert.equal((await readFile(quiet, 'utf8')).trim(), String(pid));
    const first = await readCmdline(pid);
    assert.ok(
      first && (isLauncher(first) || first.join(' ') === 'sleep 30'),
      `the launcher's subshell or the command: ${first}`,
    );
    await until(
      'the pid runs the command',
      async () => (await readCmdline(pid))?.join(' ') === 'sleep 30',
      5_000,
      10,
    );
  });

  it('refuses arguments with line breaks and bad variable names before starting anything', async () => {
    await assert.rejects(
      startDaemons([{ argv: ['echo', 'a\nb'], pidFile: join(dir, 'x.pid') }]),
      /line break/,
    );
    await assert.rejects(
      startDaemons([{ argv: ['true'], env: { 'BAD NAME': '1' }, pidFile: join(dir, 'y.pid') }]),
      /invalid variable name/,
    );
  });
});
