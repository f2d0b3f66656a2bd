/**
 * `neutrino qos policy list|show|create|set|unset|delete` (`--share/--no-share`,
 * `--default/--no-default`) and `neutrino qos rule create|list|show|delete POLICY`, with the
 * openstack CLI's rule options: `--type bandwidth-limit|dscp-marking|minimum-bandwidth`,
 * `--max-kbps`, `--max-burst-kbits`, `--egress/--ingress`, `--dscp-mark`, `--min-kbps`. Ports and
 * networks take a policy with `port set --qos-policy P` / `network set --qos-policy P` and drop
 * it with `--no-qos-policy`.
 */
import type { Command } from 'commander';
import { type Session, sessionFromEnvironment } from '../client/session.js';
import { formatList, formatShow, outputOptions, print } from './output.js';
import { find, findId, KINDS, type Row } from './resolve.js';
import {
  type Body,
  column,
  defined,
  either,
  type Flags,
  flag,
  idColumn,
  integer,
  registerResource,
} from './resource-command.js';

/** The openstack CLI's rule type names and the API's. */
const RULE_TYPES: Record<string, string> = {
  'bandwidth-limit': 'bandwidth_limit',
  'dscp-marking': 'dscp_marking',
  'minimum-bandwidth': 'minimum_bandwidth',
};

const RULE_COLUMNS: [string, string][] = [
  ['ID', 'id'],
  ['Type', 'type'],
  ['Max Kbps', 'max_kbps'],
  ['Max Burst Kbits', 'max_burst_kbps'],
  ['Min Kbps', 'min_kbps'],
  ['DSCP Mark', 'dscp_mark'],
  ['Direction', 'direction'],
];

/** `--qos-policy P` / `--no-qos-policy` of `port` and `network` create and set. */
export function qosPolicyOptions(cmd: Command, verb: 'create' | 'set'): void {
  cmd.option('--qos-policy <policy>', 'attach this QoS policy (name or id)');
  if (verb === 'set') cmd.addOption(flag('--no-qos-policy', 'detach its QoS policy'));
}

/** The `qos_policy_id` those options ask for (undefined: not asked). */
export async function qosPolicyBody(session: Session, flags: Flags): Promise<Body> {
  if (flags.qosPolicy && flags.noQosPolicy)
    throw new Error('--qos-policy and --no-qos-policy exclude each other');
  if (flags.noQosPolicy) return { qos_policy_id: null };
  if (typeof flags.qosPolicy === 'string')
    return { qos_policy_id: await findId(session, KINDS.qosPolicy, flags.qosPolicy) };
  return {};
}

function policyOptions(cmd: Command): void {
  cmd.option('--share', 'share the policy with every project').option('--no-share', 'do not share it');
  cmd
    .option('--default', "make it its project's default")
    .option('--no-default', 'stop it being the default');
}

async function policyBody(_: unknown, flags: Flags): Promise<Body> {
  return { shared: flags.share, is_default: flags.default };
}

function ruleBody(flags: Flags): Body {
  return defined({
    max_kbps: flags.maxKbps,
    max_burst_kbps: flags.maxBurstKbits,
    min_kbps: flags.minKbps,
    dscp_mark: flags.dscpMark,
    direction:
      either(flags, 'egress', 'ingress') === undefined ? undefined : flags.egress ? 'egress' : 'ingress',
  });
}

function registerRuleCommands(qos: Command): void {
  const noun = qos
    .command('rule')
    .description("QoS rules: a policy's bandwidth limits, DSCP mark, minimum bandwidth");
  const policyOf = async (ref: string) => {
    const session = sessionFromEnvironment();
    const policy = await find(session, KINDS.qosPolicy, ref);
    return { session, policy, path: `${KINDS.qosPolicy.path}/${policy.id}` };
  };

  outputOptions(
    noun
      .command('create <policy>')
      .description('add a rule to a QoS policy')
      .requiredOption('--type <type>', 'bandwidth-limit, dscp-marking or minimum-bandwidth')
      .option('--max-kbps <kbps>', 'bandwidth limit (bandwidth-limit)', integer)
      .option('--max-burst-kbits <kbits>', 'burst (bandwidth-limit)', integer)
      .option('--dscp-mark <mark>', 'DSCP value (dscp-marking)', integer)
      .option('--min-kbps <kbps>', 'guaranteed bandwidth (minimum-bandwidth; not enforced)', integer)
      .option('--egress', 'what the port sends (default)')
      .option('--ingress', 'what the port receives'),
  ).action(async (ref: string, flags: Flags) => {
    const type = RULE_TYPES[String(flags.type)];
    if (!type) throw new Error(`--type ${flags.type}: expected ${Object.keys(RULE_TYPES).join(', ')}`);
    const { session, path } = await policyOf(ref);
    const member = `${type}_rule`;
    const created = await session.post<Record<string, Row>>(`${path}/${type}_rules`, {
      [member]: ruleBody(flags),
    });
    print(formatShow({ ...created[member], type }, flags));
  });

  outputOptions(noun.command('list <policy>').description("list a QoS policy's rules")).action(
    async (ref: string, flags: Flags) => {
      const { policy } = await policyOf(ref);
      const rules = (policy.rules as Row[]) ?? [];
      print(
        formatList(
          RULE_COLUMNS.map(([header]) => header),
          rules.map((rule) => RULE_COLUMNS.map(([, key]) => rule[key] ?? '')),
          flags,
        ),
      );
    },
  );

  /** The rule `id` of the policy, with its type (the API files rules by type). */
  const ruleOf = async (ref: string, id: string) => {
    const { session, policy, path } = await policyOf(ref);
    const rule = ((policy.rules as Row[]) ?? []).find((r) => r.id === id);
    if (!rule) throw new Error(`No rule ${id} in QoS policy ${ref}`);
    return { session, url: `${path}/${rule.type}_rules/${id}`, type: String(rule.type) };
  };

  outputOptions(noun.command('show <policy> <rule>').description('show a QoS rule')).action(
    async (ref: string, id: string, flags: Flags) => {
      const { session, url, type } = await ruleOf(ref, id);
      const shown = await session.get<Record<string, Row>>(url);
      print(formatShow({ ...shown[`${type}_rule`], type }, flags));
    },
  );

  noun
    .command('delete <policy> <rule...>')
    .description('delete QoS rules')
    .action(async (ref: string, ids: string[]) => {
      for (const id of ids) {
        const { session, url } = await ruleOf(ref, id);
        await session.delete(url);
      }
    });
}

export function registerQosCommands(root: Command): void {
  const qos = root.command('qos').description('quality of service: policies and their rules');
  registerResource(qos, {
    noun: 'policy',
    kind: KINDS.qosPolicy,
    description: 'QoS policies: rules that ports, networks, floating IPs and router gateways take',
    standard: true,
    tags: true,
    columns: [
      column('ID', 'id'),
      column('Name', 'name'),
      column('Shared', 'shared'),
      column('Default', 'is_default'),
      idColumn('Project', 'project_id', KINDS.project, true),
      column('Tags', 'tags', true),
    ],
    create: { options: policyOptions, body: policyBody },
    set: { options: policyOptions, body: policyBody },
  });
  registerRuleCommands(qos);
}
