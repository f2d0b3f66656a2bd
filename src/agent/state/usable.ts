/**
 * Whether an object of the host snapshot may be realised: it fits its schema in `model/host-snapshot.ts`
 * (ids that become kernel names, MACs, DNS names…). The server validates what it stores; this guards
 * the kernel against a snapshot that does not (an older or a broken server), object by object, so one
 * bad object is a problem reported and the others are still realised.
 */
import type { TSchema } from 'typebox';
import { Compile, type Validator } from 'typebox/compile';

const validators = new WeakMap<TSchema, Validator>();

/** Why `value` does not fit `schema` (its first error, one line), or undefined when it fits. */
export function unusable(schema: TSchema, value: unknown): string | undefined {
  let validator = validators.get(schema);
  if (!validator) {
    validator = Compile(schema);
    validators.set(schema, validator);
  }
  if (validator.Check(value)) return undefined;
  const [first] = validator.Errors(value);
  if (!first) return 'invalid';
  const path = first.instancePath.split('/').slice(1);
  if (first.keyword === 'required') {
    const missing = (first.params as { requiredProperties?: string[] }).requiredProperties ?? [];
    return `missing ${missing.map((m) => [...path, m].join('.')).join(', ')}`;
  }
  let at: unknown = value;
  for (const key of path) at = (at as Record<string, unknown> | undefined)?.[key];
  return `invalid ${path.length ? path.join('.') : 'value'} ${JSON.stringify(at) ?? 'absent'}`;
}
