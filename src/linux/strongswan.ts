/**
 * strongSwan's configuration for one router's IPsec site connections, rendered from the model
 * (pure): a `strongswan.conf` of its own for `charon-systemd` (read through `STRONGSWAN_CONF`: its
 * own vici socket, log file and plugins, nothing shared with another router's charon) and a
 * `swanctl.conf` with one connection, one child and one pre-shared key per IPsec site connection,
 * loaded by `swanctl --load-all` (`linux/swanctl.ts`). Where the kernel has no ESP, strongSwan's
 * userspace IPsec (`kernel-libipsec`: a TUN device `ipsec0`, routes in table 220) carries the
 * traffic; it can only send ESP in UDP (encapsulation forced).
 */
import { join } from 'node:path';
import type { SnapshotVpnConnection } from '../model/host-snapshot.js';

export const CHARON = '/usr/sbin/charon-systemd';
export const SWANCTL = '/usr/sbin/swanctl';

/** How IPsec packets are processed: by the kernel (XFRM) or by charon itself (kernel-libipsec). */
export type IpsecDataPlane = 'kernel' | 'userspace';

/** Which IPsec data plane does what, in words for logs and status descriptions. */
export function describeDataPlane(plane: IpsecDataPlane): string {
  return plane === 'kernel'
    ? 'kernel IPsec (XFRM, ESP)'
    : "strongSwan's userspace IPsec (kernel-libipsec, ESP in UDP 4500 over a TUN device)";
}

const BASE_PLUGINS = [
  'random',
  'nonce',
  'openssl',
  'aes',
  'sha1',
  'sha2',
  'hmac',
  'gcm',
  'ccm',
  'xcbc',
  'cmac',
  'kdf',
  'pem',
  'pkcs1',
  'x509',
  'pubkey',
];
const KERNEL_PLUGINS = ['kernel-netlink', 'socket-default', 'updown', 'vici'];

/** The files of one router's charon, all in its directory (`<stateDir>/routers/<id>/`). */
export function strongswanFiles(dir: string) {
  return {
    conf: join(dir, 'strongswan.conf'),
    swanctl: join(dir, 'swanctl.conf'),
    pid: join(dir, 'charon.pid'),
    vici: join(dir, 'charon.vici'),
    log: join(dir, 'charon.log'),
  };
}
export type StrongswanFiles = ReturnType<typeof strongswanFiles>;

/** `swanctl`'s `--uri` for this charon's vici socket. */
export const viciUri = (files: StrongswanFiles) => `unix://${files.vici}`;

/** The `strongswan.conf` that `STRONGSWAN_CONF` points this router's charon to. */
export function strongswanConf(files: StrongswanFiles, plane: IpsecDataPlane): string {
  const plugins = [...BASE_PLUGINS, ...(plane === 'userspace' ? ['kernel-libipsec'] : []), ...KERNEL_PLUGINS];
  return [
    '# Rendered by Neutrino: the charon of one router namespace.',
    'charon-systemd {',
    `\tload = ${plugins.join(' ')}`,
    '\tinstall_virtual_ip = no',
    '\tplugins {',
    `\t\tvici {\n\t\t\tsocket = ${viciUri(files)}\n\t\t}`,
    '\t}',
    '\tjournal {\n\t\tdefault = -1\n\t}',
    `\tfilelog {\n\t\tneutrino {\n\t\t\tpath = ${files.log}\n\t\t\tdefault = 1\n\t\t\tike = 1\n\t\t\tappend = no\n\t\t\ttime_format = %F %T\n\t\t}\n\t}`,
    '}',
    '',
  ].join('\n');
}

const DH_GROUPS: Record<string, string> = {
  group2: 'modp1024',
  group5: 'modp1536',
  group14: 'modp2048',
  group15: 'modp3072',
  group16: 'modp4096',
  group17: 'modp6144',
  group18: 'modp8192',
  group19: 'ecp256',
  group20: 'ecp384',
  group21: 'ecp521',
  group22: 'modp1024s160',
  group23: 'modp2048s224',
  group24: 'modp2048s256',
  group25: 'ecp192',
  group26: 'ecp224',
  group27: 'ecp224bp',
  group28: 'ecp256bp',
  group29: 'ecp384bp',
  group30: 'ecp512bp',
  group31: 'curve25519',
};
const INTEGRITY: Record<string, string> = {
  sha1: 'sha1',
  sha256: 'sha256',
  sha384: 'sha384',
  sha512: 'sha512',
  'aes-xcbc': 'aesxcbc',
  'aes-cmac': 'aescmac',
};
const PRF: Record<string, string> = {
  sha1: 'prfsha1',
  sha256: 'prfsha256',
  sha384: 'prfsha384',
  sha512: 'prfsha512',
  'aes-xcbc': 'prfaesxcbc',
  'aes-cmac': 'prfaescmac',
};

/** neutron-lib's `aes-256-gcm-16` as strongSwan's `aes256gcm16`, `aes-128` as `aes128`. */
function encryption(algorithm: string): { name: string; aead: boolean } {
  if (algorithm === '3des') return { name: '3des', aead: false };
  const m = /^aes-(\d+)(?:-(gcm|ccm)-(\d+))?$/.exec(algorithm);
  if (!m) throw new Error(`unsupported encryption algorithm ${algorithm}`);
  return m[2] ? { name: `aes${m[1]}${m[2]}${m[3]}`, aead: true } : { name: `aes${m[1]}`, aead: false };
}

