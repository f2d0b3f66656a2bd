/**
 * Multi-host benchmark (d): failover times on `neutrino lab` (root), RUNS times each, median and
 * worst. A 3-host lab (host1 and host2 network+compute, host3 compute) with agent_down_time 4 s and
 * heartbeats every second; a flat external network on physnet1 whose far end is a namespace of the
 * bench's own on the lab's physnet bridge; an instance on host3 on a vxlan network behind a router.
 *   DHCP and router: the network host holding the router and the network's DHCP dies (its agent
 *   killed with -9, its links cut). Measured from the kill: the router rescheduled (API), the
 *   instance's `ping -i 0.2` to the outside answered again (through the other network host), a
 *   DHCP request answered there. Then the dead host comes back (links, agent) and, once it has
 *   removed its stale copies, the next run kills the host now holding them.
 *   HA router (`ha: true`, when the server offers `l3-ha`): the active host's links are cut (its
 *   VRRP adverts stop reaching the standby); measured: the `ping -i 0.2` outage (longest gap between replies) and the
 *   replies lost in it, and when the API shows the other host active.
 * Writes bench/multihost/failover.json.
 *
 *   npx tsx bench/multihost/failover.ts [--runs 5] [--out bench/multihost/failover.json]
 */
import { writeFile } from 'node:fs/promises';
import { cpus } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { type LabHost, readLab, restartLabAgent } from '../../src/cli/lab.js';
import type { Session } from '../../src/client/session.js';
import { runInHostNamespace, runOnHost } from '../../src/linux/lab-host.js';
import {
  hostLinks,
  type Lab,
  labUp,
  PhysnetOutside,
  Pinger,
  physnetExternalNetwork,
} from '../../test/helpers/lab.js';
import { median } from '../measure.js';

const args = process.argv.slice(2);
const arg = (name: string, fallback: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : fallback;
};
const RUNS = Number(arg('runs', '5'));
const OUT = arg('out', 'bench/multihost/failover.json');
const OUTSIDE_IP = '198.51.100.1';
const AGENT_DOWN_TIME = 4;
const REPORT_INTERVAL = 1;
/** VRRP advertisements every second (Neutron's default is 2): takeover after about 3 s. */
const VRRP_ADVERT_INT = 1;
const INSTANCES = '/neutrino/v1/instances';

/** Polls `check` every `intervalMs` until it answers something truthy; throws after `timeoutMs`. */
async function until<T>(
  what: string,
  check: () => Promise<T | undefined | false>,
  timeoutMs = 60_000,
  intervalMs = 100,
) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(intervalMs);
  }
}

const hostsOf = async (api: Session, path: string) =>
  (await api.get<{ agents: { host: string; ha_state?: string }[] }>(path)).agents;

async function agentOf(api: Session, host: string, type: string): Promise<string> {
  const { agents } = await api.get<{ agents: { id: string; agent_type: string }[] }>(
    `/v2.0/agents?host=${host}`,
  );
  return agents.find((a) => a.agent_type === type)!.id;
}

const namespacesOf = async (h: LabHost) => (await runOnHost(h, 'ip', ['netns', 'list'])).stdout;

interface Setup {
  netId: string;
  vm: { id: string };
  extId: string;
  subnetId: string;
}

async function setUp(lab: Lab): Promise<Setup> {
  const api = lab.session;
  const extId = await physnetExternalNetwork(api, OUTSIDE_IP);
  const { network } = await api.post<{ network: { id: string } }>('/v2.0/networks', {
    network: { name: 'fo-net', 'provider:network_type': 'vxlan' },
  });
  const { subnet } = await api.post<{ subnet: { id: string } }>('/v2.0/subnets', {
    subnet: { network_id: network.id, ip_version: 4, cidr: '10.97.0.0/24' },
  });
  const { instance } = await api.post<{ instance: { id: string } }>(INSTANCES, {
    instance: { name: 'fo-vm', host: 'host3', networks: [{ network_id: network.id }] },
  });
  await until('the instance ACTIVE', async () => {
    const { instance: now } = await api.get<{ instance: { status: string } }>(`${INSTANCES}/${instance.id}`);
    if (now.status === 'ERROR') throw new Error(JSON.stringify(now));
    return now.status === 'ACTIVE';
  });
  return { netId: network.id, vm: instance, extId, subnetId: subnet.id };
}

