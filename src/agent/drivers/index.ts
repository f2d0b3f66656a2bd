/**
 * The L2 drivers by name. Each lives in a folder of its own with the same files (`names.ts`,
 * `layout.ts`, and what it needs besides, as `linuxbridge/l2population.ts`) and implements
 * `L2Driver`; the rest of the agent asks this registry, never a driver folder.
 */
import type { L2Driver } from './driver.js';
import { linuxbridge } from './linuxbridge/layout.js';
import { openvswitch } from './openvswitch/layout.js';

export const L2_DRIVERS: Readonly<Record<string, L2Driver>> = { linuxbridge, openvswitch };
export const DEFAULT_L2_DRIVER = 'linuxbridge';

/** The driver called `name` (the default when absent); an unknown name is an error naming the known ones. */
export function l2Driver(name: string = DEFAULT_L2_DRIVER): L2Driver {
  const driver = Object.hasOwn(L2_DRIVERS, name) ? L2_DRIVERS[name] : undefined;
  if (!driver) throw new Error(`unknown L2 driver ${name}: one of ${Object.keys(L2_DRIVERS).join(', ')}`);
  return driver;
}
