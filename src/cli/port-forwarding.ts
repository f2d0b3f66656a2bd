/**
 * `neutrino floating-ip port-forwarding create|list|show|delete`, as the openstack CLI spells
 * them: `create FIP --port P [--internal-ip-address IP] --internal-protocol-port N[:M]
 * --external-protocol-port N[:M] --protocol tcp|udp|sctp|dccp [--description TEXT]`; `list FIP`,
 * `show FIP ID`, `delete FIP ID…`. The floating IP is named by its id or its address.
 */
import type { Command } from 'commander';
import { sessionFromEnvironment } from '../client/session.js';
import { formatList, formatShow, outputOptions, print } from './output.js';
import { findId, KINDS } from './resolve.js';
import { defined, type Flags } from './resource-command.js';

type Row = Record<string, unknown>;

const COLUMNS: [string, string][] = [
  ['ID', 'id'],
  ['Internal Port ID', 'internal_port_id'],
  ['Internal IP Address', 'internal_ip_address'],
  ['Internal Port Range', 'internal_port_range'],
  ['External Port Range', 'external_port_range'],
  ['Protocol', 'protocol'],
  ['Description', 'description'],
];

/** `N` as `<side>_port`, `N:M` as `<side>_port_range`. */
function ports(side: 'internal' | 'external', value: unknown): Row {
  if (typeof value !== 'string') return {};
  if (!/^\d+(:\d+)?$/.test(value)) throw new Error(`--${side}-protocol-port: ${value} is not N or N:M`);
  return value.includes(':') ? { [`${side}_port_range`]: value } : { [`${side}_port`]: Number(value) };
}

export function registerPortForwardingCommands(floatingIp: Command): void {
  const noun = floatingIp
    .command('port-forwarding')
    .description("port forwardings: a floating IP's ports forwarded to an internal port");
  const base = async (ref: string) => {
    const session = sessionFromEnvironment();
    const id = await findId(session, KINDS.floatingIp, ref);
    return { session, path: `${KINDS.floatingIp.path}/${id}/port_forwardings` };
  };

  outputOptions(
    noun
      .command('create <floating-ip>')
      .description('forward a port (or range) of a floating IP')
      .requiredOption('--port <port>', 'the internal port (name or id)')
      .option('--internal-ip-address <ip>', "which of the port's IPv4 addresses (default: its first)")
      .requiredOption('--internal-protocol-port <N[:M]>', 'the internal port number or range')
      .requiredOption('--external-protocol-port <N[:M]>', 'the external port number or range')
      .option('--protocol <protocol>', 'tcp, udp, sctp or dccp', 'tcp')
      .option('--description <text>', "the forwarding's description"),
  ).action(async (ref: string, flags: Flags) => {
    const { session, path } = await base(ref);
    const body = defined({
      protocol: flags.protocol,
      internal_port_id: await findId(session, KINDS.port, flags.port as string),
      internal_ip_address: flags.internalIpAddress,
      ...ports('internal', flags.internalProtocolPort),
      ...ports('external', flags.externalProtocolPort),
      description: flags.description,
    });
    const { port_forwarding } = await session.post<{ port_forwarding: Row }>(path, { port_forwarding: body });
    print(formatShow(port_forwarding, flags));
  });

  outputOptions(
    noun.command('list <floating-ip>').description("list a floating IP's port forwardings"),
  ).action(async (ref: string, flags: Flags) => {
    const { session, path } = await base(ref);
    const { port_forwardings } = await session.get<{ port_forwardings: Row[] }>(path);
    const rows = port_forwardings.map((pf) => COLUMNS.map(([, key]) => pf[key]));
    print(
      formatList(
        COLUMNS.map(([header]) => header),
        rows,
        flags,
      ),
    );
  });

  outputOptions(noun.command('show <floating-ip> <id>').description('show a port forwarding')).action(
    async (ref: string, id: string, flags: Flags) => {
      const { session, path } = await base(ref);
      const { port_forwarding } = await session.get<{ port_forwarding: Row }>(`${path}/${id}`);
      print(formatShow(port_forwarding, flags));
    },
  );

  noun
    .command('delete <floating-ip> <id...>')
    .description('delete port forwardings')
    .action(async (ref: string, ids: string[]) => {
      const { session, path } = await base(ref);
      for (const id of ids) await session.delete(`${path}/${id}`);
    });
}
