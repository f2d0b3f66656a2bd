/**
 * Every error Neutrino answers with, defined once: Neutron's exception type names, their HTTP
 * status and message template. Handlers throw these; the API turns them into
 * `{"NeutronError": {"type", "message", "detail"}}` bodies. Nothing else builds error bodies.
 */

export class NeutronError extends Error {
  readonly type: string;
  readonly status: number;
  readonly detail: string;

  constructor(type: string, status: number, message: string, detail = '') {
    super(message);
    this.type = type;
    this.status = status;
    this.detail = detail;
  }

  /** Sent without the `NeutronError` envelope, as Neutron's policy hook answers a hidden GET. */
  unwrapped = false;

  toBody() {
    const fields = { type: this.type, message: this.message, detail: this.detail };
    return this.unwrapped ? fields : { NeutronError: fields };
  }
}

type Params = Record<string, unknown>;

/** Declares one named error: `NetworkNotFound({net_id})` builds the exception to throw. */
function define<P extends Params>(type: string, status: number, template: string) {
  const build = (params: P = {} as P) =>
    new NeutronError(
      type,
      status,
      template.replace(/%\((\w+)\)s/g, (_, key: string) => String(params[key])),
    );
  build.type = type;
  return build;
}

// 400
export const BadRequest = define<{ resource: string; msg: string }>(
  'BadRequest',
  400,
  'Bad %(resource)s request: %(msg)s.',
);
export const HTTPBadRequest = define<{ msg: string }>('HTTPBadRequest', 400, '%(msg)s');
export const InvalidInput = define<{ error_message: string }>(
  'InvalidInput',
  400,
  'Invalid input for operation: %(error_message)s.',
);
export const InvalidIpForSubnet = define<{ ip_address: string }>(
  'InvalidIpForSubnet',
  400,
  'IP address %(ip_address)s is not a valid IP for the specified subnet.',
);
export const InvalidIpForNetwork = define<{ ip_address: string }>(
  'InvalidIpForNetwork',
  400,
  'IP address %(ip_address)s is not a valid IP for any of the subnets on the specified network.',
);
export const InvalidAllocationPool = define<{ pool: string }>(
  'InvalidAllocationPool',
  400,
  'The allocation pool %(pool)s is not valid.',
);
export const OverlappingAllocationPools = define<{ pool_1: string; pool_2: string; subnet_cidr: string }>(
  'OverlappingAllocationPools',
  409,
  'Found overlapping allocation pools: %(pool_1)s %(pool_2)s for subnet %(subnet_cidr)s.',
);
export const OutOfBoundsAllocationPool = define<{ pool: string; subnet_cidr: string }>(
  'OutOfBoundsAllocationPool',
  400,
  'The allocation pool %(pool)s spans beyond the subnet cidr %(subnet_cidr)s.',
);
export const GatewayConflictWithAllocationPools = define<{ ip_address: string; pool: string }>(
  'GatewayConflictWithAllocationPools',
  409,
  'Gateway ip %(ip_address)s conflicts with allocation pool %(pool)s.',
);
export const SecurityGroupRuleInvalidProtocol = define<{ protocol: string; values: string }>(
  'SecurityGroupRuleInvalidProtocol',
  400,
  'Security group rule protocol %(protocol)s not supported. Only protocol values %(values)s and integer representations [0 to 255] are supported.',
);
export const SecurityGroupInvalidPortRange = define(
  'SecurityGroupInvalidPortRange',
  400,
  'For TCP/UDP protocols, port_range_min must be <= port_range_max',
);
export const SecurityGroupMultipleRemoteEntites = define(
  'SecurityGroupMultipleRemoteEntites',
  400,
  'Only one of remote_ip_prefix or remote_group_id or remote_address_group_id may be provided.',
);
export const SecurityGroupRuleParameterConflict = define<{ ethertype: string; cidr: string }>(
  'SecurityGroupRuleParameterConflict',
  400,
  'Conflicting value ethertype %(ethertype)s for CIDR %(cidr)s',
);
export const SecurityGroupConflict = define<{ reason: string }>(
  'SecurityGroupConflict',
  409,
  'Error %(reason)s while attempting the operation.',
);
export const InvalidSharedSetting = define<{ network: string }>(
  'InvalidSharedSetting',
  409,
  'Unable to reconfigure sharing settings for network %(network)s. Multiple tenants are using it.',
);

// 401 / 403
export const NotAuthenticated = define('NotAuthenticated', 401, 'Authentication required');
export const PolicyNotAuthorized = define<{ action: string }>(
  'PolicyNotAuthorized',
  403,
  '(rule:%(action)s) is disallowed by policy',
);
export const AdminRequired = define<{ reason: string }>(
  'AdminRequired',
  403,
  'User does not have admin privileges: %(reason)s.',
);

// 404
export const NotFound = define<{ msg: string }>('HTTPNotFound', 404, '%(msg)s');
/**
 * An object policy does not let the caller see (an agent to a non-admin): Neutron pretends it
 * does not exist. A GET gets the fields without the envelope, as Neutron's policy hook writes them
 * (`pecan_wsgi/hooks/policy_enforcement.py`); a PUT or DELETE the ordinary NeutronError body.
 */
export function HiddenByPolicy(method: 'GET' | 'PUT' | 'DELETE'): NeutronError {
  const error = NotFound({ msg: 'The resource could not be found.' });
  error.unwrapped = method === 'GET';
  return error;
}
export const ResourceNotFound = define<{ resource: string; id: string }>(
  'NotFound',
  404,
  'Resource %(resource)s %(id)s could not be found.',
);
export const NetworkNotFound = define<{ net_id: string }>(
  'NetworkNotFound',
  404,
  'Network %(net_id)s could not be found.',
);
export const SubnetNotFound = define<{ subnet_id: string }>(
  'SubnetNotFound',
  404,
  'Subnet %(subnet_id)s could not be found.',
);
export const PortNotFound = define<{ port_id: string }>(
  'PortNotFound',
  404,
  'Port %(port_id)s could not be found.',
);
export const SecurityGroupNotFound = define<{ id: string }>(
  'SecurityGroupNotFound',
  404,
  'Security group %(id)s does not exist',
);
export const SecurityGroupRuleNotFound = define<{ id: string }>(
  'SecurityGroupRuleNotFound',
  404,
  'Security group rule %(id)s does not exist',
);
export const RbacPolicyNotFound = define<{ id: string; object_type: string }>(
  'RbacPolicyNotFound',
  404,
  'RBAC policy of type %(object_type)s with ID %(id)s not found',
);
export const TagNotFound = define<{ tag: string; resource: string; resource_id: string }>(
  'TagNotFound',
  404,
  'Tag %(tag)s could not be found for %(resource)s %(resource_id)s.',
);
export const ExtensionNotFound = define<{ extension: string }>(
  'ExtensionNotFound',
  404,
  'Extension %(extension)s could not be found.',
);

