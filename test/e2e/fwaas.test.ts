/**
 * Firewall groups (FWaaS v2) on a router interface through a real `neutrino up` (root, real
 * packets): two networks behind one router, an instance on each. A group on the interface of the
 * server's network with an ingress policy allowing ICMP only: ping passes, TCP does not; a rule
 * allowing tcp/5000 inserted before the others opens that port only; a connection established
 * through it is cut when that rule goes (its conntrack entries deleted, as neutron-fwaas does);
 * a reject rule refuses at once
 * where the default drop leaves the client waiting; the router's table counts the drops of the
 * rule that made them; a table deleted behind the agent's back comes back; the trace names the
 * rule or the default drop; a log on the group records a dropped attempt and an accepted ping
 * with the interface and the group; taking the port out of the group opens everything and removes
 * the table.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { runInNamespace } from '../../src/linux/exec.js';
import { nftListTable } from '../../src/linux/nft.js';
import { NeutrinoUp } from '../helpers/neutrino-up.js';
import { Outside } from '../helpers/outside.js';
import { until } from '../helpers/until.js';

const isRoot = process.getuid?.() === 0;
const INSTANCES = '/neutrino/v1/instances';
const FW = '/v2.0/fwaas';

interface Instance {
  id: string;
  status: string;
  ports: { id: string }[];
  fault?: unknown;
}

/** What busybox nc says on stderr when it gives up connecting to `ip:port` (2 s at most). */
function connectError(from: string, ip: string, port: number): Promise<string> {
  const child = spawn('ip', ['netns', 'exec', from, 'busybox', 'nc', '-w', '2', ip, String(port)], {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let err = '';
  child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      if (child.pid !== undefined && child.exitCode === null) process.kill(child.pid, 'SIGKILL');
    }, 3_000);
    child.once('close', () => {
      clearTimeout(timer);
      resolve(err);
    });
  });
}

