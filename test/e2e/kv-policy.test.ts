/**
 * Issue 3: the server enforces the ledger in pre-receive. Rewinds, deletions
 * and commits without a valid attestation are refused with a one-line reason
 * and leave the ledger where it was. Plain git, real server.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { cleanup, git, startCluster, workTree, type Cluster } from '../helpers/cluster.js';
import { cloneOf, kvIn, serverTips } from './kv-harness.js';

describe('ledger rules in pre-receive', () => {
  let c: Cluster;
  let url: string;
  let dir: string;
  let tips: { ledger: string; index: string };
  const rejectedCount = async (reason: string) => {
    const text = await (await fetch(`${c.nodes[0].url}/metrics`)).text();
    const m = new RegExp(`^stargate_txn_rejected_total\\{reason="${reason}"\\} (\\d+)`, 'm').exec(text);
    return m ? Number(m[1]) : 0;
  };
  const refused = async (args: string[], reason: string, line: RegExp) => {
    const before2 = await rejectedCount(reason);
    const r = await git(args, dir);
    assert.notEqual(r.code, 0, `push should be refused: ${r.stderr}`);
    const said = r.stderr.split('\n').filter((l) => l.startsWith('remote: kv '));
    assert.equal(said.length, 1, `exactly one reason line: ${r.stderr}`);
    assert.match(said[0], line);
    assert.match(r.stderr, /pre-receive hook declined/);
    assert.deepEqual(await serverTips(c.nodes[0].dataDir), tips, 'the ledger did not move');
    assert.equal(await rejectedCount(reason), before2 + 1, `stargate_txn_rejected_total{reason="${reason}"} counts it`);
  };

  before(async () => {
    c = await startCluster(1);
    url = c.repoUrl(c.nodes[0]);
    dir = await cloneOf(url);
    const kv = kvIn(dir);
    for (const [k, v] of [['a', '1'], ['b', '2'], ['c', '3']]) assert.equal((await kv(['set', k, v])).code, 0);
    tips = await serverTips(c.nodes[0].dataDir);
    assert.ok(tips.ledger && tips.index);
  });
  after(cleanup);

  it('a force push that rewinds refs/kv/main is refused (alone or with its index)', async () => {
    await refused(['push', '--force', url, 'refs/kv/main~2:refs/kv/main'], 'non_fast_forward', /^remote: kv policy: refs\/kv\/main: non-fast-forward update \w+ -> \w+ refused/);
    await refused(['push', '--force', '--atomic', url, 'refs/kv/main~1:refs/kv/main', 'refs/kv-index/main~1:refs/kv-index/main'], 'non_fast_forward', /non-fast-forward/);
    // A rewrite that is not an ancestor at all.
    const orphan = (await git(['commit-tree', '-m', 'orphan', 'refs/kv/main^{tree}'], dir)).stdout.trim();
    await refused(['push', '--force', url, `${orphan}:refs/kv/main`], 'non_fast_forward', /non-fast-forward/);
  });

  it('deleting refs/kv/main (or its index) is refused', async () => {
    await refused(['push', url, ':refs/kv/main'], 'deletion', /^remote: kv policy: refs\/kv\/main: deleting a ledger ref is refused/);
    await refused(['push', url, '--delete', 'refs/kv-index/main'], 'deletion', /refs\/kv-index\/main: deleting/);
  });

  it('hand-made commits without a valid attestation are refused', async () => {
    const tree = (await git(['rev-parse', 'refs/kv/main^{tree}'], dir)).stdout.trim();
    const itree = (await git(['rev-parse', 'refs/kv-index/main^{tree}'], dir)).stdout.trim();
    const commit = async (parent: string, t: string, msg: string) => (await git(['commit-tree', '-p', parent, '-m', msg, t], dir)).stdout.trim();
    // No trailers at all, pushed as a proper atomic pair.
    const l = await commit(tips.ledger, tree, 'edited by hand');
    const i = await commit(tips.index, itree, 'edited by hand');
    await refused(['push', '--atomic', url, `${l}:refs/kv/main`, `${i}:refs/kv-index/main`], 'attestation', /^remote: kv attestation mismatch: refs\/kv\/main \w+: trailer KV-NS is missing/);
    // Trailers present but lying about the trees.
    const fake = (it2: string) => `kv: forged\n\nKV-NS: main\nKV-Txn: forged\nBase-Tree: ${tree}\nKV-Index-Tree: ${it2}\nKeys-Set: 1\nKeys-Del: 0\n`;
    const l2 = await commit(tips.ledger, tree, fake('0'.repeat(40)));
    const i2 = await commit(tips.index, itree, `kv-index: forged\n\nKV-NS: main\nKV-Txn: forged\nKV-Ledger-Tree: ${tree}\n`);
    await refused(['push', '--atomic', url, `${l2}:refs/kv/main`, `${i2}:refs/kv-index/main`], 'attestation', /KV-Index-Tree 000000000000 is not the pushed index tree/);
    // The ledger alone, without its index commit.
    await refused(['push', url, `${l}:refs/kv/main`], 'unpaired', /refs\/kv\/main must be pushed together with refs\/kv-index\/main/);
  });

  it('other refs are not subject to the ledger rules; the client still works afterwards', async () => {
    const w = await workTree();
    const p = await git(['push', '--force', url, 'HEAD:refs/heads/main'], w);
    assert.equal(p.code, 0, p.stderr);
    const kv = kvIn(dir);
    const r = await kv(['set', 'd', '4']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal((await kv(['list'])).stdout, 'a\nb\nc\nd\n');
  });
});