// 409
export const Conflict = define<{ msg: string }>('Conflict', 409, '%(msg)s');
export const NetworkInUse = define<{ net_id: string }>(
  'NetworkInUse',
  409,
  'Unable to complete operation on network %(net_id)s. There are one or more ports still in use on the network.',
);
export const ExternalNetworkInUse = define<{ net_id: string }>(
  'ExternalNetworkInUse',
  409,
  'External network %(net_id)s cannot be updated to be made non-external, since it has existing gateway ports.',
);
export const FlatNetworkInUse = define<{ physical_network: string }>(
  'FlatNetworkInUse',
  409,
  'Unable to create the flat network. Physical network %(physical_network)s is in use.',
);
export const SubnetInUse = define<{ subnet_id: string }>(
  'SubnetInUse',
  409,
  'Unable to complete operation on subnet %(subnet_id)s: One or more ports have an IP allocation from this subnet.',
);
/** SubnetInUse with another service's reason (Neutron wraps a refusing SUBNET BEFORE_DELETE callback in it). */
export const SubnetInUseBecause = define<{ subnet_id: string; reason: string }>(
  'SubnetInUse',
  409,
  'Unable to complete operation on subnet %(subnet_id)s: %(reason)s.',
);
export const PortInUse = define<{ port_id: string; net_id: string; device_id: string }>(
  'PortInUse',
  409,
  'Unable to complete operation on port %(port_id)s for network %(net_id)s. Port already has an attached device %(device_id)s.',
);
export const IpAddressInUse = define<{ net_id: string; ip_address: string }>(
  'IpAddressInUse',
  409,
  'Unable to complete operation for network %(net_id)s. The IP address %(ip_address)s is in use.',
);
export const IpAddressGenerationFailure = define<{ net_id: string }>(
  'IpAddressGenerationFailure',
  409,
  'No more IP addresses available on network %(net_id)s.',
);
export const MacAddressInUse = define<{ net_id: string; mac: string }>(
  'MacAddressInUse',
  409,
  'Unable to complete operation for network %(net_id)s. The mac address %(mac)s is in use.',
);
export const OverQuota = define<{ overs: string }>(
  'OverQuota',
  409,
  'Quota exceeded for resources: %(overs)s.',
);
export const SecurityGroupRuleExists = define<{ rule_id: string }>(
  'SecurityGroupRuleExists',
  409,
  'Security group rule already exists. Rule id is %(rule_id)s.',
);
export const SecurityGroupCannotRemoveDefault = define(
  'SecurityGroupCannotRemoveDefault',
  409,
  'Insufficient rights for removing default security group.',
);
export const SecurityGroupInUse = define<{ id: string }>(
  'SecurityGroupInUse',
  409,
  'Security Group %(id)s in use.',
);
export const RbacPolicyInUse = define<{ object_id: string; details: string }>(
  'RbacPolicyInUse',
  409,
  'RBAC policy on object %(object_id)s cannot be removed because other objects depend on it.\nDetails: %(details)s',
);
export const DuplicateRbacPolicy = define(
  'DuplicateRbacPolicy',
  409,
  'An RBAC policy already exists with those values.',
);

// 412 / 413 / 415 / 503
export const RevisionNumberConstraintFailed = define<{ expected: number; current: number }>(
  'RevisionNumberConstraintFailed',
  412,
  'Constrained to %(expected)s, but current revision is %(current)s',
);
export const RequestEntityTooLarge = define('RequestEntityTooLarge', 413, 'Request entity too large.');
/** As Neutron's WSGI layer answers a body it cannot read: 415. */
export const InvalidContentType = define<{ content_type: string }>(
  'InvalidContentType',
  415,
  'Invalid content type %(content_type)s.',
);
export const RequestURITooLong = define('HTTPRequestURITooLong', 414, 'The request URI is too long.');
export const RequestHeaderFieldsTooLarge = define(
  'HTTPRequestHeaderFieldsTooLarge',
  431,
  'Request header fields too large.',
);
export const MacAddressGenerationFailure = define<{ net_id: string }>(
  'MacAddressGenerationFailure',
  503,
  'Unable to generate unique mac on network %(net_id)s.',
);

// Security groups and their rules (neutron/extensions/securitygroup.py)
export const SecurityGroupInvalidPortValue = define<{ port: unknown }>(
  'SecurityGroupInvalidPortValue',
  400,
  'Invalid value for port %(port)s',
);
export const SecurityGroupInvalidIcmpValue = define<{ field: string; attr: string; value: number }>(
  'SecurityGroupInvalidIcmpValue',
  400,
  'Invalid value for ICMP %(field)s (%(attr)s) %(value)s. It must be 0 to 255.',
);
export const SecurityGroupMissingIcmpType = define<{ value: number }>(
  'SecurityGroupMissingIcmpType',
  400,
  'ICMP code (port-range-max) %(value)s is provided but ICMP type (port-range-min) is missing.',
);
export const SecurityGroupInvalidProtocolForPort = define<{ protocol: string; valid_port_protocols: string }>(
  'SecurityGroupInvalidProtocolForPort',
  400,
  'Ports cannot be specified for protocol %(protocol)s. Ports are only supported for %(valid_port_protocols)s.',
);
export const SecurityGroupProtocolRequiredWithPorts = define(
  'SecurityGroupProtocolRequiredWithPorts',
  400,
  'Must also specify protocol if port range is given.',
);
export const SecurityGroupEthertypeConflictWithProtocol = define<{ ethertype: string; protocol: string }>(
  'SecurityGroupEthertypeConflictWithProtocol',
  400,
  'Invalid ethertype %(ethertype)s for protocol %(protocol)s.',
);
export const SecurityGroupRuleInvalidEtherType = define<{ ethertype: unknown; values: string }>(
  'SecurityGroupRuleInvalidEtherType',
  400,
  "Security group rule for ethertype '%(ethertype)s' not supported. Allowed values are %(values)s.",
);
export const SecurityGroupNotSingleGroupRules = define(
  'SecurityGroupNotSingleGroupRules',
  400,
  'Only allowed to update rules for one security profile at a time',
);
export const SecurityGroupRulesNotSingleProject = define(
  'SecurityGroupRulesNotSingleProject',
  400,
  'Multiple project_ids in bulk security group rule create not allowed',
);
export const InvalidCIDR = define<{ input: string }>(
  'InvalidCIDR',
  400,
  'Invalid CIDR %(input)s given as IP prefix.',
);
export const AddressGroupNotFound = define<{ address_group_id: string }>(
  'AddressGroupNotFound',
  404,
  'Address group %(address_group_id)s could not be found.',
);
export const AddressGroupInUse = define<{ address_group_id: string }>(
  'AddressGroupInUse',
  409,
  'Address group %(address_group_id)s is in use on one or more security group rules.',
);
export const AddressesNotFound = define<{ addresses: string; address_group_id: string }>(
  'AddressesNotFound',
  404,
  'Addresses %(addresses)s not found in the address group %(address_group_id)s.',
);
export const AddressesAlreadyExist = define<{ addresses: string; address_group_id: string }>(
  'AddressesAlreadyExist',
  400,
  'Addresses %(addresses)s already exist in the address group %(address_group_id)s.',
);
export const SecurityGroupDefaultAlreadyExists = define(
  'SecurityGroupDefaultAlreadyExists',
  409,
  'Default security group already exists.',
);
export const SecurityGroupCannotUpdateDefault = define(
  'SecurityGroupCannotUpdateDefault',
  409,
  'Updating default security group not allowed.',
);
export const DuplicateSecurityGroupRuleInPost = define(
  'DuplicateSecurityGroupRuleInPost',
  409,
  'Duplicate Security Group Rule in POST.',
);

