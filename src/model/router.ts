/**
 * A router: forwards between the subnets it has interfaces on and, through its external
 * gateway, NATs them to an external network; extra routes send prefixes to next hops on its
 * subnets. Interfaces are ports (`network:router_interface`), added and removed by member
 * actions; the gateway is a port too (`network:router_gateway`).
 */
import { type Static, Type } from 'typebox';
import { Closed, Nullable, Standard, StandardCreate, StandardUpdate, Uuid } from './common.js';
import { FixedIp, FixedIpRequests } from './port.js';

const Address = Type.String({ maxLength: 64 });

export const Route = Closed({ destination: Address, nexthop: Address });
export type Route = Static<typeof Route>;

/** What a request may say about the gateway (`enable_snat` and addresses are for admins). */
export const GatewayRequest = Closed({
  network_id: Uuid,
  enable_snat: Type.Optional(Type.Boolean()),
  external_fixed_ips: Type.Optional(FixedIpRequests),
  /** The gateway's QoS policy (`qos-gateway-ip`); null clears it, absent keeps it. */
  qos_policy_id: Type.Optional(Nullable(Uuid)),
});
export type GatewayRequest = Static<typeof GatewayRequest>;

export const Router = Closed({
  ...Standard,
  admin_state_up: Type.Boolean(),
  status: Type.String(),
  external_gateway_info: Nullable(
    Closed({
      network_id: Uuid,
      enable_snat: Type.Boolean(),
      external_fixed_ips: Type.Array(FixedIp),
      qos_policy_id: Type.Optional(Nullable(Uuid)),
    }),
  ),
  routes: Type.Array(Route),
  distributed: Type.Boolean(),
  ha: Type.Boolean(),
  flavor_id: Nullable(Type.String()),
  availability_zones: Type.Array(Type.String()),
  availability_zone_hints: Type.Array(Type.String()),
});
export type Router = Static<typeof Router>;

/** A gateway, or null or `{}` for none (Neutron treats an empty dict as no gateway). */
const GatewayOrNone = Type.Union([GatewayRequest, Closed({}), Type.Null()]);

/** `external_gateway_info` null or `{}`: a router without a gateway. */
export const RouterCreate = Closed({
  ...StandardCreate,
  admin_state_up: Type.Optional(Type.Boolean()),
  external_gateway_info: Type.Optional(GatewayOrNone),
  /** Admins only; default the server's `l3_ha`. */
  ha: Type.Optional(Type.Boolean()),
});
export type RouterCreate = Static<typeof RouterCreate>;

/** `external_gateway_info` null or `{}` clears the gateway; `routes` null clears the routes. */
export const RouterUpdate = Closed({
  ...StandardUpdate,
  admin_state_up: Type.Optional(Type.Boolean()),
  external_gateway_info: Type.Optional(GatewayOrNone),
  routes: Type.Optional(Nullable(Type.Array(Route))),
  /** Admins only, on a router whose admin_state_up is false. */
  ha: Type.Optional(Type.Boolean()),
});
export type RouterUpdate = Static<typeof RouterUpdate>;

/** The body of `add_router_interface` / `remove_router_interface` (flat, not enveloped). */
export const InterfaceRequest = Closed({ subnet_id: Type.Optional(Uuid), port_id: Type.Optional(Uuid) });
export type InterfaceRequest = Static<typeof InterfaceRequest>;

/** The body of `add_extraroutes` / `remove_extraroutes`. */
export const ExtraRoutesRequest = Type.Object(
  {
    router: Type.Object({ routes: Type.Array(Route) }, { additionalProperties: false, required: ['routes'] }),
  },
  { additionalProperties: false, required: ['router'] },
);
export type ExtraRoutesRequest = Static<typeof ExtraRoutesRequest>;
