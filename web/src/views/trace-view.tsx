/**
 * Troubleshooting: asks the server to trace a packet (`POST /neutrino/v1/trace`) from an
 * instance to an instance or an address, and shows the verdict with the hops that explain it;
 * below, the reachability matrix of the project's instances (`reachability.tsx`).
 * Servers without the trace API answer 404; then the forms are shown disabled with a note.
 */
import { useEffect, useState } from 'react';
import { ApiError } from '../api/client.js';
import { Form, SelectField, TextField, useAction } from '../ui/form.js';
import { rows, useApp } from './app-context.js';
import { ReachabilityView } from './reachability.js';
import { TRACE, type TraceResult, TraceResultView } from './trace-result.js';

type Availability = 'probing' | 'available' | 'missing';

/** `projectFilter`: for admins, the project whose instances the matrix covers ('' = all). */
export function TraceView({ projectFilter = '' }: { projectFilter?: string }) {
  const { cloud, state } = useApp();
  const { busy, errors, run } = useAction();
  const [availability, setAvailability] = useState<Availability>('probing');
  const [source, setSource] = useState('');
  const [destination, setDestination] = useState('');
  const [protocol, setProtocol] = useState('icmp');
  const [port, setPort] = useState('');
  const [result, setResult] = useState<TraceResult | null>(null);

  useEffect(() => {
    // An empty body: a server with the API refuses it (400) without tracing anything.
    cloud.api.post(TRACE, {}).then(
      () => setAvailability('available'),
      (err: unknown) =>
        setAvailability(
          err instanceof ApiError && (err.status === 404 || err.status === 405) ? 'missing' : 'available',
        ),
    );
  }, [cloud]);

  const instances = rows(state, 'instances');
  const chosen = source || instances[0]?.id || '';
  const disabled = availability !== 'available';
  return (
    <section className="page" aria-labelledby="trace-title">
      <h2 id="trace-title">Trace</h2>
      {availability === 'missing' ? (
        <p className="note" role="status">
          Packet tracing is not available on this server yet (<code>POST {TRACE}</code> answered 404).
        </p>
      ) : null}
      <fieldset disabled={disabled} className="plain-fieldset">
        <Form
          id="trace"
          title="Trace a packet"
          submit="Trace"
          busy={busy}
          error={errors.form}
          onSubmit={() =>
            run(async () => {
              setResult(
                await cloud.api.post<TraceResult>(TRACE, {
                  source: chosen,
                  destination: destination.trim(),
                  protocol,
                  ...(protocol !== 'icmp' && port.trim() ? { port: Number(port) } : {}),
                }),
              );
            })
          }
        >
          <SelectField
            id="trace-source"
            label="From instance"
            value={chosen}
            onChange={setSource}
            options={
              instances.length > 0
                ? instances.map((i) => ({ value: i.id, label: i.name }))
                : [{ value: '', label: 'no instance' }]
            }
          />
          <TextField
            id="trace-destination"
            label="To instance or address"
            value={destination}
            onChange={setDestination}
            placeholder="10.0.0.12"
          />
          <SelectField
            id="trace-protocol"
            label="Protocol"
            value={protocol}
            onChange={setProtocol}
            options={['icmp', 'tcp', 'udp'].map((p) => ({ value: p, label: p }))}
          />
          {protocol !== 'icmp' ? (
            <TextField id="trace-port" label="Port" value={port} onChange={setPort} />
          ) : null}
        </Form>
      </fieldset>
      {result ? (
        <TraceResultView
          id="trace-verdict"
          result={result}
          title={`${result.source_ip ?? ''} → ${result.destination_ip ?? destination}`}
        />
      ) : null}
      <ReachabilityView disabled={disabled} projectFilter={projectFilter} />
    </section>
  );
}