async function router(api: Session, s: Setup, ha: boolean): Promise<string> {
  const { router } = await api.post<{ router: { id: string } }>('/v2.0/routers', {
    router: {
      name: ha ? 'fo-ha' : 'fo-router',
      external_gateway_info: { network_id: s.extId },
      ...(ha ? { ha } : {}),
    },
  });
  await api.put(`/v2.0/routers/${router.id}/add_router_interface`, { subnet_id: s.subnetId });
  return router.id;
}

/** Puts the network's DHCP on `host` alone (the scheduler API), so that one death takes both. */
async function dhcpOnly(api: Session, netId: string, host: string): Promise<void> {
  const now = (await hostsOf(api, `/v2.0/networks/${netId}/dhcp-agents`)).map((a) => a.host);
  if (!now.includes(host))
    await api.post(`/v2.0/agents/${await agentOf(api, host, 'DHCP agent')}/dhcp-networks`, {
      network_id: netId,
    });
  for (const other of now.filter((h) => h !== host))
    await api.delete(`/v2.0/agents/${await agentOf(api, other, 'DHCP agent')}/dhcp-networks/${netId}`);
}

const dhcpAnswered = async (lab: Lab, vm: string) =>
  (
    await runInHostNamespace(
      lab.host('host3'),
      `inst-${vm}`,
      'busybox',
      ['udhcpc', '-i', 'eth0', '-n', '-q', '-t', '1', '-T', '1', '-s', '/bin/true'],
      { allowFail: true, timeoutMs: 5_000 },
    )
  ).code === 0;

interface Run {
  from: string;
  to: string;
  rescheduledMs: number;
  pingResumedMs: number;
  dhcpAnsweredMs: number;
}

/** Kills the host holding the router and the DHCP, measures, brings it back clean. */
async function dhcpAndRouterRun(lab: Lab, s: Setup, routerId: string): Promise<Run> {
  const api = lab.session;
  const holder = lab.host((await hostsOf(api, `/v2.0/routers/${routerId}/l3-agents`))[0].host);
  const other = lab.host(holder.name === 'host1' ? 'host2' : 'host1');
  await dhcpOnly(api, s.netId, holder.name);
  await until('DHCP on the holder only', async () => {
    const [a, b] = [await namespacesOf(holder), await namespacesOf(other)];
    return a.includes(`qdhcp-${s.netId}`) && !b.includes(`qdhcp-${s.netId}`);
  });
  await until('DHCP answered', () => dhcpAnswered(lab, s.vm.id));
  const pinger = new Pinger(lab.host('host3'), `inst-${s.vm.id}`, OUTSIDE_IP);
  try {
    await until('pings through the holder', async () => pinger.replies.length > 3);
    const pid = readLab(lab.stateDir)!.hosts.find((h) => h.name === holder.name)!.pid!;
    const killedAt = Date.now();
    process.kill(pid, 'SIGKILL');
    await hostLinks(lab.state, holder, 'down');
    const dhcp = (async () => {
      await until('a DHCP answer from the other host', () => dhcpAnswered(lab, s.vm.id), 120_000, 0);
      return Date.now();
    })();
    const rescheduledAt = await until(
      'the router on the other host',
      async () =>
        (await hostsOf(api, `/v2.0/routers/${routerId}/l3-agents`))[0]?.host === other.name && Date.now(),
      120_000,
    );
    const resumedAt = await until('pings again', async () => pinger.firstReplyAfter(killedAt + 500), 120_000);
    const dhcpAt = await dhcp;
    const run = {
      from: holder.name,
      to: other.name,
      rescheduledMs: rescheduledAt - killedAt,
      pingResumedMs: Math.round(resumedAt - killedAt),
      dhcpAnsweredMs: dhcpAt - killedAt,
    };
    console.log('dhcp+router run:', JSON.stringify(run));
    return run;
  } finally {
    await pinger.stop();
    await hostLinks(lab.state, holder, 'up');
    await restartLabAgent(lab.stateDir, holder.name);
    await until('the stale namespaces gone', async () => {
      const ns = await namespacesOf(holder);
      return !ns.includes(`qdhcp-${s.netId}`) && !ns.includes(`qrouter-${routerId}`);
    });
  }
}

interface HaRun {
  from: string;
  to: string;
  outageMs: number;
  lostReplies: number;
  apiActiveMs: number;
}

