/**
 * Routers and floating IPs through a real `neutrino up` process driven by the API (root, real
 * packets): two subnets joined by a router; SNAT to the gateway address (none with enable_snat off);
 * an outside host reaching an instance by its floating IP and seeing that IP when the instance
 * connects out; hairpin; an extra route through an instance acting as a gateway; disassociation
 * cutting an established flow at once; re-association; two projects with the same CIDR, each with a
 * router and a floating IP; NAT drift repaired within the resync interval; router deletion removing
 * its namespace. Then `up`'s own external network: its bridge (with the host's address, no
 * forwarding), the `public` network, restart, and `neutrino down` removing the bridge. Security
 * groups deny ingress by default: the first deployment's instances reached from outside get rules
 * allowing TCP and ICMP, and the instance acting as a gateway allowed address pairs for what it
 * forwards (in the second, the outside host's address is held by a port of the default group).
 *
 * The first deployment runs with `--no-external-network`: the external network is made through the
 * API on a bridge of the test's own, mapped as physnet `public`, whose "outside" namespace is also
 * the external gateway, so no packet reaches the host. The second uses a random /28 of
 * 198.51.100.0/24 and a random `br-ex<hex>`, so parallel runs never meet.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { Session } from '../../src/client/session.js';
import { run, runInNamespace } from '../../src/linux/exec.js';
import { ipBatch, ipJson, listNamespaces } from '../../src/linux/ip.js';
import { readSysctl } from '../../src/linux/sysctl.js';
import { NeutrinoUp, ownedObjects } from '../helpers/neutrino-up.js';
import { Outside } from '../helpers/outside.js';
import { until } from '../helpers/until.js';

const isRoot = process.getuid?.() === 0;
const LEAK_CHECK = '/work/shared/tools/leak-check';
const INSTANCES = '/neutrino/v1/instances';

interface Port {
  id: string;
  status: string;
  mac_address: string;
  fixed_ips: { subnet_id: string; ip_address: string }[];
  security_groups: string[];
}
interface Instance {
  id: string;
  status: string;
  ports: Port[];
  fault?: unknown;
}
interface Router {
  id: string;
  external_gateway_info: { network_id: string; external_fixed_ips: { ip_address: string }[] } | null;
}
interface FloatingIp {
  id: string;
  floating_ip_address: string;
}

const ns = (i: Instance) => `inst-${i.id}`;
const ipOf = (i: Instance, nic = 0) => i.ports[nic].fixed_ips[0].ip_address;

async function ping(from: Instance, to: string): Promise<boolean> {
  const { code } = await runInNamespace(ns(from), 'ping', ['-c', '1', '-W', '1', to], { allowFail: true });
  return code === 0;
}

/** The IPv4 addresses on a router's gateway device. */
async function gatewayAddresses(router: Router): Promise<string[]> {
  const links = await ipJson<
    { ifname: string; addr_info: { family: string; local: string; prefixlen: number }[] }[]
  >(['addr', 'show'], { netns: `qrouter-${router.id}` }).catch(() => []);
  return links
    .filter((l) => l.ifname.startsWith('qg-'))
    .flatMap((l) => l.addr_info.filter((a) => a.family === 'inet').map((a) => `${a.local}/${a.prefixlen}`));
}

/** An API client for one project: networks, routers, instances, floating IPs. */
class Tenant {
  constructor(
    readonly api: Session,
    readonly external: string,
  ) {}

  async network(name: string, cidr: string, gateway = true): Promise<{ network: string; subnet: string }> {
    const { network } = await this.api.post<{ network: { id: string } }>('/v2.0/networks', {
      network: { name },
    });
    const { subnet } = await this.api.post<{ subnet: { id: string } }>('/v2.0/subnets', {
      subnet: { network_id: network.id, ip_version: 4, cidr, ...(gateway ? {} : { gateway_ip: null }) },
    });
    return { network: network.id, subnet: subnet.id };
  }

  async router(name: string, subnets: string[]): Promise<Router> {
    const { router } = await this.api.post<{ router: Router }>('/v2.0/routers', {
      router: { name, external_gateway_info: { network_id: this.external } },
    });
    for (const subnet_id of subnets)
      await this.api.put(`/v2.0/routers/${router.id}/add_router_interface`, { subnet_id });
    return router;
  }

