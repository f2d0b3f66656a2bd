/**
 * The client commands' pure parts: openstack-style output (tables, Field/Value, json, yaml,
 * value, `-c`), tables that fit a width (display width of wide and combining characters, wrapped
 * cells, `--max-width`), `key=value` options, and the completion scripts generated from the
 * commander tree.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parse } from 'yaml';
import {
  bashCompletion,
  commandTree,
  completionFor,
  fishCompletion,
  zshCompletion,
} from '../../src/cli/completion.js';
import { displayWidth } from '../../src/cli/display-width.js';
import { program } from '../../src/cli/main.js';
import {
  cellText,
  columnWidths,
  formatList,
  formatShow,
  renderTable,
  tableWidth,
  wrapLine,
} from '../../src/cli/output.js';
import { KINDS } from '../../src/cli/resolve.js';
import { keyValues } from '../../src/cli/resource-command.js';
import { IPSEC_SITE_CONNECTION, withRouters } from '../../src/cli/vpn.js';

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
  it('lists as an openstack-style table, one list item per line', () => {
    assert.equal(
      formatList(headers, rows, { format: 'table' }),
      [
        '+----+------+---------+',
        '| ID | Name | Subnets |',
        '+----+------+---------+',
        '| n1 | net1 | s1      |',
        '|    |      | s2      |',
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
    assert.deepEqual(lines.map((l) => l.split('|')[1].trim()).filter(Boolean), [
      'Field',
      'admin_state_up',
      'id',
      'mtu',
      'name',
      'provider:physical_network',
      'shared',
      'subnets',
      'tags',
    ]);
    assert.match(table, /\| admin_state_up +\| UP +\|/);
    assert.match(table, /\| shared +\| False +\|/);
    assert.match(table, /\| provider:physical_network +\| None +\|/);
    assert.match(table, /\| subnets +\| s1 +\|\n\| +\| s2 +\|/);
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

describe('display width', () => {
  it('counts ASCII 1, CJK and emoji 2, combining marks and joiners 0', () => {
    assert.equal(displayWidth('net-1'), 5);
    assert.equal(displayWidth('网络'), 4);
    assert.equal(displayWidth('ネットワーク'), 12);
    assert.equal(displayWidth('한국어'), 6);
    assert.equal(displayWidth('ＡＢ'), 4, 'fullwidth forms');
    assert.equal(displayWidth('🚀'), 2);
    assert.equal(displayWidth('web🚀db'), 7);
    assert.equal(displayWidth('e\u0301'), 1, 'e + combining acute');
    assert.equal(displayWidth('Cafe\u0301'), 4);
    assert.equal(displayWidth('\u1100\u1161\u11a8'), 2, 'a Hangul syllable from conjoining Jamo');
    assert.equal(displayWidth('👩\u200d👩\u200d👧'), 2, 'a ZWJ family is one emoji');
    assert.equal(displayWidth('🇩🇪'), 2, 'a flag');
    assert.equal(displayWidth('❤\ufe0f'), 2, 'emoji presentation selector');
    assert.equal(displayWidth('a\u200bb'), 2, 'zero-width space');
    assert.equal(displayWidth(''), 0);
  });
});

describe('tables that fit', () => {
  const lines = (text: string) => text.trimEnd().split('\n');

  it('aligns wide characters by display width', () => {
    const table = renderTable(
      ['ID', 'Name'],
      [
        ['n1', '网络'],
        ['n2', 'web🚀'],
        ['n3', 'Cafe\u0301'],
      ],
    );
    assert.deepEqual(lines(table), [
      '+----+-------+',
      '| ID | Name  |',
      '+----+-------+',
      '| n1 | 网络  |',
      '| n2 | web🚀 |',
      '| n3 | Cafe\u0301  |',
      '+----+-------+',
    ]);
    for (const line of lines(table)) assert.equal(displayWidth(line), 14, line);
  });

  it('wraps long lines at spaces or punctuation, else inside a word, never inside a character', () => {
    assert.deepEqual(wrapLine('short', 10), ['short']);
    assert.deepEqual(wrapLine('one two three four', 9), ['one two', 'three', 'four']);
    assert.deepEqual(wrapLine('10.0.0.5,10.0.0.6', 10), ['10.0.0.5,', '10.0.0.6']);
    assert.deepEqual(wrapLine('abcdefghij', 4), ['abcd', 'efgh', 'ij']);
    assert.deepEqual(wrapLine('网络网络网', 4), ['网络', '网络', '网']);
    assert.deepEqual(wrapLine('网络', 3), ['网', '络'], 'a wide character is not split');
    assert.deepEqual(wrapLine('ab👩\u200d👩\u200d👧cd', 3), ['ab', '👩\u200d👩\u200d👧c', 'd']);
  });

  it('shares the width among columns: narrow ones keep theirs, wide ones shrink', () => {
    assert.deepEqual(columnWidths([2, 10, 40], 100), [2, 10, 40]);
    assert.deepEqual(columnWidths([2, 10, 40], 30), [2, 10, 18]);
    assert.deepEqual(columnWidths([30, 30], 30), [15, 15]);
    assert.deepEqual(columnWidths([20, 20, 20], 6), [6, 6, 6], 'never below the minimum');
  });

  it('--max-width keeps every line within N columns, wrapping cells', () => {
    const id = '6966fbed-2c3a-4a0e-9f0b-5f1c3a7d9e21';
    const wide = [
      ['ID', 'Name', 'Fixed IP Addresses'],
      [
        [id, 'web-frontend-port', [{ ip_address: '10.10.1.7', subnet_id: id }]],
        [id, '网络端口', [{ ip_address: '10.10.1.8', subnet_id: id }]],
      ],
    ] as const;
    const natural = formatList(
      [...wide[0]],
      wide[1].map((r) => [...r]),
      { format: 'table' },
    );
    assert.ok(lines(natural).every((l) => displayWidth(l) > 60));
    const fitted = formatList(
      [...wide[0]],
      wide[1].map((r) => [...r]),
      { format: 'table', maxWidth: 60 },
    );
    for (const line of lines(fitted)) assert.ok(displayWidth(line) <= 60, `${displayWidth(line)}: ${line}`);
    assert.equal(new Set(lines(fitted).map(displayWidth)).size, 1, 'every line equally wide');
    const text = lines(fitted)
      .join('')
      .replace(/[|+ -]/g, '');
    assert.ok(text.includes('网络端口'));
    assert.match(
      formatShow({ id, name: 'x'.repeat(100) }, { format: 'table', maxWidth: 40 }),
      /^\| name +\| x{28} \|$/m,
    );
    assert.deepEqual(
      formatList(
        [...wide[0]],
        wide[1].map((r) => [...r]),
        { format: 'table', maxWidth: 0 },
      ),
      natural,
      '0: no limit',
    );
  });

  it('takes the width from --max-width, else $COLUMNS or the terminal, only on a terminal or with --fit-width', () => {
    const tty = { isTTY: true, columns: 100 };
    const pipe = { isTTY: false };
    assert.equal(tableWidth({ maxWidth: 50 }, {}, pipe), 50);
    assert.equal(tableWidth({ maxWidth: 0 }, { COLUMNS: '70' }, tty), undefined);
    assert.equal(tableWidth({}, {}, tty), 100);
    assert.equal(tableWidth({}, { COLUMNS: '70' }, tty), 70);
    assert.equal(tableWidth({}, { COLUMNS: '70' }, pipe), undefined, 'piped output keeps whole lines');
    assert.equal(tableWidth({ fitWidth: true }, { COLUMNS: '70' }, pipe), 70);
    assert.equal(tableWidth({ fitWidth: true }, {}, pipe), 80);
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
      'vpn',
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

describe('zsh and fish completion', () => {
  const root = program();
  const complete = (...words: string[]) => completionFor(root, words);

  it('completes commands, options, object names by their kind, and files', () => {
    assert.deepEqual(complete('netw'), { words: commandTree(root)[0].commands });
    assert.deepEqual(complete('network', ''), {
      words: ['list', 'show', 'create', 'set', 'unset', 'delete', 'agent'],
    });
    assert.deepEqual(complete('network', 'show', ''), { names: KINDS.network });
    assert.deepEqual(complete('network', 'delete', 'a', 'b', ''), { names: KINDS.network }, 'variadic');
    assert.deepEqual(complete('router', 'add', 'subnet', ''), { names: KINDS.router });
    assert.deepEqual(complete('router', 'add', 'subnet', 'edge', ''), { names: KINDS.subnet });
    assert.deepEqual(complete('subnet', 'create', 's', '--network', ''), { names: KINDS.network });
    assert.deepEqual(complete('port', 'create', 'p', '--network', 'n', '--security-group', ''), {
      names: KINDS.securityGroup,
    });
    assert.deepEqual(complete('exec', ''), { names: KINDS.instance });
    assert.deepEqual(complete('vpn', 'show', ''), { names: IPSEC_SITE_CONNECTION });
    assert.deepEqual(complete('up', '--port', ''), { words: [] }, "the server's --port is a number");
    assert.deepEqual(complete('apply', ''), { files: true });
    assert.deepEqual(complete('completion', ''), { words: ['bash', 'zsh', 'fish'] });
    const options = complete('network', 'list', '--');
    assert.ok(
      'words' in options && options.words.includes('--max-width') && options.words.includes('--help'),
    );
  });

  it('prints scripts that ask neutrino __complete', () => {
    const zsh = zshCompletion(root);
    assert.match(zsh, /^#compdef neutrino\n/);
    assert.match(zsh, /neutrino __complete -- "\$\{\(@\)words\[2,CURRENT\]\}"/);
    assert.match(zsh, /compdef _neutrino neutrino/);
    const fish = fishCompletion(root);
    assert.match(fish, /neutrino __complete -- \$tokens\[2\.\.-1\] "\$current"/);
    assert.match(fish, /complete -c neutrino -f -a '\(__neutrino_complete\)'/);
    assert.ok(!commandTree(root).some((n) => n.path.includes('__complete')), 'the helper is hidden');
  });
});

describe('neutrino vpn list', () => {
  it("gives each connection its service's router (none for a service it cannot see)", () => {
    const rows = withRouters(
      [
        { id: 'c1', vpnservice_id: 's1' },
        { id: 'c2', vpnservice_id: 's2' },
        { id: 'c3', vpnservice_id: 'gone' },
      ],
      [
        { id: 's1', router_id: 'r1' },
        { id: 's2', router_id: 'r2' },
      ],
    );
    assert.deepEqual(
      rows.map((r) => [r.id, r.router_id]),
      [
        ['c1', 'r1'],
        ['c2', 'r2'],
        ['c3', null],
      ],
    );
  });
});
