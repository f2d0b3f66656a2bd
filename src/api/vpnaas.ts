/**
 * `/v2.0/vpn/ikepolicies`, `/v2.0/vpn/ipsecpolicies`, `/v2.0/vpn/vpnservices`,
 * `/v2.0/vpn/endpoint-groups` and `/v2.0/vpn/ipsec-site-connections` (neutron-vpnaas's `vpnaas`
 * and `vpn-endpoint-groups`; hyphens in the paths, as neutron-vpnaas's resources are routed).
 */
import {
  EndpointGroup,
  EndpointGroupCreate,
  EndpointGroupUpdate,
  IkePolicy,
  IkePolicyCreate,
  IkePolicyUpdate,
  IpsecPolicy,
  IpsecPolicyCreate,
  IpsecPolicyUpdate,
  IpsecSiteConnection,
  IpsecSiteConnectionCreate,
  IpsecSiteConnectionUpdate,
  VpnService,
  VpnServiceCreate,
  VpnServiceUpdate,
} from '../model/vpnaas.js';
import type { CollectionSpec } from './resource-routes.js';
import type { Services } from './services.js';

export const ikePolicies = (s: Services): CollectionSpec => ({
  path: 'vpn/ikepolicies',
  collection: 'ikepolicies',
  member: 'ikepolicy',
  resource: IkePolicy,
  create: IkePolicyCreate,
  update: IkePolicyUpdate,
  service: s.ikePolicies,
});

export const ipsecPolicies = (s: Services): CollectionSpec => ({
  path: 'vpn/ipsecpolicies',
  collection: 'ipsecpolicies',
  member: 'ipsecpolicy',
  resource: IpsecPolicy,
  create: IpsecPolicyCreate,
  update: IpsecPolicyUpdate,
  service: s.ipsecPolicies,
});

export const vpnServices = (s: Services): CollectionSpec => ({
  path: 'vpn/vpnservices',
  collection: 'vpnservices',
  member: 'vpnservice',
  resource: VpnService,
  create: VpnServiceCreate,
  update: VpnServiceUpdate,
  service: s.vpnServices,
});

export const endpointGroups = (s: Services): CollectionSpec => ({
  path: 'vpn/endpoint-groups',
  collection: 'endpoint_groups',
  member: 'endpoint_group',
  resource: EndpointGroup,
  create: EndpointGroupCreate,
  update: EndpointGroupUpdate,
  service: s.endpointGroups,
});

export const ipsecSiteConnections = (s: Services): CollectionSpec => ({
  path: 'vpn/ipsec-site-connections',
  collection: 'ipsec_site_connections',
  member: 'ipsec_site_connection',
  resource: IpsecSiteConnection,
  create: IpsecSiteConnectionCreate,
  update: IpsecSiteConnectionUpdate,
  service: s.ipsecSiteConnections,
});