// RBAC policies and quotas
export const InvalidActionForType = define<{ action: string; object_type: string; valid_actions: string }>(
  'InvalidActionForType',
  400,
  "Invalid action '%(action)s' for object type '%(object_type)s'. Valid actions: %(valid_actions)s",
);
export const TenantQuotaNotFound = define<{ tenant_id: string }>(
  'TenantQuotaNotFound',
  404,
  'Quota for tenant %(tenant_id)s could not be found.',
);

// Subnets and ports
export const InvalidAttribute = define<{ attr: string; reason: string }>(
  'HTTPBadRequest',
  400,
  'Invalid input for %(attr)s. Reason: %(reason)s.',
);
export const SubnetPoolNotFound = define<{ subnetpool_id: string }>(
  'SubnetPoolNotFound',
  404,
  'Subnet pool %(subnetpool_id)s could not be found.',
);

// Subnet pools and address scopes (neutron_lib.exceptions and its address_scope module)
export const EmptySubnetPoolPrefixList = define(
  'EmptySubnetPoolPrefixList',
  400,
  'Empty subnet pool prefix list.',
);
export const PrefixVersionMismatch = define(
  'PrefixVersionMismatch',
  400,
  'Cannot mix IPv4 and IPv6 prefixes in a subnet pool.',
);
export const IllegalSubnetPoolPrefixBounds = define<{
  prefix_type: string;
  prefixlen: number;
  base_prefix_type: string;
  base_prefixlen: number;
}>(
  'IllegalSubnetPoolPrefixBounds',
  400,
  'Illegal prefix bounds: %(prefix_type)s=%(prefixlen)s, %(base_prefix_type)s=%(base_prefixlen)s.',
);
export const IllegalSubnetPoolPrefixUpdate = define<{ msg: string }>(
  'IllegalSubnetPoolPrefixUpdate',
  400,
  'Illegal update to prefixes: %(msg)s.',
);
/** A plain NeutronException in Neutron, which its API answers with 500. */
export const SubnetAllocationError = define<{ reason: string }>(
  'SubnetAllocationError',
  500,
  'Failed to allocate subnet: %(reason)s.',
);
export const MinPrefixSubnetAllocationError = define<{ prefixlen: number; min_prefixlen: number }>(
  'MinPrefixSubnetAllocationError',
  400,
  'Unable to allocate subnet with prefix length %(prefixlen)s, minimum allowed prefix is %(min_prefixlen)s.',
);
export const MaxPrefixSubnetAllocationError = define<{ prefixlen: number; max_prefixlen: number }>(
  'MaxPrefixSubnetAllocationError',
  400,
  'Unable to allocate subnet with prefix length %(prefixlen)s, maximum allowed prefix is %(max_prefixlen)s.',
);
export const SubnetPoolDeleteError = define<{ reason: string }>(
  'SubnetPoolDeleteError',
  400,
  'Unable to delete subnet pool: %(reason)s.',
);
export const SubnetPoolQuotaExceeded = define(
  'SubnetPoolQuotaExceeded',
  409,
  'Per-project subnet pool prefix quota exceeded.',
);
export const NetworkSubnetPoolAffinityError = define(
  'NetworkSubnetPoolAffinityError',
  400,
  'Subnets hosted on the same network must be allocated from the same subnet pool.',
);
export const IllegalSubnetPoolAssociationToAddressScope = define<{
  subnetpool_id: string;
  address_scope_id: string;
}>(
  'IllegalSubnetPoolAssociationToAddressScope',
  400,
  'Illegal subnetpool association: subnetpool %(subnetpool_id)s cannot be associated with address scope %(address_scope_id)s.',
);
export const IllegalSubnetPoolIpVersionAssociationToAddressScope = define<{
  subnetpool_id: string;
  address_scope_id: string;
  ip_version: number;
}>(
  'IllegalSubnetPoolIpVersionAssociationToAddressScope',
  400,
  'Illegal subnetpool association: subnetpool %(subnetpool_id)s cannot associate with address scope %(address_scope_id)s because subnetpool ip_version is not %(ip_version)s.',
);
export const IllegalSubnetPoolUpdate = define<{ reason: string }>(
  'IllegalSubnetPoolUpdate',
  400,
  'Illegal subnetpool update : %(reason)s.',
);
export const AddressScopePrefixConflict = define(
  'AddressScopePrefixConflict',
  409,
  'Failed to associate address scope: subnetpools within an address scope must have unique prefixes.',
);
export const AddressScopeNotFound = define<{ address_scope_id: string }>(
  'AddressScopeNotFound',
  404,
  'Address scope %(address_scope_id)s could not be found.',
);
export const AddressScopeInUse = define<{ address_scope_id: string }>(
  'AddressScopeInUse',
  409,
  'Unable to complete operation on address scope %(address_scope_id)s. There are one or more subnet pools in use on the address scope.',
);
export const AddressScopeUpdateError = define<{ address_scope_id: string; reason: string }>(
  'AddressScopeUpdateError',
  400,
  'Unable to update address scope %(address_scope_id)s : %(reason)s.',
);
export const NetworkAddressScopeAffinityError = define(
  'NetworkAddressScopeAffinityError',
  400,
  'Subnets of the same address family hosted on the same network must all participate in the same address scope.',
);
/** A PolicyInitError (a plain NeutronException: 500) in Neutron. */
export const RbacPolicyInitError = define<{ object_id: string; reason: string }>(
  'RbacPolicyInitError',
  500,
  'Failed to create RBAC policy on object %(object_id)s because %(reason)s.',
);
export const DNSNameServersExhausted = define<{ subnet_id: string; quota: number }>(
  'DNSNameServersExhausted',
  400,
  'Unable to complete operation for %(subnet_id)s. The number of DNS nameservers exceeds the limit %(quota)s.',
);
export const HostRoutesExhausted = define<{ subnet_id: string; quota: number }>(
  'HostRoutesExhausted',
  400,
  'Unable to complete operation for %(subnet_id)s. The number of host routes exceeds the limit %(quota)s.',
);
export const GatewayIpInUse = define<{ ip_address: string; port_id: string }>(
  'GatewayIpInUse',
  409,
  'Current gateway ip %(ip_address)s already in use by port %(port_id)s. Unable to update.',
);
export const NetworkMTUSubnetConflict = define<{ net_id: string; mtu: number }>(
  'NetworkMTUSubnetConflict',
  409,
  'MTU of %(net_id)s is not valid, subnet requires a minimum of %(mtu)s',
);
export const AllocationOnAutoAddressSubnet = define<{ ip: string; subnet_id: string }>(
  'AllocationOnAutoAddressSubnet',
  400,
  'IPv6 address %(ip)s cannot be directly assigned to a port on subnet %(subnet_id)s as the subnet is configured for automatic addresses',
);
export const PortSecurityPortHasSecurityGroup = define(
  'PortSecurityPortHasSecurityGroup',
  409,
  'Port has security group associated. Cannot disable port security or IP address until security group is removed.',
);
export const PortSecurityAndIPRequiredForSecurityGroups = define(
  'PortSecurityAndIPRequiredForSecurityGroups',
  400,
  'Port security must be enabled and port must have an IP address in order to use security groups.',
);
export const AddressPairAndPortSecurityRequired = define(
  'AddressPairAndPortSecurityRequired',
  409,
  'Port Security must be enabled in order to have allowed address pairs on a port.',
);
export const DuplicateAddressPairInRequest = define<{ mac_address: string; ip_address: string }>(
  'DuplicateAddressPairInRequest',
  400,
  'Request contains duplicate address pair: mac_address %(mac_address)s ip_address %(ip_address)s.',
);
export const AllowedAddressPairExhausted = define<{ quota: number }>(
  'AllowedAddressPairExhausted',
  400,
  'The number of allowed address pair exceeds the maximum %(quota)s.',
);
export const PortBound = define<{ port_id: string; vif_type: string; old_mac: string; new_mac: string }>(
  'PortBound',
  409,
  'Unable to complete operation on port %(port_id)s, port is already bound, port type: %(vif_type)s, old_mac %(old_mac)s, new_mac %(new_mac)s.',
);
export const UnsupportedPortDeviceOwner = define<{ op: string; port_id: string; device_owner: string }>(
  'UnsupportedPortDeviceOwner',
  409,
  'Operation %(op)s is not supported for device_owner %(device_owner)s on port %(port_id)s.',
);

