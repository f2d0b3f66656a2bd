/** Reads a server-sent event stream (the change feed) with fetch, for tests. */
import { setTimeout as sleep } from 'node:timers/promises';

export interface SseEvent {
  id?: string;
  event: string;
  data: string;
}

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
    for (let end = buffer.indexOf('\n\n'); end >= 0; end = buffer.indexOf('\n\n')) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const ev: SseEvent = { event: 'message', data: '' };
      let hasData = false;
      for (const line of block.split('\n')) {
        if (line.startsWith(':')) continue;
        const colon = line.indexOf(':');
        const field = colon < 0 ? line : line.slice(0, colon);
        const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
        if (field === 'id') ev.id = value;
        else if (field === 'event') ev.event = value;
        else if (field === 'data') {
          ev.data = hasData ? `${ev.data}\n${value}` : value;
          hasData = true;
        }
      }
      if (hasData) events.push(ev);
    }
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
