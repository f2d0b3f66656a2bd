/**
 * The reachability matrix: the trace verdict (`POST /neutrino/v1/trace`) for every ordered pair
 * of the project's instances — for admins, those of the project chosen in the toolbar — by icmp
 * or tcp to a port. Rows are sources, columns destinations, as in `neutrino check`; the traces
 * run a few at a time. Every cell is a button labelled with its pair and verdict (a symbol and a
 * word, not colour alone); pressing it shows that trace's hops. This is the model's expectation
 * only: `neutrino check` on the host also sends real packets.
 */
import { useEffect, useMemo, useRef, useState } from 'react';
import { messageOf } from '../api/client.js';
import { Form, SelectField, TextField, useAction } from '../ui/form.js';
import { rows, useApp } from './app-context.js';
import { TRACE, type TraceResult, TraceResultView, type TraceVerdict } from './trace-result.js';

/** Traces in flight at once. */
const CONCURRENCY = 6;
/** At most this many instances (n·(n−1) traces); more asks for a narrower project. */
const MAX_INSTANCES = 16;

const SYMBOL: Record<TraceVerdict, string> = {
  allowed: '✓',
  denied: '✗',
  unreachable: '–',
  leaves_project: '?',
};

type Cell =
  | { state: 'pending' }
  | { state: 'done'; result: TraceResult }
  | { state: 'failed'; message: string };

interface Endpoint {
  id: string;
  name: string;
}

interface Matrix {
  instances: Endpoint[];
  protocol: 'icmp' | 'tcp';
  port?: number;
  /** By `${source id} ${destination id}`. */
  cells: Record<string, Cell>;
}

const pairKey = (from: Endpoint, to: Endpoint) => `${from.id} ${to.id}`;
const what = (m: Pick<Matrix, 'protocol' | 'port'>) => (m.protocol === 'tcp' ? `tcp port ${m.port}` : 'icmp');

