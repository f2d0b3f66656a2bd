/**
 * The metadata service's content, as Nova serves it to cloud-init: the OpenStack layout
 * (`/openstack/<version>/meta_data.json`, `network_data.json`, `user_data`, `vendor_data*.json`)
 * and the EC2 one (`/<version>/meta-data/<key>`, `/<version>/user-data`).
 *
 * Who asks is never taken from the request's content: the proxy in the network's DHCP namespace
 * (run by the agent) names the network and the source address it saw, and the server finds the
 * instance whose port holds that address on that network. `lookupInstance` does that; `respond`
 * is pure.
 */
import type { Kysely } from 'kysely';
import type { FixedIp } from '../model/port.js';
import { getResource, listResources, type Stored } from '../store/resources.js';
import type { Database } from '../store/schema.js';
import { interfacesOf } from './instances.js';

/** The OpenStack metadata versions served (the content is the same for each), oldest first. */
const OPENSTACK_VERSIONS = [
  '2012-08-10',
  '2013-04-04',
  '2013-10-17',
  '2015-10-15',
  '2016-06-30',
  '2016-10-06',
  '2017-02-22',
  '2018-08-27',
  '2020-10-14',
  'latest',
];
const EC2_VERSIONS = [
  '1.0',
  '2007-01-19',
  '2007-03-01',
  '2007-08-29',
  '2007-10-10',
  '2007-12-15',
  '2008-02-01',
  '2008-09-01',
  '2009-04-04',
  'latest',
];

export interface MetadataPort {
  id: string;
  network_id: string;
  mac_address: string;
  mtu: number;
  fixed_ips: { ip_address: string; cidr: string; gateway_ip: string | null; dns: string[] }[];
}

/** Everything the metadata of one instance is made of. */
export interface MetadataSource {
  id: string;
  name: string;
  project_id: string;
  hostname: string;
  /** The address the request came from (`local-ipv4`). */
  local_ipv4: string;
  /** The floating IP mapped to it, if any (`public-ipv4`). */
  public_ipv4: string | null;
  key_name: string | null;
  public_key: string | null;
  metadata: Record<string, string>;
  /** Base64. */
  user_data: string | null;
  ports: MetadataPort[];
  domain: string;
}

export interface MetadataResponse {
  status: number;
  type: 'application/json' | 'text/plain';
  body: string | Buffer;
}

const text = (body: string | Buffer, status = 200): MetadataResponse => ({
  status,
  type: 'text/plain',
  body,
});
const json = (value: unknown): MetadataResponse => ({
  status: 200,
  type: 'application/json',
  body: JSON.stringify(value),
});
const NOT_FOUND = text('Not Found', 404);
const listing = (names: string[]) => text(names.join('\n'));

function netmask(cidr: string): string {
  const prefix = Number(cidr.split('/')[1]);
  if (cidr.includes(':')) return String(prefix);
  const bits = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
  return [24, 16, 8, 0].map((shift) => (bits >>> shift) & 0xff).join('.');
}

/** `network_data.json` (Nova's format): a link per port, a network per address, DNS services. */
export function networkData(source: MetadataSource): unknown {
  const links = source.ports.map((p) => ({
    id: `tap${p.id.slice(0, 11)}`,
    vif_id: p.id,
    type: 'bridge',
    mtu: p.mtu,
    ethernet_mac_address: p.mac_address,
  }));
  const networks = source.ports.flatMap((p) =>
    p.fixed_ips.map((ip, i) => {
      const v6 = ip.ip_address.includes(':');
      return {
        id: `network${source.ports.indexOf(p)}${i > 0 ? `-${i}` : ''}`,
        type: v6 ? 'ipv6' : 'ipv4',
        link: `tap${p.id.slice(0, 11)}`,
        ip_address: ip.ip_address,
        netmask: netmask(ip.cidr),
        routes: ip.gateway_ip
          ? [{ network: v6 ? '::' : '0.0.0.0', netmask: v6 ? '0' : '0.0.0.0', gateway: ip.gateway_ip }]
          : [],
        network_id: p.network_id,
        services: ip.dns.map((address) => ({ type: 'dns', address })),
      };
    }),
  );
  const dns = [...new Set(source.ports.flatMap((p) => p.fixed_ips.flatMap((ip) => ip.dns)))];
  return { links, networks, services: dns.map((address) => ({ type: 'dns', address })) };
}

/** `meta_data.json`. */
export function metaData(source: MetadataSource): unknown {
  const keys = source.public_key && source.key_name ? { [source.key_name]: source.public_key } : {};
  return {
    uuid: source.id,
    name: source.name,
    hostname: source.hostname,
    availability_zone: 'nova',
    launch_index: 0,
    project_id: source.project_id,
    public_keys: keys,
    keys: Object.entries(keys).map(([name, data]) => ({ name, type: 'ssh', data })),
    meta: source.metadata,
    devices: [],
  };
}

/** The EC2 `meta-data` tree: leaves are strings, directories objects. */
function ec2Tree(source: MetadataSource): Record<string, unknown> {
  return {
    'ami-id': 'ami-00000001',
    'ami-launch-index': '0',
    hostname: source.hostname,
    'instance-id': source.id,
    'instance-type': 'neutrino',
    'local-hostname': source.hostname,
    'local-ipv4': source.local_ipv4,
    ...(source.public_ipv4 ? { 'public-ipv4': source.public_ipv4, 'public-hostname': source.hostname } : {}),
    placement: { 'availability-zone': 'nova' },
    ...(source.public_key && source.key_name
      ? { 'public-keys': { [`0=${source.key_name}`]: { 'openssh-key': source.public_key } } }
      : {}),
    'reservation-id': `r-${source.id.slice(0, 8)}`,
    'security-groups': '',
  };
}

