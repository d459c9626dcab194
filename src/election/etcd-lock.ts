/**
 * etcd lock backend, for sites without a trustworthy shared volume.
 *
 * Keys under the prefix (default /stargate/):
 *   leader   attached to an etcd lease; exists only while a node holds the lock.
 *            Its create_revision is the epoch (fencing token) of that holder.
 *   epoch    written in the same transaction that creates `leader`, never
 *            leased: its mod_revision is the newest epoch ever allocated, even
 *            after the holder's lease expired.
 *   record   the leader record (JSON) passives read; only the holder of the
 *            newest epoch can write it (compare-and-put on `epoch`).
 *
 * etcd revisions only grow, so every acquisition gets a strictly greater epoch
 * and a deposed holder sees the newer one on its next read.
 *
 * Timing: etcd leases are whole seconds and etcd revokes expired ones on a
 * 500 ms tick. The TTL is --lease-ms minus that tick, rounded down to whole
 * seconds (etcdLeaseTtlSeconds; config requires at least 2 s, etcd's minimum),
 * so a dead leader is replaced within --lease-ms. etcd can only expire the
 * lease TTL seconds after it received our last keepalive, and renew() reports
 * the local time at which that keepalive was *sent*; config keeps the renew
 * deadline below the TTL, so a deposed leader stops writing before etcd can
 * hand the lock to anyone else.
 */
import { noop } from 'cockatiel';
import {
  Etcd3,
  EtcdLeaseInvalidError,
  castGrpcError,
  type IKeyValue,
  type ILeaseKeepAliveResponse,
  type ITxnResponse,
  type Namespace,
} from 'etcd3';
import { ETCD_EXPIRY_CHECK_MS, etcdLeaseTtlSeconds } from '../config.js';
import { ConfigError, LockLostError, LockUnavailableError, StargateError, errorMessage } from '../errors.js';
import { systemClock, type Clock } from '../util/clock.js';
import type { Candidate, LeaderLock, LeaderRecord, Lease, RecordExtras } from './lock.js';

export interface EtcdLockOptions {
  /** Key prefix; one Stargate cluster per prefix. */
  prefix?: string;
  /**
   * Budget of one etcd operation (default lease/4, between 200 and 2000 ms). With several
   * members it is split into one attempt per member, so a hung member costs one slice.
   */
  callTimeoutMs?: number;
  clock?: Clock;
}

interface Held {
  lease: Lease;
  /** etcd lease id (int64 as a decimal string). */
  id: string;
}

const LEADER = 'leader';
const EPOCH = 'epoch';
const RECORD = 'record';

export class EtcdLock implements LeaderLock {
  readonly kind = 'etcd';
  readonly prefix: string;
  private readonly ttlSeconds: number;
  private readonly callTimeoutMs: number;
  /** Deadline of one attempt on one member. */
  private readonly attemptMs: number;
  private readonly clock: Clock;
  /** One client per member: calls stick to the member that last answered and move on when it fails. */
  private readonly members: { endpoint: string; client: Etcd3; ns: Namespace }[];
  private current = 0;
  private held: Held | null = null;
  /** Lease changes (acquire, renew, release) run one at a time, even if a caller stopped waiting. */
  private queue: Promise<unknown> = Promise.resolve();
  /**
   * Leases we gave up but could not revoke (etcd was unreachable). etcd
   * restores leases with a fresh TTL when it restarts, so revoking them as soon
   * as etcd answers again lets another node take over without waiting a lease.
   */
  private readonly orphans = new Set<string>();
  /** TTL etcd actually granted (it may lengthen short leases); published as lease_ms. */
  private grantedTtl: number;

