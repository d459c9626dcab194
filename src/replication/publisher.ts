/**
 * Leader side of replication: numbers accepted pushes, tells subscribed
 * passives about them (server-sent events), collects their acks, and keeps
 * the in-sync set: the passives that hold every acknowledged push.
 *
 * In sync modes a push is acknowledged only when every in-sync passive has
 * acked it. A passive that does not ack in time is dropped from the set, and
 * the smaller set is published in the leader record *before* the push is
 * acknowledged, so the promotion guard never lets a passive that misses an
 * acknowledged push take over.
 */
import type { ServerResponse } from 'node:http';
import type { ReplicationMode } from '../config.js';
import type { Logger } from '../log.js';
import type { Clock } from '../util/clock.js';
import type { Ack, ChangeEvent } from './protocol.js';

interface Waiter {
  repo: string;
  seq: number;
  need: Set<string>;
  /** A passive left the set (or went away) without confirming. */
  missed: boolean;
  resolve: (outcome: 'confirmed' | 'settled' | 'ended') => void;
}

export interface Subscriber {
  nodeId: string;
  url: string;
  res: ServerResponse | null;
  connectedAt: number;
  lastAckAt: number;
  /** Highest seq acked per repository. */
  acked: Map<string, number>;
  /** All repositories held as of this seq (from a full ack), or -1. */
  fullAt: number;
  inSync: boolean;
}

export class Publisher {
  seq = 0;
  epoch = 0;
  /** True between begin() and end(): only then may a push be acknowledged. */
  private active = false;
  private readonly lastSeq = new Map<string, number>();
  private readonly commitAt = new Map<number, number>();
  readonly subs = new Map<string, Subscriber>();
  private waiters: Waiter[] = [];
  degraded = false;
  private ping: NodeJS.Timeout | null = null;

  constructor(
    private readonly mode: ReplicationMode,
    private readonly timeoutMs: number,
    private readonly clock: Clock,
    private readonly log: Logger,
    /** Persist the in-sync set (leader record) now; resolves when written. */
    private readonly publishSet: () => Promise<void>,
    private readonly onDegraded: (degraded: boolean) => void,
    /** Whether this node still leads `epoch` with a valid lease (the elector's view). */
    private readonly leading: (epoch: number) => boolean = () => true,
  ) {}

  /** Start a new term: sequence numbers and subscriptions belong to one epoch. */
  begin(epoch: number): void {
    this.end();
    this.epoch = epoch;
    this.active = true;
    this.seq = 0;
    this.lastSeq.clear();
    this.commitAt.clear();
    this.setDegraded(this.mode !== 'async');
    this.ping = setInterval(() => {
      for (const s of this.subs.values()) s.res?.write(': ping\n\n');
    }, 5000);
    this.ping.unref();
  }

  end(): void {
    this.active = false;
    if (this.ping) clearInterval(this.ping);
    this.ping = null;
    for (const s of this.subs.values()) s.res?.end();
    this.subs.clear();
    for (const w of this.waiters.splice(0)) w.resolve('ended');
  }

  inSyncIds(): string[] {
    return [...this.subs.values()].filter((s) => s.inSync).map((s) => s.nodeId).sort();
  }

  subscribe(nodeId: string, url: string, res: ServerResponse): void {
    const old = this.subs.get(nodeId);
    if (old) void this.drop(old, 'it reconnected');
    const now = this.clock.now();
    const sub: Subscriber = { nodeId, url, res, connectedAt: now, lastAckAt: now, acked: new Map(), fullAt: -1, inSync: false };
    this.subs.set(nodeId, sub);
    res.on('close', () => {
      if (this.subs.get(nodeId) === sub) void this.drop(sub, 'its event stream closed');
    });
    this.log.info('replication', { msg: `passive ${nodeId} subscribed from ${url}`, peer: nodeId });
  }

