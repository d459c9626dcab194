/** The HA loop on a fake clock and an in-memory lock: each decision and its sentence. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MemoryLock, MemoryLockStore } from '../../src/election/memory-lock.js';
import { Elector, type ElectorOptions } from '../../src/ha/elector.js';
import type { LeaderLock } from '../../src/election/lock.js';
import { silentLogger } from '../../src/log.js';
import { FakeClock } from '../../src/util/clock.js';
import { validateTiming } from '../../src/config.js';

const LEASE = 3000;
const DEADLINE = 2400;

function setup() {
  const clock = new FakeClock();
  const store = new MemoryLockStore(clock);
  const make = (id: string, extra: Partial<ElectorOptions> = {}) =>
    new Elector({
      candidate: { nodeId: id, url: `http://${id}:8080` },
      lock: new MemoryLock(store, LEASE),
      clock,
      log: silentLogger,
      leaseMs: LEASE,
      renewDeadlineMs: DEADLINE,
      retryMs: 250,
      ...extra,
    });
  return { clock, store, make };
}

/** The memory lock with some of its methods replaced. */
function wrap(inner: MemoryLock, over: Partial<LeaderLock>): LeaderLock {
  return {
    kind: inner.kind,
    leaseMs: inner.leaseMs,
    tryAcquire: (c, e, f) => inner.tryAcquire(c, e, f),
    renew: (l, e) => inner.renew(l, e),
    release: (l, e) => inner.release(l, e),
    readLeader: () => inner.readLeader(),
    currentEpoch: () => inner.currentEpoch(),
    close: () => inner.close(),
    ...over,
  };
}

