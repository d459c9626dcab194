/**
 * Shared-directory lock backend.
 *
 * Layout of --shared-dir (coordination state only, never repositories):
 *   leader.lock/     proper-lockfile's mkdir lock; its mtime is the lease heartbeat
 *   epochs/<N>/      one directory per acquisition; mkdir is the atomic allocator
 *   leader.json      the leader record, replaced atomically (write + rename)
 *
 * proper-lockfile alone is not a mutex under contention (two processes can
 * both "remove the stale lock and take it"), so every acquisition allocates a
 * new epoch and only the holder of the highest epoch may write.
 */
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import lockfile from 'proper-lockfile';
import { LockLostError, LockUnavailableError, errorMessage } from '../errors.js';
import { systemClock, type Clock } from '../util/clock.js';
import type { Candidate, LeaderLock, LeaderRecord, Lease, RecordExtras } from './lock.js';

/** Epoch directories kept for post-mortems (their mtimes say when each leadership began). */
const KEEP_EPOCHS = 1000;

interface Held {
  lease: Lease;
  release: () => Promise<void>;
  /** Monotonic start time of the last successful mtime refresh (or the acquiring mkdir). */
  freshSince: number;
  compromised: Error | null;
  /** When set, unlocking leaves the lock directory alone: it may be another holder's by now. */
  keepDir: boolean;
}

export class FileLock implements LeaderLock {
  readonly kind = 'file';
  private held: Held | null = null;
  private writes = 0;
  private readonly lockPath: string;
  private readonly epochsDir: string;
  private readonly recordPath: string;

  constructor(readonly dir: string, readonly leaseMs: number, private readonly clock: Clock = systemClock) {
    this.lockPath = path.join(dir, 'leader.lock');
    this.epochsDir = path.join(dir, 'epochs');
    this.recordPath = path.join(dir, 'leader.json');
    fs.mkdirSync(this.epochsDir, { recursive: true });
  }

  async tryAcquire(c: Candidate, extras: RecordExtras = {}, floor = 0): Promise<Lease | null> {
    if (this.held) throw new Error('tryAcquire while holding the lease');
    const state: Held = { lease: null as unknown as Lease, release: async () => {}, freshSince: 0, compromised: null, keepDir: false };
    const start = this.clock.now();
    let release: () => Promise<void>;
    try {
      release = await lockfile.lock(path.join(this.dir, `leader-${c.nodeId}`), {
        lockfilePath: this.lockPath,
        realpath: false,
        stale: this.leaseMs,
        update: Math.floor(this.leaseMs / 3),
        retries: 0,
        fs: this.trackingFs(state),
        onCompromised: (err) => {
          state.compromised = err;
        },
      });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ELOCKED') return null;
      throw new LockUnavailableError(`shared directory ${this.dir}: ${errorMessage(err)}`);
    }
    state.freshSince = start;
    state.release = release;
    try {
      const previous = await this.readLeader();
      const epoch = await this.allocateEpoch(floor);
      state.lease = { nodeId: c.nodeId, url: c.url, epoch, previous };
      this.held = state;
      await this.writeRecord(state.lease, extras);
      return state.lease;
    } catch (err) {
      this.held = null;
      await release().catch(() => {});
      throw new LockUnavailableError(`shared directory ${this.dir}: ${errorMessage(err)}`);
    }
  }

  async renew(lease: Lease, extras: RecordExtras = {}): Promise<number> {
    const h = this.mine(lease);
    if (h.compromised) throw this.lost(h, `lock compromised: ${h.compromised.message}`);
    const top = await this.currentEpoch();
    if (top > lease.epoch) {
      // Someone else won a later election; the lock directory is theirs now.
      h.keepDir = true;
      throw this.lost(h, `epoch ${top} on the shared volume is newer than ours (${lease.epoch})`);
    }
    if (top < lease.epoch) {
      h.keepDir = true;
      throw this.lost(h, `the shared volume's newest epoch is ${top}, below ours (${lease.epoch}): it was reset or replaced`);
    }
    // Released (or lost) while reading the epoch: the record is no longer ours to write.
    if (this.held !== h) throw new LockLostError(`epoch ${lease.epoch} was released while renewing`);
    try {
      await this.writeRecord(lease, extras);
    } catch (err) {
      throw new LockUnavailableError(`shared directory ${this.dir}: ${errorMessage(err)}`);
    }
    return h.freshSince;
  }

  refreshedAt(lease: Lease): number | null {
    const h = this.held;
    return h && h.lease.epoch === lease.epoch && !h.compromised ? h.freshSince : null;
  }

