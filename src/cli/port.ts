/**
 * `neutrino port list|show|create|set|unset|delete` with the openstack CLI's options: `--network`,
 * `--fixed-ip subnet=…,ip-address=…`, `--mac-address`, `--security-group`/`--no-security-group`,
 * port security, `--allowed-address ip-address=…[,mac-address=…]`, `--device`, `--device-owner`,
 * `--host`, `--qos-policy` (`--no-qos-policy` on set; `unset --qos-policy`). On `set` the repeatable options add to what the port has; `--no-…` clears it first.
 * `port drops PORT` shows what its security groups dropped, `port stats PORT` its traffic.
 */
import type { Command } from 'commander';
import { type Session, sessionFromEnvironment } from '../client/session.js';
import { collect, formatList, outputOptions, print } from './output.js';
import { qosPolicyBody, qosPolicyOptions } from './qos.js';
import { findId, KINDS, type Row } from './resolve.js';
import {
  type Body,
  column,
  defined,
  either,
  type Flags,
  flag,
  idColumn,
  keyValues,
  pair,
  projectId,
  registerResource,
} from './resource-command.js';
import { statsCommand } from './stats.js';

type FixedIp = { subnet_id?: string; ip_address?: string };
type Pair = { ip_address: string; mac_address?: string };

async function fixedIps(session: Session, flags: Flags, network?: string): Promise<FixedIp[]> {
  const out: FixedIp[] = [];
  for (const text of (flags.fixedIp as string[] | undefined) ?? []) {
    const kv = keyValues(text, 'fixed-ip', ['subnet', 'ip-address']);
    out.push(
      defined({
        subnet_id: kv.subnet
          ? await findId(session, KINDS.subnet, kv.subnet, network ? { network_id: network } : {})
          : undefined,
        ip_address: kv['ip-address'],
      }) as FixedIp,
    );
  }
  return out;
}

const addressPairs = (flags: Flags): Pair[] =>
  ((flags.allowedAddress as string[] | undefined) ?? []).map((text) => {
    const kv = keyValues(text, 'allowed-address', ['ip-address', 'mac-address'], ['ip-address']);
    return defined({ ip_address: kv['ip-address'], mac_address: kv['mac-address'] }) as Pair;
  });

async function groupIds(session: Session, flags: Flags, project?: string): Promise<string[]> {
  const ids: string[] = [];
  for (const ref of (flags.securityGroup as string[] | undefined) ?? [])
    ids.push(await findId(session, KINDS.securityGroup, ref, { project_id: project }));
  return ids;
}

function options(cmd: Command, verb: 'create' | 'set' | 'unset'): void {
  const what = verb === 'unset' ? 'remove' : 'add';
  cmd
    .option('--fixed-ip <subnet=S,ip-address=IP>', `${what} a fixed IP (repeatable)`, collect)
    .option('--security-group <group>', `${what} a security group (name or id; repeatable)`, collect)
    .option(
      '--allowed-address <ip-address=IP[,mac-address=MAC]>',
      `${what} an allowed address pair`,
      collect,
    );
  if (verb === 'unset') {
    cmd.option('--qos-policy', 'detach its QoS policy');
    return;
  }
  qosPolicyOptions(cmd, verb);
  const clear = verb === 'create' ? '' : ' before adding';
  cmd
    .addOption(flag('--no-fixed-ip', `no fixed IPs${clear}`))
    .addOption(flag('--no-security-group', `no security groups${clear}`))
    .option('--mac-address <mac>', 'MAC address (admin)')
    .option('--device <id>', 'the id of the device using the port')
    .option('--device-owner <owner>', 'the owner of the device, e.g. compute:nova')
    .option('--host <host>', 'bind the port to this host (admin)')
    .option('--dns-name <name>', 'DNS name');
  pair(cmd, 'enable', 'admin state up (default)', 'disable', 'admin state down');
  pair(cmd, 'enable-port-security', 'port security on', 'disable-port-security', 'port security off');
  if (verb === 'set') cmd.addOption(flag('--no-allowed-address', 'no allowed address pairs before adding'));
}

const common = (flags: Flags): Body => ({
  mac_address: flags.macAddress,
  device_id: flags.device,
  device_owner: flags.deviceOwner,
  'binding:host_id': flags.host,
  dns_name: flags.dnsName,
  admin_state_up: either(flags, 'enable', 'disable'),
  port_security_enabled: either(flags, 'enablePortSecurity', 'disablePortSecurity'),
});

async function setBody(session: Session, flags: Flags, current: Row): Promise<Body> {
  const merge = <T>(given: unknown, clear: unknown, had: T[], fresh: T[]) =>
    given || clear ? [...(clear ? [] : had), ...fresh] : undefined;
  const network = current.network_id as string;
  return {
    ...common(flags),
    ...(await qosPolicyBody(session, flags)),
    fixed_ips: merge(
      flags.fixedIp,
      flags.noFixedIp,
      current.fixed_ips as FixedIp[],
      await fixedIps(session, flags, network),
    ),
    security_groups: merge(
      flags.securityGroup,
      flags.noSecurityGroup,
      current.security_groups as string[],
      await groupIds(session, flags, current.project_id as string),
    ),
    allowed_address_pairs: merge(
      flags.allowedAddress,
      flags.noAllowedAddress,
      current.allowed_address_pairs as Pair[],
      addressPairs(flags),
    ),
  };
}

