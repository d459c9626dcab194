/**
 * Two real `stargate serve` processes on one real etcd (--lock etcd://…):
 * one leader, takeover after SIGKILL within lease + 1 s without losing an
 * acknowledged push, and fast handover when the leader resigns.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, afterEach, describe, it } from 'node:test';
import { STARGATE, cleanup, commit, git, run, startCluster, waitFor, workTree, type Cluster, type NodeProc } from '../helpers/cluster.js';
import { startEtcd } from '../helpers/etcd.js';

const LEASE = 2000;
const started = await startEtcd();
const etcd = 'skip' in started ? null : started;
const skip = 'skip' in started ? started.skip : false;
let cases = 0;

/** Two nodes sharing one etcd, each test under its own key prefix. */
async function etcdCluster(): Promise<Cluster> {
  const lock = `${etcd!.lockUrl}/failover-${++cases}`;
  return startCluster(2, { extraArgs: ['--lock', lock, '--lease-ms', String(LEASE)] });
}

const push = (c: Cluster, node: NodeProc, dir: string) => git(['push', c.repoUrl(node), 'HEAD:refs/heads/main'], dir);

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

  it('SIGKILL of the leader: the other node accepts a push within lease + 1 s and no acknowledged push is lost', async () => {
    const c = await etcdCluster();
    const [a, b] = c.nodes;
    await waitInSync(a);
    const w = await workTree();
    let acked = '';
    for (let i = 0; i < 5; i++) {
      const oid = await commit(w, `before-${i}`);
      assert.equal((await push(c, a, w)).code, 0);
      acked = oid;
    }
    const epochA = (await a.status()).epoch as number;
    const t0 = Date.now();
    await a.stop('SIGKILL');
    await commit(w, 'after-kill');
    let ms = -1;
    while (Date.now() - t0 <= LEASE + 1000) {
      if ((await push(c, b, w)).code === 0) {
        ms = Date.now() - t0;
        break;
      }
      await new Promise((r) => setTimeout(r, 20));
    }
    console.log(`# etcd: SIGKILL of the leader -> first acknowledged push on the other node: ${ms} ms (lease ${LEASE} ms)`);
    assert.ok(ms >= 0, `no push acknowledged within lease + 1 s; node-b said: ${b.logs.slice(-1500)}`);
    const anc = await git(['--git-dir', path.join(b.dataDir, 'repos/kv.git'), 'merge-base', '--is-ancestor', acked, 'refs/heads/main']);
    assert.equal(anc.code, 0, 'every push acknowledged before the kill is on the new leader');
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
    assert.equal((await push(c, a, w)).code, 0);
  });
});
