/** Issue 2: one node serving Git over smart HTTP, safely. Real git, real server process. */
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import zlib from 'node:zlib';
import { after, before, describe, it } from 'node:test';
import { cleanup, commit, git, remoteRefs, run, startCluster, tempDir, waitFor, workTree, ROOT, gitEnv, type Cluster } from '../helpers/cluster.js';

describe('git over smart HTTP (single node)', () => {
  let c: Cluster;
  let url: string;
  before(async () => {
    c = await startCluster(1);
    url = c.repoUrl(c.nodes[0]);
  });
  after(cleanup);

  it('push, clone and fetch round-trip; protocol v2 is spoken', async () => {
    const w = await workTree();
    const head = (await git(['rev-parse', 'HEAD'], w)).stdout.trim();
    const p = await git(['push', url, 'HEAD:refs/heads/main'], w);
    assert.equal(p.code, 0, p.stderr);
    const dst = path.join(tempDir(), 'clone');
    const cl = await git(['clone', '-q', url, dst], undefined, { GIT_TRACE_PACKET: '1' });
    assert.equal(cl.code, 0, cl.stderr);
    assert.match(cl.stderr, /git< version 2/);
    assert.equal((await git(['rev-parse', 'HEAD'], dst)).stdout.trim(), head);
    const next = await commit(w, 'second');
    assert.equal((await git(['push', url, 'HEAD:refs/heads/main'], w)).code, 0);
    const f = await git(['fetch', '-q', 'origin'], dst);
    assert.equal(f.code, 0, f.stderr);
    assert.equal((await git(['rev-parse', 'origin/main'], dst)).stdout.trim(), next);
  });

  it('atomic push of two refs, with push options', async () => {
    const w = await workTree();
    const p = await git(['push', '--atomic', '-o', 'note=hello', url, 'HEAD:refs/heads/a1', 'HEAD:refs/heads/a2'], w);
    assert.equal(p.code, 0, p.stderr);
    const refs = await remoteRefs(c.nodes[0].dataDir);
    assert.ok(refs.get('refs/heads/a1') && refs.get('refs/heads/a1') === refs.get('refs/heads/a2'));
  });

  it('a 50 MB push lands', async () => {
    const w = await workTree();
    const big = Buffer.alloc(50 * 1024 * 1024);
    for (let i = 0; i < big.length; i += 4) big.writeUInt32LE((Math.imul(i, 2654435761) ^ (i >>> 7)) >>> 0, i); // incompressible-ish
    fs.writeFileSync(path.join(w, 'big.bin'), big);
    await git(['add', 'big.bin'], w);
    await git(['commit', '-q', '-m', 'big'], w);
    const head = (await git(['rev-parse', 'HEAD'], w)).stdout.trim();
    const p = await git(['push', url, 'HEAD:refs/heads/big'], w);
    assert.equal(p.code, 0, p.stderr);
    assert.equal((await remoteRefs(c.nodes[0].dataDir)).get('refs/heads/big'), head);
  });

  it('gzip-encoded request bodies are accepted (protocol v2 ls-refs)', async () => {
    const body = zlib.gzipSync(Buffer.from('0014command=ls-refs\n0000'));
    const r = await fetch(`${c.nodes[0].url}/kv.git/git-upload-pack`, {
      method: 'POST',
      headers: {
        authorization: 'Basic ' + Buffer.from(`tester:${c.token}`).toString('base64'),
        'content-type': 'application/x-git-upload-pack-request',
        'content-encoding': 'gzip',
        'git-protocol': 'version=2',
      },
      body,
    });
    assert.equal(r.status, 200);
    assert.match(await r.text(), /refs\/heads\/main/);
  });

  it('401 without a token or with a wrong one, also on a direct receive-pack POST', async () => {
    const base = c.nodes[0].url;
    assert.equal((await fetch(`${base}/kv.git/info/refs?service=git-upload-pack`)).status, 401);
    const wrong = 'Basic ' + Buffer.from('tester:sg_wrong').toString('base64');
    assert.equal((await fetch(`${base}/kv.git/info/refs?service=git-upload-pack`, { headers: { authorization: wrong } })).status, 401);
    const before = await remoteRefs(c.nodes[0].dataDir);
    const post = await fetch(`${base}/kv.git/git-receive-pack`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-git-receive-pack-request' },
      body: `00680000000000000000000000000000000000000000 ${'1'.repeat(40)} refs/heads/evil\0report-status\n0000`,
    });
    assert.equal(post.status, 401);
    assert.deepEqual(await remoteRefs(c.nodes[0].dataDir), before);
    const w = await workTree();
    const p = await git(['push', `http://tester:nope@127.0.0.1:${c.nodes[0].port}/kv.git`, 'HEAD:refs/heads/nope'], w);
    assert.notEqual(p.code, 0);
    assert.ok(!(await remoteRefs(c.nodes[0].dataDir)).has('refs/heads/nope'));
  });

  it('an unknown repository answers 404 and is never created', async () => {
    const auth = { authorization: 'Basic ' + Buffer.from(`tester:${c.token}`).toString('base64') };
    const r = await fetch(`${c.nodes[0].url}/nope.git/info/refs?service=git-receive-pack`, { headers: auth });
    assert.equal(r.status, 404);
    const w = await workTree();
    const p = await git(['push', c.repoUrl(c.nodes[0], 'nope'), 'HEAD:refs/heads/main'], w);
    assert.notEqual(p.code, 0);
    assert.ok(!fs.existsSync(path.join(c.nodes[0].dataDir, 'repos', 'nope.git')));
  });

  it('traversal and malformed repository names answer 4xx', async () => {
    const auth = 'Basic ' + Buffer.from(`tester:${c.token}`).toString('base64');
    const raw = (p: string) =>
      new Promise<number>((resolve) => {
        const req = http.request({ host: '127.0.0.1', port: c.nodes[0].port, path: p, headers: { authorization: auth } }, (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        });
        req.on('error', () => resolve(400)); // the HTTP parser itself refused it
        req.end();
      });
    for (const p of [
      '/../kv.git/info/refs?service=git-upload-pack',
      '/a/../../kv.git/info/refs?service=git-upload-pack',
      '/%2e%2e/kv.git/info/refs?service=git-upload-pack',
      '/..%2fkv.git/info/refs?service=git-upload-pack',
      '/kv%00.git/info/refs?service=git-upload-pack',
      '//etc/passwd.git/info/refs?service=git-upload-pack',
      '/.hidden.git/info/refs?service=git-upload-pack',
      '/kv.git/info/refs', // dumb protocol
    ]) {
      const s = await raw(p);
      assert.ok(s >= 400 && s < 500, `${p} answered ${s}`);
    }
    assert.equal(await raw('/kv.git/info/refs?service=git-upload-pack'), 200);
  });

  it('a client that disconnects in the middle of a push moves no ref, and the server keeps serving', async () => {
    const before = await remoteRefs(c.nodes[0].dataDir);
    const auth = 'Basic ' + Buffer.from(`tester:${c.token}`).toString('base64');
    const oldOid = before.get('refs/heads/main')!;
    await new Promise<void>((resolve) => {
      const req = http.request({
        host: '127.0.0.1',
        port: c.nodes[0].port,
        method: 'POST',
        path: '/kv.git/git-receive-pack',
        headers: { authorization: auth, 'content-type': 'application/x-git-receive-pack-request', 'transfer-encoding': 'chunked' },
      });
      req.on('error', () => resolve());
      const cmd = `${oldOid} ${'2'.repeat(40)} refs/heads/main\0report-status\n`;
      req.write((cmd.length + 4).toString(16).padStart(4, '0') + cmd + '0000');
      req.write(Buffer.concat([Buffer.from('PACK'), Buffer.from([0, 0, 0, 2, 0, 0, 0, 5]), Buffer.alloc(5000, 7)]));
      setTimeout(() => {
        req.destroy();
        resolve();
      }, 200);
    });
    const w = await workTree();
    const p = await git(['push', url, 'HEAD:refs/heads/after-disconnect'], w);
    assert.equal(p.code, 0, p.stderr);
    const now = await remoteRefs(c.nodes[0].dataDir);
    assert.equal(now.get('refs/heads/main'), oldOid);
    const lockFiles = await run('find', [path.join(c.nodes[0].dataDir, 'repos', 'kv.git', 'refs'), '-name', '*.lock']);
    assert.equal(lockFiles.stdout.trim(), '', 'no ref lock left behind');
  });

  it('20 concurrent clones succeed', async () => {
    const base = tempDir();
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => git(['clone', '-q', url, path.join(base, `c${i}`)])));
    for (const r of results) assert.equal(r.code, 0, r.stderr);
  });

  it('anonymous reads are refused unless --allow-anonymous-read', async () => {
    const r = await fetch(`${c.nodes[0].url}/kv.git/info/refs?service=git-upload-pack`);
    assert.equal(r.status, 401);
  });

  it('pushing into a repository directly, without Stargate, is refused by pre-receive with exit 9', async () => {
    const w = await workTree();
    const repo = path.join(c.nodes[0].dataDir, 'repos', 'kv.git');
    const p = await git(['push', repo, 'HEAD:refs/heads/direct'], w);
    assert.notEqual(p.code, 0);
    assert.match(p.stderr, /not leader; pushes to this repository must go through a Stargate node/);
    const hook = await run(path.join(ROOT, 'hooks', 'pre-receive'), [], { input: '', env: gitEnv({ GIT_DIR: repo }) });
    assert.equal(hook.code, 9);
    assert.match(hook.stderr, /not leader/);
  });

  it('/healthz, /readyz, /readyz/read, status and metrics tell the truth for a single node', async () => {
    const n = c.nodes[0];
    assert.equal(await n.httpStatus('/healthz'), 200);
    assert.equal(await n.httpStatus('/readyz'), 200);
    assert.equal(await n.httpStatus('/readyz/read'), 200);
    const s = await n.status();
    assert.equal(s.is_leader, true);
    assert.equal(s.role, 'leader');
    assert.equal(s.leader_id, 'node-a');
    assert.ok(s.epoch >= 1);
    assert.ok(s.expires_in_ms > 0 && s.expires_in_ms <= s.lease_ms);
    const m = await (await fetch(`${n.url}/metrics`)).text();
    assert.match(m, /^stargate_ha_is_leader 1$/m);
    assert.match(m, /^stargate_txn_accepted_total [1-9]/m);
    assert.match(m, /stargate_ha_leader_changes_total\{event="became_leader"\} 1/);
    assert.match(m, /stargate_txn_latency_seconds_bucket/);
  });

  it('SIGTERM lets an in-flight push finish before the node exits', async () => {
    const n = c.nodes[0];
    const w = await workTree();
    fs.writeFileSync(path.join(w, 'payload.bin'), crypto.randomBytes(40 * 1024 * 1024));
    await git(['add', '.'], w);
    await git(['commit', '-q', '-m', 'payload'], w);
    const head = (await git(['rev-parse', 'HEAD'], w)).stdout.trim();
    const pushing = git(['push', url, 'HEAD:refs/heads/inflight'], w);
    await waitFor('the push to be in flight', async () => /^stargate_pushes_in_flight 1$/m.test(await (await fetch(`${n.url}/metrics`)).text()), 20_000, 5);
    const exited = n.stop('SIGTERM');
    const p = await pushing;
    assert.equal(p.code, 0, p.stderr);
    assert.equal(await exited, 0);
    assert.equal((await remoteRefs(n.dataDir)).get('refs/heads/inflight'), head);
    n.start();
    await n.waitUp();
    await waitFor('node leads again', () => n.ready());
  });

  it('SIGTERM: the node exits 0 and releases its lease', async () => {
    const n = c.nodes[0];
    const code = await n.stop('SIGTERM');
    assert.equal(code, 0);
    const rec = JSON.parse(fs.readFileSync(path.join(n.dataDir, 'lock', 'leader.json'), 'utf8'));
    assert.equal(rec.released, true);
    assert.match(n.logs, /released the lease of epoch \d+ because it received SIGTERM/);
    n.start();
    await n.waitUp();
    await waitFor('node leads again', () => n.ready());
  });
});
