/**
 * The identity commands (Keystone v3, admin): `neutrino project|user|role list|show|create|set|
 * delete` and `neutrino role add|remove --user U --project P ROLE` to grant and revoke roles,
 * with the openstack CLI's options.
 */
import type { Command } from 'commander';
import { type Session, sessionFromEnvironment } from '../client/session.js';
import { find, findId, KINDS, type Row } from './resolve.js';
import {
  type Body,
  column,
  either,
  type Flags,
  idColumn,
  pair,
  registerResource,
} from './resource-command.js';

/** Keystone's `links` say nothing to a reader of `show`. */
async function withoutLinks(_: Session, row: Row): Promise<Record<string, unknown>> {
  const { links: _links, ...rest } = row;
  return rest;
}

async function domainId(session: Session, ref: unknown): Promise<string | undefined> {
  if (typeof ref !== 'string') return undefined;
  return (await session.get<{ domain: { id: string } }>(`/identity/v3/domains/${encodeURIComponent(ref)}`))
    .domain.id;
}

function nameOptions(cmd: Command, verb: 'create' | 'set'): void {
  if (verb === 'set') cmd.option('--name <name>', 'new name');
  cmd.option('--description <text>', 'description');
  pair(cmd, 'enable', 'enabled (default)', 'disable', 'disabled');
}

const common = (flags: Flags): Body => ({
  name: flags.name,
  description: flags.description,
  enabled: either(flags, 'enable', 'disable'),
});

function registerProjects(root: Command): void {
  registerResource(root, {
    noun: 'project',
    kind: KINDS.project,
    description: 'projects (Keystone; admin): the owners of resources',
    columns: [
      column('ID', 'id'),
      column('Name', 'name'),
      column('Domain ID', 'domain_id', true),
      column('Description', 'description', true),
      column('Enabled', 'enabled', true),
    ],
    listOptions: (cmd) => {
      cmd.option('--domain <domain>', 'only projects of this domain (name or id)');
    },
    listFilters: async (session, flags) => ({ domain_id: await domainId(session, flags.domain) }),
    view: withoutLinks,
    create: {
      options: (cmd) => {
        nameOptions(cmd, 'create');
        cmd.option('--domain <domain>', 'the domain (name or id; default Default)');
      },
      body: async (session, flags) => ({
        ...common(flags),
        domain_id: await domainId(session, flags.domain),
      }),
    },
    set: { options: (cmd) => nameOptions(cmd, 'set'), body: async (_, flags) => common(flags) },
  });
}

function registerUsers(root: Command): void {
  const userOptions = (cmd: Command, verb: 'create' | 'set') => {
    nameOptions(cmd, verb);
    cmd
      .option('--password <password>', 'password')
      .option('--project <project>', 'default project (name or id)')
      .option('--email <email>', 'email address');
    if (verb === 'create') cmd.option('--domain <domain>', 'the domain (name or id; default Default)');
  };
  const body = async (session: Session, flags: Flags): Promise<Body> => ({
    ...common(flags),
    password: flags.password,
    email: flags.email,
    default_project_id: flags.project
      ? await findId(session, KINDS.project, flags.project as string)
      : undefined,
    domain_id: await domainId(session, flags.domain),
  });
  registerResource(root, {
    noun: 'user',
    kind: KINDS.user,
    description: 'users (Keystone; admin)',
    columns: [
      column('ID', 'id'),
      column('Name', 'name'),
      idColumn('Project', 'default_project_id', KINDS.project, true),
      column('Domain', 'domain_id', true),
      column('Description', 'description', true),
      column('Enabled', 'enabled', true),
    ],
    listOptions: (cmd) => {
      cmd.option('--domain <domain>', 'only users of this domain (name or id)');
    },
    listFilters: async (session, flags) => ({ domain_id: await domainId(session, flags.domain) }),
    view: withoutLinks,
    create: { options: (cmd) => userOptions(cmd, 'create'), body },
    set: { options: (cmd) => userOptions(cmd, 'set'), body },
  });
}

function registerRoles(root: Command): void {
  const noun = registerResource(root, {
    noun: 'role',
    kind: KINDS.role,
    description: 'roles (Keystone; admin) and their assignment to users on projects',
    columns: [column('ID', 'id'), column('Name', 'name')],
    view: withoutLinks,
    create: { body: async () => ({}) },
  });
  for (const verb of ['add', 'remove'] as const) {
    noun
      .command(`${verb} <role>`)
      .description(`${verb === 'add' ? 'grant' : 'revoke'} a role to a user on a project`)
      .requiredOption('--user <user>', 'the user (name or id)')
      .requiredOption('--project <project>', 'the project (name or id)')
      .action(async (roleRef: string, flags: { user: string; project: string }) => {
        const session = sessionFromEnvironment();
        const [role, user, project] = await Promise.all([
          find(session, KINDS.role, roleRef),
          find(session, KINDS.user, flags.user),
          find(session, KINDS.project, flags.project),
        ]);
        const path = `/identity/v3/projects/${project.id}/users/${user.id}/roles/${role.id}`;
        if (verb === 'add') await session.put(path);
        else await session.delete(path);
      });
  }
}

export function registerIdentityCommands(root: Command): void {
  registerProjects(root);
  registerUsers(root);
  registerRoles(root);
}
