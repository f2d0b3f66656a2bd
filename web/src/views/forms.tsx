/**
 * The self-service forms: a network with its first subnet, a subnet, a router (gateway and
 * interfaces), an instance, a floating IP, a security group and a rule. Each shows the API's own
 * error message next to the field it concerns, or under the form. An admin chooses the project a
 * new object belongs to (the token's project is only the default).
 */
import { useState } from 'react';
import { messageOf } from '../api/client.js';
import { COLLECTION_PATHS, memberPath, type Network } from '../api/resources.js';
import { label } from '../topology/graph.js';
import {
  at,
  CheckField,
  Form,
  MultiCheckField,
  type Option,
  SelectField,
  TextField,
  useAction,
} from '../ui/form.js';
import { fipTargets, networkName, portLabel, rows, useApp } from './app-context.js';

const ipVersion = (cidr: string) => (cidr.includes(':') ? 6 : 4);

/**
 * The owner of a new object: admins pick it (their token's project first), members' objects are
 * their project's. Spread `body` into the create body.
 */
function useProjectChoice(id: string) {
  const { state, admin, cloud } = useApp();
  const own = cloud.session.project?.id ?? '';
  const [project, setProject] = useState(own);
  const options = [...state.projects]
    .map(([value, name]) => ({ value, label: value === own ? `${name} (yours)` : name }))
    .sort((a, b) => Number(b.value === own) - Number(a.value === own) || a.label.localeCompare(b.label));
  const field = admin ? (
    <SelectField
      id={`${id}-project`}
      label="Project"
      value={project}
      onChange={setProject}
      options={options}
    />
  ) : null;
  return { field, body: admin && project ? { project_id: project } : {} };
}

export function NetworkForm() {
  const { cloud, admin } = useApp();
  const { busy, errors, run } = useAction();
  const owner = useProjectChoice('network');
  const [name, setName] = useState('');
  const [cidr, setCidr] = useState('');
  const [gateway, setGateway] = useState('');
  const [dhcp, setDhcp] = useState(true);
  const [shared, setShared] = useState(false);
  const [external, setExternal] = useState(false);

  const submit = () =>
    run(async () => {
      const { network } = await cloud.mutate(
        () =>
          cloud.api.post<{ network: Network }>(COLLECTION_PATHS.networks, {
            network: {
              name,
              ...owner.body,
              ...(shared ? { shared: true } : {}),
              ...(external ? { 'router:external': true } : {}),
            },
          }),
        ['networks'],
      );
      if (cidr.trim() !== '') {
        try {
          await at(
            'cidr',
            cloud.mutate(
              () =>
                cloud.api.post(COLLECTION_PATHS.subnets, {
                  subnet: {
                    network_id: network.id,
                    ...owner.body,
                    name: name ? `${name}-subnet` : '',
                    ip_version: ipVersion(cidr.trim()),
                    cidr: cidr.trim(),
                    enable_dhcp: dhcp,
                    ...(gateway.trim() ? { gateway_ip: gateway.trim() } : {}),
                  },
                }),
              ['subnets', 'networks', 'ports'],
            ),
          );
        } catch (err) {
          // All or nothing: a network whose subnet was refused is not what was asked for.
          await cloud
            .mutate(() => cloud.api.del(memberPath('networks', network.id)), ['networks'])
            .catch(() => {});
          throw err;
        }
      }
      setName('');
      setCidr('');
      setGateway('');
    });

  return (
    <Form
      id="new-network"
      title="New network"
      submit="Create network"
      busy={busy}
      error={errors.form}
      onSubmit={submit}
    >
      <TextField id="network-name" label="Name" value={name} onChange={setName} error={errors.name} />
      {owner.field}
      <TextField
        id="network-cidr"
        label="Subnet CIDR"
        value={cidr}
        onChange={setCidr}
        placeholder="10.0.0.0/24"
        hint="optional; the network's first subnet"
        error={errors.cidr}
      />
      <TextField
        id="network-gateway"
        label="Gateway IP"
        value={gateway}
        onChange={setGateway}
        placeholder="automatic"
      />
      <CheckField id="network-dhcp" label="DHCP" checked={dhcp} onChange={setDhcp} />
      {admin ? (
        <>
          <CheckField id="network-shared" label="Shared" checked={shared} onChange={setShared} />
          <CheckField id="network-external" label="External" checked={external} onChange={setExternal} />
        </>
      ) : null}
    </Form>
  );
}

