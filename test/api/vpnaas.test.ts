/**
 * VPN as a service (`vpnaas`, `vpn-endpoint-groups`): IKE and IPsec policies with neutron-lib's
 * defaults and value checks (an unsupported algorithm refused, `ah-esp` refused as the strongSwan
 * driver refuses it, lifetimes of at least 60 s), policies in use kept, VPN services only on routers
 * with a gateway (external IPs shown), endpoint groups (subnet and CIDR endpoints checked), IPsec
 * site connections with neutron-vpnaas's validation (required attributes, legacy peer CIDRs versus
 * endpoint groups, a local subnet not on the service's router, DPD, MTU, IP versions, the peer's
 * address family) and Neutrino's overlap checks, nothing stored by a refused request, status from
 * PENDING_CREATE to what the agent reports (with its description), updates refused while pending,
 * and the host snapshot carrying the router's resolved connections.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { client, dialects, startTestServer, type TestServer } from '../helpers/server.js';

type Client = ReturnType<typeof client>;
type Reply = {
  status: number;
  body: { NeutronError?: { type: string; message: string } } & Record<string, unknown>;
};

const VPN = '/v2.0/vpn';

function refused(r: Reply, status: number, type: string, message?: RegExp | string): void {
  assert.equal(r.status, status, JSON.stringify(r.body));
  assert.equal(r.body.NeutronError?.type, type, JSON.stringify(r.body));
  if (typeof message === 'string') assert.equal(r.body.NeutronError?.message, message);
  else if (message) assert.match(r.body.NeutronError?.message ?? '', message);
}

for (const dialect of dialects()) {
  describe(`VPN as a service (${dialect})`, () => {
    let t: TestServer;
    let admin: Client;
    let member: Client;
    let other: Client;
    let routerId: string;
    let bareRouter: string;
    let localSubnet: string;
    let strayRouterSubnet: string;
    let ikeId: string;
    let ipsecId: string;
    let serviceId: string;
    let localGroup: string;
    let peerGroup: string;
    let extId: string;

    before(async () => {
      t = await startTestServer(dialect, { defaultHost: 'h1' });
      admin = client(t, t.adminToken);
      member = client(t, (await t.newProjectUser()).token);
      other = client(t, (await t.newProjectUser()).token);
      const ext = (await admin.post('/v2.0/networks', { network: { name: 'ext', 'router:external': true } }))
        .body.network;
      extId = ext.id;
      await admin.post('/v2.0/subnets', {
        subnet: { network_id: ext.id, ip_version: 4, cidr: '198.51.100.0/24' },
      });
      const subnet = async (cidr: string) => {
        const net = (await member.post('/v2.0/networks', { network: { name: cidr } })).body.network;
        const r = await member.post('/v2.0/subnets', { subnet: { network_id: net.id, ip_version: 4, cidr } });
        assert.equal(r.status, 201, JSON.stringify(r.body));
        return r.body.subnet.id as string;
      };
      const router = async (gateway: boolean) => {
        const r = await member.post('/v2.0/routers', {
          router: { name: 'r', ...(gateway ? { external_gateway_info: { network_id: ext.id } } : {}) },
        });
        assert.equal(r.status, 201, JSON.stringify(r.body));
        return r.body.router.id as string;
      };
      routerId = await router(true);
      bareRouter = await router(false);
      localSubnet = await subnet('10.20.1.0/24');
      strayRouterSubnet = await subnet('10.20.9.0/24');
      await member.put(`/v2.0/routers/${routerId}/add_router_interface`, { subnet_id: localSubnet });
    });
    after(() => t.close());

    const count = async (path: string) =>
      (await admin.get(`${VPN}/${path}`)).body as Record<string, unknown[]>;

    it('IKE policies: defaults, an unsupported algorithm refused, lifetime checked', async () => {
      const r = await member.post(`${VPN}/ikepolicies`, { ikepolicy: { name: 'ike' } });
      assert.equal(r.status, 201, JSON.stringify(r.body));
      const ike = r.body.ikepolicy;
      assert.equal(ike.auth_algorithm, 'sha1');
      assert.equal(ike.encryption_algorithm, 'aes-128');
      assert.equal(ike.phase1_negotiation_mode, 'main');
      assert.equal(ike.ike_version, 'v1');
      assert.equal(ike.pfs, 'group5');
      assert.deepEqual(ike.lifetime, { units: 'seconds', value: 3600 });
      assert.equal(ike.tenant_id, ike.project_id);
      ikeId = ike.id;
      refused(
        await member.post(`${VPN}/ikepolicies`, { ikepolicy: { encryption_algorithm: 'des' } }),
        400,
        'HTTPBadRequest',
        'Invalid input for encryption_algorithm. Reason: des is not in valid_values.',
      );
      refused(
        await member.post(`${VPN}/ikepolicies`, { ikepolicy: { lifetime: { value: 30 } } }),
        400,
        'HTTPBadRequest',
        /'30' is too small - must be at least '60'/,
      );
      refused(await member.post(`${VPN}/ikepolicies`, { ikepolicy: { bogus: 1 } }), 400, 'HTTPBadRequest');
      const v2 = await member.put(`${VPN}/ikepolicies/${ikeId}`, {
        ikepolicy: {
          ike_version: 'v2',
          encryption_algorithm: 'aes-256',
          auth_algorithm: 'sha256',
          pfs: 'group14',
        },
      });
      assert.equal(v2.status, 200, JSON.stringify(v2.body));
      assert.equal(v2.body.ikepolicy.ike_version, 'v2');
      refused(await other.get(`${VPN}/ikepolicies/${ikeId}`), 404, 'IKEPolicyNotFound');
      assert.equal((await count('ikepolicies')).ikepolicies.length, 1, 'nothing stored by refused creates');
    });

    it('IPsec policies: defaults, ah-esp refused as the strongSwan driver refuses it', async () => {
      const r = await member.post(`${VPN}/ipsecpolicies`, {
        ipsecpolicy: {
          name: 'ipsec',
          encryption_algorithm: 'aes-256',
          auth_algorithm: 'sha256',
          pfs: 'group14',
        },
      });
      assert.equal(r.status, 201, JSON.stringify(r.body));
      const p = r.body.ipsecpolicy;
      assert.equal(p.transform_protocol, 'esp');
      assert.equal(p.encapsulation_mode, 'tunnel');
      assert.deepEqual(p.lifetime, { units: 'seconds', value: 3600 });
      ipsecId = p.id;
      refused(
        await member.post(`${VPN}/ipsecpolicies`, { ipsecpolicy: { transform_protocol: 'ah-esp' } }),
        400,
        'IpsecValidationFailure',
        "IPSec does not support IPsec Policy attribute transform_protocol with value 'ah-esp'",
      );
      refused(
        await member.post(`${VPN}/ipsecpolicies`, { ipsecpolicy: { auth_algorithm: 'md5' } }),
        400,
        'HTTPBadRequest',
        /md5 is not in valid_values/,
      );
      assert.equal((await count('ipsecpolicies')).ipsecpolicies.length, 1);
    });

    it('VPN services: on a router with a gateway only, external IP shown, PENDING_CREATE', async () => {
      refused(
        await member.post(`${VPN}/vpnservices`, { vpnservice: { router_id: bareRouter } }),
        400,
        'RouterIsNotExternal',
        `Router ${bareRouter} has no external network gateway set`,
      );
      refused(
        await member.post(`${VPN}/vpnservices`, {
          vpnservice: { router_id: routerId, subnet_id: strayRouterSubnet },
        }),
        400,
        'SubnetIsNotConnectedToRouter',
      );
      refused(
        await other.post(`${VPN}/vpnservices`, { vpnservice: { router_id: routerId } }),
        404,
        'RouterNotFound',
      );
      refused(
        await member.post(`${VPN}/vpnservices`, { vpnservice: {} }),
        400,
        'HTTPBadRequest',
        /'router_id'/,
      );
      const r = await member.post(`${VPN}/vpnservices`, {
        vpnservice: { name: 'site', router_id: routerId },
      });
      assert.equal(r.status, 201, JSON.stringify(r.body));
      const s = r.body.vpnservice;
      assert.equal(s.status, 'PENDING_CREATE');
      assert.equal(s.subnet_id, null);
      assert.match(s.external_v4_ip, /^198\.51\.100\.\d+$/);
      assert.equal(s.external_v6_ip, null);
      serviceId = s.id;
      assert.equal((await count('vpnservices')).vpnservices.length, 1);
      refused(
        await member.put(`${VPN}/vpnservices/${serviceId}`, { vpnservice: { name: 'x' } }),
        400,
        'VPNStateInvalidToUpdate',
        `Invalid state PENDING_CREATE of vpnaas resource ${serviceId} for updating`,
      );
    });

    it('endpoint groups: subnets must exist, CIDRs must be CIDRs, endpoints unique', async () => {
      refused(
        await member.post(`${VPN}/endpoint-groups`, {
          endpoint_group: { type: 'cidr', endpoints: ['10.9.0.0/33'] },
        }),
        400,
        'InvalidEndpointInEndpointGroup',
        "Endpoint '10.9.0.0/33' is invalid for group type 'cidr': Invalid CIDR",
      );
      refused(
        await member.post(`${VPN}/endpoint-groups`, {
          endpoint_group: { type: 'subnet', endpoints: ['4a4f1d3e-0000-4000-8000-000000000000'] },
        }),
        400,
        'NonExistingSubnetInEndpointGroup',
      );
      refused(
        await member.post(`${VPN}/endpoint-groups`, {
          endpoint_group: { type: 'cidr', endpoints: ['10.30.0.0/24', '10.30.0.0/24'] },
        }),
        400,
        'InvalidEndpointInEndpointGroup',
        /Endpoints have to be unique/,
      );
      refused(
        await member.post(`${VPN}/endpoint-groups`, { endpoint_group: { type: 'cidr', endpoints: [] } }),
        400,
        'MissingEndpointForEndpointGroup',
      );
      const local = await member.post(`${VPN}/endpoint-groups`, {
        endpoint_group: { name: 'local', type: 'subnet', endpoints: [localSubnet] },
      });
      assert.equal(local.status, 201, JSON.stringify(local.body));
      assert.deepEqual(local.body.endpoint_group.endpoints, [localSubnet]);
      localGroup = local.body.endpoint_group.id;
      const peer = await member.post(`${VPN}/endpoint-groups`, {
        endpoint_group: { name: 'peer', type: 'cidr', endpoints: ['10.30.0.0/24'] },
      });
      peerGroup = peer.body.endpoint_group.id;
      assert.equal((await count('endpoint-groups')).endpoint_groups.length, 2);
    });

    const connection = (body: Record<string, unknown> = {}) => ({
      ipsec_site_connection: {
        name: 'to-b',
        vpnservice_id: serviceId,
        ikepolicy_id: ikeId,
        ipsecpolicy_id: ipsecId,
        local_ep_group_id: localGroup,
        peer_ep_group_id: peerGroup,
        peer_address: '198.51.100.77',
        peer_id: '198.51.100.77',
        psk: 'secret',
        ...body,
      },
    });
    const CONNS = `${VPN}/ipsec-site-connections`;

    it('site connections: neutron-vpnaas validation and Neutrino overlap checks, nothing half-built', async () => {
      refused(await member.post(CONNS, connection({ psk: undefined })), 400, 'HTTPBadRequest', /'psk'/);
      const strayGroup = await member.post(`${VPN}/endpoint-groups`, {
        endpoint_group: { name: 'stray', type: 'subnet', endpoints: [strayRouterSubnet] },
      });
      refused(
        await member.post(CONNS, connection({ local_ep_group_id: strayGroup.body.endpoint_group.id })),
        400,
        'SubnetIsNotConnectedToRouter',
        `Subnet ${strayRouterSubnet} is not connected to Router ${routerId}`,
      );
      refused(
        await member.post(CONNS, connection({ local_ep_group_id: peerGroup })),
        400,
        'WrongEndpointGroupType',
        `Endpoint group ${peerGroup} type is 'cidr' and should be 'subnet'`,
      );
      refused(
        await member.post(CONNS, connection({ peer_ep_group_id: null })),
        400,
        'MissingRequiredEndpointGroup',
        'Missing endpoint group peer for IPSec site-to-site connection',
      );
      refused(
        await member.post(CONNS, connection({ peer_cidrs: ['10.31.0.0/24'] })),
        400,
        'PeerCidrsInvalid',
      );
      refused(
        await member.post(CONNS, connection({ dpd: { interval: 30, timeout: 30 } })),
        400,
        'IPsecSiteConnectionDpdIntervalValueError',
        'ipsec_site_connection dpd_timeout is equal to or less than dpd_interval',
      );
      refused(
        await member.post(CONNS, connection({ mtu: 60 })),
        400,
        'IPsecSiteConnectionMtuError',
        'ipsec_site_connection MTU 60 is too small for ipv4',
      );
      refused(await member.post(CONNS, connection({ initiator: 'sometimes' })), 400, 'HTTPBadRequest');
      refused(
        await member.post(CONNS, connection({ peer_address: 'peer.example' })),
        400,
        'VPNPeerAddressNotResolved',
      );
      refused(
        await member.post(CONNS, connection({ peer_address: '2001:db8::1' })),
        400,
        'ExternalNetworkHasNoSubnet',
        `Router's ${routerId} external network has no IPv6 subnet`,
      );
      const overlapping = await member.post(`${VPN}/endpoint-groups`, {
        endpoint_group: { type: 'cidr', endpoints: ['10.20.0.0/16'] },
      });
      refused(
        await member.post(CONNS, connection({ peer_ep_group_id: overlapping.body.endpoint_group.id })),
        400,
        'InvalidInput',
        /peer CIDR 10\.20\.0\.0\/16 overlaps local subnet 10\.20\.1\.0\/24/,
      );
      refused(await other.post(CONNS, connection()), 404, 'VPNServiceNotFound');
      assert.equal((await count('ipsec-site-connections')).ipsec_site_connections.length, 0);
    });

    let connId: string;
    it('a connection: defaults, PENDING_CREATE, then what the agent reports', async () => {
      const r = await member.post(CONNS, connection());
      assert.equal(r.status, 201, JSON.stringify(r.body));
      const c = r.body.ipsec_site_connection;
      connId = c.id;
      assert.equal(c.status, 'PENDING_CREATE');
      assert.equal(c.initiator, 'bi-directional');
      assert.equal(c.mtu, 1500);
      assert.equal(c.route_mode, 'static');
      assert.equal(c.auth_mode, 'psk');
      assert.equal(c.psk, 'secret');
      assert.deepEqual(c.dpd, { action: 'hold', interval: 30, timeout: 120 });
      assert.deepEqual(c.peer_cidrs, []);
      assert.equal(c.admin_state_up, true);
      // A second connection on the router to an overlapping peer CIDR is refused.
      const again = await member.post(`${VPN}/endpoint-groups`, {
        endpoint_group: { type: 'cidr', endpoints: ['10.30.0.128/25'] },
      });
      refused(
        await member.post(CONNS, connection({ peer_ep_group_id: again.body.endpoint_group.id })),
        400,
        'InvalidInput',
        new RegExp(`overlaps peer CIDR 10\\.30\\.0\\.0/24 of ipsec_site_connection ${connId}`),
      );
      refused(
        await member.put(CONNS.concat(`/${connId}`), { ipsec_site_connection: { mtu: 1400 } }),
        400,
        'VPNStateInvalidToUpdate',
      );
      refused(await member.del(`${VPN}/ikepolicies/${ikeId}`), 409, 'IKEPolicyInUse');
      refused(await member.del(`${VPN}/ipsecpolicies/${ipsecId}`), 409, 'IPsecPolicyInUse');
      refused(await member.del(`${VPN}/vpnservices/${serviceId}`), 409, 'VPNServiceInUse');
      refused(await member.del(`${VPN}/endpoint-groups/${peerGroup}`), 400, 'EndpointGroupInUse');

      const sync = await admin.post('/neutrino/v1/hosts/h1/sync', undefined);
      assert.equal(sync.status, 200, JSON.stringify(sync.body));
      const routers = (sync.body.snapshot as { routers: { id: string; vpn?: Record<string, unknown> }[] })
        .routers;
      const vpn = routers.find((x) => x.id === routerId)?.vpn as {
        services: unknown[];
        connections: Record<string, unknown>[];
      };
      assert.deepEqual(vpn.services, [{ id: serviceId, admin_state_up: true }]);
      assert.equal(vpn.connections.length, 1);
      const snap = vpn.connections[0];
      assert.deepEqual(snap.local_cidrs, ['10.20.1.0/24']);
      assert.deepEqual(snap.peer_cidrs, ['10.30.0.0/24']);
      assert.equal(snap.psk, 'secret');
      assert.deepEqual(snap.ike, {
        version: 2,
        auth_algorithm: 'sha256',
        encryption_algorithm: 'aes-256',
        pfs: 'group14',
        lifetime: 3600,
        aggressive: false,
      });

      const report = await admin.post('/neutrino/v1/hosts/h1/status', {
        revision: 0,
        ports: {},
        vpn: {
          services: [{ id: serviceId, status: 'ACTIVE' }],
          connections: [
            { id: connId, status: 'DOWN', status_description: 'userspace IPsec: AUTHENTICATION_FAILED' },
          ],
        },
      });
      assert.equal(report.status, 204, JSON.stringify(report.body));
      const shown = (await member.get(`${CONNS}/${connId}`)).body.ipsec_site_connection;
      assert.equal(shown.status, 'DOWN');
      assert.equal(shown.status_description, 'userspace IPsec: AUTHENTICATION_FAILED');
      assert.equal((await member.get(`${VPN}/vpnservices/${serviceId}`)).body.vpnservice.status, 'ACTIVE');
      const updated = await member.put(`${CONNS}/${connId}`, {
        ipsec_site_connection: { mtu: 1400, dpd: { interval: 10 } },
      });
      assert.equal(updated.status, 200, JSON.stringify(updated.body));
      assert.equal(updated.body.ipsec_site_connection.mtu, 1400);
      assert.deepEqual(updated.body.ipsec_site_connection.dpd, {
        action: 'hold',
        interval: 10,
        timeout: 120,
      });
      refused(
        await member.put(`${CONNS}/${connId}`, { ipsec_site_connection: { dpd: { timeout: 5 } } }),
        400,
        'IPsecSiteConnectionDpdIntervalValueError',
      );
    });

    it("what a VPN uses stays: neutron-vpnaas's in-use refusals, nothing changed by them", async () => {
      const ROUTERS = '/v2.0/routers';
      const gatewayOf = async (id: string) =>
        (await member.get(`${ROUTERS}/${id}`)).body.router.external_gateway_info as Record<string, unknown>;
      const portsOf = async (id: string) =>
        ((await admin.get(`/v2.0/ports?device_id=${id}`)).body.ports as { id: string }[])
          .map((p) => p.id)
          .sort();
      const before = { gateway: await gatewayOf(routerId), ports: await portsOf(routerId) };
      assert.ok(before.gateway);

      // The gateway stays while a VPN service uses the router: removed, or moved to another network.
      const inUse = `Router ${routerId} is currently used by VPN service (${serviceId})`;
      refused(
        await member.put(`${ROUTERS}/${routerId}`, { router: { external_gateway_info: {} } }),
        409,
        'RouterInUse',
        inUse,
      );
      const ext2 = (
        await admin.post('/v2.0/networks', { network: { name: 'ext2', 'router:external': true } })
      ).body.network;
      await admin.post('/v2.0/subnets', {
        subnet: { network_id: ext2.id, ip_version: 4, cidr: '198.51.101.0/24' },
      });
      refused(
        await admin.put(`${ROUTERS}/${routerId}`, {
          router: { external_gateway_info: { network_id: ext2.id } },
        }),
        409,
        'RouterInUse',
        inUse,
      );

      // The interface stays while a connection's local endpoint group on the router names its subnet.
      refused(
        await member.put(`${ROUTERS}/${routerId}/remove_router_interface`, { subnet_id: localSubnet }),
        409,
        'SubnetInUseByIPsecSiteConnection',
        `Subnet ${localSubnet} is used by ipsec site connection ${connId}`,
      );
      const [qr] = (
        await admin.get(`/v2.0/ports?device_id=${routerId}&device_owner=network:router_interface`)
      ).body.ports as { id: string }[];
      refused(
        await member.put(`${ROUTERS}/${routerId}/remove_router_interface`, { port_id: qr.id }),
        409,
        'SubnetInUseByIPsecSiteConnection',
      );
      assert.deepEqual(await gatewayOf(routerId), before.gateway, 'the gateway is unchanged');
      assert.deepEqual(await portsOf(routerId), before.ports, 'no port of the router went');

      // A subnet (alone or with its network) stays while an endpoint group lists it.
      const net = (await member.post('/v2.0/networks', { network: { name: 'listed' } })).body.network;
      const listed = (
        await member.post('/v2.0/subnets', {
          subnet: { network_id: net.id, ip_version: 4, cidr: '10.20.5.0/24' },
        })
      ).body.subnet.id as string;
      const group = (
        await member.post(`${VPN}/endpoint-groups`, {
          endpoint_group: { type: 'subnet', endpoints: [listed] },
        })
      ).body.endpoint_group.id as string;
      const listedInUse = `Unable to complete operation on subnet ${listed}: Subnet ${listed} is used by endpoint group ${group}.`;
      refused(await member.del(`/v2.0/subnets/${listed}`), 409, 'SubnetInUse', listedInUse);
      refused(await member.del(`/v2.0/networks/${net.id}`), 409, 'SubnetInUse', listedInUse);
      assert.equal((await member.get(`/v2.0/subnets/${listed}`)).status, 200, 'the subnet stays');
      assert.equal((await member.get(`/v2.0/networks/${net.id}`)).status, 200, 'the network stays');

      // A router bound to a subnet by a (legacy) service keeps that interface; a router with a service stays.
      const r2 = (
        await member.post(ROUTERS, { router: { name: 'r2', external_gateway_info: { network_id: extId } } })
      ).body.router.id as string;
      await member.put(`${ROUTERS}/${r2}/add_router_interface`, { subnet_id: listed });
      const legacy = (
        await member.post(`${VPN}/vpnservices`, { vpnservice: { router_id: r2, subnet_id: listed } })
      ).body.vpnservice.id as string;
      refused(
        await member.put(`${ROUTERS}/${r2}/remove_router_interface`, { subnet_id: listed }),
        409,
        'SubnetInUseByVPNService',
        `Subnet ${listed} is used by VPNService ${legacy}`,
      );
      const r3 = (
        await member.post(ROUTERS, { router: { name: 'r3', external_gateway_info: { network_id: extId } } })
      ).body.router.id as string;
      const bare = (await member.post(`${VPN}/vpnservices`, { vpnservice: { router_id: r3 } })).body
        .vpnservice.id as string;
      const r3Ports = await portsOf(r3);
      refused(
        await member.del(`${ROUTERS}/${r3}`),
        409,
        'RouterInUse',
        `Router ${r3} is currently used by VPN service (${bare})`,
      );
      assert.equal((await member.get(`${ROUTERS}/${r3}`)).status, 200, 'the router stays');
      assert.deepEqual(await portsOf(r3), r3Ports, 'with its gateway port');

      // In use by a connection: policies (update and delete) and both endpoint groups.
      refused(
        await member.put(`${VPN}/ikepolicies/${ikeId}`, { ikepolicy: { pfs: 'group15' } }),
        409,
        'IKEPolicyInUse',
        `IKEPolicy ${ikeId} is in use by existing IPsecSiteConnection and can't be updated or deleted`,
      );
      refused(
        await member.put(`${VPN}/ipsecpolicies/${ipsecId}`, { ipsecpolicy: { pfs: 'group15' } }),
        409,
        'IPsecPolicyInUse',
      );
      refused(
        await member.del(`${VPN}/endpoint-groups/${localGroup}`),
        400,
        'EndpointGroupInUse',
        `Endpoint group ${localGroup} is in use and cannot be deleted`,
      );
      assert.equal((await member.get(`${VPN}/ikepolicies/${ikeId}`)).body.ikepolicy.pfs, 'group14');

      // Once the VPN objects go, so do the refusals.
      assert.equal((await member.del(`${VPN}/vpnservices/${bare}`)).status, 204);
      assert.equal((await member.del(`${ROUTERS}/${r3}`)).status, 204);
      assert.equal((await member.del(`${VPN}/vpnservices/${legacy}`)).status, 204);
      const detached = await member.put(`${ROUTERS}/${r2}/remove_router_interface`, { subnet_id: listed });
      assert.equal(detached.status, 200, JSON.stringify(detached.body));
      assert.equal((await member.del(`${ROUTERS}/${r2}`)).status, 204);
      assert.equal((await member.del(`${VPN}/endpoint-groups/${group}`)).status, 204);
      assert.equal((await member.del(`/v2.0/networks/${net.id}`)).status, 204);
    });

    it('deletes in order: the connection, then what it used', async () => {
      assert.equal((await member.del(`${CONNS}/${connId}`)).status, 204);
      refused(await member.get(`${CONNS}/${connId}`), 404, 'IPsecSiteConnectionNotFound');
      assert.equal((await member.del(`${VPN}/vpnservices/${serviceId}`)).status, 204);
      assert.equal((await member.del(`${VPN}/ikepolicies/${ikeId}`)).status, 204);
      assert.equal((await member.del(`${VPN}/ipsecpolicies/${ipsecId}`)).status, 204);
      assert.equal((await member.del(`${VPN}/endpoint-groups/${peerGroup}`)).status, 204);
      const sync = await admin.post('/neutrino/v1/hosts/h1/sync', undefined);
      const routers = (sync.body.snapshot as { routers: { id: string; vpn?: unknown }[] }).routers;
      assert.equal(routers.find((x) => x.id === routerId)?.vpn, undefined);
      const r = await member.put(`/v2.0/routers/${routerId}/remove_router_interface`, {
        subnet_id: localSubnet,
      });
      assert.equal(r.status, 200, 'the interface may go once no connection uses it');
      assert.equal((await member.del(`${VPN}/endpoint-groups/${localGroup}`)).status, 204);
      assert.equal((await member.del(`/v2.0/subnets/${localSubnet}`)).status, 204);
      const cleared = await member.put(`/v2.0/routers/${routerId}`, {
        router: { external_gateway_info: {} },
      });
      assert.equal(cleared.status, 200, 'the gateway may go once no VPN service uses the router');
    });

    it('advertises vpnaas and vpn-endpoint-groups', async () => {
      const aliases = ((await member.get('/v2.0/extensions')).body.extensions as { alias: string }[]).map(
        (e) => e.alias,
      );
      assert.ok(aliases.includes('vpnaas'));
      assert.ok(aliases.includes('vpn-endpoint-groups'));
    });
  });
}
