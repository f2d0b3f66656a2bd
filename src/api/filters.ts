/**
 * Neutron's `filter-validation` for list requests: which names each collection may be filtered on
 * (its attributes marked `is_filter` in neutron-lib's and Neutron's API definitions, the standard
 * attributes' `description`, `revision_number` and `changed_since`, and the tag filters where
 * resources take tags), and the conversions Neutron applies to filter values before it queries:
 * booleans and integers checked, MACs lower-cased, CIDRs normalised, `fixed_ips` parsed. Any other
 * name is 400 in Neutron's words, a value that cannot be converted 400 `InvalidInput`: a list never
 * silently comes back empty or whole because a filter was not understood.
 */
import ipaddr from 'ipaddr.js';
import { HTTPBadRequest, InvalidInput } from '../core/errors.js';
import type { Query } from './list-query.js';

const CONTROL = ['fields', 'sort_key', 'sort_dir', 'limit', 'marker', 'page_reverse'];
const TAGS = ['tags', 'tags-any', 'not-tags', 'not-tags-any'];
const OWNED = ['id', 'tenant_id', 'project_id'];
/** Resources with Neutron's standard attributes (description, revision, timestamps). */
const STANDARD = [...OWNED, 'description', 'revision_number', 'changed_since'];

/** Filterable names by collection; a collection not named here keeps every attribute filterable. */
const FILTERS: Record<string, string[]> = {
  networks: [
    ...STANDARD,
    ...TAGS,
    'name',
    'admin_state_up',
    'status',
    'shared',
    'mtu',
    'router:external',
    'provider:network_type',
    'provider:physical_network',
    'provider:segmentation_id',
  ],
  subnets: [
    ...STANDARD,
    ...TAGS,
    'name',
    'network_id',
    'ip_version',
    'cidr',
    'gateway_ip',
    'enable_dhcp',
    'ipv6_ra_mode',
    'ipv6_address_mode',
    'subnetpool_id',
    'segment_id',
  ],
  ports: [
    ...STANDARD,
    ...TAGS,
    'name',
    'network_id',
    'admin_state_up',
    'status',
    'mac_address',
    'fixed_ips',
    'device_id',
    'device_owner',
    'binding:host_id',
    'security_groups',
  ],
  routers: [...STANDARD, ...TAGS, 'name', 'admin_state_up'],
  floatingips: [
    ...STANDARD,
    ...TAGS,
    'status',
    'router_id',
    'port_id',
    'floating_network_id',
    'floating_ip_address',
    'fixed_ip_address',
  ],
  security_groups: [...STANDARD, ...TAGS, 'name', 'shared', 'stateful'],
  security_group_rules: [
    ...STANDARD,
    'security_group_id',
    'remote_group_id',
    'remote_address_group_id',
    'direction',
    'protocol',
    'port_range_min',
    'port_range_max',
    'ethertype',
    'remote_ip_prefix',
    'normalized_cidr',
  ],
  // Neutron's port forwardings: no project or standard attributes of their own.
  port_forwardings: [
    'id',
    'protocol',
    'internal_port_id',
    'external_port',
    'external_port_range',
    'description',
  ],
  rbac_policies: [...OWNED, 'object_type', 'object_id', 'target_tenant', 'action'],
  // QoS (neutron-lib's qos, qos-default and qos-bw-limit-direction definitions).
  policies: [...STANDARD, ...TAGS, 'name', 'shared', 'is_default'],
  bandwidth_limit_rules: ['id', 'max_kbps', 'max_burst_kbps', 'direction'],
  dscp_marking_rules: ['id', 'dscp_mark'],
  minimum_bandwidth_rules: ['id', 'min_kbps', 'direction'],
  address_groups: [...OWNED, 'name', 'description'],
  agents: [
    'id',
    'admin_state_up',
    'agent_type',
    'alive',
    'availability_zone',
    'binary',
    'description',
    'host',
    'topic',
  ],
};

