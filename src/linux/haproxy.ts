/**
 * The metadata proxy as Neutron runs it for networks served from their DHCP namespace: an haproxy
 * in `qdhcp-<network>` listening on 169.254.169.254:80, which stamps each request with the network
 * it came from and the address it came from (both set here, replacing whatever the instance sent,
 * so an instance cannot claim another's identity) and hands it to the agent over a unix socket
 * (`agent/dhcp/metadata-relay.ts`); the agent asks the API. The configuration is pure; haproxy runs as
 * a daemon with a pid file, and is restarted (never reloaded) when its configuration changes.
 */
import { join } from 'node:path';

export const HAPROXY = '/usr/sbin/haproxy';
/** The metadata service's address, as every cloud uses it. */
export const METADATA_ADDRESS = '169.254.169.254';
export const METADATA_PORT = 80;

/** The headers the proxy sets (the API's metadata endpoint reads them; see `api/metadata.ts`). */
export const NETWORK_HEADER = 'X-Neutrino-Network-ID';
export const FORWARDED_HEADER = 'X-Forwarded-For';

export function haproxyFiles(dir: string) {
  return { config: join(dir, 'haproxy.cfg'), pid: join(dir, 'haproxy.pid') };
}

const ID = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
const PATH = /^\/[A-Za-z0-9._/-]+$/;

/** haproxy.cfg of one network's metadata proxy, forwarding to the agent's unix socket `socket`. */
export function metadataProxyConfig(options: { dir: string; networkId: string; socket: string }): string {
  const { networkId, socket } = options;
  if (!ID.test(networkId)) throw new Error(`invalid network id ${networkId}`);
  if (!PATH.test(socket)) throw new Error(`unusable socket path ${socket}`);
  const files = haproxyFiles(options.dir);
  if (!PATH.test(files.pid)) throw new Error(`unusable directory ${options.dir}`);
  return [
    'global',
    '    maxconn 1024',
    `    pidfile ${files.pid}`,
    '    daemon',
    'defaults',
    '    mode http',
    '    timeout connect 5s',
    '    timeout client 30s',
    '    timeout server 30s',
    '    timeout http-request 10s',
    'frontend metadata',
    `    bind ${METADATA_ADDRESS}:${METADATA_PORT}`,
    `    http-request set-header ${NETWORK_HEADER} ${networkId}`,
    `    http-request set-header ${FORWARDED_HEADER} %[src]`,
    '    default_backend agent',
    'backend agent',
    `    server agent unix@${socket}`,
    '',
  ].join('\n');
}

/** The command line: the configuration file only (it names the pid file and daemonises). */
export function haproxyArgs(dir: string): string[] {
  return ['-f', haproxyFiles(dir).config];
}
