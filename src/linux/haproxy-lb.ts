/**
 * haproxy as a load balancer (Octavia's amphora driver does the same inside a VM; here it runs in
 * the load balancer's `qlbaas-` namespace): the configuration rendered from the snapshot's model
 * (pure), and the counters and member health read back from its stats socket.
 *
 * haproxy runs in master-worker mode (`-W`): SIGHUP makes the master start new workers on the new
 * configuration while the old ones finish their connections (`-sf`), so a change drops nothing.
 * Frontends are listeners (by id), backends `<listener>.<pool>` per listener and pool it sends to
 * (a pool has the mode of the listener in front of it), servers are members (by id).
 */
import { connect } from 'node:net';
import { join } from 'node:path';
import type { SnapshotLbListener, SnapshotLbPool, SnapshotLoadBalancer } from '../model/host-snapshot.js';
import type { LbReport, LbStats } from '../model/load-balancer.js';

export function lbFiles(dir: string) {
  return {
    config: join(dir, 'haproxy.cfg'),
    pid: join(dir, 'haproxy.pid'),
    socket: join(dir, 'haproxy.sock'),
  };
}

/** The command line: master-worker, the configuration (which names the pid file and daemonises). */
export function lbArgs(dir: string): string[] {
  return ['-W', '-f', lbFiles(dir).config];
}

const ID = /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/;
const PATH = /^\/[A-Za-z0-9._/-]+$/;
/** What may stand unquoted in a haproxy line: no spaces, quotes, backslashes or `#`. */
const WORD = /^[\x21\x24-\x26\x28-\x5b\x5d-\x7e]+$/;
const UNLIMITED = 4000;
const MAX_CONNECTIONS = 8000;
const ALGORITHMS: Record<string, string> = {
  ROUND_ROBIN: 'roundrobin',
  LEAST_CONNECTIONS: 'leastconn',
  SOURCE_IP: 'source',
};

function word(what: string, value: string): string {
  if (!WORD.test(value)) throw new Error(`unusable ${what} ${JSON.stringify(value)}`);
  return value;
}

