/**
 * The client commands' pure parts: openstack-style output (tables, Field/Value, json, yaml,
 * value, `-c`), `key=value` options, and the bash completion script generated from the
 * commander tree.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parse } from 'yaml';
import { bashCompletion, commandTree } from '../../src/cli/completion.js';
import { program } from '../../src/cli/main.js';
import { cellText, formatList, formatShow, renderTable } from '../../src/cli/output.js';
import { keyValues } from '../../src/cli/resource-command.js';

const headers = ['ID', 'Name', 'Subnets'];
const rows = [
  ['n1', 'net1', ['s1', 's2']],
  ['n2', 'net2', []],
];
const network = {
  id: 'n1',
  name: 'net1',
  admin_state_up: true,
  shared: false,
  mtu: 1450,
  'provider:physical_network': null,
  subnets: ['s1', 's2'],
  tags: [],
};

describe('output', () => {
  it('lists as an openstack-style table with lists joined', () => {
    assert.equal(
      formatList(headers, rows, { format: 'table' }),
      [
        '+----+------+---------+',
        '| ID | Name | Subnets |',
        '+----+------+---------+',
        '| n1 | net1 | s1, s2  |',
        '| n2 | net2 |         |',
        '+----+------+---------+',
        '',
      ].join('\n'),
    );
  });

  it('keeps raw values in json and yaml, keyed by column header; -c picks columns in order', () => {
    assert.deepEqual(JSON.parse(formatList(headers, rows, { format: 'json' })), [
      { ID: 'n1', Name: 'net1', Subnets: ['s1', 's2'] },
      { ID: 'n2', Name: 'net2', Subnets: [] },
    ]);
    assert.deepEqual(parse(formatList(headers, rows, { format: 'yaml', column: ['Name', 'ID'] })), [
      { Name: 'net1', ID: 'n1' },
      { Name: 'net2', ID: 'n2' },
    ]);
    assert.equal(formatList(headers, rows, { format: 'value', column: ['ID'] }), 'n1\nn2\n');
    assert.equal(formatList(headers, rows, { format: 'value' }), 'n1 net1 s1, s2\nn2 net2 \n');
  });

  it('shows one object as sorted Field/Value rows, UP/DOWN, True/False, None', () => {
    const table = formatShow(network, { format: 'table' });
    const lines = table.split('\n').filter((l) => l.startsWith('| '));
    assert.deepEqual(
      lines.map((l) => l.split('|')[1].trim()),
      [
        'Field',
        'admin_state_up',
        'id',
        'mtu',
        'name',
        'provider:physical_network',
        'shared',
        'subnets',
        'tags',
      ],
    );
    assert.match(table, /\| admin_state_up +\| UP +\|/);
    assert.match(table, /\| shared +\| False +\|/);
    assert.match(table, /\| provider:physical_network +\| None +\|/);
    assert.match(table, /\| subnets +\| s1, s2 +\|/);
    assert.deepEqual(JSON.parse(formatShow(network, { format: 'json', column: ['mtu', 'subnets'] })), {
      mtu: 1450,
      subnets: ['s1', 's2'],
    });
    assert.equal(formatShow(network, { format: 'value', column: ['id', 'shared'] }), 'n1\nFalse\n');
  });

  it('formats dicts and lists of dicts as the openstack CLI does', () => {
    assert.equal(cellText({ start: '10.0.0.2', end: '10.0.0.9' }), "end='10.0.0.9', start='10.0.0.2'");
    assert.equal(
      cellText([
        { ip_address: '10.0.0.5', subnet_id: 's' },
        { ip_address: '10.0.0.6', subnet_id: 's' },
      ]),
      "ip_address='10.0.0.5', subnet_id='s'\nip_address='10.0.0.6', subnet_id='s'",
    );
    assert.match(
      renderTable(['Field', 'Value'], [['fixed_ips', 'a\nb']]),
      /\| fixed_ips \| a +\|\n\| +\| b +\|/,
    );
  });

  it('rejects an unknown -c column, naming the known ones', () => {
    assert.throws(
      () => formatList(headers, rows, { format: 'table', column: ['Nope'] }),
      /No recognized column names in 'Nope'; columns: ID, Name, Subnets/,
    );
    assert.throws(() => formatShow(network, { format: 'json', column: ['x'] }), /No recognized column names/);
  });

  it('parses key=value options and reports what is wrong', () => {
    assert.deepEqual(
      keyValues('start=10.0.0.2,end=10.0.0.9', 'allocation-pool', ['start', 'end'], ['start', 'end']),
      {
        start: '10.0.0.2',
        end: '10.0.0.9',
      },
    );
    assert.throws(
      () => keyValues('start=1', 'allocation-pool', ['start', 'end'], ['start', 'end']),
      /missing end/,
    );
    assert.throws(() => keyValues('begin=1', 'allocation-pool', ['start', 'end']), /expected start=…,end=…/);
  });
});

describe('bash completion', () => {
  it('knows every command and option of the commander tree', () => {
    const root = program();
    const nodes = commandTree(root);
    const paths = nodes.map((n) => n.path);
    for (const noun of [
      'network',
      'subnet',
      'port',
      'router',
      'floating-ip',
      'security-group',
      'security-group-rule',
      'instance',
      'project',
      'user',
      'role',
      'network agent',
    ])
      assert.ok(paths.includes(`${noun} list`), `${noun} list`);
    for (const verb of ['router add subnet', 'router remove port', 'apply', 'destroy', 'completion'])
      assert.ok(paths.includes(verb), verb);
    const script = bashCompletion(root);
    assert.match(script, /"router add"\) echo "subnet port" ;;/);
    assert.match(script, /"subnet create"\) echo "[^"]*--subnet-range[^"]*--allocation-pool/);
    assert.match(script, /complete -o filenames -F _neutrino neutrino/);
  });
});