// Agents and instances (the data plane)
export const AgentNotFound = define<{ id: string }>('AgentNotFound', 404, 'Agent %(id)s could not be found.');
export const InstanceNotFound = define<{ instance_id: string }>(
  'InstanceNotFound',
  404,
  'Instance %(instance_id)s could not be found.',
);
/** Host diagnostics (`/neutrino/v1/hosts/{host}/diagnostics`): no agent ever registered for the host. */
export const HostNotFound = define<{ host: string }>(
  'HostNotFound',
  404,
  'Host %(host)s could not be found: no agent has registered for it.',
);
export const HostAgentDown = define<{ host: string }>(
  'HostAgentDown',
  409,
  'The agent of host %(host)s is not alive: it cannot run diagnostics.',
);
export const DiagnosticNotFound = define<{ id: string; host: string }>(
  'DiagnosticNotFound',
  404,
  'Diagnostic %(id)s of host %(host)s could not be found: it was answered or given up already.',
);
export const DiagnosticTimeout = define<{ host: string; seconds: number }>(
  'DiagnosticTimeout',
  504,
  'The agent of host %(host)s did not answer within %(seconds)s s.',
);
export const DiagnosticFailed = define<{ host: string; error: string }>(
  'DiagnosticFailed',
  502,
  'The agent of host %(host)s could not run the diagnostic: %(error)s',
);
// The agent schedulers (neutron_lib/exceptions/dhcpagentscheduler.py, neutron/extensions/l3agentscheduler.py)
export const InvalidDHCPAgent = define<{ id: string }>(
  'InvalidDHCPAgent',
  404,
  'Agent %(id)s is not a valid DHCP Agent or has been disabled.',
);
export const NetworkHostedByDHCPAgent = define<{ network_id: string; agent_id: string }>(
  'NetworkHostedByDHCPAgent',
  409,
  'The network %(network_id)s has been already hosted by the DHCP Agent %(agent_id)s.',
);
export const NetworkNotHostedByDhcpAgent = define<{ network_id: string; agent_id: string }>(
  'NetworkNotHostedByDhcpAgent',
  409,
  'The network %(network_id)s is not hosted by the DHCP agent %(agent_id)s.',
);
export const InvalidL3Agent = define<{ id: string }>(
  'InvalidL3Agent',
  404,
  'Agent %(id)s is not a L3 Agent or has been disabled',
);
export const RouterHostedByL3Agent = define<{ router_id: string; agent_id: string }>(
  'RouterHostedByL3Agent',
  409,
  'The router %(router_id)s has been already hosted by the L3 Agent %(agent_id)s.',
);
export const RouterNotHostedByL3Agent = define<{ router_id: string; agent_id: string }>(
  'RouterNotHostedByL3Agent',
  409,
  'The router %(router_id)s is not hosted by the L3 Agent %(agent_id)s.',
);
export const HostNotAvailable = define<{ host: string; live: string }>(
  'HostNotAvailable',
  409,
  'Host %(host)s has no live compute agent; live compute hosts: %(live)s.',
);
export const NoLiveNetworkHost = define<{ router_id: string; hosts: string }>(
  'NoLiveNetworkHost',
  409,
  'Router %(router_id)s needs a network host, and no L3 agent is alive (network hosts: %(hosts)s).',
);
// Trunks (neutron/services/trunk/exceptions.py)
export const TrunkNotFound = define<{ trunk_id: string }>(
  'TrunkNotFound',
  404,
  'Trunk %(trunk_id)s could not be found.',
);
export const TrunkPortInUse = define<{ port_id: string }>(
  'TrunkPortInUse',
  409,
  'Port %(port_id)s is in use by another trunk.',
);
export const ParentPortInUse = define<{ port_id: string }>(
  'ParentPortInUse',
  409,
  'Port %(port_id)s is currently in use and is not eligible for use as a parent port.',
);
export const DuplicateSubPort = define<{
  segmentation_type: string;
  segmentation_id: number;
  trunk_id: string;
}>(
  'DuplicateSubPort',
  409,
  'segmentation_type %(segmentation_type)s and segmentation_id %(segmentation_id)s already in use on trunk %(trunk_id)s.',
);
export const SubPortNotFound = define<{ port_id: string; trunk_id: string }>(
  'SubPortNotFound',
  404,
  'SubPort %(port_id)s on trunk %(trunk_id)s could not be found.',
);
export const SubPortMtuGreaterThanTrunkPortMtu = define<{
  port_mtu: number;
  port_id: string;
  trunk_mtu: number;
  trunk_id: string;
}>(
  'SubPortMtuGreaterThanTrunkPortMtu',
  409,
  'MTU %(port_mtu)s of subport %(port_id)s cannot be greater than MTU %(trunk_mtu)s of trunk %(trunk_id)s.',
);
export const PortInUseAsTrunkParent = define<{ port_id: string; trunk_id: string }>(
  'PortInUseAsTrunkParent',
  409,
  'Port %(port_id)s is currently a parent port for trunk %(trunk_id)s.',
);
export const PortInUseAsSubPort = define<{ port_id: string; trunk_id: string }>(
  'PortInUseAsSubPort',
  409,
  'Port %(port_id)s is currently a subport for trunk %(trunk_id)s.',
);
export const TrunkDisabled = define<{ trunk_id: string }>(
  'TrunkDisabled',
  409,
  'Trunk %(trunk_id)s is currently disabled.',
);
/** Ours: Neutron fails at plugin load when no driver can realise trunks; we say so per request. */
export const TrunkNotRealisable = define<{ reason: string }>(
  'TrunkNotRealisable',
  409,
  'No host of this deployment can realise trunk ports: %(reason)s.',
);
export const NetworkWithoutDhcp = define<{ net_id: string }>(
  'NetworkWithoutDhcp',
  400,
  'Network %(net_id)s has no DHCP-enabled subnet; instances get their address by DHCP.',
);

