/**
 * Routers through the agent's reconciler against the real kernel (root), from a hand-built snapshot:
 * a router joins two subnets; SNAT to the gateway address for an instance without a floating IP
 * (none with enable_snat off); a floating IP reached from outside (the source preserved) and used
 * going out; hairpin; two projects with the same CIDR, each with a router and floating IPs; an extra
 * route through an instance acting as a gateway; disassociation cutting an established flow;
 * re-association; NAT drift repaired by a restarted (verifying) agent; router removal. The external
 * network is a flat network on a bridge of the test's own (`physnet → bridge` mapping), and the
 * "outside" a namespace on it that also serves as the external gateway, so nothing reaches the host.
 */
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Reconciler, type Summary } from '../../src/agent/reconciler.js';
import { run, runInNamespace } from '../../src/linux/exec.js';
import { ipBatch, ipJson, listNamespaces } from '../../src/linux/ip.js';
import { readSysctl } from '../../src/linux/sysctl.js';
import type {
  Snapshot,
  SnapshotPort,
  SnapshotRouter,
  SnapshotRouterPort,
} from '../../src/model/host-snapshot.js';
import { Outside } from '../helpers/outside.js';

const isRoot = process.getuid?.() === 0;
const LEAK_CHECK = '/work/shared/tools/leak-check';

interface Net {
  id: string;
  subnet: string;
  cidr24: string;
}

interface Vm {
  instance: string;
  ports: SnapshotPort[];
  ip: string;
}

let macs = randomBytes(2).readUInt16BE() & 0xff00;
function mac(): string {
  const n = macs++;
  const hex = (byte: number) => byte.toString(16).padStart(2, '0');
  return `fa:16:3e:${randomBytes(1).toString('hex')}:${hex(n >> 8)}:${hex(n & 255)}`;
}

class Topology {
  readonly snapshot: Snapshot = {
    host: 'test',
    revision: 1,
    dnsDomain: 'openstacklocal.',
    networks: [],
    subnets: [],
    ports: [],
    instances: [],
    routers: [],
    physicalInterfaceMappings: {},
  };

  network(cidr24: string, options: { external?: boolean; gateway?: string | null } = {}): Net {
    const id = randomUUID();
    const subnet = randomUUID();
    this.snapshot.networks.push({
      id,
      project_id: randomUUID(),
      admin_state_up: true,
      mtu: 1500,
      network_type: options.external ? 'flat' : 'local',
      physical_network: options.external ? 'public' : null,
      segmentation_id: null,
    });
    this.snapshot.subnets.push({
      id: subnet,
      network_id: id,
      ip_version: 4,
      cidr: `${cidr24}.0/24`,
      gateway_ip: options.gateway === undefined ? `${cidr24}.1` : options.gateway,
      enable_dhcp: !options.external,
      dns_nameservers: [],
      host_routes: [],
    });
    const net = { id, subnet, cidr24 };
    if (!options.external) this.port(net, `${cidr24}.2`, 'network:dhcp');
    return net;
  }

  port(net: Net, ip: string, owner = 'compute:nova'): SnapshotPort {
    const port: SnapshotPort = {
      id: randomUUID(),
      network_id: net.id,
      mac_address: mac(),
      fixed_ips: [{ subnet_id: net.subnet, ip_address: ip }],
      device_owner: owner,
      device_id: '',
      admin_state_up: true,
      dns_name: '',
      extra_dhcp_opts: [],
    };
    this.snapshot.ports.push(port);
    return port;
  }

  vm(...nics: [Net, string][]): Vm {
    const ports = nics.map(([net, ip]) => this.port(net, ip));
    const instance = randomUUID();
    this.snapshot.instances.push({ id: instance, name: `vm ${nics[0][1]}`, ports: ports.map((p) => p.id) });
    return { instance, ports, ip: nics[0][1] };
  }

  routerPort(net: Net, ip: string): SnapshotRouterPort {
    return {
      port_id: randomUUID(),
      network_id: net.id,
      mac_address: mac(),
      addresses: [{ subnet_id: net.subnet, ip_address: ip, prefixlen: 24 }],
    };
  }

  router(ext: Net, gatewayIp: string, internal: Net[]): SnapshotRouter {
    const router: SnapshotRouter = {
      id: randomUUID(),
      project_id: randomUUID(),
      admin_state_up: true,
      gateway: {
        ...this.routerPort(ext, gatewayIp),
        enable_snat: true,
        external_gateway_ips: [`${ext.cidr24}.254`],
      },
      interfaces: internal.map((net) => this.routerPort(net, `${net.cidr24}.1`)),
      routes: [],
      floating_ips: [],
    };
    this.snapshot.routers.push(router);
    return router;
  }

