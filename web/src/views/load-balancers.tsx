/**
 * Load balancers (Octavia's API): a form that builds one with a listener, a pool, its members and
 * a health monitor in one go (deleting what it made when a step fails, so nothing is left half
 * built), and the details of one: its status tree (listeners, pools, members with their health,
 * `GET …/loadbalancers/{id}/status`) and its live traffic from haproxy's counters
 * (`GET …/loadbalancers/{id}/stats`), both reread every 5 s while shown.
 */
import { useEffect, useState } from 'react';
import type { LoadBalancer } from '../api/resources.js';
import { usePoll } from '../api/use-poll.js';
import { StatusText } from '../topology/nodes.js';
import { CheckField, Form, MultiCheckField, SelectField, TextField, useAction } from '../ui/form.js';
import { networkName, rows, useApp } from './app-context.js';
import { formatRate } from './traffic.js';

const LBAAS = '/load-balancer/v2/lbaas';

const PROTOCOLS = ['HTTP', 'TCP'].map((p) => ({ value: p, label: p }));
const ALGORITHMS = ['ROUND_ROBIN', 'LEAST_CONNECTIONS', 'SOURCE_IP'].map((a) => ({
  value: a,
  label: a.toLowerCase().replace('_', ' '),
}));

export function LoadBalancerForm() {
  const { cloud, state } = useApp();
  const { busy, errors, run } = useAction();
  const [name, setName] = useState('');
  const [subnet, setSubnet] = useState('');
  const [protocol, setProtocol] = useState('HTTP');
  const [port, setPort] = useState('80');
  const [algorithm, setAlgorithm] = useState('ROUND_ROBIN');
  const [members, setMembers] = useState<string[]>([]);
  const [memberPort, setMemberPort] = useState('80');
  const [monitor, setMonitor] = useState(true);
  const subnets = rows(state, 'subnets').filter((s) => s.ip_version === 4);
  const chosen = subnet || subnets[0]?.id || '';
  // Members: the instances' addresses on the VIP's subnet.
  const candidates = rows(state, 'instances').flatMap((i) =>
    i.ports.flatMap((p) =>
      p.fixed_ips
        .filter((f) => f.subnet_id === chosen)
        .map((f) => ({ value: f.ip_address, label: `${i.name} ${f.ip_address}` })),
    ),
  );
  const submit = () =>
    run(async () => {
      const api = cloud.api;
      const { loadbalancer } = await api.post<{ loadbalancer: LoadBalancer }>(`${LBAAS}/loadbalancers`, {
        loadbalancer: { name, vip_subnet_id: chosen },
      });
      try {
        const { listener } = await api.post<{ listener: { id: string } }>(`${LBAAS}/listeners`, {
          listener: { loadbalancer_id: loadbalancer.id, protocol, protocol_port: Number(port) },
        });
        const { pool } = await api.post<{ pool: { id: string } }>(`${LBAAS}/pools`, {
          pool: { listener_id: listener.id, protocol, lb_algorithm: algorithm },
        });
        for (const address of members)
          await api.post(`${LBAAS}/pools/${pool.id}/members`, {
            member: { address, protocol_port: Number(memberPort), subnet_id: chosen },
          });
        if (monitor)
          await api.post(`${LBAAS}/healthmonitors`, {
            healthmonitor: {
              pool_id: pool.id,
              type: protocol === 'HTTP' ? 'HTTP' : 'TCP',
              delay: 5,
              timeout: 3,
              max_retries: 2,
              ...(protocol === 'HTTP' ? { url_path: '/', expected_codes: '200' } : {}),
            },
          });
      } catch (err) {
        await api.del(`${LBAAS}/loadbalancers/${loadbalancer.id}?cascade=true`).catch(() => undefined);
        throw err;
      }
      await cloud.mutate(async () => undefined, ['loadbalancers', 'ports']);
      setName('');
      setMembers([]);
    });
  return (
    <Form
      id="new-loadbalancer"
      title="New load balancer"
      submit="Create load balancer"
      busy={busy}
      error={errors.form}
      onSubmit={submit}
    >
      <TextField id="lb-name" label="Name" value={name} onChange={setName} error={errors.name} />
      <SelectField
        id="lb-subnet"
        label="VIP subnet"
        value={chosen}
        onChange={(v) => {
          setSubnet(v);
          setMembers([]);
        }}
        options={subnets.map((s) => ({
          value: s.id,
          label: `${s.name ? `${s.name} ` : ''}${s.cidr} (${networkName(state, s.network_id)})`,
        }))}
        error={errors.vip_subnet_id}
      />
      <SelectField
        id="lb-protocol"
        label="Protocol"
        value={protocol}
        onChange={setProtocol}
        options={PROTOCOLS}
      />
      <TextField id="lb-port" label="Port" value={port} onChange={setPort} error={errors.protocol_port} />
      <SelectField
        id="lb-algorithm"
        label="Algorithm"
        value={algorithm}
        onChange={setAlgorithm}
        options={ALGORITHMS}
      />
      <MultiCheckField
        id="lb-members"
        legend="Members (instances on the VIP subnet)"
        options={candidates}
        value={members}
        onChange={setMembers}
        error={errors.address}
      />
      <TextField id="lb-member-port" label="Members' port" value={memberPort} onChange={setMemberPort} />
      <CheckField
        id="lb-monitor"
        label="Health monitor (every 5 s)"
        checked={monitor}
        onChange={setMonitor}
      />
    </Form>
  );
}