  async instances(...networks: string[][]): Promise<Instance[]> {
    const ids: string[] = [];
    for (const nets of networks) {
      const { instance } = await this.api.post<{ instance: Instance }>(INSTANCES, {
        instance: {
          name: `vm-${randomBytes(2).toString('hex')}`,
          networks: nets.map((network_id) => ({ network_id })),
        },
      });
      ids.push(instance.id);
    }
    return until(`${ids.length} instances ACTIVE`, async () => {
      const all = await Promise.all(
        ids.map((id) => this.api.get<{ instance: Instance }>(`${INSTANCES}/${id}`).then((r) => r.instance)),
      );
      const failed = all.find((i) => i.status === 'ERROR');
      assert.ok(!failed, `instance in ERROR: ${JSON.stringify(failed?.fault)}`);
      return all.every((i) => i.status === 'ACTIVE') ? all : undefined;
    });
  }

  async floatingIp(port: Port | null): Promise<FloatingIp> {
    const { floatingip } = await this.api.post<{ floatingip: FloatingIp }>('/v2.0/floatingips', {
      floatingip: { floating_network_id: this.external, ...(port ? { port_id: port.id } : {}) },
    });
    return floatingip;
  }

  async associate(fip: FloatingIp, port: Port | null): Promise<void> {
    await this.api.put(`/v2.0/floatingips/${fip.id}`, { floatingip: { port_id: port?.id ?? null } });
  }

  /** Security groups deny ingress by default: let TCP and ICMP from anywhere into `vm`'s groups. */
  async allowIngress(vm: Instance): Promise<void> {
    const { port } = await this.api.get<{ port: Port }>(`/v2.0/ports/${vm.ports[0].id}`);
    for (const security_group_id of port.security_groups)
      for (const protocol of ['tcp', 'icmp'])
        await this.api.post('/v2.0/security-group-rules', {
          security_group_rule: {
            security_group_id,
            direction: 'ingress',
            protocol,
            remote_ip_prefix: '0.0.0.0/0',
          },
        });
  }
}

