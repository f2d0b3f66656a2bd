/**
 * Live traffic: a port's, an instance's or a router's throughput as its hosts report it
 * (`GET /neutrino/v1/{ports,instances,routers}/{id}/stats`, reread every 5 s while shown), drawn
 * as two sparklines (received, sent) over the last minutes with the current rates; and the rates
 * of every visible port (`GET /neutrino/v1/port-rates`) for the topology's line emphasis.
 */
import { useEffect, useState } from 'react';
import type { Api } from '../api/client.js';
import { messageOf } from '../api/client.js';
import { useApp } from './app-context.js';

export const TRAFFIC_POLL_MS = 5000;
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
  const [latest, setLatest] = useState<Rates | null>(null);
  const [history, setHistory] = useState<{ rx: number[]; tx: number[] }>({ rx: [], tx: [] });
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    let stopped = false;
    let last = '';
    setHistory({ rx: [], tx: [] });
    const read = () =>
      cloud.api.get<Record<string, Rates>>(`/neutrino/v1/${kind}/${id}/stats`).then(
        (body) => {
          if (stopped) return;
          const stats = body[KEYS[kind]];
          setLatest(stats);
          setError(null);
          // One sample per report: the same report read twice is not a new point.
          const stamp = JSON.stringify([stats.updated_at, stats.rx_bytes, stats.tx_bytes]);
          if (stamp === last || stats.rx_bps === null || stats.tx_bps === null) return;
          last = stamp;
          setHistory((h) => ({
            rx: [...h.rx, stats.rx_bps ?? 0].slice(-HISTORY),
            tx: [...h.tx, stats.tx_bps ?? 0].slice(-HISTORY),
          }));
        },
        (err: unknown) => !stopped && setError(messageOf(err)),
      );
    void read();
    const timer = setInterval(() => void read(), TRAFFIC_POLL_MS);
    return () => {
      stopped = true;
      clearInterval(timer);
    };
  }, [cloud, kind, id]);
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
  const [rates, setRates] = useState<ReadonlyMap<string, number>>(new Map());
  useEffect(() => {
    if (!api) return;
    let stopped = false;
    const read = () =>
      api
        .get<{ port_rates: { port_id: string; rx_bps: number | null; tx_bps: number | null }[] }>(
          '/neutrino/v1/port-rates',
        )
        .then(
          ({ port_rates }) => {
            if (stopped) return;
            setRates(new Map(port_rates.map((r) => [r.port_id, (r.rx_bps ?? 0) + (r.tx_bps ?? 0)])));
          },
          () => undefined,
        );
    void read();
    const timer = setInterval(() => void read(), TRAFFIC_POLL_MS);
    return () => {
      stopped = true;
      clearInterval(timer);
    };
  }, [api]);
  return rates;
}

/** A line's width for a rate: 1.5 px idle, growing with the rate's order of magnitude to 7 px. */
export function lineWidth(bps: number | undefined): number {
  if (!bps || bps < 1000) return 1.5;
  return Math.min(7, 1.5 + (Math.log10(bps) - 3) * 0.9);
}