interface MemberStatus {
  id: string;
  address: string;
  protocol_port: number;
  operating_status: string;
}

interface StatusTree {
  operating_status: string;
  listeners: {
    id: string;
    name: string;
    operating_status: string;
    pools: { id: string; name: string; operating_status: string; members: MemberStatus[] }[];
  }[];
}

interface LbStats {
  bytes_in: number;
  bytes_out: number;
  active_connections: number;
  total_connections: number;
}

/** A load balancer's traffic: haproxy's byte counters turned into rates between two reads. */
function LbTraffic({ id }: { id: string }) {
  const { cloud } = useApp();
  const { value } = usePoll<{ stats: LbStats }>(cloud.api, `${LBAAS}/loadbalancers/${id}/stats`);
  const [rates, setRates] = useState<{ in: number | null; out: number | null }>({ in: null, out: null });
  const [last, setLast] = useState<{ at: number; stats: LbStats } | null>(null);
  useEffect(() => {
    if (!value) return;
    const at = performance.now();
    setLast((before) => {
      if (before && at > before.at) {
        const seconds = (at - before.at) / 1000;
        setRates({
          in: Math.max(0, ((value.stats.bytes_in - before.stats.bytes_in) * 8) / seconds),
          out: Math.max(0, ((value.stats.bytes_out - before.stats.bytes_out) * 8) / seconds),
        });
      }
      return { at, stats: value.stats };
    });
  }, [value]);
  if (!value || !last) return <p className="muted">Traffic: reading…</p>;
  return (
    <section className="traffic" aria-label="Traffic">
      <p className="traffic-rates">
        Traffic: <span className="spark-rx-key">in {formatRate(rates.in)}</span>
        {' · '}
        <span className="spark-tx-key">out {formatRate(rates.out)}</span>
        {' · '}
        {value.stats.active_connections} active, {value.stats.total_connections} connections in all
      </p>
    </section>
  );
}

export function LoadBalancerDetails({ lb }: { lb: LoadBalancer }) {
  const { cloud, state } = useApp();
  const { value, error } = usePoll<{ statuses: { loadbalancer: StatusTree } }>(
    cloud.api,
    `${LBAAS}/loadbalancers/${lb.id}/status`,
  );
  const tree = value?.statuses.loadbalancer;
  return (
    <>
      <dl className="facts">
        <div>
          <dt>Status</dt>
          <dd>
            <StatusText
              status={lb.operating_status}
              flags={lb.provisioning_status === 'ACTIVE' ? [] : [lb.provisioning_status]}
            />
          </dd>
        </div>
        <div>
          <dt>VIP</dt>
          <dd>
            {lb.vip_address} on {networkName(state, lb.vip_network_id)}
          </dd>
        </div>
      </dl>
      <LbTraffic id={lb.id} />
      {error ? <p className="muted">Status: {error}</p> : null}
      {tree ? (
        <ul className="lb-tree" aria-label="Listeners, pools and members">
          {tree.listeners.map((l) => (
            <li key={l.id}>
              Listener {l.name || l.id.slice(0, 8)} <StatusText status={l.operating_status} />
              <ul>
                {l.pools.map((p) => (
                  <li key={p.id}>
                    Pool {p.name || p.id.slice(0, 8)} <StatusText status={p.operating_status} />
                    <ul aria-label="Members">
                      {p.members.map((m) => (
                        <li key={m.id} className="lb-member">
                          {m.address}:{m.protocol_port} <StatusText status={m.operating_status} />
                        </li>
                      ))}
                    </ul>
                  </li>
                ))}
              </ul>
            </li>
          ))}
        </ul>
      ) : null}
    </>
  );
}

/** The query a load balancer's delete needs: Octavia deletes its children only when asked. */
export const CASCADE = '?cascade=true';
