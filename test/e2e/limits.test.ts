/** Issue 2: hooks cannot be bypassed per repository; body limit and idle timeout protect the server. */
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { cleanup, git, remoteRefs, startCluster, tempDir, waitFor, workTree } from '../helpers/cluster.js';

describe('limits and hook wiring', () => {
  after(cleanup);

  it('a repository re-pointed at other hooks still runs Stargate\'s (passive keeps refusing); serve re-wires it at start', async () => {
    const c = await startCluster(2);
    const b = c.nodes[1];
    const evil = tempDir();
    fs.writeFileSync(path.join(evil, 'pre-receive'), '#!/bin/sh\necho EVIL-HOOK-RAN\nexit 0\n', { mode: 0o755 });
    const repo = path.join(b.dataDir, 'repos', 'kv.git');
    await git(['--git-dir', repo, 'config', 'core.hooksPath', evil]);
    const w = await workTree();
    const p = await git(['push', c.repoUrl(b), 'HEAD:refs/heads/main'], w);
    assert.notEqual(p.code, 0);
    assert.match(p.stderr, /not leader/);
    assert.doesNotMatch(p.stderr, /EVIL-HOOK-RAN/);
    await b.stop('SIGTERM');
    b.start();
    await b.waitUp();
    const cfg = (await git(['--git-dir', repo, 'config', 'core.hooksPath'])).stdout.trim();
    assert.notEqual(cfg, evil);
    assert.match(b.logs, /was not wired to .*; fixed/);
  });

  it('bodies over --max-body-bytes are refused and move nothing; idle connections are closed', async () => {
    const c = await startCluster(1, { extraArgs: ['--max-body-bytes', '200000', '--idle-timeout-ms', '400'] });
    const a = c.nodes[0];
    const w = await workTree();
    const big = crypto.randomBytes(1_000_000); // incompressible: the pack is as large as the file
    fs.writeFileSync(path.join(w, 'big.bin'), big);
    await git(['add', '.'], w);
    await git(['commit', '-q', '-m', 'big'], w);
    const p = await git(['push', c.repoUrl(a), 'HEAD:refs/heads/big'], w);
    assert.notEqual(p.code, 0);
    assert.ok(!(await remoteRefs(a.dataDir)).has('refs/heads/big'));
    // A slow client that sends half a request and goes quiet is cut off.
    const closed = await new Promise<number>((resolve) => {
      const t0 = Date.now();
      const s = net.connect(a.port, '127.0.0.1', () => s.write('POST /kv.git/git-upload-pack HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n0011'));
      s.on('close', () => resolve(Date.now() - t0));
      s.on('error', () => {});
      s.resume();
    });
    assert.ok(closed < 5000, `idle connection closed after ${closed} ms`);
    // and the server keeps serving
    await waitFor('healthz', async () => (await a.httpStatus('/healthz')) === 200);
    const small = await workTree();
    assert.equal((await git(['push', c.repoUrl(a), 'HEAD:refs/heads/small'], small)).code, 0);
  });
});