describe('elector', () => {
  it('takes a free lease, and a second node follows it', async () => {
    const { make } = setup();
    const a = make('a');
    const b = make('b');
    assert.equal(await a.cycle(), 'promoted self to leader with epoch 1 because no node had ever held the lease');
    assert.equal(await b.cycle(), 'following leader a (epoch 1) at http://a:8080');
    assert.equal(a.isWritable(), true);
    assert.equal(b.isWritable(), false);
    assert.deepEqual(await b.checkWrite(), { ok: false, message: 'not leader; leader is http://a:8080' });
    assert.deepEqual(await a.checkWrite(), { ok: true, epoch: 1 });
  });

  it('renews while the backend answers and keeps leading past the lease', async () => {
    const { clock, make } = setup();
    const a = make('a');
    await a.cycle();
    for (let i = 0; i < 10; i++) {
      clock.advance(LEASE / 3);
      await a.cycle();
    }
    assert.equal(a.lastSentence, 'leading with epoch 1; lease renewed');
    assert.equal(a.isWritable(), true);
  });

  it('stops writing at the renew deadline when the backend is unreachable, before the lease can expire for others', async () => {
    const { clock, store, make } = setup();
    const a = make('a');
    await a.cycle();
    store.down = true;
    clock.advance(LEASE / 3);
    assert.match(await a.cycle(), /^still leading epoch 1 for \d+ ms although renewing failed: memory lock store is down$/);
    assert.equal(a.isWritable(), true);
    clock.advance(DEADLINE - LEASE / 3);
    // No cycle ran, yet the lease is already invalid on our own clock: writes are refused.
    assert.equal(a.isWritable(), false);
    assert.deepEqual(await a.checkWrite(), { ok: false, message: 'not leader; lease not renewed in time (last refreshed 2400 ms ago; writes stop after 2400 ms)' });
    assert.equal(await a.cycle(), 'stepped down from epoch 1 because the lock could not be renewed for 2400 ms (memory lock store is down)');
    assert.equal(a.role, 'passive');
    assert.ok(DEADLINE < LEASE);
  });

  it('steps down at once when a newer epoch appears, and a push sees it first', async () => {
    const { store, make } = setup();
    const a = make('a');
    await a.cycle();
    store.epoch = 7; // another node won an election a cannot see through its lease
    assert.deepEqual(await a.checkWrite(), { ok: false, message: 'not leader; epoch 7 is newer than ours' });
    assert.equal(a.role, 'passive');
    assert.match(a.lastSentence, /stepped down from epoch 1 because a push found epoch 7 on the shared volume/);
  });

  it('a renew that finds a newer epoch steps down without releasing the other leader', async () => {
    const { clock, store, make } = setup();
    const a = make('a');
    await a.cycle();
    store.epoch = 5;
    clock.advance(LEASE / 3);
    assert.equal(await a.cycle(), 'stepped down from epoch 1 because epoch 5 on the shared volume is newer than ours (1)');
  });

  it('takes over when the leader stops renewing, with a higher epoch and the reason', async () => {
    const { clock, make } = setup();
    const a = make('a');
    const b = make('b');
    await a.cycle();
    await b.cycle();
    clock.advance(LEASE + 1); // a froze
    assert.equal(await b.cycle(), 'promoted self to leader with epoch 2 because the lease of a (epoch 1) expired');
    assert.equal(a.isWritable(), false, 'a refuses on its own clock, before any cycle');
    clock.advance(1);
    assert.equal(await a.cycle(), 'stepped down from epoch 1 because epoch 2 on the shared volume is newer than ours (1)');
  });

  it('the promotion guard keeps a passive from taking over, and --force overrides it once', async () => {
    const { clock, make } = setup();
    const a = make('a');
    const b = make('b', { mayPromote: async () => 'it is behind' });
    await a.cycle();
    await b.cycle();
    clock.advance(LEASE + 1);
    assert.equal(await b.cycle(), 'stayed passive because it is behind');
    b.forcePromotion = true;
    assert.match(await b.cycle(), /^promoted self to leader with epoch 2 because the lease of a \(epoch 1\) expired \(forced by an operator/);
  });

  it('hands over: releases, then yields so another node takes the lease', async () => {
    const { clock, make } = setup();
    const a = make('a');
    const b = make('b');
    await a.cycle();
    assert.equal(await a.handOver('an operator asked for it', 5000), 'released the lease of epoch 1 because an operator asked for it');
    assert.match(await a.cycle(), /^stayed passive for \d+ ms more after handing over$/);
    assert.equal(await b.cycle(), 'promoted self to leader with epoch 2 because a released the lease of epoch 1');
    for (let t = 0; t < 6000; t += LEASE / 3) {
      clock.advance(LEASE / 3);
      await b.cycle();
    }
    assert.equal(await a.cycle(), 'following leader b (epoch 2) at http://b:8080');
    await a.stop();
    await b.stop();
  });

  it('a reset shared volume (epochs start over) fences the old leader, and no node reuses an old epoch', async () => {
    const { clock, store, make } = setup();
    store.epoch = 4;
    const a = make('a');
    const b = make('b');
    assert.match(await a.cycle(), /^promoted self to leader with epoch 5/);
    assert.equal(await b.cycle(), 'following leader a (epoch 5) at http://a:8080');
    // The volume is replaced by an empty one: no epochs, no record, no holder.
    store.epoch = 0;
    store.record = null;
    store.holder = null;
    assert.deepEqual(await a.checkWrite(), { ok: false, message: 'not leader; the shared volume was reset' });
    assert.match(a.lastSentence, /stepped down from epoch 5 because a push found the shared volume's newest epoch at 0, below ours: it was reset or replaced/);
    clock.advance(1);
    assert.match(await b.cycle(), /^promoted self to leader with epoch 6 /, 'b allocates above the highest epoch it has seen');
  });

  it('the promotion guard still applies when the leader record vanished with the volume', async () => {
    const { clock, store, make } = setup();
    const a = make('a', { extras: () => ({ replication: { mode: 'sync', in_sync: [], degraded: true } }) });
    const b = make('b', {
      mayPromote: async (leader) => (leader && !leader.replication?.in_sync.includes('b') ? `${leader.node_id} did not count b as in sync` : null),
    });
    await a.cycle();
    await b.cycle();
    store.record = null;
    store.holder = null;
    clock.advance(LEASE + 1);
    assert.equal(await b.cycle(), 'stayed passive because a did not count b as in sync');
  });

  it('rejects impossible timing at start', () => {
    assert.throws(() => validateTiming({ leaseMs: 3000, renewDeadlineMs: 3000, retryMs: 250, lock: null }), /must be shorter than --lease-ms/);
    assert.throws(() => validateTiming({ leaseMs: 3000, renewDeadlineMs: 200, retryMs: 250, lock: null }), /--retry-ms 250 must be shorter/);
    assert.throws(() => validateTiming({ leaseMs: 1500, renewDeadlineMs: 1000, retryMs: 250, lock: null }), /at least 2000 ms/);
    validateTiming({ leaseMs: 2500, renewDeadlineMs: 2000, retryMs: 250, lock: null });
  });

  it('a release waits for a leader-record write under way, so the last record says released', async () => {
    const { store, make } = setup();
    const inner = new MemoryLock(store, LEASE);
    let open!: () => void;
    const gate = new Promise<void>((r) => (open = r));
    let slow = false;
    // The memory lock writes at once; this one delays a renewal's write (e.g. an in-sync-set publish).
    const lock = wrap(inner, {
      renew: async (l, e) => {
        const fresh = await inner.renew(l, e);
        if (slow) {
          // Checks passed; the record write itself lands late (a slow shared filesystem).
          const written = store.record;
          await gate;
          store.record = written;
        }
        return fresh;
      },
    });
    const a = make('a', { lock });
    await a.cycle();
    slow = true;
    const publishing = a.publishNow().catch(() => {});
    await new Promise((r) => setImmediate(r)); // the renewal is writing now
    const handing = a.handOver('it received SIGTERM', null);
    await new Promise((r) => setImmediate(r));
    open();
    await Promise.all([publishing, handing]);
    assert.equal(store.record?.released, true, 'the renewal landed before the release, not after it');
    assert.match(await make('b').cycle(), /because a released the lease of epoch 1/);
  });

  it('a lock that refreshes on its own timer extends the write deadline at each refresh, not at the next renew', async () => {
    const { clock, store, make } = setup();
    const inner = new MemoryLock(store, LEASE);
    let refreshed: number | null = null; // what a proper-lockfile timer would report
    const lock = wrap(inner, { refreshedAt: () => refreshed });
    const a = make('a', { lock });
    await a.cycle(); // promoted at t=0: writable until DEADLINE
    clock.advance(DEADLINE - 100);
    assert.equal(a.expiresInMs(), 100);
    refreshed = clock.now(); // the timer refreshed the lease; no renew ran since
    assert.equal(a.expiresInMs(), DEADLINE);
    clock.advance(200);
    assert.equal(a.isWritable(), true, 'still writable past the deadline of the last renew');
    assert.deepEqual(await a.checkWrite(), { ok: true, epoch: 1 });
    clock.advance(DEADLINE);
    assert.equal(a.isWritable(), false, 'and stops DEADLINE after the last refresh');
  });
});
