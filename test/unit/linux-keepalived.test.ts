/** keepalived's configuration and states (pure): what it refuses, and how a state file reads. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { haState, keepalivedConfig, notifyScript } from '../../src/linux/keepalived.js';

const base = {
  dir: '/var/lib/n/routers/r1',
  vrid: 1,
  haDevice: 'ha-1',
  advertInt: 2,
  addresses: [],
  routes: [],
};

describe('keepalived', () => {
  it('refuses values that could break out of their line', () => {
    assert.throws(() => keepalivedConfig({ ...base, vrid: 0 }), /VRRP id/);
    assert.throws(() => keepalivedConfig({ ...base, vrid: 256 }), /VRRP id/);
    assert.throws(() => keepalivedConfig({ ...base, advertInt: 0.5 }), /advert_int/);
    assert.throws(() => keepalivedConfig({ ...base, haDevice: 'ha-1\n}' }), /device/);
    assert.throws(
      () => keepalivedConfig({ ...base, addresses: [{ cidr: '10.0.0.1/24 }', dev: 'qr-1' }] }),
      /address/,
    );
    assert.throws(
      () => keepalivedConfig({ ...base, routes: [{ destination: '0.0.0.0/0', nexthop: 'x', dev: 'qg-1' }] }),
      /route/,
    );
    assert.throws(() => notifyScript("/tmp/it's"), /unusable/);
  });

  it('leaves out empty address and route blocks', () => {
    const text = keepalivedConfig(base);
    assert.doesNotMatch(text, /virtual_ipaddress_excluded|virtual_routes/);
    assert.match(text, /virtual_ipaddress \{\n {8}169\.254\.0\.1\/24 dev ha-1\n/);
  });

  it('reads MASTER as active and anything else as standby', () => {
    assert.equal(haState('MASTER\n'), 'active');
    assert.equal(haState('BACKUP\n'), 'standby');
    assert.equal(haState('FAULT'), 'standby');
    assert.equal(haState('STOP\n'), 'standby');
    assert.equal(haState(''), undefined);
    assert.equal(haState(undefined), undefined);
  });

  it('writes the state through a temporary file, quoted', () => {
    assert.equal(
      notifyScript('/s/r'),
      `#!/bin/sh\nprintf '%s\\n' "$3" > '/s/r/ha-state.tmp' && mv '/s/r/ha-state.tmp' '/s/r/ha-state'\n`,
    );
  });
});
