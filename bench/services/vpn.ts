/**
 * VPNaaS benchmark (issue 14), on an all-in-one (server + agent in this process, as `neutrino up`
 * runs them): two sites, each a router gatewayed to an external network of the bench's own (a
 * bridge and an outside namespace, 198.51.100.0/24) with a private subnet and an instance, joined by
 * IPsec site connections (IKEv2, AES-256/SHA-256, PFS group14). Measured in one run, alternating
 * (A B A B):
 *
 * - iperf3 TCP from site A's instance to site B's through the tunnel (B's private address), beside
 *   the same routers and external network without it (B's floating IP: SNAT and DNAT, no IPsec);
 * - the time from `POST …/ipsec-site-connections` (site A's, B's already loaded) to the first ping
 *   answered through the tunnel, and to the connection's ACTIVE.
 *
 * Which IPsec data plane carried it (kernel or strongSwan's userspace) is recorded. Merges into
 * bench/services/results.json and prints a table.
 *
 *   npx tsx bench/services/vpn.ts [--rounds 3] [--seconds 5] [--out bench/services/results.json]
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import pino from 'pino';
import { stringify } from 'yaml';
import { type AllInOne, startAllInOne } from '../../src/cli/dataplane.js';
import { Session } from '../../src/client/session.js';
import { loadConfig } from '../../src/config.js';
import { runInNamespace } from '../../src/linux/exec.js';
import { hasKernelEsp } from '../../src/linux/kernel.js';
import { Outside } from '../../test/helpers/outside.js';
import { median } from '../measure.js';

const args = process.argv.slice(2);
const arg = (name: string, fallback: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : fallback;
};
const ROUNDS = Number(arg('rounds', '3'));
const SECONDS = Number(arg('seconds', '5'));
const OUT = arg('out', 'bench/services/results.json');
const PASSWORD = `bench-${randomBytes(6).toString('hex')}`;
const VPN = '/v2.0/vpn';

interface Instance {
  id: string;
  status: string;
  ports: { id: string; fixed_ips: { ip_address: string }[] }[];
}
interface Site {
  router: string;
  gateway: string;
  cidr: string;
  vm: Instance;
  ike: string;
  ipsec: string;
  service: string;
  local: string;
  peer: string;
}

const children: ChildProcess[] = [];
const ns = (vm: Instance) => `inst-${vm.id}`;
const ip = (vm: Instance) => vm.ports[0].fixed_ips[0].ip_address;

async function iperf(from: Instance, to: string): Promise<number> {
  const { stdout } = await runInNamespace(ns(from), 'iperf3', ['-c', to, '-t', String(SECONDS), '-J'], {
    timeoutMs: (SECONDS + 30) * 1000,
  });
  const result = JSON.parse(stdout) as { end: { sum_received: { bits_per_second: number } } };
  return Math.round(result.end.sum_received.bits_per_second / 1e6);
}

const pings = async (from: Instance, to: string) =>
  (await runInNamespace(ns(from), 'ping', ['-c', '1', '-W', '1', to], { allowFail: true })).code === 0;

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('run as root');
  const plane = (await hasKernelEsp()) ? 'kernel' : 'userspace';
  const outside = new Outside('198.51.100.1/24');
  const stateDir = await mkdtemp(join(tmpdir(), 'neutrino-bench-vpn-'));
  const configFile = join(stateDir, 'neutrino.yaml');
  await writeFile(configFile, stringify({ physical_interface_mappings: { public: outside.bridge } }));
  process.env.NEUTRINO_ADMIN_PASSWORD = PASSWORD;
  const config = loadConfig(
    { config: configFile, stateDir, host: '127.0.0.1', port: 0, logLevel: 'warn' },
    { NEUTRINO_ADMIN_PASSWORD: PASSWORD },
  );
  let allInOne: AllInOne | undefined;
  try {
    await outside.create();
    allInOne = await startAllInOne(config, {
      host: `bench-${randomBytes(2).toString('hex')}`,
      log: pino({ level: 'warn' }),
    });
    const api = new Session({
      auth: {
        type: 'password',
        credentials: {
          authUrl: `${allInOne.url}/identity/v3`,
          username: 'admin',
          password: PASSWORD,
          projectName: 'admin',
          userDomainName: 'Default',
          projectDomainName: 'Default',
        },
      },
    });
    const external = await outside.publicNetwork(api);
    const { security_groups } = await api.get<{ security_groups: { id: string }[] }>(
      '/v2.0/security-groups?name=default',
    );
    for (const protocol of ['tcp', 'icmp'])
      await api.post('/v2.0/security-group-rules', {
        security_group_rule: { security_group_id: security_groups[0].id, direction: 'ingress', protocol },
      });
    const sites: Site[] = [];
    for (const [name, cidr, peer] of [
      ['vpn-a', '10.91.1.0/24', '10.92.1.0/24'],
      ['vpn-b', '10.92.1.0/24', '10.91.1.0/24'],
    ]) {
      const { network } = await api.post<{ network: { id: string } }>('/v2.0/networks', {
        network: { name },
      });
      const { subnet } = await api.post<{ subnet: { id: string } }>('/v2.0/subnets', {
        subnet: { network_id: network.id, ip_version: 4, cidr },
      });
      const { router } = await api.post<{
        router: { id: string; external_gateway_info: { external_fixed_ips: { ip_address: string }[] } };
      }>('/v2.0/routers', { router: { name, external_gateway_info: { network_id: external } } });
      await api.put(`/v2.0/routers/${router.id}/add_router_interface`, { subnet_id: subnet.id });
      let { instance: vm } = await api.post<{ instance: Instance }>('/neutrino/v1/instances', {
        instance: { name, networks: [{ network_id: network.id }] },
      });
      for (const deadline = Date.now() + 120_000; vm.status !== 'ACTIVE'; await sleep(200)) {
        if (Date.now() > deadline) throw new Error(`instance ${name}: ${vm.status}`);
        vm = (await api.get<{ instance: Instance }>(`/neutrino/v1/instances/${vm.id}`)).instance;
      }
      const post = async (path: string, member: string, body: Record<string, unknown>) =>
        (
          (await api.post<Record<string, { id: string }>>(`${VPN}/${path}`, { [member]: body })) as Record<
            string,
            { id: string }
          >
        )[member].id;
      const strong = { encryption_algorithm: 'aes-256', auth_algorithm: 'sha256', pfs: 'group14' };
      sites.push({
        router: router.id,
        gateway: router.external_gateway_info.external_fixed_ips[0].ip_address,
        cidr,
        vm,
        ike: await post('ikepolicies', 'ikepolicy', { ike_version: 'v2', ...strong }),
        ipsec: await post('ipsecpolicies', 'ipsecpolicy', strong),
        service: await post('vpnservices', 'vpnservice', { router_id: router.id }),
        local: await post('endpoint-groups', 'endpoint_group', { type: 'subnet', endpoints: [subnet.id] }),
        peer: await post('endpoint-groups', 'endpoint_group', { type: 'cidr', endpoints: [peer] }),
      });
    }
    const [a, b] = sites;
    const { floatingip } = await api.post<{ floatingip: { floating_ip_address: string } }>(
      '/v2.0/floatingips',
      {
        floatingip: { floating_network_id: external, port_id: b.vm.ports[0].id },
      },
    );
    const connect = (from: Site, to: Site) =>
      api.post<{ ipsec_site_connection: { id: string } }>(`${VPN}/ipsec-site-connections`, {
        ipsec_site_connection: {
          vpnservice_id: from.service,
          ikepolicy_id: from.ike,
          ipsecpolicy_id: from.ipsec,
          local_ep_group_id: from.local,
          peer_ep_group_id: from.peer,
          peer_address: to.gateway,
          peer_id: to.gateway,
          psk: 'bench-secret',
        },
      });
    const statusOf = async (id: string) =>
      (
        await api.get<{ ipsec_site_connection: { status: string; status_description: string } }>(
          `${VPN}/ipsec-site-connections/${id}`,
        )
      ).ipsec_site_connection;
    // Site B's connection first, until its charon runs (it reports a status), then site A's: timed.
    const bConn = (await connect(b, a)).ipsec_site_connection.id;
    for (
      const deadline = Date.now() + 60_000;
      (await statusOf(bConn)).status === 'PENDING_CREATE';
      await sleep(50)
    )
      if (Date.now() > deadline) throw new Error("site B's connection never reported");
    const created = performance.now();
    const aConn = (await connect(a, b)).ipsec_site_connection.id;
    let firstPacketMs: number | null = null;
    let activeMs: number | null = null;
    while (performance.now() - created < 60_000 && (firstPacketMs === null || activeMs === null)) {
      if (firstPacketMs === null && (await pings(a.vm, ip(b.vm))))
        firstPacketMs = Math.round(performance.now() - created);
      if (activeMs === null && (await statusOf(aConn)).status === 'ACTIVE')
        activeMs = Math.round(performance.now() - created);
      await sleep(20);
    }
    const description = (await statusOf(aConn)).status_description;

    const server = spawn('ip', ['netns', 'exec', ns(b.vm), 'iperf3', '-s'], { stdio: 'ignore' });
    children.push(server);
    await sleep(500);
    const rows: Record<string, number[]> = { tunnel: [], plain: [] };
    for (let r = 0; r < ROUNDS; r++) {
      rows.tunnel.push(await iperf(a.vm, ip(b.vm)));
      rows.plain.push(await iperf(a.vm, floatingip.floating_ip_address));
      console.error(`round ${r + 1}: tunnel ${rows.tunnel.at(-1)} Mbit/s, plain ${rows.plain.at(-1)} Mbit/s`);
    }
    const results = {
      date: new Date().toISOString(),
      node: process.version,
      cpus: cpus().length,
      ipsec: plane,
      statusDescription: description,
      rounds: ROUNDS,
      seconds: SECONDS,
      mbits: rows,
      medians: { tunnel: median(rows.tunnel), plain: median(rows.plain) },
      ratio: Math.round((median(rows.tunnel) / median(rows.plain)) * 100) / 100,
      createToFirstPacketMs: firstPacketMs,
      createToActiveMs: activeMs,
    };
    const previous = JSON.parse(await readFile(OUT, 'utf8').catch(() => '{}')) as Record<string, unknown>;
    await writeFile(OUT, `${JSON.stringify({ ...previous, vpn: results }, null, 2)}\n`);
    console.log(`IPsec data plane: ${plane} (${description})`);
    console.log(
      '| iperf3 TCP, Mbit/s (median) | through the IPsec tunnel | same routers, floating IP, no tunnel | ratio |',
    );
    console.log('| --- | ---: | ---: | ---: |');
    console.log(`| site A → site B | ${median(rows.tunnel)} | ${median(rows.plain)} | ${results.ratio} |`);
    console.log(`connection create → first ping through: ${firstPacketMs} ms; → ACTIVE: ${activeMs} ms`);
  } finally {
    for (const child of children)
      if (child.pid !== undefined && child.exitCode === null) process.kill(child.pid, 'SIGKILL');
    await allInOne?.close({ cleanup: true });
    await outside.remove();
    await rm(stateDir, { recursive: true, force: true });
  }
}

await main();
