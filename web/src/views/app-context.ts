/**
 * What every view needs: the cloud (API + collections), whether the user is an admin, project
 * names, and opening an object's details. Plus the labels the views share.
 */
import { createContext, useContext } from 'react';
import type { Collections, Instance, Port } from '../api/resources.js';
import type { Cloud, CloudState } from '../state/cloud.js';
import { label, type Selection, shortId } from '../topology/graph.js';

export interface AppCtx {
  cloud: Cloud;
  state: CloudState;
  admin: boolean;
  select(selection: Selection | null, opener?: HTMLElement | null): void;
}

export const AppContext = createContext<AppCtx | null>(null);

export function useApp(): AppCtx {
  const ctx = useContext(AppContext);
  if (!ctx) throw new Error('useApp outside AppContext');
  return ctx;
}

export const projectName = (state: CloudState, id: string) => state.projects.get(id) ?? shortId(id);

export function rows<K extends keyof Collections>(state: CloudState, key: K): Collections[K] {
  return (state.data[key] ?? []) as Collections[K];
}

export const networkName = (state: CloudState, id: string) => {
  const n = rows(state, 'networks').find((x) => x.id === id);
  return n ? label(n) : shortId(id);
};

export const isInfraPort = (p: Port) => /^network:/.test(p.device_owner);

/** `vm1 · 10.0.0.5`, or the port's own name: how a port is offered in a select. */
export function portLabel(port: Port, instances: Instance[]): string {
  const owner = instances.find((i) => i.id === port.device_id);
  const address = port.fixed_ips.map((f) => f.ip_address).join(', ');
  return `${owner ? owner.name : label(port)} · ${address || 'no address'}`;
}

/**
 * Ports a floating IP may point at: instance ports and other non-infrastructure ports with an
 * address, on networks that are not external.
 */
export function fipTargets(state: CloudState): Port[] {
  const external = new Set(
    rows(state, 'networks')
      .filter((n) => n['router:external'])
      .map((n) => n.id),
  );
  return rows(state, 'ports').filter(
    (p) => !isInfraPort(p) && p.fixed_ips.length > 0 && !external.has(p.network_id),
  );
}
