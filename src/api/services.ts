/** The Neutron model's services, built once per server over one store and one set of settings. */
import { Networks } from '../core/networks.js';
import type { Settings } from '../core/settings.js';
import { Identity } from '../identity/identity.js';
import type { Store } from '../store/store.js';

export interface Services {
  store: Store;
  settings: Settings;
  identity: Identity;
  networks: Networks;
}

export function buildServices(store: Store, settings: Settings, tokenLifetimeSeconds?: number): Services {
  const networks = new Networks(store, settings);
  return { store, settings, identity: new Identity(store, tokenLifetimeSeconds), networks };
}
