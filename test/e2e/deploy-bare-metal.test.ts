/**
 * compose/bare-metal/: the systemd unit and its environment file, the keepalived and HAProxy
 * examples. Each is checked by the tool that will read it (systemd-analyze, keepalived -t,
 * haproxy -c) where installed, and against Stargate's own configuration rules. The failover drill
 * (failover-drill.test.ts) runs the keepalived and HAProxy examples for real.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { describe, it } from 'node:test';
import { SERVE_OPTIONS, envName, resolveServeConfig } from '../../src/config.js';
import { ROOT, run } from '../helpers/cluster.js';

const DIR = path.join(ROOT, 'compose/bare-metal');
const have = (cmd: string, args: string[]) => spawnSync(cmd, args, { encoding: 'utf8' }).status === 0;
const read = (f: string) => fs.readFileSync(path.join(DIR, f), 'utf8');

function envFile(text: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const m = /^([A-Z0-9_]+)=(.*)$/.exec(line);
    if (m) env[m[1]] = m[2];
  }
  return env;
}
/** key -> every value of that key in a systemd unit. */
function unitKeys(text: string): Map<string, string[]> {
  const keys = new Map<string, string[]>();
  for (const line of text.split('\n')) {
    const m = /^(\w+)=(.*)$/.exec(line);
    if (m) keys.set(m[1], [...(keys.get(m[1]) ?? []), m[2]]);
  }
  return keys;
}

describe('compose/bare-metal', () => {
  const env = envFile(read('stargate.env'));
  const cfg = resolveServeConfig({}, env);

  it('stargate.env is a configuration Stargate accepts, with the file lock and sync replication', () => {
    const known = new Set(SERVE_OPTIONS.map((o) => envName(o.flag)));
    for (const k of Object.keys(env)) assert.ok(known.has(k), `${k} is a stargate serve option`);
    assert.equal(cfg.lock, null);
    assert.ok(cfg.sharedDir.startsWith('/') && !cfg.sharedDir.startsWith(cfg.dataDir), 'lock directory outside the data directory');
    assert.equal(cfg.replication, 'sync');
    assert.ok(cfg.clusterTokenFile);
  });

  it('stargate.service runs `stargate serve` with that file, stops with SIGTERM in time, and may write only its directories', async () => {
    const unit = read('stargate.service');
    const k = unitKeys(unit);
    assert.deepEqual(k.get('ExecStart'), ['/usr/bin/env stargate serve']);
    assert.deepEqual(k.get('EnvironmentFile'), ['/etc/stargate/stargate.env']);
    assert.deepEqual(k.get('KillSignal'), ['SIGTERM']);
    assert.ok(Number(k.get('TimeoutStopSec')![0]) > cfg.shutdownTimeoutMs / 1000, 'systemd waits longer than the push drain');
    assert.deepEqual(k.get('Restart'), ['on-failure']);
    assert.deepEqual(k.get('ProtectSystem'), ['strict']);
    const writable = k.get('ReadWritePaths')!.map((p) => p.replace(/^-/, ''));
    assert.ok(writable.includes(cfg.dataDir), `ReadWritePaths has ${cfg.dataDir}`);
    assert.ok(writable.includes(cfg.sharedDir), `ReadWritePaths has ${cfg.sharedDir}`);
    assert.ok(unit.includes(`stargate init --data-dir ${cfg.dataDir} --repo kv`), 'install notes initialize the data directory');
    if (have('systemd-analyze', ['--version'])) {
      const r = await run('systemd-analyze', ['verify', path.join(DIR, 'stargate.service')]);
      assert.equal(r.code, 0, r.stderr);
      assert.doesNotMatch(r.stderr, /Unknown key|Unknown section|Invalid/);
    }
  });

  it('keepalived.conf: the floating address follows GET /readyz on this node, both nodes start equal', { skip: have('keepalived', ['--version']) ? false : 'keepalived is not installed' }, async () => {
    const conf = read('keepalived.conf');
    const r = await run('keepalived', ['--config-test', '--use-file', path.join(DIR, 'keepalived.conf')]);
    assert.equal(r.code, 0, r.stderr);
    const script = /vrrp_script (\w+) \{([^}]*)\}/.exec(conf)!;
    assert.match(script[2], new RegExp(`script "/usr/bin/curl -fsS -o /dev/null --max-time 1 http://127\\.0\\.0\\.1:${cfg.listenPort}/readyz"`));
    assert.match(script[2], /weight (\d+)/);
    const weight = Number(/weight (\d+)/.exec(script[2])![1]);
    const instance = /vrrp_instance \w+ \{([\s\S]*)\n\}/.exec(conf)![1];
    assert.match(instance, new RegExp(`track_script \\{\\s*${script[1]}\\s*\\}`));
    assert.match(instance, /state BACKUP/, 'keepalived never claims the address at start');
    const prio = Number(/priority (\d+)/.exec(instance)![1]);
    assert.ok(prio + weight <= 254 && weight > 0, 'the leader outranks the passive by the weight');
    assert.match(instance, /unicast_peer \{\s*[\d.]+\s*\}/);
    assert.doesNotMatch(conf, /nopreempt/, 'a node that becomes leader must take the address');
  });

  it('haproxy.cfg: valid for HAProxy, sends writes to the node whose /readyz answers 200', { skip: have('haproxy', ['-v']) ? false : 'haproxy is not installed' }, async () => {
    const r = await run('haproxy', ['-c', '-f', path.join(DIR, 'haproxy.cfg')]);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    const conf = read('haproxy.cfg');
    const leader = /backend stargate_leader\n([\s\S]*?)\n\n/.exec(conf)![1];
    assert.match(leader, /option httpchk GET \/readyz HTTP\/1\.1/);
    assert.match(leader, /http-check send hdr Host \S+/);
    assert.match(leader, /http-check expect status 200/);
    assert.equal([...leader.matchAll(new RegExp(`server \\S+ [\\d.]+:${cfg.listenPort} check`, 'g'))].length, 2);
    const advertised = new URL(cfg.advertiseUrl).host;
    assert.ok(leader.includes(advertised), `the example's node-a (${advertised}) is a server`);
  });
});