/** An address with its port, IPv6 in brackets as haproxy wants. */
function endpoint(address: string, port: number): string {
  return address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`;
}

const backendName = (listener: string, pool: string) => `${listener}.${pool}`;

/** `http-check expect` for Octavia's expected codes: `200`, `200,202`, `200-204`. */
export function expectLine(codes: string): string {
  if (/^\d{3}$/.test(codes)) return `http-check expect status ${codes}`;
  const range = /^(\d{3})-(\d{3})$/.exec(codes);
  const list = range
    ? Array.from({ length: Number(range[2]) - Number(range[1]) + 1 }, (_, i) => String(Number(range[1]) + i))
    : codes.split(',').filter((c) => /^\d{3}$/.test(c));
  if (list.length === 0) throw new Error(`unusable expected_codes ${codes}`);
  return `http-check expect rstatus ^(${list.join('|')})$`;
}

/** haproxy's condition for one L7 rule (an ACL expression; `!` when inverted). */
export function ruleCondition(
  rule: SnapshotLoadBalancer['listeners'][number]['l7policies'][number]['rules'][number],
): string {
  const flag: Record<string, string> = {
    REGEX: '-m reg',
    STARTS_WITH: '-m beg',
    ENDS_WITH: '-m end',
    CONTAINS: '-m sub',
    EQUAL_TO: '-m str',
  };
  const value = word('L7 rule value', rule.value);
  let fetch: string;
  switch (rule.type) {
    case 'PATH':
      fetch = 'path';
      break;
    case 'HOST_NAME':
      fetch = 'req.hdr(host),field(1,:)';
      break;
    case 'HEADER':
      fetch = `req.hdr(${word('header name', rule.key ?? '')})`;
      break;
    case 'COOKIE':
      fetch = `req.cook(${word('cookie name', rule.key ?? '')})`;
      break;
    case 'FILE_TYPE':
      return `${rule.invert ? '!' : ''}{ path_end ${rule.compare_type === 'REGEX' ? '-m reg ' : ''}${rule.compare_type === 'REGEX' ? value : `.${value}`} }`;
    default:
      throw new Error(`unknown L7 rule type ${rule.type}`);
  }
  const insensitive = rule.type === 'HOST_NAME' ? ' -i' : '';
  return `${rule.invert ? '!' : ''}{ ${fetch} ${flag[rule.compare_type] ?? '-m str'}${insensitive} ${value} }`;
}

function frontend(
  lb: SnapshotLoadBalancer,
  listener: SnapshotLbListener,
  pools: Map<string, SnapshotLbPool>,
): string[] {
  const http = listener.protocol === 'HTTP';
  const lines = [
    `frontend ${listener.id}`,
    `    mode ${http ? 'http' : 'tcp'}`,
    `    bind ${endpoint(lb.vip.ip_address, listener.protocol_port)}`,
    `    timeout client ${listener.timeout_client_data}`,
  ];
  if (listener.connection_limit >= 0) lines.push(`    maxconn ${listener.connection_limit}`);
  if (!listener.admin_state_up || !lb.admin_state_up) lines.push('    disabled');
  if (http) {
    if (listener.insert_headers['X-Forwarded-For']?.toLowerCase() === 'true')
      lines.push('    option forwardfor');
  } else if (listener.timeout_tcp_inspect > 0) {
    lines.push(`    tcp-request inspect-delay ${listener.timeout_tcp_inspect}`);
  }
  for (const policy of http ? listener.l7policies : []) {
    const rules = policy.rules.filter((r) => r.admin_state_up);
    // Octavia: a policy applies when all its rules match; one without rules never does.
    if (!policy.admin_state_up || rules.length === 0) continue;
    const condition = rules.map(ruleCondition).join(' ');
    if (policy.action === 'REJECT') lines.push(`    http-request deny if ${condition}`);
    else if (policy.action === 'REDIRECT_TO_URL' && policy.redirect_url)
      lines.push(
        `    redirect location ${word('redirect URL', policy.redirect_url)} code ${policy.redirect_http_code ?? 302} if ${condition}`,
      );
    else if (
      policy.action === 'REDIRECT_TO_POOL' &&
      policy.redirect_pool_id &&
      pools.has(policy.redirect_pool_id)
    )
      lines.push(`    use_backend ${backendName(listener.id, policy.redirect_pool_id)} if ${condition}`);
  }
  if (listener.default_pool_id && pools.has(listener.default_pool_id))
    lines.push(`    default_backend ${backendName(listener.id, listener.default_pool_id)}`);
  return lines;
}

function backend(listener: SnapshotLbListener, pool: SnapshotLbPool): string[] {
  const http = listener.protocol === 'HTTP';
  const lines = [
    `backend ${backendName(listener.id, pool.id)}`,
    `    mode ${http ? 'http' : 'tcp'}`,
    `    balance ${ALGORITHMS[pool.lb_algorithm] ?? 'roundrobin'}`,
    `    timeout connect ${listener.timeout_member_connect}`,
    `    timeout server ${listener.timeout_member_data}`,
  ];
  if (!pool.admin_state_up) lines.push('    disabled');
  const sp = pool.session_persistence;
  if (sp?.type === 'SOURCE_IP') {
    lines.push('    stick-table type ipv6 size 10k', '    stick on src');
  } else if (sp?.type === 'HTTP_COOKIE' && http) {
    lines.push('    cookie SRV insert indirect nocache');
  } else if (sp?.type === 'APP_COOKIE' && http && sp.cookie_name) {
    const name = word('cookie name', sp.cookie_name);
    lines.push(
      '    stick-table type string len 64 size 10k',
      `    stick store-response res.cook(${name})`,
      `    stick match req.cook(${name})`,
    );
  }
  const monitor = pool.monitor?.admin_state_up ? pool.monitor : null;
  if (monitor?.type === 'HTTP') {
    lines.push(
      `    option httpchk ${word('http method', monitor.http_method ?? 'GET')} ${word('url path', monitor.url_path ?? '/')}`,
    );
    lines.push(`    ${expectLine(monitor.expected_codes ?? '200')}`);
  }
  // TCP and PING monitors: a connect to the member's port (haproxy has no ICMP check).
  if (monitor) lines.push(`    timeout check ${monitor.timeout}s`);
  for (const m of pool.members) {
    const parts = [`    server ${m.id} ${endpoint(m.address, m.protocol_port)}`, `weight ${m.weight}`];
    if (monitor) {
      // Octavia's mapping: a member goes down after max_retries_down failures, up after max_retries successes.
      parts.push(
        'check',
        `inter ${monitor.delay}s`,
        `fall ${monitor.max_retries_down}`,
        `rise ${monitor.max_retries}`,
      );
      if (m.monitor_address) parts.push(`addr ${m.monitor_address}`);
      if (m.monitor_port) parts.push(`port ${m.monitor_port}`);
    }
    if (sp?.type === 'HTTP_COOKIE' && http) parts.push(`cookie ${m.id}`);
    if (m.backup) parts.push('backup');
    if (!m.admin_state_up) parts.push('disabled');
    lines.push(parts.join(' '));
  }
  return lines;
}

/** The haproxy.cfg of one load balancer, its files in `dir`. */
export function loadBalancerConfig(lb: SnapshotLoadBalancer, dir: string): string {
  const files = lbFiles(dir);
  if (!PATH.test(files.config) || !PATH.test(files.socket)) throw new Error(`unusable directory ${dir}`);
  for (const id of [
    lb.id,
    ...lb.listeners.map((l) => l.id),
    ...lb.pools.flatMap((p) => [p.id, ...p.members.map((m) => m.id)]),
  ])
    if (!ID.test(id)) throw new Error(`unusable id ${id}`);
  const pools = new Map(lb.pools.map((p) => [p.id, p]));
  // haproxy reserves two descriptors per connection at start and refuses to run when the process
  // may not open that many (this machine's limit is 20000): unlimited listeners count 4000 each.
  const limits = lb.listeners.map((l) => (l.connection_limit >= 0 ? l.connection_limit : UNLIMITED));
  const maxconn = Math.min(
    MAX_CONNECTIONS,
    Math.max(
      1,
      limits.reduce((a, b) => a + b, 0),
    ),
  );
  const lines = [
    `# load balancer ${lb.id}`,
    'global',
    '    master-worker',
    '    daemon',
    `    pidfile ${files.pid}`,
    `    stats socket ${files.socket} mode 600 level admin expose-fd listeners`,
    `    maxconn ${maxconn}`,
    'defaults',
    '    retries 3',
    '    option redispatch',
    '    timeout connect 5000',
    '    timeout client 50000',
    '    timeout server 50000',
  ];
  for (const listener of [...lb.listeners].sort((a, b) => a.protocol_port - b.protocol_port)) {
    lines.push(...frontend(lb, listener, pools));
    const used = new Set<string>();
    if (listener.default_pool_id) used.add(listener.default_pool_id);
    if (listener.protocol === 'HTTP')
      for (const p of listener.l7policies)
        if (p.action === 'REDIRECT_TO_POOL' && p.redirect_pool_id) used.add(p.redirect_pool_id);
    for (const poolId of [...used].sort()) {
      const pool = pools.get(poolId);
      if (pool) lines.push(...backend(listener, pool));
    }
  }
  return `${lines.join('\n')}\n`;
}

