/**
 * Tags on any resource (the standard-attr-tag extension): replace all, add one, remove one,
 * remove all. A tag change is an update of the resource (its revision number grows).
 */
import { getResource, updateResource } from '../store/resources.js';
import type { Store } from '../store/store.js';
import { type Context, owns, requireWriter } from './context.js';
import { BadRequest, PolicyNotAuthorized, TagNotFound } from './errors.js';
import type { ResourceService } from './resource.js';

const MAX_TAG_LENGTH = 60;
/** Neutron's MAX_TAGS_COUNT: tags one resource may carry. */
const MAX_TAGS = 50;

export function validateTag(tag: string): void {
  if (tag.length === 0 || tag.length > MAX_TAG_LENGTH || tag.includes(',') || tag.includes('/')) {
    throw BadRequest({ resource: 'tag', msg: `'${tag}' is not a valid tag` });
  }
}

export async function changeTags(
  store: Store,
  service: ResourceService,
  ctx: Context,
  id: string,
  change: (tags: string[]) => string[],
): Promise<string[]> {
  const view = await service.show(ctx, id);
  requireWriter(ctx, `update_${service.table}_tags`);
  if (!owns(ctx, view.project_id)) throw PolicyNotAuthorized({ action: `update_${service.table}_tags` });
  return store.transaction(async (tx) => {
    const current = await getResource(tx, service.table, id);
    if (!current) return service.show(ctx, id).then(() => []);
    const before = Array.isArray(current.tags) ? (current.tags as string[]) : [];
    const after = [...new Set(change(before))];
    if (after.length !== before.length || after.some((t, i) => t !== before[i])) {
      if (after.length > MAX_TAGS) {
        throw BadRequest({
          resource: service.table,
          msg: `The number of tags exceed the per-resource limit of ${MAX_TAGS}`,
        });
      }
      await updateResource(tx, service.table, current, { ...current, tags: after });
    }
    return after;
  });
}

export function requireTag(tags: string[], tag: string, resource: string, resourceId: string): void {
  if (!tags.includes(tag)) throw TagNotFound({ tag, resource, resource_id: resourceId });
}
