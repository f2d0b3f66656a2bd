/**
 * Following the change feed (`GET /neutrino/v1/events`, server-sent events). EventSource cannot
 * send `X-Auth-Token`, so the stream is read with fetch() and a ReadableStream reader, parsed
 * here, and resumed after the last revision when the connection drops. Events only say what
 * changed; the caller rereads the state it shows.
 */

export interface Change {
  revision: number;
  resource: string;
  resource_id: string;
  op: 'create' | 'update' | 'delete';
  project_id: string;
}

export interface SseEvent {
  id?: string;
  event: string;
  data: string;
}

/** Splits complete events off the front of `buffer`; returns them and what is left. */
export function parseSse(buffer: string): { events: SseEvent[]; rest: string } {
  const events: SseEvent[] = [];
  const text = buffer.replace(/\r\n?/g, '\n');
  let start = 0;
  for (let end = text.indexOf('\n\n'); end >= 0; end = text.indexOf('\n\n', start)) {
    const block = text.slice(start, end);
    start = end + 2;
    const ev: SseEvent = { event: 'message', data: '' };
    let hasData = false;
    for (const line of block.split('\n')) {
      if (line === '' || line.startsWith(':')) continue;
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
  return { events, rest: text.slice(start) };
}

export interface FeedHandlers {
  /** The stream is open (again): everything after this moment will arrive as changes. */
  onOpen(): void;
  onChange(change: Change): void;
  /** The server pruned revisions this follower had not read: reread everything. */
  onResync(): void;
  /** The feed is not available to this token (403/404): the caller falls back to polling. */
  onUnavailable(status: number): void;
  onUnauthorized(): void;
}

const RETRY_MIN_MS = 500;
const RETRY_MAX_MS = 10_000;

/** Follows the feed until the returned function is called. */
export function followChanges(token: string, handlers: FeedHandlers): () => void {
  const abort = new AbortController();
  let last: string | undefined;
  let retry = RETRY_MIN_MS;

  const connect = async (): Promise<void> => {
    const url = last === undefined ? '/neutrino/v1/events' : `/neutrino/v1/events?since=${last}`;
    const res = await fetch(url, {
      headers: { 'x-auth-token': token, accept: 'text/event-stream' },
      signal: abort.signal,
      cache: 'no-store',
    });
    if (res.status === 401) {
      handlers.onUnauthorized();
      abort.abort();
      return;
    }
    if (res.status === 403 || res.status === 404) {
      handlers.onUnavailable(res.status);
      abort.abort();
      return;
    }
    if (!res.ok || !res.body) throw new Error(`change feed: HTTP ${res.status}`);
    handlers.onOpen();
    retry = RETRY_MIN_MS;
    const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      const parsed = parseSse(buffer + value);
      buffer = parsed.rest;
      for (const ev of parsed.events) {
        if (ev.id !== undefined) last = ev.id;
        if (ev.event === 'change') handlers.onChange(JSON.parse(ev.data) as Change);
        else if (ev.event === 'resync') handlers.onResync();
      }
    }
  };

  void (async () => {
    while (!abort.signal.aborted) {
      try {
        await connect();
      } catch {
        // dropped or refused: try again below
      }
      if (abort.signal.aborted) return;
      await new Promise((r) => setTimeout(r, retry));
      retry = Math.min(retry * 2, RETRY_MAX_MS);
    }
  })();
  return () => abort.abort();
}