/** What `show stat` says, per load balancer: member health (Octavia's ids) and listener counters. */
export function parseStats(lbId: string, csv: string): LbReport {
  const [header, ...rows] = csv.split('\n').filter((l) => l.trim() !== '');
  const names = (header ?? '').replace(/^# /, '').split(',');
  const col = (fields: string[], name: string) => fields[names.indexOf(name)] ?? '';
  const num = (fields: string[], name: string) => Number(col(fields, name)) || 0;
  const report: LbReport = { loadbalancer_id: lbId, members: {}, listeners: {} };
  for (const row of rows) {
    const f = row.split(',');
    const proxy = col(f, 'pxname');
    const server = col(f, 'svname');
    if (server === 'FRONTEND') {
      const stats: LbStats = {
        bytes_in: num(f, 'bin'),
        bytes_out: num(f, 'bout'),
        active_connections: num(f, 'scur'),
        total_connections: num(f, 'stot'),
        request_errors: num(f, 'ereq'),
      };
      report.listeners[proxy] = stats;
    } else if (server !== 'BACKEND' && proxy.includes('.')) {
      const status = col(f, 'status');
      // A member in several backends (listeners) is down when any check says so.
      const health = status.startsWith('UP')
        ? 'UP'
        : status.startsWith('DOWN')
          ? 'DOWN'
          : status === 'no check'
            ? 'NO_CHECK'
            : status;
      if (report.members[server] !== 'DOWN') report.members[server] = health;
    }
  }
  return report;
}

/** Asks haproxy's stats socket `socket` for `show stat`; rejects after `timeoutMs`. */
export function readStatsSocket(socket: string, timeoutMs = 2000): Promise<string> {
  return new Promise((resolve, reject) => {
    const conn = connect(socket);
    let text = '';
    const timer = setTimeout(() => {
      conn.destroy();
      reject(new Error(`no answer from ${socket}`));
    }, timeoutMs);
    conn.on('connect', () => conn.write('show stat\n'));
    conn.on('data', (chunk) => {
      text += chunk.toString();
    });
    conn.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    conn.on('end', () => {
      clearTimeout(timer);
      resolve(text);
    });
  });
}
