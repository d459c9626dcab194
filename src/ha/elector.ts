/**
 * The HA loop. Each cycle takes a snapshot of the lock, decides, acts, and
 * returns one sentence saying what it did and why (logged when it changes).
 * Only the local monotonic clock decides whether our own lease is valid.
 */
import { LockLostError, LockUnavailableError, StargateError, errorMessage } from '../errors.js';
import type { Candidate, LeaderLock, LeaderRecord, Lease, RecordExtras } from '../election/lock.js';
import type { Logger } from '../log.js';
import type { Clock } from '../util/clock.js';

export type Role = 'leader' | 'passive';

export interface ElectorOptions {
  candidate: Candidate;
  lock: LeaderLock;
  clock: Clock;
  log: Logger;
  leaseMs: number;
  renewDeadlineMs: number;
  retryMs: number;
  /** Replication facts published in the leader record. */
  extras?: () => RecordExtras;
  /** Promotion guard: a reason not to take the lease now, or null. */
  mayPromote?: (leader: LeaderRecord | null) => Promise<string | null>;
  onRoleChange?: (role: Role, why: string) => void;
  /** Called with the leader record each cycle as a passive. */
  onFollow?: (leader: LeaderRecord | null) => void;
  onAcquireFailure?: (reason: 'contended' | 'error') => void;
}

export type WriteCheck = { ok: true; epoch: number } | { ok: false; message: string };

export class Elector {
  role: Role = 'passive';
  lease: Lease | null = null;
  /** Monotonic deadline after which we stop accepting writes. */
  private validUntil = 0;
  private lastRenewAttempt = -Infinity;
  leader: LeaderRecord | null = null;
  lastSentence = '';
  lastCycleAt: number;
  private yieldUntil = 0;
  private draining = false;
  private stopped = true;
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<string> | null = null;
  private rerun = false;
  /** The highest epoch this node has seen, and the newest leader record: kept across a shared-volume reset. */
  private highestSeen = 0;
  private bestRecord: LeaderRecord | null = null;
  private promoted: string | null = null;

  constructor(private readonly o: ElectorOptions) {
    this.lastCycleAt = o.clock.now();
  }

  get epoch(): number {
    return this.lease?.epoch ?? this.leader?.epoch ?? 0;
  }

  /**
   * When we stop writing: the renew deadline after the lease was last extended, as the last
   * renew reported it or, sooner, as the lock's own refresh timer did.
   */
  private deadline(): number {
    const at = this.lease ? this.o.lock.refreshedAt?.(this.lease) : null;
    return at == null ? this.validUntil : Math.max(this.validUntil, at + this.o.renewDeadlineMs);
  }

  /** Milliseconds our own lease stays valid (leader), or the leader's per its record (passive). */
  expiresInMs(): number {
    if (this.role === 'leader') return Math.max(0, Math.round(this.deadline() - this.o.clock.now()));
    if (!this.leader || this.leader.released) return 0;
    return Math.max(0, Date.parse(this.leader.renewed_at) + this.leader.lease_ms - this.o.clock.wall());
  }

  /** Writable right now by our own clock (no I/O); pre-receive adds the epoch check. */
  isWritable(): boolean {
    return this.role === 'leader' && !this.draining && this.lease !== null && this.o.clock.now() < this.deadline();
  }

  /** Leading `epoch` with a lease still valid on our clock (draining or not). */
  holds(epoch: number): boolean {
    return this.role === 'leader' && this.lease?.epoch === epoch && this.o.clock.now() < this.deadline();
  }

  leaderUrl(): string | null {
    if (this.role === 'leader') return this.o.candidate.url;
    return this.leader && !this.leader.released ? this.leader.url : null;
  }

  start(): void {
    this.stopped = false;
    this.wake();
  }

  /** Run a cycle now (or right after the one in progress). */
  wake(): void {
    if (this.stopped) return;
    if (this.running) {
      this.rerun = true;
      return;
    }
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.running = this.cycle()
      .catch((err) => `cycle failed: ${errorMessage(err)}`)
      .then((s) => {
        this.running = null;
        this.schedule();
        return s;
      });
  }

  private schedule(): void {
    if (this.stopped) return;
    if (this.rerun) {
      this.rerun = false;
      return this.wake();
    }
    const every = this.role === 'leader' ? Math.max(50, Math.floor(this.o.leaseMs / 3 / 2)) : this.o.retryMs;
    this.timer = setTimeout(() => this.wake(), every);
  }

  private remember(r: LeaderRecord | null): void {
    if (!r) return;
    this.highestSeen = Math.max(this.highestSeen, r.epoch);
    if (!this.bestRecord || r.epoch >= this.bestRecord.epoch) this.bestRecord = r;
  }

