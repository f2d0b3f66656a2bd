/**
 * Carries out a plan's steps in order through the API, filling in `{$ref}`s with the ids earlier
 * steps created, then waits until the topology's instances are ACTIVE (one updating line on a
 * terminal, plain lines otherwise). Instances are made from ports the file creates and tags, so
 * they are recognisably the file's; they are created in their project with a token scoped to it.
 */
import { ApiError, type Session } from '../../client/session.js';
import { faultText } from '../instance.js';
import { find, KINDS, type Kind, list, type Row } from '../resolve.js';
import { describeStep, type Id, type Plan, type Ref, type Step, type StepKind } from './plan.js';

const COLLECTIONS: Partial<Record<StepKind, Kind>> = {
  network: KINDS.network,
  subnet: KINDS.subnet,
  security_group: KINDS.securityGroup,
  security_group_rule: KINDS.securityGroupRule,
  router: KINDS.router,
  floating_ip: KINDS.floatingIp,
  project: KINDS.project,
};

const isRef = (v: unknown): v is Ref => typeof v === 'object' && v !== null && '$ref' in v;

export class Executor {
  readonly #session: Session;
  readonly #owner: string;
  readonly #ids = new Map<string, string>();
  readonly #scoped = new Map<string, Session>();
  readonly #log: (line: string) => void;

  constructor(session: Session, owner: string, log: (line: string) => void) {
    this.#session = session;
    this.#owner = owner;
    this.#log = log;
  }

  async run(plan: Plan): Promise<void> {
    for (const step of plan.steps) {
      this.#log(describeStep(step));
      await this.#step(step);
    }
  }

  async #id(id: Id): Promise<string> {
    if (typeof id === 'string') return id;
    const known = this.#ids.get(id.$ref);
    if (known) return known;
    if (id.$ref === 'default-security-group' && id.project) {
      const project = await this.#id(id.project);
      const [group] = await list(this.#session, KINDS.securityGroup, {
        project_id: project,
        name: 'default',
      });
      if (group) return group.id;
    }
    throw new Error(`internal: nothing created ${id.$ref} yet`);
  }

  /** The body with every `{$ref}` replaced by its id. */
  async #resolve(value: unknown): Promise<unknown> {
    if (isRef(value)) return this.#id(value);
    if (Array.isArray(value)) return Promise.all(value.map((v) => this.#resolve(v)));
    if (value === null || typeof value !== 'object') return value;
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) if (v !== undefined) out[k] = await this.#resolve(v);
    return out;
  }

  async #step(step: Step): Promise<void> {
    const body = (await this.#resolve(step.body ?? {})) as Record<string, unknown>;
    switch (step.kind) {
      case 'router_interface': {
        const verb = step.op === 'delete' ? 'remove' : 'add';
        await this.#session.request(
          'PUT',
          `${KINDS.router.path}/${body.router}/${verb}_router_interface`,
          { subnet_id: body.subnet },
          { allow: verb === 'remove' ? [404] : [] },
        );
        return;
      }
      case 'router_routes':
        await this.#session.put(`${KINDS.router.path}/${body.router}`, { router: { routes: body.routes } });
        return;
      case 'instance':
        if (step.op === 'delete') return this.#deleteInstance(step);
        return this.#createInstance(step, body);
      case 'project':
        if (step.op === 'delete') return this.#deleteProject(step);
    }
    const kind = COLLECTIONS[step.kind]!;
    if (step.op === 'delete') {
      await this.#session.request('DELETE', `${kind.path}/${step.id}`, undefined, { allow: [404] });
    } else if (step.op === 'update') {
      await this.#session.request(kind.update || 'PUT', `${kind.path}/${step.id}`, { [kind.member]: body });
    } else {
      const created = (await this.#session.post<Record<string, Row>>(kind.path, { [kind.member]: body }))[
        kind.member
      ];
      this.#ids.set(step.key!, created.id);
      if (step.extra?.withoutDefaultEgress)
        for (const rule of created.security_group_rules as Row[])
          await this.#session.delete(`${KINDS.securityGroupRule.path}/${rule.id}`);
    }
  }

  /**
   * A session scoped to `project`, after granting the caller `member` there if it has no role
   * (admins; others can only use projects they already have a role on).
   */
  async #sessionFor(project: string): Promise<Session> {
    const cached = this.#scoped.get(project);
    if (cached) return cached;
    const user = await this.#session.userId();
    const path = `/identity/v3/projects/${project}/users/${user}/roles`;
    const assigned = user && (await this.#session.request('GET', path, undefined, { allow: [403] }));
    if (assigned && assigned.status === 200 && (assigned.body as { roles: Row[] }).roles.length === 0) {
      const member = await find(this.#session, KINDS.role, 'member');
      await this.#session.put(`${path}/${member.id}`);
    }
    const scoped = this.#session.forProject(project);
    this.#scoped.set(project, scoped);
    return scoped;
  }

  async #createInstance(step: Step, body: Record<string, unknown>): Promise<void> {
    const name = body.name as string;
    const project = body.project as string;
    const nics = body.nics as { network: string; fixed_ip?: string; security_groups?: string[] }[];
    const ports: string[] = [];
    try {
      for (const [i, nic] of nics.entries()) {
        const { port } = await this.#session.post<{ port: Row }>(KINDS.port.path, {
          port: {
            name: `${name}-eth${i}`,
            network_id: nic.network,
            project_id: project,
            tags: [this.#owner],
            ...(nic.fixed_ip ? { fixed_ips: [{ ip_address: nic.fixed_ip }] } : {}),
            ...(nic.security_groups ? { security_groups: nic.security_groups } : {}),
          },
        });
        ports.push(port.id);
        this.#ids.set(`${step.key!.replace(/^instance:/, 'port:')}#${i}`, port.id);
      }
      const scoped = await this.#sessionFor(project);
      const { instance } = await scoped.post<{ instance: Row }>(KINDS.instance.path, {
        instance: { name, networks: ports.map((port_id) => ({ port_id })) },
      });
      this.#ids.set(step.key!, instance.id);
    } catch (err) {
      for (const port of ports)
        await this.#session.request('DELETE', `${KINDS.port.path}/${port}`, undefined, { allow: [404] });
      throw err;
    }
  }

  async #deleteInstance(step: Step): Promise<void> {
    if (step.id)
      await this.#session.request('DELETE', `${KINDS.instance.path}/${step.id}`, undefined, { allow: [404] });
    for (const port of (step.extra?.ports as string[] | undefined) ?? [])
      await this.#session.request('DELETE', `${KINDS.port.path}/${port}`, undefined, { allow: [404] });
  }

  /**
   * Deletes a project the file created, unless something the file does not own is still in it
   * (then it stays, with a warning); its `default` security group goes with it.
   */
  async #deleteProject(step: Step): Promise<void> {
    const project = step.id!;
    const filters = { project_id: project };
    const [networks, ports, groups, routers, instances] = await Promise.all([
      list(this.#session, KINDS.network, filters),
      list(this.#session, KINDS.port, filters),
      list(this.#session, KINDS.securityGroup, filters),
      list(this.#session, KINDS.router, filters).catch((err) => {
        if (err instanceof ApiError && err.status === 404) return [];
        throw err;
      }),
      list(this.#session, KINDS.instance, filters),
    ]);
    const others = [
      ...networks,
      ...ports,
      ...routers,
      ...instances,
      ...groups.filter((g) => g.name !== 'default'),
    ];
    if (others.length > 0) {
      const objects = others.length === 1 ? 'object' : 'objects';
      this.#log(
        `  project ${step.name} kept: it still holds ${others.length} ${objects} this file does not own`,
      );
      return;
    }
    for (const group of groups)
      await this.#session.request('DELETE', `${KINDS.securityGroup.path}/${group.id}`, undefined, {
        allow: [404],
      });
    await this.#session.request('DELETE', `${KINDS.project.path}/${project}`, undefined, { allow: [404] });
  }
}

