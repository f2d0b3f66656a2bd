/**
 * `neutrino up`'s pre-flight against a real routing table: in a scratch namespace of this test's
 * own (never the host's table), a veth holds 198.51.100.7/24, so that range is routed elsewhere.
 * The pre-flight refuses it with one line naming the route and the flag, `up` run inside the
 * namespace exits non-zero having created nothing, the default moves to the next free range, and
 * a bridge the same deployment made earlier does not count against its own range.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ownerTag } from '../../src/agent/state/host-state.js';
import { chooseExternalNetwork } from '../../src/cli/external-network.js';
import { runInNamespace } from '../../src/linux/exec.js';
import { RouteConflictError } from '../../src/linux/host-routes.js';
import { addNamespace, deleteNamespace, ipBatch, ipJson } from '../../src/linux/ip.js';
import { BIN } from '../helpers/neutrino-up.js';

const isRoot = process.getuid?.() === 0;
const r = randomBytes(3).toString('hex');
const netns = `neutrino-rc${r}`;

describe('route conflicts before an address goes on a host bridge', { skip: !isRoot && 'needs root' }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'neutrino-rc-'));
  const stateDir = join(dir, 'state');

  before(async () => {
    await addNamespace(netns);
    await ipBatch(
      [
        ['link', 'set', 'lo', 'up'],
        ['link', 'add', 'vrc0', 'type', 'veth', 'peer', 'name', 'vrc1'],
        ['addr', 'add', '198.51.100.7/24', 'dev', 'vrc0'],
        ['link', 'set', 'vrc0', 'up'],
        ['link', 'set', 'vrc1', 'up'],
      ],
      { netns, force: false },
    );
  });
  after(async () => {
    await deleteNamespace(netns);
    rmSync(dir, { recursive: true, force: true });
  });

  const links = async () =>
    (await ipJson<{ ifname: string }[]>(['link', 'show'], { netns })).map((l) => l.ifname);

  it('refuses a range routed through another device, in one line naming the route and the flag', async () => {
    await assert.rejects(
      chooseExternalNetwork({ cidr: '198.51.100.16/28', bridge: 'br-ex', stateDir, netns }),
      (err: Error) => {
        assert.ok(err instanceof RouteConflictError);
        assert.equal(
          err.message,
          "198.51.100.16/28 overlaps the host's route 198.51.100.0/24 dev vrc0 proto kernel; choose another range with --external-cidr",
        );
        return true;
      },
    );
  });

  it('neutrino up inside the namespace exits non-zero with that one line and creates nothing', async () => {
    const before = await links();
    const config = join(dir, 'empty.yaml');
    writeFileSync(config, '{}\n');
    const result = await runInNamespace(
      netns,
      process.execPath,
      [
        BIN,
        'up',
        '--config',
        config,
        '--state-dir',
        stateDir,
        '--port',
        '0',
        '--host-name',
        `rc-${r}`,
        '--external-bridge',
        `br-rc${r}`,
        '--external-cidr',
        '198.51.100.0/24',
      ],
      { allowFail: true, timeoutMs: 60_000 },
    );
    assert.notEqual(result.code, 0);
    assert.equal(
      result.stderr,
      "neutrino: 198.51.100.0/24 overlaps the host's route 198.51.100.0/24 dev vrc0 proto kernel; choose another range with --external-cidr\n",
    );
    assert.equal(result.stdout, '');
    assert.equal(existsSync(stateDir), false, 'no state dir');
    assert.deepEqual(await links(), before, 'no bridge');
  });

  it('takes the next free documentation range by default', async () => {
    const { network, picked } = await chooseExternalNetwork({ bridge: 'br-ex', stateDir, netns });
    assert.equal(picked, true);
    assert.deepEqual(network, { cidr: '203.0.113.0/24', gateway: '203.0.113.1', prefixLength: 24 });
  });

  it("does not count the deployment's own external bridge, nor the bridge it is told to use", async () => {
    await ipBatch(
      [
        ['link', 'add', 'brrc0', 'type', 'bridge'],
        ['link', 'set', 'brrc0', 'alias', `neutrino-external@${ownerTag(stateDir)}`],
        ['addr', 'add', '203.0.113.1/24', 'dev', 'brrc0'],
        ['link', 'set', 'brrc0', 'up'],
      ],
      { netns, force: false },
    );
    const again = await chooseExternalNetwork({ bridge: 'br-ex', stateDir, netns });
    assert.equal(again.network.cidr, '203.0.113.0/24', 'the range of its earlier bridge, still');
    const other = await chooseExternalNetwork({ bridge: 'br-ex', stateDir: join(dir, 'other'), netns });
    assert.equal(other.network.cidr, '192.0.2.0/24', "another deployment's bridge counts");
    const reused = await chooseExternalNetwork({
      cidr: '203.0.113.0/24',
      bridge: 'brrc0',
      stateDir: join(dir, 'other'),
      netns,
    });
    assert.equal(reused.network.cidr, '203.0.113.0/24', 'an existing bridge of that name is used as it is');
  });
});
