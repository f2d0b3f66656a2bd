/**
 * The details of the selected object and what can be done to it: delete, administrative state,
 * a network's subnets, a router's gateway and interfaces, a floating IP's association, a
 * security group's rules. A port (and each interface of an instance) shows its security groups,
 * floating IPs, QoS policy, live traffic (sparklines, `traffic.tsx`) and what its groups dropped
 * (`GET /neutrino/v1/ports/{id}/drops`, reread every 5 s while shown); instances and routers their
 * traffic too; routers and DHCP servers the host they are on. Escape closes it and gives the
 * focus back to what opened it.
 */
import { type ReactNode, useEffect, useRef, useState } from 'react';
import { DeviceOwner, isRouterInterfaceOwner } from '../../../src/model/device-owners.js';
import {
  type CollectionKey,
  type FloatingIp,
  type Instance,
  type LoadBalancer,
  memberPath,
  type Network,
  type Port,
  type Router,
  type SecurityGroup,
  type Subnet,
} from '../api/resources.js';
import { usePoll } from '../api/use-poll.js';
import type { Selection } from '../topology/graph.js';
import { StatusText } from '../topology/nodes.js';
import { DeleteButton, FormError, SelectField, useAction } from '../ui/form.js';
import { fipTargets, networkName, portLabel, projectName, rows, useApp } from './app-context.js';
import { externalOptions, interfaceOptions, RuleForm, SubnetForm } from './forms.js';
import { nameOf, TITLES } from './lists.js';
import { CASCADE, LoadBalancerDetails } from './load-balancers.js';
import { Traffic } from './traffic.js';

/** What each kind's delete invalidates. */
const AFTER_DELETE: Record<CollectionKey, CollectionKey[]> = {
  networks: ['networks', 'subnets', 'ports'],
  subnets: ['subnets', 'networks', 'ports'],
  ports: ['ports', 'instances', 'floatingips'],
  routers: ['routers', 'ports', 'floatingips'],
  floatingips: ['floatingips'],
  security_groups: ['security_groups', 'security_group_rules'],
  security_group_rules: ['security_group_rules', 'security_groups'],
  instances: ['instances', 'ports', 'floatingips'],
  loadbalancers: ['loadbalancers', 'ports', 'floatingips'],
};

function Facts({ items }: { items: [string, ReactNode][] }) {
  return (
    <dl className="facts">
      {items.map(([k, v]) => (
        <div key={k}>
          <dt>{k}</dt>
          <dd>{v}</dd>
        </div>
      ))}
    </dl>
  );
}

function AdminStateToggle({
  kind,
  object,
}: {
  kind: CollectionKey;
  object: { id: string; admin_state_up: boolean };
}) {
  const { cloud } = useApp();
  const { busy, errors, run } = useAction();
  const singular = kind.replace(/s$/, '');
  return (
    <div>
      <button
        type="button"
        disabled={busy}
        onClick={() =>
          run(() =>
            cloud.mutate(
              () =>
                cloud.api.put(memberPath(kind, object.id), {
                  [singular]: { admin_state_up: !object.admin_state_up },
                }),
              AFTER_DELETE[kind],
            ),
          )
        }
      >
        {object.admin_state_up ? 'Set admin state down' : 'Set admin state up'}
      </button>
      <FormError id="admin-state" error={errors.form} />
    </div>
  );
}

interface PortDrops {
  host: string | null;
  updated_at: string | null;
  drops: Record<string, { packets: number; bytes: number }>;
}

