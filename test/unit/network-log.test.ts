/**
 * Network logging's pure parts: the pcap stream of an NFLOG capture cut into packets whatever the
 * chunks (prefix and IP payload found among the TLVs), IPv4 and IPv6 headers summarised, the log
 * prefix read back, which ports log what, and the nftables rules: a security group port's drop
 * log before its final drop and its logged groups inlined with a log before each accept; a firewall
 * interface's logs around its rules and default drop.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { renderFwaasRuleset } from '../../src/agent/l3/fwaas.js';
import { PcapNflogReader, summarise } from '../../src/agent/logging/nflog.js';
import { loggedPortRules, logPrefix, parseLogPrefix, portLogging } from '../../src/agent/logging/rules.js';
import type { SnapshotNetworkLogging } from '../../src/model/host-snapshot.js';

const PORT = '0b6c7a3e-1111-4222-8333-444455556666';
const SG = 'a1b2c3d4-1111-4222-8333-444455556666';
const SG2 = 'f1b2c3d4-1111-4222-8333-444455556666';
const FWG = 'c0ffee00-1111-4222-8333-444455556666';

function tlv(type: number, value: Buffer): Buffer {
  const out = Buffer.alloc((4 + value.length + 3) & ~3);
  out.writeUInt16LE(4 + value.length, 0);
  out.writeUInt16LE(type, 2);
  value.copy(out, 4);
  return out;
}

function record(prefix: string, payload: Buffer): Buffer {
  const body = Buffer.concat([
    Buffer.from([2, 0, 0x40, 0x01]),
    tlv(1, Buffer.from([0x08, 0x00, 2, 0])),
    tlv(10, Buffer.from(`${prefix}\0`, 'latin1')),
    tlv(9, payload),
  ]);
  const header = Buffer.alloc(16);
  header.writeUInt32LE(body.length, 8);
  header.writeUInt32LE(body.length, 12);
  return Buffer.concat([header, body]);
}

function pcap(...records: Buffer[]): Buffer {
  const global = Buffer.alloc(24);
  global.writeUInt32LE(0xa1b2c3d4, 0);
  global.writeUInt16LE(2, 4);
  global.writeUInt16LE(4, 6);
  global.writeUInt32LE(512, 16);
  global.writeUInt32LE(239, 20);
  return Buffer.concat([global, ...records]);
}

const tcpSyn = Buffer.from([
  0x45, 0, 0, 40, 0, 1, 0x40, 0, 64, 6, 0, 0, 10, 0, 0, 9, 10, 0, 0, 5, 0x9c, 0x40, 0x00, 0x16, 0, 0, 0, 0,
]);
const udp6 = Buffer.concat([
  Buffer.from([0x60, 0, 0, 0, 0, 8, 17, 64]),
  Buffer.from('fd000000000000000000000000000001', 'hex'),
  Buffer.from('fd000000000000000000000000000002', 'hex'),
  Buffer.from([0x30, 0x39, 0x00, 0x35, 0, 8, 0, 0]),
]);

describe('NFLOG pcap reading', () => {
  it('cuts a stream into packets whatever the chunks, with prefix and payload', () => {
    const stream = pcap(record(`nl D i ${PORT} -`, tcpSyn), record('nl A e x y', udp6));
    for (const size of [1, 7, 64, stream.length]) {
      const reader = new PcapNflogReader();
      const packets = [];
      for (let at = 0; at < stream.length; at += size)
        packets.push(...reader.push(stream.subarray(at, at + size)));
      assert.deepEqual(
        packets.map((p) => p.prefix),
        [`nl D i ${PORT} -`, 'nl A e x y'],
      );
      assert.deepEqual(packets[0].payload, tcpSyn);
    }
    assert.throws(() => new PcapNflogReader().push(Buffer.alloc(24, 1)), /not a pcap stream/);
  });

  it('summarises IPv4 and IPv6 headers', () => {
    assert.deepEqual(summarise(tcpSyn), {
      ethertype: 'IPv4',
      protocol: 'tcp',
      src_ip: '10.0.0.9',
      dst_ip: '10.0.0.5',
      src_port: 40000,
      dst_port: 22,
    });
    assert.deepEqual(summarise(udp6), {
      ethertype: 'IPv6',
      protocol: 'udp',
      src_ip: 'fd00::1',
      dst_ip: 'fd00::2',
      src_port: 12345,
      dst_port: 53,
    });
    const icmp = Buffer.from(tcpSyn);
    icmp[9] = 1;
    icmp[20] = 8;
    icmp[21] = 0;
    assert.equal(summarise(icmp)?.icmp_type, 8);
    assert.equal(summarise(Buffer.from([0x45, 0])), undefined);
  });
});

describe('network logging rules', () => {
  const logging: SnapshotNetworkLogging = {
    rate_limit: 100,
    burst_limit: 25,
    logs: [
      {
        id: 'l1',
        project_id: 'p',
        resource_type: 'security_group',
        resource_id: SG,
        event: 'ACCEPT',
        ports: [PORT],
      },
      {
        id: 'l2',
        project_id: 'p',
        resource_type: 'security_group',
        resource_id: null,
        event: 'DROP',
        ports: [PORT],
      },
      {
        id: 'l3',
        project_id: 'p',
        resource_type: 'firewall_group',
        resource_id: FWG,
        event: 'ALL',
        ports: [PORT],
      },
    ],
  };

  it('reads back its prefix', () => {
    const tag = { event: 'ACCEPT' as const, direction: 'ingress' as const, port: PORT, group: SG };
    assert.deepEqual(parseLogPrefix(logPrefix(tag)), tag);
    assert.ok(logPrefix(tag).length < 127);
    assert.equal(parseLogPrefix('nl A i not-a-uuid -'), undefined);
  });

  it('says what a port logs', () => {
    const wants = portLogging(logging, 'security_group', PORT, [SG, SG2]);
    assert.deepEqual({ drop: wants?.drop, accept: [...(wants?.accept ?? [])] }, { drop: true, accept: [SG] });
    assert.equal(portLogging(logging, 'security_group', 'other', [SG]), undefined);
    assert.equal(portLogging(undefined, 'security_group', PORT, [SG]), undefined);
  });

  it('inlines logged groups with a log before each accept and logs drops before the final drop', () => {
    const rules = [
      'ct state established,related accept',
      `jump sg-${SG}-ingress`,
      `jump sg-${SG2}-ingress`,
      'drop',
    ];
    const out = loggedPortRules(rules, {
      port: PORT,
      direction: 'ingress',
      logging,
      group: 17000,
      wants: { drop: true, accept: new Set([SG]) },
      jumpOf: (g) => `sg-${g}-ingress`,
      groupRules: () => ['meta nfproto ipv4 tcp dport 80 accept'],
    });
    assert.deepEqual(out, [
      'ct state established,related accept',
      `meta nfproto ipv4 tcp dport 80 log prefix "nl A i ${PORT} ${SG}" group 17000 queue-threshold 1 accept`,
      `jump sg-${SG2}-ingress`,
      `limit rate 100/second burst 25 packets log prefix "nl D i ${PORT} -" group 17000 queue-threshold 1`,
      'drop',
    ]);
  });

  it('logs a firewall interface’s allows, denies and default drop', () => {
    const text = renderFwaasRuleset(
      [
        {
          port_id: PORT,
          firewall_group_id: FWG,
          admin_state_up: true,
          ingress: [
            {
              id: SG,
              protocol: 'tcp',
              ip_version: 4,
              source_ip_address: null,
              destination_ip_address: null,
              source_port: null,
              destination_port: '22',
              action: 'allow',
            },
            {
              id: SG2,
              protocol: 'udp',
              ip_version: 4,
              source_ip_address: null,
              destination_ip_address: null,
              source_port: null,
              destination_port: null,
              action: 'deny',
            },
          ],
          egress: [],
        },
      ],
      () => 'qr-x',
      [],
      { config: logging, group: 17000 },
    );
    const accept = `log prefix "nl A i ${PORT} ${FWG}" group 17000 queue-threshold 1 accept`;
    assert.ok(text.includes(`th dport 22 counter name "fwaas-${PORT}-ingress-${SG}" ${accept}`), text);
    const drop = `limit rate 100/second burst 25 packets log prefix "nl D i ${PORT} ${FWG}"`;
    assert.ok(text.includes(`meta l4proto udp ${drop}`), text);
    assert.ok(
      text.includes(
        `\t\t${drop} group 17000 queue-threshold 1\n\t\tcounter name "fwaas-${PORT}-ingress-default" drop`,
      ),
      text,
    );
    const plain = renderFwaasRuleset([], () => 'qr-x', [], { config: logging, group: 17000 });
    assert.ok(!plain.includes('log'));
  });
});