export function SubnetForm({ network }: { network: Network }) {
  const { cloud } = useApp();
  const { busy, errors, run } = useAction();
  const [name, setName] = useState('');
  const [cidr, setCidr] = useState('');
  const [gateway, setGateway] = useState('');
  const [dhcp, setDhcp] = useState(true);
  const submit = () =>
    run(async () => {
      await at(
        'cidr',
        cloud.mutate(
          () =>
            cloud.api.post(COLLECTION_PATHS.subnets, {
              subnet: {
                network_id: network.id,
                name,
                ip_version: ipVersion(cidr.trim()),
                cidr: cidr.trim(),
                enable_dhcp: dhcp,
                ...(gateway.trim() ? { gateway_ip: gateway.trim() } : {}),
              },
            }),
          ['subnets', 'networks', 'ports'],
        ),
      );
      setName('');
      setCidr('');
      setGateway('');
    });
  return (
    <Form
      id="new-subnet"
      title="Add a subnet"
      submit="Add subnet"
      busy={busy}
      error={errors.form}
      onSubmit={submit}
    >
      <TextField
        id="subnet-cidr"
        label="CIDR"
        value={cidr}
        onChange={setCidr}
        placeholder="10.0.1.0/24"
        error={errors.cidr}
        required
      />
      <TextField id="subnet-name" label="Name" value={name} onChange={setName} />
      <TextField
        id="subnet-gateway"
        label="Gateway IP"
        value={gateway}
        onChange={setGateway}
        placeholder="automatic"
      />
      <CheckField id="subnet-dhcp" label="DHCP" checked={dhcp} onChange={setDhcp} />
    </Form>
  );
}

/** Subnets a router may be attached to: those of networks that are not external. */
export function interfaceOptions(state: ReturnType<typeof useApp>['state']): Option[] {
  const external = new Set(
    rows(state, 'networks')
      .filter((n) => n['router:external'])
      .map((n) => n.id),
  );
  return rows(state, 'subnets')
    .filter((s) => !external.has(s.network_id))
    .map((s) => ({ value: s.id, label: `${networkName(state, s.network_id)} · ${s.cidr}` }))
    .sort((a, b) => a.label.localeCompare(b.label));
}

export function externalOptions(state: ReturnType<typeof useApp>['state']): Option[] {
  return rows(state, 'networks')
    .filter((n) => n['router:external'])
    .map((n) => ({ value: n.id, label: label(n) }));
}

/**
 * A router with its gateway and interfaces, all or nothing: when an interface is refused, the
 * interfaces already added and the router are removed again, and the API's message is the form's.
 */