  /** One HA cycle: snapshot -> decision -> action -> sentence. */
  async cycle(): Promise<string> {
    const sentence = this.role === 'leader' ? await this.leadCycle() : await this.followCycle();
    this.lastCycleAt = this.o.clock.now();
    if (sentence !== this.lastSentence) {
      this.o.log.info('ha', { msg: sentence, role: this.role, epoch: this.epoch });
      this.lastSentence = sentence;
    }
    if (this.promoted) {
      const why = this.promoted;
      this.promoted = null;
      this.o.onRoleChange?.('leader', why);
    }
    return sentence;
  }

  private async leadCycle(): Promise<string> {
    const lease = this.lease!;
    const now = this.o.clock.now();
    // 1. Renew at lease/3; between renewals only check the deadline.
    if (now - this.lastRenewAttempt < this.o.leaseMs / 3) {
      if (now >= this.deadline()) return this.stepDown(`stepped down from epoch ${lease.epoch} because the lease was not renewed within ${this.o.renewDeadlineMs} ms`, true);
      return this.lastSentence;
    }
    this.lastRenewAttempt = now;
    try {
      // 2. Renew; the backend checks the epoch on the shared volume first.
      const freshSince = await withTimeout(this.renewSerially(lease), this.o.renewDeadlineMs);
      this.validUntil = freshSince + this.o.renewDeadlineMs;
      if (this.o.clock.now() >= this.deadline()) {
        return this.stepDown(`stepped down from epoch ${lease.epoch} because the lease was not renewed within ${this.o.renewDeadlineMs} ms`, true);
      }
      return `leading with epoch ${lease.epoch}; lease renewed`;
    } catch (err) {
      // 3. Lost: someone else holds a newer epoch; never touch their lock.
      if (err instanceof LockLostError) return this.stepDown(`stepped down from epoch ${lease.epoch} because ${err.message}`, false);
      // 4. Unreachable: keep leading only until the renew deadline.
      if (this.o.clock.now() >= this.deadline()) {
        return this.stepDown(`stepped down from epoch ${lease.epoch} because the lock could not be renewed for ${this.o.renewDeadlineMs} ms (${errorMessage(err)})`, true);
      }
      return `still leading epoch ${lease.epoch} for ${Math.round(this.deadline() - this.o.clock.now())} ms although renewing failed: ${errorMessage(err)}`;
    }
  }

  private async followCycle(): Promise<string> {
    try {
      // 1. Snapshot the leader record.
      this.leader = await withTimeout(this.o.lock.readLeader(), this.o.renewDeadlineMs);
      this.remember(this.leader);
      // A missing or older record (shared volume reset) must not erase what we knew.
      const leader = this.bestRecord && (!this.leader || this.leader.epoch < this.bestRecord.epoch) ? this.bestRecord : this.leader;
      this.o.onFollow?.(leader);
      // 2. After a switchover, leave the lease to the others for a while.
      if (this.o.clock.now() < this.yieldUntil) return `stayed passive for ${Math.round(this.yieldUntil - this.o.clock.now())} ms more after handing over`;
      // 3. Promotion guard: never take over while behind what was acknowledged.
      const veto = this.forcePromotion ? null : ((await this.o.mayPromote?.(leader)) ?? null);
      if (veto) return `stayed passive because ${veto}`;
      // 4. Try to take the lease.
      const start = this.o.clock.now();
      const lease = await withTimeout(this.o.lock.tryAcquire(this.o.candidate, this.o.extras?.(), this.highestSeen), this.o.renewDeadlineMs);
      if (!lease) {
        this.o.onAcquireFailure?.('contended');
        return leader ? `following leader ${leader.node_id} (epoch ${leader.epoch}) at ${leader.url}` : 'stayed passive: the lease is held but no leader record was written yet';
      }
      const prev = lease.previous !== undefined ? lease.previous : leader;
      const why = !prev ? 'no node had ever held the lease' : prev.released ? `${prev.node_id} released the lease of epoch ${prev.epoch}` : `the lease of ${prev.node_id} (epoch ${prev.epoch}) expired`;
      this.lease = lease;
      this.highestSeen = Math.max(this.highestSeen, lease.epoch);
      this.role = 'leader';
      this.validUntil = start + this.o.renewDeadlineMs;
      this.lastRenewAttempt = start;
      this.leader = null;
      const forced = this.forcePromotion;
      this.forcePromotion = false;
      const s = `promoted self to leader with epoch ${lease.epoch} because ${why}${forced ? ' (forced by an operator, skipping the promotion guard)' : ''}`;
      this.promoted = s; // announced by cycle() right after the sentence is logged
      return s;
    } catch (err) {
      this.o.onAcquireFailure?.('error');
      return `stayed passive because the lock backend is unreachable: ${errorMessage(err)}`;
    }
  }

