/**
 * `neutrino security-group list|show|create|set|unset|delete` and `neutrino security-group-rule
 * list|show|create|delete` (rules cannot change, as in Neutron). A rule is created as the
 * openstack CLI does it: `create GROUP [--ingress|--egress] [--ethertype] [--protocol]
 * [--dst-port N[:M]] [--icmp-type N --icmp-code N] [--remote-ip CIDR | --remote-group G]`; with
 * no remote it allows any address of its ethertype.
 */
import type { Command } from 'commander';
import type { Session } from '../client/session.js';
import { findId, KINDS, type Row } from './resolve.js';
import {
  column,
  either,
  type Flags,
  idColumn,
  integer,
  pair,
  projectId,
  registerResource,
} from './resource-command.js';

export function registerSecurityGroupCommands(root: Command): void {
  const statefulOptions = (cmd: Command) =>
    pair(cmd, 'stateful', 'stateful: replies pass (default)', 'stateless', 'stateless: replies need rules');
  const body = async (_: Session, flags: Flags) => ({ stateful: either(flags, 'stateful', 'stateless') });
  registerResource(root, {
    noun: 'security-group',
    kind: KINDS.securityGroup,
    description: 'security groups: stateful per-port packet filters',
    standard: true,
    tags: true,
    columns: [
      column('ID', 'id'),
      column('Name', 'name'),
      column('Description', 'description'),
      idColumn('Project', 'project_id', KINDS.project),
      column('Tags', 'tags'),
    ],
    create: { options: statefulOptions, body },
    set: { options: statefulOptions, body },
  });
  registerRuleCommands(root);
}

/** `80`, `8000:8080` → [min, max]. */
function portRange(text: string): [number, number] {
  const m = /^(\d+)(?::(\d+))?$/.exec(text);
  if (!m) throw new Error(`--dst-port ${text}: expected a port or a range PORT:PORT`);
  return [Number(m[1]), Number(m[2] ?? m[1])];
}

function range(rule: Row): string {
  if (rule.port_range_min === null || rule.port_range_min === undefined) return '';
  return `${rule.port_range_min}:${rule.port_range_max ?? rule.port_range_min}`;
}

async function ruleBody(session: Session, flags: Flags) {
  if (flags.remoteIp && flags.remoteGroup)
    throw new Error('--remote-ip and --remote-group exclude each other');
  const protocol = flags.protocol === 'any' ? undefined : (flags.protocol as string | undefined);
  const icmp = flags.icmpType !== undefined || flags.icmpCode !== undefined;
  if (icmp && flags.dstPort) throw new Error('--dst-port and --icmp-type/--icmp-code exclude each other');
  const [min, max] = flags.dstPort ? portRange(flags.dstPort as string) : [flags.icmpType, flags.icmpCode];
  const remoteIp = flags.remoteIp as string | undefined;
  const ethertype =
    (flags.ethertype as string | undefined) ??
    (remoteIp?.includes(':') || protocol === 'ipv6-icmp' ? 'IPv6' : 'IPv4');
  const project = await projectId(session, flags.project);
  return {
    direction: either(flags, 'ingress', 'egress') === false ? 'egress' : 'ingress',
    ethertype,
    protocol,
    port_range_min: min,
    port_range_max: max,
    remote_ip_prefix: flags.remoteGroup
      ? undefined
      : (remoteIp ?? (ethertype === 'IPv6' ? '::/0' : '0.0.0.0/0')),
    remote_group_id: flags.remoteGroup
      ? await findId(session, KINDS.securityGroup, flags.remoteGroup as string, { project_id: project })
      : undefined,
  };
}

function registerRuleCommands(root: Command): void {
  registerResource(root, {
    noun: 'security-group-rule',
    kind: KINDS.securityGroupRule,
    description: 'security group rules: what a group allows in or out',
    standard: true,
    named: false,
    columns: [
      column('ID', 'id'),
      column('IP Protocol', 'protocol'),
      column('Ethertype', 'ethertype'),
      column('IP Range', 'remote_ip_prefix'),
      column('Port Range', range),
      column('Direction', 'direction'),
      idColumn('Remote Security Group', 'remote_group_id', KINDS.securityGroup),
      idColumn('Security Group', 'security_group_id', KINDS.securityGroup),
      column('Description', 'description', true),
    ],
    listArgument: '[group]',
    listOptions: (cmd) => {
      pair(cmd, 'ingress', 'only ingress rules', 'egress', 'only egress rules');
      cmd
        .option('--protocol <protocol>', 'only rules of this protocol')
        .option('--ethertype <IPv4|IPv6>', 'only rules of this family');
    },
    listFilters: async (session, flags, group) => {
      const direction = either(flags, 'ingress', 'egress');
      return {
        security_group_id: group ? await findId(session, KINDS.securityGroup, group) : undefined,
        direction: direction === undefined ? undefined : direction ? 'ingress' : 'egress',
        protocol: flags.protocol as string | undefined,
        ethertype: flags.ethertype as string | undefined,
      };
    },
    create: {
      argument: '<group>',
      argumentBody: async (session, group, flags) => ({
        security_group_id: await findId(session, KINDS.securityGroup, group, {
          project_id: await projectId(session, flags.project),
        }),
      }),
      options: (cmd) => {
        pair(cmd, 'ingress', 'incoming traffic (default)', 'egress', 'outgoing traffic');
        cmd
          .option('--ethertype <IPv4|IPv6>', 'IP family (default IPv4, or that of --remote-ip)')
          .option('--protocol <protocol>', 'tcp, udp, icmp, ipv6-icmp, a number, or any (default)')
          .option('--dst-port <port[:port]>', 'destination port or range (tcp, udp, …)')
          .option('--icmp-type <type>', 'ICMP type', integer)
          .option('--icmp-code <code>', 'ICMP code', integer)
          .option('--remote-ip <cidr>', 'allow this CIDR (default: any address)')
          .option('--remote-group <group>', 'allow members of this security group (name or id)');
      },
      body: ruleBody,
    },
  });
}
