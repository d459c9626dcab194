/**
 * runbook.md procedures, rehearsed with real nodes on loopback and the commands the runbook gives:
 * planned switchover, cold start (which node first), replacing a node with an empty disk, shared
 * volume loss (recreate with a larger epoch), reconciling diverged refs, and a full disk (root
 * only: a small tmpfs in a private mount namespace, seen by that one node alone).
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { after, afterEach, describe, it } from 'node:test';
import { GIT_KV, STARGATE, cleanup, git, gitEnv, remoteRefs, run, startCluster, tempDir, waitFor, type Cluster, type NodeProc } from '../helpers/cluster.js';

const sg = (...args: string[]) => run(process.execPath, [STARGATE, ...args]);
const kv = (c: Cluster, node: NodeProc, ...args: string[]) =>
  run(process.execPath, [GIT_KV, '--remote', c.repoUrl(node), ...args], { cwd: kvDir(), env: gitEnv() });
let kvWork = '';
const kvDir = () => kvWork;
/** A fresh, empty git-kv workspace (the client fetches everything from the remote it is given). */
async function kvInit(): Promise<void> {
  kvWork = path.join(tempDir(), 'kv');
  await git(['init', '-q', kvWork]);
}
async function statusJson(url: string): Promise<{ code: number; nodes: any[] }> {
  const r = await sg('status', '--url', url, '--json');
  return { code: r.code, nodes: JSON.parse(r.stdout) };
}
const leaderRecord = (c: Cluster) => JSON.parse(fs.readFileSync(path.join(c.sharedDir, 'leader.json'), 'utf8'));
async function inSync(leader: NodeProc, peer: string): Promise<boolean> {
  return (await leader.status()).peers.some((p: any) => p.node_id === peer && p.in_sync);
}
const kvRefs = async (n: NodeProc) => [...(await remoteRefs(n.dataDir))].filter(([r]) => r.startsWith('refs/kv')).sort().join('\n');

