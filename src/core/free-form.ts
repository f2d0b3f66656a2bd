/**
 * Free-form dictionaries in request bodies (a port's `binding:profile`, an agent's
 * `configurations`): the schema says only "an object", so their depth and size are bounded here.
 * Both are stored and sent to every agent as they are, so without a bound one request could
 * make every later read of the port pay for megabytes of nesting.
 */
import { InvalidInput } from './errors.js';

export interface FreeFormLimits {
  /** Levels of nesting: `{}` is one, `{"a": {}}` two. */
  depth: number;
  /** Bytes of its JSON text. */
  bytes: number;
}

/** What `binding:profile` may hold: Nova puts a few flat keys there (pci_slot, trusted, …). */
export const PROFILE_LIMITS: FreeFormLimits = { depth: 4, bytes: 4096 };
/** What an agent's `configurations` may hold: mappings and counters, a few hundred bytes. */
export const AGENT_CONFIGURATION_LIMITS: FreeFormLimits = { depth: 4, bytes: 65536 };

/** Levels of nesting of a JSON value, counting no further than `limit + 1`. */
function depthOf(value: unknown, limit: number): number {
  if (value === null || typeof value !== 'object') return 0;
  if (limit < 0) return 1;
  let deepest = 0;
  for (const child of Object.values(value)) {
    deepest = Math.max(deepest, depthOf(child, limit - 1));
    if (deepest > limit) break;
  }
  return deepest + 1;
}

/** Refuses a dictionary nested deeper or serialised larger than `limits` (InvalidInput, 400). */
export function checkFreeForm(attr: string, value: unknown, limits: FreeFormLimits): void {
  if (value === null || value === undefined) return;
  if (depthOf(value, limits.depth) > limits.depth) {
    throw InvalidInput({ error_message: `'${attr}' is nested more than ${limits.depth} levels deep` });
  }
  if (Buffer.byteLength(JSON.stringify(value)) > limits.bytes) {
    throw InvalidInput({ error_message: `'${attr}' is larger than ${limits.bytes} bytes as JSON` });
  }
}
