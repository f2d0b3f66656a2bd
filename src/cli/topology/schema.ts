/**
 * The topology file of `neutrino apply`: projects, and in each its networks (with subnets),
 * routers, security groups (with rules), instances and floating IPs, keyed by name. Published as
 * JSON Schema in `docs/topology.schema.json` (a unit test keeps the two equal), so editors can
 * check a file as it is written.
 */
import { type Static, Type } from 'typebox';

const closed = { additionalProperties: false } as const;

const NAME = '^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$';
/** A name of an object a file declares or refers to (1-63 letters, digits, `.`, `_`, `-`). */
const NameOf = (description: string) => Type.String({ pattern: NAME, description });
/** Names of objects a file declares: they become the objects' names and are how the file refers to them. */
export const Name = NameOf('1-63 letters, digits, ".", "_" or "-", not starting with a punctuation mark');
/** A topology's own name: the ownership tag `neutrino-topology:<name>` must stay within 60 characters. */
export const TopologyName = Type.String({
  pattern: '^[A-Za-z0-9][A-Za-z0-9._-]{0,41}$',
  description: '1-42 letters, digits, ".", "_" or "-"',
});
const Description = Type.String({ maxLength: 255 });
const Address = Type.String({ minLength: 1, maxLength: 64, description: 'an IP address' });
const Cidr = Type.String({ pattern: '^[0-9A-Fa-f:.]+/[0-9]{1,3}$', description: 'a CIDR, e.g. 10.0.0.0/24' });
const Ipv6Mode = Type.Enum(['slaac', 'dhcpv6-stateful', 'dhcpv6-stateless']);
const Route = Type.Object({ destination: Cidr, nexthop: Address }, closed);

export const Subnet = Type.Object(
  {
    cidr: Cidr,
    ip_version: Type.Optional(Type.Enum([4, 6], { description: 'default: that of the CIDR' })),
    gateway: Type.Optional(
      Type.Union([Address, Type.Null()], {
        description: 'the gateway address, or null for none (default: the first address)',
      }),
    ),
    dhcp: Type.Optional(Type.Boolean({ description: 'default true' })),
    dns_nameservers: Type.Optional(Type.Array(Address)),
    allocation_pools: Type.Optional(Type.Array(Type.Object({ start: Address, end: Address }, closed))),
    host_routes: Type.Optional(Type.Array(Route)),
    ipv6_ra_mode: Type.Optional(Ipv6Mode),
    ipv6_address_mode: Type.Optional(Ipv6Mode),
    description: Type.Optional(Description),
  },
  closed,
);

export const Network = Type.Object(
  {
    description: Type.Optional(Description),
    external: Type.Optional(Type.Boolean({ description: 'an external network (admin); default false' })),
    shared: Type.Optional(Type.Boolean({ description: 'shared with every project (admin); default false' })),
    mtu: Type.Optional(Type.Integer({ minimum: 68, maximum: 65535 })),
    port_security: Type.Optional(Type.Boolean({ description: 'default true' })),
    admin_state_up: Type.Optional(Type.Boolean({ description: 'default true' })),
    provider: Type.Optional(
      Type.Object(
        {
          network_type: Type.Optional(Type.Enum(['local', 'flat', 'vlan', 'vxlan'])),
          physical_network: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
          segmentation_id: Type.Optional(Type.Integer({ minimum: 0 })),
        },
        { ...closed, description: 'provider attributes (admin); fixed once created' },
      ),
    ),
    subnets: Type.Optional(Type.Record(Name, Subnet, closed)),
  },
  closed,
);

export const Router = Type.Object(
  {
    description: Type.Optional(Description),
    external_gateway: Type.Optional(
      Type.Union([Name, Type.Null()], { description: 'the external network (a name) or null for none' }),
    ),
    snat: Type.Optional(Type.Boolean({ description: 'source NAT to the gateway (admin to disable)' })),
    interfaces: Type.Optional(Type.Array(Name, { uniqueItems: true, description: 'subnet names' })),
    routes: Type.Optional(Type.Array(Route)),
    admin_state_up: Type.Optional(Type.Boolean({ description: 'default true' })),
  },
  closed,
);

const PortRange = Type.Union(
  [Type.Integer({ minimum: 0, maximum: 65535 }), Type.String({ pattern: '^[0-9]{1,5}[-:][0-9]{1,5}$' })],
  { description: 'a port (80) or a range ("8000-8080")' },
);

