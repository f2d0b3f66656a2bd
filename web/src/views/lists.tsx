/**
 * A page per resource: its create form and a table with a text filter (matching any column).
 * The first cell of each row opens the object's details.
 */
import { type ReactNode, useMemo, useState } from 'react';
import { isRouterInterfaceOwner } from '../../../src/model/device-owners.js';
import type {
  CollectionKey,
  Collections,
  FloatingIp,
  Instance,
  Network,
  Port,
  Router,
} from '../api/resources.js';
import type { CloudState } from '../state/cloud.js';
import { label, shortId } from '../topology/graph.js';
import { StatusText } from '../topology/nodes.js';
import { networkName, projectName, rows, useApp } from './app-context.js';
import { FloatingIpForm, InstanceForm, NetworkForm, RouterForm, SecurityGroupForm } from './forms.js';
import { LoadBalancerForm } from './load-balancers.js';

interface Column<T> {
  header: string;
  text(row: T, state: CloudState): string;
  render?(row: T, state: CloudState): ReactNode;
}

type Row<K extends CollectionKey> = Collections[K][number];

const ips = (p: { fixed_ips: { ip_address: string }[] }) => p.fixed_ips.map((f) => f.ip_address).join(', ');
const status = <T extends { status: string }>(): Column<T> => ({
  header: 'Status',
  text: (r) => r.status,
  render: (r) => <StatusText status={r.status} />,
});

const instanceOf = (state: CloudState, portId: string): Instance | undefined =>
  rows(state, 'instances').find((i) => i.ports.some((p) => p.id === portId));

const portOwner = (state: CloudState, p: Port): string => {
  const inst = instanceOf(state, p.id);
  if (inst) return `instance ${inst.name}`;
  const router = rows(state, 'routers').find((r) => r.id === p.device_id);
  if (router) return `router ${label(router)}`;
  return p.device_owner || '—';
};

const COLUMNS: { [K in CollectionKey]?: Column<Row<K>>[] } = {
  networks: [
    status<Network>(),
    {
      header: 'Subnets',
      text: (n, s) =>
        rows(s, 'subnets')
          .filter((x) => x.network_id === n.id)
          .map((x) => x.cidr)
          .join(', '),
    },
    {
      header: 'Type',
      text: (n) =>
        [n['router:external'] ? 'external' : '', n.shared ? 'shared' : '', n['provider:network_type'] ?? '']
          .filter(Boolean)
          .join(' '),
    },
  ],
  subnets: [
    { header: 'CIDR', text: (x) => x.cidr },
    { header: 'Network', text: (x, s) => networkName(s, x.network_id) },
    { header: 'Gateway', text: (x) => x.gateway_ip ?? 'none' },
    { header: 'DHCP', text: (x) => (x.enable_dhcp ? 'yes' : 'no') },
  ],
  ports: [
    status<Port>(),
    { header: 'Addresses', text: (p) => ips(p) },
    { header: 'Network', text: (p, s) => networkName(s, p.network_id) },
    { header: 'Attached to', text: (p, s) => portOwner(s, p) },
    { header: 'MAC', text: (p) => p.mac_address },
  ],
  routers: [
    status<Router>(),
    {
      header: 'Gateway',
      text: (r, s) =>
        r.external_gateway_info
          ? `${networkName(s, r.external_gateway_info.network_id)} ${ips({ fixed_ips: r.external_gateway_info.external_fixed_ips ?? [] })}`
          : 'none',
    },
    {
      header: 'Interfaces',
      text: (r, s) =>
        rows(s, 'ports')
          .filter((p) => p.device_id === r.id && isRouterInterfaceOwner(p.device_owner))
          .map((p) => ips(p))
          .join(', '),
    },
  ],
  floatingips: [
    status<FloatingIp>(),
    { header: 'Network', text: (f, s) => networkName(s, f.floating_network_id) },
    { header: 'Fixed IP', text: (f) => f.fixed_ip_address ?? '—' },
    {
      header: 'Attached to',
      text: (f, s) => (f.port_id ? (instanceOf(s, f.port_id)?.name ?? shortId(f.port_id)) : 'nothing'),
    },
  ],
  security_groups: [
    { header: 'Description', text: (g) => g.description },
    {
      header: 'Rules',
      text: (g, s) =>
        String(rows(s, 'security_group_rules').filter((r) => r.security_group_id === g.id).length),
    },
  ],
  instances: [
    status<Instance>(),
    { header: 'Addresses', text: (i) => i.ports.map((p) => ips(p)).join(', ') },
    { header: 'Networks', text: (i, s) => i.ports.map((p) => networkName(s, p.network_id)).join(', ') },
    { header: 'Host', text: (i) => i.host },
    { header: 'Fault', text: (i) => i.fault?.message ?? '' },
  ],
  loadbalancers: [
    {
      header: 'Status',
      text: (lb) => lb.operating_status,
      render: (lb) => (
        <StatusText
          status={lb.operating_status}
          flags={lb.provisioning_status === 'ACTIVE' ? [] : [lb.provisioning_status]}
        />
      ),
    },
    { header: 'VIP', text: (lb) => lb.vip_address },
    { header: 'Network', text: (lb, s) => networkName(s, lb.vip_network_id) },
    { header: 'Listeners', text: (lb) => String(lb.listeners.length) },
  ],
};

