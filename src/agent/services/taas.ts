/**
 * Port mirroring (Tap-as-a-Service) as one nftables table of the `netdev` family in the root
 * namespace, `neutrino-taas-<owner>`, rendered as the text of one `nft -f` transaction that
 * replaces it whole (pure). Per mirrored port, base chains on its host-side device: `hook ingress`
 * sees what the instance sends (TaaS's `OUT`), `hook egress` what it receives (`IN`); each `dup`s
 * the frame to the monitoring port's device, where it leaves towards the monitoring instance
 * without crossing the bridge — so neither the bridge's security-group tables nor the monitoring
 * port's anti-spoofing see the copies. tc's `ingress` qdisc on these devices is QoS's; the netdev
 * hooks are independent of it. The kernel binds a netdev chain to the device present when it is
 * loaded: a device made anew needs the table loaded again (`devices`).
 */
import { join } from 'node:path';
import type { SnapshotTapFlow } from '../../model/host-snapshot.js';
import type { L2Driver } from '../drivers/driver.js';
import { sha256 } from '../l3/router.js';
import type { HostState, Problem } from '../state/host-state.js';

export const TAAS_FAMILY = 'netdev';

export function taasTable(owner: string): string {
  return `neutrino-taas-${owner}`;
}

/** The record of what the last change loaded, in the state dir. */
export function taasRecordFile(stateDir: string): string {
  return join(stateDir, 'taas.json');
}

const DEVICE = /^[A-Za-z0-9_.-]{1,15}$/;

export interface TaasInput {
  flows: readonly SnapshotTapFlow[];
  driver: L2Driver;
  owner: string;
  stateDir: string;
}

/**
 * Sets `state.taas` (left unset: no table) for the tap flows whose ports this host plugs (both
 * devices in `state.veths`);
 * returns the flows it left out and why. Several flows of one source to one direction copy to
 * each monitoring port, one chain per (device, hook) holding one `dup` per monitor.
 */
export function addTaas(state: HostState, input: TaasInput): Problem[] {
  const problems: Problem[] = [];
  const byChain = new Map<string, { source: string; hook: 'ingress' | 'egress'; monitors: string[] }>();
  for (const flow of [...input.flows].sort((a, b) => a.id.localeCompare(b.id))) {
    const source = input.driver.portDeviceName(flow.source_port);
    const monitor = input.driver.portDeviceName(flow.monitor_port);
    if (!DEVICE.test(source) || !DEVICE.test(monitor) || source === monitor) {
      problems.push({ object: `tap flow ${flow.id}`, message: 'unusable ports' });
      continue;
    }
    if (!state.veths[source] || !state.veths[monitor]) {
      problems.push({
        object: `tap flow ${flow.id}`,
        message: 'its source or monitoring port is not plugged here',
      });
      continue;
    }
    const hooks: ('ingress' | 'egress')[] =
      flow.direction === 'OUT' ? ['ingress'] : flow.direction === 'IN' ? ['egress'] : ['ingress', 'egress'];
    for (const hook of hooks) {
      const key = `${hook}-${source}`;
      const chain = byChain.get(key) ?? { source, hook, monitors: [] };
      if (!chain.monitors.includes(monitor)) chain.monitors.push(monitor);
      byChain.set(key, chain);
    }
  }
  const table = taasTable(input.owner);
  const chains = [...byChain.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([, c]) => c);
  if (chains.length === 0) return problems;
  const transaction = renderTaas(table, chains);
  state.taas = {
    family: TAAS_FAMILY,
    name: table,
    hash: sha256(transaction),
    transaction,
    devices: [...new Set(chains.flatMap((c) => [c.source, ...c.monitors]))].sort(),
    record: taasRecordFile(input.stateDir),
  };
  return problems;
}

/**
 * The transaction loading `chains` (one per mirrored device and hook, copying to each monitor),
 * or only removing the table when there are none.
 */
export function renderTaas(
  table: string,
  chains: { source: string; hook: string; monitors: string[] }[],
): string {
  const head = `add table ${TAAS_FAMILY} ${table}\ndelete table ${TAAS_FAMILY} ${table}\n`;
  if (chains.length === 0) return head;
  const body = chains.map(
    (c) =>
      `  chain ${c.hook}-${c.source} {\n    type filter hook ${c.hook} device "${c.source}" priority filter; policy accept;\n${c.monitors.map((m) => `    dup to "${m}"\n`).join('')}  }\n`,
  );
  return `${head}table ${TAAS_FAMILY} ${table} {\n${body.join('')}}\n`;
}
