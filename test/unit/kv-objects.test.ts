/**
 * Issue 3: objects built in-process are exactly what git builds, packs are
 * accepted by git, and the ledger policy judges real commits correctly (and
 * quickly). Real git repositories, no mocks.
 */
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import zlib from 'node:zlib';
import type { HookCall } from '../../src/git/hook-server.js';
import { CatFile } from '../../src/kv/catfile.js';
import { buildTxn, editTree, readState, type Op } from '../../src/kv/ledger.js';
import { indexRef, keyPaths, ledgerRef } from '../../src/kv/keys.js';
import { BLOB_MODE, EMPTY_TREE, ObjectSet, hashObject, parseTrailers, serializeTree } from '../../src/kv/objects.js';
import { ledgerPolicy } from '../../src/kv/policy.js';
import { buildPack, compress, writeObjects } from '../../src/kv/pack.js';
import { cleanup, gitEnv, percentile, run, tempDir } from '../helpers/cluster.js';

const ZERO = '0'.repeat(40);
let dir: string;
const env = () => gitEnv({ GIT_DIR: dir });
const g = async (args: string[], input?: string | Buffer) => {
  const r = await run('git', args, { env: env(), input });
  assert.equal(r.code, 0, `git ${args.join(' ')}: ${r.stderr}`);
  return r.stdout.trim();
};
async function store(objects: ObjectSet) {
  await writeObjects({ objectsDir: path.join(dir, 'objects') }, objects);
}
async function build(ops: Op[], ns = 'main') {
  const cat = new CatFile(env());
  try {
    const state = await readState(cat, ledgerRef(ns), indexRef(ns));
    const t = await buildTxn(cat, 'sha1', { ns, ops, state, ident: 'Test <t@example.invalid>', date: '1700000000 +0000' });
    if (t) await store(t.objects);
    return { t, state };
  } finally {
    cat.close();
  }
}
const setOp = (key: string, v: string): Op => ({ op: 'set', key, value: Buffer.from(v), ctype: 'text/plain' });
const hook = (updates: HookCall['updates']): HookCall => ({ hook: 'pre-receive', requestId: 'r', gitDir: dir, env: {}, options: [], updates });

