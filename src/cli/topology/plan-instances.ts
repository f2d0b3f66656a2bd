/**
 * Plans a file's instances and floating IPs. An instance is the file's when all its ports carry
 * the owner tag (the executor makes them so); one whose interfaces no longer match the file
 * (networks, addresses, security groups) is replaced. A floating IP stays with its instance's port
 * when it can, else an owned one on the same network (and address) is moved to the new port, so
 * addresses survive a replaced instance.
 */
import type { Id, Row } from './plan.js';
import { idText, type Planner, sameSet } from './planner.js';
import type { Project } from './schema.js';

interface Nic {
  network: Id | undefined;
  networkName: string;
  fixed_ip?: string;
  security_groups?: (Id | undefined)[];
}

type InstancePort = { id: string; network_id: string; fixed_ips: { ip_address: string }[] };

/** Instances that are the file's: every port carries the owner tag. */
export function ownedInstances(planner: Planner): Row[] {
  const ports = new Set(planner.current.ports.filter((p) => planner.owned(p)).map((p) => p.id));
  return planner.current.instances.filter(
    (i) => (i.ports as Row[]).length > 0 && (i.ports as Row[]).every((p) => ports.has(p.id)),
  );
}

export function deleteInstance(planner: Planner, row: Row, name: string, reason?: string): void {
  planner.remove('instance', name, row.id, {
    extra: { ports: (row.ports as Row[]).map((p) => p.id) },
    ...(reason ? { changes: [`replaced: ${reason}`] } : {}),
  });
}

/** Why `row` no longer matches the file's interfaces, or undefined when it does. */
function difference(planner: Planner, row: Row, nics: Nic[]): string | undefined {
  const had = row.ports as InstancePort[];
  if (had.length !== nics.length) return `${had.length} → ${nics.length} interfaces`;
  const ports = new Map(planner.current.ports.map((p) => [p.id, p]));
  const defaultGroup = planner.current.securityGroups.find(
    (g) => g.project_id === row.project_id && g.name === 'default',
  );
  for (const [i, nic] of nics.entries()) {
    const port = had[i];
    if (nic.network !== undefined && port.network_id !== nic.network)
      return `eth${i} moves to network ${nic.networkName}`;
    if (nic.fixed_ip && !port.fixed_ips.some((f) => f.ip_address === nic.fixed_ip))
      return `eth${i} address → ${nic.fixed_ip}`;
    const groups = nic.security_groups ?? (defaultGroup ? [defaultGroup.id] : undefined);
    const current = ports.get(port.id)?.security_groups as string[] | undefined;
    if (
      groups &&
      current &&
      !sameSet(
        groups.map((g) => (g ? idText(g) : '')),
        current,
      )
    )
      return `eth${i} security groups change`;
  }
  return undefined;
}

export function planInstances(planner: Planner, project: string, p: Project): void {
  const pid = planner.projectId(project);
  const owned = new Set(ownedInstances(planner).map((i) => i.id));
  for (const [name, inst] of Object.entries(p.instances ?? {})) {
    const path = ['projects', project, 'instances', name];
    const nics: Nic[] = inst.networks.map((nic, i) => {
      const n = typeof nic === 'string' ? { network: nic } : nic;
      return {
        network: planner.network(project, n.network, [...path, 'networks', i]),
        networkName: n.network,
        fixed_ip: n.fixed_ip,
        security_groups: (n.security_groups ?? inst.security_groups)?.map((g, j) =>
          planner.group(project, g, [...path, 'security_groups', j]),
        ),
      };
    });
    const named = planner.current.instances.filter((i) => i.project_id === pid && i.name === name);
    const row = named.find((i) => owned.has(i.id));
    if (!row && named.length > 0)
      planner.problem(
        path,
        `instance ${name} exists in project ${project} and is not managed by this file (tag ${planner.owner})`,
      );
    const reason = row && difference(planner, row, nics);
    if (row && !reason) {
      planner.kept.add(row.id);
      continue;
    }
    if (row) deleteInstance(planner, row, `${project}/${name}`, reason);
    const body = {
      name,
      project: pid,
      nics: nics.map((nic) => ({
        network: nic.network,
        ...(nic.fixed_ip ? { fixed_ip: nic.fixed_ip } : {}),
        ...(nic.security_groups ? { security_groups: nic.security_groups } : {}),
      })),
    };
    planner.create('instance', project, name, body);
  }
}

export function planFloatingIps(planner: Planner, project: string, p: Project): void {
  const pid = planner.projectId(project);
  const mine = planner.current.floatingIps.filter((f) => f.project_id === pid);
  const used = new Set<string>();
  // Floating IPs of an instance or interface the file lacks are the loader's problems already.
  const wanted = (p.floating_ips ?? []).flatMap((fip, i) => {
    const instance = p.instances?.[fip.instance];
    const networks = (instance?.networks ?? []).map((n) => (typeof n === 'string' ? n : n.network));
    const nic = fip.interface === undefined ? 0 : networks.indexOf(fip.interface);
    if (!instance || nic < 0) return [];
    const key = `${project}/${fip.instance}`;
    const created = planner.ids.get(`instance:${key}`);
    const row = planner.current.instances.find(
      (r) => r.project_id === pid && r.name === fip.instance && planner.kept.has(r.id),
    );
    const port: Id = !created && row ? (row.ports as Row[])[nic].id : { $ref: `port:${key}#${nic}` };
    const network = planner.network(project, fip.network, [
      'projects',
      project,
      'floating_ips',
      i,
      'network',
    ]);
    return [{ fip, port, network, display: `${key} (${fip.network})` }];
  });
  type Wanted = (typeof wanted)[number];
  const fits = (f: Row, w: Wanted) =>
    !used.has(f.id) &&
    f.floating_network_id === w.network &&
    (w.fip.address === undefined || f.floating_ip_address === w.fip.address);
  const take = (f: Row, w: Wanted, port?: Id) => {
    used.add(f.id);
    planner.kept.add(f.id);
    planner.update('floating_ip', w.display, f, {
      ...(port ? { port_id: port } : {}),
      description: w.fip.description ?? '',
    });
  };
  const pending = wanted.filter((w) => {
    const row = mine.find((f) => typeof w.port === 'string' && f.port_id === w.port && fits(f, w));
    if (row) take(row, w);
    return !row;
  });
  for (const w of pending) {
    const row = mine.find((f) => fits(f, w));
    if (row) {
      take(row, w, w.port);
      continue;
    }
    const body = {
      floating_network_id: w.network,
      port_id: w.port,
      project_id: pid,
      tags: [planner.owner],
      ...(w.fip.address ? { floating_ip_address: w.fip.address } : {}),
      ...(w.fip.description ? { description: w.fip.description } : {}),
    };
    planner.create('floating_ip', project, `${w.fip.instance}@${w.fip.network}`, body, {
      display: w.display,
    });
  }
}