export interface WaitOptions {
  timeoutMs: number;
  /** One updating line (a terminal) or a line per change. */
  tty: boolean;
  write: (text: string) => void;
}

/** Waits until every instance made of the topology's ports is ACTIVE; throws on ERROR or timeout. */
export async function waitForInstances(session: Session, owner: string, options: WaitOptions): Promise<void> {
  const deadline = Date.now() + options.timeoutMs;
  let last = '';
  for (;;) {
    const ports = await list(session, KINDS.port, { tags: owner, fields: ['device_id'] });
    const ids = new Set(ports.map((p) => String(p.device_id)).filter((id) => id !== ''));
    const instances = ids.size === 0 ? [] : await list(session, KINDS.instance, { id: [...ids] });
    const failed = instances.find((i) => i.status === 'ERROR');
    if (failed) {
      if (options.tty && last) options.write('\n');
      throw new Error(`instance ${failed.name} is in ERROR: ${faultText(failed.fault) || 'no fault given'}`);
    }
    const active = instances.filter((i) => i.status === 'ACTIVE').length;
    if (active === instances.length && !last) return;
    const waiting = instances.filter((i) => i.status !== 'ACTIVE').map((i) => `${i.name} ${i.status}`);
    const line = `instances: ${active}/${instances.length} ACTIVE${waiting.length ? ` (waiting for ${waiting.join(', ')})` : ''}`;
    if (line !== last) {
      options.write(options.tty ? `\r\x1b[K${line}` : `${line}\n`);
      last = line;
    }
    if (active === instances.length) {
      if (options.tty) options.write('\n');
      return;
    }
    if (Date.now() > deadline) {
      if (options.tty) options.write('\n');
      throw new Error(
        `instances not ACTIVE after ${Math.round(options.timeoutMs / 1000)} s: ${waiting.join(', ')}`,
      );
    }
    await new Promise((r) => setTimeout(r, 250));
  }
}
