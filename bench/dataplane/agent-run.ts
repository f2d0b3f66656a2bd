/**
 * The agent's reconciler on N instances of one VXLAN network with DHCP, in this process's network
 * namespace, with a given L2 driver: shared by `reconcile.ts` and `drivers.ts`.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { chmod, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { observe } from '../../src/agent/reconcile/observe.js';
import { Reconciler } from '../../src/agent/reconciler.js';
import type { Snapshot, SnapshotPort } from '../../src/model/host-snapshot.js';
import { median } from '../measure.js';

const NO_OP_RUNS = 7;
const LEASE_TIMEOUT_MS = 120_000;

export interface AgentResult {
  n: number;
  firstReconcileMs: number;
  /** null: not every instance had its lease within the timeout (`unleased` says how it stood). */
  allLeasesMs: number | null;
  unleased?: string;
  noOpReconcileMs: number;
  noOpObserveMs: number;
  teardownMs: number;
}

const ip = (i: number) => `10.9.${i >> 8}.${i & 255}`;

export function snapshot(n: number): Snapshot {
  const network = randomUUID();
  const subnet = randomUUID();
  const port = (i: number, owner: string): SnapshotPort => ({
    id: randomUUID(),
    network_id: network,
    mac_address: `fa:16:3e:${randomBytes(1).toString('hex')}:${(i >> 8).toString(16).padStart(2, '0')}:${(i & 255).toString(16).padStart(2, '0')}`,
    fixed_ips: [{ subnet_id: subnet, ip_address: ip(i) }],
    device_owner: owner,
    device_id: '',
    admin_state_up: true,
    dns_name: '',
    extra_dhcp_opts: [],
  });
  const ports = Array.from({ length: n }, (_, i) => port(i + 10, 'compute:nova'));
  return {
    host: 'bench',
    revision: 1,
    dnsDomain: 'openstacklocal',
    routers: [],
    networks: [
      {
        id: network,
        project_id: randomUUID(),
        admin_state_up: true,
        mtu: 1450,
        network_type: 'vxlan',
        physical_network: null,
        segmentation_id: 1_000_000 + (randomBytes(2).readUInt16BE() << 4) + 1,
      },
    ],
    subnets: [
      {
        id: subnet,
        network_id: network,
        ip_version: 4,
        cidr: '10.9.0.0/16',
        gateway_ip: '10.9.0.1',
        enable_dhcp: true,
        dns_nameservers: [],
        host_routes: [],
      },
    ],
    ports: [port(2, 'network:dhcp'), ...ports],
    instances: ports.map((p, i) => ({ id: randomUUID(), name: `bench-${i}`, ports: [p.id] })),
    physicalInterfaceMappings: {},
  };
}

export async function leased(stateDir: string, s: Snapshot): Promise<boolean> {
  const ips = new Map(s.ports.map((p) => [p.id, p.fixed_ips[0].ip_address]));
  for (const instance of s.instances) {
    const lease = await readFile(join(stateDir, 'instances', instance.id, 'eth0.lease'), 'utf8').catch(
      () => '',
    );
    if (!lease.includes(`ip=${ips.get(instance.ports[0])}\n`)) return false;
  }
  return true;
}

/**
 * Converges `n` instances with `driver`, times no-op runs, tears down. When the leases do not all
 * come within the timeout (`allowUnleased`: the kernel objects are in place, the data plane does not
 * carry every DHCP exchange), the no-op runs and the teardown are still timed.
 */
export async function measure(n: number, driver?: string, allowUnleased = false): Promise<AgentResult> {
  const stateDir = await mkdtemp(join(tmpdir(), 'neutrino-bench-'));
  await chmod(stateDir, 0o755);
  const s = snapshot(n);
  const reconciler = new Reconciler({ stateDir, source: async () => s, ...(driver ? { driver } : {}) });
  try {
    const start = performance.now();
    const first = await reconciler.reconcile();
    if (first.failures.length > 0) throw new Error(`first reconcile: ${JSON.stringify(first.failures[0])}`);
    let unleased: string | undefined;
    while (!(await leased(stateDir, s))) {
      if (performance.now() - start > LEASE_TIMEOUT_MS) {
        const summary = await reconciler.reconcile();
        const down = Object.values(summary.ports).filter((p) => p !== 'ACTIVE').length;
        const log = await readFile(join(stateDir, 'ovs', 'ovs-vswitchd.log'), 'utf8').catch(() => '');
        const warnings = log.split('\n').filter((l) => /\|(WARN|ERR|EMER)\|/.test(l));
        unleased = `${driver ?? 'linuxbridge'}, N=${n}: instances did not get their leases in ${LEASE_TIMEOUT_MS} ms: ${down} ports not ACTIVE, ${summary.failures.length} failures ${JSON.stringify(summary.failures.slice(0, 2))}; switch warnings: ${warnings.slice(-5).join(' / ')}`;
        if (!allowUnleased) throw new Error(unleased);
        break;
      }
      await sleep(10);
    }
    const allLeasesMs = unleased ? null : Math.round(performance.now() - start);
    const noOps: number[] = [];
    for (let i = 0; i < NO_OP_RUNS; i++) {
      const t = performance.now();
      const summary = await reconciler.reconcile();
      noOps.push(performance.now() - t);
      if (summary.actions !== 0) throw new Error(`no-op reconcile planned ${summary.actions} actions`);
      const down = Object.values(summary.ports).filter((p) => p !== 'ACTIVE').length;
      if (down > 0 && !unleased) throw new Error(`${down} ports DOWN after convergence`);
    }
    const observes: number[] = [];
    for (let i = 0; i < NO_OP_RUNS; i++) {
      const t = performance.now();
      await observe({ stateDir });
      observes.push(performance.now() - t);
    }
    const t = performance.now();
    const down = await reconciler.teardown();
    if (down.failures.length > 0) throw new Error(`teardown: ${JSON.stringify(down.failures[0])}`);
    return {
      n,
      firstReconcileMs: first.durationMs,
      allLeasesMs,
      ...(unleased ? { unleased } : {}),
      noOpReconcileMs: median(noOps),
      noOpObserveMs: median(observes),
      teardownMs: Math.round(performance.now() - t),
    };
  } finally {
    await reconciler.teardown();
    await rm(stateDir, { recursive: true, force: true });
  }
}