  constructor(readonly endpoints: string[], readonly leaseMs: number, opts: EtcdLockOptions = {}) {
    if (endpoints.length === 0) throw new LockUnavailableError('etcd: no endpoints given');
    this.prefix = opts.prefix ?? '/stargate/';
    this.ttlSeconds = Math.max(1, etcdLeaseTtlSeconds(leaseMs));
    this.grantedTtl = this.ttlSeconds;
    this.callTimeoutMs = opts.callTimeoutMs ?? Math.min(2000, Math.max(200, Math.floor(leaseMs / 4)));
    this.clock = opts.clock ?? systemClock;
    const attemptMs = (this.attemptMs = Math.max(100, Math.floor(this.callTimeoutMs / endpoints.length)));
    this.members = endpoints.map((endpoint) => {
      const client = new Etcd3({
        hosts: endpoint,
        // Every call carries a deadline: a hung member (or a black-holed route) costs one attempt, never a stuck loop.
        defaultCallOptions: () => ({ deadline: Date.now() + attemptMs }),
        // Reconnect quickly once etcd is back (gRPC's default backoff grows to two minutes).
        grpcOptions: { 'grpc.initial_reconnect_backoff_ms': 100, 'grpc.max_reconnect_backoff_ms': 1000 },
        // No circuit breaker or retry inside the client: call() chooses the member and retries.
        faultHandling: { host: () => noop, global: noop },
      });
      return { endpoint, client, ns: client.namespace(this.prefix) };
    });
  }

  tryAcquire(c: Candidate, extras: RecordExtras = {}): Promise<Lease | null> {
    return this.serial(async () => {
      // A previous acquisition the caller gave up waiting for: drop it, its freshness is unknown.
      if (this.held) await this.dropHeld(this.held);
      // 1. Cheap linearizable read first, so passives polling a live leader do not churn leases.
      const current = await this.call((ns) => ns.get(LEADER).exec());
      // A lease this node gave up during an outage may still hold the key (etcd restores leases
      // with a fresh TTL when it restarts): revoke it now rather than wait it out.
      const holder = current.kvs[0];
      if (this.orphans.size > 0) {
        const ours = holder !== undefined && this.orphans.has(holder.lease);
        await Promise.all([...this.orphans].map((id) => this.revoke(id)));
        if (ours && this.orphans.has(holder.lease)) return null;
        if (!ours && holder) return null;
      } else if (holder) return null;
      // 2. A new etcd lease; its TTL starts when etcd grants it, after the caller's start time.
      const grant = await this.call((ns) => ns.leaseClient.leaseGrant({ TTL: this.ttlSeconds, ID: 0 }));
      const id = grant.ID;
      this.grantedTtl = Math.max(this.ttlSeconds, Number(grant.TTL) || this.ttlSeconds);
      try {
        // 3. Create the leader key only if absent; the epoch key moves to the same revision.
        const txn = await this.call((ns) =>
          ns
            .if(LEADER, 'Create', '==', 0)
            .then(ns.put(LEADER).value(c.nodeId).lease(id), ns.put(EPOCH).value(c.nodeId), ns.get(RECORD))
            .else(ns.get(LEADER))
            .commit(),
        );
        let epoch: number;
        // The record as the previous leader left it (released or not), read in the transaction that
        // took the key: what the promotion sentence cites. A retried transaction has none to give.
        let previous: LeaderRecord | null | undefined;
        if (txn.succeeded) {
          epoch = Number(txn.header.revision);
          previous = parseRecord(txn.responses[2]?.response_range?.kvs[0]);
        } else {
          // A retried transaction may have applied already: then the key carries our lease.
          const kv = rangeKv(txn);
          if (!kv || kv.lease !== id) {
            void this.revoke(id);
            return null;
          }
          epoch = Number(kv.create_revision);
        }
        const lease: Lease = { nodeId: c.nodeId, url: c.url, epoch, previous };
        this.held = { lease, id };
        // 4. Publish the leader record for passives.
        if (!(await this.writeRecord(lease, extras, [LEADER, 'Create', epoch]))) {
          this.held = null;
          void this.revoke(id);
          return null;
        }
        return lease;
      } catch (err) {
        this.held = null;
        void this.revoke(id);
        throw err;
      }
    });
  }

