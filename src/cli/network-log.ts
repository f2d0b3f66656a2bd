/**
 * `neutrino log list` (the log objects, as `openstack network log list` shows them; create, set
 * and delete them with `openstack network log …`) and `neutrino log show [LOG] [--follow]`: what a
 * log recorded (all the caller's logs without LOG), one line per record, oldest first; `--follow`
 * keeps printing new records as agents send them; `-f json` prints each record as a JSON line.
 */

import { setTimeout as sleep } from 'node:timers/promises';
import type { Command } from 'commander';
import { type Session, sessionFromEnvironment } from '../client/session.js';
import type { LogRecord } from '../model/network-log.js';
import { outputOptions } from './output.js';
import { find, type Kind } from './resolve.js';
import { column, type Flags, registerResource } from './resource-command.js';

export const NETWORK_LOG: Kind = {
  label: 'log',
  path: '/v2.0/log/logs',
  member: 'log',
  collection: 'logs',
};

const FOLLOW_MS = 500;

/** One record as a line: time, event, direction, protocol, endpoints, port and log. */
export function recordLine(r: LogRecord): string {
  const end = (ip: string, port: number | null) =>
    port === null ? ip : ip.includes(':') ? `[${ip}]:${port}` : `${ip}:${port}`;
  const icmp = r.icmp_type === undefined ? '' : ` type=${r.icmp_type} code=${r.icmp_code ?? 0}`;
  const group = r.resource_id ? ` group=${r.resource_id}` : '';
  return `${r.time} ${r.event} ${r.direction} ${r.protocol} ${end(r.src_ip, r.src_port)} -> ${end(r.dst_ip, r.dst_port)}${icmp} port=${r.port_id}${group} log=${r.log_id}`;
}

async function readAll(session: Session, ids: string[], since: Map<string, number>): Promise<LogRecord[]> {
  const out: LogRecord[] = [];
  for (const id of ids)
    for (;;) {
      const { log_records } = await session.get<{ log_records: LogRecord[] }>(
        `/neutrino/v1/logs/${id}/events?since=${since.get(id) ?? 0}`,
      );
      out.push(...log_records);
      if (log_records.length > 0) since.set(id, log_records.at(-1)!.seq);
      if (log_records.length < 1000) break;
    }
  return out.sort((a, b) => (a.time < b.time ? -1 : a.time > b.time ? 1 : a.seq - b.seq));
}

export function registerNetworkLogCommands(root: Command): void {
  const noun = registerResource(root, {
    noun: 'log',
    kind: NETWORK_LOG,
    description: 'network logs: what security groups and firewall groups accept and drop',
    columns: [
      column('ID', 'id'),
      column('Name', 'name'),
      column('Type', 'resource_type'),
      column('Resource', 'resource_id'),
      column('Target', 'target_id'),
      column('Event', 'event'),
      column('Enabled', 'enabled'),
    ],
  });
  // `show` prints the records; the object itself is in `list` (and `openstack network log show`).
  const generic = noun.commands.findIndex((c) => c.name() === 'show');
  if (generic >= 0) (noun.commands as Command[]).splice(generic, 1);
  outputOptions(
    noun
      .command('show [log]')
      .description("what the log recorded (all your logs' records without LOG), oldest first")
      .option('--follow', 'keep printing records as they arrive (Ctrl-C to stop)'),
  ).action(async (ref: string | undefined, flags: Flags) => {
    const session = sessionFromEnvironment();
    const ids = ref
      ? [(await find(session, NETWORK_LOG, ref)).id as string]
      : (await session.get<{ logs: { id: string }[] }>('/v2.0/log/logs?fields=id')).logs.map((l) => l.id);
    const since = new Map<string, number>();
    const json = flags.format === 'json';
    for (;;) {
      for (const r of await readAll(session, ids, since))
        process.stdout.write(`${json ? JSON.stringify(r) : recordLine(r)}\n`);
      if (!flags.follow) return;
      await sleep(FOLLOW_MS);
    }
  });
}
