/** Issue 3: the git kv client against a real Stargate server, with the real git CLI. */
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { cleanup, git, gitEnv, run, startCluster, tempDir, type Cluster } from '../helpers/cluster.js';
import { cloneOf, kvBytes, kvIn, pathWithGitKv, serverTips } from './kv-harness.js';

describe('git kv client (single node)', () => {
  let c: Cluster;
  let url: string;
  before(async () => {
    c = await startCluster(1);
    url = c.repoUrl(c.nodes[0]);
  });
  after(cleanup);

  it('set/get/del/list round trips as `git kv` from a fresh, empty clone', async () => {
    const dir = await cloneOf(url);
    const PATH = pathWithGitKv();
    const gkv = (args: string[], input?: string) => run('git', ['kv', ...args], { cwd: dir, env: gitEnv({ PATH }), input });
    let r = await gkv(['set', 'greeting', 'hello world']);
    assert.equal(r.code, 0, r.stderr);
    r = await gkv(['set', 'user/42', 'ada']);
    assert.equal(r.code, 0, r.stderr);
    r = await gkv(['get', 'greeting']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'hello world');
    assert.equal((await gkv(['list'])).stdout, 'greeting\nuser/42\n');
    assert.equal((await gkv(['list', '--prefix', 'user/'])).stdout, 'user/42\n');
    r = await gkv(['set', 'greeting', 'bye']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal((await gkv(['get', 'greeting'])).stdout, 'bye');
    r = await gkv(['del', 'greeting']);
    assert.equal(r.code, 0, r.stderr);
    r = await gkv(['get', 'greeting']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /key not found: "greeting"/);
    assert.equal((await gkv(['list'])).stdout, 'user/42\n');
    // The server holds a linear ledger: one commit per transaction, each paired with an index commit.
    const tips = await serverTips(c.nodes[0].dataDir);
    const server = ['--git-dir', path.join(c.nodes[0].dataDir, 'repos', 'kv.git')];
    assert.equal((await git([...server, 'rev-list', '--count', tips.ledger])).stdout.trim(), '4');
    assert.equal((await git([...server, 'rev-list', '--count', '--merges', tips.ledger])).stdout.trim(), '0');
    assert.equal((await git([...server, 'rev-list', '--count', tips.index])).stdout.trim(), '4');
    // The tombstone is in the index; data and meta are gone from the ledger.
    const idx = (await git([...server, 'ls-tree', '-r', '--name-only', tips.index])).stdout;
    assert.match(idx, /^index\/gr\/ee\/greeting\.ref$/m);
    const tomb = JSON.parse((await git([...server, 'cat-file', 'blob', `${tips.index}:index/gr/ee/greeting.ref`])).stdout);
    assert.equal(tomb.deleted, true);
    assert.doesNotMatch((await git([...server, 'ls-tree', '-r', '--name-only', tips.ledger])).stdout, /greeting/);
    // A second, unrelated clone sees the same data.
    const other = kvIn(await cloneOf(url, 'other'));
    assert.equal((await other(['get', 'user/42'])).stdout, 'ada');
  });

  it('binary values round-trip byte for byte through stdin and @FILE; get --json carries metadata', async () => {
    const dir = await cloneOf(url);
    const kv = kvIn(dir);
    const all = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
    let r = await kv(['set', 'bin/all-bytes', '-'], { input: all });
    assert.equal(r.code, 0, r.stderr);
    const big = crypto.randomBytes(3 * 1024 * 1024 + 7);
    const file = path.join(tempDir(), 'big.bin');
    fs.writeFileSync(file, big);
    r = await kv(['set', '--ctype', 'application/x-test', 'bin/big', `@${file}`]);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(Buffer.compare(await kvBytes(dir, 'bin/all-bytes'), all) === 0);
    assert.ok(Buffer.compare(await kvBytes(dir, 'bin/big'), big) === 0);
    r = await kv(['get', '--json', 'bin/big']);
    assert.equal(r.code, 0, r.stderr);
    const j = JSON.parse(r.stdout);
    assert.equal(j.size, big.length);
    assert.equal(j.ctype, 'application/x-test');
    assert.equal(j.sha256, crypto.createHash('sha256').update(big).digest('hex'));
    assert.equal(Buffer.from(j.value_b64, 'base64').length, big.length);
    assert.equal(j.value, undefined, 'binary values have no text form');
    assert.match(j.tree, /^[0-9a-f]{40}$/);
    const t = JSON.parse((await kv(['get', '--json', 'bin/all-bytes'])).stdout);
    assert.equal(t.ctype, 'application/octet-stream');
    const txt = JSON.parse((await kv(['--json', 'set', 'text', 'héllo'])).stdout);
    assert.equal(txt.committed, true);
    const g = JSON.parse((await kv(['get', 'text', '--json'])).stdout);
    assert.equal(g.value, 'héllo');
    assert.equal(g.ctype, 'text/plain; charset=utf-8');
    assert.equal(g.tree, txt.tree);
  });

  it('a 2,000-op mset is one transaction; an empty batch commits nothing; a malformed line exits 5 and pushes nothing', async () => {
    const dir = await cloneOf(url);
    const kv = kvIn(dir);
    const ns = ['--ns', 'batch'];
    const lines: string[] = [];
    for (let i = 0; i < 1900; i++) lines.push(JSON.stringify({ op: 'set', key: `item/${String(i).padStart(4, '0')}`, value_b64: Buffer.from(`value ${i}`).toString('base64') }));
    for (let i = 0; i < 100; i++) lines.push(JSON.stringify({ op: 'set', key: `bin/${i}`, value_b64: crypto.randomBytes(64).toString('base64'), ctype: 'application/x-random' }));
    const batch = path.join(tempDir(), 'batch.jsonl');
    fs.writeFileSync(batch, lines.join('\n') + '\n');
    let r = await kv([...ns, '--json', 'mset', '--file', batch]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(JSON.parse(r.stdout).set, 2000);
    const tips = await serverTips(c.nodes[0].dataDir, 'batch');
    const server = ['--git-dir', path.join(c.nodes[0].dataDir, 'repos', 'kv.git')];
    assert.equal((await git([...server, 'rev-list', '--count', tips.ledger])).stdout.trim(), '1');
    const listed = (await kv([...ns, 'list'])).stdout.trim().split('\n');
    assert.equal(listed.length, 2000);
    assert.equal((await kv([...ns, 'get', 'item/1234'])).stdout, 'value 1234');
    assert.equal((await kv([...ns, 'list', '--prefix', 'item/12'])).stdout.trim().split('\n').length, 100);

    // Mixed batch: 1,000 deletes + 1,000 updates, still one commit.
    const mixed = path.join(tempDir(), 'mixed.jsonl');
    const m: string[] = [];
    for (let i = 0; i < 1000; i++) m.push(JSON.stringify({ op: 'del', key: `item/${String(i).padStart(4, '0')}` }));
    for (let i = 1000; i < 1900; i++) m.push(JSON.stringify({ op: 'set', key: `item/${String(i).padStart(4, '0')}`, value_b64: Buffer.from(`v2 ${i}`).toString('base64') }));
    fs.writeFileSync(mixed, m.join('\n'));
    r = await kv([...ns, '--json', 'mset', '--file', mixed]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual([JSON.parse(r.stdout).set, JSON.parse(r.stdout).deleted], [900, 1000]);
    assert.equal((await kv([...ns, 'list'])).stdout.trim().split('\n').length, 1000);
    assert.equal((await kv([...ns, 'get', 'item/1500'])).stdout, 'v2 1500');
    assert.equal((await kv([...ns, 'get', 'item/0500'])).code, 1);
    const after2 = await serverTips(c.nodes[0].dataDir, 'batch');

    // Empty batch: exit 0, no commit.
    const empty = path.join(tempDir(), 'empty.jsonl');
    fs.writeFileSync(empty, '');
    r = await kv([...ns, 'mset', '--file', empty]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(await serverTips(c.nodes[0].dataDir, 'batch'), after2);

    // Malformed line 3: exit 5 naming it; nothing pushed, not even lines 1-2.
    const bad = path.join(tempDir(), 'bad.jsonl');
    fs.writeFileSync(bad, `${JSON.stringify({ op: 'set', key: 'ok1', value_b64: 'aGk=' })}\n${JSON.stringify({ op: 'del', key: 'item/1500' })}\n{"op":"set","key":"x","value_b64":\n`);
    r = await kv([...ns, 'mset', '--file', bad]);
    assert.equal(r.code, 5, r.stderr);
    assert.match(r.stderr, /bad\.jsonl:3: not valid JSON/);
    assert.deepEqual(await serverTips(c.nodes[0].dataDir, 'batch'), after2);
    // An invalid key inside a batch: exit 4 naming the line.
    fs.writeFileSync(bad, `${JSON.stringify({ op: 'set', key: 'ok1', value_b64: 'aGk=' })}\n${JSON.stringify({ op: 'del', key: 'a\u0001b' })}\n`);
    r = await kv([...ns, 'mset', '--file', bad]);
    assert.equal(r.code, 4, r.stderr);
    assert.match(r.stderr, /bad\.jsonl:2: invalid key/);
    assert.deepEqual(await serverTips(c.nodes[0].dataDir, 'batch'), after2);
  });

  it('CAS: with --expect-tree the winner writes and the loser exits 2, changing nothing', async () => {
    const a = kvIn(await cloneOf(url, 'a'));
    const b = kvIn(await cloneOf(url, 'b'));
    const ns = ['--ns', 'cas'];
    assert.equal((await a([...ns, 'set', 'counter', '1'])).code, 0);
    // Both read the same state...
    const seenA = JSON.parse((await a([...ns, '--json', 'get', 'counter'])).stdout).tree;
    const seenB = JSON.parse((await b([...ns, '--json', 'list'])).stdout).tree;
    assert.equal(seenA, seenB);
    // ...A writes first and wins.
    let r = await a([...ns, '--expect-tree', seenA, 'set', 'counter', '2']);
    assert.equal(r.code, 0, r.stderr);
    const before2 = await serverTips(c.nodes[0].dataDir, 'cas');
    // B loses: exit 2, value unchanged, server refs unchanged.
    r = await b([...ns, '--expect-tree', seenB, 'set', 'counter', '3']);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /CAS conflict: refs\/kv\/cas is at tree \w+, expected \w+; nothing was written/);
    r = await b([...ns, '--json', '--expect-tree', seenB, 'del', 'counter']);
    assert.equal(r.code, 2);
    assert.equal(JSON.parse(r.stdout).error, 'KV_CAS_CONFLICT');
    assert.deepEqual(await serverTips(c.nodes[0].dataDir, 'cas'), before2);
    assert.equal((await b([...ns, 'get', 'counter'])).stdout, '2');
    // With the current tree, B succeeds.
    const now = JSON.parse((await b([...ns, '--json', 'get', 'counter'])).stdout).tree;
    r = await b([...ns, '--expect-tree', now, 'set', 'counter', '3']);
    assert.equal(r.code, 0, r.stderr);
    // A namespace that does not exist yet has the empty tree.
    r = await b(['--ns', 'cas-new', '--expect-tree', '4b825dc642cb6eb9a060e54bf8d69288fbee4904', 'set', 'x', '1']);
    assert.equal(r.code, 0, r.stderr);
    r = await b(['--ns', 'cas-new', '--expect-tree', 'abc', 'set', 'x', '1']);
    assert.equal(r.code, 64);
    assert.match(r.stderr, /--expect-tree needs a full tree id/);
  });

  it('invalid keys and namespaces exit 4 before any network call', async () => {
    const dir = await cloneOf(url);
    const kv = kvIn(dir);
    // The remote cannot be reached: reaching for it would fail with 5, not 4.
    const dead = ['--remote', 'http://127.0.0.1:9/nothing.git'];
    const cases: string[][] = [
      ['set', '', 'v'],
      ['set', 'a\nb', 'v'],
      ['set', 'x'.repeat(513), 'v'],
      ['get', 'tab\tkey'],
      ['del', 'fine', 'not\u0007fine'],
      ['--ns', 'bad/ns', 'set', 'k', 'v'],
      ['--ns', '../x', 'list'],
    ];
    for (const args of cases) {
      const r = await kv([...dead, ...args]);
      assert.equal(r.code, 4, `${JSON.stringify(args)}: ${r.stderr}`);
      assert.match(r.stderr, /invalid (key|namespace)/);
    }
    const r = await kv([...dead, 'set', 'valid', 'v']);
    assert.equal(r.code, 5, 'a valid key does reach for the (dead) remote');
    assert.match(r.stderr, /fetching refs\/kv\/main and refs\/kv-index\/main from http:\/\/127\.0\.0\.1:9\/nothing\.git failed/);
  });

  it('six concurrent sets on distinct keys all land (three clones, two writers each)', async () => {
    const clones = [kvIn(await cloneOf(url, 'c1')), kvIn(await cloneOf(url, 'c2')), kvIn(await cloneOf(url, 'c3'))];
    const ns = ['--ns', 'race'];
    assert.equal((await clones[0]([...ns, 'set', 'seed', '0'])).code, 0);
    const before2 = await serverTips(c.nodes[0].dataDir, 'race');
    const results = await Promise.all(Array.from({ length: 6 }, (_, i) => clones[i % 3]([...ns, '--json', 'set', `k${i}`, `v${i}`])));
    for (const r of results) assert.equal(r.code, 0, r.stderr);
    for (const r of results) assert.equal(JSON.parse(r.stdout).committed, true);
    const listed = (await clones[1]([...ns, 'list'])).stdout.trim().split('\n');
    assert.deepEqual(listed, ['k0', 'k1', 'k2', 'k3', 'k4', 'k5', 'seed']);
    for (let i = 0; i < 6; i++) assert.equal((await clones[2]([...ns, 'get', `k${i}`])).stdout, `v${i}`);
    // Six transactions, six commits, linear on top of the seed.
    const tips = await serverTips(c.nodes[0].dataDir, 'race');
    const server = ['--git-dir', path.join(c.nodes[0].dataDir, 'repos', 'kv.git')];
    assert.equal((await git([...server, 'rev-list', '--count', `${before2.ledger}..${tips.ledger}`])).stdout.trim(), '6');
    assert.equal((await git([...server, 'rev-list', '--count', '--merges', tips.ledger])).stdout.trim(), '0');
  });

  it('remote setup sets the push URL from .kv/policy.yaml, with clear errors when it is missing', async () => {
    const dir = await cloneOf(url);
    const kv = kvIn(dir);
    let r = await kv(['remote', 'setup']);
    assert.equal(r.code, 5);
    assert.match(r.stderr, /cannot read \.kv\/policy\.yaml .*ENOENT/);
    fs.mkdirSync(path.join(dir, '.kv'));
    fs.writeFileSync(path.join(dir, '.kv', 'policy.yaml'), 'stargate:\n  other: 1\n');
    r = await kv(['remote', 'setup']);
    assert.equal(r.code, 5);
    assert.match(r.stderr, /\.kv\/policy\.yaml has no stargate\.push_url/);
    fs.writeFileSync(path.join(dir, '.kv', 'policy.yaml'), `# where writes go\nstargate:\n  push_url: "${url}"   # the gateway\n`);
    fs.mkdirSync(path.join(dir, 'sub'));
    r = await kvIn(path.join(dir, 'sub'))(['remote', 'setup']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal((await git(['config', 'remote.origin.pushurl'], dir)).stdout.trim(), url);
    // Writes work through the configured push URL.
    assert.equal((await kv(['set', 'via-pushurl', 'yes'])).code, 0);
    assert.equal((await kv(['get', 'via-pushurl'])).stdout, 'yes');
  });
});
