/**
 * Reading NFLOG (pure): the pcap stream tcpdump writes for `-i nflog:<group> -w -` cut into
 * packets, each with the `log prefix` nftables gave it and what its IP header says (addresses,
 * protocol, ports or ICMP type). The layout is libpcap's LINKTYPE_NFLOG (239): a 4-byte header
 * (address family, version, group) then TLVs whose length and type are in host byte order (as the
 * kernel's netlink attributes are), each padded to 4 bytes; the prefix is NFULA_PREFIX (10), the
 * packet from its IP header on is NFULA_PAYLOAD (9).
 */

const LINKTYPE_NFLOG = 239;
const NFULA_PAYLOAD = 9;
const NFULA_PREFIX = 10;
const GLOBAL_HEADER = 24;
const RECORD_HEADER = 16;

export interface NflogPacket {
  prefix: string;
  /** The IP packet (possibly cut at the capture's snap length). */
  payload: Buffer;
}

export interface PacketSummary {
  ethertype: 'IPv4' | 'IPv6';
  protocol: string;
  src_ip: string;
  dst_ip: string;
  src_port: number | null;
  dst_port: number | null;
  icmp_type?: number;
  icmp_code?: number;
}

/** Turns chunks of a pcap stream into NFLOG packets; throws on a stream that is not one. */
export class PcapNflogReader {
  #buffer: Buffer = Buffer.alloc(0);
  #little: boolean | undefined;

  /** The packets completed by `chunk`. */
  push(chunk: Buffer): NflogPacket[] {
    this.#buffer = this.#buffer.length === 0 ? chunk : Buffer.concat([this.#buffer, chunk]);
    const out: NflogPacket[] = [];
    if (this.#little === undefined) {
      if (this.#buffer.length < GLOBAL_HEADER) return out;
      const magic = this.#buffer.readUInt32LE(0);
      if (magic === 0xa1b2c3d4 || magic === 0xa1b23c4d) this.#little = true;
      else if (this.#buffer.readUInt32BE(0) === 0xa1b2c3d4 || this.#buffer.readUInt32BE(0) === 0xa1b23c4d)
        this.#little = false;
      else throw new Error('not a pcap stream');
      const linktype = this.#little ? this.#buffer.readUInt32LE(20) : this.#buffer.readUInt32BE(20);
      if ((linktype & 0x0fffffff) !== LINKTYPE_NFLOG)
        throw new Error(`pcap link type ${linktype}, not NFLOG`);
      this.#buffer = this.#buffer.subarray(GLOBAL_HEADER);
    }
    while (this.#buffer.length >= RECORD_HEADER) {
      const length = this.#little ? this.#buffer.readUInt32LE(8) : this.#buffer.readUInt32BE(8);
      if (this.#buffer.length < RECORD_HEADER + length) break;
      const packet = parseNflog(this.#buffer.subarray(RECORD_HEADER, RECORD_HEADER + length));
      if (packet) out.push(packet);
      this.#buffer = this.#buffer.subarray(RECORD_HEADER + length);
    }
    if (this.#buffer.length > 0) this.#buffer = Buffer.from(this.#buffer);
    return out;
  }
}

/** One NFLOG record's prefix and payload (TLVs in host order, little-endian here). */
export function parseNflog(data: Buffer): NflogPacket | undefined {
  let prefix: string | undefined;
  let payload: Buffer | undefined;
  for (let at = 4; at + 4 <= data.length; ) {
    const length = data.readUInt16LE(at);
    const type = data.readUInt16LE(at + 2) & 0x7fff;
    if (length < 4) break;
    const value = data.subarray(at + 4, Math.min(at + length, data.length));
    if (type === NFULA_PREFIX) prefix = value.toString('latin1').replace(/\0.*$/s, '');
    else if (type === NFULA_PAYLOAD) payload = value;
    at += (length + 3) & ~3;
  }
  return prefix !== undefined && payload !== undefined ? { prefix, payload } : undefined;
}

const PROTOCOLS: Record<number, string> = {
  1: 'icmp',
  6: 'tcp',
  17: 'udp',
  33: 'dccp',
  58: 'ipv6-icmp',
  132: 'sctp',
  136: 'udplite',
};
const PORTED = new Set([6, 17, 33, 132, 136]);
/** IPv6 extension headers skipped to find the transport header. */
const EXTENSIONS = new Set([0, 43, 60]);

function ipv6Text(b: Buffer): string {
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(b.readUInt16BE(i).toString(16));
  // The longest run of zero groups (two or more) becomes `::`, as RFC 5952 writes it.
  let best = { at: -1, length: 0 };
  for (let i = 0; i < 8; ) {
    if (groups[i] !== '0') {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === '0') j++;
    if (j - i > best.length) best = { at: i, length: j - i };
    i = j;
  }
  if (best.length < 2) return groups.join(':');
  return `${groups.slice(0, best.at).join(':')}::${groups.slice(best.at + best.length).join(':')}`;
}

/** What an IP packet's headers say; undefined when too short or not IP. */
export function summarise(ip: Buffer): PacketSummary | undefined {
  if (ip.length < 1) return undefined;
  const version = ip[0] >> 4;
  let protocol: number;
  let l4: Buffer;
  let base: Pick<PacketSummary, 'ethertype' | 'src_ip' | 'dst_ip'>;
  if (version === 4) {
    const ihl = (ip[0] & 0x0f) * 4;
    if (ip.length < 20 || ihl < 20) return undefined;
    protocol = ip[9];
    base = {
      ethertype: 'IPv4',
      src_ip: [...ip.subarray(12, 16)].join('.'),
      dst_ip: [...ip.subarray(16, 20)].join('.'),
    };
    // A fragment after the first carries no transport header.
    l4 = (ip.readUInt16BE(6) & 0x1fff) === 0 ? ip.subarray(ihl) : Buffer.alloc(0);
  } else if (version === 6) {
    if (ip.length < 40) return undefined;
    base = { ethertype: 'IPv6', src_ip: ipv6Text(ip.subarray(8, 24)), dst_ip: ipv6Text(ip.subarray(24, 40)) };
    protocol = ip[6];
    let at = 40;
    while (EXTENSIONS.has(protocol) && at + 2 <= ip.length) {
      protocol = ip[at];
      at += (ip[at + 1] + 1) * 8;
    }
    if (protocol === 44 && at + 8 <= ip.length) {
      const first = (ip.readUInt16BE(at + 2) & 0xfff8) === 0;
      protocol = ip[at];
      at = first ? at + 8 : ip.length;
    }
    l4 = ip.subarray(Math.min(at, ip.length));
  } else return undefined;
  const summary: PacketSummary = {
    ...base,
    protocol: PROTOCOLS[protocol] ?? String(protocol),
    src_port: null,
    dst_port: null,
  };
  if (PORTED.has(protocol) && l4.length >= 4) {
    summary.src_port = l4.readUInt16BE(0);
    summary.dst_port = l4.readUInt16BE(2);
  } else if ((protocol === 1 || protocol === 58) && l4.length >= 2) {
    summary.icmp_type = l4[0];
    summary.icmp_code = l4[1];
  }
  return summary;
}
