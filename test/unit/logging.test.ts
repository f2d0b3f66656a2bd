/** The pretty log form (`cli/logger.ts`) and what a write's audit names (`api/request-log.ts`). */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { auditOf } from '../../src/api/request-log.js';
import { createLogger, logFormat, prettyLine } from '../../src/cli/logger.js';

describe('logFormat', () => {
  it('is pretty on a terminal and JSON otherwise, unless told', () => {
    assert.equal(logFormat(undefined, true), 'pretty');
    assert.equal(logFormat(undefined, false), 'json');
    assert.equal(logFormat('json', true), 'json');
    assert.equal(logFormat('pretty', false), 'pretty');
    assert.throws(() => logFormat('xml', false), /invalid log format "xml": use json or pretty/);
  });
});

describe('prettyLine', () => {
  it('makes one readable line of a pino record, its fields as key=value', () => {
    const json = JSON.stringify({
      level: 30,
      time: Date.UTC(2026, 0, 2, 14, 3, 7, 412),
      pid: 1,
      hostname: 'h',
      component: 'agent',
      revision: 12,
      ops: { 'veth.add': 2 },
      note: 'two words',
      msg: 'reconciled',
    });
    assert.equal(
      prettyLine(`${json}\n`),
      '14:03:07.412 INFO  [agent] reconciled revision=12 ops={"veth.add":2} note="two words"\n',
    );
  });

  it('shows an error by its message, and passes a line that is not JSON through', () => {
    const json = JSON.stringify({ level: 50, time: 0, msg: 'failed', err: { message: 'boom', stack: 'x' } });
    assert.equal(prettyLine(json), '00:00:00.000 ERROR failed err="boom"\n');
    assert.equal(prettyLine('plain text'), 'plain text\n');
  });

  it('is what a pretty logger writes', () => {
    let out = '';
    const log = createLogger('info', 'pretty', { write: (text: string) => (out += text) });
    log.info({ port: 'p1' }, 'port wired');
    assert.match(out, /^\d\d:\d\d:\d\d\.\d{3} INFO {2}port wired port=p1\n$/);
  });
});

describe('auditOf', () => {
  it('names the resource and id of a write from its route, URL and answer', () => {
    assert.deepEqual(auditOf('POST', '/v2.0/networks', '/v2.0/networks', ['n1']), {
      audit: 'create',
      resource: 'network',
      resource_id: 'n1',
    });
    assert.deepEqual(auditOf('POST', '/v2.0/ports', '/v2.0/ports', ['p1', 'p2']), {
      audit: 'create',
      resource: 'port',
      resource_id: ['p1', 'p2'],
    });
    assert.deepEqual(auditOf('DELETE', '/v2.0/security-group-rules/:id', '/v2.0/security-group-rules/r1'), {
      audit: 'delete',
      resource: 'security_group_rule',
      resource_id: 'r1',
    });
    assert.deepEqual(
      auditOf('PUT', '/v2.0/routers/:id/add_router_interface', '/v2.0/routers/r1/add_router_interface'),
      { audit: 'update', resource: 'router', resource_id: 'r1', action: 'add_router_interface' },
    );
    assert.deepEqual(auditOf('PUT', '/v2.0/rbac-policies/:id', '/v2.0/rbac-policies/x?fields=id'), {
      audit: 'update',
      resource: 'rbac_policy',
      resource_id: 'x',
    });
  });

  it('leaves out reads, logins, agent traffic and traces', () => {
    assert.equal(auditOf('GET', '/v2.0/networks', '/v2.0/networks'), undefined);
    assert.equal(auditOf('POST', '/identity/v3/auth/tokens', '/identity/v3/auth/tokens'), undefined);
    assert.equal(
      auditOf('POST', '/neutrino/v1/hosts/:host/heartbeat', '/neutrino/v1/hosts/h/heartbeat'),
      undefined,
    );
    assert.equal(auditOf('POST', '/neutrino/v1/trace', '/neutrino/v1/trace'), undefined);
  });
});
