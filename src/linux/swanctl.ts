/**
 * `swanctl`, strongSwan's client of one charon's vici socket (`linux/strongswan.ts` names it): the
 * security associations it holds, initiating a connection's child (which brings its IKE SA up
 * first) and terminating an IKE SA. The socket is a file: no namespace needs entering.
 */
import { run } from './exec.js';
import { type StrongswanFiles, SWANCTL, viciUri } from './strongswan.js';

/** One IKE SA as `--list-sas --raw` shows it: its connection's name, state, and installed children. */
export interface SecurityAssociation {
  name: string;
  state: string;
  /** The names of its CHILD SAs in state INSTALLED. */
  installed: string[];
}

/** Parses `swanctl --list-sas --raw` (one `list-sa event {NAME {…}}` line per IKE SA). */
export function parseListSas(text: string): SecurityAssociation[] {
  const out: SecurityAssociation[] = [];
  for (const line of text.split('\n')) {
    const head = /^list-sa event \{(\S+) \{/.exec(line);
    if (!head) continue;
    const [ike, children = ''] = line.split(' child-sas {');
    const installed = [...children.matchAll(/\{name=(\S+) [^{}]*?state=INSTALLED/g)].map((m) => m[1]);
    out.push({ name: head[1], state: /\bstate=(\S+)/.exec(ike)?.[1] ?? 'UNKNOWN', installed });
  }
  return out;
}

/** The IKE SAs of this charon; throws when it does not answer. */
export async function listSas(files: StrongswanFiles): Promise<SecurityAssociation[]> {
  const { stdout } = await run(SWANCTL, ['--list-sas', '--raw', '--noblock', '--uri', viciUri(files)], {
    timeoutMs: 5_000,
  });
  return parseListSas(stdout);
}

/**
 * Initiates child `child` (and its IKE SA), waiting `timeoutS` at most; charon goes on negotiating
 * after a timeout. Resolves with whether it completed and what charon logged meanwhile.
 */
export async function initiate(
  files: StrongswanFiles,
  child: string,
  timeoutS: number,
): Promise<{ ok: boolean; log: string }> {
  const { code, stdout, stderr } = await run(
    SWANCTL,
    ['--initiate', '--child', child, '--timeout', String(timeoutS), '--uri', viciUri(files)],
    { allowFail: true, timeoutMs: (timeoutS + 5) * 1000 },
  );
  return { ok: code === 0, log: `${stdout}\n${stderr}` };
}

/** Ends IKE SA `name` (and its children) at once, without waiting for the peer. */
export async function terminateIke(files: StrongswanFiles, name: string): Promise<void> {
  await run(SWANCTL, ['--terminate', '--ike', name, '--force', '--timeout', '2', '--uri', viciUri(files)], {
    allowFail: true,
    timeoutMs: 5_000,
  });
}
