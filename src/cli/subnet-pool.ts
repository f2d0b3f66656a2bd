/**
 * `neutrino subnet pool list|show|create|set|unset|delete` (as the openstack CLI spells it:
 * `subnet pool create NAME --pool-prefix CIDR… [--default-prefix-length N] [--min-prefix-length
 * N] [--max-prefix-length N] [--default-quota N] [--address-scope SCOPE] [--share] [--default]`;
 * `set --pool-prefix` adds prefixes to those the pool has) and `neutrino address-scope …`.
 */
import type { Command } from 'commander';
import { collect } from './output.js';
import { findId, KINDS } from './resolve.js';
import { column, defined, type Flags, idColumn, integer, registerResource } from './resource-command.js';

function lengths(cmd: Command): void {
  cmd
    .option('--default-prefix-length <n>', 'prefix length of subnets allocated without one', integer)
    .option('--min-prefix-length <n>', 'shortest prefix length allowed', integer)
    .option('--max-prefix-length <n>', 'longest prefix length allowed', integer)
    .option('--default-quota <n>', 'per-project quota, in addresses (IPv4) or /64s (IPv6)', integer)
    .option('--address-scope <scope>', 'address scope of the pool (name or id)');
}

const bounds = (flags: Flags) => ({
  default_prefixlen: flags.defaultPrefixLength,
  min_prefixlen: flags.minPrefixLength,
  max_prefixlen: flags.maxPrefixLength,
  default_quota: flags.defaultQuota,
});

/** Registers `subnet pool` under the `subnet` command, and `address scope` beside it. */
export function registerSubnetPoolCommands(subnet: Command): void {
  registerResource(subnet, {
    noun: 'pool',
    kind: KINDS.subnetPool,
    description: 'subnet pools: prefixes subnets take their ranges from',
    standard: true,
    tags: true,
    columns: [
      column('ID', 'id'),
      column('Name', 'name'),
      column('Prefixes', 'prefixes'),
      column('Default Prefix Length', 'default_prefixlen', true),
      column('Min Prefix Length', 'min_prefixlen', true),
      column('Max Prefix Length', 'max_prefixlen', true),
      column('Default Quota', 'default_quota', true),
      idColumn('Address Scope', 'address_scope_id', KINDS.addressScope, true),
      column('Shared', 'shared', true),
      column('Default', 'is_default', true),
      idColumn('Project', 'project_id', KINDS.project, true),
    ],
    create: {
      options: (cmd) => {
        cmd.requiredOption('--pool-prefix <cidr>', 'a prefix of the pool (repeatable)', collect);
        lengths(cmd);
        cmd.option('--share', 'share the pool with every project (admin)');
        cmd.option('--default', 'make it the default pool of its IP version (admin)');
      },
      body: async (session, flags) => ({
        prefixes: flags.poolPrefix,
        ...bounds(flags),
        address_scope_id: flags.addressScope
          ? await findId(session, KINDS.addressScope, flags.addressScope as string)
          : undefined,
        shared: flags.share ? true : undefined,
        is_default: flags.default ? true : undefined,
      }),
    },
    set: {
      options: (cmd) => {
        cmd.option('--pool-prefix <cidr>', 'add a prefix (repeatable)', collect);
        lengths(cmd);
        cmd.option('--no-address-scope', 'take the pool out of its address scope');
      },
      body: async (session, flags, current) =>
        defined({
          prefixes: flags.poolPrefix
            ? [...(current.prefixes as string[]), ...(flags.poolPrefix as string[])]
            : undefined,
          ...bounds(flags),
          address_scope_id:
            flags.addressScope === false
              ? null
              : typeof flags.addressScope === 'string'
                ? await findId(session, KINDS.addressScope, flags.addressScope)
                : undefined,
        }),
    },
  });
}

/** `neutrino address-scope list|show|create|set|delete`. */
export function registerAddressScopeCommands(root: Command): void {
  registerResource(root, {
    noun: 'address-scope',
    kind: KINDS.addressScope,
    description: 'address scopes: address spaces routed without NAT',
    columns: [
      column('ID', 'id'),
      column('Name', 'name'),
      column('IP Version', 'ip_version'),
      column('Shared', 'shared'),
      idColumn('Project', 'project_id', KINDS.project, true),
    ],
    create: {
      options: (cmd) => {
        cmd
          .option('--ip-version <4|6>', 'IP version of the scope (default 4)', '4')
          .option('--share', 'share the scope with every project (admin)');
      },
      body: async (_, flags) => {
        if (flags.ipVersion !== '4' && flags.ipVersion !== '6') throw new Error('--ip-version is 4 or 6');
        return { ip_version: Number(flags.ipVersion), shared: flags.share ? true : undefined };
      },
    },
    set: {
      options: (cmd) => {
        cmd
          .option('--name <name>', 'new name')
          .option('--share', 'share the scope with every project (admin)');
      },
      body: async (_, flags) => defined({ name: flags.name, shared: flags.share ? true : undefined }),
    },
  });
}
