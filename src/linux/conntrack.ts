/**
 * Connection tracking (`conntrack`): deleting the entries of an address inside a namespace, so that
 * established flows through NAT that no longer applies are cut at once instead of living on; and
 * deleting many sets of entries by one process (security groups, in the root namespace).
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CommandError, runInNamespace, runMaybeInNamespace } from './exec.js';

/**
 * Deletes, in namespace `netns`, the IPv4 connections addressed to `ip` (original destination: flows
 * DNATed from it) and those whose replies go to it (reply destination: flows SNATed to it).
 */
export async function deleteConnectionsOf(netns: string, ip: string): Promise<void> {
  for (const filter of ['--orig-dst', '--reply-dst']) {
    const args = ['-D', filter, ip];
    const { code, stdout, stderr } = await runInNamespace(netns, 'conntrack', args, { allowFail: true });
    // conntrack exits 1 when nothing matched.
    if (code !== 0 && !/0 flow entries have been deleted/.test(stderr))
      throw new CommandError('conntrack', args, code, stderr, stdout);
  }
}

/** Which connections to delete: those of `zone` and `family` matching every field given. */
export interface ConnectionFilter {
  zone: number;
  family: 'ipv4' | 'ipv6';
  /** conntrack's name (`tcp`, `icmpv6`…) or number; undefined = any. */
  protocol?: string;
  /** The original direction's source and destination addresses. */
  src?: string;
  dst?: string;
}

interface Connection {
  family: 'ipv4' | 'ipv6';
  protocol: string;
  number: string;
  zone: number;
  src: string;
  dst: string;
}

/** `conntrack -L -o extended` lines: `ipv4 2 tcp 6 117 ESTABLISHED src=… dst=… … zone=7 use=1`. */
function parseConnections(text: string): Connection[] {
  const out: Connection[] = [];
  for (const line of text.split('\n')) {
    const fields = line.trim().split(/\s+/);
    if (fields.length < 6 || (fields[0] !== 'ipv4' && fields[0] !== 'ipv6')) continue;
    const value = (key: string) => fields.find((f) => f.startsWith(`${key}=`))?.slice(key.length + 1);
    const src = value('src');
    const dst = value('dst');
    if (!src || !dst) continue;
    out.push({
      family: fields[0],
      protocol: fields[2],
      number: fields[3],
      zone: Number(value('zone') ?? 0),
      src,
      dst,
    });
  }
  return out;
}

function matches(c: Connection, f: ConnectionFilter): boolean {
  return (
    c.zone === f.zone &&
    c.family === f.family &&
    (f.protocol === undefined || f.protocol === c.protocol || f.protocol === c.number) &&
    (f.src === undefined || f.src === c.src) &&
    (f.dst === undefined || f.dst === c.dst)
  );
}

/**
 * Deletes the connections any of `filters` matches (in `netns` when given). `conntrack -D` walks
 * the whole table once per filter (~3 ms each here), so the table is listed once per family, matched here, and only the
 * (zone, protocol, source, destination) of what matched is deleted, by one `conntrack -R` process
 * reading a temporary file (it cannot read Node's stdin socket).
 */
export async function deleteConnections(
  filters: readonly ConnectionFilter[],
  netns?: string,
): Promise<number> {
  if (filters.length === 0) return 0;
  const families = [...new Set(filters.map((f) => f.family))];
  const listed = await Promise.all(
    families.map((family) =>
      runMaybeInNamespace(netns, 'conntrack', ['-L', '-f', family, '-o', 'extended'], { allowFail: true }),
    ),
  );
  const lines = new Set<string>();
  for (const c of listed.flatMap((l) => parseConnections(l.stdout)))
    if (filters.some((f) => matches(c, f)))
      lines.add(`-D -w ${c.zone} -f ${c.family} -p ${c.number} -s ${c.src} -d ${c.dst}`);
  if (lines.size === 0) return 0;
  const dir = await mkdtemp(join(tmpdir(), 'neutrino-conntrack-'));
  try {
    const file = join(dir, 'delete');
    await writeFile(file, [...lines].map((l) => `${l}\n`).join(''), { mode: 0o600 });
    await runMaybeInNamespace(netns, 'conntrack', ['-R', file]);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  return lines.size;
}