  /** Associates floating IP `ip` with `vm`'s first port (or disassociates it with null). */
  associate(router: SnapshotRouter, ip: string, vm: Vm | null): void {
    router.floating_ips = router.floating_ips.filter((f) => f.floating_ip_address !== ip);
    router.floating_ips.push({
      id: randomUUID(),
      floating_ip_address: ip,
      fixed_ip_address: vm ? vm.ip : null,
      port_id: vm ? vm.ports[0].id : null,
    });
    this.snapshot.revision++;
  }
}

const ns = (vm: Vm) => `inst-${vm.instance}`;
const qrouter = (router: SnapshotRouter) => `qrouter-${router.id}`;

async function ping(from: Vm, to: string): Promise<boolean> {
  const { code } = await runInNamespace(ns(from), 'ping', ['-c', '1', '-W', '1', to], { allowFail: true });
  return code === 0;
}

describe('routers through the reconciler (real kernel)', { skip: !isRoot && 'needs root' }, () => {
  const topo = new Topology();
  const outside = new Outside('203.0.113.254/24');
  topo.snapshot.physicalInterfaceMappings = { public: outside.bridge };
  const ext = topo.network('203.0.113', { external: true, gateway: '203.0.113.254' });
  const netA = topo.network('10.10.1');
  const netB = topo.network('10.10.2');
  const netC = topo.network('10.10.1'); // a second project's, same CIDR as netA
  const netD = topo.network('10.99.0', { gateway: null }); // behind an instance acting as a gateway
  const a1 = topo.vm([netA, '10.10.1.11']);
  const a2 = topo.vm([netA, '10.10.1.12']);
  const b1 = topo.vm([netB, '10.10.2.11']);
  const c1 = topo.vm([netC, '10.10.1.11']);
  const gw = topo.vm([netB, '10.10.2.50'], [netD, '10.99.0.1']);
  const d1 = topo.vm([netD, '10.99.0.5']);
  const r1 = topo.router(ext, '203.0.113.10', [netA, netB]);
  const r2 = topo.router(ext, '203.0.113.11', [netC]);
  topo.associate(r1, '203.0.113.20', a1);
  topo.associate(r2, '203.0.113.21', c1);

  let stateDir = '';
  let reconciler: Reconciler;
  const newReconciler = () =>
    new Reconciler({ stateDir, source: async () => structuredClone(topo.snapshot) });

  async function converge(timeoutMs = 20_000): Promise<Summary> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const summary = await reconciler.reconcile();
      assert.deepEqual(summary.failures, []);
      assert.deepEqual(summary.problems, []);
      if (Object.values(summary.ports).every((s) => s === 'ACTIVE')) return summary;
      assert.ok(Date.now() < deadline, `ports still DOWN: ${JSON.stringify(summary.ports)}`);
      await sleep(50);
    }
  }

  before(async () => {
    stateDir = await mkdtemp(join(tmpdir(), 'neutrino-l3-'));
    await chmod(stateDir, 0o755);
    await outside.create();
    reconciler = newReconciler();
  });

  after(async () => {
    if (reconciler) await reconciler.teardown().catch((err) => console.error('teardown', err));
    await outside.remove();
    if (stateDir) await rm(stateDir, { recursive: true, force: true });
  });

  it('builds routers in one run (router ports ACTIVE), and a second run finds nothing to do', async (t) => {
    const first = await reconciler.reconcile();
    t.diagnostic(`first run: ${first.actions} actions in ${first.durationMs} ms`);
    assert.deepEqual(first.failures, []);
    assert.deepEqual(first.problems, []);
    assert.equal(first.ops['nat.apply'], 2);
    assert.equal(first.ops['sysctl.set'], 2);
    await converge();
    const again = await reconciler.reconcile();
    assert.equal(again.actions, 0);
    for (const port of [r1.gateway!, ...r1.interfaces]) assert.equal(again.ports[port.port_id], 'ACTIVE');
    assert.equal((await newReconciler().reconcile()).actions, 0, 'a restarted agent verifies and adopts');
  });

  it('lays out the namespace: qr-/qg- with their MACs and addresses, forwarding inside only, routes', async () => {
    const netns = qrouter(r1);
    const links = await ipJson<
      { ifname: string; address: string; addr_info: { local: string; prefixlen: number }[] }[]
    >(['addr', 'show'], { netns });
    const byName = new Map(links.map((l) => [l.ifname, l]));
    const qg = byName.get(`qg-${r1.gateway!.port_id.slice(0, 11)}`)!;
    assert.equal(qg.address, r1.gateway!.mac_address);
    assert.deepEqual(
      qg.addr_info.filter((a) => !a.local.includes(':')).map((a) => `${a.local}/${a.prefixlen}`),
      ['203.0.113.10/24', '203.0.113.20/32'],
    );
    const qrA = byName.get(`qr-${r1.interfaces[0].port_id.slice(0, 11)}`)!;
    assert.equal(qrA.address, r1.interfaces[0].mac_address);
    assert.ok(qrA.addr_info.some((a) => a.local === '10.10.1.1'));
    const [tap] = await ipJson<{ master?: string }[]>([
      'link',
      'show',
      `tap${r1.gateway!.port_id.slice(0, 11)}`,
    ]);
    assert.equal(tap.master, outside.bridge, 'the gateway is plugged into the mapped bridge itself');
    assert.equal(await readSysctl('net.ipv4.ip_forward', { netns }), '1');
    assert.equal(await readSysctl('net.ipv4.ip_forward'), '0', 'never in the root namespace');
    const routes = await ipJson<{ dst: string; gateway?: string }[]>(['route', 'show', 'default'], { netns });
    assert.deepEqual(
      routes.map((r) => r.gateway),
      ['203.0.113.254'],
    );
    const { stdout } = await run('nft', ['list', 'tables']);
    assert.ok(!stdout.includes('neutrino-router'), 'no NAT table in the root namespace');
  });

  it('routes between the subnets of a router', async () => {
    assert.ok(await ping(a1, b1.ip));
    assert.ok(await ping(b1, a2.ip));
  });

  it('SNATs an instance without a floating IP to the gateway address', async () => {
    assert.equal(await outside.tcpPeer(ns(a2), outside.netns, '203.0.113.254', 5001), '203.0.113.10');
    assert.equal(await outside.tcpPeer(ns(b1), outside.netns, '203.0.113.254', 5002), '203.0.113.10');
  });

  it('reaches an instance by its floating IP from outside (source kept), and it goes out as that IP', async () => {
    assert.equal(await outside.tcpPeer(outside.netns, ns(a1), '203.0.113.20', 5003), '203.0.113.254');
    assert.equal(await outside.tcpPeer(ns(a1), outside.netns, '203.0.113.254', 5004), '203.0.113.20');
  });

  it('lets instances reach a floating IP from inside (hairpin), from the same and another subnet', async () => {
    assert.ok(await ping(a2, '203.0.113.20'));
    assert.ok(await ping(b1, '203.0.113.20'));
    assert.equal(await outside.tcpPeer(ns(a2), ns(a1), '203.0.113.20', 5005), '10.10.1.1', 'masqueraded');
  });

  it('runs two projects with the same CIDR, each with a router and a floating IP', async () => {
    const link = (vm: Vm, ip: string, port: number) => outside.tcpPeer(outside.netns, ns(vm), ip, port);
    assert.equal(await link(a1, '203.0.113.20', 5006), '203.0.113.254');
    assert.equal(await link(c1, '203.0.113.21', 5007), '203.0.113.254');
    assert.equal(await outside.tcpPeer(ns(c1), outside.netns, '203.0.113.254', 5008), '203.0.113.21');
    const [neighbour] = await ipJson<{ lladdr?: string }[]>(['neigh', 'show', '10.10.1.11'], {
      netns: qrouter(r2),
    });
    assert.equal(neighbour?.lladdr, c1.ports[0].mac_address, "r2 reached its own project's 10.10.1.11");
  });

  it('does not SNAT with enable_snat off, but floating IPs still work', async () => {
    r1.gateway!.enable_snat = false;
    topo.snapshot.revision++;
    assert.equal((await converge()).ops['nat.apply'], 1);
    assert.equal(await outside.tcpPeer(ns(a2), outside.netns, '203.0.113.254', 5009), undefined);
    assert.equal(await outside.tcpPeer(ns(a1), outside.netns, '203.0.113.254', 5010), '203.0.113.20');
    r1.gateway!.enable_snat = true;
    topo.snapshot.revision++;
    await converge();
    assert.equal(await outside.tcpPeer(ns(a2), outside.netns, '203.0.113.254', 5011), '203.0.113.10');
  });

  it('routes through an instance acting as a gateway (an extra route)', async () => {
    await runInNamespace(ns(gw), 'sysctl', ['-q', '-w', 'net.ipv4.ip_forward=1']);
    await ipBatch([['route', 'replace', '10.10.0.0/16', 'via', '10.99.0.1']], { netns: ns(d1) });
    assert.ok(!(await ping(a1, d1.ip)), 'no route yet');
    r1.routes = [{ destination: '10.99.0.0/24', nexthop: gw.ip }];
    topo.snapshot.revision++;
    assert.equal((await converge()).ops['route.replace'], 1);
    assert.ok(await ping(a1, d1.ip));
    r1.routes = [];
    topo.snapshot.revision++;
    assert.equal((await converge()).ops['route.del'], 1);
    assert.ok(!(await ping(a1, d1.ip)));
  });

  it('cuts an established flow at disassociation, and re-association reaches the new port', async () => {
    const flow = await outside.flow(outside.netns, ns(a1), '203.0.113.20', 6000);
    try {
      assert.ok(await flow.carries('one'));
      topo.associate(r1, '203.0.113.20', null);
      const summary = await converge();
      assert.equal(summary.ops['conntrack.flush'], 1);
      assert.ok(!(await flow.carries('two')), 'the established flow is cut');
    } finally {
      await flow.close();
    }
    assert.equal(await outside.tcpPeer(outside.netns, ns(a1), '203.0.113.20', 5012), undefined);

    topo.associate(r1, '203.0.113.20', b1);
    assert.equal((await converge()).ops['arp.announce'], 1);
    assert.equal(await outside.tcpPeer(outside.netns, ns(b1), '203.0.113.20', 5013), '203.0.113.254');
    assert.equal(await outside.tcpPeer(ns(b1), outside.netns, '203.0.113.254', 5014), '203.0.113.20');
  });

  it('takes the links down with admin_state_up false, and back up', async () => {
    r2.admin_state_up = false;
    topo.snapshot.revision++;
    await reconciler.reconcile();
    const links = await ipJson<{ ifname: string; flags: string[] }[]>(['link', 'show'], {
      netns: qrouter(r2),
    });
    assert.ok(links.filter((l) => l.ifname !== 'lo').every((l) => !l.flags.includes('UP')));
    assert.equal(await outside.tcpPeer(outside.netns, ns(c1), '203.0.113.21', 5015), undefined);
    r2.admin_state_up = true;
    topo.snapshot.revision++;
    await converge();
    assert.equal(await outside.tcpPeer(outside.netns, ns(c1), '203.0.113.21', 5016), '203.0.113.254');
  });

  it('repairs drift inside a router (NAT flushed, route deleted) on a verifying run, not a trusting one', async () => {
    await runInNamespace(qrouter(r1), 'nft', ['flush', 'table', 'ip', 'neutrino-router']);
    await ipBatch([['route', 'del', 'default']], { netns: qrouter(r1) });
    assert.equal((await reconciler.reconcile()).actions, 0, 'a run between resyncs trusts the records');
    reconciler = newReconciler();
    const repair = await reconciler.reconcile();
    assert.deepEqual(repair.ops, {
      'router.forget': 1,
      'route.replace': 1,
      'nat.apply': 1,
      'router.record': 1,
    });
    assert.equal(await outside.tcpPeer(ns(a2), outside.netns, '203.0.113.254', 5017), '203.0.113.10');
  });

  it('removes a router with its interfaces: namespace, devices and directory', async () => {
    r1.interfaces = [];
    r1.gateway = null;
    r1.floating_ips = [];
    topo.snapshot.revision++;
    await converge();
    assert.ok(!(await ping(a1, b1.ip)), 'the subnets are apart again');
    topo.snapshot.routers = topo.snapshot.routers.filter((r) => r !== r1);
    topo.snapshot.revision++;
    await converge();
    assert.ok(!(await listNamespaces()).includes(qrouter(r1)));
    assert.ok(
      await outside.tcpPeer(outside.netns, ns(c1), '203.0.113.21', 5018),
      'the other router is untouched',
    );
  });

  it('tears everything down; leak-check finds nothing of this run', async () => {
    const summary = await reconciler.teardown();
    assert.deepEqual(summary.failures, []);
    const names = (await listNamespaces()).filter((n) => n.includes(r2.id) || n.includes(a1.instance));
    assert.deepEqual(names, []);
    await outside.remove();
    const { stdout } = await run(LEAK_CHECK, [], { allowFail: true });
    const ids = [
      r1.id,
      r2.id,
      ...topo.snapshot.instances.map((i) => i.id),
      ...topo.snapshot.networks.map((n) => n.id.slice(0, 11)),
      ...[...topo.snapshot.ports, ...r2.interfaces].map((p) => ('id' in p ? p.id : p.port_id).slice(0, 11)),
    ];
    const ours = stdout.split('\n').filter((line) => ids.some((id) => line.includes(id)));
    assert.deepEqual(ours, []);
  });
});
