/**
 * Instances as namespaces: `inst-<instance id>` holds one interface per port (`eth0`, `eth1`, …),
 * each configured by its own busybox `udhcpc`, whose script applies the lease (address, MTU from
 * option 26, routes) and records it in `<stateDir>/instances/<id>/<iface>.lease`. IPv6 is the
 * kernel's own: the namespace accepts router advertisements (a new namespace's defaults:
 * `accept_ra` 1, `autoconf` 1, forwarding off), so SLAAC gives an interface its port's EUI-64
 * address and the router's default route. Where the network has a `dhcpv6-stateful` or
 * `dhcpv6-stateless` subnet that DHCP serves, the interface also gets ISC `dhclient -6` (busybox
 * has no DHCPv6 client on Debian), supervised like udhcpc: in the foreground under our pid file,
 * with a script of ours (never the distribution's dhclient-script, which writes the host's
 * /etc/resolv.conf) that puts the address on the interface and records it in
 * `<iface>.lease6`; stateless, it asks for options only (`-S`).
 */
import { join } from 'node:path';
import type { SnapshotInstance, SnapshotNetwork, SnapshotPort } from '../../model/host-snapshot.js';
import type { L2Driver, NetworkContext } from '../drivers/driver.js';
import { type HostState, namespaceLinkKey } from '../state/host-state.js';

const BUSYBOX = '/bin/busybox';
export const DHCLIENT = '/usr/sbin/dhclient';

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

/** The key of the DHCPv6 client (`dhclient -6`) of an instance interface, beside its udhcpc's. */
export function dhcp6ClientKey(instanceId: string, device: string): string {
  return `${instanceId}/${device}/dhcpv6`;
}

/** dhclient's script and configuration, one of each for the host (like the udhcpc script). */
export function dhcp6ProgramFiles(stateDir: string): { script: string; config: string } {
  return { script: join(stateDir, 'dhclient6.sh'), config: join(stateDir, 'dhclient6.conf') };
}

/**
 * An interface's DHCPv6 client files in its instance directory: the pid file, the lease our script
 * records (`ip=` the leased address, empty when stateless) and dhclient's own lease database.
 */
export function dhcp6ClientFiles(
  dir: string,
  device: string,
): { pidFile: string; leaseFile: string; leaseDb: string } {
  return {
    pidFile: join(dir, `dhclient6-${device}.pid`),
    leaseFile: join(dir, `${device}.lease6`),
    leaseDb: join(dir, `dhclient6-${device}.leases`),
  };
}

/**
 * dhclient's configuration: what it asks for (DNS servers and search list); nothing of the host's
 * /etc/dhcp/dhclient.conf (which sends the host's name, the same in every namespace).
 */
export const DHCP6_CLIENT_CONFIG = `# Neutrino's instance DHCPv6 client configuration (written by the agent).
request dhcp6.name-servers, dhcp6.domain-search;
`;

/**
 * dhclient -6 runs this with $reason (PREINIT6, BOUND6, RENEW6, REBIND6, REBOOT6, EXPIRE6,
 * RELEASE6, STOP6, …) and the lease in its environment (\`new_ip6_address\`, \`new_ip6_prefixlen\`,
 * \`new_dhcp6_name_servers\`, …); NEUTRINO_LEASE_FILE comes from its \`-e\`. It touches only its
 * interface and its lease file: no resolv.conf (an instance namespace shares the host's /etc).
 * PREINIT6 brings the interface up and waits (up to 10 s, so that a script left behind by a
 * client stopped meanwhile ends too) for a link-local address past duplicate address detection,
 * since dhclient binds to it and exits if it cannot (Debian's dhclient-script waits too). An information request's reply (stateless) comes as BOUND6 or RENEW6
 * without an address. The lease file is written by one \`write\`, as udhcpc's.
 */
