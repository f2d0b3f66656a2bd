/**
 * An instance: a workload on one host (a network namespace) with one interface per port, in
 * order (the first is `eth0`). Created with the networks or ports to attach; its status follows
 * what the host's agent reports about its ports.
 */
import { type Static, Type } from 'typebox';
import { HostName } from './agent.js';
import { Closed, Nullable, ProjectId, Uuid } from './common.js';
import { FixedIp } from './port.js';

/** 1-63 characters that may appear in a DHCP hostname. */
export const InstanceName = Type.String({ minLength: 1, maxLength: 63, pattern: '^[A-Za-z0-9._-]+$' });

export const InstanceStatuses = ['BUILD', 'ACTIVE', 'ERROR'] as const;
export type InstanceStatus = (typeof InstanceStatuses)[number];

export const InstancePort = Closed({
  id: Uuid,
  network_id: Uuid,
  mac_address: Type.String(),
  fixed_ips: Type.Array(FixedIp),
});

export const Fault = Closed({ message: Type.String() });
export type Fault = Static<typeof Fault>;

export const Instance = Closed({
  id: Uuid,
  name: InstanceName,
  project_id: ProjectId,
  tenant_id: ProjectId,
  status: Type.Enum([...InstanceStatuses]),
  host: Type.String(),
  ports: Type.Array(InstancePort),
  fault: Nullable(Fault),
  /** The name of the public key the instance was given (served by the metadata service), if any. */
  key_name: Nullable(Type.String()),
  /** Free-form key/value pairs, served by the metadata service (`meta` in meta_data.json). */
  metadata: Type.Record(Type.String(), Type.String()),
  created_at: Type.String(),
  updated_at: Type.String(),
});
export type Instance = Static<typeof Instance>;

/** One interface to attach: a new port on a network (optionally at an address), or an existing port. */
export const InterfaceRequest = Closed({
  network_id: Type.Optional(Uuid),
  fixed_ip: Type.Optional(Type.String({ maxLength: 64 })),
  port_id: Type.Optional(Uuid),
});
export type InterfaceRequest = Static<typeof InterfaceRequest>;

export const InstanceCreate = Closed({
  name: InstanceName,
  networks: Type.Array(InterfaceRequest, { minItems: 1, maxItems: 32 }),
  host: Type.Optional(HostName),
  security_groups: Type.Optional(Type.Array(Type.String({ minLength: 1, maxLength: 255 }), { maxItems: 32 })),
  /** Base64, at most 64 KiB decoded (Nova's limit); served as user_data / user-data. */
  user_data: Type.Optional(Type.String({ maxLength: 87_384 })),
  /** An OpenSSH public key, served as public-keys / public_keys; named by `key_name` ('default'). */
  public_key: Type.Optional(Type.String({ minLength: 1, maxLength: 16_384, pattern: '^[^\\n]+\\n?$' })),
  key_name: Type.Optional(Type.String({ minLength: 1, maxLength: 255, pattern: '^[A-Za-z0-9 _.@-]+$' })),
  metadata: Type.Optional(
    Type.Record(Type.String({ minLength: 1, maxLength: 255 }), Type.String({ maxLength: 255 }), {
      maxProperties: 128,
    }),
  ),
});
export type InstanceCreate = Static<typeof InstanceCreate>;

/**
 * How an instance keeps an interface (stored, not shown): its port, and whether the port goes
 * with the instance (created for it) or stays behind unbound (passed in by id), as in Nova.
 */
export const Interface = Closed({ port_id: Uuid, delete_on_termination: Type.Boolean() });
export type Interface = Static<typeof Interface>;