function dh(group: string): string {
  const name = DH_GROUPS[group];
  if (!name) throw new Error(`unsupported PFS group ${group}`);
  return name;
}

/** The IKE proposal: encryption, integrity (a PRF alone with AEAD) and the DH group. */
export function ikeProposal(ike: SnapshotVpnConnection['ike']): string {
  const enc = encryption(ike.encryption_algorithm);
  const integrity = enc.aead ? PRF[ike.auth_algorithm] : INTEGRITY[ike.auth_algorithm];
  return [enc.name, integrity, dh(ike.pfs)].join('-');
}

/** The ESP (or AH) proposal, with the PFS group. */
export function childProposal(ipsec: SnapshotVpnConnection['ipsec']): string {
  if (ipsec.transform_protocol === 'ah') return [INTEGRITY[ipsec.auth_algorithm], dh(ipsec.pfs)].join('-');
  const enc = encryption(ipsec.encryption_algorithm);
  return (
    enc.aead ? [enc.name, dh(ipsec.pfs)] : [enc.name, INTEGRITY[ipsec.auth_algorithm], dh(ipsec.pfs)]
  ).join('-');
}

/** A value of swanctl.conf as a quoted string (quotes and backslashes escaped, control characters dropped). */
function quoted(text: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is dropped
  return `"${text.replace(/[\u0000-\u001f\u007f]/g, '').replace(/[\\"]/g, (c) => `\\${c}`)}"`;
}

/** neutron-vpnaas's DPD actions as strongSwan's (hold: trap the traffic and renegotiate on demand). */
const DPD_ACTIONS: Record<string, string> = {
  hold: 'trap',
  clear: 'clear',
  restart: 'restart',
  'restart-by-peer': 'clear',
  disabled: 'none',
};

/** The connections in swanctl.conf's words; `local` is the router's gateway address. */
export function swanctlConf(
  connections: readonly SnapshotVpnConnection[],
  local: string,
  plane: IpsecDataPlane,
): string {
  const lines: string[] = [
    "# Rendered by Neutrino from the router's IPsec site connections.",
    'connections {',
  ];
  const secrets: string[] = ['secrets {'];
  for (const c of connections) {
    if (!c.admin_state_up) continue;
    const localId = c.local_id || local;
    const dpd = c.dpd.action === 'disabled' ? [] : [`\t\tdpd_delay = ${c.dpd.interval}s`];
    if (dpd.length > 0 && c.ike.version === 1) dpd.push(`\t\tdpd_timeout = ${c.dpd.timeout}s`);
    const proposals = c.ipsec.transform_protocol === 'ah' ? 'ah_proposals' : 'esp_proposals';
    lines.push(
      `\t${c.id} {`,
      `\t\tversion = ${c.ike.version}`,
      `\t\tlocal_addrs = ${local}`,
      `\t\tremote_addrs = ${c.peer_address}`,
      `\t\tproposals = ${ikeProposal(c.ike)}`,
      `\t\trekey_time = ${c.ike.lifetime}s`,
      `\t\taggressive = ${c.ike.aggressive ? 'yes' : 'no'}`,
      '\t\tmobike = no',
      `\t\tencap = ${plane === 'userspace' ? 'yes' : 'no'}`,
      ...dpd,
      `\t\tlocal {\n\t\t\tauth = psk\n\t\t\tid = ${quoted(localId)}\n\t\t}`,
      `\t\tremote {\n\t\t\tauth = psk\n\t\t\tid = ${quoted(c.peer_id)}\n\t\t}`,
      '\t\tchildren {',
      `\t\t\t${c.id} {`,
      `\t\t\t\tlocal_ts = ${c.local_cidrs.join(',')}`,
      `\t\t\t\tremote_ts = ${c.peer_cidrs.join(',')}`,
      `\t\t\t\t${proposals} = ${childProposal(c.ipsec)}`,
      `\t\t\t\tmode = ${c.ipsec.encapsulation_mode}`,
      `\t\t\t\trekey_time = ${c.ipsec.lifetime}s`,
      `\t\t\t\tdpd_action = ${DPD_ACTIONS[c.dpd.action] ?? 'clear'}`,
      // A bi-directional connection is initiated by the agent (`swanctl --initiate`), which also
      // starts it again while it is down; a response-only one waits for its peer.
      '\t\t\t\tstart_action = none',
      '\t\t\t\tclose_action = none',
      '\t\t\t}',
      '\t\t}',
      '\t}',
    );
    secrets.push(
      `\tike-${c.id} {`,
      `\t\tid-local = ${quoted(localId)}`,
      `\t\tid-remote = ${quoted(c.peer_id)}`,
      `\t\tsecret = 0x${Buffer.from(c.psk, 'utf8').toString('hex')}`,
      '\t}',
    );
  }
  lines.push('}', ...secrets, '}', '');
  return lines.join('\n');
}

/** `swanctl --load-all` for this charon: connections and secrets as in its swanctl.conf, others unloaded. */
export function loadAllArgv(files: StrongswanFiles): string[] {
  return [SWANCTL, '--load-all', '--noprompt', '--uri', viciUri(files), '--file', files.swanctl];
}
