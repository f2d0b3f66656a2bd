/**
 * A router's IPsec site connections on the agent's side, pure: strongSwan's proposals from
 * neutron-lib's algorithm names (AEAD with a PRF only), swanctl.conf (one connection, child and
 * secret each, the key hex-encoded, identities quoted, ESP in UDP forced in userspace, connections
 * administratively down left out), strongswan.conf (its own vici socket and log, kernel-libipsec only
 * in userspace), the charon daemon in the desired state (none without a running connection), the NAT
 * exemption of local subnets to peer CIDRs ahead of SNAT, `swanctl --list-sas --raw` parsed, and a
 * connection's status and failure reason.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { renderRouterRuleset } from '../../src/agent/l3/nat.js';
import { addVpn } from '../../src/agent/services/vpn.js';
import { connectionStatus, failureReason } from '../../src/agent/services/vpn-status.js';
import { emptyHostState } from '../../src/agent/state/host-state.js';
import {
  childProposal,
  ikeProposal,
  strongswanConf,
  strongswanFiles,
  swanctlConf,
} from '../../src/linux/strongswan.js';
import { parseListSas } from '../../src/linux/swanctl.js';
import type { SnapshotRouter, SnapshotVpnConnection } from '../../src/model/host-snapshot.js';

const ID = '11111111-2222-4333-8444-555555555555';
const conn = (over: Partial<SnapshotVpnConnection> = {}): SnapshotVpnConnection => ({
  id: ID,
  vpnservice_id: 'svc',
  admin_state_up: true,
  peer_address: '198.51.100.20',
  peer_id: '198.51.100.20',
  local_id: '',
  psk: 'se"cret',
  mtu: 1500,
  initiator: 'bi-directional',
  dpd: { action: 'hold', interval: 30, timeout: 120 },
  local_cidrs: ['10.1.0.0/24'],
  peer_cidrs: ['10.2.0.0/24'],
  ike: {
    version: 2,
    auth_algorithm: 'sha256',
    encryption_algorithm: 'aes-256',
    pfs: 'group14',
    lifetime: 3600,
    aggressive: false,
  },
  ipsec: {
    transform_protocol: 'esp',
    auth_algorithm: 'sha256',
    encryption_algorithm: 'aes-256',
    encapsulation_mode: 'tunnel',
    pfs: 'group14',
    lifetime: 3600,
  },
  ...over,
});

const router = (connections: SnapshotVpnConnection[]): SnapshotRouter => ({
  id: 'aaaaaaaa-2222-4333-8444-555555555555',
  project_id: 'p',
  admin_state_up: true,
  gateway: {
    port_id: 'bbbbbbbb-2222-4333-8444-555555555555',
    network_id: 'n',
    mac_address: 'fa:16:3e:00:00:01',
    addresses: [{ subnet_id: 's', ip_address: '198.51.100.10', prefixlen: 24 }],
    enable_snat: true,
    external_gateway_ips: ['198.51.100.1'],
  },
  interfaces: [],
  routes: [],
  floating_ips: [],
  vpn: { services: [{ id: 'svc', admin_state_up: true }], connections },
});

describe('strongSwan configuration', () => {
  it('proposals: neutron-lib names as strongSwan keywords, AEAD with a PRF', () => {
    assert.equal(ikeProposal(conn().ike), 'aes256-sha256-modp2048');
    assert.equal(
      ikeProposal({ ...conn().ike, encryption_algorithm: 'aes-128-gcm-16', pfs: 'group19' }),
      'aes128gcm16-prfsha256-ecp256',
    );
    assert.equal(childProposal(conn().ipsec), 'aes256-sha256-modp2048');
    assert.equal(
      childProposal({ ...conn().ipsec, encryption_algorithm: 'aes-192-ccm-8', pfs: 'group5' }),
      'aes192ccm8-modp1536',
    );
    assert.equal(
      childProposal({ ...conn().ipsec, transform_protocol: 'ah', auth_algorithm: 'sha1' }),
      'sha1-modp2048',
    );
    assert.equal(
      ikeProposal({ ...conn().ike, encryption_algorithm: '3des', auth_algorithm: 'aes-xcbc' }),
      '3des-aesxcbc-modp2048',
    );
  });

  it('swanctl.conf: one connection, child and secret each; key hex, ids quoted, UDP forced in userspace', () => {
    const text = swanctlConf(
      [conn(), conn({ id: 'down', admin_state_up: false })],
      '198.51.100.10',
      'userspace',
    );
    assert.match(
      text,
      new RegExp(
        `\\t${ID} \\{\\n\\t\\tversion = 2\\n\\t\\tlocal_addrs = 198\\.51\\.100\\.10\\n\\t\\tremote_addrs = 198\\.51\\.100\\.20`,
      ),
    );
    assert.match(text, /encap = yes/);
    assert.match(text, /local_ts = 10\.1\.0\.0\/24\n\t\t\t\tremote_ts = 10\.2\.0\.0\/24/);
    assert.match(text, /id = "198\.51\.100\.10"/, 'the gateway address when local_id is empty');
    assert.match(text, new RegExp(`secret = 0x${Buffer.from('se"cret').toString('hex')}`));
    assert.match(text, /dpd_delay = 30s/);
    assert.doesNotMatch(text, /dpd_timeout/, 'IKEv2 has no DPD timeout of its own');
    assert.doesNotMatch(text, /\bdown\b/, 'a connection administratively down is left out');
    assert.match(swanctlConf([conn({ peer_id: 'a"b\\c' })], '198.51.100.10', 'kernel'), /id = "a\\"b\\\\c"/);
    assert.match(swanctlConf([conn()], '198.51.100.10', 'kernel'), /encap = no/);
  });

  it('strongswan.conf: its own socket and log; kernel-libipsec only in userspace', () => {
    const files = strongswanFiles('/state/routers/r');
    const userspace = strongswanConf(files, 'userspace');
    assert.match(userspace, /socket = unix:\/\/\/state\/routers\/r\/charon\.vici/);
    assert.match(userspace, /path = \/state\/routers\/r\/charon\.log/);
    assert.match(userspace, /load = .*kernel-libipsec kernel-netlink socket-default updown vici/);
    assert.doesNotMatch(strongswanConf(files, 'kernel'), /kernel-libipsec/);
  });
});

describe('the router charon in the desired state', () => {
  it('runs with its configuration named by its environment, keys readable by root only', () => {
    const state = emptyHostState();
    state.routers[`qrouter-${router([]).id}`] = {} as never;
    assert.deepEqual(addVpn(state, { router: router([conn()]), stateDir: '/s', plane: 'userspace' }), []);
    const daemon = state.daemons[`charon qrouter-${router([]).id}`];
    assert.ok(daemon);
    assert.equal(daemon.env?.STRONGSWAN_CONF, `/s/routers/${router([]).id}/strongswan.conf`);
    assert.deepEqual(daemon.reload?.slice(0, 2), ['/usr/sbin/swanctl', '--load-all']);
    assert.equal((state.files[daemon.config] as { mode: number }).mode, 0o600);
  });

  it('no charon without a running connection', () => {
    const state = emptyHostState();
    state.routers[`qrouter-${router([]).id}`] = {} as never;
    addVpn(state, { router: router([conn({ admin_state_up: false })]), stateDir: '/s', plane: 'userspace' });
    assert.deepEqual(state.daemons, {});
  });
});

describe('NAT of a router with IPsec site connections', () => {
  it('exempts local subnets to peer CIDRs ahead of any SNAT', () => {
    const text = renderRouterRuleset(
      router([conn(), conn({ id: 'x', admin_state_up: false, peer_cidrs: ['10.9.0.0/24'] })]),
      {
        gateway: 'qg-1',
        internal: 'qr-*',
      },
    );
    const exempt = text.indexOf('ip saddr { 10.1.0.0/24 } ip daddr { 10.2.0.0/24 } accept');
    assert.ok(exempt > 0, text);
    assert.ok(exempt < text.indexOf('snat to 198.51.100.10'), text);
    assert.doesNotMatch(text, /10\.9\.0\.0/, 'a connection down is not exempted');
  });
});

describe('connection status', () => {
  const raw = `list-sa event {${ID} {uniqueid=1 version=2 state=ESTABLISHED local-host=198.51.100.10 child-sas {${ID}-1 {name=${ID} uniqueid=1 reqid=1 state=INSTALLED mode=TUNNEL}}}}
list-sa event {other {uniqueid=2 version=2 state=CONNECTING local-host=198.51.100.10}}
list-sas reply {}`;

  it('parses swanctl --list-sas --raw', () => {
    assert.deepEqual(parseListSas(raw), [
      { name: ID, state: 'ESTABLISHED', installed: [ID] },
      { name: 'other', state: 'CONNECTING', installed: [] },
    ]);
  });

  it('ACTIVE with the SAs up, DOWN with the reason otherwise, the data plane said first', () => {
    const sas = parseListSas(raw);
    const active = connectionStatus(conn(), sas, undefined, 'userspace');
    assert.equal(active.status, 'ACTIVE');
    assert.match(active.status_description, /^strongSwan's userspace IPsec \(kernel-libipsec/);
    assert.equal(
      connectionStatus(conn(), [], 'bad key', 'kernel').status_description,
      'kernel IPsec (XFRM, ESP): bad key',
    );
    assert.match(
      connectionStatus(conn({ admin_state_up: false }), sas, undefined, 'kernel').status_description,
      /administratively down/,
    );
    assert.match(
      connectionStatus(conn(), undefined, undefined, 'kernel').status_description,
      /strongSwan is not running/,
    );
    assert.match(
      connectionStatus(conn({ initiator: 'response-only' }), [], undefined, 'kernel').status_description,
      /waiting for 198\.51\.100\.20 to initiate/,
    );
  });

  it('names a pre-shared key mismatch, a proposal mismatch, silence', () => {
    assert.match(
      failureReason('[IKE] received AUTHENTICATION_FAILED notify error\ninitiate failed', '198.51.100.20'),
      /^IKE authentication failed, the pre-shared keys differ \(\[IKE\] received AUTHENTICATION_FAILED/,
    );
    assert.match(
      failureReason('[IKE] received NO_PROPOSAL_CHOSEN notify error', 'p'),
      /no proposal acceptable/,
    );
    assert.equal(failureReason('', '198.51.100.20'), 'no answer from 198.51.100.20');
  });
});
