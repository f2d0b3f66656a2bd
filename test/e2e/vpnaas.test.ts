/**
 * VPNaaS through a real `neutrino up` (root, real packets): two sites, two projects (a member user
 * each, who makes the site's network, router, instance, security group rules and VPN objects; the
 * admin only makes the shared external network 198.51.100.0/24), each router gatewayed to it, joined
 * by IPsec site connections (endpoint groups, IKEv2, AES-256/SHA-256). Both connections go ACTIVE,
 * saying which IPsec data plane carries them, as `neutrino vpn list` shows too; each project sees
 * only its own. The instances ping and open TCP to each other with their own addresses (no SNAT;
 * each project's security group admits the other site's CIDR); on the external network (watched by
 * tcpdump in the outside namespace, the test's bridge flooding every frame to it) the sites
 * exchange only ESP or ESP in UDP, never a private address. A wrong pre-shared key leaves the
 * connection DOWN with the reason and carries nothing; the right one brings it back; deleting the
 * connections stops the traffic and leaves no charon in the routers' namespaces.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Session } from '../../src/client/session.js';
import { runInNamespace } from '../../src/linux/exec.js';
import { ipBatch, namespacePids } from '../../src/linux/ip.js';
import { hasKernelEsp } from '../../src/linux/kernel.js';
import { activeInstance } from '../helpers/lab.js';
import { NeutrinoUp } from '../helpers/neutrino-up.js';
import { Outside } from '../helpers/outside.js';
import { until } from '../helpers/until.js';

const isRoot = process.getuid?.() === 0;
const VPN = '/v2.0/vpn';

interface Instance {
  id: string;
  status: string;
  ports: { id: string; fixed_ips?: { ip_address: string }[] }[];
}
interface Connection {
  id: string;
  status: string;
  status_description: string;
}
interface Site {
  /** The site's project member's session: everything of the site is made and changed through it. */
  api: Session;
  project: string;
  router: string;
  gateway: string;
  cidr: string;
  vm: Instance;
  ip: string;
  ike: string;
  ipsec: string;
  service: string;
  local: string;
  peer?: string;
  connection?: string;
}

