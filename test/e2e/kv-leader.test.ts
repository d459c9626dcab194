/**
 * Issue 3: the client maps the server's leadership answer to exit 9 and
 * prints the leader URL; reads work on a passive. Two real nodes.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { cleanup, startCluster, waitFor, type Cluster } from '../helpers/cluster.js';
import { cloneOf, kvIn, serverTips } from './kv-harness.js';

describe('git kv and sync-strict replication', () => {
  after(cleanup);
  it('with no in-sync passive the write is refused with exit 11 and nothing lands', async () => {
    const c = await startCluster(1, { extraArgs: ['--replication', 'sync-strict'] });
    const kv = kvIn(await cloneOf(c.repoUrl(c.nodes[0])));
    const r = await kv(['set', 'k', 'v']);
    assert.equal(r.code, 11, r.stderr);
    assert.match(r.stderr, /sync refused/);
    assert.deepEqual(await serverTips(c.nodes[0].dataDir), { ledger: '', index: '' });
  });
});

describe('git kv against an active-passive pair', () => {
  let c: Cluster;
  before(async () => {
    c = await startCluster(2);
  });
  after(cleanup);

  it('a write sent to the passive exits 9 naming the leader; the leader takes it; the passive serves it', async () => {
    const [a, b] = c.nodes;
    const viaLeader = kvIn(await cloneOf(c.repoUrl(a), 'via-a'));
    const viaPassive = kvIn(await cloneOf(c.repoUrl(b), 'via-b'));
    assert.equal((await viaLeader(['set', 'seed', '1'])).code, 0);
    const leaderUrl = (await a.status()).url as string;
    await waitFor('node-b to know its leader', async () => (await b.status()).leader_url === leaderUrl);
    const tips = await serverTips(b.dataDir);

    const r = await viaPassive(['set', 'k', 'v']);
    assert.equal(r.code, 9, r.stderr);
    assert.match(r.stderr, new RegExp(`not leader; leader is ${leaderUrl.replace(/[.]/g, '\\.')}`));
    const j = await viaPassive(['--json', 'del', 'seed']);
    assert.equal(j.code, 9);
    assert.equal(JSON.parse(j.stdout).leader_url, leaderUrl);
    assert.deepEqual(await serverTips(b.dataDir), tips, 'the passive wrote nothing');

    // Reads are served by the passive once it has mirrored the leader.
    await waitFor('the passive to mirror seed', async () => (await viaPassive(['get', 'seed'])).stdout === '1', 15_000, 100);
  });
});
