/**
 * `neutrino tap service list|show|create|set|delete` (`create --port P NAME`: the monitoring port)
 * and `neutrino tap flow list|show|create|set|delete` (`create --port SOURCE --tap-service S
 * --direction IN|OUT|BOTH NAME`), over the Tap-as-a-Service API (Debian's openstack CLI has no
 * TaaS plugin).
 */
import type { Command } from 'commander';
import type { Session } from '../client/session.js';
import { findId, KINDS, type Kind } from './resolve.js';
import { type Body, column, type Flags, idColumn, registerResource } from './resource-command.js';

const taas = (label: string, member: string): Kind => ({
  label,
  path: `/v2.0/taas/${member}s`,
  member,
  collection: `${member}s`,
  update: 'PUT',
});

export const TAP_SERVICE = taas('tap service', 'tap_service');
export const TAP_FLOW = taas('tap flow', 'tap_flow');

async function serviceBody(session: Session, flags: Flags): Promise<Body> {
  if (typeof flags.port !== 'string') throw new Error('--port is required');
  return { port_id: await findId(session, KINDS.port, flags.port) };
}

async function flowBody(session: Session, flags: Flags): Promise<Body> {
  if (typeof flags.port !== 'string' || typeof flags.tapService !== 'string')
    throw new Error('--port and --tap-service are required');
  const direction = String(flags.direction ?? 'BOTH').toUpperCase();
  if (!['IN', 'OUT', 'BOTH'].includes(direction)) throw new Error('--direction is IN, OUT or BOTH');
  return {
    source_port: await findId(session, KINDS.port, flags.port),
    tap_service_id: await findId(session, TAP_SERVICE, flags.tapService),
    direction,
  };
}

export function registerTaasCommands(root: Command): void {
  const tap = root.command('tap').description('port mirroring (Tap-as-a-Service): tap services and flows');
  registerResource(tap, {
    noun: 'service',
    kind: TAP_SERVICE,
    description: 'tap services: a monitoring port that receives the copies',
    standard: true,
    columns: [
      column('ID', 'id'),
      column('Name', 'name'),
      idColumn('Port', 'port_id', KINDS.port),
      column('Status', 'status'),
      idColumn('Project', 'project_id', KINDS.project, true),
    ],
    create: {
      options: (cmd) => cmd.requiredOption('--port <port>', 'the monitoring port (name or id)'),
      body: serviceBody,
    },
  });
  registerResource(tap, {
    noun: 'flow',
    kind: TAP_FLOW,
    description: "tap flows: a port's traffic copied to a tap service",
    standard: true,
    columns: [
      column('ID', 'id'),
      column('Name', 'name'),
      idColumn('Source Port', 'source_port', KINDS.port),
      idColumn('Tap Service', 'tap_service_id', TAP_SERVICE),
      column('Direction', 'direction'),
      column('Status', 'status'),
      idColumn('Project', 'project_id', KINDS.project, true),
    ],
    create: {
      options: (cmd) =>
        cmd
          .requiredOption('--port <port>', 'the source port (name or id)')
          .requiredOption('--tap-service <service>', 'the tap service (name or id)')
          .option(
            '--direction <direction>',
            "IN (what the port's instance receives), OUT (sends) or BOTH",
            'BOTH',
          ),
      body: flowBody,
    },
  });
}