export function RouterForm() {
  const { cloud, state } = useApp();
  const { busy, errors, run } = useAction();
  const owner = useProjectChoice('router');
  const [name, setName] = useState('');
  const [external, setExternal] = useState('');
  const [subnets, setSubnets] = useState<string[]>([]);
  const submit = () =>
    run(async () => {
      const { router } = await cloud.mutate(
        () =>
          cloud.api.post<{ router: { id: string } }>(COLLECTION_PATHS.routers, {
            router: {
              name,
              ...owner.body,
              ...(external ? { external_gateway_info: { network_id: external } } : {}),
            },
          }),
        ['routers', 'ports'],
      );
      const path = memberPath('routers', router.id);
      const added: string[] = [];
      try {
        for (const subnet of subnets) {
          await cloud.api.put(`${path}/add_router_interface`, { subnet_id: subnet });
          added.push(subnet);
        }
      } catch (err) {
        const what = rows(state, 'subnets').find((s) => s.id === subnets[added.length]);
        for (const subnet of added)
          await cloud.api.put(`${path}/remove_router_interface`, { subnet_id: subnet }).catch(() => {});
        await cloud.api.del(path).catch(() => {});
        cloud.invalidate(['routers', 'ports']);
        throw new Error(
          `Router not created: the interface on ${what ? `${networkName(state, what.network_id)} · ${what.cidr}` : 'a subnet'} was refused: ${messageOf(err)}`,
        );
      }
      cloud.invalidate(['routers', 'ports']);
      setName('');
      setExternal('');
      setSubnets([]);
    });
  return (
    <Form
      id="new-router"
      title="New router"
      submit="Create router"
      busy={busy}
      error={errors.form}
      onSubmit={submit}
    >
      <TextField id="router-name" label="Name" value={name} onChange={setName} />
      {owner.field}
      <SelectField
        id="router-external"
        label="External network (gateway)"
        value={external}
        onChange={setExternal}
        options={[{ value: '', label: 'none' }, ...externalOptions(state)]}
      />
      <MultiCheckField
        id="router-subnets"
        legend="Interfaces on subnets"
        options={interfaceOptions(state)}
        value={subnets}
        onChange={setSubnets}
      />
    </Form>
  );
}

export function InstanceForm() {
  const { cloud, state } = useApp();
  const { busy, errors, run } = useAction();
  const [name, setName] = useState('');
  const [networks, setNetworks] = useState<string[]>([]);
  const options = rows(state, 'networks')
    .filter((n) => n.subnets.length > 0)
    .sort(
      (a, b) =>
        Number(a['router:external'] ?? false) - Number(b['router:external'] ?? false) ||
        a.name.localeCompare(b.name),
    )
    .map((n) => ({ value: n.id, label: `${label(n)}${n['router:external'] ? ' (external)' : ''}` }));
  const submit = () =>
    run(async () => {
      await cloud.mutate(
        () =>
          cloud.api.post(COLLECTION_PATHS.instances, {
            instance: { name, networks: networks.map((network_id) => ({ network_id })) },
          }),
        ['instances', 'ports'],
      );
      setName('');
      setNetworks([]);
    });
  return (
    <Form
      id="new-instance"
      title="New instance"
      submit="Create instance"
      busy={busy}
      error={errors.form}
      onSubmit={submit}
    >
      <TextField
        id="instance-name"
        label="Name"
        value={name}
        onChange={setName}
        hint="letters, digits, . _ -"
        error={errors.name}
      />
      <MultiCheckField
        id="instance-networks"
        legend="Networks (eth0, eth1… in this order)"
        options={options}
        value={networks}
        onChange={setNetworks}
        error={errors.networks}
      />
    </Form>
  );
}

export function FloatingIpForm() {
  const { cloud, state } = useApp();
  const { busy, errors, run } = useAction();
  const owner = useProjectChoice('fip');
  const externals = externalOptions(state);
  const [network, setNetwork] = useState('');
  const [port, setPort] = useState('');
  const instances = rows(state, 'instances');
  const submit = () =>
    run(async () => {
      const floating = network || externals[0]?.value;
      if (!floating) throw new Error('There is no external network to allocate from.');
      await cloud.mutate(
        () =>
          cloud.api.post(COLLECTION_PATHS.floatingips, {
            floatingip: {
              floating_network_id: floating,
              ...owner.body,
              ...(port ? { port_id: port } : {}),
            },
          }),
        ['floatingips', 'ports'],
      );
      setPort('');
    });
  return (
    <Form
      id="new-fip"
      title="Allocate a floating IP"
      submit="Allocate"
      busy={busy}
      error={errors.form}
      onSubmit={submit}
    >
      {owner.field}
      <SelectField
        id="fip-network"
        label="External network"
        value={network || externals[0]?.value || ''}
        onChange={setNetwork}
        options={externals.length > 0 ? externals : [{ value: '', label: 'no external network' }]}
      />
      <SelectField
        id="fip-port"
        label="Associate with"
        value={port}
        onChange={setPort}
        options={[
          { value: '', label: 'nothing yet' },
          ...fipTargets(state).map((p) => ({ value: p.id, label: portLabel(p, instances) })),
        ]}
      />
    </Form>
  );
}