export const Rule = Type.Object(
  {
    direction: Type.Optional(Type.Enum(['ingress', 'egress'], { description: 'default ingress' })),
    ethertype: Type.Optional(
      Type.Enum(['IPv4', 'IPv6'], { description: 'default: that of remote_ip, else IPv4' }),
    ),
    protocol: Type.Optional(
      Type.Union([Type.String({ minLength: 1, maxLength: 40 }), Type.Integer({ minimum: 0, maximum: 255 })], {
        description: 'tcp, udp, icmp, ipv6-icmp, …, a number, or any (default)',
      }),
    ),
    port: Type.Optional(PortRange),
    icmp_type: Type.Optional(Type.Integer({ minimum: 0, maximum: 255 })),
    icmp_code: Type.Optional(Type.Integer({ minimum: 0, maximum: 255 })),
    remote_ip: Type.Optional(Cidr),
    remote_group: Type.Optional(NameOf('a security group of the same project')),
    description: Type.Optional(Description),
  },
  closed,
);

export const SecurityGroup = Type.Object(
  {
    description: Type.Optional(Description),
    rules: Type.Optional(Type.Array(Rule)),
    default_egress: Type.Optional(
      Type.Boolean({ description: "keep Neutron's allow-all egress rules (IPv4 and IPv6); default true" }),
    ),
  },
  closed,
);

const Nic = Type.Union(
  [
    Name,
    Type.Object(
      { network: Name, fixed_ip: Type.Optional(Address), security_groups: Type.Optional(Type.Array(Name)) },
      closed,
    ),
  ],
  { description: 'a network name, or {network, fixed_ip}' },
);

export const Instance = Type.Object(
  {
    networks: Type.Array(Nic, { minItems: 1, maxItems: 32, description: 'one interface each, eth0 first' }),
    security_groups: Type.Optional(
      Type.Array(Name, {
        description: "security groups of every interface (default: the project's default)",
      }),
    ),
  },
  closed,
);

export const FloatingIp = Type.Object(
  {
    instance: Name,
    network: NameOf('the external network the address comes from'),
    interface: Type.Optional(NameOf("the instance's network to map to (default: its first)")),
    address: Type.Optional(Address),
    description: Type.Optional(Description),
  },
  closed,
);

export const Project = Type.Object(
  {
    description: Type.Optional(Description),
    networks: Type.Optional(Type.Record(Name, Network, closed)),
    routers: Type.Optional(Type.Record(Name, Router, closed)),
    security_groups: Type.Optional(Type.Record(Name, SecurityGroup, closed)),
    instances: Type.Optional(Type.Record(Name, Instance, closed)),
    floating_ips: Type.Optional(Type.Array(FloatingIp)),
  },
  closed,
);

/** What `neutrino check FILE` probes besides ICMP between the file's instances (`apply` ignores it). */
export const Check = Type.Object(
  {
    tcp: Type.Optional(
      Type.Array(Type.Integer({ minimum: 1, maximum: 65535 }), {
        uniqueItems: true,
        description: 'TCP ports to probe (a listener is started on each in every destination)',
      }),
    ),
    icmp: Type.Optional(Type.Boolean({ description: 'probe with ping; default true' })),
    outside: Type.Optional(
      Type.Union([Type.Boolean(), Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9_.-]{0,254}$' })], {
        description:
          'probe the external network too: true (default: the namespace holding its gateway address), false, or that namespace',
      }),
    ),
  },
  { ...closed, description: 'what `neutrino check` probes (see docs/cli.md)' },
);

export const Topology = Type.Object(
  {
    $schema: Type.Optional(Type.String()),
    name: Type.Optional(TopologyName),
    description: Type.Optional(Type.String()),
    projects: Type.Record(
      Type.String({ pattern: '^[^/]{1,64}$', description: 'a project name' }),
      Project,
      closed,
    ),
    check: Type.Optional(Check),
  },
  {
    ...closed,
    $id: 'https://neutrino.invalid/topology.schema.json',
    title: 'Neutrino topology',
    description:
      'What `neutrino apply` creates: projects and their networks, subnets, routers, security groups, ' +
      'instances and floating IPs. Objects the file creates carry the tag neutrino-topology:<name>.',
  },
);

export type Topology = Static<typeof Topology>;
export type Project = Static<typeof Project>;
export type Network = Static<typeof Network>;
export type Subnet = Static<typeof Subnet>;
export type Router = Static<typeof Router>;
export type SecurityGroup = Static<typeof SecurityGroup>;
export type Rule = Static<typeof Rule>;
export type Instance = Static<typeof Instance>;
export type FloatingIp = Static<typeof FloatingIp>;
export type Check = Static<typeof Check>;

/** The published JSON Schema (draft 2020-12), as `docs/topology.schema.json` holds it. */
export function publishedSchemaText(): string {
  const schema = {
    $schema: 'https://json-schema.org/draft/2020-12/schema',
    ...JSON.parse(JSON.stringify(Topology)),
  };
  return `${JSON.stringify(schema, null, 2)}\n`;
}
