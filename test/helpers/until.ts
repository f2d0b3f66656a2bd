/** Polls `check` until it answers something truthy, failing the test after `timeoutMs`. */
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';

export async function until<T>(
  what: string,
  check: () => Promise<T | undefined | false>,
  timeoutMs = 20_000,
  intervalMs = 100,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    assert.ok(Date.now() < deadline, `timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(intervalMs);
  }
}
