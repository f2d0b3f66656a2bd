/**
 * Schema pieces every Neutron resource shares: the standard attributes and the small value
 * types (names, UUIDs, tags) that request bodies and responses are built from.
 */
import { type TProperties, Type } from 'typebox';

export const Uuid = Type.String({ maxLength: 64 });
export const Name = Type.String({ maxLength: 255 });
export const Description = Type.String({ maxLength: 255 });
export const ProjectId = Type.String({ maxLength: 255 });
export const Tag = Type.String({ minLength: 1, maxLength: 60, pattern: '^[^,/]*$' });
export const Tags = Type.Array(Tag, { maxItems: 50 });
export const Nullable = <T extends Parameters<typeof Type.Union>[0][number]>(t: T) =>
  Type.Union([t, Type.Null()]);

/** Standard attributes present on every resource in responses. */
export const Standard = {
  id: Uuid,
  name: Name,
  description: Description,
  project_id: ProjectId,
  tenant_id: ProjectId,
  tags: Tags,
  created_at: Type.String(),
  updated_at: Type.String(),
  revision_number: Type.Integer(),
};

/** Writable standard attributes of a create body. */
export const StandardCreate = {
  name: Type.Optional(Name),
  description: Type.Optional(Description),
  project_id: Type.Optional(ProjectId),
  tenant_id: Type.Optional(ProjectId),
  tags: Type.Optional(Tags),
};

export const StandardUpdate = {
  name: Type.Optional(Name),
  description: Type.Optional(Description),
};

/** A closed object: unknown attributes are rejected, never dropped. */
export const Closed = <P extends TProperties>(properties: P) =>
  Type.Object(properties, { additionalProperties: false });

/** `{member: body}` or, for bulk create, `{collection: [body, …]}` (exactly one of them). */
export function createEnvelope(member: string, collection: string, body: ReturnType<typeof Closed>) {
  return Type.Object(
    {
      [member]: Type.Optional(body),
      [collection]: Type.Optional(Type.Array(body, { minItems: 1, maxItems: 1000 })),
    },
    { additionalProperties: false, minProperties: 1, maxProperties: 1 },
  );
}

export function updateEnvelope(member: string, body: ReturnType<typeof Closed>) {
  return Type.Object({ [member]: body }, { additionalProperties: false, required: [member] });
}
