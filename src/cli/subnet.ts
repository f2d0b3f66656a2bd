/**
 * `neutrino subnet list|show|create|set|unset|delete`: `create NAME --network NET --subnet-range
 * CIDR` (or `--subnet-pool POOL [--prefix-length N]`, `--use-default-subnet-pool`: the prefix is
 * allocated from the pool) with the openstack CLI's `--gateway IP|auto|none`, `--allocation-pool
 * start=…,end=…`, `--dns-nameserver`, `--host-route destination=…,gateway=…`, `--dhcp/--no-dhcp`
 * and the IPv6 modes. On `set` the repeatable options add to what the subnet has; `--no-…`
 * clears it first. `neutrino subnet pool …` manages subnet pools (subnet-pool.ts).
 */
import type { Command } from 'commander';
import { collect } from './output.js';
import { findId, KINDS, type Row } from './resolve.js';
import {
  type Body,
  column,
  defined,
  type Flags,
  flag,
  idColumn,
  integer,
  keyValues,
  registerResource,
} from './resource-command.js';
import { registerSubnetPoolCommands } from './subnet-pool.js';

type Pool = { start: string; end: string };
type Route = { destination: string; nexthop: string };

const pools = (flags: Flags): Pool[] =>
  ((flags.allocationPool as string[] | undefined) ?? []).map((text) => {
    const { start, end } = keyValues(text, 'allocation-pool', ['start', 'end'], ['start', 'end']);
    return { start, end };
  });

const routes = (flags: Flags): Route[] =>
  ((flags.hostRoute as string[] | undefined) ?? []).map((text) => {
    const kv = keyValues(text, 'host-route', ['destination', 'gateway'], ['destination', 'gateway']);
    return { destination: kv.destination, nexthop: kv.gateway };
  });

const gateway = (value: unknown): string | null | undefined =>
  value === undefined || value === 'auto' ? undefined : value === 'none' ? null : String(value);

function listOptions(cmd: Command, verb: 'create' | 'set' | 'unset'): void {
  const what = verb === 'unset' ? 'remove' : 'add';
  cmd
    .option('--allocation-pool <start=IP,end=IP>', `${what} an allocation pool (repeatable)`, collect)
    .option('--dns-nameserver <ip>', `${what} a DNS server (repeatable)`, collect)
    .option('--host-route <destination=CIDR,gateway=IP>', `${what} a host route (repeatable)`, collect);
}

function commonOptions(cmd: Command): void {
  cmd
    .option('--gateway <ip|auto|none>', 'gateway address, auto (the first address) or none')
    .option('--dhcp', 'enable DHCP (default)')
    .option('--no-dhcp', 'disable DHCP');
}

const ipv6Modes = ['slaac', 'dhcpv6-stateful', 'dhcpv6-stateless'];

