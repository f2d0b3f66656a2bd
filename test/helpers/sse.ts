/** Reads a server-sent event stream (the change feed) with fetch, for tests, with the dashboard's parser. */
import { setTimeout as sleep } from 'node:timers/promises';
import { parseSse, type SseEvent } from '../../web/src/api/change-feed.js';

export type { SseEvent };

/** An open SSE stream read with fetch: `until()` reads until a predicate holds on the events so far. */
export async function openFeed(base: string, path: string, headers: Record<string, string>) {
  const abort = new AbortController();
  const res = await fetch(`${base}${path}`, { headers, signal: abort.signal });
  const reader = res.body!.getReader();
  const decoder = new TextDecoder();
  const events: SseEvent[] = [];
  let buffer = '';
  let pending: ReturnType<typeof reader.read> | undefined;

  const parse = () => {
    const parsed = parseSse(buffer);
    events.push(...parsed.events);
    buffer = parsed.rest;
  };

  const until = async (done: (evs: SseEvent[]) => boolean, timeoutMs = 5000): Promise<SseEvent[]> => {
    const deadline = Date.now() + timeoutMs;
    while (!done(events)) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out; events so far: ${JSON.stringify(events)}`);
      pending ??= reader.read();
      const timer = sleep(left).then(() => 'timeout' as const);
      const r = await Promise.race([pending, timer]);
      if (r === 'timeout') continue;
      pending = undefined;
      if (r.done) throw new Error(`stream ended; events so far: ${JSON.stringify(events)}`);
      buffer += decoder.decode(r.value, { stream: true });
      parse();
    }
    return events;
  };

  return {
    status: res.status,
    headers: res.headers,
    events,
    until,
    close: () => {
      pending?.catch(() => undefined);
      abort.abort();
    },
  };
}