  private async stepDown(sentence: string, release: boolean): Promise<string> {
    const lease = this.lease;
    this.role = 'passive';
    this.lease = null;
    this.validUntil = 0;
    if (lease && release) {
      // After any record write under way: a renew landing after the release would overwrite the
      // "released" record, and passives would wait for the lease to expire instead.
      const released = this.renewChain.then(() => this.o.lock.release(lease, this.o.extras?.()));
      this.renewChain = released.catch(() => {});
      await withTimeout(released, this.o.renewDeadlineMs).catch(() => {});
    }
    this.o.onRoleChange?.('passive', sentence);
    return sentence;
  }

  /**
   * The push-time check behind pre-receive: leader, lease valid on our clock,
   * and our epoch still the highest on the shared volume. When in doubt, refuse.
   */
  async checkWrite(): Promise<WriteCheck> {
    const notLeader = (why: string) => {
      const url = this.role === 'leader' ? null : this.leaderUrl();
      return { ok: false as const, message: url ? `not leader; leader is ${url}` : `not leader; ${why}` };
    };
    if (this.draining) return notLeader('this node is shutting down');
    // Say how late the lease refresh is: a stalled process or lock volume shows up here first.
    const lapsed = () => `lease not renewed in time (last refreshed ${Math.round(this.o.clock.now() - (this.deadline() - this.o.renewDeadlineMs))} ms ago; writes stop after ${this.o.renewDeadlineMs} ms)`;
    if (!this.isWritable()) return notLeader(this.role === 'leader' ? lapsed() : 'no leader is known');
    const epoch = this.lease!.epoch;
    let top: number;
    try {
      top = await withTimeout(this.o.lock.currentEpoch(), Math.max(50, this.deadline() - this.o.clock.now()));
    } catch (err) {
      return notLeader(`cannot confirm the epoch (${errorMessage(err)})`);
    }
    if (top !== epoch) {
      const why = top > epoch ? `a push found epoch ${top} on the shared volume` : `a push found the shared volume's newest epoch at ${top}, below ours: it was reset or replaced`;
      const s = await this.stepDown(`stepped down from epoch ${epoch} because ${why}`, false);
      this.o.log.info('ha', { msg: s, role: this.role, epoch: top });
      this.lastSentence = s;
      this.wake();
      return notLeader(top > epoch ? `epoch ${top} is newer than ours` : 'the shared volume was reset');
    }
    // The same checks again: the epoch read took time.
    if (this.draining) return notLeader('this node is shutting down');
    if (this.role !== 'leader' || this.lease?.epoch !== epoch) return notLeader(`it stopped leading epoch ${epoch} while checking`);
    if (!this.isWritable()) return notLeader(lapsed());
    return { ok: true, epoch };
  }

  /**
   * Record writes never overlap, and each takes the replication facts at the
   * moment it starts: an older write (say, an in-sync set that still lists a
   * passive) can never land after a newer one.
   */
  private renewChain: Promise<unknown> = Promise.resolve();
  private renewSerially(lease: Lease): Promise<number> {
    const next = this.renewChain.then(() => this.o.lock.renew(lease, this.o.extras?.()));
    this.renewChain = next.catch(() => {});
    return next;
  }

  /** Rewrite the leader record now (e.g. the in-sync set shrank); throws if that fails. */
  async publishNow(): Promise<void> {
    const lease = this.lease;
    if (this.role !== 'leader' || !lease) throw new StargateError('NOT_LEADER', `cannot publish the leader record: this node is ${this.role}`);
    const fresh = await withTimeout(this.renewSerially(lease), this.o.renewDeadlineMs);
    if (this.lease === lease) this.validUntil = Math.max(this.validUntil, fresh + this.o.renewDeadlineMs);
  }

  /** Skip the promotion guard once (operator override: may lose acknowledged pushes). */
  forcePromotion = false;

  /** Stop accepting writes at once (shutdown or switchover), keeping the lease until release. */
  drain(): void {
    this.draining = true;
  }

  /**
   * Give the lease up on purpose. With yieldMs, stay passive that long so
   * another node takes over (switchover); otherwise stop the loop (shutdown).
   */
  async handOver(reason: string, yieldMs: number | null): Promise<string> {
    while (this.running) await this.running;
    if (this.timer) clearTimeout(this.timer);
    if (yieldMs === null) this.stopped = true;
    else this.yieldUntil = this.o.clock.now() + yieldMs;
    let s = `stayed passive: ${reason}`;
    if (this.role === 'leader') s = await this.stepDown(`released the lease of epoch ${this.lease!.epoch} because ${reason}`, true);
    this.draining = false;
    this.o.log.info('ha', { msg: s, role: this.role, epoch: this.epoch });
    this.lastSentence = s;
    if (!this.stopped) this.schedule();
    return s;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    while (this.running) await this.running;
  }
}

export function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let t: NodeJS.Timeout;
  return Promise.race([
    p,
    new Promise<T>((_, reject) => {
      t = setTimeout(() => reject(new LockUnavailableError(`lock backend did not answer within ${Math.round(ms)} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(t));
}
