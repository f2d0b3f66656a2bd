/**
 * Kernel drift in model terms (pure): a missing tap device, a dead DHCP server, a NAT table and a
 * route gone from a router, a DHCP client not running — each named by the port, network, router
 * or instance it realises, with those ids; bookkeeping actions are left out.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { describeDrift } from '../../src/agent/diagnose.js';
import { diff } from '../../src/agent/reconcile/diff.js';
import { emptyHostState, type HostState, linkAlias } from '../../src/agent/state/host-state.js';

const PORT = '11111111-2222-4333-8444-555555555555';
const NET = 'aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee';
const ROUTER = '99999999-8888-4777-8666-555555555555';
const INSTANCE = '12121212-3434-4565-8787-909090909090';

const names = {
  port: (id: string) => `port ${id.slice(0, 8)} (instance vm1 eth0)`,
  network: () => 'network web',
  router: () => 'router edge',
  instance: () => 'instance vm1',
};

function desired(): HostState {
  const state = emptyHostState();
  state.bridges[`brq${NET.slice(0, 11)}`] = { mtu: 1500, alias: linkAlias('network', NET, 'o1'), up: true };
  state.veths[`tap${PORT.slice(0, 11)}`] = {
    mtu: 1500,
    master: `brq${NET.slice(0, 11)}`,
    alias: linkAlias('port', PORT, 'o1'),
    up: true,
    peer: { netns: `inst-${INSTANCE}`, name: 'eth0', mac: 'fa:16:3e:00:00:01' },
  };
  state.dhcpServers[NET] = {
    netns: `qdhcp-${NET}`,
    device: 'ns-x',
    dir: '/s/dhcp/x',
    argv: ['dnsmasq'],
    leases: [],
  };
  state.dhcpClients[`${INSTANCE}/eth0`] = {
    netns: `inst-${INSTANCE}`,
    device: 'eth0',
    argv: ['udhcpc'],
    pidFile: '/p',
    leaseFile: '/l',
  };
  state.routers[`qrouter-${ROUTER}`] = {
    dir: '/s/routers/r',
    gatewayDevice: null,
    sysctls: {},
    routes: [{ destination: '0.0.0.0/0', nexthop: '203.0.113.254', dev: 'qg-x' }],
    nat: { hash: 'h', ruleset: '', floatingIps: {} },
  };
  const link = { netns: `qrouter-${ROUTER}`, name: 'qg-x', up: true, addresses: [] };
  state.namespaceLinks[`qrouter-${ROUTER}/qg-x`] = link;
  return state;
}

describe('describeDrift (pure)', () => {
  it('names what is missing by the model object it realises', () => {
    const want = desired();
    const have = desired();
    delete have.veths[`tap${PORT.slice(0, 11)}`];
    delete have.dhcpServers[NET];
    delete have.dhcpClients[`${INSTANCE}/eth0`];
    have.routers[`qrouter-${ROUTER}`] = {
      ...have.routers[`qrouter-${ROUTER}`],
      routes: [],
      nat: { hash: '', floatingIps: {} },
      recorded: true,
    };
    have.dhcpClients = {};
    const findings = describeDrift(diff(want, have), { host: 'h1', desired: want, actual: have, names });
    const text = findings.map((f) => f.text);
    assert.ok(
      text.includes(
        `port 11111111 (instance vm1 eth0)'s tap device tap${PORT.slice(0, 11)} is missing on host h1 (veth.add pending)`,
      ),
      text.join('\n'),
    );
    assert.ok(
      text.includes("network web's DHCP server (dnsmasq) is not running on host h1 (dnsmasq.start pending)"),
    );
    assert.ok(
      text.includes(
        "router edge's NAT table (nftables) is missing or differs from what the agent applied on host h1 (nat.apply pending)",
      ),
    );
    assert.ok(
      text.includes(
        'router edge: its route to 0.0.0.0/0 via 203.0.113.254 is missing on host h1 (route.replace pending)',
      ),
    );
    assert.ok(
      text.some((t) => /^instance vm1's DHCP client on eth0 (is not running|must restart)/.test(t)),
      text.join('\n'),
    );
    assert.deepEqual(findings.find((f) => f.op === 'veth.add')?.ids, [PORT]);
    assert.deepEqual(findings.find((f) => f.op === 'dnsmasq.start')?.ids, [NET]);
    assert.deepEqual(findings.find((f) => f.op === 'nat.apply')?.ids, [ROUTER]);
    assert.ok(
      !findings.some((f) => f.op === 'router.record' || f.op === 'router.forget'),
      'bookkeeping is left out',
    );
  });

  it("names an instance's DHCPv6 client (dhclient -6) apart from its DHCP client", () => {
    const want = desired();
    const have = desired();
    const v4 = want.dhcpClients[`${INSTANCE}/eth0`];
    want.dhcpClients[`${INSTANCE}/eth0/dhcpv6`] = {
      ...v4,
      argv: ['/usr/sbin/dhclient', '-6', '-d', 'eth0'],
      pidFile: '/x/dhclient6-eth0.pid',
      leaseFile: '/x/eth0.lease6',
      dhcpv6: 'stateful',
    };
    const findings = describeDrift(diff(want, have), { host: 'h1', desired: want, actual: have, names });
    assert.deepEqual(
      findings.map((f) => f.text),
      ["instance vm1's DHCPv6 client (dhclient -6) on eth0 is not running on host h1 (udhcpc.start pending)"],
    );
    assert.deepEqual(findings[0].ids, [INSTANCE]);
  });

  it('finds nothing when the kernel holds what is wanted', () => {
    const state = desired();
    const actual = {
      ...desired(),
      routers: { [`qrouter-${ROUTER}`]: { ...desired().routers[`qrouter-${ROUTER}`], recorded: true } },
    };
    assert.deepEqual(describeDrift(diff(state, actual), { host: 'h1', desired: state, actual, names }), []);
  });
});