  ack(a: Ack): { ok: boolean; error?: string } {
    if (a.epoch !== this.epoch) return { ok: false, error: `ack for epoch ${a.epoch}, leader is in epoch ${this.epoch}` };
    const sub = this.subs.get(a.node_id);
    if (!sub) return { ok: false, error: 'not subscribed' };
    sub.lastAckAt = this.clock.now();
    if (a.full) sub.fullAt = Math.max(sub.fullAt, a.seq);
    else if (a.repo) sub.acked.set(a.repo, Math.max(sub.acked.get(a.repo) ?? -1, a.seq));
    if (!sub.inSync && this.holdsEverything(sub)) {
      sub.inSync = true;
      this.log.info('replication', { msg: `passive ${sub.nodeId} is in sync (holds every push up to seq ${this.seq})`, peer: sub.nodeId });
      if (this.degraded) this.setDegraded(false);
      void this.publishSet().catch(() => {});
    }
    this.settleWaiters();
    return { ok: true };
  }

  private holds(sub: Subscriber, repo: string, seq: number): boolean {
    return sub.fullAt >= seq || (sub.acked.get(repo) ?? -1) >= seq;
  }

  private holdsEverything(sub: Subscriber): boolean {
    if (sub.fullAt < 0) return false;
    for (const [repo, seq] of this.lastSeq) if (!this.holds(sub, repo, seq)) return false;
    return true;
  }

  /**
   * A push to `repo` was accepted (refs moved). Tell subscribers, and in sync
   * modes wait for the in-sync set. Resolves to an error string when the
   * push must not be acknowledged: sync-strict with nobody to confirm it, or
   * this node stopped leading before every in-sync passive held it.
   */
  async committed(repo: string): Promise<{ error?: string }> {
    const epoch = this.epoch;
    // A term that ended (the node was deposed, e.g. frozen past its lease) acknowledges nothing:
    // the new leader may not hold this push. It is kept as diverged when this node mirrors again.
    const lost = () => (this.active && this.epoch === epoch && this.leading(epoch) ? null : { error: `sync refused: this node stopped leading epoch ${epoch} before the push was confirmed` });
    if (!this.active) return lost()!;
    const seq = ++this.seq;
    this.lastSeq.set(repo, seq);
    this.commitAt.set(seq, this.clock.now());
    if (this.commitAt.size > 10_000) this.commitAt.delete(seq - 10_000);
    const ev: ChangeEvent = { repo, seq, epoch: this.epoch };
    const line = `data: ${JSON.stringify(ev)}\n\n`;
    for (const s of this.subs.values()) s.res?.write(line);
    if (this.mode === 'async') return {};

    const need = new Set([...this.subs.values()].filter((s) => s.inSync && !this.holds(s, repo, seq)).map((s) => s.nodeId));
    // 'confirmed': every passive in sync at commit time holds the push; 'settled': some left the set.
    let outcome: 'confirmed' | 'settled' | 'ended' | 'late' = this.inSyncIds().length > 0 ? 'confirmed' : 'settled';
    if (need.size > 0) {
      const done = new Promise<'confirmed' | 'settled' | 'ended'>((resolve) => this.waiters.push({ repo, seq, need, missed: false, resolve }));
      let timer: NodeJS.Timeout | undefined;
      outcome = await Promise.race([done, new Promise<'late'>((r) => (timer = setTimeout(() => r('late'), this.timeoutMs)))]);
      clearTimeout(timer);
    }
    if (outcome === 'ended') return lost()!;
    if (outcome === 'late') {
      const w = this.waiters.find((x) => x.repo === repo && x.seq === seq);
      this.waiters = this.waiters.filter((x) => x !== w);
      for (const id of w?.need ?? []) {
        const s = this.subs.get(id);
        if (s) await this.demote(s, `it did not confirm push ${seq} within ${this.timeoutMs} ms`);
      }
    }
    if (this.inSyncIds().length === 0) {
      // Nobody to confirm: sync degrades to async; sync-strict refuses.
      if (this.mode === 'sync-strict') return { error: outcome === 'late' ? `sync refused: no passive confirmed this push within ${this.timeoutMs} ms` : 'sync refused: no in-sync passive holds this push' };
      this.setDegraded(true);
    }
    // A smaller in-sync set must be on the shared volume before we acknowledge anything, or a
    // passive that lacks this push could still be promoted. A publish that failed earlier (e.g.
    // during a lock-volume outage) is retried now rather than held forever; the leader record is
    // fenced, so a deposed node cannot publish.
    if (!(await this.pendingPublish) && !(await this.publish())) return { error: 'sync refused: the smaller in-sync set could not be recorded on the lock backend' };
    // Every passive in sync when the push landed holds it: safe whoever leads next (only they
    // may be promoted). Otherwise this node must still be leading.
    return outcome === 'confirmed' ? {} : (lost() ?? {});
  }

