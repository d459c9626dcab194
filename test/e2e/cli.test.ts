/** Issue 2: the CLI validates its configuration once, with a clear message for each mistake. */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { STARGATE, cleanup, run, tempDir } from '../helpers/cluster.js';

const sg = (args: string[], env: NodeJS.ProcessEnv = {}) => run(process.execPath, [STARGATE, ...args], { env: { ...process.env, ...env }, timeoutMs: 15_000 });

describe('stargate CLI', () => {
  after(cleanup);
  const dir = tempDir();
  const data = path.join(dir, 'data');
  const auth = path.join(dir, 'auth.json');

  it('init is idempotent and wires hooks', async () => {
    const a = await sg(['init', '--data-dir', data, '--repo', 'kv']);
    assert.equal(a.code, 0, a.stderr);
    assert.match(a.stdout, /^created /);
    const b = await sg(['init', '--data-dir', data, '--repo', 'kv']);
    assert.match(b.stdout, /^exists /);
    const cfg = fs.readFileSync(path.join(data, 'repos', 'kv.git', 'config'), 'utf8');
    assert.match(cfg, /hooksPath = .*hooks/);
    const bad = await sg(['init', '--data-dir', data, '--repo', '../evil']);
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /invalid repository name/);
  });

  it('token add prints the token alone on the last line and stores only a hash', async () => {
    const r = await sg(['token', 'add', 'alice', '--auth-file', auth]);
    assert.equal(r.code, 0, r.stderr);
    const token = r.stdout.trim().split('\n').pop()!;
    assert.match(token, /^sg_[A-Za-z0-9_-]{40,}$/);
    const file = fs.readFileSync(auth, 'utf8');
    assert.ok(!file.includes(token));
    assert.match(file, /"sha256": "[0-9a-f]{64}"/);
  });

  const mistakes: Array<[string, string[], RegExp, NodeJS.ProcessEnv?]> = [
    ['unknown flag', ['--data-dir', data, '--bogus'], /unknown option '--bogus'/],
    ['bad port', ['--data-dir', data, '--listen', '127.0.0.1:99999', '--auth-file', auth], /bad port "99999"/],
    ['bad port in env', ['--data-dir', data, '--auth-file', auth], /STARGATE_LISTEN: expected HOST:PORT/, { STARGATE_LISTEN: 'nonsense' }],
    ['missing auth file', ['--data-dir', data, '--auth-file', path.join(dir, 'none.json')], /--auth-file .* does not exist/],
    ['unwritable data dir', ['--data-dir', '/dev/null/data', '--auth-file', auth], /--data-dir \/dev\/null\/data is not a writable directory/],
    ['impossible timing', ['--data-dir', data, '--auth-file', auth, '--lease-ms', '3000', '--renew-deadline-ms', '3000'], /must be shorter than --lease-ms/],
    ['lease too short for the file lock', ['--data-dir', data, '--auth-file', auth, '--lease-ms', '1000'], /at least 2000 ms/],
    ['bad replication mode', ['--data-dir', data, '--auth-file', auth, '--replication', 'maybe'], /expected sync, async or sync-strict/],
    ['missing data dir', ['--auth-file', auth], /--data-dir is required/],
  ];
  for (const [what, args, re, env] of mistakes) {
    it(`serve refuses to start on a ${what}`, async () => {
      const r = await sg(['serve', ...args], env);
      assert.equal(r.code, 64, `exit code for ${what}: ${r.stderr}`);
      assert.match(r.stderr, re);
    });
  }

  it('--config file and STARGATE_* env are read with flag > env > file precedence', async () => {
    const cfgFile = path.join(dir, 'cfg.json');
    fs.writeFileSync(cfgFile, JSON.stringify({ 'data-dir': data, 'auth-file': auth, listen: '127.0.0.1:1' , 'lease-ms': 1000 }));
    const r = await sg(['serve', '--config', cfgFile]);
    assert.equal(r.code, 64);
    assert.match(r.stderr, /lease of at least 2000 ms/, 'file value used');
    const r2 = await sg(['serve', '--config', cfgFile], { STARGATE_LEASE_MS: '3000', STARGATE_RENEW_DEADLINE_MS: '5000' });
    assert.match(r2.stderr, /--renew-deadline-ms 5000 must be shorter than --lease-ms 3000/, 'env beats file');
    const r3 = await sg(['serve', '--config', cfgFile, '--renew-deadline-ms', '100', '--lease-ms', '3000'], { STARGATE_RENEW_DEADLINE_MS: '5000' });
    assert.match(r3.stderr, /--retry-ms 250 must be shorter than --renew-deadline-ms 100/, 'flag beats env');
    fs.writeFileSync(cfgFile, JSON.stringify({ 'data-dir': data, typo: 1 }));
    const r4 = await sg(['serve', '--config', cfgFile]);
    assert.match(r4.stderr, /unknown key "typo"/);
  });
});
