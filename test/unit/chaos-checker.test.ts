import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { check, longestUnavailability, type Commit, type Op } from '../../chaos/checker.js';

const op = (id: number, key: string, value: string, exit = 0): Op => ({ id, writer: 0, kind: 'set', key, value, node: 'node-a', start: id * 10, end: id * 10 + 5, exit });
const commit = (epoch: number, checkedAt: number, preserved = true): Commit => ({ node: 'node-a', epoch, checkedAt, ledgerOid: 'a'.repeat(40), preserved });

describe('chaos checker', () => {
  const epochs = [{ epoch: 1, allocatedAt: 0 }, { epoch: 2, allocatedAt: 1000 }];

  it('accepts a clean history', () => {
    const v = check([op(1, 'k1', 'v1'), op(2, 'k2', 'v2', 9)], [commit(1, 500), commit(2, 1500)], epochs, { values: new Map([['k1', 'v1']]), ledgerLinear: true });
    assert.equal(v.ok, true, v.problems.join('; '));
    assert.equal(v.acknowledged, 1);
  });

  it('fails a history that lost an acknowledged write', () => {
    const v = check([op(1, 'k1', 'v1'), op(2, 'k2', 'v2')], [], epochs, { values: new Map([['k1', 'v1']]), ledgerLinear: true });
    assert.equal(v.ok, false);
    assert.deepEqual(v.lost.map((o) => o.key), ['k2']);
  });

  it('fails a write whose final value differs', () => {
    const v = check([op(1, 'k1', 'v1')], [], epochs, { values: new Map([['k1', 'other']]), ledgerLinear: true });
    assert.equal(v.ok, false);
  });

  it('fails a push accepted in a stale epoch', () => {
    const v = check([], [commit(1, 1200)], epochs, { values: new Map(), ledgerLinear: true });
    assert.equal(v.ok, false);
    assert.equal(v.staleCommits.length, 1);
  });

  it('fails a non-linear ledger and an unacknowledged commit that vanished', () => {
    const v = check([], [commit(1, 10, false)], epochs, { values: new Map(), ledgerLinear: false });
    assert.equal(v.ok, false);
    assert.equal(v.vanished.length, 1);
    assert.equal(v.problems.length, 2);
  });

  it('measures the longest write unavailability', () => {
    assert.equal(longestUnavailability([op(1, 'a', 'a'), op(30, 'b', 'b')], 0, 400), 305 - 15);
  });
});
