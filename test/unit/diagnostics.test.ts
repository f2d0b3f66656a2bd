/**
 * The pure parts of host diagnostics: which change-feed events wake an agent's look at its pending
 * requests, how findings name a host's objects (`namesFor`), which objects a packet's path widens
 * to on a host (`pathIds`), and how `check` prints each host's drift (`hostsText`).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { namesFor, pathIds } from '../../src/agent/diagnose.js';
import { isDiagnosticRequest } from '../../src/agent/diagnostics.js';
import { hostsText } from '../../src/cli/check.js';
import type { Snapshot } from '../../src/model/host-snapshot.js';
import {
  DHCP_PORT,
  INST_A,
  NET,
  PORT_A,
  PORT_B,
  SUBNET,
  snapshotNetwork,
  snapshotPort,
} from '../helpers/snapshot.js';

const ROUTER = '44444444-dddd-4ddd-8ddd-dddddddddddd';
const GW_PORT = 'cccccccc-4444-4444-8444-444444444444';

function snapshot(): Snapshot {
  return {
    host: 'h1',
    revision: 1,
    dnsDomain: 'openstacklocal',
    networks: [snapshotNetwork()],
    subnets: [{ id: SUBNET, network_id: NET }],
    ports: [
      snapshotPort(PORT_A, '10.0.0.5', 'fa:16:3e:00:00:0a'),
      snapshotPort(DHCP_PORT, '10.0.0.2', 'fa:16:3e:00:00:02', { device_owner: 'network:dhcp' }),
      snapshotPort(PORT_B, '10.0.0.6', 'fa:16:3e:00:00:0b'),
    ],
    instances: [{ id: INST_A, name: 'vm1', ports: [PORT_A] }],
    routers: [{ id: ROUTER, gateway: null, interfaces: [{ port_id: GW_PORT }] }],
    physicalInterfaceMappings: {},
  } as unknown as Snapshot;
}

describe('host diagnostics (pure)', () => {
  it('wakes on a diagnostic request only, not on its answer nor on model changes', () => {
    const event = (o: object) => JSON.stringify({ resource_id: 'x', project_id: '', ...o });
    assert.equal(isDiagnosticRequest(event({ resource: 'host_diagnostics', op: 'create' })), true);
    assert.equal(isDiagnosticRequest(event({ resource: 'host_diagnostics', op: 'update' })), false);
    assert.equal(isDiagnosticRequest(event({ resource: 'ports', op: 'create' })), false);
    assert.equal(isDiagnosticRequest('not json'), false);
  });

  it('names objects from the snapshot, networks and routers by the names given, else by id', () => {
    const names = namesFor(snapshot(), new Map([[NET, 'web']]));
    assert.equal(names.port(PORT_A), `port ${PORT_A.slice(0, 8)} (instance vm1 eth0)`);
    assert.equal(names.port(DHCP_PORT), `DHCP port ${DHCP_PORT.slice(0, 8)} of network web`);
    assert.equal(names.port(GW_PORT), `port ${GW_PORT.slice(0, 8)} of router ${ROUTER.slice(0, 8)}`);
    assert.equal(names.instance(INST_A), 'instance vm1');
    assert.equal(names.network(NET), 'network web');
  });

  it("widens a path to the instances' ports, the ports' and subnets' networks and the routers' ports", () => {
    assert.deepEqual([...pathIds([INST_A], snapshot())].sort(), [INST_A, NET, PORT_A].sort());
    assert.deepEqual([...pathIds([SUBNET, ''], snapshot())].sort(), [NET, SUBNET].sort());
    assert.deepEqual([...pathIds([ROUTER], snapshot())].sort(), [GW_PORT, ROUTER].sort());
    assert.ok(!pathIds([INST_A], snapshot()).has(PORT_B), 'another port on the network is not on the path');
  });

  it('prints every host: clean, its findings, or why they were not read', () => {
    assert.equal(
      hostsText([
        { host: 'h1', findings: [] },
        { host: 'h2', findings: ['a is missing', 'b is left over'] },
        { host: 'h3', findings: [], error: 'The agent of host h3 did not answer within 15 s.' },
      ]),
      [
        'host h1: no kernel drift',
        'host h2: 2 kernel drift finding(s):',
        '  - a is missing',
        '  - b is left over',
        'host h3: drift not read: The agent of host h3 did not answer within 15 s.',
        '',
      ].join('\n'),
    );
    assert.equal(hostsText([]), '');
  });
});
