/**
 * Live traffic: a port's, an instance's or a router's throughput as its hosts report it
 * (`GET /neutrino/v1/{ports,instances,routers}/{id}/stats`, reread every 5 s while shown), drawn
 * as two sparklines (received, sent) over the last minutes with the current rates; and the rates
 * of every visible port (`GET /neutrino/v1/port-rates`) for the topology's line emphasis.
 */
import { useEffect, useMemo, useRef, useState } from 'react';
import type { Api } from '../api/client.js';
import { usePoll } from '../api/use-poll.js';
import { useApp } from './app-context.js';

/** Samples a sparkline keeps: 5 minutes at one per report. */
const HISTORY = 60;

interface Rates {
  rx_bps: number | null;
  tx_bps: number | null;
  rx_bytes: number;
  tx_bytes: number;
  updated_at?: string | null;
}

type Kind = 'ports' | 'instances' | 'routers';
const KEYS: Record<Kind, string> = {
  ports: 'port_stats',
  instances: 'instance_stats',
  routers: 'router_stats',
};

/** `12.3 Mbit/s`, `-` when unknown. */
export function formatRate(bps: number | null | undefined): string {
  if (bps === null || bps === undefined) return '–';
  const units = ['bit/s', 'kbit/s', 'Mbit/s', 'Gbit/s'];
  let value = bps;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit++;
  }
  return `${unit === 0 ? Math.round(value) : value.toFixed(1)} ${units[unit]}`;
}

/** The SVG path of `values` scaled into a `width`×`height` box (the largest value at the top). */
export function sparkPath(values: readonly number[], width: number, height: number, max: number): string {
  if (values.length === 0) return '';
  const step = values.length > 1 ? width / (HISTORY - 1) : 0;
  const x0 = width - step * (values.length - 1);
  return values
    .map(
      (v, i) =>
        `${i === 0 ? 'M' : 'L'}${(x0 + i * step).toFixed(1)},${(height - (v / max) * (height - 2) - 1).toFixed(1)}`,
    )
    .join(' ');
}

function Sparkline({ rx, tx }: { rx: number[]; tx: number[] }) {
  const width = 180;
  const height = 36;
  const max = Math.max(1, ...rx, ...tx);
  return (
    <svg
      className="sparkline"
      width={width}
      height={height}
      role="img"
      aria-label="Throughput, last 5 minutes"
    >
      <path d={sparkPath(rx, width, height, max)} className="spark-rx" fill="none" />
      <path d={sparkPath(tx, width, height, max)} className="spark-tx" fill="none" />
    </svg>
  );
}

/** The throughput of one port, instance or router, read every 5 s while it is shown. */
export function Traffic({ kind, id }: { kind: Kind; id: string }) {
  const { cloud } = useApp();
  const { value, error } = usePoll<Record<string, Rates>>(cloud.api, `/neutrino/v1/${kind}/${id}/stats`);
  const latest = value?.[KEYS[kind]] ?? null;
  const [history, setHistory] = useState<{ rx: number[]; tx: number[] }>({ rx: [], tx: [] });
  const last = useRef('');
  // Another object starts a history of its own.
  // biome-ignore lint/correctness/useExhaustiveDependencies: reset when the object shown changes
  useEffect(() => {
    last.current = '';
    setHistory({ rx: [], tx: [] });
  }, [kind, id]);
  useEffect(() => {
    if (!latest || latest.rx_bps === null || latest.tx_bps === null) return;
    // One sample per report: the same report read twice is not a new point.
    const stamp = JSON.stringify([latest.updated_at, latest.rx_bytes, latest.tx_bytes]);
    if (stamp === last.current) return;
    last.current = stamp;
    setHistory((h) => ({
      rx: [...h.rx, latest.rx_bps ?? 0].slice(-HISTORY),
      tx: [...h.tx, latest.tx_bps ?? 0].slice(-HISTORY),
    }));
  }, [latest]);
  if (error) return <p className="muted">Traffic: {error}</p>;
  if (!latest) return <p className="muted">Traffic: reading…</p>;
  return (
    <section className="traffic" aria-label="Traffic">
      <Sparkline rx={history.rx} tx={history.tx} />
      <p className="traffic-rates">
        Traffic: <span className="spark-rx-key">in {formatRate(latest.rx_bps)}</span>
        {' · '}
        <span className="spark-tx-key">out {formatRate(latest.tx_bps)}</span>
      </p>
    </section>
  );
}

/** Every visible port's current rate (received + sent, bit/s), reread every 5 s. */
export function usePortRates(api: Api | null): ReadonlyMap<string, number> {
  const { value } = usePoll<{
    port_rates: { port_id: string; rx_bps: number | null; tx_bps: number | null }[];
  }>(api, '/neutrino/v1/port-rates');
  return useMemo(
    () => new Map((value?.port_rates ?? []).map((r) => [r.port_id, (r.rx_bps ?? 0) + (r.tx_bps ?? 0)])),
    [value],
  );
}

/** A line's width for a rate: 1.5 px idle, growing with the rate's order of magnitude to 7 px. */
export function lineWidth(bps: number | undefined): number {
  if (!bps || bps < 1000) return 1.5;
  return Math.min(7, 1.5 + (Math.log10(bps) - 3) * 0.9);
}