// Routers and floating IPs (neutron_lib/exceptions/l3.py, extraroute.py)
export const RouterNotFound = define<{ router_id: string }>(
  'RouterNotFound',
  404,
  'Router %(router_id)s could not be found',
);
export const RouterInUse = define<{ router_id: string; reason: string }>(
  'RouterInUse',
  409,
  'Router %(router_id)s %(reason)s',
);
export const RouterInterfaceNotFound = define<{ router_id: string; port_id: string }>(
  'RouterInterfaceNotFound',
  404,
  'Router %(router_id)s does not have an interface with id %(port_id)s',
);
export const RouterInterfaceNotFoundForSubnet = define<{ router_id: string; subnet_id: string }>(
  'RouterInterfaceNotFoundForSubnet',
  404,
  'Router %(router_id)s has no interface on subnet %(subnet_id)s',
);
export const RouterInterfaceInUseByFloatingIP = define<{ router_id: string; subnet_id: string }>(
  'RouterInterfaceInUseByFloatingIP',
  409,
  'Router interface for subnet %(subnet_id)s on router %(router_id)s cannot be deleted, as it is required by one or more floating IPs.',
);
export const RouterInterfaceInUseByRoute = define<{ router_id: string; subnet_id: string }>(
  'RouterInterfaceInUseByRoute',
  409,
  'Router interface for subnet %(subnet_id)s on router %(router_id)s cannot be deleted, as it is required by one or more routes.',
);
export const RouterExternalGatewayInUseByFloatingIp = define<{ router_id: string; net_id: string }>(
  'RouterExternalGatewayInUseByFloatingIp',
  409,
  'Gateway cannot be updated for router %(router_id)s, since a gateway to external network %(net_id)s is required by one or more floating IPs.',
);
export const InvalidRoutes = define<{ routes: string; reason: string }>(
  'InvalidRoutes',
  400,
  'Invalid format for routes: %(routes)s, %(reason)s',
);
export const RoutesExhausted = define<{ router_id: string; quota: number }>(
  'RoutesExhausted',
  400,
  'Unable to complete operation for %(router_id)s. The number of routes exceeds the maximum %(quota)s.',
);
export const FloatingIPNotFound = define<{ floatingip_id: string }>(
  'FloatingIPNotFound',
  404,
  'Floating IP %(floatingip_id)s could not be found',
);
export const ExternalGatewayForFloatingIPNotFound = define<{
  external_network_id: string;
  subnet_id: string;
  port_id: string;
}>(
  'ExternalGatewayForFloatingIPNotFound',
  404,
  'External network %(external_network_id)s is not reachable from subnet %(subnet_id)s.  Therefore, cannot associate Port %(port_id)s with a Floating IP.',
);
export const FloatingIPPortAlreadyAssociated = define<{
  floating_ip_address: string;
  fip_id: string;
  port_id: string;
  fixed_ip: string;
  net_id: string;
}>(
  'FloatingIPPortAlreadyAssociated',
  409,
  'Cannot associate floating IP %(floating_ip_address)s (%(fip_id)s) with port %(port_id)s using fixed IP %(fixed_ip)s, as that fixed IP already has a floating IP on external network %(net_id)s.',
);
export const ExternalIpAddressExhausted = define<{ net_id: string }>(
  'ExternalIpAddressExhausted',
  400,
  'Unable to find any IP address on external network %(net_id)s.',
);
// Port forwardings (floating-ip-port-forwarding)
export const PortForwardingNotFound = define<{ id: string }>(
  'PortForwardingNotFound',
  404,
  'Port Forwarding %(id)s could not be found.',
);
export const FipInUseByPortForwarding = define<{ id: string }>(
  'FipInUseByPortForwarding',
  409,
  'Floating IP %(id)s in use by Port Forwarding resources.',
);
export const PortHasBindingFloatingIP = define<{
  floating_ip_address: string;
  fip_id: string;
  port_id: string;
  fixed_ip: string;
}>(
  'PortHasBindingFloatingIP',
  409,
  'Cannot create port forwarding to floating IP %(floating_ip_address)s (%(fip_id)s) with port %(port_id)s using fixed IP %(fixed_ip)s, as that port already has a binding floating IP.',
);
export const SubnetMismatchForPort = define<{ port_id: string; subnet_id: string }>(
  'SubnetMismatchForPort',
  400,
  'Subnet on port %(port_id)s does not match the requested subnet %(subnet_id)s.',
);
export const ServicePortInUse = define<{ port_id: string; reason: string }>(
  'ServicePortInUse',
  409,
  'Port %(port_id)s cannot be deleted directly via the port API: %(reason)s.',
);
export const DeviceIDNotOwnedByTenant = define<{ device_id: string }>(
  'DeviceIDNotOwnedByTenant',
  409,
  'The following device_id %(device_id)s is not owned by your project or matches another project router.',
);