export function registerSubnetCommands(root: Command): void {
  const subnet = registerResource(root, {
    noun: 'subnet',
    kind: KINDS.subnet,
    description: 'subnets: IPv4 or IPv6 ranges on networks',
    standard: true,
    tags: true,
    columns: [
      column('ID', 'id'),
      column('Name', 'name'),
      idColumn('Network', 'network_id', KINDS.network),
      column('Subnet', 'cidr'),
      idColumn('Project', 'project_id', KINDS.project, true),
      column('DHCP', 'enable_dhcp', true),
      column('Name Servers', 'dns_nameservers', true),
      column(
        'Allocation Pools',
        (s) => (s.allocation_pools as Pool[]).map((p) => `${p.start}-${p.end}`),
        true,
      ),
      column('Host Routes', 'host_routes', true),
      column('IP Version', 'ip_version', true),
      column('Gateway', 'gateway_ip', true),
      column('Tags', 'tags', true),
    ],
    listOptions: (cmd) => {
      cmd
        .option('--network <network>', 'only subnets of this network (name or id)')
        .option('--ip-version <4|6>', 'only subnets of this IP version')
        .option('--subnet-range <cidr>', 'only the subnet of this CIDR')
        .option('--gateway <ip>', 'only subnets with this gateway')
        .option('--dhcp', 'only subnets with DHCP')
        .option('--no-dhcp', 'only subnets without DHCP');
    },
    listFilters: async (session, flags) => ({
      network_id: flags.network ? await findId(session, KINDS.network, flags.network as string) : undefined,
      ip_version: flags.ipVersion as string | undefined,
      cidr: flags.subnetRange as string | undefined,
      gateway_ip: flags.gateway as string | undefined,
      enable_dhcp: (flags.dhcp as boolean | undefined)?.toString(),
    }),
    create: {
      options: (cmd) => {
        cmd
          .requiredOption('--network <network>', 'the network (name or id)')
          .option('--subnet-range <cidr>', 'the subnet range, e.g. 10.0.0.0/24')
          .option('--subnet-pool <pool>', 'allocate the range from this subnet pool (name or id)')
          .option('--use-default-subnet-pool', 'allocate the range from the default subnet pool')
          .option('--prefix-length <n>', 'prefix length of the range allocated from the pool', integer)
          .option('--ip-version <4|6>', 'IP version (default: from the range, else 4)');
        commonOptions(cmd);
        listOptions(cmd, 'create');
        cmd
          .option('--ipv6-ra-mode <mode>', `IPv6 router advertisement mode: ${ipv6Modes.join(', ')}`)
          .option('--ipv6-address-mode <mode>', `IPv6 address mode: ${ipv6Modes.join(', ')}`);
      },
      body: async (session, flags) => {
        const cidr = flags.subnetRange as string | undefined;
        if (!cidr && !flags.subnetPool && !flags.useDefaultSubnetPool)
          throw new Error('--subnet-range, --subnet-pool or --use-default-subnet-pool is required');
        const version = flags.ipVersion ?? (cidr?.includes(':') ? '6' : '4');
        if (version !== '4' && version !== '6') throw new Error('--ip-version is 4 or 6');
        return {
          network_id: await findId(session, KINDS.network, flags.network as string),
          cidr,
          subnetpool_id: flags.subnetPool
            ? await findId(session, KINDS.subnetPool, flags.subnetPool as string)
            : undefined,
          use_default_subnetpool: flags.useDefaultSubnetPool ? true : undefined,
          prefixlen: flags.prefixLength,
          ip_version: Number(version),
          gateway_ip: gateway(flags.gateway),
          enable_dhcp: flags.dhcp,
          allocation_pools: flags.allocationPool ? pools(flags) : undefined,
          dns_nameservers: flags.dnsNameserver,
          host_routes: flags.hostRoute ? routes(flags) : undefined,
          ipv6_ra_mode: flags.ipv6RaMode,
          ipv6_address_mode: flags.ipv6AddressMode,
        };
      },
    },
    set: {
      options: (cmd) => {
        commonOptions(cmd);
        listOptions(cmd, 'set');
        cmd
          .addOption(flag('--no-allocation-pool', 'remove every allocation pool before adding'))
          .addOption(flag('--no-dns-nameservers', 'remove every DNS server before adding'))
          .addOption(flag('--no-host-route', 'remove every host route before adding'));
      },
      body: async (_, flags, current) => setBody(flags, current),
    },
    unset: {
      options: (cmd) => {
        listOptions(cmd, 'unset');
        cmd.option('--gateway', 'remove the gateway');
      },
      body: async (_, flags, current) => unsetBody(flags, current),
    },
  });
  registerSubnetPoolCommands(subnet);
}

const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

function setBody(flags: Flags, current: Row): Body {
  const add = <T>(given: string[] | undefined, clear: unknown, had: T[], fresh: T[]): T[] | undefined =>
    given || clear ? [...(clear ? [] : had), ...fresh] : undefined;
  return defined({
    gateway_ip: gateway(flags.gateway),
    enable_dhcp: flags.dhcp,
    allocation_pools: add(
      flags.allocationPool as string[] | undefined,
      flags.noAllocationPool,
      current.allocation_pools as Pool[],
      pools(flags),
    ),
    dns_nameservers: add(
      flags.dnsNameserver as string[] | undefined,
      flags.noDnsNameservers,
      current.dns_nameservers as string[],
      (flags.dnsNameserver as string[] | undefined) ?? [],
    ),
    host_routes: add(
      flags.hostRoute as string[] | undefined,
      flags.noHostRoute,
      current.host_routes as Route[],
      routes(flags),
    ),
  });
}

function unsetBody(flags: Flags, current: Row): Body {
  const drop = <T>(given: unknown, had: T[], gone: T[]): T[] | undefined =>
    given ? had.filter((x) => !gone.some((g) => same(g, x))) : undefined;
  return defined({
    gateway_ip: flags.gateway ? null : undefined,
    allocation_pools: drop(flags.allocationPool, current.allocation_pools as Pool[], pools(flags)),
    dns_nameservers: drop(
      flags.dnsNameserver,
      current.dns_nameservers as string[],
      (flags.dnsNameserver as string[] | undefined) ?? [],
    ),
    host_routes: drop(flags.hostRoute, current.host_routes as Route[], routes(flags)),
  });
}
