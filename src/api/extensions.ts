/**
 * `/v2.0/extensions`: the extensions Neutrino implements, in Neutron's format. This list is the
 * single source of truth clients discover features from (the openstack CLI asks before it uses
 * one): add an entry when a feature lands, never before. Names, descriptions and dates are
 * Neutron's own, so clients that match on them keep working.
 */
import type { FastifyInstance } from 'fastify';
import { ExtensionNotFound } from '../core/errors.js';

export interface Extension {
  name: string;
  alias: string;
  description: string;
  updated: string;
  links: never[];
}

function ext(name: string, alias: string, description: string, updated: string): Extension {
  return { name, alias, description, updated, links: [] };
}

export const EXTENSIONS: Extension[] = [
  // API conventions
  ext(
    'Empty String Filtering Extension',
    'empty-string-filtering',
    'Allow filtering by attributes with empty string value',
    '2018-05-01T10:00:00-00:00',
  ),
  ext(
    'Filter parameters validation',
    'filter-validation',
    'Provides validation on filter parameters.',
    '2018-07-04T10:00:00-00:00',
  ),
  ext(
    'IP address substring filtering',
    'ip-substring-filtering',
    'Provides IP address substring filtering when listing ports',
    '2017-11-28T09:00:00-00:00',
  ),
  ext(
    'Pagination support',
    'pagination',
    'Extension that indicates that pagination is enabled.',
    '2016-06-12T00:00:00-00:00',
  ),
  ext(
    'Sorting support',
    'sorting',
    'Extension that indicates that sorting is enabled.',
    '2016-06-12T00:00:00-00:00',
  ),
  ext(
    'project_id field enabled',
    'project-id',
    'Extension that indicates that project_id field is enabled.',
    '2016-09-09T09:09:09-09:09',
  ),
  ext(
    'If-Match constraints based on revision_number',
    'revision-if-match',
    'Extension indicating that If-Match based on revision_number is supported.',
    '2016-12-11T00:00:00-00:00',
  ),
  ext(
    'standard-attr-description',
    'standard-attr-description',
    'Extension to add descriptions to standard attributes',
    '2016-02-10T10:00:00-00:00',
  ),
  ext(
    'Resource revision numbers',
    'standard-attr-revisions',
    'This extension will display the revision number of neutron resources.',
    '2016-04-11T10:00:00-00:00',
  ),
  ext(
    'Tag support for resources with standard attribute: port, subnet, subnetpool, network, security_group, router, floatingip, policy, trunk, network_segment_range',
    'standard-attr-tag',
    'Enables to set tag on resources with standard attribute.',
    '2017-01-01T00:00:00-00:00',
  ),
  ext(
    'Resource timestamps',
    'standard-attr-timestamp',
    'Adds created_at and updated_at fields to all Neutron resources that have Neutron standard attributes.',
    '2016-09-12T10:00:00-00:00',
  ),
  // Networks
  ext(
    'Neutron external network',
    'external-net',
    'Adds external network attribute to network resource.',
    '2013-01-14T10:00:00-00:00',
  ),
  ext(
    'Network MTU',
    'net-mtu',
    'Provides MTU attribute for a network resource.',
    '2015-03-25T10:00:00-00:00',
  ),
  ext(
    'Network MTU (writable)',
    'net-mtu-writable',
    'Provides a writable MTU attribute for a network resource.',
    '2017-07-12T00:00:00-00:00',
  ),
  ext(
    'Network Availability Zone',
    'network_availability_zone',
    'Availability zone support for network.',
    '2015-01-01T10:00:00-00:00',
  ),
  ext(
    'Provider Network',
    'provider',
    'Expose mapping of virtual networks to physical networks',
    '2012-09-07T10:00:00-00:00',
  ),
  ext(
    'Subnet service types',
    'subnet-service-types',
    'Provides ability to set the subnet service_types field',
    '2016-03-15T18:00:00-00:00',
  ),
  // Ports
  ext(
    'Allowed Address Pairs',
    'allowed-address-pairs',
    'Provides allowed address pairs',
    '2013-07-23T10:00:00-00:00',
  ),
  ext(
    'Port Binding',
    'binding',
    'Expose port bindings of a virtual port to external application',
    '2014-02-03T10:00:00-00:00',
  ),
  ext(
    'Neutron Extra DHCP options',
    'extra_dhcp_opt',
    'Extra options configuration for DHCP. For example PXE boot options to DHCP clients can be specified (e.g. tftp-server, server-ip-address, bootfile-name)',
    '2013-03-17T12:00:00-00:00',
  ),
  ext('Port Security', 'port-security', 'Provides port security', '2012-07-23T10:00:00-00:00'),
  ext(
    'Port filtering on security groups',
    'port-security-groups-filtering',
    'Provides security groups filtering when listing ports',
    '2018-01-09T09:00:00-00:00',
  ),
  // Security groups
  ext('security-group', 'security-group', 'The security groups extension.', '2012-10-05T10:00:00-00:00'),
  ext('Address group', 'address-group', 'Support address group', '2020-07-15T10:00:00-00:00'),
  // Firewall as a service (neutron-fwaas), on router interface ports
  ext(
    'FWaaS v2',
    'fwaas_v2',
    'Provides support for firewall-as-a-service version 2',
    '2016-10-06T10:00:00-00:00',
  ),
  // Network logging: security groups' and firewall groups' accepts and drops, per port
  ext(
    'Logging API Extension',
    'logging',
    'Provides a logging API for resources such as security group and firewall.',
    '2017-01-01T10:00:00-00:00',
  ),
  // VPN as a service (neutron-vpnaas): IPsec site connections by strongSwan in router namespaces
  ext('VPN service', 'vpnaas', 'Extension for VPN service', '2013-05-29T10:00:00-00:00'),
  ext(
    'VPN Endpoint Groups',
    'vpn-endpoint-groups',
    'VPN endpoint groups support',
    '2015-08-04T10:00:00-00:00',
  ),
  ext('Trunk Extension', 'trunk', 'Provides support for trunk ports', '2016-01-01T10:00:00-00:00'),
  ext(
    'Remote address group id field for security group rules',
    'security-groups-remote-address-group',
    'Add new field of remote address group id in SG rules',
    '2020-08-25T10:00:00-00:00',
  ),
  ext(
    'Security group filtering on the shared field',
    'security-groups-shared-filtering',
    'Support filtering security groups on the shared field',
    '2021-10-05T09:00:00-00:00',
  ),
  ext(
    'Normalized CIDR field for security group rules',
    'security-groups-normalized-cidr',
    'Add new field with normalized remote_ip_prefix cidr in SG rule',
    '2020-07-28T10:00:00-00:00',
  ),
  ext(
    'Stateful security group',
    'stateful-security-group',
    'Indicates if the security group is stateful or not',
    '2019-11-26T09:00:00-00:00',
  ),
  // RBAC, quotas, IP availability
  ext(
    'RBAC Policies',
    'rbac-policies',
    'Allows creation and modification of policies that control tenant access to resources.',
    '2015-06-17T12:15:12-00:00',
  ),
  ext(
    'Add security_group type to network RBAC',
    'rbac-security-groups',
    'Add security_group type to network RBAC',
    '2019-02-14T00:00:00-00:00',
  ),
  ext(
    'Add subnetpool type to RBAC',
    'rbac-subnetpool',
    'Add subnetpool type to RBAC',
    '2020-02-05T00:00:00-00:00',
  ),
  ext(
    'Add address_scope type to RBAC',
    'rbac-address-scope',
    'Add address_scope type to RBAC',
    '2020-02-12T00:00:00-00:00',
  ),
  // Subnet pools and address scopes
  ext(
    'Subnet Allocation',
    'subnet_allocation',
    'Enables allocation of subnets from a subnet pool',
    '2015-03-30T10:00:00-00:00',
  ),
  ext(
    'Default Subnetpools',
    'default-subnetpools',
    'Provides ability to mark and use a subnetpool as the default.',
    '2016-02-18T18:00:00-00:00',
  ),
  ext(
    'Subnet Pool Prefix Operations',
    'subnetpool-prefix-ops',
    'Provides support for adjusting the prefix list of subnet pools',
    '2019-02-08T10:00:00-00:00',
  ),
  ext('Address scope', 'address-scope', 'Address scopes extension.', '2015-07-26T10:00:00-00:00'),
  ext(
    'Quota management support',
    'quotas',
    'Expose functions for quotas management per project',
    '2012-07-29T10:00:00-00:00',
  ),
  ext(
    'Quota details management support',
    'quota_details',
    'Expose functions for quotas usage statistics per project',
    '2017-02-10T10:00:00-00:00',
  ),
  ext(
    'Quota engine limit check',
    'quota-check-limit',
    'Support for checking the resource usage before applying a new quota limit',
    '2021-09-08T16:00:00-00:00',
  ),
  ext(
    'Network IP Availability',
    'network-ip-availability',
    'Provides IP availability data for each network and subnet.',
    '2015-09-24T00:00:00-00:00',
  ),
  // Routers and floating IPs
  ext(
    'Neutron L3 Router',
    'router',
    'Router abstraction for basic L3 forwarding between L2 Neutron networks and access to external networks via a NAT gateway.',
    '2012-07-20T10:00:00-00:00',
  ),
  ext(
    'Neutron L3 Configurable external gateway mode',
    'ext-gw-mode',
    'Extension of the router abstraction for specifying whether SNAT should occur on the external gateway',
    '2013-03-28T10:00:00-00:00',
  ),
  ext(
    'Neutron Extra Route',
    'extraroute',
    'Extra routes configuration for L3 router',
    '2013-02-01T10:00:00-00:00',
  ),
  ext(
    'Atomically add/remove extra routes',
    'extraroute-atomic',
    'Edit extra routes of a router on server side by atomically adding/removing extra routes',
    '2019-07-10T00:00:00+00:00',
  ),
  ext(
    'Floating IP Port Details Extension',
    'fip-port-details',
    'Add port_details attribute to Floating IP resource',
    '2018-04-09T10:00:00-00:00',
  ),
  ext(
    'Floating IP Pools Extension',
    'floatingip-pools',
    'Provides a floating IP pools API.',
    '2018-03-21T10:00:00-00:00',
  ),
  ext(
    'Floating IP Port Forwarding',
    'floating-ip-port-forwarding',
    'Allow port forwarding from floating IP port to an internal port',
    '2018-01-19T10:00:00-00:00',
  ),
  ext(
    'Floating IP Port Forwarding new attribute description',
    'floating-ip-port-forwarding-description',
    'Add a description field to Port Forwarding rules',
    '2019-11-01T10:00:00-00:00',
  ),
  ext(
    'Floating IP Port Forwarding support port ranges',
    'floating-ip-port-forwarding-port-ranges',
    'Add suport to port ranges',
    '2020-07-01T10:00:00-00:00',
  ),
  ext(
    'Floating IP port forwarding detail',
    'floating-ip-port-forwarding-detail',
    "Allow list floating ip return more port forwarding data, include'id' and 'internal_port_id'",
    '2022-05-06T10:00:00-00:00',
  ),
  ext(
    'Expose Floating IP port forwardings',
    'expose-port-forwarding-in-fip',
    'Expose port forwarding fields in floating IP response',
    '2018-06-28T16:00:00-00:00',
  ),
  // QoS
  ext('Quality of Service', 'qos', 'The Quality of Service extension.', '2015-06-08T10:00:00-00:00'),
  ext(
    'Direction for QoS bandwidth limit rule',
    'qos-bw-limit-direction',
    'Allow to configure QoS bandwidth limit rule with specific direction: ingress or egress',
    '2017-04-10T10:00:00-00:00',
  ),
  ext(
    'QoS default policy',
    'qos-default',
    'Expose the QoS default policy per project',
    '2017-041-06T10:00:00-00:00',
  ),
  ext(
    'Floating IP QoS',
    'qos-fip',
    'The floating IP Quality of Service extension',
    '2017-07-20T00:00:00-00:00',
  ),
  ext(
    'Router gateway IP QoS',
    'qos-gateway-ip',
    'The Router gateway IP Quality of Service extension',
    '2018-02-24T00:00:00-00:00',
  ),
  ext(
    'QoS port network policy ID',
    'qos-port-network-policy',
    'Adds a the QoS network ID to the port definition',
    '2019-11-01T10:00:00-00:00',
  ),
  ext(
    'Quality of Service rules alias API',
    'qos-rules-alias',
    'API to enable GET, PUT and DELETE operations on QoS policy rules without specifying policy ID',
    '2018-10-07T10:00:00-00:00',
  ),
  ext(
    'Details of QoS rule types',
    'qos-rule-type-details',
    'Expose details about QoS rule types supported by loaded backend drivers',
    '2017-06-22T10:00:00-00:00',
  ),
  ext(
    'Allow to filter the list of QoS rule types',
    'qos-rule-type-filter',
    'Allows to filter the QoS rule type list adding two new flags. "all_rules" prints all implemented QoS rule types."all_supported" prints all supported QoS rule types by the loaded mechanism drivers',
    '2022-02-02T10:00:00-00:00',
  ),
  // Tap-as-a-Service and metering
  ext('Neutron Tap as a Service', 'taas', 'Neutron Tap as a Service Extension.', '2015-01-14T10:00:00-00:00'),
  ext('Neutron Metering', 'metering', 'Neutron Metering extension.', '2012-06-12T10:00:00-00:00'),
  ext(
    'Neutron Metering source and destination filters',
    'metering_source_and_destination_fields',
    'Provide a means to define source and destination fields for metering label rules.',
    '2020-08-20T10:00:00-00:00',
  ),
  // Agents
  ext('agent', 'agent', 'The agent management extension.', '2013-02-03T10:00:00-00:00'),
  ext(
    'DHCP Agent Scheduler',
    'dhcp_agent_scheduler',
    'Schedule networks among dhcp agents',
    '2013-02-07T10:00:00-00:00',
  ),
  ext(
    'L3 Agent Scheduler',
    'l3_agent_scheduler',
    'Schedule routers among l3 agents',
    '2013-02-07T10:00:00-00:00',
  ),
  ext('HA Router extension', 'l3-ha', 'Adds HA capability to routers.', '2014-04-26T00:00:00-00:00'),
];

export function registerExtensions(app: FastifyInstance): void {
  app.get('/v2.0/extensions', async () => ({ extensions: EXTENSIONS }));

  app.get('/v2.0/extensions/:alias', async (req) => {
    const { alias } = req.params as { alias: string };
    const found = EXTENSIONS.find((e) => e.alias === alias);
    if (!found) throw ExtensionNotFound({ extension: alias });
    return { extension: found };
  });
}
