import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { SERVE_OPTIONS, envName, parseListen, resolveServeConfig } from '../../src/config.js';
import { ROOT } from '../helpers/cluster.js';

describe('serve configuration', () => {
  it('defaults follow the documented HA timing (lease > renew deadline > retry)', () => {
    const c = resolveServeConfig({ 'data-dir': '/tmp/x' }, {});
    assert.equal(c.leaseMs, 2500);
    assert.equal(c.renewDeadlineMs, 2000);
    assert.equal(c.retryMs, 250);
    assert.equal(c.replication, 'sync');
    assert.equal(c.sharedDir, path.join('/tmp/x', 'lock'));
    assert.equal(c.advertiseUrl, 'http://127.0.0.1:8080');
  });

  it('flag beats environment beats default', () => {
    assert.equal(resolveServeConfig({ 'data-dir': '/d' }, { STARGATE_LEASE_MS: '4000' }).leaseMs, 4000);
    assert.equal(resolveServeConfig({ 'data-dir': '/d', 'lease-ms': '5000' }, { STARGATE_LEASE_MS: '4000' }).leaseMs, 5000);
  });

  it('parses listen addresses and rejects bad ports', () => {
    assert.deepEqual(parseListen('0.0.0.0:80'), { host: '0.0.0.0', port: 80 });
    assert.deepEqual(parseListen('[::1]:8080'), { host: '::1', port: 8080 });
    assert.throws(() => parseListen('host:70000'), /bad port/);
    assert.throws(() => parseListen('nope'), /expected HOST:PORT/);
  });

  it('the README documents every serve option and its environment variable', () => {
    const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
    for (const o of SERVE_OPTIONS) {
      assert.ok(readme.includes(`--${o.flag}`), `README mentions --${o.flag}`);
      assert.ok(readme.includes(envName(o.flag)), `README mentions ${envName(o.flag)}`);
    }
  });
});
