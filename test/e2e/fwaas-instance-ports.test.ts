/**
 * Firewall groups (FWaaS v2) on an instance port through a real `neutrino up` (root, real
 * packets): two instances on one network, their default security group letting each other in.
 * A group on the server's port with an ingress policy denying tcp/22 then allowing anything: new
 * connections to port 22 are dropped while ICMP and other ports pass (replies too), and, the
 * group having no egress policy, the server's own new connections meet the default drop as
 * neutron-fwaas's do; the deny rule counts in the root table `neutrino-fwg-<owner>`; a table deleted behind the
 * agent's back comes back; an allow of tcp/22 inserted before the deny reopens it; a connection
 * established through that allow is cut when it goes (its conntrack entries deleted in the
 * bridge's zone, as neutron-fwaas cuts them); an egress
 * policy on the same port stops the server's own connections to tcp/7000 (and only those); the
 * trace names the rule that decided each way; taking the port out of the group restores
 * everything and removes the table. A port without port security is filtered by its group too.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { firewallGroupsTable } from '../../src/agent/firewall/firewall-groups.js';
import { ownerTag } from '../../src/agent/state/host-state.js';
import { run, runInNamespace } from '../../src/linux/exec.js';
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
  ports: { id: string; fixed_ips: { ip_address: string }[] }[];
  fault?: unknown;
}

interface Trace {
  verdict: string;
  hops: { step: string; ok: boolean; object: { type: string; id: string }; detail: string }[];
}

describe('FWaaS v2 on an instance port through neutrino up (real kernel)', {
  skip: !isRoot && 'needs root',
}, () => {
  const up = new NeutrinoUp({ resyncIntervalS: 2 });
  // Only its nc helpers are used (between the two instances): nothing of it is created.
  const nc = new Outside('198.51.100.254/24');
  let client: Instance;
  let server: Instance;
  let clientIp: string;
  let serverIp: string;
  let serverPort: string;
  let groupId: string;
  let inPolicy: string;
  let noSsh: string;
  let noOut: string;
  let anything: string;

  const ns = (vm: Instance) => `inst-${vm.id}`;
  const ping = async () =>
    (await runInNamespace(ns(client), 'ping', ['-c', '1', '-W', '1', serverIp], { allowFail: true })).code ===
    0;
  /** A new TCP connection from the client to the server's `port`. */
  const toServer = async (port: number) =>
    (await nc.tcpPeer(ns(client), ns(server), serverIp, port)) !== undefined;
  /** A new TCP connection from the server to the client's `port`. */
  const fromServer = async (port: number) =>
    (await nc.tcpPeer(ns(server), ns(client), clientIp, port)) !== undefined;
  const table = () => nftListTable('inet', firewallGroupsTable(ownerTag(up.agentDir)));
  const rule = async (body: Record<string, unknown>) =>
    (
      await up.session.post<{ firewall_rule: { id: string } }>(`${FW}/firewall_rules`, {
        firewall_rule: body,
      })
    ).firewall_rule.id;
  const policy = async (name: string, rules: string[]) =>
    (
      await up.session.post<{ firewall_policy: { id: string } }>(`${FW}/firewall_policies`, {
        firewall_policy: { name, firewall_rules: rules },
      })
    ).firewall_policy.id;
  /** The table as nft lists it, once it holds `text` (the agent applied the change). */
  const applied = (text: string) =>
    until(`the instance ports' firewall table with ${text}`, async () => {
      const listing = await table();
      return listing?.includes(text) ? listing : undefined;
    });
  const trace = (source: Instance, destination: Instance, port: number) =>
    up.session.post<Trace>('/neutrino/v1/trace', {
      source: source.id,
      destination: destination.id,
      protocol: 'tcp',
      port,
    });

  before(async () => {
    await up.start();
    const api = up.session;
    const { network } = await api.post<{ network: { id: string } }>('/v2.0/networks', {
      network: { name: 'fwg-net' },
    });
    await api.post('/v2.0/subnets', {
      subnet: { network_id: network.id, ip_version: 4, cidr: '10.43.1.0/24' },
    });
    const boot = async (name: string) => {
      const { instance } = await api.post<{ instance: Instance }>(INSTANCES, {
        instance: { name, networks: [{ network_id: network.id }] },
      });
      return until(`${name} ACTIVE`, async () => {
        const { instance: now } = await api.get<{ instance: Instance }>(`${INSTANCES}/${instance.id}`);
        assert.notEqual(now.status, 'ERROR', JSON.stringify(now.fault));
        return now.status === 'ACTIVE' ? now : undefined;
      });
    };
    client = await boot('fwg-client');
    server = await boot('fwg-server');
    serverPort = server.ports[0].id;
    const address = async (vm: Instance) =>
      (await api.get<{ port: { fixed_ips: { ip_address: string }[] } }>(`/v2.0/ports/${vm.ports[0].id}`)).port
        .fixed_ips[0].ip_address;
    clientIp = await address(client);
    serverIp = await address(server);
    await until('ping between the instances', ping);
    assert.ok(await toServer(22), 'tcp/22 before any firewall');
    assert.ok(await fromServer(7000), 'tcp/7000 from the server before any firewall');
  });

  after(async () => {
    await up.cleanup();
  });

  it('drops new connections to tcp/22 with an ingress deny while ICMP and other ports pass', async () => {
    noSsh = await rule({ name: 'no-ssh', protocol: 'tcp', destination_port: '22', action: 'deny' });
    anything = await rule({ name: 'anything', action: 'allow' });
    inPolicy = await policy('vm in', [noSsh, anything]);
    const { firewall_group } = await up.session.post<{ firewall_group: { id: string; status: string } }>(
      `${FW}/firewall_groups`,
      { firewall_group: { name: 'vm-guard', ingress_firewall_policy_id: inPolicy, ports: [serverPort] } },
    );
    groupId = firewall_group.id;
    assert.equal(firewall_group.status, 'ACTIVE');
    await applied(noSsh);
    assert.equal(await toServer(22), false, 'tcp/22 is denied');
    assert.ok(await ping(), 'ICMP passes');
    assert.ok(await toServer(5000), 'another port passes');
    assert.equal(
      await fromServer(7000),
      false,
      "no egress policy in a group with a policy: the server's new connections meet the default drop, as neutron-fwaas's",
    );
    const listing = (await table()) ?? '';
    const counted = new RegExp(`counter fwaas-${serverPort}-ingress-${noSsh} \\{\\s*packets (\\d+)`).exec(
      listing,
    );
    assert.ok(counted && Number(counted[1]) > 0, 'the deny rule counted the SYNs');
    const traced = await trace(client, server, 22);
    assert.equal(traced.verdict, 'denied', JSON.stringify(traced));
    assert.equal(traced.hops.at(-1)?.object.id, noSsh, 'the trace names the deny rule');
    assert.match(traced.hops.at(-1)?.detail ?? '', /\(instance port\) drops tcp port 22/);
    // Drift: a table deleted behind the agent's back is back after its next verification.
    await run('nft', ['delete', 'table', 'inet', firewallGroupsTable(ownerTag(up.agentDir))]);
    assert.ok(await toServer(22), 'without the table tcp/22 passes');
    await applied(noSsh);
    assert.equal(await toServer(22), false, 'the restored table drops again');
  });

  it('reopens tcp/22 with an allow inserted before the deny', async () => {
    const ssh = await rule({ name: 'ssh', protocol: 'tcp', destination_port: '22', action: 'allow' });
    await up.session.put(`${FW}/firewall_policies/${inPolicy}/insert_rule`, {
      firewall_rule_id: ssh,
      insert_before: noSsh,
    });
    await applied(ssh);
    assert.ok(await until('tcp/22 connects', () => toServer(22)));
    const traced = await trace(client, server, 22);
    assert.equal(traced.verdict, 'allowed', JSON.stringify(traced));
    assert.ok(traced.hops.some((h) => h.step === 'firewall' && h.ok && h.object.id === ssh));
  });

  it('cuts an established connection when the rule that allowed it goes, as neutron-fwaas does', async () => {
    const rules = async () =>
      (
        await up.session.get<{ firewall_policy: { firewall_rules: string[] } }>(
          `${FW}/firewall_policies/${inPolicy}`,
        )
      ).firewall_policy.firewall_rules;
    const [ssh] = await rules();
    const flow = await nc.flow(ns(client), ns(server), serverIp, 22);
    try {
      assert.ok(await flow.carries('before'), 'the flow works');
      await up.session.put(`${FW}/firewall_policies/${inPolicy}/remove_rule`, { firewall_rule_id: ssh });
      await until('the ssh rule gone from the table', async () => !(await table())?.includes(ssh ?? '-'));
      let n = 0;
      assert.ok(
        await until('the established flow is cut', async () => !(await flow.carries(`after ${n++}`))),
        'its conntrack entry is deleted and its next packet meets the deny',
      );
      assert.equal(await flow.carries('still cut'), false, 'and it stays cut');
    } finally {
      await flow.close();
    }
    await up.session.put(`${FW}/firewall_policies/${inPolicy}/insert_rule`, {
      firewall_rule_id: ssh,
      insert_before: noSsh,
    });
    await applied(ssh ?? '-');
    assert.ok(await until('tcp/22 connects again', () => toServer(22)));
  });

  it("stops the server's own connections to tcp/7000 with an egress policy on its port", async () => {
    noOut = await rule({ name: 'no-7000', protocol: 'tcp', destination_port: '7000', action: 'deny' });
    const anything = await rule({ name: 'anything out', action: 'allow' });
    const outPolicy = await policy('vm out', [noOut, anything]);
    await up.session.put(`${FW}/firewall_groups/${groupId}`, {
      firewall_group: { egress_firewall_policy_id: outPolicy },
    });
    await applied(noOut);
    assert.equal(await fromServer(7000), false, 'tcp/7000 out of the server is denied');
    assert.ok(await fromServer(7001), 'another port passes');
    assert.ok(await toServer(22), 'the ingress policy still opens tcp/22, replies pass the egress one');
    const traced = await trace(server, client, 7000);
    assert.equal(traced.verdict, 'denied', JSON.stringify(traced));
    assert.equal(traced.hops.at(-1)?.object.id, noOut);
    assert.match(traced.hops.at(-1)?.detail ?? '', /egress firewall rule no-7000 .* drops tcp port 7000/);
  });

  it('restores all traffic once the port leaves the group, and removes the table', async () => {
    const { firewall_group } = await up.session.put<{ firewall_group: { status: string } }>(
      `${FW}/firewall_groups/${groupId}`,
      { firewall_group: { ports: [] } },
    );
    assert.equal(firewall_group.status, 'INACTIVE');
    await until('the table removed', async () => (await table()) === undefined);
    assert.ok(await until('tcp/7000 from the server connects', () => fromServer(7000)));
    assert.ok(await toServer(22));
    assert.ok(await ping());
    assert.equal((await trace(server, client, 7000)).verdict, 'allowed');
    await up.session.delete(`${FW}/firewall_groups/${groupId}`);
  });

  it('filters an instance port without port security too', async () => {
    const api = up.session;
    const network = (await api.get<{ port: { network_id: string } }>(`/v2.0/ports/${serverPort}`)).port
      .network_id;
    const { port } = await api.post<{ port: { id: string; fixed_ips: { ip_address: string }[] } }>(
      '/v2.0/ports',
      { port: { network_id: network, port_security_enabled: false, name: 'fwg-open' } },
    );
    const { instance } = await api.post<{ instance: Instance }>(INSTANCES, {
      instance: { name: 'fwg-open', networks: [{ port_id: port.id }] },
    });
    const open = await until('fwg-open ACTIVE', async () => {
      const { instance: now } = await api.get<{ instance: Instance }>(`${INSTANCES}/${instance.id}`);
      assert.notEqual(now.status, 'ERROR', JSON.stringify(now.fault));
      return now.status === 'ACTIVE' ? now : undefined;
    });
    const ip = port.fixed_ips[0].ip_address;
    const reach = async (p: number) => (await nc.tcpPeer(ns(client), ns(open), ip, p)) !== undefined;
    assert.ok(await until('tcp/22 to the open instance', () => reach(22)), 'nothing filters it yet');
    const policyId = await policy('open in', [noSsh, anything]);
    const { firewall_group } = await api.post<{ firewall_group: { id: string } }>(`${FW}/firewall_groups`, {
      firewall_group: { name: 'open-guard', ingress_firewall_policy_id: policyId, ports: [port.id] },
    });
    await until('the open port in the table', async () => (await table())?.includes(`ingress-${port.id}`));
    assert.equal(await reach(22), false, 'tcp/22 is denied without port security too');
    assert.ok(await reach(5000), 'another port passes');
    await api.put(`${FW}/firewall_groups/${firewall_group.id}`, { firewall_group: { ports: [] } });
    await until('the table removed', async () => (await table()) === undefined);
    assert.ok(await until('tcp/22 connects again', () => reach(22)));
    await api.delete(`${FW}/firewall_groups/${firewall_group.id}`);
  });
});