/** Runs `fn` over `items`, `limit` at a time, until done or `stopped()`. */
async function eachLimited<T>(
  items: T[],
  limit: number,
  fn: (item: T) => Promise<void>,
  stopped: () => boolean,
) {
  let next = 0;
  const worker = async () => {
    while (next < items.length && !stopped()) await fn(items[next++]);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

export function ReachabilityView({ disabled, projectFilter }: { disabled: boolean; projectFilter: string }) {
  const { cloud, state } = useApp();
  const { busy, errors, run, setErrors } = useAction();
  const [protocol, setProtocol] = useState<'icmp' | 'tcp'>('icmp');
  const [port, setPort] = useState('22');
  const [matrix, setMatrix] = useState<Matrix | null>(null);
  const [selected, setSelected] = useState<string | null>(null);
  const running = useRef<AbortController | null>(null);
  useEffect(() => () => running.current?.abort(), []);

  const all = rows(state, 'instances');
  const instances = useMemo(
    () =>
      all
        .filter((i) => !projectFilter || i.project_id === projectFilter)
        .map((i) => ({ id: i.id, name: i.name || i.id.slice(0, 8) }))
        .sort((a, b) => a.name.localeCompare(b.name) || a.id.localeCompare(b.id)),
    [all, projectFilter],
  );
  const shown = instances.slice(0, MAX_INSTANCES);

  const check = () =>
    run(async () => {
      let portNumber: number | undefined;
      if (protocol === 'tcp') {
        portNumber = Number(port);
        if (!Number.isInteger(portNumber) || portNumber < 1 || portNumber > 65535) {
          setErrors({ port: 'A port is a whole number from 1 to 65535.' });
          return;
        }
      }
      running.current?.abort();
      const controller = new AbortController();
      running.current = controller;
      const pairs = shown.flatMap((from) => shown.filter((to) => to.id !== from.id).map((to) => [from, to]));
      setSelected(null);
      setMatrix({
        instances: shown,
        protocol,
        port: portNumber,
        cells: Object.fromEntries(pairs.map(([from, to]) => [pairKey(from, to), { state: 'pending' }])),
      });
      const body = { protocol, ...(portNumber ? { port: portNumber } : {}) };
      await eachLimited(
        pairs,
        CONCURRENCY,
        async ([from, to]) => {
          let cell: Cell;
          try {
            const result = await cloud.api.request<TraceResult>(
              'POST',
              TRACE,
              { source: from.id, destination: to.id, ...body },
              controller.signal,
            );
            cell = { state: 'done', result };
          } catch (err) {
            cell = { state: 'failed', message: messageOf(err) };
          }
          if (controller.signal.aborted) return;
          setMatrix((m) => (m ? { ...m, cells: { ...m.cells, [pairKey(from, to)]: cell } } : m));
        },
        () => controller.signal.aborted,
      );
    });

  const cells = matrix ? Object.values(matrix.cells) : [];
  const count = (v: TraceVerdict) => cells.filter((c) => c.state === 'done' && c.result.verdict === v).length;
  const traced = cells.filter((c) => c.state !== 'pending').length;
  const failed = cells.filter((c) => c.state === 'failed').length;
  const chosen = matrix && selected ? matrix.cells[selected] : undefined;
  const [chosenFrom, chosenTo] = selected?.split(' ') ?? [];
  const nameOf = (id: string) => matrix?.instances.find((i) => i.id === id)?.name ?? id;

  return (
    <section className="reachability" aria-labelledby="reach-title">
      <h3 id="reach-title">Reachability</h3>
      <p className="note">
        What the <strong>model</strong> expects for every pair of{' '}
        {projectFilter ? 'the chosen project’s' : 'these'} instances — the verdict of a trace from each row’s
        instance to each column’s, as <code>neutrino trace</code> gives it. It sends no packet.{' '}
        <code>neutrino check</code>, run as root on the host, also probes each pair with real packets and
        reports where reality disagrees.
      </p>
      <fieldset disabled={disabled} className="plain-fieldset">
        <Form
          id="reach"
          title="Check every pair"
          submit="Check reachability"
          busy={busy}
          error={errors.form}
          onSubmit={() => void check()}
        >
          <SelectField
            id="reach-protocol"
            label="Protocol"
            value={protocol}
            onChange={(v) => setProtocol(v === 'tcp' ? 'tcp' : 'icmp')}
            options={['icmp', 'tcp'].map((p) => ({ value: p, label: p }))}
          />
          {protocol === 'tcp' ? (
            <TextField
              id="reach-port"
              label="Port"
              type="number"
              value={port}
              onChange={setPort}
              error={errors.port}
            />
          ) : null}
          <p className="hint">
            {instances.length < 2
              ? 'Needs two instances or more.'
              : instances.length > MAX_INSTANCES
                ? `${instances.length} instances: the first ${MAX_INSTANCES} by name are checked${
                    projectFilter ? '' : '; choose a project to narrow them'
                  }.`
                : `${instances.length} instances, ${instances.length * (instances.length - 1)} traces.`}
          </p>
        </Form>
      </fieldset>
      {matrix ? (
        <>
          <p role="status" className="reach-summary">
            {traced < cells.length
              ? `Traced ${traced} of ${cells.length} pairs (${what(matrix)})…`
              : `${cells.length} pairs traced (${what(matrix)}): ${count('allowed')} allowed, ${count('denied')} denied, ${count('unreachable')} unreachable${count('leaves_project') ? `, ${count('leaves_project')} leaving your project` : ''}${failed ? `, ${failed} failed` : ''}.`}
          </p>
          <p className="hint">
            Rows are sources, columns destinations: ✓ allowed, ✗ denied, – unreachable, ? leaves your project.
          </p>
          <div className="table-wrap">
            <table className="reach-matrix">
              <caption>Model verdicts, {what(matrix)}</caption>
              <thead>
                <tr>
                  <th scope="col">from \ to</th>
                  {matrix.instances.map((to) => (
                    <th key={to.id} scope="col">
                      {to.name}
                    </th>
                  ))}
                </tr>
              </thead>
              <tbody>
                {matrix.instances.map((from) => (
                  <tr key={from.id}>
                    <th scope="row">{from.name}</th>
                    {matrix.instances.map((to) => {
                      if (to.id === from.id)
                        return (
                          <td key={to.id} className="reach-self">
                            <span aria-hidden="true">·</span>
                            <span className="sr-only">same instance</span>
                          </td>
                        );
                      const key = pairKey(from, to);
                      const cell = matrix.cells[key];
                      const status =
                        cell.state === 'done'
                          ? cell.result.verdict
                          : cell.state === 'failed'
                            ? 'failed'
                            : 'tracing';
                      return (
                        <td key={to.id}>
                          <button
                            type="button"
                            className={`reach-cell reach-${status}`}
                            aria-label={`${from.name} to ${to.name}, ${what(matrix)}: ${status}`}
                            aria-pressed={selected === key}
                            aria-controls="reach-detail"
                            disabled={cell.state === 'pending'}
                            title={
                              cell.state === 'failed'
                                ? cell.message
                                : cell.state === 'done'
                                  ? cell.result.reason
                                  : undefined
                            }
                            onClick={() => setSelected(selected === key ? null : key)}
                          >
                            <span aria-hidden="true">
                              {cell.state === 'done'
                                ? SYMBOL[cell.result.verdict]
                                : cell.state === 'failed'
                                  ? '!'
                                  : '…'}
                            </span>{' '}
                            {status}
                          </button>
                        </td>
                      );
                    })}
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
          <div id="reach-detail">
            {chosen?.state === 'done' ? (
              <TraceResultView
                id="reach-verdict"
                result={chosen.result}
                title={`${nameOf(chosenFrom)} → ${nameOf(chosenTo)}, ${what(matrix)} (${chosen.result.source_ip ?? ''} → ${chosen.result.destination_ip ?? ''})`}
              />
            ) : chosen?.state === 'failed' ? (
              <p className="error">
                {nameOf(chosenFrom)} → {nameOf(chosenTo)}: the trace failed: {chosen.message}
              </p>
            ) : null}
          </div>
        </>
      ) : null}
    </section>
  );
}
