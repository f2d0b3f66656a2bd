/**
 * The plan of `neutrino apply`: what to create, change and delete so that the API holds what a
 * topology file says. Pure: it compares the file with a snapshot of the API's objects (`Current`)
 * and returns ordered steps; nothing here talks to the API.
 *
 * Objects the file creates carry the tag `neutrino-topology:<name>` (projects: that marker at the
 * end of their description; instances: on all their ports) and are matched by name within their
 * project. Only owned objects are changed or deleted; an object of the same name the file does not
 * own is an error, never adopted. Steps come deletes first (floating IPs, instances, router
 * interfaces, routers, subnets, networks, rules, groups, projects), then creates and changes in
 * dependency order. A step refers to an object an earlier step creates by `{$ref: key}`.
 *
 * One file per kind computes its steps (`plan-networks.ts`, `plan-security-groups.ts`,
 * `plan-routers.ts`, `plan-instances.ts`, `plan-deletes.ts`) through a `Planner` (`planner.ts`).
 */
import { inFileOrder, type LoadedTopology, problemsMessage } from './load.js';
import { planDeletes } from './plan-deletes.js';
import { planFloatingIps, planInstances } from './plan-instances.js';
import { planNetworks, planProject } from './plan-networks.js';
import { planRouters } from './plan-routers.js';
import { planSecurityGroups } from './plan-security-groups.js';
import { Planner } from './planner.js';

export type Row = Record<string, unknown> & { id: string };
/** An object an earlier step creates (or, for `default-security-group`, a project's default group). */
export interface Ref {
  $ref: string;
  project?: Id;
}
export type Id = string | Ref;

/** What the API holds: everything visible of these collections, except where noted. */
export interface Current {
  projects: Row[];
  networks: Row[];
  subnets: Row[];
  securityGroups: Row[];
  routers: Row[];
  /** Router interface ports (`network:router_interface`). */
  routerPorts: Row[];
  instances: Row[];
  /** Ports carrying the owner tag (instances' ports). */
  ports: Row[];
  /** Floating IPs carrying the owner tag. */
  floatingIps: Row[];
}

export type StepKind =
  | 'project'
  | 'network'
  | 'subnet'
  | 'security_group'
  | 'security_group_rule'
  | 'router'
  | 'router_interface'
  | 'router_routes'
  | 'instance'
  | 'floating_ip';

export interface Step {
  op: 'create' | 'update' | 'delete';
  kind: StepKind;
  /** For people: `shop/web`. */
  name: string;
  /** Creates: how later steps refer to what this makes. */
  key?: string;
  /** Updates and deletes: the object's id. */
  id?: string;
  body?: Record<string, unknown>;
  /** Updates: `attribute: old → new`. */
  changes?: string[];
  /** Kind-specific facts for the executor (e.g. the ports of an instance to delete). */
  extra?: Record<string, unknown>;
}

export interface Plan {
  owner: string;
  steps: Step[];
}

export class PlanError extends Error {
  constructor(readonly problems: string[]) {
    super(problemsMessage(problems));
    this.name = 'PlanError';
  }
}

export { isMarked, markedDescription, ownerTag } from './planner.js';

const DELETES: StepKind[] = [
  'floating_ip',
  'instance',
  'router_routes',
  'router_interface',
  'router',
  'subnet',
  'network',
  'security_group_rule',
  'security_group',
  'project',
];
const CREATES: StepKind[] = [
  'project',
  'network',
  'subnet',
  'security_group',
  'security_group_rule',
  'router',
  'router_interface',
  'router_routes',
  'instance',
  'floating_ip',
];

/** Deletes in their order, then creates and updates (an update sits with the creates of its kind). */
function rank(step: Step): number {
  return step.op === 'delete' ? DELETES.indexOf(step.kind) : DELETES.length + CREATES.indexOf(step.kind);
}

/** What to do so that the API holds what the file says; throws PlanError listing every problem. */
export function computePlan(
  loaded: Pick<LoadedTopology, 'topology' | 'name' | 'locate' | 'problems'>,
  current: Current,
): Plan {
  const planner = new Planner(loaded, current);
  planner.problems.push(...(loaded.problems ?? []));
  const projects = Object.entries(loaded.topology.projects);
  for (const [name, p] of projects) planProject(planner, name, p);
  for (const [name, p] of projects) planNetworks(planner, name, p);
  for (const [name, p] of projects) planSecurityGroups(planner, name, p);
  for (const [name, p] of projects) planRouters(planner, name, p);
  for (const [name, p] of projects) planInstances(planner, name, p);
  for (const [name, p] of projects) planFloatingIps(planner, name, p);
  planDeletes(planner);
  if (planner.problems.length > 0) throw new PlanError(inFileOrder(planner.problems));
  const steps = planner.steps.map((step, i) => ({ step, i }));
  steps.sort((a, b) => rank(a.step) - rank(b.step) || a.i - b.i);
  return { owner: planner.owner, steps: steps.map((s) => s.step) };
}

/** What to do to remove everything the topology `name` owns. */
export function destroyPlan(name: string, current: Current): Plan {
  return computePlan({ topology: { projects: {} }, name, locate: () => '' }, current);
}

export function summary(plan: Plan): { create: number; update: number; delete: number } {
  const count = (op: Step['op']) => plan.steps.filter((s) => s.op === op).length;
  return { create: count('create'), update: count('update'), delete: count('delete') };
}

const SIGNS = { create: '+', update: '~', delete: '-' } as const;
const LABELS: Record<StepKind, string> = {
  project: 'project',
  network: 'network',
  subnet: 'subnet',
  security_group: 'security group',
  security_group_rule: 'rule',
  router: 'router',
  router_interface: 'router interface',
  router_routes: 'router routes',
  instance: 'instance',
  floating_ip: 'floating IP',
};

/** One line per step: `+ network shop/web`, `~ subnet shop/a: enable_dhcp: true → false`. */
export function describeStep(step: Step): string {
  const changes = step.changes?.length ? `: ${step.changes.join(', ')}` : '';
  return `${SIGNS[step.op]} ${LABELS[step.kind]} ${step.name}${changes}`;
}

export function formatPlan(plan: Plan): string {
  if (plan.steps.length === 0) return 'no changes\n';
  const { create, update, delete: remove } = summary(plan);
  const total = `${create} to create, ${update} to change, ${remove} to delete`;
  return `${plan.steps.map(describeStep).join('\n')}\n${total}\n`;
}