describe('git objects built in-process', () => {
  before(async () => {
    dir = path.join(tempDir(), 'repo.git');
    await run('git', ['init', '-q', '--bare', dir], { env: gitEnv() });
  });
  after(cleanup);

  it('blob and tree ids equal what git computes; the packfile is accepted by index-pack and fsck', async () => {
    const objects = new ObjectSet('sha1');
    const content = Buffer.from([0, 1, 2, 255, 10, 13]);
    const blob = objects.add('blob', content);
    assert.equal(blob, await g(['hash-object', '--stdin'], content));
    const sub = objects.add('tree', serializeTree([{ mode: BLOB_MODE, name: 'x', oid: blob }]));
    // 'a-b' sorts before the tree 'a' (compared as 'a/') which sorts before 'a0'.
    const tree = objects.add('tree', serializeTree([
      { mode: BLOB_MODE, name: 'a0', oid: blob },
      { mode: '40000', name: 'a', oid: sub },
      { mode: BLOB_MODE, name: 'a-b', oid: blob },
    ]));
    await store(objects);
    assert.equal(await g(['mktree'], `100644 blob ${blob}\tx\n`), sub);
    assert.equal(await g(['mktree'], `040000 tree ${sub}\ta\n100644 blob ${blob}\ta-b\n100644 blob ${blob}\ta0\n`), tree);
    assert.equal(await g(['ls-tree', '--name-only', tree]), 'a-b\na\na0');
    await g(['fsck', '--strict', '--no-dangling']);
    assert.equal(hashObject('sha1', 'tree', Buffer.alloc(0)), EMPTY_TREE.sha1);
  });

  it('the pack index written in-process is byte-identical to the one git index-pack writes', async () => {
    const objects = new ObjectSet('sha1');
    for (let i = 0; i < 300; i++) objects.add('blob', Buffer.from(`object ${i} `.repeat(i % 7)));
    objects.add('blob', Buffer.alloc(70_000, 7)); // multi-byte size header
    for (const n of [0, 1, 100, 1023, 1024, 5000]) {
      const b = crypto.randomBytes(n);
      assert.ok(zlib.inflateSync(compress(b)).equals(b), `zlib round trip of ${n} bytes`);
    }
    const { pack, idx, checksum } = buildPack(objects);
    const file = path.join(tempDir(), `pack-${checksum}.pack`);
    fs.writeFileSync(file, pack);
    await g(['index-pack', file]);
    assert.ok(idx.equals(fs.readFileSync(file.replace(/\.pack$/, '.idx'))), 'same .idx bytes');
    // Stored through writeObjects (a pack, since > 64 objects): git reads every object back.
    await store(objects);
    const listed = await g(['cat-file', '--batch-check', '--batch-all-objects']);
    for (const oid of objects.objects.keys()) assert.match(listed, new RegExp(`^${oid} blob`, 'm'));
    await g(['fsck', '--strict', '--no-dangling']);
  });

  it('editTree adds, replaces and removes paths, dropping empty directories', async () => {
    const objects = new ObjectSet('sha1');
    const b1 = objects.add('blob', Buffer.from('one'));
    const b2 = objects.add('blob', Buffer.from('two'));
    const cat = new CatFile(env());
    try {
      const t1 = await editTree(cat, objects, null, new Map([['d/e/f', { mode: BLOB_MODE, oid: b1 }], ['d/g', { mode: BLOB_MODE, oid: b1 }], ['top', { mode: BLOB_MODE, oid: b2 }]]));
      await store(objects);
      assert.equal(await g(['ls-tree', '-r', '--name-only', t1.tree]), 'd/e/f\nd/g\ntop');
      const t2 = await editTree(cat, objects, t1.tree, new Map([['d/e/f', null], ['d/g', { mode: BLOB_MODE, oid: b2 }], ['nope/x', null]]));
      await store(objects);
      assert.deepEqual([...t2.removed], ['d/e/f']);
      assert.equal(await g(['ls-tree', '-r', t2.tree]), `100644 blob ${b2}\td/g\n100644 blob ${b2}\ttop`);
      const t3 = await editTree(cat, objects, t2.tree, new Map([['d/g', null], ['top', null]]));
      assert.equal(t3.tree, EMPTY_TREE.sha1);
    } finally {
      cat.close();
    }
  });

  it('a transaction is a ledger commit and an index commit whose trailers bind each other', async () => {
    const { t } = await build([setOp('hello', 'world'), setOp('gone', 'x'), { op: 'del', key: 'gone' }, { op: 'del', key: 'never' }]);
    assert.ok(t);
    assert.deepEqual(t.set, ['hello']);
    assert.deepEqual(t.deleted, []);
    assert.deepEqual(t.missing, ['gone', 'never']);
    await g(['update-ref', ledgerRef('main'), t.ledgerCommit]);
    await g(['update-ref', indexRef('main'), t.indexCommit]);
    const p = keyPaths('hello');
    assert.equal(await g(['cat-file', 'blob', `${ledgerRef('main')}:${p.data}`]), 'world');
    assert.equal(JSON.parse(await g(['cat-file', 'blob', `${ledgerRef('main')}:${p.meta}`])).size, 5);
    assert.equal(JSON.parse(await g(['cat-file', 'blob', `${indexRef('main')}:${p.index}`])).data, p.data);
    const lt = parseTrailers(await g(['log', '-1', '--format=%B', ledgerRef('main')]));
    assert.equal(lt.get('KV-NS'), 'main');
    assert.equal(lt.get('Base-Tree'), EMPTY_TREE.sha1);
    assert.equal(lt.get('KV-Index-Tree'), await g(['rev-parse', `${indexRef('main')}^{tree}`]));
    assert.equal(lt.get('Keys-Set'), '1');
    assert.equal(lt.get('Keys-Del'), '0');
    const it2 = parseTrailers(await g(['log', '-1', '--format=%B', indexRef('main')]));
    assert.equal(it2.get('KV-Txn'), lt.get('KV-Txn'));
    assert.equal(it2.get('KV-Ledger-Tree'), await g(['rev-parse', `${ledgerRef('main')}^{tree}`]));
    await g(['fsck', '--strict', '--no-dangling']);

    // Deleting: data and meta leave the ledger, a tombstone stays in the index.
    const { t: d } = await build([{ op: 'del', key: 'hello' }]);
    assert.ok(d);
    assert.deepEqual(d.deleted, ['hello']);
    assert.equal(await g(['ls-tree', '-r', d.ledgerTree]), '');
    assert.equal(d.ledgerTree, EMPTY_TREE.sha1);
    assert.equal(JSON.parse(await g(['cat-file', 'blob', `${d.indexCommit}:${p.index}`])).deleted, true);
    // Nothing to do -> no transaction.
    await g(['update-ref', ledgerRef('main'), d.ledgerCommit]);
    await g(['update-ref', indexRef('main'), d.indexCommit]);
    assert.equal((await build([{ op: 'del', key: 'hello' }])).t, null);
  });
});

