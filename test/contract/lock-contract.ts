/**
 * The contract every lock backend passes (file, memory, etcd). Run it with a
 * harness that knows how to make more "nodes" on the same store, how time
 * passes, and how to make a holder die without releasing.
 */
import assert from 'node:assert/strict';
import { describe, it, after } from 'node:test';
import { LockLostError } from '../../src/errors.js';
import type { LeaderLock } from '../../src/election/lock.js';

export interface LockHarness {
  leaseMs: number;
  /** Another node on the same shared store. */
  newLock(): Promise<LeaderLock>;
  /** A holder in a separate process (or equivalent) that takes the lease, then can die without releasing. */
  spawnHolder(nodeId: string): Promise<{ epoch: number; kill(): Promise<void> }>;
  /** Let time pass: a fake clock advances, a real backend sleeps. */
  pass(ms: number): Promise<void>;
  close(): Promise<void>;
}

const cand = (id: string) => ({ nodeId: id, url: `http://${id}.invalid` });

export function runLockContract(name: string, makeHarness: () => Promise<LockHarness>, opts: { skip?: string | false } = {}): void {
  describe(`lock contract: ${name}`, { skip: opts.skip || false }, () => {
    let h: LockHarness;
    const locks: LeaderLock[] = [];
    const newLock = async () => {
      const l = await h.newLock();
      locks.push(l);
      return l;
    };
    const setup = async () => {
      for (const l of locks.splice(0)) await l.close().catch(() => {});
      if (h) await h.close();
      h = await makeHarness();
    };
    after(async () => {
      for (const l of locks.splice(0)) await l.close().catch(() => {});
      if (h) await h.close();
    });

    it('the first candidate takes the lease with a positive epoch and publishes a leader record', async () => {
      await setup();
      const a = await newLock();
      const lease = await a.tryAcquire(cand('a'));
      assert.ok(lease, 'lease acquired');
      assert.ok(lease.epoch >= 1);
      assert.equal(await a.currentEpoch(), lease.epoch);
      const rec = await a.readLeader();
      assert.equal(rec?.node_id, 'a');
      assert.equal(rec?.epoch, lease.epoch);
      assert.equal(rec?.url, 'http://a.invalid');
    });

    it('a second candidate is refused while the holder renews, for longer than the lease', async () => {
      await setup();
      const a = await newLock();
      const b = await newLock();
      const lease = (await a.tryAcquire(cand('a')))!;
      const steps = Math.ceil((h.leaseMs * 1.5) / (h.leaseMs / 3));
      for (let i = 0; i < steps; i++) {
        await h.pass(Math.floor(h.leaseMs / 3));
        await a.renew(lease);
        assert.equal(await b.tryAcquire(cand('b')), null, `b refused at step ${i}`);
      }
      assert.equal((await b.readLeader())?.node_id, 'a');
    });

    it('after a release another candidate takes over at once with a higher epoch', async () => {
      await setup();
      const a = await newLock();
      const b = await newLock();
      const la = (await a.tryAcquire(cand('a')))!;
      await a.release(la);
      assert.equal((await b.readLeader())?.released, true);
      const lb = await b.tryAcquire(cand('b'));
      assert.ok(lb, 'b acquired after release');
      assert.ok(lb.epoch > la.epoch);
      // The new lease says what it replaced, read after taking it: the promotion sentence cites it.
      assert.equal(lb.previous?.node_id, 'a');
      assert.equal(lb.previous?.released, true);
      assert.equal((await a.readLeader())?.node_id, 'b');
    });

    it('a holder that dies without releasing is replaced after the lease, with a higher epoch', async () => {
      await setup();
      const holder = await h.spawnHolder('dead');
      const b = await newLock();
      assert.equal(await b.tryAcquire(cand('b')), null, 'refused while the holder lives');
      await holder.kill();
      let lb = null;
      const t0 = Date.now();
      for (let waited = 0; waited <= h.leaseMs * 2 && !lb; waited += 100) {
        lb = await b.tryAcquire(cand('b'));
        if (!lb) await h.pass(100);
      }
      assert.ok(lb, `b took over (after ${Date.now() - t0} ms)`);
      assert.ok(lb.epoch > holder.epoch);
    });

    it('a superseded holder cannot renew', async () => {
      await setup();
      const a = await newLock();
      const b = await newLock();
      const la = (await a.tryAcquire(cand('a')))!;
      await b.release(la); // not b's lease: must be a no-op
      assert.equal(await b.tryAcquire(cand('b')), null);
      await a.release(la);
      const lb = (await b.tryAcquire(cand('b')))!;
      await assert.rejects(a.renew(la), (e: unknown) => e instanceof LockLostError);
      await b.renew(lb);
    });

    it('epochs strictly increase over repeated acquisitions by different nodes', async () => {
      await setup();
      const nodes = [await newLock(), await newLock(), await newLock()];
      let last = await nodes[0].currentEpoch();
      for (let i = 0; i < 9; i++) {
        const n = nodes[i % 3];
        const l = await n.tryAcquire(cand(`n${i % 3}`));
        assert.ok(l, `round ${i} acquired`);
        assert.ok(l.epoch > last, `epoch ${l.epoch} > ${last}`);
        last = l.epoch;
        await n.release(l);
      }
    });

    it('candidates racing for a free lease never leave two writers in one epoch', async () => {
      await setup();
      const nodes = [await newLock(), await newLock(), await newLock()];
      const leases = (await Promise.all(nodes.map((n, i) => n.tryAcquire(cand(`r${i}`))))).filter((l) => l !== null);
      assert.ok(leases.length >= 1, 'someone won');
      const epochs = leases.map((l) => l.epoch);
      assert.equal(new Set(epochs).size, epochs.length, 'epochs distinct');
      const top = await nodes[0].currentEpoch();
      assert.equal(leases.filter((l) => l.epoch === top).length, 1, 'exactly one holder of the current epoch');
    });
  });
}
