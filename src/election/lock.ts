/**
 * The leader lock: the only thing backends (shared directory, etcd, memory)
 * implement. Small on purpose; the elector owns every decision.
 */

/** What passives read to find whom to follow. Plain data, written by the leader on every renew. */
export interface LeaderRecord {
  node_id: string;
  url: string;
  epoch: number;
  /** Wall clock of the last renewal, for humans and status; never used for local deadlines. */
  renewed_at: string;
  lease_ms: number;
  /** Replication mode of the leader and the passives it counts as in sync (promotion guard). */
  replication?: { mode: string; in_sync: string[]; degraded: boolean };
  /** Set when the leader gave the lease up on purpose (shutdown, switchover). */
  released?: boolean;
  /** A node that should not take the lease back right after a switchover, until this wall time. */
  yield_until?: string;
}

export interface Candidate {
  nodeId: string;
  url: string;
}

export interface Lease {
  readonly nodeId: string;
  readonly url: string;
  readonly epoch: number;
  /** The leader record this acquisition replaced, read under the lock (when the backend can tell). */
  readonly previous?: LeaderRecord | null;
}

export type RecordExtras = Pick<LeaderRecord, 'replication' | 'released' | 'yield_until'>;

export interface LeaderLock {
  readonly kind: string;
  readonly leaseMs: number;
  /**
   * Take the lease if nobody holds it (or the holder's lease expired) and
   * allocate a new epoch strictly greater than every earlier one and than
   * `floor` (the highest epoch this node has seen: a shared directory that was
   * reset or replaced must not hand out old epochs again). Returns null
   * when another live node holds it. Never waits. Throws LockUnavailableError
   * when the backend cannot be reached.
   */
  tryAcquire(candidate: Candidate, extras?: RecordExtras, floor?: number): Promise<Lease | null>;
  /**
   * Extend the lease and rewrite the leader record. Resolves to the local
   * monotonic time from which the lease is known to be fresh for others (the
   * start of the last successful write that extended it). Throws LockLostError
   * when the lease is not ours any more, LockUnavailableError when unreachable.
   */
  renew(lease: Lease, extras?: RecordExtras): Promise<number>;
  /**
   * For backends that extend the lease on a timer of their own (proper-lockfile): the local
   * monotonic time of the last such extension of `lease`, or null when it is not held or was
   * compromised. Read without I/O, so the leader's deadline follows each refresh at once
   * instead of at its next renew.
   */
  refreshedAt?(lease: Lease): number | null;
  /** Give the lease up so another node can take it at once. Best effort, idempotent. */
  release(lease: Lease, extras?: RecordExtras): Promise<void>;
  /** The last leader record, or null if none was ever written. */
  readLeader(): Promise<LeaderRecord | null>;
  /** The highest epoch ever allocated (0 if none). Throws LockUnavailableError when unreachable. */
  currentEpoch(): Promise<number>;
  close(): Promise<void>;
}
