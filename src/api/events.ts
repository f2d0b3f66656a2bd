/**
 * The change feed over HTTP: `GET /neutrino/v1/events?since=REV` streams revision rows as
 * server-sent events (`id:` = revision). A follower whose `since` was pruned gets a `resync`
 * event and should reread everything. Wakeups come from the store after each commit.
 *
 * Admins see every change. A project-scoped token (the dashboard of a member or reader) sees
 * its project's changes and those of other projects' networks it can see (shared, external,
 * or shared with it by RBAC), including the update or delete that hides one again.
 */
import type { FastifyInstance } from 'fastify';
import { type Context, requireAdmin } from '../core/context.js';
import type { Networks } from '../core/networks.js';
import type { Revision, Store } from '../store/store.js';
import { contextOf } from './auth.js';

const HEARTBEAT_MS = 15_000;

/**
 * Which changes a follower may see; keeps the foreign networks it was shown, to show their end.
 * Rows up to the revision the follower's first look at the networks reflects are judged by that
 * look: the stream may reach them only after later changes, and judging a network's create by its
 * state after it was unshared would hide the update that unshared it.
 */
async function followerFilter(
  ctx: Context,
  networks: Networks,
  store: Store,
): Promise<(r: Revision) => Promise<boolean>> {
  if (ctx.isAdmin) return async () => true;
  if (ctx.projectId === null) requireAdmin(ctx, 'get_events');
  const looked = await store.latestRevision();
  const foreign = new Set(
    (await networks.list(ctx, { filters: {} }))
      .filter((n) => n.project_id !== ctx.projectId)
      .map((n) => String(n.id)),
  );
  return async (r) => {
    if (r.project_id === ctx.projectId) return true;
    if (r.resource !== 'networks') return false;
    const wasShown = foreign.has(r.resource_id);
    if (r.revision <= looked) return wasShown;
    const visible =
      r.op !== 'delete' &&
      (await networks.get(ctx, r.resource_id).then(
        () => true,
        () => false,
      ));
    if (visible) foreign.add(r.resource_id);
    else foreign.delete(r.resource_id);
    return visible || wasShown;
  };
}

export function registerEvents(app: FastifyInstance, store: Store, networks: Networks): void {
  // Followers stay connected for ever; close() would wait for them unless we end their streams.
  const streams = new Set<() => void>();
  app.addHook('preClose', async () => {
    for (const end of streams) end();
  });

  app.get('/neutrino/v1/events', async (req, reply) => {
    const visible = await followerFilter(contextOf(req), networks, store);
    const q = req.query as { since?: string };
    const lastEventId = req.headers['last-event-id'];
    let since = Number(
      q.since ??
        (typeof lastEventId === 'string' ? lastEventId : undefined) ??
        (await store.latestRevision()),
    );
    if (!Number.isFinite(since)) since = 0;

    reply.hijack();
    const res = reply.raw;
    let closed = false;
    let unfollow = () => {};
    let heartbeat: NodeJS.Timeout | undefined;
    // Registered before any await, so a follower that leaves early is never leaked.
    const stop = () => {
      if (closed) return;
      closed = true;
      streams.delete(stop);
      unfollow();
      clearInterval(heartbeat);
      res.end();
    };
    streams.add(stop);
    res.on('close', stop);
    if (!res.socket || res.socket.destroyed) return stop();
    res.writeHead(200, {
      'content-type': 'text/event-stream',
      'cache-control': 'no-cache',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    });
    res.write(`retry: 1000\n\n`);

    const oldest = await store.oldestRevision();
    if (closed) return;
    if (since > 0 && oldest > since + 1) {
      res.write(`event: resync\ndata: {"oldest":${oldest}}\n\n`);
      since = oldest - 1;
    }

    let sending = false;
    let again = false;
    const pump = async () => {
      if (sending) {
        again = true;
        return;
      }
      sending = true;
      try {
        do {
          again = false;
          for (;;) {
            const batch = await store.revisionsSince(since, 500);
            if (closed) return;
            for (const r of batch) {
              since = r.revision;
              if (!(await visible(r)) || closed) continue;
              res.write(`id: ${r.revision}\nevent: change\ndata: ${JSON.stringify(r)}\n\n`);
            }
            if (batch.length < 500) break;
          }
        } while (again && !closed);
      } catch (err) {
        req.log.warn({ err }, 'event stream failed');
        res.destroy();
      } finally {
        sending = false;
      }
    };
    unfollow = store.follow(() => void pump());
    heartbeat = setInterval(() => res.write(': keepalive\n\n'), HEARTBEAT_MS);
    await pump();
  });
}
