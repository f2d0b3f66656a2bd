/**
 * keepalived as Neutron's HA routers run it, one per `qrouter-` namespace: the configuration and
 * the notify script (pure); the agent starts, reloads (SIGHUP) and stops it as a namespace daemon. VRRP runs on the router's HA device;
 * the instances all start as BACKUP with one priority and `nopreempt`, so the first up becomes
 * master and stays so until it fails. The master holds the router's addresses and routes as
 * keepalived's "excluded" addresses and virtual routes (they are not in the VRRP packets), and on
 * becoming master it sends gratuitous ARPs for them. keepalived's own routes carry `proto
 * keepalived`, so the reconciler (which owns only `proto static`) leaves them alone.
 *
 * keepalived runs the notify script with the new state as its third argument; the script writes
 * it into a file the agent watches (`MASTER`, `BACKUP`, `FAULT`, `STOP`).
 */
import { join } from 'node:path';
import ipaddr from 'ipaddr.js';

export const KEEPALIVED = '/usr/sbin/keepalived';

/** Files of one router's keepalived inside its directory. */
export function keepalivedFiles(dir: string) {
  return {
    config: join(dir, 'keepalived.conf'),
    notify: join(dir, 'keepalived-notify.sh'),
    state: join(dir, 'ha-state'),
    pid: join(dir, 'keepalived.pid'),
    vrrpPid: join(dir, 'keepalived-vrrp.pid'),
  };
}

export interface KeepalivedConfig {
  /** The router's directory (see `keepalivedFiles`). */
  dir: string;
  vrid: number;
  /** The HA device, VRRP's interface. */
  haDevice: string;
  advertInt: number;
  /** `ip/prefix` per device: the router's addresses, held by the master only. */
  addresses: { cidr: string; dev: string }[];
  routes: { destination: string; nexthop: string; dev: string }[];
}

/** The VRRP instance's own address, on the HA device (169.254.0.<vrid>/24, as Neutron). */
export function vrrpAddress(vrid: number): string {
  return `169.254.0.${vrid}/24`;
}

/** The instance's name in keepalived and its notify calls. */
export function instanceName(vrid: number): string {
  return `VR_${vrid}`;
}

const DEVICE = /^[A-Za-z0-9_.-]{1,15}$/;

/** keepalived.conf for one router. Refuses values that could break out of their line. */
export function keepalivedConfig(config: KeepalivedConfig): string {
  const { vrid, haDevice, advertInt } = config;
  if (!Number.isInteger(vrid) || vrid < 1 || vrid > 255) throw new Error(`invalid VRRP id ${vrid}`);
  if (!Number.isInteger(advertInt) || advertInt < 1 || advertInt > 255)
    throw new Error(`invalid advert_int ${advertInt}`);
  const devices = [haDevice, ...config.addresses.map((a) => a.dev), ...config.routes.map((r) => r.dev)];
  for (const dev of devices) if (!DEVICE.test(dev)) throw new Error(`invalid device ${dev}`);
  for (const { cidr } of config.addresses)
    if (!ipaddr.isValidCIDR(cidr)) throw new Error(`invalid address ${cidr}`);
  for (const r of config.routes)
    if (!ipaddr.isValidCIDR(r.destination) || !ipaddr.isValid(r.nexthop))
      throw new Error(`invalid route ${r.destination} via ${r.nexthop}`);
  const files = keepalivedFiles(config.dir);
  const lines = [
    'global_defs {',
    '    vrrp_no_swap',
    '    enable_script_security',
    '    script_user root',
    '}',
    `vrrp_instance ${instanceName(vrid)} {`,
    '    state BACKUP',
    `    interface ${haDevice}`,
    `    virtual_router_id ${vrid}`,
    '    priority 50',
    '    nopreempt',
    `    advert_int ${advertInt}`,
    '    garp_master_delay 60',
    '    garp_master_repeat 3',
    '    track_interface {',
    `        ${haDevice}`,
    '    }',
    '    virtual_ipaddress {',
    `        ${vrrpAddress(vrid)} dev ${haDevice}`,
    '    }',
  ];
  if (config.addresses.length > 0) {
    lines.push('    virtual_ipaddress_excluded {');
    for (const a of config.addresses) lines.push(`        ${a.cidr} dev ${a.dev}`);
    lines.push('    }');
  }
  if (config.routes.length > 0) {
    lines.push('    virtual_routes {');
    for (const r of config.routes) lines.push(`        ${r.destination} via ${r.nexthop} dev ${r.dev}`);
    lines.push('    }');
  }
  lines.push(`    notify ${files.notify}`, '}');
  return `${lines.join('\n')}\n`;
}

/** The notify script: writes the state keepalived passes (`$3`) to the state file, atomically. */
export function notifyScript(dir: string): string {
  const { state } = keepalivedFiles(dir);
  if (/['\n\\]/.test(state)) throw new Error(`unusable state directory ${dir}`);
  return `#!/bin/sh\nprintf '%s\\n' "$3" > '${state}.tmp' && mv '${state}.tmp' '${state}'\n`;
}

/** The command line: VRRP only, logging to syslog, our pid files. */
export function keepalivedArgs(dir: string): string[] {
  const files = keepalivedFiles(dir);
  return ['--vrrp', '-f', files.config, '-p', files.pid, '-r', files.vrrpPid, '-l', '-D'];
}

/** `MASTER` → active; anything else (BACKUP, FAULT, STOP) → standby; undefined before any state. */
export function haState(text: string | undefined): 'active' | 'standby' | undefined {
  const state = text?.trim();
  if (!state) return undefined;
  return state === 'MASTER' ? 'active' : 'standby';
}