// QoS (neutron_lib/exceptions/qos.py)
export const QosPolicyNotFound = define<{ policy_id: string }>(
  'QosPolicyNotFound',
  404,
  'QoS policy %(policy_id)s could not be found.',
);
export const QosRuleNotFound = define<{ rule_id: string; policy_id: string }>(
  'QosRuleNotFound',
  404,
  'QoS rule %(rule_id)s for policy %(policy_id)s could not be found.',
);
export const QosPolicyInUse = define<{ policy_id: string; object_type: string; object_id: string }>(
  'QosPolicyInUse',
  409,
  'QoS Policy %(policy_id)s is used by %(object_type)s %(object_id)s.',
);
export const QoSPolicyDefaultAlreadyExists = define<{ project_id: string }>(
  'QoSPolicyDefaultAlreadyExists',
  409,
  'A default QoS policy exists for project %(project_id)s.',
);
export const QoSRulesConflict = define<{ new_rule_type: string; rule_id: string; policy_id: string }>(
  'QoSRulesConflict',
  409,
  'Rule %(new_rule_type)s conflicts with rule %(rule_id)s which already exists in QoS Policy %(policy_id)s.',
);
export const QoSRuleParameterConflict = define<{
  rule_value: number;
  policy_id: string;
  existing_rule: string;
  existing_value: number;
}>(
  'QoSRuleParameterConflict',
  409,
  'Unable to add the rule with value %(rule_value)s to the policy %(policy_id)s as the existing rule of type %(existing_rule)s has value %(existing_value)s.',
);
export const PolicyRemoveAuthorizationError = define<{ policy_id: string }>(
  'PolicyRemoveAuthorizationError',
  403,
  'Failed to remove provided policy %(policy_id)s because you are not authorized.',
);
export const NotAuthorized = define('NotAuthorized', 403, 'Not authorized.');

// Octavia (load balancing): its API answers `{"faultcode", "faultstring", "debuginfo"}`
// (api/errors.ts shapes it); the types name Octavia's exceptions.
export const OctaviaNotFound = define<{ resource: string; id: string }>(
  'NotFound',
  404,
  '%(resource)s %(id)s not found.',
);
export const QuotaException = define<{ resource: string }>(
  'QuotaException',
  403,
  'Quota has been met for resources: %(resource)s',
);
export const OctaviaPolicyForbidden = define(
  'PolicyForbidden',
  403,
  'Policy does not allow this request to be performed.',
);
export const InvalidSubresource = define<{ resource: string; id: string }>(
  'InvalidSubresource',
  400,
  '%(resource)s %(id)s not found.',
);
export const OctaviaValidation = define<{ detail: string }>(
  'ValidationException',
  400,
  'Validation failure: %(detail)s',
);
export const InvalidOption = define<{ value: unknown; option: string }>(
  'InvalidOption',
  400,
  '%(value)s is not a valid option for %(option)s',
);
export const DuplicateListenerEntry = define<{ protocol: string; port: number }>(
  'DuplicateListenerEntry',
  409,
  'Another Listener on this Load Balancer is already using protocol %(protocol)s and protocol_port %(port)s',
);
export const DuplicateMemberEntry = define<{ ip_address: string; port: number }>(
  'DuplicateMemberEntry',
  409,
  'Another member on this pool is already using ip address %(ip_address)s on protocol_port %(port)s',
);
export const DuplicateHealthMonitor = define(
  'DuplicateHealthMonitor',
  409,
  'This pool already has a health monitor',
);
export const DuplicatePoolEntry = define(
  'DuplicatePoolEntry',
  409,
  'This listener already has a default pool',
);
export const ImmutableObject = define<{ resource: string; id: string }>(
  'ImmutableObject',
  409,
  '%(resource)s %(id)s is immutable and cannot be updated.',
);
export const QosRuleNotSupported = define<{ rule_type: string; port_id: string }>(
  'QosRuleNotSupported',
  409,
  'Rule %(rule_type)s is not supported by port %(port_id)s',
);
export const QosRuleNotSupportedByNetwork = define<{ rule_type: string; network_id: string }>(
  'QosRuleNotSupportedByNetwork',
  409,
  'Rule %(rule_type)s is not supported by network %(network_id)s',
);

// FWaaS v2 (neutron-lib's exceptions/firewall_v2.py; the two default-object errors are
// neutron-fwaas's own, in its firewall_db_v2.py).
export const FirewallGroupNotFound = define<{ firewall_id: string }>(
  'FirewallGroupNotFound',
  404,
  'Firewall group %(firewall_id)s could not be found.',
);
export const FirewallGroupInUse = define<{ firewall_id: string }>(
  'FirewallGroupInUse',
  409,
  'Firewall group %(firewall_id)s is still active.',
);
export const FirewallGroupPortInvalid = define<{ port_id: string }>(
  'FirewallGroupPortInvalid',
  409,
  'Port %(port_id)s of firewall group is invalid.',
);
export const FirewallGroupPortInvalidProject = define<{ port_id: string; project_id: string }>(
  'FirewallGroupPortInvalidProject',
  409,
  'Operation cannot be performed as port %(port_id)s is in an invalid project %(project_id)s.',
);
export const FirewallGroupPortInUse = define<{ port_ids: string }>(
  'FirewallGroupPortInUse',
  409,
  'Port(s) %(port_ids)s provided already associated with other firewall group(s).',
);
export const FirewallGroupPortNotSupported = define<{ port_id: string; driver_name: string }>(
  'FirewallGroupPortNotSupported',
  409,
  "Port %(port_id)s is not supported by firewall driver '%(driver_name)s'.",
);
export const FirewallGroupCannotRemoveDefault = define(
  'FirewallGroupCannotRemoveDefault',
  409,
  'Deleting default firewall group not allowed.',
);
export const FirewallPolicyNotFound = define<{ firewall_policy_id: string }>(
  'FirewallPolicyNotFound',
  404,
  'Firewall policy %(firewall_policy_id)s could not be found.',
);
export const FirewallPolicyInUse = define<{ firewall_policy_id: string }>(
  'FirewallPolicyInUse',
  409,
  'Firewall policy %(firewall_policy_id)s is being used.',
);
export const FirewallPolicyConflict = define<{ firewall_policy_id: string }>(
  'FirewallPolicyConflict',
  404,
  'Operation cannot be performed since firewall policy %(firewall_policy_id)s for your project could not be found. Please confirm if the firewall policy exists and is shared.',
);
export const FirewallRuleSharingConflict = define<{ firewall_policy_id: string; firewall_rule_id: string }>(
  'FirewallRuleSharingConflict',
  404,
  'Operation cannot be performed since firewall policy %(firewall_policy_id)s could not find the firewall rule %(firewall_rule_id)s. Please confirm if the firewall rule exists and is shared.',
);
export const FirewallPolicySharingConflict = define<{ firewall_policy_id: string; firewall_rule_id: string }>(
  'FirewallPolicySharingConflict',
  409,
  'Operation cannot be performed. Before sharing firewall policy %(firewall_policy_id)s, share associated firewall rule %(firewall_rule_id)s.',
);
export const FirewallRuleNotFound = define<{ firewall_rule_id: string }>(
  'FirewallRuleNotFound',
  404,
  'Firewall rule %(firewall_rule_id)s could not be found.',
);
export const FirewallRuleInUse = define<{ firewall_rule_id: string }>(
  'FirewallRuleInUse',
  409,
  'Firewall rule %(firewall_rule_id)s is being used.',
);
export const FirewallRuleNotAssociatedWithPolicy = define<{
  firewall_rule_id: string;
  firewall_policy_id: string;
}>(
  'FirewallRuleNotAssociatedWithPolicy',
  400,
  'Firewall rule %(firewall_rule_id)s is not associated with firewall policy %(firewall_policy_id)s.',
);
export const FirewallRuleInvalidICMPParameter = define<{ param: string }>(
  'FirewallRuleInvalidICMPParameter',
  400,
  '%(param)s are not allowed when protocol is set to ICMP.',
);
export const FirewallRuleWithPortWithoutProtocolInvalid = define(
  'FirewallRuleWithPortWithoutProtocolInvalid',
  400,
  'Source/destination port requires a protocol.',
);
export const FirewallRuleInvalidPortValue = define<{ port: string }>(
  'FirewallRuleInvalidPortValue',
  400,
  'Invalid value for port %(port)s.',
);
export const FirewallRuleInfoMissing = define(
  'FirewallRuleInfoMissing',
  400,
  'Missing rule info argument for insert/remove rule operation.',
);
export const FirewallIpAddressConflict = define(
  'FirewallIpAddressConflict',
  400,
  'Invalid input - IP addresses do not agree with IP Version.',
);
export const FirewallRuleConflict = define<{ firewall_rule_id: string; project_id: string }>(
  'FirewallRuleConflict',
  409,
  'Operation cannot be performed since firewall rule %(firewall_rule_id)s is not shared and belongs to another project %(project_id)s.',
);
export const FirewallRuleAlreadyAssociated = define<{ firewall_rule_id: string; firewall_policy_id: string }>(
  'FirewallRuleAlreadyAssociated',
  409,
  'Operation cannot be performed since firewall rule %(firewall_rule_id)s is already associated with firewall policy %(firewall_policy_id)s.',
);
export const FirewallDefaultParameterExists = define<{ name: string; resource_type: string }>(
  'FirewallDefaultParameterExists',
  409,
  "Operation cannot be performed since '%(name)s' is a reserved name for %(resource_type)s.",
);
export const FirewallDefaultObjectUpdateRestricted = define<{ resource_id: string; resource_type: string }>(
  'FirewallDefaultObjectUpdateRestricted',
  409,
  "Operation cannot be performed on default object '%(resource_id)s' of type %(resource_type)s.",
);

