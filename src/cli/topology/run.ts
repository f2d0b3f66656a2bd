/**
 * What `neutrino apply` and `neutrino destroy` do: load the file, read the API, plan, then print
 * the plan (`--plan`) or carry it out, printing each step; apply then waits for the instances.
 */
import { sessionFromEnvironment } from '../../client/session.js';
import { Executor, waitForInstances } from './execute.js';
import { loadTopology } from './load.js';
import { computePlan, destroyPlan, formatPlan, ownerTag, type Plan, summary } from './plan.js';
import { fetchCurrent } from './state.js';

const out = (text: string) => process.stdout.write(text);

async function execute(plan: Plan, verb: 'applied' | 'destroyed'): Promise<void> {
  if (plan.steps.length === 0) {
    out(verb === 'destroyed' ? 'nothing to destroy\n' : 'no changes\n');
    return;
  }
  await new Executor(sessionFromEnvironment(), plan.owner, (line) => out(`${line}\n`)).run(plan);
  const { create, update, delete: remove } = summary(plan);
  out(
    verb === 'destroyed'
      ? `destroyed: ${remove} deleted\n`
      : `applied: ${create} created, ${update} changed, ${remove} deleted\n`,
  );
}

export async function apply(file: string, flags: { plan?: boolean; timeout?: number }): Promise<void> {
  // The file's own problems wait for the plan's, so that one run reports them all.
  const loaded = loadTopology(file, { collect: true });
  const session = sessionFromEnvironment();
  const owner = ownerTag(loaded.name);
  const plan = computePlan(loaded, await fetchCurrent(session, owner));
  if (flags.plan) {
    out(formatPlan(plan));
    return;
  }
  await execute(plan, 'applied');
  await waitForInstances(session, owner, {
    timeoutMs: (flags.timeout ?? 300) * 1000,
    tty: process.stdout.isTTY === true,
    write: out,
  });
}

export async function destroy(file: string, flags: { plan?: boolean }): Promise<void> {
  const { name } = loadTopology(file);
  const plan = destroyPlan(name, await fetchCurrent(sessionFromEnvironment(), ownerTag(name)));
  if (flags.plan) out(formatPlan(plan));
  else await execute(plan, 'destroyed');
}