/** Cuts the active host of an HA router off: the ping outage and when the API shows the change. */
async function haRun(lab: Lab, s: Setup, routerId: string): Promise<HaRun> {
  const api = lab.session;
  const states = async () => hostsOf(api, `/v2.0/routers/${routerId}/l3-agents`);
  const active = await until('one active host', async () => {
    const now = await states();
    const a = now.filter((x) => x.ha_state === 'active');
    return a.length === 1 && now.length >= 2 && a[0].host;
  });
  const master = lab.host(active);
  const pinger = new Pinger(lab.host('host3'), `inst-${s.vm.id}`, OUTSIDE_IP);
  try {
    await until('pings through the active host', async () => pinger.replies.length > 5);
    const cutAt = Date.now();
    await hostLinks(lab.state, master, 'down');
    const apiActiveAt = await until(
      'another host active',
      async () =>
        (await states()).some((x) => x.ha_state === 'active' && x.host !== master.name) && Date.now(),
      120_000,
    );
    await until('pings again', async () => pinger.firstReplyAfter(cutAt + 200), 120_000);
    await sleep(2_000);
    const gap = pinger.longestGap(cutAt - 1_000);
    const to = (await states()).find((x) => x.ha_state === 'active')!.host;
    const run = {
      from: master.name,
      to,
      outageMs: Math.round(gap.ms),
      lostReplies: gap.lost,
      apiActiveMs: apiActiveAt - cutAt,
    };
    console.log('ha run:', JSON.stringify(run));
    return run;
  } finally {
    await pinger.stop();
    await hostLinks(lab.state, master, 'up');
    await until(
      'both hosts back, one active',
      async () => {
        const now = await states();
        return (
          now.filter((x) => x.ha_state === 'active').length === 1 &&
          now.filter((x) => x.ha_state === 'standby').length >= 1
        );
      },
      120_000,
    );
  }
}

const summary = (values: number[]) => ({ median: median(values), worst: Math.max(...values), runs: values });

async function main(): Promise<void> {
  const lab = await labUp([
    ...['--hosts', '3', '--network-hosts', '2'],
    ...['--agent-down-time', String(AGENT_DOWN_TIME), '--report-interval', String(REPORT_INTERVAL)],
    ...['--setting', `ha_vrrp_advert_int=${VRRP_ADVERT_INT}`],
  ]);
  const outside = new PhysnetOutside(lab.state, OUTSIDE_IP);
  const results: Record<string, unknown> = {
    date: new Date().toISOString(),
    cpus: cpus().length,
    agentDownTimeS: AGENT_DOWN_TIME,
    reportIntervalS: REPORT_INTERVAL,
    vrrpAdvertIntS: VRRP_ADVERT_INT,
    runs: RUNS,
  };
  try {
    await outside.create();
    const s = await setUp(lab);
    const plain = await router(lab.session, s, false);
    await until(
      'the router scheduled',
      async () => (await hostsOf(lab.session, `/v2.0/routers/${plain}/l3-agents`))[0],
    );
    const runs: Run[] = [];
    for (let i = 0; i < RUNS; i++) runs.push(await dhcpAndRouterRun(lab, s, plain));
    results.dhcpAndRouter = {
      runs,
      rescheduledMs: summary(runs.map((r) => r.rescheduledMs)),
      pingResumedMs: summary(runs.map((r) => r.pingResumedMs)),
      dhcpAnsweredMs: summary(runs.map((r) => r.dhcpAnsweredMs)),
    };
    const { extensions } = await lab.session.get<{ extensions: { alias: string }[] }>('/v2.0/extensions');
    if (extensions.some((e) => e.alias === 'l3-ha')) {
      await lab.session.put(`/v2.0/routers/${plain}/remove_router_interface`, { subnet_id: s.subnetId });
      const ha = await router(lab.session, s, true);
      const haRuns: HaRun[] = [];
      for (let i = 0; i < RUNS; i++) haRuns.push(await haRun(lab, s, ha));
      results.haRouter = {
        runs: haRuns,
        outageMs: summary(haRuns.map((r) => r.outageMs)),
        lostReplies: summary(haRuns.map((r) => r.lostReplies)),
        apiActiveMs: summary(haRuns.map((r) => r.apiActiveMs)),
      };
    } else results.haRouter = 'not offered by this server (no l3-ha extension)';
  } finally {
    await outside.remove();
    await lab.down();
  }
  await writeFile(OUT, `${JSON.stringify(results, null, 2)}\n`);
  console.log(JSON.stringify(results, null, 2));
}

await main();
