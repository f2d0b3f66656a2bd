/**
 * HA routers, the server's part (`l3-ha`): `ha` is for admins and defaults to `l3_ha`; an HA router
 * gets its project's hidden HA network (one per project, gone with its last HA router) and a VRRP
 * id; it is scheduled to two network hosts, each with an HA port there, and each host's snapshot
 * carries the VRRP settings; `l3-agents` shows `ha_state`; a host reporting master takes the
 * router's ports (l2population then points at it); a router on one host cannot turn HA while up.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Snapshot } from '../../src/model/host-snapshot.js';
import { client, dialects, startTestServer, type TestServer } from '../helpers/server.js';

type Client = ReturnType<typeof client>;

for (const dialect of dialects()) {
  describe(`HA routers (${dialect})`, () => {
    let t: TestServer;
    let admin: Client;
    let member: Client;
    let projectId: string;
    let external: { id: string };

    const ok = (r: { status: number; body: unknown }, status = 200) =>
      assert.equal(r.status, status, JSON.stringify(r.body));
    const register = async (host: string) => {
      for (const agent_type of ['Linux bridge agent', 'DHCP agent', 'L3 agent'])
        ok(
          await admin.post(`/neutrino/v1/hosts/${host}/heartbeat`, {
            agent: {
              agent_type,
              binary: 'neutrino-agent',
              configurations: {
                roles: ['compute', 'network'],
                tunneling_ip: host === 'ha1' ? '10.9.0.1' : '10.9.0.2',
              },
            },
          }),
        );
    };
    const sync = async (host: string): Promise<Snapshot> => {
      const r = await admin.post(`/neutrino/v1/hosts/${host}/sync`, undefined);
      ok(r);
      return r.body.snapshot;
    };
    const report = async (host: string, ha_states: Record<string, string>) =>
      ok(
        await admin.post(`/neutrino/v1/hosts/${host}/status`, {
          revision: await t.store.latestRevision(),
          ports: {},
          ha_states,
        }),
        204,
      );
    const l3Agents = async (routerId: string) => {
      const r = await admin.get(`/v2.0/routers/${routerId}/l3-agents`);
      ok(r);
      return (r.body.agents as { host: string; ha_state: string | null }[])
        .map((a) => [a.host, a.ha_state])
        .sort();
    };
    /** A router of the member's project with an interface on a new subnet and the external gateway. */
    const haRouter = async (name: string, cidr: string, ha: boolean | undefined = true) => {
      const net = (await member.post('/v2.0/networks', { network: { name } })).body.network;
      const subnet = (
        await member.post('/v2.0/subnets', { subnet: { network_id: net.id, ip_version: 4, cidr } })
      ).body.subnet;
      const r = await admin.post('/v2.0/routers', {
        router: {
          name,
          project_id: projectId,
          external_gateway_info: { network_id: external.id },
          ...(ha === undefined ? {} : { ha }),
        },
      });
      ok(r, 201);
      ok(
        await member.put(`/v2.0/routers/${r.body.router.id}/add_router_interface`, { subnet_id: subnet.id }),
      );
      return { router: r.body.router as { id: string; ha: boolean }, net, subnet };
    };

    before(async () => {
      t = await startTestServer(dialect, { tenantNetworkType: 'vxlan', haVrrpAdvertInt: 1 });
      admin = client(t, t.adminToken);
      const user = await t.newProjectUser();
      member = client(t, user.token);
      projectId = user.projectId;
      for (const host of ['ha1', 'ha2']) await register(host);
      const ext = await admin.post('/v2.0/networks', {
        network: { name: 'ha-ext', 'router:external': true },
      });
      ok(ext, 201);
      external = ext.body.network;
      ok(
        await admin.post('/v2.0/subnets', {
          subnet: { network_id: external.id, ip_version: 4, cidr: '198.51.100.0/24', enable_dhcp: false },
        }),
        201,
      );
    });
    after(() => t.close());

    it('lists the l3-ha extension and refuses ha from members', async () => {
      const { extensions } = (await admin.get('/v2.0/extensions')).body;
      assert.ok(extensions.some((e: { alias: string }) => e.alias === 'l3-ha'));
      const r = await member.post('/v2.0/routers', { router: { name: 'x', ha: true } });
      assert.equal(r.status, 403, JSON.stringify(r.body));
      assert.equal(r.body.NeutronError.type, 'PolicyNotAuthorized');
      const mine = await member.post('/v2.0/routers', { router: { name: 'plain' } });
      ok(mine, 201);
      assert.equal(mine.body.router.ha, undefined, 'members do not see ha');
      ok(await member.del(`/v2.0/routers/${mine.body.router.id}`), 204);
    });

    it('schedules an HA router to two hosts with an HA port each, over a hidden HA network', async () => {
      const { router } = await haRouter('ha-a', '10.70.0.0/24');
      assert.equal(router.ha, true);
      const s1 = await sync('ha1');
      const s2 = await sync('ha2');
      assert.deepEqual(await l3Agents(router.id), [
        ['ha1', 'standby'],
        ['ha2', 'standby'],
      ]);
      const r1 = s1.routers.find((r) => r.id === router.id)!;
      const r2 = s2.routers.find((r) => r.id === router.id)!;
      assert.ok(r1.ha && r2.ha, 'both hosts hold the router as HA');
      assert.equal(r1.ha.vrid, 1);
      assert.equal(r1.ha.advert_int, 1);
      assert.ok(r1.ha.port && r2.ha?.port);
      assert.notEqual(r1.ha.port.port_id, r2.ha.port.port_id);
      assert.equal(r1.ha.port.network_id, r2.ha.port.network_id);
      assert.match(r1.ha.port.addresses[0].ip_address, /^169\.254\.(19[2-9]|2[0-5][0-9])\./);
      const haNet = s1.networks.find((n) => n.id === r1.ha?.port?.network_id);
      assert.equal(haNet?.network_type, 'vxlan', 'the HA network is of the tenant type');
      // l2population: each host knows the other's HA port on the HA network (ha1 once it syncs
      // again after ha2's port appeared; a real agent is woken by that port's revision).
      const again = await sync('ha1');
      assert.ok(again.l2population?.[haNet.id]?.some((peer) => peer.host === 'ha2'));

      const nets = (await member.get('/v2.0/networks')).body.networks as { name: string }[];
      assert.ok(!nets.some((n) => n.name.startsWith('HA network')), 'hidden from the project');
      const all = (await admin.get(`/v2.0/networks?name=HA network tenant ${projectId}`)).body.networks;
      assert.equal(all.length, 1);
      assert.equal(all[0].project_id, '');
      const haPorts = (
        await admin.get(`/v2.0/ports?device_id=${router.id}&device_owner=network:router_ha_interface`)
      ).body.ports as { id: string; 'binding:host_id': string }[];
      assert.deepEqual(haPorts.map((p) => p['binding:host_id']).sort(), ['ha1', 'ha2']);
      const del = await admin.del(`/v2.0/ports/${haPorts[0].id}`);
      assert.equal(del.status, 409, 'HA ports are the router’s');
    });

    it('binds the router’s ports to the host that reports master, and shows ha_state', async () => {
      const { router } = await haRouter('ha-b', '10.71.0.0/24');
      await sync('ha1');
      await sync('ha2');
      const bound = async () =>
        ((await admin.get(`/v2.0/ports?device_id=${router.id}`)).body.ports as Record<string, string>[])
          .filter((p) => p.device_owner !== 'network:router_ha_interface')
          .map((p) => p['binding:host_id']);
      assert.deepEqual([...new Set(await bound())], ['ha1'], 'before any report: the first host');
      await report('ha2', { [router.id]: 'active' });
      await report('ha1', { [router.id]: 'standby' });
      assert.deepEqual(await l3Agents(router.id), [
        ['ha1', 'standby'],
        ['ha2', 'active'],
      ]);
      assert.deepEqual([...new Set(await bound())], ['ha2']);
      const s1 = await sync('ha1');
      const s2 = await sync('ha2');
      assert.deepEqual([...new Set(await bound())], ['ha2'], 'the syncs leave them with the master');
      assert.equal(s2.routers.find((r) => r.id === router.id)?.ha?.vrid, 2, 'a VRRP id of its own');
      const mac = s2.routers.find((r) => r.id === router.id)!.interfaces[0].mac_address;
      const net = s2.routers.find((r) => r.id === router.id)!.interfaces[0].network_id;
      assert.ok(
        !s1.l2population?.[net]?.some((peer) => peer.ports.some((p) => p.mac_address === mac)),
        'the standby host does not proxy its own router’s addresses (it would answer the master’s gratuitous ARPs)',
      );
      const revision = await t.store.latestRevision();
      await report('ha2', { [router.id]: 'active' });
      assert.equal(await t.store.latestRevision(), revision, 'an unchanged report writes nothing');

      // A partition heals: the other side was master too and says so first, then yields.
      await report('ha1', { [router.id]: 'active' });
      assert.deepEqual([...new Set(await bound())], ['ha1'], 'the latest master takes the ports');
      await report('ha1', { [router.id]: 'standby' });
      assert.deepEqual([...new Set(await bound())], ['ha2'], 'and hands them back when it yields');
      assert.deepEqual(await l3Agents(router.id), [
        ['ha1', 'standby'],
        ['ha2', 'active'],
      ]);
    });

    it('turns a router HA only while it is down, and deletes the HA network with the last HA router', async () => {
      const { router, subnet } = await haRouter('plain', '10.72.0.0/24', false);
      assert.equal(router.ha, false);
      const up = await admin.put(`/v2.0/routers/${router.id}`, { router: { ha: true } });
      assert.equal(up.status, 400, JSON.stringify(up.body));
      assert.match(up.body.NeutronError.message, /admin_state_up to False/);
      ok(await admin.put(`/v2.0/routers/${router.id}`, { router: { admin_state_up: false, ha: true } }));
      await sync('ha1');
      await sync('ha2');
      assert.equal((await l3Agents(router.id)).length, 2);
      ok(await admin.put(`/v2.0/routers/${router.id}`, { router: { ha: false } }));
      assert.equal((await l3Agents(router.id)).length, 1, 'back to one host');
      assert.deepEqual(
        (await admin.get(`/v2.0/ports?device_id=${router.id}&device_owner=network:router_ha_interface`)).body
          .ports,
        [],
      );

      const routers = (await admin.get('/v2.0/routers')).body.routers as { id: string; ha: boolean }[];
      for (const r of routers) {
        const ports = (await admin.get(`/v2.0/ports?device_id=${r.id}&device_owner=network:router_interface`))
          .body.ports as { fixed_ips: { subnet_id: string }[] }[];
        for (const p of ports)
          ok(
            await admin.put(`/v2.0/routers/${r.id}/remove_router_interface`, {
              subnet_id: p.fixed_ips[0].subnet_id,
            }),
          );
        ok(await admin.del(`/v2.0/routers/${r.id}`), 204);
      }
      assert.ok(subnet.id);
      const left = (await admin.get('/v2.0/networks')).body.networks as { name: string }[];
      assert.ok(
        !left.some((n) => n.name.startsWith('HA network')),
        'the HA network went with the last HA router',
      );
    });
  });
}
