/**
 * etcd outages with real processes: a hung etcd (SIGSTOP: connections open,
 * no answers) and a dead one (SIGKILL, then restarted on its data dir).
 * The leader must stop accepting writes before its etcd lease could expire
 * for anyone else, no node may accept a write while etcd is gone, passives
 * keep serving clones and fetches, and writes resume once etcd is back.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { cleanup, commit, git, startCluster, tempDir, waitFor, workTree, type Cluster, type NodeProc } from '../helpers/cluster.js';
import { startEtcd, type EtcdServer } from '../helpers/etcd.js';

const LEASE = 2500;
const ETCD_TTL = 2000; // what a 2500 ms lease gives in etcd (lease - 0.5 s, whole seconds)
// Below the default (1800) so that the assertion below has room for a busy test machine.
const RENEW_DEADLINE = 1500;
const started = await startEtcd();
const etcd: EtcdServer | null = 'skip' in started ? null : started;
const skip = 'skip' in started ? started.skip : false;

const push = (c: Cluster, node: NodeProc, dir: string) => git(['push', c.repoUrl(node), 'HEAD:refs/heads/main'], dir);

async function waitInSync(leader: NodeProc) {
  await waitFor(`an in-sync passive on ${leader.id}`, async () => (await leader.status()).peers.some((p: any) => p.in_sync), 15_000);
}

describe('HA on etcd: etcd outages', { skip }, () => {
  let c: Cluster;
  let w: string;
  /** The last push a client saw acknowledged. */
  let acked = '';

  before(async () => {
    c = await startCluster(2, { extraArgs: ['--lock', `${etcd!.lockUrl}/outage`, '--lease-ms', String(LEASE), '--renew-deadline-ms', String(RENEW_DEADLINE)] });
    w = await workTree();
  });
  after(async () => {
    await cleanup();
    await etcd?.stop();
  });

  /** A leader exists, a passive is in sync, and a push is acknowledged. */
  async function healthyWithAckedPush(): Promise<NodeProc> {
    const leader = await c.waitLeader(15_000);
    await waitInSync(leader);
    acked = await commit(w, 'acked');
    const r = await push(c, leader, w);
    assert.equal(r.code, 0, r.stderr);
    return leader;
  }

  /**
   * etcd just went away at `t0`: the leader turns unready before its etcd
   * lease could expire, nobody accepts writes for twice the lease, reads work.
   */
  async function assertOutage(leader: NodeProc, t0: number, what: string): Promise<void> {
    const passive = c.nodes.find((n) => n !== leader)!;
    await waitFor('the leader to turn unready', async () => !(await leader.ready()), LEASE * 2, 5);
    const unready = performance.now() - t0;
    console.log(`# etcd ${what}: leader /readyz 503 after ${Math.round(unready)} ms (renew deadline ${RENEW_DEADLINE} ms, etcd lease ${ETCD_TTL} ms)`);
    // Our last renewal started before t0, so etcd cannot expire the lease before t0 + ETCD_TTL.
    assert.ok(unready < ETCD_TTL, `the leader kept accepting writes for ${Math.round(unready)} ms, up to when etcd could hand the lease over`);
    assert.equal(await leader.httpStatus('/readyz'), 503);

    const pending = await commit(w, `during-${what}`);
    const until = t0 + LEASE * 2;
    let attempts = 0;
    while (performance.now() < until) {
      for (const nd of c.nodes) {
        const r = await push(c, nd, w);
        attempts++;
        assert.notEqual(r.code, 0, `${nd.id} accepted a push while etcd was ${what}`);
        assert.match(r.stderr, /remote: not leader/, `${nd.id} refused with "not leader" (pre-receive exit 9)`);
      }
    }
    assert.ok(attempts >= 4);
    assert.match(leader.logs, /"event":"push_refused".*"reason":"not_leader"/);
    for (const nd of c.nodes) assert.equal(await nd.ready(), false, `${nd.id} /readyz while etcd is ${what}`);

    // Reads keep working on the passive: a fresh clone and a fetch both see the last acknowledged push.
    const dir = path.join(tempDir(), 'clone');
    const clone = await git(['clone', '-q', c.repoUrl(passive), dir]);
    assert.equal(clone.code, 0, clone.stderr);
    assert.equal((await git(['rev-parse', 'origin/main'], dir)).stdout.trim(), acked);
    const fetched = await git(['fetch', '-q', 'origin'], dir);
    assert.equal(fetched.code, 0, fetched.stderr);
    const lsRemote = await git(['ls-remote', c.repoUrl(passive), 'refs/heads/main']);
    assert.equal(lsRemote.stdout.split('\t')[0], acked);
    assert.notEqual((await git(['rev-parse', 'HEAD'], w)).stdout.trim(), acked, 'the refused commit is still pending');
    void pending;
  }

  /** etcd is back: a leader is elected and accepts the pending commit on top of everything acknowledged. */
  async function assertRecovery(t0: number, what: string): Promise<void> {
    let leader: NodeProc | null = null;
    await waitFor('a push to be accepted after etcd came back', async () => {
      for (const nd of c.nodes) {
        if ((await push(c, nd, w)).code === 0) {
          leader = nd;
          return true;
        }
      }
      return false;
    }, 20_000, 20);
    const ms = Math.round(performance.now() - t0);
    console.log(`# etcd ${what}: first acknowledged push ${ms} ms after etcd was back`);
    const l = leader as unknown as NodeProc;
    const anc = await git(['--git-dir', path.join(l.dataDir, 'repos/kv.git'), 'merge-base', '--is-ancestor', acked, 'refs/heads/main']);
    assert.equal(anc.code, 0, 'nothing acknowledged before the outage was lost');
    assert.deepEqual((await Promise.all(c.nodes.map((n) => n.ready()))).filter(Boolean).length, 1, 'exactly one leader');
  }

  it('a hung etcd (SIGSTOP): the leader stops writing before its lease could expire, nobody accepts writes, passives serve reads; writes resume after SIGCONT', async () => {
    const leader = await healthyWithAckedPush();
    const t0 = performance.now();
    await etcd!.stop('SIGSTOP');
    try {
      await assertOutage(leader, t0, 'hung');
    } finally {
      etcd!.resume();
    }
    await assertRecovery(performance.now(), 'hung');
  });

  it('etcd killed: the same; etcd restarted on its data dir: election and writes resume', async () => {
    const leader = await healthyWithAckedPush();
    const t0 = performance.now();
    await etcd!.stop('SIGKILL');
    try {
      await assertOutage(leader, t0, 'down');
    } finally {
      await etcd!.restart();
    }
    await assertRecovery(performance.now(), 'restarted');
    assert.match(leader.logs, /stepped down from epoch \d+ because (the lock could not be renewed|the lease was not renewed)/);
  });
});