/** `stargate serve ARGS` whose DATA_DIR is a tmpfs of SIZE, mounted in a mount namespace of its own. */
const onSmallDisk = new Set<ChildProcess>();
function serveOnSmallDisk(node: NodeProc, size: string): ChildProcess {
  const q = (x: string) => `'${x.replace(/'/g, `'\\''`)}'`;
  const sgCmd = `${q(process.execPath)} ${q(STARGATE)}`;
  const script = `mount -t tmpfs -o size=${size} stargate-test ${q(node.dataDir)} && ${sgCmd} init --data-dir ${q(node.dataDir)} --repo kv >/dev/null && exec ${sgCmd} serve ${node.args.map(q).join(' ')}`;
  const p = spawn('unshare', ['--mount', '--propagation', 'private', 'sh', '-c', script], { env: gitEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
  p.stdout!.on('data', (d) => (node.logs += d));
  p.stderr!.on('data', (d) => (node.logs += d));
  onSmallDisk.add(p);
  p.on('exit', () => onSmallDisk.delete(p));
  return p;
}
const upOnSmallDisk = (n: NodeProc) =>
  waitFor(`${n.id} up on its small disk`, async () => (await n.httpStatus('/healthz')) === 200, 10_000).catch(() => assert.fail(`${n.id}: ${n.logs.slice(-2000)}`));
const canMount = process.getuid?.() === 0 && spawnSync('unshare', ['--mount', 'true']).status === 0;

describe('runbook procedures', () => {
  afterEach(async () => {
    for (const p of onSmallDisk) p.kill('SIGKILL');
    await cleanup();
  });
  after(cleanup);

  it('planned switchover: `stargate switchover`, then status shows the other leader, both in sync, and writes go on', async () => {
    const c = await startCluster(2);
    const [a, b] = c.nodes;
    await kvInit();
    await waitFor('node-b in sync', () => inSync(a, 'node-b'), 15_000);
    assert.equal((await kv(c, a, 'set', 'k', 'before')).code, 0);
    const r = await sg('switchover', '--url', a.url, '--user', c.user, '--token', c.token);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    assert.match(r.stdout, /new leader node-b/);
    // Verify as the runbook says: status exits 0 with node-b leading and node-a in sync, one epoch later.
    await waitFor('node-a back in sync', () => inSync(b, 'node-a'), 15_000);
    const st = await statusJson(a.url);
    assert.equal(st.code, 0);
    const byId = Object.fromEntries(st.nodes.map((n) => [n.status.node_id, n.status]));
    assert.equal(byId['node-b'].is_leader, true);
    assert.equal(byId['node-a'].role, 'passive');
    assert.equal(byId['node-b'].epoch, 2);
    assert.equal(await b.httpStatus('/readyz'), 200);
    assert.equal((await kv(c, b, 'set', 'k', 'after')).code, 0);
    assert.equal((await kv(c, b, 'get', 'k')).stdout, 'after');
  });

  it('cold start: leader.json names who may start first; the other one refuses to lead until the newest node is back', async () => {
    const c = await startCluster(2);
    const [a, b] = c.nodes;
    await kvInit();
    await waitFor('node-b in sync', () => inSync(a, 'node-b'), 15_000);
    // node-b goes down first; node-a acknowledges one more write alone (sync degrades), then stops.
    await b.stop('SIGTERM');
    assert.equal((await kv(c, a, 'set', 'only-on-a', 'yes')).code, 0);
    await waitFor('in-sync set published empty', () => leaderRecord(c).replication.in_sync.length === 0, 5000);
    await a.stop('SIGTERM');
    const rec = leaderRecord(c);
    assert.equal(rec.node_id, 'node-a');
    assert.deepEqual(rec.replication.in_sync, [], 'the record says only node-a may start first');
    // Runbook step 2: the refs on disk tell the same.
    const count = async (n: NodeProc) =>
      Number((await git(['--git-dir', path.join(n.dataDir, 'repos/kv.git'), 'rev-list', '--count', 'refs/kv/main'])).stdout.trim() || 0);
    assert.ok((await count(a)) > (await count(b)), 'node-a has more ledger commits');

    // Starting the wrong node first costs availability, not data.
    b.start();
    await b.waitUp();
    await waitFor('node-b explains why it stays passive', () => /stayed passive because node-a \(epoch 1\) did not count this node as in sync/.test(b.logs), 5000);
    assert.equal(await b.ready(), false);
    // Start the newest node: it leads, the other follows and catches up.
    a.start();
    await a.waitUp();
    await waitFor('node-a leads', () => a.ready(), 10_000);
    await waitFor('node-b in sync again', () => inSync(a, 'node-b'), 15_000);
    assert.equal(await kvRefs(b), await kvRefs(a));
    assert.equal((await kv(c, a, 'get', 'only-on-a')).stdout, 'yes');
    assert.equal((await statusJson(a.url)).code, 0);
  });

  it('replacing a node: an empty data directory joins as passive, copies everything and becomes in sync', async () => {
    const c = await startCluster(2);
    const [a, b] = c.nodes;
    await kvInit();
    for (let i = 0; i < 3; i++) assert.equal((await kv(c, a, 'set', `key-${i}`, `v${i}`)).code, 0);
    await b.stop('SIGKILL');
    fs.rmSync(b.dataDir, { recursive: true, force: true }); // the disk is gone
    assert.equal((await sg('init', '--data-dir', b.dataDir, '--repo', 'kv')).code, 0);
    b.start();
    await b.waitUp();
    await waitFor('the new node-b in sync', () => inSync(a, 'node-b'), 15_000);
    assert.equal(await kvRefs(b), await kvRefs(a));
    // The runbook's check from a client: ls-remote of refs/kv* is identical on both nodes.
    const ls = async (n: NodeProc) => (await git(['ls-remote', c.repoUrl(n), 'refs/kv*'])).stdout;
    assert.equal(await ls(b), await ls(a));
    assert.notEqual(await ls(a), '');
    assert.equal((await kv(c, a, 'set', 'after-replace', 'ok')).code, 0, 'sync writes are acknowledged again');
  });

  it('shared volume loss: wiped while running, the leader steps down and writes resume above the old epoch; wiped with every node down, epochs/<timestamp> and the newest node first', async () => {
    const c = await startCluster(2);
    const [a, b] = c.nodes;
    await kvInit();
    await waitFor('node-b in sync', () => inSync(a, 'node-b'), 15_000);
    assert.equal((await kv(c, a, 'set', 'k', 'v1')).code, 0);
    const wipe = () => {
      for (const f of fs.readdirSync(c.sharedDir)) fs.rmSync(path.join(c.sharedDir, f), { recursive: true, force: true });
    };
    // 1. Content lost while the nodes run: the leader steps down, then a node leads a higher epoch.
    wipe();
    await waitFor('node-a steps down', () => /stepped down from epoch 1 because/.test(a.logs), 2500 + 1000);
    const leader = await c.waitLeader(5000);
    const epoch = (await leader.status()).epoch;
    assert.ok(epoch > 1, `new epoch ${epoch} above the lost one`);
    assert.equal(leaderRecord(c).node_id, leader.id);
    assert.equal((await kv(c, leader, 'set', 'k', 'v2')).code, 0);
    const other = leader === a ? b : a;
    await waitFor('the other node in sync', () => inSync(leader, other.id), 15_000);
    assert.equal((await statusJson(a.url)).code, 0);

    // 2. Content lost with every node down: recreate with epochs/<timestamp>, newest node first.
    await other.stop('SIGTERM');
    await leader.stop('SIGTERM');
    wipe();
    const stamp = Math.floor(Date.now() / 1000);
    fs.mkdirSync(path.join(c.sharedDir, 'epochs', String(stamp)), { recursive: true });
    leader.start();
    await leader.waitUp();
    await waitFor('the newest node leads', () => leader.ready(), 5000);
    assert.equal((await leader.status()).epoch, stamp + 1);
    other.start();
    await other.waitUp();
    await waitFor('the other node follows the new epoch', async () => (await other.status()).epoch === stamp + 1 && inSync(leader, other.id), 15_000);
    assert.equal((await kv(c, leader, 'get', 'k')).stdout, 'v2');
    assert.equal((await kv(c, leader, 'set', 'k', 'v3')).code, 0);
    assert.equal((await statusJson(other.url)).code, 0);
  });

  it('diverged refs: the kept ledger is listed, fetched, its keys read from the trailers, re-applied, then deleted', async () => {
    const c = await startCluster(2, { extraArgs: ['--replication', 'async'] });
    const [a, b] = c.nodes;
    await kvInit();
    assert.equal((await kv(c, a, 'set', 'shared', 'base')).code, 0);
    await waitFor('node-b has the base', async () => (await kvRefs(b)) === (await kvRefs(a)), 10_000);
    // Async mode: node-a acknowledges a write node-b never sees, then dies; node-b takes over.
    b.signal('SIGSTOP');
    assert.equal((await kv(c, a, 'set', 'lost-key', 'only on a')).code, 0);
    await a.stop('SIGKILL');
    b.signal('SIGCONT');
    await c.waitLeader(2500 + 3000, a);
    assert.equal((await kv(c, b, 'set', 'winner', 'on b')).code, 0);
    a.start();
    await a.waitUp();
    await waitFor('node-a follows node-b', async () => (await remoteRefs(a.dataDir)).get('refs/kv/main') === (await remoteRefs(b.dataDir)).get('refs/kv/main'), 10_000);

    // 1. List: status and ls-remote on the node that kept them.
    const diverged = (await a.status()).replication.diverged as Array<{ ref: string; kept_as: string }>;
    const kept = diverged.find((d) => d.ref === 'refs/kv/main')!;
    assert.match(kept.kept_as, /^refs\/stargate\/diverged\/(\d+)\/kv\/main$/);
    const epoch = /diverged\/(\d+)\//.exec(kept.kept_as)![1];
    const ls = await git(['ls-remote', c.repoUrl(a), 'refs/stargate/diverged/*']);
    assert.match(ls.stdout, new RegExp(`refs/stargate/diverged/${epoch}/kv/main`));
    // 2. Fetch the ledger from the leader and the kept refs from node-a into a scratch repository.
    const scratch = path.join(tempDir(), 'reconcile');
    await git(['init', '-q', scratch]);
    assert.equal((await git(['fetch', '-q', c.repoUrl(b), 'refs/kv/*:refs/kv/*'], scratch)).code, 0);
    const f = await git(['fetch', '-q', c.repoUrl(a), `refs/stargate/diverged/${epoch}/*:refs/diverged/${epoch}/*`], scratch);
    assert.equal(f.code, 0, f.stderr);
    const base = (await git(['merge-base', 'refs/kv/main', `refs/diverged/${epoch}/kv/main`], scratch)).stdout.trim();
    const lost = await git(['log', '--format=%h %ci %s', `${base}..refs/diverged/${epoch}/kv/main`], scratch);
    assert.match(lost.stdout, /^[0-9a-f]+ .* kv: set lost-key in main$/m, 'the lost transaction names its key');
    const diff = await git(['diff', '--name-status', base, `refs/diverged/${epoch}/kv/main`, '--', 'data/'], scratch);
    assert.match(diff.stdout, /^A\tdata\/[0-9a-f]{2}\/[0-9a-f]{2}\/lost-key$/m);
    const value = await git(['show', `refs/diverged/${epoch}/kv/main:${diff.stdout.trim().split('\t')[1]}`], scratch);
    assert.equal(value.stdout, 'only on a', 'the kept value reads back');
    // 3. Re-apply through the leader.
    assert.equal((await kv(c, b, 'get', 'lost-key')).code, 1, 'absent on the new leader');
    assert.equal((await kv(c, b, 'set', 'lost-key', 'only on a')).code, 0);
    assert.equal((await kv(c, b, 'get', 'lost-key')).stdout, 'only on a');
    // 4. Delete the kept refs on node-a, as the runbook does.
    const gitDir = path.join(a.dataDir, 'repos/kv.git');
    const refs = (await git(['--git-dir', gitDir, 'for-each-ref', '--format=%(refname)', `refs/stargate/diverged/${epoch}/`])).stdout.trim().split('\n');
    assert.ok(refs.length >= 1);
    for (const r of refs) assert.equal((await git(['--git-dir', gitDir, 'update-ref', '-d', r])).code, 0);
    assert.equal((await git(['ls-remote', c.repoUrl(a), 'refs/stargate/*'])).stdout, '');
    await waitFor('node-a mirrors the re-applied key', async () => (await kvRefs(a)) === (await kvRefs(b)), 10_000);
  });

  const diskSkip = canMount ? false : 'needs root to mount a small tmpfs in a private mount namespace';
  const bigFile = () => {
    const big = path.join(tempDir(), 'big');
    fs.writeFileSync(big, crypto.randomBytes(6 * 1024 * 1024));
    return big;
  };

  it('disk full on a passive: it cannot confirm, leaves the in-sync set, sync degrades; a bigger disk brings it back', { skip: diskSkip }, async () => {
    const c = await startCluster(2);
    const [a, b] = c.nodes;
    await kvInit();
    await b.stop('SIGKILL');
    const bp = serveOnSmallDisk(b, '3m');
    await upOnSmallDisk(b);
    await waitFor('node-b in sync', () => inSync(a, 'node-b'), 15_000);
    assert.equal((await kv(c, a, 'set', 'small', 'fits')).code, 0);
    // 6 MB do not fit on node-b: the push is acknowledged after the sync timeout, degraded.
    const r = await kv(c, a, 'set', 'big', `@${bigFile()}`);
    assert.equal(r.code, 0, r.stderr);
    await waitFor('node-b out of sync', async () => !(await inSync(a, 'node-b')), 10_000);
    assert.match(await (await fetch(`${a.url}/metrics`)).text(), /^stargate_replication_degraded 1$/m);
    await waitFor('node-b logs the failed mirror', () => /mirroring from .* failed/.test(b.logs), 10_000);
    // Fix: a bigger disk (here a new, larger tmpfs: the node copies everything again).
    bp.kill('SIGKILL');
    await waitFor('node-b gone', () => bp.exitCode !== null || bp.signalCode !== null, 5000);
    serveOnSmallDisk(b, '64m');
    await upOnSmallDisk(b);
    await waitFor('node-b in sync again', () => inSync(a, 'node-b'), 20_000);
    assert.match(await (await fetch(`${a.url}/metrics`)).text(), /^stargate_replication_degraded 0$/m);
  });

  it('disk full on the leader: the push it cannot store fails (exit 5, No space left on device), nothing moves, the node stays up', { skip: diskSkip }, async () => {
    const c = await startCluster(1);
    const [a] = c.nodes;
    await kvInit();
    await a.stop('SIGTERM');
    const ap = serveOnSmallDisk(a, '3m');
    await upOnSmallDisk(a);
    await waitFor('node-a leads', () => a.ready(), 10_000);
    assert.equal((await kv(c, a, 'set', 'small', 'fits')).code, 0);
    const full = await kv(c, a, 'set', 'big', `@${bigFile()}`);
    assert.equal(full.code, 5, full.stderr);
    assert.match(full.stderr, /No space left on device/);
    assert.equal((await kv(c, a, 'get', 'big')).code, 1, 'nothing of the failed push is visible');
    assert.equal(ap.exitCode, null, 'the node stays up');
    assert.equal(await a.httpStatus('/healthz'), 200, '/healthz does not watch free space: alert on the filesystem');
    assert.equal((await kv(c, a, 'set', 'small-after', 'fits')).code, 0, 'small writes still fit');
    assert.equal((await kv(c, a, 'get', 'small')).stdout, 'fits');
  });
});