describe('FWaaS v2 on a router interface through neutrino up (real kernel)', {
  skip: !isRoot && 'needs root',
}, () => {
  const up = new NeutrinoUp({ resyncIntervalS: 2 });
  // Only its nc helpers are used (between the two instances): nothing of it is created.
  const nc = new Outside('198.51.100.254/24');
  let routerId: string;
  let client: Instance;
  let server: Instance;
  let serverIp: string;
  let guarded: string;
  let groupId: string;
  let policyId: string;
  let icmpRule: string;

  const ns = (vm: Instance) => `inst-${vm.id}`;
  const ping = async () =>
    (await runInNamespace(ns(client), 'ping', ['-c', '1', '-W', '1', serverIp], { allowFail: true })).code ===
    0;
  const connects = async (port: number) =>
    (await nc.tcpPeer(ns(client), ns(server), serverIp, port)) !== undefined;
  const table = () => nftListTable('inet', 'neutrino-fwaas', { netns: `qrouter-${routerId}` });
  const rule = async (body: Record<string, unknown>) =>
    (
      await up.session.post<{ firewall_rule: { id: string } }>(`${FW}/firewall_rules`, {
        firewall_rule: body,
      })
    ).firewall_rule.id;
  const policyRules = async () =>
    (
      await up.session.get<{ firewall_policy: { firewall_rules: string[] } }>(
        `${FW}/firewall_policies/${policyId}`,
      )
    ).firewall_policy.firewall_rules;
  /** The router's table as nft lists it, once it holds `text` (the agent applied the change). */
  const applied = (text: string) =>
    until(`the router's firewall table with ${text}`, async () => {
      const listing = await table();
      return listing?.includes(text) ? listing : undefined;
    });

  before(async () => {
    await up.start();
    const api = up.session;
    const net = async (name: string, cidr: string) => {
      const { network } = await api.post<{ network: { id: string } }>('/v2.0/networks', {
        network: { name },
      });
      const { subnet } = await api.post<{ subnet: { id: string } }>('/v2.0/subnets', {
        subnet: { network_id: network.id, ip_version: 4, cidr },
      });
      return { network: network.id, subnet: subnet.id };
    };
    const a = await net('fw-clients', '10.41.1.0/24');
    const b = await net('fw-servers', '10.41.2.0/24');
    const { router } = await api.post<{ router: { id: string } }>('/v2.0/routers', {
      router: { name: 'fw-router' },
    });
    routerId = router.id;
    await api.put(`/v2.0/routers/${routerId}/add_router_interface`, { subnet_id: a.subnet });
    const iface = await api.put<{ port_id: string }>(`/v2.0/routers/${routerId}/add_router_interface`, {
      subnet_id: b.subnet,
    });
    guarded = iface.port_id;
    const boot = async (name: string, network: string) => {
      const { instance } = await api.post<{ instance: Instance }>(INSTANCES, {
        instance: { name, networks: [{ network_id: network }] },
      });
      return until(`${name} ACTIVE`, async () => {
        const { instance: now } = await api.get<{ instance: Instance }>(`${INSTANCES}/${instance.id}`);
        assert.notEqual(now.status, 'ERROR', JSON.stringify(now.fault));
        return now.status === 'ACTIVE' ? now : undefined;
      });
    };
    client = await boot('fw-client', a.network);
    server = await boot('fw-server', b.network);
    const { port } = await api.get<{
      port: { security_groups: string[]; fixed_ips: { ip_address: string }[] };
    }>(`/v2.0/ports/${server.ports[0].id}`);
    serverIp = port.fixed_ips[0].ip_address;
    for (const security_group_id of port.security_groups)
      for (const protocol of ['tcp', 'icmp'])
        await api.post('/v2.0/security-group-rules', {
          security_group_rule: { security_group_id, direction: 'ingress', protocol },
        });
    await until('ping across the router', ping);
    assert.ok(await connects(5000), 'TCP across the router before any firewall');
  });

  after(async () => {
    await up.cleanup();
  });

  it('allows ICMP only with an ingress policy of one allow-icmp rule', async () => {
    icmpRule = await rule({ name: 'icmp', protocol: 'icmp', action: 'allow' });
    const { firewall_policy } = await up.session.post<{ firewall_policy: { id: string } }>(
      `${FW}/firewall_policies`,
      { firewall_policy: { name: 'icmp only', firewall_rules: [icmpRule] } },
    );
    policyId = firewall_policy.id;
    const { firewall_group } = await up.session.post<{ firewall_group: { id: string; status: string } }>(
      `${FW}/firewall_groups`,
      { firewall_group: { name: 'servers', ingress_firewall_policy_id: policyId, ports: [guarded] } },
    );
    groupId = firewall_group.id;
    assert.equal(firewall_group.status, 'ACTIVE');
    await applied(icmpRule);
    assert.ok(await ping(), 'ICMP is allowed');
    assert.equal(await connects(5000), false, 'TCP falls to the default drop');
    const listing = await table();
    const drops = /counter fwaas-[0-9a-f-]+-ingress-default \{\s*packets (\d+)/.exec(listing ?? '');
    assert.ok(drops && Number(drops[1]) > 0, 'the default drop counted the SYNs');
    // Drift: a table deleted behind the agent's back is back after its next verification.
    await runInNamespace(`qrouter-${routerId}`, 'nft', ['delete', 'table', 'inet', 'neutrino-fwaas']);
    await applied(icmpRule);
    assert.equal(await connects(5000), false, 'the restored table drops again');
  });

  it('opens tcp/5000 with a rule inserted before the others, and only that port', async () => {
    const tcp5000 = await rule({
      name: 'tcp 5000',
      protocol: 'tcp',
      destination_port: '5000',
      action: 'allow',
    });
    await up.session.put(`${FW}/firewall_policies/${policyId}/insert_rule`, {
      firewall_rule_id: tcp5000,
      insert_before: icmpRule,
    });
    assert.deepEqual(await policyRules(), [tcp5000, icmpRule]);
    await applied(tcp5000);
    assert.ok(await until('tcp/5000 connects', () => connects(5000)));
    assert.equal(await connects(5001), false, 'another port stays closed');
    assert.ok(await ping());
  });

  it('cuts an established connection when the rule that allowed it goes, as neutron-fwaas does', async () => {
    const flow = await nc.flow(ns(client), ns(server), serverIp, 5000);
    try {
      assert.ok(await flow.carries('before'), 'the flow works');
      const [tcp5000] = await policyRules();
      await up.session.put(`${FW}/firewall_policies/${policyId}/remove_rule`, { firewall_rule_id: tcp5000 });
      await until(
        'the tcp/5000 rule gone from the table',
        async () => !(await table())?.includes(tcp5000 ?? '-'),
      );
      // Each try sends a line of its own: one the server got before the cut stays received.
      let n = 0;
      assert.ok(
        await until('the established flow is cut', async () => !(await flow.carries(`after ${n++}`))),
        'its conntrack entry is deleted and its next packet meets the new rules',
      );
      assert.equal(await flow.carries('still cut'), false, 'and it stays cut');
    } finally {
      await flow.close();
    }
    assert.equal(await connects(5000), false, 'a new connection is dropped');
  });

  it('refuses at once with reject, leaves the client waiting with deny', async () => {
    const reject = await rule({
      name: 'reject 5002',
      protocol: 'tcp',
      destination_port: '5002',
      action: 'reject',
    });
    await up.session.put(`${FW}/firewall_policies/${policyId}/insert_rule`, { firewall_rule_id: reject });
    await applied(reject);
    assert.match(await connectError(ns(client), serverIp, 5002), /refused/i, 'reject answers');
    assert.doesNotMatch(await connectError(ns(client), serverIp, 5003), /refused/i, 'deny stays silent');
    const listing = (await table()) ?? '';
    const counted = new RegExp(`counter fwaas-${guarded}-ingress-${reject} \\{\\s*packets (\\d+)`).exec(
      listing,
    );
    assert.ok(counted && Number(counted[1]) > 0, "the reject rule's counter names the rule that refused");
    const traced = async (port: number) =>
      up.session.post<{ verdict: string; hops: { object: { type: string; id: string } }[] }>(
        '/neutrino/v1/trace',
        {
          source: client.id,
          destination: server.id,
          protocol: 'tcp',
          port,
        },
      );
    const refusedTrace = await traced(5002);
    assert.equal(refusedTrace.verdict, 'denied');
    assert.deepEqual(refusedTrace.hops.at(-1)?.object.id, reject, 'trace names the reject rule');
    const droppedTrace = await traced(5003);
    assert.equal(droppedTrace.verdict, 'denied');
    assert.equal(
      droppedTrace.hops.at(-1)?.object.type,
      'firewall_group',
      "trace names the group's default drop",
    );
  });

  it("logs the group's drops and accepts on its interface (network logging of a firewall group)", async () => {
    const { log } = await up.session.post<{ log: { id: string } }>('/v2.0/log/logs', {
      log: { resource_type: 'firewall_group', resource_id: groupId, event: 'ALL' },
    });
    interface LogRecord {
      event: string;
      port_id: string;
      resource_id: string | null;
      protocol: string;
      dst_ip: string;
      dst_port: number | null;
    }
    const records = async () =>
      (await up.session.get<{ log_records: LogRecord[] }>(`/neutrino/v1/logs/${log.id}/events`)).log_records;
    try {
      // Each try is a new attempt: the router's reader may bind its NFLOG group after the table
      // has its log statements.
      const dropped = await until('the drop of tcp/5004 recorded', async () => {
        assert.equal(await connects(5004), false);
        return (await records()).find((r) => r.event === 'DROP' && r.dst_port === 5004);
      });
      assert.deepEqual(
        [dropped.port_id, dropped.resource_id, dropped.protocol, dropped.dst_ip],
        [guarded, groupId, 'tcp', serverIp],
      );
      const accepted = await until('a ping recorded', async () => {
        assert.ok(await ping());
        return (await records()).find((r) => r.event === 'ACCEPT' && r.protocol === 'icmp');
      });
      assert.deepEqual(
        [accepted.port_id, accepted.resource_id, accepted.dst_ip],
        [guarded, groupId, serverIp],
      );
    } finally {
      await up.session.delete(`/v2.0/log/logs/${log.id}`);
    }
  });

  it('opens everything once the port leaves the group, and removes the table', async () => {
    const { firewall_group } = await up.session.put<{ firewall_group: { status: string } }>(
      `${FW}/firewall_groups/${groupId}`,
      { firewall_group: { ports: [] } },
    );
    assert.equal(firewall_group.status, 'INACTIVE');
    await until('the table removed', async () => (await table()) === undefined);
    assert.ok(await until('tcp/5001 connects', () => connects(5001)));
    assert.ok(await connects(5002));
    assert.ok(await ping());
    await up.session.delete(`${FW}/firewall_groups/${groupId}`);
  });
});
