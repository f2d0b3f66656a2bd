/**
 * `neutrino network list|show|create|set|unset|delete`, with the openstack CLI's options:
 * `--external/--internal`, `--share/--no-share`, `--enable/--disable`, `--mtu`, port security and
 * the provider attributes (`--provider-network-type`, `--provider-physical-network`,
 * `--provider-segment`), `--qos-policy`/`--no-qos-policy`.
 */
import type { Command } from 'commander';
import type { Session } from '../client/session.js';
import { qosPolicyBody, qosPolicyOptions } from './qos.js';
import { KINDS } from './resolve.js';
import {
  type Body,
  column,
  either,
  type Flags,
  idColumn,
  integer,
  pair,
  registerResource,
} from './resource-command.js';

function attributeOptions(cmd: Command): void {
  pair(cmd, 'enable', 'admin state up (default)', 'disable', 'admin state down');
  cmd.option('--share', 'share the network with every project').option('--no-share', 'do not share it');
  pair(cmd, 'external', 'an external network (router gateways, floating IPs)', 'internal', 'not external');
  pair(
    cmd,
    'enable-port-security',
    'port security on (default)',
    'disable-port-security',
    'port security off',
  );
  cmd
    .option('--mtu <mtu>', 'MTU', integer)
    .option('--provider-network-type <type>', 'local, flat, vlan or vxlan (admin)')
    .option('--provider-physical-network <physnet>', 'the physical network (flat, vlan; admin)')
    .option('--provider-segment <id>', 'VLAN id or VNI (admin)', integer);
}

function setOptions(cmd: Command): void {
  attributeOptions(cmd);
  qosPolicyOptions(cmd, 'set');
}

function createOptions(cmd: Command): void {
  attributeOptions(cmd);
  qosPolicyOptions(cmd, 'create');
}

async function body(session: Session, flags: Flags): Promise<Body> {
  return {
    ...(await qosPolicyBody(session, flags)),
    admin_state_up: either(flags, 'enable', 'disable'),
    shared: flags.share,
    'router:external': either(flags, 'external', 'internal'),
    port_security_enabled: either(flags, 'enablePortSecurity', 'disablePortSecurity'),
    mtu: flags.mtu,
    'provider:network_type': flags.providerNetworkType,
    'provider:physical_network': flags.providerPhysicalNetwork,
    'provider:segmentation_id': flags.providerSegment,
  };
}

/** Registers `network …`; returns the noun (`network agent` hangs below it, as in the openstack CLI). */
export function registerNetworkCommands(root: Command): Command {
  return registerResource(root, {
    noun: 'network',
    kind: KINDS.network,
    description: 'networks: isolated layer-2 segments',
    standard: true,
    tags: true,
    columns: [
      column('ID', 'id'),
      column('Name', 'name'),
      idColumn('Subnets', 'subnets', KINDS.subnet),
      idColumn('Project', 'project_id', KINDS.project, true),
      column('Status', 'status', true),
      column('State', (n) => (n.admin_state_up ? 'UP' : 'DOWN'), true),
      column('Shared', 'shared', true),
      column('Network Type', 'provider:network_type', true),
      column('Router Type', (n) => (n['router:external'] ? 'External' : 'Internal'), true),
      column('Tags', 'tags', true),
    ],
    listOptions: (cmd) => {
      pair(cmd, 'external', 'only external networks', 'internal', 'only internal networks');
      cmd.option('--share', 'only shared networks').option('--no-share', 'only unshared networks');
      pair(cmd, 'enable', 'only admin-state-up networks', 'disable', 'only admin-state-down networks');
      cmd.option('--provider-network-type <type>', 'only networks of this type');
    },
    listFilters: async (_, flags) => ({
      'router:external': either(flags, 'external', 'internal')?.toString(),
      shared: (flags.share as boolean | undefined)?.toString(),
      admin_state_up: either(flags, 'enable', 'disable')?.toString(),
      'provider:network_type': flags.providerNetworkType as string | undefined,
    }),
    create: { options: createOptions, body },
    set: { options: setOptions, body },
  });
}