describe('ledger policy on real commits', () => {
  before(async () => {
    dir = path.join(tempDir(), 'policy.git');
    await run('git', ['init', '-q', '--bare', dir], { env: gitEnv() });
  });
  after(cleanup);

  it('accepts a client-built pair (first and later), refuses everything else with one line', async () => {
    const { t: first } = await build([setOp('a', '1')]);
    assert.ok(first);
    const create = hook([
      { old: ZERO, new: first.ledgerCommit, ref: 'refs/kv/main' },
      { old: ZERO, new: first.indexCommit, ref: 'refs/kv-index/main' },
    ]);
    assert.equal(await ledgerPolicy(create), null);
    await g(['update-ref', 'refs/kv/main', first.ledgerCommit]);
    await g(['update-ref', 'refs/kv-index/main', first.indexCommit]);
    const { t: second } = await build([setOp('b', '2')]);
    assert.ok(second);
    const next = [
      { old: first.ledgerCommit, new: second.ledgerCommit, ref: 'refs/kv/main' },
      { old: first.indexCommit, new: second.indexCommit, ref: 'refs/kv-index/main' },
    ];
    assert.equal(await ledgerPolicy(hook(next)), null);
    assert.equal(await ledgerPolicy(hook([{ old: ZERO, new: first.ledgerCommit, ref: 'refs/heads/x' }])), null, 'other refs are not subject');

    const expect = async (call: HookCall, reason: string, re: RegExp) => {
      const v = await ledgerPolicy(call);
      assert.ok(v, `expected a ${reason} refusal`);
      assert.equal(v.reason, reason);
      assert.equal(v.exit, 1);
      assert.equal(v.say?.length, 1);
      assert.match(v.say![0], re);
    };
    await expect(hook([{ old: first.ledgerCommit, new: ZERO, ref: 'refs/kv/main' }]), 'deletion', /^kv policy: refs\/kv\/main: deleting/);
    await expect(hook([{ old: second.ledgerCommit, new: first.ledgerCommit, ref: 'refs/kv/main' }, { old: second.indexCommit, new: first.indexCommit, ref: 'refs/kv-index/main' }]), 'non_fast_forward', /non-fast-forward/);
    await expect(hook([next[0]]), 'unpaired', /must be pushed together with refs\/kv-index\/main/);
    await expect(hook([{ old: ZERO, new: first.ledgerCommit, ref: 'refs/kv/a/b' }]), 'namespace', /not a ledger ref/);
    // Two transactions in one push.
    await g(['update-ref', 'refs/kv/main', second.ledgerCommit]);
    await g(['update-ref', 'refs/kv-index/main', second.indexCommit]);
    const { t: third } = await build([setOp('c', '3')]);
    assert.ok(third);
    await expect(hook([{ old: first.ledgerCommit, new: third.ledgerCommit, ref: 'refs/kv/main' }, { old: first.indexCommit, new: third.indexCommit, ref: 'refs/kv-index/main' }]), 'multiple_commits', /single commit/);

    // Hand-made commits: no trailers; trailers that lie about the trees; a pair from different transactions.
    const handL = await g(['commit-tree', '-p', second.ledgerCommit, '-m', 'hand made', `${third.ledgerCommit}^{tree}`], '');
    const pairWith = (l: string, i: string) =>
      hook([
        { old: second.ledgerCommit, new: l, ref: 'refs/kv/main' },
        { old: second.indexCommit, new: i, ref: 'refs/kv-index/main' },
      ]);
    await expect(pairWith(handL, third.indexCommit), 'attestation', /^kv attestation mismatch: refs\/kv\/main \w+: trailer KV-NS is missing/);
    const msg = await g(['log', '-1', '--format=%B', third.ledgerCommit]);
    const lying = await g(['commit-tree', '-p', second.ledgerCommit, '-F', '-', `${first.ledgerCommit}^{tree}`], msg);
    await expect(pairWith(lying, third.indexCommit), 'attestation', /KV-Ledger-Tree \w+ is not the pushed ledger tree/);
    const badBase = await g(['commit-tree', '-p', second.ledgerCommit, '-F', '-', `${third.ledgerCommit}^{tree}`], msg.replace(/Base-Tree: \w+/, `Base-Tree: ${EMPTY_TREE.sha1}`));
    await expect(pairWith(badBase, third.indexCommit), 'attestation', /Base-Tree \w+ is not the tree of the commit it builds on/);
    const { t: other } = await build([setOp('d', '4')]);
    assert.ok(other);
    await expect(pairWith(third.ledgerCommit, other.indexCommit), 'attestation', /KV-Txn .* differs/);
    assert.equal(await ledgerPolicy(pairWith(third.ledgerCommit, third.indexCommit)), null);
    assert.ok(fs.existsSync(dir));
  });

  it('costs a few milliseconds per push (one cat-file process)', async () => {
    const tip = await g(['rev-parse', 'refs/kv/main']);
    const itip = await g(['rev-parse', 'refs/kv-index/main']);
    const { t } = await build([setOp('timed', 'x')]);
    assert.ok(t);
    const call = hook([
      { old: tip, new: t.ledgerCommit, ref: 'refs/kv/main' },
      { old: itip, new: t.indexCommit, ref: 'refs/kv-index/main' },
    ]);
    const ms: number[] = [];
    for (let i = 0; i < 20; i++) {
      const t0 = performance.now();
      assert.equal(await ledgerPolicy(call), null);
      ms.push(performance.now() - t0);
    }
    console.log(`# ledger policy per push: p50 ${percentile(ms, 50).toFixed(1)} ms, p95 ${percentile(ms, 95).toFixed(1)} ms`);
    assert.ok(percentile(ms, 50) < 250, `policy p50 ${percentile(ms, 50)} ms`);
  });
});