  private pendingPublish: Promise<boolean> = Promise.resolve(true);

  private publish(): Promise<boolean> {
    this.pendingPublish = this.publishSet().then(
      () => true,
      (err: Error) => {
        this.log.error('replication', { msg: `could not publish the in-sync set: ${err.message}` });
        return false;
      },
    );
    return this.pendingPublish;
  }

  private async demote(sub: Subscriber, why: string): Promise<void> {
    if (!sub.inSync) return;
    sub.inSync = false;
    this.log.warn('replication', { msg: `passive ${sub.nodeId} is out of sync because ${why}`, peer: sub.nodeId });
    await this.publish();
    this.settleWaiters();
  }

  private async drop(sub: Subscriber, why: string): Promise<void> {
    this.subs.delete(sub.nodeId);
    sub.res?.end();
    sub.res = null;
    this.log.info('replication', { msg: `passive ${sub.nodeId} unsubscribed because ${why}`, peer: sub.nodeId });
    if (sub.inSync) {
      sub.inSync = false;
      await this.publish();
    }
    this.settleWaiters();
  }

  private settleWaiters(): void {
    this.waiters = this.waiters.filter((w) => {
      for (const id of [...w.need]) {
        const s = this.subs.get(id);
        if (s && s.inSync && !this.holds(s, w.repo, w.seq)) continue;
        if (!s || !s.inSync) w.missed = true;
        w.need.delete(id);
      }
      if (w.need.size > 0) return true;
      w.resolve(w.missed ? 'settled' : 'confirmed');
      return false;
    });
  }

  private setDegraded(d: boolean): void {
    if (this.degraded === d) return;
    this.degraded = d;
    if (this.mode !== 'async') {
      this.log.warn('replication', {
        msg: d ? `sync replication degraded to async because no passive is in sync` : 'sync replication restored: a passive is in sync',
      });
    }
    this.onDegraded(d);
  }

  /** Lag of a passive: age of the oldest push it has not acked (0 when it holds everything). */
  lagMs(sub: Subscriber): number {
    let oldest = Infinity;
    for (const [repo, seq] of this.lastSeq) {
      if (this.holds(sub, repo, seq)) continue;
      // the first seq of this repo it lacks is at most `seq`; use the commit time of the lowest lacking one we know
      for (let s = Math.max(sub.fullAt + 1, (sub.acked.get(repo) ?? -1) + 1); s <= seq; s++) {
        const t = this.commitAt.get(s);
        if (t !== undefined) {
          oldest = Math.min(oldest, t);
          break;
        }
      }
    }
    return oldest === Infinity ? 0 : Math.round(this.clock.now() - oldest);
  }

  peers(): Array<Record<string, unknown>> {
    return [...this.subs.values()].map((s) => ({
      node_id: s.nodeId,
      url: s.url,
      role: 'passive',
      in_sync: s.inSync,
      lag_ms: this.lagMs(s),
      last_ack_ms_ago: Math.round(this.clock.now() - s.lastAckAt),
    }));
  }
}