// Tap-as-a-Service (neutron_taas's exceptions; the conflicts are Neutrino's own).
export const TapServiceNotFound = define<{ tap_id: string }>(
  'TapServiceNotFound',
  404,
  'Tap Service %(tap_id)s does not exist',
);
export const TapFlowNotFound = define<{ flow_id: string }>(
  'TapFlowNotFound',
  404,
  'Tap Flow %(flow_id)s does not exist',
);
export const PortDoesNotBelongToTenant = define(
  'PortDoesNotBelongToTenant',
  403,
  'The specified port does not belong to the tenant',
);
export const TapServiceNotBelongToTenant = define(
  'TapServiceNotBelongToTenant',
  403,
  'Specified Tap Service does not belong to the tenant',
);
export const TapServicePortInUse = define<{ port_id: string; tap_id: string }>(
  'TapServicePortInUse',
  409,
  'Port %(port_id)s is already the monitoring port of tap service %(tap_id)s',
);
export const TapFlowExists = define<{ port_id: string; tap_id: string }>(
  'TapFlowExists',
  409,
  'Port %(port_id)s is already mirrored to tap service %(tap_id)s',
);

// Metering (neutron-lib's metering exceptions).
export const MeteringLabelNotFound = define<{ label_id: string }>(
  'MeteringLabelNotFound',
  404,
  'Metering label %(label_id)s does not exist',
);
export const MeteringLabelRuleNotFound = define<{ rule_id: string }>(
  'MeteringLabelRuleNotFound',
  404,
  'Metering label rule %(rule_id)s does not exist',
);
export const MeteringLabelRuleOverlaps = define<{ remote_ip_prefix: string }>(
  'MeteringLabelRuleOverlaps',
  409,
  'Metering label rule with remote_ip_prefix %(remote_ip_prefix)s overlaps another',
);

// Network logging (neutron's logapi exceptions, and neutron-fwaas's for firewall group logs).
export const LogResourceNotFound = define<{ log_id: string }>(
  'LogResourceNotFound',
  404,
  'Log resource %(log_id)s could not be found.',
);
export const InvalidLogResourceType = define<{ resource_type: string }>(
  'InvalidLogResourceType',
  400,
  'Invalid log resource_type: %(resource_type)s.',
);
export const LoggingTypeNotSupported = define<{ log_type: string; port_id: string }>(
  'LoggingTypeNotSupported',
  409,
  'Logging type %(log_type)s is not supported on port %(port_id)s.',
);
export const LogTargetResourceNotFound = define<{ target_id: string }>(
  'TargetResourceNotFound',
  404,
  'Target resource %(target_id)s could not be found.',
);
export const LogResourceIdNotFound = define<{ resource_id: string }>(
  'ResourceNotFound',
  404,
  'Resource %(resource_id)s could not be found.',
);
export const InvalidResourceConstraint = define<{
  resource: string;
  resource_id: string;
  target_resource: string;
  target_id: string;
}>(
  'InvalidResourceConstraint',
  400,
  'Invalid resource constraint between resource (%(resource)s %(resource_id)s) and target resource (%(target_resource)s %(target_id)s).',
);
export const FWGIsNotReadyForLogging = define<{ fwg_id: string; fwg_status: string }>(
  'FWGIsNotReadyForLogging',
  400,
  'Firewall group %(fwg_id)s is not ready for logging because of %(fwg_status)s status.',
);
export const TargetResourceNotAssociated = define<{ target_id: string }>(
  'TargetResourceNotAssociated',
  400,
  'Target resource %(target_id)s is not associated with any firewall group.',
);