export function SecurityGroupForm() {
  const { cloud } = useApp();
  const { busy, errors, run } = useAction();
  const owner = useProjectChoice('sg');
  const [name, setName] = useState('');
  const [description, setDescription] = useState('');
  const submit = () =>
    run(async () => {
      await cloud.mutate(
        () =>
          cloud.api.post(COLLECTION_PATHS.security_groups, {
            security_group: { name, description, ...owner.body },
          }),
        ['security_groups', 'security_group_rules'],
      );
      setName('');
      setDescription('');
    });
  return (
    <Form
      id="new-sg"
      title="New security group"
      submit="Create group"
      busy={busy}
      error={errors.form}
      onSubmit={submit}
    >
      <TextField id="sg-name" label="Name" value={name} onChange={setName} required />
      <TextField id="sg-description" label="Description" value={description} onChange={setDescription} />
      {owner.field}
    </Form>
  );
}

export function RuleForm({ groupId }: { groupId: string }) {
  const { cloud } = useApp();
  const { busy, errors, run } = useAction();
  const [direction, setDirection] = useState('ingress');
  const [ethertype, setEthertype] = useState('IPv4');
  const [protocol, setProtocol] = useState('tcp');
  const [min, setMin] = useState('22');
  const [max, setMax] = useState('22');
  const [prefix, setPrefix] = useState('');
  const ports = protocol === 'tcp' || protocol === 'udp';
  const submit = () =>
    run(async () => {
      const number = (v: string) => (v.trim() === '' ? null : Number(v));
      await cloud.mutate(
        () =>
          cloud.api.post(COLLECTION_PATHS.security_group_rules, {
            security_group_rule: {
              security_group_id: groupId,
              direction,
              ethertype,
              protocol: protocol === 'any' ? null : protocol,
              ...(ports ? { port_range_min: number(min), port_range_max: number(max) } : {}),
              ...(prefix.trim() ? { remote_ip_prefix: prefix.trim() } : {}),
            },
          }),
        ['security_groups', 'security_group_rules'],
      );
    });
  return (
    <Form
      id="new-rule"
      title="Add a rule"
      submit="Add rule"
      busy={busy}
      error={errors.form}
      onSubmit={submit}
    >
      <SelectField
        id="rule-direction"
        label="Direction"
        value={direction}
        onChange={setDirection}
        options={['ingress', 'egress'].map((v) => ({ value: v, label: v }))}
      />
      <SelectField
        id="rule-ethertype"
        label="Ether type"
        value={ethertype}
        onChange={setEthertype}
        options={['IPv4', 'IPv6'].map((v) => ({ value: v, label: v }))}
      />
      <SelectField
        id="rule-protocol"
        label="Protocol"
        value={protocol}
        onChange={setProtocol}
        options={['tcp', 'udp', 'icmp', 'any'].map((v) => ({ value: v, label: v }))}
      />
      {ports ? (
        <>
          <TextField id="rule-min" label="Port from" value={min} onChange={setMin} />
          <TextField id="rule-max" label="Port to" value={max} onChange={setMax} />
        </>
      ) : null}
      <TextField id="rule-prefix" label="Remote CIDR" value={prefix} onChange={setPrefix} placeholder="any" />
    </Form>
  );
}
