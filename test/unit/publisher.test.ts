/** The leader's in-sync set and acknowledgement rules, on a fake clock. */
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import type { ServerResponse } from 'node:http';
import { describe, it } from 'node:test';
import { Publisher } from '../../src/replication/publisher.js';
import { silentLogger } from '../../src/log.js';
import { FakeClock } from '../../src/util/clock.js';

/** Just enough of a ServerResponse for an event stream: records what was written. */
function stream() {
  const e = new EventEmitter() as EventEmitter & { lines: string[]; write(s: string): boolean; end(): void };
  e.lines = [];
  e.write = (s: string) => (e.lines.push(s), true);
  e.end = () => void e.emit('close');
  return e;
}

function setup(mode: 'sync' | 'sync-strict' | 'async' = 'sync', timeoutMs = 200) {
  const published: string[][] = [];
  /** Set to make the leader record unwritable, as it is for a node another one has fenced. */
  const fence = { fenced: false, leading: true };
  const p = new Publisher(mode, timeoutMs, new FakeClock(), silentLogger, async () => {
    if (fence.fenced) throw new Error('epoch 5 is newer than ours');
    published.push(p.inSyncIds());
  }, () => {}, () => fence.leading);
  p.begin(4);
  return { p, published, fence };
}

/** Subscribe passive `id` and make it hold everything so far (a full ack): it is in sync. */
function join(p: Publisher, id = 'b') {
  const s = stream();
  p.subscribe(id, `http://${id}`, s as unknown as ServerResponse);
  p.ack({ node_id: id, epoch: 4, seq: p.seq, full: true });
  return s;
}

describe('publisher', () => {
  it('a passive is in sync only after a full ack covering every push', async () => {
    const { p } = setup();
    const s = stream();
    p.subscribe('b', 'http://b', s as unknown as ServerResponse);
    assert.deepEqual(p.inSyncIds(), []);
    assert.equal(p.degraded, true);
    await p.committed('kv'); // seq 1, nobody to wait for: degraded sync acknowledges at once
    assert.match(s.lines.at(-1)!, /"repo":"kv","seq":1,"epoch":4/);
    p.ack({ node_id: 'b', epoch: 4, seq: 0, full: true });
    assert.deepEqual(p.inSyncIds(), [], 'a full ack as of seq 0 does not cover seq 1');
    p.ack({ node_id: 'b', epoch: 4, seq: 1, repo: 'kv' });
    assert.deepEqual(p.inSyncIds(), ['b']);
    assert.equal(p.degraded, false);
  });

  it('acks from another epoch are refused: a deposed leader collects nothing', () => {
    const { p } = setup();
    p.subscribe('b', 'http://b', stream() as unknown as ServerResponse);
    assert.deepEqual(p.ack({ node_id: 'b', epoch: 5, seq: 0, full: true }), { ok: false, error: 'ack for epoch 5, leader is in epoch 4' });
    assert.deepEqual(p.inSyncIds(), []);
  });

  it('a push waits for every in-sync passive, and resolves on the last ack', async () => {
    const { p } = setup();
    for (const id of ['b', 'c']) {
      join(p, id);
    }
    let done = false;
    const pending = p.committed('kv').then((r) => ((done = true), r));
    await new Promise((r) => setImmediate(r));
    p.ack({ node_id: 'b', epoch: 4, seq: 1, repo: 'kv' });
    await new Promise((r) => setImmediate(r));
    assert.equal(done, false, 'c has not acked yet');
    p.ack({ node_id: 'c', epoch: 4, seq: 1, repo: 'other' });
    await new Promise((r) => setImmediate(r));
    assert.equal(done, false, 'an ack for another repository does not count');
    p.ack({ node_id: 'c', epoch: 4, seq: 1, repo: 'kv' });
    assert.deepEqual(await pending, {});
  });

  it('a passive that does not ack in time is dropped, and the smaller set is published before the ack', async () => {
    const { p, published } = setup('sync', 50);
    join(p);
    published.length = 0;
    const r = await p.committed('kv');
    assert.deepEqual(r, {});
    assert.deepEqual(published[0], [], 'the set without b was written before the push was acknowledged');
    assert.equal(p.degraded, true);
  });

  it('sync-strict refuses instead of degrading', async () => {
    const { p } = setup('sync-strict', 50);
    assert.match((await p.committed('kv')).error!, /sync refused: no in-sync passive/);
    join(p);
    assert.match((await p.committed('kv')).error!, /sync refused: no passive confirmed this push within 50 ms/);
  });

  it('a passive whose event stream closes leaves the set at once', async () => {
    const { p, published } = setup();
    const s = join(p);
    published.length = 0;
    s.end();
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(p.inSyncIds(), []);
    assert.deepEqual(published, [[]]);
  });

  // A leader frozen past its lease (SIGSTOP, a long pause) resumes after another node took over.
  // Whatever it commits then must not be acknowledged unless every in-sync passive holds it.

  it('a push still waiting for its passive when the term ends is refused, not acknowledged', async () => {
    const { p } = setup();
    join(p);
    const pending = p.committed('kv');
    await new Promise((r) => setImmediate(r));
    p.end();
    assert.match((await pending).error!, /sync refused: this node stopped leading epoch 4 before the push was confirmed/);
  });

  it('a push that lands after the term ended is refused', async () => {
    const { p } = setup();
    p.end();
    assert.match((await p.committed('kv')).error!, /stopped leading epoch 4/);
  });

  it('a deposed leader whose passive went away cannot acknowledge: the smaller set cannot be published', async () => {
    const { p, fence } = setup();
    const s = join(p);
    fence.fenced = true;
    const pending = p.committed('kv');
    s.end(); // b stopped following us: it leads now
    assert.match((await pending).error!, /sync refused: the smaller in-sync set could not be recorded/);
    // and the next push, with nobody in sync any more, is refused for the same reason
    assert.match((await p.committed('kv')).error!, /sync refused: the smaller in-sync set could not be recorded/);
  });

  it('a push every in-sync passive acked stays acknowledged even if the term ends right after', async () => {
    const { p } = setup();
    join(p);
    const pending = p.committed('kv');
    await new Promise((r) => setImmediate(r));
    p.ack({ node_id: 'b', epoch: 4, seq: 1, repo: 'kv' });
    p.end();
    assert.deepEqual(await pending, {});
  });

  it('with nobody in sync, a push is acknowledged only while the lease is still valid', async () => {
    const { p, fence } = setup();
    assert.deepEqual(await p.committed('kv'), {});
    fence.leading = false; // our clock says the lease ran out: someone else may lead already
    assert.match((await p.committed('kv')).error!, /stopped leading epoch 4/);
  });
});