describe('VPNaaS: two sites joined by IPsec through neutrino up (real kernel)', {
  skip: !isRoot && 'needs root',
}, () => {
  const outside = new Outside('198.51.100.1/24');
  const up = new NeutrinoUp({ resyncIntervalS: 2, physicalInterfaceMappings: { public: outside.bridge } });
  const sites: Site[] = [];
  let userspace = true;
  const ns = (s: Site) => `inst-${s.vm.id}`;
  const ping = async (from: Site, to: Site) =>
    (await runInNamespace(ns(from), 'ping', ['-c', '1', '-W', '1', to.ip], { allowFail: true })).code === 0;
  const connection = async (s: Site) =>
    (await s.api.get<{ ipsec_site_connection: Connection }>(`${VPN}/ipsec-site-connections/${s.connection}`))
      .ipsec_site_connection;
  const status = (s: Site, wanted: string) =>
    until(
      `site ${s.cidr}'s connection ${wanted}`,
      async () => {
        const c = await connection(s);
        return c.status === wanted ? c : undefined;
      },
      60_000,
    );
  const connect = async (a: Site, b: Site, psk: string) => {
    const { ipsec_site_connection } = await a.api.post<{ ipsec_site_connection: Connection }>(
      `${VPN}/ipsec-site-connections`,
      {
        ipsec_site_connection: {
          name: `to-${b.cidr}`,
          vpnservice_id: a.service,
          ikepolicy_id: a.ike,
          ipsecpolicy_id: a.ipsec,
          local_ep_group_id: a.local,
          peer_ep_group_id: a.peer,
          peer_address: b.gateway,
          peer_id: b.gateway,
          psk,
        },
      },
    );
    assert.equal(ipsec_site_connection.status, 'PENDING_CREATE');
    a.connection = ipsec_site_connection.id;
  };
  /** A new project with a member user, and that user's session (the identity API, as the admin). */
  const projectMember = async (name: string): Promise<{ project: string; api: Session }> => {
    const suffix = randomBytes(3).toString('hex');
    const admin = up.session;
    const { project } = await admin.post<{ project: { id: string } }>('/identity/v3/projects', {
      project: { name: `${name}-${suffix}`, domain_id: 'default' },
    });
    const password = `pw-${suffix}`;
    const { user } = await admin.post<{ user: { id: string } }>('/identity/v3/users', {
      user: {
        name: `${name}-user-${suffix}`,
        password,
        domain_id: 'default',
        default_project_id: project.id,
      },
    });
    const { roles } = await admin.get<{ roles: { id: string }[] }>('/identity/v3/roles?name=member');
    await admin.put(`/identity/v3/projects/${project.id}/users/${user.id}/roles/${roles[0].id}`);
    const api = new Session({
      auth: {
        type: 'password',
        credentials: {
          authUrl: `${up.url}/identity/v3`,
          username: `${name}-user-${suffix}`,
          password,
          projectName: `${name}-${suffix}`,
          userDomainName: 'Default',
          projectDomainName: 'Default',
        },
      },
    });
    return { project: project.id, api };
  };

  before(async () => {
    userspace = !(await hasKernelEsp());
    await outside.create();
    // The test's bridge learns nothing, so it floods every frame to the outside namespace, whose
    // tcpdump then sees what the two routers send each other.
    await ipBatch([['link', 'set', 'dev', outside.bridge, 'type', 'bridge', 'ageing_time', '0']]);
    await up.start();
    const external = await outside.publicNetwork(up.session);
    for (const [name, cidr, peerCidr] of [
      ['site-a', '10.71.1.0/24', '10.72.1.0/24'],
      ['site-b', '10.72.1.0/24', '10.71.1.0/24'],
    ]) {
      const { project, api } = await projectMember(name);
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
      const vm = await activeInstance<Instance>(api, {
        name: `${name}-vm`,
        networks: [{ network_id: network.id }],
      });
      const { port } = await api.get<{
        port: { project_id: string; fixed_ips: { ip_address: string }[]; security_groups: string[] };
      }>(`/v2.0/ports/${vm.ports[0].id}`);
      assert.equal(port.project_id, project, "the instance is the site's project's");
      // The project's default group admits its own members only: the other site by a rule.
      for (const security_group_id of port.security_groups)
        for (const protocol of ['icmp', 'tcp'])
          await api.post('/v2.0/security-group-rules', {
            security_group_rule: {
              security_group_id,
              direction: 'ingress',
              protocol,
              remote_ip_prefix: peerCidr,
            },
          });
      const post = async <T>(path: string, member: string, body: Record<string, unknown>) =>
        ((await api.post<Record<string, T>>(`${VPN}/${path}`, { [member]: body })) as Record<string, T>)[
          member
        ] as T;
      const ike = await post<{ id: string }>('ikepolicies', 'ikepolicy', {
        ike_version: 'v2',
        encryption_algorithm: 'aes-256',
        auth_algorithm: 'sha256',
        pfs: 'group14',
      });
      const ipsec = await post<{ id: string }>('ipsecpolicies', 'ipsecpolicy', {
        encryption_algorithm: 'aes-256',
        auth_algorithm: 'sha256',
        pfs: 'group14',
      });
      const service = await post<{ id: string }>('vpnservices', 'vpnservice', { router_id: router.id });
      const local = await post<{ id: string }>('endpoint-groups', 'endpoint_group', {
        type: 'subnet',
        endpoints: [subnet.id],
      });
      sites.push({
        api,
        project,
        router: router.id,
        gateway: router.external_gateway_info.external_fixed_ips[0].ip_address,
        cidr,
        vm,
        ip: port.fixed_ips[0].ip_address,
        ike: ike.id,
        ipsec: ipsec.id,
        service: service.id,
        local: local.id,
      });
    }
    for (const [a, b] of [
      [sites[0], sites[1]],
      [sites[1], sites[0]],
    ]) {
      const peer = await a.api.post<{ endpoint_group: { id: string } }>(`${VPN}/endpoint-groups`, {
        endpoint_group: { type: 'cidr', endpoints: [b.cidr] },
      });
      a.peer = peer.endpoint_group.id;
    }
    assert.equal(
      await ping(sites[0], sites[1]),
      false,
      'no route between the private subnets before the VPN',
    );
  });

  after(async () => {
    await up.cleanup();
    await outside.remove();
  });

  it('both connections go ACTIVE, saying which IPsec data plane carries them', async () => {
    await connect(sites[1], sites[0], 'the-shared-secret');
    await connect(sites[0], sites[1], 'the-shared-secret');
    for (const site of sites) {
      const c = await status(site, 'ACTIVE');
      assert.match(c.status_description, userspace ? /userspace IPsec \(kernel-libipsec/ : /kernel IPsec/);
      assert.match(c.status_description, /CHILD SA installed/);
    }
    const log = up.output();
    assert.match(
      log,
      userspace ? /IPsec site connections run on strongSwan's userspace IPsec/ : /run on kernel IPsec/,
    );
    // `neutrino vpn list` (the admin's: both projects' connections) shows the same.
    const listed = await up.cli(['vpn', 'list', '-f', 'json']);
    assert.equal(listed.code, 0, listed.stderr);
    const rows = JSON.parse(listed.stdout) as Record<string, string>[];
    assert.deepEqual(
      rows.map((r) => [r.ID, r.Status, r.Peer, r.Router]).sort(),
      [
        [sites[0].connection, 'ACTIVE', sites[1].gateway, sites[0].router],
        [sites[1].connection, 'ACTIVE', sites[0].gateway, sites[1].router],
      ].sort(),
    );
    for (const site of sites)
      assert.equal(
        rows.find((r) => r.ID === site.connection)?.Description,
        (await connection(site)).status_description,
        'the status description, which names the IPsec data plane',
      );
    const table = await up.cli(['vpn', 'list']);
    assert.equal(table.code, 0, table.stderr);
    assert.match(table.stdout, new RegExp(`site-a \\(${sites[0].router}\\)`), 'the router by its name');
    assert.match(table.stdout, /\| Status +\| Peer +\| Router/);
    await assert.rejects(
      sites[1].api.get(`${VPN}/ipsec-site-connections/${sites[0].connection}`),
      (e: { status?: number; type?: string }) => e.status === 404 && e.type === 'IPsecSiteConnectionNotFound',
      "one project does not see the other's connection",
    );
    for (const site of sites) {
      const services = await site.api.get<{ vpnservices: { status: string; project_id: string }[] }>(
        `${VPN}/vpnservices`,
      );
      assert.deepEqual(
        services.vpnservices.map((s) => [s.project_id, s.status]),
        [[site.project, 'ACTIVE']],
        'each project sees its own service, ACTIVE',
      );
    }
  });

  it('the instances ping and open TCP to each other with their own addresses, encrypted on the wire', async () => {
    const [a, b] = sites;
    const capture = tcpdump(outside.netns, `host ${a.gateway} and host ${b.gateway}`);
    try {
      await until('a ping through the tunnel', async () => ((await ping(a, b)) ? true : undefined));
      assert.ok(await ping(b, a), 'site B reaches site A');
      assert.equal(await outside.tcpPeer(ns(a), ns(b), b.ip, 5001), a.ip, 'B sees A by its own address');
      assert.equal(await outside.tcpPeer(ns(b), ns(a), a.ip, 5002), b.ip, 'A sees B by its own address');
      for (let i = 0; i < 3; i++) await ping(a, b);
    } finally {
      await sleep(300);
      capture.stop();
    }
    const lines = capture.lines();
    assert.ok(lines.length >= 8, `the capture saw the traffic: ${lines.join('\n')}`);
    for (const line of lines) {
      assert.doesNotMatch(line, /10\.7[12]\.1\./, `a private address on the external network: ${line}`);
      assert.match(line, userspace ? /UDP-encap|ESP|isakmp|\.4500: |\.500: / : /ESP|isakmp|UDP-encap/, line);
    }
    assert.ok(
      lines.some((l) => /ESP\(spi=/.test(l)),
      `the instances' traffic as ESP${userspace ? ' in UDP' : ''}: ${lines.join('\n')}`,
    );
  });

  it('a wrong pre-shared key leaves the connection DOWN with the reason, and carries nothing', async () => {
    const [a, b] = sites;
    await b.api.put(`${VPN}/ipsec-site-connections/${b.connection}`, {
      ipsec_site_connection: { psk: 'not-the-shared-secret' },
    });
    const down = await until(
      "site A's connection DOWN for the key",
      async () => {
        const c = await connection(a);
        return c.status === 'DOWN' && /pre-shared keys differ/.test(c.status_description) ? c : undefined;
      },
      60_000,
    );
    assert.match(down.status_description, /AUTHENTICATION_FAILED|MAC mismatched/);
    assert.equal(await ping(a, b), false, 'nothing passes without the tunnel');
    await b.api.put(`${VPN}/ipsec-site-connections/${b.connection}`, {
      ipsec_site_connection: { psk: 'the-shared-secret' },
    });
    await status(a, 'ACTIVE');
    await until(
      'a ping through the tunnel again',
      async () => ((await ping(a, b)) ? true : undefined),
      30_000,
    );
  });

  it('deleting the connections stops the traffic and leaves no charon', async () => {
    const [a, b] = sites;
    for (const site of sites) await site.api.delete(`${VPN}/ipsec-site-connections/${site.connection}`);
    await until('no charon in either router namespace', async () => {
      for (const site of sites) {
        for (const pid of await namespacePids(`qrouter-${site.router}`)) {
          const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
          if (argv[0].endsWith('charon-systemd')) return undefined;
        }
      }
      return true;
    });
    assert.equal(await ping(a, b), false, 'the tunnel is gone');
    const links = await runInNamespace(`qrouter-${a.router}`, 'ip', ['-o', 'link']);
    assert.doesNotMatch(links.stdout, /ipsec0/, 'no TUN device left');
  });
});

/** tcpdump in `netns` on eth0 with `filter`: the lines it printed, until stopped. */
function tcpdump(netns: string, filter: string): { stop(): void; lines(): string[] } {
  const child: ChildProcess = spawn(
    'ip',
    ['netns', 'exec', netns, 'tcpdump', '-l', '-n', '-i', 'eth0', ...filter.split(' ')],
    { stdio: ['ignore', 'pipe', 'ignore'] },
  );
  let out = '';
  child.stdout?.setEncoding('utf8').on('data', (d: string) => (out += d));
  return {
    stop() {
      if (child.pid !== undefined && child.exitCode === null) process.kill(child.pid, 'SIGKILL');
    },
    lines: () => out.split('\n').filter((l) => l.trim() !== ''),
  };
}