async function unsetBody(session: Session, flags: Flags, current: Row): Promise<Body> {
  const drop = <T>(given: unknown, had: T[], gone: (x: T) => boolean) =>
    given ? had.filter((x) => !gone(x)) : undefined;
  const ips = await fixedIps(session, flags, current.network_id as string);
  const groups = await groupIds(session, flags, current.project_id as string);
  const pairs = addressPairs(flags);
  return {
    qos_policy_id: flags.qosPolicy ? null : undefined,
    fixed_ips: drop(flags.fixedIp, current.fixed_ips as FixedIp[], (f) =>
      ips.some(
        (g) =>
          (!g.ip_address || g.ip_address === f.ip_address) && (!g.subnet_id || g.subnet_id === f.subnet_id),
      ),
    ),
    security_groups: drop(flags.securityGroup, current.security_groups as string[], (id) =>
      groups.includes(id),
    ),
    allowed_address_pairs: drop(flags.allowedAddress, current.allowed_address_pairs as Pair[], (p) =>
      pairs.some((q) => q.ip_address === p.ip_address && (!q.mac_address || q.mac_address === p.mac_address)),
    ),
  };
}

const ips = (p: Row) =>
  (p.fixed_ips as FixedIp[]).map((f) => ({ ip_address: f.ip_address, subnet_id: f.subnet_id }));

/** `port drops PORT`: what its security groups dropped, by reason, as its host last reported it. */
function dropsCommand(noun: Command): void {
  outputOptions(
    noun
      .command('drops <port>')
      .description("show a port's security-group drop counters by reason (spoof, ingress, …)"),
  ).action(async (ref: string, flags: Flags) => {
    const session = sessionFromEnvironment();
    const id = await findId(session, KINDS.port, ref);
    const { port_drops: drops } = await session.get<{
      port_drops: { host: string | null; updated_at: string | null; drops: Record<string, Counter> };
    }>(`/neutrino/v1/ports/${id}/drops`);
    const rows = Object.keys(drops.drops)
      .sort()
      .map((reason) => [reason, drops.drops[reason].packets, drops.drops[reason].bytes]);
    print(formatList(['Reason', 'Packets', 'Bytes'], rows, flags));
  });
}

type Counter = { packets: number; bytes: number };

export function registerPortCommands(root: Command): void {
  const noun = registerResource(root, {
    noun: 'port',
    kind: KINDS.port,
    description: 'ports: virtual NICs on networks',
    standard: true,
    tags: true,
    columns: [
      column('ID', 'id'),
      column('Name', 'name'),
      column('MAC Address', 'mac_address'),
      column('Fixed IP Addresses', ips),
      column('Status', 'status'),
      idColumn('Network', 'network_id', KINDS.network, true),
      idColumn('Security Groups', 'security_groups', KINDS.securityGroup, true),
      column('Device Owner', 'device_owner', true),
      column('Host', 'binding:host_id', true),
      column('Tags', 'tags', true),
    ],
    listOptions: (cmd) => {
      cmd
        .option('--network <network>', 'only ports of this network (name or id)')
        .option('--router <router>', 'only ports of this router (name or id)')
        .option('--device-owner <owner>', 'only ports of this device owner')
        .option('--device-id <id>', 'only ports of this device')
        .option('--host <host>', 'only ports bound to this host')
        .option('--status <status>', 'only ports in this status (ACTIVE, DOWN, BUILD)')
        .option('--mac-address <mac>', 'only the port with this MAC address')
        .option('--fixed-ip <subnet=S,ip-address=IP>', 'only ports with this fixed IP', collect)
        .option('--security-group <group>', 'only ports in this security group (repeatable)', collect);
    },
    listFilters: async (session, flags) => ({
      network_id: flags.network ? await findId(session, KINDS.network, flags.network as string) : undefined,
      device_id: flags.router
        ? await findId(session, KINDS.router, flags.router as string)
        : (flags.deviceId as string | undefined),
      device_owner: flags.deviceOwner as string | undefined,
      'binding:host_id': flags.host as string | undefined,
      status: flags.status as string | undefined,
      mac_address: flags.macAddress as string | undefined,
      fixed_ips: (await fixedIps(session, flags)).flatMap((f) =>
        Object.entries(f).map(([k, v]) => `${k}=${v}`),
      ),
      security_groups: await groupIds(session, flags),
    }),
    create: {
      options: (cmd) => {
        cmd.requiredOption('--network <network>', 'the network (name or id)');
        options(cmd, 'create');
      },
      body: async (session, flags) => {
        const network = await findId(session, KINDS.network, flags.network as string);
        const groups = await groupIds(session, flags, await projectId(session, flags.project));
        return {
          ...common(flags),
          ...(await qosPolicyBody(session, flags)),
          network_id: network,
          fixed_ips: flags.noFixedIp
            ? []
            : flags.fixedIp
              ? await fixedIps(session, flags, network)
              : undefined,
          security_groups: flags.noSecurityGroup ? [] : flags.securityGroup ? groups : undefined,
          allowed_address_pairs: flags.allowedAddress ? addressPairs(flags) : undefined,
        };
      },
    },
    set: { options: (cmd) => options(cmd, 'set'), body: setBody },
    unset: { options: (cmd) => options(cmd, 'unset'), body: unsetBody },
  });
  dropsCommand(noun);
  statsCommand(noun, 'port');
}
