/**
 * Two real `stargate serve` processes on one real etcd (--lock etcd://…):
 * one leader, takeover after SIGKILL within lease + 1 s without losing an
 * acknowledged push, and fast handover when the leader resigns.
 */
import assert from 'node:assert/strict';
import { after, afterEach, describe, it } from 'node:test';
import { GIT_KV, STARGATE, cleanup, git, gitEnv, run, startCluster, tempDir, waitFor, workTree, type Cluster, type NodeProc } from '../helpers/cluster.js';
import { startEtcd } from '../helpers/etcd.js';

const LEASE = 2500;
const started = await startEtcd();
const etcd = 'skip' in started ? null : started;
const skip = 'skip' in started ? started.skip : false;
let cases = 0;

/** Two nodes sharing one etcd, each test under its own key prefix. */
async function etcdCluster(): Promise<Cluster> {
  const lock = `${etcd!.lockUrl}/failover-${++cases}`;
  return startCluster(2, { extraArgs: ['--lock', lock, '--lease-ms', String(LEASE), '--retry-ms', '100'] });
}

const push = (c: Cluster, node: NodeProc, dir: string) => git(['push', c.repoUrl(node), 'HEAD:refs/heads/main'], dir);
/** `git kv` against one node, from a scratch clone directory. */
const kv = (c: Cluster, node: NodeProc, dir: string, ...args: string[]) =>
  run(process.execPath, [GIT_KV, '--remote', c.repoUrl(node), ...args], { cwd: dir, env: gitEnv(), timeoutMs: 30_000 });
async function scratch(): Promise<string> {
  const d = tempDir('stargate-kv-');
  await git(['init', '-q', d]);
  return d;
}

async function waitInSync(leader: NodeProc) {
  await waitFor(`an in-sync passive on ${leader.id}`, async () => (await leader.status()).peers.some((p: any) => p.in_sync), 15_000);
}

async function readyNodes(c: Cluster): Promise<string[]> {
  const out: string[] = [];
  for (const nd of c.nodes) if (nd.alive() && (await nd.ready())) out.push(nd.id);
  return out;
}

describe('HA on etcd', { skip }, () => {
  afterEach(cleanup);
  after(async () => {
    await cleanup();
    await etcd?.stop();
  });

  it('two nodes on one etcd: exactly one leader, the other refuses pushes and follows it', async () => {
    const c = await etcdCluster();
    const [a, b] = c.nodes;
    await waitInSync(a);
    // Sample for longer than a lease: never zero, never two.
    const t0 = Date.now();
    while (Date.now() - t0 < LEASE * 1.5) {
      assert.deepEqual(await readyNodes(c), ['node-a']);
      await new Promise((r) => setTimeout(r, 50));
    }
    const sa = await a.status();
    const sb = await b.status();
    assert.equal(sa.role, 'leader');
    assert.equal(sb.role, 'passive');
    assert.equal(sb.leader_id, 'node-a');
    assert.equal(sb.epoch, sa.epoch);
    assert.ok(sa.epoch > 1, 'the epoch is an etcd revision');
    const w = await workTree();
    const refused = await push(c, b, w);
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, /remote: not leader; leader is http:\/\/127\.0\.0\.1/);
    assert.equal((await push(c, a, w)).code, 0);
    const metrics = await (await fetch(`${a.url}/metrics`)).text();
    assert.match(metrics, new RegExp(`^stargate_ha_epoch ${sa.epoch}$`, 'm'));
  });

  it('SIGKILL of the leader: the other node accepts a git kv set within lease + 1 s and no acknowledged write is lost', async () => {
    const c = await etcdCluster();
    const [a, b] = c.nodes;
    await waitInSync(a);
    const dir = await scratch();
    const acked: string[] = [];
    for (let i = 0; i < 5; i++) {
      const r = await kv(c, a, dir, 'set', `before/${i}`, `v${i}`);
      assert.equal(r.code, 0, r.stderr);
      acked.push(`before/${i}`);
    }
    const refused = await kv(c, b, dir, 'set', 'on-passive', 'x');
    assert.equal(refused.code, 9, `the passive refuses with exit 9 (not leader): ${refused.stderr}`);
    const epochA = (await a.status()).epoch as number;
    const t0 = Date.now();
    await a.stop('SIGKILL');
    // A writer routed like HAProxy routes it: to the node whose /readyz says 200, retrying until acknowledged.
    let ms = -1;
    let ready = -1;
    let last = '';
    while (ms < 0 && Date.now() - t0 <= LEASE + 1000) {
      if (!(await b.ready())) {
        await new Promise((r) => setTimeout(r, 10));
        continue;
      }
      if (ready < 0) ready = Date.now() - t0;
      const r = await kv(c, b, dir, 'set', 'after-kill', 'yes');
      if (r.code === 0) ms = Date.now() - t0;
      else last = `exit ${r.code}: ${r.stderr.trim()}`;
    }
    console.log(`# etcd: SIGKILL of the leader -> other node ready ${ready} ms, first acknowledged git kv set ${ms} ms (lease ${LEASE} ms)`);
    assert.ok(ms >= 0 && ms <= LEASE + 1000, `no git kv set acknowledged within lease + 1 s (last: ${last}); node-b said: ${b.logs.slice(-1500)}`);
    for (const [i, key] of acked.entries()) {
      const g = await kv(c, b, dir, 'get', key);
      assert.equal(g.code, 0, `${key} acknowledged before the kill is on the new leader: ${g.stderr}`);
      assert.equal(g.stdout, `v${i}`);
    }
    const sb = await b.status();
    assert.equal(sb.role, 'leader');
    assert.ok(sb.epoch > epochA, `new epoch ${sb.epoch} > ${epochA}`);
    assert.match(b.logs, new RegExp(`promoted self to leader with epoch ${sb.epoch} because the lease of node-a \\(epoch ${epochA}\\) expired`));

    // The killed node comes back as a passive of the new epoch.
    a.start();
    await a.waitUp();
    await waitFor('node-a to follow node-b', async () => (await a.status()).leader_id === 'node-b', 10_000);
    assert.equal(await a.ready(), false);
  });

  it('a resigning leader (SIGTERM, switchover) hands over in well under a lease', async () => {
    const c = await etcdCluster();
    const [a, b] = c.nodes;
    await waitInSync(a);
    let t0 = Date.now();
    a.signal('SIGTERM');
    await c.waitLeader(5000, a);
    const term = Date.now() - t0;
    console.log(`# etcd: SIGTERM (release) -> the other node ready: ${term} ms`);
    assert.ok(term < 1000, `takeover after release took ${term} ms`);
    assert.match(b.logs, /because node-a released the lease of epoch \d+/);

    a.start();
    await a.waitUp();
    await waitInSync(b);
    t0 = Date.now();
    const r = await run(process.execPath, [STARGATE, 'switchover', '--url', b.url, '--user', 'tester', '--token', c.token]);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    await waitFor('node-a ready again', () => a.ready(), 5000, 10);
    const sw = Date.now() - t0;
    console.log(`# etcd: switchover -> new leader ready: ${sw} ms (including CLI start)`);
    assert.equal(await b.ready(), false);
    const w = await workTree();
    await waitInSync(a);
    const p = await push(c, a, w);
    assert.equal(p.code, 0, p.stderr);
  });
});
