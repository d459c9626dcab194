/**
 * compose/docker-compose.etcd.yml: docker-compose accepts it (`config` needs no
 * Docker engine), and what it gives each node is a configuration Stargate
 * itself accepts: known STARGATE_* names only, an etcd lock pointing at the
 * etcd service, whole-second lease, distinct node ids, no shared volume.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { describe, it } from 'node:test';
import { SERVE_OPTIONS, envName, resolveServeConfig } from '../../src/config.js';
import { parseEtcdUrl } from '../../src/election/etcd-lock.js';
import { ROOT, run } from '../helpers/cluster.js';

const FILE = path.join(ROOT, 'compose/docker-compose.etcd.yml');
const haveCompose = spawnSync('docker-compose', ['version', '--short'], { encoding: 'utf8' }).status === 0;

/** `environment:` mapping of one service in docker-compose's normalized `config` output. */
function environmentOf(normalized: string, service: string): Record<string, string> {
  const lines = normalized.split('\n');
  const start = lines.indexOf(`  ${service}:`);
  assert.ok(start >= 0, `service ${service} in the normalized file`);
  const env: Record<string, string> = {};
  let inEnv = false;
  for (const line of lines.slice(start + 1)) {
    if (/^ {0,3}\S/.test(line)) break; // next service or top-level key
    if (/^ {4}\S/.test(line)) {
      inEnv = line === '    environment:';
      continue;
    }
    const m = /^ {6}([A-Z0-9_]+): (.*)$/.exec(line);
    if (inEnv && m) env[m[1]] = m[2].replace(/^'(.*)'$/, '$1');
  }
  return env;
}

describe('compose/docker-compose.etcd.yml', { skip: haveCompose ? false : 'docker-compose is not installed (Debian package docker-compose)' }, () => {
  it('is valid for docker-compose and gives two nodes a configuration Stargate accepts, locked through the etcd service', async () => {
    const r = await run('docker-compose', ['-f', FILE, 'config']);
    assert.equal(r.code, 0, r.stderr);
    const services = (await run('docker-compose', ['-f', FILE, 'config', '--services'])).stdout.trim().split('\n').sort();
    assert.deepEqual(services, ['etcd', 'front', 'node-a', 'node-b', 'setup']);
    assert.match(r.stdout, /--advertise-client-urls=http:\/\/etcd:2379/);
    assert.doesNotMatch(r.stdout, /:\/shared/, 'no shared lock volume is mounted');

    const known = new Set(SERVE_OPTIONS.map((o) => envName(o.flag)));
    const ids = new Set<string>();
    const urls = new Set<string>();
    for (const svc of ['node-a', 'node-b']) {
      const env = environmentOf(r.stdout, svc);
      for (const k of Object.keys(env)) assert.ok(known.has(k), `${svc}: ${k} is a stargate serve option`);
      assert.equal(env.STARGATE_SHARED_DIR, undefined, `${svc} needs no shared volume`);
      const cfg = resolveServeConfig({}, env);
      assert.ok(cfg.lock, `${svc} uses --lock`);
      assert.deepEqual(parseEtcdUrl(cfg.lock!).endpoints, ['etcd:2379']);
      assert.ok(cfg.clusterTokenFile, `${svc} has a cluster token`);
      ids.add(cfg.nodeId);
      urls.add(cfg.advertiseUrl);
    }
    assert.equal(ids.size, 2, 'distinct node ids');
    assert.equal(urls.size, 2, 'distinct advertise URLs');
  });
});
