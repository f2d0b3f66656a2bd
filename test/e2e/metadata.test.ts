/**
 * The metadata service through a real `neutrino up` (root), as cloud-init uses it: two instances on
 * one network, created with user data, a public key and properties, fetch
 * http://169.254.169.254/… with busybox `wget` from inside their namespaces (the route to it comes
 * from DHCP option 121, the proxy runs in the network's DHCP namespace and stamps the source
 * address; the agent relays to the API). Each gets its own data, a forged X-Forwarded-For naming
 * the other instance changes nothing, a spoofed source gets no answer (port security drops it)
 * and an address no instance holds gets 404.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { runInNamespace } from '../../src/linux/exec.js';
import { NeutrinoUp } from '../helpers/neutrino-up.js';
import { until } from '../helpers/until.js';

const isRoot = process.getuid?.() === 0;
const INSTANCES = '/neutrino/v1/instances';
const BASE = 'http://169.254.169.254';

interface Instance {
  id: string;
  name: string;
  status: string;
  ports: { fixed_ips: { ip_address: string }[] }[];
}

/** `busybox wget -q -O - URL` inside an instance: its output, or null when it failed. */
async function wget(instance: Instance, path: string, headers: string[] = []): Promise<string | null> {
  const { code, stdout } = await runInNamespace(
    `inst-${instance.id}`,
    'busybox',
    ['wget', '-q', '-O', '-', ...headers.flatMap((h) => ['--header', h]), `${BASE}${path}`],
    { allowFail: true, timeoutMs: 15_000 },
  );
  return code === 0 ? stdout : null;
}

describe('metadata service at 169.254.169.254 (real kernel)', { skip: !isRoot && 'needs root' }, () => {
  const up = new NeutrinoUp();
  let a: Instance;
  let b: Instance;
  let networkId = '';

  before(async () => {
    await up.start();
    const api = up.session;
    const { network } = await api.post<{ network: { id: string } }>('/v2.0/networks', {
      network: { name: 'md' },
    });
    networkId = network.id;
    await api.post('/v2.0/subnets', {
      subnet: { network_id: network.id, ip_version: 4, cidr: '10.62.0.0/24', name: 'md-sub' },
    });
    const create = async (name: string, userData: string) =>
      (
        await api.post<{ instance: Instance }>(INSTANCES, {
          instance: {
            name,
            networks: [{ network_id: network.id }],
            user_data: Buffer.from(userData).toString('base64'),
            public_key: `ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAA${name} ${name}@test`,
            key_name: `${name}-key`,
            metadata: { role: name },
          },
        })
      ).instance;
    const ids = [
      (await create('md-a', '#cloud-config\nhostname: md-a\n')).id,
      (await create('md-b', '#!/bin/sh\necho b\n')).id,
    ];
    [a, b] = await Promise.all(
      ids.map((id) =>
        until(
          `instance ${id} ACTIVE`,
          async () => {
            const { instance } = await api.get<{ instance: Instance }>(`${INSTANCES}/${id}`);
            return instance.status === 'ACTIVE' ? instance : undefined;
          },
          60_000,
        ),
      ),
    );
  });
  after(() => up.cleanup());

  it('serves each instance its own OpenStack and EC2 metadata and user data', async () => {
    const meta = await until(
      'meta_data.json from md-a',
      () => wget(a, '/openstack/latest/meta_data.json'),
      30_000,
    );
    const parsed = JSON.parse(meta!);
    assert.equal(parsed.uuid, a.id);
    assert.equal(parsed.name, 'md-a');
    assert.deepEqual(parsed.meta, { role: 'md-a' });
    assert.match(JSON.stringify(parsed.public_keys), /md-a@test/);
    assert.equal(await wget(a, '/openstack/latest/user_data'), '#cloud-config\nhostname: md-a\n');
    assert.equal(await wget(b, '/openstack/latest/user_data'), '#!/bin/sh\necho b\n');
    assert.equal(await wget(a, '/latest/meta-data/instance-id'), a.id);
    assert.equal(await wget(a, '/latest/meta-data/local-ipv4'), a.ports[0].fixed_ips[0].ip_address);
    assert.match((await wget(b, '/latest/meta-data/public-keys/0/openssh-key')) ?? '', /md-b@test/);
    const network = JSON.parse((await wget(a, '/openstack/latest/network_data.json'))!);
    assert.ok(Array.isArray(network.links) && network.links.length === 1);
  });

  it("refuses another instance's data: a forged X-Forwarded-For is replaced by the real source", async () => {
    const forged = await wget(b, '/latest/meta-data/instance-id', [
      `X-Forwarded-For: ${a.ports[0].fixed_ips[0].ip_address}`,
      'X-Neutrino-Network-ID: 00000000-0000-4000-8000-000000000000',
    ]);
    assert.equal(forged, b.id);
    // A spoofed source address never reaches the proxy: port security drops it on the bridge.
    const ns = `inst-${b.id}`;
    const route = (await runInNamespace(ns, 'ip', ['route', 'get', '169.254.169.254'])).stdout;
    const via = /via (\S+)/.exec(route)?.[1];
    assert.ok(via, `DHCP routes 169.254.169.254 through the DHCP port: ${route}`);
    await runInNamespace(ns, 'ip', ['addr', 'add', '10.62.0.250/24', 'dev', 'eth0']);
    try {
      await runInNamespace(ns, 'ip', [
        ...['route', 'replace', '169.254.169.254/32', 'via', via, 'dev', 'eth0', 'src', '10.62.0.250'],
      ]);
      const spoofed = await runInNamespace(
        ns,
        'busybox',
        ['wget', '-q', '-O', '-', `${BASE}/latest/meta-data/instance-id`],
        {
          allowFail: true,
          timeoutMs: 5_000,
        },
      ).catch(() => ({ code: -1, stdout: '' }));
      assert.notEqual(spoofed.code, 0, `no answer to a spoofed source: ${spoofed.stdout}`);
    } finally {
      await runInNamespace(ns, 'ip', ['route', 'replace', '169.254.169.254/32', 'via', via, 'dev', 'eth0'], {
        allowFail: true,
      });
      await runInNamespace(ns, 'ip', ['addr', 'del', '10.62.0.250/24', 'dev', 'eth0'], { allowFail: true });
    }
    // An address no instance holds (the DHCP namespace's own) gets a 404.
    const { code, stderr } = await runInNamespace(
      `qdhcp-${networkId}`,
      'busybox',
      ['wget', '-q', '-O', '-', `${BASE}/latest/meta-data/instance-id`],
      { allowFail: true, timeoutMs: 15_000 },
    );
    assert.notEqual(code, 0);
    assert.match(stderr, /404/);
  });
});
