/**
 * Replication facade for the node: the leader publishes (publisher.ts), a
 * passive mirrors (mirror.ts). Also the promotion guard and the HTTP routes.
 */
import type { Hono } from 'hono';
import type { HttpBindings } from '@hono/node-server';
import { RESPONSE_ALREADY_SENT } from '@hono/node-server/utils/response';
import type { ServeConfig } from '../config.js';
import type { LeaderLock, LeaderRecord, RecordExtras } from '../election/lock.js';
import type { Metrics } from '../http/metrics.js';
import type { Logger } from '../log.js';
import type { Clock } from '../util/clock.js';
import type { Principal } from '../auth/tokens.js';
import type { Role } from '../ha/elector.js';
import { listRepos, readRefs, repoExists, repoPath, validateRepoName } from '../git/repos.js';
import { Mirror } from './mirror.js';
import { Publisher } from './publisher.js';
import { refsDigest, type Ack, type StateResponse } from './protocol.js';

export interface ReplicationDeps {
  cfg: ServeConfig;
  log: Logger;
  metrics: Metrics;
  clusterToken: string | null;
  clock: Clock;
  lock: LeaderLock;
  /** Write the leader record now (used when the in-sync set shrinks). */
  publishRecord: () => Promise<void>;
  /** Whether this node still leads the epoch with a valid lease. */
  leading: (epoch: number) => boolean;
}

export class Replication {
  private role: Role = 'passive';
  readonly publisher: Publisher;
  readonly mirror: Mirror;
  private readonly digests = new Map<string, { digest: string; at: number }>();

  constructor(private readonly d: ReplicationDeps) {
    this.publisher = new Publisher(
      d.cfg.replication,
      d.cfg.syncTimeoutMs,
      d.clock,
      d.log,
      d.publishRecord,
      (degraded) => d.metrics.replicationDegraded.set(degraded ? 1 : 0),
      d.leading,
    );
    this.mirror = new Mirror({
      dataDir: d.cfg.dataDir,
      nodeId: d.cfg.nodeId,
      selfUrl: d.cfg.advertiseUrl,
      clusterToken: d.clusterToken,
      intervalMs: d.cfg.mirrorIntervalMs,
      retryMs: d.cfg.retryMs,
      clock: d.clock,
      log: d.log,
      metrics: d.metrics,
      currentEpoch: () => d.lock.currentEpoch(),
    });
  }

  setRole(role: Role, epoch: number): void {
    const was = this.role;
    this.role = role;
    if (role === 'leader') {
      this.mirror.follow(null);
      this.publisher.begin(epoch);
    } else {
      if (was === 'leader') {
        this.publisher.end();
        this.mirror.forgetBase();
      }
    }
  }

  /** Called on every HA cycle as a passive: follow whoever the leader record names. */
  followLeader(leader: LeaderRecord | null): void {
    if (this.role !== 'passive') return;
    if (!leader || leader.released || leader.node_id === this.d.cfg.nodeId) this.mirror.follow(null);
    else this.mirror.follow({ nodeId: leader.node_id, url: leader.url, epoch: leader.epoch });
  }

  start(): void {
    this.mirror.start();
  }

  async stop(): Promise<void> {
    this.mirror.stop();
    this.publisher.end();
  }

  /**
   * Replication facts for the leader record. Also asked while acquiring (still
   * passive): a new leader starts with nobody in sync, and says so from its
   * very first record.
   */
  recordExtras(): RecordExtras {
    const mode = this.d.cfg.replication;
    if (this.role !== 'leader') return { replication: { mode, in_sync: [], degraded: mode !== 'async' } };
    return { replication: { mode, in_sync: this.publisher.inSyncIds(), degraded: this.publisher.degraded } };
  }

  /**
   * Promotion guard: in sync modes only a passive the last leader counted as
   * in sync (so it holds every acknowledged push) may take the lease.
   */
  async mayPromote(leader: LeaderRecord | null): Promise<string | null> {
    if (!leader || leader.node_id === this.d.cfg.nodeId) return null;
    const r = leader.replication;
    if (!r || r.mode === 'async') return null;
    if (r.in_sync.includes(this.d.cfg.nodeId)) return null;
    return `${leader.node_id} (epoch ${leader.epoch}) did not count this node as in sync, so it may lack acknowledged pushes (an operator can override with stargate promote --force)`;
  }

  admit(): string | null {
    if (this.d.cfg.replication !== 'sync-strict' || this.role !== 'leader') return null;
    return this.publisher.inSyncIds().length > 0 ? null : 'sync refused: no in-sync passive is connected (--replication sync-strict)';
  }

  async committed(repo: string): Promise<{ error?: string }> {
    this.digests.delete(repo);
    return this.publisher.committed(repo);
  }