/** What a port's security groups and anti-spoofing dropped, by reason, as its host last reported. */
function Drops({ portId }: { portId: string }) {
  const { cloud } = useApp();
  const { value, error } = usePoll<{ port_drops: PortDrops }>(
    cloud.api,
    `/neutrino/v1/ports/${portId}/drops`,
  );
  const drops = value?.port_drops ?? null;
  if (error) return <p className="muted">Drops: {error}</p>;
  if (!drops) return <p className="muted">Drops: reading…</p>;
  const reasons = Object.entries(drops.drops).filter(([, c]) => c.packets > 0);
  if (reasons.length === 0)
    return (
      <p className="muted drops">{drops.host ? `No drops (host ${drops.host})` : 'No drops reported'}</p>
    );
  return (
    <table className="drops" aria-label="Drops">
      <thead>
        <tr>
          <th>Dropped</th>
          <th>Packets</th>
          <th>Bytes</th>
        </tr>
      </thead>
      <tbody>
        {reasons.map(([reason, c]) => (
          <tr key={reason}>
            <td>{reason}</td>
            <td>{c.packets}</td>
            <td>{c.bytes}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

/** A port's security groups (by name) and floating IPs. */
function portFacts(state: ReturnType<typeof useApp>['state'], port: Port): [string, ReactNode][] {
  const groups = rows(state, 'security_groups');
  const names = (port.security_groups ?? []).map((id) => {
    const g = groups.find((x) => x.id === id);
    return g ? g.name || id.slice(0, 8) : id.slice(0, 8);
  });
  const fips = rows(state, 'floatingips')
    .filter((f) => f.port_id === port.id)
    .map((f) => f.floating_ip_address);
  return [
    [
      'Security groups',
      port.port_security_enabled === false ? 'port security off' : names.join(', ') || 'none',
    ],
    ['Floating IPs', fips.join(', ') || 'none'],
    ['QoS policy', <QosPolicyName key="q" port={port} />],
  ];
}

/** A port's QoS policy by name (its own, else its network's), read once. */
function QosPolicyName({ port }: { port: Port }) {
  const { cloud } = useApp();
  const own = port.qos_policy_id ?? null;
  const id = own ?? port.qos_network_policy_id ?? null;
  const [name, setName] = useState<string | null>(null);
  useEffect(() => {
    setName(null);
    if (!id) return;
    let stopped = false;
    cloud.api.get<{ policy: { name: string } }>(`/v2.0/qos/policies/${id}`).then(
      (r) => !stopped && setName(r.policy.name || id.slice(0, 8)),
      () => !stopped && setName(id.slice(0, 8)),
    );
    return () => {
      stopped = true;
    };
  }, [cloud, id]);
  if (!id) return <>none</>;
  return <>{`${name ?? id.slice(0, 8)}${own ? '' : ' (network)'}`}</>;
}

const hostsOf = (ports: Port[]) =>
  [...new Set(ports.map((p) => p['binding:host_id']).filter((h): h is string => !!h))].sort();

function NetworkDetails({ network }: { network: Network }) {
  const { state, cloud } = useApp();
  const { errors, run } = useAction();
  const subnets = rows(state, 'subnets').filter((s) => s.network_id === network.id);
  const dhcp = rows(state, 'ports').filter(
    (p) => p.network_id === network.id && p.device_owner === DeviceOwner.dhcp,
  );
  return (
    <>
      <Facts
        items={[
          [
            'Status',
            <StatusText
              key="s"
              status={network.status}
              flags={network.admin_state_up ? [] : ['admin down']}
            />,
          ],
          ['Type', network['provider:network_type'] ?? '—'],
          ['MTU', String(network.mtu ?? '—')],
          ['Shared', network.shared ? 'yes' : 'no'],
          ['External', network['router:external'] ? 'yes' : 'no'],
          [
            'DHCP',
            dhcp.length === 0
              ? 'none'
              : dhcp
                  .map(
                    (p) =>
                      `${p.fixed_ips.map((f) => f.ip_address).join(', ')}${p['binding:host_id'] ? ` on ${p['binding:host_id']}` : ''}`,
                  )
                  .join('; '),
          ],
        ]}
      />
      <h4>Subnets</h4>
      <ul className="plain">
        {subnets.map((s) => (
          <li key={s.id}>
            {s.name ? `${s.name} ` : ''}
            {s.cidr} {s.gateway_ip ? `gw ${s.gateway_ip}` : ''}{' '}
            <DeleteButton
              what={`subnet ${s.cidr}`}
              onDelete={() =>
                run(() =>
                  cloud.mutate(() => cloud.api.del(memberPath('subnets', s.id)), AFTER_DELETE.subnets),
                )
              }
            />
          </li>
        ))}
        {subnets.length === 0 ? <li className="muted">none</li> : null}
      </ul>
      <FormError id="subnet-delete" error={errors.form} />
      <SubnetForm network={network} />
      <AdminStateToggle kind="networks" object={network} />
    </>
  );
}

function SubnetDetails({ subnet }: { subnet: Subnet }) {
  const { state } = useApp();
  return (
    <Facts
      items={[
        ['CIDR', subnet.cidr],
        ['Network', networkName(state, subnet.network_id)],
        ['Gateway', subnet.gateway_ip ?? 'none'],
        ['DHCP', subnet.enable_dhcp ? 'yes' : 'no'],
      ]}
    />
  );
}

function PortDetails({ port }: { port: Port }) {
  const { state } = useApp();
  return (
    <>
      <Facts
        items={[
          [
            'Status',
            <StatusText key="s" status={port.status} flags={port.admin_state_up ? [] : ['admin down']} />,
          ],
          ['Network', networkName(state, port.network_id)],
          ['Addresses', port.fixed_ips.map((f) => f.ip_address).join(', ') || 'none'],
          ['MAC', port.mac_address],
          ['Owner', port.device_owner || '—'],
          ['Host', port['binding:host_id'] || '—'],
          ...portFacts(state, port),
        ]}
      />
      <Traffic kind="ports" id={port.id} />
      <Drops portId={port.id} />
      <AdminStateToggle kind="ports" object={port} />
    </>
  );
}

function RouterDetails({ router }: { router: Router }) {
  const { state, cloud } = useApp();
  const gateway = useAction();
  const iface = useAction();
  const [external, setExternal] = useState(router.external_gateway_info?.network_id ?? '');
  const [subnet, setSubnet] = useState('');
  const interfaces = rows(state, 'ports').filter(
    (p) => p.device_id === router.id && isRouterInterfaceOwner(p.device_owner),
  );
  const own = rows(state, 'ports').filter((p) => p.device_id === router.id);
  const hosts = hostsOf(own);
  const attached = new Set(interfaces.flatMap((p) => p.fixed_ips.map((f) => f.subnet_id)));
  const choices = interfaceOptions(state).filter((o) => !attached.has(o.value));
  const path = memberPath('routers', router.id);
  const setGateway = (network: string) =>
    gateway.run(() =>
      cloud.mutate(
        () =>
          cloud.api.put(path, {
            router: { external_gateway_info: network ? { network_id: network } : null },
          }),
        ['routers', 'ports'],
      ),
    );
  return (
    <>
      <Facts
        items={[
          [
            'Status',
            <StatusText key="s" status={router.status} flags={router.admin_state_up ? [] : ['admin down']} />,
          ],
          [
            'Gateway',
            router.external_gateway_info
              ? `${networkName(state, router.external_gateway_info.network_id)} ${(router.external_gateway_info.external_fixed_ips ?? []).map((f) => f.ip_address).join(', ')}`
              : 'none',
          ],
          [
            'Host',
            hosts.join(', ') ||
              // Neutron shows bindings to admins only.
              (own.some((p) => p['binding:host_id'] !== undefined) ? 'not scheduled yet' : '—'),
          ],
        ]}
      />
      <Traffic kind="routers" id={router.id} />
      <form
        className="form inline"
        onSubmit={(e) => {
          e.preventDefault();
          void setGateway(external);
        }}
      >
        <SelectField
          id="router-gateway"
          label="External gateway"
          value={external}
          onChange={setExternal}
          options={[{ value: '', label: 'none' }, ...externalOptions(state)]}
          error={gateway.errors.form}
        />
        <button type="submit" disabled={gateway.busy}>
          {external ? 'Set gateway' : 'Clear gateway'}
        </button>
      </form>
      <h4>Interfaces</h4>
      <ul className="plain">
        {interfaces.map((p) => (
          <li key={p.id}>
            {networkName(state, p.network_id)} {p.fixed_ips.map((f) => f.ip_address).join(', ')}{' '}
            <button
              type="button"
              disabled={iface.busy}
              onClick={() =>
                iface.run(() =>
                  cloud.mutate(
                    () => cloud.api.put(`${path}/remove_router_interface`, { port_id: p.id }),
                    ['routers', 'ports'],
                  ),
                )
              }
            >
              Remove interface
            </button>
          </li>
        ))}
        {interfaces.length === 0 ? <li className="muted">none</li> : null}
      </ul>
      <form
        className="form inline"
        onSubmit={(e) => {
          e.preventDefault();
          const chosen = subnet || choices[0]?.value;
          if (chosen)
            void iface.run(async () => {
              await cloud.mutate(
                () => cloud.api.put(`${path}/add_router_interface`, { subnet_id: chosen }),
                ['routers', 'ports'],
              );
              setSubnet('');
            });
        }}
      >
        <SelectField
          id="router-interface"
          label="Add interface on subnet"
          value={subnet || choices[0]?.value || ''}
          onChange={setSubnet}
          options={choices.length > 0 ? choices : [{ value: '', label: 'no subnet left' }]}
          error={iface.errors.form}
        />
        <button type="submit" disabled={iface.busy || choices.length === 0}>
          Add interface
        </button>
      </form>
      <AdminStateToggle kind="routers" object={router} />
    </>
  );
}

function FloatingIpDetails({ fip }: { fip: FloatingIp }) {
  const { state, cloud } = useApp();
  const { busy, errors, run } = useAction();
  const [port, setPort] = useState(fip.port_id ?? '');
  const instances = rows(state, 'instances');
  const associate = (portId: string | null) =>
    run(() =>
      cloud.mutate(
        () => cloud.api.put(memberPath('floatingips', fip.id), { floatingip: { port_id: portId } }),
        ['floatingips'],
      ),
    );
  const target = rows(state, 'ports').find((p) => p.id === fip.port_id);
  return (
    <>
      <Facts
        items={[
          ['Status', <StatusText key="s" status={fip.status} />],
          ['Address', fip.floating_ip_address],
          ['Network', networkName(state, fip.floating_network_id)],
          [
            'Attached to',
            target ? portLabel(target, instances) : fip.port_id ? fip.fixed_ip_address : 'nothing',
          ],
        ]}
      />
      <form
        className="form inline"
        onSubmit={(e) => {
          e.preventDefault();
          void associate(port || null);
        }}
      >
        <SelectField
          id="fip-associate"
          label="Associate with"
          value={port}
          onChange={setPort}
          options={[
            { value: '', label: 'nothing (disassociate)' },
            ...fipTargets(state).map((p) => ({ value: p.id, label: portLabel(p, instances) })),
          ]}
          error={errors.form}
        />
        <button type="submit" disabled={busy}>
          {port ? 'Associate' : 'Disassociate'}
        </button>
      </form>
    </>
  );
}

function SecurityGroupDetails({ group }: { group: SecurityGroup }) {
  const { state, cloud } = useApp();
  const { errors, run } = useAction();
  const rules = rows(state, 'security_group_rules').filter((r) => r.security_group_id === group.id);
  const describe = (r: (typeof rules)[number]) => {
    const ports =
      r.port_range_min === null
        ? ''
        : r.port_range_min === r.port_range_max
          ? ` port ${r.port_range_min}`
          : ` ports ${r.port_range_min}-${r.port_range_max}`;
    const remote =
      r.remote_ip_prefix ?? (r.remote_group_id ? `group ${r.remote_group_id.slice(0, 8)}` : 'any');
    return `${r.direction} ${r.ethertype} ${r.protocol ?? 'any'}${ports} ${r.direction === 'ingress' ? 'from' : 'to'} ${remote}`;
  };
  return (
    <>
      <Facts items={[['Description', group.description || '—']]} />
      <h4>Rules</h4>
      <ul className="plain">
        {rules.map((r) => (
          <li key={r.id}>
            {describe(r)}{' '}
            <DeleteButton
              what={`rule ${describe(r)}`}
              onDelete={() =>
                run(() =>
                  cloud.mutate(
                    () => cloud.api.del(memberPath('security_group_rules', r.id)),
                    AFTER_DELETE.security_group_rules,
                  ),
                )
              }
            />
          </li>
        ))}
      </ul>
      <FormError id="rule-delete" error={errors.form} />
      <RuleForm groupId={group.id} />
    </>
  );
}

function InstanceDetails({ instance }: { instance: Instance }) {
  const { state } = useApp();
  const ports = rows(state, 'ports');
  return (
    <>
      <Facts
        items={[
          ['Status', <StatusText key="s" status={instance.status} />],
          ['Host', instance.host],
          ...(instance.fault ? [['Fault', instance.fault.message] as [string, ReactNode]] : []),
        ]}
      />
      <Traffic kind="instances" id={instance.id} />
      <h4>Interfaces</h4>
      {instance.ports.map((p, n) => {
        const port = ports.find((x) => x.id === p.id);
        return (
          <section key={p.id} className="interface" aria-label={`eth${n}`}>
            <h5>
              eth{n}: {p.fixed_ips.map((f) => f.ip_address).join(', ')} on {networkName(state, p.network_id)}
            </h5>
            <Facts items={[['MAC', p.mac_address], ...(port ? portFacts(state, port) : [])]} />
            <Drops portId={p.id} />
          </section>
        );
      })}
    </>
  );
}

function Body({ kind, object }: { kind: CollectionKey; object: unknown }) {
  switch (kind) {
    case 'networks':
      return <NetworkDetails network={object as Network} />;
    case 'subnets':
      return <SubnetDetails subnet={object as Subnet} />;
    case 'ports':
      return <PortDetails port={object as Port} />;
    case 'routers':
      return <RouterDetails router={object as Router} />;
    case 'floatingips':
      return <FloatingIpDetails fip={object as FloatingIp} />;
    case 'security_groups':
      return <SecurityGroupDetails group={object as SecurityGroup} />;
    case 'instances':
      return <InstanceDetails instance={object as Instance} />;
    case 'loadbalancers':
      return <LoadBalancerDetails lb={object as LoadBalancer} />;
    default:
      return null;
  }
}

export function DetailsPanel({ selection }: { selection: Selection }) {
  const { state, cloud, admin, select } = useApp();
  const { busy, errors, run } = useAction();
  const heading = useRef<HTMLHeadingElement>(null);
  const object = (rows(state, selection.kind) as { id: string; name?: string; project_id: string }[]).find(
    (o) => o.id === selection.id,
  );
  useEffect(() => heading.current?.focus(), []);
  const kindLabel = TITLES[selection.kind].replace(/s$/, '');
  const name = object ? nameOf(selection.kind, object) : selection.id.slice(0, 8);
  return (
    <aside className="details" aria-labelledby="details-title">
      <header>
        <h3 id="details-title" ref={heading} tabIndex={-1}>
          <span className="muted">{kindLabel}</span> {name}
        </h3>
        <button type="button" className="close" aria-label="Close details" onClick={() => select(null)}>
          ×
        </button>
      </header>
      {object ? (
        <>
          <Facts
            items={[
              ['ID', <code key="id">{object.id}</code>],
              ...(admin || state.projects.size > 1
                ? [['Project', projectName(state, object.project_id)] as [string, ReactNode]]
                : []),
            ]}
          />
          <Body kind={selection.kind} object={object} />
          <div className="danger-zone">
            <DeleteButton
              what={`${kindLabel.toLowerCase()} ${name}`}
              busy={busy}
              onDelete={() =>
                run(async () => {
                  await cloud.mutate(
                    () =>
                      cloud.api.del(
                        `${memberPath(selection.kind, selection.id)}${selection.kind === 'loadbalancers' ? CASCADE : ''}`,
                      ),
                    AFTER_DELETE[selection.kind],
                  );
                  select(null);
                })
              }
            />
            <FormError id="delete" error={errors.form} />
          </div>
        </>
      ) : (
        <p className="muted">This {kindLabel.toLowerCase()} no longer exists.</p>
      )}
    </aside>
  );
}
