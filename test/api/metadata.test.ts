/**
 * The metadata service's backend: instances take user data, a public key and metadata on create
 * (checked as Nova checks them), and `GET /neutrino/v1/metadata/<path>` answers, for the instance
 * holding the forwarded address on the named network, what cloud-init reads (OpenStack and EC2
 * layouts); another address or network gets 404, and only admins (the agents) may ask.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { respond } from '../../src/core/metadata.js';
import { client, dialects, startTestServer, type TestServer } from '../helpers/server.js';

const KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl test@neutrino';
const USER_DATA = '#cloud-config\nhostname: from-user-data\n';

describe('metadata responses (pure)', () => {
  const source = {
    id: '11111111-2222-3333-4444-555555555555',
    name: 'vm',
    project_id: 'p',
    hostname: 'vm.openstacklocal',
    local_ipv4: '10.0.0.5',
    public_ipv4: '198.51.100.20',
    key_name: 'mykey',
    public_key: KEY,
    metadata: { role: 'web' },
    user_data: Buffer.from(USER_DATA).toString('base64'),
    domain: 'openstacklocal',
    ports: [
      {
        id: 'aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee',
        network_id: 'n',
        mac_address: 'fa:16:3e:00:00:01',
        mtu: 1450,
        fixed_ips: [
          { ip_address: '10.0.0.5', cidr: '10.0.0.0/24', gateway_ip: '10.0.0.1', dns: ['10.0.0.2'] },
        ],
      },
    ],
  };
  const body = (path: string) => String(respond(source, path).body);

  it('lists versions and serves the EC2 tree cloud-init walks', () => {
    assert.match(body('/'), /^1\.0\n.*\nlatest\nopenstack$/s);
    assert.equal(body('/latest/meta-data/instance-id'), source.id);
    assert.equal(body('/2009-04-04/meta-data/local-ipv4'), '10.0.0.5');
    assert.equal(body('/latest/meta-data/public-ipv4'), '198.51.100.20');
    assert.equal(body('/latest/meta-data/public-keys/'), '0=mykey');
    assert.equal(body('/latest/meta-data/public-keys/0/openssh-key'), KEY);
    assert.match(body('/latest/meta-data/'), /^ami-id\n.*hostname\n.*placement\/\n.*public-keys\//s);
    assert.equal(body('/latest/user-data'), USER_DATA);
    assert.equal(respond(source, '/latest/meta-data/nothing').status, 404);
    assert.equal(respond(source, '/1999-01-01/meta-data/').status, 404);
  });

  it('serves the OpenStack layout: meta_data.json, network_data.json, user_data', () => {
    const meta = JSON.parse(body('/openstack/latest/meta_data.json'));
    assert.equal(meta.uuid, source.id);
    assert.deepEqual(meta.public_keys, { mykey: KEY });
    assert.deepEqual(meta.meta, { role: 'web' });
    assert.equal(meta.hostname, 'vm.openstacklocal');
    const net = JSON.parse(body('/openstack/2018-08-27/network_data.json'));
    assert.equal(net.links[0].ethernet_mac_address, 'fa:16:3e:00:00:01');
    assert.equal(net.links[0].mtu, 1450);
    assert.deepEqual(
      {
        ip: net.networks[0].ip_address,
        mask: net.networks[0].netmask,
        gw: net.networks[0].routes[0].gateway,
      },
      { ip: '10.0.0.5', mask: '255.255.255.0', gw: '10.0.0.1' },
    );
    assert.deepEqual(net.services, [{ type: 'dns', address: '10.0.0.2' }]);
    assert.equal(body('/openstack/latest/user_data'), USER_DATA);
    assert.match(body('/openstack'), /2012-08-10\n.*latest$/s);
  });
});

for (const dialect of dialects()) {
  describe(`metadata service backend (${dialect})`, () => {
    let t: TestServer;
    let admin: ReturnType<typeof client>;
    let netId = '';
    before(async () => {
      t = await startTestServer(dialect);
      admin = client(t, t.adminToken);
      netId = (await admin.post('/v2.0/networks', { network: { name: 'md-net' } })).body.network.id;
      await admin.post('/v2.0/subnets', {
        subnet: { network_id: netId, ip_version: 4, cidr: '10.88.0.0/24' },
      });
    });
    after(() => t.close());

    const create = (instance: Record<string, unknown>, c = admin) =>
      c.post('/neutrino/v1/instances', {
        instance: { name: 'md-vm', networks: [{ network_id: netId }], ...instance },
      });
    const ask = (path: string, address: string, network = netId, c = admin) =>
      c.get(`/neutrino/v1/metadata${path}`, { 'x-neutrino-network-id': network, 'x-forwarded-for': address });

    it('takes user data, a key and metadata, and serves them for the instance’s own address only', async () => {
      const r = await create({
        user_data: Buffer.from(USER_DATA).toString('base64'),
        public_key: KEY,
        key_name: 'mykey',
        metadata: { role: 'db' },
      });
      assert.equal(r.status, 201, JSON.stringify(r.body));
      const vm = r.body.instance;
      assert.equal(vm.key_name, 'mykey');
      assert.deepEqual(vm.metadata, { role: 'db' });
      assert.equal(vm.user_data, undefined, 'user data is not shown');
      const address = vm.ports[0].fixed_ips[0].ip_address;

      const id = await ask('/latest/meta-data/instance-id', address);
      assert.equal(id.status, 200);
      assert.equal(id.body, vm.id);
      const meta = await ask('/openstack/latest/meta_data.json', address);
      assert.deepEqual(meta.body.public_keys, { mykey: KEY });
      assert.deepEqual(meta.body.meta, { role: 'db' });
      const userData = await ask('/openstack/latest/user_data', address);
      assert.equal(userData.body, USER_DATA);

      const other = await create({ name: 'md-other' });
      const otherAddress = other.body.instance.ports[0].fixed_ips[0].ip_address;
      const seen = await ask('/latest/meta-data/instance-id', otherAddress);
      assert.equal(seen.body, other.body.instance.id, 'each address gets its own instance');
      assert.equal(
        (await ask('/openstack/latest/user_data', otherAddress)).status,
        404,
        'no user data given',
      );
      assert.equal((await ask('/latest/meta-data/instance-id', '10.88.0.250')).status, 404, 'nobody there');
      const elsewhere = (await admin.post('/v2.0/networks', { network: { name: 'md-else' } })).body.network
        .id;
      assert.equal((await ask('/latest/meta-data/instance-id', address, elsewhere)).status, 404);

      const member = client(t, (await t.newProjectUser()).token);
      assert.equal((await ask('/latest/meta-data/instance-id', address, netId, member)).status, 403);
      const noHeaders = await admin.get('/neutrino/v1/metadata/latest/meta-data/instance-id');
      assert.equal(noHeaders.status, 400);
    });

    it('refuses bad user data and a key name without its key, making nothing', async () => {
      const before = (await admin.get('/neutrino/v1/instances')).body.instances.length;
      const bad = await create({ user_data: 'not base64!' });
      assert.equal(bad.status, 400);
      assert.equal(
        bad.body.NeutronError.message,
        'Invalid input for operation: User data needs to be valid base 64.',
      );
      const keyless = await create({ key_name: 'k' });
      assert.equal(keyless.status, 400);
      assert.match(keyless.body.NeutronError.message, /key_name k needs public_key/);
      const huge = await create({ user_data: Buffer.alloc(70_000).toString('base64').slice(0, 87_384) });
      assert.equal(huge.status, 400);
      assert.equal((await admin.get('/neutrino/v1/instances')).body.instances.length, before);
    });
  });
}
