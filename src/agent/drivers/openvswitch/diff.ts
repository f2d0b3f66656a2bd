/**
 * The Open vSwitch part of the diff (pure): desired and actual bridges and ports in, at most one
 * `ovs.apply` action out, holding one `ovs-vsctl` transaction (bridges and ports added, changed,
 * removed) and the bridges whose rules are replaced (one `ovs-ofctl --bundle` each). A port whose
 * device is recreated in the same run, or which Open vSwitch could not open, is removed and added
 * again: the switch holds the old device otherwise.
 */
import { createHash } from 'node:crypto';
import type { Action } from '../../state/actions.js';
import type { OvsBridge, OvsPort, OvsState, OvsUnderlay } from '../../state/host-state.js';
import { OWNER_KEY } from './observe.js';

/** The hash a bridge's rules are recorded under. */
export function flowsHash(bridge: OvsBridge): string {
  return createHash('sha256')
    .update((bridge.flows ?? []).join('\n'))
    .digest('hex');
}

function externalIds(table: 'Bridge' | 'Port', name: string, ids: Record<string, string>): string[] {
  return ['set', table, name, ...Object.entries(ids).map(([k, v]) => `external_ids:${k}=${v}`)];
}

function sameOptions(a: Record<string, string> = {}, b: Record<string, string> = {}): boolean {
  const keys = Object.keys(b);
  return keys.length === Object.keys(a).length && keys.every((k) => a[k] === b[k]);
}

function addPort(name: string, port: OvsPort, owner: string): string[][] {
  return [
    ['add-port', port.bridge, name, ...(port.tag === null ? [] : [`tag=${port.tag}`])],
    ...(port.type === ''
      ? []
      : [
          [
            'set',
            'Interface',
            name,
            `type=${port.type}`,
            ...Object.entries(port.options ?? {}).map(([k, v]) => `options:${k}=${v}`),
          ],
        ]),
    externalIds('Port', name, { ...port.ids, [OWNER_KEY]: owner }),
  ];
}

/**
 * The action taking `actual` to `desired`, if any. `recreated`: host devices made anew in this run
 * (a port on them must be added again).
 */
export function ovsActions(desired: OvsState, actual: OvsState, recreated: ReadonlySet<string>): Action[] {
  const handle = desired.handle ?? actual.handle;
  if (handle === null) return [];
  const owner = desired.handle ? desired.owner : actual.owner;
  const commands: string[][] = [];
  const fresh = new Set<string>();
  for (const [name, bridge] of Object.entries(desired.bridges)) {
    const have = actual.bridges[name];
    if (have && have.datapath === bridge.datapath) continue;
    if (have) commands.push(['--if-exists', 'del-br', name]);
    commands.push(
      ['add-br', name],
      [
        'set',
        'Bridge',
        name,
        `datapath_type=${bridge.datapath}`,
        'fail_mode=secure',
        ...(bridge.mac ? [`other_config:hwaddr=${bridge.mac}`] : []),
      ],
      externalIds('Bridge', name, { [OWNER_KEY]: owner }),
    );
    fresh.add(name);
  }
  for (const name of Object.keys(actual.bridges))
    if (!Object.hasOwn(desired.bridges, name)) commands.push(['--if-exists', 'del-br', name]);

  for (const [name, port] of Object.entries(desired.ports)) {
    const have = actual.ports[name];
    const same =
      have !== undefined &&
      have.bridge === port.bridge &&
      have.type === port.type &&
      sameOptions(have.options, port.options) &&
      have.error === undefined &&
      !recreated.has(name) &&
      !fresh.has(port.bridge);
    if (!same) {
      if (have && !fresh.has(have.bridge)) commands.push(['--if-exists', 'del-port', name]);
      commands.push(...addPort(name, port, owner));
      continue;
    }
    if (have.tag !== port.tag)
      commands.push(
        port.tag === null ? ['clear', 'Port', name, 'tag'] : ['set', 'Port', name, `tag=${port.tag}`],
      );
    const ids = Object.entries(port.ids);
    if (ids.length !== Object.keys(have.ids).length || ids.some(([k, v]) => have.ids[k] !== v))
      commands.push(externalIds('Port', name, { ...port.ids, [OWNER_KEY]: owner }));
  }
  for (const [name, have] of Object.entries(actual.ports))
    if (!Object.hasOwn(desired.ports, name) && Object.hasOwn(desired.bridges, have.bridge))
      commands.push(['--if-exists', 'del-port', name]);

  const flows = Object.entries(desired.bridges).flatMap(([name, bridge]) => {
    const hash = flowsHash(bridge);
    return fresh.has(name) || actual.bridges[name]?.flowsHash !== hash
      ? [{ bridge: name, flows: bridge.flows ?? [], hash }]
      : [];
  });
  return [
    ...(commands.length === 0 && flows.length === 0
      ? []
      : [{ op: 'ovs.apply' as const, handle, commands, flows }]),
    ...underlayActions(desired.underlay, actual.underlay),
  ];
}

/**
 * The tunnel endpoint's moves: onto `br-phy` when it lacks an address it should hold (or is down,
 * or the interface is not fenced off), back to the tunnel interface when `br-phy` goes (before the
 * transaction deleting it).
 */
function underlayActions(desired: OvsUnderlay | undefined, actual: OvsUnderlay | undefined): Action[] {
  if (desired) {
    const held = new Set(actual?.addresses ?? []);
    return desired.addresses.every((a) => held.has(a)) && actual?.up && actual.fenced
      ? []
      : [{ op: 'ovs.underlay', take: true, underlay: desired }];
  }
  if (actual && actual.device !== '' && (actual.addresses.length > 0 || actual.fenced))
    return [{ op: 'ovs.underlay', take: false, underlay: actual }];
  return [];
}
