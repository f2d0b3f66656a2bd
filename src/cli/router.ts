/**
 * `neutrino router list|show|create|set|unset|delete` and `router add|remove subnet|port`, as the
 * openstack CLI spells them: `--external-gateway NET [--fixed-ip subnet=…,ip-address=…]`,
 * `--enable-snat/--disable-snat`, `--route destination=…,gateway=…` (`--no-route` clears first),
 * `unset --external-gateway|--route`, `--ha/--no-ha` (admins). `show` adds the router's interfaces (`interfaces_info`).
 */
import type { Command } from 'commander';
import { type Session, sessionFromEnvironment } from '../client/session.js';
import { isRouterInterfaceOwner } from '../model/device-owners.js';
import { collect } from './output.js';
import { find, findId, KINDS, list, type Row } from './resolve.js';
import {
  column,
  defined,
  either,
  type Flags,
  flag,
  idColumn,
  keyValues,
  pair,
  registerResource,
} from './resource-command.js';
import { statsCommand } from './stats.js';

type Route = { destination: string; nexthop: string };
type Gateway = { network_id?: string; enable_snat?: boolean; external_fixed_ips?: unknown[] } | null;

const routes = (flags: Flags): Route[] =>
  ((flags.route as string[] | undefined) ?? []).map((text) => {
    const kv = keyValues(text, 'route', ['destination', 'gateway'], ['destination', 'gateway']);
    return { destination: kv.destination, nexthop: kv.gateway };
  });

function gatewayOptions(cmd: Command): void {
  cmd
    .option('--external-gateway <network>', 'the external network to use as gateway (name or id)')
    .option('--fixed-ip <subnet=S,ip-address=IP>', 'gateway address on the external network', collect);
  pair(cmd, 'enable-snat', 'source NAT to the gateway (default)', 'disable-snat', 'no source NAT');
  pair(cmd, 'enable', 'admin state up (default)', 'disable', 'admin state down');
  pair(
    cmd,
    'ha',
    'highly available: on several network hosts, VRRP picks the master (admin)',
    'no-ha',
    'on one network host (admin; changing it needs --disable)',
  );
}

/** The gateway the flags ask for; undefined when they name none (an error for bare SNAT flags). */
async function gateway(session: Session, flags: Flags, current?: Row): Promise<Gateway | undefined> {
  const snat = either(flags, 'enableSnat', 'disableSnat');
  const had = (current?.external_gateway_info ?? null) as Gateway;
  if (!flags.externalGateway) {
    if (flags.fixedIp) throw new Error('--fixed-ip needs --external-gateway');
    if (snat === undefined) return undefined;
    if (!had?.network_id) throw new Error('--enable-snat/--disable-snat need an external gateway');
    return { network_id: had.network_id, enable_snat: snat };
  }
  const network = await findId(session, KINDS.network, flags.externalGateway as string);
  const ips = [];
  for (const text of (flags.fixedIp as string[] | undefined) ?? []) {
    const kv = keyValues(text, 'fixed-ip', ['subnet', 'ip-address']);
    ips.push(
      defined({
        subnet_id: kv.subnet
          ? await findId(session, KINDS.subnet, kv.subnet, { network_id: network })
          : undefined,
        ip_address: kv['ip-address'],
      }),
    );
  }
  return defined({
    network_id: network,
    enable_snat: snat,
    external_fixed_ips: ips.length > 0 ? ips : undefined,
  });
}

/** The router's interfaces as the openstack CLI shows them: one per subnet address. */
async function interfaces(session: Session, router: Row): Promise<Record<string, string>[]> {
  const ports = await list(session, KINDS.port, { device_id: router.id });
  return ports
    .filter((p) => isRouterInterfaceOwner(String(p.device_owner)))
    .flatMap((p) =>
      (p.fixed_ips as { subnet_id: string; ip_address: string }[]).map((ip) => ({
        port_id: p.id,
        ip_address: ip.ip_address,
        subnet_id: ip.subnet_id,
      })),
    );
}

function interfaceCommands(noun: Command): void {
  const add = noun.command('add').description('attach a subnet or port to a router');
  const remove = noun.command('remove').description('detach a subnet or port from a router');
  for (const [verb, cmd] of [
    ['add', add],
    ['remove', remove],
  ] as const) {
    for (const what of ['subnet', 'port'] as const) {
      cmd
        .command(`${what} <router> <${what}>`)
        .description(`${verb === 'add' ? 'attach' : 'detach'} a ${what} (names or ids)`)
        .action(async (routerRef: string, ref: string) => {
          const session = sessionFromEnvironment();
          const router = await find(session, KINDS.router, routerRef);
          const id = await findId(session, what === 'subnet' ? KINDS.subnet : KINDS.port, ref);
          await session.put(`${KINDS.router.path}/${router.id}/${verb}_router_interface`, {
            [`${what}_id`]: id,
          });
        });
    }
  }
}

export function registerRouterCommands(root: Command): void {
  const noun = registerResource(root, {
    noun: 'router',
    kind: KINDS.router,
    description: 'routers: forward and NAT between subnets and an external network',
    standard: true,
    tags: true,
    columns: [
      column('ID', 'id'),
      column('Name', 'name'),
      column('Status', 'status'),
      column('State', (r) => (r.admin_state_up ? 'UP' : 'DOWN')),
      idColumn('Project', 'project_id', KINDS.project),
      column('Routes', 'routes', true),
      column('External gateway info', 'external_gateway_info', true),
      column('HA', 'ha', true),
      column('Tags', 'tags', true),
    ],
    view: async (session, row) => ({ ...row, interfaces_info: await interfaces(session, row) }),
    create: {
      options: gatewayOptions,
      body: async (session, flags) => ({
        admin_state_up: either(flags, 'enable', 'disable'),
        external_gateway_info: await gateway(session, flags),
        ha: either(flags, 'ha', 'noHa'),
      }),
    },
    set: {
      options: (cmd) => {
        gatewayOptions(cmd);
        cmd
          .option('--route <destination=CIDR,gateway=IP>', 'add a static route (repeatable)', collect)
          .addOption(flag('--no-route', 'remove every static route before adding'));
      },
      body: async (session, flags, current) => ({
        admin_state_up: either(flags, 'enable', 'disable'),
        ha: either(flags, 'ha', 'noHa'),
        external_gateway_info: await gateway(session, flags, current),
        routes:
          flags.route || flags.noRoute
            ? [...(flags.noRoute ? [] : (current.routes as Route[])), ...routes(flags)]
            : undefined,
      }),
    },
    unset: {
      options: (cmd) => {
        cmd
          .option('--external-gateway', 'remove the external gateway')
          .option('--route <destination=CIDR,gateway=IP>', 'remove a static route (repeatable)', collect);
      },
      body: async (_, flags, current) => {
        const gone = routes(flags);
        return {
          external_gateway_info: flags.externalGateway ? {} : undefined,
          routes: flags.route
            ? (current.routes as Route[]).filter(
                (r) => !gone.some((g) => g.destination === r.destination && g.nexthop === r.nexthop),
              )
            : undefined,
        };
      },
    },
  });
  interfaceCommands(noun);
  statsCommand(noun, 'router');
}
