/**
 * Floating IP port forwarding through a real `neutrino up` process (root, real packets): an
 * outside namespace on 198.51.100.0/24 connects to a floating IP's forwarded TCP port and reaches
 * a busybox `nc` listening on the instance's internal port (seeing the real source); a port that
 * is not forwarded (nor the internal port itself) does not connect; a shifted range maps port by
 * port; after the forwardings are deleted nothing connects and the address leaves the gateway.
 *
 * The external network is made through the API on a bridge of the test's own (`Outside`), mapped
 * as physnet `public`, with `--no-external-network`: no address or packet reaches the host's root
 * namespace.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ipJson } from '../../src/linux/ip.js';
import { activeInstance } from '../helpers/lab.js';
import { NeutrinoUp } from '../helpers/neutrino-up.js';
import { Outside } from '../helpers/outside.js';
import { until } from '../helpers/until.js';

const isRoot = process.getuid?.() === 0;
const OUTSIDE_IP = '198.51.100.254';

interface Instance {
  id: string;
  status: string;
  ports: { id: string }[];
  fault?: unknown;
}

describe('floating IP port forwarding through neutrino up (real kernel)', {
  skip: !isRoot && 'needs root',
}, () => {
  const outside = new Outside(`${OUTSIDE_IP}/24`);
  const up = new NeutrinoUp({ resyncIntervalS: 2, physicalInterfaceMappings: { public: outside.bridge } });
  let routerId: string;
  let vm: Instance;
  let fip: { id: string; floating_ip_address: string };

  /** The IPv4 addresses on the router's gateway device. */
  const gatewayAddresses = async () => {
    const links = await ipJson<{ ifname: string; addr_info: { family: string; local: string }[] }[]>(
      ['addr', 'show'],
      { netns: `qrouter-${routerId}` },
    ).catch(() => []);
    return links
      .filter((l) => l.ifname.startsWith('qg-'))
      .flatMap((l) => l.addr_info.filter((a) => a.family === 'inet').map((a) => a.local));
  };
  /** The peer a listener on the instance's `listen` port saw for a connection to FIP:`port`. */
  const connect = (port: number, listen: number) =>
    outside.tcpPeer(outside.netns, `inst-${vm.id}`, fip.floating_ip_address, port, listen);
  const forward = async (body: Record<string, unknown>) => {
    const { port_forwarding } = await up.session.post<{ port_forwarding: { id: string } }>(
      `/v2.0/floatingips/${fip.id}/port_forwardings`,
      { port_forwarding: { protocol: 'tcp', internal_port_id: vm.ports[0].id, ...body } },
    );
    return port_forwarding;
  };

  before(async () => {
    await outside.create();
    await up.start();
    const api = up.session;
    const ext = { id: await outside.publicNetwork(api) };
    const { network } = await api.post<{ network: { id: string } }>('/v2.0/networks', {
      network: { name: 'pf-net' },
    });
    const { subnet } = await api.post<{ subnet: { id: string } }>('/v2.0/subnets', {
      subnet: { network_id: network.id, ip_version: 4, cidr: '10.30.1.0/24' },
    });
    const { router } = await api.post<{ router: { id: string } }>('/v2.0/routers', {
      router: { name: 'pf-router', external_gateway_info: { network_id: ext.id } },
    });
    routerId = router.id;
    await api.put(`/v2.0/routers/${router.id}/add_router_interface`, { subnet_id: subnet.id });
    vm = await activeInstance<Instance>(api, { name: 'pf-vm', networks: [{ network_id: network.id }] });
    const { port } = await api.get<{ port: { security_groups: string[] } }>(`/v2.0/ports/${vm.ports[0].id}`);
    for (const security_group_id of port.security_groups)
      await api.post('/v2.0/security-group-rules', {
        security_group_rule: { security_group_id, direction: 'ingress', protocol: 'tcp' },
      });
    ({ floatingip: fip } = await api.post<{ floatingip: typeof fip }>('/v2.0/floatingips', {
      floatingip: { floating_network_id: ext.id },
    }));
  });

  after(async () => {
    await up.cleanup();
    await outside.remove();
  });

  it("reaches the instance's internal port by the floating IP's external port, and nothing else", async () => {
    await forward({ internal_port: 5022, external_port: 6022 });
    await until('the floating IP on qg-', async () =>
      (await gatewayAddresses()).includes(fip.floating_ip_address),
    );
    const peer = await until('a connection through the forwarded port', () => connect(6022, 5022));
    assert.equal(peer, OUTSIDE_IP, 'the instance sees the real source');
    assert.equal(await connect(6023, 6023), undefined, 'a port not forwarded');
    assert.equal(await connect(5022, 5022), undefined, 'the internal port is not open on the floating IP');
  });

  it('maps a shifted range port by port', async () => {
    await forward({ internal_port_range: '5030:5031', external_port_range: '7030:7031' });
    assert.equal(await until('the range forwarded', () => connect(7031, 5031)), OUTSIDE_IP);
    assert.equal(await connect(7030, 5031), undefined, '7030 goes to 5030, not 5031');
  });

  it('stops connecting once the forwardings are deleted, and the address leaves the gateway', async () => {
    const { port_forwardings } = await up.session.get<{ port_forwardings: { id: string }[] }>(
      `/v2.0/floatingips/${fip.id}/port_forwardings`,
    );
    assert.equal(port_forwardings.length, 2);
    for (const { id } of port_forwardings)
      await up.session.delete(`/v2.0/floatingips/${fip.id}/port_forwardings/${id}`);
    await until(
      'the floating IP off qg-',
      async () => !(await gatewayAddresses()).includes(fip.floating_ip_address),
    );
    assert.equal(await connect(6022, 5022), undefined);
    assert.equal(await connect(7031, 5031), undefined);
  });
});