export const DHCP6_CLIENT_SCRIPT = `#!/bin/sh
# Neutrino's instance DHCPv6 client script (written by the agent; changes are overwritten).
PATH=/usr/sbin:/usr/bin:/sbin:/bin
lease="$NEUTRINO_LEASE_FILE"
case "$reason" in
  PREINIT6)
    : > "$lease"
    ip link set dev lo up
    ip link set dev "$interface" up
    ip -6 addr flush dev "$interface" scope global permanent
    i=0
    while [ $i -lt 100 ] && [ -z "$(ip -6 -o addr show dev "$interface" scope link -tentative)" ]; do
      sleep 0.1
      i=$((i + 1))
    done
    ;;
  BOUND6|RENEW6|REBIND6|REBOOT6)
    if [ -n "$old_ip6_address" ] && [ "$old_ip6_address" != "$new_ip6_address" ]; then
      ip -6 addr del "$old_ip6_address/$old_ip6_prefixlen" dev "$interface"
    fi
    if [ -n "$new_ip6_address" ]; then
      ip -6 addr replace "$new_ip6_address/$new_ip6_prefixlen" dev "$interface" \\
        valid_lft "\${new_max_life:-forever}" preferred_lft "\${new_preferred_life:-forever}"
    fi
    printf 'ip=%s\\nprefixlen=%s\\ndns=%s\\ndomain=%s\\n' "$new_ip6_address" "$new_ip6_prefixlen" \\
      "$new_dhcp6_name_servers" "$new_dhcp6_domain_search" > "$lease"
    ;;
  EXPIRE6|RELEASE6|STOP6)
    if [ -n "$old_ip6_address" ]; then ip -6 addr del "$old_ip6_address/$old_ip6_prefixlen" dev "$interface"; fi
    : > "$lease"
    ;;
esac
exit 0
`;

/**
 * dhclient -6's arguments for one interface: in the foreground (\`-d\`: it never forks away from
 * our pid), quiet, a DUID made from the MAC alone (\`-D LL\`: the same after every restart, so
 * dnsmasq sees the same client and hands it the port's address again), our configuration, script,
 * pid file and lease database, the lease file for the script (\`-e\`), \`-S\` when stateless.
 */
export function dhcp6ClientOptions(client: {
  device: string;
  script: string;
  config: string;
  pidFile: string;
  leaseFile: string;
  leaseDb: string;
  stateless: boolean;
}): string[] {
  const { device, script, config, pidFile, leaseFile, leaseDb, stateless } = client;
  return [
    '-6',
    ...(stateless ? ['-S'] : []),
    '-d',
    '-q',
    '-D',
    'LL',
    '-cf',
    config,
    '-sf',
    script,
    '-pf',
    pidFile,
    '-lf',
    leaseDb,
    '-e',
    `NEUTRINO_LEASE_FILE=${leaseFile}`,
    device,
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
  /**
   * Networks whose DHCP serves DHCPv6 (here or on another host), by how: `stateful` (a
   * `dhcpv6-stateful` subnet: addresses) or `stateless` (only `dhcpv6-stateless` ones: options).
   * Their instance interfaces get `dhclient -6`.
   */
  dhcp6Networks?: Map<string, 'stateful' | 'stateless'>;
  stateDir: string;
  driver: L2Driver;
  context: NetworkContext;
}

/**
 * Adds instance `input.instance` to `state`: its namespace, one plugged interface per port (the
 * i-th port becomes `eth<i>`) and a DHCP client on each interface whose network has DHCP (udhcpc
 * for IPv4, `dhclient -6` for DHCPv6).
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
      { portId, network, netns, device, mac: port.mac_address, up, instance: true },
      input.context,
    );
    if (why) {
      problems.push(why);
      return;
    }
    // Only on a port that is up: a link without carrier never gets the link-local address
    // dhclient binds to, so it would exit and be started again at every reconcile.
    const dhcp6 = input.dhcp6Networks?.get(network.id);
    if (dhcp6 !== undefined && up) {
      const { script, config } = dhcp6ProgramFiles(stateDir);
      const { pidFile, leaseFile, leaseDb } = dhcp6ClientFiles(dir, device);
      const stateless = dhcp6 === 'stateless';
      state.dhcpClients[dhcp6ClientKey(instance.id, device)] = {
        netns,
        device,
        pidFile,
        leaseFile,
        leaseDb,
        dhcpv6: dhcp6,
        argv: [
          DHCLIENT,
          ...dhcp6ClientOptions({ device, script, config, pidFile, leaseFile, leaseDb, stateless }),
        ],
      };
      state.files[script] = { content: DHCP6_CLIENT_SCRIPT, mode: 0o755 };
      state.files[config] = { content: DHCP6_CLIENT_CONFIG, mode: 0o644 };
    }
    // Without a DHCPv4 client (which brings its interface up), the interface is brought up here:
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