// VPN as a service (neutron-lib's exceptions/vpn.py and neutron-vpnaas's ipsec validator).
export const VPNServiceNotFound = define<{ vpnservice_id: string }>(
  'VPNServiceNotFound',
  404,
  'VPNService %(vpnservice_id)s could not be found',
);
export const IPsecSiteConnectionNotFound = define<{ ipsec_site_conn_id: string }>(
  'IPsecSiteConnectionNotFound',
  404,
  'ipsec_site_connection %(ipsec_site_conn_id)s not found',
);
export const IKEPolicyNotFound = define<{ ikepolicy_id: string }>(
  'IKEPolicyNotFound',
  404,
  'IKEPolicy %(ikepolicy_id)s could not be found',
);
export const IPsecPolicyNotFound = define<{ ipsecpolicy_id: string }>(
  'IPsecPolicyNotFound',
  404,
  'IPsecPolicy %(ipsecpolicy_id)s could not be found',
);
export const VPNEndpointGroupNotFound = define<{ endpoint_group_id: string }>(
  'VPNEndpointGroupNotFound',
  404,
  'Endpoint group %(endpoint_group_id)s could not be found',
);
export const IPsecSiteConnectionDpdIntervalValueError = define<{ attr: string }>(
  'IPsecSiteConnectionDpdIntervalValueError',
  400,
  'ipsec_site_connection %(attr)s is equal to or less than dpd_interval',
);
export const IPsecSiteConnectionMtuError = define<{ mtu: number; version: number }>(
  'IPsecSiteConnectionMtuError',
  400,
  'ipsec_site_connection MTU %(mtu)s is too small for ipv%(version)s',
);
export const IPsecSiteConnectionPeerCidrError = define<{ peer_cidr: string }>(
  'IPsecSiteConnectionPeerCidrError',
  400,
  'ipsec_site_connection peer cidr %(peer_cidr)s is invalid CIDR',
);
export const IKEPolicyInUse = define<{ ikepolicy_id: string }>(
  'IKEPolicyInUse',
  409,
  "IKEPolicy %(ikepolicy_id)s is in use by existing IPsecSiteConnection and can't be updated or deleted",
);
export const IPsecPolicyInUse = define<{ ipsecpolicy_id: string }>(
  'IPsecPolicyInUse',
  409,
  "IPsecPolicy %(ipsecpolicy_id)s is in use by existing IPsecSiteConnection and can't be updated or deleted",
);
export const VPNServiceInUse = define<{ vpnservice_id: string }>(
  'VPNServiceInUse',
  409,
  'VPNService %(vpnservice_id)s is still in use',
);
export const SubnetInUseByVPNService = define<{ subnet_id: string; vpnservice_id: string }>(
  'SubnetInUseByVPNService',
  409,
  'Subnet %(subnet_id)s is used by VPNService %(vpnservice_id)s',
);
export const SubnetInUseByEndpointGroup = define<{ subnet_id: string; group_id: string }>(
  'SubnetInUseByEndpointGroup',
  409,
  'Subnet %(subnet_id)s is used by endpoint group %(group_id)s',
);
export const SubnetInUseByIPsecSiteConnection = define<{
  subnet_id: string;
  ipsec_site_connection_id: string;
}>(
  'SubnetInUseByIPsecSiteConnection',
  409,
  'Subnet %(subnet_id)s is used by ipsec site connection %(ipsec_site_connection_id)s',
);
export const VPNStateInvalidToUpdate = define<{ state: string; id: string }>(
  'VPNStateInvalidToUpdate',
  400,
  'Invalid state %(state)s of vpnaas resource %(id)s for updating',
);
export const SubnetIsNotConnectedToRouter = define<{ subnet_id: string; router_id: string }>(
  'SubnetIsNotConnectedToRouter',
  400,
  'Subnet %(subnet_id)s is not connected to Router %(router_id)s',
);
export const RouterIsNotExternal = define<{ router_id: string }>(
  'RouterIsNotExternal',
  400,
  'Router %(router_id)s has no external network gateway set',
);
export const VPNPeerAddressNotResolved = define<{ peer_address: string }>(
  'VPNPeerAddressNotResolved',
  400,
  'Peer address %(peer_address)s cannot be resolved',
);
export const ExternalNetworkHasNoSubnet = define<{ router_id: string; ip_version: string }>(
  'ExternalNetworkHasNoSubnet',
  400,
  "Router's %(router_id)s external network has no %(ip_version)s subnet",
);
export const InvalidEndpointInEndpointGroup = define<{ endpoint: string; group_type: string; why: string }>(
  'InvalidEndpointInEndpointGroup',
  400,
  "Endpoint '%(endpoint)s' is invalid for group type '%(group_type)s': %(why)s",
);
export const MissingEndpointForEndpointGroup = define<{ group: string }>(
  'MissingEndpointForEndpointGroup',
  400,
  "No endpoints specified for endpoint group '%(group)s'",
);
export const NonExistingSubnetInEndpointGroup = define<{ subnet: string }>(
  'NonExistingSubnetInEndpointGroup',
  400,
  'Subnet %(subnet)s in endpoint group does not exist',
);
export const MixedIPVersionsForIPSecEndpoints = define<{ group: string }>(
  'MixedIPVersionsForIPSecEndpoints',
  400,
  'Endpoints in group %(group)s do not have the same IP version, as required for IPSec site-to-site connection',
);
export const MixedIPVersionsForPeerCidrs = define(
  'MixedIPVersionsForPeerCidrs',
  400,
  'Peer CIDRs do not have the same IP version, as required for IPSec site-to-site connection',
);
export const MixedIPVersionsForIPSecConnection = define(
  'MixedIPVersionsForIPSecConnection',
  400,
  'IP versions are not compatible between peer and local endpoints',
);
export const InvalidEndpointGroup = define<{ suffix: string; which: string }>(
  'InvalidEndpointGroup',
  400,
  'Endpoint group%(suffix)s %(which)s cannot be specified, when VPN Service has subnet specified',
);
export const WrongEndpointGroupType = define<{ which: string; group_type: string; expected: string }>(
  'WrongEndpointGroupType',
  400,
  "Endpoint group %(which)s type is '%(group_type)s' and should be '%(expected)s'",
);
export const PeerCidrsInvalid = define(
  'PeerCidrsInvalid',
  400,
  'Peer CIDRs cannot be specified, when using endpoint groups',
);
export const MissingPeerCidrs = define(
  'MissingPeerCidrs',
  400,
  'Missing peer CIDRs for IPsec site-to-site connection',
);
export const MissingRequiredEndpointGroup = define<{ suffix: string; which: string }>(
  'MissingRequiredEndpointGroup',
  400,
  'Missing endpoint group%(suffix)s %(which)s for IPSec site-to-site connection',
);
export const EndpointGroupInUse = define<{ group_id: string }>(
  'EndpointGroupInUse',
  400,
  'Endpoint group %(group_id)s is in use and cannot be deleted',
);
export const IpsecValidationFailure = define<{ resource: string; key: string; value: string }>(
  'IpsecValidationFailure',
  400,
  "IPSec does not support %(resource)s attribute %(key)s with value '%(value)s'",
);
export const IkeValidationFailure = define<{ resource: string; key: string; value: string }>(
  'IkeValidationFailure',
  400,
  "IKE does not support %(resource)s attribute %(key)s with value '%(value)s'",
);
