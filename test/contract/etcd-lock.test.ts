/**
 * The lock contract against a real etcd started here, plus what only etcd
 * needs proving: epochs are etcd revisions, a deposed holder sees the newer
 * one, nobody takes the key before lease after the holder's last renewal
 * started, and an unreachable etcd gives LockUnavailableError quickly (never a hang).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { Etcd3 } from 'etcd3';
import { EtcdLock, parseEtcdUrl } from '../../src/election/etcd-lock.js';
import { LockLostError, LockUnavailableError } from '../../src/errors.js';
import { resolveServeConfig } from '../../src/config.js';
import { ROOT, cleanup, waitFor } from '../helpers/cluster.js';
import { startEtcd } from '../helpers/etcd.js';
import { runLockContract } from './lock-contract.js';

const LEASE = 2500;
const TTL_MS = 2000; // the etcd lease behind a 2500 ms lease: 2500 - 500 rounded down to whole seconds
const started = await startEtcd();
const etcd = 'skip' in started ? null : started;
const skip = 'skip' in started ? started.skip : false;
const cand = (id: string) => ({ nodeId: id, url: `http://${id}.invalid` });

/** A holder in its own process (test/helpers/hold-lock.ts): renews until SIGKILLed, never releases. */
function spawnHolder(nodeId: string) {
  return new Promise<{ epoch: number; kill(): Promise<void> }>((resolve, reject) => {
    const p = spawn(process.execPath, [path.join(ROOT, 'dist/test/helpers/hold-lock.js'), 'etcd', etcd!.endpoint, String(LEASE), nodeId], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    p.stdout.on('data', (d) => {
      out += d;
      const m = /epoch (\d+)/.exec(out);
      if (m) resolve({ epoch: Number(m[1]), kill: () => new Promise<void>((r) => { p.once('exit', () => r()); p.kill('SIGKILL'); }) });
    });
    p.on('exit', (code) => reject(new Error(`holder exited ${code}: ${out}`)));
  });
}

/** Remove every key of the default prefix so each contract case starts from "never held". */
async function wipe(): Promise<void> {
  const c = new Etcd3({ hosts: etcd!.endpoint });
  try {
    await c.delete().prefix('/stargate/').exec();
  } finally {
    c.close();
  }
}

runLockContract('etcd (lease + create_revision epochs)', async () => {
  await wipe();
  return {
    leaseMs: LEASE,
    newLock: async () => new EtcdLock([etcd!.endpoint], LEASE),
    spawnHolder,
    pass: (ms) => new Promise((r) => setTimeout(r, ms)),
    close: async () => {},
  };
}, { skip });

describe('etcd lock: etcd-specific guarantees', { skip }, () => {
  const locks: EtcdLock[] = [];
  const lock = (opts: { prefix?: string } = {}) => {
    const l = new EtcdLock([etcd!.endpoint], LEASE, opts);
    locks.push(l);
    return l;
  };
  after(async () => {
    for (const l of locks) await l.close().catch(() => {});
    await etcd?.stop();
    await cleanup();
  });

  it('the epoch is the revision that created the leader key, and stays readable after the lease expires', async () => {
    const prefix = `/t-${Date.now()}-epoch/`;
    const a = lock({ prefix });
    const la = (await a.tryAcquire(cand('a')))!;
    const c = new Etcd3({ hosts: etcd!.endpoint });
    try {
      const res = await c.namespace(prefix).get('leader').exec();
      assert.equal(Number(res.kvs[0].create_revision), la.epoch);
      assert.equal(res.kvs[0].value.toString(), 'a');
    } finally {
      c.close();
    }
    await a.release(la);
    assert.equal(await a.currentEpoch(), la.epoch, 'epoch survives the leader key');
  });

  it('nobody takes the lock earlier than the etcd lease after the start of the holder\'s last renewal, and the deposed holder sees the newer epoch', async () => {
    const prefix = `/t-${Date.now()}-deposed/`;
    const a = lock({ prefix });
    const b = lock({ prefix });
    const la = (await a.tryAcquire(cand('a')))!;
    await new Promise((r) => setTimeout(r, 300));
    const freshSince = await a.renew(la);
    // a now stalls (no more renewals); b polls as a passive does.
    const lb = await waitFor('b to take over', () => b.tryAcquire(cand('b')), LEASE * 3, 20);
    const tookAfter = performance.now() - freshSince;
    // The holder's renew deadline (< TTL_MS, enforced by config) ends before this.
    assert.ok(tookAfter >= TTL_MS, `b took the lock ${Math.round(tookAfter)} ms after a's last renewal started (etcd lease ${TTL_MS} ms)`);
    assert.ok(tookAfter <= LEASE + 500, `takeover ${Math.round(tookAfter)} ms is within the lease (${LEASE} ms) plus 0.5 s for polling and load`);
    assert.ok(lb.epoch > la.epoch);
    await assert.rejects(a.renew(la), (e: unknown) => e instanceof LockLostError);
    assert.equal(await a.currentEpoch(), lb.epoch, 'the deposed holder reads the newer epoch');
    assert.equal((await a.readLeader())?.node_id, 'b');
    console.log(`# etcd lock: takeover ${Math.round(tookAfter)} ms after the stalled holder's last renewal started (lease ${LEASE} ms, etcd lease ${TTL_MS} ms)`);
  });

  it('a release hands over within milliseconds', async () => {
    const prefix = `/t-${Date.now()}-release/`;
    const a = lock({ prefix });
    const b = lock({ prefix });
    const la = (await a.tryAcquire(cand('a')))!;
    const t0 = performance.now();
    await a.release(la);
    const lb = await b.tryAcquire(cand('b'));
    const ms = performance.now() - t0;
    assert.ok(lb && lb.epoch > la.epoch);
    assert.ok(ms < 500, `handover took ${Math.round(ms)} ms`);
    console.log(`# etcd lock: release -> acquire by another node in ${ms.toFixed(1)} ms`);
  });

  it('a hung etcd (SIGSTOP) makes every call fail with LockUnavailableError within its deadline, and calls work again after', async () => {
    const prefix = `/t-${Date.now()}-hung/`;
    const a = lock({ prefix });
    const b = lock({ prefix });
    const la = (await a.tryAcquire(cand('a')))!;
    await etcd!.stop('SIGSTOP');
    try {
      for (const [what, call] of [
        ['renew', () => a.renew(la)],
        ['currentEpoch', () => a.currentEpoch()],
        ['readLeader', () => b.readLeader()],
        ['tryAcquire', () => b.tryAcquire(cand('b'))],
      ] as const) {
        const t0 = performance.now();
        await assert.rejects((call as () => Promise<unknown>)(), (e: unknown) => e instanceof LockUnavailableError, what);
        const ms = performance.now() - t0;
        assert.ok(ms < LEASE, `${what} failed after ${Math.round(ms)} ms, before the lease`);
      }
    } finally {
      etcd!.resume();
    }
    // After the outage the lease may have expired in etcd: renew either works or reports the loss.
    const top = await waitFor('etcd to answer again', () => b.currentEpoch().catch(() => null), 10_000, 50);
    assert.ok(top >= la.epoch);
  });

  it('a dead etcd gives LockUnavailableError; after a restart elections resume with higher epochs', async () => {
    const prefix = `/t-${Date.now()}-dead/`;
    const a = lock({ prefix });
    const la = (await a.tryAcquire(cand('a')))!;
    await a.release(la);
    await etcd!.stop('SIGKILL');
    const t0 = performance.now();
    await assert.rejects(a.tryAcquire(cand('a')), (e: unknown) => e instanceof LockUnavailableError);
    await assert.rejects(a.currentEpoch(), (e: unknown) => e instanceof LockUnavailableError);
    assert.ok(performance.now() - t0 < LEASE, 'failed fast');
    await etcd!.restart();
    const lb = await waitFor('an acquisition after the restart', () => a.tryAcquire(cand('a')).catch(() => null), 10_000, 50);
    assert.ok(lb.epoch > la.epoch, `epoch ${lb.epoch} > ${la.epoch} across the etcd restart`);
  });

  it('--lock etcd:// URLs: endpoints, optional key prefix; lease timing that etcd can honour', () => {
    assert.deepEqual(parseEtcdUrl('etcd://10.0.0.1:2379,10.0.0.2:2379'), { endpoints: ['10.0.0.1:2379', '10.0.0.2:2379'], prefix: '/stargate/' });
    assert.deepEqual(parseEtcdUrl('etcd://e:2379/prod/git'), { endpoints: ['e:2379'], prefix: '/prod/git/' });
    const base = { 'data-dir': '/tmp/x', lock: 'etcd://127.0.0.1:2379' };
    const def = resolveServeConfig(base, {});
    assert.equal(def.leaseMs, 2500);
    assert.equal(def.renewDeadlineMs, 1800, 'default renew deadline: 90% of the 2 s etcd lease');
    assert.equal(resolveServeConfig({ ...base, 'lease-ms': 3500 }, {}).renewDeadlineMs, 2700);
    assert.throws(() => resolveServeConfig({ ...base, 'lease-ms': 2000 }, {}), /at least 2500 ms/);
    assert.throws(() => resolveServeConfig({ ...base, 'lease-ms': 3000, 'renew-deadline-ms': 2000 }, {}), /shorter than the etcd lease of 2000 ms/);
    assert.throws(() => resolveServeConfig({ ...base, lock: 'etcd://a:1/x y' }, {}), /expected etcd:\/\//);
  });
});
