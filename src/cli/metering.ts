/**
 * `neutrino meter list|show|create|delete` (`--share`) and `neutrino meter rule
 * list|show|create|delete` (`create LABEL --ingress|--egress --remote-ip-prefix P`, or
 * `--source-ip-prefix`/`--destination-ip-prefix`, `--exclude`), as the openstack CLI's `network
 * meter`; `neutrino meter stats LABEL` prints what the label counted (in all and per router).
 */
import type { Command } from 'commander';
import { type Session, sessionFromEnvironment } from '../client/session.js';
import { formatShow, outputOptions, print } from './output.js';
import { find, findId, KINDS, type Kind } from './resolve.js';
import { type Body, column, either, type Flags, idColumn, registerResource } from './resource-command.js';

export const METERING_LABEL: Kind = {
  label: 'meter',
  path: '/v2.0/metering/metering-labels',
  member: 'metering_label',
  collection: 'metering_labels',
  update: false,
};
export const METERING_RULE: Kind = {
  label: 'meter rule',
  path: '/v2.0/metering/metering-label-rules',
  member: 'metering_label_rule',
  collection: 'metering_label_rules',
  nameField: null,
  update: false,
};

async function labelBody(_session: Session, flags: Flags): Promise<Body> {
  return { shared: flags.share ? true : undefined };
}

async function ruleBody(_session: Session, flags: Flags): Promise<Body> {
  const egress = either(flags, 'egress', 'ingress');
  const excluded = either(flags, 'exclude', 'include');
  return {
    direction: egress === undefined ? undefined : egress ? 'egress' : 'ingress',
    excluded,
    remote_ip_prefix: flags.remoteIpPrefix,
    source_ip_prefix: flags.sourceIpPrefix,
    destination_ip_prefix: flags.destinationIpPrefix,
  };
}

export function registerMeteringCommands(root: Command): void {
  const meter = registerResource(root, {
    noun: 'meter',
    kind: METERING_LABEL,
    description: 'metering labels: traffic counted at the gateways of routers (admins)',
    standard: true,
    columns: [
      column('ID', 'id'),
      column('Name', 'name'),
      column('Description', 'description'),
      column('Shared', 'shared'),
      idColumn('Project', 'project_id', KINDS.project, true),
    ],
    create: {
      options: (cmd) => cmd.option('--share', "count on every project's routers"),
      body: labelBody,
    },
  });
  registerResource(meter, {
    noun: 'rule',
    kind: METERING_RULE,
    description: "a meter's rules: what it counts at the gateway",
    columns: [
      column('ID', 'id'),
      column('Excluded', 'excluded'),
      column('Direction', 'direction'),
      column('Remote IP Prefix', 'remote_ip_prefix'),
      column('Source IP Prefix', 'source_ip_prefix'),
      column('Destination IP Prefix', 'destination_ip_prefix'),
      idColumn('Meter', 'metering_label_id', METERING_LABEL, true),
    ],
    create: {
      argument: '<meter>',
      argumentBody: async (session, arg) => ({
        metering_label_id: await findId(session, METERING_LABEL, arg),
      }),
      options: (cmd) =>
        cmd
          .option('--ingress', 'traffic entering the router from its gateway (default)')
          .option('--egress', 'traffic leaving the router through its gateway')
          .option('--exclude', 'leave this traffic out of the count')
          .option('--include', 'count this traffic (default)')
          .option(
            '--remote-ip-prefix <prefix>',
            'the other end: the source of ingress, the destination of egress',
          )
          .option('--source-ip-prefix <prefix>', 'the source')
          .option('--destination-ip-prefix <prefix>', 'the destination'),
      body: ruleBody,
    },
  });
  outputOptions(
    meter.command('stats <meter>').description('bytes and packets the meter counted, in all and per router'),
  ).action(async (ref: string, flags: Flags) => {
    const session = sessionFromEnvironment();
    const label = await find(session, METERING_LABEL, ref);
    const { metering_label_stats: stats } = await session.get<{
      metering_label_stats: {
        bytes: number;
        packets: number;
        routers: { router_id: string; bytes: number }[];
      };
    }>(`/neutrino/v1/metering-labels/${label.id}/stats`);
    print(formatShow({ ...stats, routers: stats.routers.map((r) => `${r.router_id}=${r.bytes}`) }, flags));
  });
}