  renew(lease: Lease, extras: RecordExtras = {}): Promise<number> {
    return this.serial(async () => {
      const h = this.mine(lease);
      // 1. Keepalive: etcd restarts the TTL when it receives this, which is after `sent`.
      const sent = this.clock.now();
      const res = await this.keepalive(h.id);
      if (Number(res.TTL) <= 0) throw this.lost(`the etcd lease of epoch ${lease.epoch} expired`);
      // 2. Rewrite the record only while the leader key is still the one we created.
      if (!(await this.writeRecord(lease, extras, [LEADER, 'Create', lease.epoch]))) {
        const top = await this.currentEpoch().catch(() => 0);
        throw this.lost(top > lease.epoch ? `epoch ${top} in etcd is newer than ours (${lease.epoch})` : `the leader key of epoch ${lease.epoch} is gone from etcd`);
      }
      return sent;
    });
  }

  release(lease: Lease, extras: RecordExtras = {}): Promise<void> {
    return this.serial(async () => {
      const h = this.held;
      if (!h || h.lease.epoch !== lease.epoch) return;
      this.held = null;
      // Mark the record released and delete the leader key in one step, only if still ours.
      await this.call((ns) =>
        ns
          .if(LEADER, 'Create', '==', lease.epoch)
          .then(ns.put(RECORD).value(JSON.stringify(this.record(lease, { ...extras, released: true }))), ns.delete().key(LEADER))
          .commit(),
      ).catch(() => {});
      await this.revoke(h.id);
    });
  }

  async readLeader(): Promise<LeaderRecord | null> {
    const res = await this.call((ns) => ns.get(RECORD).exec());
    return parseRecord(res.kvs[0]);
  }

  async currentEpoch(): Promise<number> {
    const res = await this.call((ns) => ns.get(EPOCH).exec());
    return res.kvs[0] ? Number(res.kvs[0].mod_revision) : 0;
  }

  async close(): Promise<void> {
    if (this.held) await this.release(this.held.lease).catch(() => {});
    await this.queue.catch(() => {});
    for (const m of this.members) m.client.close();
  }

  /** Put the record if `cmp` holds; false when it does not (the lease is not ours). */
  private async writeRecord(lease: Lease, extras: RecordExtras, cmp: [string, 'Create', number]): Promise<boolean> {
    const txn = await this.call((ns) =>
      ns
        .if(cmp[0], cmp[1], '==', cmp[2])
        .and(EPOCH, 'Mod', '==', lease.epoch)
        .then(ns.put(RECORD).value(JSON.stringify(this.record(lease, extras))))
        .commit(),
    );
    return txn.succeeded;
  }

  private record(lease: Lease, extras: RecordExtras): LeaderRecord {
    return {
      node_id: lease.nodeId,
      url: lease.url,
      epoch: lease.epoch,
      renewed_at: new Date(this.clock.wall()).toISOString(),
      // How long a dead holder can block others: the lease, or more if etcd granted a longer TTL.
      lease_ms: Math.max(this.leaseMs, this.grantedTtl * 1000 + ETCD_EXPIRY_CHECK_MS),
      ...extras,
    };
  }

  /** One keepalive on a short-lived stream (bounded by the call deadline). */
  private keepalive(id: string): Promise<ILeaseKeepAliveResponse> {
    return this.call(async (ns) => {
      const stream = await ns.leaseClient.leaseKeepAlive();
      try {
        return await new Promise<ILeaseKeepAliveResponse>((resolve, reject) => {
          stream.on('data', resolve);
          stream.on('error', (err: Error) => reject(castGrpcError(err)));
          stream.on('end', () => reject(new LockUnavailableError('etcd closed the keepalive stream')));
          stream.write({ ID: id });
        });
      } finally {
        // Half-close: etcd ends the stream; later errors were already caught above.
        stream.end();
      }
    });
  }