export const TITLES: Record<CollectionKey, string> = {
  networks: 'Networks',
  subnets: 'Subnets',
  ports: 'Ports',
  routers: 'Routers',
  floatingips: 'Floating IPs',
  security_groups: 'Security groups',
  security_group_rules: 'Security group rules',
  instances: 'Instances',
  loadbalancers: 'Load balancers',
};

const FORMS: Partial<Record<CollectionKey, () => ReactNode>> = {
  networks: () => <NetworkForm />,
  routers: () => <RouterForm />,
  instances: () => <InstanceForm />,
  loadbalancers: () => <LoadBalancerForm />,
  floatingips: () => <FloatingIpForm />,
  security_groups: () => <SecurityGroupForm />,
};

/** The name a row is listed under. */
export function nameOf(key: CollectionKey, row: { id: string; name?: string }): string {
  if (key === 'floatingips') return (row as FloatingIp).floating_ip_address;
  return label(row);
}

export function ResourcePage({ kind }: { kind: CollectionKey }) {
  const { state, admin, select } = useApp();
  const [filter, setFilter] = useState('');
  const all = rows(state, kind) as Row<typeof kind>[];
  const columns = useMemo(() => {
    const cols = [...((COLUMNS[kind] ?? []) as Column<Row<typeof kind>>[])];
    if (admin) cols.push({ header: 'Project', text: (r, s) => projectName(s, r.project_id) });
    return cols;
  }, [kind, admin]);
  const q = filter.trim().toLowerCase();
  const shown = all
    .filter(
      (r) =>
        q === '' ||
        nameOf(kind, r).toLowerCase().includes(q) ||
        r.id.startsWith(q) ||
        columns.some((c) => c.text(r, state).toLowerCase().includes(q)),
    )
    .sort((a, b) => nameOf(kind, a).localeCompare(nameOf(kind, b)));
  const title = TITLES[kind];
  const form = FORMS[kind];
  const unavailable = state.unavailable.has(kind);
  return (
    <section className="page" aria-labelledby={`${kind}-title`}>
      <h2 id={`${kind}-title`}>{title}</h2>
      {unavailable ? (
        <p className="note">
          This server does not offer {title.toLowerCase()} (<code>GET</code> answered 404).
        </p>
      ) : (
        <>
          {form ? form() : null}
          {state.errors[kind] ? (
            <p className="error" role="alert">
              Could not list {title.toLowerCase()}: {state.errors[kind]}
            </p>
          ) : null}
          <div className="filter">
            <label htmlFor={`filter-${kind}`}>Filter {title.toLowerCase()}</label>
            <input
              id={`filter-${kind}`}
              type="search"
              value={filter}
              placeholder="name, address, status…"
              onChange={(e) => setFilter(e.target.value)}
            />
            <span className="muted" aria-live="polite">
              {shown.length} of {all.length}
            </span>
          </div>
          <div className="table-wrap">
            <table>
              <thead>
                <tr>
                  <th scope="col">Name</th>
                  {columns.map((c) => (
                    <th scope="col" key={c.header}>
                      {c.header}
                    </th>
                  ))}
                </tr>
              </thead>
              <tbody>
                {shown.map((r) => (
                  <tr key={r.id} data-id={r.id}>
                    <th scope="row">
                      <button
                        type="button"
                        className="link"
                        onClick={(e) => select({ kind, id: r.id }, e.currentTarget)}
                      >
                        {nameOf(kind, r)}
                      </button>
                    </th>
                    {columns.map((c) => (
                      <td key={c.header}>{c.render ? c.render(r, state) : c.text(r, state)}</td>
                    ))}
                  </tr>
                ))}
              </tbody>
            </table>
            {shown.length === 0 ? <p className="muted">No {title.toLowerCase()}.</p> : null}
          </div>
        </>
      )}
    </section>
  );
}