  inSyncPeer(): string | null {
    return this.publisher.inSyncIds()[0] ?? null;
  }

  status() {
    if (this.role === 'leader') {
      const lags = [...this.publisher.subs.values()].filter((s) => s.inSync).map((s) => this.publisher.lagMs(s));
      this.d.metrics.replicationLag.set((lags.length ? Math.max(...lags) : 0) / 1000);
      return { mode: this.d.cfg.replication, lag_ms: 0, in_sync: true, degraded: this.d.cfg.replication !== 'async' && this.publisher.degraded, seq: this.publisher.seq };
    }
    const lag = this.mirror.lagMs();
    this.d.metrics.replicationLag.set(lag === null ? 0 : lag / 1000);
    return {
      mode: this.d.cfg.replication,
      lag_ms: lag,
      in_sync: lag === 0 && this.mirror.connected,
      connected: this.mirror.connected,
      following: this.mirror.target?.nodeId ?? null,
      diverged: this.mirror.diverged.slice(-20),
    };
  }

  peers(): Array<Record<string, unknown>> {
    if (this.role === 'leader') return this.publisher.peers();
    const t = this.mirror.target;
    return t ? [{ node_id: t.nodeId, url: t.url, role: 'leader', epoch: t.epoch }] : [];
  }

  private async digest(repo: string): Promise<string> {
    const c = this.digests.get(repo);
    const now = this.d.clock.now();
    if (c && now - c.at < 30_000) return c.digest;
    const digest = refsDigest(await readRefs(repoPath(this.d.cfg.dataDir, repo)));
    this.digests.set(repo, { digest, at: now });
    return digest;
  }

  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  routes(app: Hono<any>, verify: (h: string | undefined) => Principal | null): void {
    const guard = (h: string | undefined) => {
      const p = verify(h);
      return p?.cluster ? null : 'cluster token required';
    };
    app.get('/api/v1/replication/state', async (c) => {
      c.set('routeKind', 'internal');
      const bad = guard(c.req.header('authorization'));
      if (bad) return c.json({ error: bad }, 401);
      if (this.role !== 'leader') return c.json({ error: 'not leader' }, 409);
      const seq = this.publisher.seq;
      const repos: Record<string, string> = {};
      for (const r of listRepos(this.d.cfg.dataDir)) repos[r] = await this.digest(r);
      const body: StateResponse = { node_id: this.d.cfg.nodeId, epoch: this.publisher.epoch, seq, repos };
      return c.json(body);
    });
    app.get('/api/v1/replication/refs', async (c) => {
      c.set('routeKind', 'internal');
      const bad = guard(c.req.header('authorization'));
      if (bad) return c.json({ error: bad }, 401);
      if (this.role !== 'leader') return c.json({ error: 'not leader' }, 409);
      const repo = c.req.query('repo') ?? '';
      try {
        validateRepoName(repo);
      } catch {
        return c.json({ error: 'invalid repository name' }, 400);
      }
      if (!repoExists(this.d.cfg.dataDir, repo)) return c.json({ error: 'no such repository' }, 404);
      const seq = this.publisher.seq; // read before the refs: the refs hold at least everything up to seq
      const refs = Object.fromEntries(await readRefs(repoPath(this.d.cfg.dataDir, repo)));
      return c.json({ epoch: this.publisher.epoch, seq, refs });
    });
    app.get('/api/v1/replication/events', (c) => {
      c.set('routeKind', 'internal');
      const bad = guard(c.req.header('authorization'));
      if (bad) return c.json({ error: bad }, 401);
      if (this.role !== 'leader') return c.json({ error: 'not leader' }, 409);
      const nodeId = c.req.query('node_id') ?? '';
      const url = c.req.query('url') ?? '';
      if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/.test(nodeId)) return c.json({ error: 'bad node_id' }, 400);
      const res = (c.env as HttpBindings).outgoing;
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' });
      res.write(': subscribed\n\n');
      res.socket?.setTimeout(0);
      this.publisher.subscribe(nodeId, url, res);
      return RESPONSE_ALREADY_SENT;
    });
    app.post('/api/v1/replication/ack', async (c) => {
      c.set('routeKind', 'internal');
      const bad = guard(c.req.header('authorization'));
      if (bad) return c.json({ error: bad }, 401);
      if (this.role !== 'leader') return c.json({ error: 'not leader' }, 409);
      const a = (await c.req.json().catch(() => null)) as Ack | null;
      if (!a || typeof a.node_id !== 'string' || typeof a.epoch !== 'number' || typeof a.seq !== 'number') return c.json({ error: 'bad ack' }, 400);
      const r = this.publisher.ack(a);
      return c.json(r, r.ok ? 200 : 409);
    });
  }
}