describe('routers and floating IPs through neutrino up (real kernel)', {
  skip: !isRoot && 'needs root',
}, () => {
  const outside = new Outside('203.0.113.254/24');
  const up = new NeutrinoUp({ resyncIntervalS: 2, physicalInterfaceMappings: { public: outside.bridge } });
  let admin: Tenant;
  let router: Router;
  let gatewayIp: string;
  let vm1: Instance;
  let vm2: Instance;
  let vm3: Instance;
  let fip: FloatingIp;
  let fipA: FloatingIp;

  before(async () => {
    await outside.create();
    await up.start();
    const { network } = await up.session.post<{ network: { id: string } }>('/v2.0/networks', {
      network: {
        name: 'public',
        'router:external': true,
        'provider:network_type': 'flat',
        'provider:physical_network': 'public',
      },
    });
    await up.session.post('/v2.0/subnets', {
      subnet: {
        network_id: network.id,
        ip_version: 4,
        cidr: '203.0.113.0/24',
        gateway_ip: '203.0.113.254',
        allocation_pools: [{ start: '203.0.113.10', end: '203.0.113.100' }],
        enable_dhcp: false,
      },
    });
    admin = new Tenant(up.session, network.id);
  });

  after(async () => {
    await up.cleanup();
    await outside.remove();
  });

  it('routes between two subnets attached to one router; router ports go ACTIVE', async () => {
    const net1 = await admin.network('net1', '10.20.1.0/24');
    const net2 = await admin.network('net2', '10.20.2.0/24');
    router = await admin.router('r1', [net1.subnet, net2.subnet]);
    gatewayIp = router.external_gateway_info!.external_fixed_ips[0].ip_address;
    [vm1, vm2, vm3] = await admin.instances([net1.network], [net2.network], [net1.network]);
    await admin.allowIngress(vm1);
    await until('vm1 reaches vm2 across the router', () => ping(vm1, ipOf(vm2)));
    assert.ok(await ping(vm2, ipOf(vm3)));
    await until('router ports ACTIVE', async () => {
      const { ports } = await up.session.get<{ ports: Port[] }>(`/v2.0/ports?device_id=${router.id}`);
      return ports.length === 3 && ports.every((p) => p.status === 'ACTIVE');
    });
    const { agents } = await up.session.get<{ agents: { agent_type: string; alive: boolean }[] }>(
      `/v2.0/agents?host=${up.host}&agent_type=L3 agent`,
    );
    assert.deepEqual(
      agents.map((a) => a.alive),
      [true],
    );
    assert.equal(await readSysctl('net.ipv4.ip_forward'), '0', 'no forwarding in the root namespace');
  });

  it('SNATs an instance without a floating IP to the gateway address', async () => {
    await until('the gateway up', async () => (await gatewayAddresses(router)).includes(`${gatewayIp}/24`));
    assert.equal(await outside.tcpPeer(ns(vm3), outside.netns, '203.0.113.254', 5001), gatewayIp);
  });

  it('reaches an instance by its floating IP from outside, and the instance goes out as that IP', async () => {
    fip = await admin.floatingIp(vm1.ports[0]);
    const started = Date.now();
    await until('the floating IP on qg-', async () =>
      (await gatewayAddresses(router)).includes(`${fip.floating_ip_address}/32`),
    );
    const peer = await until('a connection through the floating IP', () =>
      outside.tcpPeer(outside.netns, ns(vm1), fip.floating_ip_address, 5002),
    );
    assert.equal(peer, '203.0.113.254', 'the instance sees the real source');
    assert.ok(Date.now() - started < 5_000);
    assert.equal(
      await outside.tcpPeer(ns(vm1), outside.netns, '203.0.113.254', 5003),
      fip.floating_ip_address,
    );
  });

  it('lets instances reach a floating IP from inside (hairpin)', async () => {
    assert.ok(await ping(vm3, fip.floating_ip_address), 'from the same subnet');
    assert.ok(await ping(vm2, fip.floating_ip_address), 'from another subnet');
  });

  it('does not SNAT with enable_snat off', async () => {
    const info = (enable_snat: boolean) => ({
      router: { external_gateway_info: { network_id: admin.external, enable_snat } },
    });
    await up.session.put(`/v2.0/routers/${router.id}`, info(false));
    await until(
      'no SNAT',
      async () => !(await outside.tcpPeer(ns(vm3), outside.netns, '203.0.113.254', 5004)),
    );
    assert.equal(
      await outside.tcpPeer(ns(vm1), outside.netns, '203.0.113.254', 5005),
      fip.floating_ip_address,
    );
    await up.session.put(`/v2.0/routers/${router.id}`, info(true));
    await until(
      'SNAT again',
      async () => (await outside.tcpPeer(ns(vm3), outside.netns, '203.0.113.254', 5006)) === gatewayIp,
    );
  });

  it('routes through an instance acting as a gateway (an extra route)', async () => {
    const net2 = vm2.ports[0].fixed_ips[0].subnet_id;
    const net3 = await admin.network('net3', '10.20.3.0/24', false);
    const { subnet } = await up.session.get<{ subnet: { network_id: string } }>(`/v2.0/subnets/${net2}`);
    const [gw, host] = await admin.instances([subnet.network_id, net3.network], [net3.network]);
    // Port security lets an instance send only from its own addresses: the router needs pairs.
    for (const port of gw.ports)
      await up.session.put(`/v2.0/ports/${port.id}`, {
        port: { allowed_address_pairs: [{ ip_address: '10.20.0.0/16' }] },
      });
    await runInNamespace(ns(gw), 'sysctl', ['-q', '-w', 'net.ipv4.ip_forward=1']);
    await ipBatch([['route', 'replace', '10.20.0.0/16', 'via', ipOf(gw, 1)]], { netns: ns(host) });
    assert.ok(!(await ping(vm1, ipOf(host))));
    await up.session.put(`/v2.0/routers/${router.id}`, {
      router: { routes: [{ destination: '10.20.3.0/24', nexthop: ipOf(gw) }] },
    });
    await until('vm1 reaches the host behind the gateway instance', () => ping(vm1, ipOf(host)));
    await up.session.put(`/v2.0/routers/${router.id}`, { router: { routes: [] } });
    await until('the route gone', async () => !(await ping(vm1, ipOf(host))));
  });

  it('cuts an established flow at disassociation, and re-association reaches the new port', async (t) => {
    const flow = await outside.flow(outside.netns, ns(vm1), fip.floating_ip_address, 6000);
    try {
      assert.ok(await flow.carries('one'));
      const started = Date.now();
      await admin.associate(fip, null);
      await until(
        'the floating IP off qg-',
        async () => !(await gatewayAddresses(router)).includes(`${fip.floating_ip_address}/32`),
      );
      t.diagnostic(`disassociated in the kernel ${Date.now() - started} ms after the API call`);
      assert.ok(!(await flow.carries('two')), 'the established flow is cut');
    } finally {
      await flow.close();
    }
    assert.equal(await outside.tcpPeer(outside.netns, ns(vm1), fip.floating_ip_address, 5007), undefined);
    await admin.associate(fip, vm2.ports[0]);
    const peer = await until('the floating IP reaching vm2', () =>
      outside.tcpPeer(outside.netns, ns(vm2), fip.floating_ip_address, 5008),
    );
    assert.equal(peer, '203.0.113.254');
  });

  it('runs two projects with the same CIDR at once, each with a router and a floating IP', async () => {
    const suffix = randomBytes(3).toString('hex');
    const { project } = await up.session.post<{ project: { id: string } }>('/identity/v3/projects', {
      project: { name: `proj-${suffix}`, domain_id: 'default' },
    });
    const { user } = await up.session.post<{ user: { id: string } }>('/identity/v3/users', {
      user: {
        name: `user-${suffix}`,
        password: 'pw-b',
        domain_id: 'default',
        default_project_id: project.id,
      },
    });
    const { roles } = await up.session.get<{ roles: { id: string }[] }>('/identity/v3/roles?name=member');
    await up.session.put(`/identity/v3/projects/${project.id}/users/${user.id}/roles/${roles[0].id}`);
    const tenant = new Tenant(
      new Session({
        auth: {
          type: 'password',
          credentials: {
            authUrl: `${up.url}/identity/v3`,
            username: `user-${suffix}`,
            password: 'pw-b',
            projectName: `proj-${suffix}`,
            userDomainName: 'Default',
            projectDomainName: 'Default',
          },
        },
      }),
      admin.external,
    );
    const net = await tenant.network('netB', '10.20.1.0/24');
    await tenant.router('rB', [net.subnet]);
    const [b1] = await tenant.instances([net.network]);
    await tenant.allowIngress(b1);
    const fipB = await tenant.floatingIp(b1.ports[0]);
    fipA = await admin.floatingIp(vm3.ports[0]);
    const reach = (vm: Instance, address: string, port: number) =>
      until(`${address} reaching its own instance`, () =>
        outside.tcpPeer(outside.netns, ns(vm), address, port),
      );
    assert.equal(await reach(b1, fipB.floating_ip_address, 5009), '203.0.113.254');
    assert.equal(await reach(vm3, fipA.floating_ip_address, 5010), '203.0.113.254');
    assert.equal(
      await outside.tcpPeer(ns(b1), outside.netns, '203.0.113.254', 5011),
      fipB.floating_ip_address,
    );
  });

  it('repairs a flushed NAT table within the resync interval', async (t) => {
    const netns = `qrouter-${router.id}`;
    await runInNamespace(netns, 'nft', ['flush', 'table', 'ip', 'neutrino-router']);
    const started = Date.now();
    await until(
      'the NAT table back',
      async () =>
        (await runInNamespace(netns, 'nft', ['list', 'table', 'ip', 'neutrino-router'])).stdout.includes(
          'snat to',
        ),
      up.resyncIntervalS * 1000 + 3_000,
    );
    t.diagnostic(`repaired after ${Date.now() - started} ms (resync interval ${up.resyncIntervalS} s)`);
    assert.equal(
      await outside.tcpPeer(ns(vm3), outside.netns, '203.0.113.254', 5012),
      fipA.floating_ip_address,
    );
    // The converged agent's numbers are on the server's /metrics (sent from its thread).
    const metrics = await (await fetch(`${up.url}/metrics`)).text();
    t.diagnostic(/^neutrino_agent_drift_repaired_total .*/m.exec(metrics)?.[0] ?? 'no drift line');
    assert.deepEqual(
      [
        /^neutrino_agent_reconcile_duration_seconds_count [1-9]/m,
        /^neutrino_agent_actions_total\{kind="nat\.apply"\} [1-9]/m,
        /^# TYPE neutrino_agent_action_failures_total counter/m,
        /^neutrino_agent_drift_repaired_total \d/m,
        /^neutrino_agent_last_sync_timestamp_seconds [1-9]/m,
        /^neutrino_agent_ports\{status="ACTIVE"\} [1-9]/m,
        /^neutrino_agents_alive\{agent_type="L3 agent"\} 1$/m,
      ].filter((line) => !line.test(metrics)),
      [],
    );
  });

  it('deletes a router after its interfaces: its namespace and devices go', async () => {
    for (const f of [fip, fipA]) await up.session.delete(`/v2.0/floatingips/${f.id}`);
    for (const vm of [vm1, vm2]) {
      const subnet_id = vm.ports[0].fixed_ips[0].subnet_id;
      await up.session.put(`/v2.0/routers/${router.id}/remove_router_interface`, { subnet_id });
    }
    await up.session.put(`/v2.0/routers/${router.id}`, { router: { external_gateway_info: null } });
    await up.session.delete(`/v2.0/routers/${router.id}`);
    await until(
      'the router namespace gone',
      async () => !(await listNamespaces()).includes(`qrouter-${router.id}`),
    );
    const owned = await ownedObjects(up.stateDir);
    assert.ok(!owned.links.some((l) => l.startsWith('qr-') || l.startsWith('qg-')));
    assert.ok(!(await ping(vm1, ipOf(vm2))), 'the subnets are apart again');
  });

  it('neutrino down leaves nothing of this deployment; leak-check agrees', async () => {
    const before = await ownedObjects(up.stateDir);
    const result = await up.down();
    assert.equal(result.code, 0, result.stderr);
    assert.deepEqual(await ownedObjects(up.stateDir), { namespaces: [], links: [], processes: [] });
    const { stdout } = await run(LEAK_CHECK, [], { allowFail: true });
    const ours = [...before.namespaces, ...before.links, up.stateDir];
    assert.deepEqual(
      stdout.split('\n').filter((line) => ours.some((name) => line.includes(name))),
      [],
    );
  });
});

