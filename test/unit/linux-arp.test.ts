/**
 * The gratuitous ARP handed to a VXLAN device (pure): the VXLAN header carries the VNI, the frame
 * is a broadcast ARP request whose sender and target address are the announced one, padded to the
 * Ethernet minimum.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { gratuitousArpPacket } from '../../src/linux/arp.js';

describe('gratuitousArpPacket', () => {
  it('is a VXLAN header and a broadcast ARP request from the port, sender = target = its address', () => {
    const packet = gratuitousArpPacket(0x0a0b0c, 'fa:16:3e:01:02:03', '10.0.0.50');
    assert.equal(packet.length, 8 + 60);
    assert.equal(packet.subarray(0, 8).toString('hex'), '080000000a0b0c00');
    const frame = packet.subarray(8);
    assert.equal(frame.subarray(0, 6).toString('hex'), 'ffffffffffff', 'to everyone');
    assert.equal(frame.subarray(6, 12).toString('hex'), 'fa163e010203', 'from the port');
    assert.equal(frame.subarray(12, 14).toString('hex'), '0806', 'ARP');
    assert.equal(frame.subarray(14, 22).toString('hex'), '0001080006040001', 'Ethernet/IPv4 request');
    assert.equal(frame.subarray(22, 28).toString('hex'), 'fa163e010203', 'sender MAC');
    assert.equal(frame.subarray(28, 32).toString('hex'), '0a000032', 'sender IP');
    assert.equal(frame.subarray(32, 38).toString('hex'), '000000000000', 'target MAC unknown');
    assert.equal(frame.subarray(38, 42).toString('hex'), '0a000032', 'target IP = sender IP');
    assert.ok(
      frame.subarray(42).every((b) => b === 0),
      'zero padding',
    );
  });

  it('refuses what is not a MAC or an IPv4 address', () => {
    assert.throws(() => gratuitousArpPacket(1, 'fa:16:3e:01:02', '10.0.0.50'), /invalid MAC/);
    assert.throws(() => gratuitousArpPacket(1, 'fa:16:3e:01:02:zz', '10.0.0.50'), /invalid MAC/);
    assert.throws(() => gratuitousArpPacket(1, 'fa:16:3e:01:02:03', '2001:db8::1'));
  });
});
