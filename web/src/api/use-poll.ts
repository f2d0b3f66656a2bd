/**
 * Reading an API path again and again while a view shows it: traffic, load-balancer stats and
 * status, a port's drops, every port's rate. One request at once per view, none after unmount.
 */
import { useEffect, useState } from 'react';
import { type Api, messageOf } from './client.js';

/** How often a shown view rereads what the agents report (their status reports come every few seconds). */
export const POLL_MS = 5000;

/**
 * `path` read now and every `everyMs` while mounted (nothing while `api` is null): the latest
 * value and the latest error (cleared by the next success). A new path starts from nothing.
 */
export function usePoll<T>(
  api: Api | null,
  path: string,
  everyMs = POLL_MS,
): { value: T | null; error: string | null } {
  const [value, setValue] = useState<T | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    if (!api) return;
    let stopped = false;
    setValue(null);
    const read = () =>
      api.get<T>(path).then(
        (v) => {
          if (stopped) return;
          setValue(v);
          setError(null);
        },
        (err: unknown) => !stopped && setError(messageOf(err)),
      );
    void read();
    const timer = setInterval(() => void read(), everyMs);
    return () => {
      stopped = true;
      clearInterval(timer);
    };
  }, [api, path, everyMs]);
  return { value, error };
}