describe("neutrino up's external network (real kernel)", { skip: !isRoot && 'needs root' }, () => {
  const r = randomBytes(2);
  const bridge = `br-ex${r.toString('hex')}`;
  // The lower half of 198.51.100.0/24; cli.test.ts takes the upper.
  const base = (r[0] % 8) * 16;
  const cidr = `198.51.100.${base}/28`;
  const host = `198.51.100.${base + 1}`;
  const up = new NeutrinoUp({ resyncIntervalS: 2, external: { bridge, cidr } });
  const outside = new Outside(`198.51.100.${base + 14}/28`, bridge);

  before(() => up.start());
  after(async () => {
    await outside.remove();
    await up.cleanup();
  });

  it('creates the bridge with the host address (no forwarding) and the public network', async () => {
    const [link] = await ipJson<{ addr_info: { local: string; prefixlen: number }[] }[]>([
      'addr',
      'show',
      'dev',
      bridge,
    ]);
    assert.deepEqual(
      link.addr_info.map((a) => `${a.local}/${a.prefixlen}`),
      [`${host}/28`],
    );
    const [{ ifalias }] = await ipJson<{ ifalias?: string }[]>(['link', 'show', 'dev', bridge]);
    assert.match(ifalias ?? '', /^neutrino-external@/, 'marked as this deployment’s');
    assert.equal(await readSysctl('net.ipv4.ip_forward'), '0');
    const { networks } = await up.session.get<{
      networks: {
        id: string;
        name: string;
        'provider:network_type': string;
        'provider:physical_network': string;
      }[];
    }>('/v2.0/networks?router:external=true');
    assert.deepEqual(
      networks.map((n) => [n.name, n['provider:network_type'], n['provider:physical_network']]),
      [['public', 'flat', 'public']],
    );
    const { subnets } = await up.session.get<{
      subnets: { cidr: string; gateway_ip: string; enable_dhcp: boolean; allocation_pools: unknown }[];
    }>(`/v2.0/subnets?network_id=${networks[0].id}`);
    assert.deepEqual(
      subnets.map((s) => [s.cidr, s.gateway_ip, s.enable_dhcp]),
      [[cidr, host, false]],
    );
  });

  it('carries floating IPs to a neighbour on the bridge; a restart adds nothing', async () => {
    await outside.create();
    const { networks } = await up.session.get<{ networks: { id: string }[] }>(
      '/v2.0/networks?router:external=true',
    );
    // The outside host's address stays out of the gateways' and floating IPs' way.
    await up.session.post('/v2.0/ports', {
      port: { network_id: networks[0].id, fixed_ips: [{ ip_address: `198.51.100.${base + 14}` }] },
    });
    const tenant = new Tenant(up.session, networks[0].id);
    const net = await tenant.network('inner', '10.30.0.0/24');
    await tenant.router('r', [net.subnet]);
    const [vm] = await tenant.instances([net.network]);
    const fip = await tenant.floatingIp(vm.ports[0]);
    const peer = await until('the floating IP reachable', () =>
      outside.tcpPeer(outside.netns, ns(vm), fip.floating_ip_address, 5101),
    );
    assert.equal(peer, `198.51.100.${base + 14}`);
    await up.kill('SIGTERM');
    await up.start();
    const again = await up.session.get<{ networks: unknown[] }>('/v2.0/networks?router:external=true');
    assert.equal(again.networks.length, 1);
  });

  it('neutrino down removes the bridge it made', async () => {
    const result = await up.down();
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, new RegExp(`bridge ${bridge}`));
    const links = await ipJson<{ ifname: string }[]>(['link', 'show']);
    assert.ok(!links.some((l) => l.ifname === bridge));
  });
});