  async release(lease: Lease, extras: RecordExtras = {}): Promise<void> {
    const h = this.held;
    if (!h || h.lease.epoch !== lease.epoch) return;
    this.held = null;
    if (!h.compromised && !h.keepDir) {
      // Mark the record first so passives see "released" even before the lock dir goes.
      await this.writeRecord(lease, { ...extras, released: true }).catch(() => {});
    }
    await h.release().catch(() => {});
  }

  async readLeader(): Promise<LeaderRecord | null> {
    try {
      return JSON.parse(await fsp.readFile(this.recordPath, 'utf8')) as LeaderRecord;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
      if (err instanceof SyntaxError) return null;
      throw new LockUnavailableError(`shared directory ${this.dir}: ${errorMessage(err)}`);
    }
  }

  async currentEpoch(): Promise<number> {
    try {
      return maxEpoch(await fsp.readdir(this.epochsDir));
    } catch (err) {
      throw new LockUnavailableError(`shared directory ${this.dir}: ${errorMessage(err)}`);
    }
  }

  async close(): Promise<void> {
    if (this.held) await this.release(this.held.lease);
  }

  /** mkdir is atomic: whoever creates epochs/N owns epoch N. */
  private async allocateEpoch(floor: number): Promise<number> {
    await fsp.mkdir(this.epochsDir, { recursive: true });
    const names = await fsp.readdir(this.epochsDir);
    let n = Math.max(maxEpoch(names), floor) + 1;
    for (;;) {
      try {
        await fsp.mkdir(path.join(this.epochsDir, String(n)));
        break;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
        n++;
      }
    }
    for (const name of names) {
      const e = Number(name);
      if (Number.isInteger(e) && e < n - KEEP_EPOCHS) await fsp.rmdir(path.join(this.epochsDir, name)).catch(() => {});
    }
    return n;
  }

  private async writeRecord(lease: Lease, extras: RecordExtras): Promise<void> {
    const rec: LeaderRecord = {
      node_id: lease.nodeId,
      url: lease.url,
      epoch: lease.epoch,
      renewed_at: new Date(this.clock.wall()).toISOString(),
      lease_ms: this.leaseMs,
      ...extras,
    };
    const tmp = `${this.recordPath}.${lease.nodeId}.${process.pid}.${++this.writes}.tmp`;
    await fsp.writeFile(tmp, JSON.stringify(rec) + '\n');
    // Never let a stale holder overwrite a newer leader's record.
    if ((await this.currentEpoch()) > lease.epoch) {
      await fsp.unlink(tmp).catch(() => {});
      throw new LockLostError(`epoch ${lease.epoch} was superseded`);
    }
    await fsp.rename(tmp, this.recordPath);
  }

  private mine(lease: Lease): Held {
    const h = this.held;
    if (!h || h.lease.epoch !== lease.epoch) throw new LockLostError(`epoch ${lease.epoch} is not held by this node`);
    return h;
  }

  private lost(h: Held, why: string): LockLostError {
    this.held = null;
    void h.release().catch(() => {});
    return new LockLostError(why);
  }

  /**
   * proper-lockfile refreshes the lock's mtime on its own timer; wrap its fs so
   * we know when the lease was last extended, and so a fenced holder does not
   * delete a lock directory that now belongs to the new leader.
   */
  private trackingFs(state: Held): typeof fs {
    const clock = this.clock;
    return {
      ...fs,
      utimes: ((p: fs.PathLike, a: fs.TimeLike, m: fs.TimeLike, cb: fs.NoParamCallback) => {
        const started = clock.now();
        fs.utimes(p, a, m, (err) => {
          if (!err && started > state.freshSince) state.freshSince = started;
          cb(err);
        });
      }) as typeof fs.utimes,
      rmdir: ((p: fs.PathLike, cb: fs.NoParamCallback) => {
        if (state.keepDir || state.compromised) return cb(null);
        fs.rmdir(p, cb);
      }) as typeof fs.rmdir,
      // proper-lockfile removes held locks on process exit with rmdirSync.
      rmdirSync: ((p: fs.PathLike) => {
        if (!state.keepDir && !state.compromised) fs.rmdirSync(p);
      }) as typeof fs.rmdirSync,
    };
  }
}

function maxEpoch(names: string[]): number {
  let max = 0;
  for (const n of names) {
    const e = Number(n);
    if (Number.isInteger(e) && e > max) max = e;
  }
  return max;
}
