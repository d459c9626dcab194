/**
 * In-memory lock backend for unit tests: several MemoryLock instances sharing
 * one MemoryLockStore behave like nodes sharing a volume, on a fake clock.
 */
import { LockLostError, LockUnavailableError } from '../errors.js';
import type { Clock } from '../util/clock.js';
import type { Candidate, LeaderLock, LeaderRecord, Lease, RecordExtras } from './lock.js';

export class MemoryLockStore {
  holder: { nodeId: string; epoch: number; expiresAt: number } | null = null;
  epoch = 0;
  record: LeaderRecord | null = null;
  /** Simulates an unreachable backend (network partition, dead NFS server). */
  down = false;
  constructor(readonly clock: Clock) {}
}

export class MemoryLock implements LeaderLock {
  readonly kind = 'memory';
  /** Epoch this instance holds: only the node that took a lease can release it. */
  private held: number | null = null;
  constructor(private readonly store: MemoryLockStore, readonly leaseMs: number) {}

  private check(): void {
    if (this.store.down) throw new LockUnavailableError('memory lock store is down');
  }

  async tryAcquire(c: Candidate, extras: RecordExtras = {}, floor = 0): Promise<Lease | null> {
    this.check();
    const s = this.store;
    const now = s.clock.now();
    if (s.holder && s.holder.expiresAt > now && s.holder.nodeId !== c.nodeId) return null;
    const epoch = (s.epoch = Math.max(s.epoch, floor) + 1);
    s.holder = { nodeId: c.nodeId, epoch, expiresAt: now + this.leaseMs };
    this.held = epoch;
    const lease = { nodeId: c.nodeId, url: c.url, epoch, previous: s.record ? { ...s.record } : null };
    this.write(lease, extras);
    return lease;
  }

  async renew(lease: Lease, extras: RecordExtras = {}): Promise<number> {
    this.check();
    const s = this.store;
    const now = s.clock.now();
    if (s.epoch > lease.epoch) throw new LockLostError(`epoch ${s.epoch} on the shared volume is newer than ours (${lease.epoch})`);
    if (s.epoch < lease.epoch) throw new LockLostError(`the shared volume's newest epoch is ${s.epoch}, below ours (${lease.epoch}): it was reset or replaced`);
    if (!s.holder || s.holder.epoch !== lease.epoch || s.holder.expiresAt <= now) {
      throw new LockLostError(`lease of epoch ${lease.epoch} expired`);
    }
    s.holder.expiresAt = now + this.leaseMs;
    this.write(lease, extras);
    return now;
  }

  async release(lease: Lease, extras: RecordExtras = {}): Promise<void> {
    const s = this.store;
    if (s.down || this.held !== lease.epoch || !s.holder || s.holder.epoch !== lease.epoch) return;
    s.holder = null;
    this.held = null;
    this.write(lease, { ...extras, released: true });
  }

  async readLeader(): Promise<LeaderRecord | null> {
    this.check();
    return this.store.record ? { ...this.store.record } : null;
  }

  async currentEpoch(): Promise<number> {
    this.check();
    return this.store.epoch;
  }

  async close(): Promise<void> {}

  private write(lease: Lease, extras: RecordExtras): void {
    this.store.record = {
      node_id: lease.nodeId,
      url: lease.url,
      epoch: lease.epoch,
      renewed_at: new Date(this.store.clock.wall()).toISOString(),
      lease_ms: this.leaseMs,
      ...extras,
    };
  }
}
