/**
 * Reads and writes kernel parameters with `sysctl`; writes only ever happen inside a network
 * namespace, so Neutrino can never switch on forwarding (or anything else) for the host itself.
 */
import { assertNamespaceName, type NetnsOption, runInNamespace, runMaybeInNamespace } from './exec.js';

function assertKey(key: string): void {
  if (!/^[A-Za-z0-9_-]+([./][A-Za-z0-9_-]+)*$/.test(key))
    throw new Error(`invalid sysctl key ${JSON.stringify(key)}`);
}

/** Sets `key=value` inside namespace `ns` (`ip netns exec NS sysctl -w key=value`). */
export async function setSysctlInNamespace(ns: string, key: string, value: string | number): Promise<void> {
  await setSysctlsInNamespace(ns, { [key]: value });
}

/** Sets several `key=value` inside namespace `ns` with one `sysctl -w` process. */
export async function setSysctlsInNamespace(
  ns: string,
  values: Record<string, string | number>,
): Promise<void> {
  const keys = Object.keys(values);
  if (!ns)
    throw new Error(
      `refusing to set ${keys.join(' ')} without a namespace: the root namespace is not ours to change`,
    );
  assertNamespaceName(ns);
  const args = keys.map((key) => {
    assertKey(key);
    const text = String(values[key]);
    if (/[\n\r\0]/.test(text)) throw new Error(`invalid sysctl value ${JSON.stringify(text)}`);
    return `${key}=${text}`;
  });
  if (args.length > 0) await runInNamespace(ns, 'sysctl', ['-q', '-w', ...args]);
}

/** The current value of `key` (`sysctl -n key`), in `netns` or the root namespace. */
export async function readSysctl(key: string, options: NetnsOption = {}): Promise<string> {
  assertKey(key);
  const { stdout } = await runMaybeInNamespace(options.netns, 'sysctl', ['-n', key]);
  return stdout.trim();
}