  /** Best effort; on failure remember the lease and retry on the next acquisition attempt. */
  private async revoke(id: string): Promise<void> {
    try {
      await this.call((ns) => ns.leaseClient.leaseRevoke({ ID: id }));
      this.orphans.delete(id);
    } catch (err) {
      if (err instanceof LockLostError) this.orphans.delete(id); // already gone in etcd
      else this.orphans.add(id);
    }
  }

  private async dropHeld(h: Held): Promise<void> {
    this.held = null;
    await this.call((ns) => ns.if(LEADER, 'Create', '==', h.lease.epoch).then(ns.delete().key(LEADER)).commit()).catch(() => {});
    await this.revoke(h.id);
  }

  private mine(lease: Lease): Held {
    const h = this.held;
    if (!h || h.lease.epoch !== lease.epoch) throw new LockLostError(`epoch ${lease.epoch} is not held by this node`);
    return h;
  }

  private lost(why: string): LockLostError {
    const h = this.held;
    this.held = null;
    if (h) void this.revoke(h.id);
    return new LockLostError(why);
  }

  private serial<T>(op: () => Promise<T>): Promise<T> {
    const run = this.queue.then(op, op);
    this.queue = run.catch(() => {});
    return run;
  }

  /**
   * Every etcd call goes through here: up to one attempt per member, starting
   * with the one that answered last, each with a local deadline on top of
   * gRPC's, and client errors turned into the lock's two error types. Every
   * operation retried here is idempotent or checks whether its first attempt
   * applied (tryAcquire).
   */
  private async call<T>(fn: (ns: Namespace) => Promise<T>): Promise<T> {
    let last: StargateError | null = null;
    for (let attempt = 0; attempt < this.members.length; attempt++) {
      const i = this.current;
      try {
        return await this.attempt(this.members[i].endpoint, () => fn(this.members[i].ns));
      } catch (err) {
        last = err as StargateError;
        if (!(last instanceof LockUnavailableError)) throw last;
        // Move on to the next member, unless a concurrent call already did.
        if (this.current === i) this.current = (i + 1) % this.members.length;
      }
    }
    if (this.members.length > 1) throw new LockUnavailableError(`no etcd member answered (${this.members.length} tried); last: ${last!.message}`);
    throw last!;
  }

  private async attempt<T>(endpoint: string, fn: () => Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    try {
      return await Promise.race([
        fn(),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new LockUnavailableError(`etcd ${endpoint} did not answer within ${this.attemptMs} ms`)), this.attemptMs + 50);
        }),
      ]);
    } catch (err) {
      throw this.translate(endpoint, err);
    } finally {
      clearTimeout(timer);
    }
  }

  private translate(endpoint: string, err: unknown): StargateError {
    if (err instanceof StargateError) return err;
    if (err instanceof EtcdLeaseInvalidError) return new LockLostError(`etcd lease is gone: ${errorMessage(err)}`);
    return new LockUnavailableError(`etcd ${endpoint}: ${errorMessage(err)}`, { cause: (err as Error)?.name });
  }
}

function parseRecord(kv: IKeyValue | undefined): LeaderRecord | null {
  if (!kv) return null;
  try {
    return JSON.parse(kv.value.toString('utf8')) as LeaderRecord;
  } catch {
    return null;
  }
}

function rangeKv(txn: ITxnResponse): IKeyValue | undefined {
  return txn.responses[0]?.response_range?.kvs[0];
}

/** `etcd://HOST:PORT[,HOST:PORT][/PREFIX]` → endpoints and key prefix. */
export function parseEtcdUrl(url: string): { endpoints: string[]; prefix: string } {
  const m = /^etcd:\/\/([^/]+)(\/.*)?$/.exec(url);
  if (!m) throw new ConfigError(`--lock ${url}: expected etcd://HOST:PORT[,HOST:PORT][/PREFIX]`);
  const endpoints = m[1].split(',').filter(Boolean);
  let prefix = m[2] && m[2] !== '/' ? m[2] : '/stargate';
  if (!prefix.endsWith('/')) prefix += '/';
  return { endpoints, prefix };
}
