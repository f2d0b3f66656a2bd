/**
 * Instances as namespaces: `inst-<instance id>` holds one interface per port (`eth0`, `eth1`, …),
 * each configured by its own busybox `udhcpc`, whose script applies the lease (address, MTU from
 * option 26, routes) and records it in `<stateDir>/instances/<id>/<iface>.lease`. IPv6 is the
 * kernel's own: the namespace accepts router advertisements (a new namespace's defaults:
 * `accept_ra` 1, `autoconf` 1, forwarding off), so SLAAC gives an interface its port's EUI-64
 * address and the router's default route; stateful DHCPv6 needs a client in the instance.
 */
import { join } from 'node:path';
import type { L2Driver, NetworkContext } from '../drivers/driver.js';
import { type HostState, namespaceLinkKey } from '../host-state.js';
import type { SnapshotInstance, SnapshotNetwork, SnapshotPort } from '../snapshot.js';

const BUSYBOX = '/bin/busybox';

export function instanceNamespace(instanceId: string): string {
  return `inst-${instanceId}`;
}

export function instanceDir(stateDir: string, instanceId: string): string {
  return join(stateDir, 'instances', instanceId);
}

/**
 * The client script, and the program udhcpc runs as: a symlink named `udhcpc` to busybox, so the
 * process is called `udhcpc` (visible to `pgrep -x udhcpc`) rather than `busybox`.
 */
export function clientProgramFiles(stateDir: string): { script: string; program: string } {
  return { script: join(stateDir, 'udhcpc.sh'), program: join(stateDir, 'bin', 'udhcpc') };
}

export function clientKey(instanceId: string, device: string): string {
  return `${instanceId}/${device}`;
}

export function clientFiles(dir: string, device: string): { pidFile: string; leaseFile: string } {
  return { pidFile: join(dir, `udhcpc-${device}.pid`), leaseFile: join(dir, `${device}.lease`) };
}

/**
 * udhcpc runs this with $1 = deconfig|bound|renew|leasefail|nak and the lease in its environment
 * (`mask` is a prefix length, `mtu` is option 26, `staticroutes` option 121 as "net gw" pairs);
 * NEUTRINO_LEASE_FILE comes from the agent. Each event costs one `ip -batch` (hundreds of instances
 * start at once, so processes per event matter); the lease file is written by one `write` (the
 * shell's printf buffers its output), so a reader sees it empty or whole, never in part.
 */
export const CLIENT_SCRIPT = `#!/bin/sh
# Neutrino's instance DHCP client script (written by the agent; changes are overwritten).
PATH=/usr/sbin:/usr/bin:/sbin:/bin
lease="$NEUTRINO_LEASE_FILE"
case "$1" in
  deconfig)
    : > "$lease"
    ip -force -batch - <<EOF
link set dev lo up
link set dev $interface up
addr flush dev $interface scope global
EOF
    ;;
  bound|renew)
    commands=""
    if [ -n "$mtu" ]; then commands="link set dev $interface mtu $mtu"; fi
    if [ "$1" = bound ]; then commands="$commands
addr flush dev $interface scope global"; fi
    commands="$commands
addr replace $ip/$mask dev $interface"
    if [ -n "$staticroutes" ]; then
      set -- $staticroutes
      while [ $# -ge 2 ]; do commands="$commands
route replace $1 via $2 dev $interface"; shift 2; done
    elif [ -n "$router" ]; then
      commands="$commands
route replace default via \${router%% *} dev $interface"
    fi
    ip -force -batch - <<EOF
$commands
EOF
    printf 'ip=%s\\nmask=%s\\nrouter=%s\\nmtu=%s\\ndns=%s\\n' "$ip" "$mask" "$router" "$mtu" "$dns" > "$lease"
    ;;
esac
`;

/**
 * udhcpc's options for one interface (after the program): in the foreground, with the client
 * script and a pid file; -T 1 -t 3 -A 2: retry every second, pausing 2 s after 3 tries (defaults
 * 3 s and 20 s), so an interface whose DHCP server (re)starts a moment later still gets its lease
 * quickly; option 121 asked for; the hostname sent (option 12) when given.
 */
export function clientOptions(client: {
  device: string;
  script: string;
  pidFile: string;
  hostname?: string;
}): string[] {
  const { device, script, pidFile, hostname } = client;
  return [
    '-f',
    '-i',
    device,
    '-s',
    script,
    '-p',
    pidFile,
    '-t',
    '3',
    '-T',
    '1',
    '-A',
    '2',
    '-O',
    'staticroutes',
    ...(hostname === undefined ? [] : ['-x', `hostname:${hostname}`]),
  ];
}

/** The fields of a lease file (`ip`, `mask`, `router`, `mtu`, `dns`). */
export function parseLease(text: string): Record<string, string> {
  const fields: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const eq = line.indexOf('=');
    if (eq > 0) fields[line.slice(0, eq)] = line.slice(eq + 1);
  }
  return fields;
}

/** An instance name as a DNS label (as Nova sanitises hostnames), or `fallback` if nothing is left. */
export function hostnameOf(name: string, fallback: string): string {
  const label = name
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 63)
    .replace(/-+$/, '');
  return label || fallback;
}

export interface InstanceInput {
  instance: SnapshotInstance;
  ports: Map<string, SnapshotPort>;
  networks: Map<string, SnapshotNetwork>;
  /** Networks with DHCP for IPv4 (here or on another host): their instance interfaces get a DHCP client. */
  dhcpNetworks: Set<string>;
  stateDir: string;
  driver: L2Driver;
  context: NetworkContext;
}

/**
 * Adds instance `input.instance` to `state`: its namespace, one plugged interface per port (the
 * i-th port becomes `eth<i>`) and a DHCP client on each interface whose network has DHCP.
 * Returns the problems of ports it had to leave out.
 */
export function addInstance(state: HostState, input: InstanceInput): string[] {
  const { instance, stateDir } = input;
  const netns = instanceNamespace(instance.id);
  const dir = instanceDir(stateDir, instance.id);
  state.namespaces[netns] = { kind: 'instance' };
  state.dirs[dir] = { netns };
  const problems: string[] = [];
  instance.ports.forEach((portId, i) => {
    const port = input.ports.get(portId);
    const network = port && input.networks.get(port.network_id);
    if (!port || !network) {
      problems.push(`port ${portId} is not usable on this host`);
      return;
    }
    const device = `eth${i}`;
    const up = port.admin_state_up && network.admin_state_up;
    const why = input.driver.plugPort(
      state,
      { portId, network, netns, device, mac: port.mac_address, up },
      input.context,
    );
    if (why) {
      problems.push(why);
      return;
    }
    // Without a DHCP client (which brings its interface up), the interface is brought up here:
    // on an IPv6-only network the instance configures itself from router advertisements.
    if (!input.dhcpNetworks.has(network.id)) {
      state.namespaceLinks[namespaceLinkKey(netns, device)] = { netns, name: device, up };
      return;
    }
    const { script, program } = clientProgramFiles(stateDir);
    const { pidFile, leaseFile } = clientFiles(dir, device);
    const hostname = hostnameOf(instance.name, `inst-${instance.id.slice(0, 8)}`);
    state.dhcpClients[clientKey(instance.id, device)] = {
      netns,
      device,
      pidFile,
      leaseFile,
      argv: [program, ...clientOptions({ device, script, pidFile, hostname })],
    };
    state.files[script] = { content: CLIENT_SCRIPT, mode: 0o755 };
    state.files[program] = { symlink: BUSYBOX };
  });
  return problems;
}
