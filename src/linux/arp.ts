/**
 * Gratuitous ARP, two ways. `announceAddress` (`busybox arping -U`) tells the neighbours on a link
 * that an address now lives behind this device. `announceThroughVxlan` hands a VXLAN device of this
 * host a gratuitous ARP for a remote port as if it had come through the tunnel, so that it reaches
 * the device's bridge: l2population's proxy (`proxy` on the device) answers ARP locally and drops
 * every ARP frame sent into the tunnel, the remote instance's own announcements included.
 */
import { createSocket } from 'node:dgram';
import ipaddr from 'ipaddr.js';
import { runInNamespace } from './exec.js';

/** Sends one unsolicited ARP for `ip` out of `dev` in namespace `netns`. */
export async function announceAddress(netns: string, dev: string, ip: string): Promise<void> {
  await runInNamespace(netns, 'busybox', ['arping', '-U', '-c', '1', '-I', dev, ip]);
}

/** A remote port's address, to be announced on the bridge of the VXLAN device `vni`/`dstport`. */
export interface VxlanAnnouncement {
  /** The device's own endpoint (`local`): the datagram goes to it, from it. */
  local: string;
  dstport: number;
  vni: number;
  mac: string;
  /** An IPv4 address. */
  ip: string;
}

/** Ethernet frames shorter than this (without the FCS) are padded, as a NIC would. */
const MIN_FRAME = 60;

/**
 * The VXLAN payload of a gratuitous ARP request for `ip` at `mac` (RFC 7348 header with the VNI
 * flag, then the broadcast Ethernet frame from `mac` whose sender and target address are both
 * `ip`), which a Linux neighbour holding `ip` takes as its new MAC at once.
 */
export function gratuitousArpPacket(vni: number, mac: string, ip: string): Buffer {
  if (!/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i.test(mac)) throw new TypeError(`invalid MAC ${mac}`);
  const hw = Buffer.from(mac.split(':').map((octet) => Number.parseInt(octet, 16)));
  const proto = Buffer.from(ipaddr.IPv4.parse(ip).toByteArray());
  const header = Buffer.alloc(8);
  header[0] = 0x08;
  header.writeUIntBE(vni, 4, 3);
  const frame = Buffer.concat([
    Buffer.alloc(6, 0xff),
    hw,
    Buffer.from([0x08, 0x06]), // ARP
    Buffer.from([0x00, 0x01, 0x08, 0x00, 6, 4, 0x00, 0x01]), // Ethernet, IPv4, request
    hw,
    proto,
    Buffer.alloc(6),
    proto,
  ]);
  return Buffer.concat([header, frame, Buffer.alloc(Math.max(0, MIN_FRAME - frame.length))]);
}

/**
 * Sends each announcement to the device's own endpoint (UDP, from that address), where the kernel
 * decapsulates it onto the device's bridge: every port there sees the remote port's gratuitous ARP,
 * and nothing crosses the underlay. Resolves once all are sent; rejects with the first error.
 */
export async function announceThroughVxlan(announcements: readonly VxlanAnnouncement[]): Promise<void> {
  const byLocal = new Map<string, VxlanAnnouncement[]>();
  for (const a of announcements) byLocal.set(a.local, [...(byLocal.get(a.local) ?? []), a]);
  await Promise.all(
    [...byLocal].map(async ([local, list]) => {
      const socket = createSocket(ipaddr.parse(local).kind() === 'ipv6' ? 'udp6' : 'udp4');
      try {
        await new Promise<void>((resolve, reject) => {
          socket.once('error', reject);
          socket.bind({ address: local, port: 0 }, () => resolve());
        });
        await Promise.all(
          list.map(
            (a) =>
              new Promise<void>((resolve, reject) =>
                socket.send(gratuitousArpPacket(a.vni, a.mac, a.ip), a.dstport, local, (err) =>
                  err ? reject(err) : resolve(),
                ),
              ),
          ),
        );
      } finally {
        socket.close();
      }
    }),
  );
}
