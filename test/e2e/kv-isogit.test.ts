/**
 * Issue 3: a second, independent Git client works against the server:
 * isomorphic-git pushes, clones, reads the ledger written by git kv, and is
 * held to the same ledger rules. Authentication through onAuth.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import git from 'isomorphic-git';
import http from 'isomorphic-git/http/node';
import { keyPaths } from '../../src/kv/keys.js';
import { cleanup, remoteRefs, startCluster, tempDir, type Cluster } from '../helpers/cluster.js';
import { cloneOf, kvIn, serverTips } from './kv-harness.js';

describe('isomorphic-git against Stargate', () => {
  let c: Cluster;
  let url: string;
  const author = { name: 'Iso', email: 'iso@example.invalid' };
  const onAuth = () => ({ username: c.user, password: c.token });
  before(async () => {
    c = await startCluster(1);
    url = `${c.nodes[0].url}/kv.git`;
    const kv = kvIn(await cloneOf(c.repoUrl(c.nodes[0])));
    assert.equal((await kv(['set', 'from/git-kv', 'written by git kv'])).code, 0);
  });
  after(cleanup);

  it('pushes a branch and clones it back', async () => {
    const dir = path.join(tempDir(), 'iso-src');
    await git.init({ fs, dir, defaultBranch: 'main' });
    fs.writeFileSync(path.join(dir, 'hello.txt'), 'hello from isomorphic-git\n');
    await git.add({ fs, dir, filepath: 'hello.txt' });
    const oid = await git.commit({ fs, dir, message: 'first', author });
    const p = await git.push({ fs, http, dir, url, onAuth, ref: 'main', remoteRef: 'refs/heads/main' });
    assert.equal(p.ok, true);
    assert.equal((await remoteRefs(c.nodes[0].dataDir)).get('refs/heads/main'), oid);

    const dst = path.join(tempDir(), 'iso-clone');
    await git.clone({ fs, http, dir: dst, url, onAuth, ref: 'main', singleBranch: true });
    assert.equal(fs.readFileSync(path.join(dst, 'hello.txt'), 'utf8'), 'hello from isomorphic-git\n');
    assert.equal(await git.resolveRef({ fs, dir: dst, ref: 'HEAD' }), oid);
  });

  it('lists the ledger refs (protocol v2) and reads a value git kv wrote', async () => {
    const refs = await git.listServerRefs({ http, url, onAuth, prefix: 'refs/kv', protocolVersion: 2 });
    const tips = await serverTips(c.nodes[0].dataDir);
    assert.deepEqual(
      refs.map((r) => [r.ref, r.oid]).sort(),
      [
        ['refs/kv-index/main', tips.index],
        ['refs/kv/main', tips.ledger],
      ],
    );
    const dir = path.join(tempDir(), 'iso-reader');
    await git.init({ fs, dir });
    await git.addRemote({ fs, dir, remote: 'origin', url });
    const f = await git.fetch({ fs, http, dir, onAuth, ref: 'refs/kv/main', singleBranch: true, tags: false });
    assert.equal(f.fetchHead, tips.ledger);
    const { blob } = await git.readBlob({ fs, dir, oid: tips.ledger, filepath: keyPaths('from/git-kv').data });
    assert.equal(Buffer.from(blob).toString('utf8'), 'written by git kv');
  });

  it('is held to the ledger rules: a lone, unattested commit to refs/kv/main is refused', async () => {
    const tips = await serverTips(c.nodes[0].dataDir);
    const dir = path.join(tempDir(), 'iso-forger');
    await git.init({ fs, dir });
    await git.addRemote({ fs, dir, remote: 'origin', url });
    await git.fetch({ fs, http, dir, onAuth, ref: 'refs/kv/main', singleBranch: true, tags: false });
    const { commit } = await git.readCommit({ fs, dir, oid: tips.ledger });
    await git.commit({ fs, dir, message: 'forged', author, ref: 'refs/heads/forged', tree: commit.tree, parent: [tips.ledger] });
    const said: string[] = [];
    await assert.rejects(
      git.push({ fs, http, dir, url, onAuth, ref: 'refs/heads/forged', remoteRef: 'refs/kv/main', onMessage: (m) => void said.push(m) }),
      (e: Error & { code?: string }) => e.code === 'GitPushError',
    );
    assert.match(said.join(''), /kv policy: refs\/kv\/main must be pushed together with refs\/kv-index\/main/);
    assert.deepEqual(await serverTips(c.nodes[0].dataDir), tips);
  });

  it('a wrong token is refused (onAuthFailure is asked)', async () => {
    let asked = 0;
    await assert.rejects(
      git.listServerRefs({
        http,
        url,
        onAuth: () => ({ username: c.user, password: 'sg_wrong' }),
        onAuthFailure: () => {
          asked++;
          return { cancel: true };
        },
      }),
    );
    assert.equal(asked, 1);
  });
});