/** The answer to `GET <path>` for the instance `source`. */
export function respond(source: MetadataSource, path: string): MetadataResponse {
  const parts = path.split('/').filter((p) => p !== '');
  if (parts.length === 0) return listing([...EC2_VERSIONS, 'openstack']);
  if (parts[0] === 'openstack') {
    if (parts.length === 1) return listing(OPENSTACK_VERSIONS);
    if (!OPENSTACK_VERSIONS.includes(parts[1])) return NOT_FOUND;
    const file = parts.slice(2).join('/');
    if (file === '')
      return listing([
        'meta_data.json',
        'network_data.json',
        'vendor_data.json',
        'vendor_data2.json',
        ...(source.user_data ? ['user_data'] : []),
      ]);
    if (file === 'meta_data.json') return json(metaData(source));
    if (file === 'network_data.json') return json(networkData(source));
    if (file === 'vendor_data.json' || file === 'vendor_data2.json') return json({});
    if (file === 'user_data')
      return source.user_data ? text(Buffer.from(source.user_data, 'base64')) : NOT_FOUND;
    return NOT_FOUND;
  }
  if (!EC2_VERSIONS.includes(parts[0])) return NOT_FOUND;
  if (parts.length === 1) return listing(['meta-data', ...(source.user_data ? ['user-data'] : [])]);
  if (parts[1] === 'user-data')
    return source.user_data && parts.length === 2 ? text(Buffer.from(source.user_data, 'base64')) : NOT_FOUND;
  if (parts[1] !== 'meta-data') return NOT_FOUND;
  let node: unknown = ec2Tree(source);
  for (const part of parts.slice(2)) {
    if (typeof node !== 'object' || node === null) return NOT_FOUND;
    const tree = node as Record<string, unknown>;
    // public-keys/0 names the key `0=name`; EC2 clients ask for it by index.
    const key = Object.keys(tree).find((k) => k === part || k.startsWith(`${part}=`));
    if (key === undefined) return NOT_FOUND;
    node = tree[key];
  }
  if (typeof node === 'string') return text(node);
  const tree = node as Record<string, unknown>;
  return listing(
    Object.keys(tree).map((k) => (typeof tree[k] === 'object' && !k.includes('=') ? `${k}/` : k)),
  );
}

/**
 * The instance whose port holds `address` on `networkId`, as a `MetadataSource`; undefined when
 * no instance does (a DHCP or router port, a stranger).
 */
export async function lookupInstance(
  db: Kysely<Database>,
  networkId: string,
  address: string,
  domain: string,
): Promise<MetadataSource | undefined> {
  const allocation = await db
    .selectFrom('ip_allocations')
    .select('port_id')
    .where('network_id', '=', networkId)
    .where('ip_address', '=', address)
    .executeTakeFirst();
  if (!allocation) return undefined;
  const port = await getResource(db, 'ports', allocation.port_id);
  const instanceId = port?.device_id;
  if (!port || typeof instanceId !== 'string' || instanceId === '') return undefined;
  const instance = await getResource(db, 'instances', instanceId);
  if (!instance || !interfacesOf(instance).some((i) => i.port_id === port.id)) return undefined;
  const ports = await listResources(db, 'ports', {
    column: 'id',
    values: interfacesOf(instance).map((i) => i.port_id),
  });
  const order = new Map(interfacesOf(instance).map((i, n) => [i.port_id, n]));
  ports.sort((a, b) => (order.get(a.id) ?? 0) - (order.get(b.id) ?? 0));
  const subnetIds = ports.flatMap((p) => (p.fixed_ips as FixedIp[]).map((f) => f.subnet_id));
  const subnets = new Map(
    (await listResources(db, 'subnets', { column: 'id', values: subnetIds })).map((s) => [s.id, s]),
  );
  const networks = new Map(
    (
      await listResources(db, 'networks', { column: 'id', values: ports.map((p) => String(p.network_id)) })
    ).map((n) => [n.id, n]),
  );
  const mapped = await db
    .selectFrom('floatingip_associations')
    .select('floatingip_id')
    .where('port_id', '=', port.id)
    .where('fixed_ip_address', '=', address)
    .executeTakeFirst();
  const floating = mapped && (await getResource(db, 'floatingips', mapped.floatingip_id));
  const publicIpv4 = floating ? String(floating.floating_ip_address) : null;
  const hostname = String(port.dns_name || instance.name);
  return {
    id: instance.id,
    name: String(instance.name),
    project_id: instance.project_id,
    hostname: `${hostname}.${domain}`.replace(/\.+$/, ''),
    local_ipv4: address,
    public_ipv4: publicIpv4,
    key_name: (instance.key_name as string | undefined) ?? null,
    public_key: (instance.public_key as string | undefined) ?? null,
    metadata: (instance.metadata as Record<string, string> | undefined) ?? {},
    user_data: (instance.user_data as string | undefined) ?? null,
    domain,
    ports: ports.map((p: Stored) => ({
      id: p.id,
      network_id: String(p.network_id),
      mac_address: String(p.mac_address),
      mtu: Number(networks.get(String(p.network_id))?.mtu ?? 1500),
      fixed_ips: (p.fixed_ips as FixedIp[]).flatMap((f) => {
        const subnet = subnets.get(f.subnet_id);
        if (!subnet) return [];
        return [
          {
            ip_address: f.ip_address,
            cidr: String(subnet.cidr),
            gateway_ip: (subnet.gateway_ip as string | null) ?? null,
            dns: (subnet.dns_nameservers as string[] | undefined) ?? [],
          },
        ];
      }),
    })),
  };
}
