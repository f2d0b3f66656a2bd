/**
 * The answer of the trace API (`POST /neutrino/v1/trace`, see `src/model/trace.ts`) and how it
 * is shown: the verdict, the reason and the hops that explain it. Shared by the single trace and
 * the reachability matrix.
 */
import type { ReactNode } from 'react';

export const TRACE = '/neutrino/v1/trace';

/** `leaves_project`: a member's path meets another project's objects; the trace ends there. */
export type TraceVerdict = 'allowed' | 'denied' | 'unreachable' | 'leaves_project';

export interface TraceResult {
  verdict: TraceVerdict;
  hops: { step: string; object: { type: string; id: string; name: string }; detail: string; ok: boolean }[];
  reason?: string;
  source_ip?: string;
  destination_ip?: string;
}

export function TraceResultView({
  id,
  result,
  title,
}: {
  id: string;
  result: TraceResult;
  /** What follows the verdict in the heading: the addresses, or the pair. */
  title: ReactNode;
}) {
  return (
    <section className="trace-result" aria-labelledby={id}>
      <h3 id={id}>
        <span className={`status status-${result.verdict === 'allowed' ? 'ACTIVE' : 'ERROR'}`}>
          {result.verdict}
        </span>{' '}
        {title}
      </h3>
      {result.reason ? <p className="error">{result.reason}</p> : null}
      <ol className="trace-hops">
        {result.hops.map((hop) => (
          <li key={`${hop.step} ${hop.detail}`} className={hop.ok ? 'hop-ok' : 'hop-failed'}>
            <span aria-hidden="true">{hop.ok ? '✓' : '✗'}</span> <strong>{hop.step}</strong> {hop.detail}
            {hop.ok ? null : <span className="sr-only"> (the packet stops here)</span>}
          </li>
        ))}
      </ol>
    </section>
  );
}