const BOOLEANS = new Set([
  'admin_state_up',
  'shared',
  'router:external',
  'enable_dhcp',
  'alive',
  'stateful',
  'is_default',
]);
const INTEGERS = new Set([
  'mtu',
  'ip_version',
  'provider:segmentation_id',
  'port_range_min',
  'port_range_max',
  'revision_number',
  'external_port',
  'max_kbps',
  'max_burst_kbps',
  'min_kbps',
  'dscp_mark',
]);
const FIXED_IP_KEYS = new Set(['ip_address', 'ip_address_substr', 'subnet_id']);

/** Python's `repr` of a string, as Neutron's messages quote names. */
function pyRepr(s: string): string {
  if (s.includes("'") && !s.includes('"')) return `"${s.replace(/\\/g, '\\\\')}"`;
  return `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

function values(v: string | string[] | undefined): string[] {
  return v === undefined ? [] : Array.isArray(v) ? v : [v];
}

/** neutron-lib's convert_to_boolean. */
function toBoolean(v: string): string {
  const lower = v.toLowerCase();
  if (lower === 'true' || lower === '1') return 'true';
  if (lower === 'false' || lower === '0') return 'false';
  throw InvalidInput({ error_message: `'${v}' cannot be converted to boolean` });
}

/** neutron-lib's convert_to_int. */
function toInteger(v: string): string {
  if (!/^\s*[-+]?\d+\s*$/.test(v)) throw InvalidInput({ error_message: `'${v}' is not an integer` });
  return String(Number(v));
}

/** A CIDR (or, for a remote prefix, an address) in the canonical network form stored; others as given. */
function toCidr(v: string, hostToPrefix: boolean): string {
  try {
    if (hostToPrefix && ipaddr.isValid(v)) {
      const addr = ipaddr.parse(v);
      return `${addr.toString()}/${addr.kind() === 'ipv4' ? 32 : 128}`;
    }
    const [addr, length] = ipaddr.parseCIDR(v);
    const network =
      addr.kind() === 'ipv4' ? ipaddr.IPv4.networkAddressFromCIDR(v) : ipaddr.IPv6.networkAddressFromCIDR(v);
    return `${network.toString()}/${length}`;
  } catch {
    return v;
  }
}

/** `fixed_ips=key=value`: neutron-lib's convert_kvp_str_to_list, and only the keys ports filter on. */
function fixedIpFilter(v: string): string {
  const eq = v.indexOf('=');
  if (eq <= 0) throw InvalidInput({ error_message: `'${v}' is not of the form <key>=[value]` });
  const key = v.slice(0, eq).trim();
  if (!FIXED_IP_KEYS.has(key)) {
    throw InvalidInput({
      error_message: `'${key}' is not a fixed_ips filter; use ip_address, ip_address_substr or subnet_id`,
    });
  }
  return `${key}=${v.slice(eq + 1).trim()}`;
}

function convert(key: string, v: string): string {
  if (BOOLEANS.has(key)) return toBoolean(v);
  if (INTEGERS.has(key)) return toInteger(v);
  if (key === 'mac_address') return v.toLowerCase();
  if (key === 'cidr') return toCidr(v, false);
  if (key === 'remote_ip_prefix' || key === 'normalized_cidr') return toCidr(v, true);
  if (key === 'fixed_ips') return fixedIpFilter(v);
  if (key === 'changed_since' && Number.isNaN(Date.parse(v))) {
    throw InvalidInput({
      error_message: 'The input changed_since must be in the following format: YYYY-MM-DDTHH:MM:SSZ',
    });
  }
  return v;
}

/**
 * The query of a list request on `collection`, its filter names checked and values converted as
 * Neutron does; control keys (`fields`, sorting, paging) pass through untouched.
 */
export function checkFilters(collection: string, q: Query): Query {
  const allowed = FILTERS[collection];
  if (!allowed) return q;
  const invalid = Object.keys(q).filter((k) => !CONTROL.includes(k) && !allowed.includes(k));
  if (invalid.length > 0) {
    throw HTTPBadRequest({ msg: `[${invalid.map(pyRepr).join(', ')}] is invalid attribute for filtering` });
  }
  const out: Query = {};
  for (const [key, raw] of Object.entries(q)) {
    if (raw === undefined || CONTROL.includes(key) || TAGS.includes(key)) out[key] = raw;
    else out[key] = values(raw).map((v) => convert(key, v));
  }
  return out;
}
